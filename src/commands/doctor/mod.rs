//! `fleet doctor`: checks the tools, each agent's program, each other host (through
//! `hosts::checkup`), and what fleet may have left behind (sessions no agent owns, stale
//! worktrees, branches without a worktree, lost agents), and prints every problem with the
//! command that fixes it. Changes nothing.
//! Exit 0 when all is fine, 1 when it found a problem. The checks of sessions and lost
//! agents are in `sessions`, those of worktrees and branches in `worktrees`.
use std::path::Path;

use anyhow::Result;

use crate::launch::preflight::{find_program, program_of};
use crate::manifest::Plan;
use crate::util::shell_quote;
use crate::{git, tmux};

mod sessions;
mod worktrees;

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
                sessions::sessions(&mut r, &plan)?;
                state_dir_mode(&mut r, &plan);
                worktrees::worktrees(&mut r, &plan)?;
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
                a.name,
                crate::util::one_line(&a.command, 80)
            )),
            Err(p) => r.problem(
                format!(
                    "agent {}: program `{p}` not found on PATH (command: `{}`)",
                    a.name,
                    crate::util::one_line(&a.command, 80)
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
