//! Rounds: an agent run again starts where one rule says (from base's current tip when its
//! work is all in base, else on its branch unless --fresh, which keeps that work under a
//! ref), a changed task is noticed by `up`, and status shows each agent's round.

mod common;

use common::Fleet;

/// An agent that appends a line to notes.txt and commits it.
const APPENDS: &str = "printf 'line from %s\\n' \"$FLEET_AGENT\" >> notes.txt && git add notes.txt && git commit -qm \"$FLEET_AGENT: a line\"";

fn one_agent(f: &Fleet) {
    f.file("tasks/a.md", "Append a line.\n");
    f.manifest(&format!(
        "agents:\n  - name: a\n    task: tasks/a.md\n    command: |\n      {APPENDS}\n"
    ));
}

fn tip(f: &Fleet, rev: &str) -> String {
    f.git(&["rev-parse", rev]).trim().to_string()
}

/// A commit of the user's on main, after the agent's work.
fn user_commit(f: &Fleet) {
    let mut notes = std::fs::read_to_string(f.repo.join("notes.txt")).unwrap_or_default();
    notes.push_str("user line\n");
    f.file("notes.txt", &notes);
    f.git(&["add", "notes.txt"]);
    f.git(&["commit", "-qm", "user: a line"]);
}

#[test]
fn a_merged_agent_run_again_starts_from_the_current_base_and_merges_cleanly() {
    let f = Fleet::new();
    one_agent(&f);
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.fleet(&["merge", "a"]).success();
    user_commit(&f);

    let run = f.fleet(&["up", "--rerun", "a"]);
    run.success()
        .stdout_has("a: starts round 2 from main's tip (its work is all in main)")
        .stdout_has("a: fleet/a moved from");
    f.wait_for("round 2 to end", 20, |f| {
        f.agent("a")["attempt"] == 2 && f.state("a") == "done"
    });
    // it worked on today's main: main is in its history, and one new commit on top
    assert_eq!(f.git(&["rev-list", "--count", "main..fleet/a"]).trim(), "1");
    assert_eq!(f.git(&["rev-list", "--count", "fleet/a..main"]).trim(), "0");
    let status = f.fleet(&["status"]);
    status.success().stdout_has("ROUND");
    assert_eq!(f.agent("a")["round"], 2);
    f.fleet(&["merge", "a"]).success().stdout_has("fast-forward");
    let notes = std::fs::read_to_string(f.repo.join("notes.txt")).unwrap();
    assert_eq!(notes, "line from a\nuser line\nline from a\n");
}

#[test]
fn unmerged_work_stays_on_its_branch_unless_fresh_which_keeps_it() {
    let f = Fleet::new();
    one_agent(&f);
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let first = tip(&f, "fleet/a");
    user_commit(&f);

    // --rerun: round 2 on its branch, its commit still there
    f.fleet(&["up", "--rerun", "a"])
        .success()
        .stdout_has("a: runs round 2 on its branch fleet/a over its 1 commit main lacks");
    f.wait_for("round 2 to end", 20, |f| {
        f.agent("a")["attempt"] == 2 && f.state("a") == "done"
    });
    let second = tip(&f, "fleet/a");
    assert_eq!(f.git(&["rev-parse", "fleet/a~1"]).trim(), first);

    // --fresh over uncommitted changes: refused, nothing changed
    std::fs::write(f.worktree("a").join("draft.txt"), "half done\n").unwrap();
    f.fleet(&["up", "--fresh", "a"])
        .code(2)
        .stderr_has("has uncommitted changes (?? draft.txt)")
        .stderr_has("nothing was changed");
    assert_eq!(tip(&f, "fleet/a"), second);
    std::fs::remove_file(f.worktree("a").join("draft.txt")).unwrap();

    // --fresh: from main's tip, the old work kept under a ref named in the output
    f.fleet(&["up", "--fresh", "a"])
        .success()
        .stdout_has("is kept as refs/fleet/kept/a/1");
    assert_eq!(tip(&f, "refs/fleet/kept/a/1"), second);
    f.wait_for("round 3 to end", 20, |f| {
        f.agent("a")["attempt"] == 3 && f.state("a") == "done"
    });
    assert_eq!(tip(&f, "fleet/a~1"), tip(&f, "main"));
    // nothing is lost: both earlier commits are reachable from a ref
    assert!(f
        .try_git_in(&f.repo, &["merge-base", "--is-ancestor", &first, "refs/fleet/kept/a/1"])
        .code
        == 0);
    assert_eq!(f.agent("a")["round"], 3);
}

#[test]
fn a_squash_merged_agent_counts_as_merged_and_its_commits_are_kept() {
    let f = Fleet::new();
    one_agent(&f);
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let first = tip(&f, "fleet/a");
    f.fleet(&["merge", "a", "--squash"]).success();

    f.fleet(&["up", "--rerun", "a"])
        .success()
        .stdout_has("main already holds its changes (squash-merged)")
        .stdout_has("is kept as refs/fleet/kept/a/1");
    assert_eq!(tip(&f, "refs/fleet/kept/a/1"), first);
    f.wait_for("round 2 to end", 20, |f| {
        f.agent("a")["attempt"] == 2 && f.state("a") == "done"
    });
    assert_eq!(tip(&f, "fleet/a~1"), tip(&f, "main"));
}

#[test]
fn a_changed_task_is_offered_as_the_next_round_not_run() {
    let f = Fleet::new();
    one_agent(&f);
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    // unchanged: nothing said
    let run = f.fleet(&["up"]);
    run.success();
    assert!(!run.stdout.contains("changed since"), "{}", run.stdout);
    f.file("tasks/a.md", "Append two lines.\n");
    f.fleet(&["up"])
        .success()
        .stdout_has("the task of a changed since its last run (round 1); `fleet up --rerun a` runs round 2 on its branch fleet/a over its 1 commit main lacks")
        .stdout_has("nothing to do");
    assert_eq!(f.agent("a")["attempt"], 1);
    assert_eq!(f.agent("a")["round"], 1);
}

#[test]
fn doctor_offers_to_delete_a_merged_branch() {
    let f = Fleet::new();
    one_agent(&f);
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.fleet(&["merge", "a"]).success();
    f.fleet(&["down", "--rm-worktrees"]).success();
    f.fleet(&["doctor"])
        .stdout_has("branch fleet/a is merged into main")
        .stdout_has("branch -d fleet/a")
        .stdout_has("`fleet up --rerun a` starts round 2 from main's tip");
}
