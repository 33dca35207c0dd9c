//! fleet: run a fleet of coding agents in parallel, each on its own git branch and worktree,
//! inside its own tmux session, described by one `agents.yaml`.
//!
//! `main.rs` only calls [`main_with_args`]; every subcommand lives in `commands/`.

pub mod cli;
pub mod commands;
pub mod git;
pub mod hosts;
pub mod launch;
pub mod manifest;
pub mod mcp;
pub mod monitor;

pub mod preset;
pub mod prices;
pub mod review;
pub mod runner;
pub mod safe_fs;
pub mod sandbox;
pub mod state;
pub mod template;
pub mod tmux;
pub mod train;
pub mod transcript;
pub mod util;
pub mod view;

use std::ffi::OsString;
use std::fmt;

use clap::Parser;

/// An error that is the user's to fix (bad usage, invalid manifest): exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// The exit code the contract gives an error: 2 when any cause is a usage error, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    if err.chain().any(|c| c.is::<UsageError>()) {
        2
    } else {
        1
    }
}

/// Parse the arguments, run the command, print any error, and return the exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    util::restore_sigpipe();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // `fleet _run SPEC` (each agent's runner, as `up` starts it: one per agent, as long as
    // the agent lives) goes straight to the runner: building the parser of every command
    // would leave its code mapped in each of them.
    if let [_, run, spec] = args.as_slice() {
        if run == "_run" {
            return finish(runner::main(std::path::Path::new(spec)));
        }
    }
    let cli = match cli::Cli::try_parse_from(cli::follow_shorthand(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    util::set_output_flags(cli.verbose, cli.quiet);
    finish(commands::run(cli))
}

/// The exit code of a command's result, its error printed.
fn finish(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(err) => {
            // A manifest's strings end up in messages: none may reach the terminal as code.
            eprintln!("error: {}", util::display_text(&format!("{err:#}")));
            exit_code_of(&err)
        }
    }
}
