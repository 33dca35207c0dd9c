//! What `up` prints once it is done: a line per agent as it is now, the agents still waiting
//! for their `after:` and those blocked (as the rows above say, not as they were when `up`
//! chose them), the agents started on other hosts as their fleets say, and how to watch,
//! attach, ask and stop.
use std::collections::HashSet;

use anyhow::Result;
use serde_json::Value;

use crate::launch::choice::Choice;
use crate::manifest::{Agent, Plan};
use crate::state::State;
use crate::util;
use crate::view;

/// A line per agent, what waits or is blocked, then how to watch and attach.
pub(super) fn summary(
    plan: &Plan,
    agents: &[&Agent],
    owned: &HashSet<String>,
    choice: Option<&Choice>,
) -> Result<()> {
    if util::quiet() {
        return Ok(());
    }
    let views = view::collect(plan, agents, owned, view::Detail::States);
    let w = agents
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let bw = agents
        .iter()
        .map(|a| a.branch.len())
        .max()
        .unwrap_or(6)
        .max(6);
    // Only what is there: a worktree removed by `down --rm-worktrees`, or a session closed,
    // is said to be gone, not listed as if it were.
    for v in &views {
        let worktree = worktree_column(v);
        let session = if v.session_alive {
            format!("session {}", v.agent.session)
        } else {
            "no session".to_string()
        };
        println!(
            "  {:<w$}  {:<8} {:<bw$}  {worktree}  ({session})",
            v.agent.name,
            v.state.as_str(),
            v.agent.branch,
        );
    }
    if let Some(choice) = choice {
        let waiting: Vec<String> = choice
            .after_wait
            .iter()
            .filter(|c| {
                views
                    .iter()
                    .any(|v| v.agent.name == c.agent.name && v.state == State::Queued)
            })
            .map(|v| format!("{} (after {})", v.agent.name, v.agent.after.join(", ")))
            .collect();
        if !waiting.is_empty() {
            crate::info!(
                "waiting for the agents they build on: {}",
                waiting.join(", ")
            );
        }
    }
    for v in views.iter().filter(|v| v.state == State::Blocked) {
        if let Some(why) = v.record.as_ref().and_then(|r| r.reason.as_deref()) {
            crate::info!("{} is blocked: {why}", v.agent.name);
        }
    }
    // Attach to one that runs: a finished agent's pane only shows its end.
    let running = views
        .iter()
        .find(|v| v.session_alive && matches!(v.state, State::Running | State::Waiting))
        .map(|v| v.agent.name.as_str());
    hints(plan, owned, running);
    Ok(())
}

/// Where an agent's worktree is, as `up` lists it: its path, when it is there; when it will
/// be made, for an agent waiting for its `after:`; none while blocked; else that it is gone.
fn worktree_column(v: &view::View) -> String {
    let waits = matches!(v.state, State::Queued | State::Pending);
    if v.agent.worktree.is_dir() {
        v.agent.worktree.display().to_string()
    } else if !v.agent.after.is_empty() && v.record.is_some() && waits {
        format!(
            "(worktree made once {} {} done)",
            v.agent.after.join(" and "),
            if v.agent.after.len() == 1 {
                "is"
            } else {
                "are"
            }
        )
    } else if v.state == State::Blocked && !v.agent.after.is_empty() {
        "(no worktree: blocked)".to_string()
    } else {
        format!("(no worktree: {} gone)", v.agent.worktree.display())
    }
}

/// How to watch, attach (to `running`, an agent that runs), ask and stop.
pub(super) fn hints(plan: &Plan, owned: &HashSet<String>, running: Option<&str>) {
    let fleet = crate::launch::fleet_command(plan);
    if !plan.monitor_enabled {
        println!("watch:   {fleet} status --watch  (no monitor: monitor: enabled: false)");
    } else if owned.contains(&plan.monitor_session()) {
        println!(
            "watch:   {fleet} attach  (the monitor, {})",
            plan.monitor_session()
        );
    }
    if let Some(name) = running {
        println!("attach:  {fleet} attach {name}");
    }
    println!("status:  {fleet} status");
    println!("stop:    {fleet} down");
}

/// The agents `up` started on `host`, a line each as its fleet there says (`status --json`),
/// like the lines of this machine's agents; the first that runs, for the attach hint.
pub(super) fn host_rows<'v>(host: &str, agents: &'v [Value]) -> Option<&'v str> {
    if util::quiet() {
        return None;
    }
    let text = |a: &Value, k: &str| a[k].as_str().unwrap_or("").to_string();
    let w = agents
        .iter()
        .map(|a| text(a, "name").len())
        .max()
        .unwrap_or(5)
        .max(5);
    for a in agents {
        println!(
            "  {:<w$}  {:<8} {}  (on host {host})",
            text(a, "name"),
            text(a, "state"),
            text(a, "branch"),
        );
    }
    agents
        .iter()
        .find(|a| a["state"] == "running")
        .and_then(|a| a["name"].as_str())
}
