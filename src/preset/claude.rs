//! Claude Code (`claude`): headless as `claude --print --output-format stream-json
//! --verbose`, the task on stdin. Its permission modes (`--permission-mode`) decide what
//! runs without asking; in print mode nobody can answer, so what is not allowed is denied
//! (listed in the result event's `permission_denials`).
//!
//! Checked against 2.1.197: `dontAsk` denies every edit and every command that is not
//! read-only ("Permission to use Write has been denied because Claude Code is running in
//! don't ask mode"), while Read, Grep, `ls` or `git status` still run; `acceptEdits` accepts
//! Write/Edit in the working directory and read-only or in-place shell commands but not
//! `git add`/`git commit` or `sh -c`/`cargo` without an allow rule; `bypassPermissions`
//! exits 1 at once as root ("--dangerously-skip-permissions cannot be used with root/sudo
//! privileges for security reasons") unless `IS_SANDBOX=1` (or `CLAUDE_CODE_BUBBLEWRAP`):
//! that is the user's to say (in `env:`), never fleet's, and the manifest check asks for it.
use super::{Guarded, Launch, Permissions, Preset};
use crate::util::shell_quote;

const HEADLESS: &str = "claude --print --output-format stream-json --verbose";

/// The flags of each level: at `edit`, file edits are accepted and Bash may run git and
/// the agent's `verify:` command (so it can commit and check its work).
fn flags(launch: &Launch) -> String {
    format!("{}{}", mcp_config(launch), permission_flags(launch))
}

/// `mcp:`: `fleet mcp` as the server `fleet` (`--mcp-config` takes the JSON itself).
fn mcp_config(launch: &Launch) -> String {
    let Some(m) = &launch.mcp else {
        return String::new();
    };
    let config = serde_json::json!({"mcpServers": {"fleet": {
        "type": "stdio", "command": m.command, "args": m.args,
    }}});
    format!(" --mcp-config {}", shell_quote(&config.to_string()))
}

/// The fleet tools an agent with `mcp:` may call without asking: all of them (`fleet mcp`
/// itself refuses what its role does not allow), at `read-only` only those that read.
fn mcp_tools(launch: &Launch) -> Vec<String> {
    match (&launch.mcp, launch.permissions) {
        (None, _) => Vec::new(),
        (Some(_), Permissions::ReadOnly) => super::MCP_READ_TOOLS
            .iter()
            .map(|t| format!("mcp__fleet__{t}"))
            .collect(),
        (Some(_), _) => vec!["mcp__fleet".into()],
    }
}

fn permission_flags(launch: &Launch) -> String {
    match launch.permissions {
        Permissions::ReadOnly if launch.mcp.is_some() => format!(
            " --permission-mode dontAsk --allowedTools {}",
            mcp_tools(launch).join(" ")
        ),
        Permissions::ReadOnly => " --permission-mode dontAsk".into(),
        Permissions::Edit => {
            let mut allowed = vec!["Bash(git:*)".to_string()];
            allowed.extend(mcp_tools(launch));
            if let Some(v) = launch.verify.as_deref().map(str::trim) {
                if !v.is_empty() && !v.contains('\n') {
                    allowed.push(format!("Bash({v})"));
                    allowed.push(format!("Bash({v}:*)"));
                }
            }
            let allowed: Vec<String> = allowed.iter().map(|a| shell_quote(a)).collect();
            format!(
                " --permission-mode acceptEdits --allowedTools {}",
                allowed.join(" ")
            )
        }
        Permissions::Full => " --permission-mode bypassPermissions".into(),
    }
}

/// Its flags that set what the agent may do (claude 2.1.197 `--help`): the permission mode
/// and its bypasses, tools allowed without asking, more directories its tools may use, and
/// settings (a file or JSON with `permissions` and `hooks`) or the sources they come from.
pub(super) const GUARDED: Guarded = Guarded {
    long: &[
        "--permission-mode",
        "--dangerously-skip-permissions",
        "--allow-dangerously-skip-permissions",
        "--allowedTools",
        "--allowed-tools",
        "--add-dir",
        "--settings",
        "--setting-sources",
    ],
    short: &[],
    clusters: false,
    abbreviations: false,
    config: &[],
    config_keys: &[],
};

/// `--max-budget-usd` with dollars to the hundredth of a cent (what is left of a budget is a
/// difference of floats: 0.04999999999999999 reads as 0.05).
fn budget(max_cost_usd: Option<f64>) -> String {
    let Some(c) = max_cost_usd else {
        return String::new();
    };
    let c = format!("{c:.4}");
    let c = c.trim_end_matches('0').trim_end_matches('.');
    format!(" --max-budget-usd {c}")
}

pub(super) fn command(launch: &Launch, args: &str, max_cost_usd: Option<f64>) -> String {
    let flags = flags(launch);
    if launch.interactive {
        format!(r#"claude{flags}{args} "$(cat "$FLEET_TASK")""#)
    } else {
        format!("{HEADLESS}{flags}{}{args}", budget(max_cost_usd))
    }
}

/// The resumed run reports its own usage only (not the session's), and `--max-budget-usd`
/// counts this run only: `budget_usd` is what is left.
pub(super) fn resume(id: &str, launch: &Launch, args: &str, budget_usd: Option<f64>) -> String {
    format!(
        "{HEADLESS} --resume {id}{}{}{args}",
        flags(launch),
        budget(budget_usd)
    )
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; edits and commands are denied (dontAsk)",
        Permissions::Edit => {
            "edit files in its worktree, run git and the verify command (acceptEdits)"
        }
        Permissions::Full => "anything (bypassPermissions; as root only with IS_SANDBOX=1 in env)",
    }
}

/// Why claude would refuse this agent's launch outright, if it would: `full` as root
/// without the user's word (`IS_SANDBOX=1` in the agent's or fleet's environment) that
/// this machine is a sandbox.
pub fn refuses(
    preset: Option<Preset>,
    launch: &Launch,
    env: &std::collections::BTreeMap<String, String>,
) -> Option<&'static str> {
    let sandboxed = |v: Option<&str>| v == Some("1");
    let said = sandboxed(env.get("IS_SANDBOX").map(String::as_str))
        || sandboxed(std::env::var("IS_SANDBOX").ok().as_deref());
    (preset == Some(Preset::Claude)
        && launch.permissions == Permissions::Full
        && crate::util::uid() == 0
        && !said)
        .then_some(
            "permissions: full runs claude with bypassPermissions, which claude refuses as root unless told it runs in a sandbox: if this machine is one (a container, a VM), add `IS_SANDBOX: \"1\"` to `env:`; else use `permissions: edit` or run fleet as another user",
        )
}

/// What the CLI reaches: the API (`ANTHROPIC_BASE_URL` when set) and, for a subscription
/// login, the token refresh at platform.claude.com (2.1.197's `TOKEN_URL`). Telemetry
/// (statsig, sentry) is left out: it fails at once when it cannot resolve, and the CLI
/// works on.
pub(super) fn endpoints(var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    vec![
        var("ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into()),
        "https://platform.claude.com".into(),
    ]
}
