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
//! - A resumed run (`--resume <id>`, the follow-up on stdin) needs the same trust and
//!   approval flags: they are not part of the saved session.
use super::{Guarded, Launch, Permissions};
use crate::util::shell_quote;

const HEADLESS: &str = "gemini --output-format stream-json";

/// The flags of each level, after the workspace trust: at `edit`, file edits are accepted
/// and the shell may run git and the agent's `verify:` command (each command of it, as the
/// CLI checks every command of a `&&` chain against the allowed prefixes).
fn flags(launch: &Launch) -> String {
    match launch.permissions {
        Permissions::ReadOnly => " --skip-trust --approval-mode default".into(),
        Permissions::Edit => {
            let mut allowed = vec!["run_shell_command(git)".to_string()];
            if let Some(v) = launch.verify.as_deref().filter(|v| !v.contains('\n')) {
                for part in v.split(['&', '|', ';']).map(str::trim) {
                    let tool = format!("run_shell_command({part})");
                    if !part.is_empty() && !allowed.contains(&tool) {
                        allowed.push(tool);
                    }
                }
            }
            let allowed: Vec<String> = allowed
                .iter()
                .map(|a| format!(" --allowed-tools {}", shell_quote(a)))
                .collect();
            format!(
                " --skip-trust --approval-mode auto_edit{}",
                allowed.concat()
            )
        }
        Permissions::Full => " --skip-trust --approval-mode yolo".into(),
    }
}

/// Its flags that set what the agent may do (gemini 0.61.0 `--help`; yargs also takes the
/// camelCase spelling and `-ys` clusters): the approval mode and yolo, tools allowed without
/// asking, the sandbox, policy files, more workspace directories.
pub(super) const GUARDED: Guarded = Guarded {
    long: &[
        "--approval-mode",
        "--approvalMode",
        "--yolo",
        "--allowed-tools",
        "--allowedTools",
        "--sandbox",
        "--no-sandbox",
        "--policy",
        "--admin-policy",
        "--adminPolicy",
        "--include-directories",
        "--includeDirectories",
    ],
    short: &['y', 's'],
    clusters: true,
    abbreviations: false,
    config: &[],
    config_keys: &[],
};

pub(super) fn command(launch: &Launch, args: &str) -> String {
    let flags = flags(launch);
    if launch.interactive {
        format!(r#"gemini{flags}{args} --prompt-interactive "$(cat "$FLEET_TASK")""#)
    } else {
        format!("{HEADLESS}{flags}{args}")
    }
}

/// The conversation goes on under the same session id (its history is under
/// `~/.gemini/tmp/<project>/chats`, per worktree directory); the resumed run's `result`
/// stats count that run only.
pub(super) fn resume(id: &str, launch: &Launch, args: &str) -> String {
    format!("{HEADLESS}{}{args} --resume {id}", flags(launch))
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read files; write and shell tools refused",
        Permissions::Edit => "edit files in its worktree, run git and verify (auto_edit)",
        Permissions::Full => "anything (yolo)",
    }
}

/// What the CLI reaches: the Gemini API (`GOOGLE_GEMINI_BASE_URL` when set), Google's
/// token refresh and, for a Google login, Code Assist.
pub(super) fn endpoints(var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    vec![
        var("GOOGLE_GEMINI_BASE_URL")
            .unwrap_or_else(|| "https://generativelanguage.googleapis.com".into()),
        "https://oauth2.googleapis.com".into(),
        "https://cloudcode-pa.googleapis.com".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{Launch, Permissions};

    fn launch(p: Permissions, verify: Option<&str>) -> Launch {
        Launch {
            permissions: p,
            verify: verify.map(str::to_string),
            ..Launch::default()
        }
    }

    #[test]
    fn edit_allows_git_and_each_command_of_verify() {
        let l = launch(Permissions::Edit, Some("cargo fmt --check && cargo test"));
        assert_eq!(
            super::command(&l, ""),
            "gemini --output-format stream-json --skip-trust --approval-mode auto_edit \
             --allowed-tools 'run_shell_command(git)' \
             --allowed-tools 'run_shell_command(cargo fmt --check)' \
             --allowed-tools 'run_shell_command(cargo test)'"
        );
        let l = launch(Permissions::ReadOnly, Some("make"));
        assert_eq!(
            super::resume("'s-1'", &l, " --model 'x'"),
            "gemini --output-format stream-json --skip-trust --approval-mode default --model 'x' --resume 's-1'"
        );
        let l = launch(Permissions::Full, None);
        assert!(super::command(&l, "").ends_with(" --skip-trust --approval-mode yolo"));
    }
}
