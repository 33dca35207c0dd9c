//! `fleet status` of a fleet with agents on other hosts: this machine's agents and each
//! host's (one ssh connection per host, all at once), merged: `host` in `--json` (`local`
//! here), a HOST column in the table. A host that does not answer has its agents
//! `unreachable`, the reason naming the host; the others are reported as usual. `--watch`
//! merges what its board heard last the same way ([`host_agents`]).
use anyhow::Result;
use serde_json::{json, Value};

use super::show::to_json;
use crate::hosts::asker::{Answer, Ask};
use crate::manifest::Plan;
use crate::tmux;
use crate::view::radar::Overlap;
use crate::view::{collect, owned, Detail};

/// What `status` of a fleet with hosts shows: the agents' objects of `status --json`, each
/// with its `host`; whether the monitor runs here; the radar's overlaps among them all and
/// its lines under the table.
pub struct Fleet {
    pub agents: Vec<Value>,
    pub monitor: bool,
    pub overlaps: Vec<Overlap>,
    pub lines: String,
    /// This machine's agents' conversations, by name (for `told`).
    pub sessions: std::collections::BTreeMap<String, String>,
}

/// The whole fleet of `names` (all when empty): this machine's agents and each host's.
pub fn agents(plan: &Plan, names: &[String]) -> Result<Fleet> {
    let split = plan.split_names(names)?;
    let sessions = tmux::sessions()?;
    let owned = owned(plan, &sessions);
    let mut out = Vec::new();
    let local = match &split.local {
        Some(local) => plan.select(local)?,
        None => Vec::new(),
    };
    let views = collect(plan, &local, &owned, Detail::Full);
    if split.local.is_some() {
        let value = to_json(plan, &views, false);
        out.extend(value["agents"].as_array().cloned().unwrap_or_default());
    }
    for (host, answer) in crate::hosts::ops::status(plan, &split.hosts) {
        match &answer {
            Err(e) => eprintln!("warning: {e:#}"),
            Ok(s) => s
                .fetch_problem
                .iter()
                .for_each(|p| eprintln!("warning: {p}")),
        }
        let answer = answer.map(|s| s.agents).map_err(|e| format!("{e:#}"));
        out.extend(host_agents(plan, &host, &split.hosts[&host], Some(&answer)));
    }
    let remote = super::overlaps::remote_works(plan, &out);
    let overlaps = super::overlaps::overlaps(plan, &super::overlaps::works(&views), &remote);
    let lines = super::overlaps::lines(plan, &views, &overlaps);
    let sessions = crate::view::notice::sessions(&views);
    Ok(Fleet {
        sessions,
        agents: out,
        monitor: owned.contains(&plan.monitor_session()),
        overlaps,
        lines,
    })
}

/// The objects of the agents of `host` (those of `wanted`, all when empty), each with its
/// `host`, from what the host answered: as it reports them (`pending` when it does not know
/// one), all `unreachable` when it did not answer (the reason naming the host), all
/// `connecting` before its first answer (`--watch`).
pub fn host_agents(
    plan: &Plan,
    host: &str,
    wanted: &[String],
    answer: Option<&Answer>,
) -> Vec<Value> {
    let remote = plan
        .remote_on(host)
        .into_iter()
        .filter(|r| wanted.is_empty() || wanted.contains(&r.agent.name));
    let mut out = Vec::new();
    for r in remote {
        let mut a = match answer {
            Some(Ok(agents)) => agents
                .iter()
                .find(|a| a["name"] == r.agent.name.as_str())
                .cloned()
                .unwrap_or_else(|| placeholder(&r.agent, "pending", None)),
            Some(Err(e)) => placeholder(&r.agent, "unreachable", Some(e.clone())),
            None => placeholder(&r.agent, CONNECTING, None),
        };
        a["host"] = host.into();
        out.push(a);
    }
    out
}

/// The state `status --watch` shows of the agents of a host it has not heard from yet.
pub const CONNECTING: &str = "connecting";

/// The hosts of `names` and the agents asked about there (empty: all), for a
/// [`crate::hosts::asker::Board`].
pub fn asks(plan: &Plan, names: &[String]) -> Result<Vec<Ask>> {
    let split = plan.split_names(names)?;
    Ok(split
        .hosts
        .into_iter()
        .filter_map(|(h, names)| Some((plan.hosts.get(&h)?.clone(), names)))
        .collect())
}

/// An agent its host did not report: every field of `status --json`, nothing known.
fn placeholder(agent: &crate::manifest::Agent, state: &str, reason: Option<String>) -> Value {
    json!({
        "name": agent.name, "state": state, "exit_code": null, "reason": reason,
        "attempt": 0, "session": agent.session, "branch": agent.branch, "worktree": null,
        "log": null, "started_at": null, "finished_at": null, "commits_ahead": 0,
        "files_changed": 0, "insertions": 0, "deletions": 0, "last_line": "", "usage": null,
        "session_id": null, "permissions": null, "denials": 0, "verify_retry": 0,
        "retry_at": null, "retrying": null, "quota": null, "uncommitted": false, "uncommitted_paths": [],
        "after": agent.after,
        "label": null, "runtime_secs": null, "sandbox": agent.sandbox, "ports": {},
    })
}

/// `status --json` of the whole fleet.
pub fn json(plan: &Plan, names: &[String]) -> Result<Value> {
    let fleet = agents(plan, names)?;
    let told = crate::view::notice::Told::read(&plan.state_dir);
    let overlaps: Vec<Value> = fleet
        .overlaps
        .iter()
        .map(|o| crate::view::notice::to_json(plan, &told, &fleet.sessions, o))
        .collect();
    Ok(json!({
        "project": plan.project,
        "manifest": plan.manifest,
        "monitor": super::show::monitor_json(plan, fleet.monitor),
        "agents": fleet.agents,
        "overlaps": overlaps,
    }))
}

/// The table of the whole fleet, with a HOST column, the radar's lines under it.
pub fn table(plan: &Plan, names: &[String], width: usize) -> Result<String> {
    let fleet = agents(plan, names)?;
    Ok(format!(
        "{}{}{}",
        table_of(&fleet.agents, width),
        fleet.lines,
        super::monitor_line(plan, fleet.monitor)
    ))
}

/// The table of agents' objects (each with its `host`), cut to `width` columns: what
/// `status` of a fleet with hosts shows.
fn table_of(agents: &[Value], width: usize) -> String {
    let cells: Vec<super::show::Cells> = agents.iter().map(super::show::Cells::of_json).collect();
    super::show::table(&cells, width, crate::util::color_stdout())
}
