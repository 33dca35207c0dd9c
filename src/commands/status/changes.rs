//! What `status --watch` (the monitor's status pane) is told by the kernel instead of asking
//! git and tmux every second: inotify on every agent's worktree (each directory, added as
//! new ones appear), on its git dir (index, HEAD), on the repository's git dir and its
//! branches (`refs/heads`), and on the agents' records. A refresh runs git only after
//! something changed in a worktree or a branch moved, and asks tmux for the sessions only
//! after a record changed (or at the slow refresh). A place that cannot be watched (no
//! inotify, the watch limit reached, a worktree of more than [`MAX_DIRS`] directories) makes
//! every refresh count as changed: the refresh of before, never a stale frame.
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::manifest::Plan;

/// The most directories watched in one worktree; past it, the worktree is looked at with
/// git at every refresh instead (a `node_modules` of 20,000 directories would take the
/// user's inotify watches for nothing).
const MAX_DIRS: usize = 4096;

/// What changed since it was last asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    /// A worktree, a git dir or a branch: the git work may differ.
    pub git: bool,
    /// An agent's record: its state may differ (and with it, its session).
    pub records: bool,
}

/// The watches of one fleet (see the module doc).
pub struct Changes {
    fd: Option<OwnedFd>,
    /// Each watch: the directory, whether it is a record directory, and whether the
    /// directories appearing under it are watched too.
    watches: HashMap<i32, (PathBuf, bool, bool)>,
    /// Places to watch that are not (yet) there: (path, recursive), tried again each time.
    missing: Vec<(PathBuf, bool)>,
    changed: Changed,
    /// Some place could not be watched whole: git counts as changed at every refresh.
    blind: bool,
}

const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_DONT_FOLLOW
    | libc::IN_ONLYDIR;

impl Changes {
    /// Watch what `plan`'s agents work in; everything counts as changed at first.
    pub fn new(plan: &Plan) -> Changes {
        // SAFETY: inotify_init1 takes flags only; a valid fd is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        let mut changes = Changes {
            fd: (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }),
            watches: HashMap::new(),
            missing: Vec::new(),
            changed: Changed {
                git: true,
                records: true,
            },
            blind: fd < 0,
        };
        let common = plan.repo.join(".git");
        changes.missing.push((common.clone(), false));
        changes
            .missing
            .push((common.join("refs").join("heads"), true));
        for agent in &plan.agents {
            changes.missing.push((agent.worktree.clone(), true));
            changes.missing.push((
                common.join("worktrees").join(worktree_id(&agent.worktree)),
                false,
            ));
        }
        changes.missing.push((plan.state_dir.join("agents"), false));
        changes.look_again();
        changes
    }

    /// What changed since the last call (the events read now, the places that appeared
    /// watched from now on).
    pub fn take(&mut self) -> Changed {
        self.read_events();
        self.look_again();
        let changed = Changed {
            git: self.changed.git || self.blind,
            records: self.changed.records || self.blind,
        };
        self.changed = Changed::default();
        changed
    }

    /// Watch the places that were missing and are there now (a worktree `up` made after the
    /// monitor started): each counts as a change.
    fn look_again(&mut self) {
        let missing = std::mem::take(&mut self.missing);
        for (path, recursive) in missing {
            if path.is_dir() {
                let records = path.ends_with("agents");
                self.mark(records);
                self.add(&path, records, recursive, &mut 0);
            } else {
                self.missing.push((path, recursive));
            }
        }
    }

    fn mark(&mut self, records: bool) {
        if records {
            self.changed.records = true;
        } else {
            self.changed.git = true;
        }
    }

    /// Watch `dir` (and, `recursive`, every directory under it but `.git`), `count`ing the
    /// directories; blind past [`MAX_DIRS`] or when the kernel refuses a watch.
    fn add(&mut self, dir: &Path, records: bool, recursive: bool, count: &mut usize) {
        let Some(fd) = self.fd.as_ref() else {
            self.blind = true;
            return;
        };
        *count += 1;
        if *count > MAX_DIRS {
            self.blind = true;
            return;
        }
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            self.blind = true;
            return;
        };
        // SAFETY: a valid inotify fd and a NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), MASK) };
        if wd < 0 {
            // Gone meanwhile: nothing to watch; else the watch limit or no right to read.
            if dir.exists() {
                self.blind = true;
            }
            return;
        }
        self.watches
            .insert(wd, (dir.to_path_buf(), records, recursive));
        if !recursive {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != ".git" {
                self.add(&entry.path(), records, true, count);
            }
        }
    }

    /// Read every event waiting: mark what changed, watch the directories that appeared
    /// under a watched tree, and take note of watched places that went.
    fn read_events(&mut self) {
        let Some(fd) = self.fd.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // SAFETY: reading into a buffer of its own length from a non-blocking fd.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else {
                return; // EAGAIN: nothing more
            };
            if n == 0 {
                return;
            }
            let mut at = 0;
            while at + 16 <= n {
                let word = |i: usize| {
                    let b = &buf[at + i..at + i + 4];
                    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
                };
                let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
                let name_end = (at + 16 + len).min(n);
                let name: Vec<u8> = buf[at + 16..name_end]
                    .iter()
                    .copied()
                    .take_while(|b| *b != 0)
                    .collect();
                self.event(wd, mask, &name);
                at = name_end;
            }
        }
    }

    /// One event of watch `wd`.
    fn event(&mut self, wd: i32, mask: u32, name: &[u8]) {
        if mask & libc::IN_Q_OVERFLOW != 0 {
            self.changed = Changed {
                git: true,
                records: true,
            };
            return;
        }
        let Some((dir, records, recursive)) = self.watches.get(&wd).cloned() else {
            return;
        };
        self.mark(records);
        if mask & libc::IN_IGNORED != 0 {
            // The directory went (a worktree removed): watched again if it comes back.
            self.watches.remove(&wd);
            self.missing.push((dir, recursive));
            return;
        }
        let new_dir = mask & libc::IN_ISDIR != 0
            && mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0
            && name != b".git";
        if recursive && new_dir {
            use std::os::unix::ffi::OsStrExt;
            let path = dir.join(std::ffi::OsStr::from_bytes(name));
            self.add(&path, records, true, &mut 0);
        }
    }
}

/// The name git gives a worktree's own git dir (`.git/worktrees/<name>`): the worktree's
/// `.git` file says where it is; else the worktree directory's name, as `git worktree add`
/// makes it.
fn worktree_id(worktree: &Path) -> String {
    let named = std::fs::read_to_string(worktree.join(".git"))
        .ok()
        .and_then(|t| {
            let dir = PathBuf::from(t.trim().strip_prefix("gitdir: ")?);
            Some(dir.file_name()?.to_string_lossy().to_string())
        });
    named.unwrap_or_else(|| {
        worktree
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    })
}
