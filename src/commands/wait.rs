//! `fleet wait [NAMES…] [--timeout SECS]`: block until the agents finish. A progress bar on a
//! terminal (finished / total, the running ones named), plain lines otherwise. Exit 0 when all
//! are done, 1 when any failed, was stopped, was lost, is blocked or never started, 124 on timeout.
//! Agents on other hosts are asked through their host's fleet ([`Waiter`]); a host that
//! stops answering has its agents `unreachable` (exit 1), see `hosts::remote`.
use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::WaitArgs;
use crate::hosts::remote::{Awaited, Waiter};
use crate::manifest::Plan;
use crate::state::State;
use crate::view::{collect, Detail, View};
use crate::{tmux, util};

const POLL: Duration = Duration::from_millis(500);
pub const TIMED_OUT: i32 = 124;
const INTERRUPTED: i32 = 130;

/// An agent `wait` no longer waits for. Pending means never started: nobody will start it,
/// so waiting would never end.
fn ended(state: State) -> bool {
    !matches!(state, State::Running | State::Waiting | State::Queued)
}

/// How a finished agent is told: `agent1 failed (exit 3) after 12s`.
fn describe(v: &View) -> String {
    let state = match v.record.as_ref().and_then(|r| r.reason.as_deref()) {
        Some(r) => v.state.with_reason(r),
        _ => v.state.to_string(),
    };
    let took = match v.state {
        State::Pending => " (never started; `fleet up` starts it)".to_string(),
        _ => v
            .runtime()
            .map(|s| format!(" after {}", util::duration(s)))
            .unwrap_or_default(),
    };
    format!("{} {state}{took}", v.agent.name)
}

pub fn run(plan: &Plan, args: &WaitArgs) -> Result<i32> {
    let split = plan.split_names(&args.names)?;
    let agents = match &split.local {
        Some(names) => plan.select(names)?,
        None => Vec::new(),
    };
    let mut remote = Waiter::new(plan, &split.hosts);
    util::defer_interrupts_quietly();
    let deadline = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    let bar = progress_bar(agents.len() + remote.len())?;
    let say = |line: String| match &bar {
        Some(b) => b.println(line),
        None => println!("{line}"),
    };
    // A host that stops (or starts again) answering: on stderr, or above the bar.
    let warn = |line: String| match &bar {
        Some(b) => b.println(format!("warning: {line}")),
        None => eprintln!("warning: {line}"),
    };
    let mut told: HashSet<String> = HashSet::new();
    let (code, summary) = loop {
        let mut all: Vec<Awaited> = Vec::new();
        if !agents.is_empty() {
            let sessions = tmux::sessions()?;
            let owned = crate::view::owned(plan, &sessions);
            let views = collect(plan, &agents, &owned, Detail::States);
            all.extend(views.iter().map(awaited));
        }
        all.extend(remote.poll(&warn));
        for a in all.iter().filter(|a| a.ended) {
            if told.insert(a.name.clone()) {
                say(a.told.clone());
            }
        }
        let running: Vec<&str> = all
            .iter()
            .filter(|a| !a.ended)
            .map(|a| a.name.as_str())
            .collect();
        if let Some(b) = &bar {
            b.set_position(told.len() as u64);
            b.set_message(if running.is_empty() {
                String::new()
            } else {
                format!("running: {}", running.join(", "))
            });
        }
        if running.is_empty() {
            break outcome(&all);
        }
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if timed_out || util::interrupted() {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            return Ok(gave_up(timed_out, args, &running));
        }
        let nap = deadline.map_or(POLL, |d| {
            POLL.min(d.saturating_duration_since(Instant::now()))
        });
        util::sleep_unless_interrupted(nap);
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    println!("{summary}");
    Ok(code)
}

/// An agent of this machine as `wait` counts it.
fn awaited(v: &View) -> Awaited {
    Awaited {
        name: v.agent.name.clone(),
        ended: ended(v.state),
        done: v.state == State::Done,
        told: describe(v),
    }
}

/// On a terminal, a bar of `total` agents finished (the running ones named); else none.
fn progress_bar(total: usize) -> Result<Option<ProgressBar>> {
    if !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:24}] {pos}/{len} finished  {elapsed}  {wide_msg}",
        )?
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    Ok(Some(bar))
}

/// All awaited agents ended: exit 0 and `N of N done` when every one is done, else 1 naming
/// those that are not (`N of M done; not done: …`).
fn outcome(views: &[Awaited]) -> (i32, String) {
    let bad: Vec<&str> = views
        .iter()
        .filter(|v| !v.done)
        .map(|v| v.name.as_str())
        .collect();
    if bad.is_empty() {
        return (0, format!("{n} of {n} done", n = views.len()));
    }
    let done = views.len() - bad.len();
    (
        1,
        format!(
            "{done} of {} done; not done: {}",
            views.len(),
            bad.join(", ")
        ),
    )
}

/// Stopped waiting before the agents ended (timeout or Ctrl-C): say so, naming those still
/// running; the exit code.
fn gave_up(timed_out: bool, args: &WaitArgs, running: &[&str]) -> i32 {
    let why = if timed_out {
        format!(
            "timed out after {}",
            util::duration(args.timeout.unwrap_or(0))
        )
    } else {
        "interrupted".to_string()
    };
    eprintln!("{why}; still running: {}", running.join(", "));
    if timed_out {
        TIMED_OUT
    } else {
        INTERRUPTED
    }
}
