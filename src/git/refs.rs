//! What a sandboxed agent's box needs from git: where the worktree's own git data lives
//! (its private git dir and the common dir) and every ref with its value, so the runner
//! can tell which refs a step moved.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::run;

/// The worktree's own git directory (`<common>/worktrees/<name>` for a linked worktree),
/// absolute and canonical.
pub fn git_dir(worktree: &Path) -> Result<PathBuf> {
    let dir = run(worktree, &["rev-parse", "--git-dir"])?;
    let path = worktree.join(dir.trim_end_matches('\n'));
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
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
