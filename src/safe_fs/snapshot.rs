//! The whole-tree clone where the file system has one for an unprivileged user: a btrfs
//! snapshot, when the directory to seed is a btrfs subvolume of the user's own (made with
//! `btrfs subvolume create node_modules` before the first install). A snapshot shares every
//! block and inode of the tree and costs the same for 20 files or 200,000; it is a tree of
//! its own, copy-on-write, so a write through it never reaches the checkout's files, as a
//! per-file clone. It does not hold the subvolumes nested inside the source (they show as
//! empty directories), so a tree holding one is copied file by file instead.
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::{is_kind, names, open_at, stat_at, READ_DIR};

/// `statfs`'s type of btrfs.
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683e;
/// The inode number of every btrfs subvolume's root directory.
const SUBVOLUME_ROOT: u64 = 256;
/// `_IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)` (4,096 bytes).
const BTRFS_IOC_SNAP_CREATE_V2: u64 = 0x5000_9417;
/// `_IOW(0x94, 24, struct btrfs_ioctl_vol_args_v2)`.
const BTRFS_IOC_SUBVOL_CREATE_V2: u64 = 0x5000_9418;
/// `_IOW(0x94, 63, struct btrfs_ioctl_vol_args_v2)`.
const BTRFS_IOC_SNAP_DESTROY_V2: u64 = 0x5000_943f;

/// `struct btrfs_ioctl_vol_args_v2`, as the snapshot takes it.
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

/// Whether the open directory `dir` is the root of a btrfs subvolume.
#[allow(clippy::unnecessary_cast)]
pub(super) fn is_subvolume(dir: &OwnedFd) -> bool {
    // SAFETY: an all-zero `stat` is a valid value for the call to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is open; `st` lives across the call.
    let ok = unsafe { libc::fstat(dir.as_raw_fd(), &mut st) } == 0;
    ok && on_btrfs(dir) && st.st_ino as u64 == SUBVOLUME_ROOT
}

/// The directory `name` of `src` snapshotted as `name` in `dst`, when it is a subvolume with
/// none nested inside it and btrfs takes the snapshot (the user owns it, `dst` is on the
/// same file system): the regular files it holds and their bytes. None (nothing made)
/// otherwise.
pub(super) fn snapshot(src: &OwnedFd, dst: &OwnedFd, name: &OsStr) -> Option<(u64, u64)> {
    let from = open_at(src, name, READ_DIR, 0).ok()?;
    if !is_subvolume(&from) {
        return None;
    }
    let mut counted = (0, 0);
    count(&from, &mut counted).ok()?;
    snapshot_as(&from, dst, name).ok()?;
    Some(counted)
}

/// The subvolume open as `from` snapshotted as `name` in the directory `dst` (one
/// `BTRFS_IOC_SNAP_CREATE_V2`: writable, sharing every block and inode of `from`).
pub(super) fn snapshot_as(from: &OwnedFd, dst: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let args = vol_args(name, from.as_raw_fd() as i64)?;
    volume_ioctl(dst, BTRFS_IOC_SNAP_CREATE_V2, args)
}

/// A new, empty subvolume `name` in the directory `dst` (`BTRFS_IOC_SUBVOL_CREATE_V2`; no
/// privileges needed), as `btrfs subvolume create` makes one.
pub(super) fn create_subvolume(dst: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let args = vol_args(name, 0)?;
    volume_ioctl(dst, BTRFS_IOC_SUBVOL_CREATE_V2, args)
}

/// The subvolume `name` in the directory `dst` deleted whole (`BTRFS_IOC_SNAP_DESTROY_V2`:
/// btrfs frees its blocks in the background). Only root may, or its owner where the file
/// system is mounted with `user_subvol_rm_allowed`; an error otherwise.
pub(super) fn destroy_subvolume(dst: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let args = vol_args(name, 0)?;
    volume_ioctl(dst, BTRFS_IOC_SNAP_DESTROY_V2, args)
}

/// The argument block naming `name` (with `fd`, a snapshot's source).
fn vol_args(name: &OsStr, fd: i64) -> io::Result<VolArgsV2> {
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name);
    if bytes.len() >= 4040 || bytes.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut args = VolArgsV2 {
        fd,
        transid: 0,
        flags: 0,
        unused: [0; 4],
        name: [0; 4040],
    };
    args.name[..bytes.len()].copy_from_slice(bytes);
    Ok(args)
}

/// `ioctl(dir, request, &args)` on the directory `dst`, opened to read.
fn volume_ioctl(dst: &OwnedFd, request: u64, mut args: VolArgsV2) -> io::Result<()> {
    let to = open_at(dst, OsStr::new("."), READ_DIR, 0)?;
    // SAFETY: `to` is an open directory and `args` a valid, NUL-terminated argument block
    // that lives across the call.
    if unsafe { libc::ioctl(to.as_raw_fd(), request as _, &mut args) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the open directory `dir` is on btrfs.
#[allow(clippy::unnecessary_cast)]
pub(super) fn on_btrfs(dir: &OwnedFd) -> bool {
    // SAFETY: an all-zero `statfs` is a valid value for the call to fill in.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is open; `fs` lives across the call.
    let ok = unsafe { libc::fstatfs(dir.as_raw_fd(), &mut fs) } == 0;
    ok && fs.f_type as i64 == BTRFS_SUPER_MAGIC
}

/// The regular files and bytes under the open directory `dir` added to `counted`; an error
/// where a subvolume is nested inside (a snapshot would leave it out).
#[allow(clippy::unnecessary_cast)]
fn count(dir: &OwnedFd, counted: &mut (u64, u64)) -> io::Result<()> {
    for name in names(dir)? {
        let st = stat_at(dir, &name)?;
        if is_kind(&st, libc::S_IFDIR) {
            if st.st_ino as u64 == SUBVOLUME_ROOT {
                return Err(io::Error::other("a subvolume inside"));
            }
            count(&open_at(dir, &name, READ_DIR, 0)?, counted)?;
        } else if is_kind(&st, libc::S_IFREG) {
            counted.0 += 1;
            counted.1 += st.st_size as u64;
        }
    }
    Ok(())
}
