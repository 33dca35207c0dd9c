//! What of an agent's branch base lacks: its commits not in base's history, less what fleet
//! merged of it before as commits of its own (a squash, a rebased copy: the records of
//! [`crate::state::MergedAs`]), and whether those commits change any file at all. The one
//! judge of "nothing to merge", before the train and again at each merge.
use anyhow::Result;

use crate::git;
use crate::manifest::Plan;
use crate::state::{self, Dir, MergedAs};

/// Why an agent has nothing to merge.
#[derive(Debug, Clone)]
pub enum Nothing {
    /// Every commit of its branch is in base's history.
    InBase,
    /// What base lacks of it was merged as a squash or a rebased copy (this record).
    MergedAs(MergedAs),
    /// Its commits that base lacks change no file (they cancel out, or base has the same).
    NoChange,
}

impl Nothing {
    /// "has no commits that main lacks", "is merged already (squashed as abc…)", …
    pub fn says(&self, base: &str) -> String {
        match self {
            Nothing::InBase => format!("has no commits that {base} lacks"),
            Nothing::MergedAs(r) => {
                format!("is merged already ({} as {})", r.how, git::short(&r.commit))
            }
            Nothing::NoChange => {
                format!("has commits that change no file of {base} (they cancel out)")
            }
        }
    }
}

/// The agent's work that base lacks.
#[derive(Debug, Clone)]
pub struct New {
    /// Its commits base lacks (since the record, when there is one).
    pub ahead: u64,
    /// What fleet merged of it before as commits of its own, when that still holds: only
    /// the commits after its tip are new, and they are replayed on base, never merged with
    /// the history the squash left out.
    pub since: Option<MergedAs>,
}

/// What of `tip` (a commit of agent `name`) `head` (base's commit) lacks.
pub fn of(plan: &Plan, name: &str, head: &str, tip: &str) -> Result<Result<New, Nothing>> {
    let repo = &plan.repo;
    if git::count_commits(repo, head, tip)? == 0 {
        return Ok(Err(Nothing::InBase));
    }
    let records = Dir::new(&plan.state_dir).merged_as(name);
    let since = state::holding(repo, head, tip, &records)?;
    let ahead = match &since {
        Some(r) => git::count_commits(repo, &r.tip, tip)?,
        None => git::count_commits(repo, head, tip)?,
    };
    if let (0, Some(r)) = (ahead, &since) {
        return Ok(Err(Nothing::MergedAs(r.clone())));
    }
    Ok(Ok(New { ahead, since }))
}

/// Where the changes that merging `rev` into `head` brings begin: the record's tip, else
/// the merge-base (None: no shared history, which git refuses to merge anyway).
pub fn changes_from(
    plan: &Plan,
    head: &str,
    rev: &str,
    since: Option<&MergedAs>,
) -> Result<Option<String>> {
    match since {
        Some(r) => Ok(Some(r.tip.clone())),
        None => git::merge_base(&plan.repo, head, rev),
    }
}
