//! `fleet up [NAMES…] [--dry-run] [--attach] [--rerun]`: worktrees and sessions for the agents
//! that are not running and not finished, then the monitor. Idempotent.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::UpArgs;
use crate::commands::status::{self, View};
use crate::git;
use crate::manifest::{Agent, Plan, Task};
use crate::monitor;
use crate::queue;
use crate::state::{Dir, Spec, State};
use crate::tmux::{self, Batch};
use crate::{usage, util};

/// How long a second `up`/`down` waits for the first.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

pub fn run(plan: &Plan, args: &UpArgs) -> Result<i32> {
    let agents = plan.select(&args.names)?;
    crate::commands::validate::check_git_and_programs(plan, &agents)?;
    for w in &plan.warnings {
        eprintln!("warning: {}: {w}", plan.manifest.display());
    }
    let dir = Dir::new(&plan.state_dir);
    if args.dry_run {
        return start(plan, args, &agents, &dir);
    }
    let fresh = !dir.exists();
    let lock = dir.lock(LOCK_WAIT)?;
    let result = recover(plan, &dir).and_then(|()| start(plan, args, &agents, &dir));
    drop(lock);
    if result.is_err() && fresh {
        // A refused first `up` leaves no `.fleet/` behind.
        dir.remove_if_unused();
    }
    result
}

/// How long `up` waits for a process still working on a half-made worktree to end once
/// killed (a `git checkout` an `up` killed before left running).
const ORPHAN_WAIT: Duration = Duration::from_secs(10);

/// Take apart the worktrees an earlier `up` began and did not complete (it was killed, or
/// stopped before checking them out), so that this `up` makes them afresh: git's entry,
/// the directory, and any git that killed `up` left running on it. No agent has run in such
/// a worktree (agents start only once every worktree is complete), so nothing of anyone's
/// work is in it.
fn recover(plan: &Plan, dir: &Dir) -> Result<()> {
    let half = dir.half_made();
    if half.is_empty() {
        return Ok(());
    }
    let common = git::common_dir(&plan.repo)?;
    for (agent, path) in half {
        let procs = util::processes_on(&path);
        if !util::kill_and_wait(&procs, ORPHAN_WAIT) {
            anyhow::bail!(
                "a process still works on {} (the half-made worktree of agent `{agent}`) and does not end; stop it, then run `fleet up` again",
                path.display()
            );
        }
        git::unmake_worktree(&common, &path).with_context(|| {
            format!("cannot take apart the half-made worktree of agent `{agent}`")
        })?;
        dir.made(&agent)?;
        util::trace("fleet", &["unmade-worktree".to_string(), agent]);
    }
    Ok(())
}

/// `up` once the tools are checked (and, unless a dry run, under the lock).
fn start(plan: &Plan, args: &UpArgs, agents: &[&Agent], dir: &Dir) -> Result<i32> {
    let monitor = plan.monitor_session();
    // tmux's version, the sessions and the monitor's panes: one tmux process.
    let snap = tmux::snapshot(&monitor)?;
    let layout = snap.layout();
    let dead_pane = snap.dead_pane();
    let sessions = snap.sessions;
    let owned = super::owned(plan, &sessions);
    let worktrees = git::worktrees(&plan.repo)?;
    let views = status::collect(plan, agents, &owned, status::Detail::States);
    let to_start: Vec<&View> = views
        .iter()
        .filter(|v| match v.state {
            State::Running | State::Waiting => false,
            // Not on a guess: only when asked to run finished agents again.
            State::Damaged => args.rerun,
            s if s.finished() => args.rerun,
            // Queued agents start now if `max_parallel` has a free slot.
            _ => true,
        })
        .collect();
    let (start_now, wait) = queue::split(&to_start, queue::free_slots(plan, &owned));
    let newly_queued = wait.iter().filter(|v| v.state != State::Queued).count();

    // A monitor built for another list of agents or `per_window` (the manifest changed), or
    // with a pane closed, added or ended by hand, is rebuilt.
    let monitor_stale = owned.contains(&monitor) && (dead_pane || layout != monitor::layout(plan));
    let monitor_alive = owned.contains(&monitor) && !monitor_stale;
    // Session names fleet would create but someone else holds.
    let mut wanted: Vec<&str> = to_start.iter().map(|v| v.agent.session.as_str()).collect();
    if !monitor_alive {
        wanted.push(&monitor);
    }
    let taken: Vec<&str> = wanted
        .into_iter()
        .filter(|w| sessions.iter().any(|s| s.name == *w && s.tag != plan.tag()))
        .collect();
    if !taken.is_empty() {
        return usage(format!(
            "tmux session{} `{}` already exist{} and {} not made by this fleet ({}); rename or kill {}, or set `project:` in the manifest",
            if taken.len() == 1 { "" } else { "s" },
            taken.join("`, `"),
            if taken.len() == 1 { "s" } else { "" },
            if taken.len() == 1 { "was" } else { "were" },
            plan.manifest.display(),
            if taken.len() == 1 { "it" } else { "them" },
        ));
    }
    refuse_damaged(&views, args)?;
    check_worktrees(plan, &to_start, &worktrees)?;
    check_no_runner_left(dir, &to_start)?;

    if start_now.is_empty() && newly_queued == 0 && monitor_alive {
        crate::info!(
            "nothing to do: {} already running, queued or finished (use --rerun to restart finished agents)",
            plural(views.len(), "agent")
        );
        summary(plan, agents, &owned)?;
        return attach_after(plan, args);
    }

    // Which branches exist already: one git call for every agent.
    let branches: Vec<&str> = to_start.iter().map(|v| v.agent.branch.as_str()).collect();
    let mut existing = git::existing_branches(&plan.repo, &branches)?;
    // Branches to create: all in one git call before the worktrees (instead of one `git
    // branch` that each `git worktree add -b` runs).
    let new_branches: Vec<&str> = to_start
        .iter()
        .filter(|v| {
            git::registered(&worktrees, &v.agent.worktree).is_none()
                && !existing.contains(&v.agent.branch)
        })
        .map(|v| v.agent.branch.as_str())
        .collect();
    let exe = std::env::current_exe().context("cannot find the fleet executable")?;
    if args.dry_run {
        let batch = sessions_batch(plan, dir, &start_now, monitor_alive, monitor_stale, &exe);
        dry_run(
            plan,
            &to_start,
            &worktrees,
            &existing,
            &new_branches,
            &batch,
        )?;
        if !wait.is_empty() {
            println!(
                "then queued (max_parallel), started as slots free: {}",
                names(&wait)
            );
        }
        return Ok(0);
    }

    // Ctrl-C, SIGTERM and SIGHUP from here on finish the step at hand (the checkouts at
    // hand), then stop before any session starts: the next `up` carries on. (SIGKILL: the
    // next `up` takes apart and makes again what this one began, see `recover`.)
    util::defer_interrupts();
    dir.create()?;
    dir.remember_base(&plan.base)?;
    dir.remember_server(&tmux::socket())?;
    let common = git::common_dir(&plan.repo)?;
    super::init::exclude(&plan.repo, &common, &plan.state_dir)?;
    // aider keeps its chat history and tag cache (`.aider*`) in the worktree, and would put
    // them in an untracked .gitignore of its own (its preset says --no-gitignore).
    if plan
        .agents
        .iter()
        .any(|a| a.preset == Some(crate::preset::Preset::Aider))
    {
        super::init::exclude_pattern(&common, "aider's chat history and caches", ".aider*")?;
    }
    // A worktree_dir inside the main checkout is kept out of git like `.fleet/`.
    super::init::exclude(&plan.repo, &common, &plan.worktree_dir)?;
    if worktrees.iter().any(|w| w.prunable) {
        git::prune_worktrees(&plan.repo)?;
    }
    git::create_branches(&plan.repo, &new_branches, &plan.base)?;
    existing.extend(new_branches.iter().map(|b| b.to_string()));
    // Worktrees are registered one after another, then checked out a few at once (each has
    // its own index; checkouts of big repos take both cores), then every session starts in
    // one tmux call. An agent is recorded as started only once all worktrees are ready.
    let bar = progress(to_start.len());
    let steps: Vec<(&Agent, Option<Vec<String>>)> = to_start
        .iter()
        .map(|v| {
            Ok((
                v.agent,
                worktree_step(plan, v.agent, &worktrees, &existing)?,
            ))
        })
        .collect::<Result<_>>()?;
    let registrar = if steps.iter().any(|(_, s)| s.is_some()) {
        git::registrar(&plan.repo, &common)?
    } else {
        git::Registrar::Git
    };
    // (agent, registered just now)
    let mut fill: Vec<(&Agent, bool)> = Vec::new();
    for (agent, step) in &steps {
        match step {
            Some(_) if util::interrupted() => break,
            Some(args) => {
                dir.mark_making(&agent.name, &agent.worktree)?;
                match &registrar {
                    git::Registrar::Files { common } => {
                        git::register_worktree(common, &agent.worktree, &agent.branch)
                    }
                    git::Registrar::Git => git::worktree_add(&plan.repo, args),
                }
                .with_context(|| format!("cannot create the worktree of agent `{}`", agent.name))?;
                fill.push((agent, true));
            }
            None if git::worktree_unfilled(&agent.worktree) => fill.push((agent, false)),
            None => {}
        }
    }
    bar.inc((to_start.len() - fill.len()) as u64);
    let filled = fill_worktrees(plan, &fill, &bar)?;
    bar.finish_and_clear();
    // The worktrees ready now: those that needed nothing and those just checked out.
    let ready: Vec<&View> = to_start
        .iter()
        .copied()
        .filter(
            |v| match fill.iter().position(|(a, _)| a.name == v.agent.name) {
                Some(i) => filled[i],
                None => steps
                    .iter()
                    .any(|(a, s)| a.name == v.agent.name && s.is_none()),
            },
        )
        .collect();
    for v in &ready {
        // A new worktree gets the `copy:` files; so does one an interrupted or failed `up`
        // made for an agent that never started (files already there are kept).
        let created = fill.iter().any(|(a, _)| a.name == v.agent.name);
        if created || v.record.is_none() {
            copy_files(plan, v.agent, created)?;
        }
        dir.made(&v.agent.name)?;
        write_spec(plan, dir, v.agent)?;
    }
    if util::interrupted() || ready.len() < to_start.len() {
        return interrupted(ready.len(), to_start.len());
    }
    for v in &wait {
        dir.write_record(&v.agent.name, &queue::queued(v.record.as_ref()))?;
    }
    let started = queue::start_now(plan, dir, &start_now, monitor_alive, monitor_stale, &exe);
    util::default_interrupts();
    started?;
    crate::info!(
        "started {}{}{}",
        plural(start_now.len(), "agent"),
        match (monitor_alive, monitor_stale) {
            (true, _) => "",
            (false, true) => " and rebuilt the monitor",
            (false, false) => " and the monitor",
        },
        match (wait.len(), plan.max_parallel) {
            (0, _) => String::new(),
            (n, k) => format!(
                "; {n} queued (max_parallel: {}): {}",
                k.unwrap_or(0),
                names(&wait)
            ),
        }
    );
    let mut owned = owned;
    owned.extend(start_now.iter().map(|v| v.agent.session.clone()));
    owned.insert(monitor);
    summary(plan, agents, &owned)?;
    attach_after(plan, args)
}

fn names(views: &[&View]) -> String {
    let names: Vec<&str> = views.iter().map(|v| v.agent.name.as_str()).collect();
    names.join(", ")
}

/// Stopped by Ctrl-C (or SIGTERM) while preparing worktrees: say what is ready; exit 130.
fn interrupted(ready: usize, total: usize) -> Result<i32> {
    use std::io::Write;
    // (not eprintln!: after a hangup the terminal is gone, and that is no reason to panic)
    let _ = writeln!(
        std::io::stderr(),
        "fleet up: interrupted; {ready} of {} ready, none started; run `fleet up` again to finish",
        plural(total, "worktree")
    );
    Ok(130)
}

/// A bar for preparing the worktrees, on a terminal and when there are enough of them to
/// wait for (git checks each one out in turn); hidden otherwise.
fn progress(n: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    // Not with -q (quiet), nor with -v, whose trace lines on stderr would tear it.
    if n < PROGRESS_FROM || !std::io::stderr().is_terminal() || util::quiet() || util::verbose() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "preparing worktrees [{bar:24}] {pos}/{len}  {elapsed}  {wide_msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// From this many agents on, `up` shows a progress bar while it makes their worktrees.
const PROGRESS_FROM: usize = 4;

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn attach_after(plan: &Plan, args: &UpArgs) -> Result<i32> {
    if args.attach && !args.dry_run {
        crate::commands::attach::session(&plan.monitor_session())?;
    }
    Ok(0)
}

/// Refuse, before changing anything, worktree paths that exist and are not this repo's
/// worktrees, and branches checked out somewhere else.
fn check_worktrees(plan: &Plan, to_start: &[&View], worktrees: &[git::Worktree]) -> Result<()> {
    let mut problems = Vec::new();
    for v in to_start {
        let a = v.agent;
        match git::registered(worktrees, &a.worktree) {
            Some(w) if w.branch.as_deref() != Some(a.branch.as_str()) => problems.push(format!(
                "agent `{}`: the worktree {} is on {} instead of `{}`; check it out there or remove it",
                a.name,
                a.worktree.display(),
                w.branch.as_deref().map(|b| format!("`{b}`")).unwrap_or("a detached HEAD".into()),
                a.branch
            )),
            Some(_) => {}
            None => {
                if a.worktree.exists() {
                    problems.push(format!(
                        "agent `{}`: {} exists and is not a worktree of {}; move it away or set `worktree_dir:`",
                        a.name,
                        a.worktree.display(),
                        plan.repo.display()
                    ));
                }
                if let Some(w) = worktrees
                    .iter()
                    .find(|w| w.branch.as_deref() == Some(a.branch.as_str()) && !w.prunable)
                {
                    problems.push(format!(
                        "agent `{}`: branch `{}` is already checked out in {}; switch that checkout to another branch or set `branch:`",
                        a.name,
                        a.branch,
                        w.path.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        usage(format!(
            "cannot start; nothing was changed:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Refuse to restart a lost agent whose runner still runs (its session went, it did not):
/// two agents would work in one worktree.
fn check_no_runner_left(dir: &Dir, to_start: &[&View]) -> Result<()> {
    let alive: Vec<String> = to_start
        .iter()
        .filter(|v| v.state == State::Lost)
        .filter_map(|v| {
            let pid = v.record.as_ref()?.pid?;
            util::runner_alive(pid, &dir.spec_path(&v.agent.name)).then(|| {
                format!(
                    "agent `{}`: its last run (pid {pid}) is still going though its session is gone; wait for it to end or stop it with `kill {pid}`, then run `fleet up` again",
                    v.agent.name
                )
            })
        })
        .collect();
    if alive.is_empty() {
        Ok(())
    } else {
        usage(format!(
            "cannot restart; nothing was changed:\n  {}",
            alive.join("\n  ")
        ))
    }
}

/// Check out registered worktrees, a few at once (two a core), each as soon as a checkout
/// ends; after Ctrl-C no new one starts. Which were checked out, in order. One registered
/// just now that fails is removed again (it holds nothing yet) so the next `up` creates it
/// afresh; the first failure is the error.
fn fill_worktrees(
    plan: &Plan,
    agents: &[(&Agent, bool)],
    bar: &indicatif::ProgressBar,
) -> Result<Vec<bool>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<()>>>> = Mutex::new(agents.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(agents.len()) {
            s.spawn(|| loop {
                if util::interrupted() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((agent, _)) = agents.get(i) else {
                    break;
                };
                bar.set_message(agent.name.clone());
                let result = git::worktree_fill(&agent.worktree);
                bar.inc(1);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let mut first = None;
    let mut filled = Vec::new();
    for ((agent, registered_now), result) in agents.iter().zip(results) {
        filled.push(matches!(result, Some(Ok(()))));
        if let Some(Err(e)) = result {
            if *registered_now {
                let _ = git::worktree_remove(&plan.repo, &agent.worktree, true);
            }
            first.get_or_insert_with(|| {
                e.context(format!(
                    "cannot create the worktree of agent `{}`",
                    agent.name
                ))
            });
        }
    }
    first.map_or(Ok(filled), Err)
}

/// The `git worktree add --no-checkout` the agent needs, if any (the same for the real run
/// and --dry-run); [`fill_worktrees`] checks it out.
fn worktree_step(
    plan: &Plan,
    agent: &Agent,
    worktrees: &[git::Worktree],
    existing: &HashSet<String>,
) -> Result<Option<Vec<String>>> {
    Ok(git::worktree_add_args_known(
        worktrees,
        &agent.worktree,
        &agent.branch,
        &plan.base,
        existing.contains(&agent.branch),
    )
    .map(|mut args| {
        args.insert(2, "--no-checkout".into());
        args
    }))
}

/// Copy the manifest's `copy:` files into the agent's worktree; files already there are
/// replaced only when `overwrite`. No symlink is followed on either side ([`safe_fs::copy`]).
fn copy_files(plan: &Plan, agent: &Agent, overwrite: bool) -> Result<()> {
    for (src, rel) in &plan.copy {
        crate::safe_fs::copy(&plan.repo, &agent.worktree, rel, overwrite).with_context(|| {
            format!(
                "cannot copy {} into the worktree of agent `{}`",
                src.display(),
                agent.name
            )
        })?;
    }
    Ok(())
}

/// The task file the agent reads (an inline prompt is written under `.fleet/tasks/`).
fn task_file(dir: &Dir, agent: &Agent) -> Result<PathBuf> {
    Ok(match &agent.task {
        Task::File(p) => p.clone(),
        Task::Prompt(text) => {
            let path = dir.prompt_path(&agent.name);
            let mut text = text.clone();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            util::write_atomic(&path, text.as_bytes())?;
            path
        }
    })
}

fn write_spec(plan: &Plan, dir: &Dir, agent: &Agent) -> Result<()> {
    let spec = spec_for(plan, dir, agent)?;
    if agent.interactive {
        // tmux's `pipe-pane` appends the pane's output to the log: create it user-only first.
        crate::util::append_private(&agent.log)?;
    }
    dir.write_spec(&spec)
}

/// The run spec of an agent as the manifest describes it.
pub(crate) fn spec_for(plan: &Plan, dir: &Dir, agent: &Agent) -> Result<Spec> {
    Ok(Spec {
        project: plan.project.clone(),
        agent: agent.name.clone(),
        manifest: plan.manifest.clone(),
        command: agent.command.clone(),
        env: agent.env.clone(),
        path: std::env::var("PATH").ok(),
        worktree: agent.worktree.clone(),
        branch: agent.branch.clone(),
        log: agent.log.clone(),
        task: task_file(dir, agent)?,
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
        retries: agent.retries,
        record: dir.record_path(&agent.name),
    })
}

/// The commands that create one agent's session: the runner as the pane's first process
/// (argv, no shell), which holds the pane open after the agent ends; the session tagged.
fn add_session(batch: &mut Batch, plan: &Plan, agent: &Agent, exe: &Path, spec: &Path) {
    let exe = exe.display().to_string();
    let spec = spec.display().to_string();
    batch.add(
        "new-session",
        &[
            "-d",
            "-s",
            &agent.session,
            "-x",
            monitor::WIDTH,
            "-y",
            monitor::HEIGHT,
            "-n",
            &agent.name,
            &exe,
            "_run",
            &spec,
        ],
    );
    // On new-session's line: if it fails (someone else's session took the name meanwhile)
    // tmux skips these instead of tagging that session as this fleet's.
    batch.and(
        "set-option",
        &["-t", &tmux::window(&agent.session), tmux::TAG, &plan.tag()],
    );
    tmux::keep_session(batch, &tmux::window(&agent.session));
    if agent.interactive {
        // The agent draws on the pane's terminal; what it shows goes to the log. In the same
        // tmux call as new-session, so it is in place before tmux reads the pane's output.
        // Its command is run through a format: the log's path goes in printf escapes.
        batch.and(
            "pipe-pane",
            &[
                "-t",
                &tmux::window(&agent.session),
                &tmux::pipe_to(&agent.log),
            ],
        );
    }
}

/// The tmux commands that start these agents' sessions and (re)build the monitor.
pub(crate) fn sessions_batch(
    plan: &Plan,
    dir: &Dir,
    to_start: &[&View],
    monitor_alive: bool,
    monitor_stale: bool,
    exe: &Path,
) -> Batch {
    let mut batch = Batch::new();
    if !to_start.is_empty() || !monitor_alive {
        tmux::keep_server(&mut batch);
    }
    for v in to_start {
        if v.session_alive {
            batch.add("kill-session", &["-t", &tmux::exact(&v.agent.session)]);
        }
        add_session(
            &mut batch,
            plan,
            v.agent,
            exe,
            &dir.spec_path(&v.agent.name),
        );
    }
    if monitor_stale {
        batch.add(
            "kill-session",
            &["-t", &tmux::exact(&plan.monitor_session())],
        );
    }
    if !monitor_alive {
        monitor::build(plan, exe, &mut batch);
    }
    batch
}

fn dry_run(
    plan: &Plan,
    to_start: &[&View],
    worktrees: &[git::Worktree],
    existing: &HashSet<String>,
    new_branches: &[&str],
    batch: &Batch,
) -> Result<i32> {
    println!("dry run: these steps would run (nothing was changed)");
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
    let mut existing = existing.clone();
    existing.extend(new_branches.iter().map(|b| b.to_string()));
    let existing = &existing;
    for v in to_start {
        if let Some(args) = worktree_step(plan, v.agent, worktrees, existing)? {
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
    Ok(0)
}

/// Agents whose record cannot be read are not started again on a guess (`--rerun` does).
fn refuse_damaged(views: &[View], args: &UpArgs) -> Result<()> {
    if args.rerun {
        return Ok(());
    }
    let damaged: Vec<String> = views
        .iter()
        .filter(|v| v.state == State::Damaged)
        .map(|v| {
            let why = v.record.as_ref().and_then(|r| r.reason.as_deref());
            format!("{}: {}", v.agent.name, why.unwrap_or("record damaged"))
        })
        .collect();
    if damaged.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "nothing was started: fleet cannot read the record of {}:\n  {}",
        plural(damaged.len(), "agent"),
        damaged.join("\n  ")
    )
}

/// A line per agent, then how to watch and attach.
fn summary(plan: &Plan, agents: &[&Agent], owned: &HashSet<String>) -> Result<()> {
    if util::quiet() {
        return Ok(());
    }
    let views = status::collect(plan, agents, owned, status::Detail::States);
    let w = agents
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let bw = agents
        .iter()
        .map(|a| a.branch.len())
        .max()
        .unwrap_or(6)
        .max(6);
    // Only what is there: a worktree removed by `down --rm-worktrees`, or a session closed,
    // is said to be gone, not listed as if it were.
    for v in &views {
        let worktree = if v.agent.worktree.is_dir() {
            v.agent.worktree.display().to_string()
        } else {
            format!("(no worktree: {} gone)", v.agent.worktree.display())
        };
        let session = if v.session_alive {
            format!("session {}", v.agent.session)
        } else {
            "no session".to_string()
        };
        println!(
            "  {:<w$}  {:<8} {:<bw$}  {worktree}  ({session})",
            v.agent.name,
            v.state.as_str(),
            v.agent.branch,
        );
    }
    let fleet = super::fleet_command(plan);
    if owned.contains(&plan.monitor_session()) {
        println!(
            "watch:   {fleet} attach  (the monitor, {})",
            plan.monitor_session()
        );
    }
    if let Some(first) = views.iter().find(|v| v.session_alive) {
        println!("attach:  {fleet} attach {}", first.agent.name);
    }
    println!("status:  {fleet} status");
    println!("stop:    {fleet} down");
    Ok(())
}
