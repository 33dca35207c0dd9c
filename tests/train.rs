//! Bringing many agents' work home (issue 18): `fleet conflicts` predicts which branches
//! clash without touching anything, and `fleet merge --all` (the merge train) merges them
//! one by one into base, verifying each, stopping at the first conflict or failed verify
//! with base at the last good merge.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{commits, Fleet};
use serde_json::Value;

/// Everything a command could change: every ref, the status of the main checkout and of
/// each worktree, each index's bytes and mtime, and every file under the temp dir (but git's
/// object database, where `git merge-tree` may write objects no ref names).
fn everything(f: &Fleet, names: &[&str]) -> Vec<String> {
    let mut out = vec![f.git(&["for-each-ref", "--format=%(refname) %(objectname)"])];
    let mut checkouts = vec![f.repo.clone()];
    checkouts.extend(names.iter().map(|n| f.worktree(n)));
    for dir in &checkouts {
        // Without optional locks: this status must not refresh the index it compares.
        out.push(f.git_in(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=all",
            ],
        ));
        out.push(f.git_in(dir, &["rev-parse", "HEAD"]));
        let index = PathBuf::from(f.git_in(dir, &["rev-parse", "--git-path", "index"]));
        let index = if index.is_absolute() {
            index
        } else {
            dir.join(index)
        };
        let meta = fs::metadata(&index).unwrap();
        out.push(format!(
            "{} {:?} {:?}",
            index.display(),
            fs::read(&index).unwrap(),
            meta.modified().unwrap()
        ));
    }
    // (the monitor's status pane, running meanwhile, writes the radar's cache of what it
    // asked git: its own, whenever it refreshes)
    out.extend(f.files().into_iter().filter(|l| {
        !l.starts_with("repo/.git/objects") && !l.starts_with("repo/.fleet/radar.json")
    }));
    out
}

/// The lines of a table with each run of spaces made one, so a test need not know the widths.
fn squeezed(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.stdout))
}

#[test]
fn conflicts_names_exactly_the_clashing_pair_and_file_and_changes_nothing() {
    let f = Fleet::new();
    f.up_four_agents();
    let names = ["one", "two", "left", "right"];
    let before = everything(&f, &names);

    let run = f.fleet(&["conflicts"]);
    run.code(1).stdout_has("1 of 10 merges conflicts");
    let conflicting: Vec<String> = squeezed(&run.stdout)
        .into_iter()
        .filter(|l| l.contains(" conflict "))
        .collect();
    assert_eq!(
        conflicting,
        ["left, right conflict README.md"],
        "{}",
        run.stdout
    );

    let run = f.fleet(&["conflicts", "--json"]);
    run.code(1);
    let v = json(&run);
    assert_eq!(v["base"], "main");
    let merges = v["merges"].as_array().unwrap();
    assert_eq!(merges.len(), 4 + 6, "{v}");
    let clashes: Vec<&Value> = merges.iter().filter(|m| m["clean"] == false).collect();
    assert_eq!(clashes.len(), 1, "{v}");
    assert_eq!(clashes[0]["left"], "left");
    assert_eq!(clashes[0]["right"], "right");
    assert_eq!(clashes[0]["right_branch"], "fleet/right");
    assert_eq!(clashes[0]["files"], serde_json::json!(["README.md"]));
    assert_eq!(
        merges.iter().filter(|m| m["base"] == true).count(),
        4,
        "each agent against base: {v}"
    );

    // only the clean ones: exit 0
    f.fleet(&["conflicts", "one", "two", "left"])
        .success()
        .stdout_has("all 6 merges are clean");

    let after = everything(&f, &names);
    let changed: Vec<(&String, &String)> =
        before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "fleet conflicts changed something: {changed:#?}"
    );
    assert!(!f.repo.join(".git/MERGE_HEAD").exists());
}

#[test]
fn conflicts_compares_with_base_and_skips_agents_without_a_branch() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: edits
    prompt: "x"
    command: "{}"
  - name: later
    prompt: "x"
    command: "true"
"#,
        commits("README.md", "# agent\\n"),
    ));
    f.fleet(&["up", "edits"]).success();
    f.fleet(&["wait", "edits", "--timeout", "20"]).success();
    f.file("README.md", "# main moved on\n");
    f.git(&["commit", "-qam", "main edit"]);

    let run = f.fleet(&["conflicts", "--json"]);
    run.code(1);
    let v = json(&run);
    assert_eq!(
        v["merges"],
        serde_json::json!([{"left": "main", "left_branch": "main", "base": true,
            "right": "edits", "right_branch": "fleet/edits", "clean": false,
            "files": ["README.md"]}])
    );
    assert_eq!(v["without_branch"], serde_json::json!(["later"]));
    let run = f.fleet(&["conflicts"]);
    run.code(1)
        .stdout_has("not compared (no branch yet): later");
    assert!(
        squeezed(&run.stdout).contains(&"main (base), edits conflict README.md".to_string()),
        "{}",
        run.stdout
    );
}

// ------------------------------------------------------------------------------ the train

/// Nothing half-merged: no merge, rebase or cherry-pick under way, the index and the
/// tracked files clean, no scratch worktree left, no ref but the branches.
#[track_caller]
fn nothing_half_merged(f: &Fleet) {
    let git_dir = f.repo.join(".git");
    for marker in [
        "MERGE_HEAD",
        "rebase-merge",
        "rebase-apply",
        "CHERRY_PICK_HEAD",
        "AUTO_MERGE",
    ] {
        assert!(!git_dir.join(marker).exists(), "{marker} left behind");
    }
    assert_eq!(
        f.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    let refs = f.git(&["for-each-ref", "--format=%(refname)"]);
    assert!(
        refs.lines().all(|r| r.starts_with("refs/heads/")),
        "stray refs: {refs}"
    );
    let worktrees = f.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains(".rebase-"), "{worktrees}");
}

#[test]
fn the_train_stops_at_a_failed_verify_with_base_at_the_last_good_merge() {
    let f = Fleet::new();
    // Each agent's verify passes in its own worktree; on main, one.txt and three.txt
    // together fail it.
    f.manifest(&format!(
        r#"verify: "if [ -e one.txt ] && [ -e three.txt ]; then echo 'one.txt and three.txt clash'; exit 1; fi; echo fine"
agents:
  - name: one
    prompt: "x"
    command: "{}"
  - name: two
    prompt: "x"
    command: "{}"
  - name: three
    prompt: "x"
    command: "{}"
  - name: four
    prompt: "x"
    command: "{}"
"#,
        commits("one.txt", "one\\n"),
        commits("two.txt", "two\\n"),
        commits("three.txt", "three\\n"),
        commits("four.txt", "four\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let branches = f.git(&[
        "for-each-ref",
        "--format=%(refname) %(objectname)",
        "refs/heads/fleet/",
    ]);

    let run = f.fleet(&["merge", "--all"]);
    run.code(1)
        .stdout_has("merged one (fleet/one, 1 commit) into main: fast-forward")
        .stdout_has("merged two (fleet/two, 1 commit) into main: merge commit")
        .stderr_has("the merge train stopped at three")
        .stderr_has("verify `if [ -e one.txt ]")
        .stderr_has("failed (exit 1)")
        .stderr_has("one.txt and three.txt clash")
        .stderr_has("the last good merge (two");
    assert!(!run.stdout.contains("merged four"), "{}", run.stdout);

    // base: one fast-forwarded, then two's merge commit; three taken back, four never tried
    assert_eq!(f.rev("HEAD^1"), f.rev("fleet/one"));
    assert_eq!(f.rev("HEAD^2"), f.rev("fleet/two"));
    assert_eq!(f.rev("main"), f.rev("HEAD"));
    assert!(run
        .stderr
        .contains(&format!("main is at {}", &f.rev("HEAD")[..12])));
    assert!(!f.repo.join("three.txt").exists() && !f.repo.join("four.txt").exists());
    nothing_half_merged(&f);
    // the agents' branches are as they were
    assert_eq!(
        f.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/fleet/"
        ]),
        branches
    );

    // without three, the rest goes through: one and two have nothing new, four merges
    let good = f.rev("HEAD");
    f.fleet(&["merge", "one", "two", "four"])
        .success()
        .stdout_has("nothing to merge for 2 agents: one, two (in main already)")
        .stdout_has("merged four (fleet/four, 1 commit) into main");
    assert_eq!(f.rev("HEAD^1"), good);
    assert_eq!(f.rev("HEAD^2"), f.rev("fleet/four"));
    nothing_half_merged(&f);
}

#[test]
fn the_train_stops_at_a_conflict_naming_the_files() {
    let f = Fleet::new();
    f.up_four_agents();
    let run = f.fleet(&["merge", "--all", "--no-ff"]);
    run.code(1)
        .stdout_has("merged left (fleet/left, 1 commit) into main: merge commit")
        .stderr_has("the merge train stopped at right")
        .stderr_has("merging fleet/right into main conflicts in README.md")
        .stderr_has("the merge was aborted")
        .stderr_has("the last good merge (left");
    assert_eq!(f.rev("HEAD^2"), f.rev("fleet/left"));
    assert_eq!(f.rev("HEAD^1^2"), f.rev("fleet/two"));
    assert_eq!(f.rev("HEAD^1^1^2"), f.rev("fleet/one"));
    assert_eq!(f.rev("HEAD^1^1^1"), f.rev("fleet/one~1"));
    assert_eq!(
        fs::read_to_string(f.repo.join("README.md")).unwrap(),
        "# left\n"
    );
    nothing_half_merged(&f);
}

#[test]
fn squash_and_rebase_make_the_history_they_promise() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: a
    prompt: "x"
    command: "echo 1 > a.txt; git add a.txt; git commit -qm 'a 1'; echo 2 >> a.txt; git commit -qam 'a 2'"
  - name: b
    prompt: "x"
    command: "echo b > b.txt; git add b.txt; git commit -qm 'b 1'"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let start = f.rev("HEAD");
    let tips = (f.rev("fleet/a"), f.rev("fleet/b"));
    let history = |f: &Fleet| {
        f.git(&["log", "--format=%p|%s", &format!("{start}..HEAD")])
            .lines()
            .map(|l| {
                let (parents, subject) = l.split_once('|').unwrap();
                (parents.split(' ').count(), subject.to_string())
            })
            .collect::<Vec<_>>()
    };

    f.fleet(&["merge", "--all", "--squash"])
        .success()
        .stdout_has("squashed into one commit");
    assert_eq!(
        history(&f),
        [
            (1, "b: squashed 1 commit from fleet/b".to_string()),
            (1, "a: squashed 2 commits from fleet/a".to_string()),
        ]
    );
    nothing_half_merged(&f);

    f.git(&["reset", "-q", "--hard", &start]);
    f.fleet(&["merge", "--all", "--rebase"])
        .success()
        .stdout_has("merged b (fleet/b, 1 commit) into main: rebased onto it");
    // a fast-forwards; b's commit replayed on it: one line, no merge commit
    assert_eq!(
        history(&f),
        [
            (1, "b 1".to_string()),
            (1, "a 2".to_string()),
            (1, "a 1".to_string())
        ]
    );
    assert_eq!(f.rev("HEAD~1"), tips.0);
    assert_ne!(f.rev("HEAD"), tips.1, "b's commit is a copy");
    // the agents' branches are untouched
    assert_eq!((f.rev("fleet/a"), f.rev("fleet/b")), tips);
    nothing_half_merged(&f);

    // --ff-only: b is no fast-forward once a is in
    f.git(&["reset", "-q", "--hard", &start]);
    f.fleet(&["merge", "a", "b", "--ff-only"])
        .code(1)
        .stderr_has("fleet/b is not a fast-forward of main");
    assert_eq!(f.rev("HEAD"), tips.0);
    nothing_half_merged(&f);
}

/// A `claude` that commits agent.txt on its first run, records each run's arguments and
/// stdin in `calls` (outside the worktree), and reports session s-t.
fn committing_claude(f: &Fleet) -> String {
    let calls = f.root.join("calls");
    f.stub(
        "claude",
        &format!(
            r#"#!/bin/sh
printf '%s\n' "$@" >> {calls}
cat >> {calls}
echo --- >> {calls}
if [ ! -e agent.txt ]; then echo a > agent.txt; git add agent.txt; git commit -qm agent; fi
echo '{{"type":"system","subtype":"init","session_id":"s-t","model":"m"}}'
echo '{{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-t","total_cost_usd":0.1,"usage":{{"input_tokens":3,"output_tokens":2}}}}'
"#,
            calls = common::sh_quote(calls.display().to_string())
        ),
    )
}

#[test]
fn resume_agent_hands_a_failed_verify_back_to_the_agent() {
    let f = Fleet::new();
    let path = committing_claude(&f);
    f.manifest(
        r#"agents:
  - name: talker
    agent: claude
    prompt: "Write agent.txt."
    verify: "if [ -e main.txt ] && [ -e agent.txt ]; then echo 'main.txt and agent.txt together'; exit 1; fi"
"#,
    );
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.file("main.txt", "main\n");
    f.git(&["add", "main.txt"]);
    f.git(&["commit", "-qm", "main work"]);
    let before = f.rev("HEAD");

    // without the option, the stop offers it: this agent can be continued
    f.fleet_at(&f.repo, &env, &["merge", "talker"])
        .code(1)
        .stderr_has("merge talker --resume-agent` hands the agent verify's output");
    assert_eq!(f.rev("HEAD"), before);

    f.fleet_at(&f.repo, &env, &["merge", "talker", "--resume-agent"])
        .code(1)
        .stderr_has("main.txt and agent.txt together")
        .stderr_has("handed back to talker: it runs again (attempt 2) with verify's output");
    assert_eq!(f.rev("HEAD"), before);
    nothing_half_merged(&f);
    f.wait_for("the continued run to finish", 20, |f| {
        f.agent("talker")["attempt"] == 2 && f.state("talker") == "done"
    });
    let calls = fs::read_to_string(f.root.join("calls")).unwrap();
    let runs: Vec<&str> = calls.split("---\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(runs.len(), 2, "{calls}");
    assert!(runs[1].contains("--resume\ns-t\n"), "{calls}");
    assert!(
        runs[1].contains("main.txt and agent.txt together")
            && runs[1].contains("Merge main into your branch"),
        "{calls}"
    );
}

#[test]
fn ctrl_c_during_verify_undoes_that_merge_and_exits_130() {
    let f = Fleet::new();
    let started = f.root.join("verify-started");
    // Quick in the agent's worktree (its .git is a file); long on main, where it is a
    // directory.
    f.manifest(&format!(
        r#"agents:
  - name: slow
    prompt: "x"
    command: "{}"
    verify: "if [ -d .git ]; then touch {}; sleep 30; fi"
"#,
        commits("slow.txt", "slow\\n"),
        common::sh_quote(started.display().to_string()),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let before = f.rev("HEAD");

    let merge = f.spawn_fleet(&["merge", "slow"]);
    f.wait_for("verify to start on main", common::DEADLINE, |_| {
        started.exists()
    });
    merge.signal_group("INT");
    let run = merge.wait();
    run.code(130)
        .stderr_has("interrupted while merging slow (undone)");
    assert_eq!(f.rev("HEAD"), before);
    nothing_half_merged(&f);
}

#[test]
fn all_skips_what_is_not_done_and_what_holds_skipped_work() {
    let f = Fleet::new();
    // `built` takes `broken`'s commit into its branch (as an agent started after it would),
    // and `broken` fails: merging `built` would bring broken's work in.
    f.manifest(&format!(
        r#"agents:
  - name: broken
    prompt: "x"
    command: "{}; exit 3"
  - name: built
    prompt: "x"
    command: "until git rev-parse -q --verify fleet/broken~0 >/dev/null && [ \"$(git rev-list --count HEAD..fleet/broken)\" = 1 ]; do sleep 0.1; done; git merge -q --ff-only fleet/broken; {}"
  - name: fine
    prompt: "x"
    command: "{}"
  - name: busy
    prompt: "x"
    command: "sleep 60"
"#,
        commits("broken.txt", "broken\\n"),
        commits("built.txt", "built\\n"),
        commits("fine.txt", "fine\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "broken", "built", "fine", "--timeout", "20"])
        .code(1);
    let run = f.fleet(&["merge", "--all"]);
    // two finished agents left out: exit 3, naming them last
    run.code(3)
        .stdout_has("skipped broken: it failed (exit 3)")
        .stdout_has("skipped built: its branch holds work of broken")
        .stdout_has("skipped busy: it is running, not done")
        .stdout_has("merged fine (fleet/fine, 1 commit) into main")
        .stdout_has("not merged: broken, built (finished, but skipped as said above); exit 3");
    assert_eq!(f.rev("HEAD"), f.rev("fleet/fine"));
    nothing_half_merged(&f);
    // named, the same refusals stop the train before it starts
    let before = f.rev("HEAD");
    f.fleet(&["merge", "built", "busy"])
        .code(1)
        .stderr_has("nothing was changed")
        .stderr_has("built: its branch holds work of broken")
        .stderr_has("busy: busy is still running");
    assert_eq!(f.rev("HEAD"), before);
}

#[test]
fn the_train_takes_agents_in_dependency_order() {
    let f = Fleet::new();
    // `second` is first in the file but builds on `first`.
    f.manifest(&format!(
        r#"agents:
  - name: second
    prompt: "x"
    after: [first]
    command: "{}"
  - name: first
    prompt: "x"
    command: "{}"
"#,
        commits("second.txt", "second\\n"),
        commits("first.txt", "first\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let run = f.fleet(&["merge", "second", "first"]);
    run.success();
    let at = |what: &str| {
        run.stdout
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in {}", run.stdout))
    };
    assert!(
        at("merged first (") < at("merged second ("),
        "{}",
        run.stdout
    );
    // both fast-forwards: second's branch holds first's commit, and only its own is new
    // when it is merged (counted then, not when the train was planned)
    for agent in ["first", "second"] {
        let line = format!("merged {agent} (fleet/{agent}, 1 commit) into main: fast-forward");
        assert!(run.stdout.contains(&line), "no {line:?} in {}", run.stdout);
    }
    assert_eq!(f.rev("HEAD"), f.rev("fleet/second"));
    assert_eq!(f.rev("HEAD~1"), f.rev("fleet/first"));
    nothing_half_merged(&f);
}
