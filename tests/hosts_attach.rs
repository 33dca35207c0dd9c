//! `fleet attach` of an agent on another host, from a real terminal (a tmux client of a
//! second server, [`OUTER`]) with the real private sshd of tests/common/sshd.rs (else
//! `SKIP ssh: …`), as a user whose ssh config leaves ssh's log level at its default: a
//! detach (prefix+d) is as quiet as a local one (no `Connection to … closed.`), and a host
//! that does not answer still says why.
mod common;

use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::{sh_quote, Fleet, OUTER};

/// How long anything on the hosts may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds; panics with `what` (and `context()`) after DEADLINE.
#[track_caller]
fn poll(what: &str, mut cond: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A PATH whose `ssh` reads the test sshd's client config without its `LogLevel ERROR`:
/// the user's ssh at its default level (INFO), which says `Connection to … closed.`.
fn user_path(f: &Fleet, sshd: &Sshd) -> String {
    let config = std::fs::read_to_string(&sshd.config).unwrap();
    let config: String = config
        .lines()
        .filter(|l| !l.trim().starts_with("LogLevel"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = f.root.join("user-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let user_config = dir.join("ssh_config");
    std::fs::write(&user_config, config).unwrap();
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v ssh"])
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    let ssh = dir.join("ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\nexec {} -F {} \"$@\"\n",
            sh_quote(&real),
            sh_quote(user_config.to_string_lossy())
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), sshd.path())
}

/// The outer terminal's screen.
fn outer_screen(f: &Fleet) -> String {
    f.tmux(&["-L", OUTER, "capture-pane", "-p", "-t", "=outer:"])
        .stdout
}

/// Runs `fleet attach a1` on the outer terminal, then `echo rc=$?`.
fn attach_on_outer(f: &Fleet, path: &str) {
    f.outer_client(&format!(
        "PATH={} {} -f {} attach a1; echo rc=$?",
        sh_quote(path),
        sh_quote(env!("CARGO_BIN_EXE_fleet")),
        sh_quote(f.manifest_path().to_string_lossy())
    ));
}

#[test]
fn detaching_from_a_remote_agent_is_quiet_and_a_failed_connection_says_why() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    let f = Fleet::new();
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let a = sshd.host("host-a");
    f.manifest(&format!(
        "hosts:\n  host-a: {{ssh: host-a, dir: {}, fleet: {}}}\nagents:\n  \
           - name: a1\n    prompt: x\n    command: \"echo remote marker; sleep 300\"\n    host: host-a\n",
        a.dir.join("repo").display(),
        fleet.display(),
    ));
    let path = user_path(&f, &sshd);
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();

    attach_on_outer(&f, &path);
    let clients = || sshd.ssh(&["host-a", "tmux list-clients -F '#{client_session}'"]);
    poll(
        "a tmux client on host-a attached to repo-a1",
        || clients().stdout.trim() == "repo-a1",
        || outer_screen(&f),
    );
    // prefix+d, typed into the outer terminal: the client on the host detaches.
    f.tmux_ok(&["-L", OUTER, "send-keys", "-t", "=outer:", "C-b", "d"]);
    poll(
        "fleet attach to end",
        || outer_screen(&f).contains("rc="),
        || outer_screen(&f),
    );
    let screen = outer_screen(&f);
    assert!(screen.contains("[detached"), "{screen}");
    assert!(screen.contains("rc=0"), "{screen}");
    assert!(!screen.contains("closed."), "ssh's closing words: {screen}");

    // The host stops answering: attach still says why, in ssh's words and fleet's.
    sshd.stop();
    f.tmux_ok(&["-L", OUTER, "kill-session", "-t", "=outer"]);
    attach_on_outer(&f, &path);
    poll(
        "the failed attach to end",
        || outer_screen(&f).contains("rc="),
        || outer_screen(&f),
    );
    let screen = outer_screen(&f);
    assert!(screen.contains("Connection refused"), "{screen}");
    assert!(
        screen.contains("host host-a (ssh host-a) does not answer"),
        "{screen}"
    );
    assert!(screen.contains("rc=1"), "{screen}");
}
