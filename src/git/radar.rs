//! The radar's one git question: which files a commit changed since its merge-base with
//! the base (`git diff --name-only base...head`), asked of the repository, never of an
//! agent's worktree, so it touches nothing an agent uses. The uncommitted side comes from
//! the `git status` that `status` already runs ([`super::look`]); whether two agents'
//! commits would conflict is [`super::merge_trees`].
use std::path::Path;

use anyhow::Result;

use super::run;

/// The files `head` changed against its merge-base with `base` (both commit ids), each once.
pub fn committed_files(repo: &Path, base: &str, head: &str) -> Result<Vec<String>> {
    let range = format!("{base}...{head}");
    let out = run(
        repo,
        &["diff", "--name-only", "-z", "--no-renames", &range, "--"],
    )?;
    Ok(out
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect())
}
