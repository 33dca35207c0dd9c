//! The Anthropic Messages API as Claude Code 2.1.197 uses it, scripted: each request that
//! carries tools (the agent's own turn) takes the next [`Turn`] of the script and gets it as
//! an SSE stream shaped like the real API's (`message_start`, `content_block_start` /
//! `content_block_delta` / `content_block_stop` per block, `message_delta` with the stop
//! reason and usage, `message_stop`). Everything else is answered without touching the
//! script: a request without tools (a title or other side call) gets a short text, token
//! counting a count, `/v1/models` a list, the connectivity probe (`HEAD /`) a 200.
//!
//! Facts about the real CLI this relies on (checked against 2.1.197):
//! - with [`env`] set it sends only `HEAD /` and `POST /v1/messages?beta=true`; without
//!   `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` it also makes one side call (no tools,
//!   counted in the result's `modelUsage` but not its `usage`) and tries to send telemetry
//!   to Anthropic's own hosts;
//! - the working directory is in the system prompt as `Primary working directory: <dir>`,
//!   which [`Turn`] inputs can use as `{cwd}` (the Write and Edit tools want absolute paths);
//! - it sums `usage` of `message_start` (input and cache figures) and `message_delta`
//!   (output) over the turns of one run.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::{Reply, Request, Server};

/// Token figures of one scripted turn (the defaults are distinctive, so a test can tell
/// them from anything else: N turns report N times each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
}

impl Default for Usage {
    fn default() -> Usage {
        Usage {
            input: 1231,
            output: 457,
            cache_creation: 2001,
            cache_read: 3001,
        }
    }
}

impl Usage {
    /// These figures `n` times (a run of `n` scripted turns).
    pub fn times(self, n: u64) -> Usage {
        Usage {
            input: self.input * n,
            output: self.output * n,
            cache_creation: self.cache_creation * n,
            cache_read: self.cache_read * n,
        }
    }

    /// Input tokens as fleet counts them for claude: fresh, cache writes and cache reads.
    pub fn fleet_input(self) -> u64 {
        self.input + self.cache_creation + self.cache_read
    }
}

/// One answer to the agent's turn.
#[derive(Debug, Clone)]
pub enum Turn {
    /// The model calls a tool; `{cwd}` in the input's strings becomes the agent's working
    /// directory. An optional text comes before it in the same message.
    Tool {
        text: Option<String>,
        name: String,
        input: Value,
    },
    /// The model's final answer (`stop_reason: end_turn`).
    Text(String),
    /// `429 rate_limit_error` with `retry-after: <secs>` (claude retries it, then gives up).
    RateLimited { retry_after: u32 },
    /// `529 overloaded_error` (claude retries it, then gives up).
    Overloaded,
    /// The subscription's usage limit (its five-hour window), resetting `resets_in` seconds
    /// after the answer: `429 rate_limit_error` with the `anthropic-ratelimit-unified-*`
    /// headers saying `rejected` and the reset, as the real API answers a claude.ai login
    /// (claude does not retry it; with an API key it reads it as a rate limit).
    Quota { resets_in: u64 },
    /// The inner turn, after a pause (a slow model).
    Slow(Duration, Box<Turn>),
    /// The inner turn, for this and every later request: the script never moves on.
    Always(Box<Turn>),
}

impl Turn {
    /// `Write` a file (relative to the working directory).
    pub fn write(path: &str, content: &str) -> Turn {
        Turn::tool(
            "Write",
            json!({ "file_path": format!("{{cwd}}/{path}"), "content": content }),
        )
    }

    /// `Bash` a command (e.g. `git add -A && git commit -m msg`).
    pub fn bash(command: &str) -> Turn {
        Turn::tool(
            "Bash",
            json!({ "command": command, "description": "run a command" }),
        )
    }

    /// `Read` a file (relative to the working directory).
    pub fn read(path: &str) -> Turn {
        Turn::tool("Read", json!({ "file_path": format!("{{cwd}}/{path}") }))
    }

    pub fn tool(name: &str, input: Value) -> Turn {
        Turn::Tool {
            text: None,
            name: name.into(),
            input,
        }
    }

    pub fn text(text: &str) -> Turn {
        Turn::Text(text.into())
    }

    pub fn slow(self, d: Duration) -> Turn {
        Turn::Slow(d, Box::new(self))
    }

    pub fn always(self) -> Turn {
        Turn::Always(Box::new(self))
    }
}

/// The usual task: write `hello.txt`, commit it, say so.
pub fn write_and_commit() -> Vec<Turn> {
    vec![
        Turn::write("hello.txt", "hello from the fake model\n"),
        Turn::bash("git add -A && git commit -m 'add hello.txt'"),
        Turn::text("Done: hello.txt is committed."),
    ]
}

/// [`write_and_commit`], then the run a failed `verify: test -f fixed.txt` resumes: write
/// `fixed.txt`, commit it (`add fixed.txt`), say so.
pub fn write_and_commit_then_fix() -> Vec<Turn> {
    let mut script = write_and_commit();
    script.push(Turn::write("fixed.txt", "fixed\n"));
    script.push(Turn::bash(
        "git add fixed.txt && git commit -m 'add fixed.txt'",
    ));
    script.push(Turn::text("Fixed."));
    script
}

/// What a scripted server has done, for assertions.
#[derive(Debug, Default)]
struct State {
    script: VecDeque<Turn>,
    /// Scripted turns answered (errors included).
    answered: u64,
    /// Turns that produced a message (and so usage).
    messages: u64,
}

/// A running fake Anthropic API.
pub struct Anthropic {
    pub server: Server,
    state: Arc<Mutex<State>>,
    pub usage: Usage,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Anthropic {
    /// Serves `script` with the default usage figures.
    pub fn start(script: Vec<Turn>) -> Anthropic {
        Anthropic::with_usage(script, Usage::default())
    }

    pub fn with_usage(script: Vec<Turn>, usage: Usage) -> Anthropic {
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let st = state.clone();
        let server = Server::start(move |req| handle(req, &st, usage));
        Anthropic {
            server,
            state,
            usage,
        }
    }

    /// `http://127.0.0.1:PORT`, for `ANTHROPIC_BASE_URL`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The environment that points claude at this server and keeps it quiet and fast:
    /// no traffic but the model's, no telemetry, at most `retries` retries of an API error.
    pub fn env(&self, retries: u32) -> Vec<(String, String)> {
        vec![
            ("ANTHROPIC_BASE_URL".into(), self.url()),
            ("ANTHROPIC_API_KEY".into(), "sk-ant-fake-key".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("DISABLE_TELEMETRY".into(), "1".into()),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("CLAUDE_CODE_MAX_RETRIES".into(), retries.to_string()),
        ]
    }

    /// [`Anthropic::env`] for a claude.ai subscription's token (`CLAUDE_CODE_OAUTH_TOKEN`,
    /// as `claude setup-token` gives) instead of an API key: the login whose usage limits
    /// claude reads from the API's `anthropic-ratelimit-unified-*` headers.
    pub fn env_subscription(&self, retries: u32, token: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .env(retries)
            .into_iter()
            .filter(|(k, _)| k != "ANTHROPIC_API_KEY")
            .collect();
        env.push(("CLAUDE_CODE_OAUTH_TOKEN".into(), token.into()));
        env
    }

    /// Scripted turns answered so far (errors included).
    pub fn answered(&self) -> u64 {
        self.state.lock().unwrap().answered
    }

    /// Turns answered with a message (each reports `usage` once).
    pub fn messages(&self) -> u64 {
        self.state.lock().unwrap().messages
    }

    /// Turns of the script not yet used.
    pub fn left(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }

    /// The agent's turns (requests with tools) the server saw.
    pub fn turn_requests(&self) -> Vec<Request> {
        self.server.requests().into_iter().filter(is_turn).collect()
    }
}

/// A request for the agent's own turn: the Messages API with tools.
fn is_turn(req: &Request) -> bool {
    req.method == "POST"
        && req.route() == "/v1/messages"
        && req.json()["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
}

fn handle(req: &Request, state: &Mutex<State>, usage: Usage) -> Reply {
    match (req.method.as_str(), req.route()) {
        ("HEAD", _) | ("GET", "/") => Reply::Json(200, String::new()),
        ("POST", "/v1/messages/count_tokens") => Reply::Json(200, r#"{"input_tokens":42}"#.into()),
        ("GET", "/v1/models") => Reply::Json(
            200,
            json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}], "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}).to_string(),
        ),
        ("POST", "/v1/messages") if is_turn(req) => {
            let turn = {
                let mut st = state.lock().unwrap();
                st.answered += 1;
                let turn = match st.script.front() {
                    Some(Turn::Always(t)) => (**t).clone(),
                    Some(_) => st.script.pop_front().unwrap(),
                    None => Turn::text("(the fake model's script is over)"),
                };
                if produces_message(&turn) {
                    st.messages += 1;
                }
                turn
            };
            reply(req, turn, usage)
        }
        ("POST", "/v1/messages") => {
            // A side call (no tools): answered, never from the script.
            let small = Usage {
                input: 11,
                output: 3,
                cache_creation: 0,
                cache_read: 0,
            };
            reply(req, Turn::text("Fake side answer"), small)
        }
        _ => Reply::Json(
            404,
            json!({"type": "error", "error": {"type": "not_found_error", "message": format!("the fake has no {}", req.path)}}).to_string(),
        ),
    }
}

fn produces_message(turn: &Turn) -> bool {
    match turn {
        Turn::Tool { .. } | Turn::Text(_) => true,
        Turn::Slow(_, t) | Turn::Always(t) => produces_message(t),
        Turn::RateLimited { .. } | Turn::Overloaded | Turn::Quota { .. } => false,
    }
}

/// The agent's working directory, from the system prompt.
fn cwd(req: &Request) -> String {
    let body = String::from_utf8_lossy(&req.body);
    let key = "Primary working directory: ";
    body.find(key)
        .map(|i| {
            let rest = &body[i + key.len()..];
            // The prompt is a JSON string: the line ends at an escaped newline or the quote.
            let end = rest
                .find("\\n")
                .or_else(|| rest.find('"'))
                .unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .unwrap_or_else(|| ".".into())
}

fn fill_cwd(v: &Value, cwd: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{cwd}", cwd)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_cwd(x, cwd)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill_cwd(x, cwd)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn error(status: u16, kind: &str, message: &str, headers: Vec<(String, String)>) -> Reply {
    Reply::Status(
        status,
        headers,
        json!({"type": "error", "error": {"type": kind, "message": message}}).to_string(),
    )
}

fn reply(req: &Request, turn: Turn, usage: Usage) -> Reply {
    match turn {
        Turn::Slow(d, t) => Reply::Delay(d, Box::new(reply(req, *t, usage))),
        Turn::Always(t) => reply(req, *t, usage),
        Turn::RateLimited { retry_after } => error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit (fake)",
            vec![("retry-after".into(), retry_after.to_string())],
        ),
        Turn::Overloaded => error(529, "overloaded_error", "Overloaded", Vec::new()),
        Turn::Quota { resets_in } => {
            let reset = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + resets_in)
                .to_string();
            let h = |k: &str, v: &str| (format!("anthropic-ratelimit-unified-{k}"), v.to_string());
            error(
                429,
                "rate_limit_error",
                "This request would exceed your account's rate limit. Please try again later.",
                vec![
                    h("status", "rejected"),
                    h("reset", &reset),
                    h("representative-claim", "five_hour"),
                    h("5h-status", "rejected"),
                    h("5h-reset", &reset),
                    h("5h-utilization", "1.0"),
                    h("fallback", "unavailable"),
                    h("overage-status", "rejected"),
                    h("overage-disabled-reason", "org_level_disabled"),
                    ("request-id".into(), "req_fake_quota".into()),
                ],
            )
        }
        Turn::Text(text) => Reply::Sse(message(req, vec![Block::Text(text)], "end_turn", usage)),
        Turn::Tool { text, name, input } => {
            let mut blocks = Vec::new();
            if let Some(t) = text {
                blocks.push(Block::Text(t));
            }
            let id = format!("toolu_fake{:04}", NEXT_ID.fetch_add(1, Ordering::SeqCst));
            blocks.push(Block::Tool {
                id,
                name,
                input: fill_cwd(&input, &cwd(req)),
            });
            Reply::Sse(message(req, blocks, "tool_use", usage))
        }
    }
}

enum Block {
    Text(String),
    Tool {
        id: String,
        name: String,
        input: Value,
    },
}

/// One assistant message as the API streams it.
fn message(
    req: &Request,
    blocks: Vec<Block>,
    stop: &str,
    u: Usage,
) -> Vec<(Option<String>, String)> {
    let model = req.json()["model"]
        .as_str()
        .unwrap_or("claude-sonnet-4-5")
        .to_string();
    let id = format!("msg_fake{:06}", NEXT_ID.fetch_add(1, Ordering::SeqCst));
    let mut out = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {
                "input_tokens": u.input,
                "cache_creation_input_tokens": u.cache_creation,
                "cache_read_input_tokens": u.cache_read,
                "output_tokens": 1,
                "service_tier": "standard"
            }
        }}),
    )];
    for (index, block) in blocks.into_iter().enumerate() {
        match block {
            Block::Text(text) => {
                out.push(ev_block_start(index, json!({"type": "text", "text": ""})));
                // Two deltas, as a real stream splits text.
                let mid = text
                    .char_indices()
                    .nth(text.chars().count() / 2)
                    .map_or(0, |(i, _)| i);
                for part in [&text[..mid], &text[mid..]] {
                    out.push(ev(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                               "delta": {"type": "text_delta", "text": part}}),
                    ));
                }
            }
            Block::Tool { id, name, input } => {
                out.push(ev_block_start(
                    index,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                ));
                out.push(ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": ""}}),
                ));
                out.push(ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
                ));
            }
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push(ev(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": u.output}}),
    ));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    out
}

fn ev(name: &str, data: Value) -> (Option<String>, String) {
    (Some(name.to_string()), data.to_string())
}

fn ev_block_start(index: usize, block: Value) -> (Option<String>, String) {
    ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": block}),
    )
}
