//! `after:` at run time: whether an agent may start (its dependencies all `done`), waits,
//! or is `blocked` (one failed, was stopped or lost, is blocked itself, or their branches
//! conflict); the branch it starts from (one dependency: its tip; several: their merge, made
//! without a worktree), made when it becomes ready; and the `{{diff:NAME}}` of its task.
//! No daemon: `up` and the runner of each agent that ends ([`crate::launch::queue::advance`])
//! ask here.
use std::collections::{HashMap, HashSet};

use anyhow::Result;

use crate::git;
use crate::manifest::{Agent, Plan, DIFF_OPEN};
use crate::state::{Dir, State};
use crate::view::gates::{gate, settled, Gate};
use crate::view::View;

/// The most of one agent's diff a task gets for `{{diff:NAME}}`.
pub const DIFF_CAP: usize = 256 * 1024;

/// The agents `up` is to start, sorted by their `after:` (in dependency order): those that
/// may start, those that wait for their dependencies (queued, nothing made for them yet)
/// and those blocked, with why. An agent waits for a dependency `up` starts too.
pub fn sort<'v, 'a>(
    plan: &Plan,
    owned: &HashSet<String>,
    to_start: Vec<&'v View<'a>>,
) -> (
    Vec<&'v View<'a>>,
    Vec<&'v View<'a>>,
    Vec<(&'v View<'a>, String)>,
) {
    if to_start.iter().all(|v| v.agent.after.is_empty()) {
        return (to_start, Vec::new(), Vec::new());
    }
    let mut states = settled(plan, owned);
    let (mut ready, mut wait, mut blocked) = (Vec::new(), Vec::new(), Vec::new());
    for a in plan.in_order() {
        let Some(v) = to_start.iter().find(|v| v.agent.name == a.name) else {
            continue;
        };
        let now = match gate(a, &states) {
            Gate::Ready => {
                ready.push(*v);
                State::Running
            }
            Gate::Wait => {
                wait.push(*v);
                State::Queued
            }
            Gate::Blocked(why) => {
                blocked.push((*v, why));
                State::Blocked
            }
        };
        states.insert(a.name.clone(), (now, None));
    }
    // `up`'s own order (queued first, then the manifest's) for those that start.
    ready.sort_by_key(|v| to_start.iter().position(|t| t.agent.name == v.agent.name));
    (ready, wait, blocked)
}

/// Make the branch of `agent` (whose dependencies are all done) start from their work: from
/// the tip of the one, or from a merge of several. A branch already there is kept when it
/// holds their work; one fleet made that has nothing of its own yet (its tip the commit
/// fleet made it at, its worktree holding no change) follows their newer work. Ok(Err(why))
/// when the agent cannot start: the deps conflict, or its branch has work of its own
/// without theirs.
pub fn start_point(
    plan: &Plan,
    dir: &Dir,
    agent: &Agent,
    worktrees: &[git::Worktree],
) -> Result<std::result::Result<(), String>> {
    let mut tips = Vec::new();
    for dep in &agent.after {
        let branch = &plan.agent(dep)?.branch;
        match git::commit_oid(&plan.repo, branch)? {
            Some(oid) => tips.push(oid),
            None => return Ok(Err(format!("{dep}'s branch {branch} is gone"))),
        }
    }
    let target = match merged(plan, agent, &tips)? {
        Ok(target) => target,
        Err(why) => return Ok(Err(why)),
    };
    let mut record = dir.record(&agent.name).unwrap_or_default();
    let why = format!(
        "fleet: {} starts from {}",
        agent.name,
        agent.after.join(", ")
    );
    match git::commit_oid(&plan.repo, &agent.branch)? {
        None => git::set_branch(&plan.repo, &agent.branch, &target, None, &why)?,
        Some(tip) if holds_all(plan, &tips, &tip)? => return Ok(Ok(())),
        Some(tip) if record.based_on.as_deref() == Some(tip.as_str()) => {
            match git::registered(worktrees, &agent.worktree) {
                // `reset --keep` refuses to lose a change of the worktree.
                Some(_) => {
                    if git::follow_branch(&agent.worktree, &target).is_err() {
                        return Ok(Err(own_work(agent)));
                    }
                }
                None => git::set_branch(&plan.repo, &agent.branch, &target, Some(&tip), &why)?,
            }
        }
        Some(_) => return Ok(Err(own_work(agent))),
    }
    record.based_on = Some(target);
    dir.write_record(&agent.name, &record)?;
    Ok(Ok(()))
}

/// The commit the agent starts from: its one dependency's tip, or the merge of several;
/// Err(why) when they conflict (`its dependencies a and b conflict in f`).
fn merged(
    plan: &Plan,
    agent: &Agent,
    tips: &[String],
) -> Result<std::result::Result<String, String>> {
    if let [one] = tips {
        return Ok(Ok(one.clone()));
    }
    let message = format!("fleet: merge {} for {}", agent.after.join(", "), agent.name);
    Ok(match git::merge_tips(&plan.repo, tips, &message)? {
        git::Merge::Commit(c) => Ok(c),
        git::Merge::Conflict { with, files } => Err(format!(
            "its dependencies {} and {} conflict in {}",
            agent.after[..with].join(", "),
            agent.after[with],
            files.join(", ")
        )),
    })
}

fn holds_all(plan: &Plan, tips: &[String], tip: &str) -> Result<bool> {
    for t in tips {
        if !git::is_ancestor(&plan.repo, t, tip)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn own_work(agent: &Agent) -> String {
    format!(
        "its branch {} has work of its own without the latest of {}; merge theirs into it (or delete the branch), then `fleet up {}`",
        agent.branch,
        agent.after.join(", "),
        agent.name
    )
}

/// The task `text` with each `{{diff:NAME}}` replaced by what NAME's branch did since the
/// base (`git diff BASE...BRANCH`), cut at [`DIFF_CAP`] with a line saying so. One pass over
/// the task as written: a diff is data, so a `{{diff:…}}` inside an inserted diff stays as
/// it is (it is never expanded again).
pub fn with_diffs(plan: &Plan, text: &str) -> Result<String> {
    let mut bodies = HashMap::new();
    for name in crate::manifest::diff_refs(text) {
        let body = diff_body(plan, &name)?;
        bodies.insert(name, body);
    }
    // Every spelling the scan accepted (`{{diff: api }}` too).
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(DIFF_OPEN) {
        let after = &rest[i + DIFF_OPEN.len()..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..i]);
        match bodies.get(after[..end].trim()) {
            Some(body) => out.push_str(body),
            None => out.push_str(&rest[i..i + DIFF_OPEN.len() + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What `{{diff:NAME}}` stands for: NAME's diff since the base, cut at [`DIFF_CAP`].
fn diff_body(plan: &Plan, name: &str) -> Result<String> {
    let branch = &plan.agent(name)?.branch;
    let (diff, total) = git::diff_since(&plan.repo, &plan.base, branch, DIFF_CAP)?;
    let mut body = if total == 0 {
        format!(
            "(no changes: {branch} holds nothing beyond {})\n",
            plan.base
        )
    } else {
        diff
    };
    if total > DIFF_CAP {
        body.push_str(&format!(
            "[fleet: the diff of {name} is {total} bytes; only its first {} KiB are here: run `git diff {}...{branch}` for the rest]\n",
            DIFF_CAP / 1024,
            plan.base
        ));
    }
    Ok(body)
}

/// The agents named, and the agents recorded `blocked` that build on them (through any
/// chain): `up --rerun a` restarts a and queues again what its failure blocked.
pub fn with_blocked_dependents<'a>(plan: &'a Plan, mut agents: Vec<&'a Agent>) -> Vec<&'a Agent> {
    let dir = Dir::new(&plan.state_dir);
    for a in plan.in_order() {
        let blocked = dir
            .record(&a.name)
            .is_some_and(|r| r.state == Some(State::Blocked));
        let builds_on = a.after.iter().any(|d| agents.iter().any(|x| &x.name == d));
        if blocked && builds_on && !agents.iter().any(|x| x.name == a.name) {
            agents.push(a);
        }
    }
    agents
}

/// The agents named, and the agents they build on (through any chain) that did not finish:
/// `up b` of `b` after `a` starts a too when a never ran (as `make b` makes what b needs),
/// and says so; a dependency that is done or failed is left as it is (`--rerun` reruns only
/// what was named).
pub fn with_dependencies<'a>(
    plan: &'a Plan,
    named: &[String],
    mut agents: Vec<&'a Agent>,
) -> Vec<&'a Agent> {
    if named.is_empty() {
        return agents;
    }
    let dir = Dir::new(&plan.state_dir);
    let mut added = Vec::new();
    // In reverse dependency order, so a dependency's own dependencies come after it.
    for a in plan.in_order().into_iter().rev() {
        let needed = agents.iter().any(|x| x.after.contains(&a.name));
        let finished = dir
            .record(&a.name)
            .and_then(|r| r.state)
            .is_some_and(State::finished);
        if needed && !finished && !agents.iter().any(|x| x.name == a.name) {
            agents.push(a);
            added.push(a.name.as_str());
        }
    }
    if !added.is_empty() {
        added.reverse();
        agents.sort_by_key(|x| plan.agents.iter().position(|p| p.name == x.name));
        crate::info!(
            "also starting what they build on (after:): {}",
            added.join(", ")
        );
    }
    agents
}
