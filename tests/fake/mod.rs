//! A scripted model server for the conformance tests: plain HTTP/1.1 on 127.0.0.1 (std only),
//! answering each request with whatever the test's handler returns. The API modules beside
//! this one (one per vendor) turn a scripted turn (a tool call, a final answer, an error)
//! into that vendor's wire format; this file only owns the socket, the request parsing and
//! the record of every request seen, so a test can assert on what the CLI sent.
#![allow(dead_code)]

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod openai_chat;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the CLI sent it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent (`/v1/messages?beta=true`).
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
}

/// A tool result's content as the model reads it: a string as it is, a list of parts
/// (`{"text": …}`) their texts joined by newlines, anything else "".
pub fn content_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A JSON body with this status.
    Json(u16, String),
    /// `text/event-stream`: each item one SSE event (`event:` line when named, then `data:`).
    Sse(Vec<(Option<String>, String)>),
    /// Wait this long, then answer with the inner reply (a slow model).
    Delay(Duration, Box<Reply>),
    /// A status with a JSON body and extra headers (a 429 with `retry-after`).
    Status(u16, Vec<(String, String)>, String),
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// The running server; it stops answering when dropped (its thread is left to the test's
/// process, which ends soon after).
pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<Mutex<bool>>,
}

impl Server {
    /// Listens on an ephemeral port of 127.0.0.1; every connection is served on its own
    /// thread by `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Mutex::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stopped) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if *stopped.lock().unwrap() {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (handler, reqs) = (handler.clone(), reqs.clone());
                thread::spawn(move || serve(conn, &*handler, &reqs));
            }
        });
        Server {
            addr,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// A proxy that answers nothing useful (403) and records who tried to leave 127.0.0.1
    /// through it (a CLI's `HTTPS_PROXY`).
    pub fn trap() -> Server {
        Server::start(|_| Reply::Json(403, "{}".into()))
    }

    /// Asserts that no request came to this trap: nothing tried to leave 127.0.0.1.
    #[track_caller]
    pub fn nothing_left(&self) {
        let tried: Vec<String> = self.requests().into_iter().map(|r| r.path).collect();
        assert!(tried.is_empty(), "requests beyond 127.0.0.1: {tried:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves requests on one connection (keep-alive) until the client closes it.
fn serve(conn: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut writer = conn;
    while let Some(req) = read_request(&mut reader) {
        log.lock().unwrap().push(req.clone());
        let reply = handler(&req);
        if write_reply(&mut writer, reply).is_err() {
            return;
        }
    }
}

fn read_request(r: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let find = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let body = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(r)?
    } else {
        let len: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        body
    };
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn read_chunked(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).ok()?;
        let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).ok()?;
        if n == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn write_reply(w: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Delay(d, inner) => {
            thread::sleep(d);
            write_reply(w, *inner)
        }
        Reply::Json(status, body) => write_reply(w, Reply::Status(status, Vec::new(), body)),
        Reply::Status(status, extra, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                reason(status),
                body.len()
            );
            for (k, v) in extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            w.write_all(head.as_bytes())?;
            w.write_all(body.as_bytes())?;
            w.flush()
        }
        Reply::Sse(events) => {
            let mut body = String::new();
            for (name, data) in events {
                if let Some(n) = name {
                    body.push_str(&format!("event: {n}\n"));
                }
                body.push_str(&format!("data: {data}\n\n"));
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            w.write_all(head.as_bytes())?;
            w.write_all(body.as_bytes())?;
            w.flush()
        }
    }
}
