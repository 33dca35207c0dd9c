//! `fleet up --dry-run`: the steps `up` would take (on this machine: its git and tmux steps;
//! on each host: what it would send and run there), nothing changed.
use std::path::Path;

use anyhow::Result;

use super::names;
use crate::git;
use crate::launch::choice::Choice;
use crate::launch::sessions;
use crate::launch::worktrees::{self, Branches};
use crate::manifest::Plan;
use crate::state::Dir;
use crate::util;

/// `--dry-run`: what `up` would do on each host.
pub(super) fn dry_run_hosts(plan: &Plan, names: &crate::manifest::Names) {
    for (host, names) in &names.hosts {
        let h = &plan.hosts[host];
        let agents = if names.is_empty() {
            plan.remote_on(host)
                .iter()
                .map(|r| r.agent.name.clone())
                .collect()
        } else {
            names.clone()
        };
        println!(
            "host {host}: push {} to {}:{}, send its fleet agents {}, run `{} -f {} up` there",
            plan.base,
            h.ssh,
            h.dir,
            agents.join(", "),
            h.fleet,
            crate::manifest::REMOTE_MANIFEST
        );
    }
}

/// `up --dry-run`'s branches: those from dependencies' work, then one `update-ref` of the new
/// ones from the base.
fn print_branch_steps(plan: &Plan, choice: &Choice, branches: &Branches) {
    // (the branch of an agent with `after:` is made from its dependencies' work, not the base)
    let from_deps = |b: &str| {
        choice
            .to_start
            .iter()
            .find(|v| v.agent.branch == b)
            .filter(|v| !v.agent.after.is_empty())
    };
    let new_branches: Vec<&str> = branches
        .new
        .iter()
        .copied()
        .filter(|b| from_deps(b).is_none())
        .collect();
    for v in branches.new.iter().filter_map(|b| from_deps(b)) {
        println!(
            "branch {} from the work of {} (one: its tip; several: their merge)",
            v.agent.branch,
            v.agent.after.join(", ")
        );
    }
    if !new_branches.is_empty() {
        let lines: String = new_branches
            .iter()
            .map(|b| format!("create refs/heads/{b} {}\\n", plan.base))
            .collect();
        println!(
            "printf {} | git -C {} update-ref -m {} --stdin",
            util::shell_quote(&lines),
            util::shell_quote(&plan.repo.display().to_string()),
            util::shell_quote(&format!("branch: Created from {}", plan.base))
        );
    }
}

/// `up --dry-run`: the git and tmux steps `up` would take, nothing changed.
pub(super) fn dry_run(
    plan: &Plan,
    dir: &Dir,
    choice: &Choice,
    worktrees: &[git::Worktree],
    branches: &Branches,
    exe: &Path,
) -> Result<i32> {
    let batch = sessions::sessions_batch(
        plan,
        dir,
        &choice.now,
        choice.monitor_alive,
        choice.monitor_stale,
        exe,
    );
    println!("dry run: these steps would run (nothing was changed)");
    print_branch_steps(plan, choice, branches);
    let mut existing = branches.existing.clone();
    existing.extend(branches.new.iter().map(|b| b.to_string()));
    let existing = &existing;
    for v in &choice.to_start {
        if let Some(args) = worktrees::worktree_step(plan, v.agent, worktrees, existing)? {
            let words: Vec<String> = args.iter().map(|w| util::shell_quote(w)).collect();
            println!(
                "git -C {} {}",
                util::shell_quote(&plan.repo.display().to_string()),
                words.join(" ")
            );
            println!(
                "git -C {} checkout -f -q",
                util::shell_quote(&v.agent.worktree.display().to_string())
            );
        }
    }
    for line in batch.lines() {
        println!("{line}");
    }
    if !choice.wait.is_empty() {
        println!(
            "then queued (max_parallel), started as slots free: {}",
            names(&choice.wait)
        );
    }
    if !choice.after_wait.is_empty() {
        println!(
            "then, as the agents they build on are done, from their branches: {}",
            names(&choice.after_wait)
        );
    }
    for (v, why) in &choice.blocked {
        println!("not started, blocked: {} ({why})", v.agent.name);
    }
    Ok(0)
}
