//! What the network tests of the sandbox share (tests/sandbox_net.rs, tests/real_sandbox_net.rs):
//! whether a box with a private network can be made here, loopback services to reach or
//! not, boxes around the bridge called by hand, and the probes an agent's
//! shell runs.
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use fleet::sandbox::bridge;
use fleet::sandbox::net::Dest;

use super::Fleet;

/// Whether bwrap can make a box with a private network here; says why not when it cannot.
pub fn bwrap_works() -> bool {
    let ok = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: bwrap is missing or cannot make a network namespace here");
    }
    ok
}

/// A TCP server on 127.0.0.1:random that answers each connection with `reply` and closes.
pub fn service(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(reply.as_bytes());
        }
    });
    port
}

pub fn dest(host: &str, port: u16) -> Dest {
    Dest {
        host: host.into(),
        port,
    }
}

/// Run `script` by `sh -c` in a box with the bridge: (exit code, stdout and stderr).
pub fn in_box(b: &bridge::Bridge, script: &str) -> (i32, String) {
    let out = box_command(b, script).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

pub fn box_command(b: &bridge::Bridge, script: &str) -> Command {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--die-with-parent"])
        .args(&b.bwrap_args)
        .args(&b.prefix)
        .args(["sh", "-c", script]);
    cmd
}

pub fn fleet() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fleet"))
}

/// Python that connects to host:port and prints what it reads, or `refused: ERROR`.
pub fn reach(host: &str, port: u16) -> String {
    format!(
        "python3 -c 'import socket,sys\ntry:\n s=socket.create_connection((\"{host}\",{port}),timeout=5); print(\"got:\"+s.recv(100).decode())\nexcept Exception as e: print(\"refused:\",e)'"
    )
}

/// Python for an agent's shell: connect to 127.0.0.1:port, print `reached PORT: TEXT` or
/// `refused PORT`.
pub fn probe(port: u16) -> String {
    format!(
        "python3 -c \"import socket\ntry:\n s=socket.create_connection(('127.0.0.1',{port}),timeout=5); print('reached {port}:', s.recv(100).decode())\nexcept Exception as e: print('refused {port}:', e)\""
    )
}

/// `fleet up` with `cli`'s directory first on PATH, then wait for agent `a` to end.
pub fn up_with(f: &Fleet, cli: &Path) -> serde_json::Value {
    f.up_and_wait(cli, 150);
    f.agent("a")
}

/// The model's shell command: probe a loopback service off the list, keep what it saw in
/// probe.txt and commit it.
pub fn probe_and_commit(other: u16) -> String {
    format!(
        "{} > probe.txt 2>&1; git add probe.txt && git commit -q -m probe",
        probe(other)
    )
}

/// What the agent's shell saw, from the commit on its branch.
pub fn probed(f: &Fleet) -> String {
    f.git(&["show", "fleet/a:probe.txt"])
}

/// This machine's name when it resolves to a loopback address here (a named host the tests
/// can reach without leaving the machine), else None after saying so.
pub fn loopback_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_string();
    let resolves = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 1))
        .map(|mut a| a.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    if !resolves || name.is_empty() {
        eprintln!("SKIPPED: this machine's name does not resolve to loopback here");
        return None;
    }
    Some(name)
}

/// Run `program args` in a box with the bridge to `dests` whose `/etc/hosts` names nothing:
/// a named destination is reachable through the box's proxy alone (as an unprivileged box
/// reaches a named host on 443). HOME is a fresh writable directory.
pub fn through_proxy_only(
    dests: &[Dest],
    env: &[(String, String)],
    program: &Path,
    args: &[&str],
) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let b = bridge::open(fleet(), tmp.path(), dests, &[]).unwrap();
    let mut cmd = Command::new("bwrap");
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--die-with-parent"])
        .args(&b.bwrap_args)
        .args(["--ro-bind", "/dev/null", "/etc/hosts"])
        .arg("--bind")
        .arg(&home)
        .arg(&home)
        .args(&b.prefix)
        .arg(program)
        .args(args)
        .current_dir(&home)
        .env("HOME", &home)
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
