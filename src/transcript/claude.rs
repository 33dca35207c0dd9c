//! Claude Code's `--output-format stream-json --verbose`: `system` init (session, model),
//! `assistant` messages (text, tool calls, live usage per message id), `user` tool results,
//! `system` `api_retry` (an API error claude is retrying by itself), and the final `result`
//! (exact usage, cost, turns, denials, errors).
//!
//! Facts of 2.1.197 this relies on: a result's usage is that run's only (a `--resume` run
//! does not repeat the session's earlier turns); a budget stop (`subtype:
//! error_max_budget_usd`, exit 1) has its real figures in `modelUsage` only, its `usage`
//! lagging a message behind (zeros after one turn); an API error given up on is `subtype:
//! success` with `is_error: true` and the error in `result` (exit 1).
use serde_json::Value;

use super::{first_line, tool_line, Transcript, Usage};

impl Transcript {
    pub(super) fn claude(&mut self, e: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(id) = e["session_id"].as_str() {
            self.session_id = Some(id.to_string());
        }
        match e["type"].as_str().unwrap_or("") {
            "system" if e["subtype"] == "api_retry" => lines.push(self.claude_retry(e)),
            "system" if e["subtype"] == "init" => {
                lines.push(format!(
                    "[claude] session {} ({})",
                    e["session_id"].as_str().unwrap_or("?"),
                    e["model"].as_str().unwrap_or("model unknown")
                ));
            }
            "assistant" => self.claude_assistant(&e["message"], &mut lines),
            "user" => {
                for block in e["message"]["content"].as_array().into_iter().flatten() {
                    if block["type"] == "tool_result" && block["is_error"] == true {
                        lines.push(format!("  ! tool error: {}", first_line(&block["content"])));
                    }
                }
            }
            "result" => self.claude_result(e, &mut lines),
            "rate_limit_event" => {
                if let Some(reset) = super::quota::claude_rejected(e) {
                    self.rejected = Some(reset);
                    let at = reset.map_or_else(String::new, |t| {
                        format!(", resets {}", crate::util::rfc3339(t))
                    });
                    lines.push(format!("[claude] the account's usage limit is reached{at}"));
                }
            }
            _ => {}
        }
        lines
    }

    /// `system` `api_retry`: an API error claude is retrying by itself.
    fn claude_retry(&mut self, e: &Value) -> String {
        // {"attempt":1,"max_retries":10,"retry_delay_ms":617.4,"error_status":529,
        //  "error":"overloaded"}
        let status = e["error_status"]
            .as_u64()
            .map_or_else(String::new, |s| format!(" {s}"));
        let delay = e["retry_delay_ms"]
            .as_f64()
            .map_or_else(String::new, |ms| format!(" in {:.1}s", ms / 1000.0));
        let (error, attempt, of) = (
            e["error"].as_str().unwrap_or("unknown"),
            e["attempt"].as_u64().unwrap_or(0),
            e["max_retries"].as_u64().unwrap_or(0),
        );
        self.retrying = Some(format!("API error{status}, attempt {attempt} of {of}"));
        format!("[claude] API error{status} ({error}): retrying, attempt {attempt} of {of}{delay}")
    }

    /// An `assistant` message: its text and tool calls, and its live usage (by message id).
    fn claude_assistant(&mut self, msg: &Value, lines: &mut Vec<String>) {
        self.retrying = None;
        for block in msg["content"].as_array().into_iter().flatten() {
            match block["type"].as_str().unwrap_or("") {
                "text" => {
                    let t = block["text"].as_str().unwrap_or("").trim_end();
                    if !t.is_empty() {
                        lines.push(t.to_string());
                    }
                }
                "tool_use" => lines.push(tool_line(
                    block["name"].as_str().unwrap_or("tool"),
                    &block["input"],
                )),
                _ => {}
            }
        }
        let usage = &msg["usage"];
        if usage.is_object() {
            let id = msg["id"].as_str().unwrap_or("").to_string();
            let input = input_tokens(usage);
            let output = usage["output_tokens"].as_u64().unwrap_or(0);
            match self.live.iter_mut().find(|(i, _, _)| *i == id) {
                Some(entry) => *entry = (id, input, output),
                None => self.live.push((id, input, output)),
            }
            self.usage.input_tokens = self.live.iter().map(|l| l.1).sum();
            self.usage.output_tokens = self.live.iter().map(|l| l.2).sum();
            self.usage.turns = self.live.len() as u64;
        }
    }

    /// The final `result`: exact usage, cost, turns, denials, and the error if it failed.
    fn claude_result(&mut self, e: &Value, lines: &mut Vec<String>) {
        self.ended = true;
        self.retrying = None;
        let (input, output) = model_usage(&e["modelUsage"]).unwrap_or_else(|| {
            let usage = &e["usage"];
            (
                input_tokens(usage),
                usage["output_tokens"].as_u64().unwrap_or(0),
            )
        });
        self.usage = Usage {
            input_tokens: input,
            output_tokens: output,
            cost_usd: e["total_cost_usd"].as_f64(),
            turns: e["num_turns"].as_u64().unwrap_or(self.usage.turns),
            denials: e["permission_denials"]
                .as_array()
                .map_or(self.usage.denials, |d| d.len() as u64),
        };
        let failed = e["is_error"] == true || e["subtype"] != "success";
        if failed {
            let why = e["result"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| e["subtype"].as_str().unwrap_or("error").to_string());
            let quota = self.rejected.is_some()
                || (e["api_error_status"] == 429 && super::quota::claude_says_quota(&why));
            if quota {
                self.quota = Some(super::QuotaHit {
                    resets_at: self.rejected.flatten(),
                });
            }
            self.error = Some(why.clone());
            lines.push(format!("[claude] error: {why}"));
        }
        lines.push(format!("[claude] {}", self.summary()));
    }
}

/// The result's `modelUsage` summed over its models (input as [`input_tokens`] counts it):
/// what the run really used, side calls included, and the only right figures of a budget
/// stop. None when absent or empty (an API error before any answer).
fn model_usage(m: &Value) -> Option<(u64, u64)> {
    let models = m.as_object().filter(|o| !o.is_empty())?;
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    Some(models.values().fold((0, 0), |(i, o), v| {
        (
            i + n(v, "inputTokens")
                + n(v, "cacheCreationInputTokens")
                + n(v, "cacheReadInputTokens"),
            o + n(v, "outputTokens"),
        )
    }))
}

/// Claude's input tokens: fresh plus cache writes plus cache reads, all of them sent.
pub(super) fn input_tokens(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .map(|k| usage[*k].as_u64().unwrap_or(0))
    .sum()
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::{Format, Usage};

    #[test]
    fn claude_stream_becomes_text_and_usage() {
        let input = concat!(
            r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-x","tools":[]}"#,
            "\n",
            r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Looking."},{"type":"tool_use","name":"Bash","input":{"command":"ls -la\nwc"}}],"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}},"session_id":"s-1"}"#,
            "\n",
            r#"{"type":"user","message":{"content":[{"type":"tool_result","is_error":true,"content":"boom\nmore"}]},"session_id":"s-1"}"#,
            "\n",
            "plain stderr line\n",
            r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"ok","session_id":"s-1","total_cost_usd":0.25,"usage":{"input_tokens":100,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":40}}"#,
        );
        let (text, t) = run(Format::ClaudeStreamJson, input);
        assert_eq!(
            text,
            "[claude] session s-1 (claude-x)\nLooking.\n-> Bash: ls -la wc\n  ! tool error: boom\nplain stderr line\n[claude] 2 turns, 150 tokens in, 40 out, $0.2500\n"
        );
        assert_eq!(
            t.usage,
            Usage {
                input_tokens: 150,
                output_tokens: 40,
                cost_usd: Some(0.25),
                turns: 2,
                denials: 0,
            }
        );
        assert_eq!(t.session_id.as_deref(), Some("s-1"));
        assert_eq!(t.error, None);
    }

    #[test]
    fn claude_live_usage_counts_each_message_once() {
        let m = |id: &str, out: u64| {
            format!(
                r#"{{"type":"assistant","message":{{"id":"{id}","content":[],"usage":{{"input_tokens":1,"output_tokens":{out}}}}}}}"#
            ) + "\n"
        };
        let input = m("a", 5) + &m("a", 5) + &m("b", 7);
        let (_, t) = run(Format::ClaudeStreamJson, &input);
        assert_eq!(
            (t.usage.input_tokens, t.usage.output_tokens, t.usage.turns),
            (2, 12, 2)
        );
        assert_eq!(t.usage.cost_usd, None);
    }

    #[test]
    fn claude_error_result_is_kept() {
        let input = r#"{"type":"result","subtype":"error_max_budget_usd","is_error":true,"num_turns":1,"total_cost_usd":2.6,"usage":{"input_tokens":1,"output_tokens":1}}"#;
        let (text, t) = run(Format::ClaudeStreamJson, input);
        assert!(
            text.contains("[claude] error: error_max_budget_usd"),
            "{text}"
        );
        assert_eq!(t.error.as_deref(), Some("error_max_budget_usd"));
        assert_eq!(t.usage.cost_usd, Some(2.6));
    }

    /// What the real claude 2.1.197 printed (tests/fixtures/real, recorded by
    /// tests/real_claude.rs against the fake API: 1231 input, 2001 cache writes, 3001 cache
    /// reads and 457 output tokens per turn).
    fn real(name: &str) -> &'static str {
        match name {
            "edit" => include_str!("../../tests/fixtures/real/claude-edit-commit.jsonl"),
            "read-only" => include_str!("../../tests/fixtures/real/claude-read-only-denied.jsonl"),
            "budget" => include_str!("../../tests/fixtures/real/claude-budget-stop.jsonl"),
            "529" => include_str!("../../tests/fixtures/real/claude-overloaded-fails.jsonl"),
            "429" => {
                include_str!("../../tests/fixtures/real/claude-rate-limit-retry-success.jsonl")
            }
            "resume" => include_str!("../../tests/fixtures/real/claude-resume.jsonl"),
            _ => unreachable!(),
        }
    }

    const TURN_IN: u64 = 1231 + 2001 + 3001;
    const TURN_OUT: u64 = 457;

    #[test]
    fn real_edit_and_commit() {
        let (text, t) = run(Format::ClaudeStreamJson, real("edit"));
        assert_eq!(
            (t.usage.input_tokens, t.usage.output_tokens, t.usage.turns),
            (3 * TURN_IN, 3 * TURN_OUT, 3)
        );
        assert_eq!(t.usage.denials, 0);
        assert_eq!(t.error, None);
        assert!(t.ended);
        assert!(
            text.contains("-> Write: /tmp/fleet-real/repo/hello.txt"),
            "{text}"
        );
        assert!(
            text.contains("-> Bash: git add -A && git commit -m 'add hello.txt'"),
            "{text}"
        );
        assert!(t.session_id.is_some());
    }

    #[test]
    fn real_read_only_denials_are_counted() {
        let (text, t) = run(Format::ClaudeStreamJson, real("read-only"));
        assert_eq!(t.usage.denials, 2);
        assert_eq!(t.error, None, "a success, whatever was denied");
        assert!(
            text.contains("  ! tool error: Permission to use Write has been denied"),
            "{text}"
        );
    }

    #[test]
    fn real_budget_stop_takes_its_usage_from_model_usage() {
        let (text, t) = run(Format::ClaudeStreamJson, real("budget"));
        // `usage` says 0: modelUsage has the turn claude paid for.
        assert_eq!(
            (t.usage.input_tokens, t.usage.output_tokens, t.usage.turns),
            (TURN_IN, TURN_OUT, 1)
        );
        assert!(t.usage.cost_usd.unwrap() > 0.01);
        assert_eq!(t.error.as_deref(), Some("error_max_budget_usd"));
        assert!(
            text.contains("[claude] error: error_max_budget_usd"),
            "{text}"
        );
    }

    #[test]
    fn real_api_retries_show_and_a_failure_is_the_error() {
        let (text, t) = run(Format::ClaudeStreamJson, real("529"));
        assert!(
            text.contains("[claude] API error 529 (overloaded): retrying, attempt 1 of 2 in "),
            "{text}"
        );
        assert!(text.contains("attempt 2 of 2"), "{text}");
        let err = t.error.unwrap();
        assert!(err.starts_with("API Error: "), "{err}");
        assert!(err.contains("529"), "{err}");
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (0, 0));
        assert_eq!(t.retrying, None, "the result ends the retrying");
        // Before the result: retrying.
        let upto: String = real("529")
            .lines()
            .take_while(|l| !l.contains(r#""type":"assistant""#))
            .map(|l| format!("{l}\n"))
            .collect();
        let (_, t) = run(Format::ClaudeStreamJson, &upto);
        assert_eq!(t.retrying.as_deref(), Some("API error 529, attempt 2 of 2"));

        let (text, t) = run(Format::ClaudeStreamJson, real("429"));
        assert!(
            text.contains("[claude] API error 429 (rate_limit): retrying, attempt 1 of 2 in 1.0s"),
            "{text}"
        );
        assert_eq!(t.error, None);
        assert_eq!(t.usage.input_tokens, 3 * TURN_IN);
    }

    #[test]
    fn real_resume_reports_its_own_run() {
        let (_, t) = run(Format::ClaudeStreamJson, real("resume"));
        assert_eq!(
            (t.usage.input_tokens, t.usage.output_tokens, t.usage.turns),
            (2 * TURN_IN, 2 * TURN_OUT, 2)
        );
    }
}
