//! Merges computed without a checkout: `git merge-tree --write-tree`, which merges two
//! commits in memory and writes only objects (the merged tree, blobs with conflict markers)
//! to the object database. No worktree, index, HEAD or ref is touched, so it is safe while
//! agents work and while the user has anything under way.
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::git;

/// `merge-tree --write-tree` (with `--name-only` and `--[no-]messages`) came in git 2.38.
pub const WRITE_TREE_VERSION: (u32, u32) = (2, 38);
/// `merge-tree --stdin` (many merges in one process) came in git 2.40.
const STDIN_VERSION: (u32, u32) = (2, 40);

/// How a merge of two commits would end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeMerge {
    Clean,
    /// Conflicts, in these files (as git names them, each once; may be empty for a
    /// conflict git names no file for).
    Conflict(Vec<String>),
}

/// Merge each pair of revisions (`left`, `right`) in memory, in the order given: one git
/// process for all of them (git 2.40 and newer), one per pair on git 2.38 and 2.39. An older
/// git is a clear error; so is a revision that is not there (the caller names existing
/// refs) or two without shared history.
pub fn merge_trees(repo: &Path, pairs: &[(String, String)]) -> Result<Vec<TreeMerge>> {
    let version = super::require_version(
        WRITE_TREE_VERSION,
        "merging without a checkout (`git merge-tree --write-tree`)",
    )?;
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    if version >= STDIN_VERSION {
        batch(repo, pairs)
    } else {
        pairs.iter().map(|(l, r)| one(repo, l, r)).collect()
    }
}

/// The options every merge-tree call takes: file names only, NUL-terminated, no messages.
const OPTIONS: [&str; 5] = [
    "merge-tree",
    "--write-tree",
    "-z",
    "--name-only",
    "--no-messages",
];

/// One merge, one process: exit 0 clean, 1 conflicts, anything else an error.
fn one(repo: &Path, left: &str, right: &str) -> Result<TreeMerge> {
    let mut args = OPTIONS.to_vec();
    args.extend([left, right]);
    let out = git(repo, &args).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split('\0');
    // The merged tree's id first: a revision git cannot merge also exits 1, without it.
    let tree = fields.next().filter(|t| is_oid(t));
    match (out.status.code(), tree) {
        (Some(0), Some(_)) => Ok(TreeMerge::Clean),
        (Some(1), Some(_)) => Ok(TreeMerge::Conflict(
            fields
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        _ => bail!(
            "`git merge-tree` of {left} and {right} in {} failed: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Is `s` an object id (SHA-1 or SHA-256, in hex)?
fn is_oid(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every merge in one `git merge-tree --stdin`: a line `LEFT RIGHT` each; the output is,
/// per merge, its status (`1` clean, `0` conflicts), the tree, the conflicted files, then
/// an empty field, all NUL-terminated.
fn batch(repo: &Path, pairs: &[(String, String)]) -> Result<Vec<TreeMerge>> {
    let input: String = pairs.iter().map(|(l, r)| format!("{l} {r}\n")).collect();
    let mut args = OPTIONS.to_vec();
    args.push("--stdin");
    let out = git(repo, &args).input(input).output()?;
    if !out.status.success() {
        bail!(
            "`git merge-tree --stdin` in {} failed: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let merges = parse_batch(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("cannot read `git merge-tree --stdin` in {}", repo.display()))?;
    if merges.len() != pairs.len() {
        bail!(
            "`git merge-tree --stdin` in {} answered {} merges of {}",
            repo.display(),
            merges.len(),
            pairs.len()
        );
    }
    Ok(merges)
}

/// The merges of a `merge-tree --stdin -z --name-only --no-messages` output.
fn parse_batch(text: &str) -> Result<Vec<TreeMerge>> {
    let mut fields = text.split('\0');
    let mut merges = Vec::new();
    while let Some(status) = fields.next().filter(|s| !s.is_empty()) {
        let tree = fields.next().context("a merge without its tree")?;
        if !is_oid(tree) {
            bail!("a merge without its tree (`{tree}`)");
        }
        let files: Vec<String> = fields
            .by_ref()
            .take_while(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        merges.push(match status {
            "1" => TreeMerge::Clean,
            "0" => TreeMerge::Conflict(files),
            other => bail!("a merge that could not run (status {other})"),
        });
    }
    Ok(merges)
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_repo;
    use super::*;

    #[test]
    fn the_batch_and_one_process_per_pair_agree() {
        let (_tmp, repo, git) = temp_repo();
        for (branch, file, text) in [
            ("x", "f.txt", "x\nfrom x\n"),
            ("y", "f.txt", "x\nfrom y\n"),
            ("z", "g.txt", "z\n"),
        ] {
            git(&repo, &["switch", "-q", "-c", branch, "main"]);
            std::fs::write(repo.join(file), text).unwrap();
            git(&repo, &["add", file]);
            git(&repo, &["commit", "-q", "-m", branch]);
        }
        git(&repo, &["switch", "-q", "main"]);
        let refs = |a: &str, b: &str| (format!("refs/heads/{a}"), format!("refs/heads/{b}"));
        let pairs = vec![refs("x", "y"), refs("main", "x"), refs("y", "z")];
        let expected = vec![
            TreeMerge::Conflict(vec!["f.txt".into()]),
            TreeMerge::Clean,
            TreeMerge::Clean,
        ];
        assert_eq!(merge_trees(&repo, &pairs).unwrap(), expected);
        let each: Vec<TreeMerge> = pairs
            .iter()
            .map(|(l, r)| one(&repo, l, r).unwrap())
            .collect();
        assert_eq!(each, expected);
        assert_eq!(batch(&repo, &pairs).unwrap(), expected);
        // a missing revision is an error, not a clean merge
        assert!(one(&repo, "refs/heads/x", "refs/heads/nope").is_err());
        assert!(batch(&repo, &[refs("x", "nope")]).is_err());
    }

    #[test]
    fn parse_batch_reads_clean_and_conflicted_records() {
        let (t1, t2) = ("1".repeat(40), "2".repeat(40));
        let text = format!("0\0{t1}\0a.txt\0b c.txt\0\x001\0{t2}\0\0");
        assert_eq!(
            parse_batch(&text).unwrap(),
            vec![
                TreeMerge::Conflict(vec!["a.txt".into(), "b c.txt".into()]),
                TreeMerge::Clean
            ]
        );
        assert!(parse_batch(&format!("-1\0{t1}\0\0")).is_err());
        assert!(parse_batch("1\0not a tree\0\0").is_err());
        assert_eq!(parse_batch("").unwrap(), vec![]);
    }
}
