//! Agent CLIs' machine-readable output (Claude Code's `--output-format stream-json`, Codex's
//! `exec --json`, Gemini CLI's `--output-format stream-json`): one JSON event per line, turned into a readable transcript for the pane
//! and the log (assistant text, one line per tool call, errors), while the usage (tokens,
//! cost, turns) and the CLI's session id are collected. A line that is not JSON (stderr
//! shares the pipe) passes through as it is. Aider prints plain text: it passes through,
//! its token and cost lines read on the way.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::prices::{self, Price};

mod aider;
mod claude;
mod codex;
mod gemini;
mod live;
mod quota;
pub use quota::{clock, QuotaHit};

/// Which event stream a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `claude --print --output-format stream-json --verbose`.
    ClaudeStreamJson,
    /// `codex exec --json`.
    CodexJson,
    /// `gemini --output-format stream-json`.
    GeminiStreamJson,
    /// `aider --no-pretty`: plain text with `Tokens: …` lines (it exits 0 after an API error
    /// it gave up on: its transcript's error counts whatever the exit code).
    AiderText,
}

impl Format {
    /// The stream always ends with a final event (claude's `result`, codex's
    /// `turn.completed`/`turn.failed`, gemini's `result`): one missing means the CLI died.
    pub fn has_final_event(self) -> bool {
        self != Format::AiderText
    }

    /// The CLI exits 0 after an API error it gave up on (aider, rate-limited included): its
    /// own error, not its exit code, says it failed.
    pub fn exits_zero_on_error(self) -> bool {
        self == Format::AiderText
    }
}

/// What an agent has used so far, as its CLI reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Only where the CLI reports a cost (Claude Code does, Codex does not); written rounded
    /// to six decimals.
    #[serde(serialize_with = "crate::prices::serialize_usd")]
    pub cost_usd: Option<f64>,
    pub turns: u64,
    /// Actions the CLI refused for want of permission (a denied edit, a sandbox refusal).
    #[serde(default)]
    pub denials: u64,
}

impl Usage {
    /// Two runs' usage added up (the cost known when either knows it).
    pub fn plus(self, b: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + b.input_tokens,
            output_tokens: self.output_tokens + b.output_tokens,
            cost_usd: match (self.cost_usd, b.cost_usd) {
                (None, None) => None,
                (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
            },
            turns: self.turns + b.turns,
            denials: self.denials + b.denials,
        }
    }
}

/// The state of one agent's event stream.
#[derive(Debug)]
pub struct Transcript {
    format: Format,
    partial: Vec<u8>,
    pub usage: Usage,
    pub session_id: Option<String>,
    /// The CLI's own error, when its final event says it failed.
    pub error: Option<String>,
    /// The model the CLI uses (from its events, else `--model` of its arguments).
    pub model: Option<String>,
    /// Of this run's input tokens, those the provider served from its cache.
    pub cached_input_tokens: u64,
    /// The CLI gave its final result event: it is ending by itself.
    pub ended: bool,
    /// The CLI is retrying an API error by itself (`529 overloaded, attempt 1 of 10`);
    /// None once the model answers again.
    pub retrying: Option<String>,
    /// The CLI stopped on its account's quota (not a transient rate limit).
    pub quota: Option<QuotaHit>,
    /// Claude said its quota rejects requests (`rate_limit_event`), with the reset if given.
    rejected: Option<Option<u64>>,
    /// Per Claude message id, the latest usage seen (a message's events repeat it): live
    /// totals before the final `result` event gives the exact ones.
    live: Vec<(String, u64, u64)>,
    /// Gemini sends the assistant's text in chunks: the line being put together.
    text: String,
    /// Aider's last API error, while nothing (a retry, a reply) came after it.
    aider_error: Option<String>,
    /// The session this run resumes and what the agent had used before it: Codex reports
    /// usage summed over its whole thread, so a resumed run's share is the difference.
    baseline: Option<(String, Usage)>,
    /// The CLI's logs beside its stream, read while it runs ([`Transcript::poll`]).
    logs: live::Live,
}

/// Tool calls are summarised to one line of at most this many characters.
const TOOL_LINE: usize = 120;

impl Transcript {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            partial: Vec::new(),
            usage: Usage::default(),
            session_id: None,
            error: None,
            model: None,
            cached_input_tokens: 0,
            ended: false,
            retrying: None,
            quota: None,
            rejected: None,
            live: Vec::new(),
            text: String::new(),
            aider_error: None,
            baseline: None,
            logs: live::Live::default(),
        }
    }

    /// The model the CLI runs, as far as its arguments tell (its events may say better).
    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// This run resumes `session` (when it does), after `before` was used: a CLI whose usage
    /// counts the whole conversation (Codex) reports only this run's share.
    pub fn with_baseline(mut self, session: Option<String>, before: Usage) -> Self {
        self.baseline = session.map(|s| (s, before));
        self
    }

    /// Once the CLI has exited: what it left beside its stream, looked up with `env` (the
    /// agent's environment). Codex tells only the model of its sandbox's refusals, and its
    /// stream never names its model: its session log has both (the refusals of this run,
    /// when it resumed the thread).
    pub fn after_exit(&mut self, env: impl Fn(&str) -> Option<String>) {
        // What the logs say it spent, when its final usage event never came.
        self.poll();
        let Some(thread) = self.session_id.clone() else {
            return;
        };
        if self.format != Format::CodexJson {
            return;
        }
        let home = env("CODEX_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".codex")));
        let Some(log) = home.and_then(|h| codex::session_log(&h, &thread)) else {
            return;
        };
        if self.model.is_none() {
            self.model = log.model;
        }
        if let (Some(q), Some(at)) = (self.quota.as_mut(), log.reset) {
            q.resets_at = Some(at);
        }
        let all = log.refusals;
        let before = self
            .baseline
            .as_ref()
            .filter(|(id, _)| *id == thread)
            .map_or(0, |(_, u)| u.denials);
        self.usage.denials = self.usage.denials.max(all.saturating_sub(before));
    }

    /// Take the next bytes of output; the readable text for them (whole lines only).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.partial.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            self.line(&line[..line.len() - 1], &mut out);
        }
        out
    }

    /// The end of the output: a last line without a newline.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.partial);
        let mut out = Vec::new();
        if !rest.is_empty() {
            self.line(&rest, &mut out);
        }
        for l in self.flush_text() {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        if let Some(e) = self.aider_error.take() {
            self.error = Some(e);
        }
        out
    }

    /// The assistant text gathered from chunks so far, as lines.
    fn flush_text(&mut self) -> Vec<String> {
        let text = std::mem::take(&mut self.text);
        let text = text.trim_end();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![text.to_string()]
        }
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        if self.format == Format::AiderText {
            for l in self.aider(&String::from_utf8_lossy(raw)) {
                out.extend_from_slice(l.as_bytes());
                out.push(b'\n');
            }
            return;
        }
        let event: Option<Value> = serde_json::from_slice(raw)
            .ok()
            .filter(|v: &Value| v.is_object());
        let Some(event) = event else {
            if self.format == Format::GeminiStreamJson {
                self.gemini_plain(&String::from_utf8_lossy(raw));
            }
            out.extend_from_slice(raw);
            out.push(b'\n');
            return;
        };
        let text = match self.format {
            Format::ClaudeStreamJson => self.claude(&event),
            Format::CodexJson => self.codex(&event),
            Format::GeminiStreamJson => self.gemini(&event),
            // Plain text, read above.
            Format::AiderText => Vec::new(),
        };
        for l in text {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
    }

    /// This run's usage, its cost from `prices` (the manifest's, over the built-in list)
    /// when the CLI reports tokens only and its model has a price.
    pub fn priced(&self, prices: &BTreeMap<String, Price>) -> Usage {
        let mut usage = self.usage;
        if usage.cost_usd.is_none() && (usage.input_tokens > 0 || usage.output_tokens > 0) {
            usage.cost_usd = self
                .model
                .as_deref()
                .and_then(|m| prices::lookup(m, prices))
                .map(|p| {
                    p.cost(
                        usage.input_tokens,
                        self.cached_input_tokens,
                        usage.output_tokens,
                    )
                });
        }
        usage
    }

    /// `3 turns, 1200 tokens in, 340 out, $0.0123`.
    pub fn summary(&self) -> String {
        let cost = self
            .usage
            .cost_usd
            .map(|c| format!(", ${c:.4}"))
            .unwrap_or_default();
        format!(
            "{} turn{}, {} tokens in, {} out{cost}",
            self.usage.turns,
            if self.usage.turns == 1 { "" } else { "s" },
            self.usage.input_tokens,
            self.usage.output_tokens
        )
    }
}

/// `-> Bash: cargo test` — a tool call on one line.
fn tool_line(name: &str, input: &Value) -> String {
    let detail = [
        "command",
        "file_path",
        "path",
        "pattern",
        "url",
        "description",
    ]
    .iter()
    .find_map(|k| input[*k].as_str())
    .map(str::to_string)
    .unwrap_or_else(|| {
        if input.is_null() {
            String::new()
        } else {
            input.to_string()
        }
    });
    one_line(&format!("-> {name}: {detail}"))
}

fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if flat.chars().count() > TOOL_LINE {
        let cut: String = flat.chars().take(TOOL_LINE - 3).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

fn first_line(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    one_line(text.lines().next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in odd-sized pieces, as a pipe delivers them: the text and the state.
    pub(super) fn run(format: Format, input: &str) -> (String, Transcript) {
        let mut t = Transcript::new(format);
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(7) {
            out.extend(t.feed(chunk));
        }
        out.extend(t.finish());
        (String::from_utf8(out).unwrap(), t)
    }
}
