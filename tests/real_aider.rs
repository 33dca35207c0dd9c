//! Conformance with the real aider (aider-chat 0.86.2, issue 14): the `agent: aider` preset
//! runs it headless against the scripted OpenAI Chat Completions endpoint on 127.0.0.1
//! (tests/fake/openai_chat.rs). aider edits by the model writing the file out (its `whole`
//! edit format), applies the edit and commits it itself; when the API rate-limits it, it
//! retries for about a minute, gives up and exits 0 all the same.
//!
//! Runs only with `FLEET_REAL_AIDER=/path/to/aider` (scripts/test.sh installs it); otherwise
//! it says it is skipped. Everything aider would fetch is turned off: the update check,
//! analytics and release notes by the preset, litellm's price list by
//! `LITELLM_LOCAL_MODEL_COST_MAP`, aider's own by `--model-metadata-file`.

mod common;
mod fake;

use common::Fleet;
use fake::openai_chat::{whole_file, Script, Turn};

/// An agent entry of the aider preset talking to `server`.
fn agent(f: &Fleet, name: &str, server: &fake::Server, extra: &str) -> String {
    let meta = f.root.join("model-metadata.json");
    format!(
        r#"  - name: {name}
    agent: aider
    prompt: "Create hello.txt containing 'hello from aider', then commit it."
    args: [{args}]
    env: {{LITELLM_LOCAL_MODEL_COST_MAP: "True"}}
{extra}"#,
        args = fake::openai_chat::aider_args(server, Some(&meta)),
    )
}

#[test]
fn real_aider_edits_commits_and_is_not_done_when_rate_limited() {
    let Some(aider) = common::real_cli("FLEET_REAL_AIDER") else {
        return;
    };
    let f = Fleet::new();
    let ok = Script::new(vec![Turn::Text(whole_file(
        "hello.txt",
        "hello from aider",
    ))])
    .commit_message("Add hello.txt")
    .serve();
    let limited = Script::new(vec![Turn::RateLimit]).serve();
    f.manifest(&format!(
        "agents:\n{}{}",
        agent(&f, "ok", &ok, ""),
        // aider retries for about 64 s itself; fleet must not start it again here.
        agent(&f, "limited", &limited, "    retries: 0\n"),
    ));
    f.fleet_with(&aider, &["validate"]).success();
    f.fleet_with(&aider, &["up"]).success();

    f.wait_for("the aider agent `ok` to finish", 120, |f| {
        !matches!(f.state("ok").as_str(), "running" | "pending" | "queued")
    });
    assert_eq!(f.state("ok"), "done", "{}", f.diagnostics());
    // The file is committed on the agent's branch, by aider, with the model's message.
    assert_eq!(
        f.git(&["show", "fleet/ok:hello.txt"]).trim(),
        "hello from aider"
    );
    assert_eq!(
        f.git(&["log", "-1", "--format=%s", "fleet/ok"]).trim(),
        "Add hello.txt"
    );
    // Nothing left behind: no .gitignore of aider's, its history files are excluded.
    let dirty = f.git_in(
        &f.worktree("ok"),
        &["status", "--porcelain", "--untracked-files=all"],
    );
    assert_eq!(dirty, "", "aider left files behind\n{}", f.diagnostics());
    let log = f.log("ok");
    if std::env::var_os("FLEET_SHOW_LOGS").is_some() {
        eprintln!("--- ok log ---\n{log}");
    }
    assert!(log.contains("Applied edit to hello.txt"), "{log}");
    assert!(
        log.contains("Tokens: ") && log.contains(" session."),
        "aider's usage line\n{log}"
    );
    // Its usage, from its `Tokens: … Cost: …` line: with `--no-stream`, exactly what the
    // server said (not aider's own count), and the cost of those tokens.
    let usage = &f.agent("ok")["usage"];
    assert_eq!(usage["turns"], 1, "{usage}");
    assert_eq!(
        usage["input_tokens"],
        fake::openai_chat::PROMPT_TOKENS,
        "{usage}\n{log}"
    );
    assert_eq!(
        usage["output_tokens"],
        fake::openai_chat::COMPLETION_TOKENS,
        "{usage}"
    );
    let cost = (513.0 * 3.0 + 53.0 * 15.0) / 1e6;
    assert!(
        (usage["cost_usd"].as_f64().unwrap() - cost).abs() < 0.00005,
        "{usage}"
    );
    // The chat turn did not stream; the commit message was asked for on its own.
    let reqs = ok.requests();
    assert!(reqs.iter().all(|r| r.json()["stream"] != true), "{reqs:?}");
    assert!(reqs
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer sk-fake")));
    f.fleet(&["merge", "ok"]).success();
    assert_eq!(
        std::fs::read_to_string(f.repo.join("hello.txt")).unwrap(),
        "hello from aider\n"
    );

    // Rate-limited: aider gives up after about a minute and exits 0; not `done`.
    f.wait_for("the rate-limited aider agent to finish", 180, |f| {
        !matches!(
            f.state("limited").as_str(),
            "running" | "pending" | "queued" | "waiting"
        )
    });
    let agent = f.agent("limited");
    assert_ne!(agent["state"], "done", "{}", f.diagnostics());
    let log = f.log("limited");
    if std::env::var_os("FLEET_SHOW_LOGS").is_some() {
        eprintln!("--- limited log ---\n{log}\n{}", f.diagnostics());
    }
    assert!(
        log.contains("The API provider has rate limited you."),
        "{log}"
    );
    assert!(
        agent["reason"]
            .as_str()
            .is_some_and(|r| r.contains("rate limited")),
        "{agent}"
    );
    assert!(limited.requests().len() >= 3, "aider did not retry");
}

/// The fake itself, without aider: a streamed turn, the commit-message request, a 429.
#[test]
fn chat_fake_answers_streamed_whole_and_rate_limited() {
    use fake::Reply;
    let script = Script::new(vec![Turn::Text(whole_file("a.txt", "x")), Turn::RateLimit]);
    let req = |body: &str| fake::Request {
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    };
    let chat = r#"{"model":"fake","stream":true,"messages":[{"role":"system","content":"Act as an expert"}]}"#;
    let commit = r#"{"model":"fake","messages":[{"role":"system","content":"You are an expert software engineer that generates concise, one-line Git commit messages"}]}"#;
    let Reply::Sse(events) = script.reply(&req(chat)) else {
        panic!("a streamed turn")
    };
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let text: String = events
        .iter()
        .filter_map(|(_, d)| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(text, "I will create a.txt.\n\na.txt\n```\nx\n```\n");
    let Reply::Json(200, body) = script.reply(&req(commit)) else {
        panic!("a whole answer")
    };
    assert!(body.contains("Add the requested file"), "{body}");
    assert!(matches!(script.reply(&req(chat)), Reply::Status(429, _, _)));
    // the last turn repeats
    assert!(matches!(script.reply(&req(chat)), Reply::Status(429, _, _)));
}
