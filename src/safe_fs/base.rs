//! A seed base: fleet's own btrfs subvolume holding a copy of one seeded directory of the
//! checkout (`.fleet/seed/node_modules`), so that each new worktree's `seed:` is one
//! snapshot of it (a `BTRFS_IOC_SNAP_CREATE_V2`, the same for 20 files or 200,000) instead
//! of a clone of every file. The checkout's directory stays the user's plain directory.
//!
//! The base is made once by the clone walk of [`super::clone_tree`] (every file a
//! `FICLONE` of the checkout's: no data copied) into a new subvolume, then kept in step
//! on each `up` by a quick check of every entry, as rsync's: an entry whose type, size,
//! modification time, mode (or a symlink's target) are the checkout's is kept, a changed
//! or new one cloned anew (the old one removed first: never written in place), one the
//! checkout no longer has removed. A file is given the time the checkout's had when it was
//! read, before its clone: one the user changes while the sync runs holds either version
//! and the next sync sees the time differ and clones it again. Nothing here follows a
//! symlink, and nothing writes outside the base.
//!
//! Only where a snapshot of the base can reach the worktrees: the checkout's directory, the
//! base's and the worktree's parents all on one btrfs subvolume (the same `st_dev`).
//! Elsewhere the caller falls back to the walk.
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

use super::tree::{clone_into, copy_all, copy_file, finish_dir, Copied, Job};
use super::{
    cstr, is_kind, last_error, names, open_at, parent, perm, read_link_at, snapshot, stat_at,
    READ_DIR,
};

/// What [`sync_base`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Synced {
    /// The regular files the base holds now, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// The base was made now (it was not there).
    pub made: bool,
    /// Entries cloned anew (changed or new) and removed (gone from the checkout).
    pub changed: u64,
    pub removed: u64,
}

/// Makes or brings up to date the base `base` (a path such as `.fleet/seed/node_modules`,
/// its parents made user-only) of the directory `from/rel`, as the module doc says; `near`
/// is a directory of the worktrees that will snapshot it. None (nothing made) where the
/// three are not on one btrfs subvolume, or btrfs does not make the subvolume.
pub fn sync_base(from: &Path, rel: &Path, base: &Path, near: &Path) -> Result<Option<Synced>> {
    let (src_dir, name) = parent(&from.join(rel), None)?;
    let (base_dir, base_name) = parent(base, Some(0o700))?;
    let (near_dir, near_name) = parent(near, None)?;
    let near_dir = open_at(&near_dir, near_name.as_os_str(), READ_DIR, 0)?;
    let dev = |fd: &OwnedFd| stat_at(fd, OsStr::new(".")).map(|st| st.st_dev).ok();
    let same = dev(&src_dir).is_some()
        && dev(&src_dir) == dev(&base_dir)
        && dev(&src_dir) == dev(&near_dir)
        && snapshot::on_btrfs(&src_dir);
    if !same {
        return Ok(None);
    }
    let what = || format!("cannot bring {} up to date", base.display());
    let src = open_at(&src_dir, name.as_os_str(), READ_DIR, 0).with_context(what)?;
    let src_st = stat_at(&src_dir, name.as_os_str()).with_context(what)?;
    if snapshot::is_subvolume(&src) {
        // A subvolume of the user's: snapshotted itself (see [`super::clone_tree`]).
        return Ok(None);
    }
    let base_name = base_name.as_os_str();
    let mut synced = Synced::default();
    match stat_at(&base_dir, base_name) {
        Ok(st) => {
            let dst = open_at(&base_dir, base_name, READ_DIR, 0).with_context(what)?;
            if !is_kind(&st, libc::S_IFDIR) || !snapshot::is_subvolume(&dst) {
                // Not fleet's: left alone.
                return Ok(None);
            }
            sync_dir(&src, &dst, &src_st, &mut synced).with_context(what)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if snapshot::create_subvolume(&base_dir, base_name).is_err() {
                return Ok(None);
            }
            let dst = open_at(&base_dir, base_name, READ_DIR, 0).with_context(what)?;
            let made = clone_into(src, dst.try_clone().with_context(what)?).with_context(what)?;
            finish_dir(&dst, &src_st).with_context(what)?;
            synced.made = true;
            synced.files = made.files;
            synced.bytes = made.bytes;
        }
        Err(e) => return Err(e).with_context(what),
    }
    Ok(Some(synced))
}

/// The base `base` (brought up to date by [`sync_base`]) snapshotted as `to/rel` (its
/// parents made as [`super::create_dir`] makes them; it must not exist).
pub fn snapshot_base(base: &Path, to: &Path, rel: &Path) -> Result<()> {
    let (base_dir, base_name) = parent(base, None)?;
    let from = open_at(&base_dir, base_name.as_os_str(), READ_DIR, 0)?;
    let (dst_dir, name) = parent(&to.join(rel), Some(0o755))?;
    snapshot::snapshot_as(&from, &dst_dir, name.as_os_str())
        .with_context(|| format!("cannot snapshot {}", base.display()))
}

/// Removes the tree `path` (the seed bases, a worktree) without following a symlink (a
/// symlink on the way to it is refused, one inside removed as a symlink): a subvolume in
/// one step where btrfs lets this user delete it (root), else each directory made writable
/// and emptied, then removed (a subvolume's root by `rmdir`, which btrfs allows its owner
/// once it is empty, from Linux 4.18). Nothing when it is not there.
pub fn remove_tree(path: &Path) -> Result<()> {
    if path
        .symlink_metadata()
        .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
    {
        return Ok(());
    }
    let (dir, name) = parent(path, None)?;
    match stat_at(&dir, name.as_os_str()) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(st) => remove_at(&dir, name.as_os_str(), &st),
    }
    .with_context(|| format!("cannot remove {}", path.display()))
}

/// The entries of the base's directory `dst` made those of the checkout's `src` (whose
/// own stat is `st`), as the module doc says; then `dst`'s mode and times set to `st`'s
/// where they differ or an entry was made or removed here. A directory where nothing
/// changed is not written to at all (so the snapshots after it commit nothing new).
fn sync_dir(src: &OwnedFd, dst: &OwnedFd, st: &libc::stat, synced: &mut Synced) -> Result<()> {
    // A read-only directory of the checkout is read-only in the base too: writable while
    // it is synced.
    let dst_st = stat_at(dst, OsStr::new("."))?;
    let opened = perm(&dst_st) & 0o700 != 0o700;
    if opened {
        chmod(dst, 0o700)?;
    }
    let before = synced.changed + synced.removed;
    let mut seen = HashSet::new();
    for name in names(src)? {
        let sst = match stat_at(src, &name) {
            Ok(s) => s,
            // Gone since the listing: gone from the base too, below.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if !kept_kind(&sst) {
            continue;
        }
        seen.insert(name.clone());
        sync_entry(src, dst, &name, &sst, synced)?;
    }
    for name in names(dst)? {
        if !seen.contains(&name) {
            let st = stat_at(dst, &name)?;
            remove_at(dst, &name, &st)?;
            synced.removed += 1;
        }
    }
    // (an entry of a subdirectory changed counts here too: one futimens more, no harm)
    let differs = opened
        || synced.changed + synced.removed != before
        || perm(&dst_st) != perm(st)
        || (dst_st.st_mtime, dst_st.st_mtime_nsec) != (st.st_mtime, st.st_mtime_nsec);
    if differs {
        finish_dir(dst, st)?;
    }
    Ok(())
}

/// The kinds a seed copies: directories, regular files, symlinks.
fn kept_kind(st: &libc::stat) -> bool {
    is_kind(st, libc::S_IFDIR) || is_kind(st, libc::S_IFREG) || is_kind(st, libc::S_IFLNK)
}

/// The entry `name` of `src` (stat'ed as `sst`) made the same in `dst`.
fn sync_entry(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    sst: &libc::stat,
    synced: &mut Synced,
) -> Result<()> {
    let kind = sst.st_mode & libc::S_IFMT;
    let existing = match stat_at(dst, name) {
        Ok(d) => Some(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(dst_st) = existing {
        if dst_st.st_mode & libc::S_IFMT == kind {
            if kind == libc::S_IFDIR {
                let from = match open_at(src, name, READ_DIR, 0) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let to = open_at(dst, name, READ_DIR, 0)?;
                return sync_dir(&from, &to, sst, synced);
            }
            if same(src, dst, name, sst, &dst_st) {
                if kind == libc::S_IFREG {
                    synced.files += 1;
                    synced.bytes += sst.st_size as u64;
                }
                return Ok(());
            }
        }
        remove_at(dst, name, &dst_st)?;
    }
    synced.changed += 1;
    make_entry(src, dst, name, sst, synced)
}

/// rsync's quick check: a file of the same size, modification time and mode; a symlink to
/// the same target.
fn same(src: &OwnedFd, dst: &OwnedFd, name: &OsStr, s: &libc::stat, d: &libc::stat) -> bool {
    if is_kind(s, libc::S_IFLNK) {
        return matches!((read_link_at(src, name), read_link_at(dst, name)), (Ok(a), Ok(b)) if a == b);
    }
    s.st_size == d.st_size
        && s.st_mtime == d.st_mtime
        && s.st_mtime_nsec == d.st_mtime_nsec
        && perm(s) == perm(d)
}

/// The entry `name` of `src`, not in `dst`, made there as the clone walk makes it.
fn make_entry(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    sst: &libc::stat,
    synced: &mut Synced,
) -> Result<()> {
    let made = if is_kind(sst, libc::S_IFDIR) {
        let job = Job {
            src: std::sync::Arc::new(src.try_clone()?),
            dst: std::sync::Arc::new(dst.try_clone()?),
            name: name.to_os_string(),
            st: *sst,
        };
        copy_all(job)
    } else if is_kind(sst, libc::S_IFLNK) {
        make_symlink(src, dst, name, sst).map(|()| Copied::default())
    } else {
        let mut copied = Copied::default();
        let clone = AtomicBool::new(true);
        copy_file(src, dst, name, sst, &clone, &mut copied).map(|()| copied)
    };
    match made {
        Ok(c) => {
            synced.files += c.files;
            synced.bytes += c.bytes;
            Ok(())
        }
        // Gone from the checkout meanwhile: not in the base either (the next sync agrees).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Ok(st) = stat_at(dst, name) {
                remove_at(dst, name, &st)?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The symlink `name` of `src` made in `dst` with its times.
fn make_symlink(src: &OwnedFd, dst: &OwnedFd, name: &OsStr, sst: &libc::stat) -> io::Result<()> {
    let target = cstr(read_link_at(src, name)?.as_os_str())?;
    let n = cstr(name)?;
    // SAFETY: both strings live across the call.
    if unsafe { libc::symlinkat(target.as_ptr(), dst.as_raw_fd(), n.as_ptr()) } < 0 {
        return last_error();
    }
    let times = super::tree::times(sst);
    let nofollow = libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: `n` and `times` live across the call; `dst` is an open directory.
    if unsafe { libc::utimensat(dst.as_raw_fd(), n.as_ptr(), times.as_ptr(), nofollow) } < 0 {
        return last_error();
    }
    Ok(())
}

/// `fchmod` of the open directory `dir`.
fn chmod(dir: &OwnedFd, mode: u32) -> io::Result<()> {
    // SAFETY: `dir` is open.
    if unsafe { libc::fchmod(dir.as_raw_fd(), mode as libc::mode_t) } < 0 {
        return last_error();
    }
    Ok(())
}

/// The entry `name` of `dir` (stat'ed as `st`) removed, a directory with all it holds.
fn remove_at(dir: &OwnedFd, name: &OsStr, st: &libc::stat) -> io::Result<()> {
    let c = cstr(name)?;
    let mut flags = 0;
    if is_kind(st, libc::S_IFDIR) {
        let sub = open_at(dir, name, READ_DIR, 0)?;
        // A subvolume (a base) goes whole where btrfs lets this user delete one.
        if snapshot::is_subvolume(&sub) && snapshot::destroy_subvolume(dir, name).is_ok() {
            return Ok(());
        }
        if perm(st) & 0o700 != 0o700 {
            chmod(&sub, 0o700)?;
        }
        for entry in names(&sub)? {
            match stat_at(&sub, &entry) {
                Ok(est) => remove_at(&sub, &entry, &est)?,
                // Gone meanwhile: nothing to remove.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        flags = libc::AT_REMOVEDIR;
    }
    // SAFETY: `c` lives across the call; `dir` is an open directory.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
    }
    Ok(())
}

/// The name of the base of the seeded directory `rel` in `.fleet/seed/`: its path with `%`
/// and `/` escaped, so that the bases of `a` and `a/b` are apart.
pub fn base_name(rel: &Path) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::new();
    for &b in rel.as_os_str().as_encoded_bytes() {
        match b {
            b'%' => out.extend_from_slice(b"%25"),
            b'/' => out.extend_from_slice(b"%2F"),
            _ => out.push(b),
        }
    }
    OsString::from_vec(out)
}
