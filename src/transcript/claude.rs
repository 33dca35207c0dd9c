//! Claude Code's `--output-format stream-json --verbose`: `system` init (session, model),
//! `assistant` messages (text, tool calls, live usage per message id), `user` tool results,
//! and the final `result` (exact usage, cost, turns, errors).
use serde_json::Value;

use super::{first_line, tool_line, Transcript, Usage};

impl Transcript {
    pub(super) fn claude(&mut self, e: &Value) -> Vec<String> {
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
                self.ended = true;
                let usage = &e["usage"];
                self.usage = Usage {
                    input_tokens: input_tokens(usage),
                    output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
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
                    self.error = Some(why.clone());
                    lines.push(format!("[claude] error: {why}"));
                }
                lines.push(format!("[claude] {}", self.summary()));
            }
            _ => {}
        }
        lines
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
}
