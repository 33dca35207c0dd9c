//! Codex's `exec --json`: `thread.started` (the session), `item.completed` (messages,
//! commands, file changes, errors), `turn.completed` (usage) and `turn.failed`/`error`.
use serde_json::Value;

use super::{one_line, Transcript};

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
                self.ended = true;
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
}
