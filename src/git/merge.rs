//! Merging an agent's branch into the user's checkout: the only place fleet runs `git
//! merge` (and the squash's commit), and the only judge of an operation the user has under
//! way there (a merge, rebase, cherry-pick, …), which fleet must never undo.
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{git, run};

/// An operation the user has under way in a checkout (git's own markers, in the
/// checkout's git directory): "a merge", "a rebase", …; None when there is none.
pub fn operation_in_progress(checkout: &Path) -> Result<Option<&'static str>> {
    const MARKERS: [(&str, &str); 7] = [
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase or `git am`"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("sequencer", "a cherry-pick or revert of several commits"),
        ("BISECT_LOG", "a bisect"),
    ];
    let mut args = vec!["rev-parse"];
    for (marker, _) in MARKERS {
        args.extend(["--git-path", marker]);
    }
    let out = run(checkout, &args)?;
    Ok(out
        .lines()
        .zip(MARKERS)
        .find(|(path, _)| checkout.join(path).symlink_metadata().is_ok())
        .map(|(_, (_, what))| what))
}

/// How [`merge`] brings a revision in: git's own ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `git merge`: a fast-forward when it can be, else a merge commit.
    Merge,
    /// `git merge --no-ff`: always a merge commit.
    NoFf,
    /// `git merge --ff-only`: only a fast-forward.
    FfOnly,
    /// `git merge --squash` and a commit: one new commit with the changes.
    Squash,
}

/// How [`merge`] ended.
#[derive(Debug)]
pub enum Merged {
    /// Merged (or squashed and committed); git's own summary.
    Ok(String),
    /// Conflicts: these files; the merge was undone (`git reset --merge`).
    Conflict(Vec<String>),
    /// [`How::FfOnly`] and the checkout's branch has commits the revision lacks; nothing
    /// was changed.
    NotFastForward,
}

/// Merge `rev` (a full ref, `refs/heads/BRANCH`, so that a tag of that name does not shadow
/// it, or a commit id) into the branch checked out in `repo`, as `how` says. On a conflict
/// the merge is undone and the conflicting files returned; on any other failure too the
/// checkout is put back as it was and git's message returned as the error. It refuses to
/// start while the user has an operation under way ([`operation_in_progress`]), so what it
/// undoes (`git reset --merge`) is only ever its own merge.
pub fn merge(repo: &Path, rev: &str, how: How, message: &str) -> Result<Merged> {
    if let Some(what) = operation_in_progress(repo)? {
        bail!(
            "{} has {what} in progress; finish or abort it first (nothing was changed)",
            repo.display()
        );
    }
    if how == How::FfOnly && !super::is_ancestor(repo, "HEAD", rev)? {
        return Ok(Merged::NotFastForward);
    }
    // (an ignored file in the way is refused by fleet's own check first; this is git's)
    let mut args = vec!["merge", "--no-edit", "--no-overwrite-ignore"];
    match how {
        How::Squash => args.push("--squash"),
        How::Merge | How::NoFf | How::FfOnly => {
            args.extend(["-m", message]);
            args.push(match how {
                How::NoFf => "--no-ff",
                How::FfOnly => "--ff-only",
                _ => "--ff",
            });
        }
    }
    args.push(rev);
    // `branch.<base>.mergeOptions` would add options of its own (`--no-commit`, `--squash`…).
    let options = super::current_branch(repo)?.map(|b| format!("branch.{b}.mergeOptions"));
    let mut merge = git(repo, &args).users_commit();
    if let Some(key) = &options {
        merge = merge.pin(key, "");
    }
    let out = merge.output()?;
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let conflicts = unmerged_files(repo);
        // Undo whatever the merge left (harmless when it changed nothing).
        let undo = run(repo, &["reset", "--merge"]);
        if !conflicts.is_empty() {
            undo.context("the merge conflicted and `git reset --merge` failed")?;
            return Ok(Merged::Conflict(conflicts));
        }
        undo?;
        bail!(
            "`git merge {rev}` in {} failed: {}",
            repo.display(),
            said_by(&out)
        );
    }
    if how == How::Squash {
        let out = git(repo, &["commit", "--no-edit", "-m", message])
            .users_commit()
            .output()?;
        if !out.status.success() {
            let _ = run(repo, &["reset", "--merge"]);
            bail!(
                "`git commit` of the squashed {rev} in {} failed (the squash was undone): {}",
                repo.display(),
                said_by(&out)
            );
        }
        said.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    Ok(Merged::Ok(said))
}

/// What git said of a failure: its stderr, else its stdout (`git commit` says "nothing to
/// commit" there), else its exit.
fn said_by(out: &std::process::Output) -> String {
    [&out.stderr, &out.stdout]
        .iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| format!("it exited {} and said nothing", out.status))
}

/// The paths a merge of `rev` writes into the checkout: every file added or changed (not
/// deleted) between `from` (the merge-base with HEAD, or the part of the branch already
/// merged) and `rev`, renames as a deletion and an addition. NUL-separated, so any name.
pub fn written_paths(repo: &Path, from: &str, rev: &str) -> Result<Vec<String>> {
    let out = run(
        repo,
        &[
            "diff-tree",
            "-r",
            "-z",
            "--no-renames",
            "--name-status",
            from,
            rev,
        ],
    )?;
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    let mut paths = Vec::new();
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        if !status.starts_with('D') {
            paths.push(path.to_string());
        }
    }
    Ok(paths)
}

/// A file of the user's in the checkout that a merge would overwrite or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InTheWay {
    pub path: String,
    /// Ignored (git overwrites those silently), not only untracked.
    pub ignored: bool,
}

/// The files in `checkout` that git does not track and writing `paths` would overwrite or
/// remove: a file or symlink at one of them, a file or symlink where one needs a directory
/// (a leading part of its path), and every file inside a directory where one of them is to
/// be a file. Ignored files count as much as untracked ones.
pub fn user_files_in_the_way(checkout: &Path, paths: &[String]) -> Result<Vec<InTheWay>> {
    let mut files = std::collections::BTreeSet::new();
    let mut dirs = std::collections::BTreeSet::new();
    for path in paths {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..=parts.len() {
            let part = parts[..i].join("/");
            match checkout.join(&part).symlink_metadata() {
                Err(_) => break,
                Ok(m) if m.is_dir() && i == parts.len() => {
                    dirs.insert(part);
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    files.insert(part);
                    break;
                }
            }
        }
    }
    if files.is_empty() && dirs.is_empty() {
        return Ok(Vec::new());
    }
    let tracked: std::collections::HashSet<String> = run(checkout, &["ls-files", "-z"])?
        .split('\0')
        .map(str::to_string)
        .collect();
    let mut found: Vec<String> = files.into_iter().filter(|f| !tracked.contains(f)).collect();
    for dir in dirs {
        let inside = format!("{dir}/");
        let others = git(checkout, &["ls-files", "-z", "--others", "--", &inside])
            .env("GIT_LITERAL_PATHSPECS", "1")
            .run()?;
        found.extend(
            others
                .split('\0')
                .filter(|f| !f.is_empty())
                .map(str::to_string),
        );
    }
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let ignored = ignored_of(checkout, &found)?;
    Ok(found
        .into_iter()
        .map(|path| InTheWay {
            ignored: ignored.contains(&path),
            path,
        })
        .collect())
}

/// Which of `paths` (untracked files of `checkout`) git ignores.
fn ignored_of(checkout: &Path, paths: &[String]) -> Result<std::collections::HashSet<String>> {
    let input: String = paths.iter().map(|p| format!("{p}\0")).collect();
    let out = git(checkout, &["check-ignore", "-z", "--stdin"])
        .input(input)
        .output()?;
    // 0: some are ignored, 1: none is; anything else is git's error
    if !matches!(out.status.code(), Some(0 | 1)) {
        bail!(
            "`git check-ignore` in {} failed: {}",
            checkout.display(),
            said_by(&out)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect())
}

/// How [`undo_merge`] took a merge back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// The branch and the checkout (HEAD was on the branch) are at the commit before.
    Checkout,
    /// Only the branch: the checkout's HEAD was elsewhere (this, e.g. `a detached HEAD at
    /// 1234abcd`), and is left there.
    BranchOnly(String),
}

/// Take back a merge fleet made on `branch` (of the checkout `repo`): the branch goes from
/// `made` (the commit the merge made) back to `before`, only while it is still at `made`:
/// a branch that moved on (someone committed on it) is refused, changing nothing. It acts
/// on the branch, wherever HEAD is: with HEAD on the branch, `git reset --keep` (which
/// keeps any change in the checkout that the reset does not have to touch, and refuses
/// rather than overwrite one); with HEAD elsewhere (detached, another branch), `git
/// update-ref BRANCH BEFORE MADE`, which moves the branch only if it still is `made`, and
/// leaves the checkout as it is.
pub fn undo_merge(repo: &Path, branch: &str, made: &str, before: &str) -> Result<Undone> {
    let full = format!("refs/heads/{branch}");
    let tip = super::rev_parse(repo, &full)?;
    if tip != made {
        bail!(
            "{branch} moved on since fleet's merge (it is at {}, not {}): not undoing it",
            short(&tip),
            short(made)
        );
    }
    if super::current_branch(repo)?.as_deref() == Some(branch) {
        run(repo, &["reset", "--quiet", "--keep", before])?;
        return Ok(Undone::Checkout);
    }
    let message = format!("fleet: take back the merge {}", short(made));
    run(repo, &["update-ref", "-m", &message, &full, before, made])?;
    let head = super::rev_parse(repo, "HEAD").unwrap_or_default();
    Ok(Undone::BranchOnly(
        match super::current_branch(repo).ok().flatten() {
            Some(b) => format!("on branch {b} (at {})", short(&head)),
            None => format!("a detached HEAD at {}", short(&head)),
        },
    ))
}

/// The files a stopped merge or rebase in `checkout` left unmerged (none when git cannot
/// say).
pub(super) fn unmerged_files(checkout: &Path) -> Vec<String> {
    run(checkout, &["diff", "--name-only", "--diff-filter=U"])
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The first 12 hex digits of a commit id.
pub fn short(oid: &str) -> &str {
    &oid[..oid.len().min(12)]
}
