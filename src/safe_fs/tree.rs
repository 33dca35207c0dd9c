//! A directory tree copied as `cp -a --reflink=auto` would, but through no symlink: what
//! `seed:` gives a new worktree. Each regular file is a clone of the source (`FICLONE`, on
//! file systems that share blocks: btrfs, XFS) where the file system can, else a real copy
//! (`copy_file_range`, else read and write): never a hard link, so a write through the copy
//! (an agent's `npm install` rewriting a file in place) never reaches the user's own
//! directory. Symlinks are copied as symlinks (never followed, in or out of the tree),
//! directories made anew (`mkdirat` in the directory just made, opened with `O_NOFOLLOW`),
//! other kinds (sockets, FIFOs, devices) left out. Modes and modification times are kept.
//!
//! The cost is per file, not per byte, wherever blocks are shared: the kernel's work to make
//! an inode and share its extents. So each file takes as few system calls as it can (one
//! `fstatat`, the two opens, the clone or one `copy_file_range` of the size it has, one
//! `futimens`; its mode given at creation, `fchmod` only where the umask would change it),
//! and the tree is cut into jobs (its first levels of directories made first, then every
//! entry below them a job) that all cores work through at once.
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, Context, Result};

use super::{
    cstr, is_kind, last_error, names, open_at, parent, perm, read_link_at, snapshot, stat_at,
    READ_DIR,
};

/// What [`clone_tree`] made.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    pub files: u64,
    /// The regular files' bytes.
    pub bytes: u64,
    /// Files that share their blocks with the source (cloned, not copied).
    pub cloned: u64,
    /// The whole tree is a snapshot of the source (a btrfs subvolume's).
    pub snapshot: bool,
}

impl Copied {
    pub(super) fn add(&mut self, o: Copied) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.cloned += o.cloned;
    }
}

/// Directories opened ahead of the workers, at most (each holds two descriptors until its
/// last entry is done).
const MAX_SPLIT: usize = 64;

/// One entry to copy: `name` of the directory `src` into the directory `dst`.
pub(super) struct Job {
    pub(super) src: Arc<OwnedFd>,
    pub(super) dst: Arc<OwnedFd>,
    pub(super) name: OsString,
    pub(super) st: libc::stat,
}

/// What every worker shares: whether clones still work here, and the first error.
struct Shared {
    clone: AtomicBool,
    failed: AtomicBool,
    error: Mutex<Option<io::Error>>,
}

/// Copies the directory `from/rel` to `to/rel`, which must not exist (its parents are made
/// as [`super::create_dir`] makes them), as the module doc says.
pub fn clone_tree(from: &Path, to: &Path, rel: &Path) -> Result<Copied> {
    let (src_dir, name) = parent(&from.join(rel), None)?;
    let (dst_dir, _) = parent(&to.join(rel), Some(0o755))?;
    let st = stat_at(&src_dir, name.as_os_str())
        .with_context(|| format!("cannot read {}", from.join(rel).display()))?;
    if !is_kind(&st, libc::S_IFDIR) {
        return Err(anyhow!("{} is not a directory", from.join(rel).display()));
    }
    if let Some((files, bytes)) = snapshot::snapshot(&src_dir, &dst_dir, name.as_os_str()) {
        return Ok(Copied {
            files,
            bytes,
            cloned: files,
            snapshot: true,
        });
    }
    let root = Job {
        src: Arc::new(src_dir),
        dst: Arc::new(dst_dir),
        name: name.into_os_string(),
        st,
    };
    copy_all(root).with_context(|| {
        format!(
            "cannot copy {} to {}",
            from.join(rel).display(),
            to.join(rel).display()
        )
    })
}

/// The tree of the directory `root`: its first levels split into jobs, the jobs done on
/// every core, then the split directories' modes and times set (deepest first: filling a
/// directory changes its time).
pub(super) fn copy_all(root: Job) -> io::Result<Copied> {
    run(vec![root])
}

/// The entries of the open directory `src` copied into the open, existing directory `dst`
/// (as [`copy_all`] copies a tree; `dst`'s own mode and times left as they are).
pub(super) fn clone_into(src: OwnedFd, dst: OwnedFd) -> io::Result<Copied> {
    let (src, dst) = (Arc::new(src), Arc::new(dst));
    let mut jobs = Vec::new();
    for name in names(&src)? {
        let st = stat_at(&src, &name)?;
        jobs.push(Job {
            src: src.clone(),
            dst: dst.clone(),
            name,
            st,
        });
    }
    run(jobs)
}

/// The jobs' entries copied: the directories among them split into jobs of their entries
/// first, then all done on every core, then the split directories' modes and times set.
fn run(mut jobs: Vec<Job>) -> io::Result<Copied> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let mut split = Vec::new();
    while split.len() < MAX_SPLIT && jobs.iter().filter(|j| is_dir(j)).count() < 4 * threads {
        let Some(i) = jobs.iter().position(is_dir) else {
            break;
        };
        let dir = jobs.swap_remove(i);
        let (from, to, entries) = open_pair(&dir.src, &dir.dst, &dir.name)?;
        let (from, to) = (Arc::new(from), Arc::new(to));
        for (name, st) in entries {
            jobs.push(Job {
                src: from.clone(),
                dst: to.clone(),
                name,
                st,
            });
        }
        split.push((to, dir.st));
    }
    let shared = Shared {
        clone: AtomicBool::new(true),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    let next = AtomicUsize::new(0);
    let copied = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(jobs.len()).max(1))
            .map(|_| s.spawn(|| work(&jobs, &next, &shared)))
            .collect();
        let mut all = Copied::default();
        for w in workers {
            all.add(w.join().unwrap_or_default());
        }
        all
    });
    if let Some(e) = shared.error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    if shared.failed.load(Ordering::Relaxed) {
        return Err(io::Error::other("a copying thread panicked"));
    }
    drop(jobs);
    for (dir, st) in split.iter().rev() {
        finish_dir(dir, st)?;
    }
    Ok(copied)
}

fn is_dir(j: &Job) -> bool {
    is_kind(&j.st, libc::S_IFDIR)
}

/// One worker: jobs taken in turn until none is left or one failed.
fn work(jobs: &[Job], next: &AtomicUsize, shared: &Shared) -> Copied {
    let mut copied = Copied::default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok(());
        };
        copy_entry(&job.src, &job.dst, &job.name, &job.st, shared, &mut copied)?;
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            if let Ok(mut slot) = shared.error.lock() {
                slot.get_or_insert(e);
            }
            shared.failed.store(true, Ordering::Relaxed);
        }
        Err(_) => shared.failed.store(true, Ordering::Relaxed),
    }
    copied
}

/// The entry `name` of `src` (stat'ed as `st`) made in `dst` as the module doc says.
fn copy_entry(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    st: &libc::stat,
    shared: &Shared,
    copied: &mut Copied,
) -> io::Result<()> {
    if is_kind(st, libc::S_IFDIR) {
        copy_dir(src, dst, name, st, shared, copied)
    } else if is_kind(st, libc::S_IFLNK) {
        let target = cstr(read_link_at(src, name)?.as_os_str())?;
        let n = cstr(name)?;
        // SAFETY: both strings live across the call.
        if unsafe { libc::symlinkat(target.as_ptr(), dst.as_raw_fd(), n.as_ptr()) } < 0 {
            return last_error();
        }
        let times = times(st);
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        // SAFETY: `n` and `times` live across the call; `dst` is an open directory.
        if unsafe { libc::utimensat(dst.as_raw_fd(), n.as_ptr(), times.as_ptr(), nofollow) } < 0 {
            return last_error();
        }
        Ok(())
    } else if is_kind(st, libc::S_IFREG) {
        copy_file(src, dst, name, st, &shared.clone, copied)
    } else {
        Ok(())
    }
}

/// The directory `name` of `src`, its copy made in `dst` (still writable, its mode and
/// times not yet set): the source opened, the copy opened, and the source's entries
/// (without `.` and `..`) with their kinds.
type Opened = (OwnedFd, OwnedFd, Vec<(OsString, libc::stat)>);
fn open_pair(src: &OwnedFd, dst: &OwnedFd, name: &OsStr) -> io::Result<Opened> {
    let c = cstr(name)?;
    // SAFETY: `c` lives across the call; `dst` is an open directory.
    if unsafe { libc::mkdirat(dst.as_raw_fd(), c.as_ptr(), 0o700) } < 0 {
        return last_error();
    }
    let from = open_at(src, name, READ_DIR, 0)?;
    let to = open_at(dst, name, READ_DIR, 0)?;
    let mut entries = Vec::new();
    for entry in names(&from)? {
        let st = stat_at(&from, &entry)?;
        entries.push((entry, st));
    }
    Ok((from, to, entries))
}

/// The directory `name` of `src` made in `dst` and filled, entry by entry.
fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    st: &libc::stat,
    shared: &Shared,
    copied: &mut Copied,
) -> io::Result<()> {
    let (from, to, entries) = open_pair(src, dst, name)?;
    for (entry, est) in entries {
        copy_entry(&from, &to, &entry, &est, shared, copied)?;
    }
    finish_dir(&to, st)
}

/// The mode and times of `st` on the directory `dir`, once it is filled.
pub(super) fn finish_dir(dir: &OwnedFd, st: &libc::stat) -> io::Result<()> {
    // SAFETY: `dir` is an open directory.
    if unsafe { libc::fchmod(dir.as_raw_fd(), perm(st) as libc::mode_t) } < 0 {
        return last_error();
    }
    keep_times(dir, st)
}

/// The process's umask, read once (from /proc, without changing it); None where it cannot
/// be read.
fn umask() -> Option<u32> {
    static MASK: OnceLock<Option<u32>> = OnceLock::new();
    *MASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Umask:"))?;
        u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
    })
}

/// The regular file `name` of `src` cloned (or copied) into `dst`.
pub(super) fn copy_file(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    st: &libc::stat,
    clone: &AtomicBool,
    copied: &mut Copied,
) -> io::Result<()> {
    let ro = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let input = open_at(src, name, ro, 0)?;
    let wo = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // Made with its mode (creation applies the umask); set again only where the umask took
    // some of it away, or it has bits beyond rwx.
    let mode = perm(st);
    let exact = umask().is_some_and(|m| mode & !0o777 == 0 && mode & m == 0);
    let output = open_at(dst, name, wo, if exact { mode } else { 0o600 })?;
    if clone.load(Ordering::Relaxed) {
        match ficlone(&output, &input) {
            Ok(()) => copied.cloned += 1,
            // Another file system, or one that cannot share blocks: copy from now on.
            Err(_) => {
                clone.store(false, Ordering::Relaxed);
                copy_data(&input, &output, st.st_size as u64)?;
            }
        }
    } else {
        copy_data(&input, &output, st.st_size as u64)?;
    }
    // SAFETY: `output` is open.
    if !exact && unsafe { libc::fchmod(output.as_raw_fd(), mode as libc::mode_t) } < 0 {
        return last_error();
    }
    copied.files += 1;
    copied.bytes += st.st_size as u64;
    keep_times(&output, st)
}

/// The `size` bytes of `from` written to `to` (both at offset 0): `copy_file_range` for as
/// long as it copies, then read and write. A file cut short meanwhile ends where it ends.
fn copy_data(from: &OwnedFd, to: &OwnedFd, size: u64) -> io::Result<()> {
    let mut left = size;
    let mut kernel = true;
    let mut buf = Vec::new();
    while left > 0 {
        let want = left.min(1 << 30) as usize;
        let n = if kernel {
            match kernel_copy(from, to, want) {
                Ok(n) => n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::ENOSYS | libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP)
                    | Some(libc::EPERM) => {
                        kernel = false;
                        continue;
                    }
                    _ => return Err(e),
                },
            }
        } else {
            read_write(from, to, want, &mut buf)?
        };
        if n == 0 {
            break;
        }
        left -= n as u64;
    }
    Ok(())
}

/// Up to `want` bytes read from `from` and written to `to` through `buf`: how many.
fn read_write(from: &OwnedFd, to: &OwnedFd, want: usize, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.resize(want.min(1 << 20), 0);
    // SAFETY: `buf` has room for `buf.len()` bytes; `from` is open.
    let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return last_error();
    }
    let mut done = 0;
    while done < n as usize {
        let rest = &buf[done..n as usize];
        // SAFETY: `rest` is initialized memory of `rest.len()` bytes; `to` is open.
        let w = unsafe { libc::write(to.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
        if w < 0 {
            return last_error();
        }
        done += w as usize;
    }
    Ok(n as usize)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn kernel_copy(from: &OwnedFd, to: &OwnedFd, want: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are open; null offsets use and move the files' own.
    let n = unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            want,
            0,
        )
    };
    if n < 0 {
        return last_error();
    }
    Ok(n as usize)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn kernel_copy(_from: &OwnedFd, _to: &OwnedFd, _want: usize) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn ficlone(to: &OwnedFd, from: &OwnedFd) -> io::Result<()> {
    // SAFETY: both descriptors are open; FICLONE takes the source descriptor as argument.
    if unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) } < 0 {
        return last_error();
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn ficlone(_to: &OwnedFd, _from: &OwnedFd) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The access and modification times of `st`, as `futimens` takes them.
pub(super) fn times(st: &libc::stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}

/// The access and modification times of `st` on `fd`.
pub(super) fn keep_times(fd: &OwnedFd, st: &libc::stat) -> io::Result<()> {
    let times = times(st);
    // SAFETY: `fd` is open and `times` holds two timespecs.
    if unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) } < 0 {
        return last_error();
    }
    Ok(())
}
