//! Gemini CLI (`gemini`): headless as `gemini --output-format stream-json`, the task on
//! stdin (not a terminal). Facts of 0.61.0 (tests/fixtures/real/gemini-*.jsonl):
//! - In a folder the user never trusted it exits 55 before doing anything. `--skip-trust`
//!   ("Trust the current workspace for this session", the same as
//!   `GEMINI_CLI_TRUST_WORKSPACE=true`) trusts the worktree for this run only, so fleet
//!   writes nothing into `~/.gemini/trustedFolders.json`.
//! - Its approval mode decides which tools exist at all: `default` headless offers no
//!   write or shell tool (a call comes back as `tool_not_registered`); `auto_edit` adds
//!   `write_file`/`replace` but no shell; `yolo` everything. `--allowed-tools
//!   run_shell_command(git)` adds the shell for commands that start with `git` (others come
//!   back as `policy_violation`). The flag is deprecated in favour of policy files (a
//!   warning on stderr) but works, and needs no file.
use super::Permissions;

const HEADLESS: &str = "gemini --output-format stream-json";

/// The flags of each level, after the workspace trust.
fn flags(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => " --skip-trust --approval-mode default",
        Permissions::Edit => {
            " --skip-trust --approval-mode auto_edit --allowed-tools 'run_shell_command(git)'"
        }
        Permissions::Full => " --skip-trust --approval-mode yolo",
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

/// The conversation goes on under the same session id (its history is under
/// `~/.gemini/tmp/<project>/chats`, per worktree directory); the resumed run's `result`
/// stats count that run only.
pub(super) fn resume(id: &str, p: Permissions, args: &str) -> String {
    format!("{HEADLESS}{}{args} --resume {id}", flags(p))
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; write and shell tools refused",
        Permissions::Edit => "edit files in its worktree, run git (auto_edit)",
        Permissions::Full => "anything (yolo)",
    }
}
