//! The ssh masters fleet keeps between its commands: one connection (`ControlMaster`) per
//! host, kept alive by ssh itself for [`PERSIST_SECS`] after its last session
//! (`ControlPersist`), so a warm `status`, `diff`, `logs` or `merge` of a remote agent pays no
//! login. They live in fleet's private control directory ([`super::ssh::control_dir`]) as
//! sockets `KEY-I`, KEY naming the destination and its options (two entries of `hosts:`
//! that ssh the same way share their masters), I the master's number.
//!
//! Sessions are counted, so a master never carries more than the host's `max_sessions:`
//! (default [`crate::manifest::DEFAULT_SESSIONS`], below sshd's default `MaxSessions` of 10: an 11th session
//! on a connection is refused by sshd, and ssh does not say so in advance). A session holds
//! one slot: the `flock` of a file `KEY-I.J.slot` (J below the cap), taken without waiting
//! and released when the session ends, also when fleet dies (the kernel drops the lock).
//! When every slot of master 0 is taken, the session goes to master 1 (started then), and
//! so on up to [`MAX_MASTERS`]; when all are full it waits for a slot. Every fleet command
//! and thread counts in the same files, so concurrent commands never exceed the cap.
//!
//! A master is started under the `flock` of `KEY-I.start` (two commands never start the same
//! one twice) and is alive while its socket accepts a connection. `fleet down` stops the
//! masters of the hosts it reached (`ssh -O stop`: no new sessions, the master ends with
//! its last one).
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::manifest::Host;
use crate::safe_fs::{self, How};

/// How long a master stays after its last session ended (ssh's `ControlPersist`).
pub const PERSIST_SECS: u32 = 600;
/// Masters per host at most; a session waits for a slot when all are full.
pub const MAX_MASTERS: usize = 8;
/// How often a session that found every slot taken looks again.
const FULL_WAIT: Duration = Duration::from_millis(20);

/// One host's masters in the control directory.
pub struct Pool {
    dir: PathBuf,
    key: String,
    cap: usize,
}

/// A session's place on a master: its socket, and the slot held until this drops.
pub struct Slot {
    pub ctl: PathBuf,
    _lock: File,
}

/// The name of a destination and its options in the control directory: a hash of the words
/// ssh gets (short: a socket's path holds at most 107 bytes).
fn key_of(host: &Host, args: &[String]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    host.ssh.hash(&mut h);
    args.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// A master answers on `socket` (a master that ended removes it; one killed leaves it,
/// refusing connections).
pub fn alive(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

impl Pool {
    /// The masters of `host` reached with `args` (the options every ssh of it gets), in
    /// `dir`.
    pub fn new(dir: PathBuf, host: &Host, args: &[String]) -> Pool {
        Pool {
            key: key_of(host, args),
            cap: host.max_sessions.max(1),
            dir,
        }
    }

    /// The socket of master `i`.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}-{i}", self.key))
    }

    fn file(&self, name: String) -> Result<File> {
        safe_fs::open(&self.dir.join(format!("{}-{name}", self.key)), How::Lock)
    }

    /// A free slot on the first master with one, that master started when it is not alive
    /// (`start(socket)` starts it); waits while every slot of every master is taken.
    pub fn slot(&self, start: &dyn Fn(&Path) -> Result<()>) -> Result<Slot> {
        loop {
            for i in 0..MAX_MASTERS {
                for j in 0..self.cap {
                    let lock = self.file(format!("{i}.{j}.slot"))?;
                    if lock.try_lock().is_err() {
                        continue;
                    }
                    let ctl = self.socket(i);
                    self.ensure(i, &ctl, start)?;
                    return Ok(Slot { ctl, _lock: lock });
                }
            }
            if crate::util::interrupted() {
                bail!("interrupted while waiting for an ssh session");
            }
            std::thread::sleep(FULL_WAIT);
        }
    }

    /// Master `i` alive: started (under its start lock) when its socket does not answer.
    fn ensure(&self, i: usize, ctl: &Path, start: &dyn Fn(&Path) -> Result<()>) -> Result<()> {
        if alive(ctl) {
            return Ok(());
        }
        let lock = self.file(format!("{i}.start"))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", self.dir.display()))?;
        if alive(ctl) {
            return Ok(());
        }
        // A master that was killed leaves its socket behind.
        let _ = std::fs::remove_file(ctl);
        start(ctl)
    }

    /// The sockets of the masters that are alive.
    pub fn masters(&self) -> Vec<PathBuf> {
        (0..MAX_MASTERS)
            .map(|i| self.socket(i))
            .filter(|s| alive(s))
            .collect()
    }

    /// Stops every master (`ssh -O stop`: no new sessions; each ends with its last one);
    /// `ssh` is the ssh command over a socket, ready for `-O`.
    pub fn stop(&self, ssh: &dyn Fn(&Path) -> Command, destination: &str) {
        for socket in self.masters() {
            let mut cmd = ssh(&socket);
            cmd.args(["-O", "stop", "--", destination])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = cmd.status();
        }
    }
}
