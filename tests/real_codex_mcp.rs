//! `mcp: lead` with the real OpenAI Codex CLI (pinned in scripts/agent-clis.sh) against the
//! scripted Responses API of tests/fake/openai.rs: fleet hands codex `fleet mcp` on the same
//! manifest (`-c mcp_servers.fleet.…`, nothing written to `~/.codex`), the scripted model
//! finds its tools with codex's `tool_search` and calls them (`status`, `up` of a second
//! agent of the manifest, `wait`, and `up` of an agent the manifest does not have), and what
//! came back is what fleet says. Runs only when `FLEET_REAL_CODEX` names the program;
//! otherwise it skips.
//!
//! codex runs behind a wrapper on PATH that keeps its JSON stream (fleet's log has the
//! transcript made of it); with `FLEET_RECORD_FIXTURES` set the stream is written to
//! tests/fixtures/real/codex-mcp-lead.jsonl.
mod common;
mod fake;

use std::fs;
use std::path::Path;

use common::real::{assert_lead_drove_the_worker, json_lines, lead_manifest, record_fixture};
use common::Fleet;
use fake::openai::{self, Responses, Turn};
use serde_json::{json, Value};

/// A `codex` for PATH that runs the real one and keeps a copy of what it printed in
/// `stream` (appended: a resumed run adds to it).
fn wrapper(f: &Fleet, codex: &Path, stream: &Path) -> std::path::PathBuf {
    f.stub(
        "codex",
        &format!(
            "#!/bin/sh\nout=$(mktemp)\n{} \"$@\" > \"$out\"\nrc=$?\ncat \"$out\" >> {}\ncat \"$out\"\nrm -f \"$out\"\nexit $rc\n",
            common::sh_quote(codex.display().to_string()),
            common::sh_quote(stream.display().to_string())
        ),
    );
    f.root.join("stubs/codex")
}

/// The JSON text after codex's "Wall time: …\nOutput:\n" header of a tool's output.
fn body(output: &str) -> &str {
    output
        .split_once("Output:")
        .map_or(output, |(_, rest)| rest.trim())
}

/// The `mcp_tool_call` items codex completed, in order.
fn mcp_calls(stream: &str) -> Vec<Value> {
    json_lines(stream)
        .into_iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "mcp_tool_call")
        .map(|e| e["item"].clone())
        .collect()
}

#[test]
fn a_codex_lead_drives_the_fleet_through_fleet_mcp() {
    lead(false);
}

#[test]
fn a_boxed_codex_lead_drives_the_fleet_through_fleet_mcp() {
    if !common::sandbox::bwrap_works() {
        return;
    }
    lead(true);
}

fn lead(sandbox: bool) {
    let Some(codex) = common::real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let f = Fleet::new();
    let api = Responses::start(vec![
        Turn::tool_search("fleet agents status up wait"),
        Turn::fleet("status", json!({})),
        Turn::fleet("up", json!({"names": ["worker"]})),
        Turn::fleet("wait", json!({"names": ["worker"], "timeout_secs": 60})),
        Turn::fleet("up", json!({"names": ["intruder"]})),
        Turn::say("the worker is done; intruder is not ours to start"),
    ]);
    openai::write_codex_config(&f.home, &api.base_url());
    let config = f.home.join(".codex/config.toml");
    f.manifest(&lead_manifest(&format!(
        "agent: codex\nsandbox: {sandbox}\nenv: {{ OPENAI_API_KEY: sk-fake }}\n"
    )));
    // (A box cannot write the stream's copy outside it: its stream is not kept.)
    let stream_path = f.root.join("codex-stream.jsonl");
    let wrapped = if sandbox {
        codex.clone()
    } else {
        wrapper(&f, &codex, &stream_path)
    };
    f.fleet_with(&wrapped, &["up", "lead"]).success();
    let code = f
        .fleet_with(&wrapped, &["wait", "--timeout", "120", "lead"])
        .code;
    let log = f.log("lead");
    let stream = fs::read_to_string(&stream_path).unwrap_or_default();
    assert_eq!(code, 0, "{}\n{log}\n{stream}", f.diagnostics());
    if !sandbox {
        record_fixture(&f, "codex-mcp-lead.jsonl", &stream);
    }

    // codex found fleet's tools (deferred behind its tool_search) and nothing was written
    // to its config.
    let found = api.searched_tools();
    assert!(found.contains(&"mcp__fleet.up".into()), "{found:?}");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        openai::codex_config_toml(&api.base_url())
    );

    let outputs = api.tool_outputs();
    assert_eq!(outputs.len(), 4, "{outputs:#?}\n{log}");
    // (codex, like Claude Code, hands the model a tool's structured content when there is
    // one.)
    let json =
        |o: &str| -> Value { serde_json::from_str(body(o)).unwrap_or_else(|e| panic!("{e}: {o}")) };
    // status: the status --json object; up of worker, then wait: it ran and is done.
    let status = json(&outputs[0]);
    let up = json(&outputs[1]);
    assert_eq!(up["exit_code"], 0, "{up}");
    assert!(
        up["output"].as_str().unwrap().contains("started 1 agent"),
        "{up}"
    );
    let wait = json(&outputs[2]);
    // up of an agent the manifest does not have: refused with fleet's message.
    assert!(
        outputs[3].contains("unknown agent `intruder`"),
        "{}",
        outputs[3]
    );
    assert_lead_drove_the_worker(&f, &status, &wait, &log);
    if !sandbox {
        stream_shows_the_calls(&stream);
    }
}

/// codex's stream: each call, the refusal a failed call (a tool error, not codex's
/// approval), the others completed.
fn stream_shows_the_calls(stream: &str) {
    let calls = mcp_calls(stream);
    let summary: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            (
                c["tool"].as_str().unwrap_or("").to_string(),
                c["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = [
        ("status", "completed"),
        ("up", "completed"),
        ("wait", "completed"),
        ("up", "failed"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(t, s)| (t.to_string(), s.to_string()))
        .collect();
    assert_eq!(summary, expected, "{stream}");
    assert!(calls[3]["error"].is_null(), "{}", calls[3]);
    assert_eq!(
        calls[2]["result"]["structured_content"]["outcome"], "done",
        "{}",
        calls[2]
    );
}

/// README's registration (`codex mcp add fleet -- fleet mcp -f PATH`, in the test's HOME,
/// no `env_vars`: the server gets no TMUX_TMPDIR) beside a running fleet, and a headless
/// `codex exec` whose model calls `up`: with docs/clis.md's
/// `default_tools_approval_mode = "approve"` under the server it starts the agent; without,
/// codex refuses the call itself ("requires approval").
fn registered_and_called(approve: bool) -> Option<(Fleet, Vec<Value>)> {
    let codex = common::real_cli("FLEET_REAL_CODEX")?;
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    prompt: x\n    command: \"true\"\n  - name: b\n    prompt: x\n    command: \"sleep 300\"\n");
    // The fleet runs (b, on the test's private tmux server) before codex is asked.
    f.fleet(&["up", "b"]).success();
    let api = Responses::start(vec![
        Turn::tool_search("fleet up"),
        Turn::fleet("up", json!({"names": ["a"]})),
        Turn::say("started"),
    ]);
    // The test's environment (its HOME, its private tmux server's directory).
    let path = common::path_with(&codex);
    let run = |args: &[&str]| {
        let run = f.program_at(
            &codex,
            &f.repo,
            &[("OPENAI_API_KEY", "sk-fake"), ("PATH", path.as_str())],
            args,
        );
        format!("{}{}", run.stdout, run.stderr)
    };
    let manifest = f.manifest_path().display().to_string();
    let fleet = env!("CARGO_BIN_EXE_fleet");
    let added = run(&["mcp", "add", "fleet", "--", fleet, "mcp", "-f", &manifest]);
    assert!(added.contains("Added global MCP server 'fleet'"), "{added}");
    // The fake's settings first: top-level keys cannot follow a table.
    let config = f.home.join(".codex/config.toml");
    let mut toml = openai::codex_config_toml(&api.base_url());
    toml.push('\n');
    toml.push_str(&fs::read_to_string(&config).unwrap());
    // (codex hands the server no TMUX_TMPDIR: it finds the fleet's server where the fleet
    // recorded it.)
    if approve {
        toml.push_str("default_tools_approval_mode = \"approve\"\n");
    }
    fs::write(&config, toml).unwrap();
    let out = run(&["exec", "--json", "start agent a"]);
    Some((f, mcp_calls(&out)))
}

#[test]
fn codex_registered_as_the_docs_say_calls_fleet_mcp_headless() {
    let Some((f, calls)) = registered_and_called(true) else {
        return;
    };
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["status"], "completed", "{}", calls[0]);
    assert!(f.try_wait_for(30, |f| f.state("a") == "done"));
    // a ran beside b, on the fleet's own server.
    assert!(
        f.sessions().contains(&"repo-a".to_string()),
        "{:?}",
        f.sessions()
    );
}

#[test]
fn without_approval_a_headless_codex_refuses_fleet_mcp_up() {
    let Some((f, calls)) = registered_and_called(false) else {
        return;
    };
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["status"], "failed", "{}", calls[0]);
    let why = calls[0]["error"]["message"].as_str().unwrap_or("");
    assert!(why.contains("requires approval"), "{}", calls[0]);
    assert_eq!(f.state("a"), "pending");
}
