//! How `fleet status` shows the fleet: the `--json` object, the state labels and the table.
use serde_json::json;

use crate::manifest::Plan;
use crate::state::{Dir, Kind, Record, State};
use crate::util;
use crate::view::View;

/// The most `uncommitted_paths` one agent's object lists.
const MAX_PATHS: usize = 1000;

/// The `status --json` object (the man page's STATUS JSON section lists them); fields are only ever added.
pub fn to_json(plan: &Plan, views: &[View], monitor_alive: bool) -> serde_json::Value {
    let dir = Dir::new(&plan.state_dir);
    let ports = crate::sandbox::ports::table(&dir);
    let agents: Vec<serde_json::Value> = views
        .iter()
        .map(|v| {
            let r = v.record.as_ref();
            let (round, review) = round_json(&dir, v);
            let mut agent = json!({
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
                    "cost_usd": u.cost_usd.map(crate::prices::round_usd),
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
                // What the radar of a fleet that sent this host its agents compares.
                "uncommitted_paths": &v.work.paths[..v.work.paths.len().min(MAX_PATHS)],
                "after": v.agent.after,
                "label": label(v),
                "runtime_secs": v.runtime(),
                "head": v.head,
                "disk_bytes": dir.disk_bytes(&v.agent.name),
                "sandbox": v.agent.sandbox,
                "credential": crate::preset::credential::label(v.agent.preset, &v.agent.env),
                "quota": quota_json(&plan.state_dir, v),
                "ports": ports.get(&v.agent.name).cloned().unwrap_or_default(),
                "merged_as": v.merged_as.as_ref().map(|m| json!({
                    "how": m.how,
                    "commit": m.commit,
                    "tip": m.tip,
                })),
            });
            if v.state == State::Queued {
                if let Some(q) = crate::launch::queue::under_quota(plan, v.agent) {
                    agent["label"] = json!(format!(
                        "queued (quota on {}, resets {})",
                        q.label,
                        crate::transcript::clock(q.resets_at)
                    ));
                }
            }
            agent["round"] = round;
            agent["review"] = review;
            agent
        })
        .collect();
    json!({
        "project": plan.project,
        "manifest": plan.manifest,
        "monitor": monitor_json(plan, monitor_alive),
        "agents": agents,
    })
}

/// `status --json`'s `quota`: null, or the quota its credential is under while the agent
/// waits on it or is held queued, {`label`, `resets_at`, `agent` (whose CLI hit it)}.
fn quota_json(root: &std::path::Path, v: &View) -> serde_json::Value {
    if !matches!(v.state, State::Waiting | State::Queued) {
        return serde_json::Value::Null;
    }
    let waiting = v.record.as_ref().and_then(|r| r.quota.clone());
    let label = waiting
        .as_ref()
        .map(|q| q.label.clone())
        .or_else(|| crate::preset::credential::label(v.agent.preset, &v.agent.env));
    let on_file = label
        .as_deref()
        .and_then(|l| crate::state::quota::active(root, l));
    match (on_file, waiting) {
        (Some(q), _) => json!({
            "label": q.label,
            "resets_at": util::rfc3339(q.resets_at),
            "agent": q.agent,
        }),
        (None, Some(w)) => json!({
            "label": w.label,
            "resets_at": util::rfc3339(w.resets_at),
            "agent": serde_json::Value::Null,
        }),
        (None, None) => serde_json::Value::Null,
    }
}

/// `status --json`'s `round` (0 before the agent's first run) and `review` (its last review
/// round while that is its latest round, else null).
fn round_json(dir: &Dir, v: &View) -> (serde_json::Value, serde_json::Value) {
    let rounds = dir.rounds(&v.agent.name);
    let Some(last) = rounds.last() else {
        return (
            json!(u32::from(v.record.is_some())),
            serde_json::Value::Null,
        );
    };
    let review = last.review.as_ref().filter(|_| last.kind == Kind::Review);
    let review = review.map_or(serde_json::Value::Null, |r| {
        json!({
            "round": last.n,
            "sent_at": util::rfc3339(last.at),
            "commit": last.from,
            "comments": r.comments.len(),
            "notes": !r.notes.is_empty(),
            "file": r.file,
            "answered": !answering(v.state),
        })
    });
    (json!(last.n), review)
}

/// The agent is still at the round it was sent (not ended since).
fn answering(state: State) -> bool {
    matches!(state, State::Running | State::Waiting | State::Queued)
}

/// The ROUND cell: `2`, or `review 2 sent` while the agent answers that review and `review 2`
/// once it ended; None before its first run.
pub fn round_cell(dir: &Dir, v: &View) -> Option<(u32, String)> {
    round_cell_of(&dir.rounds(&v.agent.name), v)
}

/// [`round_cell`] of the agent's `rounds` as read.
pub fn round_cell_of(rounds: &[crate::state::Round], v: &View) -> Option<(u32, String)> {
    let Some(last) = rounds.last() else {
        return v.record.as_ref().map(|_| (1, "1".to_string()));
    };
    Some((
        last.n,
        round_text(last.n, last.kind == Kind::Review, answering(v.state)),
    ))
}

fn round_text(n: u32, review: bool, answering: bool) -> String {
    match (review, answering) {
        (true, true) => format!("review {n} sent"),
        (true, false) => format!("review {n}"),
        _ => n.to_string(),
    }
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
        (State::Waiting, Some(Record { quota: Some(q), .. })) => format!(
            "waiting (quota on {}, resets {})",
            q.label,
            crate::transcript::clock(q.resets_at)
        ),
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
        (State::Done, _) if v.stats.commits_ahead == 0 && v.merged_as.is_some() => {
            let m = v.merged_as.as_ref().map_or((String::new(), ""), |m| {
                (m.how.clone(), crate::git::short(&m.commit))
            });
            format!("done ({} as {})", m.0, m.1)
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

/// One agent's line of the table, wherever it runs: from this machine's view of it
/// ([`Cells::of_view`]) or from what its host's fleet said ([`Cells::of_json`]), so one
/// table shows both alike.
pub struct Cells {
    /// Its host, in a fleet with hosts (a HOST column then).
    pub host: Option<String>,
    pub name: String,
    /// Its state, for the colour (none for a state only this side knows: `unreachable`).
    pub state: Option<State>,
    pub label: String,
    pub branch: String,
    pub ahead: u64,
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
    pub runtime: Option<u64>,
    /// Tokens in and out, and the cost, when its CLI reports them.
    pub usage: Option<(u64, Option<f64>)>,
    pub last_line: String,
    /// Its round and how the ROUND column says it (shown once some agent is past round 1).
    pub round: Option<(u32, String)>,
}

impl Cells {
    pub fn of_view(v: &View) -> Cells {
        let usage = v.record.as_ref().and_then(|r| r.usage);
        Cells {
            host: None,
            name: v.agent.name.clone(),
            state: Some(v.state),
            label: label(v),
            branch: v.agent.branch.clone(),
            ahead: v.stats.commits_ahead,
            files: v.stats.files_changed,
            insertions: v.stats.insertions,
            deletions: v.stats.deletions,
            runtime: v.runtime(),
            usage: usage.map(|u| (u.input_tokens + u.output_tokens, u.cost_usd)),
            last_line: v.last_line.clone(),
            round: None,
        }
    }

    /// An agent's object of `status --json` (with its `host`), as a host's fleet says it.
    pub fn of_json(a: &serde_json::Value) -> Cells {
        let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| a[k].as_u64().unwrap_or(0);
        let usage = &a["usage"];
        let label = match a["label"].as_str() {
            Some(l) => l.to_string(),
            None => match a["reason"].as_str() {
                // (why a host does not answer is said once, under the table)
                Some(r) if a["state"] != "unreachable" => format!("{} ({r})", text("state")),
                _ => text("state"),
            },
        };
        Cells {
            host: Some(text("host")),
            name: text("name"),
            state: serde_json::from_value(a["state"].clone()).ok(),
            label,
            branch: text("branch"),
            ahead: n("commits_ahead"),
            files: n("files_changed"),
            insertions: n("insertions"),
            deletions: n("deletions"),
            runtime: a["runtime_secs"].as_u64(),
            usage: usage.is_object().then(|| {
                (
                    usage["input_tokens"].as_u64().unwrap_or(0)
                        + usage["output_tokens"].as_u64().unwrap_or(0),
                    usage["cost_usd"].as_f64(),
                )
            }),
            last_line: util::display_text(&text("last_line")).into_owned(),
            round: a["round"].as_u64().filter(|n| *n > 0).map(|n| {
                let review = &a["review"];
                let answering = review["answered"] == false;
                (
                    n as u32,
                    round_text(n as u32, review.is_object(), answering),
                )
            }),
        }
    }

    fn row(&self, with_host: bool, with_usage: bool, with_round: bool) -> Vec<String> {
        let mut row = Vec::new();
        if with_host {
            row.push(self.host.clone().unwrap_or_default());
        }
        row.extend([self.name.clone(), self.label.clone()]);
        if with_round {
            row.push(self.round.as_ref().map_or("-".into(), |r| r.1.clone()));
        }
        row.extend([
            self.branch.clone(),
            self.ahead.to_string(),
            self.files.to_string(),
            format!("+{}/-{}", self.insertions, self.deletions),
            self.runtime
                .map(util::duration)
                .unwrap_or_else(|| "-".into()),
        ]);
        if with_usage {
            row.push(self.usage.map_or("-".into(), |u| tokens(u.0)));
            row.push(self.usage.and_then(|u| u.1).map_or("-".into(), dollars));
        }
        row.push(self.last_line.clone());
        row
    }
}

/// The status table, one line per agent (a HOST column first when they have hosts), sized
/// to `width` columns; the state coloured when `color`.
pub fn table(agents: &[Cells], width: usize, color: bool) -> String {
    let with_host = agents.iter().any(|c| c.host.is_some());
    // Tokens and cost only when some agent's CLI reports them.
    let with_usage = agents.iter().any(|c| c.usage.is_some());
    // Rounds only once some agent is past its first.
    let with_round = agents
        .iter()
        .any(|c| c.round.as_ref().is_some_and(|r| r.0 > 1));
    let mut header = Vec::new();
    if with_host {
        header.push("HOST");
    }
    header.extend(["AGENT", "STATE"]);
    if with_round {
        header.push("ROUND");
    }
    header.extend(["BRANCH", "AHEAD", "FILES", "+/-", "RUNTIME"]);
    if with_usage {
        header.extend(["TOKENS", "COST"]);
    }
    header.push("LAST LINE");
    let mut rows: Vec<Vec<String>> = agents
        .iter()
        .map(|c| c.row(with_host, with_usage, with_round))
        .collect();
    if with_usage {
        rows.push(total_row(agents, &header));
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let state_at = usize::from(with_host) + 1;
    let mut out = line(&header, &widths, width, None);
    for (i, row) in rows.iter().enumerate() {
        let paint = agents
            .get(i)
            .and_then(|c| color.then(|| c.state.map(state_color)).flatten())
            .map(|code| (state_at, code));
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells, &widths, width, paint));
    }
    out
}

/// The `TOTAL` row under the agents: their tokens and cost.
fn total_row(agents: &[Cells], header: &[&str]) -> Vec<String> {
    let used: Vec<(u64, Option<f64>)> = agents.iter().filter_map(|c| c.usage).collect();
    let cost: Option<f64> = used
        .iter()
        .filter_map(|u| u.1)
        .fold(None, |sum, c| Some(sum.unwrap_or(0.0) + c));
    let mut row = vec![String::new(); header.len()];
    row[0] = "TOTAL".into();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap_or(0);
    row[at("TOKENS")] = tokens(used.iter().map(|u| u.0).sum());
    row[at("COST")] = cost.map_or("-".into(), dollars);
    row
}

/// One line of the table: the cells padded to `widths`, cut to `width` columns, the state
/// cell (`paint`: its column and colour) painted when it is all on screen.
fn line(cells: &[&str], widths: &[usize], width: usize, paint: Option<(usize, &str)>) -> String {
    let mut l = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            l.push_str(c);
        } else {
            l.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
    }
    let mut l: Vec<char> = l.trim_end().chars().take(width.max(20)).collect();
    if let Some((column, code)) = paint {
        let start: usize = widths[..column].iter().map(|w| w + 2).sum();
        let end = start + cells[column].chars().count();
        if end <= l.len() {
            l.splice(end..end, "\x1b[0m".chars());
            l.splice(start..start, code.chars());
        }
    }
    let mut out: String = l.into_iter().collect();
    out.push('\n');
    out
}
