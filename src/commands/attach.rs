//! `fleet attach [NAME]`: into an agent's session, or the monitor; an agent on another host
//! over `ssh -t` (in a new window when inside tmux). Without NAME in a fleet with no monitor
//! (`monitor: enabled: false`) it says so and names the agents, even when there is one: what
//! `attach` does never depends on how many agents there are.
use anyhow::Result;

use crate::cli::AttachArgs;
use crate::manifest::Plan;
use crate::state::{Dir, Record};
use crate::tmux;

pub fn run(plan: &Plan, args: &AttachArgs) -> Result<i32> {
    if let Some(r) = args.name.as_deref().and_then(|n| plan.remote_agent(n)) {
        let exe = std::env::current_exe()?;
        return crate::hosts::remote::attach(plan, r, &exe, args.here);
    }
    let (session, what) = match &args.name {
        Some(name) => {
            let agent = plan.agent(name)?;
            (agent.session.clone(), format!("agent `{name}`"))
        }
        None if !plan.monitor_enabled => anyhow::bail!("{}", no_monitor(plan)),
        None => (plan.monitor_session(), "the monitor".to_string()),
    };
    let sessions = tmux::sessions()?;
    if !crate::view::owned(plan, &sessions).contains(&session) {
        let state = args.name.as_deref().map(|n| {
            let record = Dir::new(&plan.state_dir).record(n);
            Record::derive(record.as_ref(), false)
        });
        let up = match (args.name.as_deref(), state) {
            // A finished agent: its log tells what it did; --rerun is its next round.
            (Some(n), Some(s)) if s.finished() => format!(
                "`{} logs {n}` shows what it did; {}",
                crate::launch::fleet_command(plan),
                crate::launch::next_round::rerun_hint(plan, plan.agent(n)?)
            ),
            (Some(n), Some(s)) => format!("start it with `{}`", crate::launch::up_hint(plan, n, s)),
            _ => format!("start it with `{} up`", crate::launch::fleet_command(plan)),
        };
        let state = state.map(|s| format!(" (state: {s})")).unwrap_or_default();
        anyhow::bail!("{what} has no tmux session{state}; {up}");
    }
    crate::launch::sessions::attach(&session)?;
    Ok(0)
}

/// Why `attach` without NAME has nothing to attach to, and the two ways on.
fn no_monitor(plan: &Plan) -> String {
    let names: Vec<&str> = plan
        .agents
        .iter()
        .chain(plan.remote.iter().map(|r| &r.agent))
        .map(|a| a.name.as_str())
        .collect();
    let fleet = crate::launch::fleet_command(plan);
    format!(
        "this fleet has no monitor (monitor: enabled: false in {}); attach to an agent with `{fleet} attach NAME` ({}), or enable the monitor (remove `enabled: false`) and run `{fleet} up`",
        plan.manifest.display(),
        names.join(", ")
    )
}
