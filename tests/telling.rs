//! fleet says what the user would want to know, and only what is true: `up` names work in
//! the main checkout the agents will not see, `conflicts` lists the pairs that conflict
//! (every pair with `--all`) with a next step, and `up`'s closing lines match its rows.
mod common;

use common::{commits, Fleet};

#[test]
fn up_says_the_agents_will_not_see_work_not_committed_in_the_main_checkout() {
    let f = Fleet::new();
    f.file("tasks/a.md", "do a\n");
    f.manifest(
        "command: \"true\"\nagents:\n  - name: a\n    task: tasks/a.md\n  - name: b\n    prompt: x\n",
    );
    // Before the first commit of a new fleet its manifest and task files are untracked,
    // and the ignored notes.local is the user's own: nothing to say.
    let run = f.fleet(&["up", "a"]);
    run.success();
    assert!(!run.output().contains("not committed"), "{}", run.output());
    // A changed tracked file and a new one the agents will not see.
    f.file("README.md", "# edited, not committed\n");
    f.file("NOTE.txt", "new\n");
    f.fleet(&["up", "b"]).success().stdout_has(
        "note: the main checkout has 2 files not committed (git status); the agents start from the last commit of main and will not see them",
    );
}

#[test]
fn conflicts_lists_the_conflicting_pairs_a_summary_of_the_rest_and_a_next_step() {
    let f = Fleet::new();
    f.up_four_agents();
    let run = f.fleet(&["conflicts"]);
    run.code(1);
    let rows: Vec<String> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .take(2)
        .collect();
    assert_eq!(
        rows,
        ["PAIR RESULT FILES", "left, right conflict README.md"],
        "{}",
        run.output()
    );
    run.stdout_has("1 of 10 merges conflicts; the other 9 are clean (--all lists every pair)")
        .stdout_has("next: `fleet merge left` first; right then conflicts with main: resolve it by hand (git -C ");
    // --all: every pair, the clean ones too; --json unchanged (every pair).
    let all = f.fleet(&["conflicts", "--all"]);
    all.code(1).stdout_has("1 of 10 merges conflicts; 9 clean");
    let rows = all
        .stdout
        .lines()
        .filter(|l| !l.contains(" merges ") && (l.ends_with(" clean") || l.contains(" conflict ")));
    assert_eq!(rows.count(), 10, "{}", all.output());
    let json = f.fleet(&["conflicts", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["merges"].as_array().unwrap().len(), 10);
}

#[test]
fn up_after_everything_finished_says_no_agent_started_and_hints_no_finished_agent() {
    let f = Fleet::new();
    f.manifest(&format!(
        "agents:\n  - name: first\n    prompt: x\n    command: \"{}\"\n  - name: second\n    prompt: x\n    after: [first]\n    command: \"{}\"\n",
        commits("one.txt", "one\\n"),
        commits("two.txt", "two\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    f.fleet(&["down", "--rm-worktrees"]).success();
    let run = f.fleet(&["up"]);
    run.success();
    let out = run.output();
    assert!(!out.contains("started 0 agents"), "{out}");
    assert!(!out.contains("attach:  fleet attach"), "{out}");
    assert!(!out.contains("worktree made once"), "{out}");
    // Nothing runs: no monitor with nothing to watch (one is built when asked to attach).
    run.stdout_has("nothing to do: 2 agents");
    assert!(!out.contains("the monitor"), "{out}");
    let project = f.status_json()["project"].as_str().unwrap().to_string();
    assert!(
        !f.sessions().contains(&format!("{project}-monitor")),
        "{:?}",
        f.sessions()
    );
}

#[test]
fn a_top_level_key_lost_to_own_commands_is_one_warning_naming_the_agents() {
    let f = Fleet::new();
    f.manifest(
        "verify_retries: 2\ncommand: \"true\"\nagents:\n  - name: a\n    prompt: x\n  - name: b\n    prompt: x\n  - name: c\n    prompt: x\n    verify_retries: 1\n",
    );
    let run = f.fleet(&["validate"]);
    run.success();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("will not work"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.output());
    run.stderr_has("the top-level verify_retries (fleet cannot resume its conversation) will not work for agents a, b, which run their own `command:`")
        .stderr_has("(c)");
}

#[test]
fn down_of_a_running_agent_ends_its_log_with_fleets_line() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: sleeper\n    prompt: x\n    command: \"echo working; sleep 60\"\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("sleeper", "running");
    f.wait_for("its output", 20, |f| f.log("sleeper").contains("working"));
    f.fleet(&["down", "sleeper"]).success();
    let log = f.log("sleeper");
    let last = log.lines().last().unwrap_or("");
    assert!(
        last.starts_with("[fleet] sleeper stopped by fleet down at "),
        "{log}"
    );
}

#[test]
fn a_status_row_never_contradicts_its_state() {
    let f = Fleet::new();
    f.manifest(concat!(
        "agents:\n",
        // Its own output looks like the runner's closing line, as the log does in the
        // moment between that line and the record: the row must not say `running` beside it.
        "  - name: torn\n    prompt: x\n    command: \"echo working; echo '[fleet] torn failed: verify failed (exit 1) after 0s at now'; sleep 60\"\n",
        // An interactive agent's pane is held open after it ends, with a note in its log.
        "  - name: asker\n    prompt: x\n    interactive: true\n    command: \"echo hello there\"\n",
        // Killed by hand after 3 s of work: lost, and it ran, so its runtime is not 0.
        "  - name: victim\n    prompt: x\n    command: \"echo one; sleep 3; echo two; sleep 300\"\n",
    ));
    f.fleet(&["up"]).success();
    f.wait_state("asker", "done");
    // (the log's `[fleet] command:` line holds every word of the command: read the last)
    f.wait_for("victim's second line", 30, |f| {
        f.agent("victim")["last_line"] == "two"
    });
    f.wait_for("torn's line", 30, |f| f.log("torn").ends_with("at now\n"));
    let project = f.status_json()["project"].as_str().unwrap().to_string();
    f.tmux_ok(&["kill-session", "-t", &format!("={project}-victim")]);
    f.wait_state("victim", "lost");
    let torn = f.agent("torn");
    assert_eq!(torn["state"], "running", "{torn}");
    assert_eq!(torn["last_line"], "working", "{torn}");
    let asker = f.agent("asker");
    assert!(
        asker["last_line"]
            .as_str()
            .unwrap()
            .starts_with("[fleet] asker done (exit 0)"),
        "{asker}"
    );
    let victim = f.agent("victim");
    assert!(victim["runtime_secs"].as_u64().unwrap() >= 2, "{victim}");
}

#[test]
fn a_queued_agents_monitor_pane_shows_its_log_and_no_complaint_of_tail() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: first\n    prompt: x\n    command: \"sleep 2\"\n  - name: second\n    prompt: x\n    after: [first]\n    command: \"echo from-second\"\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("second", "done");
    let project = f.status_json()["project"].as_str().unwrap().to_string();
    let pane = f
        .panes(&format!("{project}-monitor"), "#{pane_id}\t#{@fleet_agent}")
        .into_iter()
        .find_map(|l| l.strip_suffix("\tsecond").map(String::from))
        .expect("second's pane");
    let mut screen = String::new();
    f.wait_for("second's pane shows its end", 20, |f| {
        screen = f.tmux_ok(&["capture-pane", "-p", "-J", "-t", &pane]);
        screen.contains("second done")
    });
    assert!(!screen.contains("tail:"), "{screen}");
}

#[test]
fn up_lists_a_blocked_agent_as_blocked_not_as_waiting() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: first\n    prompt: x\n    command: \"exit 3\"\n  - name: second\n    prompt: x\n    after: [first]\n    command: \"true\"\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("second", "blocked");
    let run = f.fleet(&["up"]);
    run.success()
        .stdout_has("(no worktree: blocked)")
        .stdout_has("second is blocked: first failed");
    assert!(
        !run.output().contains("worktree made once"),
        "{}",
        run.output()
    );
    assert!(!run.output().contains("waiting for"), "{}", run.output());
}
