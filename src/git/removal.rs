//! Taking worktrees away without losing work: the only place fleet removes a worktree that
//! may hold some (`git worktree remove`, or fleet's own removal of a plain one), after asking
//! which would lose commits no ref reaches, or uncommitted changes.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::worktrees::dotgit_target;
use super::{git, is_dirty, run, run_unlocked, Worktree};

/// Remove a worktree (its branch stays): Ok(Err(why)) when git refuses.
pub fn worktree_remove(repo: &Path, path: &Path, force: bool) -> Result<Result<(), String>> {
    let p = path.display().to_string();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&p);
    let out = git(repo, &args).output()?;
    Ok(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    })
}

/// What [`remove_worktrees`] did with one worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Kept: its HEAD holds this many commits that no ref (branch, tag, remote, stash, …)
    /// reaches, e.g. an agent that committed on a detached HEAD; removing it would lose them.
    /// `--force` does not override this.
    Unreferenced {
        commits: u64,
        head: String,
    },
    /// Kept: it has uncommitted changes or untracked files.
    Dirty,
    /// Kept: `git worktree remove` refused it, for this reason (e.g. it holds a submodule or
    /// a nested repository, or is locked).
    Refused(String),
}

/// The refs that keep commits alive once a worktree is gone: every ref under `refs/` (a
/// worktree's own HEAD is not one of them). `*` in `--glob` also matches `/`.
const KEPT_BY_REFS: &str = "--glob=refs/*";

/// Of these commits (worktrees' HEADs), the ones that reach a commit no ref reaches: one
/// `git rev-list A B … --not --glob=refs/*` for them all. A HEAD outside its answer is
/// reachable from a ref, and so is everything before it; a HEAD in it is itself unreachable.
pub fn unreferenced_heads(repo: &Path, heads: &[&str]) -> Result<HashSet<String>> {
    if heads.is_empty() {
        return Ok(HashSet::new());
    }
    let mut args = vec!["rev-list"];
    args.extend(heads);
    args.extend(["--not", KEPT_BY_REFS]);
    let out = run(repo, &args)?;
    let lost: HashSet<&str> = out.lines().collect();
    Ok(heads
        .iter()
        .filter(|h| lost.contains(*h))
        .map(|h| h.to_string())
        .collect())
}

/// How many commits `head` reaches that no ref does.
pub fn count_unreferenced(repo: &Path, head: &str) -> Result<u64> {
    Ok(
        run(repo, &["rev-list", "--count", head, "--not", KEPT_BY_REFS])?
            .trim()
            .parse()
            .unwrap_or(0),
    )
}

/// Remove these registered worktrees (see [`remove_worktree`]), a few at once: the one way
/// fleet removes a worktree that may hold work. First, one question for them all: would
/// removing it lose commits ([`unreferenced_heads`])? Such a worktree is kept, whatever
/// `force` says ([`Removal::Unreferenced`]); `force` only lets uncommitted changes go.
pub fn remove_worktrees(
    repo: &Path,
    targets: &[&Worktree],
    force: bool,
) -> Result<Vec<Result<Removal>>> {
    let heads: Vec<&str> = targets.iter().filter_map(|w| w.head.as_deref()).collect();
    let lost = unreferenced_heads(repo, &heads)?;
    let results = crate::util::in_parallel(targets, |w| match w.head.as_deref() {
        Some(head) if lost.contains(head) => Ok(Removal::Unreferenced {
            commits: count_unreferenced(repo, head)?,
            head: head.to_string(),
        }),
        _ => remove_worktree(repo, &w.path, force),
    });
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("the removal thread failed"))))
        .collect())
}

/// Remove a worktree and its entry under `.git/worktrees/` (its branch stays) unless it has
/// uncommitted changes or untracked files (`force` removes it anyway): what `git worktree
/// remove` does, with one git process instead of two (`git status` to check, then the two
/// directories removed by fleet). A locked worktree, one with submodules, or one whose
/// `.git` file does not lead back to it is left to `git worktree remove` and its refusals.
fn remove_worktree(repo: &Path, path: &Path, force: bool) -> Result<Removal> {
    let Some(admin) = admin_dir(path) else {
        return Ok(match worktree_remove(repo, path, force)? {
            Ok(()) => Removal::Removed,
            Err(_) if !force && is_dirty(path).unwrap_or(false) => Removal::Dirty,
            Err(why) => Removal::Refused(why),
        });
    };
    if !force {
        // Untracked files count whatever `status.showUntrackedFiles` says.
        let args = [
            "status",
            "--porcelain",
            "--ignore-submodules=none",
            "--untracked-files=normal",
        ];
        if !run_unlocked(path, &args)?.is_empty() {
            return Ok(Removal::Dirty);
        }
    }
    crate::util::trace(
        "fleet",
        &[
            "remove-worktree".to_string(),
            path.display().to_string(),
            admin.display().to_string(),
        ],
    );
    // Through safe_fs: read-only directories (a seeded tree's) made writable first, a
    // seeded snapshot deleted whole where btrfs lets this user.
    crate::safe_fs::remove_tree(path)?;
    std::fs::remove_dir_all(&admin)
        .with_context(|| format!("cannot remove {}", admin.display()))?;
    // The last one gone, `.git/worktrees` goes too, as git does (fails while others remain).
    if let Some(root) = admin.parent() {
        let _ = std::fs::remove_dir(root);
    }
    Ok(Removal::Removed)
}

/// The worktree's directory under `.git/worktrees/`, when its `.git` file names one that
/// names the worktree back, and nothing there asks for git's own care (a lock, submodules).
fn admin_dir(path: &Path) -> Option<PathBuf> {
    let admin = dotgit_target(path)?;
    let back = std::fs::read_to_string(admin.join("gitdir")).ok()?;
    let back = std::fs::canonicalize(back.trim_end_matches('\n')).ok()?;
    let here = std::fs::canonicalize(path.join(".git")).ok()?;
    let plain = admin.is_absolute()
        && back == here
        && !admin.join("locked").exists()
        && !admin.join("modules").exists()
        && !path.join(".gitmodules").exists()
        && !may_hold_gitlinks(&admin);
    plain.then_some(admin)
}

/// Whether the worktree's index may record a submodule or a nested repository committed as
/// one (a gitlink, mode 160000), which `git worktree remove` refuses to delete: its commits
/// may live nowhere else. The index is searched for the four bytes of that mode, big-endian
/// as every index version stores it: never a miss, now and then a false alarm (another field
/// holding those bytes), which only leaves the removal to git. A split index (entries in a
/// `sharedindex.*` beside it) or an index fleet cannot read counts as holding one.
fn may_hold_gitlinks(admin: &Path) -> bool {
    let index = match std::fs::read(admin.join("index")) {
        Ok(bytes) => bytes,
        // Never checked out: nothing recorded.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    let split = std::fs::read_dir(admin).map_or(true, |entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("sharedindex."))
    });
    const GITLINK: [u8; 4] = 0o160000u32.to_be_bytes();
    split || !index.starts_with(b"DIRC") || index.windows(4).any(|w| w == GITLINK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tests::temp_repo;
    use crate::git::{common_dir, worktree_fill, worktrees};

    #[test]
    fn fleet_removes_what_git_made_unless_it_holds_work() {
        let (_tmp, repo, git) = temp_repo();
        git(&repo, &["branch", "by-git"]);
        let g = repo.parent().unwrap().join("wts").join("g");
        let g_arg = g.display().to_string();
        git(
            &repo,
            &["worktree", "add", "-q", "--no-checkout", &g_arg, "by-git"],
        );
        let common = common_dir(&repo).unwrap();
        // refused with untracked files, removed when clean
        worktree_fill(&g).unwrap();
        std::fs::write(g.join("new"), "").unwrap();
        assert_eq!(remove_worktree(&repo, &g, false).unwrap(), Removal::Dirty);
        assert!(g.join("new").exists());
        std::fs::remove_file(g.join("new")).unwrap();
        assert_eq!(remove_worktree(&repo, &g, false).unwrap(), Removal::Removed);
        assert!(!g.exists() && !common.join("worktrees").exists());
        assert_eq!(worktrees(&repo).unwrap().len(), 1);
    }
}
