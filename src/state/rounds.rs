//! The rounds of each agent (`.fleet/rounds/NAME.json`): round 1 is its first run; every
//! later run with a new instruction is the next round, either a run again of its task
//! (`up --rerun`, on its branch or from the base's current tip) or a review sent back
//! (`fleet review`, with its comments and the commit reviewed). A restart of a lost or
//! stopped agent is the same round. The review files themselves live in
//! `.fleet/reviews/`.
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{read_json, write_json, Dir};
use crate::util;

/// How a round began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The agent's first run.
    Start,
    /// Its task run again on its branch, its work there kept (`up --rerun`).
    Rerun,
    /// Its task run again from the base's current tip (`up --rerun` of an agent whose work
    /// is all in base, or `up --rerun --fresh`).
    Fresh,
    /// A review sent back to its conversation (`fleet review`).
    Review,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Rerun => "rerun",
            Kind::Fresh => "fresh",
            Kind::Review => "review",
        }
    }
}

/// One round of an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    /// 1 for the first run, then 2, 3, …
    pub n: u32,
    pub kind: Kind,
    /// When it began (unix seconds).
    pub at: u64,
    /// The commit the agent's branch was at when the round began: for a review, the commit
    /// reviewed; for a run from the base, the base's tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A digest of the task the round ran with (a review has none: the task stays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The ref that keeps the agent's earlier work, when this round moved its branch off it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

/// What a review round sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Review {
    /// The review file it was read from.
    pub file: PathBuf,
    /// The general notes at its top.
    pub notes: String,
    pub comments: Vec<Comment>,
}

/// One comment of a review, on a line of the agent's diff (or on a hunk, or a whole file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// The file's path (the old path for a removed line).
    pub file: String,
    /// The line's number in the file (the old file for a removed line); None for a comment
    /// on a whole hunk or file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The line as the diff shows it, its `+`, `-` or ` ` first (the hunk's `@@` line for a
    /// comment on a hunk; empty for one on a file).
    pub code: String,
    /// The hunk the line is in, as the diff shows it (cut when long).
    pub hunk: String,
    /// What the reviewer wrote.
    pub text: String,
}

impl Comment {
    /// A removed line (its number is the old file's).
    pub fn removed(&self) -> bool {
        self.code.starts_with('-')
    }

    /// `src/x.rs line 12`, `src/x.rs line 12 (removed)`, `src/x.rs (the hunk @@ … @@)`.
    pub fn place(&self) -> String {
        match self.line {
            Some(n) if self.removed() => format!("{} line {n} (a removed line)", self.file),
            Some(n) => format!("{} line {n}", self.file),
            None if self.code.starts_with("@@") => format!("{}, the hunk {}", self.file, self.code),
            None => format!("{} (the whole file)", self.file),
        }
    }
}

impl Dir {
    pub fn rounds_path(&self, agent: &str) -> PathBuf {
        self.root.join("rounds").join(format!("{agent}.json"))
    }

    /// Where `fleet review` writes its review files.
    pub fn reviews_dir(&self) -> PathBuf {
        self.root.join("reviews")
    }

    /// The agent's rounds, oldest first (none before its first run, or for an agent that
    /// ran before fleet kept rounds).
    pub fn rounds(&self, agent: &str) -> Vec<Round> {
        read_json(&self.rounds_path(agent)).unwrap_or_default()
    }

    /// The number the agent's next round gets: 1 before its first run; after the last round
    /// recorded, or 2 for an agent that ran before fleet kept rounds.
    pub fn next_round(&self, agent: &str) -> u32 {
        match self.rounds(agent).last() {
            Some(r) => r.n + 1,
            None if self.record(agent).is_some() => 2,
            None => 1,
        }
    }

    /// Record a new round (numbered by [`Dir::next_round`]); its number. The caller holds
    /// the `.fleet` lock.
    pub fn add_round(&self, agent: &str, mut round: Round) -> Result<u32> {
        round.n = self.next_round(agent);
        let mut all = self.rounds(agent);
        all.push(round);
        write_json(&self.rounds_path(agent), &all)?;
        Ok(all.last().map_or(1, |r| r.n))
    }

    /// [`Dir::add_round`] for several agents (each once), flushed to disk together.
    pub fn add_rounds(&self, rounds: Vec<(&str, Round)>) -> Result<()> {
        let files = rounds
            .into_iter()
            .map(|(agent, mut round)| {
                round.n = self.next_round(agent);
                let mut all = self.rounds(agent);
                all.push(round);
                Ok((self.rounds_path(agent), super::json_bytes(&all)?))
            })
            .collect::<Result<Vec<_>>>()?;
        crate::safe_fs::write_atomic_all(&files)
    }
}

impl Round {
    /// A round of `kind` beginning now (its number is given when it is recorded).
    pub fn now(kind: Kind) -> Round {
        Round {
            n: 0,
            kind,
            at: util::now(),
            from: None,
            task: None,
            kept: None,
            review: None,
        }
    }
}

/// A digest of a task's text (FNV-1a, 64 bits, in hex): stable across fleet versions, so a
/// changed task is told from an unchanged one.
pub fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_numbered_after_the_last_and_the_digest_is_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::new(tmp.path());
        assert_eq!(dir.next_round("a"), 1);
        assert_eq!(dir.add_round("a", Round::now(Kind::Start)).unwrap(), 1);
        assert_eq!(dir.add_round("a", Round::now(Kind::Review)).unwrap(), 2);
        let all = dir.rounds("a");
        assert_eq!(
            all.iter().map(|r| (r.n, r.kind)).collect::<Vec<_>>(),
            [(1, Kind::Start), (2, Kind::Review)]
        );
        assert_eq!(digest(""), "cbf29ce484222325");
        assert_ne!(digest("a task"), digest("a task\n"));
    }
}
