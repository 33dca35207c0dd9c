//! `fleet diff NAME [--stat] [--since-review]`: the agent's work against the merge-base with
//! `base` — its commits plus the uncommitted and untracked changes in its worktree — through
//! git's pager when stdout is a terminal; `--since-review` only what it changed since its
//! last review round was sent. An agent on another host: its commits, its branch fetched from
//! there first (`fleet-HOST/BRANCH`; the one fetched before when the host does not answer).
use anyhow::Result;

use crate::cli::DiffArgs;
use crate::git;
use crate::manifest::Plan;

pub fn run(plan: &Plan, args: &DiffArgs) -> Result<i32> {
    if let Some(r) = plan.remote_agent(&args.name) {
        if args.since_review {
            anyhow::bail!(
                "{} runs on host {}: reviews, and so --since-review, reach this machine's agents only",
                args.name,
                r.host
            );
        }
        return remote(plan, r, args);
    }
    let agent = plan.agent(&args.name)?;
    let branch = format!("refs/heads/{}", agent.branch);
    if !git::branch_exists(&plan.repo, &agent.branch)? {
        let state = recorded_state(plan, &agent.name);
        let start = if state.finished() {
            crate::launch::next_round::rerun_hint(plan, agent)
        } else {
            format!(
                "`{}` starts it",
                crate::launch::up_hint(plan, &agent.name, state)
            )
        };
        anyhow::bail!(
            "{} has no branch {}, so no work to show ({start})",
            agent.name,
            agent.branch
        );
    }
    if args.since_review {
        return since_review(plan, agent, &branch, args.stat);
    }
    let Some(from) = git::merge_base(&plan.repo, &plan.base, &branch)? else {
        anyhow::bail!(
            "{} (branch {}) shares no history with {}; nothing to compare against",
            agent.name,
            agent.branch,
            plan.base
        );
    };
    let changed = if agent.worktree.is_dir() {
        git::diff_worktree(&agent.worktree, &from, args.stat)?
    } else {
        // The worktree was removed: its branch is all that is left of the work.
        git::diff_revs(&plan.repo, &from, &branch, args.stat)?
    };
    if !changed {
        eprintln!(
            "{}: no changes against {} (merge-base {})",
            agent.name,
            plan.base,
            &from[..from.len().min(12)]
        );
    }
    Ok(0)
}

/// `--since-review`: what the agent changed since its last review round was sent (its
/// commits since the commit reviewed, and its worktree's changes).
fn since_review(
    plan: &Plan,
    agent: &crate::manifest::Agent,
    branch: &str,
    stat: bool,
) -> Result<i32> {
    let rounds = crate::state::Dir::new(&plan.state_dir).rounds(&agent.name);
    let review = rounds
        .iter()
        .rev()
        .find(|r| r.kind == crate::state::Kind::Review);
    let Some((n, from)) = review.and_then(|r| Some((r.n, r.from.clone()?))) else {
        anyhow::bail!(
            "{} has had no review yet (`{} review {}` writes one)",
            agent.name,
            crate::launch::fleet_command(plan),
            agent.name
        );
    };
    let changed = if agent.worktree.is_dir() {
        git::diff_worktree(&agent.worktree, &from, stat)?
    } else {
        git::diff_revs(&plan.repo, &from, branch, stat)?
    };
    if !changed {
        eprintln!(
            "{}: no changes since review round {n} was sent (at {})",
            agent.name,
            git::short(&from)
        );
    }
    Ok(0)
}

/// An agent on another host: its committed work, its branch fetched from there now (one
/// ssh connection); when the host does not answer, the branch as fetched before, said so.
fn remote(plan: &Plan, r: &crate::manifest::Remote, args: &DiffArgs) -> Result<i32> {
    let (name, host) = (&r.agent.name, &r.host);
    let fetched = crate::hosts::ops::fetched_ref(host, &r.agent.branch);
    let mut as_of = "now";
    match crate::hosts::ops::fetch_agents(plan, host, std::slice::from_ref(name)) {
        Ok(found) => match found.first() {
            Some(f) if f.fetched.is_some() => {
                if f.status["uncommitted"] == true {
                    eprintln!(
                        "note: {name}'s worktree on host {host} has uncommitted changes, not shown (`fleet attach {name}` to see them)"
                    );
                }
            }
            _ => anyhow::bail!(
                "{name} has not started on host {host}, so no work to show (`fleet up {name}` starts it)"
            ),
        },
        Err(e) if git::rev_parse(&plan.repo, &fetched).is_ok() => {
            eprintln!("warning: {e:#}; showing {name}'s branch as last fetched");
            as_of = "as last fetched";
        }
        Err(e) => return Err(e),
    }
    let Some(from) = git::merge_base(&plan.repo, &plan.base, &fetched)? else {
        anyhow::bail!(
            "{name} (branch {} on host {host}) shares no history with {}; nothing to compare against",
            r.agent.branch,
            plan.base
        );
    };
    if !git::diff_revs(&plan.repo, &from, &fetched, args.stat)? {
        eprintln!(
            "{name}: no committed changes against {} on host {host} ({as_of})",
            plan.base
        );
    }
    Ok(0)
}

/// The agent's state as its record says (no tmux: the agent has no branch, so no session).
fn recorded_state(plan: &Plan, name: &str) -> crate::state::State {
    let record = crate::state::Dir::new(&plan.state_dir).record(name);
    crate::state::Record::derive(record.as_ref(), false)
}
