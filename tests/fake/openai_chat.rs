//! The OpenAI Chat Completions API (`POST /v1/chat/completions`), as aider 0.86 calls it
//! through litellm and the openai Python SDK (`--openai-api-base http://127.0.0.1:PORT/v1`,
//! model `openai/<name>`): the chat turn streams (`"stream": true`, SSE chunks ending in
//! `data: [DONE]`), the commit-message request after an edit does not (one JSON body).
//!
//! Aider edits files by the model writing them out in its edit format (for a model it does not
//! know, `whole`: the file's path on a line, then its whole content in a fence), applies the
//! edit and commits it itself, asking the model for a one-line commit message first.
//!
//! [`Script`] answers chat turns in order (the last one repeats) and every commit-message
//! request with its commit message; [`rate_limited`] is the 429 the real API sends.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::{Reply, Request};

/// One scripted answer to a chat turn.
#[derive(Debug, Clone)]
pub enum Turn {
    /// The assistant's text (an edit in aider's format, or a plain answer).
    Text(String),
    /// HTTP 429, the API's rate-limit error.
    RateLimit,
    /// Any other error status with OpenAI's error body (e.g. 500, 503).
    Error(u16, String),
    /// This long, then the inner turn (a slow model).
    Slow(std::time::Duration, Box<Turn>),
}

/// The reply text of aider's `whole` edit format that writes `content` to `path`.
pub fn whole_file(path: &str, content: &str) -> String {
    let nl = if content.ends_with('\n') { "" } else { "\n" };
    format!("I will create {path}.\n\n{path}\n```\n{content}{nl}```\n")
}

/// The reply text of aider's `diff` edit format (a SEARCH/REPLACE block); an empty `search`
/// creates the file.
pub fn search_replace(path: &str, search: &str, replace: &str) -> String {
    let nl = |s: &str| {
        if s.is_empty() || s.ends_with('\n') {
            ""
        } else {
            "\n"
        }
    };
    format!(
        "{path}\n```\n<<<<<<< SEARCH\n{search}{}=======\n{replace}{}>>>>>>> REPLACE\n```\n",
        nl(search),
        nl(replace)
    )
}

/// Token counts the fake reports (aider prints its own count for streamed turns, the API's
/// with `--no-stream`; under 1000, as it prints them unrounded).
pub const PROMPT_TOKENS: u64 = 513;
pub const COMPLETION_TOKENS: u64 = 53;

/// The fake model's prices for aider's `--model-metadata-file`, so aider prints a cost and
/// fetches no price list.
pub const MODEL_METADATA: &str = r#"{"openai/fake": {"max_tokens": 4096, "max_input_tokens": 128000, "max_output_tokens": 4096, "input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015, "litellm_provider": "openai", "mode": "chat"}}"#;

/// The items of an aider agent's `args:` (YAML) that point it at `server` as model
/// `openai/fake`, with [`MODEL_METADATA`] written to `meta` when there is one.
pub fn aider_args(server: &super::Server, meta: Option<&std::path::Path>) -> String {
    let mut args = format!(
        "--model, openai/fake, --openai-api-base, \"{}/v1\", --openai-api-key, sk-fake",
        server.url()
    );
    if let Some(meta) = meta {
        std::fs::write(meta, MODEL_METADATA).unwrap();
        args.push_str(&format!(", --model-metadata-file, \"{}\"", meta.display()));
    }
    args
}

/// Is this aider's request for a commit message (its weak-model call after an edit)?
pub fn is_commit_message(req: &Request) -> bool {
    let body = req.json();
    body["messages"]
        .as_array()
        .and_then(|m| m.first())
        .and_then(|m| m["content"].as_str())
        .is_some_and(|s| s.contains("Git commit messages"))
}

fn model(req: &Request) -> String {
    req.json()["model"].as_str().unwrap_or("fake").to_string()
}

fn usage() -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    })
}

/// A whole (non-streamed) `chat.completion` answering `text`.
pub fn completion(req: &Request, text: &str) -> Reply {
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model(req),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
        "usage": usage(),
    });
    Reply::Json(200, body.to_string())
}

/// A streamed answer: `chat.completion.chunk` events (a role delta, the text in a few
/// pieces, the finish reason, a usage chunk), then `[DONE]`.
pub fn stream(req: &Request, text: &str) -> Reply {
    let model = model(req);
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        .to_string()
    };
    let mut events = vec![(
        None,
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    )];
    // Split on line ends so the pieces stay valid UTF-8.
    for piece in text.split_inclusive('\n') {
        events.push((None, chunk(json!({"content": piece}), Value::Null)));
    }
    events.push((None, chunk(json!({}), json!("stop"))));
    let usage_chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [],
        "usage": usage(),
    });
    events.push((None, usage_chunk.to_string()));
    events.push((None, "[DONE]".to_string()));
    Reply::Sse(events)
}

/// `text` the way the request asked for it (streamed or whole).
pub fn answer(req: &Request, text: &str) -> Reply {
    if req.json()["stream"].as_bool().unwrap_or(false) {
        stream(req, text)
    } else {
        completion(req, text)
    }
}

/// OpenAI's error body for `status`.
pub fn error(status: u16, message: &str) -> Reply {
    let kind = match status {
        429 => "requests",
        401 => "invalid_request_error",
        _ => "server_error",
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    // The SDK honours retry-after-ms for its own retries: keep them quick.
    Reply::Status(
        status,
        vec![("retry-after-ms".into(), "10".into())],
        body.to_string(),
    )
}

/// The message the fake's 429 carries (no URL in it: aider offers to open any URL of an error
/// in a browser, and `--yes-always` accepts).
pub const RATE_LIMIT_MESSAGE: &str = "Rate limit reached for requests per min (RPM) (fake)";

/// HTTP 429 as the real API sends it, with `retry-after-ms: 10` (the SDK retries twice itself,
/// then aider retries with its own backoff, about 64 s in all).
pub fn rate_limited() -> Reply {
    let body = json!({"error": {
        "message": RATE_LIMIT_MESSAGE,
        "type": "requests",
        "param": null,
        "code": "rate_limit_exceeded",
    }});
    Reply::Status(
        429,
        vec![("retry-after-ms".into(), "10".into())],
        body.to_string(),
    )
}

/// Chat turns answered in order (the last one again once they run out); commit-message
/// requests get `commit_message` and do not use up a turn; other paths get a 404.
pub struct Script {
    turns: Mutex<VecDeque<Turn>>,
    last: Mutex<Option<Turn>>,
    pub commit_message: String,
}

impl Script {
    pub fn new(turns: Vec<Turn>) -> Script {
        Script {
            turns: Mutex::new(turns.into()),
            last: Mutex::new(None),
            commit_message: "Add the requested file".into(),
        }
    }

    pub fn commit_message(mut self, message: &str) -> Script {
        self.commit_message = message.to_string();
        self
    }

    fn next(&self) -> Option<Turn> {
        let mut last = self.last.lock().unwrap();
        if let Some(t) = self.turns.lock().unwrap().pop_front() {
            *last = Some(t);
        }
        last.clone()
    }

    /// The server's handler.
    pub fn reply(&self, req: &Request) -> Reply {
        if req.method != "POST" || !req.route().ends_with("/chat/completions") {
            return Reply::Json(404, r#"{"error":{"message":"not found"}}"#.into());
        }
        if is_commit_message(req) {
            return answer(req, &self.commit_message);
        }
        match self.next() {
            Some(turn) => reply(req, turn),
            None => error(500, "the fake has no turn scripted"),
        }
    }

    /// Starts a server answering with this script.
    pub fn serve(self) -> super::Server {
        super::Server::start(move |req| self.reply(req))
    }
}

/// The answer to one chat turn.
fn reply(req: &Request, turn: Turn) -> Reply {
    match turn {
        Turn::Text(text) => answer(req, &text),
        Turn::RateLimit => rate_limited(),
        Turn::Error(status, message) => error(status, &message),
        Turn::Slow(d, inner) => Reply::Delay(d, Box::new(reply(req, *inner))),
    }
}

/// The chat requests (not commit-message ones) a server saw.
pub fn chat_requests(server: &super::Server) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.route().ends_with("/chat/completions") && !is_commit_message(r))
        .collect()
}
