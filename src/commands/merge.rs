//! `fleet merge NAME [--squash] [--no-verify]`: merge the agent's branch into `base` in the
//! main checkout. Every check runs before anything changes; a refusal names each reason and
//! its fix. A conflict is undone and its files named. An agent on another host: its branch
//! is fetched from there first (one ssh connection) and its state asked of its host's fleet;
//! the fetched branch (`fleet-HOST/BRANCH`) is merged here, under the same checks.
use anyhow::Result;

use crate::cli::MergeArgs;
use crate::git::{self, Merged};
use crate::launch::view::state_of;
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

/// What is merged: the agent, the ref of its work here, and its state.
struct Work<'a> {
    agent: &'a Agent,
    /// `refs/heads/BRANCH`; for an agent on another host, its branch as just fetched.
    tip_ref: String,
    state: State,
    reason: Option<String>,
    exit_code: Option<i32>,
    /// Its host, for an agent on another host; its worktree is there.
    host: Option<&'a str>,
    /// Its worktree there has uncommitted changes (as its host's fleet says).
    remote_uncommitted: bool,
}

pub fn run(plan: &Plan, args: &MergeArgs) -> Result<i32> {
    let work = match plan.remote.iter().find(|r| r.agent.name == args.name) {
        Some(r) => remote_work(plan, r)?,
        None => local_work(plan, &args.name)?,
    };
    let (agent, branch, base) = (work.agent, &work.agent.branch, &plan.base);
    let refusals = refusals(plan, &work, args)?;
    if !refusals.is_empty() {
        let list: Vec<String> = refusals.iter().map(|r| format!("  - {r}")).collect();
        anyhow::bail!(
            "not merging {} ({branch}) into {base}; nothing was changed:\n{}",
            agent.name,
            list.join("\n")
        );
    }

    // The main checkout is on `base` (checked above): HEAD names it, whatever tags exist.
    let ahead = git::count_commits(&plan.repo, "HEAD", &work.tip_ref)?;
    if ahead == 0 {
        crate::info!("{branch} has no commits that {base} lacks: nothing to merge");
        return Ok(0);
    }
    let _lock = Dir::new(&plan.state_dir).lock(crate::launch::LOCK_WAIT)?;
    merge(plan, &work, args, ahead)
}

/// An agent of this machine: its branch, its state from its record and session.
fn local_work<'a>(plan: &'a Plan, name: &str) -> Result<Work<'a>> {
    let agent = plan.agent(name)?;
    let (view, _) = state_of(plan, agent)?;
    if !git::branch_exists(&plan.repo, &agent.branch)? {
        anyhow::bail!(
            "{} has no branch {}, so nothing to merge (`{}` starts it)",
            agent.name,
            agent.branch,
            crate::launch::up_hint(plan, &agent.name, view.state)
        );
    }
    let record = view.record.as_ref();
    Ok(Work {
        agent,
        tip_ref: format!("refs/heads/{}", agent.branch),
        state: view.state,
        reason: record.and_then(|r| r.reason.clone()),
        exit_code: record.and_then(|r| r.exit_code),
        host: None,
        remote_uncommitted: false,
    })
}

/// An agent on another host: its branch fetched from there now (one ssh connection), its
/// state as its host's fleet says. A host that does not answer is an error naming it.
fn remote_work<'a>(plan: &'a Plan, r: &'a crate::manifest::Remote) -> Result<Work<'a>> {
    let agent = &r.agent;
    let fetched =
        crate::launch::hosts::fetch_agents(plan, &r.host, std::slice::from_ref(&agent.name))
            .map_err(|e| {
                anyhow::anyhow!(
                    "not merging {} ({}): it runs on host {}, which cannot be asked now: {e:#}",
                    agent.name,
                    agent.branch,
                    r.host
                )
            })?
            .pop();
    let Some(f) = fetched else {
        anyhow::bail!("host {} did not report {}", r.host, agent.name);
    };
    let Some(tip_ref) = f.fetched else {
        anyhow::bail!(
            "{} has not started on host {}, so no branch {} to merge (`{} up {}` starts it)",
            agent.name,
            r.host,
            agent.branch,
            crate::launch::fleet_command(plan),
            agent.name
        );
    };
    let text = |k: &str| f.status[k].as_str().map(str::to_string);
    Ok(Work {
        agent,
        tip_ref,
        state: f.state,
        reason: text("reason"),
        exit_code: f.status["exit_code"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok()),
        host: Some(&r.host),
        remote_uncommitted: f.status["uncommitted"] == true,
    })
}

/// The commit message: a merge's, or a squash's listing the `ahead` commits' subjects.
fn message(plan: &Plan, work: &Work, squash: bool, ahead: u64) -> Result<String> {
    let (agent, branch) = (work.agent, &work.agent.branch);
    if !squash {
        return Ok(format!("Merge {branch} (fleet agent {})", agent.name));
    }
    let subjects = git::subjects(&plan.repo, "HEAD", &work.tip_ref)?;
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
fn merge(plan: &Plan, work: &Work, args: &MergeArgs, ahead: u64) -> Result<i32> {
    let (agent, branch, base) = (work.agent, &work.agent.branch, &plan.base);
    let before = git::rev_parse(&plan.repo, "HEAD")?;
    let tip = git::rev_parse(&plan.repo, &work.tip_ref)?;
    let message = message(plan, work, args.squash, ahead)?;
    let files = match git::merge(&plan.repo, &work.tip_ref, args.squash, &message)? {
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
fn refusals(plan: &Plan, work: &Work, args: &MergeArgs) -> Result<Vec<String>> {
    let agent = work.agent;
    let mut refusals = state_refusals(work, args);
    match work.host {
        None => refusals.extend(worktree_refusals(plan, agent, args)?),
        Some(host) if work.remote_uncommitted => refusals.push(format!(
            "its worktree on host {host} has uncommitted changes, which its branch does not carry here: commit or discard them there first (`{} logs {}` shows what it did)",
            crate::launch::fleet_command(plan),
            agent.name
        )),
        Some(_) => {}
    }
    refusals.extend(checkout_refusals(plan, agent)?);
    Ok(refusals)
}

/// The agent's state: damaged, still at work, or failed (unless forced; a failed verify
/// unless `--no-verify`).
fn state_refusals(work: &Work, args: &MergeArgs) -> Vec<String> {
    let (agent, state) = (work.agent, work.state);
    let mut refusals = Vec::new();
    if state == State::Damaged {
        refusals.push(state.label(work.reason.as_deref()));
    }
    if matches!(state, State::Running | State::Waiting | State::Queued) {
        let on = work
            .host
            .map(|h| format!(" on host {h}"))
            .unwrap_or_default();
        refusals.push(format!(
            "{} is still {state}{on} (`fleet wait {}` waits for it, `fleet down {}` stops it)",
            agent.name, agent.name, agent.name
        ));
    }
    // A failed agent's work is unfinished, whatever failed: the agent, its verify, a
    // timeout, its budget, its setup.
    if state == State::Failed {
        let reason = work
            .reason
            .clone()
            .or_else(|| work.exit_code.map(|c| format!("exit {c}")))
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
