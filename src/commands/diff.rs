//! `fleet diff NAME [--stat]`: the agent's work against the merge-base with `base` — its
//! commits plus the uncommitted and untracked changes in its worktree — through git's pager
//! when stdout is a terminal.
use anyhow::Result;

use crate::cli::DiffArgs;
use crate::git;
use crate::manifest::Plan;

pub fn run(plan: &Plan, args: &DiffArgs) -> Result<i32> {
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

/// The agent's state as its record says (no tmux: the agent has no branch, so no session).
fn recorded_state(plan: &Plan, name: &str) -> crate::state::State {
    let record = crate::state::Dir::new(&plan.state_dir).record(name);
    crate::state::Record::derive(record.as_ref(), false)
}
