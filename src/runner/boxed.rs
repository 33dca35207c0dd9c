//! The runner's side of a sandboxed agent's box: the agent as the box builder sees it
//! (from the run spec); whether bwrap started the step's command at all (a box whose
//! setup failed is built again, see [`setup_failed`]); and the second line of defence
//! around each boxed step: the refs the box moved that were not its own, named in the log
//! and ending the agent `failed`.
use std::io::{PipeReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::Mutex;

use crate::sandbox::{self, Policy, Sandbox};
use crate::state::Spec;

use super::Tee;

/// A step's command, with the box it runs in (kept alive as long as the step).
pub(super) struct Boxed {
    pub(super) cmd: Command,
    pub(super) running: Running,
}

/// What stays of a step's box while the step runs: the box (its guards) and the read end
/// of bwrap's status pipe.
#[derive(Default)]
pub(super) struct Running {
    pub(super) sandbox: Option<Sandbox>,
    status: Option<PipeReader>,
}

/// How many times in all a box is built for one step when its setup keeps failing.
pub(super) const SETUP_TRIES: u32 = 4;

/// `bwrap ... -- sh -c script` for `sandbox`, bwrap writing its status (`--json-status-fd`)
/// on a pipe of its own: the write end is passed on to bwrap alone (its close-on-exec flag
/// cleared in the child only), so the pipe holds what bwrap said once it has exited.
pub(super) fn command(sandbox: Sandbox, script: &str) -> std::io::Result<(Command, Running)> {
    let (read, write) = std::io::pipe()?;
    let mut cmd = sandbox.command(script, Some(write.as_raw_fd()));
    // SAFETY: the closure runs in the forked child before exec and only calls fcntl, which
    // is async-signal-safe; it owns the write end, which lives as long as the Command.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(write.as_raw_fd(), libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let running = Running {
        sandbox: Some(sandbox),
        status: Some(read),
    };
    Ok((cmd, running))
}

/// Whether a boxed step that ended by itself (exited, not killed, not stopped by fleet)
/// never ran its command: bwrap's setup of the box failed. bubblewrap writes
/// `{"exit-code": N}` on its status fd only when the box was set up and the command
/// executed (in its source: nothing when "the pipe closed before exec"); `child-pid` comes
/// either way. What bwrap said is on the step's output; its text is not read here.
pub(super) fn setup_failed(
    running: &mut Running,
    status: &std::io::Result<ExitStatus>,
    stopped: bool,
) -> bool {
    let Some(pipe) = running.status.as_mut() else {
        return false;
    };
    let exited = matches!(status, Ok(s) if s.code().is_some());
    exited && !stopped && !started(pipe)
}

/// Whether bwrap's status (read once it has exited, without blocking: a process it left
/// may still hold the pipe) says its command ran.
fn started(pipe: &mut PipeReader) -> bool {
    // SAFETY: fcntl on a descriptor this process owns.
    let fd = pipe.as_raw_fd();
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut said = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&said).lines().any(|line| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.get("exit-code").is_some())
    })
}

/// The one line a box whose setup failed says, with what bwrap said last (`said`: the
/// step's output, which was bwrap's alone: the command never started): built again, or,
/// its last try, given up.
pub(super) fn rebuilding(said: &[u8], attempt: u32) -> String {
    let said = String::from_utf8_lossy(said);
    let last = said
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no word from it");
    if attempt >= SETUP_TRIES {
        return format!(
            "[fleet] the box was not set up ({last}); the step's command never started: given up after {SETUP_TRIES} tries"
        );
    }
    format!(
        "[fleet] the box was not set up ({last}); the step's command never started: the repository changed while the box was built; building it again (try {} of {SETUP_TRIES})",
        attempt + 1
    )
}

/// The agent a box is built for, from its run spec.
pub(super) fn box_agent<'a>(spec: &'a Spec, policy: &Policy) -> sandbox::Agent<'a> {
    let state_dir = spec
        .record
        .parent()
        .and_then(|agents| agents.parent())
        .unwrap_or(&spec.worktree);
    let mut reads: Vec<PathBuf> = vec![spec.task.clone()];
    reads.extend(spec.manifest.parent().map(PathBuf::from));
    if let Some(path) = &spec.path {
        reads.extend(std::env::split_paths(path).filter(|p| p.is_absolute()));
    }
    if let Ok(exe) = std::env::current_exe() {
        reads.extend(exe.parent().map(PathBuf::from));
    }
    sandbox::Agent {
        name: &spec.agent,
        worktree: &spec.worktree,
        branch: &spec.branch,
        preset: policy.cli,
        permissions: spec.launch.permissions,
        interactive: spec.interactive,
        state_dir,
        reads,
        env: &spec.env,
        mcp: spec.launch.mcp.as_ref(),
    }
}

/// The refs boxed steps of this run moved that were not theirs to move.
static MOVED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// After a boxed step: the refs it moved that were not its own, said on `out` and kept
/// for [`moved_refs`].
pub(super) fn check_refs(sandbox: Option<&Sandbox>, out: &mut Tee) {
    let Some(sandbox) = sandbox else { return };
    let after = sandbox::refs_now(sandbox);
    let moved = sandbox::moved_refs(sandbox, &after);
    if moved.is_empty() {
        return;
    }
    out.line(&format!(
        "[fleet] the sandboxed step moved refs that are not its branch's: {}",
        moved.join(", ")
    ));
    if let Ok(mut all) = MOVED.lock() {
        all.extend(moved);
    }
}

/// Every ref a boxed step of this run moved that was not its own.
pub(super) fn moved_refs() -> Vec<String> {
    let mut moved = MOVED.lock().map(|m| m.clone()).unwrap_or_default();
    moved.sort();
    moved.dedup();
    moved
}
