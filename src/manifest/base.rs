//! The base branch and the agents' branches against the repository: [`check_base`] fills in
//! the base (recorded by the first `up`, else the current branch) and checks it exists;
//! [`Plan::need_base`] refuses, for the commands that start from the base or merge into it, a
//! base that cannot be used and branches git could not create beside the existing ones.
use std::path::Path;

use anyhow::Result;

use super::{display_name, Invalid, Plan};
use crate::{git, UsageError};

impl Plan {
    /// The plan, for a command that starts from the base or merges into it (`up`,
    /// `validate`, `merge`, `diff`): an invalid-manifest error (exit 2) when the base
    /// cannot be used.
    /// Branches that cannot be created are refused here too: what only the commands that
    /// start agents need to know (one git call; `down` and `status` work regardless).
    pub fn need_base(mut self) -> Result<Plan> {
        if self.base_problems.is_empty() {
            let mut problems = Vec::new();
            check_branch_names(&self.repo, &self, &mut problems)?;
            self.base_problems = problems;
        }
        if self.base_problems.is_empty() {
            return Ok(self);
        }
        Err(UsageError::from(Invalid {
            file: display_name(&self.manifest),
            problems: self.base_problems,
        })
        .into())
    }
}

/// Branches git could not create beside the ones that exist (`fleet` and `fleet/a`, `fleet/a`
/// and `fleet/a/x`: a ref is a file and a directory of refs at once), found before anything is
/// written rather than by `git update-ref` half-way through `up`. One git call.
fn check_branch_names(repo: &Path, plan: &Plan, problems: &mut Vec<String>) -> Result<()> {
    let clash = |a: &str, b: &str| {
        a != b && (a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/")))
    };
    let mut reported: Vec<(&str, &str)> = Vec::new();
    for (i, a) in plan.agents.iter().enumerate() {
        for b in &plan.agents[i + 1..] {
            if clash(&a.branch, &b.branch) {
                reported.push((&a.branch, &b.branch));
                problems.push(format!(
                    "agents `{}` and `{}`: branches `{}` and `{}` cannot both exist (git keeps `a/b` inside a directory named like the branch `a`); set `branch:` so that neither is a prefix of the other",
                    a.name, b.name, a.branch, b.branch
                ));
            }
        }
    }
    // `refs/heads/x` matches x and everything under x/: the first component of each branch
    // finds every branch that could clash with it.
    let mut patterns: Vec<String> = plan
        .agents
        .iter()
        .filter_map(|a| a.branch.split('/').next())
        .filter(|c| !c.is_empty())
        .map(|c| format!("refs/heads/{c}"))
        .collect();
    patterns.sort();
    patterns.dedup();
    if patterns.is_empty() {
        return Ok(());
    }
    let existing = git::branches_matching(repo, &patterns)?;
    for a in &plan.agents {
        for e in existing.iter().filter(|e| clash(&a.branch, e)) {
            if reported
                .iter()
                .any(|(x, y)| (*x == a.branch && y == e) || (x == e && *y == a.branch))
            {
                continue;
            }
            problems.push(format!(
                "agent `{}`: branch `{}` cannot be created beside the existing branch `{e}` (git keeps `a/b` inside a directory named like the branch `a`); set `branch:` or rename `{e}`",
                a.name, a.branch
            ));
        }
    }
    Ok(())
}

/// Fill in the base branch (default: the one recorded by the first `up`, else the current
/// branch) and check it exists.
pub(super) fn check_base(repo: &Path, plan: &mut Plan, problems: &mut Vec<String>) -> Result<()> {
    // One git call when all is well: a base that names a commit (or a recorded base branch
    // that exists) also tells that the repository has commits.
    if plan.base.is_empty() {
        // The base the fleet was first started from, so that switching the main checkout to
        // another branch later does not move it (status, diff and merge compare against it).
        let recorded = crate::state::Dir::new(&plan.state_dir).base();
        if let Some(b) = recorded.filter(|b| git::branch_exists(repo, b).unwrap_or(false)) {
            plan.base = b;
            return Ok(());
        }
        if !no_commits(repo, problems)? {
            match git::current_branch(repo)? {
                Some(b) => plan.base = b,
                None => problems.push(
                    "base: not set and the repository is on a detached HEAD; set `base:` to a branch"
                        .into(),
                ),
            }
        }
    } else if !git::commit_exists(repo, &plan.base)? && !no_commits(repo, problems)? {
        problems.push(format!(
            "base: `{}` does not exist in {}; set `base:` to an existing branch (e.g. main)",
            plan.base,
            repo.display()
        ));
    }
    Ok(())
}

/// True (and the problem noted) when the repository has no commit yet.
fn no_commits(repo: &Path, problems: &mut Vec<String>) -> Result<bool> {
    if git::has_commits(repo)? {
        return Ok(false);
    }
    problems.push(format!(
        "the repository {} has no commits yet; commit once (worktrees start from a commit)",
        repo.display()
    ));
    Ok(true)
}
