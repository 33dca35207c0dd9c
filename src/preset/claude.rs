//! Claude Code (`claude`): headless as `claude --print --output-format stream-json
//! --verbose`, the task on stdin. Its permission modes (`--permission-mode`) decide what
//! runs without asking; in print mode nobody can answer, so what is not allowed is denied
//! (listed in the result event's `permission_denials`).
use super::{Launch, Permissions};
use crate::util::shell_quote;

const HEADLESS: &str = "claude --print --output-format stream-json --verbose";

/// The flags of each level: at `edit`, file edits are accepted and Bash may run git and
/// the agent's `verify:` command (so it can commit and check its work).
fn flags(launch: &Launch) -> String {
    match launch.permissions {
        Permissions::ReadOnly => " --permission-mode default".into(),
        Permissions::Edit => {
            let mut allowed = vec!["Bash(git:*)".to_string()];
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

pub(super) fn resume(id: &str, launch: &Launch, args: &str, budget_usd: Option<f64>) -> String {
    format!(
        "{HEADLESS} --resume {id}{}{}{args}",
        flags(launch),
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
