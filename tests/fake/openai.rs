//! The OpenAI Responses API (`POST /v1/responses`, streamed), as the Codex CLI speaks it:
//! a test scripts a conversation as a list of [`Turn`]s, and each `/responses` request is
//! answered with the next one (the last one repeats). A turn is a tool call (codex's
//! `exec_command` function or its freeform `apply_patch` custom tool), a final message, or an
//! error mode (429, 5xx, slow).
//!
//! What codex-cli 0.171.0 sends and expects (checked against the real CLI):
//! - only `POST {base_url}/responses`, body plain JSON (`accept-encoding: zstd,gzip` is asked
//!   of the reply, the request itself is not compressed for an API-key provider); no
//!   `/models` request for a custom provider (see [`codex_config`]).
//! - the reply is SSE: `response.created`, per output item `response.output_item.added` and
//!   `.done`, then `response.completed` carrying `usage` (`input_tokens`,
//!   `input_tokens_details.cached_tokens`, `output_tokens`,
//!   `output_tokens_details.reasoning_tokens`, `total_tokens`). codex sums the usage of every
//!   request of a turn into its `turn.completed` event, and over a resumed thread.
//! - a tool result comes back in the next request's `input` as `function_call_output` /
//!   `custom_tool_call_output` with the same `call_id`.
//!
//! - MCP tools (codex-cli 0.171.0) are deferred: the first request lists no MCP tool, only
//!   `tool_search` (`"execution": "client"`) and, in the instructions, "Deferred tool
//!   namespaces: - mcp__fleet: <the server's instructions>". The model calls it with a
//!   `tool_search_call` item (`arguments: {"query": …}`); codex answers in the next request
//!   with a `tool_search_output` whose `tools` are namespaces (`{"type": "namespace", "name":
//!   "mcp__fleet", "tools": [functions]}`), and from then on the model calls an MCP tool as a
//!   `function_call` with `"namespace": "mcp__fleet"` and the tool's own `name`. Its result
//!   comes back as a `function_call_output` whose `output` is a string or a list of
//!   `input_text` parts ("Wall time: …\nOutput:" first).
//!
//! Chat Completions (for aider) may live beside this; this part is only Responses.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{Reply, Request, Server};

/// The model name to give codex (`-m`): one its bundled model list knows, so it neither warns
/// ("Model metadata for ... not found") nor changes its tool set.
pub const MODEL: &str = "gpt-5.5";

/// One scripted answer to a `/responses` request.
#[derive(Debug, Clone)]
pub enum Turn {
    /// Codex's shell tool: `exec_command` with `{"cmd": ...}` (run by `bash -lc` in the cwd).
    Exec(String),
    /// Codex's `apply_patch` freeform tool with this patch text
    /// (`*** Begin Patch\n*** Add File: a.txt\n+line\n*** End Patch\n`).
    Patch(String),
    /// A final assistant message: the turn ends.
    Say(String),
    /// codex's client-side `tool_search` (how the model finds deferred MCP tools).
    ToolSearch(String),
    /// A call of a tool of a namespace (an MCP server's: `mcp__fleet`) with these arguments.
    Call {
        namespace: String,
        name: String,
        args: Value,
    },
    /// An HTTP error status with an OpenAI error body (429 rate limit, 500, 503).
    Status(u16),
    /// Wait, then answer with the inner turn (a slow model).
    Slow(Duration, Box<Turn>),
    /// The ChatGPT plan's usage limit, resetting this many seconds after the answer: `429`
    /// with `{"error":{"type":"usage_limit_reached", "plan_type", "resets_at",
    /// "resets_in_seconds"}}` and the `x-codex-primary-*` headers at 100% (codex does not
    /// retry it).
    UsageLimit(u64),
}

impl Turn {
    pub fn exec(cmd: &str) -> Turn {
        Turn::Exec(cmd.to_string())
    }
    pub fn say(text: &str) -> Turn {
        Turn::Say(text.to_string())
    }
    pub fn tool_search(query: &str) -> Turn {
        Turn::ToolSearch(query.to_string())
    }
    /// A call of `fleet mcp`'s tool `name` (server `fleet`, so namespace `mcp__fleet`).
    pub fn fleet(name: &str, args: Value) -> Turn {
        Turn::Call {
            namespace: "mcp__fleet".into(),
            name: name.into(),
            args,
        }
    }
    /// An `apply_patch` that adds a file with this content.
    pub fn add_file(path: &str, content: &str) -> Turn {
        let mut p = format!("*** Begin Patch\n*** Add File: {path}\n");
        for line in content.lines() {
            p.push('+');
            p.push_str(line);
            p.push('\n');
        }
        p.push_str("*** End Patch\n");
        Turn::Patch(p)
    }
}

/// Token usage the fake reports for the n-th `/responses` request (0-based): input 100+n,
/// cached 10, output 20, reasoning 5. A test can compute exactly what codex must report.
pub fn usage_of(n: usize) -> (u64, u64, u64, u64) {
    (100 + n as u64, 10, 20, 5)
}

/// The scripted Responses server.
pub struct Responses {
    pub server: Server,
    count: Arc<AtomicUsize>,
}

impl Responses {
    /// Serves `turns` in order, one per `/responses` request (the last one repeats).
    pub fn start(turns: Vec<Turn>) -> Responses {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let server = Server::start(move |req: &Request| {
            if req.method == "POST" && req.route().ends_with("/responses") {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let turn = turns
                    .get(n)
                    .or(turns.last())
                    .cloned()
                    .unwrap_or_else(|| Turn::say("done"));
                reply(n, &turn)
            } else {
                Reply::Json(404, r#"{"error":{"message":"not found"}}"#.into())
            }
        });
        Responses { server, count }
    }

    /// `http://127.0.0.1:PORT/v1`, the provider's `base_url`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// How many `/responses` requests were answered.
    pub fn calls(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The bodies of the `/responses` requests, as JSON.
    pub fn bodies(&self) -> Vec<Value> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.route().ends_with("/responses"))
            .map(|r| r.json())
            .collect()
    }

    /// The outputs codex sent back for its tool calls (`function_call_output` and
    /// `custom_tool_call_output`), in order, from the last request (which holds them all);
    /// an output given as parts is their texts joined by newlines.
    pub fn tool_outputs(&self) -> Vec<String> {
        let bodies = self.bodies();
        let Some(last) = bodies.last() else {
            return Vec::new();
        };
        last["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| {
                matches!(
                    i["type"].as_str(),
                    Some("function_call_output" | "custom_tool_call_output")
                )
            })
            .map(|i| super::content_text(&i["output"]))
            .collect()
    }

    /// The tools each `tool_search_output` codex sent back found, as `namespace.name`.
    pub fn searched_tools(&self) -> Vec<String> {
        let bodies = self.bodies();
        let Some(last) = bodies.last() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for out in last["input"].as_array().into_iter().flatten() {
            if out["type"] != "tool_search_output" {
                continue;
            }
            for ns in out["tools"].as_array().into_iter().flatten() {
                for t in ns["tools"].as_array().into_iter().flatten() {
                    found.push(format!(
                        "{}.{}",
                        ns["name"].as_str().unwrap_or(""),
                        t["name"].as_str().unwrap_or("")
                    ));
                }
            }
        }
        found
    }
}

/// The `-c` overrides that point codex at `base_url` as a custom provider `fake` that needs
/// no login: with these (and an `OPENAI_API_KEY` in the environment, sent as the bearer),
/// codex makes no request but `POST {base_url}/responses`.
pub fn codex_config(base_url: &str) -> Vec<String> {
    vec![
        format!(r#"model_providers.fake.base_url="{base_url}""#),
        r#"model_providers.fake.name="fake""#.into(),
        r#"model_providers.fake.env_key="OPENAI_API_KEY""#.into(),
        r#"model_provider="fake""#.into(),
        format!(r#"model="{MODEL}""#),
    ]
}

/// The same as a `config.toml` for `$CODEX_HOME` (what a test writes when it runs codex
/// through fleet's preset, whose command line it does not control).
pub fn codex_config_toml(base_url: &str) -> String {
    format!(
        "model = \"{MODEL}\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\nname = \"fake\"\nbase_url = \"{base_url}\"\nenv_key = \"OPENAI_API_KEY\"\n"
    )
}

/// Writes [`codex_config_toml`] to `<home>/.codex/config.toml`: codex run by fleet's preset
/// (whose command line the test does not control) with that HOME talks to `base_url`.
pub fn write_codex_config(home: &std::path::Path, base_url: &str) {
    let dir = home.join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), codex_config_toml(base_url)).unwrap();
}

fn error_body(status: u16) -> String {
    let (kind, msg) = match status {
        429 => ("rate_limit_exceeded", "Rate limit reached for requests"),
        500..=599 => ("server_error", "The server had an error"),
        _ => ("invalid_request_error", "Bad request"),
    };
    json!({"error": {"message": msg, "type": kind, "code": kind, "param": null}}).to_string()
}

fn reply(n: usize, turn: &Turn) -> Reply {
    match turn {
        Turn::Slow(d, inner) => Reply::Delay(*d, Box::new(reply(n, inner))),
        Turn::UsageLimit(secs) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let at = now + secs;
            let body = json!({"error": {
                "type": "usage_limit_reached",
                "message": "The usage limit has been reached",
                "plan_type": "plus",
                "resets_at": at,
                "resets_in_seconds": secs,
            }});
            let headers = vec![
                (
                    "x-codex-primary-used-percent".to_string(),
                    "100.0".to_string(),
                ),
                ("x-codex-primary-window-minutes".into(), "300".into()),
                ("x-codex-primary-reset-at".into(), at.to_string()),
                ("x-codex-secondary-used-percent".into(), "41.0".into()),
                ("x-codex-secondary-window-minutes".into(), "10080".into()),
                (
                    "x-codex-secondary-reset-at".into(),
                    (now + 400_000).to_string(),
                ),
            ];
            Reply::Status(429, headers, body.to_string())
        }
        Turn::Status(s) => {
            let extra = if *s == 429 {
                vec![("retry-after".to_string(), "1".to_string())]
            } else {
                Vec::new()
            };
            Reply::Status(*s, extra, error_body(*s))
        }
        _ => Reply::Sse(events(n, turn)),
    }
}

/// The SSE events of one response.
pub fn events(n: usize, turn: &Turn) -> Vec<(Option<String>, String)> {
    let id = format!("resp_{n}");
    let item = match turn {
        Turn::Exec(cmd) => json!({
            "type": "function_call", "id": format!("fc_{n}"), "call_id": format!("call_{n}"),
            "name": "exec_command", "arguments": json!({"cmd": cmd}).to_string(),
            "status": "completed",
        }),
        Turn::Patch(patch) => json!({
            "type": "custom_tool_call", "id": format!("ctc_{n}"), "call_id": format!("call_{n}"),
            "name": "apply_patch", "input": patch, "status": "completed",
        }),
        Turn::ToolSearch(query) => json!({
            "type": "tool_search_call", "id": format!("ts_{n}"), "call_id": format!("call_{n}"),
            "execution": "client", "arguments": {"query": query}, "status": "completed",
        }),
        Turn::Call {
            namespace,
            name,
            args,
        } => json!({
            "type": "function_call", "id": format!("fc_{n}"), "call_id": format!("call_{n}"),
            "namespace": namespace, "name": name, "arguments": args.to_string(),
            "status": "completed",
        }),
        Turn::Say(text) => json!({
            "type": "message", "id": format!("msg_{n}"), "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }),
        Turn::Status(_) | Turn::Slow(..) | Turn::UsageLimit(_) => {
            unreachable!("not an SSE turn")
        }
    };
    let (input, cached, output, reasoning) = usage_of(n);
    let created = json!({
        "type": "response.created",
        "response": {"id": id, "object": "response", "status": "in_progress", "model": MODEL, "output": []},
    });
    // As the real API: an item is announced empty and in progress, and complete when done.
    let mut added_item = item.clone();
    added_item["status"] = json!("in_progress");
    let mut deltas = Vec::new();
    match turn {
        Turn::Say(text) => {
            added_item["content"] = json!([]);
            deltas.push(json!({
                "type": "response.output_text.delta", "item_id": format!("msg_{n}"),
                "output_index": 0, "content_index": 0, "delta": text,
            }));
        }
        Turn::Exec(_) | Turn::Call { .. } => added_item["arguments"] = json!(""),
        Turn::Patch(_) => added_item["input"] = json!(""),
        _ => {}
    }
    let completed = json!({
        "type": "response.completed",
        "response": {
            "id": id, "object": "response", "status": "completed", "model": MODEL,
            "output": [item.clone()],
            "usage": {
                "input_tokens": input,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": output,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": input + output,
            },
        },
    });
    let mut all = vec![
        created,
        json!({"type": "response.output_item.added", "output_index": 0, "item": added_item}),
    ];
    all.extend(deltas);
    all.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    all.push(completed);
    all.into_iter()
        .map(|e| (Some(e["type"].as_str().unwrap().to_string()), e.to_string()))
        .collect()
}

/// A base URL nothing listens on (a port bound and released): codex's requests to it fail
/// with "Connection failed".
pub fn unreachable_base_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}
