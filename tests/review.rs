//! Watching, verifying, reviewing and merging (issue 5): verify, wait, logs, diff, merge,
//! notifications, colours, and a terminal left whole after Ctrl-C.

mod common;

use std::fs;

use common::{sh_quote, Fleet, DEADLINE, OUTER};

/// The repo's state a refused merge must leave exactly as it was.
fn snapshot(f: &Fleet) -> (String, String, String, String) {
    (
        f.git(&["rev-parse", "HEAD"]),
        f.git(&["status", "--porcelain", "--untracked-files=all"]),
        f.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        f.git(&["symbolic-ref", "-q", "HEAD"]),
    )
}

/// A commit on the agent's branch and nothing uncommitted: ready to merge.
const COMMITS: &str = "cat > out.txt; git add out.txt; git commit -qm 'agent work'; echo committed";

// ---------------------------------------------------------------------------------- verify

#[test]
fn verify_decides_between_done_and_failed() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"verify: "echo checking out.txt; test -f out.txt"
agents:
  - name: passes
    prompt: "hello"
    command: "{COMMITS}"
  - name: fails
    prompt: "hello"
    command: "echo wrote nothing"
  - name: own
    prompt: "hello"
    command: "echo wrote nothing either"
    verify: "echo own check; exit 0"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).code(1);

    let passes = f.agent("passes");
    assert_eq!(passes["state"], "done");
    assert_eq!(passes["reason"], serde_json::Value::Null);
    let fails = f.agent("fails");
    assert_eq!(fails["state"], "failed");
    assert_eq!(fails["reason"], "verify failed (exit 1)");
    assert_eq!(fails["exit_code"], 0, "the agent itself exited 0");
    assert_eq!(f.agent("own")["state"], "done", "the agent's verify wins");

    // verify's output is in the log, after the agent's
    let log = f.log("fails");
    let agent_at = log.find("wrote nothing").expect("agent output in log");
    let verify_at = log.find("checking out.txt").expect("verify output in log");
    assert!(agent_at < verify_at, "{log}");
    assert!(f.output("own").contains("own check"));

    // the table says why
    f.fleet(&["status"])
        .success()
        .stdout_has("failed (verify failed, exit 1)");
}

// ---------------------------------------------------------------------------------- status

/// What `git` itself says of a worktree, the way fleet counted before it batched its git calls:
/// `diff --shortstat -M --merge-base main` plus one changed file per untracked file.
fn truth(f: &Fleet, name: &str) -> (u64, u64, u64) {
    let wt = f.worktree(name);
    let stat = f.git_in(&wt, &["diff", "--shortstat", "-M", "--merge-base", "main"]);
    let untracked = f.git_in(&wt, &["ls-files", "--others", "--exclude-standard"]);
    let n = |word: &str| -> u64 {
        stat.split(',')
            .find(|p| p.contains(word))
            .and_then(|p| p.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (
        n("file") + untracked.lines().filter(|l| !l.is_empty()).count() as u64,
        n("insertion"),
        n("deletion"),
    )
}

fn counted(f: &Fleet, name: &str) -> (u64, u64, u64) {
    let a = f.agent(name);
    let n = |k: &str| a[k].as_u64().unwrap_or_else(|| panic!("{k} of {a}"));
    (n("files_changed"), n("insertions"), n("deletions"))
}

#[test]
fn status_counts_every_kind_of_change_as_git_does() {
    let f = Fleet::new();
    f.file("base.txt", "one\ntwo\nthree\n");
    f.git(&["add", "base.txt"]);
    f.git(&["commit", "-qm", "base"]);
    let commit = "git add -A; git commit -qm work";
    f.manifest(&format!(
        r#"agents:
  - name: idle
    prompt: "hi"
    command: "true"
  - name: committed
    prompt: "hi"
    command: "printf 'a\\nb\\n' > new.txt; {commit}"
  - name: mixed
    prompt: "hi"
    command: "printf 'a\\n' > new.txt; {commit}; echo four >> base.txt; touch loose"
  - name: untracked
    prompt: "hi"
    command: "mkdir -p d; touch u1 d/u2"
  - name: renamed
    prompt: "hi"
    command: "git mv base.txt moved.txt; git commit -qm move"
  - name: staged
    prompt: "hi"
    command: "sed -i 1d base.txt; git add base.txt"
  - name: detached
    prompt: "hi"
    command: "printf 'z\\n' > z.txt; {commit}; git checkout -q --detach HEAD~1"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let names = [
        "idle",
        "committed",
        "mixed",
        "untracked",
        "renamed",
        "staged",
        "detached",
    ];
    let check = |when: &str| {
        for name in names {
            assert_eq!(counted(&f, name), truth(&f, name), "{name} ({when})");
        }
    };
    check("base unmoved");
    // the cases really differ (each takes its own path through status)
    assert_eq!(counted(&f, "idle"), (0, 0, 0));
    assert_eq!(counted(&f, "committed"), (1, 2, 0));
    assert_eq!(counted(&f, "mixed"), (3, 2, 0));
    assert_eq!(counted(&f, "untracked"), (2, 0, 0));
    assert_eq!(counted(&f, "renamed"), (1, 0, 0));
    assert_eq!(counted(&f, "staged"), (1, 0, 1));
    assert_eq!(counted(&f, "detached"), (0, 0, 0));
    assert_eq!(f.agent("detached")["commits_ahead"], 1);

    // the base moves on: the merge-base is no longer the base's tip
    f.file("base.txt", "one\ntwo\nthree\nlater\n");
    f.git(&["commit", "-qam", "later"]);
    check("base moved");
    assert_eq!(counted(&f, "committed"), (1, 2, 0));

    // status does not write a worktree's index (it would take the lock an agent's own `git
    // commit` needs): a file touched, same content, would make a plain `git status` rewrite it
    let idle = f.worktree("idle");
    let index = std::path::PathBuf::from(f.git_in(&idle, &["rev-parse", "--absolute-git-dir"]))
        .join("index");
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(idle.join("base.txt"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let before = fs::read(&index).unwrap();
    assert_eq!(counted(&f, "idle"), (0, 0, 0));
    assert_eq!(
        fs::read(&index).unwrap(),
        before,
        "status rewrote the index"
    );
    f.git_in(&idle, &["status", "--porcelain"]);
    assert_ne!(
        fs::read(&index).unwrap(),
        before,
        "git status should refresh it"
    );
}

#[test]
fn status_still_counts_the_committed_work_of_a_removed_worktree() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: done
    prompt: "hi"
    command: "printf 'a\\nb\\n' > new.txt; git add -A; git commit -qm work"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(counted(&f, "done"), (1, 2, 0));

    f.fleet(&["down", "--rm-worktrees"]).success();
    assert!(
        !f.worktree("done").exists(),
        "the clean worktree is removed"
    );
    assert_eq!(
        counted(&f, "done"),
        (1, 2, 0),
        "the branch still has the work"
    );
    assert_eq!(f.agent("done")["commits_ahead"], 1);

    // the base moves on: the work is counted from the merge-base, not the base's tip
    f.file("later.txt", "x\ny\nz\n");
    f.git(&["add", "later.txt"]);
    f.git(&["commit", "-qm", "later"]);
    assert_eq!(counted(&f, "done"), (1, 2, 0), "base moved");
}

// ------------------------------------------------------------------------------------ wait

#[test]
fn wait_exits_0_when_done_1_when_failed_124_on_timeout() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: quick
    prompt: "hi"
    command: "sleep 1; echo hi"
  - name: broken
    prompt: "hi"
    command: "exit 3"
  - name: sleeper
    prompt: "hi"
    command: "sleep 60"
"#,
    );
    // before `up` nothing will ever finish: wait says so instead of blocking
    f.fleet(&["wait", "quick"])
        .code(1)
        .stdout_has("quick pending (never started");

    f.fleet(&["up"]).success();
    f.fleet(&["wait", "quick", "--timeout", "20"])
        .success()
        .stdout_has("quick done")
        .stdout_has("1 of 1 done");
    f.fleet(&["wait", "quick", "broken", "--timeout", "20"])
        .code(1)
        .stdout_has("broken failed (exit 3)")
        .stdout_has("1 of 2 done; not done: broken");
    f.fleet(&["wait", "--timeout", "1"])
        .code(124)
        .stderr_has("timed out after 1s; still running: sleeper");
    f.fleet(&["wait", "nobody"])
        .code(2)
        .stderr_has("unknown agent `nobody`");
}

// ------------------------------------------------------------------------------------ logs

#[test]
fn logs_prints_the_tail_and_follows_until_the_agent_exits() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: talker
    prompt: "hi"
    command: "echo line-one; sleep 1; echo line-two; sleep 1; echo line-three"
  - name: late
    prompt: "hi"
    command: "echo late-output"
"#,
    );
    // follows a log that does not exist yet, across the agent starting
    let late = f.spawn_fleet(&["logs", "late", "-f"]);

    f.fleet(&["up", "talker"]).success();
    let follow = f.fleet(&["logs", "talker", "-f"]);
    follow.success();
    for line in ["line-one", "line-two", "line-three", "[fleet] talker done"] {
        assert!(follow.stdout.contains(line), "{line}: {}", follow.stdout);
    }
    assert_eq!(f.state("talker"), "done");

    // -n: the last lines only
    let tail = f.fleet(&["logs", "talker", "-n", "2"]);
    tail.success();
    assert_eq!(tail.stdout.lines().count(), 2, "{}", tail.stdout);
    assert!(tail.stdout.contains("[fleet] talker done"));

    f.fleet(&["up", "late"]).success();
    let late = late.wait();
    late.success();
    assert!(late.stdout.contains("late-output"), "{}", late.stdout);
    assert!(late.stdout.contains("[fleet] late done"), "{}", late.stdout);

    f.fleet(&["logs", "ghost"])
        .code(2)
        .stderr_has("unknown agent `ghost`");
}

// ------------------------------------------------------------------------------------ diff

#[test]
fn diff_shows_commits_uncommitted_and_untracked_work() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: worker
    prompt: "committed text"
    command: "{COMMITS}; echo 'edited line' >> README.md; echo 'brand new' > untracked.txt"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();

    let diff = f.fleet(&["diff", "worker"]);
    diff.success();
    for needle in [
        "out.txt",
        "+committed text",
        "README.md",
        "+edited line",
        "untracked.txt",
        "+brand new",
    ] {
        assert!(diff.stdout.contains(needle), "{needle}:\n{}", diff.stdout);
    }
    let stat = f.fleet(&["diff", "worker", "--stat"]);
    stat.success().stdout_has("3 files changed");
    // the worktree's own index is untouched: the untracked file is still untracked
    let status = f.git_in(&f.worktree("worker"), &["status", "--porcelain"]);
    assert!(status.contains("?? untracked.txt"), "{status}");
    assert!(status.contains("M README.md"), "{status}");

    f.fleet(&["diff", "ghost"]).code(2);
}

// ----------------------------------------------------------------------------------- merge

#[test]
fn merge_brings_the_branch_into_base_and_squash_makes_one_commit() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: one
    prompt: "first"
    command: "{COMMITS}"
  - name: two
    prompt: "second"
    command: "cat > two.txt; git add two.txt; git commit -qm 'step 1'; echo more >> two.txt; git commit -qam 'step 2'"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();

    f.fleet(&["merge", "one"])
        .success()
        .stdout_has("merged one (fleet/one, 1 commit) into main");
    assert_eq!(
        fs::read_to_string(f.repo.join("out.txt")).unwrap().trim(),
        "first"
    );
    assert_eq!(
        f.git(&["rev-parse", "HEAD"]),
        f.git(&["rev-parse", "fleet/one"])
    );

    let before = f.git(&["rev-parse", "HEAD"]);
    f.fleet(&["merge", "two", "--squash"])
        .success()
        .stdout_has("squashed into one commit");
    assert_eq!(
        f.git(&["rev-list", "--count", &format!("{before}..HEAD")]),
        "1"
    );
    let message = f.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains("two: squashed 2 commits from fleet/two"),
        "{message}"
    );
    assert!(
        message.contains("* step 1") && message.contains("* step 2"),
        "{message}"
    );
    assert_eq!(
        fs::read_to_string(f.repo.join("two.txt")).unwrap().trim(),
        "second\nmore"
    );
    assert_eq!(
        f.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    // merging again finds nothing new
    f.fleet(&["merge", "one"])
        .success()
        .stdout_has("nothing to merge");
}

#[test]
fn merge_refuses_and_changes_nothing() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: busy
    prompt: "busy"
    command: "{COMMITS}; sleep 60"
  - name: messy
    prompt: "messy"
    command: "{COMMITS}; echo scratch > notes.txt"
  - name: clean
    prompt: "clean"
    command: "{COMMITS}"
  - name: unverified
    prompt: "unverified"
    command: "cat > other.txt; git add other.txt; git commit -qm 'other work'"
    verify: "echo tests fail; exit 1"
"#
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "messy", "clean", "unverified", "--timeout", "20"])
        .code(1);
    f.wait_for("busy to commit", DEADLINE, |f| {
        f.git(&["rev-list", "--count", "main..fleet/busy"]) == "1"
    });

    let refused = |name: &str, why: &str| {
        let before = snapshot(&f);
        let messy_before = f.git_in(&f.worktree("messy"), &["status", "--porcelain"]);
        f.fleet(&["merge", name])
            .code(1)
            .stderr_has("nothing was changed")
            .stderr_has(why);
        assert_eq!(snapshot(&f), before, "merge {name} changed the repo");
        assert_eq!(
            f.git_in(&f.worktree("messy"), &["status", "--porcelain"]),
            messy_before
        );
    };
    refused("busy", "busy is still running");
    refused("messy", "has uncommitted changes (?? notes.txt)");
    refused("unverified", "its verify failed (exit 1)");

    // the main checkout dirty
    f.file("README.md", "# edited by hand\n");
    refused("clean", "the main checkout");
    f.git(&["checkout", "--", "README.md"]);

    // the main checkout on another branch
    f.git(&["switch", "-q", "-c", "elsewhere"]);
    refused("clean", "is on elsewhere, not main");
    f.git(&["switch", "-q", "main"]);

    // all fine again: it merges; --no-verify overrides a failed verify
    f.fleet(&["merge", "clean"]).success();
    f.fleet(&["merge", "unverified", "--no-verify"]).success();
}

#[test]
fn merge_conflict_is_aborted_and_names_the_files() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: rival
    prompt: "x"
    command: "echo 'agent version' > README.md; git commit -qam 'agent edit'"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.file("README.md", "main version\n");
    f.git(&["commit", "-qam", "main edit"]);

    let before = snapshot(&f);
    f.fleet(&["merge", "rival"])
        .code(1)
        .stderr_has("conflicts in README.md")
        .stderr_has("the merge was aborted");
    assert_eq!(snapshot(&f), before);
    assert!(!f.repo.join(".git/MERGE_HEAD").exists());
    assert_eq!(
        fs::read_to_string(f.repo.join("README.md")).unwrap(),
        "main version\n"
    );
    // the squash path aborts as cleanly
    f.fleet(&["merge", "rival", "--squash"])
        .code(1)
        .stderr_has("conflicts in README.md");
    assert_eq!(snapshot(&f), before);
}

// --------------------------------------------------------------------------- notifications

/// A real client: a second tmux server whose pane attaches to `session` of the private one.
fn attach_client(f: &Fleet, session: &str) {
    f.outer_client(&format!("tmux attach -t ={session}"));
    f.wait_for("a client to attach", DEADLINE, |f| f.clients() == [session]);
}

#[test]
fn a_finished_agent_is_announced_on_the_monitor_clients_and_on_exit() {
    let f = Fleet::new();
    let seen = f.root.join("on_exit.txt");
    f.manifest(&format!(
        r#"on_exit: |
  echo "$FLEET_AGENT $FLEET_STATE $FLEET_EXIT_CODE" >> {}
agents:
  - name: winner
    prompt: "x"
    command: "sleep 1; echo ok"
  - name: loser
    prompt: "x"
    command: "sleep 3; exit 4"
"#,
        sh_quote(seen.to_string_lossy())
    ));
    f.user_shell("work");
    attach_client(&f, "work");
    f.fleet(&["up"]).success();

    // the attached client's status line shows the news
    let screen = |f: &Fleet| {
        f.tmux(&["-L", OUTER, "capture-pane", "-p", "-t", "=outer:"])
            .stdout
    };
    if !f.try_wait_for(DEADLINE, |f| {
        screen(f).contains("fleet: loser failed (exit 4)")
    }) {
        panic!("no message on the client; it shows:\n{}", screen(&f));
    }
    f.fleet(&["wait", "--timeout", "20"]).code(1);

    // on_exit ran once per agent with the state and exit code
    f.wait_for("on_exit to run twice", DEADLINE, |_| {
        fs::read_to_string(&seen).is_ok_and(|s| s.lines().count() == 2)
    });
    let mut lines: Vec<String> = fs::read_to_string(&seen)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, ["loser failed 4", "winner done 0"]);

    // the monitor's pane borders carry the states
    let border = |f: &Fleet, agent: &str| -> String {
        let panes = f.panes("repo-monitor", "#{pane_id}\t#{pane_title}");
        let id = panes
            .iter()
            .find_map(|l| l.strip_suffix(&format!("\t{agent}")))
            .unwrap_or_else(|| panic!("no monitor pane titled {agent}: {panes:?}"))
            .to_string();
        let format = f.tmux_ok(&[
            "show-options",
            "-wv",
            "-t",
            "=repo-monitor:",
            "pane-border-format",
        ]);
        f.tmux_ok(&["display-message", "-p", "-t", &id, format.trim_end()])
    };
    f.wait_for("the monitor borders to show the states", DEADLINE, |f| {
        border(f, "winner").contains("winner: done")
            && border(f, "loser").contains("loser: failed (exit 4)")
    });
    assert!(
        border(&f, "loser").contains("fg=red"),
        "{}",
        border(&f, "loser")
    );
}

// ------------------------------------------------------------------------------- terminal

/// Types a command line into a pane.
fn type_line(f: &Fleet, pane: &str, line: &str) {
    f.tmux_ok(&["send-keys", "-t", pane, "-l", line]);
    f.tmux_ok(&["send-keys", "-t", pane, "Enter"]);
}

/// After Ctrl-C the pane is a normal shell again: the cursor shows, no alternate screen, and
/// a command typed next prints at the start of a line.
#[track_caller]
fn assert_terminal_whole(f: &Fleet, pane: &str, marker: &str) {
    type_line(f, pane, &format!("echo {marker}-$((40+2))"));
    f.wait_for("the shell to answer after Ctrl-C", DEADLINE, |f| {
        f.screen(pane, false)
            .lines()
            .any(|l| l == format!("{marker}-42"))
    });
    let flags = f.tmux_ok(&[
        "display-message",
        "-p",
        "-t",
        pane,
        "#{cursor_flag} #{alternate_on}",
    ]);
    assert_eq!(
        flags.trim(),
        "1 0",
        "cursor hidden or alternate screen left on"
    );
}

#[test]
fn ctrl_c_leaves_the_terminal_whole_after_watch_and_wait() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: sleeper
    prompt: "x"
    command: "sleep 60"
"#,
    );
    f.fleet(&["up"]).success();
    let pane = f.user_shell("work");

    let rc = f.type_fleet(&pane, "status --watch", "watch.rc");
    f.wait_for("status --watch to draw", DEADLINE, |f| {
        f.screen(&pane, false).contains("Ctrl-C to quit")
    });
    f.tmux_ok(&["send-keys", "-t", &pane, "C-c"]);
    // 130, as README and `fleet man` (EXIT STATUS) say of Ctrl-C, and as `wait` gives.
    assert_eq!(f.typed_exit_code(&rc), "130");
    assert_terminal_whole(&f, &pane, "after-watch");

    f.tmux_ok(&["send-keys", "-t", &pane, "clear", "Enter"]);
    let rc = f.type_fleet(&pane, "wait", "wait.rc");
    f.wait_for("wait to show its bar", DEADLINE, |f| {
        f.screen(&pane, false).contains("running: sleeper")
    });
    f.tmux_ok(&["send-keys", "-t", &pane, "C-c"]);
    assert_eq!(f.typed_exit_code(&rc), "130");
    assert!(f
        .screen(&pane, false)
        .contains("interrupted; still running: sleeper"));
    assert_terminal_whole(&f, &pane, "after-wait");
}

#[test]
fn status_colours_states_on_a_terminal_unless_no_color() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: good
    prompt: "x"
    command: "true"
  - name: bad
    prompt: "x"
    command: "exit 2"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).code(1);
    let pane = f.user_shell("work");
    let fleet = format!(
        "{} -f {}",
        sh_quote(env!("CARGO_BIN_EXE_fleet")),
        sh_quote(f.manifest_path().to_string_lossy())
    );
    type_line(&f, &pane, &format!("clear; env -u NO_COLOR {fleet} status"));
    f.wait_for("a coloured table", DEADLINE, |f| {
        let s = f.screen(&pane, true);
        s.contains("\x1b[32mdone") && s.contains("\x1b[31mfailed (exit 2)")
    });
    type_line(
        &f,
        &pane,
        &format!("clear; NO_COLOR=1 {fleet} status; echo end-of-status"),
    );
    f.wait_for("a plain table", DEADLINE, |f| {
        f.screen(&pane, false).contains("end-of-status")
    });
    let plain = f.screen(&pane, true);
    assert!(plain.contains("failed (exit 2)"), "{plain}");
    assert!(
        !plain.contains("\x1b[31m"),
        "NO_COLOR must switch colours off: {plain:?}"
    );
    // not a terminal: no colours either
    let piped = f.fleet_at(&f.repo, &[("NO_COLOR", "")], &["status"]);
    assert!(!piped.stdout.contains('\x1b'), "{:?}", piped.stdout);
}

#[test]
fn every_line_fleet_writes_in_a_log_is_marked_so_the_rest_is_the_agents() {
    let f = Fleet::new();
    f.manifest(
        "setup: |\n  echo set\n  echo up\nagents:\n  - name: multi\n    prompt: x\n    verify: |\n      echo veri\n      echo fied\n    command: |\n      echo one\n      echo two\n",
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    // Several lines of a script each on a `[fleet]` line, aligned under the first.
    let log = f.log("multi");
    assert!(
        log.contains("[fleet] command: echo one\n[fleet]          echo two\n"),
        "{log}"
    );
    assert!(
        log.contains("[fleet] setup: echo set\n[fleet]        echo up\n"),
        "{log}"
    );
    // What is not fleet's is exactly what the scripts printed, in order.
    assert_eq!(
        f.output("multi"),
        "set\nup\none\ntwo\nveri\nfied\n",
        "{log}"
    );
}
