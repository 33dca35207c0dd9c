//! OpenAI Codex CLI (`codex`): headless as `codex exec --json -`, the task on stdin. Its
//! sandbox (`--sandbox`) decides what the commands it runs may change; `exec` never asks.
use super::Permissions;

/// The flags of each level.
fn flags(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => " --sandbox read-only",
        // The worktree's git directory lives in the main repository's `.git`: without it
        // writable the agent cannot commit.
        Permissions::Edit => {
            r#" --sandbox workspace-write --add-dir "$(git rev-parse --path-format=absolute --git-common-dir)""#
        }
        Permissions::Full => " --dangerously-bypass-approvals-and-sandbox",
    }
}

pub(super) fn command(interactive: bool, p: Permissions, args: &str) -> String {
    let flags = flags(p);
    if interactive {
        format!(r#"codex{flags}{args} "$(cat "$FLEET_TASK")""#)
    } else {
        format!("codex exec --json{flags}{args} -")
    }
}

pub(super) fn resume(id: &str, p: Permissions, args: &str) -> String {
    format!("codex exec --json{}{args} resume {id} -", flags(p))
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; its sandbox refuses writes",
        Permissions::Edit => "edit files in its worktree and commit (workspace-write sandbox)",
        Permissions::Full => "anything (no sandbox)",
    }
}
