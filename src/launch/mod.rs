//! The launch layer, between the commands and git/tmux/state: everything that starts agents
//! (the choice of whom to start, their worktrees, run specs and sessions, the queue of
//! `max_parallel`, the lock wait) and the read model of the fleet that the commands and the
//! queue share. Commands call into it; it never calls a command. Data flows one way:
//! commands → launch → git/tmux/state.
use std::time::Duration;

pub mod choice;
pub mod exclude;
pub mod hints;
pub mod preflight;
pub mod queue;
pub mod sessions;
pub mod spec;
pub mod view;
pub mod worktrees;

pub use hints::{fleet_command, up_hint};
pub use view::owned;

/// How long a second `up`/`down` (or `merge`, `continue`) waits for the `.fleet` lock the
/// first one holds.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);
