//! The bridge between a box's private network and the host: unix sockets in a directory
//! bound into the box, one per allowed destination (`o0`, `o1`, …: the runner listens,
//! connects to that destination itself, and copies bytes both ways) and one per port the
//! agent serves (`p3000`: the box listens; the runner listens on the host's
//! `127.0.0.1:3000` and carries each connection in). Inside, `fleet _net-inside` listens on
//! each destination's loopback address and carries each connection out through its socket,
//! serves the port sockets, and runs the step's command.
//!
//! The runner alone decides where bytes go: a socket leads to exactly one destination, so
//! there is nothing to ask for and nothing to refuse; a destination not on the list has no
//! socket. No protocol, no proxy settings: each CLI connects as it would to the real host.
use std::ffi::OsString;
use std::io;
use std::net::{SocketAddrV4, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::net::{layout, Dest};

/// How long the runner waits for a destination to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The runner's side of one step's bridge: its listeners run until it drops.
pub struct Bridge {
    /// The socket directory (removed on drop).
    pub dir: PathBuf,
    /// bwrap's arguments: the socket directory and `/etc/hosts` bound into the box, a
    /// private network namespace.
    pub bwrap_args: Vec<OsString>,
    /// What runs inside the box before the step's own command: `fleet _net-inside …`, whose
    /// last word `--` the command follows.
    pub prefix: Vec<OsString>,
    /// The box's environment: its proxy ([`super::proxy`]) for the CLIs that use one.
    pub env: Vec<(String, String)>,
    stop: Arc<AtomicBool>,
    /// The thread that accepts on every listener; joined on drop, so the host's ports are
    /// free again when the step's bridge is gone (the next step binds them at once).
    acceptor: Option<thread::JoinHandle<()>>,
}

/// One listener of the runner's side.
enum Listener {
    /// A socket the box connects to, for this destination.
    Out(UnixListener, Dest),
    /// The host's side of an agent's port, and the box's socket for it.
    In(TcpListener, PathBuf),
    /// The proxy's socket, and every destination it may connect to.
    Proxy(UnixListener, Arc<Vec<Dest>>),
}

/// The port the box's proxy listens on inside it (the next free one when a destination or
/// an agent's port has it).
const PROXY_PORT: u16 = 3128;

/// How often the acceptor looks at its listeners when none had a connection.
const ACCEPT_EVERY: Duration = Duration::from_millis(25);

/// Open the bridge for a box that may reach `dests` and serves `ports` to the host: the
/// socket directory under `parent` (short: a unix socket's path has at most 107 bytes),
/// its listeners started; `fleet` is the program that runs `_net-inside` in the box.
pub fn open(fleet: &Path, parent: &Path, dests: &[Dest], ports: &[u16]) -> Result<Bridge> {
    let dir = socket_dir(parent, "net")?;
    let opened = open_in(fleet, dir.clone(), dests, ports);
    if opened.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    opened
}

/// [`open`] in the socket directory `dir`, made already.
fn open_in(fleet: &Path, dir: PathBuf, dests: &[Dest], ports: &[u16]) -> Result<Bridge> {
    let plan = layout(dests);
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, &plan.hosts)
        .with_context(|| format!("cannot write {}", hosts.display()))?;
    let mut prefix: Vec<OsString> = vec![fleet.into(), "_net-inside".into(), dir.clone().into()];
    let mut listeners = Vec::new();
    for (i, (dest, addr)) in plan.listens.iter().enumerate() {
        let path = dir.join(format!("o{i}"));
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        listener.set_nonblocking(true)?;
        listeners.push(Listener::Out(listener, dest.clone()));
        prefix.push("--to".into());
        prefix.push(addr.to_string().into());
    }
    for &port in ports {
        let listener = TcpListener::bind(("127.0.0.1", port)).with_context(|| {
            format!("cannot listen on 127.0.0.1:{port}, the agent's port, on this machine")
        })?;
        listener.set_nonblocking(true)?;
        listeners.push(Listener::In(listener, dir.join(format!("p{port}"))));
        prefix.push("--port".into());
        prefix.push(port.to_string().into());
    }
    let proxy_port = (PROXY_PORT..)
        .find(|p| !ports.contains(p) && !plan.listens.iter().any(|(_, a)| a.port() == *p))
        .unwrap_or(PROXY_PORT);
    let path = dir.join(format!("o{}", plan.listens.len()));
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    listener.set_nonblocking(true)?;
    listeners.push(Listener::Proxy(listener, Arc::new(dests.to_vec())));
    prefix.push("--to".into());
    prefix.push(format!("127.0.0.1:{proxy_port}").into());
    prefix.push("--".into());
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let mut env = Vec::new();
    for key in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        env.push((key.to_string(), proxy.clone()));
    }
    for key in ["NO_PROXY", "no_proxy"] {
        env.push((key.to_string(), "localhost,127.0.0.1,::1".to_string()));
    }
    // bwrap sets up the new namespace's loopback itself.
    let mut bwrap_args: Vec<OsString> = vec![
        "--unshare-net".into(),
        "--bind".into(),
        dir.clone().into(),
        dir.clone().into(),
        "--ro-bind".into(),
        hosts.into(),
        "/etc/hosts".into(),
    ];
    if dests.iter().any(|d| d.port < 1024) || ports.iter().any(|&p| p < 1024) {
        // Listening on 443 in the box's own namespace (its loopback only).
        bwrap_args.push("--cap-add".into());
        bwrap_args.push("CAP_NET_BIND_SERVICE".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let stop = stop.clone();
        Some(thread::spawn(move || accept(listeners, &stop)))
    };
    Ok(Bridge {
        dir,
        bwrap_args,
        prefix,
        env,
        stop,
        acceptor,
    })
}

/// Accept on every listener until `stop`: each connection from the box goes on to its
/// destination (resolved here), each to an agent's port goes into the box.
fn accept(listeners: Vec<Listener>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let mut any = false;
        for l in &listeners {
            match l {
                Listener::Out(listener, dest) => {
                    if let Ok((inside, _)) = listener.accept() {
                        any = true;
                        let dest = dest.clone();
                        thread::spawn(move || {
                            if let (Ok(()), Ok(outside)) =
                                (inside.set_nonblocking(false), connect(&dest))
                            {
                                super::proxy::splice_unix(inside, outside);
                            }
                        });
                    }
                }
                Listener::Proxy(listener, dests) => {
                    if let Ok((inside, _)) = listener.accept() {
                        any = true;
                        let dests = dests.clone();
                        thread::spawn(move || {
                            if inside.set_nonblocking(false).is_ok() {
                                super::proxy::serve(inside, &dests, connect);
                            }
                        });
                    }
                }
                Listener::In(listener, path) => {
                    if let Ok((outside, _)) = listener.accept() {
                        any = true;
                        // Nothing listens in the box yet: the client sees it closed.
                        if let (Ok(()), Ok(inside)) =
                            (outside.set_nonblocking(false), UnixStream::connect(path))
                        {
                            super::proxy::splice_unix(inside, outside);
                        }
                    }
                }
            }
        }
        if !any {
            thread::sleep(ACCEPT_EVERY);
        }
    }
}

/// A new private directory for the sockets: `PARENT/fleet-KIND-PID-N` (the network's,
/// `net`, or the MCP relay's, `mcp`).
pub(super) fn socket_dir(parent: &Path, kind: &str) -> Result<PathBuf> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = parent.join(format!("fleet-{kind}-{}-{n}", std::process::id()));
    // Room for the longest socket name, `p65535`.
    if dir.as_os_str().len() + 7 > 107 {
        bail!(
            "the sandbox's socket directory {} is too long for a unix socket; set TMPDIR to a shorter directory",
            dir.display()
        );
    }
    remove_stale(parent, kind);
    let _ = std::fs::remove_dir_all(&dir);
    crate::util::private_dir(&dir)?;
    Ok(dir)
}

/// Remove the socket directories of runners that are gone (a runner ended by a signal
/// drops no bridge): `fleet-KIND-PID-N` whose PID does not run.
fn remove_stale(parent: &Path, kind: &str) {
    let prefix = format!("fleet-{kind}-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix.as_str()))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let mine = e.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.is_dir() && m.uid() == crate::util::uid()
        });
        if mine && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connect to a destination, its name resolved on this machine.
fn connect(dest: &Dest) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in (dest.host.as_str(), dest.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `fleet _net-inside DIR [--to ADDR:PORT]… [--port N]… -- COMMAND…`, the first process in
/// the box: listen on each `--to` address (the `N`th carried out through `DIR/oN`), serve
/// each `--port` through `DIR/pN`, then run the command and end as it ends (its exit code,
/// 128+N when signal N killed it); stop signals reach the command from their sender, this
/// process outlives them to report its end.
pub fn inside(dir: &Path, to: &[SocketAddrV4], ports: &[u16], command: &[OsString]) -> Result<i32> {
    for (i, addr) in to.iter().enumerate() {
        let listener = match TcpListener::bind(addr) {
            Ok(l) => l,
            // A privileged port (443) an unprivileged box cannot take: its proxy reaches it.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 => {
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr} in the box")),
        };
        let path = dir.join(format!("o{i}"));
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                if let Ok(unix) = UnixStream::connect(&path) {
                    super::proxy::splice_unix(unix, tcp);
                }
            }
        });
    }
    for &port in ports {
        let path = dir.join(format!("p{port}"));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(unix) = conn else { continue };
                // The agent's server is not up (yet): the host's client sees it closed.
                if let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)) {
                    super::proxy::splice_unix(unix, tcp);
                }
            }
        });
    }
    let Some((program, args)) = command.split_first() else {
        bail!("_net-inside: no command after --");
    };
    // From here a stop signal is not this process's end (the runner signals the whole
    // group, the command included).
    crate::util::outlive_stop_signals();
    let mut child = std::process::Command::new(program)
        .args(args)
        .spawn()
        .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
    let status = child.wait()?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_the_socket_directories_of_runners_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let gone = tmp.path().join("fleet-net-999999999-0");
        let alive = tmp
            .path()
            .join(format!("fleet-net-{}-7", std::process::id()));
        let other = tmp.path().join("fleet-net-notes");
        for d in [&gone, &alive, &other] {
            std::fs::create_dir(d).unwrap();
        }
        remove_stale(tmp.path(), "net");
        assert!(!gone.exists());
        assert!(alive.exists());
        assert!(other.exists());
    }
}
