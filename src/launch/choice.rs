//! Which agents `up` starts: those neither running nor finished (finished ones too with
//! `--rerun`), split by `max_parallel` into those that start now and those that wait; whether
//! the monitor is rebuilt; and the refusals that come before anything changes.
use std::collections::HashSet;

use anyhow::Result;

use crate::launch::hints::plural;
use crate::launch::{pipeline, queue, worktrees};
use crate::manifest::Plan;
use crate::state::{Dir, State};
use crate::view::View;
use crate::{git, monitor, tmux, usage, util};

/// What `up` is to do, worked out before anything changes.
pub struct Choice<'v, 'a> {
    /// The agents to start, now or once a slot frees.
    pub to_start: Vec<&'v View<'a>>,
    /// Those that start now.
    pub now: Vec<&'v View<'a>>,
    /// Those that wait for a slot (`max_parallel`).
    pub wait: Vec<&'v View<'a>>,
    /// Those that wait for the agents of their `after:` (nothing made for them yet).
    pub after_wait: Vec<&'v View<'a>>,
    /// Those that cannot start (a dependency failed, ...), with why.
    pub blocked: Vec<(&'v View<'a>, String)>,
    /// The monitor is left alone: it runs as it should, or it is off (`monitor: enabled:
    /// false`) and none runs.
    pub monitor_alive: bool,
    /// The monitor runs but is closed: built for another manifest, its panes changed by
    /// hand (then rebuilt), or the manifest turned it off (not rebuilt).
    pub monitor_stale: bool,
}

impl<'v, 'a> Choice<'v, 'a> {
    /// The agents this `up` starts or queues: those to start and those that wait for their
    /// `after:`.
    pub fn starting(&self) -> Vec<&'v View<'a>> {
        self.to_start
            .iter()
            .chain(&self.after_wait)
            .copied()
            .collect()
    }

    /// Nothing to start, queue or rebuild.
    pub fn nothing_to_do(&self) -> bool {
        self.nothing_new() && self.monitor_alive
    }

    /// Nothing to start or queue, and no monitor to close: at most a monitor to build.
    pub fn nothing_new(&self) -> bool {
        let newly_queued = self
            .wait
            .iter()
            .filter(|v| v.state != State::Queued)
            .count();
        let newly_waiting = self.after_wait.iter().any(|v| v.state != State::Queued);
        let newly_blocked = self.blocked.iter().any(|(v, why)| {
            v.state != State::Blocked
                || v.record.as_ref().and_then(|r| r.reason.as_deref()) != Some(why.as_str())
        });
        self.now.is_empty()
            && newly_queued == 0
            && !newly_waiting
            && !newly_blocked
            && !self.monitor_stale
    }
}

/// The [`Choice`] for these views of the agents named, given the sessions this fleet owns
/// and the monitor's panes in `snap`.
pub fn choose<'v, 'a>(
    plan: &Plan,
    views: &'v [View<'a>],
    owned: &HashSet<String>,
    snap: &tmux::Snapshot,
    rerun: bool,
) -> Choice<'v, 'a> {
    let to_start: Vec<&View> = views
        .iter()
        .filter(|v| match v.state {
            State::Running | State::Waiting => false,
            // Not on a guess: only when asked to run finished agents again.
            State::Damaged => rerun,
            s if s.finished() => rerun,
            // Queued agents start now if `max_parallel` has a free slot.
            _ => true,
        })
        .collect();
    let (to_start, after_wait, blocked) = pipeline::sort(plan, owned, to_start);
    let (now, wait) = queue::split(plan, owned, &to_start, queue::free_slots(plan, owned));
    // A monitor built for another list of agents or `per_window` (the manifest changed), or
    // with a pane closed, added or ended by hand, is rebuilt; one turned off, closed.
    let (monitor_alive, monitor_stale) = monitor::verdict(plan, owned, snap);
    Choice {
        monitor_alive,
        monitor_stale,
        to_start,
        now,
        wait,
        after_wait,
        blocked,
    }
}

/// Refuse, before anything changes: session names someone else holds, agents whose record
/// cannot be read (unless `rerun`), worktree paths and branches in the way, a lost agent
/// whose runner still runs.
pub fn check(
    plan: &Plan,
    dir: &Dir,
    choice: &Choice,
    views: &[View],
    sessions: &[tmux::Session],
    worktrees: &[git::Worktree],
    rerun: bool,
) -> Result<()> {
    check_taken(plan, choice, sessions)?;
    refuse_damaged(views, rerun)?;
    worktrees::check_worktrees(plan, &choice.to_start, worktrees)?;
    check_no_runner_left(dir, &choice.to_start)
}

/// Session names fleet would create but someone else holds.
fn check_taken(plan: &Plan, choice: &Choice, sessions: &[tmux::Session]) -> Result<()> {
    let monitor = plan.monitor_session();
    let mut wanted: Vec<&str> = choice
        .to_start
        .iter()
        .map(|v| v.agent.session.as_str())
        .collect();
    if !choice.monitor_alive && plan.monitor_enabled {
        wanted.push(&monitor);
    }
    let taken: Vec<&str> = wanted
        .into_iter()
        .filter(|w| sessions.iter().any(|s| s.name == *w && s.tag != plan.tag()))
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    usage(format!(
        "tmux session{} `{}` already exist{} and {} not made by this fleet ({}); rename or kill {}, or set `project:` in the manifest",
        if taken.len() == 1 { "" } else { "s" },
        taken.join("`, `"),
        if taken.len() == 1 { "s" } else { "" },
        if taken.len() == 1 { "was" } else { "were" },
        plan.manifest.display(),
        if taken.len() == 1 { "it" } else { "them" },
    ))
}

/// Agents whose record cannot be read are not started again on a guess (`--rerun` does).
fn refuse_damaged(views: &[View], rerun: bool) -> Result<()> {
    if rerun {
        return Ok(());
    }
    let damaged: Vec<String> = views
        .iter()
        .filter(|v| v.state == State::Damaged)
        .map(|v| {
            let why = v.record.as_ref().and_then(|r| r.reason.as_deref());
            format!("{}: {}", v.agent.name, why.unwrap_or("record damaged"))
        })
        .collect();
    if damaged.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "nothing was started: fleet cannot read the record of {}:\n  {}",
        plural(damaged.len(), "agent"),
        damaged.join("\n  ")
    )
}

/// Refuse to restart a lost agent whose runner still runs (its session went, it did not):
/// two agents would work in one worktree.
fn check_no_runner_left(dir: &Dir, to_start: &[&View]) -> Result<()> {
    let alive: Vec<String> = to_start
        .iter()
        .filter(|v| v.state == State::Lost)
        .filter_map(|v| {
            let pid = v.record.as_ref()?.pid?;
            util::runner_alive(pid, &dir.spec_path(&v.agent.name)).then(|| {
                format!(
                    "agent `{}`: its last run (pid {pid}) is still going though its session is gone; wait for it to end or stop it with `kill {pid}`, then run `fleet up` again",
                    v.agent.name
                )
            })
        })
        .collect();
    if alive.is_empty() {
        Ok(())
    } else {
        usage(format!(
            "cannot restart; nothing was changed:\n  {}",
            alive.join("\n  ")
        ))
    }
}

/// Make the branch of each agent of `choice` that starts from its dependencies' work (see
/// [`start_point`]); one that cannot start moves to the blocked.
pub fn place_branches(
    plan: &Plan,
    dir: &Dir,
    choice: &mut Choice,
    worktrees: &[git::Worktree],
) -> Result<()> {
    let mut refused = Vec::new();
    for v in choice.to_start.iter().filter(|v| !v.agent.after.is_empty()) {
        if let Err(why) = pipeline::start_point(plan, dir, v.agent, worktrees)? {
            refused.push((*v, why));
        }
    }
    for (v, why) in refused {
        let name = &v.agent.name;
        choice.to_start.retain(|x| &x.agent.name != name);
        choice.now.retain(|x| &x.agent.name != name);
        choice.wait.retain(|x| &x.agent.name != name);
        choice.blocked.push((v, why));
    }
    Ok(())
}
