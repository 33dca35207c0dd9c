//! The radar over a fleet with agents on other hosts, with the real private sshd of
//! tests/common/sshd.rs (else `SKIP ssh: …`): an agent here and one on host-a editing the
//! same file (uncommitted, as host-a's `status --json` reports its paths), and an agent here
//! and one on host-b whose commits (the fetched branch) would conflict, appear in `status`,
//! `status --json` and `status --watch`; an agent on a host editing a file of its own
//! produces nothing.
mod common;

use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::Fleet;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(40);

#[test]
fn agents_on_hosts_are_in_the_radar_with_their_uncommitted_and_committed_work() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let (a, b) = (sshd.host("host-a").clone(), sshd.host("host-b").clone());
    let commits = |file: &str, text: &str| {
        format!("printf '{text}' > {file}; git add {file}; git commit -qm 'write {file}'; sleep 60")
    };
    f.manifest(&format!(
        "hosts:\n  \
           host-a: {{ssh: host-a, dir: {ra}, fleet: {fl}}}\n  \
           host-b: {{ssh: host-b, dir: {rb}, fleet: {fl}}}\n\
         agents:\n  \
           - name: here\n    prompt: x\n    command: \"printf 'here\\\\n' >> README.md; sleep 60\"\n  \
           - name: mine\n    prompt: x\n    command: \"{mine}\"\n  \
           - name: far\n    prompt: x\n    host: host-a\n    command: \"printf 'far\\\\n' >> README.md; sleep 60\"\n  \
           - name: apart\n    prompt: x\n    host: host-a\n    command: \"printf 'apart\\\\n' > apart.txt; sleep 60\"\n  \
           - name: theirs\n    prompt: x\n    host: host-b\n    command: \"{theirs}\"\n",
        ra = a.dir.join("repo").display(),
        rb = b.dir.join("repo").display(),
        fl = fleet.display(),
        mine = commits("notes.txt", "mine\\\\n"),
        theirs = commits("notes.txt", "theirs\\\\n"),
    ));
    let path = sshd.path();
    let env = [("PATH", path.as_str())];
    let fl = |args: &[&str]| f.fleet_at(&f.repo, &env, args);
    fl(&["up"]).success();

    let want = json!([
        {"agents": ["here", "far"], "files": ["README.md"], "conflict": false},
        {"agents": ["mine", "theirs"], "files": ["notes.txt"], "conflict": true},
    ]);
    let deadline = Instant::now() + DEADLINE;
    let mut last = Value::Null;
    while last["overlaps"] != want {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the overlaps: {last:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
        let run = fl(&["status", "--json"]);
        run.success();
        last = serde_json::from_str(&run.stdout).unwrap();
    }
    // host-a's fleet reports the paths its agents change (a field added for this).
    let far = last["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "far")
        .unwrap()
        .clone();
    assert_eq!(far["uncommitted_paths"], json!(["README.md"]), "{far:#}");
    fl(&["status"])
        .success()
        .stdout_has("here and far both change README.md\n")
        .stdout_has("mine and theirs both change notes.txt (would conflict)\n");

    // --watch (what the monitor's status pane runs) from what the hosts answered.
    let watch = f.spawn_fleet_env(&env, &["status", "--watch"]);
    let deadline = Instant::now() + DEADLINE;
    while !watch
        .stdout_so_far()
        .contains("here and far both change README.md")
    {
        assert!(
            Instant::now() < deadline,
            "status --watch never showed the overlap:\n{}",
            watch.stdout_so_far()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(watch
        .stdout_so_far()
        .contains("mine and theirs both change notes.txt (would conflict)"));
    watch.signal_group("INT");
    watch.wait();
    fl(&["down"]).success();
}
