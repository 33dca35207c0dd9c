//! Reviews sent back to an agent (`fleet review`): the review file and its format
//! (`file`), the unified diff it holds read into files, hunks and numbered lines (`diff`),
//! its comments checked against the agent's diff when they are sent (`check`), and the
//! follow-up the agent gets (`message`). Text in, text out: the command reads and writes
//! the files, git gives the diffs, the launch layer resumes the agent.
pub mod check;
pub mod diff;
pub mod file;
pub mod message;
