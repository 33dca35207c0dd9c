//! The scripted model server itself (tests/fake): a request is recorded and answered, a
//! keep-alive connection carries several, an SSE reply is framed as events.
mod fake;

use std::io::{Read, Write};
use std::net::TcpStream;

use fake::{Reply, Server};

#[test]
fn answers_and_records_requests() {
    let server = Server::start(|req| match req.route() {
        "/v1/stream" => Reply::Sse(vec![(Some("ping".into()), "{}".into())]),
        _ => Reply::Json(200, format!("{{\"len\":{}}}", req.body.len())),
    });
    let mut s = TcpStream::connect(server.addr).unwrap();
    let body = r#"{"a":1}"#;
    write!(
        s,
        "POST /v1/x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    write!(
        s,
        "GET /v1/stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.contains("{\"len\":7}"), "{out}");
    assert!(out.contains("event: ping\ndata: {}\n\n"), "{out}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].route(), "/v1/x");
    assert_eq!(reqs[0].json()["a"], 1);
    assert_eq!(reqs[1].header("HOST"), Some("h"));
}
