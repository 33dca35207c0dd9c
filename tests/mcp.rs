//! `fleet mcp` speaks MCP on stdio: a small JSON-RPC client here (serde_json lines over the
//! child's stdin/stdout) initializes it, lists its tools and calls each one; the answers
//! match `fleet status --json` and friends, and refusals come back as tool errors carrying
//! fleet's own message.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{commits, Fleet};
use serde_json::{json, Value};

/// An MCP client over a `fleet mcp` child.
struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next: u64,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Client {
    fn start(f: &Fleet, args: &[&str]) -> Client {
        Client::spawn(f.fleet_command(args))
    }

    /// `fleet mcp` run by `cmd` (its environment the caller's choice), initialized.
    fn spawn(mut cmd: std::process::Command) -> Client {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn fleet mcp");
        let stdin = child.stdin.take().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            lines,
            next: 1,
        };
        let init = c.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "fleet-test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "fleet", "{init}");
        assert!(
            init["result"]["capabilities"]["tools"].is_object(),
            "{init}"
        );
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        c
    }

    fn send(&mut self, msg: Value) {
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Send a request and wait (a deadline, not a sleep) for the response with its id.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(90))
                .unwrap_or_else(|e| panic!("no answer to {method}: {e}"));
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// `tools/call`: the result object (content, structuredContent, isError).
    fn call(&mut self, tool: &str, args: Value) -> Value {
        let v = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert!(v["error"].is_null(), "{tool}: a protocol error: {v}");
        v["result"].clone()
    }
}

fn is_error(r: &Value) -> bool {
    r["isError"] == json!(true)
}

fn text(r: &Value) -> String {
    r["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Agents' names and states, from a status JSON object.
fn states(v: &Value) -> Vec<(String, String)> {
    v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn three_agents(f: &Fleet) {
    f.manifest(&format!(
        "agents:\n  - name: left\n    prompt: x\n    command: \"{}\"\n  - name: right\n    prompt: x\n    command: \"{}\"\n  - name: later\n    prompt: x\n    command: \"{}\"\n",
        commits("README.md", "# left\\n"),
        commits("README.md", "# right\\n"),
        commits("later.txt", "later\\n"),
    ));
}

#[test]
fn the_tools_are_fleets_commands_and_refusals_are_tool_errors() {
    let f = Fleet::new();
    three_agents(&f);
    f.fleet(&["up", "left", "right"]).success();
    f.fleet(&["wait", "--timeout", "30", "left", "right"])
        .success();
    let mut c = Client::start(&f, &["mcp"]);

    let list = c.request("tools/list", json!({}));
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conflicts",
            "continue",
            "diff",
            "logs",
            "merge",
            "status",
            "up",
            "wait"
        ]
    );

    // status: the same object `fleet status --json` prints, in content and text.
    let status = c.call("status", json!({}));
    assert!(!is_error(&status), "{status}");
    let cli = f.status_json();
    assert_eq!(states(&status["structuredContent"]), states(&cli));
    let from_text: Value = serde_json::from_str(&text(&status)).unwrap();
    assert_eq!(from_text, status["structuredContent"]);

    // conflicts: an answer (exit 1 is "they conflict"), as `fleet conflicts --json`.
    let conflicts = c.call("conflicts", json!({}));
    assert!(!is_error(&conflicts), "{conflicts}");
    let cli: Value = serde_json::from_str(&f.fleet(&["conflicts", "--json"]).stdout).unwrap();
    assert_eq!(conflicts["structuredContent"], cli);

    // diff (stat and full, cut at max_bytes) and logs.
    let stat = c.call("diff", json!({"name": "left", "stat": true}));
    assert_eq!(
        stat["structuredContent"]["output"].as_str().unwrap(),
        f.fleet(&["diff", "left", "--stat"]).stdout
    );
    let cut = c.call("diff", json!({"name": "left", "max_bytes": 10}));
    assert_eq!(cut["structuredContent"]["truncated"], json!(true), "{cut}");
    assert!(text(&cut).contains("cut at 10 bytes"), "{cut}");
    let logs = c.call("logs", json!({"name": "left", "lines": 5}));
    assert!(!is_error(&logs), "{logs}");
    assert_eq!(
        logs["structuredContent"]["output"].as_str().unwrap(),
        f.fleet(&["logs", "left", "-n", "5"]).stdout
    );

    // up of an agent of the manifest, then wait for it.
    let up = c.call("up", json!({"names": ["later"]}));
    assert!(!is_error(&up), "{up}");
    let wait = c.call("wait", json!({"names": ["later"], "timeout_secs": 30}));
    assert_eq!(wait["structuredContent"]["outcome"], "done", "{wait}");
    assert_eq!(
        states(&wait["structuredContent"]["status"]),
        [("later".to_string(), "done".to_string())]
    );

    // up of an agent the manifest does not have: fleet's own refusal, as a tool error.
    let nobody = c.call("up", json!({"names": ["nobody"]}));
    assert!(is_error(&nobody), "{nobody}");
    let cli = f.fleet(&["up", "nobody"]);
    cli.code(2);
    assert!(
        cli.stderr.contains(&text(&nobody)),
        "{nobody}\n{}",
        cli.stderr
    );
    // Nor may a name smuggle an option.
    let option = c.call("up", json!({"names": ["--rerun"]}));
    assert!(is_error(&option), "{option}");

    // continue of an agent whose CLI cannot resume: fleet's refusal.
    let cont = c.call("continue", json!({"name": "left", "message": "more"}));
    assert!(is_error(&cont), "{cont}");
    assert!(!text(&cont).is_empty());

    // merge: left merges; right then conflicts and the train's refusal is a tool error.
    let merged = c.call("merge", json!({"names": ["left"]}));
    assert!(!is_error(&merged), "{merged}");
    assert_eq!(f.git(&["show", "main:README.md"]).trim(), "# left");
    let refused = c.call("merge", json!({"names": ["right"]}));
    assert!(is_error(&refused), "{refused}");
    assert!(text(&refused).contains("README.md"), "{refused}");
}

#[test]
fn an_agent_reads_its_peers_but_acts_only_on_itself_unless_lead() {
    let f = Fleet::new();
    three_agents(&f);
    f.fleet(&["up", "left"]).success();
    f.fleet(&["wait", "--timeout", "30", "left"]).success();
    // --as names an agent of the manifest.
    let bad = f.fleet(&["mcp", "--as", "nobody"]);
    bad.code(2).stderr_has("has no agent nobody");

    let mut peer = Client::start(&f, &["mcp", "--as", "right"]);
    let diff = peer.call("diff", json!({"name": "left"}));
    assert!(!is_error(&diff), "{diff}");
    assert!(text(&diff).contains("# left"), "{diff}");
    for (tool, args) in [
        ("up", json!({"names": ["later"]})),
        ("continue", json!({"name": "left", "message": "x"})),
        ("merge", json!({"names": ["left"]})),
        ("merge", json!({"all": true})),
    ] {
        let r = peer.call(tool, args);
        assert!(is_error(&r), "{tool}: {r}");
        assert!(text(&r).contains("agent right may"), "{tool}: {r}");
    }
    assert_eq!(f.state("later"), "pending");
    // An agent's wait without names waits for the others, not for itself.
    let wait = peer.call("wait", json!({"timeout_secs": 0}));
    assert!(!is_error(&wait), "{wait}");
    let waited = states(&wait["structuredContent"]["status"]);
    assert!(waited.iter().all(|(n, _)| n != "right"), "{wait}");

    let mut lead = Client::start(&f, &["mcp", "--as", "right", "--lead"]);
    let up = lead.call("up", json!({"names": ["later"]}));
    assert!(!is_error(&up), "{up}");
    f.wait_state("later", "done");
}

#[test]
fn mcp_on_an_agent_is_refused_for_a_cli_fleet_cannot_configure() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: g\n    agent: gemini\n    prompt: x\n    mcp: fleet\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("mcp: fleet can hand `fleet mcp` to claude and codex, not to gemini");
    f.manifest("agents:\n  - name: c\n    prompt: x\n    mcp: boss\n");
    f.fleet(&["validate"]).code(2).stderr_has("mcp");
    // claude: the server on this manifest, as this agent, its tools allowed.
    f.manifest("agents:\n  - name: c\n    prompt: x\n    mcp: fleet\n");
    let path = f.stub("claude", "#!/bin/sh\nexit 0\n");
    let plan = f.fleet_at(&f.repo, &[("PATH", &path)], &["validate"]);
    plan.success()
        .stdout_has(r#"--mcp-config '{"mcpServers":{"fleet":{"args":["-f","#)
        .stdout_has(r#""mcp","--as","c"]"#)
        .stdout_has("--allowedTools 'Bash(git:*)' mcp__fleet");
}

/// A `fleet mcp` the user registered with a CLI by hand gets few of the user's variables
/// (codex hands its servers HOME, PATH and a few more): with no `TMUX_TMPDIR` it still
/// finds the fleet's sessions on the server the fleet recorded when it made them.
#[test]
fn a_fleet_mcp_without_tmux_tmpdir_sees_the_fleets_running_agents() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: one\n    prompt: x\n    command: \"sleep 300\"\n  - name: two\n    prompt: x\n    command: \"sleep 300\"\n");
    f.fleet(&["up"]).success();
    f.wait_for("both to run", 20, |f| {
        f.state("one") == "running" && f.state("two") == "running"
    });
    let mut cmd = f.fleet_command(&["mcp"]);
    cmd.env_remove("TMUX_TMPDIR").env_remove("TMUX");
    let mut c = Client::spawn(cmd);
    let status = c.call("status", json!({}));
    assert!(!is_error(&status), "{status}");
    assert_eq!(
        states(&status["structuredContent"]),
        [
            ("one".to_string(), "running".to_string()),
            ("two".to_string(), "running".to_string())
        ],
        "{status}"
    );
}
