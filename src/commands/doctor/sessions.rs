//! doctor's checks of tmux sessions and the agents' records: sessions this fleet tagged that
//! no agent owns (or whose manifest is gone), agents whose session vanished (lost), and a
//! queue nothing will start.
use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use crate::manifest::Plan;
use crate::state::{Dir, Record, State};
use crate::tmux;
use crate::util::shell_quote;

use super::Report;

/// Sessions tagged by this fleet that no agent of the manifest owns, sessions of fleets whose
/// manifest is gone, agents whose session vanished (lost), and a queue nothing will start.
pub(super) fn sessions(r: &mut Report, plan: &Plan) -> Result<()> {
    let all = tmux::sessions()?;
    let mut found = foreign_sessions(r, plan, &all);
    let owned = crate::view::owned(plan, &all);
    found |= lost_agents(r, plan, &owned);
    found |= stuck_queue(r, plan, &owned);
    if !found {
        r.ok("tmux sessions: none orphaned, no agent lost");
    }
    Ok(())
}

/// Sessions tagged by this fleet that no agent owns, and those of fleets whose manifest is
/// gone. True when it found one.
fn foreign_sessions(r: &mut Report, plan: &Plan, all: &[tmux::Session]) -> bool {
    let tag = plan.tag();
    let monitor = plan.monitor_session();
    let mut found = false;
    for s in all {
        let kill = format!(
            "tmux kill-session -t {}",
            shell_quote(&tmux::exact(&s.name))
        );
        if s.tag == tag {
            if s.name != monitor && !plan.agents.iter().any(|a| a.session == s.name) {
                found = true;
                r.problem(
                    format!(
                        "session {} is tagged by this fleet but no agent in the manifest has it",
                        s.name
                    ),
                    format!("{kill}   (or `fleet down`, which stops it too)"),
                );
            }
        } else if !s.tag.is_empty() && !Path::new(&s.tag).exists() {
            found = true;
            r.problem(
                format!(
                    "session {} belongs to a fleet whose manifest {} is gone",
                    s.name, s.tag
                ),
                kill,
            );
        }
    }
    found
}

/// Agents whose session vanished without an exit record. True when it found one.
fn lost_agents(r: &mut Report, plan: &Plan, owned: &HashSet<String>) -> bool {
    let dir = Dir::new(&plan.state_dir);
    let mut found = false;
    // The sessions listed again after a record said running (see `view::collect`): one
    // made meanwhile is a start, not a loss.
    let mut now: Option<HashSet<String>> = None;
    for a in &plan.agents {
        let record = dir.record(&a.name);
        if Record::derive(record.as_ref(), owned.contains(&a.session)) != State::Lost {
            continue;
        }
        let now = now
            .get_or_insert_with(|| crate::view::owned(plan, &tmux::sessions().unwrap_or_default()));
        if now.contains(&a.session) {
            continue;
        }
        found = true;
        let ghost = record
            .as_ref()
            .and_then(|r| r.pid)
            .filter(|pid| crate::util::runner_alive(*pid, &dir.spec_path(&a.name)));
        if let Some(pid) = ghost {
            r.problem(
                format!(
                    "agent {} lost its session {} but its last run (pid {pid}) is still going",
                    a.name, a.session
                ),
                format!(
                    "kill {pid}   (or wait for it to end), then {} up {}",
                    crate::launch::fleet_command(plan),
                    a.name
                ),
            );
            continue;
        }
        r.problem(
            format!(
                "agent {} is lost: it was running but its session {} is gone (tmux server ended?)",
                a.name, a.session
            ),
            format!(
                "{} up {}   (restarts it in its worktree, keeping its work)",
                crate::launch::fleet_command(plan),
                a.name
            ),
        );
    }
    found
}

/// Queued agents with none running to start them when it ends. True when so.
fn stuck_queue(r: &mut Report, plan: &Plan, owned: &HashSet<String>) -> bool {
    let dir = Dir::new(&plan.state_dir);
    let views: Vec<State> = plan
        .agents
        .iter()
        .map(|a| Record::derive(dir.record(&a.name).as_ref(), owned.contains(&a.session)))
        .collect();
    let queued: Vec<&str> = plan
        .agents
        .iter()
        .zip(&views)
        .filter(|(_, s)| **s == State::Queued)
        .map(|(a, _)| a.name.as_str())
        .collect();
    if queued.is_empty() || views.contains(&State::Running) {
        return false;
    }
    r.problem(
        format!(
            "{} queued but no agent is running to start {} when it ends",
            queued.join(", "),
            if queued.len() == 1 { "it" } else { "them" }
        ),
        format!("{} up", crate::launch::fleet_command(plan)),
    );
    true
}
