//! `.fleet/` beside the manifest: its layout, the per-agent records (written atomically), the
//! run specs the runner reads, the lock that keeps fleet commands one at a time (in
//! `lock`) and each agent's rounds (in `rounds`), re-exported here.
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::util;

mod batch;
mod budget;
mod lock;
pub use lock::{hold_end, hold_start};
mod merged;
pub mod quota;
mod rounds;

pub use budget::{Budget, Level, RawBudget, Spent};
pub use lock::Lock;
pub use merged::{holding, MergedAs};
pub use rounds::{digest, Comment, Kind, Review, Round};

/// An agent's state as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Queued,
    Running,
    /// Ended on its CLI's rate limit; starts again at `retry_at` (the runner waits).
    Waiting,
    Done,
    Failed,
    Stopped,
    Lost,
    /// Waits for agents of its `after:` that cannot bring it their work (one failed, was
    /// stopped or lost, is blocked itself, or their branches conflict): the reason says which.
    Blocked,
    /// Its record cannot be read (truncated, edited): fleet does not guess what happened.
    /// Never written; [`Dir::record`] reports it.
    Damaged,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Queued => "queued",
            State::Running => "running",
            State::Waiting => "waiting",
            State::Done => "done",
            State::Failed => "failed",
            State::Stopped => "stopped",
            State::Lost => "lost",
            State::Blocked => "blocked",
            State::Damaged => "damaged",
        }
    }

    /// The state as people read it: `done`, or a failure with its reason, `failed (exit 3)`.
    pub fn label(self, reason: Option<&str>) -> String {
        match reason {
            Some(r)
                if matches!(
                    self,
                    State::Failed | State::Damaged | State::Blocked | State::Done
                ) =>
            {
                self.with_reason(r)
            }
            _ => self.to_string(),
        }
    }

    /// `failed (verify failed, exit 1)`: the state and why, in one level of parentheses
    /// (not `failed (verify failed (exit 1))`).
    pub fn with_reason(self, reason: &str) -> String {
        format!("{self} ({})", reason.replace(" (", ", ").replace(')', ""))
    }

    /// Running, or waiting to run again after a rate limit: its runner is alive.
    pub fn active(self) -> bool {
        matches!(self, State::Running | State::Waiting)
    }

    /// Done or failed: the agent ran to its end.
    pub fn finished(self) -> bool {
        matches!(self, State::Done | State::Failed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What fleet remembers of one agent's latest run (`.fleet/agents/<name>.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// `running` while started and not ended; then `done`, `failed` or `stopped`.
    pub state: Option<State>,
    #[serde(default)]
    pub attempt: u32,
    /// Unix seconds.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// The runner's pid.
    pub pid: Option<u32>,
    /// The manifest's `setup` ran successfully in this worktree.
    #[serde(default)]
    pub setup_done: bool,
    /// Tokens, cost and turns of the latest run, as the agent's CLI reported them.
    #[serde(default)]
    pub usage: Option<crate::transcript::Usage>,
    /// What the agent's earlier starts used (their usage, reset at each fresh start), for
    /// the fleet's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier: Option<crate::transcript::Usage>,
    /// The agent CLI's own session (conversation) id, for resuming it.
    #[serde(default)]
    pub session_id: Option<String>,
    /// How many times verify's failure was fed back to the agent in this run.
    #[serde(default)]
    pub verify_retry: u32,
    /// How many times the agent was started again after a rate limit, in this run.
    #[serde(default)]
    pub rate_retry: u32,
    /// While `waiting`: when the next try starts (unix seconds).
    #[serde(default)]
    pub retry_at: Option<u64>,
    /// While running: the API error the agent's CLI is retrying by itself, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying: Option<String>,
    /// While `waiting` on its credential's quota: which, and when it resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaWait>,
    /// The commit fleet started the agent's branch at from its `after:` agents' work: while
    /// the branch is still there, nothing is on it but theirs (fleet may move it to their
    /// newer work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub based_on: Option<String>,
}

impl Record {
    /// The record of an agent that waits for a slot (or for the agents of its `after:`),
    /// made from the one it had.
    pub fn queued(record: Option<&Record>) -> Record {
        let mut r = record.cloned().unwrap_or_default();
        r.state = Some(State::Queued);
        r.started_at = None;
        r.finished_at = None;
        r.exit_code = None;
        r.reason = None;
        r.pid = None;
        r
    }

    /// The record of an agent that cannot start: `blocked`, with why.
    pub fn blocked(record: Option<&Record>, why: &str) -> Record {
        let mut r = Record::queued(record);
        r.state = Some(State::Blocked);
        r.reason = Some(why.to_string());
        r
    }

    /// Mark a new start now: running, nothing of the last run's end kept (its usage is the
    /// runner's to reset: a continued conversation adds to it).
    pub fn begin(&mut self) {
        self.state = Some(State::Running);
        self.started_at = Some(util::now());
        self.finished_at = None;
        self.exit_code = None;
        self.reason = None;
        self.verify_retry = 0;
        self.rate_retry = 0;
        self.retry_at = None;
        self.retrying = None;
        self.quota = None;
    }

    /// What is left of `max_cost_usd` after what the agent's runs so far cost (None: no
    /// limit); at most the whole budget, at least nothing.
    pub fn budget_left(&self, max_cost_usd: Option<f64>) -> Option<f64> {
        let spent = self.usage.and_then(|u| u.cost_usd).unwrap_or(0.0);
        max_cost_usd.map(|max| (max - spent).clamp(0.0, max))
    }

    /// What [`Dir::record`] says of a record it cannot read.
    fn damaged(path: &Path, why: &str) -> Record {
        Record {
            state: Some(State::Damaged),
            reason: Some(format!(
                "record {} cannot be read: {why}; fleet will not guess how the agent ended: look at its log and branch, then `fleet up --rerun NAME` runs it again (from the base's tip when its work is all in the base, else on its branch)",
                path.display()
            )),
            ..Record::default()
        }
    }

    /// The state to show, given whether the agent's session is alive.
    pub fn derive(record: Option<&Record>, session_alive: bool) -> State {
        match record.and_then(|r| r.state) {
            None => {
                if session_alive {
                    State::Running
                } else {
                    State::Pending
                }
            }
            Some(State::Running | State::Waiting) if !session_alive => State::Lost,
            Some(s) => s,
        }
    }
}

/// An agent paused on its credential's quota: the credential's label and the reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaWait {
    pub label: String,
    /// Unix seconds.
    pub resets_at: u64,
}

/// Everything the runner needs to start one agent (`.fleet/run/<name>.json`), written by `up`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub project: String,
    pub agent: String,
    pub manifest: PathBuf,
    pub command: String,
    pub env: BTreeMap<String, String>,
    /// `PATH` of the `fleet up` that wrote this, so agents find what the user's shell finds.
    pub path: Option<String>,
    pub worktree: PathBuf,
    pub branch: String,
    pub log: PathBuf,
    pub task: PathBuf,
    pub setup: Option<String>,
    pub verify: Option<String>,
    /// Run when the agent ends (FLEET_STATE, FLEET_EXIT_CODE set); absent in older specs.
    #[serde(default)]
    pub on_exit: Option<String>,
    /// Run on the pane's terminal (the log is written by tmux `pipe-pane`).
    #[serde(default)]
    pub interactive: bool,
    /// The agent command's event stream, turned into a transcript by the runner.
    #[serde(default)]
    pub format: Option<crate::transcript::Format>,
    /// Stop the agent after this many seconds.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// The preset the command came from (to resume its session).
    #[serde(default)]
    pub preset: Option<crate::preset::Preset>,
    /// How its preset's CLI is started (for the commands that resume it).
    #[serde(default)]
    pub launch: crate::preset::Launch,
    /// This run continues the agent's conversation (`fleet continue`): what it uses adds
    /// to the usage recorded so far, and `max_cost_usd` counts both.
    #[serde(default)]
    pub resumed: bool,
    /// How often a failed verify is fed back to the agent's session.
    #[serde(default)]
    pub verify_retries: u32,
    /// The fleet's `budget:`: the runner stops its agent when the fleet has spent it, and
    /// begins no verify retry in its reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// How often an agent that ended on a rate limit is started again.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Stop the agent once its reported cost passes this.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// `prices:` of the manifest, for a CLI that reports tokens only.
    #[serde(default)]
    pub prices: BTreeMap<String, crate::prices::Price>,
    /// `radar: tell`: when a run ends, the runner tells the agent of overlaps it has not
    /// heard of by resuming its session (see [`crate::view::notice`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub radar_tell: bool,
    /// The agent's record file.
    pub record: PathBuf,
    /// The label of the credential its CLI runs with, for quotas shared by every agent on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// `sandbox: true`: its box (absent: its steps run unconfined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::sandbox::Policy>,
}

fn default_retries() -> u32 {
    crate::preset::DEFAULT_RETRIES
}

/// The `.fleet/` directory of one manifest.
#[derive(Debug, Clone)]
pub struct Dir {
    pub root: PathBuf,
}

impl Dir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Create `.fleet/` (user-only).
    pub fn create(&self) -> Result<()> {
        util::private_dir(&self.root)
    }

    pub fn record_path(&self, agent: &str) -> PathBuf {
        self.root.join("agents").join(format!("{agent}.json"))
    }

    pub fn spec_path(&self, agent: &str) -> PathBuf {
        self.root.join("run").join(format!("{agent}.json"))
    }

    /// Where an inline prompt is written for `FLEET_TASK`.
    pub fn prompt_path(&self, agent: &str) -> PathBuf {
        self.root.join("tasks").join(format!("{agent}.md"))
    }

    /// The marker of a worktree `up` is making for `agent` (see [`Dir::mark_making`]).
    fn making_path(&self, agent: &str) -> PathBuf {
        self.root.join("making").join(agent)
    }

    /// Say, before the first change, that `up` is making this worktree: until
    /// [`Dir::made`] it holds nothing but what fleet put there (no agent has run in it), so
    /// an `up` killed meanwhile leaves it for the next `up` to take apart and make again.
    pub fn mark_making(&self, agent: &str, worktree: &Path) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        util::write_atomic(&self.making_path(agent), worktree.as_os_str().as_bytes())
    }

    /// The worktree of `agent` is complete (registered, checked out, `copy:` files in).
    pub fn made(&self, agent: &str) -> Result<()> {
        let path = self.making_path(agent);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// The disk use of `agent`'s worktree as `up` measured it when it made the worktree
    /// (bytes of its checked-out files and its `seed:` copies).
    pub fn disk_bytes(&self, agent: &str) -> Option<u64> {
        let text = fs::read_to_string(self.root.join("disk").join(agent)).ok()?;
        text.trim().parse().ok()
    }

    /// The worktrees an earlier `up` began and did not complete: (agent, worktree).
    pub fn half_made(&self) -> Vec<(String, PathBuf)> {
        use std::os::unix::ffi::OsStrExt;
        let Ok(entries) = fs::read_dir(self.root.join("making")) else {
            return Vec::new();
        };
        let mut found: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                if name.starts_with('.') {
                    // a temp file of a write cut short
                    let _ = fs::remove_file(e.path());
                    return None;
                }
                let bytes = fs::read(e.path()).ok()?;
                let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
                Some((name, path)).filter(|(_, p)| p.is_absolute())
            })
            .collect();
        found.sort();
        found
    }

    /// The base branch the first `up` resolved when the manifest names none.
    pub fn base(&self) -> Option<String> {
        let text = fs::read_to_string(self.root.join("base")).ok()?;
        Some(text.trim().to_string()).filter(|b| !b.is_empty())
    }

    /// Remember the resolved base (once; later `up`s keep the first).
    pub fn remember_base(&self, base: &str) -> Result<()> {
        let path = self.root.join("base");
        if path.exists() {
            return Ok(());
        }
        util::write_atomic(&path, format!("{base}\n").as_bytes())
    }

    /// The socket of the tmux server this fleet's sessions were last made on (recorded by
    /// [`crate::launch::sessions::create`], used by [`crate::tmux::use_server`]).
    pub fn server(&self) -> Option<PathBuf> {
        let text = fs::read_to_string(self.root.join("tmux-server")).ok()?;
        Some(PathBuf::from(text.trim_end_matches('\n'))).filter(|p| p.is_absolute())
    }

    /// Record the tmux server this fleet's sessions are on.
    pub fn remember_server(&self, socket: &Path) -> Result<()> {
        let text = format!("{}\n", socket.display());
        if fs::read_to_string(self.root.join("tmux-server")).is_ok_and(|t| t == text) {
            return Ok(());
        }
        util::write_atomic(&self.root.join("tmux-server"), text.as_bytes())
    }

    /// The agent's record, if it ever started. A record that is there but cannot be read
    /// (truncated, edited by hand) is not taken for "never started": it comes back as
    /// [`State::Damaged`] with the reason, and nothing starts the agent on a guess.
    pub fn record(&self, agent: &str) -> Option<Record> {
        let path = self.record_path(agent);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return Some(Record::damaged(&path, &e.to_string())),
        };
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| Record::damaged(&path, &e.to_string())),
        )
    }

    pub fn write_record(&self, agent: &str, record: &Record) -> Result<()> {
        write_json(&self.record_path(agent), record)
    }

    /// Remove `.fleet/` when it holds nothing but the lock (a refused first `up`).
    pub fn remove_if_unused(&self) {
        let only_lock = fs::read_dir(&self.root).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .all(|e| e.file_name() == "lock")
        });
        if only_lock {
            let _ = fs::remove_file(self.root.join("lock"));
            let _ = fs::remove_dir(&self.root);
        }
    }
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    util::write_atomic(path, &json_bytes(value)?)
}

/// What [`write_json`] writes: the value as pretty JSON and a newline.
pub(crate) fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_states() {
        let running = Record {
            state: Some(State::Running),
            ..Default::default()
        };
        assert_eq!(Record::derive(None, false), State::Pending);
        assert_eq!(Record::derive(Some(&running), true), State::Running);
        assert_eq!(Record::derive(Some(&running), false), State::Lost);
        let done = Record {
            state: Some(State::Done),
            ..Default::default()
        };
        assert_eq!(Record::derive(Some(&done), false), State::Done);
    }
}
