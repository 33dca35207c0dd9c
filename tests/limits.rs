//! Limits (issue 9): an agent past its `timeout` or its `max_cost_usd` is stopped, marked
//! failed with the reason, and keeps the work it wrote.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{sh_quote, Fleet};

#[test]
fn an_agent_past_its_timeout_is_stopped_and_keeps_its_work() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: slow
    prompt: "x"
    timeout: 2s
    command: "echo draft > draft.txt; echo working; sleep 60; echo never"
  - name: quick
    prompt: "x"
    timeout: 1h
    command: "echo fine"
"#,
    );
    let start = Instant::now();
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "30"])
        .code(1)
        .stdout_has("slow failed (timeout)")
        .stdout_has("quick done");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "took {:?}",
        start.elapsed()
    );
    let slow = f.agent("slow");
    assert_eq!(slow["state"], "failed");
    assert_eq!(slow["reason"], "timeout");
    assert_eq!(
        fs::read_to_string(f.worktree("slow").join("draft.txt")).unwrap(),
        "draft\n"
    );
    let log = f.log("slow");
    assert!(
        log.contains("[fleet] stopping the agent: it ran past its timeout"),
        "{log}"
    );
    assert!(!log.lines().any(|l| l == "never"), "{log}");
    // a bad duration is a manifest error naming the agent
    f.manifest("agents:\n  - name: x\n    prompt: hi\n    timeout: 45x\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("timeout: `45x` is not a duration");
}

/// A `claude` stub that writes a file, reports its cost in a stream-json result event, then
/// keeps running (as if ignoring its budget), and notes its arguments.
fn spender(f: &Fleet) -> String {
    let bin = f.root.join("stubs");
    fs::create_dir_all(&bin).unwrap();
    let result = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"working","session_id":"s-b","total_cost_usd":3.2,"usage":{"input_tokens":900,"output_tokens":80}}"#;
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > claude.args\ncat > /dev/null\necho partial > partial.txt\necho {}\nsleep 60\necho never\n",
        sh_quote(result)
    );
    fs::write(bin.join("claude"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bin.join("claude"), fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

#[test]
fn an_agent_over_its_budget_is_stopped_and_keeps_its_work() {
    let f = Fleet::new();
    let path = spender(&f);
    f.manifest(
        r#"max_cost_usd: 2.50
agents:
  - name: spendy
    agent: claude
    prompt: "Spend."
"#,
    );
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "30"])
        .code(1)
        .stdout_has("spendy failed (budget)");
    let agent = f.agent("spendy");
    assert_eq!(agent["reason"], "budget");
    assert_eq!(agent["usage"]["cost_usd"], 3.2);
    // claude enforces a budget itself in print mode: fleet passes it on
    let args = fs::read_to_string(f.worktree("spendy").join("claude.args")).unwrap();
    assert!(args.contains("--max-budget-usd\n2.5\n"), "{args}");
    assert_eq!(
        fs::read_to_string(f.worktree("spendy").join("partial.txt")).unwrap(),
        "partial\n"
    );
    assert!(!f.log("spendy").lines().any(|l| l == "never"));
    f.fleet(&["status"]).success().stdout_has("failed (budget)");
}

#[test]
fn agents_do_not_inherit_an_agent_cli_session() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: nested
    prompt: "x"
    command: "echo \"[$CLAUDECODE][$CLAUDE_CODE_ENTRYPOINT][$KEEP]\" > env.txt"
"#,
    );
    // fleet itself run from inside a Claude Code session
    f.fleet_at(
        &f.repo,
        &[
            ("CLAUDECODE", "1"),
            ("CLAUDE_CODE_ENTRYPOINT", "cli"),
            ("KEEP", "yes"),
        ],
        &["up"],
    )
    .success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(
        fs::read_to_string(f.worktree("nested").join("env.txt")).unwrap(),
        "[][][yes]\n"
    );
}
