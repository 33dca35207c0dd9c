//! Where an agent that builds on others (`after:`) starts: the merge of its dependencies'
//! branch tips made as a commit without a worktree, index or checkout (`git merge-tree
//! --write-tree`, `git commit-tree`), moving a branch only from the commit it was seen at,
//! and the diff a review task is given (`{{diff:NAME}}`).
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Result};

use super::{git, run};

/// How [`merge_tips`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Merge {
    /// The merge commit, whose parents are the tips.
    Commit(String),
    /// Merging `ours` (the tips before) and `theirs` (the tip that clashed, its index) clashes
    /// in these files.
    Conflict { with: usize, files: Vec<String> },
}

/// One commit that merges these commits (two or more), each a parent, made without touching
/// any ref, index or worktree; or the files that clash (and which tip brought the clash).
pub fn merge_tips(repo: &Path, tips: &[String], message: &str) -> Result<Merge> {
    let Some((first, rest)) = tips.split_first() else {
        bail!("no commits to merge");
    };
    let mut tree = String::new();
    // The merge so far, as a commit, to merge the next tip into.
    let mut so_far = first.clone();
    for (i, tip) in rest.iter().enumerate() {
        let out = git(
            repo,
            &[
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                &so_far,
                tip,
            ],
        )
        .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        match out.status.code() {
            Some(0) => tree = lines.next().unwrap_or_default().to_string(),
            Some(1) => {
                let mut files: Vec<String> = lines
                    .skip(1)
                    .take_while(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                files.dedup();
                return Ok(Merge::Conflict { with: i + 1, files });
            }
            _ => bail!(
                "`git merge-tree --write-tree` in {} failed (it needs git 2.38 or newer): {}",
                repo.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
        if i + 1 < rest.len() {
            so_far = commit_tree(repo, &tree, &[so_far.as_str(), tip.as_str()], message)?;
        }
    }
    let parents: Vec<&str> = tips.iter().map(String::as_str).collect();
    Ok(Merge::Commit(commit_tree(repo, &tree, &parents, message)?))
}

/// A commit of `tree` with these parents (`git commit-tree`): no ref moves.
fn commit_tree(repo: &Path, tree: &str, parents: &[&str], message: &str) -> Result<String> {
    let mut args = vec!["commit-tree", tree, "-m", message];
    for p in parents {
        args.extend(["-p", p]);
    }
    Ok(run(repo, &args)?.trim().to_string())
}

/// Point `branch` at `new`: create it when `old` is None, else move it only if it still is
/// at `old` (git refuses otherwise, and nothing changes).
pub fn set_branch(
    repo: &Path,
    branch: &str,
    new: &str,
    old: Option<&str>,
    why: &str,
) -> Result<()> {
    let r = format!("refs/heads/{branch}");
    // An empty old value: the ref must not exist yet.
    let old = old.unwrap_or("");
    let out = git(repo, &["update-ref", "-m", why, &r, new, old])
        .own_group()
        .stdout(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "cannot point branch {branch} at {new}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Check the worktree out at its branch's new tip, when it holds no change of its own
/// (`git reset --keep` refuses to lose any).
pub fn follow_branch(worktree: &Path, tip: &str) -> Result<()> {
    run(worktree, &["reset", "-q", "--keep", tip]).map(|_| ())
}

/// `git diff base...branch` (what `branch` did since it left `base`), at most `cap` bytes
/// cut at a line; and its whole size in bytes.
pub fn diff_since(repo: &Path, base: &str, branch: &str, cap: usize) -> Result<(String, usize)> {
    let text = run(
        repo,
        &[
            "diff",
            "--no-color",
            "--no-ext-diff",
            &format!("{base}...{branch}"),
        ],
    )?;
    let total = text.len();
    if total <= cap {
        return Ok((text, total));
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end].rfind('\n').map_or(end, |i| i + 1);
    Ok((text[..cut].to_string(), total))
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_repo;
    use super::*;

    #[test]
    fn merges_tips_or_names_the_clash() {
        let (_tmp, repo, git) = temp_repo();
        let commit_on = |branch: &str, file: &str, text: &str| {
            git(&repo, &["checkout", "-q", "-B", branch, "main"]);
            std::fs::write(repo.join(file), text).unwrap();
            git(&repo, &["add", file]);
            git(&repo, &["commit", "-q", "-m", branch]);
            git(&repo, &["rev-parse", "HEAD"]).trim().to_string()
        };
        let b = commit_on("b", "b.txt", "b\n");
        let c = commit_on("c", "c.txt", "c\n");
        let d = commit_on("d", "b.txt", "not b\n");
        let Merge::Commit(m) = merge_tips(&repo, &[b.clone(), c.clone()], "m").unwrap() else {
            panic!("b and c conflict?");
        };
        let parents = git(&repo, &["log", "-1", "--format=%P", &m]);
        assert_eq!(parents.trim(), format!("{b} {c}"));
        let files = git(&repo, &["ls-tree", "--name-only", &m]);
        assert_eq!(files.trim(), "b.txt\nc.txt\nf.txt");
        assert_eq!(
            merge_tips(&repo, &[b, c, d], "m").unwrap(),
            Merge::Conflict {
                with: 2,
                files: vec!["b.txt".into()]
            }
        );
    }
}
