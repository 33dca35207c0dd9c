//! `fleet status [NAMES…] [--json] [--watch]`.
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::git::{self, Stats};
use crate::manifest::{self, Agent, Plan};
use crate::state::{Dir, Record, State};
use crate::{tmux, util};

/// One agent as status shows it.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub agent: &'a Agent,
    pub state: State,
    pub record: Option<Record>,
    pub session_alive: bool,
    pub stats: Stats,
    pub last_line: String,
}

impl View<'_> {
    /// Seconds the agent ran (so far, while running).
    pub fn runtime(&self) -> Option<u64> {
        let r = self.record.as_ref()?;
        let start = r.started_at?;
        let end = match self.state {
            State::Running | State::Waiting => util::now(),
            _ => r.finished_at.unwrap_or(start),
        };
        Some(end.saturating_sub(start))
    }
}

/// How much [`collect`] finds out besides the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Records and sessions only.
    States,
    /// Also the last log line.
    Logs,
    /// Also the git work of each agent (run in parallel).
    Full,
}

/// The state of each agent given the live sessions this fleet owns, with as much detail as
/// asked for.
pub fn collect<'a>(
    plan: &Plan,
    agents: &[&'a Agent],
    owned: &HashSet<String>,
    detail: Detail,
) -> Vec<View<'a>> {
    let dir = Dir::new(&plan.state_dir);
    let mut views: Vec<View<'a>> = agents
        .iter()
        .map(|a| {
            let record = dir.record(&a.name);
            let alive = owned.contains(&a.session);
            View {
                agent: a,
                state: Record::derive(record.as_ref(), alive),
                record,
                session_alive: alive,
                stats: Stats::default(),
                last_line: String::new(),
            }
        })
        .collect();
    match detail {
        Detail::States => {}
        Detail::Logs => {
            for v in views.iter_mut() {
                v.last_line = last_line(&v.agent.log);
            }
        }
        Detail::Full => full_detail(plan, &mut views),
    }
    views
}

/// The git work and last log line of every agent, with about one git process per worktree:
/// one `for-each-ref` gives every branch's commits ahead (and tip), meanwhile a few threads run
/// one `git status` per worktree. Only a worktree with changed tracked files needs its own
/// `git diff`; the committed work of clean ones comes from one `git diff-tree` for all.
fn full_detail(plan: &Plan, views: &mut [View]) {
    let branches: Vec<&str> = views.iter().map(|v| v.agent.branch.as_str()).collect();
    let worktrees: Vec<&Path> = views.iter().map(|v| v.agent.worktree.as_path()).collect();
    let (tips, base_oid, looks) = std::thread::scope(|s| {
        let tips = s.spawn(|| {
            let tips = git::branch_tips(&plan.repo, &plan.base, &branches);
            let base = git::commit_oid(&plan.repo, &plan.base).ok().flatten();
            (tips, base)
        });
        let looks = util::in_parallel(&worktrees, |w| git::look(w));
        let (tips, base) = tips.join().unwrap_or_default();
        (tips, base, looks)
    });

    // What each agent still needs: (view index, its own diff) or (view index, a committed
    // diff from the batch). An agent whose worktree is gone (`down --rm-worktrees`) still
    // shows the work committed on its branch.
    let mut own_diff: Vec<usize> = Vec::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut from_batch: Vec<(usize, String)> = Vec::new();
    for (i, (v, look)) in views.iter_mut().zip(looks).enumerate() {
        let tip = tips.get(&v.agent.branch);
        v.stats.commits_ahead = tip.map_or(0, |t| t.ahead);
        let tip_oid = tip.and_then(|t| t.oid.as_deref());
        let look = match look.flatten() {
            Some(look) => look,
            // No answer from git, or no branch yet (never started): nothing to count.
            None if v.agent.worktree.exists() || tip_oid.is_none() => continue,
            // No worktree: the branch tip as a clean worktree on it would show it.
            None => git::Look {
                head: tip_oid.map(str::to_string),
                changed: false,
                untracked: 0,
            },
        };
        v.stats.files_changed = look.untracked;
        // The worktree still has the agent's branch checked out, as git last said.
        let on_tip = tip_oid.is_some() && tip_oid == look.head.as_deref();
        match (look.changed, tip) {
            (false, Some(t)) if on_tip && t.ahead == 0 => {}
            (false, Some(t)) if on_tip && t.behind == Some(0) && base_oid.is_some() => {
                // The base is an ancestor of the branch: it is the merge-base.
                let head = look.head.clone().unwrap_or_default();
                pairs.push((head.clone(), base_oid.clone().unwrap_or_default()));
                from_batch.push((i, head));
            }
            _ => own_diff.push(i),
        }
    }
    let own: Vec<(&Path, &str)> = own_diff
        .iter()
        .map(|&i| (worktrees[i], views[i].agent.branch.as_str()))
        .collect();
    let (diffs, batch) = std::thread::scope(|s| {
        let batch = s.spawn(|| git::commit_diffs(&plan.repo, &pairs));
        let diffs = util::in_parallel(&own, |&(w, branch)| {
            if w.exists() {
                git::worktree_diff(w, &plan.base)
            } else {
                git::branch_diff(&plan.repo, &plan.base, branch)
            }
        });
        (diffs, batch.join().unwrap_or_default())
    });
    for (&i, diff) in own_diff.iter().zip(diffs) {
        let (files, ins, del) = diff.unwrap_or_default();
        let st = &mut views[i].stats;
        (st.files_changed, st.insertions, st.deletions) = (st.files_changed + files, ins, del);
    }
    for (i, head) in from_batch {
        let (files, ins, del) = batch.get(&head).copied().unwrap_or_default();
        let st = &mut views[i].stats;
        (st.files_changed, st.insertions, st.deletions) = (st.files_changed + files, ins, del);
    }
    for v in views.iter_mut() {
        v.last_line = last_line(&v.agent.log);
    }
}

/// One agent's state (records and sessions only) and the sessions this fleet owns, from one
/// tmux call.
pub fn state_of<'a>(plan: &Plan, agent: &'a Agent) -> Result<(View<'a>, HashSet<String>)> {
    let sessions = tmux::sessions()?;
    let owned = super::owned(plan, &sessions);
    let view = collect(plan, &[agent], &owned, Detail::States)
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no state for {}", agent.name))?;
    Ok((view, owned))
}

/// The last non-empty line of a log, control characters removed.
pub fn last_line(log: &Path) -> String {
    last_line_but(log, |_| false)
}

/// The monitor's LAST LINE: the log's last line but fleet's footer (`[fleet] agent1 failed
/// (exit 3) after 2s at …`), which only repeats the STATE column beside it.
fn last_line_in_monitor(v: &View) -> String {
    let prefix = format!("[fleet] {} ", v.agent.name);
    let footer = |l: &str| {
        l.strip_prefix(&prefix).is_some_and(|rest| {
            ["done", "failed", "stopped"]
                .iter()
                .any(|s| rest.starts_with(s))
                && rest.contains(" after ")
        })
    };
    if footer(&v.last_line) {
        last_line_but(&v.agent.log, footer)
    } else {
        v.last_line.clone()
    }
}

/// The last non-empty line of a log that is not `skip`, control characters removed.
fn last_line_but(log: &Path, skip: impl Fn(&str) -> bool) -> String {
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split(['\n', '\r'])
        .map(strip_control)
        .rfind(|l| !l.trim().is_empty() && !skip(l))
        .unwrap_or_default()
}

/// Drop ANSI escape sequences and other control characters.
fn strip_control(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim().to_string()
}

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
            })
        })
        .collect();
    json!({
        "project": plan.project,
        "manifest": plan.manifest,
        "monitor": {"session": plan.monitor_session(), "running": monitor_alive},
        "agents": agents,
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
        State::Running => "\x1b[36m",                // cyan
        State::Waiting => "\x1b[34m",                // blue
        State::Done => "\x1b[32m",                   // green
        State::Failed => "\x1b[31m",                 // red
        State::Lost | State::Damaged => "\x1b[35m",  // magenta
        State::Stopped => "\x1b[33m",                // yellow
        State::Pending | State::Queued => "\x1b[2m", // dim
    }
}

/// The status table, one line per agent, sized to `width` columns; the state coloured when
/// `color`.
pub fn table(views: &[View], width: usize, color: bool) -> String {
    let usage = |v: &View| v.record.as_ref().and_then(|r| r.usage);
    // Tokens and cost only when some agent's CLI reports them.
    let with_usage = views.iter().any(|v| usage(v).is_some());
    let mut header = vec![
        "AGENT", "STATE", "BRANCH", "AHEAD", "FILES", "+/-", "RUNTIME",
    ];
    if with_usage {
        header.extend(["TOKENS", "COST"]);
    }
    header.push("LAST LINE");
    let mut rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
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
        })
        .collect();
    if with_usage {
        let total: Vec<_> = views.iter().filter_map(usage).collect();
        let cost: Option<f64> = total
            .iter()
            .filter_map(|u| u.cost_usd)
            .fold(None, |sum, c| Some(sum.unwrap_or(0.0) + c));
        let mut row = vec![String::new(); header.len()];
        row[0] = "TOTAL".into();
        row[7] = tokens(total.iter().map(|u| u.input_tokens + u.output_tokens).sum());
        row[8] = cost.map_or("-".into(), dollars);
        rows.push(row);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>, paint: Option<&str>| {
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
        out.extend(l);
        out.push('\n');
    };
    line(header.to_vec(), None);
    for (i, row) in rows.iter().enumerate() {
        let paint = views
            .get(i)
            .and_then(|v| color.then(|| state_color(v.state)));
        line(row.iter().map(String::as_str).collect(), paint);
    }
    out
}

/// Lines are cut to the terminal's width; unlimited when stdout is not a terminal.
fn terminal_width() -> usize {
    util::terminal_width().unwrap_or(usize::MAX)
}

/// The status text of the whole fleet: table plus the monitor's line (not in the monitor
/// itself, where LAST LINE skips fleet's footer too). `stats` holds the git work by agent
/// name: refreshed when `detail` is Full, else used as it is.
fn render(
    plan: &Plan,
    names: &[String],
    in_monitor: bool,
    sessions: &[tmux::Session],
    detail: Detail,
    stats: &mut HashMap<String, Stats>,
    labels: &mut Vec<(String, String)>,
) -> Result<String> {
    let owned = super::owned(plan, sessions);
    let agents = plan.select(names)?;
    let mut views = collect(plan, &agents, &owned, detail);
    for v in views.iter_mut() {
        if detail == Detail::Full {
            stats.insert(v.agent.name.clone(), v.stats);
        } else if let Some(s) = stats.get(&v.agent.name) {
            v.stats = *s;
        }
        if in_monitor {
            v.last_line = last_line_in_monitor(v);
        }
    }
    *labels = views
        .iter()
        .map(|v| (v.agent.name.clone(), label(v)))
        .collect();
    let monitor = if in_monitor {
        String::new()
    } else if owned.contains(&plan.monitor_session()) {
        format!(
            "monitor: {} ({} attach)\n",
            plan.monitor_session(),
            super::fleet_command(plan)
        )
    } else {
        "monitor: not running (fleet up starts it)\n".to_string()
    };
    Ok(format!(
        "{}{monitor}",
        table(&views, terminal_width(), util::color_stdout())
    ))
}

const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";

/// `--watch` refreshes states and log lines every second, the git work every few seconds.
const WATCH_GIT_EVERY: u32 = 5;

pub fn run(file: Option<&Path>, args: &StatusArgs) -> Result<i32> {
    let mut plan = manifest::load(file)?;
    if args.json {
        let sessions = tmux::sessions()?;
        let owned = super::owned(&plan, &sessions);
        let agents = plan.select(&args.names)?;
        let views = collect(&plan, &agents, &owned, Detail::Full);
        let value = to_json(&plan, &views, owned.contains(&plan.monitor_session()));
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    let mut stats = HashMap::new();
    if !args.watch {
        let text = render(
            &plan,
            &args.names,
            false,
            &tmux::sessions()?,
            Detail::Full,
            &mut stats,
            &mut Vec::new(),
        )?;
        print!("{text}");
        return Ok(0);
    }
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&plan.manifest);
    let mut loaded: Result<()> = Ok(());
    // Ctrl-C ends the loop between two frames, so the terminal is left whole: the last
    // frame, the cursor shown again, the prompt on a fresh line.
    util::defer_interrupts_quietly();
    print!("{HIDE_CURSOR}");
    let mut labels = Vec::new();
    for tick in 0u32.. {
        // Follow edits of the manifest; show its errors in place until they are fixed.
        let now = modified(&plan.manifest);
        if now != seen {
            seen = now;
            loaded = manifest::load(Some(&plan.manifest)).map(|p| plan = p);
        }
        // In the monitor the git work starts with the second refresh: its first frame, drawn
        // while `up` is still starting the agents, comes from the records and logs alone.
        let first_git = u32::from(args.monitor);
        let detail = if tick % WATCH_GIT_EVERY == first_git {
            Detail::Full
        } else {
            Detail::Logs
        };
        // One tmux process a refresh: the sessions, and in the monitor its panes' borders.
        let mut panes = Vec::new();
        let text = match loaded
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .and_then(|()| {
                let sessions = if args.monitor {
                    let snap = tmux::snapshot(&plan.monitor_session())?;
                    panes = snap.panes;
                    snap.sessions
                } else {
                    tmux::sessions()?
                };
                render(
                    &plan,
                    &args.names,
                    args.monitor,
                    &sessions,
                    detail,
                    &mut stats,
                    &mut labels,
                )
            }) {
            Ok(t) => t,
            Err(e) => format!("error: {e:#}\n"),
        };
        let mut stdout = std::io::stdout().lock();
        // Home, then clear to the end of the screen after the text: no flicker.
        let _ = write!(stdout, "\x1b[H{}\x1b[J", text.replace('\n', "\x1b[K\n"));
        let _ = writeln!(
            stdout,
            "{}  (every 1s, Ctrl-C to quit)\x1b[K",
            util::rfc3339(util::now())
        );
        let _ = stdout.flush();
        drop(stdout);
        if args.monitor {
            crate::monitor::mark(&panes, &labels);
        }
        if !util::sleep_unless_interrupted(Duration::from_secs(1)) {
            break;
        }
    }
    // The terminal echoed `^C` on the line under the frame: the prompt goes below it.
    println!("{SHOW_CURSOR}");
    let _ = std::io::stdout().flush();
    Ok(0)
}
