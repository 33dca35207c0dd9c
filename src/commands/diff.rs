//! `fleet diff NAME [--stat]`: the agent's work against the merge-base with `base` — its
//! commits plus the uncommitted and untracked changes in its worktree — through git's pager
//! when stdout is a terminal. An agent on another host: its commits, from the branch the
//! last `fleet status` fetched (`fleet-HOST/BRANCH`).
use anyhow::Result;

use crate::cli::DiffArgs;
use crate::git;
use crate::manifest::Plan;

pub fn run(plan: &Plan, args: &DiffArgs) -> Result<i32> {
    if let Some(r) = plan.remote.iter().find(|r| r.agent.name == args.name) {
        return remote(plan, r, args);
    }
    let agent = plan.agent(&args.name)?;
    let branch = format!("refs/heads/{}", agent.branch);
    if !git::branch_exists(&plan.repo, &agent.branch)? {
        anyhow::bail!(
            "{} has no branch {}, so no work to show (`{}` starts it)",
            agent.name,
            agent.branch,
            crate::launch::up_hint(plan, &agent.name, recorded_state(plan, &agent.name))
        );
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

/// An agent on another host: its committed work, as the last `fleet status` fetched it.
fn remote(plan: &Plan, r: &crate::manifest::Remote, args: &DiffArgs) -> Result<i32> {
    let fetched = crate::launch::hosts::fetched_ref(&r.host, &r.agent.branch);
    if git::rev_parse(&plan.repo, &fetched).is_err() {
        anyhow::bail!(
            "{}'s branch {} on host {} was not fetched yet; `fleet status` fetches it (once the agent started)",
            r.agent.name,
            r.agent.branch,
            r.host
        );
    }
    let Some(from) = git::merge_base(&plan.repo, &plan.base, &fetched)? else {
        anyhow::bail!(
            "{} (branch {} on host {}) shares no history with {}; nothing to compare against",
            r.agent.name,
            r.agent.branch,
            r.host,
            plan.base
        );
    };
    if !git::diff_revs(&plan.repo, &from, &fetched, args.stat)? {
        eprintln!(
            "{}: no committed changes against {} on host {} (as of the last `fleet status`)",
            r.agent.name, plan.base, r.host
        );
    }
    Ok(0)
}

/// The agent's state as its record says (no tmux: the agent has no branch, so no session).
fn recorded_state(plan: &Plan, name: &str) -> crate::state::State {
    let record = crate::state::Dir::new(&plan.state_dir).record(name);
    crate::state::Record::derive(record.as_ref(), false)
}
