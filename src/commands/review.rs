//! `fleet review NAME [--file F | --show]`: review an agent's work line by line and send it
//! back. fleet writes the agent's committed diff against the base into a review file under
//! `.fleet/reviews/` and opens `$VISUAL`/`$EDITOR` on it (`--file F`: a review file already
//! edited); the comments written under its lines, and the notes at its top, go to the
//! agent's conversation through the path `fleet continue` takes, each with its file, line
//! and hunk, once every commented line is checked to be still in the agent's diff. The
//! round is recorded in `.fleet/rounds/`; `--show` prints every round. The file's format is
//! [`crate::review::file`]'s.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::ReviewArgs;
use crate::launch::{fleet_command, resume, LOCK_WAIT};
use crate::manifest::{Agent, Plan};
use crate::review::{check, diff, file, message};
use crate::state::{Dir, Kind, Review, Round};
use crate::{git, usage, util};

pub fn run(plan: &Plan, args: &ReviewArgs) -> Result<i32> {
    if let Some(r) = plan.remote_agent(&args.name) {
        anyhow::bail!(
            "{} runs on host {}: fleet review reaches this machine's agents only for now; `{} diff {}` shows its work, `{} continue {} -f FILE` sends it a follow-up",
            args.name,
            r.host,
            fleet_command(plan),
            args.name,
            fleet_command(plan),
            args.name
        );
    }
    let agent = plan.agent(&args.name)?;
    let dir = Dir::new(&plan.state_dir);
    if args.show {
        return show(plan, &dir, agent);
    }
    // Refused before anyone writes a review: an agent that cannot take one now.
    resume::can_continue(plan, agent)?;
    let path = match &args.review_file {
        Some(f) => f.clone(),
        None => {
            let path = write_review(plan, &dir, agent)?;
            edit(plan, agent, &path)?;
            path
        }
    };
    send(plan, &dir, agent, &path)
}

/// Where the agent's branch is and where it left the base: (tip, merge-base).
fn work_of(plan: &Plan, agent: &Agent) -> Result<(String, String)> {
    let branch = format!("refs/heads/{}", agent.branch);
    let Some(tip) = git::commit_oid(&plan.repo, &branch)? else {
        anyhow::bail!(
            "{} has no branch {}, so no work to review",
            agent.name,
            agent.branch
        );
    };
    let Some(from) = git::merge_base(&plan.repo, &plan.base, &branch)? else {
        anyhow::bail!(
            "{} (branch {}) shares no history with {}; nothing to review against",
            agent.name,
            agent.branch,
            plan.base
        );
    };
    Ok((tip, from))
}

/// Write the review file of the agent's committed work (`.fleet/reviews/NAME-ROUND-COMMIT.diff`);
/// one already there for the same round and commit is a draft of the user's: opened again,
/// never overwritten.
fn write_review(plan: &Plan, dir: &Dir, agent: &Agent) -> Result<PathBuf> {
    let (tip, from) = work_of(plan, agent)?;
    let round = dir.next_round(&agent.name);
    let path = dir
        .reviews_dir()
        .join(format!("{}-{round}-{}.diff", agent.name, git::short(&tip)));
    if path.exists() {
        crate::info!(
            "reopening your review of {} at {} ({})",
            agent.name,
            git::short(&tip),
            path.display()
        );
        return Ok(path);
    }
    if agent.worktree.is_dir() && !git::changes(&agent.worktree, true)?.is_empty() {
        eprintln!(
            "note: {}'s worktree has uncommitted changes; the review shows its commits only",
            agent.name
        );
    }
    let diff = git::diff_text(&plan.repo, &from, &tip)?;
    let header = file::Header {
        agent: &agent.name,
        round,
        branch: &agent.branch,
        commit: &tip,
        base: &plan.base,
        merge_base: &from,
    };
    util::write_atomic(&path, file::write(&header, &diff).as_bytes())?;
    Ok(path)
}

/// Open `$VISUAL`, else `$EDITOR`, else `vi` on the review file, as git runs its editor
/// (`sh -c '$EDITOR "$@"'`), on this terminal.
fn edit(plan: &Plan, agent: &Agent, path: &Path) -> Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(path)
        .status()
        .with_context(|| format!("cannot run the editor `{editor}`"))?;
    if !status.success() {
        anyhow::bail!(
            "the editor `{editor}` ended with {status}; nothing was sent to {} (the review stays in {}: `{} review {} --file {}` sends it)",
            agent.name,
            path.display(),
            fleet_command(plan),
            agent.name,
            util::shell_quote(&path.display().to_string())
        );
    }
    Ok(())
}

/// Read the review file and send its comments to the agent as its next round, once each
/// commented line is found in the agent's diff now.
fn send(plan: &Plan, dir: &Dir, agent: &Agent, path: &Path) -> Result<i32> {
    let name = &agent.name;
    let parsed = read_review(plan, agent, path)?;
    if parsed.comments.is_empty() && parsed.notes.is_empty() {
        crate::info!(
            "no comments and no notes in {}: nothing was sent to {name}",
            path.display()
        );
        return Ok(0);
    }
    let _lock = dir.lock(LOCK_WAIT)?;
    let (tip, from) = work_of(plan, agent)?;
    let now = diff::read(&git::diff_text(&plan.repo, &from, &tip)?);
    let comments = check::against(&parsed.comments, &now).map_err(|stale| {
        anyhow::anyhow!(
            "nothing was sent to {name}: {} {} on a line no longer in its diff ({} was written at {}, {name} is at {} now):\n  {}\nreview its work as it is now: `{} review {name}`",
            crate::launch::hints::plural(stale.len(), "comment"),
            if stale.len() == 1 { "is" } else { "are" },
            path.display(),
            parsed.commit.as_deref().map_or("?", git::short),
            git::short(&tip),
            stale.join("\n  "),
            fleet_command(plan)
        )
    })?;
    let round = dir.next_round(name);
    let text = message::follow_up(&agent.branch, &tip, round, &parsed.notes, &comments);
    let started = resume::continue_agent(plan, dir, agent, text)?;
    let mut record = Round::now(Kind::Review);
    record.from = Some(tip.clone());
    record.review = Some(Review {
        file: path.to_path_buf(),
        notes: parsed.notes.clone(),
        comments: comments.clone(),
    });
    let n = dir.add_round(name, record)?;
    crate::info!(
        "sent review round {n} to {name} ({}{}) on {} at {}, resuming conversation {}",
        crate::launch::hints::plural(comments.len(), "comment"),
        if parsed.notes.is_empty() {
            ""
        } else {
            " and notes"
        },
        agent.branch,
        git::short(&tip),
        started.session_id.unwrap_or_default()
    );
    let fleet = fleet_command(plan);
    crate::info!(
        "follow it: {fleet} logs {name} -f; its answer: {fleet} diff {name} --since-review; every round: {fleet} review {name} --show"
    );
    Ok(0)
}

/// The review file read back, of this agent: a file that cannot be read, is not a review,
/// or is another agent's is bad input (exit 2), nothing sent.
fn read_review(plan: &Plan, agent: &Agent, path: &Path) -> Result<file::Parsed> {
    let name = &agent.name;
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            let fleet = fleet_command(plan);
            return usage(format!(
                "cannot read the review file {shown}: {e}; nothing was sent to {name} (`{fleet} review {name}` writes one)"
            ));
        }
    };
    let parsed = match file::parse(&text) {
        Ok(p) => p,
        Err(problems) => {
            let again = format!(
                "`{} review {name} --file {}`",
                fleet_command(plan),
                util::shell_quote(&shown.to_string())
            );
            return usage(format!(
                "{shown} is not a review fleet can read; nothing was sent to {name}:\n  {}\nfix it, then {again}",
                problems.join("\n  ")
            ));
        }
    };
    match parsed.agent.as_deref() {
        Some(a) if a == name => Ok(parsed),
        Some(a) => usage(format!(
            "{shown} is a review of agent {a}, not {name}; nothing was sent"
        )),
        None => usage(format!(
            "{shown} has no `# agent:` line (fleet review writes one); nothing was sent"
        )),
    }
}

/// `--show`: every round of the agent, its comments and the commits made in it.
fn show(plan: &Plan, dir: &Dir, agent: &Agent) -> Result<i32> {
    let rounds = dir.rounds(&agent.name);
    if rounds.is_empty() {
        println!(
            "{}: no rounds recorded yet (`{} up {}` starts its first)",
            agent.name,
            fleet_command(plan),
            agent.name
        );
        return Ok(0);
    }
    let tip = git::commit_oid(&plan.repo, &format!("refs/heads/{}", agent.branch))?;
    for (i, r) in rounds.iter().enumerate() {
        println!("{}", round_line(plan, agent, r));
        if let Some(review) = &r.review {
            if !review.notes.is_empty() {
                println!("  notes:");
                for l in review.notes.lines() {
                    println!("    {}", util::display(l));
                }
            }
            for c in &review.comments {
                let line = if c.line.is_some() {
                    format!(": {}", util::display(&c.code))
                } else {
                    String::new()
                };
                println!("  {}{line}", c.place());
                for l in c.text.lines() {
                    println!("    > {}", util::display(l));
                }
            }
        }
        // Its commits: from where it began to where the next began (or the branch now).
        let next = rounds.get(i + 1);
        let end = match next {
            Some(n) if n.kind == Kind::Fresh => n.kept.clone(),
            Some(n) => n.from.clone(),
            None => tip.clone(),
        };
        if let (Some(from), Some(end)) = (&r.from, end) {
            let commits = git::log_lines(&plan.repo, from, &end).unwrap_or_default();
            let what = if r.kind == Kind::Review {
                "in answer"
            } else {
                "in this round"
            };
            if commits.is_empty() {
                println!("  no commits {what}");
            } else {
                println!("  commits {what}:");
                for c in commits {
                    println!("    {}", util::display(&c));
                }
            }
        }
    }
    Ok(0)
}

/// `round 2 (review of abc123, 3 comments) at 2026-…`.
fn round_line(plan: &Plan, agent: &Agent, r: &Round) -> String {
    let at = r.from.as_deref().map(git::short).unwrap_or("?");
    let what = match r.kind {
        Kind::Start => format!("its first run, from {at}"),
        Kind::Rerun => format!("its task again, on its branch at {at}"),
        Kind::Fresh => format!("its task again, from {}'s tip {at}", plan.base),
        Kind::Review => format!(
            "a review of {} at {at}, {}",
            agent.branch,
            crate::launch::hints::plural(
                r.review.as_ref().map_or(0, |v| v.comments.len()),
                "comment"
            )
        ),
    };
    let kept = r
        .kept
        .as_deref()
        .map(|k| format!("; its earlier work kept as {k}"))
        .unwrap_or_default();
    format!("round {} ({what}{kept}) at {}", r.n, util::rfc3339(r.at))
}
