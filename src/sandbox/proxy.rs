//! The runner's HTTP proxy for a box: the way a CLI in the box reaches a named host on a
//! port the box cannot listen on (443 needs a privilege an unprivileged box lacks). The box
//! gets `HTTPS_PROXY`/`HTTP_PROXY` pointing at a loopback address inside, carried here
//! through the bridge like any destination; here each request names where it goes (`CONNECT
//! host:port`, or `GET http://host/…`), and only a destination on the list is connected to
//! (resolved on this machine). Anything else is answered 403, naming the manifest key that
//! would allow it. TLS passes through untouched (CONNECT is a tunnel).
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::thread;

use super::net::Dest;

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

/// Whether `dests` holds `d` (a loopback destination matches by address: `localhost` is
/// 127.0.0.1).
pub fn allows(dests: &[Dest], d: &Dest) -> bool {
    dests.iter().any(|x| {
        x == d || (x.port == d.port && x.loopback().is_some() && x.loopback() == d.loopback())
    })
}

/// Serve one proxy connection from the box: tunnel or forward it when its destination is
/// allowed, else answer 403.
pub fn serve(
    mut inside: UnixStream,
    dests: &[Dest],
    connect: fn(&Dest) -> std::io::Result<TcpStream>,
) {
    let Some((head, rest)) = read_head(&mut inside) else {
        return;
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let first = text.lines().next().unwrap_or("").to_string();
    let mut words = first.split_whitespace();
    let (method, target, version) = (
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
        words.next().unwrap_or("HTTP/1.1"),
    );
    let (dest, forward) = if method.eq_ignore_ascii_case("CONNECT") {
        (Dest::parse(target).ok().filter(|v| v.len() == 1), None)
    } else {
        match absolute(target) {
            Some((d, path)) => (
                Some(vec![d]),
                Some(format!(
                    "{method} {path} {version}\r\n{}",
                    after_first_line(&text)
                )),
            ),
            None => (None, None),
        }
    };
    let Some(dest) = dest.and_then(|mut v| v.pop()) else {
        return answer(
            &mut inside,
            "400 Bad Request",
            "fleet: not a proxy request\n",
        );
    };
    if !allows(dests, &dest) {
        let why = format!(
            "fleet: {dest} is not on this agent's network list; add it to `network:` in the manifest\n"
        );
        return answer(&mut inside, "403 Forbidden", &why);
    }
    let Ok(mut outside) = connect(&dest) else {
        return answer(
            &mut inside,
            "502 Bad Gateway",
            &format!("fleet: cannot reach {dest}\n"),
        );
    };
    let sent = match &forward {
        Some(head) => outside.write_all(head.as_bytes()),
        None => inside.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n"),
    };
    if sent.is_err() || outside.write_all(&rest).is_err() {
        return;
    }
    splice_unix(inside, outside);
}

/// The request head (up to and with the blank line) and what came after it.
fn read_head(s: &mut UnixStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// `http://host[:port]/path` → the destination and the path (`/` when none).
fn absolute(target: &str) -> Option<(Dest, String)> {
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("HTTP://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let dest = Dest::parse(&with_port).ok()?.pop()?;
    Some((dest, path))
}

/// The head's lines after the request line.
fn after_first_line(head: &str) -> &str {
    head.split_once("\r\n").map_or("", |(_, rest)| rest)
}

/// A short answer of the proxy's own, the connection closed after it.
fn answer(s: &mut UnixStream, status: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Copy both ways between a unix and a TCP stream, on their own threads, each direction's
/// end passed on as a half close.
pub(super) fn splice_unix(unix: UnixStream, tcp: TcpStream) {
    let (Ok(unix2), Ok(tcp2)) = (unix.try_clone(), tcp.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let (mut from, mut to) = (unix, tcp);
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        let (mut from, mut to) = (tcp2, unix2);
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_targets_and_allows_by_list() {
        let (d, path) = absolute("http://Example.org/a?b").unwrap();
        assert_eq!(
            (d.to_string(), path.as_str()),
            ("example.org:80".into(), "/a?b")
        );
        let (d, _) = absolute("http://127.0.0.1:8080").unwrap();
        assert_eq!(d.to_string(), "127.0.0.1:8080");
        let list = super::super::net::dests(["api.example.com:443", "localhost:9"]);
        let one = |s: &str| Dest::parse(s).unwrap().pop().unwrap();
        assert!(allows(&list, &one("api.example.com:443")));
        assert!(allows(&list, &one("127.0.0.1:9")));
        assert!(!allows(&list, &one("api.example.com:80")));
        assert!(!allows(&list, &one("evil.example.com:443")));
    }
}
