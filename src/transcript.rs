//! Agent CLIs' machine-readable output (Claude Code's `--output-format stream-json`, Codex's
//! `exec --json`, Gemini CLI's `--output-format stream-json`): one JSON event per line, turned into a readable transcript for the pane
//! and the log (assistant text, one line per tool call, errors), while the usage (tokens,
//! cost, turns) and the CLI's session id are collected. A line that is not JSON (stderr
//! shares the pipe) passes through as it is.
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
}

/// What an agent has used so far, as its CLI reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Only where the CLI reports a cost (Claude Code does, Codex does not).
    pub cost_usd: Option<f64>,
    pub turns: u64,
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
    /// Per Claude message id, the latest usage seen (a message's events repeat it): live
    /// totals before the final `result` event gives the exact ones.
    live: Vec<(String, u64, u64)>,
    /// Gemini sends the assistant's text in chunks: the line being put together.
    text: String,
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
            live: Vec::new(),
            text: String::new(),
        }
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
        let event: Option<Value> = serde_json::from_slice(raw)
            .ok()
            .filter(|v: &Value| v.is_object());
        let Some(event) = event else {
            out.extend_from_slice(raw);
            out.push(b'\n');
            return;
        };
        let text = match self.format {
            Format::ClaudeStreamJson => self.claude(&event),
            Format::CodexJson => self.codex(&event),
            Format::GeminiStreamJson => self.gemini(&event),
        };
        for l in text {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
    }

    fn claude(&mut self, e: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(id) = e["session_id"].as_str() {
            self.session_id = Some(id.to_string());
        }
        match e["type"].as_str().unwrap_or("") {
            "system" if e["subtype"] == "init" => {
                lines.push(format!(
                    "[claude] session {} ({})",
                    e["session_id"].as_str().unwrap_or("?"),
                    e["model"].as_str().unwrap_or("model unknown")
                ));
            }
            "assistant" => {
                let msg = &e["message"];
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
            "user" => {
                for block in e["message"]["content"].as_array().into_iter().flatten() {
                    if block["type"] == "tool_result" && block["is_error"] == true {
                        lines.push(format!("  ! tool error: {}", first_line(&block["content"])));
                    }
                }
            }
            "result" => {
                let usage = &e["usage"];
                self.usage = Usage {
                    input_tokens: input_tokens(usage),
                    output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                    cost_usd: e["total_cost_usd"].as_f64(),
                    turns: e["num_turns"].as_u64().unwrap_or(self.usage.turns),
                };
                let failed = e["is_error"] == true || e["subtype"] != "success";
                if failed {
                    let why = e["result"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e["subtype"].as_str().unwrap_or("error").to_string());
                    self.error = Some(why.clone());
                    lines.push(format!("[claude] error: {why}"));
                }
                lines.push(format!("[claude] {}", self.summary()));
            }
            _ => {}
        }
        lines
    }

    fn codex(&mut self, e: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        match e["type"].as_str().unwrap_or("") {
            "thread.started" => {
                if let Some(id) = e["thread_id"].as_str() {
                    self.session_id = Some(id.to_string());
                    lines.push(format!("[codex] session {id}"));
                }
            }
            "item.completed" => {
                let item = &e["item"];
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
                            lines.push(format!("  ! exit {code}"));
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
                    "error" => lines.push(format!(
                        "  ! {}",
                        item["message"].as_str().unwrap_or("error")
                    )),
                    _ => {}
                }
            }
            "turn.completed" => {
                let u = &e["usage"];
                self.usage.input_tokens += u["input_tokens"].as_u64().unwrap_or(0);
                self.usage.output_tokens += u["output_tokens"].as_u64().unwrap_or(0);
                self.usage.turns += 1;
            }
            "turn.failed" | "error" => {
                let why = e["error"]["message"]
                    .as_str()
                    .or_else(|| e["message"].as_str())
                    .unwrap_or("error")
                    .to_string();
                lines.push(format!("[codex] error: {why}"));
                self.error = Some(why);
            }
            _ => {}
        }
        lines
    }

    fn gemini(&mut self, e: &Value) -> Vec<String> {
        let kind = e["type"].as_str().unwrap_or("");
        if kind == "message" && e["role"] == "assistant" {
            let chunk = e["content"].as_str().unwrap_or("");
            if e["delta"] == true {
                self.text.push_str(chunk);
                // Whole lines go out as they complete.
                let mut lines = Vec::new();
                while let Some(i) = self.text.find('\n') {
                    let line: String = self.text.drain(..=i).collect();
                    lines.push(line.trim_end().to_string());
                }
                return lines;
            }
            let mut lines = self.flush_text();
            if !chunk.trim().is_empty() {
                lines.push(chunk.trim_end().to_string());
            }
            return lines;
        }
        let mut lines = self.flush_text();
        let field = |a: &str, b: &str| e[a].as_str().or_else(|| e[b].as_str()).map(str::to_string);
        match kind {
            "init" => {
                if let Some(id) = field("session_id", "sessionId") {
                    lines.push(format!(
                        "[gemini] session {id} ({})",
                        e["model"].as_str().unwrap_or("model unknown")
                    ));
                    self.session_id = Some(id);
                }
            }
            "tool_use" => lines.push(tool_line(
                &field("tool_name", "toolName").unwrap_or_else(|| "tool".into()),
                &e["parameters"],
            )),
            "tool_result" if e["status"] == "error" => {
                let why = e["error"]["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| first_line(&e["output"]));
                lines.push(format!("  ! tool error: {}", one_line(&why)));
            }
            "error" => lines.push(format!("  ! {}", e["message"].as_str().unwrap_or("error"))),
            "result" => {
                let stats = &e["stats"];
                let n =
                    |a: &str, b: &str| stats[a].as_u64().or_else(|| stats[b].as_u64()).unwrap_or(0);
                self.usage.input_tokens = n("input_tokens", "inputTokens");
                self.usage.output_tokens = n("output_tokens", "outputTokens");
                self.usage.turns += 1;
                if e["status"] != "success" {
                    let why = e["error"]["message"]
                        .as_str()
                        .or_else(|| e["status"].as_str())
                        .unwrap_or("error")
                        .to_string();
                    lines.push(format!("[gemini] error: {why}"));
                    self.error = Some(why);
                }
                lines.push(format!("[gemini] {}", self.summary()));
            }
            _ => {}
        }
        lines
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

/// Claude's input tokens: fresh plus cache writes plus cache reads, all of them sent.
fn input_tokens(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .map(|k| usage[*k].as_u64().unwrap_or(0))
    .sum()
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

    fn run(format: Format, input: &str) -> (String, Transcript) {
        let mut t = Transcript::new(format);
        let mut out = Vec::new();
        // In odd-sized pieces, as a pipe delivers them.
        for chunk in input.as_bytes().chunks(7) {
            out.extend(t.feed(chunk));
        }
        out.extend(t.finish());
        (String::from_utf8(out).unwrap(), t)
    }

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
                turns: 2
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

    #[test]
    fn gemini_stream_joins_chunks_and_reads_stats() {
        let input = concat!(
            r#"{"type":"init","timestamp":"t","session_id":"g-1","model":"gemini-2.5-pro"}"#,
            "\n",
            r#"{"type":"message","role":"user","content":"do it"}"#,
            "\n",
            r#"{"type":"message","role":"assistant","content":"Reading the ","delta":true}"#,
            "\n",
            r#"{"type":"message","role":"assistant","content":"code.\nThen","delta":true}"#,
            "\n",
            r#"{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t1","parameters":{"command":"ls"}}"#,
            "\n",
            r#"{"type":"tool_result","tool_id":"t1","status":"error","error":{"message":"denied"}}"#,
            "\n",
            r#"{"type":"result","status":"success","stats":{"total_tokens":30,"input_tokens":20,"output_tokens":10,"duration_ms":5,"tool_calls":1}}"#,
            "\n",
        );
        let (text, t) = run(Format::GeminiStreamJson, input);
        assert_eq!(
            text,
            "[gemini] session g-1 (gemini-2.5-pro)\nReading the code.\nThen\n-> run_shell_command: ls\n  ! tool error: denied\n[gemini] 1 turn, 20 tokens in, 10 out\n"
        );
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (20, 10));
        assert_eq!(t.usage.cost_usd, None);
        assert_eq!(t.session_id.as_deref(), Some("g-1"));
    }

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
                turns: 1
            }
        );
        assert_eq!(t.session_id.as_deref(), Some("th-9"));
    }
}
