//! Settling a merge the journal says was never verified (fleet was killed during its
//! verify): `fleet merge --verify-pending` runs the agent's verify on base now (the merge
//! stays when it passes, is taken back when it fails, unless base moved on since),
//! `fleet merge --undo-pending` takes it back, only while base is still at that merge (the
//! user's own later commits are never reset). Either takes the `.fleet` lock.
use anyhow::{bail, Result};

use crate::git;
use crate::launch::LOCK_WAIT;
use crate::manifest::{Agent, Plan};
use crate::state::Dir;
use crate::util;

use super::journal::{self, Pending};
use super::verify;

/// The refusal to merge more while base holds a merge nobody verified (one that a running
/// `fleet merge` is verifying now is its business).
pub(super) fn refusal(plan: &Plan) -> Result<Option<String>> {
    Ok(journal::pending(plan)?
        .filter(|p| !p.running)
        .map(|p| format!("{}: {}", p.what(), p.fix(plan))))
}

/// The pending merge, under the lock; None (said) when there is none.
fn find(plan: &Plan) -> Result<Option<Pending>> {
    let Some(p) = journal::pending(plan)? else {
        crate::info!(
            "no merge of fleet's waits for its verify: {} holds none that was never verified",
            plan.base
        );
        // (a journal left of a merge base no longer holds)
        journal::clear(plan)?;
        return Ok(None);
    };
    if p.running {
        bail!(
            "`fleet merge` (pid {}) is verifying the merge of {} now",
            p.entry.pid,
            p.entry.agent
        );
    }
    Ok(Some(p))
}

/// `fleet merge --verify-pending`: the exit code (0 passed or nothing pending, 130
/// interrupted: still pending); an error when verify failed.
pub fn verify_pending(plan: &Plan) -> Result<i32> {
    let dir = Dir::new(&plan.state_dir);
    let _lock = dir.lock(LOCK_WAIT)?;
    let Some(p) = find(plan)? else { return Ok(0) };
    let e = &p.entry;
    let refusals = super::checks::checkout_refusals(plan)?;
    if !refusals.is_empty() {
        let list: Vec<String> = refusals.iter().map(|r| format!("  - {r}")).collect();
        bail!(
            "not verifying the merge of {} on {}:\n{}",
            e.agent,
            e.base,
            list.join("\n")
        );
    }
    let agent = agent(plan, &e.agent)?;
    let script = agent.verify.clone().unwrap_or_else(|| e.verify.clone());
    util::defer_interrupts();
    crate::info!("verify ({}): {script}", e.agent);
    verify::end_orphan(plan, e.verify_pgid);
    let verified = verify::run(plan, &agent, &script, &mut |_| Ok(()))?;
    if util::interrupted() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!(
                "fleet merge: interrupted; the merge of {} is still unverified\n",
                e.agent
            )
            .as_bytes(),
        );
        return Ok(crate::util::interrupt_exit_code());
    }
    if verified.passed() {
        journal::clear(plan)?;
        crate::info!(
            "verify passed: the merge of {} into {} ({}) is verified",
            e.agent,
            e.base,
            git::short(&p.merge)
        );
        return Ok(0);
    }
    let why = verified.failure();
    let tail = verified
        .tail
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>();
    if p.on_top > 0 {
        journal::clear(plan)?;
        bail!(
            "verify `{script}` {why} on {}, which holds the merge of {} ({}) and {} commit{} of yours on top of it: fleet will not reset them; {}.\nIts last lines:\n{}",
            e.base,
            e.agent,
            git::short(&p.merge),
            p.on_top,
            if p.on_top == 1 { "" } else { "s" },
            journal::revert_hint(plan, &p),
            tail.join("\n")
        );
    }
    git::undo_merge(&plan.repo, &e.base, &p.merge, &e.before)?;
    journal::clear(plan)?;
    bail!(
        "verify `{script}` {why} on {} after the merge of {}, so that merge was taken back: {} is at {} again.\nIts last lines:\n{}",
        e.base,
        e.agent,
        e.base,
        git::short(&e.before),
        tail.join("\n")
    )
}

/// `fleet merge --undo-pending`: take the pending merge back (0), refused when base moved on.
pub fn undo_pending(plan: &Plan) -> Result<i32> {
    let dir = Dir::new(&plan.state_dir);
    let _lock = dir.lock(LOCK_WAIT)?;
    let Some(p) = find(plan)? else { return Ok(0) };
    let e = &p.entry;
    if p.on_top > 0 {
        bail!(
            "not taking back the merge of {} ({}): {} has {} commit{} on top of it since, which fleet will not reset. `{} merge --verify-pending` still verifies it; {}",
            e.agent,
            git::short(&p.merge),
            e.base,
            p.on_top,
            if p.on_top == 1 { "" } else { "s" },
            crate::launch::fleet_command(plan),
            journal::revert_hint(plan, &p)
        );
    }
    verify::end_orphan(plan, e.verify_pgid);
    let undone = git::undo_merge(&plan.repo, &e.base, &p.merge, &e.before)?;
    journal::clear(plan)?;
    crate::info!(
        "took back the merge of {} ({}): {} is at {} again",
        e.agent,
        git::short(&p.merge),
        e.base,
        git::short(&e.before)
    );
    if let git::Undone::BranchOnly(head) = undone {
        crate::info!(
            "the main checkout is not on {} (it is {head}) and was left as it is",
            e.base
        );
    }
    Ok(0)
}

/// The agent of that name, here or on a host; an error when the manifest no longer has it.
fn agent(plan: &Plan, name: &str) -> Result<Agent> {
    if let Some(a) = plan.agents.iter().find(|a| a.name == name) {
        return Ok(a.clone());
    }
    if let Some(r) = plan.remote_agent(name) {
        return Ok(r.agent.clone());
    }
    bail!(
        "{name} is no longer in {}, so fleet does not know its verify: `{} merge --undo-pending` takes its merge back",
        plan.manifest.display(),
        crate::launch::fleet_command(plan)
    )
}
