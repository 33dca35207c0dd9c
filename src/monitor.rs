//! The monitor session `<project>-monitor`: a status pane plus one pane per agent (titled with
//! its name) following its log, tiled, in as many windows as it takes.
use std::path::Path;

use crate::manifest::Plan;
use crate::tmux::{self, Batch};

/// Panes per monitor window by default (the first window's status pane included): 3x3
/// stays readable on a 200x50 terminal. The manifest's `monitor: {per_window: N}` sets it.
pub const PER_WINDOW: usize = 9;
/// The size of detached sessions (tmux would make them 80x24).
pub const WIDTH: &str = "200";
pub const HEIGHT: &str = "50";

/// The pane titles the monitor of this plan has: `status`, then every agent's name.
pub fn titles(plan: &Plan) -> Vec<String> {
    std::iter::once("status".to_string())
        .chain(plan.agents.iter().map(|a| a.name.clone()))
        .collect()
}

/// Each pane's border: its title and, once known, its agent's state (`@fleet_state`, kept
/// up to date by the status pane), coloured by state.
const BORDER: &str = concat!(
    " #{?#{m:done*,#{@fleet_state}},#[fg=green],",
    "#{?#{m:failed*,#{@fleet_state}},#[fg=red],",
    "#{?#{m:lost*,#{@fleet_state}},#[fg=magenta],",
    "#{?#{m:stopped*,#{@fleet_state}},#[fg=yellow],}}}}",
    "#{pane_title}#{?@fleet_state,: #{@fleet_state},}#[default] "
);

/// Put each agent's label (`running`, `failed (exit 3)`) on its pane's border where the
/// border (`panes`, from [`tmux::snapshot`]) says something else: one tmux process, and only
/// when a state changed. What the borders say is read from tmux each time, so nothing here
/// can go stale.
pub fn mark(panes: &[tmux::Pane], labels: &[(String, String)]) {
    let mut batch = Batch::new();
    for (name, label) in labels {
        if let Some(p) = panes.iter().find(|p| p.title == *name && p.mark != *label) {
            batch.add("set-option", &["-p", "-t", &p.id, "@fleet_state", label]);
        }
    }
    if !batch.is_empty() {
        // A pane that went meanwhile: the next refresh tries again.
        let _ = batch.run();
    }
}

fn follow(log: &Path) -> Vec<String> {
    // `-F` keeps following when the log is created late or rotated.
    vec![
        "tail".into(),
        "-n".into(),
        "200".into(),
        "-F".into(),
        log.display().to_string(),
    ]
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
    batch.add("select-pane", &["-t", &win, "-T", "status"]);
    batch.add("set-option", &["-t", &win, tmux::TAG, &tag]);
    let style = |b: &mut Batch| {
        b.add(
            "set-option",
            &["-w", "-t", &win, "pane-border-status", "top"],
        );
        b.add(
            "set-option",
            &["-w", "-t", &win, "pane-border-format", BORDER],
        );
        b.add("set-option", &["-w", "-t", &win, "remain-on-exit", "on"]);
    };
    style(batch);
    let mut in_window = 1;
    let mut window_no = 1;
    for agent in &plan.agents {
        let mut cmd = follow(&agent.log);
        if in_window >= plan.per_window {
            window_no += 1;
            in_window = 0;
            let name = format!("monitor-{window_no}");
            let mut args = vec!["-t".to_string(), win.clone(), "-n".into(), name];
            args.append(&mut cmd);
            batch.add("new-window", &args);
            style(batch);
        } else {
            let mut args = vec!["-t".to_string(), win.clone()];
            args.append(&mut cmd);
            batch.add("split-window", &args);
        }
        // Explicit targets only: from inside tmux "the current pane" is the user's.
        batch.add("select-pane", &["-t", &win, "-T", &agent.name]);
        // Re-tile after each split so the next split has room.
        batch.add("select-layout", &["-t", &win, "tiled"]);
        in_window += 1;
    }
    batch.add("select-window", &["-t", &format!("{}^", win)]);
    batch.add(
        "select-pane",
        &["-t", &format!("{}:^.{{top-left}}", tmux::exact(&session))],
    );
}
