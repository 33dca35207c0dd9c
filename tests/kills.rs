//! Kill at any point, refuse before creating (issue 15, classes 4 and 7): a `fleet up` killed
//! (SIGKILL, or SIGHUP as a closed terminal sends it) at any moment leaves what the next `up`
//! completes and `fleet doctor` finds clean; an agent that ignores SIGHUP and SIGTERM does not
//! outlive `fleet down`; conflicts that git would find late are refused before anything is
//! written.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
