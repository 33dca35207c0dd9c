//! Continuing an agent's conversation with a follow-up (`fleet continue`, and the merge
//! train handing a conflict or a failed verify back to its agent): the checks that the agent
//! can be continued, the follow-up written as the task of the next attempt, and the start in
//! its own session and worktree, logging to the same log (appended).
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::launch::{next_round, spec};
use crate::manifest::{Agent, Plan};
use crate::state::{Dir, State};
use crate::util;
use crate::view::{state_of, View};

/// What [`continue_agent`] started.
pub struct Continued {
    /// The attempt it is (2 for the first continue).
    pub attempt: u32,
    /// The conversation resumed.
    pub session_id: Option<String>,
}

/// Continue `agent`'s conversation with `text` (not empty): once it is sure the agent can be
/// continued (ended, budget left, a CLI that resumes, its session id, its worktree there),
/// the follow-up is written and the agent started again in its own session. The caller
/// holds the `.fleet` lock of `dir`.
pub fn continue_agent(plan: &Plan, dir: &Dir, agent: &Agent, text: String) -> Result<Continued> {
    let (view, owned) = state_of(plan, agent)?;
    let session_id = view.record.as_ref().and_then(|r| r.session_id.clone());
    let resume = resume_command(plan, agent, &view)?;

    let attempt = view.record.as_ref().map_or(0, |r| r.attempt) + 1;
    let text = with_radar_notice(plan, agent, text);
    let follow_up = write_follow_up(plan, agent, attempt, text)?;
    let mut spec = spec::spec_for(plan, dir, agent)?;
    spec.command = resume;
    spec.task = follow_up;
    spec.resumed = true;
    dir.write_spec(&spec)?;

    let exe = std::env::current_exe().context("cannot find the fleet executable")?;
    let monitor_alive = owned.contains(&plan.monitor_session());
    crate::launch::queue::start_now(plan, dir, &[&view], monitor_alive, false, &exe)?;
    Ok(Continued {
        attempt,
        session_id,
    })
}

/// `radar: tell`: the follow-up carries the overlaps the agent has not heard of (noted as
/// told), after the user's text.
fn with_radar_notice(plan: &Plan, agent: &Agent, text: String) -> String {
    if plan.radar != crate::manifest::Radar::Tell {
        return text;
    }
    let overlaps = crate::view::notice::look(plan);
    match crate::view::notice::take(plan, &agent.name, &overlaps) {
        Ok(Some(notice)) => format!("{}\n\n{notice}", text.trim_end()),
        Ok(None) => text,
        Err(e) => {
            eprintln!(
                "warning: cannot note the radar's notice to {}: {e:#}",
                agent.name
            );
            text
        }
    }
}

/// Can `agent` be continued now (`fleet continue`, `merge --resume-agent`)? Why not, if not.
pub fn can_continue(plan: &Plan, agent: &Agent) -> Result<()> {
    let (view, _) = state_of(plan, agent)?;
    resume_command(plan, agent, &view).map(drop)
}

/// The command that resumes the agent's conversation, once it is sure the agent can be
/// continued: ended, budget left, a preset that resumes, a session id, its worktree there.
fn resume_command(plan: &Plan, agent: &Agent, view: &View) -> Result<String> {
    check_ended(plan, agent, view)?;
    // What is left of the budget after every run so far (the continued run adds to them).
    let left = view
        .record
        .as_ref()
        .and_then(|r| r.budget_left(agent.max_cost_usd))
        .or(agent.max_cost_usd);
    if left.is_some_and(|l| l <= 0.0) {
        anyhow::bail!(
            "{} has spent its max_cost_usd (${:.2}); raise `max_cost_usd:` in {} to continue it",
            agent.name,
            agent.max_cost_usd.unwrap_or(0.0),
            plan.manifest.display()
        );
    }
    let session_id = view.record.as_ref().and_then(|r| r.session_id.as_deref());
    let preset = agent.preset.filter(|_| agent.format.is_some());
    let resume = preset
        .zip(session_id)
        .and_then(|(p, id)| p.resume_command(id, &agent.launch, left));
    let Some(resume) = resume else {
        anyhow::bail!(
            "{} cannot be continued: {}; {} instead",
            agent.name,
            if preset.is_none() {
                format!(
                    "its command `{}` is not one fleet knows how to resume (the claude, codex and gemini presets, headless, are)",
                    util::one_line(&agent.command, 60)
                )
            } else {
                "its CLI reported no session id".to_string()
            },
            next_round::rerun_hint(plan, agent)
        );
    };
    if !agent.worktree.is_dir() {
        anyhow::bail!(
            "{}'s worktree {} is gone; {}, in a new worktree",
            agent.name,
            agent.worktree.display(),
            next_round::rerun_hint(plan, agent)
        );
    }
    Ok(resume)
}

/// Only an agent that has ended (done, failed, stopped, lost) is continued.
fn check_ended(plan: &Plan, agent: &Agent, view: &View) -> Result<()> {
    match view.state {
        State::Done | State::Failed | State::Stopped | State::Lost => Ok(()),
        State::Damaged => anyhow::bail!(
            "{} cannot be continued: {}",
            agent.name,
            view.record
                .as_ref()
                .and_then(|r| r.reason.as_deref())
                .unwrap_or("its record is damaged")
        ),
        State::Running | State::Waiting | State::Queued => anyhow::bail!(
            "{} is still {}; continue it once it has ended (`fleet wait {}`)",
            agent.name,
            view.state,
            agent.name
        ),
        State::Blocked => anyhow::bail!(
            "{} never started: it is blocked ({}); {}, and then it starts",
            agent.name,
            view.record
                .as_ref()
                .and_then(|r| r.reason.as_deref())
                .unwrap_or("its dependencies cannot bring it their work"),
            rerun_deps(plan, agent)
        ),
        State::Pending => anyhow::bail!(
            "{} never started, so it has no conversation to continue (`fleet up {}` starts it)",
            agent.name,
            agent.name
        ),
    }
}

/// The `fleet up --rerun` of what a blocked agent waits for, each saying where it starts.
fn rerun_deps(plan: &Plan, agent: &Agent) -> String {
    let hints: Vec<String> = agent
        .after
        .iter()
        .filter_map(|d| plan.agent(d).ok())
        .map(|d| next_round::rerun_hint(plan, d))
        .collect();
    if hints.is_empty() {
        "`fleet up --rerun` of what it waits for starts it".to_string()
    } else {
        hints.join("; ")
    }
}

/// Write the follow-up as the task of this attempt (`.fleet/tasks/NAME.continue-N.md`).
fn write_follow_up(plan: &Plan, agent: &Agent, attempt: u32, text: String) -> Result<PathBuf> {
    let follow_up = plan
        .state_dir
        .join("tasks")
        .join(format!("{}.continue-{attempt}.md", agent.name));
    util::private_dir(follow_up.parent().unwrap_or(&plan.state_dir))?;
    let mut body = text;
    if !body.ends_with('\n') {
        body.push('\n');
    }
    util::write_atomic(&follow_up, body.as_bytes())?;
    Ok(follow_up)
}
