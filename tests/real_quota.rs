//! Shared quotas with the real CLIs (pinned, `FLEET_REAL_CLAUDE`/`FLEET_REAL_CODEX`; each
//! test skips with a line saying so when its CLI is missing) against the scripted model
//! servers of tests/fake answering with the real APIs' quota errors: what each CLI prints
//! for a quota (`cli_*`, saved as tests/fixtures/real/*-quota.jsonl with
//! `FLEET_RECORD_FIXTURES=1`), and fleet pausing every agent on the credential, holding its
//! queue, and resuming each agent's own session after the reset with exact usage.
mod common;
mod fake;

use std::path::Path;
use std::time::Duration;

use common::real::{json_lines, record_fixture, text_below, yaml_map};
use common::{real_cli, Fleet};
use fake::anthropic::{self, Anthropic, Turn};
use fake::openai;
use serde_json::Value;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs `program args` in the test's repo with a task on stdin and `env`: exit code, stdout.
fn run_cli(f: &Fleet, program: &Path, args: &[&str], env: &[(String, String)]) -> (i32, String) {
    let mut cmd = f.cli_command(program);
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    let run = f.run_cli(
        cmd,
        "Write a.txt and commit it.\n",
        Duration::from_secs(300),
    );
    (run.code, run.stdout)
}

/// Claude logged in to a subscription, its five-hour limit reached: one request, not
/// retried; a `rate_limit_event` (`rejected`, `resetsAt` the API's reset) and a failed
/// result (429, "You've hit your session limit · resets …"), exit 1.
#[test]
fn cli_claude_quota_is_a_rejected_rate_limit_event_with_its_reset() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(vec![Turn::Quota { resets_in: 3600 }]);
    let env = api.env_subscription(2, "sk-ant-oat01-fake-subscription");
    let args = ["--print", "--output-format", "stream-json", "--verbose"];
    let (code, stdout) = run_cli(&f, &claude, &args, &env);
    record_fixture(&f, "claude-quota.jsonl", &stdout);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        api.turn_requests().len(),
        1,
        "a quota is not retried\n{stdout}"
    );
    let events = json_lines(&stdout);
    let limit = events
        .iter()
        .find(|e| e["type"] == "rate_limit_event")
        .unwrap_or_else(|| panic!("no rate_limit_event\n{stdout}"));
    let info = &limit["rate_limit_info"];
    assert_eq!(info["status"], "rejected", "{limit}");
    assert_eq!(info["rateLimitType"], "five_hour", "{limit}");
    let reset = info["resetsAt"].as_u64().unwrap();
    assert!(reset.abs_diff(now() + 3600) < 30, "{limit}");
    let result = events.iter().find(|e| e["type"] == "result").unwrap();
    assert_eq!(result["is_error"], true);
    assert_eq!(result["api_error_status"], 429);
    assert!(
        result["result"]
            .as_str()
            .unwrap()
            .starts_with("You've hit your session limit · resets "),
        "{result}"
    );
}

/// The same 429 to claude on an API key is a rate limit: retried, then given up on as
/// `Request rejected (429)`, no `rate_limit_event`.
#[test]
fn cli_claude_on_an_api_key_reads_the_quota_headers_as_a_rate_limit() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(vec![Turn::Quota { resets_in: 3600 }.always()]);
    let args = ["--print", "--output-format", "stream-json", "--verbose"];
    let (code, stdout) = run_cli(&f, &claude, &args, &api.env(1));
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(api.turn_requests().len(), 2, "retried once\n{stdout}");
    assert!(!stdout.contains("rate_limit_event"), "{stdout}");
    assert!(stdout.contains("Request rejected (429)"), "{stdout}");
}

/// Codex on a ChatGPT plan's usage limit: one request, not retried; `error` and
/// `turn.failed` say "You’ve hit your usage limit. … try again at <local time>.", exit 1;
/// its session log keeps the windows' reset (`token_count` `rate_limits`).
#[test]
fn cli_codex_usage_limit_is_not_retried_and_names_the_reset() {
    let Some(codex) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    let api = openai::Responses::start(vec![openai::Turn::UsageLimit(3600)]);
    let mut args = vec![
        "exec",
        "--json",
        "--disable",
        "unbounded_connection_retries",
    ];
    let config = openai::codex_config(&api.base_url());
    for c in &config {
        args.extend(["-c", c.as_str()]);
    }
    args.push("-");
    let env = vec![("OPENAI_API_KEY".to_string(), "sk-fake".to_string())];
    let (code, stdout) = run_cli(&f, &codex, &args, &env);
    record_fixture(&f, "codex-quota.jsonl", &stdout);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(api.calls(), 1, "a usage limit is not retried\n{stdout}");
    let failed = json_lines(&stdout)
        .into_iter()
        .find(|e| e["type"] == "turn.failed")
        .unwrap_or_else(|| panic!("no turn.failed\n{stdout}"));
    let why = failed["error"]["message"]
        .as_str()
        .unwrap()
        .replace('’', "'");
    assert!(why.starts_with("You've hit your usage limit."), "{why}");
    assert!(why.contains(" try again at "), "{why}");
    let logs = text_below(&f.home.join(".codex/sessions"));
    assert!(logs.contains("\"rate_limits\""), "{logs}");
}

/// A claude agent of the manifest on `api`, logged in with `token`.
fn claude_agent(name: &str, api: &Anthropic, token: &str) -> String {
    format!(
        "  - name: {name}\n    prompt: do your part\n    env: {}\n",
        yaml_map(&api.env_subscription(1, token))
    )
}

/// The acceptance: three claude agents on one subscription (A) and one on another (B),
/// `max_parallel: 4` so a fifth on A waits queued. The first agent's second request gets
/// the real quota error, resetting a few seconds later: the three on A pause (`waiting
/// (quota on …)`, the two others stopped mid-work, no request of theirs reaches the API
/// before the reset), B goes on and finishes, the queued one does not start; after the
/// reset the three resume their own sessions and finish, then the queued one runs; each
/// one's usage is what its server sent.
#[test]
fn a_quota_pauses_every_agent_on_the_credential_and_they_resume_their_sessions() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    const RESET: u64 = 20;
    let commit = |n: &str| {
        vec![
            Turn::write(&format!("{n}.txt"), &format!("{n}\n")),
            Turn::bash(&format!("git add -A && git commit -q -m {n}")),
            Turn::text("Done."),
        ]
    };
    // a1 works a while (the others are busy in a long command by then), then hits the quota
    let mut s1 = vec![Turn::bash("sleep 6"), Turn::Quota { resets_in: RESET }];
    s1.extend(commit("a1"));
    let mut s2 = vec![Turn::bash("sleep 40")];
    s2.extend(commit("a2"));
    let mut s3 = vec![Turn::bash("sleep 40")];
    s3.extend(commit("a3"));
    let mut s4 = vec![Turn::bash("sleep 8")];
    s4.extend(commit("b"));
    let (a1, a2, a3) = (
        Anthropic::start(s1),
        Anthropic::start(s2),
        Anthropic::start(s3),
    );
    let b = Anthropic::start(s4);
    let q = Anthropic::start(commit("q"));
    let (ta, tb) = ("sk-ant-oat01-account-a", "sk-ant-oat01-account-b");
    f.manifest(&format!(
        "agent: claude\nmax_parallel: 4\nagents:\n{}{}{}{}{}",
        claude_agent("a1", &a1, ta),
        claude_agent("a2", &a2, ta),
        claude_agent("a3", &a3, ta),
        claude_agent("b", &b, tb),
        claude_agent("q", &q, ta),
    ));
    f.fleet_with(&claude, &["up"]).success();
    assert_eq!(f.agent("q")["state"], "queued");
    let label = f.agent("a1")["credential"].as_str().unwrap().to_string();
    assert!(label.starts_with("claude:key-"), "{label}");
    assert_ne!(f.agent("b")["credential"], label.as_str());

    // the quota: the three pause, shown so
    f.wait_for("the three on A to pause on the quota", 90, |f| {
        ["a1", "a2", "a3"].iter().all(|n| {
            let a = f.agent(n);
            a["state"] == "waiting" && a["quota"]["label"] == label.as_str()
        })
    });
    let paused_at = now();
    let sessions: Vec<String> = ["a1", "a2", "a3"]
        .iter()
        .map(|n| f.agent(n)["session_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(sessions.iter().all(|s| !s.is_empty()), "{sessions:?}");
    let status = f.fleet(&["status"]);
    status
        .success()
        .stdout_has(&format!("waiting (quota on {label}, resets "));
    // the two others were stopped mid-work, before their next request
    for n in ["a2", "a3"] {
        assert!(
            f.log(n)
                .contains("usage limit is reached (it resumes after the reset)"),
            "{}",
            f.log(n)
        );
    }
    let asked = |api: &Anthropic| api.turn_requests().len();
    let (n2, n3) = (asked(&a2), asked(&a3));
    // B goes on and finishes; the queued one on A does not start meanwhile
    f.wait_for("b to finish", 90, |f| f.agent("b")["state"] == "done");
    let q_now = f.agent("q");
    assert_eq!(q_now["state"], "queued", "{q_now}");
    assert!(
        q_now["label"]
            .as_str()
            .unwrap()
            .starts_with(&format!("queued (quota on {label}")),
        "{q_now}"
    );
    assert_eq!(q_now["quota"]["label"], label.as_str(), "{q_now}");
    assert!(now() < paused_at + RESET, "the checks took past the reset");
    assert_eq!(
        (asked(&a2), asked(&a3)),
        (n2, n3),
        "no request during the quota"
    );
    assert_eq!(asked(&q), 0);

    // after the reset: all resume their own sessions and finish, then q runs
    let wait = f.fleet_with(&claude, &["wait", "--timeout", "240"]);
    for (i, (n, api)) in [("a1", &a1), ("a2", &a2), ("a3", &a3), ("b", &b), ("q", &q)]
        .iter()
        .enumerate()
    {
        let a = f.agent(n);
        let log = f.log(n);
        assert_eq!(a["state"], "done", "{n}: {a}\n{log}");
        assert_eq!(a["commits_ahead"], 1, "{n}: {a}\n{log}");
        assert_eq!(a["quota"], Value::Null, "{n}: {a}");
        if i < 3 {
            assert_eq!(a["session_id"], sessions[i].as_str(), "{n}: {log}");
            assert!(
                log.contains(&format!("resuming the agent's session {}", sessions[i])),
                "{log}"
            );
        }
        let want = api.usage.times(api.messages());
        assert_eq!(
            a["usage"]["input_tokens"],
            want.fleet_input(),
            "{n}: {a}\n{log}"
        );
        assert_eq!(a["usage"]["output_tokens"], want.output, "{n}: {a}\n{log}");
    }
    assert_eq!(wait.code, 0);
    // the resumed requests carried the conversation (the task; claude drops a tool call
    // it was killed in) and the note
    let last = a2.turn_requests().pop().unwrap().json()["messages"].to_string();
    assert!(last.contains("do your part"), "{last}");
    assert!(last.contains("usage limit was reached"), "{last}");
}

/// Codex on a ChatGPT plan hits its usage limit after a first request did work: fleet
/// pauses it until the reset its session log names (a few seconds ahead), resumes the same
/// thread, and counts every request's tokens.
#[test]
fn a_codex_usage_limit_pauses_until_its_reset_and_resumes_the_thread() {
    let Some(codex) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    let api = openai::Responses::start(vec![
        openai::Turn::exec("echo one > one.txt"),
        openai::Turn::UsageLimit(12),
        openai::Turn::exec("git add -A && git commit -q -m one"),
        openai::Turn::say("Committed one.txt."),
    ]);
    openai::write_codex_config(&f.home, &api.base_url());
    f.manifest(
        "agent: codex\nretries: 0\nenv: { OPENAI_API_KEY: sk-fake-plan }\nagents:\n  - name: cx\n    prompt: write one.txt and commit it\n",
    );
    f.fleet_with(&codex, &["up"]).success();
    f.wait_for("cx to pause on its quota", 90, |f| {
        f.agent("cx")["state"] == "waiting"
    });
    let a = f.agent("cx");
    let label = a["credential"].as_str().unwrap().to_string();
    assert_eq!(a["quota"]["label"], label.as_str(), "{a}");
    assert_eq!(a["quota"]["agent"], "cx", "{a}");
    let session = a["session_id"].as_str().unwrap().to_string();
    f.fleet(&["wait", "--timeout", "120"]);
    let a = f.agent("cx");
    let log = f.log("cx");
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["session_id"], session.as_str(), "{log}");
    assert_eq!(a["commits_ahead"], 1, "{log}");
    assert_eq!(api.calls(), 4, "{log}");
    assert!(
        !log.contains("rate-limited"),
        "a quota is no rate limit\n{log}"
    );
    let sent: u64 = [0, 2, 3].iter().map(|&n| openai::usage_of(n).0).sum();
    let out: u64 = [0, 2, 3].iter().map(|&n| openai::usage_of(n).2).sum();
    assert_eq!(a["usage"]["input_tokens"], sent, "{a}\n{log}");
    assert_eq!(a["usage"]["output_tokens"], out, "{a}\n{log}");
}

/// A transient 429 (an API key's rate limit) backs off only the agent that got it: it waits
/// `retry 1 at …` while the other agent on the same key goes on and finishes, and no quota
/// is recorded.
#[test]
fn a_rate_limit_backs_off_only_the_agent_that_got_it() {
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let limited = Anthropic::start(vec![Turn::RateLimited { retry_after: 0 }.always()]);
    let mut script = vec![Turn::bash("sleep 4")];
    script.extend(anthropic::write_and_commit());
    let other = Anthropic::start(script);
    let agent = |name: &str, api: &Anthropic| {
        format!(
            "  - name: {name}\n    prompt: do your part\n    env: {}\n",
            yaml_map(&api.env(1))
        )
    };
    f.manifest(&format!(
        "agent: claude\nretries: 1\nagents:\n{}{}",
        agent("r", &limited),
        agent("o", &other)
    ));
    assert_eq!(f.agent("r")["credential"], f.agent("o")["credential"]);
    f.fleet_with(&claude, &["up"]).success();
    f.wait_for("r to back off", 60, |f| {
        f.agent("r")["state"] == "waiting" || f.agent("o")["state"] == "done"
    });
    f.wait_for("o to finish", 90, |f| f.agent("o")["state"] == "done");
    let r = f.agent("r");
    assert_eq!(r["state"], "waiting", "{r}\n{}", f.log("r"));
    assert_eq!(r["quota"], Value::Null, "{r}");
    assert!(
        r["label"]
            .as_str()
            .unwrap()
            .starts_with("waiting (retry 1 at "),
        "{r}"
    );
    assert!(!f.repo.join(".fleet/quota").exists());
    f.fleet(&["down"]);
}

/// Gemini on an API key whose daily quota on the model is used up: not retried; its
/// `result` says the daily quota is exhausted.
#[test]
fn cli_gemini_daily_quota_is_a_terminal_error() {
    let Some(gemini_cli) = real_cli("FLEET_REAL_GEMINI") else {
        return;
    };
    let f = Fleet::new();
    fake::gemini::settings(&f.home, 3);
    let (server, script) = fake::gemini::start(vec![fake::gemini::Turn::DailyQuota(7200); 4]);
    let mut env = fake::gemini::env(&server);
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    let args = ["--output-format", "stream-json", "--skip-trust"];
    let (code, stdout) = run_cli(&f, &gemini_cli, &args, &env);
    record_fixture(&f, "gemini-quota.jsonl", &stdout);
    assert_eq!(code, 173, "{stdout}");
    assert_eq!(
        script.answered(),
        1,
        "a daily quota is not retried\n{stdout}"
    );
    let result = json_lines(&stdout)
        .into_iter()
        .find(|e| e["type"] == "result")
        .unwrap_or_else(|| panic!("no result\n{stdout}"));
    let why = result["error"]["message"].as_str().unwrap();
    assert!(
        why.starts_with("[API Error: You have exhausted your daily quota on this model.]"),
        "{why}"
    );
}

/// A gemini agent whose API key's daily quota is used up waits on it (its reset midnight
/// Pacific, far off), shown so; removing `.fleet/quota/<label>.json` lifts the quota early:
/// the agent resumes its session and finishes.
#[test]
fn a_gemini_daily_quota_pauses_and_a_record_removed_by_hand_lifts_it() {
    let Some(gemini_cli) = real_cli("FLEET_REAL_GEMINI") else {
        return;
    };
    use fake::gemini::{commit, start, text, write_file, Turn as G};
    let f = Fleet::new();
    fake::gemini::settings(&f.home, 2);
    let (server, script) = start(vec![
        write_file("one.txt", "one\n"),
        G::DailyQuota(7200),
        commit("add one.txt"),
        text("Done."),
    ]);
    let mut env = fake::gemini::env(&server);
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    env.push(("TMPDIR".into(), f.tmp_dir().display().to_string()));
    f.manifest(&format!(
        "agent: gemini\nagents:\n  - name: ge\n    prompt: write one.txt and commit it\n    env: {}\n",
        yaml_map(&env)
    ));
    f.fleet_with(&gemini_cli, &["up"]).success();
    f.wait_for("ge to pause on its quota", 90, |f| {
        f.agent("ge")["state"] == "waiting"
    });
    let a = f.agent("ge");
    let label = a["credential"].as_str().unwrap().to_string();
    assert!(label.starts_with("gemini:key-"), "{a}");
    assert_eq!(a["quota"]["label"], label.as_str(), "{a}");
    assert!(
        a["label"]
            .as_str()
            .unwrap()
            .starts_with(&format!("waiting (quota on {label}, resets ")),
        "{a}"
    );
    let session = a["session_id"].as_str().unwrap().to_string();
    let dir = f.repo.join(".fleet/quota");
    let records: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(records.len(), 1);
    std::fs::remove_file(records[0].path()).unwrap();
    f.fleet(&["wait", "--timeout", "120"]);
    let a = f.agent("ge");
    let log = f.log("ge");
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["commits_ahead"], 1, "{log}");
    assert_eq!(a["session_id"], session.as_str(), "{log}");
    assert_eq!(script.left(), 0, "{log}");
}
