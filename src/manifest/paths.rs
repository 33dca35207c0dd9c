//! Paths, for the manifest check: cleaning them ([`normalize`], [`real_path`]), whether fleet
//! could write a log or fill a directory there ([`unwritable`], [`unusable_dir`]), whether
//! tmux can take them ([`line_break`]), and [`check_places`], the manifest's problems from
//! [`places`]' judgement of which path may be what.
use std::path::{Component, Path, PathBuf};

use super::places::Places;
use crate::util;

/// Lexically clean a path: drop `.` and resolve `..` against earlier components.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A path with the symlinks of its longest existing part resolved (as git and `realpath -m`
/// resolve it), the rest cleaned lexically.
pub(crate) fn real_path(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return normalize(&rest.iter().rev().fold(real, |p, c| p.join(c)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return normalize(path),
        }
    }
}

/// The problems of where things are: logs in places that matter, a
/// `worktree_dir` that mixes with fleet's state. `at` of each log names its agent.
pub(super) fn check_places(
    places: &Places,
    worktree_dir: &Path,
    repo_name: &str,
    logs: &[(String, PathBuf)],
    problems: &mut Vec<String>,
) {
    if let Some(why) = places.worktree_dir_problem() {
        problems.push(format!(
            "worktree_dir: {} {why}; set `worktree_dir:` to a directory of its own, e.g. ../{repo_name}.worktrees",
            worktree_dir.display(),
        ));
    }
    for (at, log) in logs {
        if let Some(why) = places.log_problem(log) {
            problems.push(format!(
                "{at}log {} {why}; point `log:` elsewhere, or remove it for the default .fleet/logs/",
                log.display()
            ));
        }
    }
}

/// Why fleet could not create or append to a log at `path`, if it could not: the file is a
/// directory, a parent is a file, or the directory that would hold it is not writable.
pub(super) fn unwritable(path: &Path) -> Option<String> {
    if path.is_dir() {
        return Some("is a directory".into());
    }
    if path.exists() {
        return (!util::writable(path)).then(|| "is not writable".into());
    }
    unusable_dir(path.parent()?)
}

/// Why fleet could not create files in `dir` (creating it first if need be), if it could not.
pub(super) fn unusable_dir(dir: &Path) -> Option<String> {
    // The nearest part of the path that is there, as a name (a symlink that leads nowhere
    // counts: fleet could not create anything through it).
    let existing = dir
        .ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok())?;
    if std::fs::metadata(existing).is_err() {
        Some(format!(
            "{} is a symlink that leads nowhere (a loop, or its target is gone)",
            existing.display()
        ))
    } else if !existing.is_dir() {
        Some(format!("{} is a file, not a directory", existing.display()))
    } else if !util::writable(existing) {
        Some(format!(
            "the directory {} is not writable",
            existing.display()
        ))
    } else {
        None
    }
}

/// Does `path` hold a line break (which tmux takes in no argument, and which would split
/// git's worktree list)?
pub(super) fn line_break(path: &Path) -> bool {
    path.to_string_lossy().contains(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }

    #[test]
    fn real_path_resolves_the_symlinks_of_the_part_that_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(tmp.path()).unwrap().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(real_path(&link.join("wt/./a")), real.join("wt/a"));
        assert_eq!(
            real_path(&link.join("../x")),
            real.parent().unwrap().join("x")
        );
        assert_eq!(
            real_path(Path::new("/nonexistent-fleet/a/../b")),
            PathBuf::from("/nonexistent-fleet/b")
        );
    }
}
