//! When agents start: each as soon as its own worktree is ready, without waiting for the
//! others' checkouts; and never seen `lost` by a reader while its session is being made.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use common::{sorted, Fleet, DEADLINE};

/// Every checkout runs `script` (sh, in the worktree) through a smudge filter on a file
/// checked out after README.md: a checkout that waits for the test.
fn checkout_runs(f: &Fleet, script: &str) {
    f.file(".gitattributes", "zz.txt filter=trap\n");
    f.file("zz.txt", "last\n");
    f.git(&["add", ".gitattributes", "zz.txt"]);
    f.git(&["commit", "-qm", "trap the checkout of zz.txt"]);
    let path = f.root.join("trap.sh");
    fs::write(&path, format!("#!/bin/sh\n{script}\nexec cat\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let path = path.to_string_lossy().to_string();
    f.git(&["config", "filter.trap.smudge", &path]);
    f.git(&["config", "filter.trap.clean", "cat"]);
    f.git(&["config", "filter.trap.required", "true"]);
}

/// A fifo nobody writes until the test does: a reader blocks on it until then.
fn fifo(f: &Fleet, name: &str) -> std::path::PathBuf {
    let path = f.root.join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    path
}

/// Opens the gate (a fifo) when dropped, also when the test fails: the checkout blocked on
/// it goes on and ends.
struct Gate(std::path::PathBuf);

impl Gate {
    /// Let the checkout blocked on the gate go on.
    fn open(&self) {
        use std::os::unix::fs::OpenOptionsExt;
        // (O_NONBLOCK: no reader, nothing to let go)
        if let Ok(mut w) = fs::OpenOptions::new()
            .write(true)
            .custom_flags(0o4000)
            .open(&self.0)
        {
            let _ = writeln!(w, "go");
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

#[test]
fn an_agent_runs_while_another_agents_checkout_is_still_going() {
    let f = Fleet::new();
    let gate = Gate(fifo(&f, "gate"));
    // a2's checkout waits for the gate; a1's and a3's do not.
    checkout_runs(
        &f,
        &format!(
            "case \"$(pwd)\" in */a2) read x < '{}';; esac",
            gate.0.display()
        ),
    );
    f.manifest(
        "command: \"echo ran; sleep 300\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n  - name: a3\n    prompt: three\n",
    );
    let up = f.spawn_fleet(&["up"]);
    // a1's command runs while a2's worktree cannot be complete: its checkout blocks on the
    // gate, which only this test opens.
    f.wait_for("a1's and a3's commands to run", DEADLINE, |f| {
        ["a1", "a3"]
            .iter()
            .all(|n| f.log(n).lines().any(|l| l == "ran"))
    });
    assert!(
        !f.worktree("a2").join("zz.txt").exists(),
        "a2's checkout is still blocked"
    );
    assert_eq!(f.state("a1"), "running");
    assert_eq!(f.state("a2"), "pending");
    assert!(!f.sessions().contains(&"repo-a2".to_string()));

    gate.open();
    let run = up.wait();
    assert_eq!(run.code, 0, "{run:?}");
    f.wait_for("a2's command to run", DEADLINE, |f| {
        f.log("a2").lines().any(|l| l == "ran")
    });
    assert_eq!(
        f.sessions(),
        sorted(["repo-a1", "repo-a2", "repo-a3", "repo-monitor"])
    );
    // The summary is the one of every `up`: each agent, in the manifest's order.
    let at = |n: &str| run.stdout.find(&format!("{n} ")).unwrap_or(usize::MAX);
    assert!(at("a1") < at("a2") && at("a2") < at("a3"), "{}", run.stdout);
    for n in ["a1", "a2", "a3"] {
        assert_eq!(f.state(n), "running", "{n}");
    }
}
