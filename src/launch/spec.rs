//! The run spec of each agent (`.fleet/specs/<name>.json`), which its runner reads: what to
//! run, where, with which task, verify and limits. Written by `up`, rewritten by `continue`.
use std::path::PathBuf;

use anyhow::Result;

use crate::launch::pipeline::with_diffs;
use crate::manifest::{Agent, Plan, Task};
use crate::state::{Dir, Spec};
use crate::util;

/// The task file the agent reads (an inline prompt is written under `.fleet/tasks/`, and so
/// is a task whose `{{diff:NAME}}` are filled in).
fn task_file(plan: &Plan, dir: &Dir, agent: &Agent) -> Result<PathBuf> {
    Ok(match &agent.task {
        Task::File(p) => {
            let text = crate::manifest::task_text(p).unwrap_or_default();
            if !text.contains(crate::manifest::DIFF_OPEN) {
                return Ok(p.clone());
            }
            let path = dir.prompt_path(&agent.name);
            util::write_atomic(&path, with_diffs(plan, &text)?.as_bytes())?;
            path
        }
        Task::Prompt(text) => {
            let mut text = with_diffs(plan, text)?;
            let path = dir.prompt_path(&agent.name);
            if !text.ends_with('\n') {
                text.push('\n');
            }
            util::write_atomic(&path, text.as_bytes())?;
            path
        }
    })
}

/// The `PATH` an agent started by another's runner gets (see [`pass_on_path`]).
static PASSED_ON_PATH: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The runner of an agent that ended starts the queued ones as `fleet up` would: their specs
/// get the `PATH` of the `fleet up` that started it (its own spec's), not the runner's.
pub fn pass_on_path(path: Option<String>) {
    let _ = PASSED_ON_PATH.set(path);
}

/// The `PATH` agents find their programs with: `fleet up`'s.
fn user_path() -> Option<String> {
    match PASSED_ON_PATH.get() {
        Some(path) => path.clone(),
        None => std::env::var("PATH").ok(),
    }
}

/// Write these agents' run specs, flushed to disk together (and, for an interactive agent,
/// create its log user-only). The specs written before an agent whose spec fails, and the
/// error.
pub fn write_specs(plan: &Plan, dir: &Dir, agents: &[&Agent]) -> (usize, Option<anyhow::Error>) {
    let mut specs = Vec::new();
    let mut failed = None;
    for agent in agents {
        let spec = spec_for(plan, dir, agent).and_then(|spec| {
            if agent.interactive {
                // tmux's `pipe-pane` appends the pane's output to the log: create it
                // user-only first.
                crate::util::append_private(&agent.log)?;
            }
            Ok(spec)
        });
        match spec {
            Ok(spec) => specs.push(spec),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    match dir.write_specs(&specs) {
        Ok(()) => (specs.len(), failed),
        Err(e) => (0, Some(e)),
    }
}

/// The run spec of an agent as the manifest describes it, its ports chosen (the caller
/// holds the `.fleet` lock).
pub fn spec_for(plan: &Plan, dir: &Dir, agent: &Agent) -> Result<Spec> {
    let ports = crate::sandbox::ports::assign(dir, &agent.name, &agent.ports)?;
    let mut env = agent.env.clone();
    env.extend(ports.iter().map(|(k, v)| (k.clone(), v.to_string())));
    // A base URL from the agent's `env:`, else from the environment of this `fleet up`.
    let var = crate::sandbox::net::setting(&agent.env);
    let network = crate::sandbox::net::allowlist(agent.preset, &agent.launch, &agent.network, &var);
    Ok(Spec {
        project: plan.project.clone(),
        agent: agent.name.clone(),
        manifest: plan.manifest.clone(),
        command: agent.command.clone(),
        env,
        path: user_path(),
        worktree: agent.worktree.clone(),
        branch: agent.branch.clone(),
        log: agent.log.clone(),
        task: task_file(plan, dir, agent)?,
        setup: plan.setup.clone(),
        verify: agent.verify.clone(),
        on_exit: agent.on_exit.clone(),
        interactive: agent.interactive,
        format: agent.format,
        timeout: agent.timeout,
        max_cost_usd: agent.max_cost_usd,
        launch: agent.launch.clone(),
        resumed: false,
        prices: plan.prices.clone(),
        preset: agent.preset.filter(|_| agent.format.is_some()),
        verify_retries: agent.verify_retries,
        budget: plan.budget,
        retries: agent.retries,
        radar_tell: plan.radar == crate::manifest::Radar::Tell,
        record: dir.record_path(&agent.name),
        credential: crate::preset::credential::label(agent.preset, &agent.env),
        sandbox: agent.sandbox.then(|| crate::sandbox::Policy {
            network,
            ports: ports.values().copied().collect(),
            siblings: plan
                .agents
                .iter()
                .filter(|a| a.name != agent.name)
                .map(|a| a.branch.clone())
                .collect(),
            cli: agent.preset,
        }),
    })
}
