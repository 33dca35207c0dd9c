//! doctor's checks of worktrees and branches: registered worktrees whose directory is gone,
//! stray directories in the worktree dir, locked or misplaced worktrees, and fleet branches
//! without a worktree.
use std::collections::HashSet;

use anyhow::Result;

use crate::git;
use crate::manifest::Plan;
use crate::util::shell_quote;

use super::Report;

/// Registered worktrees whose directory is gone, directories in the worktree dir that are not
/// worktrees, worktrees locked or on another branch, and fleet branches (`fleet/*` and the
/// manifest's) without a worktree: a problem, except an agent's branch kept after its
/// worktree was removed (what `fleet down --rm-worktrees` does), which is worth knowing.
pub(super) fn worktrees(r: &mut Report, plan: &Plan) -> Result<()> {
    let list = git::worktrees(&plan.repo)?;
    let mut found = gone_worktrees(r, plan, &list);
    found |= stray_dirs(r, plan, &list);
    found |= odd_worktrees(r, plan, &list);
    let (orphans, kept) = branches_without_worktree(plan, &list)?;
    let kept = interrupted_up(r, plan, kept);
    found |= !orphans.is_empty();
    for b in &orphans {
        r.problem(
            format!("branch {b} has no worktree (its worktree was removed)"),
            format!(
                "git -C {} branch -d {}   (once merged; -D drops its commits){}",
                shell_quote(&plan.repo.display().to_string()),
                shell_quote(b),
                work_again(plan, b)
                    .map(|again| format!("; or {again}"))
                    .unwrap_or_default()
            ),
        );
    }
    if !found {
        let every = if kept.is_empty() {
            "; every fleet branch has its worktree"
        } else {
            ""
        };
        r.ok(format!(
            "worktrees: {} registered, none stale{every}",
            list.len()
        ));
    }
    for b in &kept {
        r.info(match plan.agents.iter().find(|a| &a.branch == b) {
            Some(a) => crate::launch::next_round::kept_branch(plan, a),
            None => format!("branch {b} is kept without its worktree"),
        });
    }
    Ok(())
}

/// Agents an interrupted `fleet up` left half set up: a worktree begun but not finished (it
/// marks each before it starts), or a branch made for an agent that never started (it makes
/// all branches first). One line for them all, naming the cause and the `fleet up` that
/// finishes them; the branches in `kept` that are not theirs are returned.
fn interrupted_up(r: &mut Report, plan: &Plan, kept: Vec<String>) -> Vec<String> {
    let dir = crate::state::Dir::new(&plan.state_dir);
    let begun: Vec<String> = dir.half_made().into_iter().map(|(a, _)| a).collect();
    let half: Vec<String> = plan
        .agents
        .iter()
        .filter(|a| begun.contains(&a.name))
        .map(|a| a.name.clone())
        .collect();
    let never_started = |b: &String| {
        plan.agents
            .iter()
            .find(|a| &a.branch == b)
            .is_some_and(|a| !half.contains(&a.name) && dir.record(&a.name).is_none())
    };
    let (unstarted, kept): (Vec<String>, Vec<String>) = kept.into_iter().partition(never_started);
    if half.is_empty() && unstarted.is_empty() {
        return kept;
    }
    let mut what = Vec::new();
    if !half.is_empty() {
        what.push(format!(
            "{} begun, not finished ({})",
            crate::launch::hints::plural(half.len(), "worktree"),
            half.join(", ")
        ));
    }
    if !unstarted.is_empty() {
        what.push(format!(
            "{} made for agents not started yet ({})",
            match unstarted.len() {
                1 => "1 branch".to_string(),
                n => format!("{n} branches"),
            },
            unstarted.join(", ")
        ));
    }
    r.info(format!(
        "a `fleet up` was interrupted before it started these agents: {}; `{} up` takes apart what it began and finishes them",
        what.join("; "),
        crate::launch::fleet_command(plan)
    ));
    kept
}

/// How to work on agent branch `b` again, when it is an agent's.
fn work_again(plan: &Plan, b: &str) -> Option<String> {
    let a = plan.agents.iter().find(|a| a.branch == b)?;
    Some(crate::launch::next_round::work_again(plan, a))
}

/// Registered worktrees whose directory is gone. True when it found one.
fn gone_worktrees(r: &mut Report, plan: &Plan, list: &[git::Worktree]) -> bool {
    let repo = shell_quote(&plan.repo.display().to_string());
    let mut found = false;
    for w in list.iter().filter(|w| w.prunable) {
        found = true;
        r.problem(
            format!(
                "worktree {} is registered but its directory is gone",
                w.path.display()
            ),
            format!("git -C {repo} worktree prune"),
        );
    }
    found
}

/// Directories in the worktree dir that are not worktrees. True when it found one.
fn stray_dirs(r: &mut Report, plan: &Plan, list: &[git::Worktree]) -> bool {
    let Ok(entries) = std::fs::read_dir(&plan.worktree_dir) else {
        return false;
    };
    let mut stray: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && git::registered(list, p).is_none())
        .collect();
    stray.sort();
    for p in &stray {
        r.problem(
            format!(
                "{} is in the worktree dir but is not a worktree of {}",
                p.display(),
                plan.repo.display()
            ),
            format!(
                "look inside, then move it away or `rm -r {}`",
                shell_quote(&p.display().to_string())
            ),
        );
    }
    !stray.is_empty()
}

/// Worktrees in the worktree dir that are locked (a `git worktree add` cut short) or whose
/// agent's worktree is on another branch. True when it found one.
fn odd_worktrees(r: &mut Report, plan: &Plan, list: &[git::Worktree]) -> bool {
    let repo = shell_quote(&plan.repo.display().to_string());
    let mut found = false;
    for w in list
        .iter()
        .filter(|w| !w.prunable && w.path.starts_with(&plan.worktree_dir))
    {
        let path = shell_quote(&w.path.display().to_string());
        if let Some(why) = &w.locked {
            found = true;
            let why = if why.is_empty() {
                "no reason given"
            } else {
                why
            };
            r.problem(
                format!(
                    "worktree {} is locked ({why}); a `git worktree add` cut short leaves it so, half checked out",
                    w.path.display()
                ),
                format!(
                    "git -C {repo} worktree unlock {path}, then check it with `git -C {path} status` (or `git -C {repo} worktree remove --force {path}` and `fleet up` makes it again)"
                ),
            );
        }
        let Some(a) = plan.agents.iter().find(|a| a.worktree == w.path) else {
            continue;
        };
        if w.branch.as_deref() != Some(a.branch.as_str()) {
            found = true;
            r.problem(
                format!(
                    "agent {}'s worktree {} is on {} instead of {}",
                    a.name,
                    w.path.display(),
                    w.branch.as_deref().unwrap_or("a detached HEAD"),
                    a.branch
                ),
                format!(
                    "git -C {path} switch {}   (commit or stash the work there first)",
                    shell_quote(&a.branch)
                ),
            );
        }
    }
    found
}

/// Fleet branches (`fleet/*` and the manifest's) that no live worktree has checked out, as
/// (problems, kept): kept are agents' branches whose worktree is not registered at all, as
/// `fleet down --rm-worktrees` leaves them; the rest are problems (a branch nobody's, or an
/// agent's whose worktree directory vanished).
fn branches_without_worktree(
    plan: &Plan,
    list: &[git::Worktree],
) -> Result<(Vec<String>, Vec<String>)> {
    let checked_out: HashSet<&str> = list
        .iter()
        .filter(|w| !w.prunable)
        .filter_map(|w| w.branch.as_deref())
        .collect();
    let mut branches = git::branches(&plan.repo, "fleet/")?;
    for a in &plan.agents {
        if !branches.contains(&a.branch) && git::branch_exists(&plan.repo, &a.branch)? {
            branches.push(a.branch.clone());
        }
    }
    // (an agent whose worktree is there on another branch is reported by odd_worktrees)
    let misplaced = |b: &str| {
        plan.agents
            .iter()
            .any(|a| a.branch == b && git::registered(list, &a.worktree).is_some())
    };
    let removed = |b: &str| {
        plan.agents
            .iter()
            .any(|a| a.branch == b && !list.iter().any(|w| w.path == a.worktree))
    };
    Ok(branches
        .into_iter()
        .filter(|b| !checked_out.contains(b.as_str()) && !misplaced(b))
        .partition(|b| !removed(b)))
}
