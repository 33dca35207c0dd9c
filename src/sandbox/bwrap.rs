//! bwrap's argument list for one agent's box: the filesystem (the system read-only, a
//! private `/tmp`, the worktree and the git data its commits need writable, the other refs
//! and the files that tell git where its data is read-only), and the processes (own pid,
//! ipc and uts namespaces, ended with the runner).
//!
//! Git writes a ref by creating `NAME.lock` in the ref's directory and renaming it over
//! `NAME`: the agent's own ref directory (`refs/heads/fleet/`) must be writable, and each
//! other ref in it is bound read-only onto itself, where a rename over it fails (EBUSY).
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{home, Agent, Sandbox};

/// Fill `sandbox` with the filesystem and process arguments of `agent`'s box.
pub(super) fn build(agent: &Agent, sandbox: &mut Sandbox) -> Result<()> {
    let git = Git::of(agent)?;
    sandbox.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
    sandbox.args(["--tmpfs", "/tmp"]);
    // What lives under /tmp and the box must read (a checkout there, HOME in a test).
    let mut reads: Vec<PathBuf> = agent.reads.clone();
    reads.extend(home::home());
    reads.extend([git.common.clone(), agent.worktree.to_path_buf()]);
    reads.push(agent.state_dir.to_path_buf());
    for path in reads.iter().filter(|p| p.starts_with("/tmp") && p.exists()) {
        ro(sandbox, path);
    }
    // The runner's own TMPDIR, when it has one elsewhere, is a fresh one too (and keeps its
    // name: a CLI may refuse to work when its home is under the temp dir, as codex does).
    let tmpdir = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .filter(|t| t.is_absolute() && t.is_dir() && *t != Path::new("/tmp"));
    if let Some(t) = &tmpdir {
        sandbox.args([OsString::from("--tmpfs"), t.into()]);
    }
    home::hide_and_share(agent, sandbox)?;
    // The worktree and the git data its commits need.
    rw(sandbox, agent.worktree);
    git.common_dir(sandbox)?;
    rw(sandbox, &git.dir);
    git.refs(agent, sandbox)?;
    // What tells git (run outside by the user and by fleet) where a worktree's data and
    // settings are: rewritten, they would point git outside the box at a config of the
    // agent's making.
    for file in [
        agent.worktree.join(".git"),
        git.dir.join("commondir"),
        git.dir.join("gitdir"),
        git.dir.join("config.worktree"),
    ] {
        if file.exists() {
            ro(sandbox, &file);
        }
    }
    let cache = cache_dir(agent)?;
    rw(sandbox, &cache);
    sandbox.env("XDG_CACHE_HOME", &cache);
    if tmpdir.is_none() {
        sandbox.env("TMPDIR", "/tmp");
    }
    // No automatic gc: it would repack into the read-only refs and packed-refs.
    sandbox.env("GIT_CONFIG_COUNT", git_config_count(1));
    let n = git_config_count(0);
    sandbox.env(format!("GIT_CONFIG_KEY_{n}"), "gc.auto");
    sandbox.env(format!("GIT_CONFIG_VALUE_{n}"), "0");
    sandbox.args([
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
    ]);
    if !agent.interactive {
        // A TUI needs its terminal's session; a headless agent gets none to push keys into.
        sandbox.args(["--new-session"]);
    }
    sandbox.args([OsString::from("--chdir"), agent.worktree.into()]);
    Ok(())
}

/// `GIT_CONFIG_COUNT` plus `more`: the settings the user's environment already gives
/// through `GIT_CONFIG_KEY_<n>` come first.
fn git_config_count(more: usize) -> String {
    let given = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (given + more).to_string()
}

/// `.fleet/boxes/NAME/cache`, made user-only: the box's `XDG_CACHE_HOME`, kept across
/// steps and runs, no other agent's.
fn cache_dir(agent: &Agent) -> Result<PathBuf> {
    let dir = agent.state_dir.join("boxes").join(agent.name).join("cache");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

pub(super) fn ro(sandbox: &mut Sandbox, path: &Path) {
    sandbox.args([OsString::from("--ro-bind"), path.into(), path.into()]);
}

pub(super) fn rw(sandbox: &mut Sandbox, path: &Path) {
    sandbox.args([OsString::from("--bind"), path.into(), path.into()]);
}

/// Where the agent's git data is.
struct Git {
    /// The worktree's own git dir (`<common>/worktrees/<name>`).
    dir: PathBuf,
    /// The repository's common dir (`.git` of the main checkout).
    common: PathBuf,
}

impl Git {
    fn of(agent: &Agent) -> Result<Git> {
        let (dir, common) = crate::git::worktree_dirs(agent.worktree)?;
        if common.join("reftable").is_dir() {
            anyhow::bail!(
                "the repository {} keeps its refs in a reftable, which a box cannot split into the agent's branch and the rest: use `sandbox: false`, or a repository with the files backend",
                common.display()
            );
        }
        if dir == common {
            anyhow::bail!(
                "{} is the repository's main checkout, not a worktree of its own: a box cannot keep the repository's settings from the agent there",
                agent.worktree.display()
            );
        }
        Ok(Git { dir, common })
    }

    /// The common dir as a box sees it: a throwaway directory (what git creates at its top,
    /// `packed-refs.lock` when it deletes a ref, is lost with the box) holding each of the
    /// real entries read-only, `objects/` writable.
    fn common_dir(&self, sandbox: &mut Sandbox) -> Result<()> {
        let entries = fs::read_dir(&self.common)
            .with_context(|| format!("cannot read {}", self.common.display()))?;
        let mut entries: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            // a lock of git at work outside: gone in a moment
            .filter(|p| p.extension().is_none_or(|x| x != "lock"))
            .collect();
        entries.sort();
        sandbox.args([OsString::from("--tmpfs"), self.common.clone().into()]);
        for path in entries {
            if path.file_name().is_some_and(|n| n == "objects") {
                rw(sandbox, &path);
            } else {
                ro(sandbox, &path);
            }
        }
        Ok(())
    }

    /// The agent's own ref directory writable (and its reflog's), every other ref in it
    /// bound read-only onto itself; the refs as they are now, for [`super::moved_refs`].
    fn refs(&self, agent: &Agent, sandbox: &mut Sandbox) -> Result<()> {
        let own = format!("refs/heads/{}", agent.branch);
        let dir_name = match own.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => "refs/heads/".to_string(),
        };
        sandbox.refs = crate::git::refs_under(&self.common, &dir_name);
        sandbox.common = self.common.clone();
        sandbox.own_ref = own.clone();
        sandbox.writable_refs = dir_name.clone();
        for base in [self.common.clone(), self.common.join("logs")] {
            let dir = base.join(&dir_name);
            if base.ends_with("logs") && !dir.is_dir() {
                continue;
            }
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            rw(sandbox, &dir);
            let own_file = base.join(&own);
            let entries =
                fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
            let mut others: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| *p != own_file)
                // another agent's git in the middle of moving its ref: gone in a moment
                .filter(|p| p.extension().is_none_or(|x| x != "lock"))
                .collect();
            others.sort();
            for path in others {
                ro(sandbox, &path);
                if !base.ends_with("logs") {
                    protect(sandbox, &self.common, &path);
                }
            }
        }
        Ok(())
    }
}

/// Note every ref at or under `path` (a ref file, or a directory of them) as protected.
fn protect(sandbox: &mut Sandbox, common: &Path, path: &Path) {
    if path.is_dir() {
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                protect(sandbox, common, &e.path());
            }
        }
    } else if let Ok(name) = path.strip_prefix(common) {
        if let Some(name) = name.to_str() {
            sandbox.protected.push(name.to_string());
        }
    }
}
