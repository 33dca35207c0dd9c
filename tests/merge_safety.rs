//! Merging never costs the user anything they had: a merge (any strategy, alone or in a
//! train) never overwrites a file of the user's that git does not track, ignored ones
//! included; a squash (or a rebased copy) is remembered as a merge, so status and a later
//! merge know it; an agent with nothing to merge lets the train go on; `merge --all` says
//! whom it left out, and exits 3 when that was a finished agent.

mod common;

use std::fs;

use common::Fleet;

/// An agent's command that commits `file` holding `text` (forced: it may be ignored here).
fn commits(file: &str, text: &str) -> String {
    format!("mkdir -p \\\"$(dirname {file})\\\"; printf '{text}' > {file}; git add -f {file}; git commit -qm 'write {file}'")
}

fn read(f: &Fleet, path: &str) -> String {
    fs::read_to_string(f.repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Ignore `.env` in the main checkout (committed), as projects do.
fn ignore_env(f: &Fleet) {
    f.file(".gitignore", "*.local\n.env\nsecrets/\n");
    f.git(&["commit", "-qam", "ignore .env and secrets/"]);
}

#[test]
fn no_strategy_overwrites_an_ignored_file_of_the_user() {
    let f = Fleet::new();
    ignore_env(&f);
    f.manifest(&format!(
        r#"agents:
  - name: leak
    prompt: "x"
    command: "{}"
"#,
        commits(".env", "AGENT=1\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.file(".env", "SECRET=the user's own\n");
    let before = f.rev("HEAD");
    let mut overwritten = Vec::new();
    for strategy in [
        &[][..],
        &["--ff"],
        &["--no-ff"],
        &["--ff-only"],
        &["--squash"],
        &["--rebase"],
        &["--squash", "--force"],
        &["--force", "--no-verify"],
    ] {
        let mut args = vec!["merge", "leak"];
        args.extend(strategy);
        let run = f.fleet(&args);
        let refused = run.code == 1
            && run.stderr.contains("nothing was changed")
            && run.stderr.contains(".env (ignored)")
            && run.stderr.contains("move it out of the way");
        if !refused || read(&f, ".env") != "SECRET=the user's own\n" || f.rev("HEAD") != before {
            overwritten.push(format!("{strategy:?}: {}", run.output()));
            // as it was, for the next strategy
            f.git(&["reset", "-q", "--hard", &before]);
            f.file(".env", "SECRET=the user's own\n");
        }
    }
    assert!(overwritten.is_empty(), "{overwritten:#?}");
    // with --all it is skipped, named, and the exit says a finished agent was left out
    let run = f.fleet(&["merge", "--all"]);
    run.code(3)
        .stdout_has("skipped leak: merging it would overwrite a file of yours")
        .stdout_has("not merged: leak");
    assert_eq!(read(&f, ".env"), "SECRET=the user's own\n");
    // once the user moved it, the merge goes through
    fs::rename(f.repo.join(".env"), f.root.join("env.saved")).unwrap();
    f.fleet(&["merge", "leak"])
        .success()
        .stdout_has("merged leak");
    assert_eq!(read(&f, ".env"), "AGENT=1\n");
}

#[test]
fn renames_directories_and_ignored_directories_are_seen_too() {
    let f = Fleet::new();
    ignore_env(&f);
    f.manifest(&format!(
        r#"agents:
  - name: inside
    prompt: "x"
    command: "{}"
  - name: renamed
    prompt: "x"
    command: "git mv README.md notes.local && git commit -qm 'README becomes notes.local'"
  - name: dirfile
    prompt: "x"
    command: "{}"
  - name: under
    prompt: "x"
    command: "{}"
"#,
        commits("secrets/key", "agent key\\n"),
        commits("cache", "a file where the user has a directory\\n"),
        commits("build.local/out.txt", "a file under a file\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    // the user's own: a file in an ignored directory, the harness's ignored notes.local, an
    // ignored file in a directory an agent makes a file, an ignored file where an agent
    // needs a directory
    f.file("secrets/key", "the user's key\n");
    f.file("cache/blob.local", "the user's cache\n");
    f.file("build.local", "the user's build notes\n");
    let before = f.rev("HEAD");
    let files = f.files();
    let run = f.fleet(&["merge", "--all"]);
    run.code(3)
        .stdout_has("skipped inside: merging it would overwrite a file of yours")
        .stdout_has("secrets/key (ignored)")
        .stdout_has("skipped renamed: merging it would overwrite")
        .stdout_has("notes.local (ignored)")
        .stdout_has("skipped dirfile: merging it would overwrite")
        .stdout_has("cache/blob.local (ignored)")
        .stdout_has("skipped under: merging it would overwrite")
        .stdout_has("build.local (ignored)")
        .stdout_has("nothing was merged");
    assert_eq!(f.rev("HEAD"), before);
    assert_eq!(f.files(), files, "the user's files changed");
    assert_eq!(read(&f, "notes.local"), "the user's own ignored notes\n");
}

#[test]
fn a_train_refuses_before_its_first_merge_for_an_untracked_file_of_a_later_agent() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: first
    prompt: "x"
    command: "{}"
  - name: second
    prompt: "x"
    command: "{}"
"#,
        commits("first.txt", "first\\n"),
        commits("draft.txt", "the agent draft\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.file("draft.txt", "the user's draft, not yet added\n");
    let before = f.rev("HEAD");
    for strategy in ["--ff", "--no-ff", "--squash", "--rebase"] {
        f.fleet(&["merge", "first", "second", strategy])
            .code(1)
            .stderr_has("nothing was changed")
            .stderr_has("second: merging it would overwrite a file of yours")
            .stderr_has("draft.txt (untracked)");
        assert_eq!(f.rev("HEAD"), before, "{strategy}");
        assert_eq!(read(&f, "draft.txt"), "the user's draft, not yet added\n");
    }
}

#[test]
fn a_squash_is_a_merge_and_later_commits_are_merged_without_the_dropped_history() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: w1
    prompt: "x"
    command: "echo 1 > w.txt; git add w.txt; git commit -qm 'w 1'; echo 2 >> w.txt; git commit -qam 'w 2'"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.fleet(&["merge", "w1", "--squash"])
        .success()
        .stdout_has("squashed into one commit");
    let squash = f.rev("HEAD");
    let a = f.agent("w1");
    assert_eq!(a["commits_ahead"], 0, "{a}");
    assert_eq!(a["files_changed"], 0, "{a}");

    // again, in any strategy: merged already, nothing changes
    for strategy in ["--ff", "--no-ff", "--squash", "--rebase"] {
        f.fleet(&["merge", "w1", strategy])
            .success()
            .stdout_has(&format!(
                "w1 (fleet/w1) is merged already (squashed as {})",
                &squash[..12]
            ));
        assert_eq!(f.rev("HEAD"), squash, "{strategy}");
    }
    f.fleet(&["merge", "--all"])
        .success()
        .stdout_has("is merged already (squashed as");

    // the agent goes on: only its new commit is new, merged without the squashed history
    let wt = f.worktree("w1");
    fs::write(wt.join("more.txt"), "more\n").unwrap();
    f.git_in(&wt, &["add", "more.txt"]);
    f.git_in(&wt, &["commit", "-qm", "w 3"]);
    assert_eq!(f.agent("w1")["commits_ahead"], 1);
    f.fleet(&["merge", "w1"])
        .success()
        .stdout_has("merged w1 (fleet/w1, 1 commit (the commit since it was squashed as");
    assert_eq!(read(&f, "more.txt"), "more\n");
    assert_eq!(read(&f, "w.txt"), "1\n2\n");
    for old in ["fleet/w1~1", "fleet/w1~2"] {
        let run = f.try_git_in(&f.repo, &["merge-base", "--is-ancestor", old, "HEAD"]);
        assert_ne!(run.code, 0, "{old} came back into main's history");
    }
    assert_eq!(f.rev("HEAD~1"), squash);
    assert_eq!(f.agent("w1")["commits_ahead"], 0);
    f.fleet(&["merge", "w1"])
        .success()
        .stdout_has("is merged already (rebased as");

    // a squash taken back (main reset before it) is no longer a merge
    f.git(&["reset", "-q", "--hard", &format!("{squash}~1")]);
    assert_eq!(f.agent("w1")["commits_ahead"], 3);
}

#[test]
fn commits_that_cancel_out_are_nothing_to_merge_and_the_train_goes_on() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: undo
    prompt: "x"
    command: "echo x > x.txt; git add x.txt; git commit -qm add; git rm -q x.txt; git commit -qm remove"
  - name: fine
    prompt: "x"
    command: "{}"
"#,
        commits("fine.txt", "fine\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let before = f.rev("HEAD");
    f.fleet(&["merge", "undo", "--squash"])
        .success()
        .stdout_has("undo (fleet/undo) has commits that change no file of main (they cancel out): nothing to merge");
    assert_eq!(f.rev("HEAD"), before);
    let run = f.fleet(&["merge", "--all", "--squash"]);
    run.success()
        .stdout_has("merged fine (fleet/fine, 1 commit)");
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
}

#[test]
fn merge_all_folds_nothing_to_merge_and_ends_naming_what_it_skipped() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: a1
    prompt: "x"
    command: "{}"
  - name: a2
    prompt: "x"
    command: "{}"
  - name: a3
    prompt: "x"
    command: "{}"
  - name: a5
    prompt: "x"
    command: "{}"
  - name: busy
    prompt: "x"
    command: "sleep 60"
"#,
        commits("a1.txt", "1\\n"),
        commits("a2.txt", "2\\n"),
        commits("a3.txt", "3\\n"),
        commits("a5.txt", "5\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "a1", "a2", "a3", "a5", "--timeout", "20"])
        .success();
    // only the running agent skipped: that is no failure
    f.fleet(&["merge", "a1", "a2", "a3"]).success();
    fs::write(f.worktree("a5").join("stray.txt"), "stray\n").unwrap();
    let run = f.fleet(&["merge", "--all"]);
    run.code(3)
        .stdout_has("nothing to merge for 3 agents: a1, a2, a3 (in main already)")
        .stdout_has("skipped a5: its worktree")
        .stdout_has("(?? stray.txt)")
        .stdout_has("skipped busy: it is running, not done")
        .stdout_has("not merged: a5 (finished, but skipped as said above); exit 3");
    assert_eq!(
        run.stdout.matches("nothing to merge").count(),
        1,
        "{}",
        run.stdout
    );
    // the summary comes last
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("not merged: a5"), "{}", run.stdout);
    fs::remove_file(f.worktree("a5").join("stray.txt")).unwrap();
    f.fleet(&["merge", "--all"])
        .success()
        .stdout_has("merged a5")
        .stdout_has("skipped busy: it is running, not done");
}

#[test]
fn a_stop_offers_resume_agent_only_to_an_agent_that_can_be_resumed() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: left
    prompt: "x"
    command: "{}"
  - name: right
    prompt: "x"
    command: |
      printf '# right\n' > README.md
      git commit -qam "right's README"
"#,
        commits("README.md", "# left\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let run = f.fleet(&["merge", "left", "right"]);
    run.code(1)
        .stderr_has("the merge train stopped at right")
        .stderr_has("merge main`) and merge it again");
    assert!(!run.stderr.contains("--resume-agent"), "{}", run.stderr);
    let run = f.fleet(&["merge", "right", "--resume-agent"]);
    run.code(1).stderr_has("could not hand it back to right");
    let said = run
        .stderr
        .lines()
        .find(|l| l.contains("could not hand it back"))
        .unwrap();
    assert!(
        said.contains("its command `printf '# right\\n' > README.md …` is not one"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rebased_copy_is_remembered_too_and_a_later_conflict_says_how_to_bring_the_rest() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: r
    prompt: "x"
    command: "{}"
"#,
        commits("r.txt", "r\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    // main moves on, so the rebase makes a copy
    f.file("main.txt", "main\n");
    f.git(&["add", "main.txt"]);
    f.git(&["commit", "-qm", "main moves on"]);
    f.fleet(&["merge", "r", "--rebase"])
        .success()
        .stdout_has("rebased onto it");
    let copy = f.rev("HEAD");
    assert_ne!(copy, f.rev("fleet/r"));
    let a = f.agent("r");
    assert_eq!(a["commits_ahead"], 0, "{a}");
    assert_eq!(a["merged_as"]["how"], "rebased", "{a}");
    assert_eq!(a["merged_as"]["commit"], copy.as_str(), "{a}");
    assert_eq!(
        a["label"],
        format!("done (rebased as {})", &copy[..12]),
        "{a}"
    );
    f.fleet(&["merge", "r", "--no-ff"])
        .success()
        .stdout_has("is merged already (rebased as");
    assert_eq!(f.rev("HEAD"), copy);

    // main and the agent then both change r.txt: the hint never says to merge the branch
    f.file("r.txt", "main's r\n");
    f.git(&["commit", "-qam", "main edits r.txt"]);
    let wt = f.worktree("r");
    fs::write(wt.join("r.txt"), "the agent's r\n").unwrap();
    f.git_in(&wt, &["commit", "-qam", "agent edits r.txt"]);
    let before = f.rev("HEAD");
    let run = f.fleet(&["merge", "r"]);
    run.code(1)
        .stderr_has("conflicts in r.txt")
        .stderr_has("cherry-pick")
        .stderr_has("would bring back the history");
    assert!(!run.stderr.contains("merge fleet/r`"), "{}", run.stderr);
    assert_eq!(f.rev("HEAD"), before);
}
