//! The agent's `verify:` run on a merge's result, in the main checkout: `sh -c VERIFY` there
//! with the agent's environment (`env:` and the `FLEET_*` variables, `FLEET_WORKTREE` the
//! main checkout), its output shown as it comes (not with `-q`) and its last lines kept for
//! the report and for the agent. The runner runs an agent's verify in its worktree; this is
//! the one place fleet runs it anywhere else.
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::manifest::{Agent, Plan};

/// How many of verify's last lines the report and the agent get.
pub const TAIL_LINES: usize = 40;
/// How much of verify's output is kept (its end) to take the last lines from.
const KEEP_BYTES: usize = 64 * 1024;

/// How verify ended.
pub struct Verified {
    /// Its exit code (128+N when killed by signal N).
    pub code: i32,
    /// Its last [`TAIL_LINES`] lines of output (stdout and stderr as they came).
    pub tail: String,
}

/// Run `script` (the agent's verify) in the main checkout, to its end.
pub fn run(plan: &Plan, agent: &Agent, script: &str) -> Result<Verified> {
    let (reader, writer) = std::io::pipe().context("cannot create a pipe for verify")?;
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
    if crate::util::verbose() {
        crate::util::trace("sh", &["-c", script]);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `sh -c {script}`"))?;
    // The write ends must go before reading to the end.
    drop(cmd);
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (done, ended) = std::sync::mpsc::channel();
    let into = kept.clone();
    std::thread::spawn(move || {
        pump(reader, &into);
        let _ = done.send(());
    });
    let status = child.wait().context("cannot wait for verify")?;
    // A process verify left in the background may hold the pipe: read on for two seconds
    // after verify itself ended, no longer.
    let _ = ended.recv_timeout(std::time::Duration::from_secs(2));
    let kept = kept.lock().map(|k| k.clone()).unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Verified {
        code,
        tail: tail(&String::from_utf8_lossy(&kept), TAIL_LINES),
    })
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
