//! How `fleet status` shows the fleet: the `--json` object, the state labels and the table.
use serde_json::json;

use crate::launch::view::View;
use crate::manifest::Plan;
use crate::state::{Record, State};
use crate::util;

/// The `status --json` object (the man page's STATUS JSON section lists them); fields are only ever added.
pub fn to_json(plan: &Plan, views: &[View], monitor_alive: bool) -> serde_json::Value {
    let agents: Vec<serde_json::Value> = views
        .iter()
        .map(|v| {
            let r = v.record.as_ref();
            json!({
                "name": v.agent.name,
                "state": v.state.as_str(),
                "exit_code": r.and_then(|r| r.exit_code),
                "reason": r.and_then(|r| r.reason.clone()),
                "attempt": r.map(|r| r.attempt).unwrap_or(0),
                "session": v.agent.session,
                "branch": v.agent.branch,
                "worktree": v.agent.worktree,
                "log": v.agent.log,
                "started_at": r.and_then(|r| r.started_at).map(util::rfc3339),
                "finished_at": r.and_then(|r| r.finished_at).map(util::rfc3339),
                "commits_ahead": v.stats.commits_ahead,
                "files_changed": v.stats.files_changed,
                "insertions": v.stats.insertions,
                "deletions": v.stats.deletions,
                "last_line": v.last_line,
                "usage": r.and_then(|r| r.usage).map(|u| json!({
                    "input_tokens": u.input_tokens,
                    "output_tokens": u.output_tokens,
                    "cost_usd": u.cost_usd,
                    "turns": u.turns,
                })),
                "session_id": r.and_then(|r| r.session_id.clone()),
                "permissions": v.agent.preset.map(|_| v.agent.launch.permissions.name()),
                "denials": r.and_then(|r| r.usage).map_or(0, |u| u.denials),
                "verify_retry": r.map(|r| r.verify_retry).unwrap_or(0),
                "retry_at": r.and_then(|r| r.retry_at).map(util::rfc3339),
                "retrying": r.and_then(|r| r.retrying.clone()),
                "host": crate::manifest::LOCAL,
                "uncommitted": v.uncommitted,
                "after": v.agent.after,
            })
        })
        .collect();
    json!({
        "project": plan.project,
        "manifest": plan.manifest,
        "monitor": monitor_json(plan, monitor_alive),
        "agents": agents,
    })
}

/// `status --json`'s `monitor`: its session, whether it runs, whether the manifest has one
/// (`monitor: enabled: false`: none; a monitor left from before may still run).
pub fn monitor_json(plan: &Plan, running: bool) -> serde_json::Value {
    json!({
        "session": plan.monitor_session(),
        "running": running,
        "enabled": plan.monitor_enabled,
    })
}

/// A state as people read it: `running`, `failed (verify failed (exit 1))`.
pub fn label(v: &View) -> String {
    let r = v.record.as_ref();
    let label = state_label(v);
    // Actions the CLI refused show whatever the state (a failure names them already).
    match r.and_then(|r| r.usage).map_or(0, |u| u.denials) {
        0 => label,
        _ if label.contains("denied") => label,
        n => format!("{label} ({n} denied)"),
    }
}

fn state_label(v: &View) -> String {
    let r = v.record.as_ref();
    match (v.state, r) {
        (
            State::Running,
            Some(Record {
                retrying: Some(why),
                ..
            }),
        ) => format!("running (retrying: {why})"),
        (State::Running, Some(r)) if r.verify_retry > 0 => {
            format!("running (verify retry {})", r.verify_retry)
        }
        (
            State::Waiting,
            Some(Record {
                retry_at: Some(at),
                rate_retry,
                ..
            }),
        ) => format!("waiting (retry {rate_retry} at {})", util::rfc3339(*at)),
        (State::Queued | State::Pending, _) if !v.agent.after.is_empty() => {
            format!("{} (after {})", v.state, v.agent.after.join(", "))
        }
        _ => v.state.label(r.and_then(|r| r.reason.as_deref())),
    }
}

/// `950`, `12.3k`, `4.5M` tokens.
fn tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

fn dollars(c: f64) -> String {
    format!("${c:.2}")
}

/// The ANSI colour of a state in the table.
fn state_color(state: State) -> &'static str {
    match state {
        State::Running => "\x1b[36m",                                // cyan
        State::Waiting => "\x1b[34m",                                // blue
        State::Done => "\x1b[32m",                                   // green
        State::Failed => "\x1b[31m",                                 // red
        State::Lost | State::Damaged | State::Blocked => "\x1b[35m", // magenta
        State::Stopped => "\x1b[33m",                                // yellow
        State::Pending | State::Queued => "\x1b[2m",                 // dim
    }
}

/// The status table, one line per agent, sized to `width` columns; the state coloured when
/// `color`.
pub fn table(views: &[View], width: usize, color: bool) -> String {
    // Tokens and cost only when some agent's CLI reports them.
    let with_usage = views.iter().any(|v| usage(v).is_some());
    let mut header = vec![
        "AGENT", "STATE", "BRANCH", "AHEAD", "FILES", "+/-", "RUNTIME",
    ];
    if with_usage {
        header.extend(["TOKENS", "COST"]);
    }
    header.push("LAST LINE");
    let mut rows: Vec<Vec<String>> = views.iter().map(|v| row(v, with_usage)).collect();
    if with_usage {
        rows.push(total_row(views, header.len()));
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = line(&header, &widths, width, None);
    for (i, row) in rows.iter().enumerate() {
        let paint = views
            .get(i)
            .and_then(|v| color.then(|| state_color(v.state)));
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells, &widths, width, paint));
    }
    out
}

fn usage(v: &View) -> Option<crate::transcript::Usage> {
    v.record.as_ref().and_then(|r| r.usage)
}

/// An agent's cells in the table.
fn row(v: &View, with_usage: bool) -> Vec<String> {
    let mut row = vec![
        v.agent.name.clone(),
        label(v),
        v.agent.branch.clone(),
        v.stats.commits_ahead.to_string(),
        v.stats.files_changed.to_string(),
        format!("+{}/-{}", v.stats.insertions, v.stats.deletions),
        v.runtime()
            .map(util::duration)
            .unwrap_or_else(|| "-".into()),
    ];
    if with_usage {
        let u = usage(v);
        row.push(u.map_or("-".into(), |u| tokens(u.input_tokens + u.output_tokens)));
        row.push(u.and_then(|u| u.cost_usd).map_or("-".into(), dollars));
    }
    row.push(v.last_line.clone());
    row
}

/// The `TOTAL` row under the agents: their tokens and cost.
fn total_row(views: &[View], columns: usize) -> Vec<String> {
    let total: Vec<_> = views.iter().filter_map(usage).collect();
    let cost: Option<f64> = total
        .iter()
        .filter_map(|u| u.cost_usd)
        .fold(None, |sum, c| Some(sum.unwrap_or(0.0) + c));
    let mut row = vec![String::new(); columns];
    row[0] = "TOTAL".into();
    row[7] = tokens(total.iter().map(|u| u.input_tokens + u.output_tokens).sum());
    row[8] = cost.map_or("-".into(), dollars);
    row
}

/// One line of the table: the cells padded to `widths`, cut to `width` columns, the state
/// cell painted when `paint` and it is all on screen.
fn line(cells: &[&str], widths: &[usize], width: usize, paint: Option<&str>) -> String {
    let mut l = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            l.push_str(c);
        } else {
            l.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
    }
    let mut l: Vec<char> = l.trim_end().chars().take(width.max(20)).collect();
    // Colour the state cell (the second column) when it is all on screen.
    let start = widths[0] + 2;
    let end = start + cells[1].chars().count();
    if let Some(code) = paint.filter(|_| end <= l.len()) {
        l.splice(end..end, "\x1b[0m".chars());
        l.splice(start..start, code.chars());
    }
    let mut out: String = l.into_iter().collect();
    out.push('\n');
    out
}
