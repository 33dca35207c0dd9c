//! Worktrees as git lists them, and adding them: the only place for `git worktree list`
//! and `git worktree add`, and for filling a registered worktree with its files. How a new
//! worktree is registered is in `register`; taking worktrees away, with the checks that
//! keep work safe, is in `removal`.
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::{check, git, run};

/// A registered worktree.
#[derive(Debug, Clone)]
pub struct Worktree {
    pub path: PathBuf,
    /// `refs/heads/...` stripped; None when detached.
    pub branch: Option<String>,
    /// The commit checked out; None before the first commit.
    pub head: Option<String>,
    /// Registered but its directory is gone.
    pub prunable: bool,
    /// `git worktree lock`ed, with the reason given ("initializing" while `worktree add`
    /// runs, or after it was cut short).
    pub locked: Option<String>,
}

/// All worktrees of the repository (the main one included).
pub fn worktrees(repo: &Path) -> Result<Vec<Worktree>> {
    let out = run(repo, &["worktree", "list", "--porcelain"])?;
    let mut list = Vec::new();
    for block in out.split("\n\n") {
        let mut wt: Option<Worktree> = None;
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                wt = Some(Worktree {
                    path: PathBuf::from(p),
                    branch: None,
                    head: None,
                    prunable: false,
                    locked: None,
                });
            } else if let (Some(w), Some(h)) = (wt.as_mut(), line.strip_prefix("HEAD ")) {
                w.head = Some(h.to_string()).filter(|h| h.bytes().any(|b| b != b'0'));
            } else if let (Some(w), Some(b)) = (wt.as_mut(), line.strip_prefix("branch ")) {
                w.branch = Some(b.trim_start_matches("refs/heads/").to_string());
            } else if let (Some(w), true) = (wt.as_mut(), line.starts_with("prunable")) {
                w.prunable = true;
            } else if let (Some(w), Some(why)) = (wt.as_mut(), line.strip_prefix("locked")) {
                w.locked = Some(why.trim().to_string());
            }
        }
        if let Some(mut w) = wt {
            w.prunable |= !w.path.exists();
            list.push(w);
        }
    }
    Ok(list)
}

/// Forget worktrees whose directories are gone.
pub fn prune_worktrees(repo: &Path) -> Result<()> {
    run(repo, &["worktree", "prune"]).map(drop)
}

/// The live (registered, directory present) worktree at `path`.
pub fn registered<'a>(worktrees: &'a [Worktree], path: &Path) -> Option<&'a Worktree> {
    worktrees.iter().find(|w| w.path == path && !w.prunable)
}

/// The arguments of the `git worktree add` that puts a worktree at `path` on `branch`
/// (creating the branch from `base` unless `branch_exists`; see [`existing_branches`]), or
/// None when a worktree is registered there already.
pub fn worktree_add_args_known(
    worktrees: &[Worktree],
    path: &Path,
    branch: &str,
    base: &str,
    branch_exists: bool,
) -> Option<Vec<String>> {
    if registered(worktrees, path).is_some() {
        return None;
    }
    Some(worktree_add_args_for(path, branch, base, branch_exists))
}

fn worktree_add_args_for(
    path: &Path,
    branch: &str,
    base: &str,
    branch_exists: bool,
) -> Vec<String> {
    let path = path.display().to_string();
    if branch_exists {
        vec!["worktree".into(), "add".into(), path, branch.into()]
    } else {
        vec![
            "worktree".into(),
            "add".into(),
            "-b".into(),
            branch.into(),
            path,
            base.into(),
        ]
    }
}

/// Run a `git worktree add` from [`worktree_add_args_known`]. Run these one after another: two at
/// the same moment in one repository can fail on git's lock.
///
/// git runs in its own process group: a Ctrl-C meant for fleet does not kill it halfway
/// through (which would leave a locked, half checked-out worktree); fleet stops after it.
pub fn worktree_add(repo: &Path, args: &[String]) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = git(repo, &args).own_group().output()?;
    if !out.status.success() {
        // `-b` made a branch before the checkout failed: it holds nothing yet, drop it so a
        // failed `up` leaves no trace.
        if let Some(i) = args.iter().position(|a| *a == "-b") {
            if let Some(branch) = args.get(i + 1) {
                let live = worktrees(repo)?
                    .iter()
                    .any(|w| w.branch.as_deref() == Some(*branch));
                if !live {
                    let _ = check(repo, &["branch", "-D", branch]);
                }
            }
        }
        bail!(
            "`git {}` in {} failed: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Check out a worktree registered by `git worktree add --no-checkout`: its files and index,
/// like the checkout `git worktree add` does (post-checkout hook included). Worktrees have
/// their own index, so several fill at once. In its own process group: Ctrl-C lets it end.
pub fn worktree_fill(worktree: &Path) -> Result<()> {
    git(worktree, &["checkout", "-f", "-q"])
        .own_group()
        .run()
        .map(drop)
}

/// A registered worktree that was never checked out (no index yet): an `up` stopped between
/// registering and filling it.
pub fn worktree_unfilled(worktree: &Path) -> bool {
    let Some(gitdir) = dotgit_target(worktree) else {
        return false;
    };
    let gitdir = worktree.join(gitdir);
    gitdir.is_dir() && !gitdir.join("index").exists()
}

/// The directory a worktree's `.git` file names (`gitdir: …`), as written there (relative
/// to the worktree or absolute); None when `.git` is no such file.
pub(super) fn dotgit_target(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let target = text
        .strip_prefix("gitdir: ")?
        .trim_end_matches(['\n', '\r']);
    Some(PathBuf::from(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::branch_exists;

    #[test]
    fn a_failed_worktree_add_leaves_no_new_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("r");
        std::fs::create_dir_all(&repo).unwrap();
        let git = |args: &[&str]| run(&repo, args).unwrap();
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "i",
        ]);
        std::fs::write(tmp.path().join("file"), "x").unwrap();
        let list = worktrees(&repo).unwrap();
        let path = tmp.path().join("file").join("wt");
        let exists = branch_exists(&repo, "fleet/x").unwrap();
        let args = worktree_add_args_known(&list, &path, "fleet/x", "main", exists).unwrap();
        assert!(args.contains(&"-b".to_string()));
        assert!(worktree_add(&repo, &args).is_err());
        assert!(!branch_exists(&repo, "fleet/x").unwrap());
    }
}
