//! The ssh test harness itself (tests/common/sshd.rs): a private sshd on 127.0.0.1 logs the
//! test into other local accounts ("remote hosts") with its key; a multiplexed connection
//! carries several commands and at most sshd's default MaxSessions (10) at once; stopping
//! sshd makes the host fail fast, restarting brings it back with what ran there intact.
//! Without root, sshd or the accounts (scripts/test.sh prepares them), each test prints
//! `SKIP ssh: …` and returns.
mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::sshd::Sshd;

/// How long an asynchronous ssh fact may take to show.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `cond` every 20 ms until it holds; panics with `what` after `DEADLINE`.
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn logs_into_each_account_with_git_and_tmux() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    for host in &sshd.hosts {
        let start = Instant::now();
        let out = sshd.ssh_ok(&[
            &host.alias,
            "whoami; git --version; tmux -V; echo \"HOME=$HOME\"; echo \"TMUX_TMPDIR=$TMUX_TMPDIR\"",
        ]);
        eprintln!(
            "ssh {}: a fresh connection and one command took {:?}",
            host.alias,
            start.elapsed()
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], host.user, "{out}");
        assert!(lines[1].starts_with("git version "), "{out}");
        assert!(lines[2].starts_with("tmux "), "{out}");
        assert_eq!(lines[3], format!("HOME={}", host.home.display()), "{out}");
        assert_eq!(
            lines[4],
            format!("TMUX_TMPDIR={}", host.dir.display()),
            "{out}"
        );
        // Its own dir is writable there, and a tmux server and a git repo work in it.
        let repo = host.dir.join("repo");
        sshd.ssh_ok(&[
            &host.alias,
            &format!(
                "set -e; git init -q -b main {r} && cd {r} && echo hi > f && git add f && git commit -q -m one && \
                 tmux new-session -d -s probe 'sleep 60' && tmux has-session -t =probe",
                r = repo.display()
            ),
        ]);
        let log = sshd.ssh_ok(&[
            &host.alias,
            &format!("git -C {} log --format=%an", repo.display()),
        ]);
        assert_eq!(log.trim(), host.user, "the account's git identity");
    }
    // The fleet under test runs there too, from a shared copy.
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let version = sshd.ssh_ok(&["host-a", &format!("{} --version", fleet.display())]);
    assert!(version.starts_with("fleet "), "{version}");
    // Only the test's accounts: root is refused by this sshd.
    let port = sshd.port.to_string();
    let run = sshd.ssh(&["-p", &port, "-l", "root", "127.0.0.1", "true"]);
    assert_eq!(run.code, 255, "root must not log in: {run:?}");
    // The `ssh` wrapper on PATH carries the config (ssh reads ~/.ssh from the passwd entry,
    // not from $HOME, so a private HOME alone would not).
    let mut cmd = std::process::Command::new("ssh");
    cmd.env("PATH", sshd.path()).args(["host-b", "whoami"]);
    let run = sshd.run(cmd);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), sshd.host("host-b").user);
}

#[test]
fn a_control_master_carries_several_commands() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let ctl = sshd.control_path("a");
    let ctl_opt = format!("ControlPath={}", ctl.display());
    let mux = |cmd: &str| {
        sshd.ssh_ok(&[
            "-o",
            "ControlMaster=auto",
            "-o",
            &ctl_opt,
            "-o",
            "ControlPersist=60",
            "host-a",
            cmd,
        ])
    };
    let first = Instant::now();
    let pid1 = mux("echo $PPID");
    let first = first.elapsed();
    assert!(ctl.exists(), "the master's socket {}", ctl.display());
    let again = Instant::now();
    let mut times = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        assert_eq!(mux(&format!("echo {i}")).trim(), i.to_string());
        times.push(t.elapsed());
    }
    eprintln!(
        "ControlMaster: first command (connects) {first:?}; then {times:?} per command ({:?} for 5)",
        again.elapsed()
    );
    // One TCP connection served them all: sshd accepted one key login.
    let accepted = sshd.log().matches("Accepted publickey").count();
    assert_eq!(accepted, 1, "one login for six commands\n{}", sshd.log());
    let check = sshd.ssh(&["-o", &ctl_opt, "-O", "check", "host-a"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(!pid1.trim().is_empty());
    sshd.ssh_ok(&["-o", &ctl_opt, "-O", "exit", "host-a"]);
    wait_until("the master to exit", || !ctl.exists());
}

/// sshd's default MaxSessions (10) caps the sessions one connection carries at once. The
/// 11th concurrent session over a ControlMaster is refused by sshd, and ssh then *silently
/// falls back to a new connection of its own* (a second login; only a stderr line tells):
/// so a caller that wants one connection per host must keep at most 10 channels open on it.
#[test]
fn one_connection_carries_at_most_max_sessions_at_once() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let logins = || sshd.log().matches("Accepted publickey").count();
    let ctl = sshd.control_path("m");
    let ctl_opt = format!("ControlPath={}", ctl.display());
    // A master with no session of its own.
    sshd.ssh_ok(&[
        "-o",
        "ControlMaster=yes",
        "-o",
        &ctl_opt,
        "-o",
        "ControlPersist=60",
        "-N",
        "-f",
        "host-a",
    ]);
    assert_eq!(logins(), 1);
    let mut open = Vec::new();
    let mut refused = None;
    for i in 0..15 {
        let (child, out, err) = sshd.spawn_ssh(&[
            "-o",
            "ControlMaster=no",
            "-o",
            &ctl_opt,
            "host-a",
            "echo up $$; exec sleep 60",
        ]);
        open.push((child, out.clone()));
        wait_until(&format!("session {} to start", i + 1), || {
            fs::read_to_string(&out).unwrap_or_default().contains("up")
        });
        let stderr = fs::read_to_string(&err).unwrap_or_default();
        if stderr.contains("refused") {
            refused = Some((i, stderr));
            break;
        }
    }
    let (n, stderr) = refused.expect("a session beyond MaxSessions is refused by the master");
    eprintln!(
        "MaxSessions: {n} concurrent sessions over one connection; session {} refused ({:?}) and ran over a new connection ({} logins)",
        n + 1,
        stderr.trim(),
        logins()
    );
    assert_eq!(n, 10, "sshd's default MaxSessions is 10");
    assert!(stderr.contains("Session open refused by peer"), "{stderr}");
    assert!(sshd.log().contains("no more sessions"), "{}", sshd.log());
    assert_eq!(
        logins(),
        2,
        "the refused session fell back to a login of its own"
    );
    // A slot frees when the remote command ends (killing the local `ssh` alone does not
    // end a command without a tty: measured by hand, the slot stays taken until it exits).
    let mux_ok = || {
        let run = sshd.ssh(&["-o", "ControlMaster=no", "-o", &ctl_opt, "host-a", "true"]);
        run.code == 0 && !run.stderr.contains("refused")
    };
    let (mut first, out) = open.remove(0);
    let pid = fs::read_to_string(&out).unwrap();
    let pid = pid.trim().trim_start_matches("up ");
    sshd.ssh_ok(&["-o", "ControlPath=none", "host-a", &format!("kill {pid}")]);
    first.wait().unwrap();
    wait_until("a freed slot on the master", mux_ok);
    // With a tty (-tt), killing the local client hangs the remote command up: slot freed.
    let (mut tty, out, _) = sshd.spawn_ssh(&[
        "-tt",
        "-o",
        "ControlMaster=no",
        "-o",
        &ctl_opt,
        "host-a",
        "echo up; exec sleep 60",
    ]);
    wait_until("the tty session to start", || {
        fs::read_to_string(&out).unwrap_or_default().contains("up")
    });
    assert!(!mux_ok(), "the master is full again");
    tty.kill().unwrap();
    tty.wait().unwrap();
    wait_until("the tty session's slot to free", mux_ok);
    for (mut c, _) in open {
        let _ = c.kill();
        let _ = c.wait();
    }
    sshd.ssh_ok(&["-o", &ctl_opt, "-O", "exit", "host-a"]);
}

#[test]
fn a_stopped_sshd_fails_fast_and_a_restart_brings_the_host_back() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    let ctl = sshd.control_path("s");
    let ctl_opt = format!("ControlPath={}", ctl.display());
    sshd.ssh_ok(&[
        "-o",
        "ControlMaster=auto",
        "-o",
        &ctl_opt,
        "-o",
        "ControlPersist=60",
        "host-a",
        "tmux new-session -d -s survivor 'sleep 300'",
    ]);
    assert_eq!(sshd.ssh(&["-o", &ctl_opt, "-O", "check", "host-a"]).code, 0);

    let stopping = Instant::now();
    sshd.stop();
    eprintln!("stop: {:?}", stopping.elapsed());
    assert!(!sshd.is_running());
    let t = Instant::now();
    let run = sshd.ssh(&["-o", "ConnectTimeout=2", "host-a", "true"]);
    let failed_in = t.elapsed();
    eprintln!(
        "stopped host: ssh failed in {failed_in:?} with exit {}: {:?}",
        run.code,
        run.stderr.trim()
    );
    assert_eq!(run.code, 255, "{run:?}");
    assert!(run.stderr.contains("Connection refused"), "{}", run.stderr);
    assert!(failed_in < Duration::from_secs(3), "{failed_in:?}");
    // The multiplexed master lost its server too.
    wait_until("the master to notice", || {
        sshd.ssh(&["-o", &ctl_opt, "-O", "check", "host-a"]).code != 0
    });

    let restarting = Instant::now();
    sshd.restart();
    eprintln!("restart until sshd answers: {:?}", restarting.elapsed());
    let out = sshd.ssh_ok(&[
        "-o",
        "ConnectTimeout=2",
        "host-a",
        "whoami; tmux has-session -t =survivor && echo survivor",
    ]);
    assert_eq!(out, format!("{}\nsurvivor\n", sshd.host("host-a").user));
    // host-b answers through all of it.
    assert_eq!(
        sshd.ssh_ok(&["host-b", "whoami"]).trim(),
        sshd.host("host-b").user
    );
}

/// Dropping the harness leaves nothing behind: no sshd, no remote tmux server of the test.
#[test]
fn drop_kills_sshd_and_the_remote_processes() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let pid = sshd.ssh_ok(&[
        "host-a",
        "tmux new-session -d -s left 'sleep 300' && tmux display-message -p -t =left '#{pid}'",
    ]);
    let tmux_pid = pid.trim().to_string();
    let port = sshd.port;
    let root = sshd.root.clone();
    drop(sshd);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "sshd still listens on {port}"
    );
    wait_until("the remote tmux server to be killed", || {
        !Path::new(&format!("/proc/{tmux_pid}")).exists()
    });
    assert!(!root.exists(), "{} removed", root.display());
}
