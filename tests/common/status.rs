//! `fleet status --json` as the tests of hosts read it: run with a PATH (the test sshd's
//! ssh first), parsed into the agents by name, and polled until a condition holds.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Fleet;

/// How long agents on all hosts may take to reach what a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// `status --json` with `path` as PATH, parsed: the agents by name.
#[track_caller]
pub fn agents_by_name(f: &Fleet, path: &str) -> BTreeMap<String, Value> {
    let run = f.fleet_at(&f.repo, &[("PATH", path)], &["status", "--json"]);
    run.success();
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.output()));
    v["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("no agents: {v}"))
        .iter()
        .map(|a| (a["name"].as_str().unwrap_or("").to_string(), a.clone()))
        .collect()
}

/// Polls [`agents_by_name`] until `want` holds; panics after [`DEADLINE`] naming `what`.
#[track_caller]
pub fn wait_for(
    f: &Fleet,
    path: &str,
    what: &str,
    want: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let agents = agents_by_name(f, path);
        if want(&agents) {
            return agents;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}: {agents:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
