//! `radar: tell`: what each agent was told of the radar's overlaps, and the notice an agent
//! has not heard yet. An agent is told of another once per pair, and again only when the
//! files they both change grow by one it was not told of; what it was told is kept in
//! `.fleet/radar-told.json` (agent → other agent → files), written through `safe_fs` by
//! whoever delivers the notice (the agent's runner when its run ends, `fleet continue`),
//! holding the `.fleet` lock.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::radar::{self, Overlap};
use super::{collect, owned, Detail};
use crate::manifest::{Agent, Plan, Radar};
use crate::state::State;

const TOLD_FILE: &str = "radar-told.json";

/// What each agent was told: agent → the other agent → the files it was told they share.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Told(BTreeMap<String, BTreeMap<String, BTreeSet<String>>>);

/// One overlap as news to one agent: the other agent, the files, whether they'd conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News {
    pub other: String,
    pub files: Vec<String>,
    pub conflict: bool,
}

impl Told {
    /// What was told so far (nothing when the file is missing or unreadable).
    pub fn read(state_dir: &Path) -> Told {
        std::fs::read(state_dir.join(TOLD_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Keep it (the caller holds the `.fleet` lock).
    pub fn write(&self, state_dir: &Path) -> Result<()> {
        crate::safe_fs::write_atomic(&state_dir.join(TOLD_FILE), &serde_json::to_vec(self)?)
    }

    /// Has `agent` been told of every file of `o` it shares with the other agent?
    pub fn heard(&self, agent: &str, o: &Overlap) -> bool {
        let Some(other) = o.agents.iter().find(|a| *a != agent) else {
            return true;
        };
        let told = self.0.get(agent).and_then(|m| m.get(other));
        o.files.iter().all(|f| told.is_some_and(|t| t.contains(f)))
    }

    /// The overlaps of `agent` it has not heard of (a new pair, or a file more).
    pub fn news(&self, agent: &str, overlaps: &[Overlap]) -> Vec<News> {
        overlaps
            .iter()
            .filter(|o| o.agents.iter().any(|a| a == agent) && !self.heard(agent, o))
            .filter_map(|o| {
                let other = o.agents.iter().find(|a| *a != agent)?;
                Some(News {
                    other: other.clone(),
                    files: o.files.clone(),
                    conflict: o.conflict,
                })
            })
            .collect()
    }

    /// Note that `agent` was told `news`.
    pub fn note(&mut self, agent: &str, news: &[News]) {
        let mine = self.0.entry(agent.to_string()).or_default();
        for n in news {
            mine.entry(n.other.clone())
                .or_default()
                .extend(n.files.iter().cloned());
        }
    }
}

/// The radar's overlaps among this machine's agents of `plan`, as `status` finds them (none
/// with `radar: off`).
pub fn look(plan: &Plan) -> Vec<Overlap> {
    if plan.radar == Radar::Off {
        return Vec::new();
    }
    let sessions = crate::tmux::sessions().unwrap_or_default();
    let owned = owned(plan, &sessions);
    let agents: Vec<&Agent> = plan.agents.iter().collect();
    let views = collect(plan, &agents, &owned, Detail::Full);
    radar::overlaps(&plan.repo, &plan.state_dir, &views)
}

/// The news of `agent` with `radar: tell` (none otherwise), noted as told: the caller
/// holds the `.fleet` lock and delivers the returned notice.
pub fn take(plan: &Plan, agent: &str, overlaps: &[Overlap]) -> Result<Option<String>> {
    if plan.radar != Radar::Tell {
        return Ok(None);
    }
    let mut told = Told::read(&plan.state_dir);
    let news = told.news(agent, overlaps);
    if news.is_empty() {
        return Ok(None);
    }
    told.note(agent, &news);
    told.write(&plan.state_dir)?;
    Ok(Some(text(&news)))
}

/// Can fleet tell this agent (resume its conversation)?
pub fn can_tell(agent: &Agent) -> bool {
    !agent.interactive
        && agent.format.is_some()
        && agent
            .preset
            .is_some_and(crate::manifest::Preset::can_resume)
}

/// With `radar: tell`, the agents that ended with news they have not heard (a running agent
/// hears when its run ends; nothing starts one that ended): `status` names them.
pub fn unheard<'v>(plan: &Plan, views: &'v [super::View], overlaps: &[Overlap]) -> Vec<&'v str> {
    if plan.radar != Radar::Tell || overlaps.is_empty() {
        return Vec::new();
    }
    let told = Told::read(&plan.state_dir);
    views
        .iter()
        .filter(|v| {
            matches!(
                v.state,
                State::Done | State::Failed | State::Stopped | State::Lost
            ) && can_tell(v.agent)
        })
        .filter(|v| !told.news(&v.agent.name, overlaps).is_empty())
        .map(|v| v.agent.name.as_str())
        .collect()
}

/// `status --json`'s overlap with `radar: tell`: `told`, the agents told of all its files.
pub fn to_json(plan: &Plan, told: &Told, o: &Overlap) -> serde_json::Value {
    let mut v = o.to_json();
    if plan.radar == Radar::Tell {
        let heard: Vec<&String> = o.agents.iter().filter(|a| told.heard(a, o)).collect();
        v["told"] = serde_json::json!(heard);
    }
    v
}

/// The notice an agent gets: one line per other agent, and how to coordinate.
pub fn text(news: &[News]) -> String {
    let mut out = String::from(
        "A note from fleet's conflict radar: other agents of this fleet, each in its own \
         worktree and branch, are changing the same files as you.\n\n",
    );
    for n in news {
        out.push_str(&format!("- {}\n", line(n)));
    }
    out.push_str(
        "\nCoordinate by keeping your change to these files to what your task needs: do not \
         redo, undo or reformat the other agent's part, and add beside shared code rather \
         than rewrite it, so both changes merge cleanly. Then go on with your task; if it is \
         already done, stop.\n",
    );
    out
}

/// `agent signup is also changing src/auth.rs (its changes would conflict with yours);
/// `fleet diff signup` shows its work`.
pub fn line(n: &News) -> String {
    const SHOWN: usize = 10;
    let mut files = n.files[..n.files.len().min(SHOWN)].join(", ");
    if n.files.len() > SHOWN {
        files.push_str(&format!(" and {} more files", n.files.len() - SHOWN));
    }
    let conflict = if n.conflict {
        " (its committed changes would conflict with yours)"
    } else {
        ""
    };
    format!(
        "agent {} is also changing {files}{conflict}; `fleet diff {}` shows its work",
        n.other, n.other
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str, files: &[&str]) -> Overlap {
        Overlap {
            agents: [a.into(), b.into()],
            files: files.iter().map(|f| f.to_string()).collect(),
            conflict: false,
        }
    }

    #[test]
    fn each_agent_hears_once_and_again_only_of_a_file_more() {
        let mut told = Told::default();
        let first = [pair("api", "signup", &["src/auth.rs"])];
        let news = told.news("api", &first);
        assert_eq!(news.len(), 1);
        assert_eq!(
            line(&news[0]),
            "agent signup is also changing src/auth.rs; `fleet diff signup` shows its work"
        );
        told.note("api", &news);
        assert!(told.news("api", &first).is_empty());
        // signup has not heard yet; an agent in no overlap never does
        assert_eq!(told.news("signup", &first)[0].other, "api");
        assert!(told.news("docs", &first).is_empty());
        // the same files again: nothing; one file more: news
        let grown = [pair("api", "signup", &["src/auth.rs", "src/db.rs"])];
        assert_eq!(told.news("api", &grown).len(), 1);
        let fewer = [pair("api", "signup", &[])];
        assert!(told.news("api", &fewer).is_empty());
    }
}
