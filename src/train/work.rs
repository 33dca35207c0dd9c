//! The agents the merge train takes, and what it knows of each: where its work is here (its
//! branch, or for an agent on another host the branch just fetched from there) and its
//! state (from its record and session here, or as its host's fleet says). One link per
//! host ([`crate::hosts::ops::fetch_agents`]) answers for all of that host's agents.
use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::git;
use crate::hosts::ops;
use crate::manifest::{Agent, Plan};
use crate::state::State;
use crate::view::{self, View};

/// An agent as the train takes it.
pub struct Work<'a> {
    pub agent: &'a Agent,
    /// The ref of its work here: `refs/heads/BRANCH`, or `refs/remotes/fleet-HOST/BRANCH`
    /// as fetched from its host.
    pub tip_ref: String,
    pub state: State,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    /// Its host, for an agent on another host (its worktree is there).
    pub host: Option<&'a str>,
    /// Its worktree on its host has uncommitted changes (as its host's fleet says).
    pub remote_uncommitted: bool,
    /// Why there is no work to merge at all (no branch yet, its host not answering).
    pub missing: Option<String>,
}

impl<'a> Work<'a> {
    /// An agent of this machine as `v` shows it.
    fn local(plan: &Plan, v: &View<'a>, exists: bool) -> Work<'a> {
        let agent = v.agent;
        let record = v.record.as_ref();
        Work {
            agent,
            tip_ref: format!("refs/heads/{}", agent.branch),
            state: v.state,
            reason: record.and_then(|r| r.reason.clone()),
            exit_code: record.and_then(|r| r.exit_code),
            host: None,
            remote_uncommitted: false,
            missing: (!exists).then(|| {
                format!(
                    "{} has no branch {} yet, so nothing to merge (`{}` starts it)",
                    agent.name,
                    agent.branch,
                    crate::launch::up_hint(plan, &agent.name, v.state)
                )
            }),
        }
    }

    /// Read this machine's agent's state again (the train checks it again before its merge).
    pub fn refresh(&mut self, plan: &Plan) -> Result<()> {
        if self.host.is_some() {
            return Ok(());
        }
        let (v, _) = view::state_of(plan, self.agent)?;
        let exists = git::branch_exists(&plan.repo, &self.agent.branch)?;
        *self = Work::local(plan, &v, exists);
        Ok(())
    }
}

/// The agents named (every agent with `all`), this machine's in dependency order
/// ([`Plan::in_order`]: `after:`, manifest order breaking ties), then those on other hosts
/// by host (`after:` never crosses hosts). A host that cannot be asked refuses a named agent of it (an
/// error); with `all`, its agents are kept as missing, saying why.
pub fn gather<'a>(plan: &'a Plan, names: &[String], all: bool) -> Result<Vec<Work<'a>>> {
    let remote_named = |n: &String| plan.remote.iter().any(|r| &r.agent.name == n);
    let local_names: Vec<String> = names.iter().filter(|n| !remote_named(n)).cloned().collect();
    let local: Vec<&Agent> = match (all, local_names.is_empty()) {
        (true, _) => plan.in_order(),
        (false, true) => Vec::new(),
        (false, false) => {
            // Known names (an unknown one is a usage error), in dependency order.
            plan.select(&local_names)?;
            plan.in_order()
                .into_iter()
                .filter(|a| local_names.contains(&a.name))
                .collect()
        }
    };
    let sessions = crate::tmux::sessions()?;
    let owned = view::owned(plan, &sessions);
    let views = view::collect(plan, &local, &owned, view::Detail::States);
    let branches: Vec<&str> = local.iter().map(|a| a.branch.as_str()).collect();
    let existing = git::existing_branches(&plan.repo, &branches)?;
    let mut works: Vec<Work> = views
        .iter()
        .map(|v| Work::local(plan, v, existing.contains(&v.agent.branch)))
        .collect();
    let mut by_host: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &plan.remote {
        if all || names.contains(&r.agent.name) {
            by_host
                .entry(&r.host)
                .or_default()
                .push(r.agent.name.clone());
        }
    }
    for (host, names) in by_host {
        works.extend(remote(plan, host, &names, all)?);
    }
    Ok(works)
}

/// The agents `names` of `host`: their branches fetched and their states asked over one
/// link.
fn remote<'a>(plan: &'a Plan, host: &'a str, names: &[String], all: bool) -> Result<Vec<Work<'a>>> {
    let agents: Vec<&'a Agent> = plan
        .remote_on(host)
        .into_iter()
        .filter(|r| names.contains(&r.agent.name))
        .map(|r| &r.agent)
        .collect();
    let fetched = match ops::fetch_agents(plan, host, names) {
        Ok(f) => f,
        Err(e) if !all => bail!(
            "not merging {}: {} on host {host}, which cannot be asked now: {e:#}",
            names.join(", "),
            if names.len() == 1 {
                "it runs"
            } else {
                "they run"
            }
        ),
        Err(e) => {
            let why = format!("it runs on host {host}, which cannot be asked now: {e:#}");
            return Ok(agents
                .into_iter()
                .map(|a| unreachable(a, host, &why))
                .collect());
        }
    };
    let mut works = Vec::new();
    for agent in agents {
        let Some(f) = fetched.iter().find(|f| f.name == agent.name) else {
            works.push(unreachable(
                agent,
                host,
                &format!("host {host} did not report it"),
            ));
            continue;
        };
        let text = |k: &str| f.status[k].as_str().map(str::to_string);
        works.push(Work {
            agent,
            tip_ref: f
                .fetched
                .clone()
                .unwrap_or_else(|| ops::fetched_ref(host, &agent.branch)),
            state: f.state,
            reason: text("reason"),
            exit_code: f.status["exit_code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok()),
            host: Some(host),
            remote_uncommitted: f.status["uncommitted"] == true,
            missing: f.fetched.is_none().then(|| {
                format!(
                    "{} has not started on host {host}, so no branch {} to merge (`{} up {}` starts it)",
                    agent.name,
                    agent.branch,
                    crate::launch::fleet_command(plan),
                    agent.name
                )
            }),
        });
    }
    Ok(works)
}

/// An agent of a host that gave no answer for it.
fn unreachable<'a>(agent: &'a Agent, host: &'a str, why: &str) -> Work<'a> {
    Work {
        agent,
        tip_ref: ops::fetched_ref(host, &agent.branch),
        state: State::Pending,
        reason: None,
        exit_code: None,
        host: Some(host),
        remote_uncommitted: false,
        missing: Some(why.to_string()),
    }
}

/// This machine's agents the train does not take whose work is unfinished (not `done`),
/// with a branch: their names and refs. An agent of the train whose branch holds their
/// commits would bring that work in.
pub fn unfinished_others(plan: &Plan, works: &[Work]) -> Result<Vec<(String, String)>> {
    let others: Vec<&Agent> = plan
        .agents
        .iter()
        .filter(|a| !works.iter().any(|w| w.agent.name == a.name))
        .collect();
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let sessions = crate::tmux::sessions()?;
    let owned = view::owned(plan, &sessions);
    let branches: Vec<&str> = others.iter().map(|a| a.branch.as_str()).collect();
    let existing = git::existing_branches(&plan.repo, &branches)?;
    Ok(view::collect(plan, &others, &owned, view::Detail::States)
        .iter()
        .filter(|v| v.state != State::Done && existing.contains(&v.agent.branch))
        .map(|v| {
            (
                v.agent.name.clone(),
                format!("refs/heads/{}", v.agent.branch),
            )
        })
        .collect())
}
