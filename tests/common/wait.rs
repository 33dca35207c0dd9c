//! What fleet says of its agents (`status --json`, an agent's object and state) and waiting
//! for it with a deadline; [`Fleet::diagnostics`] is what a failed wait shows.
use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Fleet, DEADLINE};

impl Fleet {
    /// `fleet status --json`, parsed. Panics when it fails or is not JSON.
    #[track_caller]
    pub fn status_json(&self) -> Value {
        let run = self.fleet(&["status", "--json"]);
        run.success();
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!("`fleet status --json` is not JSON: {e}\n{}", run.describe())
        })
    }

    /// The agent's object from `fleet status --json`.
    #[track_caller]
    pub fn agent(&self, name: &str) -> Value {
        let status = self.status_json();
        status["agents"]
            .as_array()
            .unwrap_or_else(|| panic!("status has no agents array: {status}"))
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no agent {name:?} in status: {status}"))
            .clone()
    }

    /// The agent's state from `fleet status --json`.
    #[track_caller]
    pub fn state(&self, name: &str) -> String {
        self.agent(name)["state"]
            .as_str()
            .unwrap_or("<not a string>")
            .to_string()
    }

    /// Polls `cond` until it holds or `secs` pass; true when it held.
    pub fn try_wait_for(&self, secs: u64, mut cond: impl FnMut(&Fleet) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `cond` until it holds; after `secs` panics with `what` and what fleet and tmux see.
    #[track_caller]
    pub fn wait_for(&self, what: &str, secs: u64, cond: impl FnMut(&Fleet) -> bool) {
        if !self.try_wait_for(secs, cond) {
            panic!(
                "timed out after {secs}s waiting for {what}\n{}",
                self.diagnostics()
            );
        }
    }

    /// Waits until the agent reaches `state`.
    #[track_caller]
    pub fn wait_state(&self, name: &str, state: &str) {
        self.wait_for(&format!("agent {name} to be {state}"), DEADLINE, |f| {
            f.state(name) == state
        });
    }

    /// What a failing test wants to know: status, sessions, panes.
    pub fn diagnostics(&self) -> String {
        let status = self.fleet(&["status", "--json"]);
        let panes = self.tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{session_name} #{pane_id} #{pane_title} dead=#{pane_dead} #{pane_current_command}",
        ]);
        let logs: BTreeMap<String, String> = fs::read_dir(self.repo.join(".fleet/logs"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().to_string(),
                            fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "--- fleet status --json (exit {}) ---\n{}{}\n--- tmux panes ---\n{}{}\n--- logs ---\n{logs:#?}",
            status.code, status.stdout, status.stderr, panes.stdout, panes.stderr
        )
    }
}
