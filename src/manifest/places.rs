//! Paths that matter: which path may be what.
//!
//! fleet writes to three kinds of place — an agent's log, its own state under `.fleet/`, and
//! the worktrees under `worktree_dir` — and reads the user's manifest, task files, `copy:`
//! files and `.git/`. [`Places::log_problem`] is the one function that decides whether a path
//! may be a log, and [`Places::worktree_dir_problem`] whether a directory may hold the
//! worktrees: a log is none of the other places (a log that is the manifest would corrupt it
//! and lock out even `fleet down`), and the worktrees never hold fleet's state nor the other
//! way round. The manifest check (its parent module) asks both, so a bad place is refused
//! with exit 2 before anything is created. Paths are compared as real paths (symlinks of
//! their existing part resolved), so no spelling slips past.
//!
//! [`symlink_problems`] is class 1's share of the manifest check: every path fleet will
//! write or copy from, walked as [`crate::safe_fs`] will walk it.
use std::path::{Path, PathBuf};

use super::{real_path, Agent, Task};
use crate::safe_fs;

/// The places of one manifest, as real paths.
pub struct Places {
    manifest: PathBuf,
    repo: PathBuf,
    state_dir: PathBuf,
    worktree_dir: PathBuf,
    /// (agent, its task file)
    tasks: Vec<(String, PathBuf)>,
    /// (agent, its worktree)
    worktrees: Vec<(String, PathBuf)>,
    copies: Vec<PathBuf>,
}

impl Places {
    pub fn new(
        manifest: &Path,
        repo: &Path,
        state_dir: &Path,
        worktree_dir: &Path,
        agents: &[Agent],
        copies: &[(PathBuf, PathBuf)],
    ) -> Self {
        let tasks = agents
            .iter()
            .filter_map(|a| match &a.task {
                Task::File(p) => Some((a.name.clone(), real_path(p))),
                Task::Prompt(_) => None,
            })
            .collect();
        Places {
            manifest: real_path(manifest),
            repo: real_path(repo),
            state_dir: real_path(state_dir),
            worktree_dir: real_path(worktree_dir),
            tasks,
            worktrees: agents
                .iter()
                .map(|a| (a.name.clone(), real_path(&a.worktree)))
                .collect(),
            copies: copies.iter().map(|(src, _)| real_path(src)).collect(),
        }
    }

    /// Why `log` may not be a log, if it may not: the manifest, a task file, anything under
    /// a `.git` directory, inside a worktree, a `copy:` file, or `.fleet/` outside its `logs/`.
    pub fn log_problem(&self, log: &Path) -> Option<String> {
        let real = real_path(log);
        if real == self.manifest {
            return Some("is the manifest itself (the agent's output would overwrite it)".into());
        }
        if let Some((name, _)) = self.tasks.iter().find(|(_, t)| *t == real) {
            return Some(format!("is the task file of agent `{name}`"));
        }
        if real.components().any(|c| c.as_os_str() == ".git") {
            return Some("is inside a .git directory, which is git's own".into());
        }
        if let Some((name, _)) = self.worktrees.iter().find(|(_, w)| real.starts_with(w)) {
            return Some(format!(
                "is inside the worktree of agent `{name}` (it would end up in its commits)"
            ));
        }
        if self.copies.iter().any(|c| real.starts_with(c)) {
            return Some("is a `copy:` file, copied into every worktree".into());
        }
        if real.starts_with(&self.state_dir) && !real.starts_with(self.state_dir.join("logs")) {
            return Some(format!(
                "is among fleet's own state in {} (only its logs/ may hold logs)",
                self.state_dir.display()
            ));
        }
        None
    }

    /// Why `worktree_dir` may not hold the worktrees, if it may not: it is the repository
    /// itself, it holds fleet's state, or fleet's state holds it.
    pub fn worktree_dir_problem(&self) -> Option<String> {
        let dir = &self.worktree_dir;
        if *dir == self.repo {
            return Some(
                "is the repository itself; worktrees there would show in its `git status`".into(),
            );
        }
        if dir.starts_with(&self.state_dir) {
            return Some(format!(
                "is inside fleet's state {}",
                self.state_dir.display()
            ));
        }
        if let Some((name, _)) = self
            .worktrees
            .iter()
            .find(|(_, w)| self.state_dir.starts_with(w) || self.manifest.starts_with(w))
        {
            return Some(format!(
                "would put the manifest and fleet's state {} inside the worktree of agent `{name}`",
                self.state_dir.display()
            ));
        }
        None
    }
}

/// The symlinks fleet would meet writing the state, the logs, or reading `copy:` files (each
/// one a problem: [`safe_fs`] refuses them), as manifest problems.
pub fn symlink_problems(
    state_dir: &Path,
    logs: &[(String, PathBuf)],
    copies: &[PathBuf],
) -> Vec<String> {
    let refuse = |what: String, (link, target): (PathBuf, PathBuf), fix: &str| {
        format!(
            "{what} goes through the symlink {} (to {}); fleet never writes through or reads out through a symlink it did not make: {fix}",
            link.display(),
            target.display()
        )
    };
    let mut problems = Vec::new();
    for path in state_files(state_dir) {
        if let Some(found) = safe_fs::first_symlink(&path) {
            problems.push(refuse(
                format!("fleet's state {}", path.display()),
                found,
                "remove that symlink (fleet makes the directory and its files itself)",
            ));
            break;
        }
    }
    for (at, log) in logs {
        if let Some(found) = safe_fs::first_symlink(log) {
            problems.push(refuse(
                format!("{at}log {}", log.display()),
                found,
                "remove it, or point `log:` at a real path",
            ));
        }
    }
    for src in copies {
        if let Some(found) = src.parent().and_then(safe_fs::first_symlink) {
            problems.push(refuse(
                format!("copy: {}", src.display()),
                found,
                "list the real path inside the repository",
            ));
        }
    }
    problems
}

/// A `copy:` entry (`src`, inside `repo`) that is a symlink leading out of the repository, or
/// a directory holding one, as a problem (`entry` as the manifest names it): `copy:` copies a
/// symlink as a symlink, so the copy would hand the agent the way out that listing the
/// outside path itself is refused for. The target is followed as the kernel would (through
/// the repository's own symlinks too).
pub fn copy_link_problem(entry: &Path, src: &Path, repo: &Path) -> Option<String> {
    let (link, target) = outside_link(src, repo)?;
    let what = if link == src {
        format!("copy: {} is a symlink", entry.display())
    } else {
        format!(
            "copy: {} holds the symlink {}",
            entry.display(),
            link.display()
        )
    };
    Some(format!(
        "{what} to {}, outside the repository {}; fleet copies a symlink as a symlink, so the agent would reach what it points to: list files inside the repository instead",
        target.display(),
        repo.display()
    ))
}

/// The first symlink at or under `path` whose target leads out of `repo`, and its target.
fn outside_link(path: &Path, repo: &Path) -> Option<(PathBuf, PathBuf)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_symlink() {
        let target = std::fs::read_link(path).ok()?;
        let inside = path
            .parent()
            .is_some_and(|dir| real_path(&dir.join(&target)).starts_with(repo));
        return (!inside).then(|| (path.to_path_buf(), target));
    }
    if !meta.is_dir() {
        return None;
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| outside_link(&e.path(), repo))
}

/// `.fleet/` and what fleet writes in it: the lock, the base, and the entries of its
/// subdirectories.
fn state_files(state_dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![state_dir.to_path_buf()];
    files.extend(["lock", "base"].map(|f| state_dir.join(f)));
    for sub in ["agents", "run", "tasks", "logs"] {
        let dir = state_dir.join(sub);
        files.push(dir.clone());
        // (the logs themselves are checked as the agents' logs)
        if sub == "logs" {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    files
}
