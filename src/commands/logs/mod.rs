//! `fleet logs NAME [-f] [-n N]`: the last lines of an agent's log; `-f` follows it until the
//! agent exits (or Ctrl-C), waiting for a log that does not exist yet, asleep until the log,
//! the agent's record or its runner changes ([`wake`]). An agent on another host: its
//! fleet's `logs` there, over ssh.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::LogsArgs;
use crate::manifest::{Agent, Plan};
use crate::state::State;
use crate::util;
use crate::view::state_of;

mod wake;

use wake::{Wake, SESSION_CHECK};

pub fn run(plan: &Plan, args: &LogsArgs) -> Result<i32> {
    if let Some(r) = plan.remote_agent(&args.name) {
        return crate::hosts::remote::logs(plan, r, args.lines, args.follow, args.monitor);
    }
    let agent = plan.agent(&args.name)?;
    let mut out = std::io::stdout().lock();
    let mut offset = match File::open(&agent.log) {
        Ok(mut f) => {
            let (tail, end) = last_lines(&mut f, args.lines)
                .with_context(|| format!("cannot read {}", agent.log.display()))?;
            out.write_all(&tail)?;
            out.flush()?;
            Some(end)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !args.follow {
                eprintln!(
                    "{}: no log at {} (`{}` starts the agent)",
                    agent.name,
                    agent.log.display(),
                    crate::launch::up_hint(plan, &agent.name, {
                        let record = crate::state::Dir::new(&plan.state_dir).record(&agent.name);
                        crate::state::Record::derive(record.as_ref(), false)
                    })
                );
            }
            None
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", agent.log.display()));
        }
    };
    if !args.follow {
        return Ok(0);
    }
    util::defer_interrupts_quietly();
    let record = crate::state::Dir::new(&plan.state_dir).record_path(&agent.name);
    let mut wake = Wake::new(&agent.log, &record);
    let mut watch = Watch::new(plan, agent);
    loop {
        // Decide first, then read what is new: once the record says the run ended, its
        // closing line (written after the record, under the end lock) is in the log when
        // the lock is free, so nothing is missed.
        let ended = watch.ended(&mut wake);
        if ended && !args.monitor {
            crate::state::Dir::new(&plan.state_dir).await_end(&agent.name);
        }
        offset = copy_new(&agent.log, offset, &mut out)?;
        // The monitor's pane follows on (a rerun or `continue` writes to the same log).
        if (ended && !args.monitor) || util::interrupted() {
            return Ok(0);
        }
        wake.wait(watch.timeout());
    }
}

/// Print what the log got since `offset` (all of it for a log that appeared, from the start
/// again for one that shrank); the new offset.
fn copy_new(log: &Path, offset: Option<u64>, out: &mut impl Write) -> Result<Option<u64>> {
    let Ok(mut f) = File::open(log) else {
        return Ok(offset);
    };
    let len = f.metadata()?.len();
    let from = match offset {
        Some(o) if o <= len => o,
        _ => 0,
    };
    if from == len {
        return Ok(Some(len));
    }
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    Read::by_ref(&mut f)
        .take(len - from)
        .read_to_end(&mut buf)?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(Some(from + buf.len() as u64))
}

/// The last `n` lines of the file and its length.
fn last_lines(f: &mut File, n: usize) -> std::io::Result<(Vec<u8>, u64)> {
    let len = f.metadata()?.len();
    if n == 0 {
        return Ok((Vec::new(), len));
    }
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    // Read backwards in blocks until n+1 newlines (the first one ends the line before).
    loop {
        let newlines = buf.iter().filter(|&&b| b == b'\n').count();
        let wanted = if buf.last() == Some(&b'\n') { n + 1 } else { n };
        if start == 0 || newlines > wanted {
            break;
        }
        let block = start.min(64 * 1024);
        start -= block;
        f.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0u8; block as usize];
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let skip_last_newline = usize::from(buf.last() == Some(&b'\n'));
    let cut = buf
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, &b)| b == b'\n')
        .nth(n + skip_last_newline - 1)
        .map(|(i, _)| i + 1);
    let tail = match cut {
        Some(i) => buf[i..].to_vec(),
        None => buf,
    };
    Ok((tail, len))
}

/// Tells when a followed agent has ended: its record says it finished or was stopped, or
/// its session is gone while the record still says running (lost). tmux is asked about the
/// session when following begins and when the runner exited; without a pidfd of the runner,
/// every [`SESSION_CHECK`].
struct Watch<'a> {
    plan: &'a Plan,
    agent: &'a Agent,
    checked: Option<Instant>,
    /// The record says running and its runner cannot be waited on: look on a timer.
    blind: bool,
}

impl<'a> Watch<'a> {
    fn new(plan: &'a Plan, agent: &'a Agent) -> Self {
        Self {
            plan,
            agent,
            checked: None,
            blind: false,
        }
    }

    fn ended(&mut self, wake: &mut Wake) -> bool {
        let record = crate::state::Dir::new(&self.plan.state_dir).record(&self.agent.name);
        self.blind = false;
        match record.as_ref().and_then(|r| r.state) {
            Some(State::Done | State::Failed | State::Stopped | State::Damaged) => true,
            Some(State::Running | State::Waiting) => {
                let gone = wake.runner_gone();
                let followed = wake.runner(record.as_ref().and_then(|r| r.pid));
                // A runner gone while the record says running: looked at on the timer until
                // its session is gone too (or a new runner records itself).
                self.blind = !followed;
                let due = match self.checked {
                    None => true,
                    Some(t) => gone || (self.blind && t.elapsed() >= SESSION_CHECK),
                };
                if !due {
                    return false;
                }
                self.checked = Some(Instant::now());
                state_of(self.plan, self.agent).is_ok_and(|(view, _)| view.state == State::Lost)
            }
            // Not started yet (or queued): keep waiting for it.
            _ => {
                wake.runner(None);
                false
            }
        }
    }

    /// How long to sleep at most before looking again (None: until something changes).
    fn timeout(&self) -> Option<std::time::Duration> {
        self.blind.then(|| {
            let since = self.checked.map_or(SESSION_CHECK, |t| t.elapsed());
            SESSION_CHECK.saturating_sub(since)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(text: &str, n: usize) -> String {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), text).unwrap();
        let mut f = File::open(tmp.path()).unwrap();
        let (t, len) = last_lines(&mut f, n).unwrap();
        assert_eq!(len, text.len() as u64);
        String::from_utf8(t).unwrap()
    }

    #[test]
    fn last_lines_of_a_file() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\nc\n", 5), "a\nb\nc\n");
        assert_eq!(tail("a\nb\nc\n", 0), "");
        assert_eq!(tail("", 3), "");
        let long: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&long, 2), "line 99998\nline 99999\n");
    }
}
