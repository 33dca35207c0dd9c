//! End-to-end tests of `fleet` with real git and a private tmux server (issue 4, acceptance 2–6).
//!
//! Fake agents are small shell commands. Every test builds its own temp repo and tmux server
//! (see `common`), so they run in parallel and clean up after themselves.

mod common;
mod scale;

use std::fs;

use common::{canon, contains_ci, sorted, Fleet, DEADLINE, OUTER};

const TASK1: &str = "Write the greeting.\n";

/// The three agents of the acceptance list: one commits its task text, one fails, one sleeps.
const THREE_AGENTS: &str = r#"# three fake agents
agents:
  - name: agent1
    task: tasks/agent1.md
    command: "cat > out.txt; git add -A; git commit -qm work; echo agent1 committed"
  - name: agent2
    prompt: "Fail on purpose."
    command: "echo failing; exit 3"
  - name: agent3
    task: tasks/agent3.md
    command: "echo sleeping; sleep 30"
"#;

fn three_agents() -> Fleet {
    let f = Fleet::new();
    f.manifest(THREE_AGENTS)
        .file("tasks/agent1.md", TASK1)
        .file("tasks/agent3.md", "Sleep a while.\n");
    f
}

/// `fleet up` on the three agents, then wait until agent1 is done and agent2 failed.
fn three_agents_up_and_settled() -> Fleet {
    let f = three_agents();
    f.fleet(&["up"]).success();
    f.wait_state("agent1", "done");
    f.wait_state("agent2", "failed");
    assert_eq!(f.state("agent3"), "running", "{}", f.diagnostics());
    f
}

const ALL: [&str; 3] = ["agent1", "agent2", "agent3"];

fn all_sessions() -> Vec<String> {
    sorted(["repo-agent1", "repo-agent2", "repo-agent3", "repo-monitor"])
}

/// Nothing of fleet's exists: no tmux server/session, no worktree dir, no `fleet/` branch, no `.fleet/`.
#[track_caller]
fn assert_nothing_created(f: &Fleet, context: &str) {
    assert_eq!(
        f.sessions(),
        Vec::<String>::new(),
        "{context}: no tmux session expected"
    );
    assert!(
        !f.worktree_dir().exists(),
        "{context}: no worktree dir expected"
    );
    assert_eq!(
        f.fleet_branches(),
        Vec::<String>::new(),
        "{context}: no fleet/ branch expected"
    );
    assert!(
        !f.repo.join(".fleet").exists(),
        "{context}: no .fleet/ expected"
    );
}

// ------------------------------------------------------------------------------------ up

#[test]
fn up_creates_worktrees_sessions_monitor_and_logs() {
    let f = three_agents();
    let up = f.fleet(&["up"]);
    up.success();
    // the summary: a line per agent and how to attach
    for name in ALL {
        up.stdout_has(&format!("fleet/{name}"));
        up.stdout_has(&format!("repo-{name}"));
    }
    up.stdout_has("fleet attach");

    // three worktrees on fleet/<name>, branched from main
    let main = f.git(&["rev-parse", "main"]);
    for name in ALL {
        let wt = f.worktree(name);
        assert!(wt.is_dir(), "worktree {} missing", wt.display());
        assert_eq!(
            f.git_in(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]),
            format!("fleet/{name}")
        );
        assert_eq!(
            f.git(&["merge-base", "main", &format!("fleet/{name}")]),
            main
        );
    }
    assert_eq!(
        f.fleet_branches(),
        ["fleet/agent1", "fleet/agent2", "fleet/agent3"]
    );

    // three agent sessions and the monitor, tagged with the manifest
    assert_eq!(f.sessions(), all_sessions());
    let manifest = f.manifest_path().to_string_lossy().to_string();
    for session in all_sessions() {
        let tag = f.tmux_ok(&[
            "show-options",
            "-t",
            &format!("={session}:"),
            "-qv",
            "@fleet",
        ]);
        assert_eq!(tag.trim(), manifest, "@fleet tag of {session}");
    }

    // the monitor: a titled pane per agent plus a status pane
    let titles = f.panes("repo-monitor", "#{pane_title}");
    for title in ["agent1", "agent2", "agent3", "status"] {
        assert!(
            titles.iter().any(|t| t == title),
            "monitor should have a pane titled {title:?}, has {titles:?}"
        );
    }

    // agents finish (or keep running) and status says so
    f.wait_state("agent1", "done");
    f.wait_state("agent2", "failed");
    let status = f.status_json();
    assert_eq!(status["project"], "repo");
    assert_eq!(status["manifest"], manifest.as_str());
    assert_eq!(status["monitor"]["session"], "repo-monitor");
    assert_eq!(status["monitor"]["running"], true);
    assert_eq!(status["agents"].as_array().unwrap().len(), 3);
    for a in status["agents"].as_array().unwrap() {
        for key in [
            "name",
            "state",
            "exit_code",
            "session",
            "branch",
            "worktree",
            "log",
            "started_at",
            "finished_at",
            "commits_ahead",
            "files_changed",
            "insertions",
            "deletions",
            "last_line",
        ] {
            assert!(a.get(key).is_some(), "agent object lacks {key:?}: {a}");
        }
    }

    let a1 = f.agent("agent1");
    assert_eq!(a1["state"], "done", "{a1}");
    assert_eq!(a1["exit_code"], 0, "{a1}");
    assert_eq!(a1["commits_ahead"], 1, "{a1}");
    assert_eq!(a1["files_changed"], 1, "{a1}");
    assert_eq!(a1["insertions"], 1, "{a1}");
    assert_eq!(a1["deletions"], 0, "{a1}");
    assert_eq!(a1["session"], "repo-agent1");
    assert_eq!(a1["branch"], "fleet/agent1");
    assert_eq!(
        canon(a1["worktree"].as_str().unwrap()),
        canon(f.worktree("agent1"))
    );
    assert_eq!(
        canon(a1["log"].as_str().unwrap()),
        canon(f.log_path("agent1"))
    );
    assert!(
        a1["started_at"].is_string() && a1["finished_at"].is_string(),
        "{a1}"
    );

    let a2 = f.agent("agent2");
    assert_eq!(a2["state"], "failed", "{a2}");
    assert_eq!(a2["exit_code"], 3, "{a2}");
    assert_eq!(a2["commits_ahead"], 0, "{a2}");

    let a3 = f.agent("agent3");
    assert_eq!(a3["state"], "running", "{a3}");
    assert!(a3["exit_code"].is_null(), "{a3}");
    assert!(a3["finished_at"].is_null(), "{a3}");

    // agent1 got its task on stdin and committed it on its branch
    assert_eq!(
        fs::read_to_string(f.worktree("agent1").join("out.txt")).unwrap(),
        TASK1
    );
    assert_eq!(f.git(&["rev-list", "--count", "main..fleet/agent1"]), "1");
    assert_eq!(f.git(&["rev-parse", "fleet/agent2"]), main);

    // logs hold each agent's output
    f.wait_for("agent3's log to show its output", DEADLINE, |f| {
        f.output("agent3").contains("sleeping")
    });
    assert!(
        f.output("agent1").contains("agent1 committed"),
        "agent1 log: {}",
        f.log("agent1")
    );
    assert!(
        f.output("agent2").contains("failing"),
        "agent2 log: {}",
        f.log("agent2")
    );

    // finished agents keep their session (pane stays) until `down`
    assert_eq!(f.sessions(), all_sessions());

    // .fleet/ is git-ignored in the main checkout
    let porcelain = f.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        !porcelain.contains(".fleet"),
        "git status shows .fleet: {porcelain}"
    );
}

#[test]
fn agent_runs_in_its_worktree_with_task_on_stdin_and_fleet_env() {
    let f = Fleet::new();
    f.manifest(
        r#"
env: { SHARED_VAR: from-top, OVERRIDDEN: top }
agents:
  - name: envy
    prompt: "Inline prompt text."
    command: 'cat > stdin.txt; env > env.txt; pwd > pwd.txt; cp "$FLEET_TASK" task.txt'
    env: { AGENT_VAR: from-agent, OVERRIDDEN: agent }
  - name: filey
    task: tasks/filey.md
    command: 'cat > stdin.txt; printf %s "$FLEET_TASK" > task_path.txt'
"#,
    )
    .file("tasks/filey.md", "Task from a file.\n");
    f.fleet(&["up"]).success();
    f.wait_state("envy", "done");
    f.wait_state("filey", "done");

    let wt = f.worktree("envy");
    let read = |name: &str| fs::read_to_string(wt.join(name)).unwrap();
    assert_eq!(read("stdin.txt").trim_end(), "Inline prompt text.");
    assert_eq!(read("task.txt").trim_end(), "Inline prompt text.");
    assert_eq!(
        canon(read("pwd.txt").trim_end()),
        canon(&wt),
        "cwd is the worktree"
    );

    let env_txt = read("env.txt");
    let var = |k: &str| -> String {
        env_txt
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} not in the agent's environment:\n{env_txt}"))
            .to_string()
    };
    assert_eq!(var("FLEET_AGENT"), "envy");
    assert_eq!(var("FLEET_BRANCH"), "fleet/envy");
    assert_eq!(var("FLEET_PROJECT"), "repo");
    assert_eq!(canon(var("FLEET_WORKTREE")), canon(&wt));
    assert_eq!(canon(var("FLEET_LOG")), canon(f.log_path("envy")));
    assert!(var("FLEET_TASK").starts_with('/'), "FLEET_TASK is absolute");
    assert_eq!(var("SHARED_VAR"), "from-top");
    assert_eq!(var("AGENT_VAR"), "from-agent");
    assert_eq!(
        var("OVERRIDDEN"),
        "agent",
        "agent env is merged over the top-level env"
    );

    let wt = f.worktree("filey");
    assert_eq!(
        fs::read_to_string(wt.join("stdin.txt")).unwrap(),
        "Task from a file.\n"
    );
    assert_eq!(
        canon(fs::read_to_string(wt.join("task_path.txt")).unwrap()),
        canon(f.repo.join("tasks/filey.md")),
        "FLEET_TASK is the task file's absolute path"
    );
}

#[test]
fn up_again_changes_nothing_and_says_so() {
    let f = three_agents_up_and_settled();
    let before = f.pane_fingerprint();
    let branches = f.fleet_branches();

    f.fleet(&["up"]).success().stdout_has("nothing to do");

    assert_eq!(
        f.pane_fingerprint(),
        before,
        "no session or pane was recreated"
    );
    assert_eq!(f.fleet_branches(), branches);
    assert_eq!(f.state("agent1"), "done");
    assert_eq!(f.state("agent2"), "failed");
    assert_eq!(f.state("agent3"), "running");
}

#[test]
fn up_with_a_name_starts_only_that_agent() {
    let f = three_agents();
    f.fleet(&["up", "agent3"]).success();

    assert_eq!(f.sessions(), ["repo-agent3", "repo-monitor"]);
    assert!(f.worktree("agent3").is_dir());
    assert!(!f.worktree("agent1").exists());
    assert!(!f.worktree("agent2").exists());
    assert_eq!(f.fleet_branches(), ["fleet/agent3"]);
    assert_eq!(f.state("agent1"), "pending");
    assert_eq!(f.state("agent2"), "pending");
    assert_eq!(f.state("agent3"), "running");

    // a later plain `up` starts the pending ones and leaves agent3 alone
    let agent3_pid = f.pane_pid("repo-agent3");
    f.fleet(&["up"]).success();
    assert_eq!(f.sessions(), all_sessions());
    assert_eq!(
        f.pane_pid("repo-agent3"),
        agent3_pid,
        "agent3 was not restarted"
    );
    f.wait_state("agent1", "done");
    f.wait_state("agent2", "failed");
}

#[test]
fn up_restarts_stopped_agents_but_finished_ones_only_with_rerun() {
    let f = three_agents_up_and_settled();
    let pid1 = f.pane_pid("repo-agent1");
    let pid2 = f.pane_pid("repo-agent2");

    // down one agent: only its session goes, the monitor stays while others are left
    f.fleet(&["down", "agent3"]).success();
    assert_eq!(f.sessions(), ["repo-agent1", "repo-agent2", "repo-monitor"]);
    assert_eq!(f.state("agent3"), "stopped");

    // up restarts the stopped agent, not the finished ones
    f.fleet(&["up"]).success();
    assert_eq!(f.sessions(), all_sessions());
    assert_eq!(f.state("agent3"), "running");
    assert_eq!(f.pane_pid("repo-agent1"), pid1);
    assert_eq!(f.pane_pid("repo-agent2"), pid2);

    // --rerun restarts a finished agent in its existing worktree
    f.fleet(&["up", "--rerun", "agent2"]).success();
    assert_ne!(f.pane_pid("repo-agent2"), pid2, "agent2 was restarted");
    assert_eq!(f.pane_pid("repo-agent1"), pid1, "agent1 was not named");
    f.wait_state("agent2", "failed");
    assert_eq!(f.agent("agent2")["exit_code"], 3);

    // downing the last agents takes the monitor with them
    f.fleet(&["down", "agent1", "agent2", "agent3"]).success();
    assert_eq!(f.sessions(), Vec::<String>::new());
}

#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    let f = three_agents();
    let run = f.fleet(&["up", "--dry-run"]);
    run.success();
    for name in ALL {
        let wt = f.worktree(name).to_string_lossy().to_string();
        let planned = |needles: &[&str]| {
            run.stdout
                .lines()
                .any(|l| needles.iter().all(|n| l.contains(n)))
        };
        assert!(
            planned(&["git", "worktree add", &format!("fleet/{name}"), &wt]),
            "dry run should plan `git worktree add` for {name}:\n{}",
            run.stdout
        );
        assert!(
            planned(&["tmux new-session", &format!("repo-{name}")]),
            "dry run should plan `tmux new-session` for {name}:\n{}",
            run.stdout
        );
    }
    assert_nothing_created(&f, "up --dry-run");

    // validate prints the resolved plan and starts nothing either
    let run = f.fleet(&["validate"]);
    run.success();
    for name in ALL {
        run.stdout_has(name);
    }
    assert_nothing_created(&f, "validate");
}

#[test]
fn manifest_is_found_by_flag_env_or_parent_directory() {
    let f = three_agents();
    let manifest = f.manifest_path().to_string_lossy().to_string();
    let deeper = f.repo.join("sub/deeper");
    fs::create_dir_all(&deeper).unwrap();

    let parse = |run: &common::Run| -> serde_json::Value {
        run.success();
        serde_json::from_str(&run.stdout).expect("status --json prints JSON")
    };
    let runs = [
        (
            "nearest parent",
            f.fleet_at(&deeper, &[], &["status", "--json"]),
        ),
        (
            "-f before",
            f.fleet_at(&f.root, &[], &["-f", &manifest, "status", "--json"]),
        ),
        (
            "-f after",
            f.fleet_at(&f.root, &[], &["status", "--json", "-f", &manifest]),
        ),
        (
            "--file",
            f.fleet_at(&f.root, &[], &["status", "--file", &manifest, "--json"]),
        ),
        (
            "FLEET_FILE",
            f.fleet_at(&f.root, &[("FLEET_FILE", &manifest)], &["status", "--json"]),
        ),
    ];
    for (how, run) in &runs {
        let status = parse(run);
        assert_eq!(status["manifest"], manifest.as_str(), "{how}");
        assert_eq!(status["project"], "repo", "{how}");
        assert_eq!(status["monitor"]["running"], false, "{how}");
        let states: Vec<_> = status["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["state"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(states, ["pending", "pending", "pending"], "{how}");
    }

    // no manifest anywhere: a clear error, not a crash
    let run = f.fleet_at(&f.root, &[], &["status", "--json"]);
    assert_ne!(run.code, 0, "{run:?}");
    run.stderr_has("agents.yaml");
    assert_eq!(f.sessions(), Vec::<String>::new());
}

// ------------------------------------------------------------------------------------ attach

#[test]
fn attach_inside_tmux_switches_the_client() {
    let f = three_agents();
    f.fleet(&["up"]).success();

    // the user's own session with a shell, and a real client attached to it: a second tmux
    // server ("outer") whose pane runs `tmux attach` against the private server
    let work_pane = f.user_shell("work");
    f.outer_client("tmux attach -t =work; echo attach exited $?");
    if !f.try_wait_for(DEADLINE, |f| f.clients() == ["work"]) {
        let screen = f.tmux(&["-L", OUTER, "capture-pane", "-p", "-t", "=outer:"]);
        panic!(
            "no client attached to `work`; outer pane shows:\n{}",
            screen.output()
        );
    }

    // `fleet attach agent2` typed in the attached pane switches that client
    let rc1 = f.type_fleet(&work_pane, "attach agent2", "attach1.rc");
    f.wait_for("the client to switch to repo-agent2", DEADLINE, |f| {
        f.clients() == ["repo-agent2"]
    });
    assert_eq!(f.typed_exit_code(&rc1), "0");

    // back to work; `fleet attach` without a name goes to the monitor
    let client_name = f.tmux_ok(&["list-clients", "-F", "#{client_name}"]);
    f.tmux_ok(&["switch-client", "-c", client_name.trim(), "-t", "=work"]);
    f.wait_for("the client to be back on work", DEADLINE, |f| {
        f.clients() == ["work"]
    });
    let rc2 = f.type_fleet(&work_pane, "attach", "attach2.rc");
    f.wait_for("the client to switch to repo-monitor", DEADLINE, |f| {
        f.clients() == ["repo-monitor"]
    });
    assert_eq!(f.typed_exit_code(&rc2), "0");

    // fleet's switching did not disturb any session
    assert_eq!(
        f.sessions(),
        sorted([
            "repo-agent1",
            "repo-agent2",
            "repo-agent3",
            "repo-monitor",
            "work"
        ])
    );
}

#[test]
fn attach_outside_tmux_without_terminal_fails_and_unknown_name_lists_agents() {
    let f = three_agents();
    f.fleet(&["up"]).success();

    // stdin is not a terminal and TMUX is unset
    f.fleet(&["attach", "agent2"])
        .code(1)
        .stderr_has("error")
        .stderr_has("terminal");

    let run = f.fleet(&["attach", "nope"]);
    run.code(2).stderr_has("nope");
    for name in ALL {
        run.stderr_has(name);
    }
    assert_eq!(
        f.sessions(),
        all_sessions(),
        "failed attaches changed nothing"
    );
}

// ------------------------------------------------------------------------------------ down

#[test]
fn down_kills_only_fleet_sessions_and_keeps_the_work() {
    let f = three_agents_up_and_settled();
    // a user's sessions on the same server, one looking like an agent's
    f.tmux_ok(&["new-session", "-d", "-s", "work", "sh"]);
    f.tmux_ok(&["new-session", "-d", "-s", "repo-agent10", "sh"]);

    f.fleet(&["down"]).success();

    assert_eq!(
        f.sessions(),
        ["repo-agent10", "work"],
        "only fleet's sessions are gone"
    );
    for name in ALL {
        assert!(f.worktree(name).is_dir(), "worktree of {name} kept");
        assert!(f.log_path(name).is_file(), "log of {name} kept");
    }
    assert_eq!(
        f.fleet_branches(),
        ["fleet/agent1", "fleet/agent2", "fleet/agent3"]
    );
    assert_eq!(f.git(&["rev-list", "--count", "main..fleet/agent1"]), "1");
    assert!(f.output("agent2").contains("failing"));

    let status = f.status_json();
    assert_eq!(status["monitor"]["running"], false, "{status}");
    let a1 = f.agent("agent1");
    assert_eq!(a1["state"], "done", "{a1}");
    assert_eq!(a1["exit_code"], 0, "{a1}");
    assert_eq!(a1["commits_ahead"], 1, "{a1}");
    let a2 = f.agent("agent2");
    assert_eq!(a2["state"], "failed", "{a2}");
    assert_eq!(a2["exit_code"], 3, "{a2}");
    assert_eq!(f.state("agent3"), "stopped");

    // down again: nothing left to do, still fine, user sessions untouched
    f.fleet(&["down"]).success();
    assert_eq!(f.sessions(), ["repo-agent10", "work"]);
}

#[test]
fn down_never_touches_a_user_session_that_prefix_matches_an_agent() {
    // agent1 is never started, so there is no repo-agent1 for an inexact target to hit:
    // `repo-agent1` would prefix-match the user's `repo-agent10`
    let f = three_agents();
    f.fleet(&["up", "agent3"]).success();
    f.tmux_ok(&["new-session", "-d", "-s", "repo-agent10", "sh"]);

    f.fleet(&["down", "agent1", "agent3"]).success();
    assert_eq!(f.sessions(), ["repo-agent10"]);
    f.fleet(&["down"]).success();
    assert_eq!(f.sessions(), ["repo-agent10"]);
}

#[test]
fn down_rm_worktrees_leaves_a_committed_nested_repo_to_git_which_keeps_it() {
    // a nested repository committed as a gitlink: its own commits live only in sub/.git,
    // and `git status` shows nothing; `git worktree remove` refuses such a worktree
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: nest
    prompt: "hi"
    command: "git init -q sub && cd sub && echo precious > p && git add p && git -c user.name=a -c user.email=a@b commit -qm sub && cd .. && git add sub 2>/dev/null; git commit -qm 'add sub'"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let sub = f.worktree("nest").join("sub");
    let commit = f.git_in(&sub, &["rev-parse", "HEAD"]);
    assert_eq!(
        f.git_in(&f.worktree("nest"), &["status", "--porcelain"]),
        ""
    );

    f.fleet(&["down", "--rm-worktrees"])
        .code(1)
        .stderr_has("repo.worktrees/nest")
        .stderr_has("git will not remove")
        .stderr_has("submodules")
        .stderr_has("--force");
    assert_eq!(
        f.git_in(&sub, &["cat-file", "-t", commit.trim()]).trim(),
        "commit"
    );
    assert!(sub.join("p").is_file(), "the nested repo's files are kept");
}

#[test]
fn an_annotated_tag_as_base_starts_the_branches_at_its_commit() {
    let f = Fleet::new();
    f.git(&["tag", "-a", "v1", "-m", "release 1"]);
    f.manifest(
        r#"base: v1
agents:
  - name: tagged
    prompt: "hi"
    command: "true"
"#,
    );
    f.fleet(&["up"]).success();
    assert_eq!(
        f.git(&["rev-parse", "fleet/tagged"]),
        f.git(&["rev-parse", "v1^{commit}"])
    );
    f.wait_state("tagged", "done");
}

#[test]
fn a_worktree_dir_through_a_symlink_is_found_again_by_down_and_up() {
    let f = Fleet::new();
    let real = f.root.join("real");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, f.root.join("link")).unwrap();
    f.manifest(
        r#"worktree_dir: ../link/wt
agents:
  - name: a
    prompt: "hi"
    command: "true"
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_state("a", "done");
    assert!(real.join("wt/a/README.md").is_file());
    f.fleet(&["up", "--rerun"]).success();
    f.wait_state("a", "done");

    f.fleet(&["down", "--rm-worktrees"]).success();
    assert!(!real.join("wt/a").exists(), "the worktree is removed");
    let listed = f.git(&["worktree", "list", "--porcelain"]);
    assert!(!listed.contains("/wt/a"), "{listed}");
}

#[test]
fn down_rm_worktrees_removes_clean_ones_and_refuses_dirty_ones_unless_forced() {
    let f = three_agents_up_and_settled();
    // uncommitted work: an untracked file in agent2's worktree, a modified file in agent3's
    fs::write(f.worktree("agent2").join("scratch.txt"), "unsaved\n").unwrap();
    fs::write(f.worktree("agent3").join("README.md"), "changed\n").unwrap();

    let run = f.fleet(&["down", "--rm-worktrees"]);
    run.code(1)
        .stderr_has("repo.worktrees/agent2")
        .stderr_has("repo.worktrees/agent3");
    assert!(
        !run.stderr.contains("repo.worktrees/agent1"),
        "agent1's clean worktree is not a problem:\n{}",
        run.stderr
    );

    assert_eq!(f.sessions(), Vec::<String>::new(), "sessions are down");
    assert!(!f.worktree("agent1").exists(), "clean worktree removed");
    assert!(
        f.worktree("agent2").join("scratch.txt").is_file(),
        "dirty worktree kept"
    );
    assert!(
        f.worktree("agent3").join("README.md").is_file(),
        "dirty worktree kept"
    );
    let listed = f.git(&["worktree", "list", "--porcelain"]);
    assert!(
        !listed.contains("agent1"),
        "git still lists agent1's worktree:\n{listed}"
    );
    assert_eq!(
        f.fleet_branches(),
        ["fleet/agent1", "fleet/agent2", "fleet/agent3"],
        "branches (the work) are kept"
    );

    f.fleet(&["down", "--rm-worktrees", "--force"]).success();
    for name in ALL {
        assert!(
            !f.worktree(name).exists(),
            "{name}'s worktree removed with --force"
        );
    }
    let listed = f.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1,
        "{listed}"
    );
    assert_eq!(
        f.fleet_branches(),
        ["fleet/agent1", "fleet/agent2", "fleet/agent3"]
    );
}

// ------------------------------------------------------------------------------------ manifest errors

#[test]
fn invalid_manifests_exit_2_list_every_problem_and_create_nothing() {
    struct Case {
        what: &'static str,
        yaml: &'static str,
        /// each must appear in stderr (case-insensitive); for "several problems", each on its own line
        expect: &'static [&'static str],
    }
    let cases = [
        Case {
            what: "YAML syntax error",
            yaml: "agents:\n  - name: a1\n    prompt: hi: there\n",
            expect: &["line 3"],
        },
        Case {
            what: "unknown key",
            yaml: "agents:\n  - name: a1\n    prompt: hi\n    comand: \"true\"\n",
            expect: &["comand", "line 4 column 5"],
        },
        Case {
            // serde_yaml gives no position for the top-level mapping, so no line is required
            what: "unknown top-level key",
            yaml: "projekt: x\nagents:\n  - name: a1\n    prompt: hi\n",
            expect: &["projekt"],
        },
        Case {
            what: "duplicate names",
            yaml: "agents:\n  - name: a1\n    prompt: one\n  - name: a1\n    prompt: two\n",
            expect: &["duplicate", "a1"],
        },
        Case {
            what: "missing task file",
            yaml: "agents:\n  - name: a1\n    task: tasks/missing.md\n",
            expect: &["tasks/missing.md"],
        },
        Case {
            what: "both task and prompt",
            yaml: "agents:\n  - name: a1\n    task: tasks/t.md\n    prompt: hi\n",
            expect: &["a1"],
        },
        Case {
            what: "neither task nor prompt",
            yaml: "agents:\n  - name: a1\n    command: \"true\"\n",
            expect: &["a1"],
        },
        Case {
            what: "name with a dot",
            yaml: "agents:\n  - name: a.b\n    prompt: hi\n",
            expect: &["a.b"],
        },
        Case {
            what: "name `monitor`",
            yaml: "agents:\n  - name: monitor\n    prompt: hi\n",
            expect: &["monitor"],
        },
        Case {
            what: "name with a leading dash",
            yaml: "agents:\n  - name: \"-x\"\n    prompt: hi\n",
            expect: &["-x"],
        },
        Case {
            // serde stops at an unknown key; the other problems must still be reported
            what: "several problems: an unknown key and a bad name",
            yaml: "agents:\n  - name: a1\n    prompt: hi\n    comand: x\n  - name: a.b\n    prompt: hi\n",
            expect: &["comand", "a.b"],
        },
        Case {
            what: "several problems: bad name, missing task file, both task and prompt",
            yaml: "agents:\n  - name: a.b\n    prompt: hi\n  - name: ok\n    task: tasks/missing.md\n  - name: both\n    task: tasks/t.md\n    prompt: hi\n",
            expect: &["a.b", "tasks/missing.md", "both"],
        },
    ];

    for case in &cases {
        let f = Fleet::new();
        f.manifest(case.yaml).file("tasks/t.md", "a task\n");
        for args in [&["validate"][..], &["up"][..]] {
            let run = f.fleet(args);
            let context = format!("{} (fleet {})\n{run:#?}", case.what, args.join(" "));
            assert_eq!(run.code, 2, "exit code for {context}");
            assert!(contains_ci(&run.stderr, "error"), "says error: {context}");
            let mut lines = Vec::new();
            for needle in case.expect {
                let line = run.stderr.lines().position(|l| contains_ci(l, needle));
                let line = line.unwrap_or_else(|| panic!("stderr lacks {needle:?}: {context}"));
                lines.push(line);
            }
            if case.what.starts_with("several problems") {
                let mut distinct = lines.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(
                    distinct.len(),
                    lines.len(),
                    "one line per problem: {context}"
                );
            }
            assert_nothing_created(&f, &context);
        }
    }
}

// ------------------------------------------------------------------------------------ init

#[test]
fn init_writes_a_manifest_and_task_template_and_refuses_to_overwrite() {
    let f = Fleet::new();
    f.fleet(&["init"]).success();
    let manifest = fs::read_to_string(f.manifest_path()).expect("agents.yaml written");
    let task = fs::read_to_string(f.repo.join("tasks/example.md")).expect("task template written");
    for heading in ["What to do", "Success criteria", "Do NOT"] {
        assert!(
            contains_ci(&task, heading),
            "task template lacks {heading:?}:\n{task}"
        );
    }

    let run = f.fleet(&["init"]);
    assert_ne!(run.code, 0, "second init must refuse: {run:?}");
    assert!(contains_ci(&run.stderr, "agents.yaml"), "{run:?}");
    assert_eq!(
        fs::read_to_string(f.manifest_path()).unwrap(),
        manifest,
        "not overwritten"
    );
    assert_eq!(f.sessions(), Vec::<String>::new());
}

// ------------------------------------------------------------------------------------ more of the contract

#[test]
fn manifest_keys_override_project_base_worktree_dir_branch_log_copy_and_setup() {
    let f = Fleet::new();
    // a `dev` branch with one more commit to start from; main stays checked out
    f.git(&["checkout", "-q", "-b", "dev"]);
    f.file("dev.txt", "dev\n");
    f.git(&["add", "dev.txt"]);
    f.git(&["commit", "-q", "-m", "dev"]);
    f.git(&["checkout", "-q", "main"]);
    f.file(".env", "SECRET=1\n"); // untracked, copied into each new worktree
    f.manifest(
        r#"
project: web
base: dev
worktree_dir: ../wts
copy: [.env]
setup: "echo setup-ran > setup.txt"
command: "cat setup.txt .env > seen.txt; echo custom-log-line"
agents:
  - name: x
    prompt: hi
    branch: feature/x
    log: logs/x.log
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_state("x", "done");

    assert_eq!(f.sessions(), ["web-monitor", "web-x"]);
    let wt = f.root.join("wts/x");
    assert_eq!(
        f.git_in(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/x"
    );
    assert_eq!(
        f.git(&["rev-parse", "feature/x"]),
        f.git(&["rev-parse", "dev"])
    );
    assert_eq!(
        fs::read_to_string(wt.join("seen.txt")).unwrap(),
        "setup-ran\nSECRET=1\n",
        "setup ran and .env was copied before the agent started"
    );
    let log = fs::read_to_string(f.repo.join("logs/x.log")).unwrap_or_default();
    assert!(log.contains("custom-log-line"), "custom log: {log}");
    let x = f.agent("x");
    assert_eq!(x["branch"], "feature/x");
    assert_eq!(x["session"], "web-x");
    assert_eq!(canon(x["worktree"].as_str().unwrap()), canon(&wt));
    assert_eq!(f.status_json()["project"], "web");
}

#[test]
fn failing_setup_fails_the_agent_without_running_it() {
    let f = Fleet::new();
    f.manifest(
        r#"
setup: "echo setting up; exit 4"
agents:
  - name: s
    prompt: hi
    command: "echo agent-ran > ran.txt"
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_state("s", "failed");
    assert!(
        !f.worktree("s").join("ran.txt").exists(),
        "agent did not run"
    );
    assert!(
        f.output("s").contains("setting up"),
        "setup output is logged: {}",
        f.log("s")
    );
}

#[test]
fn an_agent_whose_session_vanished_is_lost_and_up_restarts_it() {
    let f = three_agents_up_and_settled();
    f.tmux_ok(&["kill-session", "-t", "=repo-agent3"]);
    f.wait_state("agent3", "lost");

    f.fleet(&["up"]).success();
    assert_eq!(f.sessions(), all_sessions());
    assert_eq!(f.state("agent3"), "running");
    assert_eq!(f.state("agent1"), "done");
}

#[test]
fn up_refuses_to_take_over_a_user_session_with_an_agent_name() {
    let f = three_agents();
    f.tmux_ok(&["new-session", "-d", "-s", "repo-agent2", "sh"]);
    let pid = f.pane_pid("repo-agent2");

    let run = f.fleet(&["up"]);
    assert_ne!(run.code, 0, "{run:?}");
    run.stderr_has("repo-agent2");

    // the user's session is untouched and not adopted
    assert_eq!(f.pane_pid("repo-agent2"), pid);
    let tag = f.tmux_ok(&["show-options", "-t", "=repo-agent2:", "-qv", "@fleet"]);
    assert_eq!(tag.trim(), "", "user session must not be tagged");
    f.fleet(&["down"]).success();
    assert!(f.sessions().contains(&"repo-agent2".to_string()));
}

#[test]
fn concurrent_ups_start_each_agent_once() {
    let f = three_agents();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| f.fleet(&["up"]));
        let b = s.spawn(|| f.fleet(&["up"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.code == 0 || b.code == 0, "one up succeeds:\n{a:?}\n{b:?}");
    for run in [&a, &b] {
        assert!(run.code == 0 || run.code == 1, "{run:?}");
    }
    assert_eq!(f.sessions(), all_sessions());
    for name in ALL {
        assert_eq!(
            f.panes(&format!("repo-{name}"), "#{pane_id}").len(),
            1,
            "{name} started once"
        );
    }
    assert_eq!(f.git(&["worktree", "list"]).lines().count(), 4);
}

#[test]
fn monitor_has_a_titled_pane_for_every_agent_even_when_many() {
    let f = Fleet::new();
    let mut yaml = String::from("command: \"echo hi\"\nagents:\n");
    let names: Vec<String> = (1..=10).map(|i| format!("a{i}")).collect();
    for name in &names {
        yaml.push_str(&format!("  - name: {name}\n    prompt: hi\n"));
    }
    f.manifest(&yaml);
    f.fleet(&["up"]).success();

    let titles = f.panes("repo-monitor", "#{pane_title}");
    for name in names.iter().map(String::as_str).chain(["status"]) {
        assert_eq!(
            titles.iter().filter(|t| *t == name).count(),
            1,
            "one monitor pane titled {name:?}: {titles:?}"
        );
    }
    for name in &names {
        f.wait_state(name, "done");
    }
}

#[test]
fn project_name_is_sanitized_from_an_awkward_repo_dir() {
    // tmux cannot use '.' or ':' in session names, and the path has a space
    let f = Fleet::with_repo_dir("my app.v2");
    f.manifest("agents:\n  - name: a1\n    prompt: hi\n    command: \"cat > out.txt\"\n");
    f.fleet(&["up"]).success();
    f.wait_state("a1", "done");

    let project = f.status_json()["project"].as_str().unwrap().to_string();
    assert!(
        !project.is_empty() && !project.contains(['.', ':', ' ']),
        "project {project:?} must be usable as a tmux session name"
    );
    assert_eq!(
        f.sessions(),
        sorted([format!("{project}-a1"), format!("{project}-monitor")])
    );
    assert_eq!(
        fs::read_to_string(f.worktree("a1").join("out.txt"))
            .unwrap()
            .trim_end(),
        "hi"
    );
    assert!(f.log_path("a1").is_file(), "log under the awkward path");
    f.fleet(&["down"]).success();
    assert_eq!(f.sessions(), Vec::<String>::new());
}

#[test]
fn status_filters_by_name_and_prints_a_table() {
    let f = three_agents_up_and_settled();
    let run = f.fleet(&["status", "--json", "agent2"]);
    run.success();
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<_> = status["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["agent2"]);

    let table = f.fleet(&["status"]);
    table.success();
    for (name, state) in [
        ("agent1", "done"),
        ("agent2", "failed"),
        ("agent3", "running"),
    ] {
        assert!(
            table.stdout.lines().any(|l| l.contains(name)
                && l.contains(state)
                && l.contains(&format!("fleet/{name}"))),
            "a table row for {name} ({state}):\n{}",
            table.stdout
        );
    }
    assert!(
        !table.stdout.contains('\x1b'),
        "NO_COLOR: no escape codes:\n{}",
        table.stdout
    );
}

#[test]
fn down_also_stops_sessions_of_agents_removed_from_the_manifest() {
    let f = three_agents();
    f.fleet(&["up"]).success();
    // the user drops agent3 from the manifest while it runs
    let without_agent3 = THREE_AGENTS[..THREE_AGENTS.find("  - name: agent3").unwrap()].to_string();
    f.manifest(&without_agent3);

    f.fleet(&["down"]).success();
    assert_eq!(
        f.sessions(),
        Vec::<String>::new(),
        "every session tagged with this manifest is stopped"
    );
}

#[test]
fn odd_characters_in_paths_and_values_reach_the_agent_exactly() {
    // A repo dir with a space, quotes, `$`, `;`, a backtick and non-ASCII: it lands in every
    // tmux command (session runner path, monitor's `tail`), none may interpret it.
    let dir = "it's a \"repo\" $HOME; `x` é;";
    let f = Fleet::with_repo_dir(dir);
    f.manifest(
        r#"env: { ODD: "a 'b' \"c\" $d; `e` ü" }
agents:
  - name: a1
    prompt: "it's $HOME; `no`"
    command: "cat > out.txt; printf '%s' \"$ODD\" > env.txt; pwd > pwd.txt"
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_state("a1", "done");
    let wt = f.worktree("a1");
    assert_eq!(
        fs::read_to_string(wt.join("out.txt")).unwrap(),
        "it's $HOME; `no`\n"
    );
    assert_eq!(
        fs::read_to_string(wt.join("env.txt")).unwrap(),
        "a 'b' \"c\" $d; `e` ü"
    );
    assert_eq!(
        canon(fs::read_to_string(wt.join("pwd.txt")).unwrap().trim_end()),
        canon(&wt)
    );
    let project = f.status_json()["project"].as_str().unwrap().to_string();
    let monitor = format!("{project}-monitor");
    let titles = f.panes(&monitor, "#{pane_title}");
    assert!(titles.contains(&"a1".to_string()), "{titles:?}");
    // The monitor's `tail -F` of the log under the odd path is alive and shows the log.
    assert!(
        f.panes(&monitor, "#{pane_dead}").iter().all(|d| d == "0"),
        "no dead monitor pane: {}",
        f.diagnostics()
    );
    f.wait_for("the monitor pane shows the log", 10, |f| {
        let ids = f.panes(&monitor, "#{pane_id}\t#{pane_title}");
        ids.iter()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, t)| *t == "a1")
            .any(|(id, _)| {
                f.tmux_ok(&["capture-pane", "-p", "-t", id])
                    .contains("a1 done")
            })
    });
    f.fleet(&["down"]).success();
    assert_eq!(f.sessions(), Vec::<String>::new());
}

#[test]
fn sixty_four_agents_come_up_with_a_monitor_of_several_windows() {
    let f = Fleet::new();
    let mut yaml = String::from("command: \"echo hi; sleep 30\"\nagents:\n");
    for i in 1..=64 {
        yaml.push_str(&format!("  - name: agent{i}\n    prompt: hi\n"));
    }
    f.manifest(&yaml);
    f.fleet(&["up"]).success();
    let sessions = f.sessions();
    assert_eq!(
        sessions.len(),
        65,
        "64 agents and the monitor: {sessions:?}"
    );
    let panes = f.monitor_window_panes();
    assert_eq!(
        panes.iter().sum::<usize>(),
        65,
        "a pane per agent plus status: {panes:?}"
    );
    assert!(
        panes.iter().all(|&n| n <= 9),
        "at most 9 panes a window: {panes:?}"
    );
    f.fleet(&["down", "--rm-worktrees", "--force"]).success();
    assert_eq!(f.sessions(), Vec::<String>::new());
    assert_eq!(fs::read_dir(f.worktree_dir()).unwrap().count(), 0);
}

#[test]
fn up_from_inside_tmux_leaves_the_users_pane_alone() {
    // Typed in a pane of the user's own session: tmux then takes "the current pane" to be the
    // user's, so every fleet command must carry an explicit target.
    let f = three_agents();
    let work_pane = f.user_shell("work");
    let title_before = f.panes("work", "#{pane_title}");
    let rc = f.type_fleet(&work_pane, "up", "up.rc");
    assert_eq!(f.typed_exit_code(&rc), "0", "{}", f.diagnostics());
    assert_eq!(
        f.panes("work", "#{pane_title}"),
        title_before,
        "user's pane title kept"
    );
    assert_eq!(
        f.panes("work", "#{pane_id}"),
        [work_pane],
        "no pane added to work"
    );
    assert_eq!(
        sorted(f.panes("repo-monitor", "#{pane_title}")),
        sorted(["status", "agent1", "agent2", "agent3"])
    );
}

#[test]
fn verify_decides_between_done_and_failed() {
    let f = Fleet::new();
    f.manifest(
        r#"verify: "test -f out.txt"
agents:
  - name: good
    prompt: hi
    command: "cat > out.txt"
  - name: bad
    prompt: hi
    command: "echo no file"
  - name: own
    prompt: hi
    command: "true"
    verify: "echo checking; exit 4"
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_state("good", "done");
    f.wait_state("bad", "failed");
    f.wait_state("own", "failed");
    let bad = f.agent("bad");
    assert_eq!(bad["exit_code"], 0, "the agent itself exited 0");
    assert_eq!(bad["reason"], "verify failed (exit 1)");
    assert_eq!(f.agent("own")["reason"], "verify failed (exit 4)");
    assert!(
        f.output("own").contains("checking"),
        "verify output in the log"
    );
}

#[test]
fn up_refuses_a_worktree_path_that_is_not_a_worktree_and_changes_nothing() {
    let f = three_agents();
    let squatter = f.worktree("agent2");
    fs::create_dir_all(&squatter).unwrap();
    fs::write(squatter.join("mine.txt"), "keep me").unwrap();
    let run = f.fleet(&["up"]);
    run.code(2)
        .stderr_has("agent2")
        .stderr_has("not a worktree");
    assert_eq!(
        fs::read_to_string(squatter.join("mine.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(f.sessions(), Vec::<String>::new());
    assert_eq!(f.fleet_branches(), Vec::<String>::new());
    assert!(!f.repo.join(".fleet").exists(), "no .fleet/ left behind");
}

#[test]
fn fleet_sees_its_sessions_in_a_c_locale() {
    // Without a UTF-8 locale tmux prints a tab in `-F` formats as `_`; fleet must still
    // recognise its sessions (it passes `-u`).
    let f = three_agents();
    let c = [("LC_ALL", "C"), ("LANG", "C")];
    f.fleet_at(&f.repo, &c, &["up"]).success();
    let status = f.fleet_at(&f.repo, &c, &["status", "--json"]);
    status.success();
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["monitor"]["running"], true, "{}", status.stdout);
    assert_eq!(json["agents"][2]["state"], "running", "{}", status.stdout);
    f.fleet_at(&f.repo, &c, &["down"])
        .success()
        .stdout_has("stopped agent3");
    assert_eq!(f.sessions(), Vec::<String>::new());
}

#[test]
fn up_rebuilds_the_monitor_when_the_manifest_gains_an_agent() {
    let f = Fleet::new();
    let one = "agents:\n  - name: a\n    prompt: hi\n    command: \"sleep 30\"\n";
    f.manifest(one);
    f.fleet(&["up"]).success();
    assert_eq!(f.panes("repo-monitor", "#{pane_title}"), ["status", "a"]);
    f.manifest(&format!(
        "{one}  - name: b\n    prompt: hi\n    command: \"sleep 30\"\n"
    ));
    f.fleet(&["up"]).success().stdout_has("rebuilt the monitor");
    assert_eq!(
        f.panes("repo-monitor", "#{pane_title}"),
        ["status", "a", "b"]
    );
    f.fleet(&["up"]).success().stdout_has("nothing to do");
}
