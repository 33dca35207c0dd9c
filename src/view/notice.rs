//! `radar: tell`: what each agent was told of the radar's overlaps, and the notice an agent
//! has not heard yet. An agent is told of another once per pair, and again only when the
//! files they both change grow by one it was not told of, or when it talks in a new
//! conversation (a new round starts one: what the old one heard is not known to it). What
//! it was told is kept in `.fleet/radar-told.json` (agent → its conversation and, by other
//! agent, the files), written through `safe_fs` by whoever delivers the notice (the agent's
//! runner when its run ends, `fleet continue`), holding the `.fleet` lock.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::radar::{self, Overlap};
use super::{collect, owned, Detail, View};
use crate::manifest::{Agent, Plan, Radar};
use crate::state::State;

const TOLD_FILE: &str = "radar-told.json";

/// What each agent was told, by agent name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Told(BTreeMap<String, Heard>);

/// What one agent heard, in which conversation.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Heard {
    /// The session id of the conversation told.
    session: Option<String>,
    /// The other agent → the files it was told they share.
    of: BTreeMap<String, BTreeSet<String>>,
}

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

    /// Has `agent`, in its conversation `session`, been told of every file of `o` it shares
    /// with the other agent?
    pub fn heard(&self, agent: &str, session: Option<&str>, o: &Overlap) -> bool {
        let Some(other) = o.agents.iter().find(|a| *a != agent) else {
            return true;
        };
        let told = self
            .0
            .get(agent)
            .filter(|h| h.session.as_deref() == session)
            .and_then(|h| h.of.get(other));
        o.files.iter().all(|f| told.is_some_and(|t| t.contains(f)))
    }

    /// The overlaps of `agent` it has not heard of in its conversation `session` (a new
    /// pair, or a file more).
    pub fn news(&self, agent: &str, session: Option<&str>, overlaps: &[Overlap]) -> Vec<News> {
        overlaps
            .iter()
            .filter(|o| o.agents.iter().any(|a| a == agent) && !self.heard(agent, session, o))
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

    /// Note that `agent` was told `news` in its conversation `session` (what an earlier
    /// conversation heard is forgotten).
    pub fn note(&mut self, agent: &str, session: Option<&str>, news: &[News]) {
        let mine = self.0.entry(agent.to_string()).or_default();
        if mine.session.as_deref() != session {
            *mine = Heard {
                session: session.map(String::from),
                of: BTreeMap::new(),
            };
        }
        for n in news {
            mine.of
                .entry(n.other.clone())
                .or_default()
                .extend(n.files.iter().cloned());
        }
    }
}

/// The conversation of each agent of `views` (its CLI's session id), by name.
pub fn sessions(views: &[View]) -> BTreeMap<String, String> {
    views
        .iter()
        .filter_map(|v| {
            let id = v.record.as_ref()?.session_id.clone()?;
            Some((v.agent.name.clone(), id))
        })
        .collect()
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

/// The news of `agent` in its conversation `session` with `radar: tell` (none otherwise),
/// noted as told: the caller
/// holds the `.fleet` lock and delivers the returned notice.
pub fn take(
    plan: &Plan,
    agent: &str,
    session: Option<&str>,
    overlaps: &[Overlap],
) -> Result<Option<String>> {
    if plan.radar != Radar::Tell {
        return Ok(None);
    }
    let mut told = Told::read(&plan.state_dir);
    let news = told.news(agent, session, overlaps);
    if news.is_empty() {
        return Ok(None);
    }
    told.note(agent, session, &news);
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
pub fn unheard<'v>(plan: &Plan, views: &'v [View], overlaps: &[Overlap]) -> Vec<&'v str> {
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
        .filter(|v| {
            let session = v.record.as_ref().and_then(|r| r.session_id.as_deref());
            !told.news(&v.agent.name, session, overlaps).is_empty()
        })
        .map(|v| v.agent.name.as_str())
        .collect()
}

/// `status --json`'s overlap with `radar: tell`: `told`, the agents told of all its files
/// in their current conversation (`sessions`, from [`sessions`]).
pub fn to_json(
    plan: &Plan,
    told: &Told,
    sessions: &BTreeMap<String, String>,
    o: &Overlap,
) -> serde_json::Value {
    let mut v = o.to_json();
    if plan.radar == Radar::Tell {
        let heard: Vec<&String> = o
            .agents
            .iter()
            .filter(|a| told.heard(a, sessions.get(*a).map(String::as_str), o))
            .collect();
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
        let s1 = Some("s-1");
        let first = [pair("api", "signup", &["src/auth.rs"])];
        let news = told.news("api", s1, &first);
        assert_eq!(news.len(), 1);
        assert_eq!(
            line(&news[0]),
            "agent signup is also changing src/auth.rs; `fleet diff signup` shows its work"
        );
        told.note("api", s1, &news);
        assert!(told.news("api", s1, &first).is_empty());
        // signup has not heard yet; an agent in no overlap never does
        assert_eq!(told.news("signup", None, &first)[0].other, "api");
        assert!(told.news("docs", None, &first).is_empty());
        // the same files again: nothing; one file more: news
        let grown = [pair("api", "signup", &["src/auth.rs", "src/db.rs"])];
        assert_eq!(told.news("api", s1, &grown).len(), 1);
        let fewer = [pair("api", "signup", &[])];
        assert!(told.news("api", s1, &fewer).is_empty());
        // a new conversation (a new round) has heard nothing; telling it forgets the old one
        assert_eq!(told.news("api", Some("s-2"), &first).len(), 1);
        told.note("api", Some("s-2"), &news);
        assert!(told.news("api", Some("s-2"), &first).is_empty());
        assert_eq!(told.news("api", s1, &first).len(), 1);
    }
}
