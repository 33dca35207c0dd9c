//! When agents start: each as soon as its own worktree is ready, without waiting for the
//! others' checkouts; and never seen `lost` by a reader while its session is being made.

mod common;

use std::fs;
use std::io::Write;

use common::{sorted, Fleet, DEADLINE};

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
    let gate = Gate(f.fifo("gate"));
    // a2's checkout waits for the gate; a1's and a3's do not.
    f.checkout_runs(&format!(
        "case \"$(pwd)\" in */a2) read x < '{}';; esac",
        gate.0.display()
    ));
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

/// Writes a line into a fifo, waiting for its reader (an agent's command that reads it).
fn release(fifo: &std::path::Path) {
    let mut w = fs::OpenOptions::new().write(true).open(fifo).unwrap();
    writeln!(w, "go").unwrap();
}

/// `tmux` on `PATH` before the real one: the tmux call that creates a2's session (a batch:
/// a script tmux reads with `source-file`) waits at the fifo `gate` (after touching
/// `gate.at`), and once it made the session, at the fifo `gate.after` (after touching
/// `gate.after.at`); and a process with `HOLD_LIST` set lists the
/// sessions once, then waits at the fifo it names before it answers (after touching
/// `$HOLD_LIST.at`): a start and a reader held at the moment a race would need.
fn held_tmux(f: &Fleet, gate: &std::path::Path) -> String {
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v tmux"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    let gate = gate.display();
    f.stub(
        "tmux",
        &format!(
            r#"#!/bin/sh
case " $* " in
*" source-file "*)
    for script; do :; done
    if [ -p '{gate}' ] && grep -q new-session "$script" && grep -q repo-a2 "$script"; then
        : > '{gate}.at'; read x < '{gate}'
        '{real}' "$@"; rc=$?
        : > '{gate}.after.at'; read x < '{gate}.after'
        exit $rc
    fi ;;
*" list-sessions "*)
    if [ -n "$HOLD_LIST" ] && mkdir "$HOLD_LIST.once" 2>/dev/null; then
        out=$('{real}' "$@"); rc=$?
        : > "$HOLD_LIST.at"
        read x < "$HOLD_LIST"
        [ -z "$out" ] || printf '%s\n' "$out"
        exit $rc
    fi ;;
esac
exec '{real}' "$@"
"#
        ),
    )
}

/// Does a process wait for the `flock` on this file (a `->` line of `/proc/locks` for its
/// inode)?
fn waits_on(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    let inode = format!(":{}", meta.ino());
    fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("->") && l.split_whitespace().any(|w| w.ends_with(&inode)))
}

fn record(f: &Fleet, name: &str) -> serde_json::Value {
    let path = f.repo.join(".fleet/agents").join(format!("{name}.json"));
    serde_json::from_str(&fs::read_to_string(path).unwrap_or_default()).unwrap_or_default()
}

#[test]
fn a_queued_agent_being_started_is_never_seen_lost() {
    let f = Fleet::new();
    let gate = Gate(f.fifo("gate"));
    let (end1, end2) = (f.fifo("end1"), f.fifo("end2"));
    let path = held_tmux(&f, &gate.0);
    f.manifest(&format!(
        "max_parallel: 1\nagents:\n  - name: a1\n    prompt: one\n    command: \"cat '{}' >/dev/null\"\n  - name: a2\n    prompt: two\n    command: \"cat '{}' >/dev/null\"\n  - name: a3\n    prompt: three\n    command: \"sleep 300\"\n",
        end1.display(),
        end2.display()
    ));
    // (the tmux server, and so every runner and the queue it advances, get this PATH)
    f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]).success();
    assert_eq!(f.state("a2"), "queued");

    // a1 ends; its runner starts a2, whose session's creation waits at the gate: a2's
    // record must not say running yet, or a reader sees it lost.
    release(&end1);
    f.wait_for("a2's session to be on its way", DEADLINE, |_| {
        gate.0.with_extension("at").exists()
    });
    assert_eq!(f.state("a1"), "done");
    assert_eq!(
        f.state("a2"),
        "queued",
        "a2 is not running before its session is"
    );
    let after = Gate(f.fifo("gate.after"));
    gate.open();
    // The session exists, its start has not written the record yet: a2's runner either
    // waits for that (on its start lock) or, without one, reads the old record.
    f.wait_for("a2's session", DEADLINE, |_| {
        after.0.with_extension("after.at").exists()
    });
    let lock = f.repo.join(".fleet/run/a2.lock");
    f.wait_for(
        "a2's runner to wait for its record or start",
        DEADLINE,
        |f| waits_on(&lock) || f.log("a2").contains("a2 started"),
    );
    after.open();
    f.wait_state("a2", "running");
    // The runner read what the start wrote: one attempt, its own pid.
    f.wait_for("a2's runner to write its pid", DEADLINE, |f| {
        record(f, "a2")["pid"].is_u64()
    });
    assert_eq!(record(&f, "a2")["attempt"], 1, "{}", record(&f, "a2"));
    assert!(f.log("a2").contains("(attempt 1)"), "{}", f.log("a2"));

    // A reader lists the sessions (a3 has none), then a3 starts before it reads a3's
    // record: it must still not call a3 lost.
    let hold = f.root.join("hold");
    let made = std::process::Command::new("mkfifo")
        .arg(&hold)
        .status()
        .unwrap();
    assert!(made.success());
    let hold_env = hold.display().to_string();
    let status = f.spawn_fleet_env(
        &[("PATH", &path), ("HOLD_LIST", &hold_env)],
        &["status", "--json"],
    );
    f.wait_for("status to have listed the sessions", DEADLINE, |_| {
        hold.with_extension("at").exists()
    });
    release(&end2);
    f.wait_for("a3's record to say running", DEADLINE, |f| {
        record(f, "a3")["state"] == "running"
    });
    release(&hold);
    let run = status.wait();
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let a3 = json["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "a3")
        .unwrap()
        .clone();
    assert_eq!(a3["state"], "running", "{a3}");
    f.fleet(&["down"]).success();
}

#[test]
fn an_agent_that_ends_before_up_recorded_the_queue_still_passes_its_slot_on() {
    let f = Fleet::new();
    let gate = Gate(f.fifo("gate"));
    // a2 waits for a1's slot, and its checkout (made by this `up`) waits for the gate.
    f.checkout_runs(&format!(
        "case \"$(pwd)\" in */a2) read x < '{}';; esac",
        gate.0.display()
    ));
    f.manifest(
        "max_parallel: 1\ncommand: \"echo ran\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n",
    );
    let up = f.spawn_fleet(&["up"]);
    // a1 ends while `up` still makes a2's worktree: nothing said a2 waits yet.
    f.wait_for("a1 to end", DEADLINE, |f| f.state("a1") == "done");
    gate.open();
    let run = up.wait();
    assert_eq!(run.code, 0, "{run:?}");
    f.wait_for("a2 to run in a1's slot", DEADLINE, |f| {
        f.log("a2").lines().any(|l| l == "ran")
    });
}
