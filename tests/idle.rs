//! Idle costs nothing: `status --watch` (the monitor's status pane) runs git only after
//! something changed in a worktree or a branch, and still shows a change made while it was
//! quiet.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// The git calls the shim logged so far.
fn git_calls(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

#[test]
fn the_watcher_runs_git_only_after_a_worktree_changed() {
    let f = Fleet::new();
    f.manifest(
        "command: \"cat >/dev/null; sleep 300\"\nagents:\n  - name: a1\n    prompt: x\n  - name: a2\n    prompt: x\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("a1", "running");
    f.wait_state("a2", "running");
    // git as the watcher finds it on its PATH: the real one, each call logged.
    let bin = f.root.join("shim");
    std::fs::create_dir_all(&bin).unwrap();
    let log = f.root.join("git-calls.log");
    let real = which::which("git").unwrap();
    let shim = bin.join("git");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let screen = f.root.join("watch.out");
    let mut watch = f.fleet_command(&["status", "--watch"]);
    watch
        .current_dir(&f.repo)
        .env("PATH", path_with(&shim))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&screen).unwrap())
        .stderr(Stdio::null());
    let mut child = watch.spawn().unwrap();
    // The first frame looks at every worktree.
    assert!(
        f.try_wait_for(DEADLINE, |_| git_calls(&log) > 0),
        "the first frame ran no git"
    );
    std::thread::sleep(Duration::from_secs(2));
    let first = git_calls(&log);
    // Two git refreshes' time with nothing changed: no git at all.
    std::thread::sleep(Duration::from_secs(11));
    let quiet = git_calls(&log);
    // A file made in a worktree is seen at the next refresh.
    std::fs::write(f.worktree("a2").join("new.txt"), "new\n").unwrap();
    let seen = f.try_wait_for(DEADLINE, |_| {
        std::fs::read_to_string(&screen).is_ok_and(|t| {
            let last = t.rsplit("\x1b[H").next().unwrap_or_default().to_string();
            last.lines()
                .any(|l| l.starts_with("a2 ") && l.split_whitespace().nth(4) == Some("1"))
        })
    });
    let after = git_calls(&log);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        quiet,
        first,
        "git ran while nothing changed:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(after > quiet, "no git after a worktree changed");
    assert!(
        seen,
        "the new file of a2 is not in the frame:\n{}",
        std::fs::read_to_string(&screen)
            .unwrap_or_default()
            .rsplit("\x1b[H")
            .next()
            .unwrap_or_default()
    );
}

/// How many times the threads of process `pid` went to sleep so far (each wakeup of a
/// sleeping thread follows one of these).
fn sleeps(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

#[test]
fn a_follower_sleeps_while_the_log_is_quiet_and_ends_with_its_agent() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: quiet\n    prompt: x\n    command: \"echo started; while [ ! -e go ]; do sleep 0.2; done; echo finished\"\n  - name: lost\n    prompt: x\n    command: \"echo started; sleep 300\"\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("quiet", "running");
    f.wait_state("lost", "running");
    let quiet = f.spawn_fleet(&["logs", "quiet", "--follow"]);
    let lost = f.spawn_fleet(&["logs", "lost", "--follow"]);
    assert!(
        f.try_wait_for(DEADLINE, |_| quiet.stdout_so_far().contains("started")
            && lost.stdout_so_far().contains("started")),
        "the followers did not print the logs so far"
    );
    // Settled (its first look at the session done): while the log, the record and the
    // runner stay as they are, the followers never wake.
    std::thread::sleep(Duration::from_secs(2));
    let before = (sleeps(quiet.child.id()), sleeps(lost.child.id()));
    std::thread::sleep(Duration::from_secs(3));
    let after = (sleeps(quiet.child.id()), sleeps(lost.child.id()));
    assert_eq!(after, before, "a follower woke while nothing changed");
    // What the agent prints next is followed, and the follower ends with the agent.
    std::fs::write(f.worktree("quiet").join("go"), "").unwrap();
    let quiet = quiet.wait();
    quiet.success();
    assert!(quiet.stdout.contains("finished"), "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains("[fleet] quiet done"),
        "{}",
        quiet.stdout
    );
    // A session killed under a running agent (no word in its record): lost, the end too.
    f.tmux_ok(&["kill-session", "-t", "=repo-lost"]);
    let lost = lost.wait();
    lost.success();
    assert_eq!(f.state("lost"), "lost");
}

/// The read and write calls process `pid` made so far (`/proc/PID/io`).
fn io_calls(pid: u32) -> (u64, u64) {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap()
    };
    (field("syscr:"), field("syscw:"))
}

#[test]
fn the_watcher_reads_an_agents_files_only_after_they_changed() {
    let f = Fleet::new();
    let mut manifest =
        String::from("command: \"cat >/dev/null; echo started; sleep 300\"\nagents:\n");
    for i in 1..=8 {
        manifest.push_str(&format!("  - name: a{i}\n    prompt: x\n"));
    }
    f.manifest(&manifest);
    f.fleet(&["up"]).success();
    for i in 1..=8 {
        f.wait_state(&format!("a{i}"), "running");
    }
    let screen = f.root.join("watch.out");
    let mut watch = f.fleet_command(&["status", "--watch"]);
    watch
        .current_dir(&f.repo)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&screen).unwrap())
        .stderr(Stdio::null());
    let mut child = watch.spawn().unwrap();
    let pid = child.id();
    assert!(
        f.try_wait_for(DEADLINE, |_| std::fs::read_to_string(&screen).is_ok_and(
            |t| t
                .lines()
                .any(|l| l.starts_with("a8 ") && l.contains("started"))
        )),
        "no first frame"
    );
    // Quiet refreshes: each writes its clock (one write); the records, rounds and logs of
    // the 8 agents are not read again (before, each refresh read every one of them).
    std::thread::sleep(Duration::from_secs(2));
    let (reads0, writes0) = io_calls(pid);
    std::thread::sleep(Duration::from_secs(6));
    let (reads1, writes1) = io_calls(pid);
    // A line an agent's log gets is in the next frames.
    let log = f.repo.join(".fleet").join("logs").join("a3.log");
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut file, b"a new line of a3\n").unwrap();
    let seen = f.try_wait_for(DEADLINE, |_| {
        std::fs::read_to_string(&screen).is_ok_and(|t| {
            let last = t.rsplit("\x1b[H").next().unwrap_or_default().to_string();
            last.lines()
                .any(|l| l.starts_with("a3 ") && l.contains("a new line of a3"))
        })
    });
    let _ = child.kill();
    let _ = child.wait();
    let refreshes = writes1 - writes0;
    assert!(refreshes >= 3, "{refreshes} refreshes in 6 s");
    assert!(
        reads1 - reads0 < 8 * refreshes,
        "{} reads in {refreshes} quiet refreshes of 8 agents",
        reads1 - reads0
    );
    assert!(seen, "the new line of a3 is not in the frame");
}
