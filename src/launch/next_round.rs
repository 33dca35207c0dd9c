//! Where an agent's next round starts, one rule for `up --rerun` (and a changed task):
//!
//! - an agent whose work is all in the base (its commits merged, squash-merged, or none of
//!   its own) and whose worktree holds no change starts over from the base's current tip:
//!   its branch is moved there (`git reset --keep` in its worktree, else the ref alone),
//!   and commits only its branch reached (a squash's originals) are kept under
//!   `refs/fleet/kept/NAME/N` first;
//! - an agent with work the base lacks (commits, or uncommitted changes) runs again on its
//!   branch, that work kept as it is; `--fresh` starts it from the base's tip instead, its
//!   old tip kept under `refs/fleet/kept/NAME/N` (named in the output), and is refused while
//!   its worktree holds uncommitted changes (no ref can keep those).
//!
//! Every hint that names `--rerun` says which of the two will happen ([`rerun_hint`]). Each
//! start of a round is recorded (`.fleet/rounds/`, with a digest of its task), so `up` can
//! say when an agent's task changed since its last run.
use anyhow::{bail, Result};

use crate::git;
use crate::launch::hints::fleet_command;
use crate::manifest::{Agent, Plan, Task};
use crate::state::{self, Dir, Kind, Round, State};
use crate::view::View;

/// Where the agent's next run of its task starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No branch yet: from the base, as any first run.
    New,
    /// Its work is all in the base (`why`): from the base's tip (`base`), its branch at `tip`.
    FromBase {
        why: String,
        tip: String,
        base: String,
    },
    /// It holds work the base lacks: `ahead` commits, or uncommitted changes (`dirty`, as
    /// `git status --porcelain` lines).
    OnBranch {
        ahead: u64,
        dirty: Vec<String>,
        tip: String,
        base: String,
    },
}

/// Where `agent`'s next run starts (see the module's rule).
pub fn judge(plan: &Plan, agent: &Agent) -> Result<Start> {
    let repo = &plan.repo;
    let Some(tip) = git::commit_oid(repo, &format!("refs/heads/{}", agent.branch))? else {
        return Ok(Start::New);
    };
    let Some(base) = git::commit_oid(repo, &plan.base)? else {
        bail!("the base {} names no commit", plan.base);
    };
    let dirty = if agent.worktree.is_dir() {
        git::changes(&agent.worktree, true)?
    } else {
        Vec::new()
    };
    let ahead = git::count_commits(repo, &base, &tip)?;
    let on_branch = |dirty: Vec<String>| Start::OnBranch {
        ahead,
        dirty,
        tip: tip.clone(),
        base: base.clone(),
    };
    if !dirty.is_empty() {
        return Ok(on_branch(dirty));
    }
    let why = if ahead == 0 && tip == base {
        format!("its branch is at {}'s tip", plan.base)
    } else if ahead == 0 {
        format!("its work is all in {}", plan.base)
    } else if all_in_base(plan, &agent.name, &base, &tip)? {
        format!("{} already holds its changes (squash-merged)", plan.base)
    } else {
        return Ok(on_branch(dirty));
    };
    Ok(Start::FromBase { why, tip, base })
}

/// Whether the base (at `base`) holds every change of the agent's branch (at `tip`) though
/// not its commits: the merge train's record of a squash or rebased copy of it that still
/// holds with no commit of the agent's after it (`state::holding`), else git's word that
/// merging the branch into the base would change nothing (`git merge-tree`: a squash,
/// rebase or cherry-pick fleet did not record).
fn all_in_base(plan: &Plan, name: &str, base: &str, tip: &str) -> Result<bool> {
    let records = Dir::new(&plan.state_dir).merged_as(name);
    if let Some(r) = state::holding(&plan.repo, base, tip, &records)? {
        if git::count_commits(&plan.repo, &r.tip, tip)? == 0 {
            return Ok(true);
        }
    }
    git::brings_nothing(&plan.repo, base, tip)
}

impl Start {
    /// What `up --rerun` does with the agent, in words: `starts round 3 from main's tip
    /// (its work is all in main)`, `runs round 3 on its branch fleet/a1, over its 2
    /// commits main lacks (--fresh: from main's tip, keeping them)`.
    pub fn says(&self, plan: &Plan, agent: &Agent, round: u32) -> String {
        match self {
            Start::New => format!("starts round {round} from {}'s tip", plan.base),
            Start::FromBase { why, .. } => {
                format!("starts round {round} from {}'s tip ({why})", plan.base)
            }
            Start::OnBranch { ahead, dirty, .. } => {
                let work = match (ahead, dirty.len()) {
                    (0, n) => format!(
                        "its {} uncommitted",
                        crate::launch::hints::plural(n, "change")
                    ),
                    (a, 0) => format!(
                        "its {} {} lacks",
                        crate::launch::hints::plural(*a as usize, "commit"),
                        plan.base
                    ),
                    (a, n) => format!(
                        "its {} {} lacks and {} uncommitted",
                        crate::launch::hints::plural(*a as usize, "commit"),
                        plan.base,
                        crate::launch::hints::plural(n, "change")
                    ),
                };
                format!(
                    "runs round {round} on its branch {} over {work} (with --fresh: from {}'s tip, its commits kept)",
                    agent.branch, plan.base
                )
            }
        }
    }
}

/// `` `fleet up --rerun a1` starts round 2 from main's tip (its work is all in main) ``:
/// the hint to run a finished agent again, saying where its next round starts. Every hint
/// that names `--rerun` comes from here.
pub fn rerun_hint(plan: &Plan, agent: &Agent) -> String {
    let round = Dir::new(&plan.state_dir).next_round(&agent.name);
    let cmd = format!("`{} up --rerun {}`", fleet_command(plan), agent.name);
    match judge(plan, agent) {
        Ok(start) => format!("{cmd} {}", start.says(plan, agent, round)),
        Err(_) => format!("{cmd} runs it again (round {round})"),
    }
}

/// How one agent `up` runs again starts its next round.
pub struct Next<'v, 'a> {
    pub view: &'v View<'a>,
    pub start: Start,
    /// Its branch moves to the base's tip (from its tip).
    pub moves: bool,
    /// Commits only its branch reaches, kept under a ref before it moves.
    pub keep: u64,
    /// The ref they were kept under.
    pub kept: Option<String>,
}

impl Next<'_, '_> {
    pub fn kind(&self) -> Kind {
        match self.start {
            Start::OnBranch { .. } if !self.moves => Kind::Rerun,
            _ => Kind::Fresh,
        }
    }

    /// What happens to it, in words (see [`Start::says`]): an agent with unmerged work
    /// moved by `--fresh` starts from the base's tip, its work kept.
    fn says(&self, plan: &Plan, round: u32) -> String {
        match &self.start {
            Start::OnBranch { .. } if self.moves => format!(
                "starts round {round} from {}'s tip (--fresh: its work {} lacks is kept)",
                plan.base, plan.base
            ),
            start => start
                .says(plan, self.view.agent, round)
                .replace(" (with --fresh: from", " (--fresh: from"),
        }
    }
}

/// For each agent `up` is to run again (finished or damaged, among `to_start`): where its
/// next round starts. Refused before anything changes: `--fresh` over uncommitted changes.
/// The finished agents of `views` left alone whose task changed since their last round are
/// named, with what `--rerun` would do.
pub fn plan<'v, 'a>(
    plan: &Plan,
    views: &[View],
    to_start: &[&'v View<'a>],
    fresh: bool,
) -> Result<Vec<Next<'v, 'a>>> {
    for line in changed_tasks(plan, views, to_start) {
        crate::info!("{line}");
    }
    let mut next = Vec::new();
    let mut refused = Vec::new();
    for v in to_start
        .iter()
        .filter(|v| v.state.finished() || v.state == State::Damaged)
    {
        let start = judge(plan, v.agent)?;
        let (moves, tip) = match &start {
            Start::New => (false, None),
            Start::FromBase { tip, base, .. } => (tip != base, Some(tip)),
            Start::OnBranch { dirty, .. } if fresh && !dirty.is_empty() => {
                refused.push(format!(
                    "agent `{}`: --fresh would start it from {}'s tip, and its worktree {} has uncommitted changes ({}) no ref can keep; commit them there (or discard them), then run again",
                    v.agent.name,
                    plan.base,
                    v.agent.worktree.display(),
                    crate::util::display(&dirty.iter().take(3).cloned().collect::<Vec<_>>().join(", "))
                ));
                continue;
            }
            Start::OnBranch { tip, .. } => (fresh, Some(tip)),
        };
        let keep = match tip {
            Some(tip) if moves => git::only_on_branch(&plan.repo, tip, &v.agent.branch)?,
            _ => 0,
        };
        next.push(Next {
            view: v,
            start,
            moves,
            keep,
            kept: None,
        });
    }
    if !refused.is_empty() {
        return crate::usage(format!(
            "cannot start; nothing was changed:\n  {}",
            refused.join("\n  ")
        ));
    }
    Ok(next)
}

/// Move the branches of `next` that start from the base there, keeping first what only they
/// reached, and say so, a line each. An agent with `after:` gets its record's `based_on`
/// set there, so it then follows its dependencies' newer work.
pub fn apply(plan: &Plan, dir: &Dir, next: &mut [Next], worktrees: &[git::Worktree]) -> Result<()> {
    for n in next.iter_mut() {
        let round = dir.next_round(&n.view.agent.name);
        crate::info!("{}: {}", n.view.agent.name, n.says(plan, round));
        if !n.moves {
            continue;
        }
        let (Start::FromBase { tip, base, .. } | Start::OnBranch { tip, base, .. }) = &n.start
        else {
            continue;
        };
        let agent = n.view.agent;
        if n.keep > 0 {
            let kept = git::keep(&plan.repo, &agent.name, tip)?;
            crate::info!(
                "{}: its old work ({} only its branch reached, {}) is kept as {kept} (`git log {kept}` shows it)",
                agent.name,
                crate::launch::hints::plural(n.keep as usize, "commit"),
                git::short(tip)
            );
            n.kept = Some(kept);
        }
        let worktree = git::registered(worktrees, &agent.worktree)
            .filter(|w| !w.prunable)
            .map(|_| agent.worktree.as_path());
        git::move_branch(&plan.repo, worktree, &agent.branch, tip, base)?;
        crate::info!(
            "{}: {} moved from {} to {}'s tip {}",
            agent.name,
            agent.branch,
            git::short(tip),
            plan.base,
            git::short(base)
        );
        if !agent.after.is_empty() {
            let mut record = dir.record(&agent.name).unwrap_or_default();
            record.based_on = Some(base.clone());
            dir.write_record(&agent.name, &record)?;
        }
    }
    Ok(())
}

/// Record the round each agent of `starting` begins: the next one for those `up` runs
/// again (`next`), round 1 for a first start; a restart of a lost, stopped or queued agent
/// goes on with its round. Each with its task's digest and where its branch is.
pub fn record(plan: &Plan, dir: &Dir, starting: &[&View], next: &[Next]) -> Result<()> {
    record_with(plan, dir, starting, next, &mut None)
}

/// [`record`], with the base's commit asked once across calls (not a git process per
/// agent, nor per call): `base` keeps it (None: not asked yet).
pub fn record_with(
    plan: &Plan,
    dir: &Dir,
    starting: &[&View],
    next: &[Next],
    base: &mut Option<Option<String>>,
) -> Result<()> {
    let mut rounds = Vec::new();
    for v in starting {
        let name = &v.agent.name;
        let n = next.iter().find(|n| &n.view.agent.name == name);
        let kind = match n {
            Some(n) => n.kind(),
            None if v.record.is_none() && dir.rounds(name).is_empty() => Kind::Start,
            None => continue,
        };
        let mut round = Round::now(kind);
        round.task = task_digest(v.agent);
        round.from = match n.map(|n| (&n.start, n.moves)) {
            Some((Start::OnBranch { tip, .. }, false)) => Some(tip.clone()),
            Some((Start::FromBase { base, .. } | Start::OnBranch { base, .. }, _)) => {
                Some(base.clone())
            }
            // (an agent with `after:` starts from its dependencies' work, made later)
            _ if !v.agent.after.is_empty() => None,
            _ => match &*base {
                Some(b) => b.clone(),
                None => base
                    .insert(git::commit_oid(&plan.repo, &plan.base)?)
                    .clone(),
            },
        };
        round.kept = n.and_then(|n| n.kept.clone());
        rounds.push((name.as_str(), round));
    }
    // (flushed together: one wait for the disk for the set, not one an agent)
    dir.add_rounds(rounds)
}

/// A digest of the agent's task as the manifest gives it now (None: its file cannot be
/// read).
pub fn task_digest(agent: &Agent) -> Option<String> {
    match &agent.task {
        Task::File(p) => crate::manifest::task_text(p).map(|t| state::digest(&t)),
        Task::Prompt(t) => Some(state::digest(t)),
    }
}

/// The finished agents among `views` that `up` leaves alone though their task changed since
/// their last run: a line each, saying what `--rerun` would do.
fn changed_tasks(plan: &Plan, views: &[View], starting: &[&View]) -> Vec<String> {
    let dir = Dir::new(&plan.state_dir);
    views
        .iter()
        .filter(|v| v.state.finished())
        .filter(|v| !starting.iter().any(|s| s.agent.name == v.agent.name))
        .filter_map(|v| {
            let last = dir
                .rounds(&v.agent.name)
                .into_iter()
                .rev()
                .find(|r| r.task.is_some())?;
            let now = task_digest(v.agent)?;
            (last.task.as_deref() != Some(now.as_str())).then(|| {
                format!(
                    "the task of {} changed since its last run (round {}); {}",
                    v.agent.name,
                    last.n,
                    rerun_hint(plan, v.agent)
                )
            })
        })
        .collect()
}

/// `up --dry-run`: where each agent run again starts, and the git steps that move it.
pub fn print_dry(plan: &Plan, dir: &Dir, next: &[Next]) {
    for line in dry_lines(plan, dir, next) {
        println!("{line}");
    }
}

fn dry_lines(plan: &Plan, dir: &Dir, next: &[Next]) -> Vec<String> {
    let mut lines = Vec::new();
    for n in next {
        let agent = n.view.agent;
        let round = dir.next_round(&agent.name);
        lines.push(format!(
            "{}: {}",
            agent.name,
            n.start.says(plan, agent, round)
        ));
        let (Start::FromBase { tip, base, .. } | Start::OnBranch { tip, base, .. }) = &n.start
        else {
            continue;
        };
        if !n.moves {
            continue;
        }
        let q = |p: &std::path::Path| crate::util::shell_quote(&p.display().to_string());
        if n.keep > 0 {
            lines.push(format!(
                "git -C {} update-ref refs/fleet/kept/{}/N {tip}   (the first free N: its {} kept)",
                q(&plan.repo),
                agent.name,
                crate::launch::hints::plural(n.keep as usize, "commit")
            ));
        }
        if agent.worktree.is_dir() {
            lines.push(format!(
                "git -C {} reset -q --keep {base}",
                q(&agent.worktree)
            ));
        } else {
            lines.push(format!(
                "git -C {} update-ref refs/heads/{} {base} {tip}",
                q(&plan.repo),
                agent.branch
            ));
        }
    }
    lines
}

/// How to work on a finished (or other) agent's branch again: `fleet up NAME` for one that
/// did not finish, else its [`rerun_hint`].
pub fn work_again(plan: &Plan, agent: &Agent) -> String {
    let record = Dir::new(&plan.state_dir).record(&agent.name);
    let state = state::Record::derive(record.as_ref(), false);
    if state.finished() || state == State::Damaged {
        rerun_hint(plan, agent)
    } else {
        let up = crate::launch::hints::up_hint(plan, &agent.name, state);
        format!("`{up}` works on it again")
    }
}

/// What to do with the agent's branch kept without its worktree (`fleet doctor`): delete it
/// once its work is in the base (`-D` for a squash-merged one, saying why), merge what the
/// base lacks, or work on it again.
pub fn kept_branch(plan: &Plan, agent: &Agent) -> String {
    let b = &agent.branch;
    let again = work_again(plan, agent);
    let repo = crate::util::shell_quote(&plan.repo.display().to_string());
    let quoted = crate::util::shell_quote(b);
    match judge(plan, agent) {
        Ok(Start::FromBase { why, .. }) if why.contains("squash") => format!(
            "branch {b} is kept without its worktree and {why}: `git -C {repo} branch -D {quoted}` deletes it (-D: git does not see its commits in {}, but their changes are there); or {again}",
            plan.base
        ),
        Ok(Start::FromBase { .. }) => format!(
            "branch {b} is merged into {} and kept without its worktree: `git -C {repo} branch -d {quoted}` deletes it; or {again}",
            plan.base
        ),
        Ok(Start::OnBranch { ahead, .. }) => format!(
            "branch {b} is kept without its worktree and holds {} {} lacks: `{} merge {}` merges them; or {again}",
            crate::launch::hints::plural(ahead as usize, "commit"),
            plan.base,
            fleet_command(plan),
            agent.name
        ),
        _ => format!(
            "branch {b} is kept without its worktree (`fleet down --rm-worktrees` removes the worktree, not the branch): {again}"
        ),
    }
}
