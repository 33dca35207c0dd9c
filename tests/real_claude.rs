//! Conformance with the real Claude Code CLI (issue 14), pinned in scripts/agent-clis.sh,
//! against the scripted Anthropic API of tests/fake/anthropic.rs on 127.0.0.1. Runs only
//! when `FLEET_REAL_CLAUDE` names the program (scripts/test.sh installs it and sets it);
//! otherwise each test prints a skip line and passes.
//!
//! These run claude directly and pin the facts fleet relies on (the flags per permission
//! level, the result event of a budget stop, of an API error, of a resume);
//! tests/real_claude_fleet.rs runs it through fleet's `claude` preset. With
//! `FLEET_RECORD_FIXTURES=1` they also write what claude printed to
//! tests/fixtures/real/claude-*.jsonl.

mod common;
mod fake;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::real::{json_lines, record_fixture};
use common::Fleet;
use fake::anthropic::{write_and_commit, Anthropic, Turn, Usage};
use serde_json::Value;

/// The real claude program, or None (after saying so) when the tests should skip.
fn real_claude() -> Option<PathBuf> {
    common::real_cli("FLEET_REAL_CLAUDE")
}

/// The flags of each permission level, as fleet's claude preset gives them.
const READ_ONLY: &[&str] = &["--permission-mode", "dontAsk"];
const EDIT: &[&str] = &[
    "--permission-mode",
    "acceptEdits",
    "--allowedTools",
    "Bash(git add *),Bash(git commit *),Bash(git rm *),Bash(git mv *)",
];
const FULL: &[&str] = &["--permission-mode", "bypassPermissions"];

/// What one direct run of claude left.
struct CliRun {
    code: i32,
    stdout: String,
    stderr: String,
    events: Vec<Value>,
}

impl CliRun {
    fn result(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|e| e["type"] == "result")
            .unwrap_or_else(|| panic!("no result event\n{}\n{}", self.stdout, self.stderr))
    }

    fn session(&self) -> String {
        self.result()["session_id"].as_str().unwrap().to_string()
    }

    fn of(&self, ty: &str, subtype: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == ty && e["subtype"] == subtype)
            .collect()
    }

    /// Writes the output to tests/fixtures/real/<name> when recording.
    fn record(&self, name: &str, f: &Fleet) {
        record_fixture(f, name, &self.stdout);
    }
}

/// Runs claude in the test's repo with `task` on stdin, HOME the test's, against `api`.
fn cli(f: &Fleet, claude: &Path, api: &Anthropic, task: &str, args: &[&str]) -> CliRun {
    cli_env(f, claude, api, task, args, &[])
}

fn cli_env(
    f: &Fleet,
    claude: &Path,
    api: &Anthropic,
    task: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> CliRun {
    let mut cmd = f.cli_command(claude);
    cmd.args(["--print", "--output-format", "stream-json", "--verbose"])
        .args(args)
        .envs(api.env(1))
        .envs(env.iter().copied());
    let run = f.run_cli(cmd, task, Duration::from_secs(300));
    CliRun {
        code: run.code,
        events: json_lines(&run.stdout),
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

fn usage_of(v: &Value) -> Usage {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Usage {
        input: n("input_tokens"),
        output: n("output_tokens"),
        cache_creation: n("cache_creation_input_tokens"),
        cache_read: n("cache_read_input_tokens"),
    }
}

/// The sum of the result's `modelUsage` over models.
fn model_usage_of(result: &Value) -> Usage {
    let mut u = Usage {
        input: 0,
        output: 0,
        cache_creation: 0,
        cache_read: 0,
    };
    for m in result["modelUsage"].as_object().into_iter().flatten() {
        let n = |k: &str| m.1[k].as_u64().unwrap_or(0);
        u.input += n("inputTokens");
        u.output += n("outputTokens");
        u.cache_creation += n("cacheCreationInputTokens");
        u.cache_read += n("cacheReadInputTokens");
    }
    u
}

fn committed(f: &Fleet, dir: &Path) -> String {
    f.git_in(dir, &["log", "--format=%s", "-1"])
}

const TASK: &str = "Write hello.txt and commit it.\n";

// ------------------------------------------------------------------ the CLI itself

#[test]
fn cli_edit_level_writes_and_commits() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    let run = cli(&f, &claude, &api, TASK, EDIT);
    run.record("claude-edit-commit.jsonl", &f);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let r = run.result();
    assert_eq!(r["subtype"], "success");
    assert_eq!(r["is_error"], false);
    assert_eq!(r["permission_denials"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["num_turns"], 3);
    assert_eq!(usage_of(&r["usage"]), api.usage.times(3));
    assert_eq!(model_usage_of(r), api.usage.times(3));
    assert_eq!(run.of("system", "init")[0]["permissionMode"], "acceptEdits");
    assert_eq!(committed(&f, &f.repo), "add hello.txt");
    assert_eq!(api.left(), 0);
}

#[test]
fn cli_read_only_level_is_denied_and_says_so() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    let run = cli(&f, &claude, &api, TASK, READ_ONLY);
    run.record("claude-read-only-denied.jsonl", &f);
    // A success, exit 0, with the denials listed.
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let r = run.result();
    assert_eq!(r["subtype"], "success");
    let denials = r["permission_denials"].as_array().unwrap();
    let tools: Vec<&str> = denials
        .iter()
        .map(|d| d["tool_name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["Write", "Bash"], "{r}");
    assert!(denials[0]["tool_use_id"].is_string() && denials[0]["tool_input"].is_object());
    assert!(!f.repo.join("hello.txt").exists());
    assert_eq!(committed(&f, &f.repo), "initial");
}

#[test]
fn cli_full_level_needs_the_sandbox_variable_as_root() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    let root = unsafe_is_root();
    if root {
        let refused = cli(&f, &claude, &api, TASK, FULL);
        assert_eq!(refused.code, 1);
        assert!(
            refused.stderr.contains(
                "--dangerously-skip-permissions cannot be used with root/sudo privileges"
            ),
            "{}",
            refused.stderr
        );
        assert_eq!(refused.stdout, "");
    }
    let run = cli_env(&f, &claude, &api, TASK, FULL, &[("IS_SANDBOX", "1")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.of("system", "init")[0]["permissionMode"],
        "bypassPermissions"
    );
    assert_eq!(committed(&f, &f.repo), "add hello.txt");
}

/// Whether this process runs as root (claude refuses `bypassPermissions` then).
fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn cli_budget_stop_has_its_usage_in_model_usage() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    // One turn of the fake costs about $0.03 at the model's list price: the budget stops
    // claude after the first.
    let mut args = EDIT.to_vec();
    args.extend(["--max-budget-usd", "0.01"]);
    let run = cli(&f, &claude, &api, TASK, &args);
    run.record("claude-budget-stop.jsonl", &f);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = run.result();
    assert_eq!(r["subtype"], "error_max_budget_usd", "{r}");
    assert_eq!(r["is_error"], true);
    assert_eq!(r["errors"][0], "Reached maximum budget ($0.01)");
    // `usage` lags one message behind (all zeros after one turn); modelUsage is right.
    assert_eq!(usage_of(&r["usage"]), api.usage.times(0));
    assert_eq!(model_usage_of(r), api.usage.times(1));
    assert!(r["total_cost_usd"].as_f64().unwrap() > 0.01);
    assert_eq!(api.messages(), 1);
}

#[test]
fn cli_budget_stop_after_two_turns_reports_one_in_usage() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(write_and_commit());
    let mut args = EDIT.to_vec();
    args.extend(["--max-budget-usd", "0.05"]);
    let run = cli(&f, &claude, &api, TASK, &args);
    assert_eq!(run.code, 1);
    let r = run.result();
    assert_eq!(r["subtype"], "error_max_budget_usd", "{r}");
    assert_eq!(usage_of(&r["usage"]), api.usage.times(1));
    assert_eq!(model_usage_of(r), api.usage.times(2));
}

#[test]
fn cli_overloaded_is_retried_then_fails_with_exit_1() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(vec![Turn::Overloaded.always()]);
    let run = cli_env(
        &f,
        &claude,
        &api,
        TASK,
        EDIT,
        &[("CLAUDE_CODE_MAX_RETRIES", "2")],
    );
    run.record("claude-overloaded-fails.jsonl", &f);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let retries = run.of("system", "api_retry");
    assert_eq!(retries.len(), 2, "{}", run.stdout);
    assert_eq!(retries[0]["attempt"], 1);
    assert_eq!(retries[0]["max_retries"], 2);
    assert_eq!(retries[0]["error_status"], 529);
    assert_eq!(retries[0]["error"], "overloaded");
    assert!(retries[0]["retry_delay_ms"].is_number());
    let r = run.result();
    // Not an error subtype: `success` with is_error. After three 529s in a row on the
    // default (Opus) model claude ends with "Repeated 529 Overloaded errors" and no status;
    // otherwise with "529 Overloaded" and `api_error_status: 529`.
    assert_eq!(r["subtype"], "success");
    assert_eq!(r["is_error"], true);
    let text = r["result"].as_str().unwrap();
    assert!(
        text.starts_with("API Error: Repeated 529 Overloaded errors")
            || (text.starts_with("API Error: 529 Overloaded") && r["api_error_status"] == 529),
        "{r}"
    );
    assert_eq!(api.answered(), 3);
}

#[test]
fn cli_rate_limit_is_retried_after_retry_after_then_succeeds() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let mut script = vec![Turn::RateLimited { retry_after: 1 }];
    script.extend(write_and_commit());
    let api = Anthropic::start(script);
    let run = cli_env(
        &f,
        &claude,
        &api,
        TASK,
        EDIT,
        &[("CLAUDE_CODE_MAX_RETRIES", "2")],
    );
    run.record("claude-rate-limit-retry-success.jsonl", &f);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let retries = run.of("system", "api_retry");
    assert_eq!(retries.len(), 1, "{}", run.stdout);
    assert_eq!(retries[0]["error_status"], 429);
    assert_eq!(retries[0]["error"], "rate_limit");
    // The first delay is the server's retry-after.
    assert_eq!(retries[0]["retry_delay_ms"], 1000);
    assert_eq!(run.result()["subtype"], "success");
    assert_eq!(usage_of(&run.result()["usage"]), api.usage.times(3));
    assert_eq!(committed(&f, &f.repo), "add hello.txt");
}

#[test]
fn cli_rate_limit_gives_up_with_exit_1() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let api = Anthropic::start(vec![Turn::RateLimited { retry_after: 0 }.always()]);
    let run = cli_env(
        &f,
        &claude,
        &api,
        TASK,
        EDIT,
        &[("CLAUDE_CODE_MAX_RETRIES", "1")],
    );
    run.record("claude-rate-limit-fails.jsonl", &f);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = run.result();
    assert_eq!(r["is_error"], true);
    assert_eq!(r["api_error_status"], 429);
    assert!(
        r["result"]
            .as_str()
            .unwrap()
            .starts_with("API Error: Request rejected (429)"),
        "{r}"
    );
}

#[test]
fn cli_resume_reports_the_usage_of_its_own_run() {
    let Some(claude) = real_claude() else { return };
    let f = Fleet::new();
    let mut script = write_and_commit();
    script.push(Turn::bash("git log --oneline"));
    script.push(Turn::text("Follow-up done."));
    let api = Anthropic::start(script);
    let first = cli(&f, &claude, &api, TASK, EDIT);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let id = first.session();
    let mut args = vec!["--resume", id.as_str()];
    args.extend(EDIT);
    let second = cli(&f, &claude, &api, "Now show the log.\n", &args);
    second.record("claude-resume.jsonl", &f);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let r = second.result();
    assert_eq!(r["session_id"], id.as_str());
    assert_eq!(second.of("system", "init")[0]["session_id"], id.as_str());
    // This run's two turns only, not the session's five.
    assert_eq!(r["num_turns"], 2);
    assert_eq!(usage_of(&r["usage"]), api.usage.times(2));
    assert_eq!(model_usage_of(r), api.usage.times(2));
}
