//! State that lies (issue 15, class 8): what fleet reports and acts on is what is true, or
//! it says it cannot know. A damaged record is not "pending"; a deleted base does not lock
//! out `down`; the user's tmux configuration does not kill the agents; another tmux server
//! does not hide them, nor does a `TMUX_TMPDIR` other than the one the sessions were made
//! under; a task is a regular file of bounded size; env keys are names a
//! shell can use.

mod common;

use std::fs;

use common::{Fleet, DEADLINE, OUTER};

#[test]
fn a_damaged_record_is_said_to_be_damaged_and_not_run_again() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    command: 'echo worked'\n    prompt: go\n");
    f.fleet(&["up"]).success();
    f.wait_state("a", "done");
    let record = f.repo.join(".fleet/agents/a.json");
    let text = fs::read(&record).unwrap();
    fs::write(&record, &text[..text.len() / 2]).unwrap();
    let log = f.log("a");

    let agent = f.agent("a");
    assert_eq!(agent["state"], "damaged", "{agent}");
    assert!(
        agent["reason"].as_str().unwrap().contains("a.json"),
        "{agent}"
    );
    f.fleet(&["up"])
        .code(1)
        .stderr_has("cannot read the record")
        .stderr_has("a.json")
        .stderr_has("--rerun");
    assert_eq!(f.log("a"), log, "the agent ran again");
    // Asked for explicitly, it runs again and the record is whole once more.
    f.fleet(&["up", "--rerun"]).success();
    f.wait_state("a", "done");
}

#[test]
fn down_status_and_logs_work_whatever_happened_to_the_base() {
    let f = Fleet::new();
    f.git(&["branch", "feature"]);
    f.manifest(
        "base: feature\nagents:\n  - name: a\n    command: 'echo started; sleep 30'\n    prompt: go\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("a", "running");
    f.git(&["branch", "-D", "feature"]);

    f.fleet(&["status"]).success();
    assert_eq!(f.state("a"), "running");
    f.wait_for("the agent's output", DEADLINE, |f| {
        f.output("a").contains("started")
    });
    f.fleet(&["logs", "a"]).success().stdout_has("started");
    f.fleet(&["down"]).success();
    assert_eq!(f.state("a"), "stopped");
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
    // What starts from the base says what is wrong with it.
    f.fleet(&["up"])
        .code(2)
        .stderr_has("base: `feature` does not exist");
}

#[test]
fn the_users_tmux_config_does_not_kill_fleets_sessions() {
    let f = Fleet::new();
    fs::write(
        f.home.join(".tmux.conf"),
        "set -g destroy-unattached on\nset -s exit-unattached on\n",
    )
    .unwrap();
    f.manifest(
        "agents:\n  - name: a\n    command: 'sleep 2; echo survived > out.txt'\n    prompt: go\n",
    );
    f.fleet(&["up"]).success();
    f.wait_for("the agent to end", DEADLINE, |f| {
        matches!(f.state("a").as_str(), "done" | "failed" | "lost")
    });
    assert_eq!(f.state("a"), "done", "{}", f.diagnostics());
    assert!(f.worktree("a").join("out.txt").exists());
}

#[test]
fn from_inside_another_tmux_server_fleet_finds_its_own() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    command: 'sleep 30'\n    prompt: go\n");
    f.fleet(&["up"]).success();
    f.wait_state("a", "running");
    // A person's own tmux (another server): fleet run in one of its panes has $TMUX.
    f.tmux(&["-L", OUTER, "new-session", "-d", "-s", "mine"]);
    let uid = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let other = f.tmux_dir.join(format!("tmux-{}", uid.trim())).join(OUTER);
    assert!(other.exists(), "{}", other.display());
    let tmux = format!("{},1,0", other.display());
    let inside = f.fleet_at(&f.repo, &[("TMUX", &tmux)], &["status", "--json"]);
    inside.success();
    let json: serde_json::Value = serde_json::from_str(&inside.stdout).unwrap();
    assert_eq!(json["agents"][0]["state"], "running", "{json}");
    f.fleet_at(&f.repo, &[("TMUX", &tmux)], &["down"]).success();
    assert_eq!(f.state("a"), "stopped");
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
}

/// `up` under a relative `TMUX_TMPDIR` (tmux makes it absolute): the server it records is
/// found from anywhere, by a command with another `TMUX_TMPDIR`.
#[test]
fn a_relative_tmux_tmpdir_is_recorded_as_the_server_it_names() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    command: 'sleep 30'\n    prompt: go\n");
    fs::create_dir_all(f.root.join("own-tmux")).unwrap();
    let _server = KillServer(f.root.join("own-tmux"));
    let own = [("TMUX_TMPDIR", "../own-tmux")];
    f.fleet_at(&f.repo, &own, &["up"]).success();
    let status = f.fleet(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.success().stdout).unwrap();
    assert_eq!(json["agents"][0]["state"], "running", "{json}");
    f.fleet(&["down"]).success();
    assert_eq!(f.state("a"), "stopped");
}

/// `continue` after the recorded server is gone (its socket too), from a shell with another `TMUX_TMPDIR`:
/// its session is made on that shell's server, and the record says so, so a command run
/// with yet another `TMUX_TMPDIR` still sees the agent running there.
#[test]
fn continue_on_another_server_records_it() {
    let f = Fleet::new();
    let path = f.stub(
        "claude",
        r#"#!/bin/sh
cat > /dev/null
echo '{"type":"system","subtype":"init","session_id":"s-c","model":"m"}'
case "$*" in *--resume*) sleep 300;; esac
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-c","total_cost_usd":0.1,"usage":{"input_tokens":3,"output_tokens":2}}'
"#,
    );
    f.manifest("agents:\n  - name: talker\n    agent: claude\n    prompt: go\n");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.wait_state("talker", "done");
    // The server is gone with its socket (as after a reboot that emptied /tmp).
    f.tmux(&["kill-server"]);
    for e in fs::read_dir(&f.tmux_dir).unwrap() {
        let _ = fs::remove_dir_all(e.unwrap().path());
    }
    let other = f.root.join("other-tmux");
    fs::create_dir_all(&other).unwrap();
    let _server = KillServer(other.clone());
    let other = other.display().to_string();
    let env = [("PATH", path.as_str()), ("TMUX_TMPDIR", other.as_str())];
    f.fleet_at(&f.repo, &env, &["continue", "talker", "-m", "more"])
        .success();
    let elsewhere = f.root.join("elsewhere").display().to_string();
    let status = f.fleet_at(
        &f.repo,
        &[("TMUX_TMPDIR", &elsewhere)],
        &["status", "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&status.success().stdout).unwrap();
    assert_eq!(json["agents"][0]["state"], "running", "{json}");
}

/// Kills the tmux server in its `TMUX_TMPDIR` when dropped (also when a test fails).
struct KillServer(std::path::PathBuf);

impl Drop for KillServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .env("TMUX_TMPDIR", &self.0)
            .env_remove("TMUX")
            .arg("kill-server")
            .output();
    }
}

#[test]
fn a_task_is_a_regular_file_of_bounded_size() {
    let f = Fleet::new();
    let fifo = f.repo.join("tasks/fifo.md");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    f.file("tasks/huge.md", &"x".repeat(2 << 20));
    f.manifest(
        r#"agents:
  - name: piped
    command: cat
    task: tasks/fifo.md
  - name: endless
    command: cat
    task: /dev/zero
  - name: huge
    command: cat
    task: tasks/huge.md
"#,
    );
    for cmd in ["validate", "up"] {
        let run = f.fleet(&[cmd]);
        run.code(2)
            .stderr_has("agents[0]")
            .stderr_has("fifo.md is not a regular file")
            .stderr_has("/dev/zero is not a regular file")
            .stderr_has("huge.md is 2097152 bytes")
            .stderr_has("1 MiB");
    }
    assert!(!f.repo.join(".fleet").exists());
}

#[test]
fn env_keys_no_shell_can_name_are_refused() {
    let f = Fleet::new();
    f.manifest(
        "env: { \"A-B\": x, \"1X\": y, OK_1: z }\nagents:\n  - name: a\n    command: cat\n    prompt: go\n    env: { \"has space\": w }\n",
    );
    let run = f.fleet(&["validate"]);
    run.code(2)
        .stderr_has("`A-B` is not a name a shell can use")
        .stderr_has("`1X` is not a name a shell can use")
        .stderr_has("`has space` is not a name a shell can use");
    assert!(!run.stderr.contains("OK_1"), "{}", run.stderr);
}

/// An agent that changed files but committed nothing (a CLI whose commit failed while it
/// said the tool succeeded) is not plainly `done`: its label says its changes are
/// uncommitted, and `fleet merge` says how to commit them or hand them back.
#[test]
fn done_with_uncommitted_changes_says_so_and_merge_says_what_to_do() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: a\n    command: 'echo hi > a.txt && git add a.txt'\n    prompt: go\n  - name: b\n    command: 'echo hi > b.txt && git add b.txt && git commit -qm b'\n    prompt: go\n",
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"])
        .success()
        .stdout_has("a done (uncommitted changes)");
    let a = f.agent("a");
    assert_eq!(a["state"], "done", "{a}");
    assert_eq!(a["reason"], "uncommitted changes", "{a}");
    assert_eq!(a["label"], "done (uncommitted changes)", "{a}");
    assert!(f.log("a").contains("made no commit"), "{}", f.log("a"));
    // committed work is plainly done
    let b = f.agent("b");
    assert_eq!(
        (b["label"].as_str(), b["reason"].is_null()),
        (Some("done"), true),
        "{b}"
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("done (uncommitted changes)");
    f.fleet(&["merge", "a"])
        .code(1)
        .stderr_has("has uncommitted changes")
        .stderr_has("fleet continue a -m")
        .stderr_has("commit");
}
