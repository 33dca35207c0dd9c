//! `fleet status [NAMES…] [--json] [--watch]`: the table (or JSON) of the fleet, once or
//! refreshed every second; how it is drawn lives in [`show`], and with agents on other
//! hosts in [`hosts`].
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::cli::StatusArgs;
use crate::git::Stats;
use crate::hosts::asker::{Board, Heard};
use crate::launch::fleet_command;
use crate::manifest::Plan;
use crate::view::{
    agent_line, collect, collect_with, is_footer, notice, owned, Detail, Reads, View,
};
use crate::{tmux, util};

mod budget;
mod changes;
mod frame;
mod hosts;
mod overlaps;
mod show;

use frame::Frame;
pub use show::{label, round_cell, round_cell_of, table, to_json, Cells};

/// Lines are cut to the terminal's width; unlimited when stdout is not a terminal.
fn terminal_width() -> usize {
    util::terminal_width().unwrap_or(usize::MAX)
}

/// The monitor's LAST LINE: the log's last line but fleet's footer (`[fleet] agent1 failed
/// (exit 3) after 2s at …`), which only repeats the STATE column beside it.
fn last_line_in_monitor(v: &View, reads: &mut Reads) -> String {
    if is_footer(&v.agent.name, &v.last_line) {
        agent_line(v, true, reads)
    } else {
        v.last_line.clone()
    }
}

/// What `--watch` keeps from one frame to the next.
#[derive(Default)]
struct Kept {
    /// The git work by agent name: refreshed when the detail is Full, else used as it is.
    stats: HashMap<String, Stats>,
    /// Each agent's state as its monitor pane's border says it.
    labels: Vec<(String, String)>,
    /// The radar's lines under the table and what they came from.
    radar: overlaps::Kept,
    /// The records, rounds and log tails as last read (`--watch`: until inotify says one
    /// changed).
    reads: Reads,
}

/// The status text of the whole fleet: table plus the monitor's line (not in the monitor
/// itself, where LAST LINE skips fleet's footer too). With hosts (`heard`: what each
/// answered last), in one table, their problems under it.
fn render(
    plan: &Plan,
    names: &[String],
    in_monitor: bool,
    sessions: &[tmux::Session],
    detail: Detail,
    kept: &mut Kept,
    heard: Option<&Heard>,
) -> Result<String> {
    let owned = owned(plan, sessions);
    let split = plan.split_names(names)?;
    let agents = match &split.local {
        Some(local) => plan.select(local)?,
        None => Vec::new(),
    };
    let mut views = collect_with(plan, &agents, &owned, detail, &mut kept.reads);
    overlaps::refresh(plan, &views, detail == Detail::Full, heard, &mut kept.radar);
    keep_frame(&mut views, in_monitor, detail, kept);
    let monitor = if in_monitor {
        String::new()
    } else {
        monitor_line(plan, owned.contains(&plan.monitor_session()))
    };
    let dir = crate::state::Dir::new(&plan.state_dir);
    let rounds: HashMap<&str, Option<(u32, String)>> = views
        .iter()
        .map(|v| {
            let rounds = kept.reads.rounds(&dir, &v.agent.name);
            (v.agent.name.as_str(), round_cell_of(&rounds, v))
        })
        .collect();
    let of_view = |v: &View| {
        let c = Cells::of_view(v);
        Cells {
            round: rounds.get(v.agent.name.as_str()).cloned().flatten(),
            label: budget::label(plan, v.agent, v.state, c.label.clone()),
            ..c
        }
    };
    let budget = budget::line(plan);
    let Some(heard) = heard else {
        let cells: Vec<Cells> = views.iter().map(of_view).collect();
        let table = table(&cells, terminal_width(), util::color_stdout());
        let overlaps = &kept.radar.lines;
        return Ok(format!(
            "{table}{budget}{overlaps}{monitor}{}",
            pending_line(plan)
        ));
    };
    // This machine's agents from their views, each host's from what it said: one table.
    let mut cells: Vec<Cells> = views
        .iter()
        .map(|v| Cells {
            host: Some(crate::manifest::LOCAL.to_string()),
            ..of_view(v)
        })
        .collect();
    let problems = host_cells(plan, &split, heard, kept, &mut cells);
    let table = table(&cells, terminal_width(), util::color_stdout());
    let overlaps = &kept.radar.lines;
    Ok(format!(
        "{table}{budget}{overlaps}{problems}{monitor}{}",
        pending_line(plan)
    ))
}

/// Carry the git work between frames (kept when `detail` is Full, used otherwise), the
/// monitor's LAST LINE (`in_monitor`), and keep each agent's state label.
fn keep_frame(views: &mut [View], in_monitor: bool, detail: Detail, kept: &mut Kept) {
    for v in views.iter_mut() {
        if detail == Detail::Full {
            kept.stats.insert(v.agent.name.clone(), v.stats);
        } else if let Some(s) = kept.stats.get(&v.agent.name) {
            v.stats = *s;
        }
        if in_monitor {
            v.last_line = last_line_in_monitor(v, &mut kept.reads);
        }
    }
    kept.labels = views
        .iter()
        .map(|v| (v.agent.name.clone(), label(v)))
        .collect();
}

/// Each host's agents as it answered last, appended to `cells` (their labels kept); the
/// warnings of the hosts that did not answer, one line each.
fn host_cells(
    plan: &Plan,
    split: &crate::manifest::Names,
    heard: &Heard,
    kept: &mut Kept,
    cells: &mut Vec<Cells>,
) -> String {
    let mut problems = String::new();
    for (host, wanted) in &split.hosts {
        let answer = heard.get(host);
        if let Some(Err(e)) = answer {
            let line = format!("warning: {}", util::display_text(e));
            problems.extend(line.chars().take(terminal_width().max(20)));
            problems.push('\n');
        }
        for a in hosts::host_agents(plan, host, wanted, answer) {
            let c = Cells::of_json(&a);
            if a["state"] != hosts::CONNECTING {
                kept.labels.push((c.name.clone(), c.label.clone()));
            }
            cells.push(c);
        }
    }
    problems
}

/// The warning under the table when base holds a merge fleet made and never verified (see
/// [`crate::train::journal`]); empty otherwise.
fn pending_line(plan: &Plan) -> String {
    crate::train::journal::warning(plan)
        .map(|w| format!("warning: {}\n", util::display_text(&w)))
        .unwrap_or_default()
}

/// `status --json`'s `pending_merge`: the merge fleet made and never verified, or null.
fn pending_json(plan: &Plan) -> serde_json::Value {
    match crate::train::journal::pending(plan) {
        Ok(Some(p)) => p.to_json(),
        _ => serde_json::Value::Null,
    }
}

/// The line under the table that says whether the monitor runs, and how to see it.
fn monitor_line(plan: &Plan, running: bool) -> String {
    if !plan.monitor_enabled {
        let left = if running {
            format!(
                "; {} left from before still runs (`{} up` closes it)",
                plan.monitor_session(),
                fleet_command(plan)
            )
        } else {
            String::new()
        };
        format!("monitor: off (monitor: enabled: false){left}\n")
    } else if running {
        format!(
            "monitor: {} ({} attach)\n",
            plan.monitor_session(),
            fleet_command(plan)
        )
    } else {
        "monitor: not running (fleet up starts it)\n".to_string()
    }
}

const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";

/// `--watch` refreshes states and log lines every second, the git work every few seconds.
const WATCH_GIT_EVERY: u32 = 5;

pub fn run(file: Option<&Path>, args: &StatusArgs) -> Result<i32> {
    let plan = crate::launch::load(file)?;
    if !plan.remote.is_empty() && !args.watch {
        if args.json {
            let mut value = hosts::json(&plan, &args.names)?;
            value["pending_merge"] = pending_json(&plan);
            value["budget"] = budget::json(&plan);
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            print!("{}", hosts::table(&plan, &args.names, terminal_width())?);
            print!("{}", pending_line(&plan));
        }
        return Ok(0);
    }
    if args.json {
        return json(&plan, args);
    }
    if !args.watch {
        let text = render(
            &plan,
            &args.names,
            false,
            &tmux::sessions()?,
            Detail::Full,
            &mut Kept::default(),
            None,
        )?;
        print!("{text}");
        return Ok(0);
    }
    watch(plan, args)
}

/// `status --json`: every detail, once.
fn json(plan: &Plan, args: &StatusArgs) -> Result<i32> {
    let sessions = tmux::sessions()?;
    let owned = owned(plan, &sessions);
    let agents = plan.select(&args.names)?;
    let mut views = collect(plan, &agents, &owned, Detail::Full);
    if args.monitor {
        // Asked by the monitor of a fleet whose agents this host runs: its LAST LINE.
        for v in views.iter_mut() {
            v.last_line = last_line_in_monitor(v, &mut Reads::default());
        }
    }
    let mut value = to_json(plan, &views, owned.contains(&plan.monitor_session()));
    value["pending_merge"] = pending_json(plan);
    value["budget"] = budget::json(plan);
    let told = notice::Told::read(&plan.state_dir);
    let sessions = notice::sessions(&views);
    value["overlaps"] = overlaps::overlaps(plan, &overlaps::works(&views), &[])
        .iter()
        .map(|o| notice::to_json(plan, &told, &sessions, o))
        .collect();
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(0)
}

/// `status --watch` (and the monitor's status pane with `--monitor`): a frame a second
/// until Ctrl-C, following edits of the manifest. The agents on hosts are asked in the
/// background every [`WATCH_GIT_EVERY`] seconds, over one link per host ([`Board`]). Git
/// runs only when a worktree or a branch changed, tmux is asked only when a record changed
/// or every [`WATCH_GIT_EVERY`] seconds, only the records, rounds and logs that changed are
/// read again ([`changes`]), and only the lines that changed are drawn again.
fn watch(mut plan: Plan, args: &StatusArgs) -> Result<i32> {
    let mut kept = Kept {
        reads: Reads::keeping(),
        ..Kept::default()
    };
    let mut changes = changes::Changes::new(&plan);
    let mut frame = Frame::default();
    // A worktree or a branch changed since the last git refresh.
    let mut git_due = true;
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&plan.manifest);
    let mut loaded: Result<()> = Ok(());
    let mut board: Option<Board> = None;
    // Ctrl-C ends the loop between two frames, so the terminal is left whole: the last
    // frame, the cursor shown again, the prompt on a fresh line.
    util::defer_interrupts_quietly();
    print!("{HIDE_CURSOR}");
    for tick in 0u32.. {
        // Follow edits of the manifest; show its errors in place until they are fixed.
        let now = modified(&plan.manifest);
        if now != seen {
            seen = now;
            loaded = crate::launch::load(Some(&plan.manifest)).map(|p| plan = p);
            changes = changes::Changes::new(&plan);
        }
        if loaded.is_ok() {
            ask_hosts(&plan, args, &mut board);
        }
        // In the monitor the git work starts with the second refresh: its first frame, drawn
        // while `up` is still starting the agents, comes from the records and logs alone.
        let first_git = u32::from(args.monitor);
        let slow = tick % WATCH_GIT_EVERY == first_git;
        let changed = changes.take();
        if changed.all_files {
            kept.reads.forget();
        }
        for file in &changed.files {
            kept.reads.changed(file);
        }
        git_due |= changed.git;
        let detail = if slow && git_due {
            git_due = false;
            Detail::Full
        } else {
            Detail::Logs
        };
        // The sessions: asked of tmux at the slow refresh, or when a record changed.
        frame.ask_tmux |= slow || changed.records || tick == 0;
        let heard = (!plan.remote.is_empty()).then(|| board.as_ref().map(Board::heard));
        let heard = heard.map(Option::unwrap_or_default);
        let text = frame_text(
            &plan,
            args,
            &loaded,
            &mut frame,
            detail,
            &mut kept,
            heard.as_ref(),
        );
        frame.draw(&text);
        if args.monitor && frame.labels != kept.labels {
            crate::monitor::mark(&frame.panes, &kept.labels);
            frame.labels = kept.labels.clone();
        }
        if !util::sleep_unless_interrupted(Duration::from_secs(1)) {
            break;
        }
    }
    Ok(end_watch(board, args))
}

/// One frame's text: the table of the fleet (tmux asked for the sessions first when due,
/// in one process; in the monitor its panes' borders too), or the manifest's or the
/// frame's error in its place (tmux then asked again next frame).
fn frame_text(
    plan: &Plan,
    args: &StatusArgs,
    loaded: &Result<()>,
    frame: &mut Frame,
    detail: Detail,
    kept: &mut Kept,
    heard: Option<&Heard>,
) -> String {
    // One tmux process a refresh that asks: the sessions, in the monitor its panes' borders.
    match loaded
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .and_then(|()| {
            frame.sessions(plan, args.monitor)?;
            let names = &args.names;
            render(
                plan,
                names,
                args.monitor,
                &frame.sessions,
                detail,
                kept,
                heard,
            )
        }) {
        Ok(t) => t,
        Err(e) => {
            frame.ask_tmux = true;
            format!("error: {e:#}\n")
        }
    }
}

/// The end of `--watch`: the hosts' board stopped, the cursor shown again; the exit code.
fn end_watch(board: Option<Board>, args: &StatusArgs) -> i32 {
    if let Some(board) = board {
        board.finish();
    }
    // The terminal echoed `^C` on the line under the frame: the prompt goes below it.
    println!("{SHOW_CURSOR}");
    let _ = std::io::stdout().flush();
    // Ended by Ctrl-C (or SIGTERM, SIGHUP): 130, as every fleet command stopped so (the
    // monitor's own pane ends only when its session goes).
    if util::interrupted() && !args.monitor {
        130
    } else {
        0
    }
}

/// The board asking the hosts of `plan` (none without hosts), started again when the
/// manifest changed what to ask.
fn ask_hosts(plan: &Plan, args: &StatusArgs, board: &mut Option<Board>) {
    // Unknown names: the frame says so.
    let asks = hosts::asks(plan, &args.names).unwrap_or_default();
    if board.as_ref().map_or(asks.is_empty(), |b| b.asks() == asks) {
        return;
    }
    *board = None;
    if !asks.is_empty() {
        let extra: Vec<String> = args
            .monitor
            .then(|| "--monitor".to_string())
            .into_iter()
            .collect();
        let every = Duration::from_secs(WATCH_GIT_EVERY.into());
        *board = Some(Board::start(asks, every, &extra));
    }
}
