//! The hidden `fleet _run SPEC`: each agent pane's first process. It runs the setup (once per
//! worktree), feeds the task on stdin to `sh -c <command>` in the worktree, tees stdout and
//! stderr to the pane and the log (as a readable transcript when the CLI prints an event
//! stream), stops the agent past its timeout or budget, waits out rate limits and starts it
//! again, runs verify after a clean exit (feeding a failure back to a resumable CLI), and
//! records the end; then it tells the monitor's clients and runs `on_exit`.
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::state::{self, Record, Spec, State};
use crate::transcript::Transcript;
use crate::util;

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
    let mut record: Record = state::read_json(&spec.record).unwrap_or_default();
    record.begin();
    if !spec.resumed {
        record.usage = None;
    }
    record.pid = Some(std::process::id());
    state::write_json(&spec.record, &record)?;

    let mut out = Tee {
        log: log.as_mut(),
        pane: std::io::stdout(),
        capture: None,
        tail: None,
    };
    out.line(&format!(
        "[fleet] {} started at {} (attempt {}) on branch {} in {}",
        spec.agent,
        util::rfc3339(util::now()),
        record.attempt,
        spec.branch,
        spec.worktree.display()
    ));
    out.line(&format!("[fleet] command: {}", spec.command));

    let (state, code, reason) = run_steps(&spec, &mut record, &mut out);
    let finished = util::now();
    let took = util::duration(finished.saturating_sub(record.started_at.unwrap_or(finished)));
    // One exit code: the reason's when it names one (`verify failed (exit 1)`), else the
    // agent's.
    let why = match reason.as_deref() {
        Some(r) if r.contains("exit") => format!(": {r}"),
        Some(r) => format!(": {r} (exit {code})"),
        None => format!(" (exit {code})"),
    };
    out.line(&format!(
        "[fleet] {} {state}{why} after {took} at {}",
        spec.agent,
        util::rfc3339(finished)
    ));
    record.state = Some(state);
    record.exit_code = Some(code);
    record.reason = reason;
    record.finished_at = Some(finished);
    state::write_json(&spec.record, &record)?;
    crate::queue::advance(&spec);
    notify(&spec, state, code, record.reason.as_deref(), &mut out);
    Ok(code)
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
        let c = step(spec, on_exit, None, &extra, out);
        if c != 0 {
            out.line(&format!("[fleet] on_exit failed (exit {c})"));
        }
    }
}

/// Setup, agent, verify: the final state, exit code and reason.
fn run_steps(spec: &Spec, record: &mut Record, out: &mut Tee) -> (State, i32, Option<String>) {
    if let Some(setup) = spec.setup.as_deref().filter(|_| !record.setup_done) {
        out.line(&format!("[fleet] setup: {setup}"));
        let code = step(spec, setup, None, &[], out);
        if code != 0 {
            return (State::Failed, code, Some("setup failed".into()));
        }
        record.setup_done = true;
        let _ = state::write_json(&spec.record, record);
    }
    if spec.interactive {
        // The agent gets the pane's terminal; its command finds the task in $FLEET_TASK.
        let code = step(spec, &spec.command, None, &[], out);
        return finish_steps(spec, code, out);
    }
    let task = match File::open(&spec.task) {
        Ok(f) => f,
        Err(e) => {
            out.line(&format!(
                "[fleet] cannot open the task {}: {e}",
                spec.task.display()
            ));
            return (State::Failed, 127, Some("task unreadable".into()));
        }
    };
    // The timeout counts from the first start, across verify retries.
    let limits = Limits {
        deadline: spec
            .timeout
            .map(|t| Instant::now() + Duration::from_secs(t)),
        max_cost_usd: spec.max_cost_usd,
    };
    let mut command = spec.command.clone();
    let mut input = task;
    // What the worktree was at the start: "no change" is against this.
    let head = crate::git::commit_oid(&spec.worktree, "HEAD")
        .ok()
        .flatten();
    loop {
        out.tail = Some(Vec::new());
        let result = run_agent(spec, record, &command, input, &limits, out);
        let tail = last_words(spec, out.tail.take().unwrap_or_default(), &result);
        let exit = match &result {
            Ok(code) if *code != 0 => Some(*code),
            Err((_, code, Some(reason))) if reason.starts_with("exit") => Some(*code),
            _ => None,
        };
        if let Some(delay) = exit.and_then(|_| rate_limited(&tail, record.rate_retry)) {
            let code = exit.unwrap_or(1);
            if record.rate_retry >= spec.retries {
                out.line(&format!(
                    "[fleet] rate-limited again (exit {code}); no retries left (retries: {})",
                    spec.retries
                ));
                return (
                    State::Failed,
                    code,
                    Some(format!("rate limited (exit {code})")),
                );
            }
            wait_out_rate_limit(spec, record, code, delay, out);
            command = spec.command.clone();
            input = match File::open(&spec.task) {
                Ok(f) => f,
                Err(e) => {
                    out.line(&format!("[fleet] cannot open the task again: {e}"));
                    return (State::Failed, 127, Some("task unreadable".into()));
                }
            };
            continue;
        }
        let code = match result {
            Ok(code) => code,
            Err(end) => return end,
        };
        if code != 0 {
            return (State::Failed, code, Some(format!("exit {code}")));
        }
        if let Some(end) = denied_without_change(spec, record, head.as_deref(), out) {
            return end;
        }
        let Some(verify) = &spec.verify else {
            return (State::Done, 0, None);
        };
        out.line(&format!("[fleet] verify: {verify}"));
        out.capture = Some(Vec::new());
        let v = step(spec, verify, None, &[], out);
        let said = out.capture.take().unwrap_or_default();
        if v == 0 {
            return (State::Done, 0, None);
        }
        let failed = format!("verify failed (exit {v})");
        // Feed the failure back into the same conversation, when the CLI can resume it.
        let resume = spec
            .preset
            .zip(record.session_id.clone())
            .and_then(|(p, id)| {
                p.resume_command(&id, &spec.launch, record.budget_left(spec.max_cost_usd))
            });
        let Some(resume) = resume.filter(|_| record.verify_retry < spec.verify_retries) else {
            return (State::Failed, 0, Some(failed));
        };
        record.verify_retry += 1;
        let _ = state::write_json(&spec.record, record);
        out.line(&format!(
            "[fleet] {failed}: resuming the agent's session with the verify output (retry {} of {})",
            record.verify_retry, spec.verify_retries
        ));
        let prompt = retry_prompt(verify, v, &said);
        input = match prompt_file(spec, record.verify_retry, &prompt) {
            Ok(f) => f,
            Err(e) => {
                out.line(&format!("[fleet] cannot write the retry prompt: {e:#}"));
                return (State::Failed, 0, Some(failed));
            }
        };
        command = resume;
    }
}

/// An agent whose CLI refused it actions (permissions) and that changed nothing (no commit
/// since `head`, a clean worktree) did not do its task: failed, with the denials as the
/// reason, not a silent `done`.
fn denied_without_change(
    spec: &Spec,
    record: &Record,
    head: Option<&str>,
    out: &mut Tee,
) -> Option<(State, i32, Option<String>)> {
    let denials = record.usage.map_or(0, |u| u.denials);
    if denials == 0 {
        return None;
    }
    let now = crate::git::commit_oid(&spec.worktree, "HEAD")
        .ok()
        .flatten();
    let dirty = crate::git::is_dirty(&spec.worktree).unwrap_or(true);
    if dirty || now.as_deref() != head {
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

/// The agent ended on its CLI's rate limit: show `waiting` until `delay` seconds from now,
/// then mark a new attempt running.
fn wait_out_rate_limit(spec: &Spec, record: &mut Record, code: i32, delay: u64, out: &mut Tee) {
    record.rate_retry += 1;
    let at = util::now() + delay;
    record.state = Some(State::Waiting);
    record.retry_at = Some(at);
    let _ = state::write_json(&spec.record, record);
    out.line(&format!(
        "[fleet] rate-limited (exit {code}): trying again at {} (retry {} of {})",
        util::rfc3339(at),
        record.rate_retry,
        spec.retries
    ));
    while util::now() < at {
        std::thread::sleep(Duration::from_millis(250));
    }
    record.state = Some(State::Running);
    record.retry_at = None;
    record.attempt += 1;
    let _ = state::write_json(&spec.record, record);
    out.line(&format!(
        "[fleet] {} started again at {} (attempt {})",
        spec.agent,
        util::rfc3339(util::now()),
        record.attempt
    ));
}

/// What the agent's CLI itself said last, where a rate limit shows: for an event stream,
/// the CLI's own error (an agent's tool output that mentions a 429 is not the CLI's); for
/// plain text, the last [`LAST_LINES`] lines.
fn last_words(
    spec: &Spec,
    tail: Vec<u8>,
    result: &std::result::Result<i32, (State, i32, Option<String>)>,
) -> Vec<u8> {
    if spec.format.is_some() {
        return match result {
            Err((_, _, Some(reason))) => reason.clone().into_bytes(),
            _ => Vec::new(),
        };
    }
    let text = String::from_utf8_lossy(&tail);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LAST_LINES)..]
        .join("\n")
        .into_bytes()
}

/// How many of a plain-text agent's last lines are its last words.
const LAST_LINES: usize = 5;

/// Words agent CLIs use when they stop on a rate limit or an overloaded service.
const RATE_LIMIT_SIGNS: [&str; 9] = [
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "429",
    "overloaded",
    "usage limit",
    "quota exceeded",
    "resource_exhausted",
];

/// First backoff after a rate limit whose reset time the CLI did not say; doubles each time.
const BACKOFF: u64 = 30;
/// The longest fleet waits between two tries.
const MAX_WAIT: u64 = 6 * 3600;

/// Did the agent end on a rate limit, judging by the end of its output? Then how many
/// seconds to wait: until the reset time the CLI printed (Claude Code prints
/// `…limit reached|<unix time>`), after `retry after N`, or an exponential backoff.
fn rate_limited(tail: &[u8], retries_so_far: u32) -> Option<u64> {
    let text = String::from_utf8_lossy(tail).to_lowercase();
    if !RATE_LIMIT_SIGNS.iter().any(|s| text.contains(s)) {
        return None;
    }
    let now = util::now();
    let reset = text.split('|').skip(1).find_map(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (digits.len() == 10)
            .then(|| digits.parse::<u64>().ok())
            .flatten()
    });
    let after = text
        .split("retry after")
        .nth(1)
        .or_else(|| text.split("retry-after:").nth(1))
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        });
    let wait = match (reset, after) {
        (Some(at), _) => at.saturating_sub(now),
        (None, Some(secs)) => secs,
        (None, None) => BACKOFF.saturating_mul(1 << retries_so_far.min(10)),
    };
    Some(wait.clamp(1, MAX_WAIT))
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

/// The retry prompt, written beside the run spec (`.fleet/tasks/<agent>.retry-N.md`), open
/// for reading.
fn prompt_file(spec: &Spec, n: u32, prompt: &str) -> Result<File> {
    let dir = spec
        .record
        .parent()
        .and_then(Path::parent)
        .map(|fleet| fleet.join("tasks"))
        .context("no .fleet directory")?;
    let path = dir.join(format!("{}.retry-{n}.md", spec.agent));
    util::private_dir(&dir)?;
    util::write_atomic(&path, prompt.as_bytes())?;
    File::open(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// One run of the agent's command (its first, or a resumed session): its exit code, or the
/// end of the whole run when it was stopped or its CLI failed.
fn run_agent(
    spec: &Spec,
    record: &mut Record,
    command: &str,
    input: File,
    limits: &Limits,
    out: &mut Tee,
) -> std::result::Result<i32, (State, i32, Option<String>)> {
    let prior = record.usage.unwrap_or_default();
    let session = record.session_id.clone();
    let mut usage = spec.format.map(|format| Usage {
        transcript: Transcript::new(format)
            .with_model(model_arg(&spec.launch.args))
            .with_baseline(session, prior),
        prices: &spec.prices,
        prior,
        record,
        path: &spec.record,
        saved: Instant::now(),
    });
    let (code, stopped) = step_with(spec, command, Some(input), &[], out, usage.as_mut(), limits);
    let mut cli_error = None;
    if let Some(u) = usage.as_mut() {
        let env = |k: &str| spec.env.get(k).cloned().or_else(|| std::env::var(k).ok());
        u.transcript.after_exit(env);
        u.save();
        cli_error = u.transcript.error.take();
        // A CLI that enforces the budget itself (claude --max-budget-usd) says so.
        let over = limits
            .max_cost_usd
            .zip(u.total().cost_usd)
            .is_some_and(|(max, cost)| cost >= max);
        if stopped.is_none() && (over || cli_error.as_deref().is_some_and(|e| e.contains("budget")))
        {
            out.line("[fleet] stopped: the agent reached max_cost_usd");
            return Err((State::Failed, code, Some("budget".into())));
        }
    }
    if let Some(why) = stopped {
        return Err((State::Failed, code, Some(why.into())));
    }
    let zero_fails = spec.format.is_some_and(|f| f.exits_zero_on_error());
    if let Some(why) = cli_error.filter(|_| code != 0 || zero_fails) {
        return Err((State::Failed, code, Some(format!("exit {code}: {why}"))));
    }
    Ok(code)
}

/// The model named in a CLI's arguments (`--model X`, `--model=X`, `-m X`), if any.
fn model_arg(args: &[String]) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| match a.as_str() {
        "--model" | "-m" => args.get(i + 1).cloned(),
        _ => a.strip_prefix("--model=").map(str::to_string),
    })
}

/// When to stop an agent early.
#[derive(Default)]
struct Limits {
    deadline: Option<Instant>,
    max_cost_usd: Option<f64>,
}

/// After SIGTERM, an agent has this long to end before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// An agent's event stream on its way to the pane: the readable transcript goes out, the
/// usage and session id go into the record (saved every few seconds while it runs).
struct Usage<'a> {
    transcript: Transcript,
    /// What earlier runs of this start (before a verify retry) used.
    prior: crate::transcript::Usage,
    /// The manifest's `prices:`, for a CLI that reports tokens only.
    prices: &'a std::collections::BTreeMap<String, crate::preset::prices::Price>,
    record: &'a mut Record,
    path: &'a Path,
    saved: Instant,
}

/// How often a running agent's usage is written to its record.
const SAVE_USAGE: Duration = Duration::from_secs(2);

impl Usage<'_> {
    fn text(&mut self, bytes: &[u8]) -> Vec<u8> {
        let text = self.transcript.feed(bytes);
        // A retry starting or ending shows at once.
        if self.saved.elapsed() >= SAVE_USAGE || self.transcript.retrying != self.record.retrying {
            self.save();
        }
        text
    }

    /// This run's usage added to the earlier runs'.
    fn total(&self) -> crate::transcript::Usage {
        let (a, b) = (self.prior, self.transcript.priced(self.prices));
        crate::transcript::Usage {
            input_tokens: a.input_tokens + b.input_tokens,
            output_tokens: a.output_tokens + b.output_tokens,
            cost_usd: match (a.cost_usd, b.cost_usd) {
                (None, None) => None,
                (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
            },
            turns: a.turns + b.turns,
            denials: a.denials + b.denials,
        }
    }

    fn save(&mut self) {
        self.record.usage = Some(self.total());
        self.record.retrying = self.transcript.retrying.clone();
        if self.transcript.session_id.is_some() {
            self.record.session_id = self.transcript.session_id.clone();
        }
        let _ = state::write_json(self.path, &*self.record);
        self.saved = Instant::now();
    }
}

/// After the agent: its exit code decides, then verify.
fn finish_steps(spec: &Spec, code: i32, out: &mut Tee) -> (State, i32, Option<String>) {
    if code != 0 {
        return (State::Failed, code, Some(format!("exit {code}")));
    }
    if let Some(verify) = &spec.verify {
        out.line(&format!("[fleet] verify: {verify}"));
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

/// Run `sh -c script` in the worktree with the agent's environment, output teed; its exit
/// code (128+N when killed by signal N, 127 when it could not start).
fn step(
    spec: &Spec,
    script: &str,
    stdin: Option<File>,
    extra: &[(&str, String)],
    out: &mut Tee,
) -> i32 {
    step_with(spec, script, stdin, extra, out, None, &Limits::default()).0
}

/// [`step`], the output first turned into a transcript when `usage` is given, and the
/// command stopped (SIGTERM to its process group, SIGKILL after [`GRACE`]) past `limits`:
/// the exit code and, when it was stopped, why (`timeout`, `budget`).
fn step_with(
    spec: &Spec,
    script: &str,
    stdin: Option<File>,
    extra: &[(&str, String)],
    out: &mut Tee,
    mut usage: Option<&mut Usage>,
    limits: &Limits,
) -> (i32, Option<&'static str>) {
    if spec.interactive {
        return (on_terminal(spec, script, extra, out), None);
    }
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            out.line(&format!("[fleet] cannot create a pipe: {e}"));
            return (127, None);
        }
    };
    let mut cmd = shell(spec, script, extra);
    // Its own process group, so that it can be stopped as a whole; signals that end the
    // runner (`fleet down`, a dying tmux server) are passed on to it.
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    util::forward_signals();
    cmd.stdin(stdin.map(Stdio::from).unwrap_or_else(Stdio::null));
    match writer.try_clone() {
        Ok(w2) => {
            cmd.stdout(writer).stderr(w2);
        }
        Err(e) => {
            out.line(&format!("[fleet] cannot create a pipe: {e}"));
            return (127, None);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            out.line(&format!("[fleet] cannot start `sh -c {script}`: {e}"));
            return (127, None);
        }
    };
    util::set_child_group(child.id());
    let mut stopping: Option<(&'static str, Instant)> = None;
    // The Command (holding the pipe's write ends) must go before reading to the end.
    drop(cmd);
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let pump = std::thread::spawn(move || {
        let mut reader = reader;
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut wait = None;
    // Since when the agent has been over its budget.
    let mut over_at: Option<Instant> = None;
    loop {
        if wait.is_none() {
            match stopping {
                None => {
                    // The whole run's cost (earlier runs of this start included).
                    let cost = usage.as_deref().and_then(|u| u.total().cost_usd);
                    let over = limits
                        .max_cost_usd
                        .zip(cost)
                        .is_some_and(|(max, c)| c > max);
                    // A CLI that gave its final result is ending by itself (claude stops on
                    // its own --max-budget-usd): it gets GRACE to exit before a SIGTERM.
                    let ended = usage.as_deref().is_some_and(|u| u.transcript.ended);
                    let over_since = *over_at.get_or_insert_with(Instant::now);
                    if !over {
                        over_at = None;
                    }
                    let why = if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                        Some("timeout")
                    } else if over && (!ended || over_since.elapsed() > GRACE) {
                        Some("budget")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        out.line(&format!(
                            "[fleet] stopping the agent: {}",
                            if why == "timeout" {
                                "it ran past its timeout"
                            } else {
                                "it spent more than max_cost_usd"
                            }
                        ));
                        util::signal_group(child.id(), SIGTERM);
                        stopping = Some((why, Instant::now()));
                    }
                }
                Some((_, at)) if at.elapsed() > GRACE => {
                    util::signal_group(child.id(), SIGKILL);
                }
                Some(_) => {}
            }
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(chunk) => match usage.as_deref_mut() {
                Some(u) => out.write(&u.text(&chunk)),
                None => out.write(&chunk),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // A background process may hold the pipe after the agent exits: stop
                // reading two seconds after the agent itself ended.
                if wait.is_none() {
                    if let Ok(Some(status)) = child.try_wait() {
                        wait = Some((status, std::time::Instant::now()));
                    }
                }
                if let Some((_, at)) = wait {
                    if at.elapsed() > Duration::from_secs(2) {
                        break;
                    }
                }
            }
        }
    }
    drop(pump);
    if let Some(u) = usage {
        out.write(&u.transcript.finish());
    }
    let stopped = stopping.map(|(why, _)| why);
    let status = match wait {
        Some((s, _)) => Ok(s),
        None => child.wait(),
    };
    util::set_child_group(0);
    let code = match status {
        Ok(s) => exit_code(s),
        Err(e) => {
            out.line(&format!("[fleet] cannot wait for the agent: {e}"));
            127
        }
    };
    (code, stopped)
}

/// Variables an agent CLI sets for the commands it runs (see `fleet doctor`).
pub const AGENT_SESSION_VARS: [&str; 2] = ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"];

const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

/// A process's exit code as a shell gives it: 128+N when killed by signal N.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// `sh -c script` in the worktree with the agent's environment.
fn shell(spec: &Spec, script: &str, extra: &[(&str, String)]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).current_dir(&spec.worktree);
    // Set inside an agent CLI's own session; an agent CLI seeing them refuses to start (or
    // thinks it is nested). `env:` in the manifest can still set them on purpose.
    for var in AGENT_SESSION_VARS {
        cmd.env_remove(var);
    }
    if let Some(path) = &spec.path {
        cmd.env("PATH", path);
    }
    cmd.envs(&spec.env)
        .env("FLEET_AGENT", &spec.agent)
        .env("FLEET_BRANCH", &spec.branch)
        .env("FLEET_WORKTREE", &spec.worktree)
        .env("FLEET_LOG", &spec.log)
        .env("FLEET_TASK", &spec.task)
        .env("FLEET_PROJECT", &spec.project)
        .env("FLEET_MANIFEST", &spec.manifest)
        .envs(extra.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Run a step of an interactive agent on the pane's terminal (stdin, stdout and stderr are
/// the pane's; tmux logs them); its exit code as [`step`] gives it.
fn on_terminal(spec: &Spec, script: &str, extra: &[(&str, String)], out: &mut Tee) -> i32 {
    match shell(spec, script, extra).status() {
        Ok(s) => exit_code(s),
        Err(e) => {
            out.line(&format!("[fleet] cannot start `sh -c {script}`: {e}"));
            127
        }
    }
}

/// Writes to the log and the pane; a failing pane (closed terminal) does not stop the log.
struct Tee<'a> {
    log: Option<&'a mut File>,
    pane: std::io::Stdout,
    /// Also keeps what is written, while set (verify's output, for a retry prompt).
    capture: Option<Vec<u8>>,
    /// Keeps the last [`TAIL`] bytes written, while set (to spot a rate limit).
    tail: Option<Vec<u8>>,
}

const TAIL: usize = 4096;

impl Tee<'_> {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(log) = self.log.as_mut() {
            let _ = log.write_all(bytes);
        }
        if let Some(c) = self.capture.as_mut() {
            c.extend_from_slice(bytes);
        }
        if let Some(t) = self.tail.as_mut() {
            t.extend_from_slice(bytes);
            if t.len() > TAIL {
                t.drain(..t.len() - TAIL);
            }
        }
        let _ = self.pane.write_all(bytes);
        let _ = self.pane.flush();
    }

    fn line(&mut self, text: &str) {
        self.write(format!("{text}\n").as_bytes());
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn spots_rate_limits_and_their_reset() {
        assert_eq!(rate_limited(b"error: file not found", 0), None);
        let at = util::now() + 120;
        let wait = rate_limited(format!("Claude AI usage limit reached|{at}").as_bytes(), 0);
        assert!(
            matches!(wait, Some(w) if (118..=120).contains(&w)),
            "{wait:?}"
        );
        assert_eq!(
            rate_limited(b"429 Too Many Requests; retry after 7s", 0),
            Some(7)
        );
        assert_eq!(rate_limited(b"API Error: Overloaded", 0), Some(30));
        assert_eq!(rate_limited(b"API Error: Overloaded", 2), Some(120));
    }
}
