//! Gemini CLI's `--output-format stream-json`: `init` (session, model), assistant `message`
//! chunks joined into lines, `tool_use`/`tool_result`, `error` and the final `result` (stats).
//! Facts of 0.61.0 (tests/fixtures/real/gemini-*.jsonl):
//! - A refused tool is a `tool_result` with `status: error` and `error.type`
//!   `tool_not_registered` (the approval mode does not offer the tool at all: read-only's
//!   `write_file`, auto_edit's `run_shell_command`) or `policy_violation` (a shell command
//!   the allowed prefixes do not cover). The run still ends `status: success`, exit 0.
//! - `result.stats` counts this process only (all its model calls, the model router's
//!   included): a resumed run reports its own tokens, under the same session id.
//! - On a 429 the CLI retries (10 attempts, about 4 minutes, unless `general.maxAttempts`
//!   in settings.json says fewer), then ends with `result` `status: error` whose message ends
//!   with its rate-limit advice ("Please wait and try again later…"), and exits with the
//!   HTTP status modulo 256 (429: exit 173; a 500: exit 244).
use serde_json::Value;

use super::{first_line, one_line, tool_line, Transcript};

impl Transcript {
    /// A line that is not an event (its stderr): `Attempt 1 failed with status 429. Retrying
    /// with backoff... <the error and its stack>` is a retry in progress.
    pub(super) fn gemini_plain(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("Attempt ") else {
            return;
        };
        let Some((attempt, why)) = rest.split_once(" failed") else {
            return;
        };
        if !why.contains("Retrying with backoff") || attempt.parse::<u32>().is_err() {
            return;
        }
        let status = why
            .trim_start()
            .strip_prefix("with status ")
            .or_else(|| why.trim_start().strip_prefix("with "))
            .and_then(|s| s.split([' ', '.']).next())
            .filter(|s| !s.is_empty());
        self.retrying = Some(match status {
            Some(s) => format!("{s}, attempt {attempt} failed"),
            None => format!("attempt {attempt} failed"),
        });
    }

    pub(super) fn gemini(&mut self, e: &Value) -> Vec<String> {
        let kind = e["type"].as_str().unwrap_or("");
        // Any event after a retry: the model answers again (or the CLI gave up).
        if kind != "message" || e["role"] == "assistant" {
            self.retrying = None;
        }
        if kind == "message" && e["role"] == "assistant" {
            return self.gemini_message(e);
        }
        let mut lines = self.flush_text();
        let field = |a: &str, b: &str| e[a].as_str().or_else(|| e[b].as_str()).map(str::to_string);
        match kind {
            "init" => {
                // Without --model it says "auto" (its router picks per request): the
                // result's per-model stats name the models that answered.
                if let Some(m) = e["model"].as_str().filter(|m| !m.starts_with("auto")) {
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
                if refused(&e["error"]) {
                    self.usage.denials += 1;
                    lines.push(format!("  ! denied: {}", one_line(&why)));
                } else {
                    lines.push(format!("  ! tool error: {}", one_line(&why)));
                }
            }
            "error" => lines.push(format!("  ! {}", e["message"].as_str().unwrap_or("error"))),
            "result" => self.gemini_result(e, &mut lines),
            _ => {}
        }
        lines
    }

    /// An assistant `message` chunk: joined into lines, whole lines going out as they
    /// complete.
    fn gemini_message(&mut self, e: &Value) -> Vec<String> {
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
        lines
    }

    /// The final `result`: its stats (tokens, the model that priced the run) and its error.
    fn gemini_result(&mut self, e: &Value, lines: &mut Vec<String>) {
        self.ended = true;
        let stats = &e["stats"];
        let n = |a: &str, b: &str| stats[a].as_u64().or_else(|| stats[b].as_u64()).unwrap_or(0);
        self.usage.input_tokens = n("input_tokens", "inputTokens");
        self.usage.output_tokens = n("output_tokens", "outputTokens");
        self.cached_input_tokens = n("cached", "cachedTokens");
        self.usage.turns += 1;
        // The model that used the most tokens prices the run (the router's small side calls
        // go to a cheaper one).
        if let Some(models) = stats["models"].as_object() {
            let used = |v: &Value| v["total_tokens"].as_u64().unwrap_or(0);
            if let Some((m, v)) = models.iter().max_by_key(|(_, v)| used(v)) {
                if used(v) > 0 {
                    self.model = Some(m.clone());
                }
            }
        }
        if e["status"] != "success" {
            let mut why = e["error"]["message"]
                .as_str()
                .or_else(|| e["status"].as_str())
                .unwrap_or("error")
                .to_string();
            // Its 429 message names no rate limit, only its advice: say it in words the
            // runner knows.
            if RATE_LIMIT_ADVICE.iter().any(|a| why.contains(a)) {
                why = format!("rate limited (429): {why}");
            }
            if let Some(hit) = super::quota::gemini_quota(&why) {
                self.quota = Some(hit);
            }
            lines.push(format!("[gemini] error: {why}"));
            self.error = Some(why);
        }
        lines.push(format!("[gemini] {}", self.summary()));
    }
}

/// What Gemini CLI appends to an API error that was a 429 (`errorParsing.js`): with an API
/// key or Vertex, and with a Google login (where it falls back to another model).
const RATE_LIMIT_ADVICE: [&str; 2] = [
    "Please wait and try again later.",
    "Possible quota limitations in place",
];

/// The tools a higher approval mode offers: asking for one of them and getting
/// `tool_not_registered` is a refusal, not a model's typo.
const GATED_TOOLS: [&str; 7] = [
    "write_file",
    "replace",
    "run_shell_command",
    "web_fetch",
    "list_background_processes",
    "read_background_output",
    "activate_skill",
];

/// Was this tool error a refusal for want of permission?
fn refused(error: &Value) -> bool {
    match error["type"].as_str() {
        Some("policy_violation") => true,
        // `Tool "write_file" not found. Did you mean one of: …`
        Some("tool_not_registered") => error["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("Tool \""))
            .and_then(|m| m.split('"').next())
            .is_some_and(|name| GATED_TOOLS.contains(&name)),
        _ => false,
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

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/real/gemini-{name}.jsonl",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn real_edit_and_commit_has_no_denials() {
        let (text, t) = run(Format::GeminiStreamJson, &fixture("edit-commit"));
        assert!(text.contains("-> write_file: hello.txt"), "{text}");
        assert!(text.contains("-> run_shell_command: git add -A"), "{text}");
        assert!(
            text.contains("Done: wrote hello.txt and committed it."),
            "{text}"
        );
        assert_eq!(t.usage.denials, 0);
        assert_eq!((t.usage.input_tokens, t.usage.output_tokens), (6036, 623));
        assert_eq!(t.error, None);
        assert!(t.ended);
        // init says "auto"; the stats name the model that answered, which has a price
        assert_eq!(t.model.as_deref(), Some("gemini-2.5-pro"));
        let cost = t.priced(&Default::default()).cost_usd.unwrap();
        assert!(
            (cost - (6036.0 * 1.25 + 623.0 * 10.0) / 1e6).abs() < 1e-9,
            "{cost}"
        );
    }

    #[test]
    fn real_refusals_are_denials() {
        // read-only: neither write_file nor run_shell_command exists
        let (text, t) = run(Format::GeminiStreamJson, &fixture("read-only"));
        assert_eq!(t.usage.denials, 2, "{text}");
        assert!(
            text.contains("  ! denied: Tool \"write_file\" not found"),
            "{text}"
        );
        assert_eq!(t.error, None);
        // edit: a shell command that is not git
        let (text, t) = run(Format::GeminiStreamJson, &fixture("edit-shell-denied"));
        assert_eq!(t.usage.denials, 1, "{text}");
        assert!(
            text.contains("  ! denied: Tool execution denied by policy."),
            "{text}"
        );
        // a tool no mode has is the model's mistake, not a refusal
        let typo = r#"{"type":"tool_result","tool_id":"x","status":"error","error":{"type":"tool_not_registered","message":"Tool \"writ_file\" not found."}}"#;
        let (text, t) = run(Format::GeminiStreamJson, typo);
        assert_eq!(t.usage.denials, 0);
        assert!(text.contains("tool error"), "{text}");
    }

    #[test]
    fn real_resume_keeps_the_session_and_reports_its_own_run() {
        let all = fixture("resume");
        let lines: Vec<&str> = all.lines().collect();
        let second = lines
            .iter()
            .position(|l| l.contains(r#""type":"init""#) && *l != lines[0]);
        let (first, second) = lines.split_at(second.expect("two runs"));
        let (_, a) = run(Format::GeminiStreamJson, &first.join("\n"));
        let (_, b) = run(Format::GeminiStreamJson, &second.join("\n"));
        assert_eq!(a.session_id, b.session_id);
        // per run: the second run's own three calls (4011+5011+6011 and the router's 3)
        assert_eq!((a.usage.input_tokens, a.usage.output_tokens), (6036, 623));
        assert_eq!((b.usage.input_tokens, b.usage.output_tokens), (15036, 1523));
    }

    #[test]
    fn real_retries_are_retrying_until_the_model_answers() {
        let all = fixture("429-retry");
        let cut = all
            .find("{\"type\":\"message\",\"timestamp\":\"2026-12-07T19:25:45")
            .unwrap();
        let (_, t) = run(Format::GeminiStreamJson, &all[..cut]);
        assert_eq!(t.retrying.as_deref(), Some("429, attempt 1 failed"));
        let (text, t) = run(Format::GeminiStreamJson, &all);
        assert_eq!(t.retrying, None);
        assert!(text.contains("Attempt 1 failed with status 429"), "{text}");
        assert!(t.error.is_none() && t.ended);
    }

    #[test]
    fn real_429_is_a_rate_limit() {
        let (text, t) = run(Format::GeminiStreamJson, &fixture("429"));
        let error = t.error.expect("an error");
        assert!(
            error.starts_with("rate limited (429): [API Error: Resource has been exhausted"),
            "{error}"
        );
        assert!(
            text.contains("[gemini] error: rate limited (429)"),
            "{text}"
        );
        assert!(t.ended);
    }
}
