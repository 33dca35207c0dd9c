//! The sandbox's network: a box (bwrap with a private network namespace) reaches the
//! destinations on its list through the bridge and nothing else; a server in the box on an
//! agent's port answers from the host. These tests call bwrap directly around the bridge;
//! they skip, saying so, when bwrap is missing or cannot make namespaces here. The real
//! CLIs in the box: tests/real_sandbox_net.rs.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::net::*;
use common::Fleet;
use fleet::sandbox::bridge;

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

#[test]
fn the_box_first_process_ends_as_its_command_ends_a_signal_to_the_group_included() {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let run = |script: &str| {
        Command::new(fleet())
            .arg("_net-inside")
            .arg(tmp.path())
            .args(["--", "sh", "-c", script])
            .process_group(0)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(run("exit 7"), Some(7));
    // SIGTERM to the whole group (as the runner sends it): the command dies of it, and
    // _net-inside outlives it to say so (128+15), as a shell would.
    assert_eq!(run("kill -TERM 0; sleep 5"), Some(143));
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
    f.fleet(&["validate"])
        .success()
        .stdout_has(&format!("network:  only 127.0.0.1:{allowed}\n"))
        .stdout_has("network:  all");
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

#[test]
fn the_hosts_daemon_sockets_under_run_are_out_of_reach_whatever_the_network() {
    if !bwrap_works() {
        return;
    }
    use std::os::unix::net::UnixListener;
    // The directory stays until this test binary is gone: the other tests' boxes, starting
    // meanwhile, cover every socket they find under /run, and one removed between their look
    // and bwrap's mount would fail them. Those of earlier runs go now.
    for old in std::fs::read_dir("/run").into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("fleet-test-")
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let dir = Path::new("/run").join(format!("fleet-test-{}", std::process::id()));
    if std::fs::create_dir_all(dir.join("user")).is_err() {
        eprintln!("SKIPPED: cannot make a socket under /run here (not root)");
        return;
    }
    let path = dir.join("user/bus");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(b"daemon");
        }
    });
    let f = Fleet::new();
    let probe = format!(
        "cat >/dev/null; python3 -c \"import socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect('{}'); print('reached', s.recv(10))\nexcept Exception as e: print('refused', e)\"",
        path.display()
    );
    f.manifest(&format!(
        "sandbox: true\ncommand: {probe:?}\nagents:\n  - name: a\n    prompt: p\n  - name: open\n    prompt: p\n    network: all\n"
    ));
    f.fleet(&["up"]).success();
    f.wait_state("a", "done");
    f.wait_state("open", "done");
    let (a, open) = (f.log("a"), f.log("open"));
    // (the command itself is in the log: look at what it printed)
    for log in [&a, &open] {
        assert!(log.contains("\nrefused "), "{log}");
        assert!(!log.contains("reached b"), "{log}");
    }
}
