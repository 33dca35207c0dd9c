//! The worktrees of the agents `up` starts: taking apart half-made ones, refusing paths and
//! branches in the way, the branches to create, registering the missing worktrees and
//! checking them out a few at once, then the `copy:` files and run specs.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::git;
use crate::launch::{exclude, ready};
use crate::manifest::{Agent, Plan};
use crate::state::Dir;
use crate::view::View;
use crate::{usage, util};

/// How long `up` waits for a process still working on a half-made worktree to end once
/// killed (a `git checkout` an `up` killed before left running).
const ORPHAN_WAIT: Duration = Duration::from_secs(10);

/// Take apart the worktrees an earlier `up` began and did not complete (it was killed, or
/// stopped before checking them out), so that this `up` makes them afresh: git's entry,
/// the directory, and any git that killed `up` left running on it. No agent has run in such
/// a worktree (an agent starts only once its own worktree is complete and marked made), so
/// nothing of anyone's work is in it.
pub fn recover(plan: &Plan, dir: &Dir) -> Result<()> {
    let half = dir.half_made();
    if half.is_empty() {
        return Ok(());
    }
    let common = git::common_dir(&plan.repo)?;
    for (agent, path) in half {
        let procs = util::processes_on(&path);
        if !util::kill_and_wait(&procs, ORPHAN_WAIT) {
            anyhow::bail!(
                "a process still works on {} (the half-made worktree of agent `{agent}`) and does not end; stop it, then run `fleet up` again",
                path.display()
            );
        }
        git::unmake_worktree(&common, &path).with_context(|| {
            format!("cannot take apart the half-made worktree of agent `{agent}`")
        })?;
        dir.made(&agent)?;
        util::trace("fleet", &["unmade-worktree".to_string(), agent]);
    }
    Ok(())
}

/// Refuse, before changing anything, worktree paths that exist and are not this repo's
/// worktrees, and branches checked out somewhere else.
pub fn check_worktrees(plan: &Plan, to_start: &[&View], worktrees: &[git::Worktree]) -> Result<()> {
    let mut problems = Vec::new();
    for v in to_start {
        let a = v.agent;
        match git::registered(worktrees, &a.worktree) {
            Some(w) if w.branch.as_deref() != Some(a.branch.as_str()) => problems.push(format!(
                "agent `{}`: the worktree {} is on {} instead of `{}`; check it out there or remove it",
                a.name,
                a.worktree.display(),
                w.branch.as_deref().map(|b| format!("`{b}`")).unwrap_or("a detached HEAD".into()),
                a.branch
            )),
            Some(_) => {}
            None => {
                if a.worktree.exists() {
                    problems.push(format!(
                        "agent `{}`: {} exists and is not a worktree of {}; move it away or set `worktree_dir:`",
                        a.name,
                        a.worktree.display(),
                        plan.repo.display()
                    ));
                }
                if let Some(w) = worktrees
                    .iter()
                    .find(|w| w.branch.as_deref() == Some(a.branch.as_str()) && !w.prunable)
                {
                    problems.push(format!(
                        "agent `{}`: branch `{}` is already checked out in {}; switch that checkout to another branch or set `branch:`",
                        a.name,
                        a.branch,
                        w.path.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        usage(format!(
            "cannot start; nothing was changed:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Which of the agents' branches exist, and which `up` creates: all in one git call before
/// the worktrees (instead of one `git branch` that each `git worktree add -b` runs).
pub struct Branches<'a> {
    pub existing: HashSet<String>,
    pub new: Vec<&'a str>,
}

/// The [`Branches`] of the agents to start: one git call for every agent.
pub fn branches<'a>(
    plan: &Plan,
    to_start: &[&View<'a>],
    worktrees: &[git::Worktree],
) -> Result<Branches<'a>> {
    let names: Vec<&str> = to_start.iter().map(|v| v.agent.branch.as_str()).collect();
    let existing = git::existing_branches(&plan.repo, &names)?;
    let new = to_start
        .iter()
        .filter(|v| {
            git::registered(worktrees, &v.agent.worktree).is_none()
                && !existing.contains(&v.agent.branch)
        })
        .map(|v| v.agent.branch.as_str())
        .collect();
    Ok(Branches { existing, new })
}

/// Everything before the worktrees: `.fleet/` made, the base remembered, fleet's files kept
/// out of git, stale worktree entries pruned, the new branches created. The repository's
/// common git directory.
pub fn prepare(
    plan: &Plan,
    dir: &Dir,
    worktrees: &[git::Worktree],
    branches: &mut Branches,
) -> Result<PathBuf> {
    dir.create()?;
    dir.remember_base(&plan.base)?;
    let common = git::common_dir(&plan.repo)?;
    exclude::exclude(&plan.repo, &common, &plan.state_dir)?;
    // aider keeps its chat history and tag cache (`.aider*`) in the worktree, and would put
    // them in an untracked .gitignore of its own (its preset says --no-gitignore).
    if plan
        .agents
        .iter()
        .any(|a| a.preset == Some(crate::preset::Preset::Aider))
    {
        exclude::exclude_pattern(&common, "aider's chat history and caches", ".aider*")?;
    }
    // A worktree_dir inside the main checkout is kept out of git like `.fleet/`.
    exclude::exclude(&plan.repo, &common, &plan.worktree_dir)?;
    if worktrees.iter().any(|w| w.prunable) {
        git::prune_worktrees(&plan.repo)?;
    }
    git::create_branches(&plan.repo, &branches.new, &plan.base)?;
    let new = branches.new.iter().map(|b| b.to_string());
    branches.existing.extend(new);
    Ok(common)
}

/// Make the agents' worktrees: registered one after another (git's lock), then made ready
/// a few at once ([`ready::make_ready`]), `start` called with the agents whose worktrees
/// became ready as soon as they are; after Ctrl-C no new one starts. The agents whose
/// worktree is ready, each with whether `up` made (or filled) it just now.
#[allow(clippy::too_many_arguments)]
pub fn make<'v, 'a>(
    plan: &Plan,
    dir: &Dir,
    to_start: &[&'v View<'a>],
    worktrees: &[git::Worktree],
    branches: &Branches,
    common: &Path,
    bar: &indicatif::ProgressBar,
    start: &mut dyn FnMut(&[&'v View<'a>]) -> Result<()>,
) -> Result<Vec<(&'v View<'a>, bool)>> {
    let steps: Vec<(&'v View<'a>, Option<Vec<String>>)> = to_start
        .iter()
        .map(|v| {
            let step = worktree_step(plan, v.agent, worktrees, &branches.existing)?;
            Ok((*v, step))
        })
        .collect::<Result<_>>()?;
    let registrar = if steps.iter().any(|(_, s)| s.is_some()) {
        git::registrar(&plan.repo, common)?
    } else {
        git::Registrar::Git
    };
    // (agent, None: ready already, Some(registered just now): to check out)
    let mut jobs: Vec<ready::Job<'v, 'a>> = Vec::new();
    for (v, step) in &steps {
        let agent = v.agent;
        match step {
            Some(_) if util::interrupted() => break,
            Some(args) => {
                dir.mark_making(&agent.name, &agent.worktree)?;
                match &registrar {
                    git::Registrar::Files { common } => {
                        git::register_worktree(common, &agent.worktree, &agent.branch)
                    }
                    git::Registrar::Git => git::worktree_add(&plan.repo, args),
                }
                .with_context(|| format!("cannot create the worktree of agent `{}`", agent.name))?;
                jobs.push((*v, Some(true)));
            }
            None if git::worktree_unfilled(&agent.worktree) => jobs.push((*v, Some(false))),
            None => jobs.push((*v, None)),
        }
    }
    ready::make_ready(plan, dir, &jobs, bar, start)
}

/// The `git worktree add --no-checkout` the agent needs, if any (the same for the real run
/// and --dry-run); [`ready::make_ready`] checks it out.
pub fn worktree_step(
    plan: &Plan,
    agent: &Agent,
    worktrees: &[git::Worktree],
    existing: &HashSet<String>,
) -> Result<Option<Vec<String>>> {
    Ok(git::worktree_add_args_known(
        worktrees,
        &agent.worktree,
        &agent.branch,
        &plan.base,
        existing.contains(&agent.branch),
    )
    .map(|mut args| {
        args.insert(2, "--no-checkout".into());
        args
    }))
}

/// A bar for preparing the worktrees, on a terminal and when there are enough of them to
/// wait for (git checks each one out in turn); hidden otherwise.
pub fn progress(n: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    // Not with -q (quiet), nor with -v, whose trace lines on stderr would tear it.
    if n < PROGRESS_FROM || !std::io::stderr().is_terminal() || util::quiet() || util::verbose() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "preparing worktrees [{bar:24}] {pos}/{len}  {elapsed}  {wide_msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// From this many agents on, `up` shows a progress bar while it makes their worktrees.
const PROGRESS_FROM: usize = 4;
