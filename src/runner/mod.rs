//! The hidden `fleet _run SPEC`: each agent pane's first process. It runs the setup (once per
//! worktree), feeds the task on stdin to `sh -c <command>` in the worktree, tees stdout and
//! stderr to the pane and the log (as a readable transcript when the CLI prints an event
//! stream), stops the agent past its timeout or budget, waits out rate limits and resumes
//! its session (a CLI that can; else starts it again), runs verify after a clean exit (feeding a failure back to a resumable CLI), and
//! records the end; then it tells the monitor's clients and runs `on_exit`.
//!
//! `mod.rs` owns the run and its steps in order (setup, the agent, verify and its retries,
//! the record's end, `on_exit`); `step` one shell step with its limits; `agent` one run of
//! the agent's command with its transcript and usage; `rate_limit` spotting and waiting out
//! rate limits; `notice` the radar's notice (`radar: tell`) resumed into the session before
//! verify; `tee` the output on its way to the log and the pane.
use std::fs::File;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::state::{self, Record, Spec, State};
use crate::util;

mod agent;
mod boxed;
mod notice;
mod quota;
mod rate_limit;
mod step;
mod stop;
mod tee;
mod usage;

use agent::{exit_words, run_agent};
use rate_limit::{last_words, retry_after_rate_limit};
pub use step::AGENT_SESSION_VARS;
use step::{learn_identity, step};
use tee::Tee;

/// The pane's first process: run the agent, then, in a pane, hold it open so its last output
/// can be read until `fleet down` closes the session (SIGHUP ends this process).
pub fn main(spec_path: &Path) -> Result<i32> {
    let result = run(spec_path);
    if std::io::stdout().is_terminal() {
        if let Err(e) = &result {
            eprintln!("error: {e:#}");
        }
        println!("[fleet] this pane stays open so its output can be read; `fleet down` closes it");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    result
}

/// Run the agent described by the spec file; the exit code is the agent's.
pub fn run(spec_path: &Path) -> Result<i32> {
    let spec: Spec = state::read_json(spec_path)
        .with_context(|| format!("cannot read the run spec {}", spec_path.display()))?;
    // An interactive agent's pane is logged by tmux (`pipe-pane`): write to the pane only.
    let mut log = if spec.interactive {
        None
    } else {
        Some(util::append_private(&spec.log)?)
    };
    let mut record = begin(spec_path, &spec)?;

    let mut out = Tee {
        log: log.as_mut(),
        pane: std::io::stdout(),
        capture: None,
        tail: None,
    };
    announce(&spec, &record, &mut out);

    let head = crate::git::commit_oid(&spec.worktree, "HEAD")
        .ok()
        .flatten();
    let (mut state, code, mut reason) = run_steps(&spec, &mut record, &mut out);
    if state == State::Done && reason.is_none() {
        reason = left_uncommitted(&spec, head.as_deref(), &mut out);
    }
    let moved = boxed::moved_refs();
    if !moved.is_empty() {
        // Refused before anything uses it: the merge train takes no failed agent.
        state = State::Failed;
        reason = Some(format!("moved {} outside its branch", moved.join(", ")));
    }
    let finished = util::now();
    let took = util::duration(finished.saturating_sub(record.started_at.unwrap_or(finished)));
    // One exit code: the reason's when it names one (`verify failed (exit 1)`), else the
    // agent's.
    let why = match reason.as_deref() {
        Some(r) if r.contains("exit") => format!(": {r}"),
        Some(r) => format!(": {r} (exit {code})"),
        None => format!(" (exit {code})"),
    };
    let closing = format!(
        "[fleet] {} {state}{why} after {took} at {}",
        spec.agent,
        util::rfc3339(finished)
    );
    record.state = Some(state);
    record.exit_code = Some(code);
    record.reason = reason;
    record.finished_at = Some(finished);
    finish(spec_path, &spec, &record, &closing, &mut out)?;
    crate::launch::queue::advance(&spec);
    notify(&spec, state, code, record.reason.as_deref(), &mut out);
    Ok(code)
}

/// The run's end in the order every reader relies on, under the agent's end lock
/// ([`state::hold_end`]): the final record, then the closing line. So no reader sees that
/// line beside a record that still says running, and `logs -f`, which stops once the record
/// says the run ended, waits for the lock and shows the line. A lock that cannot be had
/// does not keep the end from being written.
fn finish(
    spec_path: &Path,
    spec: &Spec,
    record: &Record,
    closing: &str,
    out: &mut Tee,
) -> Result<()> {
    let _end = state::hold_end(spec_path).ok();
    let written = state::write_json(&spec.record, record);
    out.line(closing);
    written
}

/// Tell the people watching that the agent ended: a message on every attached tmux client,
/// then the manifest's `on_exit` (FLEET_STATE, FLEET_EXIT_CODE set; output to the log).
fn notify(spec: &Spec, state: State, code: i32, reason: Option<&str>, out: &mut Tee) {
    if crate::tmux::inside() {
        let message = format!("fleet: {} {}", spec.agent, state.label(reason));
        if let Err(e) = crate::tmux::tell_clients(&message) {
            out.line(&format!("[fleet] cannot show a tmux message: {e:#}"));
        }
    }
    if let Some(on_exit) = &spec.on_exit {
        let extra = [
            ("FLEET_STATE", state.to_string()),
            ("FLEET_EXIT_CODE", code.to_string()),
        ];
        // The user's own hook, outside the agent's box.
        let outside = Spec {
            sandbox: None,
            ..spec.clone()
        };
        let c = step(&outside, on_exit, None, &extra, out);
        if c != 0 {
            out.line(&format!("[fleet] on_exit failed (exit {c})"));
        }
    }
}

/// How a run ends: the final state, exit code and reason.
type End = (State, i32, Option<String>);

/// Setup, agent, verify: the final state, exit code and reason.
fn run_steps(spec: &Spec, record: &mut Record, out: &mut Tee) -> End {
    if let Some(end) = setup(spec, record, out) {
        return end;
    }
    if spec.interactive {
        // The agent gets the pane's terminal; its command finds the task in $FLEET_TASK.
        let code = step(spec, &spec.command, None, &[], out);
        return finish_steps(spec, code, out);
    }
    let task = match open_task(spec, out) {
        Ok(f) => f,
        Err(end) => return end,
    };
    let limits = stop::limits(spec);
    let mut command = spec.command.clone();
    let mut input = task;
    // The worktree and the refusals before this start (a continued conversation carries
    // its earlier runs' usage): "denied and changed nothing" is against these.
    let before = Before {
        head: crate::git::commit_oid(&spec.worktree, "HEAD")
            .ok()
            .flatten(),
        denials: record.usage.map_or(0, |u| u.denials),
    };
    loop {
        quota::wait_before_start(spec, record, out);
        out.tail = Some(Vec::new());
        let mut pause = None;
        let result = run_agent(spec, record, &command, input, &limits, out, &mut pause);
        if let Some(p) = pause {
            out.tail = None;
            match quota::pause_and_go_on(spec, record, p, out) {
                Ok(next) => (command, input) = next,
                Err(end) => return end,
            }
            continue;
        }
        let tail = last_words(spec, out.tail.take().unwrap_or_default(), &result);
        match retry_after_rate_limit(spec, record, &result, &tail, out) {
            Some(Ok(task)) => {
                (command, input) = resume_interrupted(spec, record, out)
                    .unwrap_or_else(|| (spec.command.clone(), task));
                continue;
            }
            Some(Err(end)) => return end,
            None => {}
        }
        let code = match result {
            Ok(code) => code,
            Err(end) => return end,
        };
        if code != 0 {
            return (State::Failed, code, Some(exit_words(code)));
        }
        if let Some(end) = denied_without_change(spec, record, &before, out) {
            return end;
        }
        if let Some(next) = notice::radar_notice(spec, record, out) {
            (command, input) = next;
            continue;
        }
        let Some(verify) = &spec.verify else {
            return (State::Done, 0, None);
        };
        match verify_or_resume(spec, record, verify, out) {
            Ok(next) => (command, input) = next,
            Err(end) => return end,
        }
    }
}

/// The agent's record as this run begins (its attempt counted, its pid, the earlier
/// starts' usage set aside unless resumed), written once the starter has written it.
fn begin(spec_path: &Path, spec: &Spec) -> Result<Record> {
    // Once the starter has written the record (it holds this from before the session). A
    // lock that cannot be had at all does not keep the agent from running.
    let hold = state::hold_start(spec_path).ok();
    let mut record: Record = state::read_json(&spec.record).unwrap_or_default();
    record.begin();
    if !spec.resumed {
        // A fresh start: what the earlier ones used still counts against the fleet's budget.
        if let Some(u) = record.usage.take() {
            record.earlier = Some(match record.earlier {
                Some(e) => e.plus(u),
                None => u,
            });
        }
    }
    record.pid = Some(std::process::id());
    learn_identity(&spec.worktree);
    state::write_json(&spec.record, &record)?;
    drop(hold);
    Ok(record)
}

/// The run's first lines: who started where, its command, its sandbox.
fn announce(spec: &Spec, record: &Record, out: &mut Tee) {
    out.line(&format!(
        "[fleet] {} started at {} (attempt {}) on branch {} in {}",
        spec.agent,
        util::rfc3339(util::now()),
        record.attempt,
        spec.branch,
        spec.worktree.display()
    ));
    out.script("command", &spec.command);
    if let Some(policy) = &spec.sandbox {
        out.line(&format!(
            "[fleet] sandboxed (bubblewrap): writes its worktree, its branch, /tmp and its CLI's sessions; network: {}",
            policy.network.name()
        ));
    }
}

/// The agent's task file, open for its stdin; the end of the run when it cannot be read.
fn open_task(spec: &Spec, out: &mut Tee) -> std::result::Result<File, End> {
    File::open(&spec.task).map_err(|e| {
        out.line(&format!(
            "[fleet] cannot open the task {}: {e}",
            spec.task.display()
        ));
        (State::Failed, 127, Some("task unreadable".into()))
    })
}

/// The manifest's `setup`, once per worktree: the end of the run when it fails.
fn setup(spec: &Spec, record: &mut Record, out: &mut Tee) -> Option<End> {
    let setup = spec.setup.as_deref().filter(|_| !record.setup_done)?;
    out.script("setup", setup);
    let code = step(spec, setup, None, &[], out);
    if code != 0 {
        return Some((State::Failed, code, Some("setup failed".into())));
    }
    record.setup_done = true;
    let _ = state::write_json(&spec.record, record);
    None
}

/// Verify after the agent's clean exit: the run's end when it passes or fails for good, or
/// (a CLI that can resume, retries left) the resumed session's command and the prompt that
/// feeds the failure back into the same conversation.
fn verify_or_resume(
    spec: &Spec,
    record: &mut Record,
    verify: &str,
    out: &mut Tee,
) -> std::result::Result<(String, File), End> {
    out.script("verify", verify);
    out.capture = Some(Vec::new());
    let v = step(spec, verify, None, &[], out);
    let said = out.capture.take().unwrap_or_default();
    if v == 0 {
        return Err((State::Done, 0, None));
    }
    let failed = format!("verify failed (exit {v})");
    let resume = resumed_session(spec, record).map(|(_, cmd)| cmd);
    let Some(resume) = resume.filter(|_| record.verify_retry < spec.verify_retries) else {
        return Err((State::Failed, 0, Some(failed)));
    };
    if stop::fleet_in_reserve(spec) {
        out.line("[fleet] no verify retry: the fleet's spend has reached its budget's reserve");
        return Err((
            State::Failed,
            0,
            Some(format!("{failed}, no retry: fleet budget")),
        ));
    }
    record.verify_retry += 1;
    let _ = state::write_json(&spec.record, record);
    out.line(&format!(
        "[fleet] {failed}: resuming the agent's session with the verify output (retry {} of {})",
        record.verify_retry, spec.verify_retries
    ));
    let prompt = retry_prompt(verify, v, &said);
    let name = format!("{}.retry-{}.md", spec.agent, record.verify_retry);
    match prompt_file(spec, &name, &prompt) {
        Ok(f) => Ok((resume, f)),
        Err(e) => {
            out.line(&format!("[fleet] cannot write the retry prompt: {e:#}"));
            Err((State::Failed, 0, Some(failed)))
        }
    }
}

/// The agent's conversation as it can go on: its session id and the command that resumes
/// it with the budget it has left; None for a CLI fleet cannot resume or an unknown session.
fn resumed_session(spec: &Spec, record: &Record) -> Option<(String, String)> {
    let id = record.session_id.clone()?;
    let left = record.budget_left(spec.max_cost_usd);
    let cmd = spec.preset?.resume_command(&id, &spec.launch, left)?;
    Some((id, cmd))
}

/// A new attempt of the agent begins after a wait (a rate limit's, a quota's): shown
/// running again, its record written.
fn next_attempt(spec: &Spec, record: &mut Record) {
    record.state = Some(State::Running);
    record.retry_at = None;
    record.attempt += 1;
    let _ = state::write_json(&spec.record, record);
}

/// After a rate limit the CLI gave up on: the same session resumed (a CLI that can, its
/// session id known) with a note that the attempt was interrupted, so the model goes on
/// from where it was instead of doing the task again; None to start the task afresh.
fn resume_interrupted(spec: &Spec, record: &Record, out: &mut Tee) -> Option<(String, File)> {
    let (id, resume) = resumed_session(spec, record)?;
    let name = format!("{}.interrupted-{}.md", spec.agent, record.rate_retry);
    match prompt_file(spec, &name, INTERRUPTED) {
        Ok(f) => {
            out.line(&format!("[fleet] resuming the agent's session {id}"));
            Some((resume, f))
        }
        Err(e) => {
            out.line(&format!(
                "[fleet] cannot write the note for the resumed session ({e:#}): starting the task again"
            ));
            None
        }
    }
}

/// What a session resumed after a rate limit is told.
const INTERRUPTED: &str = "Your previous attempt at this task was interrupted: the model's API \
rate-limited it and it stopped. Go on with the task from where you were. Check what is already \
done (files, commits) before repeating anything, then finish it.\n";

/// What a start began from.
struct Before {
    /// The worktree's HEAD.
    head: Option<String>,
    /// Actions refused in the runs before it (of the conversation it continues).
    denials: u64,
}

/// An agent whose CLI refused it actions (permissions) in this start and that changed
/// nothing (no commit since it began, a clean worktree) did not do its task: failed, with
/// the denials as the reason, not a silent `done`.
fn denied_without_change(
    spec: &Spec,
    record: &Record,
    before: &Before,
    out: &mut Tee,
) -> Option<(State, i32, Option<String>)> {
    let denials = record
        .usage
        .map_or(0, |u| u.denials)
        .saturating_sub(before.denials);
    if denials == 0 {
        return None;
    }
    let now = crate::git::commit_oid(&spec.worktree, "HEAD")
        .ok()
        .flatten();
    let dirty = crate::git::is_dirty(&spec.worktree).unwrap_or(true);
    if dirty || now != before.head {
        return None;
    }
    let level = spec.launch.permissions.name();
    out.line(&format!(
        "[fleet] the agent changed nothing and its CLI refused {denials} action{} (permissions: {level}); raise `permissions:` if it needs them",
        if denials == 1 { "" } else { "s" }
    ));
    Some((
        State::Failed,
        0,
        Some(format!(
            "{denials} action{} denied",
            if denials == 1 { "" } else { "s" }
        )),
    ))
}

/// A run that ended `done` without a new commit, its changes left in the worktree, did not
/// quite finish (gemini's commit may fail while its stream says the tool succeeded): the
/// reason `uncommitted changes` (the state stays `done`), and what to do about them.
fn left_uncommitted(spec: &Spec, head: Option<&str>, out: &mut Tee) -> Option<String> {
    let now = crate::git::commit_oid(&spec.worktree, "HEAD")
        .ok()
        .flatten();
    if now.as_deref() != head || !crate::git::is_dirty(&spec.worktree).unwrap_or(false) {
        return None;
    }
    out.line(&format!(
        "[fleet] {} made no commit and left uncommitted changes in its worktree: `fleet diff {0}` shows them; commit them there, or hand them back with `fleet continue {0} -m \"Commit your changes.\"`",
        spec.agent
    ));
    Some(UNCOMMITTED.into())
}

/// The reason of a `done` agent that left its changes uncommitted.
pub const UNCOMMITTED: &str = "uncommitted changes";

/// After the agent: its exit code decides, then verify.
fn finish_steps(spec: &Spec, code: i32, out: &mut Tee) -> (State, i32, Option<String>) {
    if code != 0 {
        return (State::Failed, code, Some(exit_words(code)));
    }
    if let Some(verify) = &spec.verify {
        out.script("verify", verify);
        let v = step(spec, verify, None, &[], out);
        if v != 0 {
            return (
                State::Failed,
                code,
                Some(format!("verify failed (exit {v})")),
            );
        }
    }
    (State::Done, 0, None)
}

/// The follow-up that tells the agent its work failed verify.
fn retry_prompt(verify: &str, code: i32, output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(RETRY_TAIL)..].join("\n");
    format!(
        "Your work was checked with `{verify}` and the check failed (exit {code}). The last \
         lines of its output:\n\n```\n{tail}\n```\n\nFix the problem so that the check \
         passes, then stop.\n"
    )
}

/// How many of verify's last output lines go back to the agent.
const RETRY_TAIL: usize = 60;

/// A follow-up prompt (`<agent>.retry-N.md` after a failed verify, `<agent>.interrupted-N.md`
/// after a rate limit), written beside the tasks in `.fleet/tasks/`, open for reading.
fn prompt_file(spec: &Spec, name: &str, prompt: &str) -> Result<File> {
    let dir = spec
        .record
        .parent()
        .and_then(Path::parent)
        .map(|fleet| fleet.join("tasks"))
        .context("no .fleet directory")?;
    let path = dir.join(name);
    util::private_dir(&dir)?;
    util::write_atomic(&path, prompt.as_bytes())?;
    File::open(&path).with_context(|| format!("cannot read {}", path.display()))
}
