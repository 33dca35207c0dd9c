//! The launch layer, between the commands and git/tmux/state: everything that starts agents
//! (the choice of whom to start, their worktrees, run specs and sessions, the queue of
//! `max_parallel`, the lock wait) and the read model of the fleet that the commands and the
//! queue share. Commands call into it; it never calls a command. Data flows one way:
//! commands → launch → git/tmux/state.
use std::time::Duration;

pub mod choice;
pub mod exclude;
pub mod hints;
pub mod next_round;
pub mod pipeline;
pub mod preflight;
pub mod queue;
pub mod ready;
pub mod resume;
pub mod seed;
pub mod sessions;
pub mod spec;
pub mod worktrees;

pub use hints::{fleet_command, up_hint};

/// How long a second `up`/`down` (or `merge`, `continue`) waits for the `.fleet` lock the
/// first one holds.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Load the manifest (see [`crate::manifest::load`]) for a command that acts on its fleet:
/// from now on its tmux calls go to the server that fleet is on (recorded by `up`).
pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<crate::manifest::Plan> {
    let plan = crate::manifest::load(file)?;
    crate::tmux::use_server(crate::state::Dir::new(&plan.state_dir).server());
    Ok(plan)
}
