//! The hidden `fleet _run SPEC`: each agent pane's first process. It runs the setup (once per
//! worktree), feeds the task on stdin to `sh -c <command>` in the worktree, tees stdout and
//! stderr to the pane and the log, runs verify after a clean exit, and records the end.
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
    record.pid = Some(std::process::id());
    state::write_json(&spec.record, &record)?;

    let mut out = Tee {
        log: log.as_mut(),
        pane: std::io::stdout(),
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
    let why = reason
        .as_deref()
        .filter(|r| *r != format!("exit {code}"))
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    out.line(&format!(
        "[fleet] {} {state}{why} (exit {code}) after {took} at {}",
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
    let label = match reason {
        Some(r) if state == State::Failed => format!("{state} ({r})"),
        _ => state.to_string(),
    };
    if crate::tmux::inside() {
        if let Err(e) = crate::tmux::tell_clients(&format!("fleet: {} {label}", spec.agent)) {
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
    let limits = Limits {
        deadline: spec
            .timeout
            .map(|t| Instant::now() + Duration::from_secs(t)),
        max_cost_usd: spec.max_cost_usd,
    };
    let mut usage = spec.format.map(|format| Usage {
        transcript: Transcript::new(format),
        record,
        path: &spec.record,
        saved: Instant::now(),
    });
    let (code, stopped) = step_with(
        spec,
        &spec.command,
        Some(task),
        &[],
        out,
        usage.as_mut(),
        &limits,
    );
    let mut cli_error = None;
    if let Some(u) = usage.as_mut() {
        u.save();
        cli_error = u.transcript.error.take();
        // A CLI that enforces the budget itself (claude --max-budget-usd) says so.
        let over = limits
            .max_cost_usd
            .zip(u.transcript.usage.cost_usd)
            .is_some_and(|(max, cost)| cost >= max);
        if stopped.is_none() && (over || cli_error.as_deref().is_some_and(|e| e.contains("budget")))
        {
            out.line("[fleet] stopped: the agent reached max_cost_usd");
            return (State::Failed, code, Some("budget".into()));
        }
    }
    if let Some(why) = stopped {
        return (State::Failed, code, Some(why.into()));
    }
    if let Some(why) = cli_error.filter(|_| code != 0) {
        return (State::Failed, code, Some(format!("exit {code}: {why}")));
    }
    finish_steps(spec, code, out)
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
    record: &'a mut Record,
    path: &'a Path,
    saved: Instant,
}

/// How often a running agent's usage is written to its record.
const SAVE_USAGE: Duration = Duration::from_secs(2);

impl Usage<'_> {
    fn text(&mut self, bytes: &[u8]) -> Vec<u8> {
        let text = self.transcript.feed(bytes);
        if self.saved.elapsed() >= SAVE_USAGE {
            self.save();
        }
        text
    }

    fn save(&mut self) {
        self.record.usage = Some(self.transcript.usage);
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
    loop {
        if wait.is_none() {
            match stopping {
                None => {
                    let cost = usage.as_deref().and_then(|u| u.transcript.usage.cost_usd);
                    let why = if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                        Some("timeout")
                    } else if limits
                        .max_cost_usd
                        .zip(cost)
                        .is_some_and(|(max, c)| c > max)
                    {
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
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + s.signal().unwrap_or(0)
        }),
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
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + s.signal().unwrap_or(0)
        }),
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
}

impl Tee<'_> {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(log) = self.log.as_mut() {
            let _ = log.write_all(bytes);
        }
        let _ = self.pane.write_all(bytes);
        let _ = self.pane.flush();
    }

    fn line(&mut self, text: &str) {
        self.write(format!("{text}\n").as_bytes());
    }
}
