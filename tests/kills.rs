//! Kill at any point, refuse before creating (issue 15, classes 4 and 7): a `fleet up` killed
//! (SIGKILL, or SIGHUP as a closed terminal sends it) at any moment leaves what the next `up`
//! completes and `fleet doctor` finds clean; an agent that ignores SIGHUP and SIGTERM does not
//! outlive `fleet down`; conflicts that git would find late are refused before anything is
//! written.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{sorted, Fleet, DEADLINE};

const AGENTS: usize = 8;
/// Kill moments spread over the time a normal `up` takes.
const MOMENTS: usize = 20;
/// Files in the repository.
const FILES: usize = 100;

fn names() -> Vec<String> {
    (1..=AGENTS).map(|i| format!("a{i}")).collect()
}

/// A fleet of eight quick stub agents (they sleep, so they stay `running`), in a repository
/// of a few hundred files, so that checking out its worktrees is a good part of an `up`.
fn eight(f: &Fleet) {
    for d in 0..FILES / 100 {
        for i in 0..100 {
            f.file(&format!("src/d{d}/f{i}.txt"), &format!("{d} {i}\n"));
        }
    }
    f.git(&["add", "src"]);
    f.git(&["commit", "-qm", "files"]);
    let mut yaml = String::from("command: \"sleep 300\"\nagents:\n");
    for n in names() {
        yaml.push_str(&format!("  - name: {n}\n    prompt: x\n"));
    }
    f.manifest(&yaml);
}

/// Every agent runs in its one session, on its own worktree on its own branch; nothing else
/// registered, nothing locked.
#[track_caller]
fn assert_complete(f: &Fleet, context: &str) {
    let names = names();
    let mut want: Vec<String> = names.iter().map(|n| format!("repo-{n}")).collect();
    want.push("repo-monitor".into());
    assert_eq!(f.sessions(), sorted(want), "{context}\n{}", f.diagnostics());
    let status = f.status_json();
    for a in status["agents"].as_array().unwrap() {
        assert_eq!(a["state"], "running", "{context}: {a}");
    }
    let list = f.git(&["worktree", "list", "--porcelain"]);
    assert!(!list.contains("locked"), "{context}: {list}");
    assert_eq!(
        list.matches("worktree ").count(),
        AGENTS + 1,
        "{context}: {list}"
    );
    for n in &names {
        assert_eq!(
            f.git_in(&f.worktree(n), &["symbolic-ref", "--short", "HEAD"]),
            format!("fleet/{n}"),
            "{context}"
        );
        assert!(f.worktree(n).join("README.md").exists(), "{context}: {n}");
        assert_eq!(
            f.git_in(&f.worktree(n), &["status", "--porcelain"]),
            "",
            "{context}: {n} is clean"
        );
    }
}

/// How long a normal `up` of the eight agents takes here.
fn normal_up() -> Duration {
    let f = Fleet::new();
    eight(&f);
    let t = Instant::now();
    f.fleet(&["up"]).success();
    let took = t.elapsed();
    assert_complete(&f, "a normal up");
    took
}

/// `fleet up` killed at `MOMENTS` evenly spread moments, each in a fresh repository; after
/// each, one `fleet up` completes the fleet and `fleet doctor` finds nothing wrong.
fn killed_at_every_moment(signal: &str) {
    let took = normal_up();
    let mut outcomes = Vec::new();
    let mut failed = Vec::new();
    for i in 0..MOMENTS {
        let at = took.mul_f64((i as f64 + 0.5) / MOMENTS as f64);
        // Each moment on its own: a failure names every moment that fails, not the first.
        let moment = std::panic::catch_unwind(|| {
            let f = Fleet::new();
            eight(&f);
            let up = f.spawn_fleet(&["up"]);
            std::thread::sleep(at);
            match signal {
                // SIGKILL of fleet alone: the git it started lives on, orphaned.
                "KILL" => {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &up.child.id().to_string()])
                        .status();
                }
                // A closed terminal hangs up its whole foreground process group.
                _ => up.signal_group(signal),
            }
            let killed = up.wait();
            let context = format!(
                "killed with SIG{signal} at {at:?} of {took:?} (moment {i}; exit {})\n{}",
                killed.code, killed.stderr
            );
            let again = f.fleet(&["up"]);
            assert_eq!(again.code, 0, "{context}\n{again:?}\n{}", f.diagnostics());
            assert_complete(&f, &context);
            let doctor = f.fleet(&["doctor"]);
            assert_eq!(doctor.code, 0, "{context}\n{doctor:?}");
            killed.code
        });
        match moment {
            Ok(code) => outcomes.push(code),
            Err(_) => failed.push(i),
        }
    }
    assert!(
        failed.is_empty(),
        "SIG{signal}: {} of {MOMENTS} kill moments left what the next up or doctor could not handle: {failed:?} (normal up {took:?})",
        failed.len()
    );
    eprintln!("SIG{signal}: normal up {took:?}; exits of the killed ups: {outcomes:?}");
}

#[test]
fn up_killed_with_sigkill_at_any_moment_is_completed_by_the_next_up() {
    killed_at_every_moment("KILL");
}

#[test]
fn up_hung_up_at_any_moment_is_completed_by_the_next_up() {
    killed_at_every_moment("HUP");
}

// ------------------------------------------------------------------------------ fleet down

#[test]
fn an_agent_that_ignores_hangup_and_term_does_not_outlive_down() {
    let f = Fleet::new();
    // The agent (and the sleep it runs, which inherits the ignored signals) shrugs off the
    // SIGHUP of its closed session and any SIGTERM.
    f.manifest(
        "agents:\n  - name: a1\n    prompt: x\n    command: \"trap '' HUP TERM; echo $$ > ../a1.pid; echo ready; sleep 300; echo still here > late.txt\"\n",
    );
    f.fleet(&["up"]).success();
    let pid_file = f.worktree_dir().join("a1.pid");
    // (the log's header quotes the command, `ready` included: the line of its own counts;
    // and the pid file exists empty between the shell's open and its write)
    f.wait_for("the agent to start", DEADLINE, |f| {
        f.log("a1").lines().any(|l| l == "ready")
            && fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n'))
    });
    let pid = fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let alive = |pid: &str| {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, r)| !r.starts_with('Z'))
        })
    };
    assert!(alive(&pid));
    f.fleet(&["down"]).success();
    // Down said the session is down: the agent is gone now, not later.
    assert!(!alive(&pid), "agent pid {pid} outlived fleet down");
    assert_eq!(f.state("a1"), "stopped");

    // A new `up` starts one agent in the worktree, the only one there.
    f.fleet(&["up", "--rerun"]).success();
    f.wait_for("the second run", DEADLINE, |_| {
        fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() != pid)
    });
    f.fleet(&["down"]).success();
    assert!(!f.worktree("a1").join("late.txt").exists());
}

// ----------------------------------------------------------------- refuse before creating

/// What fleet could have written: `.fleet/`, the exclude file, branches, worktrees.
fn footprint(f: &Fleet) -> (bool, String, String, String, bool) {
    (
        f.repo.join(".fleet").exists(),
        fs::read_to_string(f.repo.join(".git/info/exclude")).unwrap_or_default(),
        f.git(&["for-each-ref", "--format=%(refname)"]),
        f.git(&["worktree", "list", "--porcelain"]),
        f.worktree_dir().exists(),
    )
}

#[test]
fn conflicts_git_would_find_late_are_refused_before_anything_is_written() {
    // (what, setup, manifest, what the refusal says)
    type Case = (&'static str, fn(&Fleet), &'static str, &'static str);
    let cases: &[Case] = &[
        (
            "a user branch `fleet` where `fleet/a` would go",
            |f| {
                f.git(&["branch", "fleet"]);
            },
            "agents:\n  - name: a\n    prompt: x\n    command: \"sleep 300\"\n",
            "beside the existing branch `fleet`",
        ),
        (
            "a user branch `fleet/a/x` under where `fleet/a` would go",
            |f| {
                f.git(&["branch", "fleet/a/x"]);
            },
            "agents:\n  - name: a\n    prompt: x\n    command: \"sleep 300\"\n",
            "beside the existing branch `fleet/a/x`",
        ),
        (
            "two agents' branches `fleet/a` and `fleet/a/x`",
            |_| {},
            "agents:\n  - name: a\n    prompt: x\n    command: \"sleep 300\"\n  - name: b\n    branch: fleet/a/x\n    prompt: x\n    command: \"sleep 300\"\n",
            "cannot both exist",
        ),
        (
            "a worktree_dir that is a symlink loop",
            |f| {
                std::os::unix::fs::symlink("loop", f.root.join("loop")).unwrap();
            },
            "worktree_dir: ../loop\nagents:\n  - name: a\n    prompt: x\n    command: \"sleep 300\"\n",
            "leads nowhere",
        ),
    ];
    for (what, setup, yaml, says) in cases {
        let f = Fleet::new();
        f.manifest(yaml);
        setup(&f);
        let before = footprint(&f);
        let up = f.fleet(&["up"]);
        assert_eq!(up.code, 2, "{what}: {up:?}");
        assert!(up.stderr.contains(says), "{what}: {up:?}");
        assert_eq!(footprint(&f), before, "{what}: nothing written");
        assert_eq!(f.sessions(), Vec::<String>::new(), "{what}");
        f.fleet(&["validate"]).code(2);
    }
}
