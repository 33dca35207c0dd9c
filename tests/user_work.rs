//! Trust (issue 15), classes 5, 6 and 9: work reachable only from a worktree is never
//! removed, the user's own git operations are never touched and a merge is reported only
//! once it happened, and messages say what is so.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Fleet, DEADLINE};

/// The repo's state a refused command must leave exactly as it was.
fn snapshot(f: &Fleet) -> (String, String, String, String) {
    (
        f.git(&["rev-parse", "HEAD"]),
        f.git(&["status", "--porcelain", "--untracked-files=all"]),
        f.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        f.git(&["symbolic-ref", "-q", "HEAD"]),
    )
}

const COMMITS: &str = "cat > out.txt; git add out.txt; git commit -qm 'agent work'";

// ------------------------------------------------------- class 5: work only a worktree reaches

#[test]
fn down_keeps_a_worktree_whose_commits_no_ref_reaches_and_merge_says_where_work_is() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: detached
    prompt: "lost"
    command: "git checkout -q --detach; {COMMITS}"
  - name: elsewhere
    prompt: "other"
    command: "git switch -q -c other; {COMMITS}"
  - name: plain
    prompt: "plain"
    command: "{COMMITS}"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let lonely = f.git_in(&f.worktree("detached"), &["rev-parse", "HEAD"]);

    // merge says the work is not on the agent's branch, and changes nothing
    let before = snapshot(&f);
    f.fleet(&["merge", "elsewhere"])
        .code(1)
        .stderr_has("its work is on another branch than its own")
        .stderr_has("is on branch other, with 1 commit that fleet/elsewhere lacks");
    f.fleet(&["merge", "detached"])
        .code(1)
        .stderr_has("on a detached HEAD");
    assert_eq!(snapshot(&f), before);

    // --force removes uncommitted changes, never commits only a HEAD reaches
    let down = f.fleet(&["down", "--rm-worktrees", "--force"]);
    down.code(1)
        .stderr_has("holds 1 commit that no branch or tag reaches")
        .stderr_has(&f.worktree("detached").display().to_string())
        .stdout_has("it was on branch other, not fleet/elsewhere");
    assert!(f.worktree("detached").is_dir(), "{}", down.stderr);
    assert_eq!(
        f.git_in(&f.worktree("detached"), &["rev-parse", "HEAD"]),
        lonely
    );
    assert!(!f.worktree("plain").exists() && !f.worktree("elsewhere").exists());
    assert_eq!(
        f.git(&["rev-parse", "other"]).len(),
        40,
        "branch other kept"
    );

    // once a branch holds the commit, the worktree goes
    f.git_in(&f.worktree("detached"), &["branch", "saved"]);
    f.fleet(&["down", "--rm-worktrees"]).success();
    assert!(!f.worktree("detached").exists());
    assert_eq!(f.git(&["rev-parse", "saved"]), lonely);
}

// --------------------------------------------------------- class 6: the user's own operations

#[test]
fn merge_leaves_the_users_operations_alone_refuses_failed_agents_and_never_claims_a_merge() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: good
    prompt: "good"
    command: "{COMMITS}"
  - name: crashed
    prompt: "crashed"
    command: "cat > crash.txt; git add crash.txt; git commit -qm 'half done'; exit 3"
  - name: tagged
    prompt: "tagged"
    command: "cat > tagged.txt; git add tagged.txt; git commit -qm 'tagged work'"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).code(1);

    // the user's merge in progress (no changes to see: `-s ours --no-commit`)
    f.git(&["switch", "-q", "-c", "side"]);
    f.file("side.txt", "side\n");
    f.git(&["add", "side.txt"]);
    f.git(&["commit", "-qm", "side"]);
    f.git(&["switch", "-q", "main"]);
    f.git(&["merge", "-q", "-s", "ours", "--no-commit", "side"]);
    let merge_head = f.repo.join(".git/MERGE_HEAD");
    let theirs = fs::read_to_string(&merge_head).unwrap();
    let before = snapshot(&f);
    f.fleet(&["merge", "good"])
        .code(1)
        .stderr_has("nothing was changed")
        .stderr_has("has a merge in progress");
    assert_eq!(fs::read_to_string(&merge_head).unwrap(), theirs);
    assert_eq!(snapshot(&f), before);
    f.git(&["merge", "--abort"]);

    // an agent that failed, for whatever reason, is not merged without --force
    let before = snapshot(&f);
    for extra in [&[][..], &["--no-verify"][..]] {
        let mut args = vec!["merge", "crashed"];
        args.extend(extra);
        f.fleet(&args)
            .code(1)
            .stderr_has("it failed (exit 3)")
            .stderr_has("--force");
        assert_eq!(snapshot(&f), before);
    }
    f.fleet(&["merge", "crashed", "--force"]).success();
    assert!(f.repo.join("crash.txt").exists());

    // a tag named like the branch does not shadow it: the branch is what gets merged
    f.git(&["tag", "fleet/tagged", "main~1"]);
    f.fleet(&["merge", "tagged"])
        .success()
        .stdout_has("merged tagged");
    let tip = f.git(&["rev-parse", "refs/heads/fleet/tagged"]);
    f.git(&["merge-base", "--is-ancestor", &tip, "HEAD"]);
    assert!(f.repo.join("tagged.txt").exists());

    // `branch: HEAD` is no branch: refused before anything is made
    let g = Fleet::new();
    g.manifest(
        r#"agents:
  - name: head
    prompt: "x"
    command: "true"
    branch: HEAD
"#,
    );
    g.fleet(&["up"])
        .code(2)
        .stderr_has("agents.yaml")
        .stderr_has("head")
        .stderr_has("branch `HEAD` is not a valid git branch name");
    assert!(!g.repo.join(".fleet").exists());
    assert_eq!(
        g.git(&["for-each-ref", "--format=%(refname)", "refs/heads/"]),
        "refs/heads/main"
    );
}

// ------------------------------------------------------------------------- class 9: messages

#[test]
fn messages_name_the_lock_holder_tabs_dangling_state_and_a_tag_base() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: a
    prompt: "x"
    command: "true"
"#,
    );
    // a dangling `.fleet` symlink: exit 2, said as such, nothing made
    std::os::unix::fs::symlink(f.root.join("nowhere"), f.repo.join(".fleet")).unwrap();
    f.fleet(&["up"])
        .code(2)
        .stderr_has(".fleet is a symlink to")
        .stderr_has("which does not exist");
    assert!(!f.root.join("nowhere").exists() && !f.worktree("a").exists());
    fs::remove_file(f.repo.join(".fleet")).unwrap();

    // a lock held by a program that is not fleet
    fs::create_dir(f.repo.join(".fleet")).unwrap();
    let lock = f.repo.join(".fleet/lock");
    // `-o`: the lock stays with flock itself (not `sleep`), so killing flock frees it.
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) from util-linux");
    let deadline = Instant::now() + Duration::from_secs(DEADLINE);
    while std::process::Command::new("flock")
        .args(["-n"])
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "flock never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let down = f.fleet(&["down"]);
    let _ = holder.kill();
    let _ = holder.wait();
    down.code(1).stderr_has("which is not a fleet command");
    assert!(!down.stderr.contains("(pid )"), "{}", down.stderr);

    // tabs in the indentation
    f.manifest("agents:\n  - name: a\n\tprompt: x\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("agents.yaml")
        .stderr_has("YAML does not allow tabs for indentation: line 3");

    // a tag as base is not suggested to `git switch`
    f.git(&["tag", "v1"]);
    f.manifest(&format!(
        r#"base: v1
agents:
  - name: a
    prompt: "x"
    command: "{COMMITS}"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let merge = f.fleet(&["merge", "a"]);
    merge.code(1).stderr_has("the base `v1` is not a branch");
    assert!(!merge.stderr.contains("switch v1"), "{}", merge.stderr);
}

#[test]
fn hints_and_summaries_say_what_is_there_and_ctrl_c_of_a_watcher_says_no_step() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: quick
    prompt: "x"
    command: "{COMMITS}"
  - name: sleeper
    prompt: "x"
    command: "sleep 60"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "quick", "--timeout", "20"]).success();

    // Ctrl-C of `wait` (a watcher) does not print up's "stopping after the step at hand"
    let pane = f.user_shell("work");
    let rc = f.type_fleet(&pane, "wait sleeper", "wait.rc");
    f.wait_for("wait to show its bar", DEADLINE, |f| {
        f.screen(&pane, false).contains("running: sleeper")
    });
    f.tmux_ok(&["send-keys", "-t", &pane, "C-c"]);
    assert_eq!(f.typed_exit_code(&rc), "130");
    let screen = f.screen(&pane, false);
    assert!(screen.contains("interrupted"), "{screen}");
    assert!(!screen.contains("step at hand"), "{screen}");
    f.tmux_ok(&["kill-session", "-t", "=work"]);

    // a finished agent is restarted with --rerun, and the hint says so
    f.fleet(&["down", "--rm-worktrees"]).success();
    f.fleet(&["attach", "quick"])
        .code(1)
        .stderr_has("fleet up --rerun quick");

    // after `down --rm-worktrees`, `up` does not list the gone worktree and session as there
    let up = f.fleet(&["up", "quick"]);
    up.success();
    let wt = f.worktree("quick").display().to_string();
    assert!(
        !up.stdout.contains(&format!("{wt}  (session")),
        "{}",
        up.stdout
    );
    up.stdout_has("no worktree").stdout_has("no session");
    assert!(!up.stdout.contains("attach quick"), "{}", up.stdout);
}
