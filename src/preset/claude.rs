//! Claude Code (`claude`): headless as `claude --print --output-format stream-json
//! --verbose`, the task on stdin. Its permission modes (`--permission-mode`) decide what
//! runs without asking; in print mode nobody can answer, so what is not allowed is denied
//! (listed in the result event's `permission_denials`).
use super::Permissions;

const HEADLESS: &str = "claude --print --output-format stream-json --verbose";

/// The flags of each level.
fn flags(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => " --permission-mode default",
        Permissions::Edit => " --permission-mode acceptEdits --allowedTools 'Bash(git:*)'",
        Permissions::Full => " --permission-mode bypassPermissions",
    }
}

fn budget(max_cost_usd: Option<f64>) -> String {
    max_cost_usd
        .map(|c| format!(" --max-budget-usd {c}"))
        .unwrap_or_default()
}

pub(super) fn command(
    interactive: bool,
    p: Permissions,
    args: &str,
    max_cost_usd: Option<f64>,
) -> String {
    let flags = flags(p);
    if interactive {
        format!(r#"claude{flags}{args} "$(cat "$FLEET_TASK")""#)
    } else {
        format!("{HEADLESS}{flags}{}{args}", budget(max_cost_usd))
    }
}

pub(super) fn resume(id: &str, p: Permissions, args: &str, budget_usd: Option<f64>) -> String {
    format!(
        "{HEADLESS} --resume {id}{}{}{args}",
        flags(p),
        budget(budget_usd)
    )
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; edits and commands are denied",
        Permissions::Edit => "edit files in its worktree, run git (acceptEdits)",
        Permissions::Full => "anything (bypassPermissions)",
    }
}
