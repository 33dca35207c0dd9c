//! One shell step of a run (setup, the agent's command, verify, `on_exit`): the only place
//! fleet starts `sh -c` for an agent, with the agent's environment, in its own process
//! group, its output teed, and stopped past the run's timeout or budget. A boxed step whose
//! box bwrap could not set up (its command never started) is started again in a box built
//! anew, a few times ([`super::boxed::setup_failed`]).
use std::fs::File;
use std::io::{PipeReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::state::Spec;
use crate::util;

use super::boxed::{self, box_agent, check_refs, rebuilding, setup_failed};
use super::boxed::{Boxed, Running, SETUP_TRIES};
use super::stop::{Limits, Stopper};
use super::usage::Usage;
use super::Tee;
use crate::sandbox;

/// Run `sh -c script` in the worktree with the agent's environment, output teed; its exit
/// code (128+N when killed by signal N, 127 when it could not start).
pub(super) fn step(
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
pub(super) fn step_with(
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
    let mut attempt = 1;
    let (status, stopped, running, ran) = loop {
        // The task again for a box built again (its command never read from it).
        let input = match stdin.as_ref().map(File::try_clone).transpose() {
            Ok(input) => input,
            Err(e) => {
                out.line(&format!("[fleet] cannot pass the task on: {e}"));
                return (127, None);
            }
        };
        let (child, reader, mut running) = match start(spec, script, input, extra, out) {
            Ok(started) => started,
            Err(code) => return (code, None),
        };
        let pid = child.id();
        let mut events = events(reader, child);
        let mut stopper = Stopper::default();
        let outer = out.own_tail();
        let (status, stopped) = follow(
            pid,
            &mut events,
            out,
            usage.as_deref_mut(),
            &mut stopper,
            limits,
        );
        let said = out.end_tail(outer);
        util::set_child_group(0);
        // (None: never; the exit always comes, if only as an error.)
        let status = status.unwrap_or_else(|| Err(std::io::Error::other("no exit status came")));
        let ran = !setup_failed(&mut running, &status, stopped.is_some());
        if !ran {
            out.line(&rebuilding(&said, attempt));
            if attempt < SETUP_TRIES {
                attempt += 1;
                continue;
            }
        }
        break (status, stopped, running, ran);
    };
    if let Some(u) = usage {
        out.write(&u.transcript.finish());
    }
    if ran {
        check_refs(running.sandbox.as_ref(), out);
    }
    let code = match status {
        Ok(s) => exit_code(s),
        Err(e) => {
            out.line(&format!("[fleet] cannot wait for the agent: {e}"));
            127
        }
    };
    (code, stopped)
}

/// Start `sh -c script` with its stdout and stderr on one pipe: the child and the pipe's
/// read end, or the exit code to give when it cannot start (127, said on `out`).
fn start(
    spec: &Spec,
    script: &str,
    stdin: Option<File>,
    extra: &[(&str, String)],
    out: &mut Tee,
) -> std::result::Result<(Child, PipeReader, Running), i32> {
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            out.line(&format!("[fleet] cannot create a pipe: {e}"));
            return Err(127);
        }
    };
    let Boxed { mut cmd, running } = match shell(spec, script, extra) {
        Ok(boxed) => boxed,
        Err(e) => {
            out.line(&format!("[fleet] cannot build the agent's sandbox: {e:#}"));
            return Err(127);
        }
    };
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
            return Err(127);
        }
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            out.line(&format!("[fleet] cannot start `sh -c {script}`: {e}"));
            return Err(127);
        }
    };
    util::set_child_group(child.id());
    // The Command (holding the pipe's write ends) must go before reading to the end.
    drop(cmd);
    Ok((child, reader, running))
}

/// What wakes a runner while its step runs: output, the end of the output, the exit.
enum Event {
    Output(Vec<u8>),
    /// Every write end of the pipe is closed.
    End,
    Exited(std::io::Result<ExitStatus>),
}

/// The one place a running step's runner sleeps: in `poll` on the output pipe and on a
/// doorbell pipe that the waiter thread closes once the child exited. A line the agent
/// prints costs one wakeup of one thread (poll, read, the writes to the log and the pane),
/// never a hand-over between threads.
struct Events {
    /// The output's read end, until it ended.
    reader: Option<PipeReader>,
    /// Closed (POLLHUP) by the waiter once the exit status is on `exits`; None once taken.
    bell: Option<PipeReader>,
    exits: mpsc::Receiver<std::io::Result<ExitStatus>>,
    /// An exit known without waiting (no waiter could be started).
    early: Option<std::io::Result<ExitStatus>>,
    buf: Vec<u8>,
}

/// Wait for the child on a thread of its own (`wait` blocks until it exits, never a second
/// reap), which then rings the doorbell; the output is read where [`Events::next`] waits.
fn events(reader: PipeReader, mut child: Child) -> Events {
    let (tx, exits) = mpsc::channel();
    let mut events = Events {
        reader: Some(reader),
        bell: None,
        exits,
        early: None,
        buf: vec![0u8; 8192],
    };
    let (bell, ring) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            events.early = Some(Err(e));
            return events;
        }
    };
    let waiter = std::thread::Builder::new()
        .name("waiter".into())
        .stack_size(STACK)
        .spawn(move || {
            let _ = tx.send(child.wait());
            drop(ring);
        });
    match waiter {
        Ok(_) => events.bell = Some(bell),
        Err(e) => events.early = Some(Err(e)),
    }
    events
}

impl Events {
    /// The next event, or None when `until` passed first (or a signal came).
    fn next(&mut self, until: Option<Instant>) -> Option<Event> {
        if let Some(status) = self.early.take() {
            return Some(Event::Exited(status));
        }
        use std::os::fd::AsRawFd;
        let fd = |r: &Option<PipeReader>| r.as_ref().map_or(-1, |r| r.as_raw_fd());
        // (a negative fd is skipped by poll)
        let mut fds = [
            libc::pollfd {
                fd: fd(&self.reader),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd(&self.bell),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = until.map_or(-1, |at| {
            let left = at.saturating_duration_since(Instant::now());
            i32::try_from(left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0))
                .unwrap_or(i32::MAX)
        });
        // SAFETY: two pollfd structs of our own, their count given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n <= 0 {
            return None;
        }
        if fds[0].revents != 0 {
            if let Some(reader) = self.reader.as_mut() {
                return Some(match reader.read(&mut self.buf) {
                    Ok(n) if n > 0 => Event::Output(self.buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return None,
                    _ => {
                        self.reader = None;
                        Event::End
                    }
                });
            }
        }
        if fds[1].revents != 0 {
            self.bell = None;
            let status = self
                .exits
                .try_recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("no exit status came")));
            return Some(Event::Exited(status));
        }
        None
    }
}

/// The stack of the waiter thread: it calls `wait`, nothing deep (Rust's default is 2 MiB).
const STACK: usize = 64 * 1024;

/// After the agent exited, how long its output is still read: a background process it left
/// may hold the pipe open.
const AFTER_EXIT: Duration = Duration::from_secs(2);

/// Follow a running step until it exited and its output ended (or [`AFTER_EXIT`] passed):
/// its exit status (None if it never came) and, when it was stopped, why. Wakes only for
/// the output, the exit, and the times the [`Stopper`] and the usage ask for.
fn follow(
    pid: u32,
    events: &mut Events,
    out: &mut Tee,
    mut usage: Option<&mut Usage>,
    stopper: &mut Stopper,
    limits: &Limits,
) -> (Option<std::io::Result<ExitStatus>>, Option<&'static str>) {
    let mut exited: Option<(std::io::Result<ExitStatus>, Instant)> = None;
    let mut ended = false;
    loop {
        if exited.is_none() {
            if let Some(u) = usage.as_deref_mut() {
                u.poll();
            }
            stopper.check(pid, usage.as_deref(), limits, out);
        }
        let wake = match &exited {
            Some((_, at)) => Some(*at + AFTER_EXIT),
            None => {
                let poll = usage.as_deref().map(Usage::next_poll);
                [stopper.next_check(usage.as_deref(), limits), poll]
                    .into_iter()
                    .flatten()
                    .min()
            }
        };
        let event = events.next(wake);
        match event {
            Some(Event::Output(chunk)) => match usage.as_deref_mut() {
                Some(u) => out.write(&u.text(&chunk)),
                None => out.write(&chunk),
            },
            Some(Event::End) => ended = true,
            Some(Event::Exited(status)) => exited = Some((status, Instant::now())),
            None => {}
        }
        match &exited {
            Some(_) if ended => break,
            Some((_, at)) if at.elapsed() >= AFTER_EXIT => break,
            _ => {}
        }
    }
    let stopped = stopper.stopping.as_ref().map(|(why, _)| *why);
    (exited.map(|(s, _)| s), stopped)
}

/// Variables an agent CLI sets for the commands it runs (see `fleet doctor`).
pub const AGENT_SESSION_VARS: [&str; 2] = ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"];

/// A process's exit code as a shell gives it: 128+N when killed by signal N.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The user's git identity as the worktree resolves it ([`crate::git::identity`]), given to
/// every step: an agent CLI may run its tools with the user's global git config hidden
/// (gemini sets `GIT_CONFIG_GLOBAL=/dev/null`), and its commits would then fail for want of
/// an author. Learnt once per run by [`learn_identity`].
static IDENTITY: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();

/// Learn the identity the steps of this run get (see [`IDENTITY`]).
pub(super) fn learn_identity(worktree: &std::path::Path) {
    let _ = IDENTITY.get_or_init(|| crate::git::identity(worktree));
}

/// `sh -c script` in the worktree with the agent's environment; in its box (`bwrap ... --
/// sh -c script`) when the agent is sandboxed.
fn shell(spec: &Spec, script: &str, extra: &[(&str, String)]) -> anyhow::Result<Boxed> {
    let (mut cmd, running) = match &spec.sandbox {
        Some(policy) => {
            let sandbox = sandbox::build(policy, &box_agent(spec, policy))?;
            boxed::command(sandbox, script)?
        }
        None => {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script);
            (cmd, Running::default())
        }
    };
    cmd.current_dir(&spec.worktree);
    // Set inside an agent CLI's own session; an agent CLI seeing them refuses to start (or
    // thinks it is nested). `env:` in the manifest can still set them on purpose.
    for var in AGENT_SESSION_VARS {
        cmd.env_remove(var);
    }
    if let Some(path) = &spec.path {
        cmd.env("PATH", path);
    }
    // The user's own GIT_AUTHOR_* (inherited) and the manifest's `env:` come first.
    for (key, value) in IDENTITY.get().into_iter().flatten() {
        if std::env::var_os(key).is_none() {
            cmd.env(key, value);
        }
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
    Ok(Boxed { cmd, running })
}

/// Run a step of an interactive agent on the pane's terminal (stdin, stdout and stderr are
/// the pane's; tmux logs them); its exit code as [`step`] gives it. A box whose setup
/// failed is built again, as for any step.
fn on_terminal(spec: &Spec, script: &str, extra: &[(&str, String)], out: &mut Tee) -> i32 {
    let mut attempt = 1;
    loop {
        let Boxed {
            mut cmd,
            mut running,
        } = match shell(spec, script, extra) {
            Ok(boxed) => boxed,
            Err(e) => {
                out.line(&format!("[fleet] cannot build the agent's sandbox: {e:#}"));
                return 127;
            }
        };
        let status = cmd.status();
        drop(cmd);
        if setup_failed(&mut running, &status, false) {
            // (bwrap's words went to the terminal, not through the runner)
            let code = status.as_ref().map_or(1, |s| exit_code(*s));
            out.line(&rebuilding(format!("exit {code}").as_bytes(), attempt));
            if attempt < SETUP_TRIES {
                attempt += 1;
                continue;
            }
        } else {
            check_refs(running.sandbox.as_ref(), out);
        }
        return match status {
            Ok(s) => exit_code(s),
            Err(e) => {
                out.line(&format!("[fleet] cannot start `sh -c {script}`: {e}"));
                127
            }
        };
    }
}
