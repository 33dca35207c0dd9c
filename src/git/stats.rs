//! What `status` and `down` learn of an agent's work without touching it: the only place
//! for `git status` of a worktree (its look, dirtiness, changed files), commits ahead and
//! behind of branches, and diff stats (files, insertions, deletions).
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;

use anyhow::Result;

use super::{git, run, run_unlocked};

/// An agent's work against the merge-base with `base`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub commits_ahead: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// A branch as `status` needs it: commits ahead of the base, and (git 2.41 and newer, from
/// the same call) commits behind and the commit it points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tip {
    pub ahead: u64,
    pub behind: Option<u64>,
    pub oid: Option<String>,
}

/// Commits each branch has that `base` has not (`rev-list --count base..branch`), by branch
/// name; a missing branch is left out. One `git for-each-ref` with `%(ahead-behind)` answers
/// for every branch on git 2.41 and newer; older git gets one `rev-list` per branch.
pub fn branch_tips(repo: &Path, base: &str, branches: &[&str]) -> HashMap<String, Tip> {
    if branches.is_empty() {
        return HashMap::new();
    }
    // `)` would end the atom early and `%` start another: let rev-list handle such bases.
    if !base.contains([')', '%']) {
        if let Some(found) = ahead_behind(repo, base, branches) {
            return found;
        }
    }
    commits_ahead_each(repo, base, branches)
}

/// [`branch_tips`] in one `for-each-ref`; None when git cannot (older than 2.41).
fn ahead_behind(repo: &Path, base: &str, branches: &[&str]) -> Option<HashMap<String, Tip>> {
    let format = format!("--format=%(ahead-behind:{base}) %(objectname) %(refname)");
    let patterns: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    let mut args = vec!["for-each-ref", format.as_str()];
    args.extend(patterns.iter().map(String::as_str));
    let out = run(repo, &args).ok()?;
    let mut found = HashMap::new();
    for line in out.lines() {
        let mut words = line.splitn(4, ' ');
        let (Some(ahead), Some(behind), Some(oid), Some(name)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        // The patterns also match branches below these names (`fleet/a1/x`): keep exact ones.
        if let Some(b) = name.strip_prefix("refs/heads/") {
            if branches.contains(&b) {
                let tip = Tip {
                    ahead: ahead.parse().unwrap_or(0),
                    behind: behind.parse().ok(),
                    oid: Some(oid.to_string()),
                };
                found.insert(b.to_string(), tip);
            }
        }
    }
    Some(found)
}

/// [`branch_tips`] with one `rev-list --count` per branch (any git): commits ahead only.
fn commits_ahead_each(repo: &Path, base: &str, branches: &[&str]) -> HashMap<String, Tip> {
    branches
        .iter()
        .filter_map(|b| {
            let out = run(
                repo,
                &["rev-list", "--count", &format!("{base}..refs/heads/{b}")],
            )
            .ok()?;
            let ahead = out.trim().parse().ok()?;
            Some((
                b.to_string(),
                Tip {
                    ahead,
                    ..Tip::default()
                },
            ))
        })
        .collect()
}

/// A worktree as one `git status` sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// The commit checked out; None before the first commit.
    pub head: Option<String>,
    /// Tracked files staged or changed.
    pub changed: bool,
    /// Untracked files (not ignored), each counted.
    pub untracked: u64,
    /// The paths of the changed, unmerged and untracked files (what the radar compares).
    pub paths: Vec<String>,
}

/// One `git status` of a worktree (None when it is missing or git fails). It does not write
/// the worktree's index (`GIT_OPTIONAL_LOCKS=0`), so it never holds the lock an agent's own
/// `git commit` needs at the same moment.
pub fn look(worktree: &Path) -> Option<Look> {
    if !worktree.is_dir() {
        return None;
    }
    let args = [
        "status",
        "--porcelain=v2",
        "--branch",
        "--untracked-files=all",
        "--no-renames",
        "-z",
    ];
    let out = run_unlocked(worktree, &args).ok()?;
    Some(parse_look(&out))
}

fn parse_look(text: &str) -> Look {
    let mut look = Look::default();
    for entry in text.split('\0') {
        if let Some(oid) = entry.strip_prefix("# branch.oid ") {
            look.head = oid
                .chars()
                .all(|c| c.is_ascii_hexdigit())
                .then(|| oid.to_string());
        } else if let Some(path) = entry.strip_prefix("? ") {
            look.untracked += 1;
            look.paths.push(path.to_string());
        } else if entry.starts_with(['1', '2', 'u']) && entry.as_bytes().get(1) == Some(&b' ') {
            look.changed = true;
            // `1 XY sub mH mI mW hH hI path`; `2` has a score before the path; `u` 3 more
            // modes and oids (renames are off, so no original path follows).
            let fields = match entry.as_bytes()[0] {
                b'1' => 9,
                b'2' => 10,
                _ => 11,
            };
            if let Some(path) = entry.splitn(fields, ' ').nth(fields - 1) {
                look.paths.push(path.to_string());
            }
        }
    }
    look
}

/// The diff of a worktree against the merge-base with `base`, committed and uncommitted
/// changes of tracked files (renames found): (files, insertions, deletions); zeros when git
/// cannot tell.
pub fn worktree_diff(worktree: &Path, base: &str) -> (u64, u64, u64) {
    run(
        worktree,
        &["diff", "--shortstat", "-M", "--merge-base", base],
    )
    .map_or((0, 0, 0), |out| parse_shortstat(&out))
}

/// The committed work of a branch against its merge-base with `base` (a branch whose
/// worktree is gone): one `git diff --shortstat base...branch` in the repository.
pub fn branch_diff(repo: &Path, base: &str, branch: &str) -> (u64, u64, u64) {
    let range = format!("{base}...refs/heads/{branch}");
    run(repo, &["diff", "--shortstat", "-M", &range]).map_or((0, 0, 0), |out| parse_shortstat(&out))
}

/// The diffs between pairs of commits `(to, from)`, all from one `git diff-tree --stdin`
/// (renames found, as [`worktree_diff`]): (files, insertions, deletions) by `to`.
pub fn commit_diffs(repo: &Path, pairs: &[(String, String)]) -> HashMap<String, (u64, u64, u64)> {
    if pairs.is_empty() {
        return HashMap::new();
    }
    let text: String = pairs
        .iter()
        .map(|(to, from)| format!("{to} {from}\n"))
        .collect();
    // A failure to run or feed it shows as missing answers.
    let Ok(out) = git(
        repo,
        &["diff-tree", "--stdin", "--always", "-M", "--shortstat"],
    )
    .input(text)
    .stderr(Stdio::null())
    .output() else {
        return HashMap::new();
    };
    if !out.status.success() {
        return HashMap::new();
    }
    parse_commit_diffs(&String::from_utf8_lossy(&out.stdout))
}

/// `diff-tree --stdin --always --shortstat` output: a commit id line, then its shortstat
/// line unless the two commits hold the same files.
fn parse_commit_diffs(text: &str) -> HashMap<String, (u64, u64, u64)> {
    let mut found = HashMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let word = line.split(' ').next().unwrap_or("");
        if !line.starts_with(' ') && word.len() >= 40 && word.chars().all(|c| c.is_ascii_hexdigit())
        {
            found.insert(word.to_string(), (0, 0, 0));
            current = Some(word);
        } else if let Some(c) = current {
            found.insert(c.to_string(), parse_shortstat(line));
        }
    }
    found
}

/// Does the worktree have uncommitted changes or untracked files?
pub fn is_dirty(worktree: &Path) -> Result<bool> {
    Ok(!run_unlocked(worktree, &["status", "--porcelain"])?
        .trim()
        .is_empty())
}

/// `git status --porcelain` lines of a checkout: everything, or tracked changes only.
pub fn changes(dir: &Path, untracked: bool) -> Result<Vec<String>> {
    let mode = if untracked {
        "--untracked-files=all"
    } else {
        "--untracked-files=no"
    };
    Ok(run_unlocked(dir, &["status", "--porcelain", mode])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// ` 2 files changed, 3 insertions(+), 1 deletion(-)` → (2, 3, 1).
pub fn parse_shortstat(s: &str) -> (u64, u64, u64) {
    let (mut f, mut i, mut d) = (0, 0, 0);
    for part in s.trim().split(',') {
        let mut words = part.split_whitespace();
        let n: u64 = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        match words.next() {
            Some(w) if w.starts_with("file") => f = n,
            Some(w) if w.starts_with("insertion") => i = n,
            Some(w) if w.starts_with("deletion") => d = n,
            _ => {}
        }
    }
    (f, i, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{commit_oid, git};

    #[test]
    fn parses_shortstat() {
        assert_eq!(
            parse_shortstat(" 2 files changed, 3 insertions(+), 1 deletion(-)\n"),
            (2, 3, 1)
        );
        assert_eq!(parse_shortstat(" 1 file changed, 1 deletion(-)"), (1, 0, 1));
        assert_eq!(parse_shortstat(""), (0, 0, 0));
    }

    #[test]
    fn commits_ahead_in_one_call_matches_one_call_per_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path();
        let git = |args: &[&str]| {
            let cmd = git(repo, args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", repo)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@e")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@e");
            assert!(cmd.output().unwrap().status.success(), "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "base"]);
        git(&["branch", "fleet/a1"]);
        git(&["branch", "fleet/a1x"]);
        git(&["checkout", "-q", "-b", "fleet/a2"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&["commit", "-q", "--allow-empty", "-m", "two"]);
        git(&["checkout", "-q", "main"]);
        let branches = ["fleet/a1", "fleet/a2", "fleet/gone"];
        let want: HashMap<String, u64> = [("fleet/a1".to_string(), 0), ("fleet/a2".to_string(), 2)]
            .into_iter()
            .collect();
        let ahead = |found: HashMap<String, Tip>| -> HashMap<String, u64> {
            found.into_iter().map(|(b, t)| (b, t.ahead)).collect()
        };
        assert_eq!(ahead(commits_ahead_each(repo, "main", &branches)), want);
        assert_eq!(ahead(branch_tips(repo, "main", &branches)), want);
        if let Some(found) = ahead_behind(repo, "main", &branches) {
            // for-each-ref with ahead-behind (git 2.41+) also gives behind and the tip.
            let a2 = commit_oid(repo, "fleet/a2").unwrap();
            assert_eq!(found["fleet/a2"].oid, a2);
            assert_eq!(found["fleet/a2"].behind, Some(0));
            assert_eq!(ahead(found), want);
        }
    }

    #[test]
    fn parses_status_and_diff_tree() {
        let oid = "a".repeat(40);
        let status = format!("# branch.oid {oid}\0# branch.head fleet/a1\0? new file\0? dir/x\0");
        let look = parse_look(&status);
        assert_eq!(look.head.as_deref(), Some(oid.as_str()));
        assert_eq!((look.changed, look.untracked), (false, 2));
        assert_eq!(look.paths, ["new file", "dir/x"]);
        let changed = "# branch.oid (initial)\x001 .M N... 100644 100644 100644 x y a b\0";
        let look = parse_look(changed);
        assert_eq!(look.paths, ["a b"]);
        assert_eq!((look.head, look.changed, look.untracked), (None, true, 0));

        let (b, c) = ("b".repeat(40), "c".repeat(40));
        let out = format!("{b}\n 2 files changed, 3 insertions(+), 1 deletion(-)\n{c}\n");
        let found = parse_commit_diffs(&out);
        assert_eq!(found[&b], (2, 3, 1));
        assert_eq!(found[&c], (0, 0, 0));
    }
}
