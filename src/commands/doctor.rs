//! `fleet doctor`: checks the tools, each agent's program, each other host (through
//! `hosts::checkup`), and what fleet may have left behind (sessions no agent owns, stale
//! worktrees, branches without a worktree, lost agents), and prints every problem with the
//! command that fixes it. Changes nothing.
//! Exit 0 when all is fine, 1 when it found a problem.
use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use crate::launch::preflight::{find_program, program_of};
use crate::manifest::Plan;
use crate::state::{Dir, Record, State};
use crate::util::shell_quote;
use crate::{git, tmux};

/// What doctor found: checks that passed, and problems each with its fix.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn ok(&mut self, what: impl AsRef<str>) {
        println!("ok       {}", what.as_ref());
    }

    /// Information: how things are, nothing to fix (does not change the exit code).
    fn info(&mut self, what: impl AsRef<str>) {
        println!("info     {}", what.as_ref());
    }

    /// Worth knowing, not a problem (does not change the exit code).
    fn warning(&mut self, what: impl AsRef<str>) {
        println!("warning  {}", what.as_ref());
    }

    fn problem(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.problems += 1;
        println!("problem  {}", what.as_ref());
        println!("         fix: {}", fix.as_ref());
    }
}

pub fn run(file: Option<&Path>) -> Result<i32> {
    let mut r = Report::default();
    let tools_ok = tools(&mut r);
    match crate::launch::load(file) {
        Ok(plan) => {
            println!("manifest {}", plan.manifest.display());
            programs(&mut r, &plan);
            sandbox(&mut r, &plan);
            hosts(&mut r, &plan);
            agent_session_vars(&mut r);
            if tools_ok {
                sessions(&mut r, &plan)?;
                worktrees(&mut r, &plan)?;
                pending_merge(&mut r, &plan);
            }
        }
        Err(e) => r.problem(
            format!("{e:#}").replace('\n', "\n         "),
            "fix the manifest (`fleet validate` lists every problem), or pass -f PATH",
        ),
    }
    if r.problems == 0 {
        println!("no problems found");
        Ok(0)
    } else {
        println!(
            "{} problem{} found",
            r.problems,
            if r.problems == 1 { "" } else { "s" }
        );
        Ok(1)
    }
}

/// tmux and git: present and new enough. True when both are.
fn tools(r: &mut Report) -> bool {
    let mut all = true;
    match tmux::version() {
        Ok(v) => r.ok(v),
        Err(e) => {
            all = false;
            r.problem(
                format!("{e:#}"),
                format!(
                    "install tmux {}.{} or newer (apt-get install tmux, brew install tmux)",
                    tmux::MIN_VERSION.0,
                    tmux::MIN_VERSION.1
                ),
            );
        }
    }
    match git::version() {
        Ok(v) => r.ok(format!("git {v}")),
        Err(e) => {
            all = false;
            r.problem(
                format!("{e:#}"),
                format!(
                    "install git {}.{} or newer",
                    git::MIN_VERSION.0,
                    git::MIN_VERSION.1
                ),
            );
        }
    }
    all
}

/// Each agent's program is on PATH.
fn programs(r: &mut Report, plan: &Plan) {
    for a in &plan.agents {
        match find_program(a) {
            Ok(Some(p)) => r.ok(format!("agent {}: runs {}", a.name, p.display())),
            Ok(None) => r.ok(format!(
                "agent {}: `{}` (a shell command, not checked)",
                a.name, a.command
            )),
            Err(p) => r.problem(
                format!(
                    "agent {}: program `{p}` not found on PATH (command: `{}`)",
                    a.name, a.command
                ),
                format!(
                    "install `{}` or change the agent's `command:` in {}",
                    program_of(&a.command).unwrap_or(p),
                    plan.manifest.display()
                ),
            ),
        }
    }
}

/// Whether boxes can be made here: a problem when an agent asks for one.
fn sandbox(r: &mut Report, plan: &Plan) {
    let boxed: Vec<&str> = plan
        .agents
        .iter()
        .filter(|a| a.sandbox)
        .map(|a| a.name.as_str())
        .collect();
    match crate::sandbox::report() {
        Ok(works) => r.ok(works),
        Err(missing) if boxed.is_empty() => r.info(missing),
        Err(missing) => r.problem(
            format!("{missing} (sandboxed: {})", boxed.join(", ")),
            format!(
                "install bubblewrap, or set `sandbox: false` in {}",
                plan.manifest.display()
            ),
        ),
    }
}

/// Each host of `hosts:`: answers over ssh, its fleet, tmux, git, its repository.
fn hosts(r: &mut Report, plan: &Plan) {
    use crate::hosts::checkup::Finding;
    for f in crate::hosts::checkup::hosts(plan) {
        match f {
            Finding::Ok(what) => r.ok(what),
            Finding::Info(what) => r.info(what),
            Finding::Problem { what, fix } => r.problem(what, fix),
        }
    }
}

/// Sessions tagged by this fleet that no agent of the manifest owns, sessions of fleets whose
/// manifest is gone, agents whose session vanished (lost), and a queue nothing will start.
fn sessions(r: &mut Report, plan: &Plan) -> Result<()> {
    let all = tmux::sessions()?;
    let mut found = foreign_sessions(r, plan, &all);
    let owned = crate::view::owned(plan, &all);
    found |= lost_agents(r, plan, &owned);
    found |= stuck_queue(r, plan, &owned);
    if !found {
        r.ok("tmux sessions: none orphaned, no agent lost");
    }
    state_dir_mode(r, plan);
    Ok(())
}

/// Sessions tagged by this fleet that no agent owns, and those of fleets whose manifest is
/// gone. True when it found one.
fn foreign_sessions(r: &mut Report, plan: &Plan, all: &[tmux::Session]) -> bool {
    let tag = plan.tag();
    let monitor = plan.monitor_session();
    let mut found = false;
    for s in all {
        let kill = format!(
            "tmux kill-session -t {}",
            shell_quote(&tmux::exact(&s.name))
        );
        if s.tag == tag {
            if s.name != monitor && !plan.agents.iter().any(|a| a.session == s.name) {
                found = true;
                r.problem(
                    format!(
                        "session {} is tagged by this fleet but no agent in the manifest has it",
                        s.name
                    ),
                    format!("{kill}   (or `fleet down`, which stops it too)"),
                );
            }
        } else if !s.tag.is_empty() && !Path::new(&s.tag).exists() {
            found = true;
            r.problem(
                format!(
                    "session {} belongs to a fleet whose manifest {} is gone",
                    s.name, s.tag
                ),
                kill,
            );
        }
    }
    found
}

/// Agents whose session vanished without an exit record. True when it found one.
fn lost_agents(r: &mut Report, plan: &Plan, owned: &HashSet<String>) -> bool {
    let dir = Dir::new(&plan.state_dir);
    let mut found = false;
    for a in &plan.agents {
        let record = dir.record(&a.name);
        if Record::derive(record.as_ref(), owned.contains(&a.session)) != State::Lost {
            continue;
        }
        found = true;
        let ghost = record
            .as_ref()
            .and_then(|r| r.pid)
            .filter(|pid| crate::util::runner_alive(*pid, &dir.spec_path(&a.name)));
        if let Some(pid) = ghost {
            r.problem(
                format!(
                    "agent {} lost its session {} but its last run (pid {pid}) is still going",
                    a.name, a.session
                ),
                format!(
                    "kill {pid}   (or wait for it to end), then {} up {}",
                    crate::launch::fleet_command(plan),
                    a.name
                ),
            );
            continue;
        }
        r.problem(
            format!(
                "agent {} is lost: it was running but its session {} is gone (tmux server ended?)",
                a.name, a.session
            ),
            format!(
                "{} up {}   (restarts it in its worktree, keeping its work)",
                crate::launch::fleet_command(plan),
                a.name
            ),
        );
    }
    found
}

/// Queued agents with none running to start them when it ends. True when so.
fn stuck_queue(r: &mut Report, plan: &Plan, owned: &HashSet<String>) -> bool {
    let dir = Dir::new(&plan.state_dir);
    let views: Vec<State> = plan
        .agents
        .iter()
        .map(|a| Record::derive(dir.record(&a.name).as_ref(), owned.contains(&a.session)))
        .collect();
    let queued: Vec<&str> = plan
        .agents
        .iter()
        .zip(&views)
        .filter(|(_, s)| **s == State::Queued)
        .map(|(a, _)| a.name.as_str())
        .collect();
    if queued.is_empty() || views.contains(&State::Running) {
        return false;
    }
    r.problem(
        format!(
            "{} queued but no agent is running to start {} when it ends",
            queued.join(", "),
            if queued.len() == 1 { "it" } else { "them" }
        ),
        format!("{} up", crate::launch::fleet_command(plan)),
    );
    true
}

/// `.fleet/` holds logs that may carry secrets: it must be user-only.
fn state_dir_mode(r: &mut Report, plan: &Plan) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(&plan.state_dir) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        r.problem(
            format!(
                "{} is readable by others (mode {mode:o}); agent logs can hold secrets",
                plan.state_dir.display()
            ),
            format!(
                "chmod -R go-rwx {}",
                shell_quote(&plan.state_dir.display().to_string())
            ),
        );
    }
}

/// Registered worktrees whose directory is gone, directories in the worktree dir that are not
/// worktrees, worktrees locked or on another branch, and fleet branches (`fleet/*` and the
/// manifest's) without a worktree: a problem, except an agent's branch kept after its
/// worktree was removed (what `fleet down --rm-worktrees` does), which is worth knowing.
fn worktrees(r: &mut Report, plan: &Plan) -> Result<()> {
    let list = git::worktrees(&plan.repo)?;
    let mut found = gone_worktrees(r, plan, &list);
    found |= stray_dirs(r, plan, &list);
    found |= odd_worktrees(r, plan, &list);
    let (orphans, kept) = branches_without_worktree(plan, &list)?;
    found |= !orphans.is_empty();
    for b in &orphans {
        r.problem(
            format!("branch {b} has no worktree (its worktree was removed)"),
            format!(
                "git -C {} branch -d {}   (once merged; -D drops its commits){}",
                shell_quote(&plan.repo.display().to_string()),
                shell_quote(b),
                work_again(plan, b)
                    .map(|again| format!("; or {again}"))
                    .unwrap_or_default()
            ),
        );
    }
    if !found {
        let every = if kept.is_empty() {
            "; every fleet branch has its worktree"
        } else {
            ""
        };
        r.ok(format!(
            "worktrees: {} registered, none stale{every}",
            list.len()
        ));
    }
    for b in &kept {
        r.info(match plan.agents.iter().find(|a| &a.branch == b) {
            Some(a) => crate::launch::next_round::kept_branch(plan, a),
            None => format!("branch {b} is kept without its worktree"),
        });
    }
    Ok(())
}

/// How to work on agent branch `b` again, when it is an agent's.
fn work_again(plan: &Plan, b: &str) -> Option<String> {
    let a = plan.agents.iter().find(|a| a.branch == b)?;
    Some(crate::launch::next_round::work_again(plan, a))
}

/// Registered worktrees whose directory is gone. True when it found one.
fn gone_worktrees(r: &mut Report, plan: &Plan, list: &[git::Worktree]) -> bool {
    let repo = shell_quote(&plan.repo.display().to_string());
    let mut found = false;
    for w in list.iter().filter(|w| w.prunable) {
        found = true;
        r.problem(
            format!(
                "worktree {} is registered but its directory is gone",
                w.path.display()
            ),
            format!("git -C {repo} worktree prune"),
        );
    }
    found
}

/// Directories in the worktree dir that are not worktrees. True when it found one.
fn stray_dirs(r: &mut Report, plan: &Plan, list: &[git::Worktree]) -> bool {
    let Ok(entries) = std::fs::read_dir(&plan.worktree_dir) else {
        return false;
    };
    let mut stray: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && git::registered(list, p).is_none())
        .collect();
    stray.sort();
    for p in &stray {
        r.problem(
            format!(
                "{} is in the worktree dir but is not a worktree of {}",
                p.display(),
                plan.repo.display()
            ),
            format!(
                "look inside, then move it away or `rm -r {}`",
                shell_quote(&p.display().to_string())
            ),
        );
    }
    !stray.is_empty()
}

/// Worktrees in the worktree dir that are locked (a `git worktree add` cut short) or whose
/// agent's worktree is on another branch. True when it found one.
fn odd_worktrees(r: &mut Report, plan: &Plan, list: &[git::Worktree]) -> bool {
    let repo = shell_quote(&plan.repo.display().to_string());
    let mut found = false;
    for w in list
        .iter()
        .filter(|w| !w.prunable && w.path.starts_with(&plan.worktree_dir))
    {
        let path = shell_quote(&w.path.display().to_string());
        if let Some(why) = &w.locked {
            found = true;
            let why = if why.is_empty() {
                "no reason given"
            } else {
                why
            };
            r.problem(
                format!(
                    "worktree {} is locked ({why}); a `git worktree add` cut short leaves it so, half checked out",
                    w.path.display()
                ),
                format!(
                    "git -C {repo} worktree unlock {path}, then check it with `git -C {path} status` (or `git -C {repo} worktree remove --force {path}` and `fleet up` makes it again)"
                ),
            );
        }
        let Some(a) = plan.agents.iter().find(|a| a.worktree == w.path) else {
            continue;
        };
        if w.branch.as_deref() != Some(a.branch.as_str()) {
            found = true;
            r.problem(
                format!(
                    "agent {}'s worktree {} is on {} instead of {}",
                    a.name,
                    w.path.display(),
                    w.branch.as_deref().unwrap_or("a detached HEAD"),
                    a.branch
                ),
                format!(
                    "git -C {path} switch {}   (commit or stash the work there first)",
                    shell_quote(&a.branch)
                ),
            );
        }
    }
    found
}

/// Fleet branches (`fleet/*` and the manifest's) that no live worktree has checked out, as
/// (problems, kept): kept are agents' branches whose worktree is not registered at all, as
/// `fleet down --rm-worktrees` leaves them; the rest are problems (a branch nobody's, or an
/// agent's whose worktree directory vanished).
fn branches_without_worktree(
    plan: &Plan,
    list: &[git::Worktree],
) -> Result<(Vec<String>, Vec<String>)> {
    let checked_out: HashSet<&str> = list
        .iter()
        .filter(|w| !w.prunable)
        .filter_map(|w| w.branch.as_deref())
        .collect();
    let mut branches = git::branches(&plan.repo, "fleet/")?;
    for a in &plan.agents {
        if !branches.contains(&a.branch) && git::branch_exists(&plan.repo, &a.branch)? {
            branches.push(a.branch.clone());
        }
    }
    // (an agent whose worktree is there on another branch is reported by odd_worktrees)
    let misplaced = |b: &str| {
        plan.agents
            .iter()
            .any(|a| a.branch == b && git::registered(list, &a.worktree).is_some())
    };
    let removed = |b: &str| {
        plan.agents
            .iter()
            .any(|a| a.branch == b && !list.iter().any(|w| w.path == a.worktree))
    };
    Ok(branches
        .into_iter()
        .filter(|b| !checked_out.contains(b.as_str()) && !misplaced(b))
        .partition(|b| !removed(b)))
}

/// fleet run from inside an agent CLI's session: its variables would make a nested agent
/// CLI refuse to start; the runner removes them from every agent's environment.
fn agent_session_vars(r: &mut Report) {
    for var in crate::runner::AGENT_SESSION_VARS {
        if std::env::var_os(var).is_some() {
            r.warning(format!(
                "{var} is set: this shell runs inside an agent CLI's session (Claude Code); fleet removes it from its agents' environment, so they start normally"
            ));
        }
    }
}

/// A merge fleet made and never verified (the journal of a train killed during verify).
fn pending_merge(r: &mut Report, plan: &Plan) {
    if let Some(w) = crate::train::journal::warning(plan) {
        let (what, fix) = w.split_once("\n  ").unwrap_or((&w, ""));
        r.problem(what, fix);
    }
}
