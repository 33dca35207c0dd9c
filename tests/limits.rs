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
    let result = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"working","session_id":"s-b","total_cost_usd":3.2,"usage":{"input_tokens":900,"output_tokens":80}}"#;
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > claude.args\ncat > /dev/null\necho partial > partial.txt\necho {}\nsleep 60\necho never\n",
        sh_quote(result)
    );
    f.stub("claude", &script)
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

/// A `claude` that fixes nothing on its first run and writes fixed.txt when resumed.
fn fixer(f: &Fleet) -> String {
    let script = r#"#!/bin/sh
printf '%s\n' "$@" >> claude.calls
echo --- >> claude.calls
case " $* " in
  *" --resume s-v "*) cat > retry-prompt.txt; echo ok > fixed.txt ;;
  *) cat > /dev/null ;;
esac
echo '{"type":"system","subtype":"init","session_id":"s-v","model":"m"}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-v","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":5}}'
"#;
    f.stub("claude", script)
}

#[test]
fn a_failed_verify_is_fed_back_to_the_same_session() {
    let f = Fleet::new();
    let path = fixer(&f);
    f.manifest(
        r#"verify: "test -f fixed.txt || { echo 'fixed.txt is missing'; exit 1; }"
agents:
  - name: retried
    agent: claude
    prompt: "Fix it."
    verify_retries: 1
  - name: once
    agent: claude
    prompt: "Fix it."
"#,
    );
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "30"])
        .code(1)
        .stdout_has("retried done")
        .stdout_has("once failed (verify failed, exit 1)");

    let calls = fs::read_to_string(f.worktree("retried").join("claude.calls")).unwrap();
    let runs: Vec<&str> = calls.split("---\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(runs.len(), 2, "{calls}");
    assert!(runs[1].contains("--resume\ns-v\n"), "{calls}");
    let prompt = fs::read_to_string(f.worktree("retried").join("retry-prompt.txt")).unwrap();
    assert!(prompt.contains("fixed.txt is missing"), "{prompt}");
    assert!(prompt.contains("failed (exit 1)"), "{prompt}");

    let agent = f.agent("retried");
    assert_eq!(agent["verify_retry"], 1);
    assert_eq!(agent["usage"]["turns"], 2, "usage adds up over both runs");
    assert_eq!(agent["usage"]["cost_usd"], 1.0);
    assert!(f
        .log("retried")
        .contains("resuming the agent's session with the verify output (retry 1 of 1)"));
    // without verify_retries, one run
    let once = fs::read_to_string(f.worktree("once").join("claude.calls")).unwrap();
    assert_eq!(once.matches("---").count(), 1, "{once}");
}

/// A `claude` that records each run's arguments and stdin, and reports session s-c.
fn recorder(f: &Fleet) -> String {
    let script = r#"#!/bin/sh
printf '%s\n' "$@" >> claude.calls
cat >> claude.calls
echo --- >> claude.calls
echo '{"type":"system","subtype":"init","session_id":"s-c","model":"m"}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-c","total_cost_usd":0.1,"usage":{"input_tokens":3,"output_tokens":2}}'
"#;
    f.stub("claude", script)
}

#[test]
fn continue_resumes_the_conversation_with_a_follow_up() {
    let f = Fleet::new();
    let path = recorder(&f);
    f.manifest(
        r#"agents:
  - name: talker
    agent: claude
    prompt: "First task."
  - name: plain
    prompt: "x"
    command: "echo plain"
  - name: sleeper
    agent: claude
    prompt: "x"
    command: "sleep 60"
"#,
    );
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "talker", "plain", "--timeout", "20"])
        .success();

    f.fleet_at(
        &f.repo,
        &env,
        &["continue", "talker", "-m", "Now add tests."],
    )
    .success()
    .stdout_has("continued talker (attempt 2)")
    .stdout_has("s-c");
    f.wait_for("the second run to finish", 20, |f| {
        f.agent("talker")["attempt"] == 2 && f.state("talker") == "done"
    });
    let follow_up = f.root.join("next.md");
    fs::write(&follow_up, "Then document them.\n").unwrap();
    f.fleet_at(
        &f.repo,
        &env,
        &["continue", "talker", "-f", &follow_up.to_string_lossy()],
    )
    .success();
    f.wait_for("the third run to finish", 20, |f| {
        f.agent("talker")["attempt"] == 3 && f.state("talker") == "done"
    });

    let calls = fs::read_to_string(f.worktree("talker").join("claude.calls")).unwrap();
    let runs: Vec<&str> = calls.split("---\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(runs.len(), 3, "{calls}");
    assert!(runs[0].ends_with("First task.\n"), "{calls}");
    assert!(
        runs[1].contains("--resume\ns-c\n") && runs[1].ends_with("Now add tests.\n"),
        "{calls}"
    );
    assert!(
        runs[2].contains("--resume\ns-c\n") && runs[2].ends_with("Then document them.\n"),
        "{calls}"
    );
    // one log, appended to
    let log = f.log("talker");
    assert_eq!(log.matches("[fleet] talker started").count(), 3, "{log}");

    // refusals: a running agent, one whose command fleet cannot resume, no follow-up
    f.fleet(&["continue", "sleeper", "-m", "x"])
        .code(1)
        .stderr_has("sleeper is still running");
    f.fleet(&["continue", "plain", "-m", "x"])
        .code(1)
        .stderr_has("plain cannot be continued")
        .stderr_has("fleet up --rerun plain");
    f.fleet(&["continue", "talker"]).code(2);
}

#[test]
fn a_rate_limited_agent_waits_and_runs_again_within_max_parallel() {
    let f = Fleet::new();
    let timeline = f.root.join("timeline");
    let body = |name: &str, first: &str| {
        format!(
            "echo \"start {name}\" >> \"$TIMELINE\"; {first} sleep 1; echo \"end {name}\" >> \"$TIMELINE\"; echo {name} worked"
        )
    };
    // the first try of `limited` (a claude) ends on its CLI's rate limit, whose reset is 2 s
    // away; then it works
    let result = |error: bool, text: &str| {
        format!(
            r#"echo '{{"type":"result","subtype":"success","is_error":{error},"num_turns":1,"result":"{text}","session_id":"s-1","total_cost_usd":0,"usage":{{"input_tokens":1,"output_tokens":1}}}}'"#
        )
    };
    let first = format!(
        r#"if [ ! -f tried ]; then touch tried; echo "end limited" >> "$TIMELINE"; {}; exit 1; fi;"#,
        result(
            true,
            "Claude AI usage limit reached|'$(( $(date +%s) + 2 ))'"
        )
    );
    let claude = format!(
        "#!/bin/sh\ncat > /dev/null\n{}; {}\n",
        body("limited", &first),
        result(false, "done")
    );
    let path = f.stub("claude", &claude);
    f.manifest(&format!(
        r#"max_parallel: 1
env:
  TIMELINE: {timeline}
agents:
  - name: limited
    prompt: "x"
    agent: claude
  - name: other
    prompt: "x"
    command: {other}
"#,
        timeline = sh_quote(timeline.to_string_lossy()),
        other = sh_quote(body("other", "")),
    ));
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.wait_for("limited to wait for its retry", 20, |f| {
        f.state("limited") == "waiting"
    });
    let waiting = f.agent("limited");
    assert!(waiting["retry_at"].is_string(), "{waiting}");
    assert_eq!(
        f.state("other"),
        "queued",
        "the waiting agent keeps its slot"
    );
    f.fleet(&["wait", "--timeout", "30"]).success();

    let agent = f.agent("limited");
    assert_eq!(agent["state"], "done");
    assert_eq!(agent["attempt"], 2, "two attempts recorded");
    assert!(f
        .log("limited")
        .contains("[fleet] rate-limited (exit 1): trying again at"));
    // never more than one running at once
    let events = fs::read_to_string(&timeline).unwrap();
    let mut running = 0;
    for line in events.lines() {
        running += if line.starts_with("start") { 1 } else { -1 };
        assert!(running <= 1, "more than max_parallel at once:\n{events}");
    }
    assert_eq!(
        events.lines().collect::<Vec<_>>(),
        [
            "start limited",
            "end limited",
            "start limited",
            "end limited",
            "start other",
            "end other"
        ],
        "{events}"
    );
}

#[test]
fn doctor_warns_when_run_inside_an_agent_session() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    prompt: x\n    command: \"true\"\n");
    let run = f.fleet_at(&f.repo, &[("CLAUDECODE", "1")], &["doctor"]);
    run.success()
        .stdout_has("warning  CLAUDECODE is set")
        .stdout_has("no problems found");
    let plain = f.fleet(&["doctor"]);
    assert!(!plain.stdout.contains("warning"), "{}", plain.stdout);
}

#[test]
fn continue_adds_up_usage_and_gets_what_is_left_of_the_budget() {
    let f = Fleet::new();
    let path = recorder(&f);
    f.manifest(
        r#"agents:
  - name: talker
    agent: claude
    max_cost_usd: 0.25
    prompt: "First task."
"#,
    );
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    // the third run spends $0.10 of the $0.05 left (this stub ignores its budget): over
    for (attempt, state) in [(2, "done"), (3, "failed")] {
        f.fleet_at(&f.repo, &env, &["continue", "talker", "-m", "More."])
            .success();
        f.wait_for("the continued run to finish", 20, |f| {
            f.agent("talker")["attempt"] == attempt && f.state("talker") == state
        });
    }
    assert_eq!(f.agent("talker")["reason"], "budget");
    let calls = fs::read_to_string(f.worktree("talker").join("claude.calls")).unwrap();
    let runs: Vec<&str> = calls.split("---\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(runs.len(), 3, "{calls}");
    // each run gets what the runs before it left: $0.10 a run
    assert!(runs[0].contains("--max-budget-usd\n0.25\n"), "{calls}");
    assert!(runs[1].contains("--max-budget-usd\n0.15\n"), "{calls}");
    assert!(runs[2].contains("--max-budget-usd\n0.05\n"), "{calls}");
    // usage adds up over the conversation
    let usage = &f.agent("talker")["usage"];
    assert_eq!(usage["turns"], 3, "{usage}");
    assert_eq!(usage["input_tokens"], 9, "{usage}");
    let cost = usage["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.3).abs() < 1e-9, "{usage}");
    // the budget is spent now (0.30 >= 0.25): no fourth run
    f.fleet_at(&f.repo, &env, &["continue", "talker", "-m", "More."])
        .code(1)
        .stderr_has("talker has spent its max_cost_usd ($0.25)");
}

#[test]
fn a_429_in_the_agents_own_work_is_not_its_clis_rate_limit() {
    let f = Fleet::new();
    // A claude whose tool ran a test suite that printed a 429 and then ended on an error
    // of its own (not a rate limit): failed at once, not `waiting`.
    let events = [
        r#"{"type":"system","subtype":"init","session_id":"s-4","model":"m"}"#,
        r#"{"type":"user","message":{"content":[{"type":"tool_result","is_error":true,"content":"test api::limits ... FAILED: expected 429 Too Many Requests, rate limit exceeded"}]},"session_id":"s-4"}"#,
        r#"{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":2,"result":"the tests fail","session_id":"s-4","total_cost_usd":0.01,"usage":{"input_tokens":1,"output_tokens":1}}"#,
    ];
    let script: String = events
        .iter()
        .map(|e| format!("echo {}\n", sh_quote(e)))
        .collect();
    let path = f.stub(
        "claude",
        &format!("#!/bin/sh\ncat > /dev/null\n{script}exit 1\n"),
    );
    f.manifest("agents:\n  - name: tester\n    agent: claude\n    prompt: \"Fix the limiter.\"\n");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "20"]).code(1);
    let agent = f.agent("tester");
    assert_eq!(agent["state"], "failed", "{agent}");
    assert_eq!(agent["reason"], "exit 1: the tests fail", "{agent}");
    assert!(agent["retry_at"].is_null(), "{agent}");
}

#[test]
fn a_command_agents_output_is_never_taken_for_a_rate_limit() {
    let f = Fleet::new();
    // Its own work: a test run's count holds "429"; a log that quotes a CLI's rate limit.
    f.manifest(&format!(
        "agents:\n  - {{name: tests, prompt: x, command: {}}}\n  - {{name: quotes, prompt: x, command: {}}}\n",
        serde_json::to_string("echo 'running the suite'; echo 'tests: 1429 passed, 1 failed'; exit 1").unwrap(),
        serde_json::to_string("echo \"Claude AI usage limit reached|$(( $(date +%s) + 2 ))\"; exit 1").unwrap(),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).code(1);
    for name in ["tests", "quotes"] {
        let agent = f.agent(name);
        assert_eq!(agent["state"], "failed", "{agent}");
        assert_eq!(agent["reason"], "exit 1", "{agent}");
        assert_eq!(agent["attempt"], 1, "{agent}");
        assert!(agent["retry_at"].is_null(), "{agent}");
        assert!(!f.log(name).contains("rate-limited"), "{}", f.log(name));
    }
}
