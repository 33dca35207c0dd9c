//! The fleet's read model: each agent's state as its record and the live tmux sessions
//! tell it ([`View`]), with as much detail (log line, git work) as a caller asks for, and
//! which sessions this fleet owns. `status`, `wait`, `up`, `down`, `merge`, `logs`,
//! `continue` and the queue all read the fleet through here.
use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use crate::git::{self, Stats};
use crate::manifest::{Agent, Plan};
use crate::state::{Dir, Record, State};
use crate::{tmux, util};

pub mod gates;
pub mod notice;
pub mod radar;
mod reads;

pub use reads::Reads;

/// The names of the live sessions that this manifest's fleet owns (tagged with its path).
pub fn owned(plan: &Plan, sessions: &[tmux::Session]) -> HashSet<String> {
    let tag = plan.tag();
    sessions
        .iter()
        .filter(|s| s.tag == tag)
        .map(|s| s.name.clone())
        .collect()
}

/// One agent as status shows it.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub agent: &'a Agent,
    pub state: State,
    pub record: Option<Record>,
    pub session_alive: bool,
    pub stats: Stats,
    /// Its worktree has uncommitted changes or untracked files ([`Detail::Full`] only).
    pub uncommitted: bool,
    /// What fleet merged of it as commits of its own (a squash, a rebased copy) that base
    /// still holds ([`Detail::Full`] only): its work counts from there.
    pub merged_as: Option<crate::state::MergedAs>,
    pub last_line: String,
    /// What the radar compares ([`Detail::Full`] only): the commit its worktree has checked
    /// out (else its branch's tip), the base's commit, and the paths changed in the worktree.
    pub work: radar::Work,
    /// The commit its branch points at ([`Detail::Full`] only, and git 2.41 or newer).
    pub head: Option<String>,
}

impl View<'_> {
    /// Seconds the agent ran (so far, while running). A lost agent left no end: it ran at
    /// least until its log was last written.
    pub fn runtime(&self) -> Option<u64> {
        let r = self.record.as_ref()?;
        let start = r.started_at?;
        let end = match self.state {
            State::Running | State::Waiting => util::now(),
            State::Lost => r
                .finished_at
                .or_else(|| modified(&self.agent.log))
                .unwrap_or(start),
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
    collect_with(plan, agents, owned, detail, &mut Reads::default())
}

/// [`collect`], the records and logs read through `reads` (which may keep them from the
/// last refresh).
pub fn collect_with<'a>(
    plan: &Plan,
    agents: &[&'a Agent],
    owned: &HashSet<String>,
    detail: Detail,
    reads: &mut Reads,
) -> Vec<View<'a>> {
    let dir = Dir::new(&plan.state_dir);
    let mut views: Vec<View<'a>> = agents
        .iter()
        .map(|a| {
            let record = reads.record(&dir, &a.name);
            let alive = owned.contains(&a.session);
            View {
                agent: a,
                state: Record::derive(record.as_ref(), alive),
                record,
                session_alive: alive,
                stats: Stats::default(),
                uncommitted: false,
                merged_as: None,
                last_line: String::new(),
                work: radar::Work::default(),
                head: None,
            }
        })
        .collect();
    let owned = confirm_lost(plan, &mut views, owned);
    gates::settle_views(plan, &mut views, &owned);
    match detail {
        Detail::States => {}
        Detail::Logs => {}
        Detail::Full => full_detail(plan, &mut views),
    }
    if detail != Detail::States {
        for v in views.iter_mut() {
            v.last_line = agent_last_line(v, reads);
        }
    }
    views
}

/// An agent is `lost` only when its session is gone after its record was read: a session
/// listed before the record (as every caller lists them) may have been made in between, by
/// a start that writes `running` once the session exists. So when a record says running and
/// the earlier list has no session, the sessions are listed again (one tmux call, only
/// then). The sessions owned as far as the views know.
fn confirm_lost<'o>(
    plan: &Plan,
    views: &mut [View],
    owned: &'o HashSet<String>,
) -> std::borrow::Cow<'o, HashSet<String>> {
    if !views.iter().any(|v| v.state == State::Lost) {
        return std::borrow::Cow::Borrowed(owned);
    }
    let Ok(sessions) = tmux::sessions() else {
        return std::borrow::Cow::Borrowed(owned);
    };
    let now = self::owned(plan, &sessions);
    for v in views.iter_mut() {
        if v.state == State::Lost && now.contains(&v.agent.session) {
            v.session_alive = true;
            v.state = Record::derive(v.record.as_ref(), true);
        }
    }
    std::borrow::Cow::Owned(owned.union(&now).cloned().collect())
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
    let dir = Dir::new(&plan.state_dir);
    for (i, (v, look)) in views.iter_mut().zip(looks).enumerate() {
        let tip = tips
            .get(&v.agent.branch)
            .map(|t| since_merged(plan, &dir, v, t));
        let tip = tip.as_ref();
        v.stats.commits_ahead = tip.map_or(0, |t| t.ahead);
        let tip_oid = tip.and_then(|t| t.oid.as_deref());
        v.head = tip_oid.map(str::to_string);
        // A worktree an interrupted `up` registered and never checked out holds no files:
        // git would count every file of the base as deleted.
        let unfilled = v.record.is_none() && git::worktree_unfilled(&v.agent.worktree);
        let look = match look.flatten().filter(|_| !unfilled) {
            Some(look) => look,
            // No answer from git, or no branch yet (never started): nothing to count.
            None if v.agent.worktree.exists() || tip_oid.is_none() => continue,
            // No worktree: the branch tip as a clean worktree on it would show it.
            None => git::Look {
                head: tip_oid.map(str::to_string),
                changed: false,
                untracked: 0,
                paths: Vec::new(),
            },
        };
        v.stats.files_changed = look.untracked;
        v.uncommitted = look.changed || look.untracked > 0;
        v.work = radar::Work {
            head: look.head.clone(),
            base: base_oid.clone(),
            paths: look.paths.clone(),
        };
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
    count_diffs(plan, views, &worktrees, &own_diff, &pairs, from_batch);
}

/// Fill in the diff counts of the views that need them: `own_diff` (view indexes) each from
/// a diff of its own worktree (or, when that is gone, of its branch), `from_batch` (view
/// index, head) from one `git diff-tree` of all `pairs` (head, base).
fn count_diffs(
    plan: &Plan,
    views: &mut [View],
    worktrees: &[&Path],
    own_diff: &[usize],
    pairs: &[(String, String)],
    from_batch: Vec<(usize, String)>,
) {
    let own: Vec<(&Path, &str, &str)> = own_diff
        .iter()
        .map(|&i| {
            let from = views[i]
                .merged_as
                .as_ref()
                .map_or(plan.base.as_str(), |r| r.tip.as_str());
            (worktrees[i], views[i].agent.branch.as_str(), from)
        })
        .collect();
    let (diffs, batch) = std::thread::scope(|s| {
        let batch = s.spawn(|| git::commit_diffs(&plan.repo, pairs));
        let diffs = util::in_parallel(&own, |&(w, branch, from)| {
            if w.exists() {
                git::worktree_diff(w, from)
            } else {
                git::branch_diff(&plan.repo, from, branch)
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
}

/// An agent's branch `tip` as status counts it: from what fleet merged of it as commits of
/// its own (a squash, a rebased copy) while base still holds that (noted in `v.merged_as`),
/// else as git counts it. No git call for an agent without such a record (nearly all).
fn since_merged(plan: &Plan, dir: &Dir, v: &mut View, tip: &git::Tip) -> git::Tip {
    let records = dir.merged_as(&v.agent.name);
    let Some(oid) = tip
        .oid
        .as_deref()
        .filter(|_| tip.ahead > 0 && !records.is_empty())
    else {
        return tip.clone();
    };
    v.merged_as = crate::state::holding(&plan.repo, &plan.base, oid, &records)
        .ok()
        .flatten();
    match &v.merged_as {
        Some(r) => git::Tip {
            ahead: git::count_commits(&plan.repo, &r.tip, oid).unwrap_or(0),
            // (base is no ancestor of it: its diff counts from the record's tip)
            behind: None,
            oid: tip.oid.clone(),
        },
        None => tip.clone(),
    }
}

/// One agent's state (records and sessions only) and the sessions this fleet owns, from one
/// tmux call.
pub fn state_of<'a>(plan: &Plan, agent: &'a Agent) -> Result<(View<'a>, HashSet<String>)> {
    let sessions = tmux::sessions()?;
    let owned = owned(plan, &sessions);
    let view = collect(plan, &[agent], &owned, Detail::States)
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no state for {}", agent.name))?;
    Ok((view, owned))
}

/// The line the runner prints under an interactive agent's output while it holds the pane
/// open (tmux copies the pane into the log): it says nothing about the agent.
const PANE_HELD: &str = "[fleet] this pane stays open so its output can be read";

/// An agent's LAST LINE: its log's last line but the note of a held pane; while it runs
/// (its record says so), not a closing `[fleet] NAME failed … after …` line either: the
/// runner writes its own closing line only after the record (see
/// [`crate::state::hold_end`]), but a rerun's record says running before its runner writes
/// its first line, the last run's closing line still last in the log, and a row that says
/// `running` beside `failed` would contradict itself.
fn agent_last_line(v: &View, reads: &mut Reads) -> String {
    let running = matches!(v.state, State::Running | State::Waiting);
    agent_line(v, running, reads)
}

/// The last line of an agent's log but the note of a held pane and, with `footer`, its
/// closing line.
pub fn agent_line(v: &View, footer: bool, reads: &mut Reads) -> String {
    last_line_in(&reads.tail(&v.agent.log), |l| {
        l.starts_with(PANE_HELD) || (footer && is_footer(&v.agent.name, l))
    })
}

/// Whether `line` is the runner's closing line for agent `name`: `[fleet] NAME done (exit 0)
/// after 2s at …` (or `failed…`, `stopped…`).
pub fn is_footer(name: &str, line: &str) -> bool {
    line.strip_prefix("[fleet] ")
        .and_then(|l| l.strip_prefix(name))
        .and_then(|l| l.strip_prefix(' '))
        .is_some_and(|rest| {
            ["done", "failed", "stopped"]
                .iter()
                .any(|s| rest.starts_with(s))
                && rest.contains(" after ")
        })
}

/// When a file was last written, in seconds since the epoch.
fn modified(path: &Path) -> Option<u64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

/// The last non-empty line of a log that is not `skip`, control characters removed.
pub fn last_line_but(log: &Path, skip: impl Fn(&str) -> bool) -> String {
    last_line_in(&reads::read_tail(log), skip)
}

/// The last non-empty line of `text` (a log's tail) that is not `skip`, control characters
/// removed.
fn last_line_in(text: &str, skip: impl Fn(&str) -> bool) -> String {
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
