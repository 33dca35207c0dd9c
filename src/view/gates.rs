//! Where each agent stands with the agents of its `after:`: ready, waiting, or `blocked`
//! (one failed, was stopped or lost, is blocked itself), read from the records and the live
//! sessions. Every reader of the fleet sees a queued agent whose dependency cannot come as
//! `blocked`, even before a runner wrote so.
use std::collections::{HashMap, HashSet};

use crate::manifest::{Agent, Plan};
use crate::state::{Dir, Record, State};

use super::View;

/// Each agent's state and reason, by name.
pub type States = HashMap<String, (State, Option<String>)>;

/// Where an agent stands with the agents of its `after:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// All of them are done (or it has none).
    Ready,
    /// Some are still to run or running.
    Wait,
    /// One cannot bring its work: the reason names it (`api failed`).
    Blocked(String),
}

/// The gate of `agent` given the states of the others.
pub fn gate(agent: &Agent, states: &States) -> Gate {
    let mut wait = false;
    for dep in &agent.after {
        match states.get(dep).map(|s| s.0) {
            Some(State::Done) => {}
            Some(
                s
                @ (State::Failed | State::Stopped | State::Lost | State::Blocked | State::Damaged),
            ) => return Gate::Blocked(format!("{dep} {s}")),
            _ => wait = true,
        }
    }
    if wait {
        Gate::Wait
    } else {
        Gate::Ready
    }
}

/// The state of each of this machine's agents as its record and session tell it, a queued
/// agent whose dependency cannot come counted `blocked` (with the reason) even before a
/// runner wrote so (a dependency lost with its session writes nothing).
pub fn settled(plan: &Plan, owned: &HashSet<String>) -> States {
    let dir = Dir::new(&plan.state_dir);
    let mut states = States::new();
    for a in plan.in_order() {
        let record = dir.record(&a.name);
        let state = Record::derive(record.as_ref(), owned.contains(&a.session));
        let reason = record.and_then(|r| r.reason);
        let entry = match gate(a, &states) {
            Gate::Blocked(why) if state == State::Queued => (State::Blocked, Some(why)),
            _ => (state, reason),
        };
        states.insert(a.name.clone(), entry);
    }
    states
}

/// Show queued agents whose dependency cannot come as `blocked` (see [`settled`]).
pub fn settle_views(plan: &Plan, views: &mut [View], owned: &HashSet<String>) {
    let waits = |v: &View| v.state == State::Queued && !v.agent.after.is_empty();
    if !views.iter().any(waits) {
        return;
    }
    let states = settled(plan, owned);
    for v in views.iter_mut().filter(|v| waits(v)) {
        if let Some((State::Blocked, why)) = states.get(&v.agent.name) {
            v.state = State::Blocked;
            let mut r = v.record.clone().unwrap_or_default();
            r.reason = why.clone();
            v.record = Some(r);
        }
    }
}
