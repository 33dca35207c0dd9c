//! One view of agents on other hosts (issue 17), with the real private sshd of
//! tests/common/sshd.rs (else `SKIP ssh: …`): `logs` (and `logs -f` ending there when it ends
//! here), `continue`, `wait` over agents here and on two hosts (one connection per host for
//! all its polls; a silent host's agents `unreachable`), the monitor's pane of a remote agent
//! (and what it says when the host drops), `attach` of a remote agent from inside and
//! from outside tmux, and the monitor's status pane showing every host's agents (one login
//! per host over its refreshes; a stopped host's agents `unreachable`).
mod common;

use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::{sh_quote, Fleet, OUTER};

/// How long anything on the hosts may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// A `claude` on the hosts' PATH that commits the task it got and reports session s-r.
const CLAUDE: &str = r#"#!/bin/sh
cat > "task-$$.md"
git add -A && git commit -qm "claude run $$"
echo "claude stub ran as $(id -un)" >&2
echo '{"type":"system","subtype":"init","session_id":"s-r","model":"m"}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-r","total_cost_usd":0.1,"usage":{"input_tokens":3,"output_tokens":2}}'
"#;

/// The manifest's `hosts:` for host-a and host-b, the fleet under test shared with them.
fn hosts_yaml(sshd: &Sshd) -> String {
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let (a, b) = (sshd.host("host-a"), sshd.host("host-b"));
    format!(
        "hosts:\n  \
           host-a: {{ssh: host-a, dir: {}, fleet: {}}}\n  \
           host-b: {{ssh: host-b, dir: {}, fleet: {}}}\n",
        a.dir.join("repo").display(),
        fleet.display(),
        b.dir.join("repo").display(),
        fleet.display(),
    )
}

/// Polls `cond` until it holds; panics with `what` after DEADLINE.
#[track_caller]
fn poll(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The command lines of host-a's account's processes.
fn remote_processes(sshd: &Sshd) -> String {
    let user = &sshd.host("host-a").user;
    sshd.ssh_ok(&["host-a", &format!("ps -o args= -u {user}")])
}

/// Whether host-a runs the `fleet logs -f sleeper` of a `fleet logs sleeper -f` here (not the
/// monitor's pane, which follows it too, with `--monitor`).
fn follows_there(sshd: &Sshd) -> bool {
    remote_processes(sshd)
        .lines()
        .any(|l| l.ends_with("logs sleeper -n 50 --follow"))
}

#[test]
fn logs_continue_and_wait_reach_agents_on_hosts() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    sshd.remote_program("claude", CLAUDE);
    let f = Fleet::new();
    f.manifest(&format!(
        "{}agents:\n  \
           - name: here\n    prompt: local work\n    command: \"cat > out.txt; git add -A; git commit -qm work\"\n  \
           - name: a1\n    prompt: First task.\n    agent: claude\n    host: host-a\n  \
           - name: b1\n    prompt: x\n    command: \"echo about to fail; exit 3\"\n    host: host-b\n  \
           - name: sleeper\n    prompt: x\n    command: \"echo sleeping; sleep 60\"\n    host: host-a\n",
        hosts_yaml(&sshd)
    ));
    let path = sshd.path();
    let env = [("PATH", path.as_str())];
    let fl = |args: &[&str]| f.fleet_at(&f.repo, &env, args);
    fl(&["up"]).success();

    // wait: agents here and on both hosts; a failed remote agent is wait's failure.
    fl(&["wait", "here", "a1", "b1", "--timeout", "40"])
        .code(1)
        .stdout_has("here done")
        .stdout_has("a1 done after ")
        .stdout_has("s on host host-a")
        .stdout_has("b1 failed (exit 3) after ")
        .stdout_has("s on host host-b")
        .stdout_has("2 of 3 done; not done: b1");
    fl(&["wait", "here", "a1"])
        .success()
        .stdout_has("2 of 2 done");

    // logs: what the agent printed there.
    fl(&["logs", "a1"])
        .success()
        .stdout_has("claude stub ran as fleet-remote-a");
    fl(&["logs", "b1", "-n", "5"])
        .success()
        .stdout_has("about to fail");

    // continue: runs there, the follow-up passed as it is (no shell reads it).
    let follow_up = "Now add tests; don't `touch /tmp/x` $HOME 'q' \"d\"";
    fl(&["continue", "a1", "-m", follow_up])
        .success()
        .stdout_has("continued a1 on host host-a");
    fl(&["wait", "a1", "--timeout", "40"])
        .success()
        .stdout_has("1 of 1 done");
    let status = fl(&["status", "--json", "a1"]);
    status.success();
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["agents"][0]["commits_ahead"], 2, "{v:#}");
    assert_eq!(v["agents"][0]["attempt"], 2, "{v:#}");
    let worktree = sshd.host("host-a").dir.join("repo.worktrees/a1");
    let tasks = sshd.ssh_ok(&["host-a", &format!("cat {}/task-*.md", worktree.display())]);
    assert!(tasks.contains(follow_up), "{tasks}");

    // logs -f: Ctrl-C here ends it there; so does this fleet being killed.
    for how in ["INT", "KILL"] {
        let follower = f.spawn_fleet_env(&env, &["logs", "sleeper", "--follow"]);
        poll("logs -f to print the remote log", || {
            follower.stdout_so_far().contains("sleeping")
        });
        assert!(follows_there(&sshd), "{}", remote_processes(&sshd));
        let run = if how == "INT" {
            follower.signal_group("INT");
            follower.wait()
        } else {
            let mut follower = follower;
            follower.child.kill().unwrap();
            follower.child.wait().unwrap();
            follower.wait()
        };
        if how == "INT" {
            assert_eq!(run.code, 0, "{run:?}");
        }
        let deadline = Instant::now() + DEADLINE;
        while follows_there(&sshd) {
            assert!(
                Instant::now() < deadline,
                "the remote logs -f did not end after {how}:\n{}",
                remote_processes(&sshd)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // wait polls over the kept connection: no login of its own.
    let logins = |sshd: &Sshd| sshd.log().matches("Accepted publickey").count();
    let before = logins(&sshd);
    fl(&["wait", "sleeper", "--timeout", "5"])
        .code(124)
        .stderr_has("still running: sleeper");
    assert_eq!(logins(&sshd) - before, 0, "{}", sshd.log());

    // A host that stops answering: its agents unreachable, wait ends (exit 1).
    sshd.stop();
    let started = Instant::now();
    fl(&["wait", "sleeper", "here", "--timeout", "60"])
        .code(1)
        .stdout_has("sleeper unreachable")
        .stdout_has("host host-a")
        .stderr_has("warning: host host-a");
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
}

/// The pane id of the monitor's pane of `agent`.
#[track_caller]
fn monitor_pane(f: &Fleet, agent: &str) -> String {
    f.panes("repo-monitor", "#{pane_id} #{@fleet_agent}")
        .iter()
        .find_map(|l| l.strip_suffix(&format!(" {agent}")).map(str::to_string))
        .unwrap_or_else(|| panic!("no monitor pane for {agent}\n{}", f.diagnostics()))
}

/// The sessions the remote tmux clients of host-a look at.
fn remote_clients(sshd: &Sshd) -> Vec<String> {
    let run = sshd.ssh(&["host-a", "tmux list-clients -F '#{client_session}'"]);
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn the_monitor_follows_remote_agents_and_attach_opens_their_session() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    let f = Fleet::new();
    f.manifest(&format!(
        "{}agents:\n  \
           - name: here\n    prompt: x\n    command: \"echo local marker\"\n  \
           - name: a1\n    prompt: x\n    command: \"echo remote marker from $(id -un)\"\n    host: host-a\n",
        hosts_yaml(&sshd)
    ));
    let path = sshd.path();
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();

    // The monitor: the status pane, a pane per agent, here and on the host.
    assert_eq!(
        f.panes("repo-monitor", "#{@fleet_agent}"),
        ["", "here", "a1"],
        "{}",
        f.diagnostics()
    );
    let pane = monitor_pane(&f, "a1");
    poll("the remote agent's log in its monitor pane", || {
        f.screen(&pane, false)
            .contains("remote marker from fleet-remote-a")
    });

    // attach from inside tmux: a new window running ssh -t to the agent's session there.
    let shell = f.user_shell("user");
    let rc = f.root.join("attach.rc");
    let line = format!(
        "export PATH={}; {} -f {} attach a1; echo $? > {}",
        sh_quote(&path),
        sh_quote(env!("CARGO_BIN_EXE_fleet")),
        sh_quote(f.manifest_path().to_string_lossy()),
        sh_quote(rc.to_string_lossy())
    );
    f.tmux_ok(&["send-keys", "-t", &shell, "-l", &line]);
    f.tmux_ok(&["send-keys", "-t", &shell, "Enter"]);
    let code = f.typed_exit_code(&rc);
    assert_eq!(code, "0", "{}", f.screen(&shell, false));
    let windows = f.tmux_ok(&["list-windows", "-t", "=user", "-F", "#{window_name}"]);
    assert!(windows.lines().any(|w| w == "a1"), "{windows}");
    poll("a tmux client on host-a attached to repo-a1", || {
        remote_clients(&sshd) == ["repo-a1"]
    });

    // attach from outside tmux: ssh -t on this terminal.
    f.outer_client(&format!(
        "PATH={} {} -f {} attach a1",
        sh_quote(&path),
        sh_quote(env!("CARGO_BIN_EXE_fleet")),
        sh_quote(f.manifest_path().to_string_lossy())
    ));
    poll("a second client on host-a", || {
        remote_clients(&sshd).len() == 2
    });
    let outer = f.tmux(&["-L", OUTER, "capture-pane", "-p", "-t", "=outer:"]);
    assert!(outer.stdout.contains("remote marker"), "{}", outer.stdout);

    // The host drops: the pane says so, and follows again once it is back.
    sshd.stop();
    poll("the pane to say the host stopped answering", || {
        f.screen(&pane, false).contains("[fleet] host host-a")
    });
    sshd.restart();
    poll("the pane to follow again", || {
        f.screen(&pane, false).contains("host host-a answers again")
    });
}

#[test]
fn a_fleet_with_every_agent_on_hosts_has_its_monitor_until_down() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let f = Fleet::new();
    f.manifest(&format!(
        "{}host: host-b\ncommand: \"echo on b\"\nagents:\n  - name: b1\n    prompt: x\n  - name: b2\n    prompt: x\n",
        hosts_yaml(&sshd)
    ));
    let path = sshd.path();
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    assert_eq!(
        f.panes("repo-monitor", "#{@fleet_agent}"),
        ["", "b1", "b2"],
        "{}",
        f.diagnostics()
    );
    let pane = monitor_pane(&f, "b2");
    poll("b2's log in its pane", || {
        f.screen(&pane, false).contains("on b")
    });
    // From a shell whose TMUX_TMPDIR names another place: the server the monitor was made
    // on is recorded (as for local agents), and down finds it there.
    let elsewhere = f.root.join("elsewhere").display().to_string();
    let env = [("PATH", path.as_str()), ("TMUX_TMPDIR", elsewhere.as_str())];
    f.fleet_at(&f.repo, &env, &["down"])
        .success()
        .stdout_has("closed the monitor repo-monitor");
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
}

/// The STATE of `agent` on `host` (`local` here) in a status table on `screen`.
fn state_in(screen: &str, host: &str, agent: &str) -> Option<String> {
    screen.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 3 && w[0] == host && w[1] == agent).then(|| w[2].to_string())
    })
}

/// `what` sshd logged for `user` so far (`Accepted publickey` is a login, `Starting
/// session` a command run over one).
fn logged(sshd: &Sshd, what: &str, user: &str) -> usize {
    let line = format!("{what} for {user} ");
    sshd.log().matches(&line).count()
}

#[test]
fn the_monitor_status_pane_shows_every_host_over_one_login_each() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    sshd.own_sshd("host-b");
    let f = Fleet::new();
    f.manifest(&format!(
        "{}agents:\n  \
           - name: here\n    prompt: x\n    command: \"echo local marker\"\n  \
           - name: a1\n    prompt: x\n    command: \"echo remote marker\"\n    host: host-a\n  \
           - name: b1\n    prompt: x\n    command: \"echo sleeping; sleep 120\"\n    host: host-b\n",
        hosts_yaml(&sshd)
    ));
    let path = sshd.path();
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();

    // The status pane: every agent, each with its host and state; the borders too.
    let status = monitor_pane(&f, "");
    poll(
        "a1 done on host-a, b1 running on host-b in the status pane",
        || {
            let screen = f.screen(&status, false);
            state_in(&screen, "host-a", "a1").as_deref() == Some("done")
                && state_in(&screen, "host-b", "b1").as_deref() == Some("running")
                && state_in(&screen, "local", "here").as_deref() == Some("done")
        },
    );
    let borders = || f.panes("repo-monitor", "#{@fleet_agent}=#{@fleet_state}");
    poll("the remote agents' states on their pane borders", || {
        let b = borders();
        b.contains(&"a1=done".to_string()) && b.contains(&"b1=running".to_string())
    });

    // Several refreshes, each a command over the link kept open: no new login.
    let (user_a, user_b) = (&sshd.host("host-a").user, &sshd.host("host-b").user);
    let logins = |sshd: &Sshd| {
        (
            logged(sshd, "Accepted publickey", user_a),
            logged(sshd, "Accepted publickey", user_b),
        )
    };
    let before = logins(&sshd);
    let asked = logged(&sshd, "Starting session: command", user_a);
    let deadline = Instant::now() + DEADLINE;
    while logged(&sshd, "Starting session: command", user_a) < asked + 3 {
        assert!(
            Instant::now() < deadline,
            "the status pane did not ask host-a 3 times\n{}",
            sshd.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(logins(&sshd), before, "{}", sshd.log());

    // host-b goes away: its agent unreachable, the host named; the others as they were.
    sshd.stop_host("host-b");
    poll(
        "b1 unreachable, host-b named, here and a1 still shown",
        || {
            let screen = f.screen(&status, false);
            state_in(&screen, "host-b", "b1").as_deref() == Some("unreachable")
                && screen.contains("warning: host host-b")
                && state_in(&screen, "local", "here").as_deref() == Some("done")
                && state_in(&screen, "host-a", "a1").as_deref() == Some("done")
        },
    );
    poll("b1's border says unreachable", || {
        borders().contains(&"b1=unreachable".to_string())
    });
}
