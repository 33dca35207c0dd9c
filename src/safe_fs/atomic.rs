//! Replacing files atomically: each written to a temp file beside it, flushed to disk, then
//! renamed over the old one, so a reader (or a fleet killed, or a machine that lost power)
//! sees the old file or the new one, never a part. Several files written together
//! ([`write_atomic_all`]) are flushed together: one wait for the disk for the set, where
//! flushing them one after another waits once a file (each flush commits the file system's
//! journal, which on a disk busy with checkouts takes milliseconds to a quarter second).
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{cstr, last_error, open_at, parent};

/// Replace `path` with `bytes` atomically (a temp file beside it, then a rename), user-only.
/// A symlink at `path` is replaced, never written through.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, true)
}

/// [`write_atomic`], for a file of the user's when not `private` (the umask decides).
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let staged = Staged::write(path, bytes, private)?;
    staged.flush()?;
    staged.commit()
}

/// [`write_atomic`] of each `(path, bytes)`, user-only: every temp file written, then all
/// flushed at once (concurrently: the file system commits them in one go), then each
/// renamed into place in the order given (a path given twice gets its last bytes). A file
/// that cannot be written or flushed leaves every path as it was (the temp files removed);
/// the renames are the last step.
pub fn write_atomic_all(files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    let staged = files
        .iter()
        .enumerate()
        .filter(|(i, (path, _))| !files[i + 1..].iter().any(|(p, _)| p == path))
        .map(|(_, (path, bytes))| Staged::write(path, bytes, true))
        .collect::<Result<Vec<_>>>()?;
    match staged.as_slice() {
        [] => {}
        [one] => one.flush()?,
        many => std::thread::scope(|s| {
            let flushes: Vec<_> = many.iter().map(|f| s.spawn(|| f.flush())).collect();
            flushes.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a flush panicked")))
            })
        })?,
    }
    staged.into_iter().try_for_each(Staged::commit)
}

/// A file's new contents in a temp file beside it, not yet flushed nor in place; the temp
/// file goes when dropped uncommitted.
struct Staged {
    path: PathBuf,
    dir: OwnedFd,
    tmp: CString,
    name: CString,
    file: File,
    done: bool,
}

impl Staged {
    fn write(path: &Path, bytes: &[u8], private: bool) -> Result<Staged> {
        let (dir_mode, file_mode) = if private {
            (0o700, 0o600)
        } else {
            (0o777, 0o666)
        };
        let (dir, name) = parent(path, Some(dir_mode))?;
        let tmp = format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id());
        let write = || -> io::Result<Staged> {
            let ctmp = cstr(tmp.as_ref())?;
            // SAFETY: `ctmp` lives across the call. A leftover temp file of a killed run goes.
            unsafe { libc::unlinkat(dir.as_raw_fd(), ctmp.as_ptr(), 0) };
            let flags =
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            let file = File::from(open_at(&dir, tmp.as_ref(), flags, file_mode)?);
            let mut staged = Staged {
                path: path.to_path_buf(),
                name: cstr(name.as_os_str())?,
                dir,
                tmp: ctmp,
                file,
                done: false,
            };
            staged.file.write_all(bytes)?;
            Ok(staged)
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }

    /// Wait until the temp file's bytes are on disk.
    fn flush(&self) -> Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Rename the temp file over the file.
    fn commit(mut self) -> Result<()> {
        // SAFETY: both names live across the call; both are in the directory `dir`.
        let rc = unsafe {
            libc::renameat(
                self.dir.as_raw_fd(),
                self.tmp.as_ptr(),
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
            )
        };
        if rc < 0 {
            return last_error().with_context(|| format!("cannot write {}", self.path.display()));
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: `tmp` lives across the call; it names our temp file in `dir`.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), self.tmp.as_ptr(), 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_set_together_and_leaves_no_temp_file() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::write(root.join("a"), "old a").unwrap();
        let files = vec![
            (root.join("a"), b"new a".to_vec()),
            (root.join("sub/b"), b"b".to_vec()),
            (root.join("c"), b"first c".to_vec()),
            (root.join("c"), b"last c".to_vec()),
        ];
        write_atomic_all(&files).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("a")).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(root.join("sub/b")).unwrap(), "b");
        assert_eq!(std::fs::read_to_string(root.join("c")).unwrap(), "last c");
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "c", "sub"]);
    }

    #[test]
    fn a_set_with_a_file_it_cannot_write_changes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::write(root.join("a"), "old a").unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let files = vec![
            (root.join("a"), b"new a".to_vec()),
            (root.join("link/b"), b"b".to_vec()),
        ];
        assert!(write_atomic_all(&files).is_err());
        assert_eq!(std::fs::read_to_string(root.join("a")).unwrap(), "old a");
        assert!(!root.join("real/b").exists());
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
