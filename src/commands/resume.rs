//! `fleet continue NAME (-m TEXT | -f FILE)`: resume a finished, failed, stopped or lost
//! agent's conversation with a follow-up instruction, in its own session and worktree,
//! logging to the same log (appended); the work is [`crate::launch::resume`]'s. An agent on
//! another host: its fleet's `continue` there, the follow-up sent on its stdin.
use anyhow::{Context, Result};

use crate::cli::ContinueArgs;
use crate::launch::{fleet_command, resume, LOCK_WAIT};
use crate::manifest::{Agent, Plan};
use crate::state::Dir;
use crate::usage;

pub fn run(plan: &Plan, args: &ContinueArgs) -> Result<i32> {
    if let Some(r) = plan.remote_agent(&args.name) {
        let text = follow_up_text(&r.agent, args)?;
        return crate::hosts::remote::resume(plan, r, &text);
    }
    let agent = plan.agent(&args.name)?;
    let text = follow_up_text(agent, args)?;
    let dir = Dir::new(&plan.state_dir);
    let _lock = dir.lock(LOCK_WAIT)?;
    let started = resume::continue_agent(plan, &dir, agent, text)?;
    crate::info!(
        "continued {} (attempt {}) in session {}, resuming conversation {}",
        agent.name,
        started.attempt,
        agent.session,
        started.session_id.unwrap_or_default()
    );
    crate::info!("follow it: {} logs {} -f", fleet_command(plan), agent.name);
    Ok(0)
}

/// The follow-up, from `-m` or `-f`; not empty.
fn follow_up_text(agent: &Agent, args: &ContinueArgs) -> Result<String> {
    let text = match (&args.message, &args.message_file) {
        (Some(m), _) => m.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the follow-up {}", path.display()))?,
        (None, None) => return usage("give the follow-up with -m TEXT or -f FILE"),
    };
    if text.trim().is_empty() {
        return usage(format!(
            "the follow-up for {} is empty; say what the agent should do next",
            agent.name
        ));
    }
    Ok(text)
}
