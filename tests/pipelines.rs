//! Pipelines (issue 18): `after:` starts an agent once the agents it builds on are done, on a
//! branch made from theirs (one: its tip; several: their merge); a failed dependency leaves
//! the chain `blocked` with the reason; conflicting dependencies block naming the file;
//! cycles are refused before anything is made; `max_parallel` holds; `{{diff:NAME}}` hands
//! an agent another's diff. Real git and tmux, stub commands.

mod common;

use std::fs;

use common::{sh_quote, Fleet};

/// Each agent writes `<name>.txt` and commits it.
const COMMIT: &str = r#"echo "$FLEET_AGENT" > "$FLEET_AGENT.txt" && git add "$FLEET_AGENT.txt" && git commit -qm "$FLEET_AGENT""#;

/// A YAML scalar holding `s` as is (JSON's double-quoted strings are YAML).
fn yaml(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).unwrap()
}

/// The files on a branch.
fn files_on(f: &Fleet, branch: &str) -> Vec<String> {
    f.git(&["ls-tree", "--name-only", branch])
        .lines()
        .map(str::to_string)
        .collect()
}

fn contains(f: &Fleet, branch: &str, commit_of: &str) -> bool {
    f.try_git_in(&f.repo, &["merge-base", "--is-ancestor", commit_of, branch])
        .code
        == 0
}

#[test]
fn a_chain_starts_each_agent_from_the_one_before() {
    let f = Fleet::new();
    let go = f.root.join("go");
    f.manifest(&format!(
        r#"command: {commit}
agents:
  - name: a
    prompt: x
    command: {wait_then_commit}
  - name: b
    prompt: x
    after: [a]
  - name: c
    prompt: x
    after: b
"#,
        commit = yaml(COMMIT),
        wait_then_commit = yaml(format!(
            "while [ ! -f {} ]; do sleep 0.1; done; {COMMIT}",
            sh_quote(go.to_string_lossy())
        )),
    ));
    f.fleet(&["validate"])
        .success()
        .stdout_has("order:        a → b → c")
        .stdout_has("after:    a (starts once they are done");
    f.fleet(&["up", "--dry-run"])
        .success()
        .stdout_has("then, as the agents they build on are done, from their branches: b, c");
    f.fleet(&["up"])
        .success()
        .stdout_has("waiting for the agents they build on: b (after a), c (after b)")
        .stdout_has("(worktree made once a is done)");
    // Nothing is made for b and c until a is done.
    assert!(!f.worktree("b").exists());
    assert_eq!(f.fleet_branches(), ["fleet/a"]);
    assert_eq!(f.state("b"), "queued");
    assert_eq!(f.agent("c")["after"], serde_json::json!(["b"]));
    f.fleet(&["status"])
        .success()
        .stdout_has("queued (after a)")
        .stdout_has("queued (after b)");
    fs::write(&go, "").unwrap();
    f.fleet(&["wait", "--timeout", "60"]).success();
    assert!(contains(&f, "fleet/b", "fleet/a"), "{}", f.diagnostics());
    assert!(contains(&f, "fleet/c", "fleet/b"));
    assert_eq!(
        files_on(&f, "fleet/c"),
        [".gitignore", "README.md", "a.txt", "b.txt", "c.txt"]
    );
    let subjects = f.git(&["log", "--format=%s", "main..fleet/c"]);
    assert_eq!(subjects.lines().collect::<Vec<_>>(), ["c", "b", "a"]);
}

#[test]
fn a_failed_dependency_blocks_the_chain_and_rerun_restarts_it() {
    let f = Fleet::new();
    let manifest = |a_command: &str| {
        format!(
            "command: {}\nagents:\n  - {{name: a, prompt: x, command: {}}}\n  - {{name: b, prompt: x, after: [a]}}\n  - {{name: c, prompt: x, after: [b]}}\n",
            yaml(COMMIT),
            yaml(a_command)
        )
    };
    f.manifest(&manifest("exit 3"));
    f.fleet(&["up"]).success();
    let wait = f.fleet(&["wait", "--timeout", "60"]);
    wait.code(1);
    assert!(
        wait.stdout.contains("b blocked (a failed)"),
        "{}",
        wait.output()
    );
    let b = f.agent("b");
    assert_eq!(b["state"], "blocked", "{b}");
    assert_eq!(b["reason"], "a failed");
    let c = f.agent("c");
    assert_eq!(c["state"], "blocked");
    assert_eq!(c["reason"], "b blocked");
    f.fleet(&["status"])
        .success()
        .stdout_has("blocked (a failed)");
    // Nothing was made for the blocked agents.
    assert_eq!(f.fleet_branches(), ["fleet/a"]);

    // a fixed and run again: what its failure blocked runs after it.
    f.manifest(&manifest(COMMIT));
    f.fleet(&["up", "--rerun", "a"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    assert_eq!(
        files_on(&f, "fleet/c"),
        [".gitignore", "README.md", "a.txt", "b.txt", "c.txt"]
    );
}

#[test]
fn a_diamond_merges_both_sides() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"command: {}
agents:
  - {{name: d, prompt: x, after: [b, c]}}
  - {{name: b, prompt: x, after: [a]}}
  - {{name: c, prompt: x, after: [a]}}
  - {{name: a, prompt: x}}
"#,
        yaml(COMMIT)
    ));
    f.fleet(&["validate"])
        .success()
        .stdout_has("order:        a → b, c → d");
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    assert!(contains(&f, "fleet/b", "fleet/a"));
    assert!(contains(&f, "fleet/c", "fleet/a"));
    assert!(contains(&f, "fleet/d", "fleet/b"));
    assert!(contains(&f, "fleet/d", "fleet/c"));
    assert_eq!(
        files_on(&f, "fleet/d"),
        [
            ".gitignore",
            "README.md",
            "a.txt",
            "b.txt",
            "c.txt",
            "d.txt"
        ]
    );
    // d starts from one merge of b and c (made by fleet), then its own commit.
    let parents = f.git(&["log", "-1", "--format=%P", "fleet/d~1"]);
    let tips = format!(
        "{} {}",
        f.git(&["rev-parse", "fleet/b"]).trim(),
        f.git(&["rev-parse", "fleet/c"]).trim()
    );
    assert_eq!(parents.trim(), tips);
}

#[test]
fn conflicting_dependencies_block_naming_the_file() {
    let f = Fleet::new();
    let write = |text: &str| {
        yaml(format!(
            "echo {text} > same.txt && git add same.txt && git commit -qm {text}"
        ))
    };
    f.manifest(&format!(
        "agents:\n  - {{name: b, prompt: x, command: {}}}\n  - {{name: c, prompt: x, command: {}}}\n  - {{name: d, prompt: x, command: \"true\", after: [b, c]}}\n",
        write("bee"),
        write("sea")
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    let d = f.agent("d");
    assert_eq!(d["state"], "blocked", "{d}");
    assert_eq!(d["reason"], "its dependencies b and c conflict in same.txt");
    assert!(!f.worktree("d").exists());
    assert_eq!(f.fleet_branches(), ["fleet/b", "fleet/c"]);
}

#[test]
fn a_cycle_or_an_unknown_name_is_refused_before_anything_is_made() {
    let f = Fleet::new();
    f.manifest(
        "command: \"true\"\nagents:\n  - {name: a, prompt: x, after: [b]}\n  - {name: b, prompt: x, after: [a]}\n  - {name: c, prompt: x, after: [aa]}\n  - {name: r, prompt: \"review {{diff:c}}\"}\n",
    );
    for cmd in ["validate", "up"] {
        let run = f.fleet(&[cmd]);
        run.code(2)
            .stderr_has("after: a cycle, a → b → a")
            .stderr_has("unknown agent `aa` (did you mean `a`?)")
            .stderr_has("names {{diff:c}}, but `c` is not in its `after:`");
    }
    assert!(!f.repo.join(".fleet").exists());
    assert!(f.fleet_branches().is_empty());
    assert!(f.sessions().is_empty());
}

#[test]
fn max_parallel_holds_with_dependencies() {
    let f = Fleet::new();
    let timeline = f.root.join("timeline");
    let body = format!(
        r#"echo "start $FLEET_AGENT" >> {t}; sleep 0.5; {COMMIT}; echo "end $FLEET_AGENT" >> {t}"#,
        t = sh_quote(timeline.to_string_lossy())
    );
    f.manifest(&format!(
        "max_parallel: 1\ncommand: {}\nagents:\n  - {{name: a, prompt: x}}\n  - {{name: b, prompt: x, after: [a]}}\n  - {{name: c, prompt: x}}\n",
        yaml(&body)
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    let events = fs::read_to_string(&timeline).unwrap();
    let mut running = 0;
    for line in events.lines() {
        running += if line.starts_with("start") { 1 } else { -1 };
        assert!(running <= 1, "more than max_parallel at once:\n{events}");
    }
    let pos = |e: &str| events.lines().position(|l| l == e).unwrap();
    assert!(pos("end a") < pos("start b"), "{events}");
    assert_eq!(events.lines().count(), 6, "{events}");
    assert!(contains(&f, "fleet/b", "fleet/a"));
}

#[test]
fn a_review_task_gets_the_diff_it_names() {
    let f = Fleet::new();
    f.manifest(&format!(
        "agents:\n  - {{name: api, prompt: x, command: {}}}\n  - name: review\n    after: [api]\n    prompt: \"Review this:\\n{{{{diff:api}}}}\\nThanks.\"\n    command: \"cat > got.txt && git add got.txt && git commit -qm review\"\n",
        yaml(COMMIT)
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    let got = f.git(&["show", "fleet/review:got.txt"]);
    assert!(got.starts_with("Review this:\n"), "{got}");
    assert!(got.contains("diff --git a/api.txt b/api.txt"), "{got}");
    assert!(got.contains("+api\n"), "{got}");
    assert!(got.contains("\nThanks."), "{got}");
    assert!(!got.contains("{{diff"), "{got}");
}

#[test]
fn a_dependent_started_by_a_runner_finds_the_programs_up_found() {
    let f = Fleet::new();
    // The tmux server (whose environment each runner has) started without the stub's PATH.
    f.tmux_ok(&["new-session", "-d", "-s", "bystander"]);
    let path = f.stub("work", &format!("#!/bin/sh\n{COMMIT}\n"));
    f.manifest(
        "command: work\nagents:\n  - {name: a, prompt: x}\n  - {name: b, prompt: x, after: [a]}\n",
    );
    f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    assert!(contains(&f, "fleet/b", "fleet/a"));
}

#[test]
fn a_rerun_moves_an_empty_branch_to_the_new_work_and_never_one_with_work() {
    let f = Fleet::new();
    let flag = f.root.join("flag");
    f.manifest(&format!(
        "agents:\n  - {{name: a, prompt: x, command: {}}}\n  - {{name: b, prompt: x, after: [a], command: {}}}\n",
        yaml("echo \"$$\" > a.txt && git add a.txt && git commit -qm a"),
        yaml(format!(
            "[ -f {} ] || exit 1; {COMMIT}",
            sh_quote(flag.to_string_lossy())
        ))
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    assert_eq!(f.state("b"), "failed");
    let first_a = f.git(&["rev-parse", "fleet/a"]);
    // b committed nothing: its branch follows a's new work.
    fs::write(&flag, "").unwrap();
    f.fleet(&["up", "--rerun", "a", "b"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    assert_ne!(f.git(&["rev-parse", "fleet/a"]), first_a);
    assert!(contains(&f, "fleet/b", "fleet/a"), "{}", f.diagnostics());
    // Now b has work of its own: a's newer work does not move it; b is blocked, saying so.
    let b_tip = f.git(&["rev-parse", "fleet/b"]);
    f.fleet(&["up", "--rerun", "a", "b"]).success();
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    let b = f.agent("b");
    assert_eq!(b["state"], "blocked", "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .starts_with("its branch fleet/b has work of its own without the latest of a"),
        "{b}"
    );
    assert_eq!(f.git(&["rev-parse", "fleet/b"]), b_tip);
}

#[test]
fn an_agent_after_a_lost_one_shows_blocked_though_no_runner_said_so() {
    let f = Fleet::new();
    f.manifest(&format!(
        "agents:\n  - {{name: a, prompt: x, command: \"sleep 60\"}}\n  - {{name: b, prompt: x, after: [a], command: {}}}\n",
        yaml(COMMIT)
    ));
    f.fleet(&["up"]).success();
    f.wait_state("a", "running");
    f.tmux_ok(&["kill-session", "-t", "repo-a"]);
    f.wait_state("a", "lost");
    let b = f.agent("b");
    assert_eq!(b["state"], "blocked", "{b}");
    assert_eq!(b["reason"], "a lost");
    f.fleet(&["wait", "--timeout", "30"])
        .code(1)
        .stdout_has("b blocked (a lost)");
}

#[test]
fn up_of_a_dependent_starts_what_it_builds_on_and_reruns_only_what_is_named() {
    let f = Fleet::new();
    f.manifest(&format!(
        "command: {}\nagents:\n  - name: a\n    prompt: x\n  - name: b\n    prompt: x\n    after: a\n  - name: c\n    prompt: x\n    after: b\n  - name: other\n    prompt: x\n",
        yaml(COMMIT.replace("\" > \"", "\" >> \""))
    ));
    // `up c` alone: a and b never ran, so they start too (said), and c after them.
    f.fleet(&["up", "c"])
        .success()
        .stdout_has("also starting what they build on (after:): a, b");
    f.fleet(&["wait", "a", "b", "c", "--timeout", "20"])
        .success();
    assert!(contains(&f, "fleet/c", "fleet/a") && contains(&f, "fleet/c", "fleet/b"));
    assert_eq!(
        f.state("other"),
        "pending",
        "an agent not needed stays as it was"
    );
    // `up --rerun c`: its finished dependencies are not run again.
    let (a, b) = (
        f.git(&["rev-parse", "fleet/a"]),
        f.git(&["rev-parse", "fleet/b"]),
    );
    let rerun = f.fleet(&["up", "--rerun", "c"]);
    rerun.success();
    assert!(
        !rerun.output().contains("also starting"),
        "{}",
        rerun.output()
    );
    f.fleet(&["wait", "c", "--timeout", "20"]).success();
    assert_eq!(f.git(&["rev-parse", "fleet/a"]), a);
    assert_eq!(f.git(&["rev-parse", "fleet/b"]), b);
}
