//! A house that is easy to live in (issue 16): the guards a first run meets, and the
//! manners of fleet's screens (status lines, the monitor's status pane, doctor, attach).

mod common;

use std::fs;

use common::{Fleet, DEADLINE};

// ------------------------------------------------------------------------ first-run guards

#[test]
fn validate_warns_about_a_task_still_holding_the_init_template() {
    let f = Fleet::new();
    f.fleet(&["init"]).success();
    let path = f.stub("claude", "#!/bin/sh\ncat >/dev/null\n");
    let env = [("PATH", path.as_str())];
    let run = f.fleet_at(&f.repo, &env, &["validate"]);
    run.success()
        .stderr_has("warning: ")
        .stderr_has("agents.yaml")
        .stderr_has("agent `example`")
        .stderr_has("tasks/example.md")
        .stderr_has("still holds the `fleet init` template")
        .stderr_has("`# Task: <one line>`")
        .stderr_has("empty `- ` bullets");

    // Once the task is written, no warning.
    f.file(
        "tasks/example.md",
        "# Task: add a --json flag to `report`\n\n## What to do\n- print the rows as JSON\n\n\
         ## Success criteria\n- The tests pass (`cargo test`).\n\n## Do NOT\n- Do not change src/db.\n",
    );
    let run = f.fleet_at(&f.repo, &env, &["validate"]);
    run.success();
    assert!(!run.stderr.contains("template"), "{run:?}");
}

#[test]
fn init_outside_a_git_repository_says_so_and_writes_nothing() {
    let f = Fleet::new();
    let dir = f.root.join("not-a-repo");
    fs::create_dir_all(&dir).unwrap();
    let run = f.fleet_at(&dir, &[], &["init"]);
    run.code(2)
        .stderr_has("not-a-repo")
        .stderr_has("is not inside a git repository")
        .stderr_has("git init")
        .stderr_has("nothing was written");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "init wrote files");
}

#[test]
fn an_unknown_agent_name_gets_a_did_you_mean() {
    let f = Fleet::new();
    f.manifest("command: \"sleep 30\"\nagents:\n  - name: agent1\n    prompt: one\n  - name: agent2\n    prompt: two\n");
    for args in [
        &["up", "agnet1"][..],
        &["attach", "agnet1"],
        &["status", "agnet1"],
    ] {
        let run = f.fleet(args);
        run.code(2)
            .stderr_has("unknown agent `agnet1`")
            .stderr_has("agents.yaml")
            .stderr_has("did you mean agent1?")
            .stderr_has("known agents: agent1, agent2");
    }
    // Two names equally close: both.
    f.fleet(&["logs", "agent3"])
        .code(2)
        .stderr_has("(did you mean agent1 or agent2?)");
    // Nothing close: no guess.
    let run = f.fleet(&["up", "zzzzzz"]);
    run.code(2).stderr_has("unknown agent `zzzzzz`");
    assert!(!run.stderr.contains("did you mean"), "{run:?}");
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
}

#[test]
fn validate_with_a_missing_program_does_not_say_nothing_was_started() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a1\n    prompt: x\n    command: no-such-agent-cli --go\n");
    let run = f.fleet(&["validate"]);
    run.code(2)
        .stderr_has("agents.yaml")
        .stderr_has("agent `a1`")
        .stderr_has("`no-such-agent-cli` not found on PATH")
        .stderr_has("change `command:`");
    assert!(!run.stderr.contains("nothing was started"), "{run:?}");
    // `up` starts nothing, and says so.
    f.fleet(&["up"]).code(2).stderr_has("nothing was started");
}

// ---------------------------------------------------------------------------- screen manners

#[test]
fn fleet_sessions_have_a_status_left_wide_enough_for_their_names() {
    let f = Fleet::new();
    let name = "a-rather-long-agent-name";
    f.manifest(&format!(
        "command: \"cat >/dev/null; sleep 300\"\nagents:\n  - name: {name}\n    prompt: x\n"
    ));
    f.fleet(&["up"]).success();
    for session in [format!("repo-{name}"), "repo-monitor".to_string()] {
        let width = f.tmux_ok(&[
            "show-options",
            "-v",
            "-t",
            &format!("={session}:"),
            "status-left-length",
        ]);
        let width: usize = width.trim().parse().expect("a number");
        assert!(
            width >= session.len() + 3,
            "status-left-length of {session} is {width}: `[{session}] ` does not fit"
        );
    }
}

/// The monitor's status pane (titled `status`).
fn status_pane(f: &Fleet) -> String {
    let panes = f.panes("repo-monitor", "#{pane_id}\t#{pane_title}");
    panes
        .iter()
        .find_map(|l| l.strip_suffix("\tstatus"))
        .unwrap_or_else(|| panic!("no status pane in the monitor: {panes:?}"))
        .to_string()
}

#[test]
fn the_monitor_status_pane_shows_the_agents_last_words_and_no_monitor_line() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: loser\n    prompt: x\n    command: \"cat >/dev/null; echo my-own-last-words; exit 4\"\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("loser", "failed");
    let pane = status_pane(&f);
    let row = |f: &Fleet| {
        f.screen(&pane, false)
            .lines()
            .find(|l| l.starts_with("loser "))
            .unwrap_or_default()
            .to_string()
    };
    if !f.try_wait_for(DEADLINE, |f| {
        let row = row(f);
        row.contains("failed (exit 4)") && row.contains("my-own-last-words")
    }) {
        panic!(
            "the status pane should show loser's last own line; it shows:\n{}",
            f.screen(&pane, false)
        );
    }
    let screen = f.screen(&pane, false);
    assert!(!screen.contains("[fleet] loser failed"), "{screen}");
    assert!(!screen.contains("monitor:"), "{screen}");
    assert!(!screen.contains("attach)"), "{screen}");
    // `fleet status` outside the monitor still names it.
    f.fleet(&["status"])
        .success()
        .stdout_has("monitor: repo-monitor (fleet attach)");
}

#[test]
fn doctor_after_down_rm_worktrees_reports_the_kept_branches_as_information() {
    let f = Fleet::new();
    f.manifest(
        "command: \"cat >/dev/null; echo hi > out.txt; git add -A; git commit -qm work\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n",
    );
    f.fleet(&["up"]).success();
    f.wait_state("a1", "done");
    f.wait_state("a2", "done");
    f.fleet(&["down", "--rm-worktrees"]).success();
    let run = f.fleet(&["doctor"]);
    run.success()
        .stdout_has("info     branch fleet/a1 is kept without its worktree")
        .stdout_has("info     branch fleet/a2 is kept without its worktree")
        .stdout_has("fleet up --rerun a1")
        .stdout_has("no problems found");
    assert!(!run.stdout.contains("problem "), "{}", run.stdout);
    assert!(
        !run.stdout.contains("every fleet branch has its worktree"),
        "{}",
        run.stdout
    );
}

#[test]
fn attach_in_a_pane_without_a_client_attaches_instead_of_failing() {
    let f = Fleet::new();
    f.manifest("command: \"cat >/dev/null; sleep 300\"\nagents:\n  - name: a1\n    prompt: x\n");
    f.fleet(&["up"]).success();
    // The user's session, which no client shows: a script typed into it, as the demo does.
    let work_pane = f.user_shell("work");
    assert!(f.clients().is_empty(), "{:?}", f.clients());
    let rc = f.type_fleet(&work_pane, "attach a1", "attach.rc");
    if !f.try_wait_for(DEADLINE, |f| f.clients() == ["repo-a1"]) {
        panic!(
            "no client attached to repo-a1; the pane shows:\n{}",
            f.screen(&work_pane, false)
        );
    }
    // Detached again, the typed fleet attach ends well.
    f.tmux_ok(&["detach-client", "-s", "=repo-a1"]);
    assert_eq!(f.typed_exit_code(&rc), "0");
}

#[test]
fn a_multi_line_command_or_prompt_is_shown_as_its_first_line_and_an_ellipsis() {
    let f = Fleet::new();
    f.manifest(concat!(
        "agents:\n",
        "  - name: script\n    prompt: |\n      line one\n      line two\n",
        "    command: |\n      if true; then echo one; fi\n      echo two\n",
        "  - name: missing\n    prompt: x\n    command: |\n      no-such-program-here --x\n      echo two\n",
    ));
    let doctor = f.fleet(&["doctor"]);
    doctor
        .stdout_has("agent script: `if true; then echo one; fi …` (a shell command, not checked)")
        .stdout_has("(command: `no-such-program-here --x …`)");
    let validate = f.fleet(&["validate"]);
    validate
        .stdout_has("  prompt:   line one …\n")
        .stderr_has("(command: `no-such-program-here --x …`)");
    for run in [&doctor, &validate] {
        assert!(!run.output().contains("\necho two"), "{}", run.output());
    }
}

#[test]
fn status_watch_in_a_short_pane_keeps_its_header_and_counts_what_does_not_fit() {
    let f = Fleet::new();
    let mut yaml = String::from("command: \"sleep 300\"\nagents:\n");
    for i in 1..=11 {
        yaml.push_str(&format!("  - name: a{i}\n    prompt: x\n"));
    }
    f.manifest(&yaml);
    f.fleet(&["up"]).success();
    let watch = format!(
        "cd {} && exec {} status --watch",
        common::sh_quote(f.manifest_path().parent().unwrap().display().to_string()),
        common::sh_quote(env!("CARGO_BIN_EXE_fleet"))
    );
    f.tmux_ok(&[
        "new-session",
        "-d",
        "-s",
        "short",
        "-x",
        "80",
        "-y",
        "8",
        "sh",
        "-c",
        &watch,
    ]);
    let mut screen = String::new();
    f.wait_for("a full frame", DEADLINE, |f| {
        screen = f.screen("=short:", false);
        screen.contains("Ctrl-C to quit")
    });
    assert!(screen.starts_with("AGENT "), "{screen}");
    assert!(
        screen.contains("more (a taller window shows them)"),
        "{screen}"
    );
    assert!(screen.contains("Ctrl-C to quit"), "{screen}");
}
