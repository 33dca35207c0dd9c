//! Codex's `exec --json`: `thread.started` (the session), `item.completed` (messages,
//! commands, file changes, errors), `turn.completed` (usage) and `turn.failed`/`error`.
//!
//! Facts of codex-cli 0.171.0 (tests/fixtures/real/codex-*.jsonl):
//! - `turn.completed` usage is the sum over the whole thread: every model request of the run,
//!   and of the runs before it when this one resumes the thread (`exec resume`). A resumed
//!   run's share is the figure less what the agent had before ([`Transcript::with_baseline`]).
//! - `{"type":"error","message":"Reconnecting... 2/5 (...)"}` (or `Reconnecting... waiting
//!   for network (...)`) is a retry in progress, not the end: `turn.failed` is.
//! - A command the sandbox refused mostly leaves no event at all (only the model is told);
//!   when it does show, it is a failed `command_execution` whose output says
//!   `Read-only file system`: that one is counted as a denial. Every refusal is in codex's
//!   own session log (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`, a
//!   `function_call_output` or `custom_tool_call_output` saying so), which
//!   [`session_log`] counts once the run is over. The stream never names the model; the
//!   log's `turn_context` does (for the price of tokens).
//! - A call of an MCP server's tool is an `mcp_tool_call` item (`server`, `tool`,
//!   `arguments`); a failed one has `status: failed` and either `error.message` (codex
//!   refused it: approval) or the server's tool error in `result.content`. It is shown
//!   under the name the model calls it by in Claude Code too (`mcp__SERVER__TOOL`).
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{first_line, one_line, tool_line, Transcript};

/// What a refused write prints under codex's Linux sandbox (a read-only bind mount).
const SANDBOX_REFUSAL: &str = "Read-only file system";
/// What codex answers a patch the read-only sandbox blocks.
const PATCH_REFUSAL: &str = "writing is blocked by read-only sandbox";

/// What codex's own session log of a thread says that its event stream does not.
#[derive(Debug, PartialEq)]
pub struct SessionLog {
    /// Tool calls its sandbox refused.
    pub refusals: u64,
    /// The model of the thread's last turn.
    pub model: Option<String>,
    /// When its used-up quota windows reset (unix seconds), as its last `token_count` says.
    pub reset: Option<u64>,
}

/// The session log of the thread `thread` under `codex_home` (None when there is none).
pub fn session_log(codex_home: &Path, thread: &str) -> Option<SessionLog> {
    let suffix = format!("-{thread}.jsonl");
    let log = find_file(&codex_home.join("sessions"), &suffix, 4)?;
    let text = std::fs::read_to_string(log).ok()?;
    let model = text
        .lines()
        .rev()
        .filter(|l| l.contains("\"turn_context\""))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|e| e["payload"]["model"].as_str().map(str::to_string));
    Some(SessionLog {
        refusals: text.lines().filter(|l| refused(l)).count() as u64,
        model,
        reset: super::quota::codex_log_reset(&text),
    })
}

/// Is this session-log line a tool's output that the sandbox refused?
fn refused(line: &str) -> bool {
    if !(line.contains(SANDBOX_REFUSAL) || line.contains(PATCH_REFUSAL)) {
        return false;
    }
    let Ok(e) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    let p = &e["payload"];
    let output = match &p["output"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    e["type"] == "response_item"
        && matches!(
            p["type"].as_str(),
            Some("function_call_output" | "custom_tool_call_output")
        )
        && (output.contains(SANDBOX_REFUSAL) || output.contains(PATCH_REFUSAL))
}

/// The first file under `dir` (at most `depth` levels down) whose name ends with `suffix`.
pub(super) fn find_file(dir: &Path, suffix: &str, depth: u32) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().ok()?;
        if kind.is_file() && entry.file_name().to_string_lossy().ends_with(suffix) {
            return Some(path);
        }
        if kind.is_dir() && depth > 0 {
            if let Some(found) = find_file(&path, suffix, depth - 1) {
                return Some(found);
            }
        }
    }
    None
}

impl Transcript {
    pub(super) fn codex(&mut self, e: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        match e["type"].as_str().unwrap_or("") {
            "thread.started" => {
                if let Some(id) = e["thread_id"].as_str() {
                    self.session_id = Some(id.to_string());
                    lines.push(format!("[codex] session {id}"));
                }
            }
            "item.completed" => {
                self.retrying = None;
                self.codex_item(&e["item"], &mut lines);
            }
            "turn.completed" => self.codex_turn(&e["usage"]),
            "error"
                if e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Reconnecting")) =>
            {
                let m = e["message"].as_str().unwrap_or("");
                lines.push(format!("[codex] retrying: {m}"));
                let rest = m
                    .trim_start_matches("Reconnecting")
                    .trim_start_matches(['.', '…']);
                self.retrying = Some(format!("reconnecting, {}", rest.trim()));
            }
            "turn.failed" | "error" => {
                self.retrying = None;
                let why = e["error"]["message"]
                    .as_str()
                    .or_else(|| e["message"].as_str())
                    .unwrap_or("error")
                    .to_string();
                lines.push(format!("[codex] error: {why}"));
                if let Some(hit) = super::quota::codex_quota(&why) {
                    self.quota = Some(hit);
                }
                self.error = Some(why);
            }
            _ => {}
        }
        lines
    }

    /// An `item.completed`: a message, a command run, a file change, an error.
    fn codex_item(&mut self, item: &Value, lines: &mut Vec<String>) {
        match item["type"].as_str().unwrap_or("") {
            "agent_message" => {
                let t = item["text"].as_str().unwrap_or("").trim_end();
                if !t.is_empty() {
                    lines.push(t.to_string());
                }
            }
            "command_execution" => {
                let cmd = item["command"].as_str().unwrap_or("");
                lines.push(one_line(&format!("-> run {cmd}")));
                if let Some(code) = item["exit_code"].as_i64().filter(|c| *c != 0) {
                    let output = item["aggregated_output"].as_str().unwrap_or("");
                    if output.contains(SANDBOX_REFUSAL) {
                        self.usage.denials += 1;
                        lines.push(format!("  ! exit {code}: refused by the sandbox"));
                    } else {
                        lines.push(format!("  ! exit {code}"));
                    }
                }
            }
            "file_change" => {
                let paths: Vec<&str> = item["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["path"].as_str())
                    .collect();
                lines.push(one_line(&format!("-> edit {}", paths.join(", "))));
            }
            "mcp_tool_call" => mcp_call(item, lines),
            "error" => lines.push(format!(
                "  ! {}",
                item["message"].as_str().unwrap_or("error")
            )),
            _ => {}
        }
    }
}

/// `-> mcp__fleet__up: {"names":["a"]}`, and the error of a failed call.
fn mcp_call(item: &Value, lines: &mut Vec<String>) {
    let name = format!(
        "mcp__{}__{}",
        item["server"].as_str().unwrap_or("?"),
        item["tool"].as_str().unwrap_or("?")
    );
    lines.push(tool_line(&name, &item["arguments"]));
    if item["status"] == "failed" {
        let why = match item["error"]["message"].as_str() {
            Some(m) => one_line(m),
            None => first_line(&item["result"]["content"]),
        };
        lines.push(format!("  ! tool error: {why}"));
    }
}

impl Transcript {
    /// A `turn.completed`'s usage `u`: the thread's totals, less what a resumed thread's
    /// earlier runs used.
    fn codex_turn(&mut self, u: &Value) {
        self.ended = true;
        self.retrying = None;
        let n = |k: &str| u[k].as_u64().unwrap_or(0);
        let (input, cached, output) = (
            n("input_tokens"),
            n("cached_input_tokens"),
            n("output_tokens"),
        );
        // The thread's totals; a resumed thread's earlier runs are not this run's.
        let before = self
            .baseline
            .as_ref()
            .filter(|(id, _)| self.session_id.as_ref() == Some(id))
            .map(|(_, u)| *u)
            .unwrap_or_default();
        self.usage.input_tokens = input.saturating_sub(before.input_tokens);
        self.usage.output_tokens = output.saturating_sub(before.output_tokens);
        // Cached tokens are not in the baseline: this run's share, pro rata.
        self.cached_input_tokens = if input == 0 {
            0
        } else {
            (cached as u128 * self.usage.input_tokens as u128 / input as u128) as u64
        };
        self.usage.turns += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::{Format, Usage};

    #[test]
    fn codex_json_becomes_text_and_usage() {
        let input = concat!(
            r#"{"type":"thread.started","thread_id":"th-9"}"#,
            "\n",
            r#"{"type":"item.completed","item":{"id":"i1","type":"command_execution","command":"bash -lc ls","exit_code":2}}"#,
            "\n",
            r#"{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"Done."}}"#,
            "\n",
            r#"{"type":"turn.completed","usage":{"input_tokens":11,"cached_input_tokens":4,"output_tokens":6}}"#,
            "\n",
        );
        let (text, t) = run(Format::CodexJson, input);
        assert_eq!(
            text,
            "[codex] session th-9\n-> run bash -lc ls\n  ! exit 2\nDone.\n"
        );
        assert_eq!(
            t.usage,
            Usage {
                input_tokens: 11,
                output_tokens: 6,
                cost_usd: None,
                turns: 1,
                denials: 0,
            }
        );
        assert_eq!(t.session_id.as_deref(), Some("th-9"));
    }
    /// Feeds a fixture to a transcript that may resume a session.
    fn replay(t: &mut super::super::Transcript, input: &str) -> String {
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(11) {
            out.extend(t.feed(chunk));
        }
        out.extend(t.finish());
        String::from_utf8(out).unwrap()
    }

    const EDIT: &str = include_str!("../../tests/fixtures/real/codex-edit-commit.jsonl");
    const RESUME: &str = include_str!("../../tests/fixtures/real/codex-resume.jsonl");
    const MCP: &str = include_str!("../../tests/fixtures/real/codex-mcp-lead.jsonl");

    /// A lead's calls of `fleet mcp`: each on its line, fleet's refusal a tool error.
    #[test]
    fn real_mcp_calls() {
        let (text, t) = run(Format::CodexJson, MCP);
        for line in [
            "-> mcp__fleet__status: {}",
            "-> mcp__fleet__up: {\"names\":[\"worker\"]}",
            "-> mcp__fleet__wait: {\"names\":[\"worker\"],\"timeout_secs\":60}",
            "-> mcp__fleet__up: {\"names\":[\"intruder\"]}",
            "  ! tool error: unknown agent `intruder` in /tmp/fleet-real/repo/agents.yaml; known agents: lead, worker",
            "the worker is done; intruder is not ours to start",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert_eq!(text.matches("! tool error").count(), 1, "{text}");
        assert!(t.ended && t.error.is_none());
    }

    /// codex's own refusal of a call (approval) is the error too.
    #[test]
    fn a_call_codex_refused_shows_its_reason() {
        let (text, _) = run(
            Format::CodexJson,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"mcp_tool_call","server":"fleet","tool":"up","arguments":{"names":["a"]},"result":null,"error":{"message":"MCP tool call requires approval, but approval policy is never"},"status":"failed"}}
"#,
        );
        assert!(
            text.contains("-> mcp__fleet__up: {\"names\":[\"a\"]}\n  ! tool error: MCP tool call requires approval"),
            "{text}"
        );
    }

    #[test]
    fn real_edit_and_commit_run() {
        let (text, t) = run(Format::CodexJson, EDIT);
        assert!(
            text.contains("-> run /bin/bash -lc \"git add -A && git commit -q -m 'add hello'\""),
            "{text}"
        );
        assert!(text.contains("Wrote hello.txt and committed."), "{text}");
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (303, 60));
        assert_eq!((t.usage.turns, t.usage.denials), (1, 0));
        assert_eq!(t.cached_input_tokens, 30);
        assert_eq!(
            t.session_id.as_deref(),
            Some("01a22f85-8c74-7ea0-99eb-b74c4dd3da44")
        );
        assert!(t.ended && t.error.is_none());
    }

    /// `exec resume` reports the thread's totals (303 before + 201 now): the run's share is
    /// 201, given what the agent had used in that session before.
    #[test]
    fn a_resumed_thread_counts_only_this_runs_share() {
        let before = Usage {
            input_tokens: 303,
            output_tokens: 60,
            cost_usd: None,
            turns: 1,
            denials: 0,
        };
        let mut t = super::super::Transcript::new(Format::CodexJson)
            .with_baseline(Some("01a22f85-8c74-7ea0-99eb-b74c4dd3da44".into()), before);
        replay(&mut t, RESUME);
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (201, 40));
        assert_eq!(t.usage.turns, 1);
        assert_eq!(t.cached_input_tokens, 50 * 201 / 504);
        // Another session's figures are no baseline: a fresh thread counts from zero.
        let mut t = super::super::Transcript::new(Format::CodexJson)
            .with_baseline(Some("other".into()), before);
        replay(&mut t, RESUME);
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (504, 100));
    }

    #[test]
    fn reconnecting_is_a_retry_and_turn_failed_the_error() {
        let (text, t) = run(
            Format::CodexJson,
            include_str!("../../tests/fixtures/real/codex-429.jsonl"),
        );
        assert!(
            text.contains("[codex] retrying: Reconnecting... 1/5 (exceeded retry limit, last status: 429 Too Many Requests)"),
            "{text}"
        );
        assert_eq!(
            t.error.as_deref(),
            Some("exceeded retry limit, last status: 429 Too Many Requests")
        );
        assert_eq!(t.retrying, None, "turn.failed ends the retrying");
        // Still reconnecting (the API unreachable): no error yet.
        let (text, t) = run(
            Format::CodexJson,
            include_str!("../../tests/fixtures/real/codex-reconnecting.jsonl"),
        );
        assert!(
            text.contains("[codex] retrying: Reconnecting... waiting for network"),
            "{text}"
        );
        assert!(t.error.is_none() && !t.ended);
        let (_, t) = run(
            Format::CodexJson,
            include_str!("../../tests/fixtures/real/codex-unreachable-bounded.jsonl"),
        );
        assert_eq!(
            t.error.as_deref(),
            Some("Connection failed: error sending request")
        );
    }

    #[test]
    fn a_sandbox_refusal_that_shows_is_a_denial() {
        let (text, t) = run(
            Format::CodexJson,
            include_str!("../../tests/fixtures/real/codex-read-only-visible.jsonl"),
        );
        assert!(
            text.contains("  ! exit 128: refused by the sandbox"),
            "{text}"
        );
        assert_eq!(t.usage.denials, 1);
        // The usual case: the refused commands leave no event at all.
        let (_, t) = run(
            Format::CodexJson,
            include_str!("../../tests/fixtures/real/codex-read-only.jsonl"),
        );
        assert_eq!(t.usage.denials, 0);
    }

    #[test]
    fn the_session_log_counts_every_refusal() {
        let home = tempfile::tempdir().unwrap();
        let day = home.path().join("sessions/2026/12/01");
        std::fs::create_dir_all(&day).unwrap();
        let thread = "019ad0c1-0000-7000-8000-000000000001";
        std::fs::write(
            day.join(format!("rollout-2026-12-01T03-12-27-{thread}.jsonl")),
            include_str!("../../tests/fixtures/real/codex-read-only-rollout.jsonl"),
        )
        .unwrap();
        assert_eq!(
            super::session_log(home.path(), thread),
            Some(super::SessionLog {
                refusals: 2,
                model: Some("gpt-5.5".into()),
                reset: None,
            })
        );
        assert_eq!(super::session_log(home.path(), "other"), None);
    }
}
