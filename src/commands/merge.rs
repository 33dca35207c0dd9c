//! `fleet merge NAME [--squash] [--no-verify]`: merge the agent's branch into `base` in the
//! main checkout. Every check runs before anything changes; a refusal names each reason and
//! its fix. A conflict is undone and its files named.
use anyhow::Result;

use super::status;
use crate::cli::MergeArgs;
use crate::git::{self, Merged};
use crate::manifest::Plan;
use crate::state::{Dir, State};

/// At most this many of a checkout's changed files are named in a refusal.
const SHOW_FILES: usize = 5;

fn some_files(lines: &[String]) -> String {
    let mut shown: Vec<&str> = lines.iter().take(SHOW_FILES).map(|l| l.trim()).collect();
    let more = lines.len().saturating_sub(SHOW_FILES);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    shown.dedup();
    format!("{}{more}", shown.join(", "))
}

pub fn run(plan: &Plan, args: &MergeArgs) -> Result<i32> {
    let agent = plan.agent(&args.name)?;
    let branch = &agent.branch;
    let base = &plan.base;
    if !git::branch_exists(&plan.repo, branch)? {
        anyhow::bail!(
            "{} has no branch {branch} yet, so nothing to merge (`fleet up {}` starts it)",
            agent.name,
            agent.name
        );
    }
    let (view, _) = status::state_of(plan, agent)?;

    let mut refusals = Vec::new();
    if view.state == State::Damaged {
        refusals.push(
            view.state
                .label(view.record.as_ref().and_then(|r| r.reason.as_deref())),
        );
    }
    if matches!(view.state, State::Running | State::Waiting | State::Queued) {
        refusals.push(format!(
            "{} is still {} (`fleet wait {}` waits for it, `fleet down {}` stops it)",
            agent.name, view.state, agent.name, agent.name
        ));
    }
    if agent.worktree.is_dir() {
        let dirty = git::changes(&agent.worktree, true)?;
        if !dirty.is_empty() {
            refusals.push(format!(
                "its worktree {} has uncommitted changes ({}): commit or discard them there first",
                agent.worktree.display(),
                some_files(&dirty)
            ));
        }
    }
    match git::current_branch(&plan.repo)? {
        Some(b) if &b == base => {}
        Some(b) => refusals.push(format!(
            "the main checkout {} is on {b}, not {base}: `git -C {} switch {base}` first",
            plan.repo.display(),
            crate::util::shell_quote(&plan.repo.display().to_string())
        )),
        None => refusals.push(format!(
            "the main checkout {} is not on a branch (detached HEAD): `git -C {} switch {base}` first",
            plan.repo.display(),
            crate::util::shell_quote(&plan.repo.display().to_string())
        )),
    }
    let dirty = git::changes(&plan.repo, false)?;
    if !dirty.is_empty() {
        refusals.push(format!(
            "the main checkout {} has uncommitted changes ({}): commit or stash them first",
            plan.repo.display(),
            some_files(&dirty)
        ));
    }
    let reason = view.record.as_ref().and_then(|r| r.reason.clone());
    if let Some(r) = reason.filter(|r| r.starts_with("verify failed") && !args.no_verify) {
        refusals.push(format!(
            "its {r}: fix the work, or pass --no-verify to merge anyway"
        ));
    }
    if !refusals.is_empty() {
        let list: Vec<String> = refusals.iter().map(|r| format!("  - {r}")).collect();
        anyhow::bail!(
            "not merging {} ({branch}) into {base}; nothing was changed:\n{}",
            agent.name,
            list.join("\n")
        );
    }

    let ahead = git::count_commits(&plan.repo, base, &format!("refs/heads/{branch}"))?;
    if ahead == 0 {
        crate::info!("{branch} has no commits that {base} lacks: nothing to merge");
        return Ok(0);
    }
    let _lock = Dir::new(&plan.state_dir).lock(super::up::LOCK_WAIT)?;
    let before = git::rev_parse(&plan.repo, "HEAD")?;
    let message = if args.squash {
        let subjects = git::subjects(&plan.repo, base, &format!("refs/heads/{branch}"))?;
        let body: Vec<String> = subjects.iter().map(|s| format!("* {s}")).collect();
        format!(
            "{}: squashed {ahead} commit{} from {branch}\n\n{}",
            agent.name,
            if ahead == 1 { "" } else { "s" },
            body.join("\n")
        )
    } else {
        format!("Merge {branch} (fleet agent {})", agent.name)
    };
    match git::merge(&plan.repo, branch, args.squash, &message)? {
        Merged::Ok(_) => {
            let after = git::rev_parse(&plan.repo, "HEAD")?;
            let how = if args.squash {
                "squashed into one commit"
            } else if git::count_commits(&plan.repo, &before, &after)? == ahead {
                "fast-forward"
            } else {
                "merge commit"
            };
            crate::info!(
                "merged {} ({branch}, {ahead} commit{}) into {base}: {how}, now at {}",
                agent.name,
                if ahead == 1 { "" } else { "s" },
                &after[..after.len().min(12)]
            );
            crate::info!(
                "`{} down {} --rm-worktrees` removes its session and worktree (the branch stays)",
                super::fleet_command(plan),
                agent.name
            );
            Ok(0)
        }
        Merged::Conflict(files) => anyhow::bail!(
            "merging {branch} into {base} conflicts in {}; the merge was aborted and nothing was changed. \
             Resolve it by hand (`git merge {branch}` in {}), or have the agent rebase its branch on {base}",
            files.join(", "),
            plan.repo.display()
        ),
    }
}
