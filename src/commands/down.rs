//! `fleet down [NAMES…] [--rm-worktrees] [--force]`: kill the agents' sessions (and the
//! monitor once none is left). Worktrees, branches and logs stay; `--rm-worktrees` removes
//! clean worktrees, and ones with uncommitted changes only with `--force`.
use anyhow::{bail, Result};

use crate::cli::DownArgs;
use crate::git;
use crate::launch::view::{collect, Detail};
use crate::manifest::Plan;
use crate::state::{Dir, State};
use crate::tmux::{self, Batch};
use crate::util;

/// How long an agent has to end after the hangup of its closed session before SIGKILL.
const HANGUP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// How long down waits for SIGKILLed processes to be gone.
const KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(plan: &Plan, args: &DownArgs) -> Result<i32> {
    let agents = plan.select(&args.names)?;
    let dir = Dir::new(&plan.state_dir);
    let _lock = if dir.exists() {
        Some(dir.lock(crate::launch::LOCK_WAIT)?)
    } else {
        None
    };
    let sessions = tmux::sessions()?;
    let owned = crate::launch::owned(plan, &sessions);
    let views = collect(plan, &agents, &owned, Detail::States);
    let mut batch = Batch::new();
    // The process groups of each closed session's runner and what it runs: once tmux has
    // hung them up, whatever ignores that is killed, and down waits until all are gone, so
    // no agent outlives its session (and no second one ever starts in its worktree).
    let mut groups: Vec<i32> = Vec::new();
    let mut stopped = Vec::new();
    let mut closed = Vec::new();
    for v in &views {
        if !v.session_alive && v.state != State::Queued {
            continue;
        }
        // A queued agent is stopped too, so no finishing agent starts it later.
        if matches!(v.state, State::Running | State::Waiting | State::Queued) {
            let mut record = v.record.clone().unwrap_or_default();
            record.state = Some(State::Stopped);
            record.finished_at = Some(util::now());
            record.reason = Some("stopped by fleet down".into());
            dir.write_record(&v.agent.name, &record)?;
            stopped.push(v.agent.name.as_str());
        } else {
            closed.push(v.agent.name.as_str());
        }
        if v.session_alive {
            batch.add("kill-session", &["-t", &tmux::exact(&v.agent.session)]);
            if let Some(pid) = v.record.as_ref().and_then(|r| r.pid) {
                if util::runner_alive(pid, &dir.spec_path(&v.agent.name)) {
                    groups.extend(util::process_groups_of(pid));
                }
            }
        }
    }
    let monitor = plan.monitor_session();
    // Without names, `down` stops everything this fleet owns: also the sessions of agents
    // since removed from the manifest.
    let mut orphans: Vec<&str> = Vec::new();
    if args.names.is_empty() {
        orphans = owned
            .iter()
            .map(String::as_str)
            .filter(|s| *s != monitor && !plan.agents.iter().any(|a| a.session == *s))
            .collect();
        orphans.sort_unstable();
        for s in &orphans {
            batch.add("kill-session", &["-t", &tmux::exact(s)]);
        }
    }
    let others_alive = plan
        .agents
        .iter()
        .any(|a| owned.contains(&a.session) && !agents.iter().any(|s| s.name == a.name));
    let kill_monitor = owned.contains(&monitor) && !others_alive;
    if kill_monitor {
        batch.add("kill-session", &["-t", &tmux::exact(&monitor)]);
    }
    batch.run()?;
    if !util::end_groups(&groups, HANGUP_GRACE, KILL_WAIT) {
        bail!(
            "an agent's processes (process groups {groups:?}) are still there after SIGKILL; check `ps -o pid,pgid,stat,args -g {}`",
            groups.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
        );
    }
    if !stopped.is_empty() {
        crate::info!("stopped {}", stopped.join(", "));
    }
    if !closed.is_empty() {
        crate::info!("closed the sessions of finished {}", closed.join(", "));
    }
    if !orphans.is_empty() {
        crate::info!(
            "closed {} of agents no longer in the manifest",
            orphans.join(", ")
        );
    }
    if kill_monitor {
        crate::info!("closed the monitor {monitor}");
    }
    if batch.is_empty() && stopped.is_empty() {
        crate::info!("nothing to stop: no session of this fleet is running");
    }

    if !args.rm_worktrees {
        crate::info!(
            "kept worktrees, branches and logs (remove clean worktrees with --rm-worktrees)"
        );
        return Ok(0);
    }
    let worktrees = git::worktrees(&plan.repo)?;
    let mut refused = Vec::new();
    let present: Vec<(&&crate::manifest::Agent, &git::Worktree)> = agents
        .iter()
        .filter_map(|a| git::registered(&worktrees, &a.worktree).map(|w| (a, w)))
        .collect();
    let targets: Vec<&git::Worktree> = present.iter().map(|(_, w)| *w).collect();
    // Each removal touches only its own worktree and its `.git/worktrees/` entry: a few run
    // at once, after one check that none of them holds commits only its HEAD reaches.
    let results = git::remove_worktrees(&plan.repo, &targets, args.force)?;
    let mut first_error = None;
    let mut kept_by_git = Vec::new();
    let mut unreferenced = Vec::new();
    for ((a, w), result) in present.iter().zip(results) {
        // The agent's work may be on another branch than its own (it switched): say where.
        let elsewhere = match w.branch.as_deref() {
            Some(b) if b == a.branch => String::new(),
            Some(b) => format!(
                "; it was on branch {b}, not {}, which keeps that work",
                a.branch
            ),
            None => String::new(),
        };
        match result {
            Ok(git::Removal::Removed) => crate::info!(
                "removed worktree {} (branch {} kept{elsewhere})",
                a.worktree.display(),
                a.branch
            ),
            Ok(git::Removal::Dirty) => refused.push(a.worktree.display().to_string()),
            Ok(git::Removal::Refused(why)) => {
                kept_by_git.push(format!("{} ({why})", a.worktree.display()));
            }
            Ok(git::Removal::Unreferenced { commits, head }) => {
                let wt = util::shell_quote(&a.worktree.display().to_string());
                unreferenced.push(format!(
                    "{} holds {commits} commit{} that no branch or tag reaches (HEAD {}{}); removing it would lose them: `git -C {wt} branch NEW-BRANCH` keeps them on a branch (then `fleet merge` or `git merge NEW-BRANCH`), then run this again",
                    a.worktree.display(),
                    if commits == 1 { "" } else { "s" },
                    &head[..head.len().min(12)],
                    if w.branch.is_none() { ", detached" } else { "" },
                ));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let words = |n: usize| {
        if n == 1 {
            ("a worktree", "it")
        } else {
            ("worktrees", "them")
        }
    };
    let mut kept = Vec::new();
    if !refused.is_empty() {
        let (some, it) = words(refused.len());
        kept.push(format!(
            "kept {some} with uncommitted changes: {}; commit or stash that work, or pass --force to remove {it} anyway",
            refused.join(", ")
        ));
    }
    if !kept_by_git.is_empty() {
        // A nested repository's commits may exist nowhere else: git keeps such worktrees.
        let (some, it) = words(kept_by_git.len());
        kept.push(format!(
            "kept {some} that git will not remove: {}; save what you need from {it} (a nested repository's commits live only there), or pass --force to remove {it} anyway",
            kept_by_git.join(", ")
        ));
    }
    if !unreferenced.is_empty() {
        let (some, _) = words(unreferenced.len());
        kept.push(format!(
            "kept {some} whose commits only {} HEAD reaches (--force does not remove these):\n  {}",
            if unreferenced.len() == 1 {
                "its"
            } else {
                "their"
            },
            unreferenced.join("\n  ")
        ));
    }
    if !kept.is_empty() {
        bail!("{}", kept.join("\n"));
    }
    Ok(0)
}
