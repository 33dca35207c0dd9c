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
/// values: a JSON string or array of strings is one).
fn mcp_config(launch: &Launch) -> String {
    let Some(m) = &launch.mcp else {
        return String::new();
    };
    let command = serde_json::Value::from(m.command.as_str()).to_string();
    let args = serde_json::Value::from(m.args.clone()).to_string();
    format!(
        " -c {} -c {}",
        shell_quote(&format!("mcp_servers.fleet.command={command}")),
        shell_quote(&format!("mcp_servers.fleet.args={args}"))
    )
}

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
