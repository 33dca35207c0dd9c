//! Gemini CLI (`gemini`): headless as `gemini --output-format stream-json`, the task on
//! stdin (not a terminal). Its approval mode (`--approval-mode`) decides which tools run.
use super::Permissions;

const HEADLESS: &str = "gemini --output-format stream-json";

/// The flags of each level.
fn flags(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => " --approval-mode default",
        Permissions::Edit => " --approval-mode auto_edit",
        Permissions::Full => " --approval-mode yolo",
    }
}

pub(super) fn command(interactive: bool, p: Permissions, args: &str) -> String {
    let flags = flags(p);
    if interactive {
        format!(r#"gemini{flags}{args} --prompt-interactive "$(cat "$FLEET_TASK")""#)
    } else {
        format!("{HEADLESS}{flags}{args}")
    }
}

pub(super) fn resume(id: &str, p: Permissions, args: &str) -> String {
    format!("{HEADLESS}{}{args} --resume {id}", flags(p))
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; write and shell tools refused",
        Permissions::Edit => "edit files in its worktree (auto_edit)",
        Permissions::Full => "anything (yolo)",
    }
}
