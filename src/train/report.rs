//! What the merge train says: each merge's commit message and its line, the agents skipped,
//! where base is when the train stops (and why), the summary, and the follow-up that hands
//! a conflict or a failed verify back to the agent.
use anyhow::Result;

use crate::git::{self, How};
use crate::manifest::{Agent, Plan};

use super::new_work::{New, Nothing};
use super::{Stop, Work, SKIPPED_EXIT};

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The commit message: a merge's, or a squash's listing the subjects of the `ahead` commits
/// of `rev` that base lacks.
pub(super) fn message(plan: &Plan, work: &Work, how: How, ahead: u64, rev: &str) -> Result<String> {
    let (agent, branch) = (work.agent, &work.agent.branch);
    if how != How::Squash {
        return Ok(format!("Merge {branch} (fleet agent {})", agent.name));
    }
    let subjects = git::subjects(&plan.repo, "HEAD", rev)?;
    let body: Vec<String> = subjects.iter().map(|s| format!("* {s}")).collect();
    Ok(format!(
        "{}: squashed {ahead} commit{} from {branch}\n\n{}",
        agent.name,
        plural(ahead),
        body.join("\n")
    ))
}

/// The line for a merge made: of `rev` (the agent's tip, or a rebased copy), `how`, with
/// `new` (its commits base lacked); `(before, after)` base's commit before and after it.
pub(super) fn merged(
    plan: &Plan,
    work: &Work,
    (how, rev, new): (How, &str, &New),
    (before, after): (&str, &str),
) -> Result<()> {
    let ahead = new.ahead;
    let copied = git::rev_parse(&plan.repo, rev)? != git::rev_parse(&plan.repo, &work.tip_ref)?;
    let kind = match how {
        How::Squash => "squashed into one commit".to_string(),
        _ if git::count_commits(&plan.repo, before, after)? == ahead
            && git::is_ancestor(&plan.repo, before, rev)? =>
        {
            match copied {
                true => "rebased onto it, fast-forward".to_string(),
                false => "fast-forward".to_string(),
            }
        }
        _ => "merge commit".to_string(),
    };
    let since = match &new.since {
        Some(r) => format!(
            " (the commit{} since it was {} as {}, replayed on {})",
            plural(ahead),
            r.how,
            git::short(&r.commit),
            plan.base
        ),
        None => String::new(),
    };
    let agent = work.agent;
    crate::info!(
        "merged {} ({}, {ahead} commit{}{since}) into {}: {kind}, now at {}",
        agent.name,
        agent.branch,
        plural(ahead),
        plan.base,
        git::short(after)
    );
    Ok(())
}

/// The agents with nothing to merge, said before the train: one line for one, else one
/// line for all of them (a repeated `--all` says so once, not once per agent).
pub(super) fn nothing(plan: &Plan, nothing: &[(&Agent, Nothing)]) {
    match nothing {
        [] => {}
        [(agent, why)] => crate::info!(
            "{} ({}) {}: nothing to merge",
            agent.name,
            agent.branch,
            why.says(&plan.base)
        ),
        _ => {
            let in_base: Vec<&str> = nothing
                .iter()
                .filter(|(_, w)| matches!(w, Nothing::InBase))
                .map(|(a, _)| a.name.as_str())
                .collect();
            let mut parts = Vec::new();
            if !in_base.is_empty() {
                parts.push(format!("{} (in {} already)", in_base.join(", "), plan.base));
            }
            for (agent, why) in nothing {
                match why {
                    Nothing::InBase => {}
                    Nothing::MergedAs(r) => parts.push(format!(
                        "{} ({} as {})",
                        agent.name,
                        r.how,
                        git::short(&r.commit)
                    )),
                    Nothing::NoChange => {
                        parts.push(format!("{} (its commits change no file)", agent.name))
                    }
                }
            }
            crate::info!(
                "nothing to merge for {} agents: {}",
                nothing.len(),
                parts.join(", ")
            );
        }
    }
}

/// An agent found, at its merge, to have nothing (left) to merge: said, and the train goes
/// on (None: no stop).
pub(super) fn nothing_now(plan: &Plan, agent: &Agent, why: &Nothing) -> Option<Stop> {
    let why = match why {
        Nothing::InBase => format!("every commit of it is in {} already", plan.base),
        other => other.says(&plan.base),
    };
    crate::info!("{} ({}): {why}: nothing to merge", agent.name, agent.branch);
    None
}

/// The agents the train left out, each with its reasons (said at its end).
pub(super) fn skipped(skipped: &[(&Agent, Vec<String>, bool)]) {
    for (agent, why, _) in skipped {
        crate::info!("skipped {}: {}", agent.name, why.join("; "));
    }
}

/// Where base is now: its commit and the last merge that brought it there.
fn base_now(plan: &Plan, merged: &[&Agent]) -> Result<String> {
    let head = git::rev_parse(&plan.repo, "HEAD")?;
    Ok(match merged.last() {
        Some(last) => format!(
            "{} is at {}, the last good merge ({}; merged by this train: {})",
            plan.base,
            git::short(&head),
            last.name,
            names(merged)
        ),
        None => format!("{} is at {}, as before", plan.base, git::short(&head)),
    })
}

fn names(agents: &[&Agent]) -> String {
    agents
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ctrl-C (or SIGTERM, SIGHUP) stopped the train before `next`, or during its merge
/// (`during`: taken back): say where base is; exit 130.
pub(super) fn interrupted(
    plan: &Plan,
    next: &Agent,
    merged: &[&Agent],
    during: bool,
) -> Result<i32> {
    use std::io::Write;
    let what = if during {
        format!("while merging {} (undone)", next.name)
    } else {
        format!("before merging {}", next.name)
    };
    // (not eprintln!: after a hangup the terminal is gone, and that is no reason to panic)
    let _ = writeln!(
        std::io::stderr(),
        "fleet merge: interrupted {what}; {}",
        base_now(plan, merged)?
    );
    Ok(crate::util::interrupt_exit_code())
}

/// The error when the train stopped at `agent`: why, where base is, and what to do (or what
/// `--resume-agent` did: `handed`).
pub(super) fn stopped(
    plan: &Plan,
    work: &Work,
    stop: &Stop,
    merged: &[&Agent],
    handed: Option<String>,
) -> Result<String> {
    let agent = work.agent;
    let (branch, base) = (&agent.branch, &plan.base);
    // `--resume-agent` is offered only to an agent that can be continued (an agent on
    // another host: its fleet says, when asked).
    let resumable = work.host.is_some() || crate::launch::resume::can_continue(plan, agent).is_ok();
    let repo = crate::util::shell_quote(&plan.repo.display().to_string());
    // What happened, the lines that show it (if any), what to do.
    let (what, detail, fix) = match stop {
        Stop::Refused(why) => (
            format!("{} changed since the train began", agent.name),
            why.iter().map(|w| format!("  - {w}")).collect::<Vec<_>>().join("\n"),
            String::new(),
        ),
        Stop::Conflict(files) => (
            format!(
                "merging {branch} into {base} conflicts in {}; the merge was aborted",
                files.join(", ")
            ),
            String::new(),
            conflict_fix(plan, work, resumable)?,
        ),
        Stop::NotFastForward => (
            format!("{branch} is not a fast-forward of {base} (--ff-only); nothing was merged"),
            String::new(),
            "Merge without --ff-only, or with --rebase.".to_string(),
        ),
        Stop::Verify {
            script,
            why,
            tail,
            left,
            head,
        } => (
            format!(
                "verify `{script}` {why} on {base} after merging {branch}, so that merge was taken back"
            ),
            verify_detail(plan, agent, tail, left, head.as_deref()),
            verify_fix(plan, agent, resumable),
        ),
        Stop::LeftChanges(files) => (
            format!(
                "{}'s verify passed but left changes in {} (tracked files of the main checkout), so the merge of {branch} stays and the train stops here",
                agent.name,
                files.join(", ")
            ),
            String::new(),
            format!(
                "Look at them (`git -C {repo} diff`), commit or discard them (`git -C {repo} checkout -- .`), and merge the rest; a verify should leave the checkout as it found it."
            ),
        ),
    };
    let mut text = format!(
        "the merge train stopped at {}: {what}.\n{}.",
        agent.name,
        base_now(plan, merged)?
    );
    for part in [detail, handed.unwrap_or(fix)] {
        if !part.is_empty() {
            text.push_str(&format!("\n{part}"));
        }
    }
    Ok(text)
}

/// Verify's last lines when it did not pass, and what it left behind: changed tracked files
/// (`left`), the main checkout off base (`head`).
fn verify_detail(
    plan: &Plan,
    agent: &Agent,
    tail: &str,
    left: &[String],
    head: Option<&str>,
) -> String {
    let base = &plan.base;
    let repo = crate::util::shell_quote(&plan.repo.display().to_string());
    let mut detail = if tail.trim().is_empty() {
        "It printed nothing.".to_string()
    } else {
        format!("Its last lines:\n{}", indent(tail))
    };
    if !left.is_empty() {
        detail.push_str(&format!(
            "\n{}'s verify left changes in {} (tracked files of the main checkout): they are its doing, not yours; `git -C {repo} diff` shows them",
            agent.name,
            left.join(", ")
        ));
    }
    if let Some(head) = head {
        detail.push_str(&format!(
            "\nVerify left the main checkout off {base}, at {head}: only {base} was taken back; `git -C {repo} switch {base}` goes back to it"
        ));
    }
    detail
}

/// What to do when verify did not pass: fix it on the branch (`--resume-agent` hands the
/// agent verify's output, when it can be continued), or merge with `--no-verify`.
fn verify_fix(plan: &Plan, agent: &Agent, resumable: bool) -> String {
    let branch = &agent.branch;
    if resumable {
        format!(
            "Fix it on {branch} (`{} merge {} --resume-agent` hands the agent verify's output), or merge it anyway with --no-verify.",
            crate::launch::fleet_command(plan),
            agent.name
        )
    } else {
        format!("Fix it on {branch}, or merge it anyway with --no-verify.")
    }
}

/// What to do about a conflict: merge by hand, or have the agent bring base in (offered only
/// when it can be continued); for an agent merged before as a squash or rebased copy (while
/// that holds), pick its new commits by hand: a merge of its branch would bring back the
/// history the squash left out.
fn conflict_fix(plan: &Plan, work: &Work, resumable: bool) -> Result<String> {
    let agent = work.agent;
    let (branch, base) = (&agent.branch, &plan.base);
    let repo = crate::util::shell_quote(&plan.repo.display().to_string());
    let fleet = crate::launch::fleet_command(plan);
    let wt = crate::util::shell_quote(&agent.worktree.display().to_string());
    let records = crate::state::Dir::new(&plan.state_dir).merged_as(&agent.name);
    let since = crate::state::holding(&plan.repo, "HEAD", &work.tip_ref, &records)?;
    Ok(if let Some(r) = since {
        format!(
            "Its commits since it was {} as {} were replayed on {base}; bring them in by hand (`git -C {repo} cherry-pick {}..{branch}`): a merge of {branch} would bring back the history the squash left out.",
            r.how,
            git::short(&r.commit),
            git::short(&r.tip)
        )
    } else if resumable {
        format!(
            "Resolve it by hand (`git -C {repo} merge {branch}`), or have the agent bring {base} into its branch (`{fleet} merge {} --resume-agent` hands it the conflict).",
            agent.name
        )
    } else {
        format!(
            "Resolve it by hand (`git -C {repo} merge {branch}`), or bring {base} into its branch in its worktree (`git -C {wt} merge {base}`) and merge it again."
        )
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summary once every merge went through: what was merged, what was skipped and why;
/// the exit code ([`SKIPPED_EXIT`] when a finished agent was left out).
pub(super) fn done(
    plan: &Plan,
    merged: &[&Agent],
    skipped_: &[(&Agent, Vec<String>, bool)],
) -> Result<i32> {
    merged_summary(plan, merged)?;
    skipped(skipped_);
    let left_out: Vec<&str> = skipped_
        .iter()
        .filter(|(_, _, asked)| *asked)
        .map(|(a, _, _)| a.name.as_str())
        .collect();
    if left_out.is_empty() {
        return Ok(0);
    }
    crate::info!(
        "not merged: {} (finished, but skipped as said above); exit {SKIPPED_EXIT}",
        left_out.join(", ")
    );
    Ok(SKIPPED_EXIT)
}

fn merged_summary(plan: &Plan, merged: &[&Agent]) -> Result<()> {
    if merged.is_empty() {
        crate::info!("nothing was merged");
        return Ok(());
    }
    let head = git::rev_parse(&plan.repo, "HEAD")?;
    if merged.len() > 1 {
        crate::info!(
            "merged {} agents into {} (now at {}): {}",
            merged.len(),
            plan.base,
            git::short(&head),
            names(merged)
        );
    }
    let list: Vec<&str> = merged.iter().map(|a| a.name.as_str()).collect();
    crate::info!(
        "`{} down {} --rm-worktrees` removes {} (the branch{} stay{})",
        crate::launch::fleet_command(plan),
        list.join(" "),
        if list.len() == 1 {
            "its session and worktree"
        } else {
            "their sessions and worktrees"
        },
        if list.len() == 1 { "" } else { "es" },
        if list.len() == 1 { "s" } else { "" }
    );
    Ok(())
}

/// The follow-up that hands a stop back to the agent; None for one it cannot mend.
pub(super) fn follow_up(plan: &Plan, agent: &Agent, stop: &Stop) -> Option<String> {
    let (branch, base) = (&agent.branch, &plan.base);
    let how = format!(
        "Merge {base} into your branch (`git merge {base}`), resolve what is needed, make sure your work still does what it should, commit, and stop."
    );
    Some(match stop {
        Stop::Refused(_) => return None,
        Stop::Conflict(files) => format!(
            "Your branch {branch} was to be merged into {base}, but the merge conflicts in these files:\n\n{}\n\n{how}\n",
            files.iter().map(|f| format!("- {f}")).collect::<Vec<_>>().join("\n")
        ),
        Stop::NotFastForward => format!(
            "Your branch {branch} was to be fast-forwarded into {base}, but {base} has moved on.\n\n{how}\n"
        ),
        Stop::LeftChanges(_) => return None,
        Stop::Verify {
            script, why, tail, ..
        } => format!(
            "Your branch {branch} was merged into {base}, and the check `{script}` {why} on the result, so the merge was taken back. The last lines of its output:\n\n```\n{tail}\n```\n\n{how}\n"
        ),
    })
}
