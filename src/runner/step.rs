//! One shell step of a run (setup, the agent's command, verify, `on_exit`): the only place
//! fleet starts `sh -c` for an agent, with the agent's environment, in its own process
//! group, its output teed, and stopped past the run's timeout or budget.
use std::fs::File;
use std::io::{PipeReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::state::Spec;
use crate::util;

use super::boxed::{box_agent, check_refs, Boxed};
use super::usage::Usage;
use super::Tee;
use crate::sandbox::{self, Sandbox};

/// When to stop an agent early.
#[derive(Default)]
pub(super) struct Limits {
    pub(super) deadline: Option<Instant>,
    pub(super) max_cost_usd: Option<f64>,
    /// The fleet's budget: stop the agent once the whole fleet has spent it.
    pub(super) fleet: Option<FleetBudget>,
    /// The agent's credential: stop it (to resume after the reset) once it is under quota.
    pub(super) quota: Option<QuotaCheck>,
}

/// Where a runner looks for its credential's quota: `.fleet/` and the label.
pub(super) struct QuotaCheck {
    pub(super) root: std::path::PathBuf,
    pub(super) label: String,
}

/// The fleet's budget as one runner checks it: the other agents' records (in `agents`,
/// `.fleet/agents/`) read at most every [`FLEET_READ`], its own agent's usage as it runs.
pub(super) struct FleetBudget {
    pub(super) budget: crate::state::Budget,
    pub(super) agents: std::path::PathBuf,
    pub(super) agent: String,
}

/// How often a runner reads the other agents' records for the fleet's spend.
const FLEET_READ: Duration = Duration::from_secs(3);

/// After SIGTERM, an agent has this long to end before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

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
    let (child, reader, sandbox) = match start(spec, script, stdin, extra, out) {
        Ok(started) => started,
        Err(code) => return (code, None),
    };
    let pid = child.id();
    let rx = events(reader, child);
    let mut stopper = Stopper::default();
    let (status, stopped) = follow(pid, &rx, out, usage.as_deref_mut(), &mut stopper, limits);
    if let Some(u) = usage {
        out.write(&u.transcript.finish());
    }
    // (None: the channel closed with no word of the exit; the waiter always sends it.)
    let status = status.unwrap_or_else(|| Err(std::io::Error::other("no exit status came")));
    util::set_child_group(0);
    check_refs(sandbox.as_ref(), out);
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
) -> std::result::Result<(Child, PipeReader, Option<Sandbox>), i32> {
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            out.line(&format!("[fleet] cannot create a pipe: {e}"));
            return Err(127);
        }
    };
    let Boxed { mut cmd, sandbox } = match shell(spec, script, extra) {
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
    Ok((child, reader, sandbox))
}

/// What wakes a runner while its step runs: output, the end of the output, the exit.
enum Event {
    Output(Vec<u8>),
    /// Every write end of the pipe is closed.
    End,
    Exited(std::io::Result<ExitStatus>),
}

/// Read the pipe on a thread of its own and wait for the child on another: the chunks, the
/// end of the output and the exit status all arrive on one channel, so the runner sleeps
/// until one of them comes (or a deadline of its own), instead of polling.
fn events(reader: PipeReader, mut child: Child) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel::<Event>();
    let exits = tx.clone();
    let small = |name: &str| {
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(STACK)
    };
    let pump = small("pump").spawn(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Event::Output(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::End);
    });
    if let Err(e) = pump {
        // No reader: the output is lost, the exit still counts.
        let _ = exits.send(Event::Output(
            format!("[fleet] cannot read the agent's output: {e}\n").into_bytes(),
        ));
        let _ = exits.send(Event::End);
    }
    // The waiter owns the child: `wait` blocks until it exits (never a second reap).
    let waiter = small("waiter").spawn({
        let exits = exits.clone();
        move || {
            let _ = exits.send(Event::Exited(child.wait()));
        }
    });
    if let Err(e) = waiter {
        let _ = exits.send(Event::Exited(Err(e)));
    }
    rx
}

/// The stack of the pump and waiter threads: they hold a buffer on the heap and call `read`
/// and `wait`, nothing deep (Rust's default is 2 MiB).
const STACK: usize = 64 * 1024;

/// After the agent exited, how long its output is still read: a background process it left
/// may hold the pipe open.
const AFTER_EXIT: Duration = Duration::from_secs(2);

/// Follow a running step until it exited and its output ended (or [`AFTER_EXIT`] passed):
/// its exit status (None if it never came) and, when it was stopped, why. Wakes only for
/// the output, the exit, and the times the [`Stopper`] and the usage ask for.
fn follow(
    pid: u32,
    rx: &mpsc::Receiver<Event>,
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
        let event = match wake {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(e) => Some(e),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(e) => Some(e),
                Err(_) => break,
            },
        };
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

/// Stops a running step past its limits: SIGTERM to its process group, then SIGKILL after
/// [`GRACE`] ([`util::Ender`], as the merge train stops its verify).
#[derive(Default)]
struct Stopper {
    /// Why it is being stopped, and the group's ender.
    stopping: Option<(&'static str, util::Ender)>,
    /// Since when the agent has been over its budget.
    over_at: Option<Instant>,
    /// What the other agents of the fleet had spent, and when their records were read.
    others: Option<(Instant, crate::state::Spent)>,
    /// The credential's quota record, re-read only when its directory changed.
    quota: crate::state::quota::Watch,
}

impl Stopper {
    /// Look at the limits once (the child `pid` still running), and act.
    fn check(&mut self, pid: u32, usage: Option<&Usage>, limits: &Limits, out: &mut Tee) {
        if let Some((_, ender)) = self.stopping.as_mut() {
            ender.push();
            return;
        }
        let Some(why) = self.past(usage, limits) else {
            return;
        };
        out.line(&format!(
            "[fleet] stopping the agent: {}",
            match why {
                "timeout" => "it ran past its timeout",
                FLEET_BUDGET => "the fleet has spent its budget",
                super::quota::QUOTA =>
                    "its credential's usage limit is reached (it resumes after the reset)",
                _ => "it spent more than max_cost_usd",
            }
        ));
        // A quota stops the CLI at once (SIGTERM, then SIGKILL): given a grace, claude ends
        // its running tool and sends its next request, into the quota. It resumes from its
        // session log, as after a crash.
        let grace = if why == super::quota::QUOTA {
            Duration::ZERO
        } else {
            GRACE
        };
        let mut ender = util::Ender::new(pid, grace);
        ender.push();
        if why == super::quota::QUOTA {
            std::thread::sleep(Duration::from_millis(1));
            ender.push();
        }
        self.stopping = Some((why, ender));
    }

    /// When [`Stopper::check`] must look again though no output came (every output, and
    /// the exit, wake the runner anyway): at the timeout, at the end of a grace (SIGKILL
    /// after SIGTERM; a CLI over its budget that is ending by itself), and when what it
    /// last read of things that change without a word to this runner is out of date (the
    /// other agents' records). A check of something more of that kind adds its time here.
    /// None: nothing but output or the exit needs a look.
    fn next_check(&self, usage: Option<&Usage>, limits: &Limits) -> Option<Instant> {
        if let Some((_, ender)) = &self.stopping {
            return Some(ender.due());
        }
        // `past` acts once the grace has passed (`elapsed() > GRACE`).
        let grace = self
            .over_at
            .filter(|_| usage.is_some_and(|u| u.transcript.ended))
            .map(|at| at + GRACE + Duration::from_millis(1));
        let others = limits.fleet.as_ref().map(|_| match self.others {
            Some((at, _)) => at + FLEET_READ,
            None => Instant::now(),
        });
        [limits.deadline, grace, others].into_iter().flatten().min()
    }

    /// Which limit the step is past now (`timeout`, `budget`), if any.
    fn past(&mut self, usage: Option<&Usage>, limits: &Limits) -> Option<&'static str> {
        // The whole run's cost (earlier runs of this start included).
        let cost = usage.and_then(|u| u.total().cost_usd);
        let over = limits
            .max_cost_usd
            .zip(cost)
            .is_some_and(|(max, c)| c > max);
        // A CLI that gave its final result is ending by itself (claude stops on its own
        // --max-budget-usd): it gets GRACE to exit before a SIGTERM.
        let ended = usage.is_some_and(|u| u.transcript.ended);
        let over_since = *self.over_at.get_or_insert_with(Instant::now);
        if !over {
            self.over_at = None;
        }
        if limits.deadline.is_some_and(|d| Instant::now() >= d) {
            Some("timeout")
        } else if over && (!ended || over_since.elapsed() > GRACE) {
            Some("budget")
        } else if self.fleet_spent(usage, limits) {
            Some(FLEET_BUDGET)
        } else if !ended
            && limits
                .quota
                .as_ref()
                .is_some_and(|q| self.quota.check(&q.root, &q.label).is_some())
        {
            Some(super::quota::QUOTA)
        } else {
            None
        }
    }

    /// Has the whole fleet spent its budget (the others' records, this agent's live usage)?
    fn fleet_spent(&mut self, usage: Option<&Usage>, limits: &Limits) -> bool {
        use crate::state::{Level, Spent};
        let Some(fleet) = &limits.fleet else {
            return false;
        };
        // Without a stream of its own, the agent's record counts as the others' do.
        let except = usage.map(|_| fleet.agent.as_str());
        let others = match self.others {
            Some((at, spent)) if at.elapsed() < FLEET_READ => spent,
            _ => {
                let spent = Spent::in_dir(&fleet.agents, except);
                self.others = Some((Instant::now(), spent));
                spent
            }
        };
        let own = usage.map_or_else(Spent::default, |u| {
            Spent::of_usage(Some(&u.total())).plus(Spent::of_usage(u.record.earlier.as_ref()))
        });
        fleet.budget.level(others.plus(own)) == Level::Spent
    }
}

/// Why an agent stopped because the whole fleet spent its `budget:`.
pub(super) const FLEET_BUDGET: &str = "fleet budget";

impl Stopper {}

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
    let sandbox = match &spec.sandbox {
        Some(policy) => Some(sandbox::build(policy, &box_agent(spec, policy))?),
        None => None,
    };
    let mut cmd = match &sandbox {
        Some(b) => b.command(script),
        None => {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script);
            cmd
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
    Ok(Boxed { cmd, sandbox })
}

/// Run a step of an interactive agent on the pane's terminal (stdin, stdout and stderr are
/// the pane's; tmux logs them); its exit code as [`step`] gives it.
fn on_terminal(spec: &Spec, script: &str, extra: &[(&str, String)], out: &mut Tee) -> i32 {
    let Boxed { mut cmd, sandbox } = match shell(spec, script, extra) {
        Ok(boxed) => boxed,
        Err(e) => {
            out.line(&format!("[fleet] cannot build the agent's sandbox: {e:#}"));
            return 127;
        }
    };
    let status = cmd.status();
    check_refs(sandbox.as_ref(), out);
    match status {
        Ok(s) => exit_code(s),
        Err(e) => {
            out.line(&format!("[fleet] cannot start `sh -c {script}`: {e}"));
            127
        }
    }
}
