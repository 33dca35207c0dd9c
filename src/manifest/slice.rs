//! The manifest a host's fleet gets: the agents placed on that host, `host:` and `hosts:`
//! removed, and what names a path of this machine made sense of there. A task file becomes
//! the inline `prompt:` it holds (the file may not be committed, let alone pushed); `log:`,
//! `worktree_dir:` and `copy:` are left out, so the remote fleet uses its defaults beside
//! the remote repository; `project:` and `base:` are this fleet's, so sessions and branches
//! have the same names on every host. `monitor:` becomes `{enabled: false}`: a host builds
//! no monitor of its own (nobody looks at it, and its status pane would take CPU from the
//! agents there); this fleet's monitor has a pane for each of its agents.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_yaml::{Mapping, Value};

use super::{Agent, Plan, Remote, Task};

/// Top-level keys a host's manifest never inherits.
const NOT_INHERITED: [&str; 7] = [
    "hosts",
    "host",
    "agents",
    "worktree_dir",
    "copy",
    "project",
    "base",
];
/// Agent keys a host's manifest never inherits (`task:` becomes `prompt:`).
const NOT_INHERITED_BY_AGENTS: [&str; 3] = ["host", "log", "task"];

/// The resolved agents split into those of this machine and those of other hosts (with
/// their entries as written), and the top-level keys the hosts inherit. `places` gives each
/// agent's host by name (None: this machine).
pub(super) fn split(
    agents: Vec<Agent>,
    places: &[(String, Option<String>)],
    text: &str,
    problems: &mut Vec<String>,
) -> (Vec<Agent>, Vec<Remote>, Mapping) {
    let host_of = |name: &str| {
        places
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, h)| h.clone())
    };
    if agents.iter().all(|a| host_of(&a.name).is_none()) {
        return (agents, Vec::new(), Mapping::new());
    }
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("cannot read the manifest for its hosts: {e}"));
            return (agents, Vec::new(), Mapping::new());
        }
    };
    let mut top = doc.as_mapping().cloned().unwrap_or_default();
    let entries: Vec<Mapping> = top
        .get("agents")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(|v| v.as_mapping().cloned()).collect())
        .unwrap_or_default();
    for key in NOT_INHERITED {
        top.remove(key);
    }
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for agent in agents {
        let Some(host) = host_of(&agent.name) else {
            local.push(agent);
            continue;
        };
        let mut raw = entries
            .iter()
            .find(|m| m.get("name").and_then(Value::as_str) == Some(agent.name.as_str()))
            .cloned()
            .unwrap_or_default();
        for key in NOT_INHERITED_BY_AGENTS {
            raw.remove(key);
        }
        remote.push(Remote { host, agent, raw });
    }
    (local, remote, top)
}

/// Agent names of the command line, by where the agents run.
#[derive(Debug, Default)]
pub struct Names {
    /// The names for this machine's part (empty: all of its agents), or None when the
    /// command has nothing to do here (names given, none of them here, or no agent here).
    pub local: Option<Vec<String>>,
    /// The hosts to reach, each with its names (empty: all of its agents).
    pub hosts: BTreeMap<String, Vec<String>>,
}

impl Plan {
    /// `names` (all agents when empty) split by host; an unknown name is a usage error.
    pub fn split_names(&self, names: &[String]) -> anyhow::Result<Names> {
        if names.is_empty() {
            return Ok(Names {
                local: (!self.agents.is_empty()).then(Vec::new),
                hosts: self
                    .used_hosts()
                    .iter()
                    .map(|h| (h.name.clone(), Vec::new()))
                    .collect(),
            });
        }
        let mut split = Names::default();
        let mut local = Vec::new();
        let mut unknown = Vec::new();
        for n in names {
            if let Some(r) = self.remote_agent(n) {
                split
                    .hosts
                    .entry(r.host.clone())
                    .or_default()
                    .push(n.clone());
            } else if self.agents.iter().any(|a| &a.name == n) {
                local.push(n.clone());
            } else {
                unknown.push(n.clone());
            }
        }
        if !unknown.is_empty() {
            // The usual message, listing the known agents.
            self.select(&unknown)?;
        }
        split.local = (!local.is_empty()).then_some(local);
        Ok(split)
    }

    /// The hosts agents are placed on, in `hosts:` order, each once.
    pub fn used_hosts(&self) -> Vec<&super::Host> {
        self.hosts
            .values()
            .filter(|h| self.remote.iter().any(|r| r.host == h.name))
            .collect()
    }

    /// The agent `name` when it is placed on another host.
    pub fn remote_agent(&self, name: &str) -> Option<&Remote> {
        self.remote.iter().find(|r| r.agent.name == name)
    }

    /// The agents placed on `host`, in manifest order.
    pub fn remote_on(&self, host: &str) -> Vec<&Remote> {
        self.remote.iter().filter(|r| r.host == host).collect()
    }

    /// The manifest (YAML) of `host`'s fleet: its agents, as the module doc says.
    pub fn slice(&self, host: &str) -> Result<String> {
        let mut top = self.slice_top.clone();
        top.insert("project".into(), self.project.clone().into());
        if !self.base.is_empty() {
            top.insert("base".into(), self.base.clone().into());
        }
        let mut monitor = Mapping::new();
        monitor.insert("enabled".into(), false.into());
        top.insert("monitor".into(), Value::Mapping(monitor));
        // The host's share of the fleet's budget (by its number of agents).
        let all = self.agents.len() + self.remote.len();
        if let Some(b) = self.whole_budget {
            let b = b.share(self.remote_on(host).len(), all);
            let mut budget = Mapping::new();
            if let Some(usd) = b.usd {
                budget.insert("usd".into(), usd.into());
            }
            if let Some(tokens) = b.tokens {
                budget.insert("tokens".into(), tokens.into());
            }
            budget.insert("reserve".into(), b.reserve.into());
            top.insert("budget".into(), Value::Mapping(budget));
        }
        let mut agents = Vec::new();
        for r in self.remote_on(host) {
            let mut raw = r.raw.clone();
            if let Task::File(path) = &r.agent.task {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!(
                        "cannot read the task of {} ({}) to send it to host {host}",
                        r.agent.name,
                        path.display()
                    )
                })?;
                raw.insert("prompt".into(), text.into());
            }
            agents.push(Value::Mapping(raw));
        }
        top.insert("agents".into(), Value::Sequence(agents));
        let yaml = serde_yaml::to_string(&Value::Mapping(top))?;
        Ok(format!(
            "# Written by the fleet of {} for host {host}; it is rewritten by each `fleet up` there.\n{yaml}",
            self.manifest.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    /// `sandbox:` and `network:` reach a host's manifest, top level and per agent: the
    /// host's fleet builds each agent's box itself.
    #[test]
    fn the_sandbox_keys_reach_the_host() {
        let text = "command: \"true\"\nsandbox: true\nnetwork: all\nhosts: {far: {ssh: me@far, dir: /r}}\nagents:\n  - {name: a, prompt: x, host: far}\n  - {name: b, prompt: x, host: far, sandbox: false}\n";
        let (_repo, plan) = crate::manifest::parse_in_new_repo(text);
        let plan = plan.unwrap();
        let slice = plan.slice("far").unwrap();
        let host: serde_yaml::Value = serde_yaml::from_str(&slice).unwrap();
        assert_eq!(host["sandbox"], serde_yaml::Value::Bool(true), "{slice}");
        assert!(host.get("budget").is_none(), "{slice}");
        assert_eq!(host["network"], serde_yaml::Value::from("all"), "{slice}");
        assert_eq!(
            host["agents"][1]["sandbox"],
            serde_yaml::Value::Bool(false),
            "{slice}"
        );
        assert!(plan
            .remote
            .iter()
            .all(|r| r.agent.sandbox == (r.agent.name == "a")));
    }

    /// `budget:` with agents on hosts: this machine and each host enforce the share of
    /// their agents, so the places together never spend more than the budget.
    #[test]
    fn the_budget_is_shared_by_the_places_agents() {
        let text = "command: \"true\"\nbudget: {usd: 20, reserve: 4}\nhosts: {far: {ssh: me@far, dir: /r}}\nagents:\n  - {name: a, prompt: x}\n  - {name: b, prompt: x, host: far}\n  - {name: c, prompt: x, host: far}\n  - {name: d, prompt: x, host: far}\n";
        let (repo, plan) = crate::manifest::parse_in_new_repo(text);
        let plan = plan.unwrap();
        let here = plan.budget.unwrap();
        assert_eq!((here.usd, here.reserve), (Some(5.0), 1.0));
        let slice = plan.slice("far").unwrap();
        let host: serde_yaml::Value = serde_yaml::from_str(&slice).unwrap();
        assert_eq!(host["budget"]["usd"].as_f64(), Some(15.0), "{slice}");
        assert_eq!(host["budget"]["reserve"].as_f64(), Some(3.0), "{slice}");
        // the host's fleet, with only its agents, keeps its share whole
        let dir = std::fs::canonicalize(repo.path()).unwrap();
        let there = crate::manifest::parse(&dir.join("r.yaml"), &slice).unwrap();
        assert_eq!(there.budget.unwrap().usd, Some(15.0));
    }
}
