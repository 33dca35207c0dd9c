//! Running git, and what fleet asks of a repository as a whole. This file is the one place
//! fleet starts a git process ([`Git::output`]; everything in `git/` goes through [`git`]),
//! each with the configuration fleet's logic relies on pinned whatever the user's config
//! says (`pinned`), and the only place for git's version, repository discovery, refs and
//! questions about commits. Branches (`branches`), worktrees (`worktrees`, `removal`), the stats
//! `status` shows (`stats`), diffs printed for the user (`diff`), merges (`merge`), merges
//! computed without a checkout (`merge_tree`), rebased copies of a branch (`rebase`) and what
//! an agent's next round asks (`rounds`: its diff to review, kept refs, moving its branch)
//! live beside it and are re-exported here, so callers say `git::…` whatever file holds it.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Result};

mod branches;
mod diff;
mod merge;
mod merge_tree;
mod pinned;
mod radar;
mod rebase;
mod refs;
mod register;
mod remote;
mod removal;
mod rounds;
mod start_point;
mod stats;
mod worktrees;

pub use branches::{
    branch_exists, branches, branches_matching, create_branches, existing_branches,
    valid_branch_name,
};
pub use diff::{diff_revs, diff_worktree};
pub use merge::{
    merge, operation_in_progress, short, undo_merge, user_files_in_the_way, written_paths, How,
    InTheWay, Merged, Undone,
};
pub use merge_tree::{merge_trees, TreeMerge};
pub use radar::committed_files;
pub use rebase::{rebased_copy, Rebased};
pub use refs::{refs_under, worktree_dirs};
pub use register::{register_worktree, registrar, unmake_worktree, Registrar};
pub use remote::{fetch, push, receiving, ref_oids, tree_bytes};
pub use removal::{
    count_unreferenced, remove_worktrees, unreferenced_heads, worktree_remove, Removal,
};
pub use rounds::{brings_nothing, diff_text, keep, log_lines, move_branch, only_on_branch, KEPT};
pub use start_point::{diff_since, follow_branch, merge_tips, set_branch, Merge};
pub use stats::{
    branch_diff, branch_tips, changes, commit_diffs, is_dirty, look, parse_shortstat,
    worktree_diff, Look, Stats, Tip,
};
pub use worktrees::{
    prune_worktrees, registered, worktree_add, worktree_add_args_known, worktree_fill,
    worktree_unfilled, worktrees, Worktree,
};

/// The oldest git fleet supports.
pub const MIN_VERSION: (u32, u32) = (2, 30);

/// One git process: its arguments and the directory it runs in (`git -C dir …`), plus what
/// a caller adds (environment, its own process group, input, where its output goes, whether
/// it makes the user's own commits). Made by [`git`], started only by [`Git::output`], which
/// pins the settings fleet relies on ([`pinned`]) on its command line.
struct Git {
    cmd: Command,
    dir: PathBuf,
    args: Vec<String>,
    input: Option<String>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    /// Its output goes to the user's terminal, not to fleet ([`Git::shown`]).
    shown: bool,
    /// It makes the user's own commit: the user's hooks and signing apply.
    users_commit: bool,
    /// It makes commits that land on the user's branch: the user's signing applies.
    users_signing: bool,
    /// Further pins for this process alone ([`Git::pin`]).
    pins: Vec<(String, String)>,
}

/// The git process that runs `args` in `dir`, its stdin empty (traced under `--verbose`).
fn git(dir: &Path, args: &[&str]) -> Git {
    if crate::util::verbose() {
        let dir = dir.display().to_string();
        crate::util::trace("git", &[&["-C", dir.as_str()], args].concat());
    }
    let mut cmd = Command::new("git");
    cmd.stdin(Stdio::null());
    Git {
        cmd,
        dir: dir.to_path_buf(),
        args: args.iter().map(|a| a.to_string()).collect(),
        input: None,
        stdout: None,
        stderr: None,
        shown: false,
        users_commit: false,
        users_signing: false,
        pins: Vec::new(),
    }
}

impl Git {
    fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// In its own process group: the hangup or Ctrl-C of fleet's terminal does not cut it
    /// short halfway (leaving a lock or a half-made worktree behind); fleet stops after it.
    fn own_group(mut self) -> Self {
        use std::os::unix::process::CommandExt;
        self.cmd.process_group(0);
        self
    }

    /// Feed it `text` on stdin.
    fn input(mut self, text: String) -> Self {
        self.cmd.stdin(Stdio::piped());
        self.input = Some(text);
        self
    }

    /// Where its stdout goes (captured unless said).
    fn stdout(mut self, to: Stdio) -> Self {
        self.stdout = Some(to);
        self
    }

    /// Where its stderr goes (captured unless said).
    fn stderr(mut self, to: Stdio) -> Self {
        self.stderr = Some(to);
        self
    }

    /// Its stdout and stderr go to fleet's own (the user's terminal, git's pager): its
    /// output looks as the user's config says (no [`pinned::PARSED`]).
    fn shown(mut self) -> Self {
        self.shown = true;
        self.stdout(Stdio::inherit()).stderr(Stdio::inherit())
    }

    /// It makes the user's own commit on the user's branch (a merge, a squash's commit):
    /// the user's hooks and signing apply (no [`pinned::BOOKKEEPING`]).
    fn users_commit(mut self) -> Self {
        self.users_commit = true;
        self
    }

    /// Its commits land on the user's branch (a rebase's replayed commits): signed as the
    /// user signs; still no hooks of the user's (it runs in fleet's scratch worktree).
    fn users_signing(mut self) -> Self {
        self.users_signing = true;
        self
    }

    /// Pin `key` to `value` for this process too (after the shared pins).
    fn pin(mut self, key: &str, value: &str) -> Self {
        self.pins.push((key.to_string(), value.to_string()));
        self
    }

    /// The `-c KEY=VALUE` words of every pin that applies to this process.
    fn pinned(&self) -> Vec<String> {
        let mut pins = pinned::pins(self.shown, self.users_commit, self.users_signing);
        pins.extend(self.pins.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        pins.into_iter()
            .flat_map(|(k, v)| ["-c".to_string(), format!("{k}={v}")])
            .collect()
    }

    /// Run it to its end: the one place fleet starts a git process, with the settings fleet
    /// relies on pinned ([`pinned`]) and git's advice (`hint: …`) off.
    fn output(mut self) -> Result<Output> {
        let pinned = self.pinned();
        self.cmd
            .args(pinned)
            .arg("-C")
            .arg(&self.dir)
            .args(&self.args)
            .env("GIT_ADVICE", "0");
        self.cmd
            .stdout(self.stdout.take().unwrap_or_else(Stdio::piped))
            .stderr(self.stderr.take().unwrap_or_else(Stdio::piped));
        let Some(input) = self.input.take() else {
            return self.cmd.output().map_err(spawn_error);
        };
        let mut child = self.cmd.spawn().map_err(spawn_error)?;
        let written = child.stdin.take().map(|mut stdin| {
            use std::io::Write;
            stdin.write_all(input.as_bytes())
        });
        let out = child.wait_with_output()?;
        written.transpose()?;
        Ok(out)
    }

    /// Its stdout on success, an error with its stderr otherwise.
    fn run(self) -> Result<String> {
        let (dir, args) = (self.dir.clone(), self.args.clone());
        let out = self.output()?;
        if !out.status.success() {
            bail!(
                "`git {}` in {} failed: {}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn spawn_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "git is not installed or not on PATH; install git {}.{} or newer",
            MIN_VERSION.0,
            MIN_VERSION.1
        )
    } else {
        anyhow::Error::new(e).context("cannot run git")
    }
}

/// Run git in `dir`; its stdout on success, an error with its stderr otherwise.
fn run(dir: &Path, args: &[&str]) -> Result<String> {
    git(dir, args).run()
}

/// [`run`] without git's optional locks: a `git status` that refreshes nothing on disk, so it
/// never holds the `index.lock` an agent's own `git add` or `git commit` needs meanwhile.
fn run_unlocked(dir: &Path, args: &[&str]) -> Result<String> {
    git(dir, args).env("GIT_OPTIONAL_LOCKS", "0").run()
}

/// Run a git question in `dir`: its trimmed stdout, or None when git says no (fails).
fn answer(dir: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = git(dir, args).output()?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Run git in `dir` and tell only whether it succeeded.
fn check(dir: &Path, args: &[&str]) -> Result<bool> {
    Ok(git(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .output()?
        .status
        .success())
}

pub fn version() -> Result<String> {
    let (v, found) = installed()?;
    if found < MIN_VERSION {
        bail!(
            "git {v}{} is too old; install git {}.{} or newer (or put it first on PATH)",
            where_git(),
            MIN_VERSION.0,
            MIN_VERSION.1
        );
    }
    Ok(v)
}

/// The installed git's version: as it says it, and its (major, minor).
fn installed() -> Result<(String, (u32, u32))> {
    let out = run(Path::new("."), &["--version"])?;
    let v = out.trim().trim_start_matches("git version ").to_string();
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let found = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    Ok((v, found))
}

/// ` (/usr/bin/git)`: where the git on PATH is, for a message about its version.
fn where_git() -> String {
    which::which("git")
        .map(|p| format!(" ({})", p.display()))
        .unwrap_or_default()
}

/// Refuse, naming `what` needs it, when the installed git is older than `min`; the version
/// (major, minor) otherwise.
pub fn require_version(min: (u32, u32), what: &str) -> Result<(u32, u32)> {
    let (v, found) = installed()?;
    if found < min {
        bail!(
            "{what} needs git {}.{} or newer, and this git is {v}{}; install a newer git (or put it first on PATH)",
            min.0,
            min.1,
            where_git()
        );
    }
    Ok(found)
}

/// The top directory of the repository holding `dir`, or None outside any repository.
pub fn toplevel(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(answer(dir, &["rev-parse", "--show-toplevel"])?.map(PathBuf::from))
}

/// Does the repository have at least one commit?
pub fn has_commits(repo: &Path) -> Result<bool> {
    check(repo, &["rev-parse", "--verify", "-q", "HEAD"])
}

/// The checked-out branch, or None on a detached HEAD.
pub fn current_branch(repo: &Path) -> Result<Option<String>> {
    Ok(answer(repo, &["symbolic-ref", "--short", "-q", "HEAD"])?.filter(|b| !b.is_empty()))
}

/// The author identity git would commit with in `dir` (`user.name`, `user.email` as the
/// user's own config resolves them there), as the variables that carry it to a process that
/// does not read that config: `GIT_AUTHOR_*` and `GIT_COMMITTER_*`. Empty when unset.
pub fn identity(dir: &Path) -> Vec<(&'static str, String)> {
    let get = |key: &str| answer(dir, &["config", "--get", key]).ok().flatten();
    let mut vars = Vec::new();
    if let Some(name) = get("user.name").filter(|n| !n.is_empty()) {
        vars.push(("GIT_AUTHOR_NAME", name.clone()));
        vars.push(("GIT_COMMITTER_NAME", name));
    }
    if let Some(email) = get("user.email").filter(|e| !e.is_empty()) {
        vars.push(("GIT_AUTHOR_EMAIL", email.clone()));
        vars.push(("GIT_COMMITTER_EMAIL", email));
    }
    vars
}

/// Does `rev` name a commit?
pub fn commit_exists(repo: &Path, rev: &str) -> Result<bool> {
    Ok(commit_oid(repo, rev)?.is_some())
}

/// The repository's common git directory (`.git` of the main worktree), absolute.
pub fn common_dir(repo: &Path) -> Result<PathBuf> {
    let common = run(repo, &["rev-parse", "--git-common-dir"])?;
    let path = repo.join(common.trim_end_matches('\n'));
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// The commit `rev` names, None when it names none.
pub fn commit_oid(repo: &Path, rev: &str) -> Result<Option<String>> {
    answer(
        repo,
        &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
    )
}

/// The merge-base of two revisions, None when they share no history.
pub fn merge_base(repo: &Path, a: &str, b: &str) -> Result<Option<String>> {
    answer(repo, &["merge-base", a, b])
}

/// The commit a revision names (full id).
pub fn rev_parse(repo: &Path, rev: &str) -> Result<String> {
    Ok(run(repo, &["rev-parse", "--verify", "-q", rev])?
        .trim()
        .to_string())
}

/// Is `ancestor` an ancestor of (or the same commit as) `of`?
pub fn is_ancestor(repo: &Path, ancestor: &str, of: &str) -> Result<bool> {
    check(repo, &["merge-base", "--is-ancestor", ancestor, of])
}

/// Number of commits reachable from `to` and not from `from`.
pub fn count_commits(repo: &Path, from: &str, to: &str) -> Result<u64> {
    Ok(
        run(repo, &["rev-list", "--count", &format!("{from}..{to}")])?
            .trim()
            .parse()
            .unwrap_or(0),
    )
}

/// The subjects of the commits reachable from `to` and not from `from`, oldest first.
pub fn subjects(repo: &Path, from: &str, to: &str) -> Result<Vec<String>> {
    Ok(run(
        repo,
        &["log", "--reverse", "--format=%s", &format!("{from}..{to}")],
    )?
    .lines()
    .map(str::to_string)
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp repo with one commit on main, and a git runner for it.
    pub(in crate::git) fn temp_repo() -> (
        tempfile::TempDir,
        PathBuf,
        impl Fn(&Path, &[&str]) -> String,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let repo = root.join("repo");
        std::fs::create_dir(&repo).unwrap();
        let git = |dir: &Path, args: &[&str]| -> String {
            let out = git(dir, args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", dir)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@e")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@e")
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("f.txt"), "x\n").unwrap();
        git(&repo, &["add", "f.txt"]);
        git(&repo, &["commit", "-q", "-m", "one"]);
        (tmp, repo, git)
    }
}
