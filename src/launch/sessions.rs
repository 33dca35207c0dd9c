//! The tmux side of starting agents: one batch that creates their sessions (the runner as
//! each pane's first process) and (re)builds the monitor; attaching to a session after.
use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;

use crate::manifest::{Agent, Plan};
use crate::monitor;
use crate::state::Dir;
use crate::tmux::{self, Batch};
use crate::view::View;

/// The commands that create one agent's session: the runner as the pane's first process
/// (argv, no shell), which holds the pane open after the agent ends; the session tagged.
fn add_session(batch: &mut Batch, plan: &Plan, agent: &Agent, exe: &Path, spec: &Path) {
    let exe = exe.display().to_string();
    let spec = spec.display().to_string();
    batch.add(
        "new-session",
        &[
            "-d",
            "-s",
            &agent.session,
            "-x",
            monitor::WIDTH,
            "-y",
            monitor::HEIGHT,
            "-n",
            &agent.name,
            &exe,
            "_run",
            &spec,
        ],
    );
    // On new-session's line: if it fails (someone else's session took the name meanwhile)
    // tmux skips these instead of tagging that session as this fleet's.
    batch.and(
        "set-option",
        &["-t", &tmux::window(&agent.session), tmux::TAG, &plan.tag()],
    );
    tmux::keep_session(batch, &tmux::window(&agent.session));
    if agent.interactive {
        // The agent draws on the pane's terminal; what it shows goes to the log. In the same
        // tmux call as new-session, so it is in place before tmux reads the pane's output.
        // Its command is run through a format: the log's path goes in printf escapes.
        batch.and(
            "pipe-pane",
            &[
                "-t",
                &tmux::window(&agent.session),
                &tmux::pipe_to(&agent.log),
            ],
        );
    }
}

/// The tmux commands that start these agents' sessions and (re)build the monitor: close it
/// when `monitor_stale`, build it when not `monitor_alive` and the manifest has one
/// (`monitor: enabled: false`: never).
pub fn sessions_batch(
    plan: &Plan,
    dir: &Dir,
    to_start: &[&View],
    monitor_alive: bool,
    monitor_stale: bool,
    exe: &Path,
) -> Batch {
    let mut batch = Batch::new();
    let build = !monitor_alive && plan.monitor_enabled;
    if !to_start.is_empty() || build {
        tmux::keep_server(&mut batch);
    }
    for v in to_start {
        if v.session_alive {
            batch.add("kill-session", &["-t", &tmux::exact(&v.agent.session)]);
        }
        add_session(
            &mut batch,
            plan,
            v.agent,
            exe,
            &dir.spec_path(&v.agent.name),
        );
    }
    if monitor_stale {
        batch.add(
            "kill-session",
            &["-t", &tmux::exact(&plan.monitor_session())],
        );
    }
    if build {
        monitor::build(plan, exe, &mut batch);
    }
    batch
}

/// Runs a batch of [`sessions_batch`] that creates sessions of this fleet, once the server
/// it goes to is recorded in `.fleet/tmux-server` ([`Dir::remember_server`]): every way
/// sessions are made (`up`, `continue`, the queue, the monitor of a fleet whose agents are
/// all on hosts) records where, so a fleet command run later without the `TMUX_TMPDIR` (or
/// `$TMUX`) that chose that server (a `fleet mcp` a user registered with a CLI, which hands
/// its servers a few variables only) finds the sessions there ([`crate::launch::load`]).
pub fn create(dir: &Dir, batch: &Batch) -> Result<String> {
    dir.remember_server(&tmux::socket())?;
    batch.run()
}

/// Attach to (or, inside tmux, switch to) a session; outside tmux this needs a terminal.
pub fn attach(session: &str) -> Result<()> {
    if !tmux::inside() && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "cannot attach to {session}: not a terminal (stdin is not a tty); run `fleet attach` from a terminal, or `tmux attach -t ={session}`"
        );
    }
    tmux::attach(session)
}
