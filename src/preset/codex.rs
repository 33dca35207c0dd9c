//! OpenAI Codex CLI (`codex`): headless as `codex exec --json -`, the task on stdin. Its
//! sandbox (`--sandbox`) decides what the commands it runs may change; `exec` never asks
//! (its approval policy is `never`). Checked with codex-cli 0.171.0 (tests/real_codex.rs).
use super::{Guarded, Launch, Permissions};
use crate::util::shell_quote;

/// The flags of each level.
///
/// At `workspace-write` codex makes every `.git` it finds read-only, a worktree's too: the
/// `.git` file's target (`<repo>/.git/worktrees/<name>`, index and HEAD) and the common
/// directory (`<repo>/.git`, objects and refs) must both be given as writable `--add-dir`s
/// for the agent to commit. Absolute, from the worktree (`sh -c` runs there); without
/// `--path-format`, which git 2.30 lacks.
fn flags(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => " --sandbox read-only",
        Permissions::Edit => concat!(
            " --sandbox workspace-write",
            r#" --add-dir "$(cd "$(git rev-parse --git-common-dir)" && pwd -P)""#,
            r#" --add-dir "$(cd "$(git rev-parse --git-dir)" && pwd -P)""#,
        ),
        Permissions::Full => " --dangerously-bypass-approvals-and-sandbox",
    }
}

/// Its flags that set what the agent may do (codex-cli 0.171.0 `--help`): the sandbox and
/// its bypasses, the approval policy, more writable directories, another working root, and
/// `-c` overrides of the sandbox, approval or permission settings (`-c sandbox_mode=…`).
pub(super) const GUARDED: Guarded = Guarded {
    long: &[
        "--sandbox",
        "--dangerously-bypass-approvals-and-sandbox",
        "--yolo",
        "--full-auto",
        "--ask-for-approval",
        "--approve-for-me",
        "--dangerously-bypass-hook-trust",
        "--add-dir",
        "--cd",
    ],
    short: &['s', 'a', 'C'],
    clusters: false,
    abbreviations: false,
    config: &["-c", "--config"],
    config_keys: &["sandbox", "approval", "permissions"],
};

/// With the API unreachable codex retries "Reconnecting... waiting for network" forever
/// (its `unbounded_connection_retries` feature, on by default); without it, it gives up
/// after 5 tries (about 25 s) with `turn.failed` and exit 1.
const BOUNDED: &str = " --disable unbounded_connection_retries";

/// `mcp:`: `fleet mcp` as the server `fleet`, in codex's config overrides (`-c`, TOML
/// values: a JSON string or array of strings is one), nothing written to `~/.codex`.
/// Facts of codex-cli 0.171.0 (tests/real_codex_mcp.rs):
/// - `exec` runs with the approval policy `never`, and a call of an MCP tool that is not
///   marked read-only needs approval: it fails ("MCP tool call requires approval, but
///   approval policy is never") unless the server's `default_tools_approval_mode` is
///   `approve`. `fleet mcp` does its own role check, so fleet approves its tools; at
///   `read-only` only the tools that read are enabled at all (`enabled_tools`).
/// - codex runs the server outside its own sandbox (a `read-only` codex's `up` starts
///   agents): what the agent may do through it is the tool list and the role check.
/// - the server gets only a few of codex's variables (HOME, PATH, …) and those named in
///   `env_vars`: `FLEET_MCP_SOCKET`, which points it at the runner in a fleet box.
/// - a tool call is cut at `tool_timeout_sec` (default 300 s: "timed out awaiting
///   tools/call after 300s"), shorter than the longest `wait` (600 s); a server that fails
///   to start, or has not answered `initialize` within `startup_timeout_sec` (default
///   10 s), is left out and the run goes on without its tools (the model finds none).
fn mcp_config(launch: &Launch) -> String {
    let Some(m) = &launch.mcp else {
        return String::new();
    };
    let command = serde_json::Value::from(m.command.as_str()).to_string();
    let args = serde_json::Value::from(m.args.clone()).to_string();
    let mut set = vec![
        format!("mcp_servers.fleet.command={command}"),
        format!("mcp_servers.fleet.args={args}"),
        r#"mcp_servers.fleet.default_tools_approval_mode="approve""#.to_string(),
        format!("mcp_servers.fleet.tool_timeout_sec={MCP_TOOL_TIMEOUT_SECS}"),
        format!("mcp_servers.fleet.startup_timeout_sec={MCP_STARTUP_TIMEOUT_SECS}"),
        format!(
            r#"mcp_servers.fleet.env_vars=["{}"]"#,
            super::MCP_SOCKET_VAR
        ),
    ];
    if launch.permissions == Permissions::ReadOnly {
        let tools = serde_json::Value::from(super::MCP_READ_TOOLS.to_vec()).to_string();
        set.push(format!("mcp_servers.fleet.enabled_tools={tools}"));
    }
    set.iter()
        .map(|s| format!(" -c {}", shell_quote(s)))
        .collect()
}

/// A tool call's limit: the longest `wait` `fleet mcp` takes, and a minute for its status.
const MCP_TOOL_TIMEOUT_SECS: u64 = crate::mcp::tools::MAX_WAIT_SECS + 60;
/// `fleet mcp` answers `initialize` at once; this is for a loaded machine.
const MCP_STARTUP_TIMEOUT_SECS: u64 = 30;

pub(super) fn command(launch: &Launch, args: &str) -> String {
    let flags = format!("{}{}", flags(launch.permissions), mcp_config(launch));
    if launch.interactive {
        format!(r#"codex{flags}{args} "$(cat "$FLEET_TASK")""#)
    } else {
        format!("codex exec --json{BOUNDED}{flags}{args} -")
    }
}

/// `exec resume` takes no `--sandbox`/`--add-dir` of its own: they go before it, to `exec`.
pub(super) fn resume(id: &str, launch: &Launch, args: &str) -> String {
    let flags = format!("{}{}", flags(launch.permissions), mcp_config(launch));
    format!("codex exec --json{BOUNDED}{flags}{args} resume {id} -")
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; its sandbox refuses writes",
        Permissions::Edit => {
            "edit files in its worktree and commit (workspace-write sandbox, the worktree's git dirs writable)"
        }
        Permissions::Full => "anything (no sandbox)",
    }
}

/// What codex reaches: the API of its model provider, as configured (`OPENAI_BASE_URL`, a
/// `base_url` given with `-c` in `args:` or written in `$CODEX_HOME/config.toml`, default
/// `~/.codex/config.toml`), else OpenAI's; for a ChatGPT login, chatgpt.com and the token
/// refresh at auth.openai.com.
pub(super) fn endpoints(launch: &Launch, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut found: Vec<String> = var("OPENAI_BASE_URL").into_iter().collect();
    found.extend(launch.args.iter().filter_map(|a| base_url_in(a)));
    let config = var("CODEX_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| std::path::Path::new(&h).join(".codex")));
    if let Some(text) = config.and_then(|d| std::fs::read_to_string(d.join("config.toml")).ok()) {
        found.extend(text.lines().filter_map(base_url_in));
    }
    found.extend([
        "https://api.openai.com".to_string(),
        "https://chatgpt.com".into(),
        "https://auth.openai.com".into(),
    ]);
    found
}

/// The URL of a `…base_url = "URL"` setting (a `-c` value or a line of config.toml).
fn base_url_in(setting: &str) -> Option<String> {
    let (key, value) = setting.split_once('=')?;
    if !key.trim().ends_with("base_url") {
        return None;
    }
    let value = value.trim().trim_matches(['"', '\'']);
    value.contains("://").then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{Launch, McpRole, McpServer, Permissions};

    fn launch(p: Permissions) -> Launch {
        Launch {
            permissions: p,
            mcp: Some(McpServer::new(
                "/bin/fleet",
                std::path::Path::new("/r/agents.yaml"),
                "lead",
                McpRole::Lead,
            )),
            ..Launch::default()
        }
    }

    /// fleet's tools are approved (exec never asks), a `wait` fits in a call, and at
    /// `read-only` only the tools that read exist.
    #[test]
    fn mcp_is_configured_with_overrides() {
        let edit = super::command(&launch(Permissions::Edit), "");
        for set in [
            r#"-c 'mcp_servers.fleet.command="/bin/fleet"'"#,
            r#"-c 'mcp_servers.fleet.args=["-f","/r/agents.yaml","mcp","--as","lead","--lead"]'"#,
            r#"-c 'mcp_servers.fleet.default_tools_approval_mode="approve"'"#,
            "-c mcp_servers.fleet.tool_timeout_sec=660",
            "-c mcp_servers.fleet.startup_timeout_sec=30",
        ] {
            assert!(edit.contains(set), "{set}\n{edit}");
        }
        assert!(!edit.contains("enabled_tools"), "{edit}");
        let read = super::resume("'t'", &launch(Permissions::ReadOnly), "");
        assert!(
            read.contains(r#"-c 'mcp_servers.fleet.enabled_tools=["status","diff","logs","conflicts","wait"]'"#),
            "{read}"
        );
        assert!(read.ends_with(" resume 't' -"), "{read}");
    }
}
