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
    f.fleet(&["merge", "a"])
        .success()
        .stdout_has("fast-forward");
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
        .stdout_has("a: starts round 3 from main's tip (--fresh: its work main lacks is kept)")
        .stdout_has("is kept as refs/fleet/kept/a/1");
    assert_eq!(tip(&f, "refs/fleet/kept/a/1"), second);
    f.wait_for("round 3 to end", 20, |f| {
        f.agent("a")["attempt"] == 3 && f.state("a") == "done"
    });
    assert_eq!(tip(&f, "fleet/a~1"), tip(&f, "main"));
    // nothing is lost: both earlier commits are reachable from a ref
    assert!(
        f.try_git_in(
            &f.repo,
            &["merge-base", "--is-ancestor", &first, "refs/fleet/kept/a/1"]
        )
        .code
            == 0
    );
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

// ------------------------------------------------------------------ review

/// A `claude` that notes each run (arguments and stdin) in `$CALLS`, reports session s-r,
/// and commits: src.txt (five lines) on its first run, a fix of line four when resumed.
const CLAUDE: &str = r#"#!/bin/sh
{ printf '%s\n' "$@"; cat; echo ---; } >> "$CALLS"
case "$*" in
  *--resume*) sleep 2; sed -i 's/^line four$/line 4/' src.txt; git commit -qam 'answer the review' ;;
  *) printf 'line one\nline two\nline three\nline four\nline five\n' > src.txt; git add src.txt; git commit -qm 'add src.txt' ;;
esac
echo '{"type":"system","subtype":"init","session_id":"s-r","model":"m"}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-r","total_cost_usd":0.1,"usage":{"input_tokens":3,"output_tokens":2}}'
"#;

/// An editor that writes notes above the diff and three comments under lines of it.
const EDITOR: &str = r#"#!/bin/sh
awk '/^diff --git/ && !n { print "Keep the lines short."; print ""; n = 1 }
{ print }
/^\+line two$/ { print "> rename two" }
/^\+line four$/ { print "> four is wrong:"; print "> spell it as a digit" }
/^\+line five$/ { print "> five: say why" }' "$1" > "$1.new" && mv "$1.new" "$1"
"#;

fn review_fleet(f: &Fleet) -> (String, String) {
    let path = f.stub("claude", CLAUDE);
    f.stub("editor", EDITOR);
    f.manifest(&format!(
        "agents:\n  - name: a\n    agent: claude\n    prompt: \"Write src.txt.\"\n    verify: \"echo verify ran; test -f src.txt\"\n    env: {{CALLS: {}}}\n  - name: plain\n    prompt: x\n    command: \"echo plain\"\n",
        f.root.join("calls").display()
    ));
    (path, f.root.join("stubs/editor").display().to_string())
}

#[test]
fn a_review_with_three_comments_reaches_the_same_session_and_verify_runs_again() {
    let f = Fleet::new();
    let (path, editor) = review_fleet(&f);
    let env = [
        ("PATH", path.as_str()),
        ("EDITOR", editor.as_str()),
        ("VISUAL", ""),
    ];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();

    f.fleet_at(&f.repo, &env, &["review", "a"])
        .success()
        .stdout_has("sent review round 2 to a (3 comments and notes)")
        .stdout_has("resuming conversation s-r");
    // while the agent answers, status says the review was sent
    assert_eq!(f.agent("a")["review"]["answered"], false);
    f.fleet(&["status"]).success().stdout_has("review 2 sent");
    f.wait_for("the review's answer", 20, |f| {
        f.agent("a")["attempt"] == 2 && f.state("a") == "done"
    });
    let calls = std::fs::read_to_string(f.root.join("calls")).unwrap();
    let runs: Vec<&str> = calls.split("---\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(runs.len(), 2, "{calls}");
    let sent = runs[1];
    assert!(sent.contains("--resume\ns-r\n"), "{sent}");
    for part in [
        "General notes:\n  Keep the lines short.",
        "on src.txt line 2:\n  the line: +line two\n  > rename two\n  the hunk:\n    @@ -0,0 +1,5 @@\n    +line one\n",
        "on src.txt line 4:\n  the line: +line four\n  > four is wrong:\n  > spell it as a digit\n",
        "on src.txt line 5:\n  the line: +line five\n  > five: say why\n",
    ] {
        assert!(sent.contains(part), "{part:?} not in what was sent:\n{sent}");
    }
    // the answer is committed, verify ran after it as after the first run
    assert_eq!(
        f.git(&["log", "-1", "--format=%s", "fleet/a"]).trim(),
        "answer the review"
    );
    assert_eq!(
        f.log("a").matches("[fleet] verify:").count(),
        2,
        "{}",
        f.log("a")
    );
    // status shows the round
    let a = f.agent("a");
    assert_eq!(a["round"], 2);
    assert_eq!(a["review"]["comments"], 3);
    assert_eq!(a["review"]["notes"], true);
    assert_eq!(a["review"]["answered"], true);
    f.fleet(&["status"]).success().stdout_has("review 2");
    // every round, with the commits made in it
    f.fleet(&["review", "a", "--show"])
        .success()
        .stdout_has("round 1 (its first run")
        .stdout_has("round 2 (a review of fleet/a at ")
        .stdout_has(
            "  src.txt line 4: +line four\n    > four is wrong:\n    > spell it as a digit\n",
        )
        .stdout_has("  commits in answer:\n")
        .stdout_has(" answer the review\n");
    // only what changed since the review
    let since = f.fleet(&["diff", "a", "--since-review"]);
    since.success().stdout_has("-line four\n+line 4\n");
    assert!(!since.stdout.contains("+line one"), "{}", since.stdout);
}

#[test]
fn a_stale_comment_is_refused_and_an_empty_review_sends_nothing() {
    let f = Fleet::new();
    let (path, _editor) = review_fleet(&f);
    let env = [("PATH", path.as_str()), ("EDITOR", "true"), ("VISUAL", "")];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();

    // saved with no comments: nothing sent
    f.fleet_at(&f.repo, &env, &["review", "a"])
        .success()
        .stdout_has("no comments and no notes in")
        .stdout_has("nothing was sent to a");
    let drafts: Vec<_> = std::fs::read_dir(f.repo.join(".fleet/reviews"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    let file = drafts[0].clone();
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replace("+line one\n", "+line one\n> fine\n")
        .replace("+line four\n", "+line four\n> four is wrong\n");
    std::fs::write(&file, text).unwrap();
    // the agent moved on meanwhile: line four is not what the review saw
    let wt = f.worktree("a");
    std::fs::write(
        wt.join("src.txt"),
        "line one\nline two\nline three\nline 4\nline five\n",
    )
    .unwrap();
    f.git_in(&wt, &["commit", "-qam", "four as a digit"]);

    let file = file.display().to_string();
    f.fleet_at(&f.repo, &env, &["review", "a", "--file", &file])
        .code(1)
        .stderr_has("nothing was sent to a: 1 comment is on a line no longer in its diff")
        .stderr_has("src.txt line 4: `+line four` is no longer in the diff");
    assert_eq!(f.agent("a")["attempt"], 1);
    assert_eq!(f.agent("a")["round"], 1);

    // a line that is not the diff's is refused with its number (exit 2)
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("> fine\n", "fine\n");
    std::fs::write(&file, text).unwrap();
    f.fleet_at(&f.repo, &env, &["review", "a", "--file", &file])
        .code(2)
        .stderr_has("`fine` is not a line of the hunk");

    // a review file that is not there: bad input, exit 2
    f.fleet_at(&f.repo, &env, &["review", "a", "--file", "nope.diff"])
        .code(2)
        .stderr_has("cannot read the review file nope.diff");

    // an agent fleet cannot resume: refused before any editor, naming up --rerun
    f.fleet_at(&f.repo, &env, &["review", "plain"])
        .code(1)
        .stderr_has("plain cannot be continued")
        .stderr_has("`fleet up --rerun plain` starts round 2 from main's tip");
}
