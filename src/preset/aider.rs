//! Aider (`aider`): headless as `aider --yes-always --message-file <task>`. It edits files by
//! the model writing them out in its edit format, applies the edits and commits them itself.
//! It has no permission modes of its own (aider-chat 0.86.2, checked against its source and
//! runs against tests/fake/openai_chat.rs):
//!
//! - `--yes-always` answers yes to every question except those that need an explicit yes:
//!   running a shell command the model suggests ("Run shell command?") is answered no. So no
//!   level lets aider run commands unattended; `edit` and `full` are the same.
//! - `--dry-run` applies no edit ("Did not apply edit to X (--dry-run)") and makes no commit:
//!   that is `read-only`.
//!
//! Every level also turns off what would act on its own under `--yes-always`: the update
//! check (it would `pip install --upgrade aider-chat` and exit 0), the release notes and the
//! analytics opt-in (it would accept both), and `.gitignore` edits (it would add `.aider*`, and
//! `.env` when there is one, to an untracked `.gitignore` that `fleet merge` refuses; fleet
//! puts `.aider*` in the repository's `info/exclude` instead). `--no-pretty` prints plain
//! lines (no padding to the terminal width, no rules), which the transcript reads;
//! `--no-stream` makes its `Tokens:` line the API's own usage (streamed, aider counts the
//! tokens itself: 2.8k sent against the 513 the server said), so its budget uses that figure.
use super::{Guarded, Launch, Permissions};

/// Flags of every run, headless or not.
const QUIET: &str = " --no-check-update --no-show-release-notes --no-analytics --no-gitignore";

/// The flags of each level.
fn flags(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => " --dry-run",
        Permissions::Edit | Permissions::Full => "",
    }
}

/// Its flags that set what the agent may do (aider 0.86.2 `--help`; argparse also takes an
/// unambiguous prefix, `--yes`): answering yes to everything, and applying edits or not.
pub(super) const GUARDED: Guarded = Guarded {
    // `--test-cmd`, `--auto-test` and `--lint-cmd` run a command the user wrote, never one
    // the model chose (as claude's allowed verify command): they stay the user's to pass.
    long: &["--yes-always", "--dry-run", "--no-dry-run"],
    short: &[],
    clusters: false,
    abbreviations: true,
    config: &[],
    config_keys: &[],
};

pub(super) fn command(launch: &Launch, args: &str) -> String {
    let flags = flags(launch.permissions);
    if launch.interactive {
        // aider has no "first message, then chat" flag: the task is in the chat as a
        // read-only file for the person to refer to.
        format!(r#"aider{QUIET}{flags}{args} --read "$FLEET_TASK""#)
    } else {
        format!(
            r#"aider --yes-always --no-pretty --no-stream{QUIET}{flags}{args} --message-file "$FLEET_TASK""#
        )
    }
}

pub(super) fn allows(p: Permissions) -> &'static str {
    match p {
        Permissions::ReadOnly => "read and answer; --dry-run applies no edit and commits nothing",
        Permissions::Edit | Permissions::Full => {
            "edit and commit the files of its repository; it runs no shell command unattended (aider has no permission modes)"
        }
    }
}

/// What aider reaches: its model's API, each provider's base URL as aider and litellm read
/// it (`--openai-api-base` in `args:`, `OPENAI_API_BASE`/`OPENAI_BASE_URL`,
/// `ANTHROPIC_BASE_URL`; else OpenAI's and Anthropic's own).
pub(super) fn endpoints(launch: &Launch, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut found = super::flag_values(&launch.args, "--openai-api-base");
    found.extend(
        ["OPENAI_API_BASE", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"]
            .iter()
            .filter_map(|v| var(v)),
    );
    if found.is_empty() {
        found = vec![
            "https://api.openai.com".into(),
            "https://api.anthropic.com".into(),
        ];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(permissions: Permissions, interactive: bool) -> Launch {
        Launch {
            interactive,
            permissions,
            ..Launch::default()
        }
    }

    #[test]
    fn levels_and_args_in_their_place() {
        let edit = command(&at(Permissions::Edit, false), " --model x");
        assert_eq!(
            edit,
            r#"aider --yes-always --no-pretty --no-stream --no-check-update --no-show-release-notes --no-analytics --no-gitignore --model x --message-file "$FLEET_TASK""#
        );
        assert_eq!(
            command(&at(Permissions::Full, false), ""),
            command(&at(Permissions::Edit, false), "")
        );
        assert!(
            command(&at(Permissions::ReadOnly, false), "").contains(" --dry-run --message-file")
        );
        let tui = command(&at(Permissions::ReadOnly, true), "");
        assert!(tui.ends_with(r#" --dry-run --read "$FLEET_TASK""#), "{tui}");
        assert!(!tui.contains("--yes-always"), "{tui}");
    }
}
