//! Never lose work, never leave a mess (issue 6): one fleet command at a time, crash recovery,
//! Ctrl-C during `up`, odd characters reaching the agent exactly, user-only state files.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{canon, sorted, Fleet, DEADLINE};

/// Three agents that sleep: they stay `running` for the whole test.
const SLEEPERS: &str = "command: \"echo up; sleep 300\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n  - name: a3\n    prompt: three\n";

fn sleeper_sessions() -> Vec<String> {
    sorted(["repo-a1", "repo-a2", "repo-a3", "repo-monitor"])
}

/// Every agent has exactly one session with one pane, one worktree on its branch, one branch.
#[track_caller]
fn assert_complete(f: &Fleet, names: &[&str]) {
    let mut want: Vec<String> = names.iter().map(|n| format!("repo-{n}")).collect();
    want.push("repo-monitor".into());
    assert_eq!(f.sessions(), sorted(want), "{}", f.diagnostics());
    for n in names {
        assert_eq!(
            f.panes(&format!("repo-{n}"), "#{pane_id}").len(),
            1,
            "{n} has one pane"
        );
        assert_eq!(f.state(n), "running", "{n}: {}", f.diagnostics());
    }
    let list = f.git(&["worktree", "list", "--porcelain"]);
    for n in names {
        let wt = f.worktree(n);
        let block = format!("worktree {}\n", wt.display());
        assert_eq!(
            list.matches(&block).count(),
            1,
            "one worktree for {n}:\n{list}"
        );
        assert_eq!(
            f.git_in(&wt, &["symbolic-ref", "--short", "HEAD"]),
            format!("fleet/{n}")
        );
    }
    assert_eq!(list.matches("\nworktree ").count(), names.len(), "{list}");
    let want: Vec<String> = names.iter().map(|n| format!("fleet/{n}")).collect();
    assert_eq!(f.fleet_branches(), sorted(want));
}

// ------------------------------------------------------------------------------------ the lock

#[test]
fn two_concurrent_ups_give_one_session_per_agent() {
    let f = Fleet::new();
    f.manifest(SLEEPERS);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| f.fleet(&["up"]));
        let b = s.spawn(|| f.fleet(&["up"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let started = [&a, &b]
        .iter()
        .filter(|r| r.code == 0 && r.stdout.contains("started 3 agents"))
        .count();
    assert_eq!(
        started, 1,
        "exactly one up starts the agents:\n{a:?}\n{b:?}"
    );
    for run in [&a, &b] {
        let waited = run.code == 0
            && (run.stdout.contains("started 3 agents") || run.stdout.contains("nothing to do"));
        let refused = run.code == 1
            && run
                .stderr
                .contains("another fleet command is running (pid ");
        assert!(
            waited || refused,
            "the other up waits and finds nothing to do, or says who holds the lock: {run:?}"
        );
    }
    assert_complete(&f, &["a1", "a2", "a3"]);
}

#[test]
fn a_held_lock_blocks_up_and_down_but_never_status() {
    let f = Fleet::new();
    f.manifest(SLEEPERS);
    f.fleet(&["up"]).success();
    assert_eq!(f.sessions(), sleeper_sessions());
    let before = f.pane_fingerprint();

    // Hold the lock as another fleet command would.
    let path = f.repo.join(".fleet/lock");
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    lock.try_lock().expect("the lock is free");
    // A fleet command writes its own pid: the one the kernel names as the holder.
    let pid = std::process::id();
    fs::write(&path, pid.to_string()).unwrap();

    let (up, down, status, json) = std::thread::scope(|s| {
        let up = s.spawn(|| f.fleet(&["up", "--rerun"]));
        let down = s.spawn(|| f.fleet(&["down"]));
        let status = s.spawn(|| {
            let t = Instant::now();
            (f.fleet(&["status"]), t.elapsed())
        });
        let json = s.spawn(|| {
            let t = Instant::now();
            (f.fleet(&["status", "--json"]), t.elapsed())
        });
        (
            up.join().unwrap(),
            down.join().unwrap(),
            status.join().unwrap(),
            json.join().unwrap(),
        )
    });
    for run in [&up, &down] {
        run.code(1)
            .stderr_has(&format!("another fleet command is running (pid {pid})"));
    }
    for (run, took) in [&status, &json] {
        run.success();
        assert!(
            *took < Duration::from_secs(3),
            "status must not wait for the lock (took {took:?})"
        );
    }
    assert!(json.0.stdout.contains("\"running\""), "{json:?}");
    assert_eq!(f.pane_fingerprint(), before, "nothing changed while locked");

    drop(lock);
    f.fleet(&["down"]).success();
    assert_eq!(f.sessions(), Vec::<String>::new());
}

// ------------------------------------------------------------------------------------ crashes

#[test]
fn after_the_tmux_server_dies_agents_are_lost_and_up_resumes_their_work() {
    let f = Fleet::new();
    // First run: commit, leave a draft, sleep. A rerun finds the draft and says so.
    f.manifest(
        r#"agents:
  - name: a1
    prompt: work
    command: "if [ -f draft.txt ]; then echo resumed; else echo one > one.txt && git add one.txt && git commit -qm one && echo draft > draft.txt && echo first run; fi; sleep 300"
  - name: a2
    prompt: idle
    command: "echo idle; sleep 300"
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_for("a1's first run to leave its draft", DEADLINE, |f| {
        f.log("a1").contains("\nfirst run\n")
    });
    let head = f.git(&["rev-parse", "fleet/a1"]);

    f.tmux_ok(&["kill-server"]);
    for n in ["a1", "a2"] {
        assert_eq!(f.state(n), "lost", "{}", f.diagnostics());
    }
    assert_eq!(f.status_json()["monitor"]["running"], false);

    let up = f.fleet(&["up"]);
    up.success().stdout_has("started 2 agents");
    f.wait_for("a1 to resume", DEADLINE, |f| {
        f.log("a1").contains("\nresumed\n")
    });
    let wt = f.worktree("a1");
    assert_eq!(fs::read_to_string(wt.join("draft.txt")).unwrap(), "draft\n");
    assert_eq!(
        f.git(&["rev-parse", "fleet/a1"]),
        head,
        "same branch tip: {}\n{}",
        f.git(&["log", "--format=%H %s", "fleet/a1"]),
        f.log("a1")
    );
    assert_eq!(
        f.git_in(&wt, &["log", "--format=%s", "-1"]),
        "one",
        "the commit is there"
    );
    let log = f.log("a1");
    assert_eq!(
        log.matches("[fleet] a1 started").count(),
        2,
        "log appended, not truncated:\n{log}"
    );
    assert!(log.find("\nfirst run\n") < log.find("\nresumed\n"), "{log}");
    assert_eq!(f.agent("a1")["attempt"], 2);
    assert_complete(&f, &["a1", "a2"]);
}

#[test]
fn up_does_not_restart_a_lost_agent_whose_last_run_still_goes() {
    let f = Fleet::new();
    f.manifest(SLEEPERS);
    f.fleet(&["up"]).success();
    f.tmux_ok(&["kill-server"]);
    assert_eq!(f.state("a2"), "lost");
    // A runner of a2 that outlived its session (stands in for one that ignored the hangup).
    let spec = f.repo.join(".fleet/run/a2.json");
    // Its own process group and no stdio of ours: its `sleep` must neither outlive the test
    // nor hold cargo's output pipe open (CI would wait for it).
    let mut ghost = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sh")
            .args(["-c", "sleep 300; true", "_run"])
            .arg(&spec)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let record = f.repo.join(".fleet/agents/a2.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&record).unwrap()).unwrap();
    json["pid"] = ghost.id().into();
    fs::write(&record, json.to_string()).unwrap();

    let doctor = f.fleet(&["doctor"]);
    let run = f.fleet(&["up"]);
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", ghost.id())])
        .status();
    let _ = ghost.wait();
    run.code(2)
        .stderr_has("agent `a2`")
        .stderr_has(&format!("pid {}", ghost.id()))
        .stderr_has("still going");
    assert_eq!(f.sessions(), Vec::<String>::new(), "nothing restarted");
    doctor
        .code(1)
        .stdout_has(&format!("its last run (pid {}) is still going", ghost.id()))
        .stdout_has(&format!("fix: kill {}", ghost.id()));

    f.fleet(&["up"]).success();
    assert_complete(&f, &["a1", "a2", "a3"]);
}

// ------------------------------------------------------------------------------------ Ctrl-C

#[test]
fn ctrl_c_during_up_stops_cleanly_and_the_next_up_completes_the_fleet() {
    let f = Fleet::new();
    let names: Vec<String> = (1..=8).map(|i| format!("a{i}")).collect();
    let mut yaml = String::from("command: \"sleep 300\"\nagents:\n");
    for n in &names {
        yaml.push_str(&format!("  - name: {n}\n    prompt: x\n"));
    }
    f.manifest(&yaml);
    // A slow checkout makes `up` take a while between agents.
    f.checkout_runs("sleep 0.4");

    let up = f.spawn_fleet(&["up"]);
    f.wait_for("the first worktree", DEADLINE, |f| {
        f.worktree("a1").join("README.md").exists()
    });
    up.signal_group("INT");
    let run = up.wait();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("interrupted"), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    // Worktrees are registered at once, then checked out a few at a time: it stopped between
    // checkouts, the others stay registered for the next `up` to fill.
    let filled = names
        .iter()
        .filter(|n| f.worktree(n).join("README.md").exists())
        .count();
    assert!(
        (1..names.len()).contains(&filled),
        "up stopped between checkouts ({filled} checked out)"
    );
    // An agent starts as soon as its worktree is ready: those that did before Ctrl-C run
    // (with a complete worktree), the others wait for the next `up`; it says how many.
    let sessions = f.sessions();
    let started: Vec<&String> = names
        .iter()
        .filter(|n| sessions.contains(&format!("repo-{n}")))
        .collect();
    assert_eq!(sessions.len(), started.len(), "no monitor: {sessions:?}");
    let said = match started.len() {
        0 => "none started".to_string(),
        n => format!("{n} started"),
    };
    assert!(run.stderr.contains(&said), "{said}: {run:?}");
    for n in &names {
        let a = f.agent(n);
        if started.contains(&n) {
            assert!(f.worktree(n).join("zz.txt").exists(), "{n} is complete");
            assert_eq!(a["state"], "running", "{a}");
        } else {
            assert_eq!(a["state"], "pending", "{a}");
            // A worktree registered and not checked out is no deletion of every file.
            assert_eq!(a["files_changed"], 0, "{a}");
        }
    }
    // What is on disk is said: the worktrees begun beside those ready, and doctor names
    // the interrupted `up` as their cause, with the `up` that finishes them.
    assert!(run.stderr.contains("more begun"), "{run:?}");
    let doctor = f.fleet(&["doctor"]);
    doctor
        .success()
        .stdout_has("a `fleet up` was interrupted before it started these agents")
        .stdout_has("`fleet up` takes apart what it began and finishes them");
    assert!(!doctor.stdout.contains("merged into"), "{}", doctor.stdout);

    f.plain_checkout();
    f.fleet(&["up"]).success();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_complete(&f, &names);
}

#[test]
fn a_failure_at_agent_k_leaves_nothing_the_next_up_cannot_finish() {
    let f = Fleet::new();
    f.file(".env", "SECRET=1\n");
    let mut yaml = String::from("command: \"sleep 300\"\ncopy: [.env]\nagents:\n");
    for n in ["a1", "a2", "a3", "a4"] {
        yaml.push_str(&format!("  - name: {n}\n    prompt: x\n"));
    }
    f.manifest(&yaml);
    // The checkout of a3's worktree fails (git leaves the worktree behind).
    f.checkout_runs("case \"$(pwd)\" in */a3) exit 1;; esac");

    let run = f.fleet(&["up"]);
    run.code(1)
        .stderr_has("agent `a3`")
        .stderr_has("started 3 of 4 agents");
    // The others started as soon as their worktrees were ready; no monitor yet.
    assert_eq!(f.sessions(), sorted(["repo-a1", "repo-a2", "repo-a4"]));
    assert_eq!(f.state("a3"), "pending");

    f.plain_checkout();
    f.fleet(&["up"]).success();
    assert_complete(&f, &["a1", "a2", "a3", "a4"]);
    for n in ["a1", "a2", "a3", "a4"] {
        assert_eq!(
            fs::read_to_string(f.worktree(n).join(".env")).unwrap(),
            "SECRET=1\n",
            "{n} got its copy: files"
        );
    }
}

#[test]
fn a_second_ctrl_c_quits_at_once_and_up_still_completes_later() {
    let f = Fleet::new();
    f.manifest(SLEEPERS);
    f.checkout_runs("sleep 2");

    let up = f.spawn_fleet(&["up"]);
    f.wait_for("the first worktree", DEADLINE, |f| {
        f.worktree("a1").join("README.md").exists()
    });
    up.signal_group("INT");
    std::thread::sleep(Duration::from_millis(100));
    up.signal_group("INT");
    let t = Instant::now();
    let run = up.wait();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "quit without waiting for the slow checkout"
    );
    assert!(run.stderr.contains("Ctrl-C again to quit now"), "{run:?}");
    // git, in its own process group, finishes the worktree it was making.
    f.wait_for("git to finish the worktree", DEADLINE, |f| {
        !f.git(&["worktree", "list", "--porcelain"])
            .contains("locked")
    });

    f.plain_checkout();
    f.fleet(&["up"]).success();
    assert_complete(&f, &["a1", "a2", "a3"]);
}

// ------------------------------------------------------------------------------------ quoting

#[test]
fn odd_characters_in_paths_commands_env_and_prompts_arrive_byte_exact() {
    let odd = "sp ace 'q' \"dq\" $HOME; `bt` é ü;";
    let f = Fleet::with_repo_dir(odd);
    let task = format!("tasks/{odd}.md");
    let prompt = format!("{odd}\nsecond line $(id) \\n\n");
    f.file(&task, &prompt);
    let yaml = format!(
        "env: {{ ODD: {q} }}\nagents:\n  - name: a1\n    task: {t}\n    env: {{ MINE: {q} }}\n    command: {c}\n",
        q = serde_json::to_string(odd).unwrap(),
        t = serde_json::to_string(&task).unwrap(),
        c = serde_json::to_string(&format!(
            "cat > stdin.txt; printf '%s' \"$ODD\" > env.txt; printf '%s' \"$MINE\" > mine.txt; printf '%s' \"$FLEET_TASK\" > task.txt; printf '%s' {} > literal.txt; pwd > pwd.txt",
            common::sh_quote(odd)
        ))
        .unwrap()
    );
    f.manifest(&yaml);
    f.fleet(&["up"]).success();
    f.wait_state("a1", "done");
    let wt = f.worktree("a1");
    let read = |name: &str| fs::read(wt.join(name)).unwrap();
    assert_eq!(read("stdin.txt"), prompt.as_bytes(), "the task on stdin");
    assert_eq!(read("env.txt"), odd.as_bytes(), "a top-level env value");
    assert_eq!(read("mine.txt"), odd.as_bytes(), "an agent's env value");
    assert_eq!(
        read("literal.txt"),
        odd.as_bytes(),
        "a quoted word of command:"
    );
    assert_eq!(
        canon(String::from_utf8(read("task.txt")).unwrap()),
        canon(f.repo.join(&task)),
        "FLEET_TASK"
    );
    assert_eq!(
        canon(String::from_utf8(read("pwd.txt")).unwrap().trim_end()),
        canon(&wt)
    );
    f.fleet(&["down"]).success();
}

// ------------------------------------------------------------------------------------ files

#[test]
fn state_and_logs_are_user_only() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: a1\n    prompt: secret\n    command: \"cat; echo token=s3cr3t\"\n  - name: a2\n    prompt: x\n    command: \"true\"\n    log: mylogs/a2.log\n",
    );
    let tmp = f.root.join("tmpdir");
    fs::create_dir_all(&tmp).unwrap();
    let env = [("TMPDIR", tmp.to_str().unwrap())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.wait_state("a1", "done");
    f.wait_state("a2", "done");
    let mut seen = 0;
    check_modes(&f.repo.join(".fleet"), &mut seen);
    assert!(seen >= 8, "checked {seen} paths");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&f.repo.join("mylogs/a2.log")), 0o600);
    assert_eq!(mode(&f.repo.join("mylogs")), 0o700);
    f.fleet_at(&f.repo, &env, &["status"]).success();
    f.fleet_at(&f.repo, &env, &["down"]).success();

    // Nothing written outside the repo, the worktree dir and `.fleet/`: no temp file left,
    // nothing in HOME, nothing else beside the repo.
    let names = |d: &Path| -> Vec<String> {
        sorted(
            fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string()),
        )
    };
    assert_eq!(names(&tmp), Vec::<String>::new(), "temp files left");
    // The user's own ~/.gitconfig (the test wrote it) and nothing else.
    assert_eq!(names(&f.home), [".gitconfig"], "HOME untouched");
    assert_eq!(
        names(&f.root),
        sorted([
            "home",
            "out",
            "repo",
            "repo.worktrees",
            "tmp",
            "tmpdir",
            "tmux"
        ])
    );
}

/// Directories 0700 and files 0600 under `dir`.
fn check_modes(dir: &Path, seen: &mut usize) {
    let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is user-only", dir.display());
    *seen += 1;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            check_modes(&p, seen);
        } else {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is user-only", p.display());
            *seen += 1;
        }
    }
}

#[test]
fn a_session_someone_takes_during_up_is_left_alone_and_its_agent_not_started() {
    // A tmux wrapper first on PATH makes a user's session `repo-a2` just before fleet's
    // batch reaches tmux (between fleet's look at the sessions and its new-session).
    let f = Fleet::new();
    f.manifest(SLEEPERS);
    let bin = f.root.join("racing-bin");
    fs::create_dir_all(&bin).unwrap();
    let real = which::which("tmux").unwrap();
    let real = common::sh_quote(real.to_string_lossy());
    fs::write(
        bin.join("tmux"),
        format!(
            "#!/bin/sh\ncase \"$*\" in *source-file*) {real} new-session -d -s repo-a2 'sleep 300';; esac\nexec {real} \"$@\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(bin.join("tmux"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .code(1)
        .stderr_has("cannot create the tmux session of a2 (not started; the others did)")
        .stderr_has("duplicate session: repo-a2");
    // the user's session got no fleet tag, so fleet does not count it as its agent's
    let tag = f.tmux(&["show-options", "-t", "=repo-a2:", "@fleet"]);
    assert!(
        !tag.stdout.contains("agents.yaml"),
        "the user's session was tagged: {}",
        tag.stdout
    );
    assert_ne!(f.state("a2"), "running", "{}", f.diagnostics());
    f.fleet(&["down"]).success();
    assert!(
        f.sessions().contains(&"repo-a2".to_string()),
        "down killed the user's session"
    );
}

#[test]
fn the_monitor_knows_its_panes_whatever_the_agents_print_and_mends_ended_ones() {
    // An agent that sets the terminal title: `tail -F` replays it into its monitor pane.
    let f = Fleet::new();
    f.manifest(
        "command: \"printf '\\\\033]2;hijacked\\\\007hello\\\\n'; sleep 300\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n",
    );
    f.fleet(&["up"]).success();
    let titles = || f.panes("repo-monitor", "#{pane_title}");
    f.wait_for("the title sequence to reach the monitor", DEADLINE, |_| {
        titles().iter().filter(|t| *t == "hijacked").count() == 2
    });
    let before = f.panes("repo-monitor", "#{pane_id} #{@fleet_agent}");
    assert_eq!(before.len(), 3, "{before:?}");
    f.fleet(&["up"]).success().stdout_has("nothing to do");
    assert_eq!(
        f.panes("repo-monitor", "#{pane_id} #{@fleet_agent}"),
        before,
        "the monitor was rebuilt"
    );
    // the status pane marks the panes by agent, not by title
    f.wait_for("running marks on both agent panes", DEADLINE, |f| {
        f.panes("repo-monitor", "#{@fleet_state}")
            .iter()
            .filter(|m| *m == "running")
            .count()
            == 2
    });

    // a monitor pane whose process ended (Ctrl-C in it) is mended by the next up
    let a1 = f
        .panes("repo-monitor", "#{pane_id} #{@fleet_agent}")
        .into_iter()
        .find(|p| p.ends_with(" a1"))
        .unwrap();
    let pane = a1.split(' ').next().unwrap().to_string();
    f.tmux_ok(&["send-keys", "-t", &pane, "C-c"]);
    f.wait_for("the pane to end", DEADLINE, |f| {
        f.panes("repo-monitor", "#{pane_dead}")
            .contains(&"1".to_string())
    });
    f.fleet(&["up"]).success().stdout_has("rebuilt the monitor");
    assert_eq!(
        f.panes("repo-monitor", "#{pane_dead} #{@fleet_agent}"),
        ["0 ", "0 a1", "0 a2"]
    );
}
