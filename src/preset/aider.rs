//! Aider (`aider`): headless as `aider --yes-always --message-file <task>`. It edits the
//! files it is given and commits them itself; it has no permission modes of its own.
use super::Permissions;

pub(super) fn command(interactive: bool, _p: Permissions, args: &str) -> String {
    if interactive {
        // aider has no "first message, then chat" flag: the task is in the chat as a
        // read-only file for the person to refer to.
        format!(r#"aider{args} --read "$FLEET_TASK""#)
    } else {
        format!(r#"aider --yes-always{args} --message-file "$FLEET_TASK""#)
    }
}

pub(super) fn allows(_p: Permissions) -> &'static str {
    "edit and commit the files of its repository (aider has no permission modes)"
}
