//! The real Claude Code CLI (pinned in scripts/agent-clis.sh) run through fleet's `claude`
//! preset against the scripted Anthropic API of tests/fake/anthropic.rs on 127.0.0.1: each
//! permission level, a budget stop, API retries, a verify retry and a review round resuming
//! the session. Runs only when `FLEET_REAL_CLAUDE` names the program (scripts/test.sh
//! installs it and sets it); otherwise each test prints a skip line and passes. What claude
//! itself prints for these is pinned in tests/real_claude.rs.

mod common;
mod fake;

use std::path::Path;

use common::real::{yaml_map, REVIEW_COMMENTS};
use common::{real_cli, Fleet};
use fake::anthropic::{write_and_commit, write_and_commit_then_fix, Anthropic, Turn};
use serde_json::Value;

const TASK: &str = "Write hello.txt and commit it.\n";

fn committed(f: &Fleet, dir: &Path) -> String {
    f.git_in(dir, &["log", "--format=%s", "-1"])
}

/// A manifest for the `claude` preset with `env` (the fake's, from [`Anthropic::env`]):
/// `extra` top-level keys, one agent `a` with the task.
fn manifest(f: &Fleet, extra: &str, env: Vec<(String, String)>) {
    f.manifest(&format!(
        "agent: claude\n{extra}env: {}\nagents:\n  - name: a\n    prompt: {TASK:?}\n",
        yaml_map(&env)
    ));
}

/// `fleet up` and `fleet wait` with the real claude first on PATH; the wait's exit code.
fn up_and_wait(f: &Fleet, claude: &Path) -> i32 {
    f.up_and_wait(claude, 90).code
}

/// What fleet reports about agent `a`, with the log when an assertion fails.
fn report(f: &Fleet) -> (Value, String) {
    (f.agent("a"), f.log("a"))
}

#[test]
fn fleet_default_permissions_edit_and_commit() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    manifest(&f, "", api.env(1));
    let code = up_and_wait(&f, &claude);
    let (a, log) = report(&f);
    assert_eq!(code, 0, "{a}\n{log}");
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["permissions"], "edit");
    assert_eq!(a["denials"], 0, "{log}");
    assert_eq!(committed(&f, &f.worktree("a")), "add hello.txt");
    let want = api.usage.times(3);
    assert_eq!(a["usage"]["input_tokens"], want.fleet_input(), "{log}");
    assert_eq!(a["usage"]["output_tokens"], want.output, "{log}");
    assert_eq!(a["usage"]["turns"], 3);
    assert!(a["usage"]["cost_usd"].as_f64().unwrap() > 0.0);
    let id = a["session_id"].as_str().expect("a session id");
    assert!(log.contains(&format!("[claude] session {id}")), "{log}");
}

#[test]
fn fleet_read_only_ends_with_the_denials_shown() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    manifest(&f, "permissions: read-only\n", api.env(1));
    let code = up_and_wait(&f, &claude);
    let (a, log) = report(&f);
    assert_eq!(code, 1, "{a}\n{log}");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(a["denials"], 2, "{log}");
    assert_eq!(a["reason"], "2 actions denied");
    assert!(!f.worktree("a").join("hello.txt").exists());
    f.fleet(&["status"])
        .success()
        .stdout_has("2 actions denied");
}

#[test]
fn fleet_full_permissions_run_even_as_root() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    // as root claude wants the user's word that this is a sandbox (fleet asks for it)
    let mut env = api.env(1);
    env.push(("IS_SANDBOX".into(), "1".into()));
    manifest(&f, "permissions: full\n", env);
    let code = up_and_wait(&f, &claude);
    let (a, log) = report(&f);
    assert_eq!(code, 0, "{a}\n{log}");
    assert_eq!(a["state"], "done");
    assert_eq!(committed(&f, &f.worktree("a")), "add hello.txt");
}

#[test]
fn fleet_budget_stop_reports_real_tokens_exit_1_and_reason_budget() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    manifest(&f, "max_cost_usd: 0.01\n", api.env(1));
    let code = up_and_wait(&f, &claude);
    let (a, log) = report(&f);
    assert_eq!(code, 1, "{a}\n{log}");
    assert_eq!(a["state"], "failed");
    assert_eq!(a["reason"], "budget", "{a}\n{log}");
    assert_eq!(a["exit_code"], 1, "{a}\n{log}");
    // claude's own figures for the one turn it paid for (its `usage` says zero).
    let want = api.usage.times(1);
    assert_eq!(a["usage"]["input_tokens"], want.fleet_input(), "{log}");
    assert_eq!(a["usage"]["output_tokens"], want.output, "{log}");
}

#[test]
fn fleet_shows_api_retries_and_goes_on() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let mut script = vec![Turn::Overloaded];
    script.extend(write_and_commit());
    let api = Anthropic::start(script);
    manifest(&f, "", api.env(2));
    let code = up_and_wait(&f, &claude);
    let (a, log) = report(&f);
    assert_eq!(code, 0, "{a}\n{log}");
    assert_eq!(a["state"], "done");
    assert!(
        log.contains("[claude] API error 529 (overloaded): retrying, attempt 1 of 2"),
        "{log}"
    );
    assert_eq!(committed(&f, &f.worktree("a")), "add hello.txt");
}

#[test]
fn fleet_verify_retry_resumes_the_session_and_adds_its_usage() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    // The resumed run: fix what verify said, commit, answer.
    let api = Anthropic::start(write_and_commit_then_fix());
    manifest(
        &f,
        "verify: test -f fixed.txt\nverify_retries: 1\n",
        api.env(1),
    );
    let code = up_and_wait(&f, &claude);
    let (a, log) = report(&f);
    assert_eq!(code, 0, "{a}\n{log}");
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["verify_retry"], 1);
    assert_eq!(committed(&f, &f.worktree("a")), "add fixed.txt");
    // Each run's result counts that run only: the total is both runs'.
    let want = api.usage.times(6);
    assert_eq!(a["usage"]["input_tokens"], want.fleet_input(), "{log}");
    assert_eq!(a["usage"]["output_tokens"], want.output, "{log}");
    assert_eq!(a["usage"]["turns"], 6);
    // The resume carried on the same session.
    let reqs = api.turn_requests();
    assert_eq!(reqs.len(), 6);
    assert!(reqs[3].json()["messages"].as_array().unwrap().len() > 6);
}

#[test]
fn fleet_status_says_retrying_while_claude_waits_on_a_rate_limit() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let mut script = vec![Turn::RateLimited { retry_after: 6 }];
    script.extend(write_and_commit());
    let api = Anthropic::start(script);
    manifest(&f, "", api.env(2));
    f.fleet_with(&claude, &["up"]).success();
    f.wait_for("status to say retrying", 30, |f| {
        f.agent("a")["retrying"] == "API error 429, attempt 1 of 2"
    });
    f.fleet(&["status"])
        .success()
        .stdout_has("running (retrying: API error 429, attempt 1 of 2)");
    let wait = f.fleet(&["wait", "--timeout", "60"]);
    let (a, log) = report(&f);
    assert_eq!(wait.code, 0, "{a}\n{log}");
    assert_eq!(a["state"], "done");
    assert_eq!(a["retrying"], Value::Null);
}

#[test]
fn fleet_review_round_reaches_the_same_session_and_verify_runs_again() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(vec![
        Turn::write("notes.txt", "one\ntwo\nthree\n"),
        Turn::bash("git add notes.txt && git commit -m 'add notes'"),
        Turn::text("Added notes.txt."),
        // the review's answer, in the same conversation
        Turn::write("notes.txt", "ONE\ntwo two\n"),
        Turn::bash("git commit -am 'answer the review'"),
        Turn::text("Done as the review asked."),
    ]);
    manifest(&f, "verify: test -f notes.txt\n", api.env(1));
    assert_eq!(up_and_wait(&f, &claude), 0, "{}", f.log("a"));
    let session = f.agent("a")["session_id"].as_str().unwrap().to_string();

    f.review_with(&claude, "a");
    f.fleet_with(&claude, &["wait", "--timeout", "90"]);
    let (a, log) = report(&f);
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["attempt"], 2, "{a}");
    assert_eq!(a["session_id"], session.as_str(), "{a}");
    assert_eq!(committed(&f, &f.worktree("a")), "answer the review");
    assert_eq!(log.matches("[fleet] verify:").count(), 2, "{log}");
    assert_eq!(a["round"], 2);
    assert_eq!(a["review"]["comments"], 3);
    // the resumed turn carries the first run's conversation and every comment
    let reqs = api.turn_requests();
    assert_eq!(reqs.len(), 6);
    let resumed = &reqs[3];
    assert!(resumed.json()["messages"].as_array().unwrap().len() > 6);
    let body = String::from_utf8_lossy(&resumed.body);
    for part in REVIEW_COMMENTS.iter().chain(&["@@ -0,0 +1,3 @@"]) {
        assert!(body.contains(part), "{part:?} not sent:\n{body}");
    }
}
