//! The sandbox with the real agent CLIs (claude, codex, gemini; pinned in
//! scripts/agent-clis.sh) against the scripted model servers of tests/fake, each at
//! `sandbox: true, permissions: full` (the CLI's own bypass mode, inside fleet's box):
//! the model has its shell tool build and test a small `make` project and commit the
//! result (`done`, the commit on its branch); and it runs the escapes of
//! tests/common/sandbox.rs through the same shell tool: each is refused, nothing outside
//! changes, and the agent still ends `done`. Skips (with a line saying so) without
//! bubblewrap or without the CLI (`FLEET_REAL_CLAUDE`, `FLEET_REAL_CODEX`,
//! `FLEET_REAL_GEMINI`, which scripts/test.sh sets).
mod common;
mod fake;

use std::path::{Path, PathBuf};

use common::real::yaml_map;
use common::sandbox::{bwrap_works, Targets};
use common::Fleet;

/// The CLI named by `var`, or None (after saying so) when the tests should skip.
fn real(var: &str) -> Option<PathBuf> {
    if !bwrap_works() {
        return None;
    }
    common::real_cli(var)
}

/// A small C project in the repository: `make test` builds `build/hello` and runs it.
fn project(f: &Fleet) {
    f.file(
        "hello.c",
        "#include <stdio.h>\nint main(void) { puts(\"hello, box\"); return 0; }\n",
    );
    f.file(
        "Makefile",
        "build/hello: hello.c\n\tmkdir -p build && cc -o build/hello hello.c\n\ntest: build/hello\n\t./build/hello | grep -q 'hello, box' && echo PASS\n",
    );
    f.file(".gitignore", "*.local\nbuild/\n");
    f.git(&["add", "hello.c", "Makefile", ".gitignore"]);
    f.git(&["commit", "-q", "-m", "a project to build"]);
}

/// What the model has the shell run to build and test it and commit the result.
const BUILD: &str =
    "make -s test > test-output.txt && git add test-output.txt && git commit -q -m 'build and test'";

/// The neighbour whose worktree and branch the escapes aim at: a `command:` agent.
const OTHER: &str = "  - name: other\n    command: \"cat >/dev/null; echo b > b.txt && git add b.txt && git commit -qm other\"\n    prompt: x\n";

/// Up with the CLI first on PATH; wait for every agent to end.
fn up_and_wait(f: &Fleet, cli: &Path) {
    f.up_and_wait(cli, 150);
}

/// The `args:` (a JSON list, which is YAML) that point codex at `api`.
fn codex_args(api: &fake::openai::Responses) -> String {
    let mut args = Vec::new();
    for c in fake::openai::codex_config(&api.base_url()) {
        args.push("-c".to_string());
        args.push(c);
    }
    serde_json::to_string(&args).unwrap()
}

/// `build` ended done with the test's output committed on its branch.
#[track_caller]
fn built(f: &Fleet) {
    let a = f.agent("build");
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("build"));
    assert_eq!(a["sandbox"], true);
    let shown = f.try_git_in(&f.repo, &["show", "fleet/build:test-output.txt"]);
    assert_eq!(shown.stdout.trim(), "PASS", "{}", f.log("build"));
    assert_eq!(
        f.git(&["log", "-1", "--format=%s", "fleet/build"]),
        "build and test"
    );
}

/// `boxed` ended done, every escape refused and nothing changed.
#[track_caller]
fn contained(f: &Fleet, targets: &mut Targets) {
    let a = f.agent("boxed");
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("boxed"));
    targets.check(f, "boxed");
}

#[test]
fn claude_in_its_box_builds_tests_commits_and_cannot_escape() {
    use fake::anthropic::{Anthropic, Turn};
    let Some(claude) = real("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    project(&f);
    let mut targets = Targets::new(&f, "other");
    let build = Anthropic::start(vec![
        Turn::bash(BUILD),
        Turn::text("Built, tested, committed."),
    ]);
    let boxed = Anthropic::start(vec![
        Turn::bash(&targets.script(&f.repo)),
        Turn::text("Tried them all."),
    ]);
    let env = |api: &Anthropic| yaml_map(&api.env(1));
    // No IS_SANDBOX from the user: in a box fleet says so itself.
    f.manifest(&format!(
        "agent: claude\nsandbox: true\npermissions: full\nnetwork: all\nagents:\n{OTHER}  - name: build\n    prompt: build it\n    env: {}\n  - name: boxed\n    prompt: try\n    env: {}\n",
        env(&build),
        env(&boxed)
    ));
    up_and_wait(&f, &claude);
    built(&f);
    contained(&f, &mut targets);
}

#[test]
fn codex_in_its_box_builds_tests_commits_and_cannot_escape() {
    use fake::openai::{Responses, Turn};
    let Some(codex) = real("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    project(&f);
    let mut targets = Targets::new(&f, "other");
    let build = Responses::start(vec![
        Turn::exec(BUILD),
        Turn::say("Built, tested, committed."),
    ]);
    let boxed = Responses::start(vec![
        Turn::exec(&targets.script(&f.repo)),
        Turn::say("Tried them all."),
    ]);
    f.manifest(&format!(
        "agent: codex\nsandbox: true\npermissions: full\nnetwork: all\nenv: {{ OPENAI_API_KEY: sk-fake }}\nagents:\n{OTHER}  - name: build\n    prompt: build it\n    args: {}\n  - name: boxed\n    prompt: try\n    args: {}\n",
        codex_args(&build),
        codex_args(&boxed)
    ));
    up_and_wait(&f, &codex);
    built(&f);
    contained(&f, &mut targets);
}

#[test]
fn gemini_in_its_box_builds_tests_commits_and_cannot_escape() {
    use fake::gemini::{self, shell, text};
    let Some(gemini_cli) = real("FLEET_REAL_GEMINI") else {
        return;
    };
    let f = Fleet::new();
    gemini::settings(&f.home, 2);
    project(&f);
    let mut targets = Targets::new(&f, "other");
    let (build, _b) = gemini::start(vec![shell(BUILD), text("Built, tested, committed.")]);
    let (boxed, _x) = gemini::start(vec![
        shell(&targets.script(&f.repo)),
        text("Tried them all."),
    ]);
    let env = |server: &fake::Server| yaml_map(&gemini::env(server));
    f.manifest(&format!(
        "agent: gemini\nsandbox: true\npermissions: full\nnetwork: all\nagents:\n{OTHER}  - name: build\n    prompt: build it\n    env: {}\n  - name: boxed\n    prompt: try\n    env: {}\n",
        env(&build),
        env(&boxed)
    ));
    up_and_wait(&f, &gemini_cli);
    built(&f);
    contained(&f, &mut targets);
}

/// Codex at `edit` and `read-only` in fleet's box: codex starts its own sandbox inside it
/// (nested); the edit agent builds, tests and commits, the read-only one changes nothing.
#[test]
fn codex_below_full_keeps_its_own_sandbox_inside_the_box() {
    use fake::openai::{Responses, Turn};
    let Some(codex) = real("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    project(&f);
    let build = Responses::start(vec![
        Turn::exec(BUILD),
        Turn::say("Built, tested, committed."),
    ]);
    let ro = Responses::start(vec![
        Turn::exec("echo changed > ro.txt"),
        Turn::say("Tried."),
    ]);
    f.manifest(&format!(
        "agent: codex\nsandbox: true\nnetwork: all\nenv: {{ OPENAI_API_KEY: sk-fake }}\nagents:\n  - name: build\n    prompt: build it\n    args: {}\n  - name: ro\n    permissions: read-only\n    prompt: try\n    args: {}\n",
        codex_args(&build),
        codex_args(&ro)
    ));
    up_and_wait(&f, &codex);
    built(&f);
    // The command was tried (codex sent its result back to the model; codex's stream does
    // not always show a refused command, so its log is no proof) and refused.
    let outputs = ro.tool_outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}\n{}", f.log("ro"));
    assert!(
        f.agent("ro")["denials"].as_u64().unwrap_or(0) >= 1,
        "{}",
        f.log("ro")
    );
    assert!(!f.worktree("ro").join("ro.txt").exists(), "{}", f.log("ro"));
}

/// A failed verify resumes claude's conversation in a new box: its session, written in
/// the box before, is there (the CLI's sessions directory is kept writable).
#[test]
fn claude_in_its_box_resumes_its_session_after_a_failed_verify() {
    use fake::anthropic::{write_and_commit_then_fix, Anthropic};
    let Some(claude) = real("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit_then_fix());
    f.manifest(&format!(
        "agent: claude\nsandbox: true\npermissions: full\nnetwork: all\nverify: test -f fixed.txt\nverify_retries: 1\nenv: {}\nagents:\n  - name: a\n    prompt: write hello.txt\n",
        yaml_map(&api.env(1))
    ));
    up_and_wait(&f, &claude);
    let a = f.agent("a");
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    assert_eq!(a["verify_retry"], 1);
    assert_eq!(
        f.git(&["log", "-1", "--format=%s", "fleet/a"]),
        "add fixed.txt"
    );
    // The resumed run carried on the same conversation.
    let reqs = api.turn_requests();
    assert_eq!(reqs.len(), 6, "{}", f.log("a"));
    assert!(reqs[3].json()["messages"].as_array().unwrap().len() > 6);
}
