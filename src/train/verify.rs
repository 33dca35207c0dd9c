//! The agent's `verify:` run on a merge's result, in the main checkout: `sh -c VERIFY` there
//! with the agent's environment (`env:` and the `FLEET_*` variables, `FLEET_WORKTREE` the
//! main checkout), its output shown as it comes (not with `-q`) and its last lines kept for
//! the report and for the agent. The runner runs an agent's verify in its worktree; this is
//! the one place fleet runs it anywhere else.
//!
//! Verify is a process fleet owns: it runs in a process group of its own, past its
//! `verify_timeout:` or on Ctrl-C, SIGTERM or SIGHUP to fleet the whole group gets SIGTERM,
//! then SIGKILL after [`GRACE`] ([`util::Ender`], the runner's way of stopping a step), and
//! nothing it started outlives it: what it left running in the background when it ended is
//! ended too. A second Ctrl-C kills the group before fleet quits. [`judge`] gives a merge its
//! verdict: kept, or taken back on the base branch, the journal cleared either way.
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::git;
use crate::manifest::{Agent, Plan};
use crate::util;

use super::{journal, Stop};

/// How many of verify's last lines the report and the agent get.
pub const TAIL_LINES: usize = 40;
/// How much of verify's output is kept (its end) to take the last lines from.
const KEEP_BYTES: usize = 64 * 1024;
/// After SIGTERM, verify has this long to end before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Why fleet stopped verify before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran past its `verify_timeout:` (seconds).
    Timeout(u64),
    /// Ctrl-C, SIGTERM or SIGHUP reached fleet.
    Interrupt,
}

/// How verify ended.
pub struct Verified {
    /// Its exit code (128+N when killed by signal N).
    pub code: i32,
    /// Its last [`TAIL_LINES`] lines of output (stdout and stderr as they came).
    pub tail: String,
    /// Why fleet stopped it, if it did.
    pub stopped: Option<Stopped>,
}

impl Verified {
    /// It ran to its end and passed.
    pub fn passed(&self) -> bool {
        self.code == 0 && self.stopped.is_none()
    }

    /// How it did not pass: `failed (exit 1)`, `ran past its verify_timeout (30m) and was
    /// stopped`.
    pub fn failure(&self) -> String {
        match self.stopped {
            Some(Stopped::Timeout(secs)) => format!(
                "ran past its verify_timeout ({}) and was stopped",
                util::duration(secs)
            ),
            Some(Stopped::Interrupt) => "was stopped by an interrupt".to_string(),
            None => format!("failed (exit {})", self.code),
        }
    }
}

/// Run `script` (the agent's verify) in the main checkout, to its end, its time limit or an
/// interrupt; nothing of its process group is left when this returns.
/// `started` is told verify's process group as soon as it runs.
pub fn run(
    plan: &Plan,
    agent: &Agent,
    script: &str,
    started: &mut dyn FnMut(u32) -> Result<()>,
) -> Result<Verified> {
    let (reader, writer) = std::io::pipe().context("cannot create a pipe for verify")?;
    let mut cmd = command(plan, agent, script, writer)?;
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `sh -c {script}`"))?;
    util::set_child_group(child.id());
    // The write ends must go before reading to the end.
    drop(cmd);
    if let Err(e) = started(child.id()) {
        util::Ender::new(child.id(), Duration::ZERO).finish(Duration::from_secs(5));
        util::set_child_group(0);
        let _ = child.wait();
        return Err(e);
    }
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (done, ended) = std::sync::mpsc::channel();
    let into = kept.clone();
    std::thread::spawn(move || {
        pump(reader, &into);
        let _ = done.send(());
    });
    let mut ender = util::Ender::new(child.id(), GRACE);
    let (status, stopped) = wait_stopping(&mut child, &mut ender, agent.verify_timeout);
    // What it left running (in its group) ends with it.
    ender.finish(Duration::from_secs(5));
    util::set_child_group(0);
    let status = status.context("cannot wait for verify")?;
    // A process verify left in the background in a group of its own may hold the pipe:
    // read on for two seconds after verify itself ended, no longer.
    let _ = ended.recv_timeout(Duration::from_secs(2));
    let kept = kept.lock().map(|k| k.clone()).unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Verified {
        code,
        tail: tail(&String::from_utf8_lossy(&kept), TAIL_LINES),
        stopped,
    })
}

/// `sh -c script` in the main checkout with the agent's environment, its output (stdout
/// and stderr) into `writer`, in a process group of its own.
fn command(
    plan: &Plan,
    agent: &Agent,
    script: &str,
    writer: std::io::PipeWriter,
) -> Result<Command> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .current_dir(&plan.repo)
        .envs(&agent.env)
        .env("FLEET_AGENT", &agent.name)
        .env("FLEET_BRANCH", &agent.branch)
        .env("FLEET_WORKTREE", &plan.repo)
        .env("FLEET_LOG", &agent.log)
        .env("FLEET_PROJECT", &plan.project)
        .env("FLEET_MANIFEST", &plan.manifest)
        .stdin(Stdio::null())
        .stderr(writer.try_clone()?)
        .stdout(writer);
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    Ok(cmd)
}

/// Wait for verify to end; past `timeout_secs` or on an interrupt, `ender` stops its group
/// (and says why in the second value).
fn wait_stopping(
    child: &mut std::process::Child,
    ender: &mut util::Ender,
    timeout_secs: u64,
) -> (std::io::Result<std::process::ExitStatus>, Option<Stopped>) {
    let limit = Duration::from_secs(timeout_secs);
    let started = Instant::now();
    let mut stopped = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if stopped.is_none() {
            if util::interrupted() {
                stopped = Some(Stopped::Interrupt);
            } else if started.elapsed() >= limit {
                stopped = Some(Stopped::Timeout(timeout_secs));
            }
        }
        if stopped.is_some() {
            ender.push();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, stopped)
}

/// Run the agent's verify on the merge just made; when it fails (or is stopped: its time
/// limit, an interrupt), the merge is taken back. Either way the journal goes: verify gave
/// its verdict. Tracked files verify changed are named as its doing.
pub(super) fn judge(
    plan: &Plan,
    agent: &Agent,
    script: &str,
    mut entry: journal::Entry,
    made: (&str, &str),
) -> Result<Option<Stop>> {
    crate::info!("verify ({}): {script}", agent.name);
    let verified = run(plan, agent, script, &mut |pgid| {
        entry.verify_pgid = Some(pgid);
        journal::write(plan, &entry)
    });
    let left = left_changes(plan);
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            undo(plan, agent, made, "verify could not run", &left)?;
            journal::clear(plan)?;
            return Err(e);
        }
    };
    if verified.passed() {
        journal::clear(plan)?;
        crate::info!("verify passed");
        if !left.is_empty() {
            return Ok(Some(Stop::LeftChanges(left)));
        }
        return Ok(None);
    }
    let why = verified.failure();
    let undone = undo(plan, agent, made, &format!("verify {why}"), &left);
    journal::clear(plan)?;
    let undone = undone?;
    Ok(Some(Stop::Verify {
        script: script.to_string(),
        why,
        tail: verified.tail,
        left,
        head: match undone {
            git::Undone::Checkout => None,
            git::Undone::BranchOnly(head) => Some(head),
        },
    }))
}

/// The tracked files changed in the main checkout (after verify: what it changed).
fn left_changes(plan: &Plan) -> Vec<String> {
    git::changes(&plan.repo, false)
        .unwrap_or_default()
        .iter()
        .map(|l| l.get(3..).unwrap_or(l).to_string())
        .collect()
}

/// Take the merge `(before, after)` back on base (the branch, wherever HEAD is), or say why
/// not and how to by hand.
fn undo(
    plan: &Plan,
    agent: &Agent,
    (before, after): (&str, &str),
    why: &str,
    left: &[String],
) -> Result<git::Undone> {
    git::undo_merge(&plan.repo, &plan.base, after, before).map_err(|e| {
        let repo = util::shell_quote(&plan.repo.display().to_string());
        let cause = match left {
            [] => String::new(),
            _ => format!("{}'s verify left changes in {}; ", agent.name, left.join(", ")),
        };
        let now = git::rev_parse(&plan.repo, &format!("refs/heads/{}", plan.base))
            .unwrap_or_default();
        let hint = if now == after {
            format!(
                "`git -C {repo} reset --keep {}` goes back",
                git::short(before)
            )
        } else {
            format!(
                "{} moved on since, and fleet resets no work that came after it: `git -C {repo} revert` takes the merge back by hand",
                plan.base
            )
        };
        e.context(format!(
            "{why}, and fleet could not take the merge of {} back: {cause}{} is at {}, fleet's merge {}, the commit before it {} ({hint})",
            agent.branch,
            plan.base,
            git::short(&now),
            git::short(after),
            git::short(before),
        ))
    })
}

/// What is left of the verify of a `fleet merge` that was killed (its process group,
/// still working in the main checkout): ended (SIGTERM, SIGKILL after [`GRACE`]). Only
/// processes of that group whose working directory is in the checkout count, so a process
/// group id reused since is left alone.
pub fn end_orphan(plan: &Plan, pgid: Option<u32>) {
    let Some(pgid) = pgid else { return };
    let orphans = util::processes_on(&plan.repo)
        .into_iter()
        .any(|p| p.pgid == pgid as i32);
    if orphans {
        crate::info!(
            "ending the verify (process group {pgid}) the killed `fleet merge` left running"
        );
        util::Ender::new(pgid, GRACE).finish(Duration::from_secs(5));
    }
}

/// Read verify's output to its end: shown on stdout as it comes (not with `-q`), its last
/// [`KEEP_BYTES`] kept.
fn pump(mut reader: std::io::PipeReader, kept: &std::sync::Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    let show = !crate::util::quiet();
    let mut out = std::io::stdout();
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if show {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                let Ok(mut kept) = kept.lock() else { break };
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * KEEP_BYTES {
                    let cut = kept.len() - KEEP_BYTES;
                    kept.drain(..cut);
                }
            }
        }
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
