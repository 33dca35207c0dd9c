//! The radar in `status`: the overlaps among this machine's agents and those of other hosts
//! (what it knows of the latter: [`remote_works`]),
//! and the lines under the table. `--watch` (the monitor's status pane) looks again when this
//! machine's git work is refreshed, or when a host's answer changed what the radar compares
//! (an agent's commit or its uncommitted paths there), and keeps the lines in between.
use serde_json::Value;

use crate::launch::fleet_command;
use crate::manifest::Plan;
use crate::util;
use crate::view::radar::{self, Overlap, Work};
use crate::view::{notice, View};

/// What `--watch` keeps between frames.
#[derive(Default)]
pub struct Kept {
    /// The lines under the table.
    pub lines: String,
    /// This machine's agents' work at the last git refresh.
    local: Vec<(String, Work)>,
    /// What the hosts said that the radar compares: (name, head, paths) of each agent.
    said: Vec<(String, Value, Value)>,
}

/// Each view's name and work (what the radar compares).
pub fn works(views: &[View]) -> Vec<(String, Work)> {
    views
        .iter()
        .map(|v| (v.agent.name.clone(), v.work.clone()))
        .collect()
}

/// The radar's overlaps among this machine's agents (`local`) and the agents of other
/// hosts (`remote`, see [`remote_works`]), names and work; none with `radar: off`.
pub fn overlaps(plan: &Plan, local: &[(String, Work)], remote: &[(String, Work)]) -> Vec<Overlap> {
    if plan.radar == crate::manifest::Radar::Off {
        return Vec::new();
    }
    let works: Vec<(&str, &Work)> = local
        .iter()
        .chain(remote)
        .map(|(n, w)| (n.as_str(), w))
        .collect();
    radar::overlaps_of(&plan.repo, &plan.state_dir, &works)
}

/// The radar's lines: one per pair of agents whose work touches the same files, then (with
/// `radar: tell`) the agents of this machine that ended before they heard of theirs.
pub fn lines(plan: &Plan, views: &[View], found: &[Overlap]) -> String {
    let mut lines: String = found
        .iter()
        .map(|o| format!("{}\n", util::display_text(&o.line())))
        .collect();
    for name in notice::unheard(plan, views, found) {
        lines.push_str(&format!(
            "radar: {name} ended before it heard of its overlaps; `{} continue {name} -m …` tells it with the follow-up\n",
            fleet_command(plan)
        ));
    }
    lines
}

/// A frame of `--watch`: look again when `views` carry fresh git work (`full`) or what the
/// hosts answered (`heard`) changed what the radar compares; else keep the lines.
pub fn refresh(
    plan: &Plan,
    views: &[View],
    full: bool,
    heard: Option<&crate::hosts::asker::Heard>,
    kept: &mut Kept,
) {
    // The hosts' agents as their fleets last answered, each with its host.
    let answered: Vec<Value> = heard
        .into_iter()
        .flat_map(|h| h.iter())
        .filter_map(|(host, a)| Some((host, a.as_ref().ok()?)))
        .flat_map(|(host, agents)| {
            agents.iter().map(move |a| {
                let mut a = a.clone();
                a["host"] = host.as_str().into();
                a
            })
        })
        .collect();
    let said: Vec<(String, Value, Value)> = answered
        .iter()
        .map(|a| {
            let name = a["name"].as_str().unwrap_or_default().to_string();
            (name, a["head"].clone(), a["uncommitted_paths"].clone())
        })
        .collect();
    if !full && said == kept.said {
        return;
    }
    if full {
        kept.local = works(views);
    }
    kept.said = said;
    let remote = remote_works(plan, &answered);
    let found = overlaps(plan, &kept.local, &remote);
    kept.lines = lines(plan, views, &found);
}

/// What the radar knows of the agents of other hosts among `agents` (objects of `status
/// --json` with their `host`): the paths their fleets reported uncommitted, and their
/// branch's commit when that is the one fetched here (what `status` fetched last; `status
/// --watch` asks the hosts and fetches nothing). One `git for-each-ref`, none when no agent
/// of a host has started.
pub fn remote_works(plan: &Plan, agents: &[Value]) -> Vec<(String, Work)> {
    let remote: Vec<&Value> = agents
        .iter()
        .filter(|a| {
            a["host"]
                .as_str()
                .is_some_and(|h| h != crate::manifest::LOCAL)
        })
        .filter(|a| !a["started_at"].is_null())
        .collect();
    if remote.is_empty() {
        return Vec::new();
    }
    // One git process: the fetched branches and the base's commit.
    let fetched = crate::git::ref_oids(&plan.repo, "refs/").unwrap_or_default();
    let base = match fetched.get(&format!("refs/heads/{}", plan.base)) {
        Some(oid) => Some(oid.clone()),
        None => crate::git::commit_oid(&plan.repo, &plan.base)
            .ok()
            .flatten(),
    };
    remote
        .into_iter()
        .filter_map(|a| {
            let name = a["name"].as_str()?;
            let host = a["host"].as_str()?;
            let r = plan.remote_agent(name)?;
            let here = fetched.get(&crate::hosts::ops::fetched_ref(host, &r.agent.branch));
            // A fleet that says no `head` (git older than 2.41) has its branch fetched each time.
            let head = match a["head"].as_str() {
                Some(h) => here.filter(|f| *f == h),
                None => here,
            };
            let paths = a["uncommitted_paths"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter_map(|p| p.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            Some((
                name.to_string(),
                Work {
                    head: head.cloned(),
                    base: base.clone(),
                    paths,
                },
            ))
        })
        .collect()
}
