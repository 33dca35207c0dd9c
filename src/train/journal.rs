//! The merge train's journal: `.fleet/merge-pending.json`, written (atomically, through
//! `safe_fs`) before each merge that will be verified, completed with the merge's commit once
//! it is made, and removed once verify gave its verdict (passed; failed and taken back). A
//! fleet killed in between (SIGKILL, power) leaves it behind, so the next `merge`, `status`
//! and `doctor` know that base holds a merge nobody verified ([`pending`]), and `fleet merge
//! --verify-pending` / `--undo-pending` (in `pending`) settle it.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::git;
use crate::manifest::Plan;
use crate::util;

/// One merge on its way: what the train is about to do, or did and has not verified yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub agent: String,
    /// The agent's branch.
    pub branch: String,
    /// The base branch merged into.
    pub base: String,
    /// Base's commit before the merge.
    pub before: String,
    /// What is merged: the agent's tip, or its rebased copy.
    pub rev: String,
    /// The first line of the merge's (or the squash's) commit message.
    pub subject: String,
    /// The commit the merge made base point at; None until it is made.
    pub merge: Option<String>,
    /// `ff`, `no-ff`, `ff-only`, `squash`, `rebase`.
    pub strategy: String,
    /// The verify that is to give its verdict.
    pub verify: String,
    /// The `fleet merge` doing it.
    pub pid: u32,
    /// Verify's process group, once it started (a killed fleet leaves it running).
    #[serde(default)]
    pub verify_pgid: Option<u32>,
    /// When the merge began (Unix seconds).
    pub at: u64,
}

/// Where the journal is.
pub fn path(plan: &Plan) -> PathBuf {
    plan.state_dir.join("merge-pending.json")
}

/// Write the journal (before the merge; again once the merge is made).
pub fn write(plan: &Plan, entry: &Entry) -> Result<()> {
    crate::state::write_json(&path(plan), entry)
}

/// Verify gave its verdict: the journal goes.
pub fn clear(plan: &Plan) -> Result<()> {
    let path = path(plan);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The journal as written; None when there is none; an error naming the file when it cannot
/// be read.
fn read(path: &Path) -> Result<Option<Entry>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).with_context(|| {
        format!(
            "the merge train's journal {} cannot be read (edited or cut short)",
            path.display()
        )
    })
}

/// A merge base holds that no verify passed on.
#[derive(Debug, Clone)]
pub struct Pending {
    pub entry: Entry,
    /// The merge's commit.
    pub merge: String,
    /// Base's commit now.
    pub base_now: String,
    /// Commits on base since the merge (the user's own work on top of it).
    pub on_top: u64,
    /// The `fleet merge` that made it is still running (verifying it now).
    pub running: bool,
}

/// The merge of the journal that base still holds, unverified; None when there is no
/// journal, or base no longer holds the merge (it never reached base, or was taken back).
pub fn pending(plan: &Plan) -> Result<Option<Pending>> {
    let Some(entry) = read(&path(plan))? else {
        return Ok(None);
    };
    let repo = &plan.repo;
    let full = format!("refs/heads/{}", entry.base);
    let Ok(base_now) = git::rev_parse(repo, &full) else {
        return Ok(None);
    };
    let merge = match &entry.merge {
        Some(m) => m.clone(),
        // Killed between git's merge and the journal's note of it: base's tip is fleet's
        // merge only if it is exactly what that merge makes.
        None => match made_by(repo, &entry, &base_now)? {
            Some(m) => m,
            None => return Ok(None),
        },
    };
    if !git::is_ancestor(repo, &merge, &base_now).unwrap_or(false) {
        return Ok(None);
    }
    let on_top = git::count_commits(repo, &merge, &base_now)?;
    Ok(Some(Pending {
        running: entry.pid != std::process::id() && util::alive_with_arg(entry.pid, "merge"),
        entry,
        merge,
        base_now,
        on_top,
    }))
}

/// Is `tip` the commit the journal's merge makes: the merged revision itself (a
/// fast-forward), or a commit on `before` with the merge's subject (a merge commit, a
/// squash)?
fn made_by(repo: &Path, entry: &Entry, tip: &str) -> Result<Option<String>> {
    if tip == entry.rev {
        return Ok(Some(tip.to_string()));
    }
    let parent = git::rev_parse(repo, &format!("{tip}^1")).unwrap_or_default();
    // (oldest first: the tip's own subject is the last)
    let subjects = git::subjects(repo, &format!("{tip}^1"), tip).unwrap_or_default();
    Ok(
        (parent == entry.before && subjects.last() == Some(&entry.subject))
            .then(|| tip.to_string()),
    )
}

impl Pending {
    /// What base holds: `main holds the merge of a1 (fleet/a1, commit 1234abcd) that was
    /// never verified (fleet stopped during its verify `make test`, 2026-…)`.
    pub fn what(&self) -> String {
        let e = &self.entry;
        let mut text = format!(
            "{} holds the merge of {} ({}, commit {}) that was never verified: the `fleet merge` that made it stopped before its verify `{}` gave a verdict",
            e.base,
            e.agent,
            e.branch,
            git::short(&self.merge),
            e.verify
        );
        if self.on_top > 0 {
            text.push_str(&format!(
                "; {} has {} commit{} on top of it since",
                e.base,
                self.on_top,
                if self.on_top == 1 { "" } else { "s" }
            ));
        }
        text
    }

    /// The fix: the commands that settle it.
    pub fn fix(&self, plan: &Plan) -> String {
        let fleet = crate::launch::fleet_command(plan);
        let e = &self.entry;
        if self.on_top > 0 {
            return format!(
                "`{fleet} merge --verify-pending` runs {}'s verify on {} now; fleet will not take the merge back under your commits ({})",
                e.agent,
                e.base,
                revert_hint(plan, self)
            );
        }
        format!(
            "`{fleet} merge --verify-pending` runs {}'s verify on it now (the merge stays if it passes, is taken back if not); `{fleet} merge --undo-pending` takes it back ({} to {})",
            e.agent,
            e.base,
            git::short(&e.before)
        )
    }

    /// `status --json`'s `pending_merge`.
    pub fn to_json(&self) -> serde_json::Value {
        let e = &self.entry;
        serde_json::json!({
            "agent": e.agent,
            "branch": e.branch,
            "base": e.base,
            "before": e.before,
            "merge": self.merge,
            "strategy": e.strategy,
            "verify": e.verify,
            "commits_on_top": self.on_top,
            "verifying": self.running,
            "merged_at": util::rfc3339(e.at),
        })
    }
}

/// How to take the merge back by hand once base moved on: `git revert`, of the merge
/// commit (`-m 1`) or of the commits a fast-forward or squash brought.
pub fn revert_hint(plan: &Plan, p: &Pending) -> String {
    let repo = util::shell_quote(&plan.repo.display().to_string());
    let merge = git::short(&p.merge);
    let is_merge_commit = git::rev_parse(&plan.repo, &format!("{}^2", p.merge)).is_ok();
    if is_merge_commit {
        format!("`git -C {repo} revert -m 1 {merge}` takes it back by hand")
    } else {
        format!(
            "`git -C {repo} revert --no-edit {}..{merge}` takes it back by hand",
            git::short(&p.entry.before)
        )
    }
}

/// The line that says so, for `status` and `doctor`: what, and the fix (None: nothing
/// pending, or the merge is being verified now).
pub fn warning(plan: &Plan) -> Option<String> {
    match pending(plan) {
        Ok(Some(p)) if !p.running => Some(format!("{}.\n  {}", p.what(), p.fix(plan))),
        Ok(_) => None,
        Err(e) => Some(format!(
            "{e:#}: fleet cannot tell whether {} holds a merge that was never verified.\n  look at `git log {}`, then remove {}",
            plan.base,
            plan.base,
            path(plan).display()
        )),
    }
}
