//! `fleet down [NAMES…] [--rm-worktrees] [--force]`: kill the agents' sessions (and the
//! monitor once none is left). Worktrees, branches and logs stay; `--rm-worktrees` removes
//! clean worktrees, and ones with uncommitted changes only with `--force`.
use std::collections::HashSet;

use anyhow::{bail, Result};

use crate::cli::DownArgs;
use crate::git;
use crate::launch::LOCK_WAIT;
use crate::manifest::{Agent, Plan};
use crate::state::{Dir, State};
use crate::tmux::{self, Batch};
use crate::util;
use crate::view::owned;
use crate::view::{collect, Detail};

/// How long an agent has to end after the hangup of its closed session before SIGKILL.
const HANGUP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// How long down waits for SIGKILLed processes to be gone.
const KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(plan: &Plan, args: &DownArgs) -> Result<i32> {
    if plan.remote.is_empty() {
        return run_here(plan, args);
    }
    let names = plan.split_names(&args.names)?;
    let mut code = 0;
    let mut errors = Vec::new();
    if let Some(local) = &names.local {
        let here = DownArgs {
            names: local.clone(),
            rm_worktrees: args.rm_worktrees,
            force: args.force,
        };
        match run_here(plan, &here) {
            Ok(c) => code = c,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if args.names.is_empty() && names.local.is_none() {
        // No agent here, so the part above did not run: the monitor (of the remote agents)
        // closes with the fleet.
        if let Some(monitor) = crate::hosts::remote::monitor_down(plan)? {
            crate::info!("closed the monitor {monitor}");
        }
    }
    let mut flags = Vec::new();
    if args.rm_worktrees {
        flags.push("--rm-worktrees");
    }
    if args.force {
        flags.push("--force");
    }
    for (host, result) in crate::hosts::ops::down(plan, &names.hosts, &flags) {
        match result {
            Ok(said) => {
                for line in said.stdout.lines().chain(said.stderr.lines()) {
                    crate::info!("{host}: {line}");
                }
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(code)
}

/// `down` of this machine's agents.
fn run_here(plan: &Plan, args: &DownArgs) -> Result<i32> {
    let agents = plan.select(&args.names)?;
    let dir = Dir::new(&plan.state_dir);
    let _lock = if dir.exists() {
        Some(dir.lock(LOCK_WAIT)?)
    } else {
        None
    };
    let sessions = tmux::sessions()?;
    let owned = owned(plan, &sessions);
    let mut down = Down::default();
    stop_agents(plan, &agents, &dir, &owned, &mut down)?;
    let monitor = plan.monitor_session();
    // Without names, `down` stops everything this fleet owns: also the sessions of agents
    // since removed from the manifest.
    if args.names.is_empty() {
        down.orphans = owned
            .iter()
            .map(String::as_str)
            .filter(|s| *s != monitor && !plan.agents.iter().any(|a| a.session == *s))
            .map(str::to_string)
            .collect();
        down.orphans.sort_unstable();
        for s in &down.orphans {
            down.batch.add("kill-session", &["-t", &tmux::exact(s)]);
        }
    }
    let others_alive = plan
        .agents
        .iter()
        .any(|a| owned.contains(&a.session) && !agents.iter().any(|s| s.name == a.name));
    let kill_monitor = owned.contains(&monitor) && !others_alive;
    if kill_monitor {
        down.batch
            .add("kill-session", &["-t", &tmux::exact(&monitor)]);
    }
    down.batch.run()?;
    let groups = &down.groups;
    if !util::end_groups(groups, HANGUP_GRACE, KILL_WAIT) {
        bail!(
            "an agent's processes (process groups {groups:?}) are still there after SIGKILL; check `ps -o pid,pgid,stat,args -g {}`",
            groups.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
        );
    }
    // The log says how it ended: its last line is fleet's, not the agent's last words.
    for (name, log) in &down.ended_logs {
        let line = format!(
            "[fleet] {name} stopped by fleet down at {}\n",
            util::rfc3339(util::now())
        );
        if let Err(e) = util::append_private(log).and_then(|mut f| {
            std::io::Write::write_all(&mut f, line.as_bytes()).map_err(Into::into)
        }) {
            eprintln!("warning: cannot note the stop in {}: {e:#}", log.display());
        }
    }
    down.ends.clear();
    report(&down, kill_monitor.then_some(monitor.as_str()));
    if !args.rm_worktrees {
        crate::info!(
            "kept worktrees, branches and logs (remove clean worktrees with --rm-worktrees)"
        );
        return Ok(0);
    }
    let code = remove_worktrees(plan, &agents, args.force);
    remove_seed_bases(plan);
    code
}

/// The seed bases (`.fleet/seed/`, see [`crate::safe_fs::sync_base`]) removed once no
/// worktree of this fleet is left: a new `up` makes them again. A removal that fails (a
/// kernel older than 4.18 lets only root remove a subvolume) is said with the fix.
fn remove_seed_bases(plan: &Plan) {
    let seeds = plan.state_dir.join("seed");
    if !seeds.exists() || plan.agents.iter().any(|a| a.worktree.exists()) {
        return;
    }
    match crate::safe_fs::remove_tree(&seeds) {
        Ok(()) => crate::info!("removed the seed bases in {}", seeds.display()),
        Err(e) => eprintln!(
            "warning: {e:#}; remove them with `btrfs subvolume delete {}/*` (as root), then `rmdir {}`",
            seeds.display(),
            seeds.display()
        ),
    }
}

/// What `down` does to the sessions, gathered before one tmux call.
#[derive(Default)]
struct Down {
    /// The kill-session commands.
    batch: Batch,
    /// The process groups of each closed session's runner and what it runs: once tmux has
    /// hung them up, whatever ignores that is killed, and down waits until all are gone, so
    /// no agent outlives its session (and no second one ever starts in its worktree).
    groups: Vec<i32>,
    /// Agents stopped (running, waiting or queued).
    stopped: Vec<String>,
    /// The logs of the running or waiting agents stopped, for their closing line.
    ended_logs: Vec<(String, std::path::PathBuf)>,
    /// Their end locks ([`crate::state::hold_end`]), held from their records to those lines.
    ends: Vec<crate::state::Lock>,
    /// Finished agents whose sessions are closed.
    closed: Vec<String>,
    /// Sessions of agents no longer in the manifest.
    orphans: Vec<String>,
}

/// Record the running, waiting and queued agents as stopped; their sessions and those of
/// finished agents into the batch, their runners' process groups noted.
fn stop_agents(
    plan: &Plan,
    agents: &[&Agent],
    dir: &Dir,
    owned: &HashSet<String>,
    down: &mut Down,
) -> Result<()> {
    for v in &collect(plan, agents, owned, Detail::States) {
        if !v.session_alive && v.state != State::Queued {
            continue;
        }
        // A queued agent is stopped too, so no finishing agent starts it later.
        if matches!(v.state, State::Running | State::Waiting | State::Queued) {
            if v.state != State::Queued {
                // Held until its closing line is in the log, as a runner ending by itself.
                down.ends.extend(dir.hold_end(&v.agent.name).ok());
            }
            let mut record = v.record.clone().unwrap_or_default();
            record.state = Some(State::Stopped);
            record.finished_at = Some(util::now());
            record.reason = Some("stopped by fleet down".into());
            dir.write_record(&v.agent.name, &record)?;
            down.stopped.push(v.agent.name.clone());
            if v.state != State::Queued {
                down.ended_logs
                    .push((v.agent.name.clone(), v.agent.log.clone()));
            }
        } else {
            down.closed.push(v.agent.name.clone());
        }
        if v.session_alive {
            down.batch
                .add("kill-session", &["-t", &tmux::exact(&v.agent.session)]);
            if let Some(pid) = v.record.as_ref().and_then(|r| r.pid) {
                if util::runner_alive(pid, &dir.spec_path(&v.agent.name)) {
                    down.groups.extend(util::process_groups_of(pid));
                }
            }
        }
    }
    Ok(())
}

/// Say what `down` stopped and closed (`monitor`: the monitor it closed).
fn report(down: &Down, monitor: Option<&str>) {
    if !down.stopped.is_empty() {
        crate::info!("stopped {}", down.stopped.join(", "));
    }
    if !down.closed.is_empty() {
        crate::info!("closed the sessions of finished {}", down.closed.join(", "));
    }
    if !down.orphans.is_empty() {
        crate::info!(
            "closed {} of agents no longer in the manifest",
            down.orphans.join(", ")
        );
    }
    if let Some(monitor) = monitor {
        crate::info!("closed the monitor {monitor}");
    }
    if down.batch.is_empty() && down.stopped.is_empty() {
        crate::info!("nothing to stop: no session of this fleet is running");
    }
}

/// `--rm-worktrees`: remove the agents' worktrees (branches stay); those git or fleet keeps
/// make the error, which says why and what to do.
fn remove_worktrees(plan: &Plan, agents: &[&Agent], force: bool) -> Result<i32> {
    let worktrees = git::worktrees(&plan.repo)?;
    let mut refused = Vec::new();
    let present: Vec<(&&Agent, &git::Worktree)> = agents
        .iter()
        .filter_map(|a| git::registered(&worktrees, &a.worktree).map(|w| (a, w)))
        .collect();
    let targets: Vec<&git::Worktree> = present.iter().map(|(_, w)| *w).collect();
    // Each removal touches only its own worktree and its `.git/worktrees/` entry: a few run
    // at once, after one check that none of them holds commits only its HEAD reaches.
    let results = git::remove_worktrees(&plan.repo, &targets, force)?;
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
    kept(&refused, &kept_by_git, &unreferenced)
}

/// The error naming the worktrees kept (Ok when none was).
fn kept(refused: &[String], kept_by_git: &[String], unreferenced: &[String]) -> Result<i32> {
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
