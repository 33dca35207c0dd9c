//! What a CLI writes beside its stream while it runs, read for the usage so far: a budget
//! can stop the agent between two model requests, and a CLI that dies before its final
//! usage event (a crash, a rate limit it gave up on) still leaves what it spent.
//!
//! - Codex (0.171.0) appends an `event_msg` `token_count` to its session rollout log
//!   (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`) after every model
//!   request: `info.total_token_usage` is the thread's totals so far, the same figure its
//!   final `turn.completed` gives.
//! - Gemini CLI (0.61.0) appends each message of its chat to
//!   `$GEMINI_CLI_HOME|$HOME/.gemini/tmp/<project>/chats/session-<time>-<id[..8]>.jsonl`;
//!   a model message (`type: gemini`) carries that request's `tokens` (`input`, `cached`,
//!   `output`) and its `model`, and is written again (same `id`) as it completes. Its side
//!   calls (the model router's) are not in the log: its final `result` counts those too.
//!   A resumed session appends to the same file: the messages there before the run are not
//!   this run's.
//! - Claude Code (2.1.197) writes its session to
//!   `$CLAUDE_CONFIG_DIR|~/.claude/projects/<cwd, / as ->/<session>.jsonl`: each `assistant`
//!   entry has its message's final `usage` (the stream's events may carry only the usage at
//!   the message's start, output 1). A resumed session's earlier messages are not this run's.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{codex, Format, Transcript};

/// Where a CLI keeps its logs, and what this run found there.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// `$CODEX_HOME` (or `~/.codex`) for codex, `~/.gemini` for gemini.
    home: Option<PathBuf>,
    /// The log of this run's session, once found.
    log: Option<PathBuf>,
    /// Gemini: the model messages in the log before this run (a resumed session's).
    before: BTreeSet<String>,
    /// The log's length and time of change when it was last read, and what it said then
    /// (codex, gemini; claude's is kept message by message): a log that did not change is
    /// not read again.
    read: Option<(Stamp, Option<Logged>)>,
}

/// A file's length and time of last change.
type Stamp = (u64, Option<std::time::SystemTime>);

/// The stamp of `path` now, None when it cannot be read.
fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

/// Tokens a log says were used: (input, cached input, output) and the model.
type Logged = (u64, u64, u64, Option<String>);

impl Transcript {
    /// Where the CLI keeps its logs, looked up with `env` (the agent's environment); a
    /// resumed gemini session's messages so far are noted as not this run's.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        let home = |k: &str| env(k).filter(|h| !h.is_empty()).map(PathBuf::from);
        self.logs.home = match self.format {
            Format::CodexJson => {
                home("CODEX_HOME").or_else(|| home("HOME").map(|h| h.join(".codex")))
            }
            Format::GeminiStreamJson => home("GEMINI_CLI_HOME")
                .or_else(|| home("HOME"))
                .map(|h| h.join(".gemini")),
            Format::ClaudeStreamJson => {
                home("CLAUDE_CONFIG_DIR").or_else(|| home("HOME").map(|h| h.join(".claude")))
            }
            Format::AiderText => None,
        };
        if let Some((id, _)) = self.baseline.clone() {
            if let Some(log) = self.find_log(&id) {
                self.logs.before = match self.format {
                    Format::GeminiStreamJson => gemini_messages(&log).into_keys().collect(),
                    Format::ClaudeStreamJson => claude_messages(&log).into_keys().collect(),
                    _ => BTreeSet::new(),
                };
            }
        }
        self
    }

    /// Claude: the final usage of each message in its session log, over what its stream
    /// said so far (by message id).
    fn poll_claude(&mut self, id: &str) {
        let Some(log) = self.log_of(id) else {
            return;
        };
        let now = stamp(&log);
        let changed = now.is_none() || self.logs.read.as_ref().map(|(s, _)| Some(*s)) != Some(now);
        if changed {
            self.logs.read = now.map(|s| (s, None));
        }
        for (msg, (input, output)) in changed.then(|| claude_messages(&log)).into_iter().flatten() {
            if self.logs.before.contains(&msg) {
                continue;
            }
            match self.live.iter_mut().find(|(i, _, _)| *i == msg) {
                Some(e) => *e = (msg, e.1.max(input), e.2.max(output)),
                None => self.live.push((msg, input, output)),
            }
        }
        self.usage.input_tokens = self.live.iter().map(|l| l.1).sum();
        self.usage.output_tokens = self.live.iter().map(|l| l.2).sum();
        self.usage.turns = self.live.len() as u64;
    }

    /// The log of session `id`, found once.
    fn log_of(&mut self, id: &str) -> Option<PathBuf> {
        if self.logs.log.is_none() {
            self.logs.log = self.find_log(id);
        }
        self.logs.log.clone()
    }

    /// The usage the CLI's log shows so far, while its final usage event has not come (the
    /// stream's own figure wins once it has).
    pub fn poll(&mut self) {
        let Some(id) = self.session_id.clone() else {
            return;
        };
        if self.format == Format::ClaudeStreamJson {
            if !self.ended {
                self.poll_claude(&id);
            }
            return;
        }
        let Some((input, cached, output, model)) = self.logged(&id) else {
            return;
        };
        if self.model.is_none() {
            self.model = model;
        }
        if self.ended {
            return;
        }
        if input > self.usage.input_tokens || output > self.usage.output_tokens {
            self.usage.input_tokens = self.usage.input_tokens.max(input);
            self.usage.output_tokens = self.usage.output_tokens.max(output);
            self.cached_input_tokens = cached.min(self.usage.input_tokens);
        }
    }

    /// This run's tokens in the log of session `id` (as last time when it did not change).
    fn logged(&mut self, id: &str) -> Option<Logged> {
        let log = self.log_of(id)?;
        let now = stamp(&log);
        if let Some((at, said)) = &self.logs.read {
            if Some(*at) == now {
                return said.clone();
            }
        }
        let said = self.read_logged(id, &log);
        self.logs.read = now.map(|s| (s, said.clone()));
        said
    }

    /// This run's tokens in `log`, the log of session `id`, read now.
    fn read_logged(&self, id: &str, log: &Path) -> Option<Logged> {
        let log = log.to_path_buf();
        match self.format {
            Format::CodexJson => {
                let (input, cached, output, model) = codex_totals(&log)?;
                // The thread's totals; a resumed thread's earlier runs are not this run's.
                let before = self
                    .baseline
                    .as_ref()
                    .filter(|(b, _)| b == id)
                    .map(|(_, u)| *u)
                    .unwrap_or_default();
                let mine = input.saturating_sub(before.input_tokens);
                let cached = if input == 0 {
                    0
                } else {
                    (cached as u128 * mine as u128 / input as u128) as u64
                };
                Some((
                    mine,
                    cached,
                    output.saturating_sub(before.output_tokens),
                    model,
                ))
            }
            Format::GeminiStreamJson => {
                let mut sum: Logged = (0, 0, 0, None);
                for (id, (i, c, o, m)) in gemini_messages(&log) {
                    if self.logs.before.contains(&id) {
                        continue;
                    }
                    sum = (sum.0 + i, sum.1 + c, sum.2 + o, m.or(sum.3));
                }
                Some(sum)
            }
            _ => None,
        }
    }

    /// The log file of session `id`, if the CLI wrote one.
    fn find_log(&self, id: &str) -> Option<PathBuf> {
        let home = self.logs.home.as_deref()?;
        match self.format {
            Format::CodexJson => {
                codex::find_file(&home.join("sessions"), &format!("-{id}.jsonl"), 4)
            }
            Format::GeminiStreamJson => gemini_log(&home.join("tmp"), id),
            Format::ClaudeStreamJson => claude_log(&home.join("projects"), id),
            Format::AiderText => None,
        }
    }
}

/// The last `token_count` of a codex rollout log: the thread's (input, cached, output), and
/// the model of its last `turn_context`.
fn codex_totals(log: &Path) -> Option<Logged> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut totals = None;
    let mut model = None;
    for line in text.lines() {
        if !(line.contains("\"token_count\"") || line.contains("\"turn_context\"")) {
            continue;
        }
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let p = &e["payload"];
        if e["type"] == "turn_context" {
            model = p["model"].as_str().map(str::to_string).or(model);
        } else if p["type"] == "token_count" {
            let u = &p["info"]["total_token_usage"];
            let n = |k: &str| u[k].as_u64().unwrap_or(0);
            if u.is_object() {
                totals = Some((
                    n("input_tokens"),
                    n("cached_input_tokens"),
                    n("output_tokens"),
                ));
            }
        }
    }
    totals.map(|(i, c, o)| (i, c, o, model))
}

/// Gemini's chat log of session `id` under its `tmp` directory: `<project>/chats/
/// session-<time>-<id[..8]>.jsonl` whose first record names the whole id.
fn gemini_log(tmp: &Path, id: &str) -> Option<PathBuf> {
    let short: String = id.chars().take(8).collect();
    let suffix = format!("-{short}.jsonl");
    for project in std::fs::read_dir(tmp).ok()?.flatten() {
        let Ok(files) = std::fs::read_dir(project.path().join("chats")) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().to_string();
            if !(name.starts_with("session-") && name.ends_with(&suffix)) {
                continue;
            }
            let first = std::fs::read_to_string(file.path())
                .ok()
                .and_then(|t| t.lines().next().map(str::to_string))
                .and_then(|l| serde_json::from_str::<Value>(&l).ok());
            if first.is_some_and(|f| f["sessionId"] == id) {
                return Some(file.path());
            }
        }
    }
    None
}

/// Claude's session log `<projects>/<project>/<id>.jsonl`.
fn claude_log(projects: &Path, id: &str) -> Option<PathBuf> {
    let name = format!("{id}.jsonl");
    std::fs::read_dir(projects)
        .ok()?
        .flatten()
        .map(|p| p.path().join(&name))
        .find(|p| p.is_file())
}

/// The assistant messages of a claude session log, by message id: (input, output) of
/// their last entry.
fn claude_messages(log: &Path) -> BTreeMap<String, (u64, u64)> {
    let mut found = BTreeMap::new();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines().filter(|l| l.contains("\"usage\"")) {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let m = &e["message"];
        let (Some(id), u) = (m["id"].as_str(), &m["usage"]) else {
            continue;
        };
        if e["type"] != "assistant" || !u.is_object() {
            continue;
        }
        let output = u["output_tokens"].as_u64().unwrap_or(0);
        found.insert(id.to_string(), (super::claude::input_tokens(u), output));
    }
    found
}

/// The model messages of a gemini chat log that carry tokens, by message id (the last
/// record of each id wins): (input, cached, output, model).
fn gemini_messages(log: &Path) -> BTreeMap<String, Logged> {
    let mut found = BTreeMap::new();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines().filter(|l| l.contains("\"tokens\"")) {
        let Ok(m) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (Some(id), t) = (m["id"].as_str(), &m["tokens"]) else {
            continue;
        };
        if m["type"] != "gemini" || !t.is_object() {
            continue;
        }
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        let model = m["model"].as_str().map(str::to_string);
        found.insert(
            id.to_string(),
            (n("input"), n("cached"), n("output"), model),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Transcript, Usage};

    fn env(home: &std::path::Path) -> impl Fn(&str) -> Option<String> + '_ {
        move |k| (k == "HOME").then(|| home.display().to_string())
    }

    #[test]
    fn codex_spend_is_read_from_its_rollout_log_while_it_runs() {
        let home = tempfile::tempdir().unwrap();
        let day = home.path().join(".codex/sessions/2026/12/01");
        std::fs::create_dir_all(&day).unwrap();
        let thread = "019ad0c1-0000-7000-8000-000000000001";
        let rollout = include_str!("../../tests/fixtures/real/codex-read-only-rollout.jsonl");
        let path = day.join(format!("rollout-2026-12-01T03-12-27-{thread}.jsonl"));
        // only the first request's token_count so far
        let first: Vec<&str> = rollout.lines().take(12).collect();
        std::fs::write(&path, first.join("\n")).unwrap();
        let mut t = Transcript::new(Format::CodexJson).with_env(env(home.path()));
        t.feed(format!("{{\"type\":\"thread.started\",\"thread_id\":\"{thread}\"}}\n").as_bytes());
        t.poll();
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (100, 20));
        assert_eq!(t.model.as_deref(), Some("gpt-5.5"));
        std::fs::write(&path, rollout).unwrap();
        t.poll();
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (303, 60));
        assert_eq!(t.cached_input_tokens, 30);
        // a resumed thread: the earlier runs' share is not this run's
        let before = Usage {
            input_tokens: 100,
            output_tokens: 20,
            ..Usage::default()
        };
        let mut t = Transcript::new(Format::CodexJson)
            .with_baseline(Some(thread.into()), before)
            .with_env(env(home.path()));
        t.feed(format!("{{\"type\":\"thread.started\",\"thread_id\":\"{thread}\"}}\n").as_bytes());
        t.poll();
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (203, 40));
    }

    /// Gemini died mid-run (tests/fixtures/real/gemini-crash-chat-log.jsonl, its chat log
    /// then): the model message written twice counts once, the stream's missing `result`
    /// made up for; a resumed session's earlier messages are not the new run's.
    #[test]
    fn gemini_spend_is_read_from_its_chat_log() {
        let home = tempfile::tempdir().unwrap();
        let chats = home.path().join(".gemini/tmp/ge/chats");
        std::fs::create_dir_all(&chats).unwrap();
        let id = "37bffcc5-6f9c-4c2c-b8d2-32312df263ac";
        std::fs::write(
            chats.join("session-2026-12-07T19-30-37bffcc5.jsonl"),
            include_str!("../../tests/fixtures/real/gemini-crash-chat-log.jsonl"),
        )
        .unwrap();
        let init = format!("{{\"type\":\"init\",\"session_id\":\"{id}\",\"model\":\"auto\"}}\n");
        let mut t = Transcript::new(Format::GeminiStreamJson).with_env(env(home.path()));
        t.feed(init.as_bytes());
        t.poll();
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (1011, 107));
        // the log names the model the CLI asked for
        assert!(t.model.is_some());
        let mut t = Transcript::new(Format::GeminiStreamJson)
            .with_baseline(Some(id.into()), Usage::default())
            .with_env(env(home.path()));
        t.feed(init.as_bytes());
        t.poll();
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (0, 0));
        // another session's log is not this one's
        let mut t = Transcript::new(Format::GeminiStreamJson).with_env(env(home.path()));
        t.feed(init.replace("37bffcc5-6f9c", "37bffcc5-0000").as_bytes());
        t.poll();
        assert_eq!(t.usage.input_tokens, 0);
    }

    /// Claude died mid-run: its stream had only the first message's start (output 1), its
    /// session log (tests/fixtures/real/claude-crash-session-log.jsonl) the message's
    /// final usage.
    #[test]
    fn claude_spend_is_read_from_its_session_log() {
        let home = tempfile::tempdir().unwrap();
        let project = home.path().join(".claude/projects/-tmp-repo-worktrees-cl");
        std::fs::create_dir_all(&project).unwrap();
        let id = "052fd7fc-0070-4ecf-884c-436533e78f22";
        std::fs::write(
            project.join(format!("{id}.jsonl")),
            include_str!("../../tests/fixtures/real/claude-crash-session-log.jsonl"),
        )
        .unwrap();
        let mut t = Transcript::new(Format::ClaudeStreamJson).with_env(env(home.path()));
        t.feed(
            format!("{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"{id}\"}}\n")
                .as_bytes(),
        );
        t.poll();
        assert_eq!(
            (t.usage.input_tokens, t.usage.output_tokens),
            (1231 + 2001 + 3001, 457)
        );
        assert_eq!(t.usage.turns, 1);
    }
}
