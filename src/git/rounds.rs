//! What rounds ask of git: an agent's diff as text to review (one fixed form, whatever the
//! user's diff settings), whether the base already holds a branch's changes (a squash merge
//! leaves none of its commits in the base's history), how many commits only the agent's
//! branch reaches, keeping them under `refs/fleet/kept/NAME/N`, and moving the branch to
//! where its next round starts.
use std::path::Path;

use anyhow::Result;

use super::{answer, follow_branch, git, run, set_branch};

/// The namespace of the refs that keep an agent's earlier work when its branch moved on.
pub const KEPT: &str = "refs/fleet/kept";

/// `git diff from to` as text in the one form a review file holds: no colour, no external
/// diff or textconv, `a/` and `b/` prefixes, paths unquoted, three lines of context,
/// renames found, whatever the user's configuration says.
pub fn diff_text(repo: &Path, from: &str, to: &str) -> Result<String> {
    run(
        repo,
        &[
            "-c",
            "core.quotePath=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-relative",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "-U3",
            "-M",
            from,
            to,
        ],
    )
}

/// Would merging `tip` into `base` change nothing? True when the base already holds every
/// change of the branch (merged, squash-merged, cherry-picked), computed without touching any
/// worktree, index or ref (`git merge-tree --write-tree`, git 2.38+; older git: false).
pub fn brings_nothing(repo: &Path, base: &str, tip: &str) -> Result<bool> {
    let merged = answer(
        repo,
        &["merge-tree", "--write-tree", "--no-messages", base, tip],
    )?;
    let Some(merged) = merged else {
        return Ok(false);
    };
    let tree = merged.lines().next().unwrap_or_default().to_string();
    let base_tree = answer(
        repo,
        &["rev-parse", "--verify", "-q", &format!("{base}^{{tree}}")],
    )?;
    Ok(base_tree.as_deref() == Some(tree.as_str()))
}

/// How many commits `tip` reaches that no ref but `refs/heads/BRANCH` does: what moving the
/// branch away from `tip` would leave unreachable.
pub fn only_on_branch(repo: &Path, tip: &str, branch: &str) -> Result<u64> {
    let exclude = format!("--exclude=refs/heads/{branch}");
    Ok(run(
        repo,
        &[
            "rev-list",
            "--count",
            tip,
            "--not",
            &exclude,
            "--glob=refs/*",
        ],
    )?
    .trim()
    .parse()
    .unwrap_or(0))
}

/// Keep `tip` under the first free `refs/fleet/kept/NAME/N` (created, never overwritten);
/// the ref's full name.
pub fn keep(repo: &Path, name: &str, tip: &str) -> Result<String> {
    let prefix = format!("{KEPT}/{name}/");
    let taken = run(repo, &["for-each-ref", "--format=%(refname)", &prefix])?;
    let last = taken
        .lines()
        .filter_map(|r| r.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let kept = format!("{prefix}{}", last + 1);
    let why = format!("fleet: {name}'s work before its next round");
    // An empty old value: the ref must not exist yet.
    run(repo, &["update-ref", "-m", &why, &kept, tip, ""])?;
    Ok(kept)
}

/// Move the agent's branch from `from` to `to`: in its worktree when it has one (`git reset
/// --keep`, which refuses to lose a change there), else the ref alone, only while it is
/// still at `from`.
pub fn move_branch(
    repo: &Path,
    worktree: Option<&Path>,
    branch: &str,
    from: &str,
    to: &str,
) -> Result<()> {
    match worktree {
        Some(w) => follow_branch(w, to),
        None => set_branch(
            repo,
            branch,
            to,
            Some(from),
            "fleet: the next round starts here",
        ),
    }
}

/// `abc1234 subject` of each commit reachable from `to` and not from `from`, oldest first.
pub fn log_lines(repo: &Path, from: &str, to: &str) -> Result<Vec<String>> {
    Ok(git(
        repo,
        &[
            "log",
            "--reverse",
            "--format=%h %s",
            &format!("{from}..{to}"),
        ],
    )
    .run()?
    .lines()
    .map(str::to_string)
    .collect())
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_repo;
    use super::*;

    #[test]
    fn a_squash_brings_nothing_and_its_commits_are_kept() {
        let (_tmp, repo, git) = temp_repo();
        git(&repo, &["checkout", "-q", "-b", "fleet/a"]);
        std::fs::write(repo.join("a.txt"), "a\n").unwrap();
        git(&repo, &["add", "a.txt"]);
        git(&repo, &["commit", "-q", "-m", "a"]);
        let tip = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
        git(&repo, &["checkout", "-q", "main"]);
        assert!(!brings_nothing(&repo, "main", &tip).unwrap());
        git(&repo, &["merge", "-q", "--squash", "fleet/a"]);
        git(&repo, &["commit", "-q", "-m", "squashed"]);
        assert!(brings_nothing(&repo, "main", &tip).unwrap());
        assert_eq!(only_on_branch(&repo, &tip, "fleet/a").unwrap(), 1);
        let kept = keep(&repo, "a", &tip).unwrap();
        assert_eq!(kept, "refs/fleet/kept/a/1");
        assert_eq!(only_on_branch(&repo, &tip, "fleet/a").unwrap(), 0);
        assert_eq!(keep(&repo, "a", &tip).unwrap(), "refs/fleet/kept/a/2");
        move_branch(&repo, None, "fleet/a", &tip, "main").unwrap_or_else(|e| panic!("{e:#}"));
    }
}
