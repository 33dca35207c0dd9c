//! The sandbox's network: a box (bwrap with a private network namespace) reaches the
//! destinations on its list through the bridge and nothing else; a server in the box on an
//! agent's port answers from the host. These tests call bwrap directly around the bridge;
//! they skip, saying so, when bwrap is missing or cannot make namespaces here.
mod common;
mod fake;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Fleet;
use fleet::sandbox::bridge;
use fleet::sandbox::net::Dest;

/// Whether bwrap can make a box with a private network here; says why not when it cannot.
fn bwrap_works() -> bool {
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
fn service(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(reply.as_bytes());
        }
    });
    port
}

fn dest(host: &str, port: u16) -> Dest {
    Dest {
        host: host.into(),
        port,
    }
}

/// Run `script` by `sh -c` in a box with the bridge: (exit code, stdout and stderr).
fn in_box(b: &bridge::Bridge, script: &str) -> (i32, String) {
    let out = box_command(b, script).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn box_command(b: &bridge::Bridge, script: &str) -> Command {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--die-with-parent"])
        .args(&b.bwrap_args)
        .args(&b.prefix)
        .args(["sh", "-c", script]);
    cmd
}

fn fleet() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fleet"))
}

/// Python that connects to host:port and prints what it reads, or `refused: ERROR`.
fn reach(host: &str, port: u16) -> String {
    format!(
        "python3 -c 'import socket,sys\ntry:\n s=socket.create_connection((\"{host}\",{port}),timeout=5); print(\"got:\"+s.recv(100).decode())\nexcept Exception as e: print(\"refused:\",e)'"
    )
}

#[test]
fn the_box_reaches_what_is_allowed_and_nothing_else() {
    if !bwrap_works() {
        return;
    }
    let allowed = service("allowed");
    let other = service("other");
    let tmp = tempfile::tempdir().unwrap();
    let b = bridge::open(fleet(), tmp.path(), &[dest("127.0.0.1", allowed)], &[]).unwrap();
    let script = format!(
        "{}; {}; {}; {}; exit 7",
        reach("127.0.0.1", allowed),
        reach("127.0.0.1", other),
        reach("localhost", allowed),
        reach("example.com", 443),
    );
    let started = Instant::now();
    let (code, out) = in_box(&b, &script);
    assert_eq!(code, 7, "the command's exit code comes through: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "got:allowed", "{out}");
    assert!(lines[1].starts_with("refused:"), "{out}");
    assert_eq!(lines[2], "got:allowed", "{out}");
    assert!(
        lines[3].starts_with("refused:"),
        "a name not on the list: {out}"
    );
    // The same connections from the host: the other service is there.
    let mut s = TcpStream::connect(("127.0.0.1", other)).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "other");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "refusals fail fast, not on a timeout"
    );
}

#[test]
fn a_named_host_resolves_only_in_the_box_and_keeps_its_name() {
    if !bwrap_works() {
        return;
    }
    // `localhost.` resolves on the host; the box's own /etc/hosts gives it another address.
    let port = service("named");
    let tmp = tempfile::tempdir().unwrap();
    let b = bridge::open(
        fleet(),
        tmp.path(),
        &[dest("localhost.localdomain", port)],
        &[],
    );
    let Ok(b) = b else { return };
    let (_, out) = in_box(
        &b,
        &format!(
            "getent hosts localhost.localdomain; {}",
            reach("localhost.localdomain", port)
        ),
    );
    assert!(out.contains("127.0.0.2"), "{out}");
    // Reached only when the host resolves the name too.
    if std::net::ToSocketAddrs::to_socket_addrs(&("localhost.localdomain", port)).is_ok() {
        assert!(out.contains("got:named"), "{out}");
    }
}

#[test]
fn an_unprivileged_box_skips_a_port_it_cannot_listen_on_and_runs_the_step() {
    if !bwrap_works() {
        return;
    }
    // As a user without privileges (nobody, when these tests run as root).
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    std::fs::create_dir(&dir).unwrap();
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "bwrap"]);
        Command::new("chmod")
            .args(["0777"])
            .arg(tmp.path())
            .arg(&dir)
            .status()
            .unwrap();
        c
    } else {
        Command::new("bwrap")
    };
    cmd.args([
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-net",
    ])
    .arg("--bind")
    .arg(&dir)
    .arg(&dir)
    .arg(fleet())
    .arg("_net-inside")
    .arg(&dir)
    .args(["--to", "127.0.0.2:443", "--to", "127.0.0.2:8443", "--"])
    .args(["sh", "-c", "echo ran; exit 3"]);
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if root && text.contains("setpriv") {
        eprintln!("SKIPPED: cannot become nobody here: {text}");
        return;
    }
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert_eq!(text.trim(), "ran");
}

/// GET / on 127.0.0.1:port from the host, until it answers 200 or the deadline passes.
fn answers(port: u16, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && line.contains(" 200 ") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn a_server_on_the_agents_port_answers_from_the_host() {
    if !bwrap_works() {
        return;
    }
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let b = bridge::open(fleet(), tmp.path(), &[], &[port]).unwrap();
    let mut child = box_command(&b, &format!("exec python3 -m http.server {port}"))
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ok = answers(port, Instant::now() + Duration::from_secs(30));
    // SIGTERM to the box's first process reaches the server and ends the box.
    unsafe_kill(child.id(), 15);
    let status = child.wait().unwrap();
    assert!(
        ok,
        "the server in the box answers on 127.0.0.1:{port} of the host"
    );
    assert!(!status.success());
    drop(b);
    // The host's port is free again once the step's bridge is gone.
    TcpListener::bind(("127.0.0.1", port)).unwrap();
}

fn unsafe_kill(pid: u32, sig: i32) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

/// Each agent's ports from `status --json`.
fn ports_of(f: &Fleet, name: &str) -> serde_json::Value {
    f.agent(name)["ports"].clone()
}

#[test]
fn ports_are_distinct_given_to_every_step_and_kept_across_reruns() {
    let f = Fleet::new();
    f.manifest(
        "ports: [PORT, DB_PORT]\nsetup: echo \"setup $PORT\"\nverify: echo \"verify $PORT $DB_PORT\"\ncommand: \"cat >/dev/null; echo agent $PORT $DB_PORT\"\nagents:\n  - name: a\n    prompt: one\n  - name: b\n    prompt: two\n  - name: c\n    prompt: three\n    ports: [WEB]\n",
    );
    f.fleet(&["validate"])
        .success()
        .stdout_has("ports:    PORT (a free port chosen at `fleet up`)");
    f.fleet(&["up"]).success();
    for n in ["a", "b", "c"] {
        f.wait_state(n, "done");
    }
    let (a, b, c) = (ports_of(&f, "a"), ports_of(&f, "b"), ports_of(&f, "c"));
    let port =
        |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let mut all = vec![
        port(&a, "PORT"),
        port(&a, "DB_PORT"),
        port(&b, "PORT"),
        port(&b, "DB_PORT"),
        port(&c, "WEB"),
    ];
    assert_eq!(
        c.as_object().unwrap().len(),
        1,
        "the agent's own list replaces: {c}"
    );
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "distinct: {a} {b} {c}");
    let log = f.log("a");
    let (p, d) = (port(&a, "PORT"), port(&a, "DB_PORT"));
    assert!(log.contains(&format!("setup {p}")), "{log}");
    assert!(log.contains(&format!("agent {p} {d}")), "{log}");
    assert!(log.contains(&format!("verify {p} {d}")), "{log}");
    f.fleet(&["validate"])
        .success()
        .stdout_has(&format!("ports:    PORT={p}"));
    f.fleet(&["up", "--rerun"]).success();
    for n in ["a", "b", "c"] {
        f.wait_state(n, "done");
    }
    assert_eq!(ports_of(&f, "a"), a);
    assert_eq!(ports_of(&f, "b"), b);
    assert_eq!(ports_of(&f, "c"), c);
}

#[test]
fn bad_network_and_ports_are_refused_naming_agent_and_fix() {
    let f = Fleet::new();
    f.manifest(
        "network: [\"ftp://x\"]\nports: [PORT, PORT]\nagents:\n  - name: a\n    prompt: one\n    network: [\"a b\", \"10.1.2.3:80\"]\n    ports: [1X]\n  - name: b\n    prompt: two\n    ports: [WEB]\n    env: {WEB: \"1\"}\n",
    );
    let run = f.fleet(&["up"]);
    run.code(2)
        .stderr_has("agents.yaml")
        .stderr_has("network: `ftp://x`: scheme `ftp` is not http or https")
        .stderr_has("ports: `PORT` is named twice")
        .stderr_has("agents[0] (a)")
        .stderr_has("`a b` is not a host name")
        .stderr_has("`10.1.2.3` is an address outside this machine; name the host instead")
        .stderr_has("ports: `1X` is not a variable name")
        .stderr_has("`WEB` is both in `ports:` and in `env:`");
    assert!(!f.repo.join(".fleet").exists(), "nothing created");
}

/// Python for an agent's shell: connect to 127.0.0.1:port, print `reached PORT: TEXT` or
/// `refused PORT`.
fn probe(port: u16) -> String {
    format!(
        "python3 -c \"import socket\ntry:\n s=socket.create_connection(('127.0.0.1',{port}),timeout=5); print('reached {port}:', s.recv(100).decode())\nexcept Exception as e: print('refused {port}:', e)\""
    )
}

#[test]
fn a_sandboxed_command_reaches_its_allowlist_and_no_other_loopback_service() {
    if !bwrap_works() {
        return;
    }
    let allowed = service("allowed");
    let other = service("other");
    let f = Fleet::new();
    let script = format!(
        "cat >/dev/null; {}; {}; exit 0",
        probe(allowed),
        probe(other)
    );
    f.file("probe.sh", &script);
    f.git(&["add", "probe.sh"]);
    f.git(&["commit", "-q", "-m", "probe"]);
    f.manifest(&format!(
        "sandbox: true\ncommand: sh probe.sh\nagents:\n  - name: a\n    prompt: probe\n    network: [\"127.0.0.1:{allowed}\"]\n  - name: open\n    prompt: probe\n    network: all\n"
    ));
    f.fleet(&["up"]).success();
    f.wait_state("a", "done");
    f.wait_state("open", "done");
    let log = f.log("a");
    assert!(
        log.contains(&format!("reached {allowed}: allowed")),
        "{log}"
    );
    assert!(log.contains(&format!("refused {other}:")), "{log}");
    let log = f.log("open");
    assert!(
        log.contains(&format!("reached {other}: other")),
        "network: all: {log}"
    );
}

/// Both agents' servers answer on their ports from the host, then are told to stop.
fn both_answer(f: &Fleet, names: &[&str]) -> Vec<u16> {
    let mut ports = Vec::new();
    for n in names {
        f.wait_state(n, "running");
        let port = f.agent(n)["ports"]["PORT"].as_u64().unwrap() as u16;
        ports.push(port);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (n, port) in names.iter().zip(&ports) {
        assert!(
            answers(*port, deadline),
            "{n}'s server on {port} answers from the host\n{}",
            f.log(n)
        );
    }
    for n in names {
        std::fs::write(f.worktree(n).join("stop.local"), "").unwrap();
    }
    for n in names {
        f.wait_state(n, "done");
    }
    ports
}

#[test]
fn two_sandboxed_agents_serve_on_their_own_ports_side_by_side() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    // Each serves its worktree on $PORT until the test says stop (at most 90 s); setup and
    // verify are boxed steps too, each binding the host's side of the port in turn.
    f.manifest(
        "sandbox: true\nports: [PORT]\nsetup: \"true\"\nverify: \"true\"\ncommand: \"cat >/dev/null; python3 -m http.server $PORT >/dev/null 2>&1 & for i in $(seq 900); do [ -e stop.local ] && break; sleep 0.1; done; kill $!; rm -f stop.local\"\nagents:\n  - name: a\n    prompt: serve\n  - name: b\n    prompt: serve\n",
    );
    f.fleet(&["up"]).success();
    let first = both_answer(&f, &["a", "b"]);
    assert_ne!(first[0], first[1]);
    f.fleet(&["up", "--rerun"]).success();
    let again = both_answer(&f, &["a", "b"]);
    assert_eq!(first, again, "kept across up --rerun");
}

// ------------------------------------------------------------------ real CLIs in the box

/// The real CLI named by `var`, or None (after saying so) when the test should skip.
fn real(var: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => Some(p.into()),
        _ => {
            eprintln!("SKIP: {var} not set (scripts/test.sh installs the real CLIs)");
            None
        }
    }
}

/// `fleet up` with `cli`'s directory first on PATH, then wait for agent `a` to end.
fn up_with(f: &Fleet, cli: &Path) -> serde_json::Value {
    let path = format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "150"]);
    f.agent("a")
}

/// The model's shell command: probe a loopback service off the list, keep what it saw in
/// probe.txt and commit it.
fn probe_and_commit(other: u16) -> String {
    format!(
        "{} > probe.txt 2>&1; git add probe.txt && git commit -q -m probe",
        probe(other)
    )
}

/// What the agent's shell saw, from the commit on its branch.
fn probed(f: &Fleet) -> String {
    f.git(&["show", "fleet/a:probe.txt"])
}

#[test]
fn real_claude_in_the_box_reaches_its_api_from_the_base_url_and_no_other_service() {
    if !bwrap_works() {
        return;
    }
    let Some(claude) = real("FLEET_REAL_CLAUDE") else {
        return;
    };
    use fake::anthropic::{Anthropic, Turn};
    let other = service("other");
    let api = Anthropic::start(vec![
        Turn::bash(&probe_and_commit(other)),
        Turn::text("Probed."),
    ]);
    let env: String = api
        .env(1)
        .into_iter()
        .map(|(k, v)| format!("  {k}: {v:?}\n"))
        .collect();
    let f = Fleet::new();
    f.manifest(&format!(
        "agent: claude\nsandbox: true\npermissions: full\nenv:\n{env}agents:\n  - name: a\n    prompt: probe\n"
    ));
    let a = up_with(&f, &claude);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    let seen = probed(&f);
    assert!(seen.starts_with(&format!("refused {other}:")), "{seen}");
    assert!(api.answered() >= 2, "the model answered through the bridge");
}

#[test]
fn real_codex_in_the_box_reaches_its_provider_from_its_config_and_no_other_service() {
    if !bwrap_works() {
        return;
    }
    let Some(codex) = real("FLEET_REAL_CODEX") else {
        return;
    };
    use fake::openai::{codex_config, Responses, Turn};
    let other = service("other");
    let api = Responses::start(vec![
        Turn::exec(&probe_and_commit(other)),
        Turn::say("Probed."),
    ]);
    // The provider's base_url only in `-c` arguments: fleet finds it there.
    let mut args = Vec::new();
    for c in codex_config(&api.base_url()) {
        args.push("\"-c\"".to_string());
        args.push(format!("{c:?}"));
    }
    let f = Fleet::new();
    f.manifest(&format!(
        "agent: codex\nsandbox: true\npermissions: full\nargs: [{}]\nenv: {{ OPENAI_API_KEY: sk-fake }}\nagents:\n  - name: a\n    prompt: probe\n",
        args.join(", ")
    ));
    let a = up_with(&f, &codex);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    let seen = probed(&f);
    assert!(seen.starts_with(&format!("refused {other}:")), "{seen}");
}

/// Python in the box: ask the box's proxy for `target` (CONNECT), print its status line and
/// then what the destination says.
fn via_proxy(target: &str) -> String {
    format!(
        "python3 -c 'import os,socket\nu=os.environ[\"HTTPS_PROXY\"].rsplit(\":\",1)\ns=socket.create_connection((\"127.0.0.1\",int(u[1])),timeout=5)\ns.sendall(b\"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n\")\nd=b\"\"\nwhile b\"\\r\\n\\r\\n\" not in d:\n  c=s.recv(1000)\n  if not c: break\n  d+=c\nhead,_,rest=d.partition(b\"\\r\\n\\r\\n\")\nprint(\"status:\",head.split(b\"\\r\\n\")[0].decode())\nif b\" 200 \" in head: print(\"got:\"+(rest or s.recv(100)).decode())'"
    )
}

#[test]
fn the_boxs_proxy_tunnels_to_allowed_destinations_and_refuses_others() {
    if !bwrap_works() {
        return;
    }
    let allowed = service("allowed");
    let other = service("other");
    let tmp = tempfile::tempdir().unwrap();
    let b = bridge::open(fleet(), tmp.path(), &[dest("localhost", allowed)], &[]).unwrap();
    let mut cmd = box_command(
        &b,
        &format!(
            "{}; {}",
            via_proxy(&format!("127.0.0.1:{allowed}")),
            via_proxy(&format!("127.0.0.1:{other}"))
        ),
    );
    cmd.envs(b.env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap();
    let out =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"status: HTTP/1.1 200 Connection established"),
        "{out}"
    );
    assert_eq!(lines.get(1), Some(&"got:allowed"), "{out}");
    assert_eq!(
        lines.get(2),
        Some(&"status: HTTP/1.1 403 Forbidden"),
        "{out}"
    );
}

/// This machine's name when it resolves to a loopback address here (a named host the tests
/// can reach without leaving the machine), else None after saying so.
fn loopback_name() -> Option<String> {
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

#[test]
fn real_claude_in_the_box_reaches_a_named_base_url_host() {
    if !bwrap_works() {
        return;
    }
    let Some(claude) = real("FLEET_REAL_CLAUDE") else {
        return;
    };
    let Some(name) = loopback_name() else { return };
    use fake::anthropic::{Anthropic, Turn};
    let api = Anthropic::start(vec![Turn::text("Hello.")]);
    let port = api
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let env: String = api
        .env(1)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            // The API by name: the box resolves it to an address of its own.
            "ANTHROPIC_BASE_URL" => format!("  {k}: \"http://{name}:{port}\"\n"),
            _ => format!("  {k}: {v:?}\n"),
        })
        .collect();
    let f = Fleet::new();
    f.manifest(&format!(
        "agent: claude\nsandbox: true\npermissions: full\nenv:\n{env}agents:\n  - name: a\n    prompt: hello\n"
    ));
    let a = up_with(&f, &claude);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    assert!(api.answered() >= 1);
}

/// Run `program args` in a box with the bridge to `dests` whose `/etc/hosts` names nothing:
/// a named destination is reachable through the box's proxy alone (as an unprivileged box
/// reaches a named host on 443). HOME is a fresh writable directory.
fn through_proxy_only(
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

#[test]
fn real_claude_reaches_a_named_host_through_the_proxy_alone() {
    if !bwrap_works() {
        return;
    }
    let Some(claude) = real("FLEET_REAL_CLAUDE") else {
        return;
    };
    let Some(name) = loopback_name() else { return };
    use fake::anthropic::{Anthropic, Turn};
    let api = Anthropic::start(vec![Turn::text("Hello through the proxy.")]);
    let port: u16 = api
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut env = api.env(1);
    for (k, v) in env.iter_mut() {
        if k == "ANTHROPIC_BASE_URL" {
            *v = format!("http://{name}:{port}");
        }
    }
    let (code, out) = through_proxy_only(&[dest(&name, port)], &env, &claude, &["--print", "hi"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Hello through the proxy."), "{out}");
}

#[test]
fn real_codex_reaches_a_named_host_through_the_proxy_alone() {
    if !bwrap_works() {
        return;
    }
    let Some(codex) = real("FLEET_REAL_CODEX") else {
        return;
    };
    let Some(name) = loopback_name() else { return };
    use fake::openai::{codex_config, Responses, Turn};
    let api = Responses::start(vec![Turn::say("Hello through the proxy.")]);
    let url = api.base_url();
    let port: u16 = url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let named = url.replace("127.0.0.1", &name);
    let mut args = vec!["exec", "--skip-git-repo-check", "--json"];
    let config = codex_config(&named);
    for c in &config {
        args.push("-c");
        args.push(c);
    }
    args.push("hi");
    let env = [("OPENAI_API_KEY".to_string(), "sk-fake".to_string())];
    let (code, out) = through_proxy_only(&[dest(&name, port)], &env, &codex, &args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Hello through the proxy."), "{out}");
}

#[test]
fn real_gemini_in_the_box_reaches_its_api_from_the_base_url_and_no_other_service() {
    if !bwrap_works() {
        return;
    }
    let Some(gemini_cli) = real("FLEET_REAL_GEMINI") else {
        return;
    };
    use fake::gemini::{self, shell, text};
    let other = service("other");
    let (server, _script) = gemini::start(vec![shell(&probe_and_commit(other)), text("Probed.")]);
    let f = Fleet::new();
    gemini::settings(&f.home, 2);
    let env: Vec<String> = gemini::env(&server)
        .into_iter()
        .map(|(k, v)| format!("{k}: {v:?}"))
        .collect();
    f.manifest(&format!(
        "agent: gemini\nsandbox: true\npermissions: full\nenv: {{ {} }}\nagents:\n  - name: a\n    prompt: probe\n",
        env.join(", ")
    ));
    let a = up_with(&f, &gemini_cli);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    let seen = probed(&f);
    assert!(seen.starts_with(&format!("refused {other}:")), "{seen}");
}

#[test]
fn real_aider_in_the_box_reaches_its_model_from_its_api_base() {
    if !bwrap_works() {
        return;
    }
    let Some(aider) = real("FLEET_REAL_AIDER") else {
        return;
    };
    use fake::openai_chat::{whole_file, Script, Turn};
    let server = Script::new(vec![Turn::Text(whole_file(
        "hello.txt",
        "hello from aider",
    ))])
    .commit_message("Add hello.txt")
    .serve();
    let f = Fleet::new();
    // Beside the manifest, which the box reads.
    f.file(
        "model-metadata.json",
        r#"{"openai/fake": {"max_tokens": 4096, "max_input_tokens": 128000, "max_output_tokens": 4096, "input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015, "litellm_provider": "openai", "mode": "chat"}}"#,
    );
    f.git(&["add", "model-metadata.json"]);
    f.git(&["commit", "-q", "-m", "metadata"]);
    let meta = f.repo.join("model-metadata.json");
    f.manifest(&format!(
        "agent: aider\nsandbox: true\npermissions: full\nagents:\n  - name: a\n    prompt: \"Create hello.txt containing 'hello from aider', then commit it.\"\n    args: [--model, openai/fake, --openai-api-base, \"{}/v1\", --openai-api-key, sk-fake, --model-metadata-file, \"{}\"]\n    env: {{LITELLM_LOCAL_MODEL_COST_MAP: \"True\"}}\n",
        server.url(),
        meta.display()
    ));
    let a = up_with(&f, &aider);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    assert_eq!(
        f.git(&["show", "fleet/a:hello.txt"]).trim(),
        "hello from aider"
    );
}
