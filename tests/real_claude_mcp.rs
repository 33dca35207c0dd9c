//! `mcp: lead` with the real Claude Code CLI (pinned in scripts/agent-clis.sh) against the
//! scripted Anthropic API: fleet configures claude with `fleet mcp` on the same manifest,
//! the scripted model calls its tools (`status`, `up` of a second agent of the manifest,
//! `wait`, and `up` of an agent the manifest does not have), and what came back is what
//! fleet says. Runs only when `FLEET_REAL_CLAUDE` names the program; otherwise it skips.

mod common;
mod fake;

use common::real::{assert_lead_drove_the_worker, lead_manifest, yaml_map};
use common::Fleet;
use fake::anthropic::{Anthropic, Turn};
use serde_json::{json, Value};

/// Every tool result the model was sent, in order: (its text, whether it is an error).
fn tool_results(api: &Anthropic) -> Vec<(String, bool)> {
    let mut seen = Vec::new();
    let Some(last) = api.turn_requests().pop() else {
        return seen;
    };
    for m in last.json()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        for block in m["content"].as_array().cloned().unwrap_or_default() {
            if block["type"] != "tool_result" {
                continue;
            }
            let text = fake::content_text(&block["content"]);
            seen.push((text, block["is_error"] == true));
        }
    }
    seen
}

#[test]
fn a_lead_agent_drives_the_fleet_through_fleet_mcp() {
    lead(false);
}

/// In a box (`sandbox: true`) `.fleet/` and the tmux server are out of reach: the
/// `fleet mcp` claude starts there relays to the one the runner serves outside.
#[test]
fn a_boxed_lead_agent_drives_the_fleet_through_fleet_mcp() {
    if !common::sandbox::bwrap_works() {
        return;
    }
    lead(true);
}

fn lead(sandbox: bool) {
    let Some(claude) = common::real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(vec![
        Turn::tool("mcp__fleet__status", json!({})),
        Turn::tool("mcp__fleet__up", json!({"names": ["worker"]})),
        Turn::tool(
            "mcp__fleet__wait",
            json!({"names": ["worker"], "timeout_secs": 60}),
        ),
        Turn::tool("mcp__fleet__up", json!({"names": ["intruder"]})),
        Turn::text("the worker is done; intruder is not ours to start"),
    ]);
    f.manifest(&lead_manifest(&format!(
        "agent: claude\nsandbox: {sandbox}\nenv: {}\n",
        yaml_map(&api.env(1))
    )));
    f.fleet_with(&claude, &["up", "lead"]).success();
    let code = f
        .fleet_with(&claude, &["wait", "--timeout", "120", "lead"])
        .code;
    let log = f.log("lead");
    assert_eq!(code, 0, "{}\n{log}", f.diagnostics());

    // claude was given fleet's tools.
    let first = api.turn_requests().first().unwrap().json();
    let tools: Vec<String> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    assert!(tools.contains(&"mcp__fleet__up".into()), "{tools:?}");

    let results = tool_results(&api);
    assert_eq!(results.len(), 4, "{results:#?}\n{log}");
    // status: the status --json object; up of worker, then wait: it ran and is done.
    let (status, err) = &results[0];
    assert!(!err, "{status}");
    let status: Value = serde_json::from_str(status).unwrap_or_else(|e| panic!("{e}: {status}"));
    assert!(!results[1].1, "{:?}", results[1]);
    // (Claude Code hands the model a tool's structured content when there is one.)
    let wait: Value =
        serde_json::from_str(&results[2].0).unwrap_or_else(|e| panic!("{e}: {results:?}"));
    // up of an agent the manifest does not have: refused with fleet's message.
    let (refusal, err) = &results[3];
    assert!(err, "{refusal}");
    assert!(refusal.contains("intruder"), "{refusal}");
    assert_lead_drove_the_worker(&f, &status, &wait, &log);
}

/// README's registration (`claude mcp add fleet -- fleet mcp -f PATH`, in the test's HOME),
/// then a headless `claude -p` whose model calls `status`: allowed with `--allowedTools
/// mcp__fleet` it gets fleet's `status --json`; without, print mode asks nobody and the
/// call is denied.
fn registered_and_called(allow: bool) -> Option<(String, bool)> {
    let claude = common::real_cli("FLEET_REAL_CLAUDE")?;
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    prompt: x\n    command: \"true\"\n");
    let run = |args: &[&str], env: &[(String, String)]| {
        let mut cmd = f.cli_command(&claude);
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let manifest = f.manifest_path().display().to_string();
    let added = run(
        &[
            "mcp",
            "add",
            "fleet",
            "--",
            env!("CARGO_BIN_EXE_fleet"),
            "mcp",
            "-f",
            &manifest,
        ],
        &[],
    );
    assert!(added.contains("Added stdio MCP server fleet"), "{added}");
    let api = Anthropic::start(vec![
        Turn::tool("mcp__fleet__status", json!({})),
        Turn::text("seen"),
    ]);
    let mut args = vec![
        "--print",
        "--output-format",
        "stream-json",
        "--verbose",
        "-p",
        "the fleet's status",
    ];
    if allow {
        args.extend(["--allowedTools", "mcp__fleet"]);
    }
    let out = run(&args, &api.env(1));
    let results = tool_results(&api);
    assert_eq!(results.len(), 1, "{out}");
    Some(results[0].clone())
}

#[test]
fn claude_registered_as_the_readme_says_calls_fleet_mcp_headless() {
    let Some((text, err)) = registered_and_called(true) else {
        return;
    };
    assert!(!err, "{text}");
    let status: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(status["agents"][0]["name"], "a", "{status}");
}

#[test]
fn without_allowed_tools_a_headless_claude_is_denied_fleet_mcp() {
    let Some((text, err)) = registered_and_called(false) else {
        return;
    };
    assert!(err, "{text}");
}
