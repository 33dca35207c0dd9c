//! The radar: which agents' work touches the same files while they work, and whether their
//! committed work would conflict. An agent's files are those its commits changed since the
//! merge-base with the base, with those its worktree changes and adds (uncommitted).
//!
//! It costs little: the uncommitted paths come from the `git status` that `status` already
//! runs for every worktree ([`Work::paths`]); the committed files of a commit and the
//! merge of two commits never change, so they are asked of git once and kept in
//! `.fleet/radar.json`, keyed by the commit ids. When nothing was committed since the last
//! look, the radar runs no git at all.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::View;
use crate::git;

/// What the radar needs of one agent, gathered by `collect` with [`super::Detail::Full`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    /// The commit checked out in its worktree (else its branch's tip).
    pub head: Option<String>,
    /// The base's commit.
    pub base: Option<String>,
    /// The paths its worktree changes, adds or leaves unmerged (not committed).
    pub paths: Vec<String>,
}

/// Two agents whose work touches the same files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub agents: [String; 2],
    pub files: Vec<String>,
    /// Their committed work would conflict (`git merge-tree`).
    pub conflict: bool,
}

impl Overlap {
    /// `status --json`'s form: `{"agents": [a, b], "files": [...], "conflict": bool}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"agents": self.agents, "files": self.files, "conflict": self.conflict})
    }

    /// The line under status's table: `api and signup both change src/auth.rs (would conflict)`.
    pub fn line(&self) -> String {
        const SHOWN: usize = 3;
        let mut files = self.files[..self.files.len().min(SHOWN)].join(", ");
        if self.files.len() > SHOWN {
            files.push_str(&format!(" and {} more", self.files.len() - SHOWN));
        }
        let conflict = if self.conflict {
            " (would conflict)"
        } else {
            ""
        };
        format!(
            "{} and {} both change {files}{conflict}",
            self.agents[0], self.agents[1]
        )
    }
}

/// What git said before, by commit ids: never stale, since a commit never changes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    /// `BASE...HEAD` → the files HEAD changed since the merge-base.
    #[serde(default)]
    committed: BTreeMap<String, Vec<String>>,
    /// `A B` → whether merging the two commits conflicts.
    #[serde(default)]
    conflicts: BTreeMap<String, bool>,
}

const CACHE_FILE: &str = "radar.json";

/// The overlaps among `views` (in the order given), each pair once.
pub fn overlaps(repo: &Path, state_dir: &Path, views: &[View]) -> Vec<Overlap> {
    let works: Vec<(&str, &Work)> = views
        .iter()
        .map(|v| (v.agent.name.as_str(), &v.work))
        .collect();
    overlaps_of(repo, state_dir, &works)
}

/// The overlaps among the agents' `works` (name, work; in the order given), each pair once:
/// those of this machine from their views, those of other hosts from what their fleets said
/// ([`Work`] of a fetched branch and the paths the host reported).
pub fn overlaps_of(repo: &Path, state_dir: &Path, works: &[(&str, &Work)]) -> Vec<Overlap> {
    let started = std::time::Instant::now();
    let path = state_dir.join(CACHE_FILE);
    let old: Cache = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut new = Cache::default();
    let files = agent_files(repo, works, &old, &mut new);
    // The pairs that share files, and the merges of their commits git has not judged yet.
    let mut shared = Vec::new();
    let mut unknown: Vec<(String, String)> = Vec::new();
    for (i, (a, fa, ha)) in files.iter().enumerate() {
        for (b, fb, hb) in &files[i + 1..] {
            let both: Vec<String> = fa.intersection(fb).cloned().collect();
            if both.is_empty() {
                continue;
            }
            let key = match (ha, hb) {
                (Some(x), Some(y)) => Some(format!("{x} {y}")),
                _ => None,
            };
            if let Some(k) = &key {
                match old.conflicts.get(k) {
                    Some(c) => {
                        new.conflicts.insert(k.clone(), *c);
                    }
                    None => {
                        unknown.push((ha.unwrap_or_default().into(), hb.unwrap_or_default().into()))
                    }
                }
            }
            shared.push(([a.clone(), b.clone()], both, key));
        }
    }
    // Every new merge in one `git merge-tree` process (none, not even git's version, when
    // there is no new one).
    let merges = match unknown.is_empty() {
        true => Ok(Vec::new()),
        false => git::merge_trees(repo, &unknown),
    };
    if let Ok(merges) = merges {
        for ((x, y), m) in unknown.iter().zip(merges) {
            let conflict = matches!(m, git::TreeMerge::Conflict(_));
            new.conflicts.insert(format!("{x} {y}"), conflict);
        }
    }
    let found = shared
        .into_iter()
        .map(|(agents, files, key)| Overlap {
            agents,
            files,
            conflict: key
                .and_then(|k| new.conflicts.get(&k).copied())
                .unwrap_or(false),
        })
        .collect();
    // Keep only what this look used, and write only when that changed.
    if (new.committed != old.committed || new.conflicts != old.conflicts) && state_dir.is_dir() {
        if let Ok(bytes) = serde_json::to_vec(&new) {
            let _ = crate::safe_fs::write_atomic(&path, &bytes);
        }
    }
    if crate::util::verbose() {
        // What a refresh costs the radar (scripts/bench.sh reads this line).
        let asked = new
            .committed
            .keys()
            .filter(|k| !old.committed.contains_key(*k))
            .count()
            + unknown.len();
        eprintln!(
            "[fleet] radar: {} agents, {asked} asked of git, {:.1} ms",
            works.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    found
}

/// Each agent with work: its name, its files (committed and not), its commit when it has
/// commits of its own. The committed files git has not listed yet are asked a few at once.
fn agent_files<'v>(
    repo: &Path,
    works: &[(&'v str, &'v Work)],
    old: &Cache,
    new: &mut Cache,
) -> Vec<(String, BTreeSet<String>, Option<&'v str>)> {
    // Committed work: only a head that is not the base itself.
    let ahead = |w: &'v Work| match (&w.head, &w.base) {
        (Some(h), Some(b)) if h != b => Some((b.as_str(), h.as_str())),
        _ => None,
    };
    let missing: Vec<(&str, &str)> = works
        .iter()
        .filter_map(|(_, w)| ahead(w))
        .filter(|(b, h)| !old.committed.contains_key(&format!("{b}...{h}")))
        .collect();
    let asked = crate::util::in_parallel(&missing, |(b, h)| git::committed_files(repo, b, h));
    for ((b, h), files) in missing.iter().zip(asked) {
        // Not kept when git did not answer: it may next time.
        if let Some(Ok(files)) = files {
            new.committed.insert(format!("{b}...{h}"), files);
        }
    }
    works
        .iter()
        .filter_map(|(name, w)| {
            let mut set: BTreeSet<String> = w.paths.iter().cloned().collect();
            let head = ahead(w).map(|(b, h)| {
                let key = format!("{b}...{h}");
                if let Some(files) = old.committed.get(&key) {
                    new.committed.insert(key.clone(), files.clone());
                }
                set.extend(new.committed.get(&key).cloned().unwrap_or_default());
                h
            });
            (!set.is_empty()).then(|| (name.to_string(), set, head))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_both_agents_the_files_and_a_conflict() {
        let o = Overlap {
            agents: ["api".into(), "signup".into()],
            files: vec!["src/auth.rs".into()],
            conflict: true,
        };
        assert_eq!(
            o.line(),
            "api and signup both change src/auth.rs (would conflict)"
        );
        let many = Overlap {
            files: (1..=5).map(|i| format!("f{i}")).collect(),
            conflict: false,
            ..o
        };
        assert_eq!(
            many.line(),
            "api and signup both change f1, f2, f3 and 2 more"
        );
    }
}
