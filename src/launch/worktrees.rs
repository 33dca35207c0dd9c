//! The worktrees of the agents `up` starts: taking apart half-made ones, refusing paths and
//! branches in the way, the branches to create, registering the missing worktrees and
//! checking them out a few at once, then the `copy:` files and run specs.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::git;
use crate::launch::{exclude, spec};
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
/// a worktree (agents start only once every worktree is complete), so nothing of anyone's
/// work is in it.
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

/// Everything before the worktrees: `.fleet/` made, the base and the tmux server
/// remembered, fleet's files kept out of git, stale worktree entries pruned, the new
/// branches created. The repository's common git directory.
pub fn prepare(
    plan: &Plan,
    dir: &Dir,
    worktrees: &[git::Worktree],
    branches: &mut Branches,
) -> Result<PathBuf> {
    dir.create()?;
    dir.remember_base(&plan.base)?;
    dir.remember_server(&crate::tmux::socket())?;
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

/// Make the agents' worktrees: registered one after another, then checked out a few at
/// once (each has its own index; checkouts of big repos take both cores); after Ctrl-C no
/// new one starts. The agents whose worktree is ready, each with whether `up` made (or
/// filled) it just now.
pub fn make<'v, 'a>(
    plan: &Plan,
    dir: &Dir,
    to_start: &[&'v View<'a>],
    worktrees: &[git::Worktree],
    branches: &Branches,
    common: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<(&'v View<'a>, bool)>> {
    let steps: Vec<(&Agent, Option<Vec<String>>)> = to_start
        .iter()
        .map(|v| {
            let step = worktree_step(plan, v.agent, worktrees, &branches.existing)?;
            Ok((v.agent, step))
        })
        .collect::<Result<_>>()?;
    let registrar = if steps.iter().any(|(_, s)| s.is_some()) {
        git::registrar(&plan.repo, common)?
    } else {
        git::Registrar::Git
    };
    // (agent, registered just now)
    let mut fill: Vec<(&Agent, bool)> = Vec::new();
    for (agent, step) in &steps {
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
                fill.push((agent, true));
            }
            None if git::worktree_unfilled(&agent.worktree) => fill.push((agent, false)),
            None => {}
        }
    }
    bar.inc((to_start.len() - fill.len()) as u64);
    let filled = fill_worktrees(plan, &fill, bar)?;
    // The worktrees ready now: those that needed nothing and those just checked out.
    let made = |name: &str| fill.iter().position(|(a, _)| a.name == name);
    Ok(to_start
        .iter()
        .copied()
        .filter(|v| match made(&v.agent.name) {
            Some(i) => filled[i],
            None => steps
                .iter()
                .any(|(a, s)| a.name == v.agent.name && s.is_none()),
        })
        .map(|v| (v, made(&v.agent.name).is_some()))
        .collect())
}

/// The last of a worktree made ready: `seed:` and the `copy:` files in a new worktree (and
/// the `copy:` files in one an interrupted or failed `up` made for an agent that never
/// started: files already there are kept); then it is marked made and the agent's run spec
/// is written.
pub fn finish(plan: &Plan, dir: &Dir, ready: &[(&View, bool)]) -> Result<()> {
    // `seed:` of the new worktrees, all at once (each a tree of many small files), while
    // git measures the checked-out trees.
    let (seeded, trees) = std::thread::scope(|s| {
        let trees = s.spawn(|| tree_sizes(plan, ready));
        let seeded = util::in_parallel(ready, |(v, created)| {
            if *created && !v.agent.seed.is_empty() {
                super::seed::seed(plan, v.agent)
            } else {
                (Vec::new(), 0)
            }
        });
        (seeded, trees.join().unwrap_or_default())
    });
    let seeded: Vec<u64> = seeded
        .into_iter()
        .map(|s| {
            let (said, bytes) = s.unwrap_or_default();
            for line in said {
                crate::info!("{line}");
            }
            bytes
        })
        .collect();
    for (((v, created), tree), seeded) in ready.iter().zip(&trees).zip(&seeded) {
        if let (true, Some(tree)) = (*created, tree) {
            let _ = dir.remember_disk(&v.agent.name, tree + seeded);
        }
    }
    for (v, created) in ready {
        if *created || v.record.is_none() {
            copy_files(plan, v.agent, *created)?;
        }
        dir.made(&v.agent.name)?;
        spec::write_spec(plan, dir, v.agent)?;
    }
    Ok(())
}

/// The bytes of the files of each new worktree's branch (for `status --json`'s
/// `disk_bytes`, with what `seed:` copied): one `ls-tree` for each distinct commit, usually
/// the base's alone. None where git cannot tell, or the worktree is not new.
fn tree_sizes(plan: &Plan, ready: &[(&View, bool)]) -> Vec<Option<u64>> {
    if !ready.iter().any(|(_, created)| *created) {
        return vec![None; ready.len()];
    }
    let oids = git::ref_oids(&plan.repo, "refs/heads/").unwrap_or_default();
    let mut sizes: std::collections::HashMap<String, Option<u64>> = Default::default();
    ready
        .iter()
        .map(|(v, created)| {
            let oid = oids.get(&format!("refs/heads/{}", v.agent.branch))?;
            let size = sizes
                .entry(oid.clone())
                .or_insert_with(|| git::tree_bytes(&plan.repo, oid).ok());
            size.filter(|_| *created)
        })
        .collect()
}

/// Check out registered worktrees, a few at once (two a core), each as soon as a checkout
/// ends; after Ctrl-C no new one starts. Which were checked out, in order. One registered
/// just now that fails is removed again (it holds nothing yet) so the next `up` creates it
/// afresh; the first failure is the error.
fn fill_worktrees(
    plan: &Plan,
    agents: &[(&Agent, bool)],
    bar: &indicatif::ProgressBar,
) -> Result<Vec<bool>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<()>>>> = Mutex::new(agents.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(agents.len()) {
            s.spawn(|| loop {
                if util::interrupted() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((agent, _)) = agents.get(i) else {
                    break;
                };
                bar.set_message(agent.name.clone());
                let result = git::worktree_fill(&agent.worktree);
                bar.inc(1);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let mut first = None;
    let mut filled = Vec::new();
    for ((agent, registered_now), result) in agents.iter().zip(results) {
        filled.push(matches!(result, Some(Ok(()))));
        if let Some(Err(e)) = result {
            if *registered_now {
                let _ = git::worktree_remove(&plan.repo, &agent.worktree, true);
            }
            first.get_or_insert_with(|| {
                e.context(format!(
                    "cannot create the worktree of agent `{}`",
                    agent.name
                ))
            });
        }
    }
    first.map_or(Ok(filled), Err)
}

/// The `git worktree add --no-checkout` the agent needs, if any (the same for the real run
/// and --dry-run); [`fill_worktrees`] checks it out.
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

/// Copy the manifest's `copy:` files into the agent's worktree; files already there are
/// replaced only when `overwrite`. No symlink is followed on either side ([`safe_fs::copy`]).
fn copy_files(plan: &Plan, agent: &Agent, overwrite: bool) -> Result<()> {
    for (src, rel) in &plan.copy {
        crate::safe_fs::copy(&plan.repo, &agent.worktree, rel, overwrite).with_context(|| {
            format!(
                "cannot copy {} into the worktree of agent `{}`",
                src.display(),
                agent.name
            )
        })?;
    }
    Ok(())
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
