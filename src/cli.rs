//! The command line: clap definitions and nothing else.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fleet",
    version,
    about = "Run a fleet of coding agents in parallel: one git worktree and tmux session each",
    propagate_version = true
)]
pub struct Cli {
    /// The manifest (default: $FLEET_FILE, else agents.yaml in this directory or the nearest parent)
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write agents.yaml and tasks/example.md (refuses to overwrite)
    Init,
    /// Check the manifest and the tools, print the resolved plan
    Validate,
    /// Create worktrees and sessions for agents not running and not finished, then the monitor
    Up(UpArgs),
    /// Attach to an agent's session, or to the monitor without NAME
    Attach(AttachArgs),
    /// Show each agent's state, branch, work and last log line
    Status(StatusArgs),
    /// Stop the agents' sessions (and the monitor once none is left); keeps work
    Down(DownArgs),
    /// Check tools, programs, and leftovers (orphan sessions, stale worktrees, lone branches)
    Doctor,
    /// The runner that is each agent pane's first process (internal)
    #[command(name = "_run", hide = true)]
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Agents to start (default: all)
    pub names: Vec<String>,
    /// Print the git and tmux steps and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Attach to the monitor afterwards
    #[arg(long)]
    pub attach: bool,
    /// Also restart finished (done or failed) agents
    #[arg(long)]
    pub rerun: bool,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The agent (default: the monitor)
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Agents to show (default: all)
    pub names: Vec<String>,
    /// Print one JSON object (see DESIGN.md)
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw every second until Ctrl-C
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Agents to stop (default: all, and the monitor)
    pub names: Vec<String>,
    /// Also remove the agents' worktrees when they have no uncommitted changes
    #[arg(long)]
    pub rm_worktrees: bool,
    /// With --rm-worktrees: remove worktrees even with uncommitted changes
    #[arg(long, requires = "rm_worktrees")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent's run spec written by `fleet up`
    pub spec: PathBuf,
}
