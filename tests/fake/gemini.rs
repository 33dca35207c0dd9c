//! The Gemini API (`generativelanguage` v1beta) as Gemini CLI 0.61.0 calls it, scripted:
//! - `POST /v1beta/models/<m>:streamGenerateContent?alt=sse` — the chat turns: each call
//!   takes the next [`Turn`] (a function call, a final text, an error, a slow answer), as
//!   one SSE event with `usageMetadata` from [`usage`].
//! - `POST /v1beta/models/<m>:generateContent` — side calls that are not turns (the model
//!   router's complexity classifier on flash-lite, the next-speaker check): answered from
//!   the JSON schema they ask for, never taking a turn.
//! - `countTokens` and anything else: a small JSON answer.
//!
//! Point the CLI at it with [`env`] and [`settings`] (in `$HOME/.gemini/settings.json`):
//! `GOOGLE_GEMINI_BASE_URL` alone makes the CLI pick its "gateway" auth, which headless
//! mode rejects (exit 41, "Invalid auth method selected."), so the settings select the API
//! key auth (`security.auth.selectedType: gemini-api-key`); they also turn off usage
//! statistics, telemetry and update checks, so no request leaves 127.0.0.1.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::{Reply, Request, Server};

/// One answer to a `streamGenerateContent` call.
#[derive(Debug, Clone)]
pub enum Turn {
    /// A `functionCall` part: the CLI runs the tool and calls again with its result.
    Call(String, Value),
    /// A final text: the CLI's run ends.
    Text(String),
    /// 429 `RESOURCE_EXHAUSTED` (the CLI retries it, then gives up).
    RateLimited,
    /// This 5xx status with a Google error body.
    ServerError(u16),
    /// The API key's daily quota on the model, as the Gemini API answers it: 429
    /// `RESOURCE_EXHAUSTED` with a `QuotaFailure` whose `quotaId` is per day and a
    /// `RetryInfo` of this many seconds (gemini does not retry it).
    DailyQuota(u64),
    /// Wait, then answer with the inner turn.
    Slow(Duration, Box<Turn>),
}

/// `write_file` of `content` at `path` (relative to the workspace).
pub fn write_file(path: &str, content: &str) -> Turn {
    Turn::Call(
        "write_file".into(),
        json!({"file_path": path, "content": content}),
    )
}

/// `run_shell_command` of `command`.
pub fn shell(command: &str) -> Turn {
    Turn::Call(
        "run_shell_command".into(),
        json!({"command": command, "description": "run it"}),
    )
}

/// `git add -A && git commit -m <message>`.
pub fn commit(message: &str) -> Turn {
    shell(&format!("git add -A && git commit -m '{message}'"))
}

pub fn text(s: &str) -> Turn {
    Turn::Text(s.into())
}

/// The `usageMetadata` of the `n`th turn answered (1-based, counted over the server's life,
/// so a resumed conversation gets new numbers): (prompt, candidates).
pub fn usage(n: u64) -> (u64, u64) {
    (1000 * n + 11, 100 * n + 7)
}

/// What each side call (`generateContent`) reports: (prompt, candidates).
pub const SIDE_USAGE: (u64, u64) = (3, 2);

/// The model name the answers carry (`modelVersion`).
pub const MODEL: &str = "gemini-2.5-pro";

/// The scripted turns, shared with the server's handler.
#[derive(Clone, Default)]
pub struct Script {
    turns: Arc<Mutex<VecDeque<Turn>>>,
    answered: Arc<AtomicU64>,
    side_calls: Arc<AtomicU64>,
}

impl Script {
    /// Adds turns at the end (e.g. for a resumed run).
    pub fn push(&self, turns: impl IntoIterator<Item = Turn>) {
        self.turns.lock().unwrap().extend(turns);
    }

    /// How many `streamGenerateContent` calls got a scripted turn (errors included).
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }

    /// How many `generateContent` side calls were answered.
    pub fn side_calls(&self) -> u64 {
        self.side_calls.load(Ordering::SeqCst)
    }

    /// The turns not yet taken.
    pub fn left(&self) -> usize {
        self.turns.lock().unwrap().len()
    }
}

/// A server answering `turns` in order; when they run out, a final "Done." text.
pub fn start(turns: impl IntoIterator<Item = Turn>) -> (Server, Script) {
    let script = Script::default();
    script.push(turns);
    let s = script.clone();
    let server = Server::start(move |req| handle(&s, req));
    (server, script)
}

/// The environment the CLI needs to use the server (with [`settings`] in its HOME).
pub fn env(server: &Server) -> Vec<(String, String)> {
    vec![
        ("GEMINI_API_KEY".into(), "fleet-test-key".into()),
        ("GOOGLE_GEMINI_BASE_URL".into(), server.url()),
    ]
}

/// [`env`] with every other request the CLI might make sent to `trap` (it honours
/// `HTTPS_PROXY` and `NO_PROXY`; see [`super::trap`]) and its error reports written to `tmp`
/// (`TMPDIR`), so a test can assert that nothing left 127.0.0.1.
pub fn env_trapped(server: &Server, trap: &Server, tmp: &Path) -> Vec<(String, String)> {
    let mut pairs = env(server);
    for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        pairs.push((k.into(), trap.url()));
    }
    pairs.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    pairs.push(("TMPDIR".into(), tmp.display().to_string()));
    pairs
}

/// Writes `<home>/.gemini/settings.json`: API key auth, no telemetry, usage statistics or
/// update checks, and at most `max_attempts` tries per model call (the CLI's default is 10,
/// about four minutes of backoff on a 429).
pub fn settings(home: &Path, max_attempts: u32) {
    let dir = home.join(".gemini");
    std::fs::create_dir_all(&dir).unwrap();
    let settings = json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "general": {
            "enableAutoUpdate": false,
            "enableAutoUpdateNotification": false,
            "maxAttempts": max_attempts
        }
    });
    std::fs::write(
        dir.join("settings.json"),
        serde_json::to_string_pretty(&settings).unwrap(),
    )
    .unwrap();
}

fn handle(script: &Script, req: &Request) -> Reply {
    let route = req.route();
    if route.ends_with(":streamGenerateContent") {
        let turn = script.turns.lock().unwrap().pop_front();
        let n = script.answered.fetch_add(1, Ordering::SeqCst) + 1;
        return answer(turn.unwrap_or_else(|| text("Done.")), n);
    }
    if route.ends_with(":generateContent") {
        script.side_calls.fetch_add(1, Ordering::SeqCst);
        let schema = &req.json()["generationConfig"]["responseJsonSchema"];
        let reply = side_answer(schema);
        return Reply::Json(
            200,
            response(json!([{"text": reply}]), SIDE_USAGE).to_string(),
        );
    }
    if route.ends_with(":countTokens") {
        return Reply::Json(200, r#"{"totalTokens":42}"#.into());
    }
    Reply::Json(
        404,
        google_error(404, "NOT_FOUND", "not scripted").to_string(),
    )
}

fn answer(turn: Turn, n: u64) -> Reply {
    match turn {
        Turn::Slow(d, inner) => Reply::Delay(d, Box::new(answer(*inner, n))),
        Turn::RateLimited => Reply::Status(
            429,
            Vec::new(),
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            )
            .to_string(),
        ),
        Turn::DailyQuota(secs) => Reply::Status(
            429,
            Vec::new(),
            json!({"error": {
                "code": 429,
                "message": format!("You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 250, model: gemini-2.5-flash\nPlease retry in {secs}s."),
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                        "quotaValue": "250",
                    }]},
                    {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{secs}s")},
                ],
            }})
            .to_string(),
        ),
        Turn::ServerError(status) => Reply::Status(
            status,
            Vec::new(),
            google_error(status, "INTERNAL", "Internal error encountered.").to_string(),
        ),
        Turn::Call(name, args) => {
            let parts = json!([{"functionCall": {"name": name, "args": args}}]);
            Reply::Sse(vec![(None, response(parts, usage(n)).to_string())])
        }
        Turn::Text(t) => {
            let parts = json!([{"text": t}]);
            Reply::Sse(vec![(None, response(parts, usage(n)).to_string())])
        }
    }
}

/// A `GenerateContentResponse` with one candidate.
fn response(parts: Value, (prompt, out): (u64, u64)) -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": parts},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": out,
            "totalTokenCount": prompt + out
        },
        "modelVersion": MODEL
    })
}

fn google_error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

/// A side call's JSON answer, from the properties its schema asks for.
fn side_answer(schema: &Value) -> String {
    let props = &schema["properties"];
    if props.get("complexity_score").is_some() {
        // the router: simple, so no "pro" escalation matters
        json!({"complexity_reasoning": "simple", "complexity_score": 10}).to_string()
    } else if props.get("next_speaker").is_some() {
        json!({"reasoning": "the model is done", "next_speaker": "user"}).to_string()
    } else {
        "{}".into()
    }
}
