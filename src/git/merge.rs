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
    let mut args = vec!["merge", "--no-edit"];
    match how {
        How::Squash => args.push("--squash"),
        How::Merge | How::NoFf | How::FfOnly => {
            args.extend(["-m", message]);
            args.extend(match how {
                How::NoFf => Some("--no-ff"),
                How::FfOnly => Some("--ff-only"),
                _ => None,
            });
        }
    }
    args.push(rev);
    let out = git(repo, &args).output()?;
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
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if how == How::Squash {
        let out = git(repo, &["commit", "--no-edit", "-m", message]).output()?;
        if !out.status.success() {
            let _ = run(repo, &["reset", "--merge"]);
            bail!(
                "`git commit` of the squashed {rev} in {} failed (the squash was undone): {}",
                repo.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        said.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    Ok(Merged::Ok(said))
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
