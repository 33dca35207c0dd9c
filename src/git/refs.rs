//! What a sandboxed agent's box needs from git: where the worktree's own git data lives
//! (its private git dir and the common dir) and every ref with its value, so the runner
//! can tell which refs a step moved.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::run;

/// A linked worktree's own git directory (`<common>/worktrees/<name>`) and the
/// repository's common dir, absolute and canonical. Read from the files git keeps them in
/// (the worktree's `.git` file, the git dir's `commondir`): a box is built for every step,
/// and two git processes fewer each time add up over a fleet; git answers when the files
/// say otherwise (a main checkout, a layout of another git).
pub fn worktree_dirs(worktree: &Path) -> Result<(PathBuf, PathBuf)> {
    if let Some(dirs) = dirs_from_files(worktree) {
        return Ok(dirs);
    }
    let out = run(worktree, &["rev-parse", "--git-dir", "--git-common-dir"])?;
    let mut lines = out.lines();
    let mut next = || {
        let path = worktree.join(lines.next().unwrap_or("."));
        std::fs::canonicalize(&path).unwrap_or(path)
    };
    let dir = next();
    Ok((dir, next()))
}

/// [`worktree_dirs`] from git's files, when they are as git writes them.
fn dirs_from_files(worktree: &Path) -> Option<(PathBuf, PathBuf)> {
    let dot_git = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let dir = dot_git.strip_prefix("gitdir: ")?.trim_end_matches('\n');
    let dir = std::fs::canonicalize(worktree.join(dir)).ok()?;
    let common = std::fs::read_to_string(dir.join("commondir")).ok()?;
    let common = std::fs::canonicalize(dir.join(common.trim_end_matches('\n'))).ok()?;
    Some((dir, common))
}

/// Every ref of the repository (`refs/...`) with the object it points at.
pub fn all_refs(repo: &Path) -> Result<BTreeMap<String, String>> {
    let out = run(repo, &["for-each-ref", "--format=%(objectname) %(refname)"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(oid, name)| (name.to_string(), oid.to_string()))
        .collect())
}
