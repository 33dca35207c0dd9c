//! Making registered worktrees ready, a few at once, and handing each to the caller as soon
//! as it is: checked out (two a core, each as soon as one ends), `seed:` and the `copy:`
//! files in, marked made, its run spec written. The caller starts its agent right then, while
//! the others are still being checked out; after Ctrl-C no new checkout and no new start
//! begins (the ones at hand finish).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use anyhow::{Context, Result};

use crate::git;
use crate::launch::spec;
use crate::manifest::{Agent, Plan};
use crate::state::Dir;
use crate::util;
use crate::view::View;

/// One worktree to make ready: its agent's view and, when it needs a checkout, whether `up`
/// registered it just now (None: it is checked out already).
pub type Job<'v, 'a> = (&'v View<'a>, Option<bool>);

/// What one worktree's preparation said: the `seed:` lines and bytes, or the error (with
/// whether its checkout failed).
type Outcome = std::result::Result<(Vec<String>, u64), (anyhow::Error, bool)>;

/// Make every job's worktree ready and call `start` (on this thread) with each set of agents
/// whose worktrees became ready meanwhile, in the order they did, until it fails or Ctrl-C.
/// The agents whose worktree is ready, in the jobs' order, each with whether `up` made (or
/// filled) it just now. A checkout that fails does not stop the others; one registered just
/// now is removed again (it holds nothing yet) so the next `up` creates it afresh; the first
/// failure (or `start`'s) is the error, once every checkout at hand ended.
pub fn make_ready<'v, 'a>(
    plan: &Plan,
    dir: &Dir,
    jobs: &[Job<'v, 'a>],
    bar: &indicatif::ProgressBar,
    start: &mut dyn FnMut(&[&'v View<'a>]) -> Result<()>,
) -> Result<Vec<(&'v View<'a>, bool)>> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let next = &AtomicUsize::new(0);
    let stop = &AtomicBool::new(false);
    let outcomes: &Mutex<Vec<Option<Outcome>>> = &Mutex::new(jobs.iter().map(|_| None).collect());
    let mut failed: Option<anyhow::Error> = None;
    let mut specs_written = vec![false; jobs.len()];
    let bases = &super::seed::Bases::default();
    let sizes = std::thread::scope(|s| {
        let sizes = s.spawn(|| tree_sizes(plan, jobs));
        let (tx, rx) = mpsc::channel::<usize>();
        for _ in 0..workers.min(jobs.len()) {
            let tx = tx.clone();
            s.spawn(move || loop {
                if util::interrupted() || stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(view, fill)) = jobs.get(i) else {
                    break;
                };
                let outcome = prepare(plan, dir, view, fill, bar, bases);
                let ok = outcome.is_ok();
                if let Ok(mut all) = outcomes.lock() {
                    all[i] = Some(outcome);
                }
                if ok {
                    let _ = tx.send(i);
                }
            });
        }
        drop(tx);
        // The run specs (they choose ports from one table: one writer) and the starts, here.
        while let Ok(i) = rx.recv() {
            let ready: Vec<usize> = std::iter::once(i).chain(rx.try_iter()).collect();
            if failed.is_some() {
                continue;
            }
            failed = start_ready(plan, dir, jobs, ready, &mut specs_written, start);
            if failed.is_some() {
                stop.store(true, Ordering::SeqCst);
            }
        }
        sizes.join().unwrap_or_default()
    });
    let outcomes = outcomes.lock().map(|mut o| std::mem::take(&mut *o));
    let outcomes = outcomes.unwrap_or_default();
    gather(plan, dir, jobs, outcomes, &specs_written, &sizes, failed)
}

/// Write the run specs of the jobs at `ready` (indexes into `jobs`), marking them in
/// `specs_written`, and start those agents (not after Ctrl-C); the error, if any.
fn start_ready<'v, 'a>(
    plan: &Plan,
    dir: &Dir,
    jobs: &[Job<'v, 'a>],
    ready: Vec<usize>,
    specs_written: &mut [bool],
    start: &mut dyn FnMut(&[&'v View<'a>]) -> Result<()>,
) -> Option<anyhow::Error> {
    let agents: Vec<&Agent> = ready.iter().map(|&i| jobs[i].0.agent).collect();
    let (written, mut failed) = spec::write_specs(plan, dir, &agents);
    let batch: Vec<&'v View<'a>> = ready[..written].iter().map(|&i| jobs[i].0).collect();
    for &i in &ready[..written] {
        specs_written[i] = true;
    }
    if failed.is_none() && !util::interrupted() {
        failed = start(&batch).err();
    }
    failed
}

/// Once every checkout ended: the `seed:` lines said, each new worktree's disk use
/// remembered, a failed new checkout removed again; the ready agents, or the first error.
fn gather<'v, 'a>(
    plan: &Plan,
    dir: &Dir,
    jobs: &[Job<'v, 'a>],
    outcomes: Vec<Option<Outcome>>,
    specs_written: &[bool],
    sizes: &[Option<u64>],
    mut failed: Option<anyhow::Error>,
) -> Result<Vec<(&'v View<'a>, bool)>> {
    let mut ready = Vec::new();
    let mut disk = Vec::new();
    for (i, ((view, fill), outcome)) in jobs.iter().zip(outcomes).enumerate() {
        match outcome {
            Some(Ok((said, seeded))) if specs_written[i] => {
                for line in said {
                    crate::info!("{line}");
                }
                if let (Some(_), Some(Some(tree))) = (fill, sizes.get(i)) {
                    disk.push((view.agent.name.as_str(), tree + seeded));
                }
                ready.push((*view, fill.is_some()));
            }
            Some(Err((e, checkout_failed))) => {
                if checkout_failed && *fill == Some(true) {
                    let _ = git::worktree_remove(&plan.repo, &view.agent.worktree, true);
                }
                failed.get_or_insert(e);
            }
            _ => {}
        }
    }
    let _ = dir.remember_disk(&disk);
    failed.map_or(Ok(ready), Err)
}

/// One worktree made ready but for its run spec: checked out when it needs it, `seed:` and
/// the `copy:` files in a new one (the `copy:` files too in one an interrupted or failed
/// `up` made for an agent that never started: files already there are kept), marked made.
fn prepare(
    plan: &Plan,
    dir: &Dir,
    view: &View,
    fill: Option<bool>,
    bar: &indicatif::ProgressBar,
    bases: &super::seed::Bases,
) -> Outcome {
    let agent = view.agent;
    let created = fill.is_some();
    if created {
        bar.set_message(agent.name.clone());
        let filled = git::worktree_fill(&agent.worktree);
        bar.inc(1);
        filled
            .with_context(|| format!("cannot create the worktree of agent `{}`", agent.name))
            .map_err(|e| (e, true))?;
    } else {
        bar.inc(1);
    }
    let (said, bytes) = if created && !agent.seed.is_empty() {
        super::seed::seed(plan, agent, bases)
    } else {
        (Vec::new(), 0)
    };
    if created || view.record.is_none() {
        copy_files(plan, agent, created).map_err(|e| (e, false))?;
    }
    dir.made(&agent.name).map_err(|e| (e, false))?;
    Ok((said, bytes))
}

/// The bytes of the files of each new worktree's branch (for `status --json`'s
/// `disk_bytes`, with what `seed:` copied): one `ls-tree` for each distinct commit, usually
/// the base's alone. None where git cannot tell, or the worktree is not new.
fn tree_sizes(plan: &Plan, jobs: &[Job]) -> Vec<Option<u64>> {
    if !jobs.iter().any(|(_, fill)| fill.is_some()) {
        return vec![None; jobs.len()];
    }
    let oids = git::ref_oids(&plan.repo, "refs/heads/").unwrap_or_default();
    let mut sizes: std::collections::HashMap<String, Option<u64>> = Default::default();
    jobs.iter()
        .map(|(v, fill)| {
            fill.as_ref()?;
            let oid = oids.get(&format!("refs/heads/{}", v.agent.branch))?;
            let size = sizes
                .entry(oid.clone())
                .or_insert_with(|| git::tree_bytes(&plan.repo, oid).ok());
            *size
        })
        .collect()
}

/// Copy the manifest's `copy:` files into the agent's worktree; files already there are
/// replaced only when `overwrite`. No symlink is followed on either side ([`safe_fs::copy`]).
///
/// [`safe_fs::copy`]: crate::safe_fs::copy
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
