//! A directory tree copied as `cp -a --reflink=auto` would, but through no symlink: what
//! `seed:` gives a new worktree. Each regular file is a clone of the source (`FICLONE`, on
//! file systems that share blocks: btrfs, XFS) where the file system can, else a real copy
//! (`copy_file_range`, else read and write): never a hard link, so a write through the copy
//! (an agent's `npm install` rewriting a file in place) never reaches the user's own
//! directory. Symlinks are copied as symlinks (never followed, in or out of the tree),
//! directories made anew (`mkdirat` in the directory just made, opened with `O_NOFOLLOW`),
//! other kinds (sockets, FIFOs, devices) left out. Modes and modification times are kept.
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use super::{cstr, is_kind, last_error, open_at, parent, perm, read_link_at, stat_at};

/// What [`clone_tree`] made.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    pub files: u64,
    /// The regular files' bytes.
    pub bytes: u64,
    /// Files that share their blocks with the source (cloned, not copied).
    pub cloned: u64,
}

const READ_DIR: i32 = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

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
    let mut copied = Copied::default();
    let mut clone = true;
    copy_dir(
        &src_dir,
        &dst_dir,
        name.as_os_str(),
        &st,
        &mut clone,
        &mut copied,
    )
    .with_context(|| {
        format!(
            "cannot copy {} to {}",
            from.join(rel).display(),
            to.join(rel).display()
        )
    })?;
    Ok(copied)
}

/// The directory `name` of `src` made in `dst` and filled, entry by entry.
fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    st: &libc::stat,
    clone: &mut bool,
    copied: &mut Copied,
) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` lives across the call; `dst` is an open directory.
    if unsafe { libc::mkdirat(dst.as_raw_fd(), c.as_ptr(), 0o700) } < 0 {
        return last_error();
    }
    let from = open_at(src, name, READ_DIR, 0)?;
    let to = open_at(dst, name, READ_DIR, 0)?;
    for entry in entries(&from)? {
        let est = stat_at(&from, &entry)?;
        if is_kind(&est, libc::S_IFDIR) {
            copy_dir(&from, &to, &entry, &est, clone, copied)?;
        } else if is_kind(&est, libc::S_IFLNK) {
            let target = cstr(read_link_at(&from, &entry)?.as_os_str())?;
            let n = cstr(&entry)?;
            // SAFETY: both strings live across the call.
            if unsafe { libc::symlinkat(target.as_ptr(), to.as_raw_fd(), n.as_ptr()) } < 0 {
                return last_error();
            }
        } else if is_kind(&est, libc::S_IFREG) {
            copy_file(&from, &to, &entry, &est, clone, copied)?;
        }
    }
    // SAFETY: `to` is an open directory.
    if unsafe { libc::fchmod(to.as_raw_fd(), perm(st) as libc::mode_t) } < 0 {
        return last_error();
    }
    keep_times(&to, st)
}

/// The names in the directory `dir` (without `.` and `..`).
fn entries(dir: &OwnedFd) -> io::Result<Vec<std::ffi::OsString>> {
    // SAFETY: dup of an open descriptor; fdopendir owns the copy, closedir closes it.
    let fd = unsafe { libc::dup(dir.as_raw_fd()) };
    if fd < 0 {
        return last_error();
    }
    // SAFETY: `fd` is an open directory descriptor nobody else owns.
    let d = unsafe { libc::fdopendir(fd) };
    if d.is_null() {
        // SAFETY: fdopendir failed, so `fd` is still ours to close.
        unsafe { libc::close(fd) };
        return last_error();
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: `d` is an open DIR stream.
        let e = unsafe { libc::readdir(d) };
        if e.is_null() {
            break;
        }
        // SAFETY: readdir gives a valid entry whose name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) };
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(OsStr::from_bytes(bytes).to_os_string());
        }
    }
    // SAFETY: `d` is open; closedir closes it and its descriptor.
    unsafe { libc::closedir(d) };
    Ok(names)
}

/// The regular file `name` of `src` cloned (or copied) into `dst`.
fn copy_file(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    st: &libc::stat,
    clone: &mut bool,
    copied: &mut Copied,
) -> io::Result<()> {
    let ro = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let mut input = File::from(open_at(src, name, ro, 0)?);
    let wo = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut output = File::from(open_at(dst, name, wo, 0o600)?);
    let mut done = false;
    if *clone {
        match ficlone(&output, &input) {
            Ok(()) => {
                done = true;
                copied.cloned += 1;
            }
            // Another file system, or one that cannot share blocks: copy from now on.
            Err(_) => *clone = false,
        }
    }
    if !done {
        // (copy_file_range where the kernel has it, else read and write)
        io::copy(&mut input, &mut output)?;
    }
    // SAFETY: `output` is open.
    if unsafe { libc::fchmod(output.as_raw_fd(), perm(st) as libc::mode_t) } < 0 {
        return last_error();
    }
    copied.files += 1;
    copied.bytes += st.st_size as u64;
    let fd = OwnedFd::from(output);
    keep_times(&fd, st)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn ficlone(to: &File, from: &File) -> io::Result<()> {
    // SAFETY: both descriptors are open; FICLONE takes the source descriptor as argument.
    if unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) } < 0 {
        return last_error();
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn ficlone(_to: &File, _from: &File) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The access and modification times of `st` on `fd`.
fn keep_times(fd: &OwnedFd, st: &libc::stat) -> io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ];
    // SAFETY: `fd` is open and `times` holds two timespecs.
    if unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) } < 0 {
        return last_error();
    }
    Ok(())
}
