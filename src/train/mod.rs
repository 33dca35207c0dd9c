//! The merge train: `fleet merge NAME…` and `fleet merge --all` bring agents' branches into
//! `base` in the main checkout one after another, in dependency order (`after:`, manifest
//! order breaking ties), each merged as the strategy says and then checked with the agent's `verify:`
//! on the result. The train stops at the first conflict or failed verify with base at the
//! last good merge: a conflict is aborted (`git reset --merge`), a merge that failed verify
//! is taken back (`git reset --keep` to the commit before it, only while base is still at
//! the commit fleet made), so nothing half-merged remains. `--resume-agent` hands the
//! conflict or verify's output back to the agent (as `fleet continue` does).
//!
//! Everything is checked before the first merge (`checks`); named agents that may not be
//! merged refuse the whole train, `--all` skips them, each with its reason. Each merge takes
//! the `.fleet` lock and checks again, so a long verify does not hold up the queue.
use anyhow::{bail, Result};

use crate::git::{self, How, Merged, Rebased};
use crate::launch::LOCK_WAIT;
use crate::manifest::{Agent, Plan};
use crate::state::Dir;
use crate::util;

pub mod checks;
pub mod journal;
mod new_work;
mod pending;
mod report;
mod verify;
mod work;

use new_work::Nothing;
pub use pending::{undo_pending, verify_pending};
use work::Work;

/// How each branch is brought into base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `git merge` as asked (`--ff`, the default, `--no-ff`, `--ff-only`, `--squash`).
    Git(How),
    /// The branch's commits replayed on base in a scratch copy, then fast-forwarded.
    Rebase,
}

impl Strategy {
    /// Its name as the command line says it: `ff`, `no-ff`, `ff-only`, `squash`, `rebase`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Git(How::Merge) => "ff",
            Strategy::Git(How::NoFf) => "no-ff",
            Strategy::Git(How::FfOnly) => "ff-only",
            Strategy::Git(How::Squash) => "squash",
            Strategy::Rebase => "rebase",
        }
    }
}

/// The train's options, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub strategy: Strategy,
    /// Merge an agent whose verify failed, and run no verify after merging.
    pub no_verify: bool,
    /// Merge a failed agent, or one whose worktree holds commits its branch lacks.
    pub force: bool,
    /// Hand a conflict or a failed verify back to the agent.
    pub resume_agent: bool,
    /// Every agent (those that may not be merged are skipped), not named ones.
    pub all: bool,
}

/// What the train does with an agent, decided before the first merge.
enum Verdict {
    /// Merge it: its branch has work base lacks.
    Merge,
    /// Its branch has nothing base lacks.
    Nothing(Nothing),
    /// Leave it out, for these reasons; `asked`: it finished (done or failed), so `--all`
    /// meant it (an agent still at work or never started is named all the same).
    Skip { why: Vec<String>, asked: bool },
}

/// Why the train stopped at an agent.
enum Stop {
    /// Something changed since the train began (the checkout, the agent): these refusals.
    Refused(Vec<String>),
    /// The merge (or the rebase) conflicts in these files; it was aborted.
    Conflict(Vec<String>),
    /// `--ff-only`, and base has commits the branch lacks.
    NotFastForward,
    /// Verify failed on the merge's result (or was stopped: `why`); the merge was taken
    /// back.
    Verify {
        script: String,
        /// `failed (exit 1)`, `ran past its verify_timeout (30m) and was stopped`.
        why: String,
        tail: String,
        /// The tracked files verify changed in the main checkout.
        left: Vec<String>,
        /// Where the checkout's HEAD is, when verify left it off base (only base was moved).
        head: Option<String>,
    },
    /// Verify passed but changed these tracked files in the main checkout: the merge stays,
    /// the train stops (the next merge would find the checkout dirty).
    LeftChanges(Vec<String>),
}

/// Run the train over the agents named (all with `opts.all`): the exit code, 0 when it ran
/// to its end, [`SKIPPED_EXIT`] when it did but `--all` left out a finished agent, 130 when
/// Ctrl-C (SIGTERM, SIGHUP) stopped it between merges or during one (then undone); an error
/// (exit 1) when it refused to start or stopped.
pub fn run(plan: &Plan, names: &[String], opts: &Options) -> Result<i32> {
    let works = work::gather(plan, names, opts.all)?;
    let verdicts = decide(plan, &works, opts)?;
    let mut train = Vec::new();
    let mut skipped = Vec::new();
    let mut nothing = Vec::new();
    for (work, verdict) in works.into_iter().zip(verdicts) {
        match verdict {
            Verdict::Merge => train.push(work),
            Verdict::Nothing(why) => nothing.push((work.agent, why)),
            Verdict::Skip { why, asked } => skipped.push((work.agent, why, asked)),
        }
    }
    report::nothing(plan, &nothing);
    let dir = Dir::new(&plan.state_dir);
    util::defer_interrupts();
    let mut merged: Vec<&Agent> = Vec::new();
    for mut work in train {
        let agent = work.agent;
        if util::interrupted() {
            report::skipped(&skipped);
            return report::interrupted(plan, agent, &merged, false);
        }
        if let Some(stop) = step(plan, &dir, &mut work, opts)? {
            report::skipped(&skipped);
            // Ctrl-C reaches verify too: its failure then is the interrupt's.
            if util::interrupted() {
                return report::interrupted(plan, agent, &merged, true);
            }
            if matches!(stop, Stop::LeftChanges(_)) {
                // (its verify passed: the merge stays)
                merged.push(agent);
            }
            let handed = hand_back(plan, &dir, &work, &stop, opts);
            bail!("{}", report::stopped(plan, &work, &stop, &merged, handed)?);
        }
        merged.push(agent);
    }
    report::done(plan, &merged, &skipped)
}

/// `merge --all` went through but left out an agent that finished: its summary names them.
pub const SKIPPED_EXIT: i32 = 3;

/// What to do with each agent, all decided before anything changes: the main checkout's
/// refusals and (for named agents) any agent's refusal stop the train before it starts.
fn decide(plan: &Plan, works: &[Work], opts: &Options) -> Result<Vec<Verdict>> {
    let mut verdicts = Vec::new();
    for w in works {
        verdicts.push(verdict(plan, w, opts)?);
    }
    skip_what_builds_on_skipped(plan, works, &mut verdicts)?;
    let mut refusals: Vec<String> = checks::checkout_refusals(plan)?;
    refusals.extend(pending::refusal(plan)?);
    if !opts.all {
        for (work, verdict) in works.iter().zip(&verdicts) {
            if let Verdict::Skip { why, .. } = verdict {
                refusals.extend(why.iter().map(|w| match works.len() {
                    1 => w.clone(),
                    _ => format!("{}: {w}", work.agent.name),
                }));
            }
        }
    }
    if !refusals.is_empty() {
        let what = match works {
            [one] if !opts.all => format!("{} ({})", one.agent.name, one.agent.branch),
            _ => "the agents' branches".to_string(),
        };
        let list: Vec<String> = refusals.iter().map(|r| format!("  - {r}")).collect();
        bail!(
            "not merging {what} into {}; nothing was changed:\n{}",
            plan.base,
            list.join("\n")
        );
    }
    Ok(verdicts)
}

/// One agent's verdict: skipped when it has no work here, is not done (with `--all`), or is
/// refused; nothing to do when its work adds nothing.
fn verdict(plan: &Plan, w: &Work, opts: &Options) -> Result<Verdict> {
    let asked = w.state.finished();
    if let Some(why) = &w.missing {
        // (no branch here, or its host did not answer: not known to have finished)
        return Ok(Verdict::Skip {
            why: vec![why.clone()],
            asked: false,
        });
    }
    // `--all` takes the agents that finished their work; a name takes what the user says
    // (a stopped agent's work too), within the refusals.
    if opts.all && !asked {
        let why = format!("it is {}, not done", w.state.label(w.reason.as_deref()));
        return Ok(Verdict::Skip {
            why: vec![why],
            asked,
        });
    }
    let refusals = checks::agent_refusals(plan, w, opts)?;
    if !refusals.is_empty() {
        return Ok(Verdict::Skip {
            why: refusals,
            asked,
        });
    }
    let head = git::rev_parse(&plan.repo, "HEAD")?;
    let tip = git::rev_parse(&plan.repo, &w.tip_ref)?;
    let new = match new_work::of(plan, &w.agent.name, &head, &tip)? {
        Ok(new) => new,
        Err(nothing) => return Ok(Verdict::Nothing(nothing)),
    };
    let Some(from) = new_work::changes_from(plan, &head, &tip, new.since.as_ref())? else {
        return Ok(Verdict::Merge);
    };
    let writes = checks::writes(plan, &from, &tip)?;
    Ok(match writes.refusal {
        Some(refusal) => Verdict::Skip {
            why: vec![refusal],
            asked,
        },
        None if writes.files == 0 => Verdict::Nothing(Nothing::NoChange),
        None => Verdict::Merge,
    })
}

/// An agent whose branch holds commits that base lacks of a skipped agent's branch, or of
/// an unfinished agent the train does not take (it started from that agent's work,
/// `after:`), would bring that work in with its own: it is skipped too, until nothing
/// changes.
fn skip_what_builds_on_skipped(
    plan: &Plan,
    works: &[Work],
    verdicts: &mut [Verdict],
) -> Result<()> {
    let repo = &plan.repo;
    let others = work::unfinished_others(plan, works)?;
    loop {
        let mut left_out: Vec<(&str, &str)> = works
            .iter()
            .zip(verdicts.iter())
            .filter(|(w, v)| matches!(v, Verdict::Skip { .. }) && w.missing.is_none())
            .map(|(w, _)| (w.agent.name.as_str(), w.tip_ref.as_str()))
            .collect();
        left_out.extend(others.iter().map(|(n, r)| (n.as_str(), r.as_str())));
        let mut changed = false;
        for (work, verdict) in works.iter().zip(verdicts.iter_mut()) {
            if !matches!(verdict, Verdict::Merge) {
                continue;
            }
            for (name, tip_ref) in &left_out {
                let shared = git::merge_base(repo, &work.tip_ref, tip_ref)?;
                let Some(shared) =
                    shared.filter(|m| !git::is_ancestor(repo, m, "HEAD").unwrap_or(true))
                else {
                    continue;
                };
                *verdict = Verdict::Skip {
                    why: vec![format!(
                        "its branch holds work of {name} (commit {}), which is not merged: merge {name} first",
                        git::short(&shared),
                    )],
                    asked: work.state.finished(),
                };
                changed = true;
                break;
            }
        }
        if !changed {
            return Ok(());
        }
    }
}

/// One agent through the train: checked again under the lock, merged, verified. None when
/// it went through; why it stopped otherwise (base then at the commit before it).
fn step(plan: &Plan, dir: &Dir, work: &mut Work, opts: &Options) -> Result<Option<Stop>> {
    let _lock = dir.lock(LOCK_WAIT)?;
    let mut refusals = checks::checkout_refusals(plan)?;
    work.refresh(plan)?;
    refusals.extend(work.missing.clone());
    refusals.extend(checks::agent_refusals(plan, work, opts)?);
    refusals.extend(pending::refusal(plan)?);
    if !refusals.is_empty() {
        return Ok(Some(Stop::Refused(refusals)));
    }
    let (repo, agent) = (&plan.repo, work.agent);
    let before = git::rev_parse(repo, "HEAD")?;
    let tip = git::rev_parse(repo, &work.tip_ref)?;
    // Judged now, not when the train was planned: an earlier merge of the train may have
    // brought some of its commits already (an agent after another holds its commits).
    let new = match new_work::of(plan, &agent.name, &before, &tip)? {
        Ok(new) => new,
        Err(nothing) => return Ok(report::nothing_now(plan, agent, &nothing)),
    };
    let (rev, how) = match revision(plan, work, opts, (&before, &tip), &new)? {
        Ok(r) => r,
        Err(stop) => return Ok(Some(stop)),
    };
    if let Some(stop) = writes_now(plan, work, &before, &rev)? {
        return Ok(stop);
    }
    let message = report::message(plan, work, how, new.ahead, &rev)?;
    // A merge that verify is to judge is journaled first: a fleet killed before the verdict
    // leaves the journal for the next command to find.
    let script = agent.verify.as_deref().filter(|_| !opts.no_verify);
    let mut entry = script.map(|script| journal::Entry {
        agent: agent.name.clone(),
        branch: agent.branch.clone(),
        base: plan.base.clone(),
        before: before.clone(),
        rev: git::rev_parse(repo, &rev).unwrap_or_else(|_| rev.clone()),
        subject: message.lines().next().unwrap_or_default().to_string(),
        merge: None,
        strategy: opts.strategy.name().to_string(),
        verify: script.to_string(),
        pid: std::process::id(),
        verify_pgid: None,
        at: util::now(),
    });
    if let Some(e) = &entry {
        journal::write(plan, e)?;
    }
    let after = match merge(plan, work, (&before, &rev), how, &message) {
        Ok(Ok(after)) => after,
        other => {
            if entry.is_some() {
                journal::clear(plan)?;
            }
            return other.map(Result::err);
        }
    };
    if let Some(e) = entry.as_mut() {
        e.merge = Some(after.clone());
        journal::write(plan, e)?;
    }
    remember_merged_as(plan, work, how, (&tip, &after))?;
    report::merged(plan, work, (how, &rev, &new), (&before, &after))?;
    match (script, entry) {
        (Some(script), Some(entry)) => verify::judge(plan, agent, script, entry, (&before, &after)),
        _ => Ok(None),
    }
}

/// What merging `rev` writes into the checkout, checked on the very commit merged, under the
/// lock: Some(the stop, or None to go on with nothing merged) when a file of the user's is
/// in the way or it has nothing to bring (a rebase that git found all in base, commits
/// that change no file).
fn writes_now(plan: &Plan, work: &Work, before: &str, rev: &str) -> Result<Option<Option<Stop>>> {
    let agent = work.agent;
    if rev == before {
        return Ok(Some(report::nothing_now(plan, agent, &Nothing::InBase)));
    }
    let Some(from) = new_work::changes_from(plan, before, rev, None)? else {
        return Ok(None);
    };
    let writes = checks::writes(plan, &from, rev)?;
    Ok(match (writes.refusal, writes.files) {
        (Some(refusal), _) => Some(Some(Stop::Refused(vec![refusal]))),
        (None, 0) => Some(report::nothing_now(plan, agent, &Nothing::NoChange)),
        (None, _) => None,
    })
}

/// Base now holds the agent's work (its commit `tip`) as commits of its own (a squash, a
/// rebased copy, `after`): remembered, or git's history alone would call it unmerged and a
/// later merge bring back what the squash left out. (A record whose merge is taken back does
/// not hold: its commit is not in base.)
fn remember_merged_as(
    plan: &Plan,
    work: &Work,
    how: How,
    (tip, after): (&str, &str),
) -> Result<()> {
    let squashed = how == How::Squash;
    if !squashed && git::is_ancestor(&plan.repo, tip, after)? {
        return Ok(());
    }
    let record = crate::state::MergedAs {
        tip: tip.to_string(),
        commit: after.to_string(),
        how: if squashed { "squashed" } else { "rebased" }.to_string(),
        at: util::now(),
    };
    Dir::new(&plan.state_dir).remember_merged_as(&work.agent.name, record)
}

/// The commit to merge and how: the agent's tip as asked; a rebased copy of it (`--rebase`,
/// fast-forwarded); or, for an agent merged before as a squash or a rebased copy, its
/// commits since then replayed on base and merged as asked (never its branch itself, which
/// would bring back the history the squash left out).
fn revision(
    plan: &Plan,
    work: &Work,
    opts: &Options,
    (before, tip): (&str, &str),
    new: &new_work::New,
) -> Result<Result<(String, How), Stop>> {
    let upstream = new.since.as_ref().map(|r| r.tip.as_str());
    let how = match (opts.strategy, upstream) {
        (Strategy::Git(how), None) => return Ok(Ok((work.tip_ref.clone(), how))),
        (Strategy::Git(how), Some(_)) => how,
        (Strategy::Rebase, _) => How::FfOnly,
    };
    let scratch = plan
        .worktree_dir
        .join(format!(".rebase-{}", work.agent.name));
    Ok(
        match git::rebased_copy(&plan.repo, tip, before, upstream, &scratch)? {
            Rebased::Onto(new) => Ok((new, how)),
            Rebased::Conflict(files) => Err(Stop::Conflict(files)),
        },
    )
}

/// Merge `rev` into base (at `before`): base's new commit, or why it did not merge.
fn merge(
    plan: &Plan,
    work: &Work,
    (before, rev): (&str, &str),
    how: How,
    message: &str,
) -> Result<Result<String, Stop>> {
    let (repo, agent) = (&plan.repo, work.agent);
    match git::merge(repo, rev, how, message)? {
        Merged::Ok(_) => {}
        Merged::Conflict(files) => return Ok(Err(Stop::Conflict(files))),
        Merged::NotFastForward => return Ok(Err(Stop::NotFastForward)),
    }
    let after = git::rev_parse(repo, "HEAD")?;
    // Reported only once it is so: HEAD moved, and (unless squashed) holds what was merged.
    if after == before || (how != How::Squash && !git::is_ancestor(repo, rev, &after)?) {
        bail!(
            "git reported the merge of {} into {} as done, but {} is at {} and does not hold {}: not merged",
            agent.branch,
            plan.base,
            plan.base,
            git::short(&after),
            git::short(rev)
        );
    }
    Ok(Ok(after))
}

/// With `--resume-agent`, hand a conflict or a failed verify back to the agent: Some(what
/// happened) to say; None without the option or for a stop the agent cannot mend.
fn hand_back(plan: &Plan, dir: &Dir, work: &Work, stop: &Stop, opts: &Options) -> Option<String> {
    if !opts.resume_agent {
        return None;
    }
    let agent = work.agent;
    let text = report::follow_up(plan, agent, stop)?;
    if let Some(host) = work.host {
        // Its host's fleet continues it (what it says is printed, naming the host).
        let r = plan.remote_agent(&agent.name)?;
        return Some(match crate::hosts::remote::resume(plan, r, &text) {
            Ok(0) => format!("handed back to {} on host {host}", agent.name),
            Ok(code) => format!(
                "could not hand it back to {} on host {host} (its fleet exited {code})",
                agent.name
            ),
            Err(e) => format!(
                "could not hand it back to {} on host {host}: {e:#}",
                agent.name
            ),
        });
    }
    let started = dir
        .lock(LOCK_WAIT)
        .and_then(|_lock| crate::launch::resume::continue_agent(plan, dir, agent, text));
    Some(match started {
        Ok(c) => format!(
            "handed back to {}: it runs again (attempt {}) with {}; `{} wait {}`, then merge again",
            agent.name,
            c.attempt,
            match stop {
                Stop::Verify { .. } => "verify's output",
                _ => "the conflict",
            },
            crate::launch::fleet_command(plan),
            agent.name
        ),
        Err(e) => format!("could not hand it back to {}: {e:#}", agent.name),
    })
}
