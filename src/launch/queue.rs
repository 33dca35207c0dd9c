//! `max_parallel: k`: at most k agents run at once; the others wait as `queued`. There is no
//! daemon: `up` starts the first k and records the rest as queued (their worktrees and run
//! specs ready); the runner of each agent that finishes takes the `.fleet` lock and starts
//! the next queued agents while slots are free ([`advance`]). Once the fleet's spend reaches
//! its `budget:` less the reserve, no slot is free.
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::git;
use crate::launch::{pipeline, sessions, worktrees};
use crate::manifest::{Agent, Plan};
use crate::state::{Dir, Level, Record, Spec, Spent, State};
use crate::tmux;
use crate::view::{self, View};

/// How long a finished agent's runner waits for the lock (it is not interactive: a long
/// `up` may hold the lock while it creates many worktrees).
pub const LOCK_WAIT: Duration = Duration::from_secs(600);

/// How many more agents may start now: `max_parallel` less the agents running (all of the
/// manifest's, not only `views`); None without a limit.
pub fn free_slots(plan: &Plan, owned: &HashSet<String>) -> Option<usize> {
    // In the fleet budget's reserve, nobody new starts.
    if budget(plan).is_some_and(|(level, _)| level >= Level::Reserve) {
        return Some(0);
    }
    let k = plan.max_parallel? as usize;
    let all: Vec<&Agent> = plan.agents.iter().collect();
    let running = view::collect(plan, &all, owned, view::Detail::States)
        .iter()
        .filter(|v| v.state.active())
        .count();
    Some(k.saturating_sub(running))
}

/// Where the fleet's spend (all its agents' records) stands against its `budget:`, if it
/// has one.
pub fn budget(plan: &Plan) -> Option<(Level, Spent)> {
    let b = plan.budget?;
    let spent = Spent::in_dir(&plan.state_dir.join("agents"), None);
    Some((b.level(spent), spent))
}

/// Split the agents `up` is to start into those that start now and those that wait: the
/// ones already queued first (they waited longest), then the others, in manifest order.
pub fn split<'v, 'a>(
    plan: &Plan,
    owned: &HashSet<String>,
    candidates: &[&'v View<'a>],
    slots: Option<usize>,
) -> (Vec<&'v View<'a>>, Vec<&'v View<'a>>) {
    let order: Vec<&View> = candidates
        .iter()
        .filter(|v| v.state == State::Queued)
        .chain(candidates.iter().filter(|v| v.state != State::Queued))
        .copied()
        .collect();
    pick(plan, owned, order, slots)
}

/// Those of `order` that start now (within `slots` and each credential's `max_parallel`),
/// and the others.
pub fn pick<'v, 'a>(
    plan: &Plan,
    owned: &HashSet<String>,
    order: Vec<&'v View<'a>>,
    slots: Option<usize>,
) -> (Vec<&'v View<'a>>, Vec<&'v View<'a>>) {
    let mut left = slots.unwrap_or(usize::MAX);
    let mut running = running_per_credential(plan, owned);
    let (mut now, mut wait) = (Vec::new(), Vec::new());
    for v in order {
        let label = credential(v.agent);
        // Nobody starts on a credential under quota (the others go on).
        let free = label
            .as_deref()
            .is_none_or(|l| crate::state::quota::active(&plan.state_dir, l).is_none());
        let fits = free
            && label.as_deref().is_none_or(|l| {
                plan.max_parallel_per.iter().all(|(key, cap)| {
                    !matches_credential(key, l)
                        || running.get(key).copied().unwrap_or(0) < *cap as usize
                })
            });
        if left > 0 && fits {
            left -= 1;
            if let Some(l) = &label {
                for key in plan
                    .max_parallel_per
                    .keys()
                    .filter(|k| matches_credential(k, l))
                {
                    *running.entry(key.clone()).or_default() += 1;
                }
            }
            now.push(v);
        } else {
            wait.push(v);
        }
    }
    (now, wait)
}

/// The quota its credential is under now, which holds the agent queued, if any.
pub fn under_quota(plan: &Plan, agent: &Agent) -> Option<crate::state::quota::Quota> {
    crate::state::quota::active(&plan.state_dir, &credential(agent)?)
}

/// The credential label an agent runs with (see [`crate::preset::credential`]).
fn credential(agent: &Agent) -> Option<String> {
    crate::preset::credential::label(agent.preset, &agent.env)
}

/// Does a key of `max_parallel:` (a CLI name or a whole label) name this label?
fn matches_credential(key: &str, label: &str) -> bool {
    key == label || label.split(':').next() == Some(key)
}

/// How many running agents each key of `max_parallel:`'s map counts now.
fn running_per_credential(
    plan: &Plan,
    owned: &HashSet<String>,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    if plan.max_parallel_per.is_empty() {
        return counts;
    }
    let all: Vec<&Agent> = plan.agents.iter().collect();
    for v in view::collect(plan, &all, owned, view::Detail::States) {
        if !v.state.active() {
            continue;
        }
        let Some(label) = credential(v.agent) else {
            continue;
        };
        for key in plan
            .max_parallel_per
            .keys()
            .filter(|k| matches_credential(k, &label))
        {
            *counts.entry(key.clone()).or_default() += 1;
        }
    }
    counts
}

/// Called by the runner once its agent's final record is written: start the queued agents
/// of its fleet while slots are free. Problems go to the agent's log, never stop the runner.
pub fn advance(spec: &Spec) {
    if let Err(e) = try_advance(spec) {
        if let Ok(mut log) = crate::util::append_private(&spec.log) {
            let _ = writeln!(log, "[fleet] cannot start the queued agents: {e:#}");
        }
    }
}

fn try_advance(spec: &Spec) -> Result<()> {
    // `.fleet/agents/<name>.json` → `.fleet/`.
    let Some(root) = spec.record.parent().and_then(Path::parent) else {
        return Ok(());
    };
    let dir = Dir::new(root);
    if !any_queued(&dir) {
        return Ok(());
    }
    let plan = crate::launch::load(Some(&spec.manifest))?;
    let _lock = dir.lock(LOCK_WAIT)?;
    crate::launch::spec::pass_on_path(spec.path.clone());
    start_queued(&plan, &dir)
}

/// Start the queued agents whose turn it is while slots are free (the caller holds the
/// `.fleet` lock): the runner of each agent that ends, and `up` once it recorded who waits
/// (an agent it started may have ended before that, when no record said queued yet).
pub fn start_queued(plan: &Plan, dir: &Dir) -> Result<()> {
    let sessions = tmux::sessions()?;
    let owned = view::owned(plan, &sessions);
    let slots = free_slots(plan, &owned);
    // (an agent may also wait on its credential's quota, recorded until `up` clears it)
    let quotas = std::fs::read_dir(crate::state::quota::dir(&dir.root))
        .is_ok_and(|mut d| d.next().is_some());
    if slots.is_none()
        && plan.max_parallel_per.is_empty()
        && plan.agents.iter().all(|a| a.after.is_empty())
        && !quotas
    {
        // `max_parallel` was removed from the manifest: `up` starts the rest.
        return Ok(());
    }
    let order = plan.in_order();
    // Those whose dependency ended without their work are blocked (and so on down the chain).
    let states = crate::view::gates::settled(plan, &owned);
    for a in &order {
        if let Some((State::Blocked, Some(why))) = states.get(&a.name) {
            let record = dir.record(&a.name);
            if record.as_ref().and_then(|r| r.state) == Some(State::Queued) {
                dir.write_record(
                    &a.name,
                    &crate::state::Record::blocked(record.as_ref(), why),
                )?;
            }
        }
    }
    let views = view::collect(plan, &order, &owned, view::Detail::States);
    let ready: Vec<&View> = views
        .iter()
        .filter(|v| v.state == State::Queued)
        .filter(|v| crate::view::gates::gate(v.agent, &states) == crate::view::gates::Gate::Ready)
        .collect();
    let (ready, _) = pick(plan, &owned, ready, slots);
    if ready.is_empty() {
        return Ok(());
    }
    let start = make_ready(plan, dir, ready)?;
    let exe = std::env::current_exe().context("cannot find the fleet executable")?;
    start_now(plan, dir, &start, true, false, &exe)
}

/// The branches and worktrees of the agents about to start that build on others, made now
/// from their dependencies' work (see [`pipeline::start_point`]); those that cannot start
/// are recorded blocked and left out.
fn make_ready<'v, 'a>(
    plan: &Plan,
    dir: &Dir,
    ready: Vec<&'v View<'a>>,
) -> Result<Vec<&'v View<'a>>> {
    if ready.iter().all(|v| v.agent.after.is_empty()) {
        return Ok(ready);
    }
    let worktrees = git::worktrees(&plan.repo)?;
    let (mut start, mut build_on) = (Vec::new(), Vec::new());
    for v in ready {
        if v.agent.after.is_empty() {
            start.push(v);
        } else if let Err(why) = pipeline::start_point(plan, dir, v.agent, &worktrees)? {
            dir.write_record(
                &v.agent.name,
                &crate::state::Record::blocked(v.record.as_ref(), &why),
            )?;
        } else {
            build_on.push(v);
        }
    }
    let branches = worktrees::branches(plan, &build_on, &worktrees)?;
    let common = git::common_dir(&plan.repo)?;
    let bar = indicatif::ProgressBar::hidden();
    let mut later = |_: &[&View]| Ok(());
    let made = worktrees::make(
        plan, dir, &build_on, &worktrees, &branches, &common, &bar, &mut later,
    )?;
    start.extend(made.into_iter().map(|(v, _)| v));
    Ok(start)
}

/// Does any agent record of this `.fleet/` say queued? (No manifest or tmux needed.)
fn any_queued(dir: &Dir) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.root.join("agents")) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        crate::state::read_json::<Record>(&e.path()).is_some_and(|r| r.state == Some(State::Queued))
    })
}

/// Create these agents' sessions (and, unless `monitor_alive`, the monitor) in one tmux
/// call, then mark them started: a record says `running` only once its session exists, so
/// no reader sees a starting agent `lost` (each agent's start lock, [`Dir::hold_start`],
/// keeps its runner from reading the record before it is written). On failure the agents
/// whose session did not come up keep their records. Shared by `up` and [`advance`].
pub fn start_now(
    plan: &Plan,
    dir: &Dir,
    start: &[&View],
    monitor_alive: bool,
    monitor_stale: bool,
    exe: &Path,
) -> Result<()> {
    let holds = start
        .iter()
        .map(|v| dir.hold_start(&v.agent.name))
        .collect::<Result<Vec<_>>>()?;
    let batch = sessions::sessions_batch(plan, dir, start, monitor_alive, monitor_stale, exe);
    let ran = sessions::create(dir, &batch);
    let alive = ran
        .is_err()
        .then(|| view::owned(plan, &tmux::sessions().unwrap_or_default()));
    let mut failed = Vec::new();
    let mut records = Vec::new();
    for v in start {
        if alive
            .as_ref()
            .is_some_and(|a| !a.contains(&v.agent.session))
        {
            failed.push(v.agent.name.as_str());
            continue;
        }
        // (read again: the branch of an agent that builds on others was just recorded)
        let mut record = dir
            .record(&v.agent.name)
            .filter(|r| r.state != Some(State::Damaged))
            .or_else(|| v.record.clone())
            .unwrap_or_default();
        record.begin();
        record.attempt += 1;
        records.push((v.agent.name.as_str(), record));
    }
    // (flushed together: one wait for the disk for the set, not one an agent)
    dir.write_records(&records)?;
    drop(holds);
    if let Err(e) = ran {
        let what = if failed.is_empty() {
            "cannot create the monitor's tmux session".to_string()
        } else {
            format!(
                "cannot create the tmux session of {} (not started; the others did)",
                failed.join(", ")
            )
        };
        return Err(e.context(format!(
            "{what}; fix what tmux says, then run `fleet up` again"
        )));
    }
    Ok(())
}
