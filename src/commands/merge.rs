//! `fleet merge NAME [--squash] [--no-verify]`: merge the agent's branch into `base` in the
//! main checkout. Every check runs before anything changes; a refusal names each reason and
//! its fix. A conflict is undone and its files named.
use anyhow::Result;

use crate::cli::MergeArgs;
use crate::git::{self, Merged};
use crate::launch::view::{state_of, View};
use crate::manifest::{Agent, Plan};
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
    let (view, _) = state_of(plan, agent)?;
    if !git::branch_exists(&plan.repo, branch)? {
        anyhow::bail!(
            "{} has no branch {branch}, so nothing to merge (`{}` starts it)",
            agent.name,
            crate::launch::up_hint(plan, &agent.name, view.state)
        );
    }
    let refusals = refusals(plan, agent, &view, args)?;
    if !refusals.is_empty() {
        let list: Vec<String> = refusals.iter().map(|r| format!("  - {r}")).collect();
        anyhow::bail!(
            "not merging {} ({branch}) into {base}; nothing was changed:\n{}",
            agent.name,
            list.join("\n")
        );
    }

    // The main checkout is on `base` (checked above): HEAD names it, whatever tags exist.
    let full = format!("refs/heads/{branch}");
    let ahead = git::count_commits(&plan.repo, "HEAD", &full)?;
    if ahead == 0 {
        crate::info!("{branch} has no commits that {base} lacks: nothing to merge");
        return Ok(0);
    }
    let _lock = Dir::new(&plan.state_dir).lock(crate::launch::LOCK_WAIT)?;
    merge(plan, agent, args, ahead)
}

/// The commit message: a merge's, or a squash's listing the `ahead` commits' subjects.
fn message(plan: &Plan, agent: &Agent, squash: bool, ahead: u64) -> Result<String> {
    let branch = &agent.branch;
    if !squash {
        return Ok(format!("Merge {branch} (fleet agent {})", agent.name));
    }
    let subjects = git::subjects(&plan.repo, "HEAD", &format!("refs/heads/{branch}"))?;
    let body: Vec<String> = subjects.iter().map(|s| format!("* {s}")).collect();
    Ok(format!(
        "{}: squashed {ahead} commit{} from {branch}\n\n{}",
        agent.name,
        if ahead == 1 { "" } else { "s" },
        body.join("\n")
    ))
}

/// Merge the agent's branch (`ahead` commits) into the checked-out base, and report it
/// once HEAD shows it done; a conflict is undone and its files named.
fn merge(plan: &Plan, agent: &Agent, args: &MergeArgs, ahead: u64) -> Result<i32> {
    let (branch, base) = (&agent.branch, &plan.base);
    let before = git::rev_parse(&plan.repo, "HEAD")?;
    let tip = git::rev_parse(&plan.repo, &format!("refs/heads/{branch}"))?;
    let message = message(plan, agent, args.squash, ahead)?;
    let files = match git::merge(&plan.repo, branch, args.squash, &message)? {
        Merged::Ok(_) => return merged(plan, agent, args.squash, ahead, (&before, &tip)),
        Merged::Conflict(files) => files,
    };
    anyhow::bail!(
        "merging {branch} into {base} conflicts in {}; the merge was aborted and nothing was changed. \
         Resolve it by hand (`git merge {branch}` in {}), or have the agent rebase its branch on {base}",
        files.join(", "),
        plan.repo.display()
    )
}

/// git said the merge went through: check that HEAD moved and (unless squashed) holds the
/// branch's tip, then say how it was merged. `(before, tip)`: HEAD before, the branch's tip.
fn merged(
    plan: &Plan,
    agent: &Agent,
    squash: bool,
    ahead: u64,
    (before, tip): (&str, &str),
) -> Result<i32> {
    let (branch, base) = (&agent.branch, &plan.base);
    let after = git::rev_parse(&plan.repo, "HEAD")?;
    // Reported only once it is so: HEAD moved, and (unless squashed) holds the tip.
    let happened = after != before && (squash || git::is_ancestor(&plan.repo, tip, &after)?);
    if !happened {
        anyhow::bail!(
            "git reported the merge of {branch} into {base} as done, but {base} is at {} and does not hold {branch}'s {}: not merged",
            &after[..after.len().min(12)],
            &tip[..tip.len().min(12)]
        );
    }
    let how = if squash {
        "squashed into one commit"
    } else if git::count_commits(&plan.repo, before, &after)? == ahead {
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
        crate::launch::fleet_command(plan),
        agent.name
    );
    Ok(0)
}

/// Every reason not to merge, each with its fix; empty when the merge may go ahead. All of
/// them are checked before anything changes, and all are named at once.
fn refusals(plan: &Plan, agent: &Agent, view: &View, args: &MergeArgs) -> Result<Vec<String>> {
    let mut refusals = state_refusals(agent, view, args);
    refusals.extend(worktree_refusals(plan, agent, args)?);
    refusals.extend(checkout_refusals(plan, agent)?);
    Ok(refusals)
}

/// The agent's state: damaged, still at work, or failed (unless forced; a failed verify
/// unless `--no-verify`).
fn state_refusals(agent: &Agent, view: &View, args: &MergeArgs) -> Vec<String> {
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
    // A failed agent's work is unfinished, whatever failed: the agent, its verify, a
    // timeout, its budget, its setup.
    if view.state == State::Failed {
        let record = view.record.as_ref();
        let reason = record
            .and_then(|r| r.reason.clone())
            .or_else(|| {
                record
                    .and_then(|r| r.exit_code)
                    .map(|c| format!("exit {c}"))
            })
            .unwrap_or_else(|| "failed".into());
        if reason.starts_with("verify failed") {
            if !args.no_verify && !args.force {
                refusals.push(format!(
                    "its {reason}: fix the work, or pass --no-verify to merge anyway"
                ));
            }
        } else if !args.force {
            refusals.push(format!(
                "it failed ({reason}), so its work may be unfinished: look at it (`fleet diff {}`, `fleet logs {}`), or pass --force to merge anyway",
                agent.name, agent.name
            ));
        }
    }
    refusals
}

/// The agent's worktree: uncommitted changes, or work committed on another branch than its
/// own (unless forced).
fn worktree_refusals(plan: &Plan, agent: &Agent, args: &MergeArgs) -> Result<Vec<String>> {
    let branch = &agent.branch;
    let mut refusals = Vec::new();
    let worktrees = git::worktrees(&plan.repo)?;
    let Some(wt) = git::registered(&worktrees, &agent.worktree) else {
        return Ok(refusals);
    };
    let dirty = git::changes(&agent.worktree, true)?;
    if !dirty.is_empty() {
        refusals.push(format!(
            "its worktree {} has uncommitted changes ({}): commit or discard them there first",
            agent.worktree.display(),
            some_files(&dirty)
        ));
    }
    // The agent may have committed elsewhere than on its branch: merging the branch
    // would leave that work behind.
    if let (Some(head), false) = (&wt.head, wt.branch.as_deref() == Some(branch.as_str())) {
        let lacking = git::count_commits(&plan.repo, &format!("refs/heads/{branch}"), head)?;
        if lacking > 0 && !args.force {
            let wt_arg = crate::util::shell_quote(&agent.worktree.display().to_string());
            let (where_, what) = match wt.branch.as_deref() {
                Some(other) => (format!("on branch {other}"), other.to_string()),
                None => (
                    format!("on a detached HEAD ({})", &head[..head.len().min(12)]),
                    head[..head.len().min(12)].to_string(),
                ),
            };
            refusals.push(format!(
                "its work is on another branch than its own: its worktree {} is {where_}, with {lacking} commit{} that {branch} lacks; bring {} onto {branch} (`git -C {wt_arg} switch {branch} && git -C {wt_arg} merge {what}`), or pass --force to merge {branch} without {}",
                agent.worktree.display(),
                if lacking == 1 { "" } else { "s" },
                if lacking == 1 { "it" } else { "them" },
                if lacking == 1 { "it" } else { "them" },
            ));
        }
    }
    Ok(refusals)
}

/// The main checkout: an operation under way, not on `base` (or `base` no branch),
/// uncommitted changes.
fn checkout_refusals(plan: &Plan, agent: &Agent) -> Result<Vec<String>> {
    let (branch, base) = (&agent.branch, &plan.base);
    let repo_arg = crate::util::shell_quote(&plan.repo.display().to_string());
    let mut refusals = Vec::new();
    let operation = git::operation_in_progress(&plan.repo)?;
    if let Some(what) = operation {
        refusals.push(format!(
            "the main checkout {} has {what} in progress, which fleet will not touch: finish or abort it first (`git -C {repo_arg} status` says how)",
            plan.repo.display()
        ));
    }
    let base_is_branch = git::branch_exists(&plan.repo, base)?;
    match git::current_branch(&plan.repo)? {
        Some(b) if &b == base => {}
        _ if !base_is_branch => refusals.push(format!(
            "the base `{base}` is not a branch (a tag or a commit), so there is no branch to merge into: set `base:` in {} to a branch, or merge {branch} yourself",
            plan.manifest.display()
        )),
        // An operation under way explains the checkout's state; its refusal says what to do.
        _ if operation.is_some() => {}
        Some(b) => refusals.push(format!(
            "the main checkout {} is on {b}, not {base}: `git -C {repo_arg} switch {base}` first",
            plan.repo.display(),
        )),
        None => refusals.push(format!(
            "the main checkout {} is not on a branch (detached HEAD): `git -C {repo_arg} switch {base}` first",
            plan.repo.display(),
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
    Ok(refusals)
}
