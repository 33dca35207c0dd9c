//! The merge train's verify is a process fleet owns, and a train that dies is known: verify
//! runs in a process group of its own with a time limit (`verify_timeout:`), Ctrl-C,
//! SIGTERM and SIGHUP end that whole group and take the merge back on the base *branch*;
//! a verify that edits tracked files is named; a fleet killed (SIGKILL) during verify
//! leaves a journal that `status`, `doctor` and `merge` report, and that `merge
//! --verify-pending` / `--undo-pending` settle.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{commits, sh_quote, Fleet, Spawned};

/// Nothing half-merged: no merge under way, the tracked files clean.
#[track_caller]
fn nothing_half_merged(f: &Fleet) {
    assert!(!f.repo.join(".git/MERGE_HEAD").exists());
    assert_eq!(
        f.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
}

/// Is process `pid` gone (or a zombie nobody reaped yet)?
fn gone(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Wait for the spawned fleet to end, at most `secs`; None when it did not.
fn ended_within(merge: &mut Spawned, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if merge.child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// One agent `slow` whose verify, on main only (its `.git` is a directory there, a file in
/// the worktree), notes its pid in `verify.pid`, starts a background `sleep` (its pid in
/// `child.pid`) and waits for it: a verify that hangs. With `release` present it passes at
/// once.
fn hanging_verify(f: &Fleet, extra: &str) -> (PathBuf, PathBuf, PathBuf) {
    let pid = f.root.join("verify.pid");
    let child = f.root.join("child.pid");
    let release = f.root.join("release");
    f.manifest(&format!(
        r#"{extra}agents:
  - name: slow
    prompt: "x"
    command: "{}"
    verify: "if [ -d .git ] && [ ! -e {release} ]; then echo $$ > {pid}.tmp; sleep 300 & echo $! > {child}; mv {pid}.tmp {pid}; wait; fi"
  - name: other
    prompt: "x"
    command: "{}"
"#,
        commits("slow.txt", "slow\\n"),
        commits("other.txt", "other\\n"),
        release = sh_quote(release.display().to_string()),
        pid = sh_quote(pid.display().to_string()),
        child = sh_quote(child.display().to_string()),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    (pid, child, release)
}

fn read_pid(path: &Path) -> String {
    fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn a_verify_past_its_timeout_fails_and_its_merge_is_taken_back() {
    let f = Fleet::new();
    let (_, child, _) = hanging_verify(&f, "verify_timeout: 2s\n");
    let before = f.rev("HEAD");
    let run = f.fleet(&["merge", "slow"]);
    run.code(1)
        .stdout_has("merged slow (fleet/slow, 1 commit) into main")
        .stderr_has("ran past its verify_timeout (2s) and was stopped")
        .stderr_has("so that merge was taken back");
    assert_eq!(f.rev("refs/heads/main"), before);
    assert!(
        gone(&read_pid(&child)),
        "verify's background sleep outlived it"
    );
    nothing_half_merged(&f);
    // (a bad value is a manifest error, naming the key)
    f.manifest(
        "verify_timeout: soon\nagents:\n  - name: a\n    prompt: x\n    command: \"true\"\n",
    );
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("verify_timeout: `soon` is not a duration");
}

/// A signal to fleet while its verify hangs: fleet ends promptly (128 + the signal: 130 for
/// Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), verify's whole
/// group (its background `sleep` too) is gone, base is back where it was, no journal left.
fn signal_during_verify(signal: &str, whole_group: bool) {
    let f = Fleet::new();
    let (pid, child, _) = hanging_verify(&f, "");
    let before = f.rev("HEAD");
    let mut merge = f.spawn_fleet(&["merge", "slow", "other"]);
    f.wait_for("verify to start on main", common::DEADLINE, |_| {
        pid.exists()
    });
    if whole_group {
        // Ctrl-C in a terminal: the foreground process group, fleet's
        merge.signal_group(signal);
    } else {
        // `kill`, a service manager, a closed ssh link: fleet alone
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &merge.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert!(
        ended_within(&mut merge, common::DEADLINE),
        "fleet merge did not end within {}s of SIG{signal} during a hanging verify",
        common::DEADLINE
    );
    let grandchild = read_pid(&child);
    f.wait_for("verify's background sleep to be gone", 10, |_| {
        gone(&grandchild)
    });
    assert!(gone(&read_pid(&pid)));
    let run = merge.wait();
    let code = match signal {
        "INT" => 130,
        "TERM" => 143,
        "HUP" => 129,
        other => panic!("no exit code known for SIG{other}"),
    };
    run.code(code)
        .stderr_has("interrupted while merging slow (undone)");
    assert!(!run.stdout.contains("merged other"), "{}", run.stdout);
    assert_eq!(f.rev("refs/heads/main"), before);
    assert_eq!(f.rev("HEAD"), before);
    nothing_half_merged(&f);
    let status = f.fleet(&["status"]);
    assert!(
        !status.stdout.contains("never verified"),
        "{}",
        status.stdout
    );
}

#[test]
fn sigterm_during_a_hanging_verify_ends_its_group_and_takes_the_merge_back() {
    signal_during_verify("TERM", false);
}

#[test]
fn ctrl_c_during_a_hanging_verify_ends_its_group_and_takes_the_merge_back() {
    signal_during_verify("INT", true);
}

#[test]
fn sighup_during_a_hanging_verify_ends_its_group_and_takes_the_merge_back() {
    signal_during_verify("HUP", false);
}

#[test]
fn a_verify_that_detaches_head_and_fails_leaves_base_where_it_was() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: det
    prompt: "x"
    command: "{}"
    verify: "if [ -d .git ]; then git checkout -q --detach; echo broken; exit 1; fi"
"#,
        commits("det.txt", "det\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let before = f.rev("HEAD");
    f.fleet(&["merge", "det"])
        .code(1)
        .stderr_has("failed (exit 1)")
        .stderr_has("so that merge was taken back")
        .stderr_has("left the main checkout off main")
        .stderr_has("switch main");
    // the branch is back; the checkout stays where verify put it (at the merge, detached)
    assert_eq!(f.rev("refs/heads/main"), before);
    assert_eq!(f.rev("HEAD"), f.rev("fleet/det"));
    assert_eq!(
        f.try_git_in(&f.repo, &["symbolic-ref", "-q", "HEAD"]).code,
        1
    );
}

#[test]
fn a_verify_that_edits_tracked_files_is_named_not_the_next_agent() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: messy
    prompt: "x"
    command: "{}"
    verify: "if [ -d .git ]; then echo scribble >> README.md; fi"
  - name: next
    prompt: "x"
    command: "{}"
"#,
        commits("messy.txt", "messy\\n"),
        commits("next.txt", "next\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let run = f.fleet(&["merge", "--all"]);
    run.code(1)
        .stderr_has("the merge train stopped at messy")
        .stderr_has("messy's verify passed but left changes in README.md");
    assert!(!run.stderr.contains("stopped at next"), "{}", run.stderr);
    // its verify passed: its merge stays; next was not tried
    assert_eq!(f.rev("refs/heads/main"), f.rev("fleet/messy"));
    assert!(!f.repo.join("next.txt").exists());
}

/// `slow`'s merge, its fleet SIGKILLed during verify (which runs on, orphaned). Returns
/// base's commit before the merge, the release file, and the orphaned verify's pids.
fn killed_during_verify(f: &Fleet) -> (String, PathBuf, [String; 2]) {
    let (pid, child, release) = hanging_verify(f, "");
    let before = f.rev("HEAD");
    let mut merge = f.spawn_fleet(&["merge", "slow", "other"]);
    f.wait_for("verify to start on main", common::DEADLINE, |_| {
        pid.exists()
    });
    merge.child.kill().unwrap();
    merge.child.wait().unwrap();
    let orphans = [read_pid(&pid), read_pid(&child)];
    assert!(!gone(&orphans[1]));
    assert_eq!(f.rev("refs/heads/main"), f.rev("fleet/slow"));
    (before, release, orphans)
}

#[test]
fn a_train_killed_during_verify_is_reported_and_its_merge_can_be_verified() {
    let f = Fleet::new();
    let (_, release, orphans) = killed_during_verify(&f);
    let merged = f.rev("fleet/slow");

    f.fleet(&["status"])
        .success()
        .stdout_has("main holds the merge of slow (fleet/slow, commit")
        .stdout_has("never verified")
        .stdout_has("merge --verify-pending")
        .stdout_has("merge --undo-pending");
    let json = f.status_json();
    assert_eq!(json["pending_merge"]["agent"], "slow", "{json}");
    assert_eq!(json["pending_merge"]["merge"], merged.as_str(), "{json}");
    f.fleet(&["doctor"])
        .code(1)
        .stdout_has("problem  main holds the merge of slow")
        .stdout_has("merge --verify-pending");
    // no merge on top of an unverified one
    f.fleet(&["merge", "other"])
        .code(1)
        .stderr_has("main holds the merge of slow")
        .stderr_has("nothing was changed");
    assert_eq!(f.rev("refs/heads/main"), merged);

    fs::write(&release, "").unwrap();
    f.fleet(&["merge", "--verify-pending"])
        .success()
        .stdout_has("ending the verify")
        .stdout_has("verify passed: the merge of slow into main");
    // the killed train's verify, orphaned, was ended first
    assert!(orphans.iter().all(|p| gone(p)), "{orphans:?}");
    assert_eq!(f.rev("refs/heads/main"), merged);
    let status = f.fleet(&["status"]);
    assert!(
        !status.stdout.contains("never verified"),
        "{}",
        status.stdout
    );
    assert!(f.status_json()["pending_merge"].is_null());
    f.fleet(&["merge", "other"]).success();
}

#[test]
fn a_train_killed_during_verify_can_be_undone_but_never_under_the_users_commits() {
    let f = Fleet::new();
    let (before, release, orphans) = killed_during_verify(&f);
    let merged = f.rev("fleet/slow");

    // the user committed on top: undo is refused, nothing changes; verify still works
    f.file("mine.txt", "mine\n");
    f.git(&["add", "mine.txt"]);
    f.git(&["commit", "-qm", "my own work"]);
    let mine = f.rev("HEAD");
    f.fleet(&["merge", "--undo-pending"])
        .code(1)
        .stderr_has("1 commit on top of it")
        .stderr_has("will not reset");
    assert_eq!(f.rev("refs/heads/main"), mine);
    f.fleet(&["status"]).success().stdout_has("never verified");

    // without it, undo takes the merge back
    f.git(&["reset", "-q", "--hard", &merged]);
    f.fleet(&["merge", "--undo-pending"])
        .success()
        .stdout_has("took back the merge of slow");
    assert!(orphans.iter().all(|p| gone(p)), "{orphans:?}");
    assert_eq!(f.rev("refs/heads/main"), before);
    nothing_half_merged(&f);
    let status = f.fleet(&["status"]);
    assert!(
        !status.stdout.contains("never verified"),
        "{}",
        status.stdout
    );
    // and the train goes on
    fs::write(&release, "").unwrap();
    f.fleet(&["merge", "slow", "other"]).success();
}
