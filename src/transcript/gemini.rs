//! Gemini CLI's `--output-format stream-json`: `init` (session, model), assistant `message`
//! chunks joined into lines, `tool_use`/`tool_result`, `error` and the final `result` (stats).
use serde_json::Value;

use super::{first_line, one_line, tool_line, Transcript};

impl Transcript {
    pub(super) fn gemini(&mut self, e: &Value) -> Vec<String> {
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
                if let Some(m) = e["model"].as_str() {
                    self.model = Some(m.to_string());
                }
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
                self.ended = true;
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::Format;

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
}
