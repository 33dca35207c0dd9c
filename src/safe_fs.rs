//! Every file fleet writes, appends to, truncates or creates is opened here, so that no
//! path fleet writes goes through a symlink it did not make.
//!
//! The rule: fleet resolves the user's symlinks once, at the top — the manifest's directory,
//! the repository and `worktree_dir` are real paths when the manifest is loaded — and follows
//! none below. Opening a path walks it from `/` one directory at a time with `O_NOFOLLOW`
//! (missing directories are made on the way with `mkdirat`), and the file itself is opened
//! with `O_NOFOLLOW`; a symlink anywhere on the way is refused with a message naming it. So
//! fleet never writes, truncates or copies through a symlink it did not make, whatever the
//! symlink points at, and nothing can swap one in between a check and the write.
//! [`first_symlink`] is the same walk for validation (exit 2 before anything is created), and
//! [`copy`] copies `copy:` entries without following any symlink: reads never leave the
//! repository and a symlink is copied as a symlink.
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::UsageError;

mod atomic;
mod base;
mod snapshot;
mod tree;
pub use atomic::{write_atomic, write_atomic_all, write_file};
pub use base::{base_name, remove_tree, snapshot_base, sync_base, Synced};
pub use tree::{clone_tree, Copied};

/// How [`open`] opens a file. Files and the directories made for them are user-only, except
/// for [`How::New`] (a file for the user, e.g. `fleet init`'s): those follow the umask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Append, creating the file if need be (logs).
    Append,
    /// Read and write, creating the file if need be, never truncating (the lock).
    Lock,
    /// Create a file that must not exist yet.
    New,
}

#[cfg(target_os = "linux")]
const DIR_FLAGS: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
#[cfg(not(target_os = "linux"))]
const DIR_FLAGS: i32 = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn last_error<T>() -> io::Result<T> {
    Err(io::Error::last_os_error())
}

/// `openat(dir, name, flags, mode)` as an owned descriptor.
fn open_at(dir: &OwnedFd, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call; `dir` is an open descriptor.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return last_error();
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstatat(dir, name)` without following a symlink.
fn stat_at(dir: &OwnedFd, name: &OsStr) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: an all-zero `stat` is a valid value for fstatat to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` and `st` live across the call.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc < 0 {
        return last_error();
    }
    Ok(st)
}

/// Flags to open a directory to read its entries, through no symlink.
const READ_DIR: i32 = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// The names in the directory `dir` (without `.` and `..`).
fn names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
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

/// The permission bits of a file (`mode_t` is 16 bits on some systems).
#[allow(clippy::unnecessary_cast)]
fn perm(st: &libc::stat) -> u32 {
    st.st_mode as u32 & 0o7777
}

fn is_kind(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

/// The target a symlink `name` in `dir` holds.
fn read_link_at(dir: &OwnedFd, name: &OsStr) -> io::Result<PathBuf> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` has room for `buf.len()` bytes; `c` lives across the call.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return last_error();
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsStr::from_bytes(&buf)))
}

/// The refusal for a symlink fleet met at `path` (inside `dir` as `name`).
fn symlink_refusal(path: &Path, target: Option<&Path>) -> anyhow::Error {
    let to = target.map_or(String::new(), |t| format!(" (to {})", t.display()));
    UsageError(format!(
        "{} is a symlink{to}; fleet never writes through a symlink it did not make: remove it, or name the real path",
        path.display()
    ))
    .into()
}

/// Explain why `name` in `dir` (spelled `path`) could not be opened: a symlink is refused by
/// name, anything else is the system's error.
fn explain(dir: &OwnedFd, name: &OsStr, path: &Path, err: io::Error) -> anyhow::Error {
    match stat_at(dir, name) {
        Ok(st) if is_kind(&st, libc::S_IFLNK) => {
            symlink_refusal(path, read_link_at(dir, name).ok().as_deref())
        }
        Ok(st) if !is_kind(&st, libc::S_IFDIR) && err.raw_os_error() == Some(libc::ENOTDIR) => {
            anyhow!("{} is not a directory", path.display())
        }
        _ => anyhow::Error::new(err).context(format!("cannot open {}", path.display())),
    }
}

/// The absolute, `.`-free form of `path` (relative paths are taken from the current
/// directory); a `..` is refused, as it could climb out through a symlink.
fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    if abs.components().any(|c| c == Component::ParentDir) {
        return Err(anyhow!(
            "{} holds `..`; give the path without it",
            path.display()
        ));
    }
    Ok(abs.components().collect())
}

/// The directory that holds `path`, opened by walking from `/` without following a symlink
/// (missing directories made with `mode` when given), and the file's name in it.
fn parent(path: &Path, mode: Option<u32>) -> Result<(OwnedFd, PathBuf)> {
    let path = absolute(path)?;
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let root = File::open("/").context("cannot open /")?;
    let mut dir = OwnedFd::from(root);
    let mut so_far = PathBuf::from("/");
    for c in path.parent().unwrap_or(Path::new("/")).components() {
        let Component::Normal(c) = c else { continue };
        so_far.push(c);
        let next = match open_at(&dir, c, DIR_FLAGS, 0) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && mode.is_some() => {
                let cc = cstr(c)?;
                // SAFETY: `cc` lives across the call; `dir` is an open directory.
                let rc = unsafe {
                    libc::mkdirat(
                        dir.as_raw_fd(),
                        cc.as_ptr(),
                        mode.unwrap_or(0) as libc::mode_t,
                    )
                };
                if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
                    return Err(io::Error::last_os_error())
                        .with_context(|| format!("cannot create directory {}", so_far.display()));
                }
                open_at(&dir, c, DIR_FLAGS, 0)
            }
            other => other,
        };
        dir = next.map_err(|e| explain(&dir, c, &so_far, e))?;
    }
    Ok((dir, PathBuf::from(name)))
}

/// Open `path` for writing as `how` says, through no symlink (see the module doc). Missing
/// directories on the way are created.
pub fn open(path: &Path, how: How) -> Result<File> {
    let (dir_mode, file_mode) = match how {
        How::New => (0o777, 0o666),
        How::Append | How::Lock => (0o700, 0o600),
    };
    let (dir, name) = parent(path, Some(dir_mode))?;
    let flags = libc::O_NOFOLLOW
        | libc::O_CLOEXEC
        | libc::O_CREAT
        // A FIFO without a reader is refused at once instead of hanging the open.
        | libc::O_NONBLOCK
        | match how {
            How::Append => libc::O_WRONLY | libc::O_APPEND,
            How::Lock => libc::O_RDWR,
            How::New => libc::O_WRONLY | libc::O_EXCL,
        };
    let fd = open_at(&dir, name.as_os_str(), flags, file_mode).map_err(|e| {
        if how == How::New && e.kind() == io::ErrorKind::AlreadyExists {
            return anyhow!("{} already exists", path.display());
        }
        explain(&dir, name.as_os_str(), path, e)
    })?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(UsageError(format!(
            "{} is not a regular file; fleet writes only regular files: point it elsewhere",
            path.display()
        ))
        .into());
    }
    Ok(file)
}

/// Create the directory `path` (and its parents) through no symlink; user-only when `private`.
pub fn create_dir(path: &Path, private: bool) -> Result<()> {
    let mode = if private { 0o700 } else { 0o777 };
    let (dir, name) = parent(path, Some(mode))?;
    let c = cstr(name.as_os_str())?;
    // SAFETY: `c` lives across the call.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e).with_context(|| format!("cannot create directory {}", path.display()));
        }
    }
    open_at(&dir, name.as_os_str(), DIR_FLAGS, 0)
        .map(drop)
        .map_err(|e| explain(&dir, name.as_os_str(), path, e))
}

/// A directory only the user may enter, for secrets such as ssh's control sockets: made
/// 0700 when missing (its parents as [`create_dir`] makes them); one that exists must be a
/// real directory (not a symlink), owned by the user and closed to group and others, or it
/// is refused, naming what is wrong and the fix (fleet does not repair a directory someone
/// else may have made for it).
pub fn owned_private_dir(path: &Path) -> Result<()> {
    let (dir, name) = parent(path, Some(0o700))?;
    let c = cstr(name.as_os_str())?;
    // SAFETY: `c` lives across the call.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o700) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e).with_context(|| format!("cannot create directory {}", path.display()));
        }
    }
    let st = stat_at(&dir, name.as_os_str())
        .with_context(|| format!("cannot read {}", path.display()))?;
    let refuse = |what: String| -> Result<()> {
        Err(UsageError(format!(
            "{} {what}; fleet keeps its ssh connections' sockets there only when it is a directory of yours that nobody else may enter: remove it (rm -r {}) and fleet makes it anew",
            path.display(),
            path.display()
        ))
        .into())
    };
    if is_kind(&st, libc::S_IFLNK) {
        let to = read_link_at(&dir, name.as_os_str()).unwrap_or_default();
        return refuse(format!("is a symlink (to {})", to.display()));
    }
    if !is_kind(&st, libc::S_IFDIR) {
        return refuse("is not a directory".into());
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if st.st_uid != me {
        return refuse(format!(
            "belongs to uid {}, not to you (uid {me})",
            st.st_uid
        ));
    }
    if perm(&st) & 0o077 != 0 {
        return refuse(format!(
            "has mode {:04o}, open to others (it must be 0700)",
            perm(&st)
        ));
    }
    Ok(())
}

/// The first symlink on the way to `path` (its parents or the file itself), with its target:
/// what [`open`] would refuse. For validation, before anything is created.
pub fn first_symlink(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let path = absolute(path).ok()?;
    path.ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_symlink()))
        .map(|p| {
            let target = std::fs::read_link(p).unwrap_or_default();
            (p.to_path_buf(), target)
        })
}

/// Copy `rel` from the directory `from` into the directory `to` (a `copy:` entry into a
/// worktree) without following any symlink: a symlink is copied as a symlink, a directory
/// entry by entry; an entry already at the destination is kept unless `overwrite`, and then
/// replaced (removed first), never written through.
pub fn copy(from: &Path, to: &Path, rel: &Path, overwrite: bool) -> Result<()> {
    let src_path = from.join(rel);
    let dst_path = to.join(rel);
    let (src_dir, name) = parent(&src_path, None)?;
    let name = name.as_os_str();
    let st =
        stat_at(&src_dir, name).with_context(|| format!("cannot read {}", src_path.display()))?;
    let (dst_dir, _) = parent(&dst_path, Some(0o755))?;
    let existing = stat_at(&dst_dir, name).ok();
    if is_kind(&st, libc::S_IFDIR) {
        if existing.is_none() {
            let c = cstr(name)?;
            // SAFETY: `c` lives across the call.
            if unsafe { libc::mkdirat(dst_dir.as_raw_fd(), c.as_ptr(), perm(&st) as libc::mode_t) }
                < 0
            {
                return Err(io::Error::last_os_error())
                    .with_context(|| format!("cannot create directory {}", dst_path.display()));
            }
        }
        let entries = std::fs::read_dir(&src_path)
            .with_context(|| format!("cannot read {}", src_path.display()))?;
        for entry in entries {
            copy(from, to, &rel.join(entry?.file_name()), overwrite)?;
        }
        return Ok(());
    }
    if let Some(old) = existing {
        if !overwrite {
            return Ok(());
        }
        if is_kind(&old, libc::S_IFDIR) {
            return Err(anyhow!("{} is a directory", dst_path.display()));
        }
        let c = cstr(name)?;
        // SAFETY: `c` lives across the call.
        if unsafe { libc::unlinkat(dst_dir.as_raw_fd(), c.as_ptr(), 0) } < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("cannot replace {}", dst_path.display()));
        }
    }
    copy_entry(&src_dir, &dst_dir, name, &st).with_context(|| {
        format!(
            "cannot copy {} to {}",
            src_path.display(),
            dst_path.display()
        )
    })
}

/// Copy one symlink or regular file `name` from `src` to `dst`, where it does not exist.
fn copy_entry(src: &OwnedFd, dst: &OwnedFd, name: &OsStr, st: &libc::stat) -> io::Result<()> {
    if is_kind(st, libc::S_IFLNK) {
        let target = cstr(read_link_at(src, name)?.as_os_str())?;
        let c = cstr(name)?;
        // SAFETY: both strings live across the call.
        if unsafe { libc::symlinkat(target.as_ptr(), dst.as_raw_fd(), c.as_ptr()) } < 0 {
            return last_error();
        }
        return Ok(());
    }
    if !is_kind(st, libc::S_IFREG) {
        return Err(io::Error::other(
            "not a regular file, a directory or a symlink",
        ));
    }
    let ro = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let mut input = File::from(open_at(src, name, ro, 0)?);
    let wo = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut output = File::from(open_at(dst, name, wo, perm(st))?);
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_symlink_at_the_file_or_on_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(root.join("outside"), "keep\n").unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("log")).unwrap();
        let err = open(&root.join("log"), How::Append).unwrap_err();
        assert!(format!("{err:#}").contains("is a symlink"), "{err:#}");
        std::os::unix::fs::symlink(&root, root.join("dir")).unwrap();
        let err = write_atomic(&root.join("dir/x"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("dir is a symlink"), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(root.join("outside")).unwrap(),
            "keep\n"
        );
        assert!(first_symlink(&root.join("dir/x")).is_some());
        open(&root.join("a/b/c.log"), How::Append).unwrap();
        assert!(first_symlink(&root.join("a/b/c.log")).is_none());
    }
}
