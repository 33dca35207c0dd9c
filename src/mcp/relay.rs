//! `fleet mcp` inside a sandboxed agent's box: the server itself runs outside, started by
//! the runner for each connection to the socket the box is given (see `sandbox::mcp`);
//! this side only carries bytes between its stdin/stdout (the agent's CLI) and that
//! socket, until either end closes.
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Relay stdio to the server listening on `socket`.
pub fn relay(socket: &Path) -> anyhow::Result<()> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the fleet mcp server the runner serves this box on {}: {e}",
            socket.display()
        )
    })?;
    let mut to_server = stream.try_clone()?;
    std::thread::spawn(move || {
        let _ = copy(&mut std::io::stdin().lock(), &mut to_server);
        let _ = to_server.shutdown(Shutdown::Write);
    });
    let mut from_server = stream;
    copy(&mut from_server, &mut std::io::stdout().lock())?;
    Ok(())
}

/// Copy until end of input, flushing each piece (a JSON-RPC message must not wait).
fn copy(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}
