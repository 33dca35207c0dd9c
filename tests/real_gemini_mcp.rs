//! README's registration of `fleet mcp` with the real Gemini CLI (pinned in
//! scripts/agent-clis.sh), against the scripted Gemini API of tests/fake/gemini.rs: `gemini
//! mcp add -s user --trust fleet fleet mcp -f PATH` in the test's own HOME, then a headless
//! run whose model calls `mcp_fleet_status` gets fleet's `status --json`. Without `--trust`
//! a headless run has no fleet tool at all (`tool_not_registered`): nobody can confirm a
//! call. (fleet does not hand gemini the server itself: docs/clis.md says why.) Runs only
//! when `FLEET_REAL_GEMINI` names the program; otherwise it skips.
mod common;
mod fake;

use std::path::Path;

use common::Fleet;
use fake::gemini::{self, text, Turn};
use serde_json::{json, Value};

/// Runs the real gemini in the test's repo with HOME the test's; (stdout, stderr).
fn gemini(f: &Fleet, gem: &Path, env: &[(String, String)], args: &[&str]) -> (String, String) {
    let mut cmd = f.cli_command(gem);
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `tool_result` events of a stream-json run.
fn tool_results(stdout: &str) -> Vec<Value> {
    common::real::json_lines(stdout)
        .into_iter()
        .filter(|e| e["type"] == "tool_result")
        .collect()
}

/// The README's command, then one headless run calling `status`: its tool result.
fn registered_and_called(trust: bool) -> Option<(Fleet, Value, String)> {
    let gem = common::real_cli("FLEET_REAL_GEMINI")?;
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a\n    prompt: x\n    command: \"true\"\n");
    gemini::settings(&f.home, 1);
    let fleet = env!("CARGO_BIN_EXE_fleet");
    let manifest = f.manifest_path().display().to_string();
    let mut add = vec!["mcp", "add", "-s", "user"];
    if trust {
        add.push("--trust");
    }
    add.extend(["fleet", fleet, "mcp", "-f", &manifest]);
    let (out, err) = gemini(&f, &gem, &[], &add);
    assert!(
        format!("{out}{err}").contains("added to user settings"),
        "{out}\n{err}"
    );

    let (server, _script) = gemini::start(vec![
        Turn::Call("mcp_fleet_status".into(), json!({})),
        text("done"),
    ]);
    let (out, err) = gemini(
        &f,
        &gem,
        &gemini::env(&server),
        &[
            "--skip-trust",
            "--output-format",
            "stream-json",
            "-p",
            "the fleet's status",
        ],
    );
    let results = tool_results(&out);
    assert_eq!(results.len(), 1, "{out}\n{err}");
    Some((f, results[0].clone(), out))
}

#[test]
fn gemini_registered_as_the_readme_says_calls_fleet_mcp_headless() {
    let Some((f, result, out)) = registered_and_called(true) else {
        return;
    };
    assert_eq!(result["status"], "success", "{out}");
    let status: Value = serde_json::from_str(result["output"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(status["agents"][0]["name"], "a", "{status}");
    assert_eq!(status["agents"][0]["state"], "pending", "{status}");
    // The settings the command wrote: the user's, in the test's HOME.
    let settings = std::fs::read_to_string(f.home.join(".gemini/settings.json")).unwrap();
    assert!(settings.contains("\"trust\": true"), "{settings}");
}

#[test]
fn without_trust_a_headless_gemini_has_no_fleet_tool() {
    let Some((_f, result, out)) = registered_and_called(false) else {
        return;
    };
    assert_eq!(result["status"], "error", "{out}");
    assert_eq!(result["error"]["type"], "tool_not_registered", "{out}");
}
