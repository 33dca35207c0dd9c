//! What must hold before the merge train touches anything: the main checkout (no operation
//! of the user's under way, on `base`, clean) and each agent (not still at work, not failed
//! unless forced, its worktree clean and its work on its own branch; on another host, its
//! worktree there clean as its host's fleet says). Each refusal names its
//! reason and its fix; all of them are found before anything changes.
use anyhow::Result;

use crate::git;
use crate::manifest::{Agent, Plan};
use crate::state::State;

use super::work::Work;
use super::Options;

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

/// Every reason not to merge this agent's work, each with its fix; empty when it may be
/// merged.
pub fn agent_refusals(plan: &Plan, work: &Work, args: &Options) -> Result<Vec<String>> {
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
    Ok(refusals)
}

/// The agent's state: damaged, still at work, or failed (unless forced; a failed verify
/// unless `--no-verify`).
fn state_refusals(work: &Work, args: &Options) -> Vec<String> {
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
    if state == State::Blocked {
        refusals.push(format!(
            "{} is blocked ({}), so it never did its work: `fleet up --rerun` of what it waits for starts it",
            agent.name,
            work.reason
                .as_deref()
                .unwrap_or("its dependencies cannot bring it their work")
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
fn worktree_refusals(plan: &Plan, agent: &Agent, args: &Options) -> Result<Vec<String>> {
    let branch = &agent.branch;
    let mut refusals = Vec::new();
    let worktrees = git::worktrees(&plan.repo)?;
    let Some(wt) = git::registered(&worktrees, &agent.worktree) else {
        return Ok(refusals);
    };
    let dirty = git::changes(&agent.worktree, true)?;
    if !dirty.is_empty() {
        let fleet = crate::launch::fleet_command(plan);
        let wt = crate::util::shell_quote(&agent.worktree.display().to_string());
        refusals.push(format!(
            "its worktree {} has uncommitted changes ({}): `{fleet} diff {name}` shows them; commit them there (`git -C {wt} add -A && git -C {wt} commit`), hand them back to the agent (`{fleet} continue {name} -m \"Commit your changes.\"`), or discard them",
            agent.worktree.display(),
            some_files(&dirty),
            name = agent.name,
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

/// The main checkout (checked once before the train, and again before each merge): an
/// operation under way, not on `base` (or `base` no branch),
/// uncommitted changes.
pub fn checkout_refusals(plan: &Plan) -> Result<Vec<String>> {
    let base = &plan.base;
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
            "the base `{base}` is not a branch (a tag or a commit), so there is no branch to merge into: set `base:` in {} to a branch, or merge the agents' branches yourself",
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

/// What a merge would write into the main checkout.
pub struct Writes {
    /// How many files it adds or changes (none: nothing to merge).
    pub files: usize,
    /// The refusal naming the user's files it would overwrite or remove, if any.
    pub refusal: Option<String>,
}

/// The paths merging `rev` writes into the main checkout (its changes since `from`: the
/// merge-base, or what was merged of it before), and the refusal when one of them is a file
/// of the user's that git does not track, ignored ones included (git overwrites those
/// silently). Every strategy writes these paths (a squash, a rebased copy, a fast-forward),
/// so one check covers them all; `--force` does not lift it: the user moves the file.
pub fn writes(plan: &Plan, from: &str, rev: &str) -> Result<Writes> {
    let paths = git::written_paths(&plan.repo, from, rev)?;
    let in_the_way = git::user_files_in_the_way(&plan.repo, &paths)?;
    let refusal = (!in_the_way.is_empty()).then(|| {
        let named: Vec<String> = in_the_way
            .iter()
            .map(|f| {
                let what = if f.ignored { "ignored" } else { "untracked" };
                format!("{} ({what})", crate::util::display(&f.path))
            })
            .collect();
        let n = in_the_way.len();
        format!(
            "merging it would overwrite {} of yours in the main checkout {} that git does not track: {}: move {} out of the way first (fleet never overwrites them, --force included)",
            if n == 1 { "a file" } else { "files" },
            plan.repo.display(),
            some_files(&named),
            if n == 1 { "it" } else { "them" }
        )
    });
    Ok(Writes {
        files: paths.len(),
        refusal,
    })
}
