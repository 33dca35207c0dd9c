//! `fleet up [NAMES…] [--dry-run] [--attach] [--rerun [--fresh]]`: worktrees and sessions for
//! the agents that are not running and not finished (finished ones too with `--rerun`, as
//! their next round: see [`crate::launch::next_round`]), then the monitor (unless `monitor:
//! enabled: false`). Idempotent. What it starts and
//! how is the launch layer's ([`crate::launch`]); this file holds the order and the words.
use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::UpArgs;
use crate::git;
use crate::hosts::ops::Said;
use crate::launch::choice::{self, Choice};
use crate::launch::hints::plural;
use crate::launch::worktrees::{self, Branches};
use crate::launch::{next_round, pipeline, preflight, queue, sessions, LOCK_WAIT};
use crate::manifest::{Agent, Plan};
use crate::state::Dir;
use crate::tmux;
use crate::util;
use crate::view::{self, View};

mod dry_run;
mod summary;
use dry_run::{dry_run, dry_run_hosts};
use summary::summary;

pub fn run(plan: &Plan, args: &UpArgs) -> Result<i32> {
    if args.attach && !plan.monitor_enabled {
        return crate::usage(format!(
            "--attach attaches to the monitor, and this fleet has none (monitor: enabled: false in {}); nothing was started: run `fleet up`, then `fleet attach NAME`, or enable the monitor",
            plan.manifest.display()
        ));
    }
    if plan.remote.is_empty() {
        return run_here(plan, args);
    }
    let names = plan.split_names(&args.names)?;
    if args.fresh && !names.hosts.is_empty() {
        let hosts: Vec<&str> = names.hosts.keys().map(String::as_str).collect();
        let msg = "--fresh reaches this machine's agents only: name them, and run those on";
        return crate::usage(format!("{msg} {} again with --rerun", hosts.join(", ")));
    }
    if args.dry_run {
        dry_run_hosts(plan, &names);
    }
    // Every host answers with the right fleet before anything starts anywhere.
    let links = if args.dry_run {
        Vec::new()
    } else {
        crate::hosts::ops::connect(plan, &names.hosts)?
    };
    let mut code = 0;
    if let Some(local) = &names.local {
        let here = UpArgs {
            names: local.clone(),
            dry_run: args.dry_run,
            attach: false,
            rerun: args.rerun,
            fresh: args.fresh,
        };
        code = run_here(plan, &here)?;
    }
    if args.dry_run {
        return Ok(code);
    }
    if names.local.is_none() {
        if let Some(note) = crate::launch::preflight::unseen_changes(plan) {
            crate::info!("{note}");
        }
    }
    let mut failed = Vec::new();
    let mut running = None;
    for (host, result) in crate::hosts::ops::up(plan, &links, &names.hosts, args.rerun) {
        match result {
            Ok(said) => {
                report_host(plan, &names, &host, &said);
                let first = summary::host_rows(&host, &said.agents).map(String::from);
                running = running.or(first);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failed.push(host);
            }
        }
    }
    if names.local.is_none() {
        // Nothing started here, so nothing built the monitor yet: its remote agents' panes.
        crate::hosts::remote::monitor_up(plan)?;
        if !util::quiet() {
            let mut owned = HashSet::new();
            owned.insert(plan.monitor_session());
            summary::hints(plan, &owned, running.as_deref());
        }
    }
    if !failed.is_empty() {
        bail!(
            "fleet up failed on host{} {}",
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        );
    }
    if args.attach {
        return attach_after(plan, args);
    }
    Ok(code)
}

/// What a host's `up` said (its warnings), and which of its agents are up.
fn report_host(plan: &Plan, names: &crate::manifest::Names, host: &str, said: &Said) {
    for line in said.stdout.lines().chain(said.stderr.lines()) {
        crate::info!("{host}: {line}");
    }
    let wanted = &names.hosts[host];
    let agents: Vec<String> = plan
        .remote_on(host)
        .iter()
        .map(|r| r.agent.name.clone())
        .filter(|n| wanted.is_empty() || wanted.contains(n))
        .collect();
    crate::info!("host {host}: up ({})", agents.join(", "));
}

/// `up` of this machine's agents.
fn run_here(plan: &Plan, args: &UpArgs) -> Result<i32> {
    let agents = pipeline::with_dependencies(plan, &args.names, plan.select(&args.names)?);
    let agents = pipeline::with_blocked_dependents(plan, agents);
    preflight::check_git_and_programs(plan, &agents)?;
    for w in &plan.warnings {
        eprintln!("warning: {}: {w}", plan.manifest.display());
    }
    let dir = Dir::new(&plan.state_dir);
    if args.dry_run {
        return start(plan, args, &agents, &dir);
    }
    let fresh = !dir.exists();
    let lock = dir.lock(LOCK_WAIT)?;
    // A credential's quota whose reset has passed holds nobody back any more.
    for label in crate::state::quota::clear_past(&dir.root) {
        crate::info!("the quota on {label} has reset: its agents may start");
    }
    let result = worktrees::recover(plan, &dir).and_then(|()| start(plan, args, &agents, &dir));
    drop(lock);
    if result.is_err() && fresh {
        // A refused first `up` leaves no `.fleet/` behind.
        dir.remove_if_unused();
    }
    result
}

/// `up` once the tools are checked (and, unless a dry run, under the lock).
fn start(plan: &Plan, args: &UpArgs, agents: &[&Agent], dir: &Dir) -> Result<i32> {
    // tmux's version, the sessions and the monitor's panes: one tmux process.
    let snap = tmux::snapshot(&plan.monitor_session())?;
    let owned = view::owned(plan, &snap.sessions);
    let worktrees = git::worktrees(&plan.repo)?;
    let views = view::collect(plan, agents, &owned, view::Detail::States);
    let rerun = args.rerun || args.fresh;
    let mut choice = choice::choose(plan, &views, &owned, &snap, rerun);
    choice::check(
        plan,
        dir,
        &choice,
        &views,
        &snap.sessions,
        &worktrees,
        rerun,
    )?;
    let mut next = next_round::plan(plan, &views, &choice.starting(), args.fresh)?;

    if choice.nothing_to_do() || (!args.attach && choice.nothing_new() && !live(plan, &owned)) {
        crate::info!(
            "nothing to do: {} already running, queued or finished (`fleet up --rerun NAME` runs a finished one again: from {}'s tip when its work is all in {}, else on its branch)",
            plural(views.len(), "agent"),
            plan.base,
            plan.base
        );
        summary(plan, agents, &owned, None)?;
        return attach_after(plan, args);
    }

    if !args.dry_run && !choice.to_start.is_empty() {
        if let Some(note) = crate::launch::preflight::unseen_changes(plan) {
            crate::info!("{note}");
        }
    }
    if !args.dry_run {
        next_round::apply(plan, dir, &mut next, &worktrees)?;
        crate::launch::choice::place_branches(plan, dir, &mut choice, &worktrees)?;
    }
    let branches = worktrees::branches(plan, &choice.to_start, &worktrees)?;
    let exe = std::env::current_exe().context("cannot find the fleet executable")?;
    if args.dry_run {
        next_round::print_dry(plan, dir, &next);
        return dry_run(plan, dir, &choice, &worktrees, &branches, &exe);
    }
    if let Some(code) = launch(plan, dir, &choice, &worktrees, branches, &exe, &next)? {
        return Ok(code);
    }
    let mut owned = owned;
    owned.extend(choice.now.iter().map(|v| v.agent.session.clone()));
    if plan.monitor_enabled {
        owned.insert(plan.monitor_session());
    } else {
        owned.remove(&plan.monitor_session());
    }
    summary(plan, agents, &owned, Some(&choice))?;
    attach_after(plan, args)
}

/// Whether any agent of this fleet here runs, waits or is queued: else a monitor would have
/// nothing to watch, and `up` that starts nobody builds none (`--attach` still does).
fn live(plan: &Plan, owned: &HashSet<String>) -> bool {
    let all: Vec<&Agent> = plan.agents.iter().collect();
    view::collect(plan, &all, owned, view::Detail::States)
        .iter()
        .any(|v| {
            use crate::state::State;
            v.session_alive || matches!(v.state, State::Queued | State::Running | State::Waiting)
        })
}

/// Make the worktrees and start each agent of `choice.now` as soon as its own worktree is
/// ready; then record the agents that wait as queued and (re)build the monitor. Some(exit
/// code) when interrupted before every worktree was ready.
fn launch(
    plan: &Plan,
    dir: &Dir,
    choice: &Choice,
    worktrees: &[git::Worktree],
    mut branches: Branches,
    exe: &Path,
    next: &[next_round::Next],
) -> Result<Option<i32>> {
    // Ctrl-C, SIGTERM and SIGHUP from here on finish the step at hand (the checkouts at
    // hand, the sessions being created), then stop: no new checkout, no new session; the
    // next `up` carries on. (SIGKILL: the next `up` takes apart and makes again the
    // worktrees this one began, see `recover`; no agent runs in one of those.)
    util::defer_interrupts();
    let common = worktrees::prepare(plan, dir, worktrees, &mut branches)?;
    let total = choice.to_start.len();
    let bar = worktrees::progress(total);
    let now: HashSet<&str> = choice.now.iter().map(|v| v.agent.name.as_str()).collect();
    let mut started = 0;
    let mut base = None;
    // Each agent starts once its worktree is ready: its round recorded, its session made.
    let mut start = |ready: &[&View]| -> Result<()> {
        let batch: Vec<&View> = ready
            .iter()
            .copied()
            .filter(|v| now.contains(v.agent.name.as_str()))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        next_round::record_with(plan, dir, &batch, next, &mut base)?;
        queue::start_now(plan, dir, &batch, true, false, exe)?;
        started += batch.len();
        Ok(())
    };
    let made = worktrees::make(
        plan,
        dir,
        &choice.to_start,
        worktrees,
        &branches,
        &common,
        &bar,
        &mut start,
    );
    bar.finish_and_clear();
    let ready = match made {
        Ok(ready) => ready,
        Err(e) if started > 0 => {
            util::default_interrupts();
            let of = plural(choice.now.len(), "agent");
            return Err(e.context(format!(
                "started {started} of {of}; fix this, then `fleet up` starts the others"
            )));
        }
        Err(e) => return Err(e),
    };
    if util::interrupted() || ready.len() < total {
        return interrupted(ready.len(), total, dir.half_made().len(), started).map(Some);
    }
    record_the_rest(plan, dir, choice, &now, next, &mut base)?;
    start_monitor_and_queue(plan, dir, choice, exe)?;
    report_started(plan, choice);
    Ok(None)
}

/// Record the agents that start later: the next round of those that start with the monitor
/// (not in `now`), `queued` for those that wait, `blocked` for the blocked.
fn record_the_rest(
    plan: &Plan,
    dir: &Dir,
    choice: &Choice,
    now: &HashSet<&str>,
    next: &[next_round::Next],
    base: &mut Option<Option<String>>,
) -> Result<()> {
    let later: Vec<&View> = choice
        .starting()
        .into_iter()
        .filter(|v| !now.contains(v.agent.name.as_str()))
        .collect();
    next_round::record_with(plan, dir, &later, next, base)?;
    for v in choice.wait.iter().chain(&choice.after_wait) {
        dir.write_record(
            &v.agent.name,
            &crate::state::Record::queued(v.record.as_ref()),
        )?;
    }
    for (v, why) in &choice.blocked {
        dir.write_record(
            &v.agent.name,
            &crate::state::Record::blocked(v.record.as_ref(), why),
        )?;
    }
    Ok(())
}

/// (Re)build the monitor and hand free slots to the queue, then let interrupts stop `up`
/// again.
fn start_monitor_and_queue(plan: &Plan, dir: &Dir, choice: &Choice, exe: &Path) -> Result<()> {
    let monitor = queue::start_now(
        plan,
        dir,
        &[],
        choice.monitor_alive,
        choice.monitor_stale,
        exe,
    );
    // An agent that started early may have ended before anyone was recorded as waiting:
    // its runner then found no queue. Its slot, or its work for an agent that builds on
    // it, goes to the queue now.
    let queued = if choice.wait.is_empty() && choice.after_wait.is_empty() {
        Ok(())
    } else {
        queue::start_queued(plan, dir)
    };
    util::default_interrupts();
    monitor?;
    queued?;
    Ok(())
}

/// The line saying what `up` started and what it queued, and why.
fn report_started(plan: &Plan, choice: &Choice) {
    crate::info!(
        "{}{}",
        started_what(plan, choice),
        match (choice.wait.len(), plan.max_parallel) {
            (0, _) => String::new(),
            (n, _) if let Some(spent) = budget_held(plan) => format!(
                "; {n} queued (fleet budget: {spent}): {}",
                names(&choice.wait)
            ),
            (n, k) => format!(
                "; {n} queued (max_parallel: {}): {}",
                k.map_or_else(|| "per credential".to_string(), |k| k.to_string()),
                names(&choice.wait)
            ),
        }
    );
}

/// The fleet's spend against its budget when it is in the reserve (nobody new starts).
fn budget_held(plan: &Plan) -> Option<String> {
    let (level, spent) = queue::budget(plan)?;
    (level >= crate::state::Level::Reserve).then(|| plan.budget.map(|b| b.describe(spent)))?
}

/// `started 2 agents and the monitor`; without agents started (all finished, or all wait
/// for others), only what happened to the monitor.
fn started_what(plan: &Plan, choice: &Choice) -> String {
    let monitor = match (choice.monitor_alive, choice.monitor_stale) {
        (true, _) => None,
        (false, true) if !plan.monitor_enabled => Some(format!(
            "closed the monitor {} (monitor: enabled: false)",
            plan.monitor_session()
        )),
        (false, true) => Some("rebuilt the monitor".to_string()),
        (false, false) => Some("started the monitor".to_string()),
    };
    match (choice.now.len(), monitor) {
        (0, Some(m)) => format!("{m} (no agent to start)"),
        (0, None) => "no agent to start".to_string(),
        (n, None) => format!("started {}", plural(n, "agent")),
        (n, Some(m)) => format!(
            "started {} and {}",
            plural(n, "agent"),
            m.strip_prefix("started ").unwrap_or(&m)
        ),
    }
}

fn names(views: &[&View]) -> String {
    let names: Vec<&str> = views.iter().map(|v| v.agent.name.as_str()).collect();
    names.join(", ")
}

/// Stopped by Ctrl-C (or SIGTERM) while preparing worktrees: say what is ready, what was
/// begun (`begun`: registered, not checked out) and how many agents started; exit 130.
fn interrupted(ready: usize, total: usize, begun: usize, started: usize) -> Result<i32> {
    use std::io::Write;
    let begun = match begun {
        0 => String::new(),
        n => {
            format!(" ({n} more begun: the next `fleet up` takes them apart and makes them again)")
        }
    };
    let started = match started {
        0 => "none started".to_string(),
        n => format!("{n} started"),
    };
    // (not eprintln!: after a hangup the terminal is gone, and that is no reason to panic)
    let _ = writeln!(
        std::io::stderr(),
        "fleet up: interrupted; {ready} of {} ready{begun}, {started}; run `fleet up` again to finish",
        plural(total, "worktree")
    );
    Ok(crate::util::interrupt_exit_code())
}

fn attach_after(plan: &Plan, args: &UpArgs) -> Result<i32> {
    if args.attach && !args.dry_run {
        sessions::attach(&plan.monitor_session())?;
    }
    Ok(0)
}
