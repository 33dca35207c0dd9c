//! Conformance with the real OpenAI Codex CLI (codex-cli 0.171.0, `FLEET_REAL_CODEX` = the
//! path of its `codex`; scripts/test.sh installs it) against the scripted Responses API of
//! tests/fake/openai.rs on 127.0.0.1. Without the variable every test prints a skip line and
//! passes: the stubs of the other tests stay the fast ones, these are the truth.
//!
//! codex finds the fake through `$HOME/.codex/config.toml` (HOME is the test's private one):
//! a custom provider `fake` with the fake's `base_url` and `env_key = "OPENAI_API_KEY"`.
mod common;
mod fake;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::real::{json_lines, REVIEW_COMMENTS};
use common::{real_cli, Fleet};
use fake::openai::{self, Responses, Turn};
use serde_json::Value;

/// The real codex, or None after printing the skip line.
fn real_codex() -> Option<PathBuf> {
    real_cli("FLEET_REAL_CODEX")
}

fn of_type<'a>(evs: &'a [Value], t: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["type"] == t).collect()
}

/// The usage codex must report for requests `from..to` of the fake (its turn.completed sums
/// every request of the thread).
fn expected_input(requests: std::ops::Range<usize>) -> u64 {
    requests.map(|n| openai::usage_of(n).0).sum()
}

/// Runs the real `codex exec --json ARGS -` in `dir` with the task on stdin, bounded by a
/// deadline (kills it after). Returns (exit code or None when killed, stdout, stderr).
fn codex_exec(
    f: &Fleet,
    codex: &Path,
    dir: &Path,
    args: &[&str],
    task: &str,
    deadline: Duration,
) -> (Option<i32>, String, String) {
    let mut cmd = f.cli_command(codex);
    cmd.arg("exec")
        .arg("--json")
        .args(args)
        .current_dir(dir)
        .env("OPENAI_API_KEY", "sk-fake");
    let run = f.run_cli(cmd, task, deadline);
    let code = (run.code != -1).then_some(run.code);
    (code, run.stdout, run.stderr)
}

/// A linked worktree of the test repo (as fleet makes them), on a new branch.
fn worktree(f: &Fleet, name: &str) -> PathBuf {
    let wt = f.root.join(format!("wt-{name}"));
    f.git(&["worktree", "add", "-q", "-b", name, wt.to_str().unwrap()]);
    wt
}

/// The edit level's flags, as the preset writes them (for a run without fleet).
fn edit_flags(wt: &Path) -> Vec<String> {
    let git = |arg: &str| {
        let out = Command::new("git")
            .args(["rev-parse", arg])
            .current_dir(wt)
            .output()
            .unwrap();
        let p = String::from_utf8(out.stdout).unwrap().trim().to_string();
        common::canon(wt.join(p)).to_string_lossy().to_string()
    };
    vec![
        "--sandbox".into(),
        "workspace-write".into(),
        "--add-dir".into(),
        git("--git-common-dir"),
        "--add-dir".into(),
        git("--git-dir"),
    ]
}

const WRITE_AND_COMMIT: &str = "Write hello.txt containing 'hello' and commit it.\n";

fn write_and_commit() -> Vec<Turn> {
    vec![
        Turn::exec("printf 'hello\\n' > hello.txt"),
        Turn::exec("git add -A && git commit -q -m 'add hello'"),
        Turn::say("Wrote hello.txt and committed it."),
    ]
}

// ------------------------------------------------------------------ codex alone

/// The fake speaks Responses well enough: at workspace-write with the worktree's git dirs
/// writable, codex runs both commands and commits; its usage is the sum of the 3 requests.
#[test]
fn codex_alone_edits_and_commits_at_workspace_write() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    let api = Responses::start(write_and_commit());
    openai::write_codex_config(&f.home, &api.base_url());
    let wt = worktree(&f, "alone");
    let flags = edit_flags(&wt);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.push("-");
    let (code, out, err) = codex_exec(
        &f,
        &codex,
        &wt,
        &args,
        WRITE_AND_COMMIT,
        Duration::from_secs(90),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let evs = json_lines(&out);
    let cmds: Vec<&Value> = of_type(&evs, "item.completed")
        .into_iter()
        .filter(|e| e["item"]["type"] == "command_execution")
        .collect();
    assert_eq!(cmds.len(), 2, "{out}");
    assert!(cmds.iter().all(|e| e["item"]["exit_code"] == 0), "{out}");
    let done = of_type(&evs, "turn.completed");
    assert_eq!(done.len(), 1, "{out}");
    assert_eq!(done[0]["usage"]["input_tokens"], expected_input(0..3));
    assert_eq!(api.calls(), 3);
    assert_eq!(
        f.git_in(&wt, &["log", "-1", "--format=%s"]).trim(),
        "add hello"
    );
    // Only /responses, plain JSON.
    for r in api.server.requests() {
        assert_eq!((r.method.as_str(), r.route()), ("POST", "/v1/responses"));
        assert_eq!(r.header("content-encoding"), None);
    }
}

/// At read-only the sandbox refuses the write and the commit. codex's JSON stream usually shows
/// no item at all for a refused command (only the model sees "Read-only file system"); now and
/// then (under load) it shows one as a failed `command_execution` with that text.
#[test]
fn codex_alone_read_only_refusal_is_mostly_silent_in_the_stream() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    let api = Responses::start(write_and_commit());
    openai::write_codex_config(&f.home, &api.base_url());
    let wt = worktree(&f, "ro");
    let (code, out, err) = codex_exec(
        &f,
        &codex,
        &wt,
        &["--sandbox", "read-only", "-"],
        WRITE_AND_COMMIT,
        Duration::from_secs(90),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!wt.join("hello.txt").exists());
    let outputs = api.tool_outputs();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert!(
        outputs.iter().all(|o| o.contains("Read-only file system")),
        "{outputs:?}"
    );
    for e in json_lines(&out) {
        if e["item"]["type"] == "command_execution" && e["type"] == "item.completed" {
            assert_eq!(e["item"]["status"], "failed", "{out}");
            let text = e["item"]["aggregated_output"].as_str().unwrap_or("");
            assert!(text.contains("Read-only file system"), "{out}");
        }
    }
}

/// A 429 on every request: five "Reconnecting... n/5" error events, then turn.failed, exit 1.
#[test]
fn codex_alone_rate_limited_fails_after_five_retries() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    let api = Responses::start(vec![Turn::Status(429)]);
    openai::write_codex_config(&f.home, &api.base_url());
    let wt = worktree(&f, "rl");
    let (code, out, err) = codex_exec(&f, &codex, &wt, &["-"], "hi\n", Duration::from_secs(120));
    assert_eq!(code, Some(1), "{out}\n{err}");
    let evs = json_lines(&out);
    let retries = of_type(&evs, "error")
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Reconnecting... ")
        })
        .count();
    assert_eq!(retries, 5, "{out}");
    let failed = of_type(&evs, "turn.failed");
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("429 Too Many Requests"),
        "{out}"
    );
}

/// With nothing listening codex retries "waiting for network" forever (its
/// `unbounded_connection_retries` feature); with it disabled it gives up after 5 and exits 1.
#[test]
fn codex_alone_unreachable_api_is_bounded_by_disabling_unbounded_retries() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    openai::write_codex_config(&f.home, &openai::unreachable_base_url());
    let wt = worktree(&f, "down");
    let (code, out, err) = codex_exec(
        &f,
        &codex,
        &wt,
        &["--disable", "unbounded_connection_retries", "-"],
        "hi\n",
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{out}\n{err}");
    let evs = json_lines(&out);
    assert!(
        out.contains("Reconnecting... 5/5 (Connection failed"),
        "{out}"
    );
    assert_eq!(of_type(&evs, "turn.failed").len(), 1, "{out}");
}

// ------------------------------------------------------------------ through fleet

/// A fleet whose agents run the real codex (preset `agent: codex`) against `base_url`.
fn fleet_with(base_url: &str, agents: &str) -> Fleet {
    let f = Fleet::new();
    openai::write_codex_config(&f.home, base_url);
    f.manifest(&format!(
        "agent: codex\nenv: {{ OPENAI_API_KEY: sk-fake }}\nagents:\n{agents}"
    ));
    f
}

fn up_and_wait(f: &Fleet, codex: &Path, secs: u32) {
    // `wait` exits non-zero when an agent failed: the tests look at the state instead.
    f.up_and_wait(codex, secs);
}

fn branch_subject(f: &Fleet, name: &str) -> String {
    f.git(&["log", "-1", "--format=%s", &format!("fleet/{name}")])
        .trim()
        .to_string()
}

/// The default level (edit): the agent writes and commits; fleet says done, with codex's own
/// figures (3 requests: 100+101+102 in, 3×20 out), its thread id and no denials. Then
/// `fleet continue` resumes the thread: codex reports the thread's totals (303+103+104), and
/// fleet's total must equal them, not count the first run twice.
#[test]
fn fleet_codex_at_edit_commits_and_a_continue_counts_the_thread_once() {
    let Some(codex) = real_codex() else { return };
    let mut turns = write_and_commit();
    turns.extend([
        Turn::exec("printf 'two\\n' > two.txt && git add -A && git commit -q -m 'add two'"),
        Turn::say("Added two.txt."),
    ]);
    let api = Responses::start(turns);
    let f = fleet_with(
        &api.base_url(),
        "  - name: co\n    prompt: \"Write hello.txt containing 'hello' and commit it.\"\n",
    );
    up_and_wait(&f, &codex, 120);
    let agent = f.agent("co");
    assert_eq!(agent["state"], "done", "{agent}\n{}", f.log("co"));
    assert_eq!(branch_subject(&f, "co"), "add hello");
    assert_eq!(
        agent["usage"]["input_tokens"],
        expected_input(0..3),
        "{agent}"
    );
    assert_eq!(agent["usage"]["output_tokens"], 60, "{agent}");
    // priced from the model codex's session log names (its stream names none)
    let cost = agent["usage"]["cost_usd"].as_f64().unwrap_or(0.0);
    assert!(cost > 0.0, "{agent}");
    assert_eq!(agent["permissions"], "edit");
    assert_eq!(agent["denials"], 0);
    let thread = agent["session_id"].as_str().unwrap_or("").to_string();
    assert_eq!(thread.len(), 36, "{agent}");
    let log = f.log("co");
    assert!(log.contains(&format!("[codex] session {thread}")), "{log}");
    assert!(log.contains("Wrote hello.txt and committed it."), "{log}");

    f.fleet_with(
        &codex,
        &["continue", "co", "-m", "Now add two.txt and commit it."],
    )
    .success();
    f.fleet(&["wait", "--timeout", "120"]);
    let agent = f.agent("co");
    assert_eq!(agent["state"], "done", "{agent}\n{}", f.log("co"));
    assert_eq!(branch_subject(&f, "co"), "add two");
    assert_eq!(agent["session_id"], thread.as_str());
    assert_eq!(
        agent["usage"]["input_tokens"],
        expected_input(0..5),
        "{agent}"
    );
    assert_eq!(agent["usage"]["output_tokens"], 100, "{agent}");
    assert_eq!(api.calls(), 5);
}

/// read-only: the sandbox refuses the write and the commit; nothing is committed, and the
/// refusals (which codex's stream mostly does not show, but its session log does) are
/// counted: the agent fails for them instead of a silent `done`.
#[test]
fn fleet_codex_at_read_only_changes_nothing() {
    let Some(codex) = real_codex() else { return };
    let api = Responses::start(write_and_commit());
    let f = fleet_with(
        &api.base_url(),
        "  - name: ro\n    permissions: read-only\n    prompt: \"Write hello.txt and commit it.\"\n",
    );
    up_and_wait(&f, &codex, 120);
    let agent = f.agent("ro");
    assert_eq!(agent["permissions"], "read-only");
    assert_eq!(agent["commits_ahead"], 0, "{agent}");
    assert!(!f.worktree("ro").join("hello.txt").exists());
    let outputs = api.tool_outputs();
    assert!(
        outputs.iter().all(|o| o.contains("Read-only file system")),
        "{outputs:?}"
    );
    // Every refusal is counted (from codex's session log), and the agent that changed
    // nothing for them failed.
    assert_eq!(agent["denials"], 2, "{agent}");
    assert_eq!(agent["state"], "failed", "{agent}");
    assert_eq!(agent["reason"], "2 actions denied", "{agent}");
}

/// full: no sandbox at all; the agent commits.
#[test]
fn fleet_codex_at_full_commits() {
    let Some(codex) = real_codex() else { return };
    let api = Responses::start(write_and_commit());
    let f = fleet_with(
        &api.base_url(),
        "  - name: fu\n    permissions: full\n    prompt: \"Write hello.txt and commit it.\"\n",
    );
    up_and_wait(&f, &codex, 120);
    let agent = f.agent("fu");
    assert_eq!(agent["state"], "done", "{agent}\n{}", f.log("fu"));
    assert_eq!(branch_subject(&f, "fu"), "add hello");
}

/// The API unreachable: the preset bounds codex's reconnecting; the agent fails (exit 1)
/// with codex's own error, and the log shows the retries as retries.
#[test]
fn fleet_codex_with_the_api_unreachable_fails_instead_of_hanging() {
    let Some(codex) = real_codex() else { return };
    let f = fleet_with(
        &openai::unreachable_base_url(),
        "  - name: dn\n    prompt: hi\n",
    );
    let start = Instant::now();
    f.fleet_with(&codex, &["up"]).success();
    // While codex reconnects, status says it is retrying.
    f.wait_for("status --json retrying", 20, |f| {
        f.agent("dn")["retrying"]
            .as_str()
            .is_some_and(|r| r.starts_with("reconnecting, "))
    });
    f.fleet(&["wait", "--timeout", "150"]);
    let agent = f.agent("dn");
    assert_eq!(agent["state"], "failed", "{agent}\n{}", f.log("dn"));
    assert_eq!(agent["exit_code"], 1, "{agent}");
    let reason = agent["reason"].as_str().unwrap_or("");
    assert!(reason.contains("Connection failed"), "{agent}");
    let log = f.log("dn");
    assert!(
        log.contains("[codex] retrying: Reconnecting... 5/5"),
        "{log}"
    );
    assert!(start.elapsed() < Duration::from_secs(150));
}

/// A 429 on every request: codex gives up after 5 reconnects (exit 1, "429 Too Many
/// Requests" in its turn.failed); fleet takes it for a rate limit (with `retries: 0`, it
/// fails at once instead of waiting to try again).
#[test]
fn fleet_codex_rate_limited_is_a_rate_limit() {
    let Some(codex) = real_codex() else { return };
    let api = Responses::start(vec![Turn::Status(429)]);
    let f = fleet_with(
        &api.base_url(),
        "  - name: rl\n    retries: 0\n    prompt: hi\n",
    );
    up_and_wait(&f, &codex, 120);
    let agent = f.agent("rl");
    assert_eq!(agent["state"], "failed", "{agent}\n{}", f.log("rl"));
    assert_eq!(agent["reason"], "rate limited (exit 1)", "{agent}");
    assert_eq!(api.calls(), 6, "one request and 5 retries");
}

/// `fleet review` sends three line comments to the same codex thread: its answer commits,
/// verify runs again, status shows the round.
#[test]
fn fleet_codex_review_round_resumes_the_thread() {
    let Some(codex) = real_codex() else { return };
    let api = Responses::start(vec![
        Turn::exec("printf 'one\\ntwo\\nthree\\n' > notes.txt && git add -A && git commit -q -m 'add notes'"),
        Turn::say("Added notes.txt."),
        Turn::exec("printf 'ONE\\ntwo two\\n' > notes.txt && git commit -q -am 'answer the review'"),
        Turn::say("Done as the review asked."),
    ]);
    let f = fleet_with(
        &api.base_url(),
        "  - name: co\n    prompt: \"Write notes.txt and commit it.\"\n    verify: test -f notes.txt\n",
    );
    up_and_wait(&f, &codex, 120);
    let agent = f.agent("co");
    assert_eq!(agent["state"], "done", "{agent}\n{}", f.log("co"));
    let thread = agent["session_id"].as_str().unwrap_or("").to_string();

    f.review_with(&codex, "co");
    f.fleet(&["wait", "--timeout", "120"]);
    let agent = f.agent("co");
    assert_eq!(agent["state"], "done", "{agent}\n{}", f.log("co"));
    assert_eq!(agent["session_id"], thread.as_str());
    assert_eq!(branch_subject(&f, "co"), "answer the review");
    assert_eq!(
        f.log("co").matches("[fleet] verify:").count(),
        2,
        "{}",
        f.log("co")
    );
    assert_eq!(agent["round"], 2);
    assert_eq!(agent["review"]["comments"], 3);
    // the thread's earlier turns went with the review, and every comment
    let bodies = api.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    let resumed = bodies[2].to_string();
    for part in REVIEW_COMMENTS
        .iter()
        .chain(&["Write notes.txt and commit it."])
    {
        assert!(resumed.contains(part), "{part:?} not sent:\n{resumed}");
    }
}
