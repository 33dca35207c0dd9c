//! The lock that keeps fleet commands that change things one at a time (`.fleet/lock`, a
//! `flock`): the only place that takes it, and that names its holder when it cannot.
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Dir;

impl Dir {
    /// Take the lock for a command that changes things; waits up to `wait`, then fails
    /// naming the holder. Released when the guard drops.
    pub fn lock(&self, wait: Duration) -> Result<Lock> {
        self.create()?;
        let path = self.root.join("lock");
        let mut file = crate::safe_fs::open(&path, crate::safe_fs::How::Lock)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => bail!("{}", held_by(&file, &path)),
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()))
                }
            }
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        Ok(Lock { _file: file })
    }
}

/// The lock of one agent's start (`.fleet/run/<agent>.lock` beside its run spec at
/// `spec`): the starter holds it from before the agent's session exists until its record
/// says it runs, and the agent's runner takes it before it reads and rewrites that record.
/// So a record says `running` only once its session exists (a reader never sees a starting
/// agent `lost`), and the runner always reads what the starter wrote. Waits as long as it
/// takes (the starter holds it for one tmux call and a few small writes).
pub fn hold_start(spec: &Path) -> Result<Lock> {
    let path = spec.with_extension("lock");
    let file = crate::safe_fs::open(&path, crate::safe_fs::How::Lock)?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(Lock { _file: file })
}

impl Dir {
    /// [`hold_start`] of `agent`.
    pub fn hold_start(&self, agent: &str) -> Result<Lock> {
        hold_start(&self.spec_path(agent))
    }

    /// [`hold_end`] of `agent`.
    pub fn hold_end(&self, agent: &str) -> Result<Lock> {
        hold_end(&self.spec_path(agent))
    }

    /// Waits until whoever writes the end of `agent`'s run ([`hold_end`]) has written all
    /// of it: once a reader has seen the record say the run ended, its closing line is in
    /// the log when this returns. At once when nobody holds it, or it was never made (a
    /// holder that died lets go with its last file). A shared lock: readers never wait
    /// for each other.
    pub fn await_end(&self, agent: &str) {
        let path = self.spec_path(agent).with_extension("end");
        if let Ok(file) = fs::File::open(&path) {
            let _ = file.lock_shared();
        }
    }
}

/// The lock of one agent's end (`.fleet/run/<agent>.end` beside its run spec at `spec`),
/// held by whoever ends its run (its runner, or `fleet down` stopping it) from before the
/// record says how it ended until the closing line is in the log: the record first, so no
/// reader sees a closing line beside a record that still says running; and a reader that
/// saw the end in the record and must show that line (`logs -f`) waits for this lock
/// ([`Dir::await_end`]) instead of stopping before the line is there.
pub fn hold_end(spec: &Path) -> Result<Lock> {
    let path = spec.with_extension("end");
    let file = crate::safe_fs::open(&path, crate::safe_fs::How::Lock)?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(Lock { _file: file })
}

/// Who holds the lock, as the kernel says (`/proc/locks`, matched by device and inode), not
/// as the file says: a fleet command writes its pid there once it holds the lock, so a holder
/// whose pid is not the one written is another program (the file then holds nothing, or the
/// pid of an earlier fleet command), and is named as such.
fn held_by(file: &fs::File, path: &Path) -> String {
    let written = fs::read_to_string(path).unwrap_or_default();
    let written = written.trim().parse::<u32>().ok();
    let fleet = |pid: u32| {
        format!(
            "another fleet command is running (pid {pid}) on {}; wait for it to finish",
            path.parent().unwrap_or(path).display()
        )
    };
    match (lock_holder(file), written) {
        (Some(pid), Some(w)) if pid == w => fleet(pid),
        (Some(pid), _) => {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let comm = match comm.trim() {
                "" => " (ended, but a process it started still holds it)".to_string(),
                c => format!(" (`{c}`)"),
            };
            format!(
                "{} is locked by pid {pid}{comm}, which is not a fleet command; end it or wait for it, then try again (`fuser {}` lists the holders)",
                path.display(),
                path.display()
            )
        }
        // No /proc/locks to ask: trust the file when it names a pid.
        (None, Some(w)) => fleet(w),
        (None, None) => format!(
            "{} is locked by another process, which wrote no pid there (not a fleet command); `fuser {}` finds it",
            path.display(),
            path.display()
        ),
    }
}

/// The pid holding a `flock` on this open file, from `/proc/locks` (lines like `1: FLOCK
/// ADVISORY WRITE 1234 08:01:5678 0 EOF`; `->` lines are waiters); None when not found.
fn lock_holder(file: &fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    // glibc's major()/minor() of a dev_t.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let text = fs::read_to_string("/proc/locks").ok()?;
    text.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(1) == Some(&"->") {
            return None;
        }
        let mut at = words.get(5)?.split(':');
        let (ma, mi, ino) = (at.next()?, at.next()?, at.next()?);
        let same = u64::from_str_radix(ma, 16).ok()? == major
            && u64::from_str_radix(mi, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == meta.ino();
        same.then(|| words.get(4)?.parse().ok()).flatten()
    })
}

/// Held while a fleet command changes things.
pub struct Lock {
    _file: fs::File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::new(&tmp.path().join(".fleet"));
        let held = dir.lock(Duration::from_millis(10)).unwrap();
        let err = dir.lock(Duration::from_millis(100)).err().unwrap();
        assert!(format!("{err:#}").contains("another fleet command is running"));
        drop(held);
        dir.lock(Duration::from_millis(10)).unwrap();
    }
}
