//! The runner's side of a sandboxed agent's box: the agent as the box builder sees it
//! (from the run spec), and the second line of defence around each boxed step: the refs
//! the box moved that were not its own, named in the log and ending the agent `failed`.
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::sandbox::{self, Policy, Sandbox};
use crate::state::Spec;

use super::Tee;

/// A step's command, with the box it runs in (kept alive as long as the step).
pub(super) struct Boxed {
    pub(super) cmd: Command,
    pub(super) sandbox: Option<Sandbox>,
}

/// The agent a box is built for, from its run spec.
pub(super) fn box_agent<'a>(spec: &'a Spec, policy: &Policy) -> sandbox::Agent<'a> {
    let state_dir = spec
        .record
        .parent()
        .and_then(|agents| agents.parent())
        .unwrap_or(&spec.worktree);
    let mut reads: Vec<PathBuf> = vec![spec.task.clone()];
    reads.extend(spec.manifest.parent().map(PathBuf::from));
    if let Some(path) = &spec.path {
        reads.extend(std::env::split_paths(path).filter(|p| p.is_absolute()));
    }
    if let Ok(exe) = std::env::current_exe() {
        reads.extend(exe.parent().map(PathBuf::from));
    }
    sandbox::Agent {
        name: &spec.agent,
        worktree: &spec.worktree,
        branch: &spec.branch,
        preset: policy.cli,
        permissions: spec.launch.permissions,
        interactive: spec.interactive,
        state_dir,
        reads,
        env: &spec.env,
        mcp: spec.launch.mcp.as_ref(),
    }
}

/// The refs boxed steps of this run moved that were not theirs to move.
static MOVED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// After a boxed step: the refs it moved that were not its own, said on `out` and kept
/// for [`moved_refs`].
pub(super) fn check_refs(sandbox: Option<&Sandbox>, out: &mut Tee) {
    let Some(sandbox) = sandbox else { return };
    let after = sandbox::refs_now(sandbox);
    let moved = sandbox::moved_refs(sandbox, &after);
    if moved.is_empty() {
        return;
    }
    out.line(&format!(
        "[fleet] the sandboxed step moved refs that are not its branch's: {}",
        moved.join(", ")
    ));
    if let Ok(mut all) = MOVED.lock() {
        all.extend(moved);
    }
}

/// Every ref a boxed step of this run moved that was not its own.
pub(super) fn moved_refs() -> Vec<String> {
    let mut moved = MOVED.lock().map(|m| m.clone()).unwrap_or_default();
    moved.sort();
    moved.dedup();
    moved
}
