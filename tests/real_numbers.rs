//! Honest numbers with the real agent CLIs (pinned, `FLEET_REAL_*`; each missing one is
//! skipped with a line saying so) against the scripted model servers of tests/fake: a budget
//! stops a model that keeps working within one request of the cap, a gemini agent commits
//! with the identity only in the global gitconfig, and the spend a CLI reports is what the
//! server sent.
mod common;
mod fake;

use std::path::Path;
use std::time::Duration;

use common::real::{text_below, yaml_map};
use common::{real_cli, Fleet};
use fake::{anthropic, gemini, openai, Server};

/// The gemini agent's `env:` for `server`, everything else going to a proxy that answers
/// nothing (kept alive by the caller).
fn gemini_env(f: &Fleet, server: &Server, trap: &Server) -> String {
    yaml_map(&gemini::env_trapped(server, trap, &f.tmp_dir()))
}

/// The cost recorded in status --json.
fn cost(a: &serde_json::Value) -> f64 {
    a["usage"]["cost_usd"].as_f64().unwrap_or(0.0)
}

/// Codex whose model keeps running commands, each request taking a second as a real one
/// does: priced at $10 per million input tokens, one request (about 100 tokens) is about
/// $0.001; the cap of $0.0035 stops it after its fourth, not at the end of its work.
#[test]
fn a_budget_stops_codex_within_one_request() {
    let Some(cli) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    let slow = |t: openai::Turn| openai::Turn::Slow(Duration::from_secs(1), Box::new(t));
    let api = openai::Responses::start(vec![slow(openai::Turn::exec("echo working >> work.txt"))]);
    openai::write_codex_config(&f.home, &api.base_url());
    f.manifest(&format!(
        "agent: codex\nmax_cost_usd: 0.0035\nprices: {{ {}: {{ input: 10, output: 0 }} }}\n\
         env: {{ OPENAI_API_KEY: sk-fake }}\nagents:\n  - name: cx\n    prompt: keep working\n",
        openai::MODEL
    ));
    f.up_and_wait(&cli, 120).code(1);
    let a = f.agent("cx");
    let log = f.log("cx");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(a["reason"], "budget", "{a}\n{log}");
    let one = 110.0 * 10.0 / 1e6;
    let spent = cost(&a);
    assert!(spent > 0.0035, "it went over: {a}\n{log}");
    assert!(
        spent <= 0.0035 + one,
        "at most one request over: {a}\n{log}"
    );
    // what the server answered is what was recorded (the requests it was stopped in
    // included)
    let sent: u64 = (0..api.calls()).map(|n| openai::usage_of(n).0).sum();
    assert!(api.calls() <= 6, "{} requests\n{log}", api.calls());
    assert!(
        a["usage"]["input_tokens"].as_u64().unwrap() + 110 >= sent,
        "{a} against {sent} sent\n{log}"
    );
}

/// Gemini whose model keeps writing files, each answer a second late: its chat log's tokens
/// stop it within one request of the cap ($10 per million input tokens: request n costs
/// about $0.01 n).
#[test]
fn a_budget_stops_gemini_within_one_request() {
    let Some(cli) = real_cli("FLEET_REAL_GEMINI") else {
        return;
    };
    let f = Fleet::new();
    gemini::settings(&f.home, 1);
    let slow = |t| gemini::Turn::Slow(Duration::from_secs(1), Box::new(t));
    let turns: Vec<_> = (1..=12)
        .map(|n| slow(gemini::write_file(&format!("f{n}.txt"), "more\n")))
        .collect();
    let (server, script) = gemini::start(turns);
    let trap = Server::trap();
    f.manifest(&format!(
        "agent: gemini\nmax_cost_usd: 0.05\nprices: {{ {}: {{ input: 10, output: 0 }} }}\n\
         agents:\n  - name: ge\n    prompt: keep working\n    args: [--model, {}]\n    env: {}\n",
        gemini::MODEL,
        gemini::MODEL,
        gemini_env(&f, &server, &trap)
    ));
    f.up_and_wait(&cli, 120).code(1);
    let a = f.agent("ge");
    let log = f.log("ge");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(a["reason"], "budget", "{a}\n{log}");
    let spent = cost(&a);
    // requests 1..=3 cost 0.0606; the fourth (0.04) would be the one over
    let n = script.answered();
    let request = |n: u64| gemini::usage(n).0 as f64 * 10.0 / 1e6;
    assert!(spent > 0.05, "{a}\n{log}");
    assert!(spent <= 0.05 + request(n), "{a}\n{log}");
    assert!(n <= 4, "{n} requests: not stopped in time\n{log}");
}

/// Codex gives up on a rate limit after its first request did work: fleet waits, then
/// resumes the same thread with a note that it was interrupted (not the task afresh in a
/// new one), and the usage is every attempt's: the first attempt's request included.
#[test]
fn a_rate_limit_restart_resumes_the_codex_session_and_keeps_every_attempts_tokens() {
    let Some(cli) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    // request 0 works, 1..=6 are the 429s codex tries (one and 5 retries), then the
    // resumed run commits and ends
    let mut turns = vec![openai::Turn::exec("echo one > one.txt")];
    turns.extend(std::iter::repeat_n(openai::Turn::Status(429), 6));
    turns.push(openai::Turn::exec("git add -A && git commit -q -m one"));
    turns.push(openai::Turn::say("Committed one.txt."));
    let api = openai::Responses::start(turns);
    openai::write_codex_config(&f.home, &api.base_url());
    f.manifest(
        "agent: codex\nretries: 1\nenv: { OPENAI_API_KEY: sk-fake }\nagents:\n  - name: cx\n    prompt: write one.txt and commit it\n",
    );
    f.up_and_wait(&cli, 200);
    let a = f.agent("cx");
    let log = f.log("cx");
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["commits_ahead"], 1, "{a}\n{log}");
    assert_eq!(api.calls(), 9, "{log}");
    // one session: both attempts name the same thread
    let session = a["session_id"].as_str().expect("a session").to_string();
    assert_eq!(
        log.matches(&format!("[codex] session {session}")).count(),
        2,
        "{log}"
    );
    // the resumed request carried the first attempt's work and the note
    let last = api.bodies().pop().unwrap()["input"].to_string();
    assert!(last.contains("echo one > one.txt"), "{last}");
    assert!(last.contains("was interrupted"), "{last}");
    assert!(!log.contains("no retries left"), "{log}");
    // every attempt's tokens: requests 0, 7 and 8 answered with usage
    let sent: u64 = [0, 7, 8].iter().map(|&n| openai::usage_of(n).0).sum();
    let out: u64 = [0, 7, 8].iter().map(|&n| openai::usage_of(n).2).sum();
    assert_eq!(a["usage"]["input_tokens"], sent, "{a}\n{log}");
    assert_eq!(a["usage"]["output_tokens"], out, "{a}\n{log}");
}

/// The deepest process running in `dir` (the CLI doing the work, below the shell and any
/// wrapper or relaunching parent): (pid, its command line).
fn cli_process(dir: &Path) -> Option<(u32, String)> {
    let mut found: Vec<(u32, u32, String)> = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(entry.path().join("cwd")).ok().as_deref() != Some(dir) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmd = std::fs::read_to_string(entry.path().join("cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        found.push((pid, ppid, cmd));
    }
    let parents: Vec<u32> = found.iter().map(|f| f.1).collect();
    found
        .into_iter()
        .filter(|(pid, _, cmd)| !parents.contains(pid) && !cmd.starts_with("sh "))
        .map(|(pid, _, cmd)| (pid, cmd))
        .next()
}

/// Sends SIGSEGV to the CLI of agent `name` once `ready` says its model is mid-request.
fn crash(f: &Fleet, name: &str, ready: impl Fn() -> bool) -> String {
    f.wait_for("the CLI's second request", 60, |_| ready());
    let (pid, cmd) = cli_process(&f.worktree(name)).expect("the CLI's process");
    // Twice: a Rust program's stack-overflow handler takes the first SIGSEGV that is not a
    // fault in its guard page, puts the default action back and returns.
    for _ in 0..2 {
        std::process::Command::new("kill")
            .args(["-SEGV", &pid.to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    cmd
}

/// Codex segfaults while its second request is under way: the reason names the signal and
/// the stream's missing end, the first request's tokens (from its rollout log) are kept.
#[test]
fn a_codex_crash_is_named_and_its_spend_kept() {
    let Some(cli) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    let api = openai::Responses::start(vec![
        openai::Turn::exec("echo one > one.txt"),
        openai::Turn::Slow(Duration::from_secs(60), Box::new(openai::Turn::say("late"))),
    ]);
    openai::write_codex_config(&f.home, &api.base_url());
    f.manifest(
        "agent: codex\nretries: 0\nenv: { OPENAI_API_KEY: sk-fake }\nagents:\n  - name: cx\n    prompt: write one.txt\n",
    );
    f.fleet_with(&cli, &["up"]).success();
    let cmd = crash(&f, "cx", || api.calls() >= 2);
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    let a = f.agent("cx");
    let log = f.log("cx");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(
        a["reason"], "killed by SIGSEGV: the stream ended without its final result event",
        "{cmd}\n{a}\n{log}"
    );
    let (input, _, output, _) = openai::usage_of(0);
    assert_eq!(a["usage"]["input_tokens"], input, "{a}\n{log}");
    assert_eq!(a["usage"]["output_tokens"], output, "{a}\n{log}");
}

/// Gemini's child segfaults while its second request is under way; its relaunching parent
/// exits 1: the stream's missing end says it died, the first request's tokens (from its chat
/// log) are kept.
#[test]
fn a_gemini_crash_is_named_and_its_spend_kept() {
    let Some(cli) = real_cli("FLEET_REAL_GEMINI") else {
        return;
    };
    let f = Fleet::new();
    gemini::settings(&f.home, 1);
    let (server, script) = gemini::start(vec![
        gemini::write_file("one.txt", "one\n"),
        gemini::Turn::Slow(Duration::from_secs(60), Box::new(gemini::text("late"))),
    ]);
    let trap = Server::trap();
    f.manifest(&format!(
        "agent: gemini\nretries: 0\nagents:\n  - name: ge\n    prompt: write one.txt\n    env: {}\n",
        gemini_env(&f, &server, &trap)
    ));
    f.fleet_with(&cli, &["up"]).success();
    let cmd = crash(&f, "ge", || script.answered() >= 2);
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    let a = f.agent("ge");
    let log = f.log("ge");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    let reason = a["reason"].as_str().unwrap_or_default();
    assert!(
        reason.ends_with(": the stream ended without its final result event"),
        "{cmd}\n{a}\n{log}"
    );
    let (input, output) = gemini::usage(1);
    assert_eq!(a["usage"]["input_tokens"], input, "{a}\n{log}");
    assert_eq!(a["usage"]["output_tokens"], output, "{a}\n{log}");
}

/// Claude segfaults while its second request is under way: the signal is named, and the
/// first message's tokens (its stream's events so far) are kept.
#[test]
fn a_claude_crash_is_named_and_its_spend_kept() {
    let Some(cli) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = anthropic::Anthropic::start(vec![
        anthropic::Turn::write("one.txt", "one\n"),
        anthropic::Turn::text("late").slow(Duration::from_secs(60)),
    ]);
    f.manifest(&format!(
        "agent: claude\nretries: 0\nagents:\n  - name: cl\n    prompt: write one.txt\n    env: {}\n",
        yaml_map(&api.env(0))
    ));
    f.fleet_with(&cli, &["up"]).success();
    // The crash comes once claude has written the first message's final usage to its
    // session log (it writes it a moment after the next request may already be out).
    let logged = format!("\"output_tokens\":{}", api.usage.output);
    let cmd = crash(&f, "cl", || {
        api.answered() >= 2 && text_below(&f.home.join(".claude/projects")).contains(&logged)
    });
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    let a = f.agent("cl");
    let log = f.log("cl");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(
        a["reason"], "killed by SIGSEGV: the stream ended without its final result event",
        "{cmd}\n{a}\n{log}"
    );
    let sent = api.usage;
    assert_eq!(a["usage"]["output_tokens"], sent.output, "{a}\n{log}");
    assert!(
        a["usage"]["input_tokens"].as_u64().unwrap_or(0) >= sent.input,
        "{a}\n{log}"
    );
}

/// Claude whose model keeps writing files: its own `--max-budget-usd` (fleet passes the cap)
/// stops it within one request.
#[test]
fn a_budget_stops_claude_within_one_request() {
    let Some(cli) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let turns = (1..=10)
        .map(|n| anthropic::Turn::write(&format!("f{n}.txt"), "more\n"))
        .collect();
    let api = anthropic::Anthropic::start(turns);
    f.manifest(&format!(
        "agent: claude\nmax_cost_usd: 0.05\nagents:\n  - name: cl\n    prompt: keep working\n    env: {}\n",
        yaml_map(&api.env(0))
    ));
    f.up_and_wait(&cli, 120).code(1);
    let a = f.agent("cl");
    let log = f.log("cl");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(a["reason"], "budget", "{a}\n{log}");
    let spent = cost(&a);
    let turns = a["usage"]["turns"].as_u64().unwrap_or(1).max(1);
    let one = spent / turns as f64;
    assert!(spent > 0.05, "{a}\n{log}");
    assert!(spent <= 0.05 + one + 1e-9, "{a}\n{log}");
    assert!(
        api.answered() < 10,
        "not stopped: {}\n{log}",
        api.answered()
    );
}

/// Aider whose tests keep failing, so it keeps asking the model for fixes: each reply's
/// `Cost:` line (the API's usage with `--no-stream`) stops it within one request.
#[test]
fn a_budget_stops_aider_within_one_request() {
    use fake::openai_chat::{self, Script, Turn};
    let Some(cli) = real_cli("FLEET_REAL_AIDER") else {
        return;
    };
    let f = Fleet::new();
    let server = Script::new(vec![Turn::Text(openai_chat::whole_file(
        "hello.txt",
        "hello",
    ))])
    .serve();
    let meta = f.root.join("model-metadata.json");
    let args = openai_chat::aider_args(&server, Some(&meta));
    f.manifest(&format!(
        "agent: aider\nmax_cost_usd: 0.003\nagents:\n  - name: ai\n    prompt: write hello.txt\n    args: [{args}, --auto-test, --test-cmd, \"sleep 1; false\"]\n    env: {{ LITELLM_LOCAL_MODEL_COST_MAP: \"True\" }}\n"
    ));
    f.up_and_wait(&cli, 120).code(1);
    let a = f.agent("ai");
    let log = f.log("ai");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(a["reason"], "budget", "{a}\n{log}");
    let one = (513.0 * 3.0 + 53.0 * 15.0) / 1e6;
    let spent = cost(&a);
    assert!(spent > 0.003, "{a}\n{log}");
    assert!(spent <= 0.003 + one + 0.0001, "{a}\n{log}");
    let asked = openai_chat::chat_requests(&server).len();
    assert!(asked <= 3, "{asked} requests\n{log}");
}

/// Aider (one python process) segfaults while its second request is under way (its test
/// failed, so it asks the model again): the signal is named, and the first reply's `Tokens:`
/// line (what the server sent) is kept.
#[test]
fn an_aider_crash_is_named_and_its_spend_kept() {
    use fake::openai_chat::{self, Script, Turn};
    let Some(cli) = real_cli("FLEET_REAL_AIDER") else {
        return;
    };
    let f = Fleet::new();
    let server = Script::new(vec![
        Turn::Text(openai_chat::whole_file("hello.txt", "hello")),
        Turn::Slow(Duration::from_secs(60), Box::new(Turn::Text("late".into()))),
    ])
    .serve();
    let meta = f.root.join("model-metadata.json");
    let args = openai_chat::aider_args(&server, Some(&meta));
    f.manifest(&format!(
        "agent: aider\nretries: 0\nagents:\n  - name: ai\n    prompt: write hello.txt\n    args: [{args}, --auto-test, --test-cmd, \"false\"]\n    env: {{ LITELLM_LOCAL_MODEL_COST_MAP: \"True\" }}\n"
    ));
    f.fleet_with(&cli, &["up"]).success();
    let cmd = crash(&f, "ai", || openai_chat::chat_requests(&server).len() >= 2);
    f.fleet(&["wait", "--timeout", "60"]).code(1);
    let a = f.agent("ai");
    let log = f.log("ai");
    assert!(log.contains("Tokens: 513 sent, 53 received."), "{log}");
    assert_eq!(a["state"], "failed", "{a}\n{log}");
    assert_eq!(a["reason"], "killed by SIGSEGV", "{cmd}\n{a}\n{log}");
    assert_eq!(
        a["usage"]["input_tokens"],
        openai_chat::PROMPT_TOKENS,
        "{a}\n{log}"
    );
    assert_eq!(
        a["usage"]["output_tokens"],
        openai_chat::COMPLETION_TOKENS,
        "{a}\n{log}"
    );
    assert_eq!(a["usage"]["turns"], 1, "{a}\n{log}");
    assert_eq!(cost(&a), 0.0023, "{a}\n{log}");
}
