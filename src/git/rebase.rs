//! A rebased copy of a branch, for `fleet merge --rebase`: the branch's commits replayed on
//! another commit in a scratch worktree of fleet's own (detached, so no branch moves), the
//! agent's own branch and worktree untouched. What a person gets from `git rebase` (commits
//! already upstream dropped, merge commits flattened), without touching the main checkout
//! until the result is fast-forwarded there.
use std::path::Path;

use anyhow::{bail, Result};

use super::{git, run, worktree_remove};

/// How [`rebased_copy`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebased {
    /// The copy's tip: `onto` with the commits replayed on it (`onto` itself when every
    /// commit was already there).
    Onto(String),
    /// Replaying conflicts in these files; the rebase was aborted, nothing kept.
    Conflict(Vec<String>),
}

/// Replay the commits of `tip` that `onto` lacks (with `upstream`: those `upstream` lacks,
/// the part of a branch not merged yet) onto `onto`, in a detached worktree at
/// `scratch` (which must not exist; removed again however it ends). git runs in its own
/// process group, so a Ctrl-C meant for fleet does not cut the rebase short.
pub fn rebased_copy(
    repo: &Path,
    tip: &str,
    onto: &str,
    upstream: Option<&str>,
    scratch: &Path,
) -> Result<Rebased> {
    if scratch.symlink_metadata().is_ok() {
        bail!(
            "{} is in the way of fleet's scratch worktree for the rebase; remove it (`git worktree remove {}` when git lists it)",
            scratch.display(),
            scratch.display()
        );
    }
    let path = scratch.display().to_string();
    let add = git(repo, &["worktree", "add", "--detach", &path, tip])
        .own_group()
        .output()?;
    if !add.status.success() {
        bail!(
            "cannot make the scratch worktree {path} for the rebase: {}",
            String::from_utf8_lossy(&add.stderr).trim()
        );
    }
    let result = replay(scratch, onto, upstream);
    let removed = worktree_remove(repo, scratch, true)?;
    let result = result?;
    if let Err(why) = removed {
        bail!("cannot remove the scratch worktree {path} after the rebase: {why}");
    }
    Ok(result)
}

/// `git rebase onto` in the scratch worktree; a conflict is aborted and its files returned.
fn replay(scratch: &Path, onto: &str, upstream: Option<&str>) -> Result<Rebased> {
    let mut args = vec!["rebase", "--no-autostash"];
    match upstream {
        Some(upstream) => args.extend(["--onto", onto, upstream]),
        None => args.push(onto),
    }
    let out = git(scratch, &args).users_signing().own_group().output()?;
    if out.status.success() {
        return Ok(Rebased::Onto(
            run(scratch, &["rev-parse", "HEAD"])?.trim().to_string(),
        ));
    }
    let conflicts = super::merge::unmerged_files(scratch);
    let _ = run(scratch, &["rebase", "--abort"]);
    if conflicts.is_empty() {
        bail!(
            "`git rebase {onto}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Rebased::Conflict(conflicts))
}
