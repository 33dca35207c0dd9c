//! What `logs --follow` sleeps on, so that a follower costs nothing while its agent is
//! quiet: inotify on the log (its writes, its replacement) and on the agent's record (its
//! state), and a pidfd of the agent's runner (its end, which a killed session brings without
//! a word in the record). Where one of them is missing, it falls back to a timer: no inotify
//! (or no `.fleet` directories yet), a look every [`POLL`]; no pidfd of a running agent's
//! runner, a look at its session every [`SESSION_CHECK`].
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util;

/// With no inotify: how often the log and the record are looked at.
pub const POLL: Duration = Duration::from_millis(200);
/// With no pidfd of a running agent's runner: how often its session is looked for (a
/// vanished session means the agent is lost).
pub const SESSION_CHECK: Duration = Duration::from_secs(2);

/// The log's own events: written, truncated, replaced or removed.
const LOG_MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;
/// A directory's: a file in it appeared, was replaced or went (the log, the record).
const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_CLOSE_WRITE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// The watches of one followed agent (see the module doc).
pub struct Wake {
    inotify: Option<OwnedFd>,
    log: std::path::PathBuf,
    /// The watch on the log file itself, while there is one.
    log_wd: Option<i32>,
    /// The log's and the record's directories (one when they are the same), and their
    /// watches once there are all.
    dir_paths: Vec<PathBuf>,
    dirs: Vec<i32>,
    /// The names in those directories that matter: the log's and the record's.
    names: Vec<OsString>,
    /// The runner followed: its pid and a pidfd readable once it exited.
    runner: Option<(u32, OwnedFd)>,
    /// The runner followed has exited since [`Wake::runner`] was last told its pid.
    runner_gone: bool,
}

impl Wake {
    /// Watch `log` and the `record` of its agent.
    pub fn new(log: &Path, record: &Path) -> Wake {
        // SAFETY: inotify_init1 takes flags only; a valid fd is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        let mut dir_paths: Vec<PathBuf> = [log.parent(), record.parent()]
            .into_iter()
            .flatten()
            .map(Path::to_path_buf)
            .collect();
        dir_paths.dedup();
        let mut wake = Wake {
            inotify: (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }),
            log: log.to_path_buf(),
            log_wd: None,
            dir_paths,
            dirs: Vec::new(),
            names: [log, record]
                .iter()
                .filter_map(|p| p.file_name().map(OsString::from))
                .collect(),
            runner: None,
            runner_gone: false,
        };
        wake.watch_dirs();
        wake
    }

    /// Every directory watched: until then (the first `up` has not made them yet), the
    /// waits are on the [`POLL`] timer.
    fn complete(&self) -> bool {
        self.inotify.is_some() && self.dirs.len() == self.dir_paths.len()
    }

    /// Watch the directories not watched yet, then the log anew.
    fn watch_dirs(&mut self) {
        if self.complete() {
            return;
        }
        self.dirs = self
            .dir_paths
            .iter()
            .map_while(|d| self.add(d, DIR_MASK))
            .collect();
        self.watch_log();
    }

    /// Follow the runner `pid` (the running agent's record says which): woken when it
    /// exits. False when it cannot be followed so (no pidfd, not a runner any more): the
    /// caller looks at its session on a timer instead.
    pub fn runner(&mut self, pid: Option<u32>) -> bool {
        let Some(pid) = pid else {
            self.runner = None;
            return false;
        };
        if self.runner.as_ref().is_some_and(|(p, _)| *p == pid) {
            return true;
        }
        self.runner = None;
        self.runner_gone = false;
        let Ok(raw) = i32::try_from(pid) else {
            return false;
        };
        // SAFETY: pidfd_open takes a pid and flags; a valid fd is owned from here on.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
        let Ok(fd) = i32::try_from(fd) else {
            return false;
        };
        if fd < 0 {
            return false;
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Checked after the pidfd is held: it is that process, not one that took its pid.
        if !util::alive_with_arg(pid, "_run") {
            return false;
        }
        self.runner = Some((pid, fd));
        true
    }

    /// The runner followed exited (once: it is not followed any more after).
    pub fn runner_gone(&mut self) -> bool {
        std::mem::take(&mut self.runner_gone)
    }

    /// Sleep until the log or the record changed, the runner exited, a signal came, or
    /// `timeout` passed (None: no timeout, unless a fallback needs one).
    pub fn wait(&mut self, timeout: Option<Duration>) {
        self.watch_dirs();
        let timeout = match (self.complete(), timeout) {
            (false, t) => Some(t.map_or(POLL, |t| t.min(POLL))),
            (true, t) => t,
        };
        let fd = |f: Option<&OwnedFd>| f.map_or(-1, AsRawFd::as_raw_fd);
        let mut fds = [
            libc::pollfd {
                fd: fd(self.inotify.as_ref()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd(self.runner.as_ref().map(|(_, f)| f)),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos().into(),
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        util::blocking_stop_signals(|unblocked| {
            // SAFETY: two pollfd structs of our own with their count, a timespec or null,
            // and the signal mask to wait with.
            unsafe { libc::ppoll(fds.as_mut_ptr(), 2, ts_ptr, unblocked) }
        });
        if fds[1].revents != 0 {
            self.runner = None;
            self.runner_gone = true;
        }
        if fds[0].revents != 0 {
            self.read_events();
        }
    }

    /// Add a watch on `path`; its descriptor.
    fn add(&self, path: &Path, mask: u32) -> Option<i32> {
        let fd = self.inotify.as_ref()?;
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid inotify fd and a NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) };
        (wd >= 0).then_some(wd)
    }

    /// Watch the log file itself, when there is one (again after it was replaced).
    fn watch_log(&mut self) {
        if let Some(wd) = self.log_wd.take() {
            if let Some(fd) = self.inotify.as_ref() {
                // SAFETY: a valid inotify fd; a stale descriptor is refused, harmlessly.
                unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) };
            }
        }
        self.log_wd = self.add(&self.log, LOG_MASK);
    }

    /// Read the events waiting: a change to the log's or the record's name in their
    /// directories watches the log anew (it may be another file now); a directory that went
    /// is looked for on the timer until it is back.
    fn read_events(&mut self) {
        let Some(fd) = self.inotify.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let mut buf = [0u8; 4096];
        let mut renamed = false;
        crate::util::drain_inotify(fd, &mut buf, |wd, mask, name| {
            if mask & libc::IN_IGNORED != 0 && self.dirs.contains(&wd) {
                // A directory went (`.fleet` removed): watched again once it is back.
                self.dirs.clear();
            }
            use std::os::unix::ffi::OsStrExt;
            let named = self.names.iter().any(|m| m.as_bytes() == name);
            renamed |= self.dirs.contains(&wd) && named;
        });
        if renamed {
            self.watch_log();
        }
    }
}
