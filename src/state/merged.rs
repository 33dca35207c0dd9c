//! What fleet merged of an agent as commits of its own rather than the agent's: a squash
//! (`merge --squash`) or a rebased copy (`merge --rebase`, and later merges of an agent
//! merged so before). git cannot tell that base holds such work (the agent's commits are not
//! in base's history), so each is recorded in `.fleet/merged/NAME.json` when it is made: the
//! agent's tip that was merged and the commit base got. A record holds while its commit is
//! in base and its tip in the agent's branch; the newest that holds is where the agent's
//! unmerged work begins.
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{read_json, write_json, Dir};
use crate::git;

/// One merge of an agent's work as new commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedAs {
    /// The agent's commit that was merged (its branch's tip then).
    pub tip: String,
    /// The commit base got: the squash, or the last rebased commit (or the merge of them).
    pub commit: String,
    /// `squashed` or `rebased`.
    pub how: String,
    /// When (seconds since the epoch).
    pub at: u64,
}

impl Dir {
    fn merged_path(&self, agent: &str) -> std::path::PathBuf {
        self.root.join("merged").join(format!("{agent}.json"))
    }

    /// The agent's records, oldest first (none when there are none or they cannot be read).
    pub fn merged_as(&self, agent: &str) -> Vec<MergedAs> {
        read_json(&self.merged_path(agent)).unwrap_or_default()
    }

    /// Add a record (the caller holds the `.fleet` lock).
    pub fn remember_merged_as(&self, agent: &str, record: MergedAs) -> Result<()> {
        let mut all = self.merged_as(agent);
        all.push(record);
        write_json(&self.merged_path(agent), &all)
    }
}

/// The newest of `records` that holds in `repo`: its commit in `base`, its tip in `tip`
/// (the agent's branch now). None when none does (base was reset past it, the branch
/// rewritten): the agent's work is then judged by git's history alone.
pub fn holding(
    repo: &Path,
    base: &str,
    tip: &str,
    records: &[MergedAs],
) -> Result<Option<MergedAs>> {
    for r in records.iter().rev() {
        if git::is_ancestor(repo, &r.commit, base)? && git::is_ancestor(repo, &r.tip, tip)? {
            return Ok(Some(r.clone()));
        }
    }
    Ok(None)
}
