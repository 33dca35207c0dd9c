//! What a sandboxed agent's box needs from git: where the worktree's own git data lives
//! (its private git dir and the common dir) and the refs of the directory the box may
//! write in, with their values, so the runner can tell which refs a step moved.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::run;

/// A linked worktree's own git directory (`<common>/worktrees/<name>`) and the
/// repository's common dir, absolute and canonical. Read from the files git keeps them in
/// (the worktree's `.git` file, the git dir's `commondir`): a box is built for every step,
/// and two git processes fewer each time add up over a fleet; git answers when the files
/// say otherwise (a main checkout, a layout of another git).
pub fn worktree_dirs(worktree: &Path) -> Result<(PathBuf, PathBuf)> {
    if let Some(dirs) = dirs_from_files(worktree) {
        return Ok(dirs);
    }
    let out = run(worktree, &["rev-parse", "--git-dir", "--git-common-dir"])?;
    let mut lines = out.lines();
    let mut next = || {
        let path = worktree.join(lines.next().unwrap_or("."));
        std::fs::canonicalize(&path).unwrap_or(path)
    };
    let dir = next();
    Ok((dir, next()))
}

/// [`worktree_dirs`] from git's files, when they are as git writes them.
fn dirs_from_files(worktree: &Path) -> Option<(PathBuf, PathBuf)> {
    let dot_git = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let dir = dot_git.strip_prefix("gitdir: ")?.trim_end_matches('\n');
    let dir = std::fs::canonicalize(worktree.join(dir)).ok()?;
    let common = std::fs::read_to_string(dir.join("commondir")).ok()?;
    let common = std::fs::canonicalize(dir.join(common.trim_end_matches('\n'))).ok()?;
    Some((dir, common))
}

/// The refs under `prefix` (`refs/heads/fleet/`) with the objects they point at, read from
/// the files git keeps them in (`<common>/<prefix>…` and `packed-refs`, a loose file winning)
/// without starting git: the runner asks before and after every boxed step. Symbolic refs
/// are left out.
pub fn refs_under(common: &Path, prefix: &str) -> BTreeMap<String, String> {
    let mut refs = BTreeMap::new();
    if let Ok(packed) = std::fs::read_to_string(common.join("packed-refs")) {
        for line in packed.lines().filter(|l| !l.starts_with(['#', '^'])) {
            if let Some((oid, name)) = line.split_once(' ') {
                if name.starts_with(prefix) {
                    refs.insert(name.to_string(), oid.to_string());
                }
            }
        }
    }
    loose(common, prefix.trim_end_matches('/'), &mut refs);
    refs
}

/// The loose refs at or under `name` (a file or a directory of them) into `refs`.
fn loose(common: &Path, name: &str, refs: &mut BTreeMap<String, String>) {
    let path = common.join(name);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            return;
        };
        for e in entries.flatten() {
            if let Some(child) = e.file_name().to_str() {
                if !child.ends_with(".lock") {
                    loose(common, &format!("{name}/{child}"), refs);
                }
            }
        }
    } else if meta.is_file() {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let oid = text.trim();
            if !oid.is_empty() && oid.bytes().all(|b| b.is_ascii_hexdigit()) {
                refs.insert(name.to_string(), oid.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loose_and_packed_refs_under_a_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let common = tmp.path();
        std::fs::create_dir_all(common.join("refs/heads/fleet/sub")).unwrap();
        std::fs::write(
            common.join("packed-refs"),
            "# pack-refs with: peeled fully-peeled sorted\naaaa refs/heads/fleet/old\n^cccc\nbbbb refs/heads/main\ndddd refs/heads/fleet/a\n",
        )
        .unwrap();
        std::fs::write(common.join("refs/heads/fleet/a"), "eeee\n").unwrap();
        std::fs::write(common.join("refs/heads/fleet/sub/b"), "ffff\n").unwrap();
        std::fs::write(common.join("refs/heads/fleet/a.lock"), "9999\n").unwrap();
        std::fs::write(
            common.join("refs/heads/fleet/sym"),
            "ref: refs/heads/main\n",
        )
        .unwrap();
        let refs = refs_under(common, "refs/heads/fleet/");
        let want: BTreeMap<String, String> = [
            ("refs/heads/fleet/a", "eeee"),
            ("refs/heads/fleet/old", "aaaa"),
            ("refs/heads/fleet/sub/b", "ffff"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(refs, want);
    }
}
