//! Quotas per credential (`.fleet/quota/<label>.json`): when an agent's CLI says its
//! account's usage limit is reached, its runner records the credential's label and the
//! reset time here; every runner of an agent on that label pauses until then, the queue
//! starts nobody on it, and `fleet up` clears a record whose reset has passed. One small
//! JSON file per label, written atomically through `safe_fs`; a runner notices a new one by
//! the directory's modification time (a stat at its periodic check), reading only then.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::util;

/// One credential under quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// The credential's label ([`crate::preset::credential`]), e.g. `claude:key-3f9a`.
    pub label: String,
    /// When the account's quota resets (unix seconds).
    pub resets_at: u64,
    /// The agent whose CLI hit it, and when.
    pub agent: String,
    pub since: u64,
}

impl Quota {
    /// Does it still hold at `now`?
    pub fn holds(&self, now: u64) -> bool {
        now < self.resets_at
    }
}

/// `.fleet/quota/` of the `.fleet/` at `root`.
pub fn dir(root: &Path) -> PathBuf {
    root.join("quota")
}

/// The record of `label` (`claude:key-3f9a` → `claude_key-3f9a.json`).
fn file(root: &Path, label: &str) -> PathBuf {
    let name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir(root).join(format!("{name}.json"))
}

/// Record that `label` is under quota until `resets_at` (a later reset already recorded
/// is kept); the record as it now stands.
pub fn record(root: &Path, label: &str, resets_at: u64, agent: &str) -> Result<Quota> {
    let path = file(root, label);
    let now = util::now();
    if let Some(q) = super::read_json::<Quota>(&path).filter(|q| q.holds(now)) {
        if q.resets_at >= resets_at {
            return Ok(q);
        }
    }
    let q = Quota {
        label: label.to_string(),
        resets_at,
        agent: agent.to_string(),
        since: now,
    };
    super::write_json(&path, &q)?;
    Ok(q)
}

/// The quota that holds now on `label`, if any.
pub fn active(root: &Path, label: &str) -> Option<Quota> {
    super::read_json::<Quota>(&file(root, label)).filter(|q| q.holds(util::now()))
}

/// Every quota that holds now.
pub fn all_active(root: &Path) -> Vec<Quota> {
    let Ok(entries) = std::fs::read_dir(dir(root)) else {
        return Vec::new();
    };
    let now = util::now();
    let mut found: Vec<Quota> = entries
        .flatten()
        .filter_map(|e| super::read_json::<Quota>(&e.path()))
        .filter(|q| q.holds(now))
        .collect();
    found.sort_by(|a, b| a.label.cmp(&b.label));
    found
}

/// Remove the records whose reset has passed (`fleet up`); the labels freed.
pub fn clear_past(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir(root)) else {
        return Vec::new();
    };
    let now = util::now();
    let mut freed = Vec::new();
    for e in entries.flatten() {
        let Some(q) = super::read_json::<Quota>(&e.path()) else {
            continue;
        };
        if !q.holds(now) && std::fs::remove_file(e.path()).is_ok() {
            freed.push(q.label);
        }
    }
    freed
}

/// What a runner knows of its credential's quota, re-read only when `.fleet/quota/`
/// changed (its modification time) since the last look.
#[derive(Debug, Default)]
pub struct Watch {
    seen: Option<SystemTime>,
    known: Option<Quota>,
}

impl Watch {
    /// The quota on `label` that holds now, if any: a stat of the directory, and a read of
    /// the label's record only when the directory changed.
    pub fn check(&mut self, root: &Path, label: &str) -> Option<&Quota> {
        let modified = std::fs::metadata(dir(root)).and_then(|m| m.modified()).ok();
        if modified != self.seen || modified.is_none() {
            self.seen = modified;
            self.known = modified.and_then(|_| active(root, label));
        }
        let now = util::now();
        self.known.as_ref().filter(|q| q.holds(now))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_quota_holds_until_its_reset_and_the_later_reset_wins() {
        let root = tempfile::tempdir().unwrap();
        let now = crate::util::now();
        let q = super::record(root.path(), "claude:key-1a2b", now + 60, "a").unwrap();
        assert_eq!(q.resets_at, now + 60);
        let q = super::record(root.path(), "claude:key-1a2b", now + 30, "b").unwrap();
        assert_eq!((q.resets_at, q.agent.as_str()), (now + 60, "a"));
        assert!(super::active(root.path(), "claude:key-1a2b").is_some());
        assert!(super::active(root.path(), "codex:login").is_none());
        let mut watch = super::Watch::default();
        assert!(watch.check(root.path(), "claude:key-1a2b").is_some());
        assert!(super::clear_past(root.path()).is_empty());
        super::record(root.path(), "codex:login", now - 1, "c").unwrap();
        assert_eq!(
            super::clear_past(root.path()),
            vec!["codex:login".to_string()]
        );
        assert_eq!(super::all_active(root.path()).len(), 1);
    }
}
