//! `monitor: {enabled: false}`: a fleet without a monitor session. `up` starts the agents and
//! builds none (nor does the runner that starts a queued agent), `status` and `status --json`
//! say it is off, `attach` without a name says what to do instead, and a monitor left from
//! before is closed by `up` and by `down`.

mod common;

use common::{Fleet, DEADLINE};

/// Two agents, one at a time: `a` ends at once, so its runner starts the queued `b`.
const OFF: &str = r#"monitor:
  enabled: false
max_parallel: 1
agents:
  - name: a
    prompt: "first"
    command: "echo a ends"
  - name: b
    prompt: "second"
    command: "echo b sleeps; sleep 60"
"#;

fn no_monitor(f: &Fleet) -> bool {
    !f.sessions().iter().any(|s| s == "repo-monitor")
}

#[test]
fn a_fleet_with_the_monitor_off_runs_its_agents_without_one() {
    let f = Fleet::new();
    f.manifest(OFF);
    f.fleet(&["validate"])
        .success()
        .stdout_has("monitor:      none (monitor: enabled: false)");
    let up = f.fleet(&["up"]);
    up.success()
        .stdout_has("started 1 agent; 1 queued")
        .stdout_has("watch:   fleet status --watch  (no monitor: monitor: enabled: false)");
    assert!(!up.stdout.contains("monitor,"), "{}", up.stdout);
    assert!(!up.stdout.contains("and the monitor"), "{}", up.stdout);
    assert!(no_monitor(&f), "{:?}", f.sessions());

    // a's runner starts the queued b, in b's session, and builds no monitor (one tmux call
    // would have made both).
    f.wait_state("a", "done");
    f.wait_state("b", "running");
    f.wait_for("b's session", DEADLINE, |f| {
        f.sessions().iter().any(|s| s == "repo-b")
    });
    assert!(no_monitor(&f), "{:?}\n{}", f.sessions(), f.diagnostics());

    let status = f.fleet(&["status"]);
    status
        .success()
        .stdout_has("monitor: off (monitor: enabled: false)");
    let json = f.status_json();
    assert_eq!(json["monitor"]["running"], false, "{json}");
    assert_eq!(json["monitor"]["enabled"], false, "{json}");
    assert_eq!(json["monitor"]["session"], "repo-monitor", "{json}");

    // attach without a name: no monitor to go to, the agents to go to instead (even one).
    let manifest = f.manifest_path().display().to_string();
    f.fleet(&["attach"])
        .code(1)
        .stderr_has(&format!(
            "this fleet has no monitor (monitor: enabled: false in {manifest})"
        ))
        .stderr_has("`fleet attach NAME` (a, b)")
        .stderr_has("enable the monitor");
    // up --attach would attach to it: refused before anything starts.
    let before = f.pane_fingerprint();
    f.fleet(&["up", "--attach"])
        .code(2)
        .stderr_has("--attach attaches to the monitor, and this fleet has none");
    assert_eq!(f.pane_fingerprint(), before);

    // Nothing to do, and doctor does not miss the monitor.
    f.fleet(&["up"]).success().stdout_has("nothing to do");
    assert!(no_monitor(&f), "{:?}", f.sessions());
    let doctor = f.fleet(&["doctor"]);
    assert!(!doctor.stdout.contains("monitor"), "{}", doctor.stdout);
}

#[test]
fn a_monitor_left_from_before_is_closed_by_up_and_by_down() {
    let f = Fleet::new();
    let on = OFF.replace("  enabled: false\n", "  enabled: true\n");
    f.manifest(&on);
    f.fleet(&["up"]).success().stdout_has("and the monitor");
    assert!(!no_monitor(&f), "{:?}", f.sessions());
    f.wait_state("b", "running");

    // Turned off: status says the old one still runs, `up` closes it.
    f.manifest(OFF);
    f.fleet(&["status"])
        .success()
        .stdout_has("monitor: off (monitor: enabled: false); repo-monitor left from before still runs (`fleet up` closes it)");
    assert_eq!(f.status_json()["monitor"]["running"], true);
    f.fleet(&["up"])
        .success()
        .stdout_has("closed the monitor repo-monitor (monitor: enabled: false)");
    assert!(no_monitor(&f), "{:?}", f.sessions());
    assert_eq!(f.state("b"), "running");

    // On again, then off: `down` still closes it.
    f.manifest(&on);
    f.fleet(&["up"])
        .success()
        .stdout_has("started the monitor (no agent to start)");
    assert!(!no_monitor(&f), "{:?}", f.sessions());
    f.manifest(OFF);
    f.fleet(&["down"])
        .success()
        .stdout_has("closed the monitor repo-monitor");
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
}
