//! `mcp:` in a box: the agent's `fleet mcp` runs outside it. Inside the box fleet's state
//! (`.fleet/`: records, run specs, logs, the lock) and the tmux server are read-only or
//! hidden, so a `fleet mcp` there could not start or wait for anything; and a box that could
//! write them could write what the runner later runs outside. So the runner listens on a
//! unix socket in a directory bound into the box (`$FLEET_MCP_SOCKET`), and for each
//! connection starts the agent's own `fleet mcp -f MANIFEST --as NAME [--lead]` (its run
//! spec's, whatever the box asks for) with the connection as its stdin and stdout. The
//! `fleet mcp` the agent's CLI starts inside the box sees the variable and only carries
//! bytes between its stdio and the socket ([`crate::mcp::relay`]). What the agent may do
//! through it is what `fleet mcp`'s role check allows, and fleet's own commands do it.
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::preset::{McpServer, MCP_SOCKET_VAR};

/// How often the acceptor looks for a connection.
const ACCEPT_EVERY: Duration = Duration::from_millis(25);

/// The runner's side of one step's relay: it accepts until it drops, then ends the servers
/// it started.
pub struct Relay {
    dir: PathBuf,
    /// The socket, as the box sees it (the same path: its directory is bound there).
    pub socket: PathBuf,
    stop: Arc<AtomicBool>,
    servers: Arc<Mutex<Vec<Child>>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

/// Listen for the box's `fleet mcp` in a new socket directory under `parent`; each
/// connection is served by `server`, run here.
pub fn open(server: &McpServer, parent: &Path) -> Result<Relay> {
    let dir = super::bridge::socket_dir(parent, "mcp")?;
    let socket = dir.join("s");
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e).with_context(|| format!("cannot listen on {}", socket.display()));
        }
    };
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let servers = Arc::new(Mutex::new(Vec::new()));
    let acceptor = {
        let (stop, servers, server) = (stop.clone(), servers.clone(), server.clone());
        Some(thread::spawn(move || {
            accept(&listener, &server, &stop, &servers)
        }))
    };
    Ok(Relay {
        dir,
        socket,
        stop,
        servers,
        acceptor,
    })
}

impl Relay {
    /// bwrap's arguments: the socket directory bound into the box (read-only: a client
    /// connects to a socket on a read-only mount; it cannot add or replace one).
    pub fn bwrap_args(&self) -> Vec<OsString> {
        vec![
            "--ro-bind".into(),
            self.dir.clone().into(),
            self.dir.clone().into(),
        ]
    }

    /// The box's variable that points `fleet mcp` at the socket.
    pub fn env(&self) -> (&'static str, OsString) {
        (MCP_SOCKET_VAR, self.socket.clone().into())
    }
}

fn accept(
    listener: &UnixListener,
    server: &McpServer,
    stop: &AtomicBool,
    servers: &Mutex<Vec<Child>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => {
                if let Some(child) = serve(conn, server) {
                    if let Ok(mut all) = servers.lock() {
                        all.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
                        all.push(child);
                    }
                }
            }
            Err(_) => thread::sleep(ACCEPT_EVERY),
        }
    }
}

/// Start `server` with the connection as its stdin and stdout (None: it could not start,
/// and the box's client sees the connection closed).
fn serve(conn: UnixStream, server: &McpServer) -> Option<Child> {
    conn.set_nonblocking(false).ok()?;
    let input = OwnedFd::from(conn.try_clone().ok()?);
    Command::new(&server.command)
        .args(&server.args)
        .env_remove(MCP_SOCKET_VAR)
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(OwnedFd::from(conn)))
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        if let Ok(mut all) = self.servers.lock() {
            for child in all.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Each connection gets a server of its own, the connection its stdio; the directory
    /// goes with the relay.
    #[test]
    fn each_connection_is_served_by_the_server_run_here() {
        let tmp = tempfile::tempdir().unwrap();
        let server = McpServer {
            command: "sh".into(),
            args: vec!["-c".into(), "printf 'up:'; cat".into()],
            lead: false,
        };
        let relay = open(&server, tmp.path()).unwrap();
        assert_eq!(relay.env().1, relay.socket.clone().into_os_string());
        for n in 0..2 {
            let mut conn = UnixStream::connect(&relay.socket).unwrap();
            conn.write_all(format!("hello {n}").as_bytes()).unwrap();
            conn.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = String::new();
            conn.read_to_string(&mut got).unwrap();
            assert_eq!(got, format!("up:hello {n}"));
        }
        let dir = relay.socket.parent().unwrap().to_path_buf();
        drop(relay);
        assert!(!dir.exists());
    }
}
