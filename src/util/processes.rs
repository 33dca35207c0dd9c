//! Processes as `/proc` shows them: the only place that finds fleet's runners and the
//! processes working in a directory, and ends process groups for good (waiting them out,
//! or, for a child fleet runs, SIGTERM first and SIGKILL after a grace: [`Ender`]).
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::signals::{kill, signal_group, SIGKILL, SIGTERM};

/// Ends a process group fleet started (a runner's step past its limits, the merge train's
/// verify past its time or on Ctrl-C): SIGTERM to the whole group, then SIGKILL once the
/// grace has passed. [`Ender::push`] is called again and again while its leader runs.
#[derive(Debug)]
pub struct Ender {
    pgid: u32,
    grace: Duration,
    since: Option<Instant>,
}

impl Ender {
    /// For the group `pgid` (a child started with `process_group(0)`: its pid).
    pub fn new(pgid: u32, grace: Duration) -> Self {
        Ender {
            pgid,
            grace,
            since: None,
        }
    }

    /// SIGTERM to the group on the first call; SIGKILL on each call once the grace is over.
    pub fn push(&mut self) {
        match self.since {
            None => {
                signal_group(self.pgid, SIGTERM);
                self.since = Some(Instant::now());
            }
            Some(at) if at.elapsed() > self.grace => signal_group(self.pgid, SIGKILL),
            Some(_) => {}
        }
    }

    /// When [`Ender::push`] has something to do next: now before the first call, then at
    /// the end of the grace (SIGKILL), then every second while the group lives on.
    pub fn due(&self) -> Instant {
        match self.since {
            None => Instant::now(),
            Some(at) if at.elapsed() > self.grace => Instant::now() + Duration::from_secs(1),
            Some(at) => at + self.grace + Duration::from_millis(1),
        }
    }

    /// Whatever is left of the group once its leader ended (what it started in the
    /// background): SIGTERM, SIGKILL after the grace, waited out up to `wait` more. False
    /// when some process is still there.
    pub fn finish(&mut self, wait: Duration) -> bool {
        let group = [self.pgid as i32];
        if !groups_alive(&group) {
            return true;
        }
        if self.since.is_none() {
            self.push();
        }
        let grace = self
            .since
            .map_or(self.grace, |at| self.grace.saturating_sub(at.elapsed()));
        end_groups(&group, grace, wait)
    }
}

/// Is process `pid` alive, with `word` among its arguments (`merge` of a `fleet merge`)?
/// Read from `/proc`; false where there is none.
pub fn alive_with_arg(pid: u32, word: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    cmdline.split(|b| *b == 0).any(|a| a == word.as_bytes())
}

/// Is process `pid` a fleet runner of this run spec (`fleet _run SPEC`), still alive?
/// Read from `/proc`; false where there is none.
pub fn runner_alive(pid: u32, spec: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    use std::os::unix::ffi::OsStrExt;
    let spec = spec.as_os_str().as_bytes();
    args.windows(2).any(|w| w[0] == b"_run" && w[1] == spec)
}

/// A live process as `/proc` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
}

/// Every live (not zombie) process of this user but this one, from `/proc`; with each, its
/// working directory and arguments when `detail` (else empty).
fn processes(detail: bool) -> Vec<(Proc, Option<std::path::PathBuf>, Vec<Vec<u8>>)> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`; comm may hold anything, so read after its last `)`.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || fields[0] == "Z" || fields[0] == "X" {
            continue;
        }
        let (Ok(ppid), Ok(pgid)) = (fields[1].parse(), fields[2].parse()) else {
            continue;
        };
        let proc = Proc { pid, ppid, pgid };
        if detail {
            let cwd = fs::read_link(e.path().join("cwd")).ok();
            let args = fs::read(e.path().join("cmdline"))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .map(<[u8]>::to_vec)
                .collect();
            found.push((proc, cwd, args));
        } else {
            found.push((proc, None, Vec::new()));
        }
    }
    found
}

/// The processes working on `path`: their working directory is in it, or one of their
/// arguments names it (a `git worktree add PATH`, a `git -C PATH checkout`, its hooks).
pub fn processes_on(path: &Path) -> Vec<Proc> {
    use std::os::unix::ffi::OsStrExt;
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let names = [path.as_os_str().as_bytes(), real.as_os_str().as_bytes()];
    processes(true)
        .into_iter()
        .filter(|(_, cwd, args)| {
            cwd.as_ref()
                .is_some_and(|c| c.starts_with(path) || c.starts_with(&real))
                || args.iter().any(|a| names.contains(&a.as_slice()))
        })
        .map(|(p, _, _)| p)
        .collect()
}

/// The process groups of `pid` and of all its descendants.
pub fn process_groups_of(pid: u32) -> Vec<i32> {
    let all: Vec<Proc> = processes(false).into_iter().map(|(p, _, _)| p).collect();
    let mut tree = vec![pid as i32];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    let mut groups: Vec<i32> = all
        .iter()
        .filter(|p| tree.contains(&p.pid))
        .map(|p| p.pgid)
        .filter(|g| *g > 1)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Is any live (not zombie) process left in one of these process groups?
pub fn groups_alive(groups: &[i32]) -> bool {
    !groups.is_empty()
        && processes(false)
            .iter()
            .any(|(p, _, _)| groups.contains(&p.pgid))
}

/// Stop these processes for good: SIGKILL to the process group of each that leads its own
/// (a git fleet started in a group of its own, with its hooks), else to the process alone;
/// then wait until they are gone, up to `wait`. False when some is still there.
pub fn kill_and_wait(procs: &[Proc], wait: std::time::Duration) -> bool {
    for p in procs {
        let target = if p.pgid == p.pid { -p.pid } else { p.pid };
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            kill(target, SIGKILL);
        }
    }
    let deadline = std::time::Instant::now() + wait;
    let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();
    loop {
        let left = processes(false).iter().any(|(p, _, _)| {
            pids.contains(&p.pid) || procs.iter().any(|q| q.pgid == q.pid && p.pgid == q.pid)
        });
        if !left {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// End every process of these groups: give them `grace` to end by themselves (they were
/// sent SIGHUP), then SIGKILL each group and wait until it is gone (up to `wait`). False
/// when some process is still there.
pub fn end_groups(groups: &[i32], grace: std::time::Duration, wait: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + grace;
    while groups_alive(groups) {
        if std::time::Instant::now() > deadline {
            for g in groups {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe {
                    kill(-g, SIGKILL);
                }
            }
            let deadline = std::time::Instant::now() + wait;
            while groups_alive(groups) {
                if std::time::Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}
