//! The monitor session `<project>-monitor`: a status pane plus one pane per agent (titled with
//! its name) following its log, tiled, in as many windows as it takes; an agent on another
//! host has its pane too, following its log there over ssh. `monitor: {enabled: false}`:
//! none (a host's fleet gets that: the monitor here shows its agents).
use std::collections::HashSet;
use std::path::Path;

use crate::manifest::Plan;
use crate::tmux::{self, Batch};

/// Panes per monitor window by default (the first window's status pane included): 3x3
/// stays readable on a 200x50 terminal. The manifest's `monitor: {per_window: N}` sets it.
pub const PER_WINDOW: usize = crate::manifest::DEFAULT_PER_WINDOW;
/// The size of detached sessions (tmux would make them 80x24).
pub const WIDTH: &str = "200";
pub const HEIGHT: &str = "50";

/// The panes the monitor of this plan has, in order, each as (its window: 0, 1, …; its
/// agent, empty for the status pane): what [`tmux::Snapshot::layout`] reads back. A monitor
/// that differs (agents or `per_window` changed, a pane closed or added by hand) is rebuilt.
pub fn layout(plan: &Plan) -> Vec<(usize, String)> {
    let mut panes = vec![(0, String::new())];
    let mut in_window = 1;
    let mut window = 0;
    for name in agents(plan) {
        if in_window >= plan.per_window {
            window += 1;
            in_window = 0;
        }
        panes.push((window, name.to_string()));
        in_window += 1;
    }
    panes
}

/// The agents the monitor shows, in order: this machine's, then those on other hosts.
fn agents(plan: &Plan) -> impl Iterator<Item = &str> {
    let here = plan.agents.iter().map(|a| a.name.as_str());
    here.chain(plan.remote.iter().map(|r| r.agent.name.as_str()))
}

/// The monitor in `snap` is not the one this plan gives (agents or `per_window` changed, a
/// pane closed, added or ended): `up` rebuilds it.
pub fn stale(plan: &Plan, snap: &tmux::Snapshot) -> bool {
    snap.dead_pane() || snap.layout() != layout(plan)
}

/// What `up` does with the monitor, given the sessions this fleet owns and the monitor's
/// panes in `snap`: (left alone, closed first). One that runs but is not the one this plan
/// gives ([`stale`]), or runs though the manifest turned the monitor off (left from before),
/// is closed; left alone is a monitor that runs as it should, or none when it is off.
/// (The launch layer's `sessions_batch` builds one only when it is on.)
pub fn verdict(plan: &Plan, owned: &HashSet<String>, snap: &tmux::Snapshot) -> (bool, bool) {
    let running = owned.contains(&plan.monitor_session());
    let close = running && (!plan.monitor_enabled || stale(plan, snap));
    let alive = if plan.monitor_enabled {
        running && !close
    } else {
        !running
    };
    (alive, close)
}

/// Each pane's border: its title and, once known, its agent's state (`@fleet_state`, kept
/// up to date by the status pane), coloured by state.
const BORDER: &str = concat!(
    " #{?#{m:done*,#{@fleet_state}},#[fg=green],",
    "#{?#{m:failed*,#{@fleet_state}},#[fg=red],",
    "#{?#{m:lost*,#{@fleet_state}},#[fg=magenta],",
    "#{?#{m:stopped*,#{@fleet_state}},#[fg=yellow],}}}}",
    "#{?@fleet_agent,#{@fleet_agent},status}#{?@fleet_state,: #{@fleet_state},}#[default] "
);

/// Put each agent's label (`running`, `failed (exit 3)`) on its pane's border where the
/// border (`panes`, from [`tmux::snapshot`]) says something else: one tmux process, and only
/// when a state changed. What the borders say is read from tmux each time, so nothing here
/// can go stale.
pub fn mark(panes: &[tmux::Pane], labels: &[(String, String)]) {
    let mut batch = Batch::new();
    for (name, label) in labels {
        if let Some(p) = panes.iter().find(|p| p.agent == *name && p.mark != *label) {
            batch.add("set-option", &["-p", "-t", &p.id, "@fleet_state", label]);
        }
    }
    if !batch.is_empty() {
        // A pane that went meanwhile: the next refresh tries again.
        let _ = batch.run();
    }
}

/// The lines of its log a pane starts with.
const LINES: &str = "200";

/// The command of an agent's pane: `tail -F` of the log of an agent here (`-F` keeps
/// following when the log is created late or rotated), its complaints (`cannot open` while
/// a queued agent has no log yet, `has appeared`, `file truncated`) kept off the pane, which
/// shows the log and nothing else; the path is the shell's `$1`, never part of its script.
/// For an agent on another host, this fleet following its log there (`logs NAME --follow
/// --monitor`, which says when the host drops and follows again when it is back), its own
/// words (no shell).
fn follow(plan: &Plan, fleet_exe: &Path, name: &str) -> Vec<String> {
    match plan.agents.iter().find(|a| a.name == name) {
        Some(agent) => vec![
            "sh".into(),
            "-c".into(),
            format!("exec tail -n {LINES} -F -- \"$1\" 2>/dev/null"),
            "fleet-follow".into(),
            agent.log.display().to_string(),
        ],
        None => [
            &fleet_exe.display().to_string(),
            "-f",
            &plan.manifest.display().to_string(),
            "logs",
            name,
            "--follow",
            "--monitor",
            "-n",
            LINES,
        ]
        .map(String::from)
        .to_vec(),
    }
}

/// Add the commands that build the monitor session to `batch`.
pub fn build(plan: &Plan, fleet_exe: &Path, batch: &mut Batch) {
    let session = plan.monitor_session();
    let win = tmux::window(&session);
    let exe = fleet_exe.display().to_string();
    let manifest = plan.manifest.display().to_string();
    let tag = plan.tag();
    batch.add(
        "new-session",
        &[
            "-d",
            "-s",
            &session,
            "-x",
            WIDTH,
            "-y",
            HEIGHT,
            "-n",
            "monitor",
            &exe,
            "-f",
            &manifest,
            "status",
            "--watch",
            "--monitor",
        ],
    );
    // The rest on new-session's line: if it fails (someone else's session took the name
    // meanwhile) tmux skips them all instead of acting on that session.
    batch.and("select-pane", &["-t", &win, "-T", "status"]);
    batch.and("set-option", &["-t", &win, tmux::TAG, &tag]);
    tmux::keep_session(batch, &win);
    let style = |b: &mut Batch| {
        b.and(
            "set-option",
            &["-w", "-t", &win, "pane-border-status", "top"],
        );
        b.and(
            "set-option",
            &["-w", "-t", &win, "pane-border-format", BORDER],
        );
        b.and("set-option", &["-w", "-t", &win, "remain-on-exit", "on"]);
    };
    style(batch);
    // The agents' panes, each in the window the layout gives it (the status pane is first).
    let mut current = 0;
    for (window, name) in layout(plan).into_iter().skip(1) {
        let mut cmd = follow(plan, fleet_exe, &name);
        if window != current {
            current = window;
            let name = format!("monitor-{}", window + 1);
            let mut args = vec!["-t".to_string(), win.clone(), "-n".into(), name];
            args.append(&mut cmd);
            batch.and("new-window", &args);
            style(batch);
        } else {
            let mut args = vec!["-t".to_string(), win.clone()];
            args.append(&mut cmd);
            batch.and("split-window", &args);
        }
        // Explicit targets only: from inside tmux "the current pane" is the user's. The new
        // pane is the window's active one: its agent goes in a pane option, which is how
        // fleet knows the pane again (the title is only for show: `tail` prints what the
        // agent printed, terminal title sequences included).
        batch.and("select-pane", &["-t", &win, "-T", &name]);
        batch.and("set-option", &["-p", "-t", &win, "@fleet_agent", &name]);
        // Re-tile after each split so the next split has room.
        batch.and("select-layout", &["-t", &win, "tiled"]);
    }
    batch.and("select-window", &["-t", &format!("{}^", win)]);
    batch.and(
        "select-pane",
        &["-t", &format!("{}:^.{{top-left}}", tmux::exact(&session))],
    );
}
