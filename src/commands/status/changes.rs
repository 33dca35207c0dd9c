//! What `status --watch` (the monitor's status pane) is told by the kernel instead of asking
//! git and tmux every second: inotify on every agent's worktree (each directory, added as
//! new ones appear), on its git dir (index, HEAD), on the repository's git dir and its
//! branches (`refs/heads`), on the agents' records, rounds and logs. A refresh runs git only
//! after something changed in a worktree or a branch moved, asks tmux for the sessions only
//! after a record changed (or at the slow refresh), and reads again only the records, rounds
//! and logs that changed ([`Changed::files`]). A place that cannot be watched (no inotify,
//! the watch limit reached, a worktree of more than [`MAX_DIRS`] directories) makes every
//! refresh count as changed: the refresh of before, never a stale frame.
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::manifest::Plan;

/// The most directories watched in one worktree; past it, the worktree is looked at with
/// git at every refresh instead (a `node_modules` of 20,000 directories would take the
/// user's inotify watches for nothing).
const MAX_DIRS: usize = 4096;

/// What changed since it was last asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// A worktree, a git dir or a branch: the git work may differ.
    pub git: bool,
    /// An agent's record: its state may differ (and with it, its session).
    pub records: bool,
    /// The records, rounds and logs that changed (or went, or appeared).
    pub files: Vec<PathBuf>,
    /// Any record, round or log may have changed: read them all again.
    pub all_files: bool,
}

/// What a watched directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A worktree (or a directory in it), a git dir, the branches.
    Git,
    /// The agents' records.
    Records,
    /// The agents' rounds or logs.
    Files,
}

/// The watches of one fleet (see the module doc).
pub struct Changes {
    fd: Option<OwnedFd>,
    /// Each watch: the directory, what it holds, and whether the directories appearing
    /// under it are watched too.
    watches: HashMap<i32, (PathBuf, Place, bool)>,
    /// Places to watch that are not (yet) there: (path, what, recursive), tried again each
    /// time.
    missing: Vec<(PathBuf, Place, bool)>,
    changed: Changed,
    /// Some place could not be watched whole: git and the records count as changed at every
    /// refresh.
    blind: bool,
    /// A record, rounds or log directory could not be watched: every file counts as
    /// changed at every refresh.
    blind_files: bool,
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
                files: Vec::new(),
                all_files: true,
            },
            blind: fd < 0,
            blind_files: fd < 0,
        };
        let common = plan.repo.join(".git");
        let mut watch = |path: PathBuf, place: Place, recursive: bool| {
            changes.missing.push((path, place, recursive));
        };
        watch(common.clone(), Place::Git, false);
        watch(common.join("refs").join("heads"), Place::Git, true);
        for agent in &plan.agents {
            watch(agent.worktree.clone(), Place::Git, true);
            let id = worktree_id(&agent.worktree);
            watch(common.join("worktrees").join(id), Place::Git, false);
        }
        watch(plan.state_dir.join("agents"), Place::Records, false);
        watch(plan.state_dir.join("rounds"), Place::Files, false);
        let mut logs: Vec<PathBuf> = plan
            .agents
            .iter()
            .filter_map(|a| a.log.parent().map(Path::to_path_buf))
            .collect();
        logs.sort();
        logs.dedup();
        for dir in logs {
            watch(dir, Place::Files, false);
        }
        changes.look_again();
        changes
    }

    /// What changed since the last call (the events read now, the places that appeared
    /// watched from now on).
    pub fn take(&mut self) -> Changed {
        self.read_events();
        self.look_again();
        let mut changed = std::mem::take(&mut self.changed);
        changed.git |= self.blind;
        changed.records |= self.blind;
        changed.all_files |= self.blind_files;
        if changed.all_files {
            changed.files.clear();
        }
        changed
    }

    /// Watch the places that were missing and are there now (a worktree `up` made after the
    /// monitor started): each counts as a change.
    fn look_again(&mut self) {
        let missing = std::mem::take(&mut self.missing);
        for (path, place, recursive) in missing {
            if path.is_dir() {
                self.mark(place, None);
                self.add(&path, place, recursive, &mut 0);
            } else {
                self.missing.push((path, place, recursive));
            }
        }
    }

    /// Something changed in a place: the file `name` in it, or (None) anything in it.
    fn mark(&mut self, place: Place, file: Option<PathBuf>) {
        match place {
            Place::Git => self.changed.git = true,
            Place::Records | Place::Files => {
                self.changed.records |= place == Place::Records;
                match file {
                    Some(f) => self.changed.files.push(f),
                    None => self.changed.all_files = true,
                }
            }
        }
    }

    /// A place could not be watched (whole): it counts as changed at every refresh.
    fn blind(&mut self, place: Place) {
        match place {
            Place::Git => self.blind = true,
            Place::Records => {
                self.blind = true;
                self.blind_files = true;
            }
            Place::Files => self.blind_files = true,
        }
    }

    /// Watch `dir` (and, `recursive`, every directory under it but `.git`), `count`ing the
    /// directories; blind past [`MAX_DIRS`] or when the kernel refuses a watch.
    fn add(&mut self, dir: &Path, place: Place, recursive: bool, count: &mut usize) {
        let Some(fd) = self.fd.as_ref() else {
            self.blind(place);
            return;
        };
        *count += 1;
        if *count > MAX_DIRS {
            self.blind(place);
            return;
        }
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            self.blind(place);
            return;
        };
        // SAFETY: a valid inotify fd and a NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), MASK) };
        if wd < 0 {
            // Gone meanwhile: nothing to watch; else the watch limit or no right to read.
            if dir.exists() {
                self.blind(place);
            }
            return;
        }
        match self.watches.get(&wd) {
            // One directory that is two places (logs kept in a worktree): its events count
            // for the first; both count as changed at every refresh.
            Some((_, other, _)) if *other != place => {
                let other = *other;
                self.blind(other);
                self.blind(place);
            }
            _ => {
                self.watches
                    .insert(wd, (dir.to_path_buf(), place, recursive));
            }
        }
        if !recursive {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != ".git" {
                self.add(&entry.path(), place, true, count);
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
        crate::util::drain_inotify(fd, &mut buf, |wd, mask, name| self.event(wd, mask, name));
    }

    /// One event of watch `wd`.
    fn event(&mut self, wd: i32, mask: u32, name: &[u8]) {
        if mask & libc::IN_Q_OVERFLOW != 0 {
            self.changed.git = true;
            self.changed.records = true;
            self.changed.all_files = true;
            return;
        }
        let Some((dir, place, recursive)) = self.watches.get(&wd).cloned() else {
            return;
        };
        use std::os::unix::ffi::OsStrExt;
        let file = (!name.is_empty()).then(|| dir.join(std::ffi::OsStr::from_bytes(name)));
        self.mark(place, file);
        if mask & libc::IN_IGNORED != 0 {
            // The directory went (a worktree removed): watched again if it comes back.
            self.watches.remove(&wd);
            self.mark(place, None);
            self.missing.push((dir, place, recursive));
            return;
        }
        let new_dir = mask & libc::IN_ISDIR != 0
            && mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0
            && name != b".git";
        if recursive && new_dir {
            let path = dir.join(std::ffi::OsStr::from_bytes(name));
            self.add(&path, place, true, &mut 0);
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
