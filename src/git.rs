//! Every git call fleet makes: repository discovery, worktrees, branches, diff stats.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The oldest git fleet supports.
pub const MIN_VERSION: (u32, u32) = (2, 30);

fn command(dir: &Path, args: &[&str]) -> Command {
    if crate::util::verbose() {
        let dir = dir.display().to_string();
        crate::util::trace("git", &[&["-C", dir.as_str()], args].concat());
    }
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args).stdin(Stdio::null());
    cmd
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
    run_command(command(dir, args), dir, args)
}

/// [`run`] for a git command made by [`command`] from `dir` and `args`, then given more
/// (environment, process group).
fn run_command(mut cmd: Command, dir: &Path, args: &[&str]) -> Result<String> {
    let out = cmd.output().map_err(spawn_error)?;
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

/// [`run`] without git's optional locks: a `git status` that refreshes nothing on disk, so it
/// never holds the `index.lock` an agent's own `git add` or `git commit` needs meanwhile.
fn run_unlocked(dir: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = command(dir, args);
    cmd.env("GIT_OPTIONAL_LOCKS", "0");
    run_command(cmd, dir, args)
}

/// Run a git question in `dir`: its trimmed stdout, or None when git says no (fails).
fn answer(dir: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = command(dir, args).output().map_err(spawn_error)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Run git in `dir` and tell only whether it succeeded.
fn check(dir: &Path, args: &[&str]) -> Result<bool> {
    Ok(command(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(spawn_error)?
        .success())
}

/// git's version, checked against [`MIN_VERSION`].
pub fn version() -> Result<String> {
    let out = run(Path::new("."), &["--version"])?;
    let v = out.trim().trim_start_matches("git version ").to_string();
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let found = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    if found < MIN_VERSION {
        bail!(
            "git {v}{} is too old; install git {}.{} or newer (or put it first on PATH)",
            which::which("git")
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default(),
            MIN_VERSION.0,
            MIN_VERSION.1
        );
    }
    Ok(v)
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

/// Does `rev` name a commit?
pub fn commit_exists(repo: &Path, rev: &str) -> Result<bool> {
    Ok(commit_oid(repo, rev)?.is_some())
}

/// Does the local branch exist?
pub fn branch_exists(repo: &Path, branch: &str) -> Result<bool> {
    check(
        repo,
        &[
            "show-ref",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ],
    )
}

/// The local branches whose name starts with `prefix` (e.g. `fleet/`), in one git call.
pub fn branches(repo: &Path, prefix: &str) -> Result<Vec<String>> {
    let out = run(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            &format!("refs/heads/{prefix}"),
        ],
    )?;
    Ok(out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The local branches matching these `refs/heads/…` patterns (a pattern matches the ref
/// itself and every ref under it), in one git call.
pub fn branches_matching(repo: &Path, patterns: &[String]) -> Result<Vec<String>> {
    let mut args = vec!["for-each-ref", "--format=%(refname)"];
    args.extend(patterns.iter().map(String::as_str));
    Ok(run(repo, &args)?
        .lines()
        .filter_map(|l| l.strip_prefix("refs/heads/"))
        .map(str::to_string)
        .collect())
}

/// A cheap, offline check of git's branch-name rules (`git check-ref-format`).
pub fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.contains("/.")
        && name != "@"
        // `git branch HEAD` refuses it, and `HEAD` names the checkout, not a branch.
        && name != "HEAD"
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

/// A registered worktree.
#[derive(Debug, Clone)]
pub struct Worktree {
    pub path: PathBuf,
    /// `refs/heads/...` stripped; None when detached.
    pub branch: Option<String>,
    /// The commit checked out; None before the first commit.
    pub head: Option<String>,
    /// Registered but its directory is gone.
    pub prunable: bool,
    /// `git worktree lock`ed, with the reason given ("initializing" while `worktree add`
    /// runs, or after it was cut short).
    pub locked: Option<String>,
}

/// All worktrees of the repository (the main one included).
pub fn worktrees(repo: &Path) -> Result<Vec<Worktree>> {
    let out = run(repo, &["worktree", "list", "--porcelain"])?;
    let mut list = Vec::new();
    for block in out.split("\n\n") {
        let mut wt: Option<Worktree> = None;
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                wt = Some(Worktree {
                    path: PathBuf::from(p),
                    branch: None,
                    head: None,
                    prunable: false,
                    locked: None,
                });
            } else if let (Some(w), Some(h)) = (wt.as_mut(), line.strip_prefix("HEAD ")) {
                w.head = Some(h.to_string()).filter(|h| h.bytes().any(|b| b != b'0'));
            } else if let (Some(w), Some(b)) = (wt.as_mut(), line.strip_prefix("branch ")) {
                w.branch = Some(b.trim_start_matches("refs/heads/").to_string());
            } else if let (Some(w), true) = (wt.as_mut(), line.starts_with("prunable")) {
                w.prunable = true;
            } else if let (Some(w), Some(why)) = (wt.as_mut(), line.strip_prefix("locked")) {
                w.locked = Some(why.trim().to_string());
            }
        }
        if let Some(mut w) = wt {
            w.prunable |= !w.path.exists();
            list.push(w);
        }
    }
    Ok(list)
}

/// Forget worktrees whose directories are gone.
pub fn prune_worktrees(repo: &Path) -> Result<()> {
    run(repo, &["worktree", "prune"]).map(drop)
}

/// The live (registered, directory present) worktree at `path`.
pub fn registered<'a>(worktrees: &'a [Worktree], path: &Path) -> Option<&'a Worktree> {
    worktrees.iter().find(|w| w.path == path && !w.prunable)
}

/// Which of these local branches exist, in one `for-each-ref`.
pub fn existing_branches(repo: &Path, branches: &[&str]) -> Result<HashSet<String>> {
    if branches.is_empty() {
        return Ok(HashSet::new());
    }
    let patterns: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    let mut args = vec!["for-each-ref", "--format=%(refname)"];
    args.extend(patterns.iter().map(String::as_str));
    let out = run(repo, &args)?;
    Ok(out
        .lines()
        .filter_map(|l| l.strip_prefix("refs/heads/"))
        .filter(|b| branches.contains(b))
        .map(str::to_string)
        .collect())
}

/// The arguments of the `git worktree add` that puts a worktree at `path` on `branch`
/// (creating the branch from `base` unless `branch_exists`; see [`existing_branches`]), or
/// None when a worktree is registered there already.
pub fn worktree_add_args_known(
    worktrees: &[Worktree],
    path: &Path,
    branch: &str,
    base: &str,
    branch_exists: bool,
) -> Option<Vec<String>> {
    if registered(worktrees, path).is_some() {
        return None;
    }
    Some(worktree_add_args_for(path, branch, base, branch_exists))
}

fn worktree_add_args_for(
    path: &Path,
    branch: &str,
    base: &str,
    branch_exists: bool,
) -> Vec<String> {
    let path = path.display().to_string();
    if branch_exists {
        vec!["worktree".into(), "add".into(), path, branch.into()]
    } else {
        vec![
            "worktree".into(),
            "add".into(),
            "-b".into(),
            branch.into(),
            path,
            base.into(),
        ]
    }
}

/// Run a `git worktree add` from [`worktree_add_args_known`]. Run these one after another: two at
/// the same moment in one repository can fail on git's lock.
///
/// git runs in its own process group: a Ctrl-C meant for fleet does not kill it halfway
/// through (which would leave a locked, half checked-out worktree); fleet stops after it.
pub fn worktree_add(repo: &Path, args: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = command(repo, &args)
        .process_group(0)
        .output()
        .map_err(spawn_error)?;
    if !out.status.success() {
        // `-b` made a branch before the checkout failed: it holds nothing yet, drop it so a
        // failed `up` leaves no trace.
        if let Some(i) = args.iter().position(|a| *a == "-b") {
            if let Some(branch) = args.get(i + 1) {
                let live = worktrees(repo)?
                    .iter()
                    .any(|w| w.branch.as_deref() == Some(*branch));
                if !live {
                    let _ = check(repo, &["branch", "-D", branch]);
                }
            }
        }
        bail!(
            "`git {}` in {} failed: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// How `up` registers new worktrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registrar {
    /// fleet writes the few files of git's worktree layout itself (gitrepository-layout(5):
    /// `worktrees/<id>/{gitdir,HEAD,commondir}` and the worktree's `.git` file), as libgit2
    /// does: no process per worktree, and nothing that grows with the worktrees already there.
    Files { common: PathBuf },
    /// `git worktree add --no-checkout`, for repositories using what that sets up besides
    /// those files (per-worktree config, sparse checkout, relative worktree paths) or how
    /// (`core.sharedRepository`: a group's repository, whose files git makes group-writable).
    Git,
}

/// Which [`Registrar`] suits the repository: one `git config` call.
pub fn registrar(repo: &Path, common: &Path) -> Result<Registrar> {
    let out = command(
        repo,
        &[
            "config",
            "--get-regexp",
            r"^(extensions\.(worktreeconfig|relativeworktrees|refstorage)|core\.(sparsecheckout|sharedrepository)|worktree\.userelativepaths)$",
        ],
    )
    .output()
    .map_err(spawn_error)?;
    // Exit 1: none of them set. A flag set to false, or the files ref storage, changes nothing.
    let text = String::from_utf8_lossy(&out.stdout);
    let special = text.lines().any(|l| {
        let value = l.split_once(' ').map_or("true", |(_, v)| v);
        let value = value.to_ascii_lowercase();
        !["false", "no", "off", "0", "files"].contains(&value.as_str())
    });
    if special || !out.status.success() && out.status.code() != Some(1) {
        return Ok(Registrar::Git);
    }
    Ok(Registrar::Files {
        common: common.to_path_buf(),
    })
}

/// The repository's common git directory (`.git` of the main worktree), absolute.
pub fn common_dir(repo: &Path) -> Result<PathBuf> {
    let common = run(repo, &["rev-parse", "--git-common-dir"])?;
    let path = repo.join(common.trim_end_matches('\n'));
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// Register a worktree at `path` (which must not exist) on the existing `branch`, without
/// checking it out (see [`worktree_fill`]): what `git worktree add --no-checkout path branch`
/// writes — except the first line of the worktree's HEAD reflog (`logs/HEAD`, new in git
/// 2.45), which needs the committer's identity: its reflog starts with the agent's first
/// commit. The caller has checked that no other worktree has the branch checked out.
///
/// Killed at any point, it leaves no half-written entry in git's list: the entry is written
/// in full under `fleet-staging/` of the git directory (which git does not read), the
/// worktree's directory and `.git` file are made, and only then the entry is renamed into
/// `worktrees/` at once. Undone on failure.
pub fn register_worktree(common: &Path, path: &Path, branch: &str) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let fail = |e: std::io::Error| {
        anyhow::Error::new(e).context(format!(
            "cannot register the worktree {} (branch {branch})",
            path.display()
        ))
    };
    let root = common.join("worktrees");
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let (Some(parent), Some(file_name)) = (path.parent(), path.file_name()) else {
        bail!("cannot register the worktree {}: no parent", path.display());
    };
    std::fs::create_dir_all(parent).map_err(fail)?;
    let real = std::fs::canonicalize(parent).map_err(fail)?.join(file_name);
    let name = worktree_id(path);
    // A unique id, as git picks it: the name, then name1, name2, …
    let mut n = 0u32;
    let (id, admin) = loop {
        let id = if n == 0 {
            name.clone()
        } else {
            format!("{name}{n}")
        };
        let admin = root.join(&id);
        if std::fs::symlink_metadata(&admin).is_err() || n >= 10_000 {
            break (id, admin);
        }
        n += 1;
    };
    crate::util::trace(
        "fleet",
        &[
            "register-worktree".to_string(),
            path.display().to_string(),
            branch.to_string(),
            admin.display().to_string(),
        ],
    );
    let staging = common
        .join(STAGING)
        .join(format!("{}-{id}", std::process::id()));
    let mut made_path = false;
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&staging)?;
        let mut gitdir = real.join(".git").as_os_str().as_bytes().to_vec();
        gitdir.push(b'\n');
        std::fs::write(staging.join("gitdir"), gitdir)?;
        std::fs::write(staging.join("commondir"), "../..\n")?;
        // The worktree's own refs (bisect, rewritten) go here; git 2.45+ makes it up front.
        std::fs::create_dir(staging.join("refs"))?;
        std::fs::write(staging.join("HEAD"), format!("ref: refs/heads/{branch}\n"))?;
        std::fs::create_dir(path)?;
        made_path = true;
        let mut dotgit = b"gitdir: ".to_vec();
        dotgit.extend_from_slice(admin.as_os_str().as_bytes());
        dotgit.push(b'\n');
        std::fs::write(path.join(".git"), dotgit)?;
        if std::fs::symlink_metadata(&admin).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} appeared meanwhile", admin.display()),
            ));
        }
        std::fs::rename(&staging, &admin)
    })();
    let _ = std::fs::remove_dir(common.join(STAGING));
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_dir(common.join(STAGING));
        if made_path {
            let _ = std::fs::remove_dir_all(path);
        }
        return Err(fail(e));
    }
    Ok(())
}

/// Where [`register_worktree`] writes a worktree's entry before it enters git's list: in the
/// common git directory, named `<pid>-<id>` by the fleet process writing it.
const STAGING: &str = "fleet-staging";

/// Take apart a worktree that an `up` began and did not complete (no agent ever ran in it):
/// git's entry for it (whatever part of it was written), its directory, and what a killed
/// `up` left being written under `fleet-staging/`. The caller has ended every process still
/// working on it.
pub fn unmake_worktree(common: &Path, path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let parent_real = path
        .parent()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .zip(path.file_name())
        .map(|(p, n)| p.join(n));
    let mut wanted: Vec<Vec<u8>> = vec![path.join(".git").as_os_str().as_bytes().to_vec()];
    if let Some(real) = &parent_real {
        wanted.push(real.join(".git").as_os_str().as_bytes().to_vec());
    }
    let root = common.join("worktrees");
    let mut admins: Vec<PathBuf> = Vec::new();
    if let Some(target) = dotgit_target(path) {
        let target = path.join(target);
        if target.parent() == Some(root.as_path()) {
            admins.push(target);
        }
    }
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let gitdir = std::fs::read(e.path().join("gitdir")).unwrap_or_default();
            let gitdir = gitdir.strip_suffix(b"\n").unwrap_or(&gitdir);
            if wanted.iter().any(|w| w.as_slice() == gitdir) {
                admins.push(e.path());
            }
        }
    }
    for admin in admins {
        if admin.is_dir() {
            std::fs::remove_dir_all(&admin)
                .with_context(|| format!("cannot remove {}", admin.display()))?;
        }
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("cannot remove {}", path.display()))?;
    }
    let staging = common.join(STAGING);
    if let Ok(entries) = std::fs::read_dir(&staging) {
        for e in entries.flatten() {
            let name = e.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.split('-').next()?.parse::<u32>().ok());
            let writer_gone = pid.is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists());
            if writer_gone {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let _ = std::fs::remove_dir(&staging);
    }
    Ok(())
}

/// The name of a worktree's directory under `.git/worktrees/`: its last path component, with
/// what git would not take in a ref name component replaced.
fn worktree_id(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = id
        .trim_start_matches('.')
        .trim_end_matches(".lock")
        .to_string();
    if id.is_empty() {
        "worktree".into()
    } else {
        id
    }
}

/// Create these branches at `base` in one `git update-ref --stdin` (all or none), as `git
/// branch` would, reflog message included.
pub fn create_branches(repo: &Path, branches: &[&str], base: &str) -> Result<()> {
    use std::io::Write;
    if branches.is_empty() {
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let message = format!("branch: Created from {base}");
    // In its own process group: the hangup or Ctrl-C of fleet's terminal does not cut the
    // transaction short (leaving a ref's lock file behind); fleet stops after it.
    let mut child = command(repo, &["update-ref", "-m", &message, "--stdin"])
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        let text: String = branches
            .iter()
            // `^{commit}`: a base that is an annotated tag gives its commit, as `git branch`.
            .map(|b| format!("create refs/heads/{b} {base}^{{commit}}\n"))
            .collect();
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "cannot create the branches {} from {base}: {}",
            branches.join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Check out a worktree registered by `git worktree add --no-checkout`: its files and index,
/// like the checkout `git worktree add` does (post-checkout hook included). Worktrees have
/// their own index, so several fill at once. In its own process group: Ctrl-C lets it end.
pub fn worktree_fill(worktree: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let args = ["checkout", "-f", "-q"];
    let mut cmd = command(worktree, &args);
    cmd.process_group(0);
    run_command(cmd, worktree, &args).map(drop)
}

/// A registered worktree that was never checked out (no index yet): an `up` stopped between
/// registering and filling it.
pub fn worktree_unfilled(worktree: &Path) -> bool {
    let Some(gitdir) = dotgit_target(worktree) else {
        return false;
    };
    let gitdir = worktree.join(gitdir);
    gitdir.is_dir() && !gitdir.join("index").exists()
}

/// The directory a worktree's `.git` file names (`gitdir: …`), as written there (relative
/// to the worktree or absolute); None when `.git` is no such file.
fn dotgit_target(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let target = text
        .strip_prefix("gitdir: ")?
        .trim_end_matches(['\n', '\r']);
    Some(PathBuf::from(target))
}

/// Does the worktree have uncommitted changes or untracked files?
pub fn is_dirty(worktree: &Path) -> Result<bool> {
    Ok(!run_unlocked(worktree, &["status", "--porcelain"])?
        .trim()
        .is_empty())
}

/// Remove a worktree (its branch stays): Ok(Err(why)) when git refuses.
pub fn worktree_remove(repo: &Path, path: &Path, force: bool) -> Result<Result<(), String>> {
    let p = path.display().to_string();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&p);
    let out = command(repo, &args).output().map_err(spawn_error)?;
    Ok(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    })
}

/// What [`remove_worktrees`] did with one worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Kept: its HEAD holds this many commits that no ref (branch, tag, remote, stash, …)
    /// reaches, e.g. an agent that committed on a detached HEAD; removing it would lose them.
    /// `--force` does not override this.
    Unreferenced {
        commits: u64,
        head: String,
    },
    /// Kept: it has uncommitted changes or untracked files.
    Dirty,
    /// Kept: `git worktree remove` refused it, for this reason (e.g. it holds a submodule or
    /// a nested repository, or is locked).
    Refused(String),
}

/// The refs that keep commits alive once a worktree is gone: every ref under `refs/` (a
/// worktree's own HEAD is not one of them). `*` in `--glob` also matches `/`.
const KEPT_BY_REFS: &str = "--glob=refs/*";

/// Of these commits (worktrees' HEADs), the ones that reach a commit no ref reaches: one
/// `git rev-list A B … --not --glob=refs/*` for them all. A HEAD outside its answer is
/// reachable from a ref, and so is everything before it; a HEAD in it is itself unreachable.
pub fn unreferenced_heads(repo: &Path, heads: &[&str]) -> Result<HashSet<String>> {
    if heads.is_empty() {
        return Ok(HashSet::new());
    }
    let mut args = vec!["rev-list"];
    args.extend(heads);
    args.extend(["--not", KEPT_BY_REFS]);
    let out = run(repo, &args)?;
    let lost: HashSet<&str> = out.lines().collect();
    Ok(heads
        .iter()
        .filter(|h| lost.contains(*h))
        .map(|h| h.to_string())
        .collect())
}

/// How many commits `head` reaches that no ref does.
pub fn count_unreferenced(repo: &Path, head: &str) -> Result<u64> {
    Ok(
        run(repo, &["rev-list", "--count", head, "--not", KEPT_BY_REFS])?
            .trim()
            .parse()
            .unwrap_or(0),
    )
}

/// Remove these registered worktrees (see [`remove_worktree`]), a few at once: the one way
/// fleet removes a worktree that may hold work. First, one question for them all: would
/// removing it lose commits ([`unreferenced_heads`])? Such a worktree is kept, whatever
/// `force` says ([`Removal::Unreferenced`]); `force` only lets uncommitted changes go.
pub fn remove_worktrees(
    repo: &Path,
    targets: &[&Worktree],
    force: bool,
) -> Result<Vec<Result<Removal>>> {
    let heads: Vec<&str> = targets.iter().filter_map(|w| w.head.as_deref()).collect();
    let lost = unreferenced_heads(repo, &heads)?;
    let results = crate::util::in_parallel(targets, |w| match w.head.as_deref() {
        Some(head) if lost.contains(head) => Ok(Removal::Unreferenced {
            commits: count_unreferenced(repo, head)?,
            head: head.to_string(),
        }),
        _ => remove_worktree(repo, &w.path, force),
    });
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("the removal thread failed"))))
        .collect())
}

/// Remove a worktree and its entry under `.git/worktrees/` (its branch stays) unless it has
/// uncommitted changes or untracked files (`force` removes it anyway): what `git worktree
/// remove` does, with one git process instead of two (`git status` to check, then the two
/// directories removed by fleet). A locked worktree, one with submodules, or one whose
/// `.git` file does not lead back to it is left to `git worktree remove` and its refusals.
fn remove_worktree(repo: &Path, path: &Path, force: bool) -> Result<Removal> {
    let Some(admin) = admin_dir(path) else {
        return Ok(match worktree_remove(repo, path, force)? {
            Ok(()) => Removal::Removed,
            Err(_) if !force && is_dirty(path).unwrap_or(false) => Removal::Dirty,
            Err(why) => Removal::Refused(why),
        });
    };
    if !force {
        // Untracked files count whatever `status.showUntrackedFiles` says.
        let args = [
            "status",
            "--porcelain",
            "--ignore-submodules=none",
            "--untracked-files=normal",
        ];
        if !run_unlocked(path, &args)?.is_empty() {
            return Ok(Removal::Dirty);
        }
    }
    crate::util::trace(
        "fleet",
        &[
            "remove-worktree".to_string(),
            path.display().to_string(),
            admin.display().to_string(),
        ],
    );
    std::fs::remove_dir_all(path).with_context(|| format!("cannot remove {}", path.display()))?;
    std::fs::remove_dir_all(&admin)
        .with_context(|| format!("cannot remove {}", admin.display()))?;
    // The last one gone, `.git/worktrees` goes too, as git does (fails while others remain).
    if let Some(root) = admin.parent() {
        let _ = std::fs::remove_dir(root);
    }
    Ok(Removal::Removed)
}

/// The worktree's directory under `.git/worktrees/`, when its `.git` file names one that
/// names the worktree back, and nothing there asks for git's own care (a lock, submodules).
fn admin_dir(path: &Path) -> Option<PathBuf> {
    let admin = dotgit_target(path)?;
    let back = std::fs::read_to_string(admin.join("gitdir")).ok()?;
    let back = std::fs::canonicalize(back.trim_end_matches('\n')).ok()?;
    let here = std::fs::canonicalize(path.join(".git")).ok()?;
    let plain = admin.is_absolute()
        && back == here
        && !admin.join("locked").exists()
        && !admin.join("modules").exists()
        && !path.join(".gitmodules").exists()
        && !may_hold_gitlinks(&admin);
    plain.then_some(admin)
}

/// Whether the worktree's index may record a submodule or a nested repository committed as
/// one (a gitlink, mode 160000), which `git worktree remove` refuses to delete: its commits
/// may live nowhere else. The index is searched for the four bytes of that mode, big-endian
/// as every index version stores it: never a miss, now and then a false alarm (another field
/// holding those bytes), which only leaves the removal to git. A split index (entries in a
/// `sharedindex.*` beside it) or an index fleet cannot read counts as holding one.
fn may_hold_gitlinks(admin: &Path) -> bool {
    let index = match std::fs::read(admin.join("index")) {
        Ok(bytes) => bytes,
        // Never checked out: nothing recorded.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    let split = std::fs::read_dir(admin).map_or(true, |entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("sharedindex."))
    });
    const GITLINK: [u8; 4] = 0o160000u32.to_be_bytes();
    split || !index.starts_with(b"DIRC") || index.windows(4).any(|w| w == GITLINK)
}

/// An agent's work against the merge-base with `base`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub commits_ahead: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// A branch as `status` needs it: commits ahead of the base, and (git 2.41 and newer, from
/// the same call) commits behind and the commit it points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tip {
    pub ahead: u64,
    pub behind: Option<u64>,
    pub oid: Option<String>,
}

/// Commits each branch has that `base` has not (`rev-list --count base..branch`), by branch
/// name; a missing branch is left out. One `git for-each-ref` with `%(ahead-behind)` answers
/// for every branch on git 2.41 and newer; older git gets one `rev-list` per branch.
pub fn branch_tips(repo: &Path, base: &str, branches: &[&str]) -> HashMap<String, Tip> {
    if branches.is_empty() {
        return HashMap::new();
    }
    // `)` would end the atom early and `%` start another: let rev-list handle such bases.
    if !base.contains([')', '%']) {
        if let Some(found) = ahead_behind(repo, base, branches) {
            return found;
        }
    }
    commits_ahead_each(repo, base, branches)
}

/// [`branch_tips`] in one `for-each-ref`; None when git cannot (older than 2.41).
fn ahead_behind(repo: &Path, base: &str, branches: &[&str]) -> Option<HashMap<String, Tip>> {
    let format = format!("--format=%(ahead-behind:{base}) %(objectname) %(refname)");
    let patterns: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    let mut args = vec!["for-each-ref", format.as_str()];
    args.extend(patterns.iter().map(String::as_str));
    let out = run(repo, &args).ok()?;
    let mut found = HashMap::new();
    for line in out.lines() {
        let mut words = line.splitn(4, ' ');
        let (Some(ahead), Some(behind), Some(oid), Some(name)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        // The patterns also match branches below these names (`fleet/a1/x`): keep exact ones.
        if let Some(b) = name.strip_prefix("refs/heads/") {
            if branches.contains(&b) {
                let tip = Tip {
                    ahead: ahead.parse().unwrap_or(0),
                    behind: behind.parse().ok(),
                    oid: Some(oid.to_string()),
                };
                found.insert(b.to_string(), tip);
            }
        }
    }
    Some(found)
}

/// [`branch_tips`] with one `rev-list --count` per branch (any git): commits ahead only.
fn commits_ahead_each(repo: &Path, base: &str, branches: &[&str]) -> HashMap<String, Tip> {
    branches
        .iter()
        .filter_map(|b| {
            let out = run(
                repo,
                &["rev-list", "--count", &format!("{base}..refs/heads/{b}")],
            )
            .ok()?;
            let ahead = out.trim().parse().ok()?;
            Some((
                b.to_string(),
                Tip {
                    ahead,
                    ..Tip::default()
                },
            ))
        })
        .collect()
}

/// The commit `rev` names, None when it names none.
pub fn commit_oid(repo: &Path, rev: &str) -> Result<Option<String>> {
    answer(
        repo,
        &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
    )
}

/// A worktree as one `git status` sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// The commit checked out; None before the first commit.
    pub head: Option<String>,
    /// Tracked files staged or changed.
    pub changed: bool,
    /// Untracked files (not ignored), each counted.
    pub untracked: u64,
}

/// One `git status` of a worktree (None when it is missing or git fails). It does not write
/// the worktree's index (`GIT_OPTIONAL_LOCKS=0`), so it never holds the lock an agent's own
/// `git commit` needs at the same moment.
pub fn look(worktree: &Path) -> Option<Look> {
    if !worktree.is_dir() {
        return None;
    }
    let args = [
        "status",
        "--porcelain=v2",
        "--branch",
        "--untracked-files=all",
        "--no-renames",
        "-z",
    ];
    let out = run_unlocked(worktree, &args).ok()?;
    Some(parse_look(&out))
}

fn parse_look(text: &str) -> Look {
    let mut look = Look::default();
    for entry in text.split('\0') {
        if let Some(oid) = entry.strip_prefix("# branch.oid ") {
            look.head = oid
                .chars()
                .all(|c| c.is_ascii_hexdigit())
                .then(|| oid.to_string());
        } else if entry.starts_with("? ") {
            look.untracked += 1;
        } else if entry.starts_with(['1', '2', 'u']) && entry.as_bytes().get(1) == Some(&b' ') {
            look.changed = true;
        }
    }
    look
}

/// The diff of a worktree against the merge-base with `base`, committed and uncommitted
/// changes of tracked files (renames found): (files, insertions, deletions); zeros when git
/// cannot tell.
pub fn worktree_diff(worktree: &Path, base: &str) -> (u64, u64, u64) {
    run(
        worktree,
        &["diff", "--shortstat", "-M", "--merge-base", base],
    )
    .map_or((0, 0, 0), |out| parse_shortstat(&out))
}

/// The committed work of a branch against its merge-base with `base` (a branch whose
/// worktree is gone): one `git diff --shortstat base...branch` in the repository.
pub fn branch_diff(repo: &Path, base: &str, branch: &str) -> (u64, u64, u64) {
    let range = format!("{base}...refs/heads/{branch}");
    run(repo, &["diff", "--shortstat", "-M", &range]).map_or((0, 0, 0), |out| parse_shortstat(&out))
}

/// The diffs between pairs of commits `(to, from)`, all from one `git diff-tree --stdin`
/// (renames found, as [`worktree_diff`]): (files, insertions, deletions) by `to`.
pub fn commit_diffs(repo: &Path, pairs: &[(String, String)]) -> HashMap<String, (u64, u64, u64)> {
    use std::io::Write;
    if pairs.is_empty() {
        return HashMap::new();
    }
    let Ok(mut child) = command(
        repo,
        &["diff-tree", "--stdin", "--always", "-M", "--shortstat"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn() else {
        return HashMap::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let text: String = pairs
            .iter()
            .map(|(to, from)| format!("{to} {from}\n"))
            .collect();
        // A write error shows as missing answers below.
        let _ = stdin.write_all(text.as_bytes());
    }
    let Ok(out) = child.wait_with_output() else {
        return HashMap::new();
    };
    if !out.status.success() {
        return HashMap::new();
    }
    parse_commit_diffs(&String::from_utf8_lossy(&out.stdout))
}

/// `diff-tree --stdin --always --shortstat` output: a commit id line, then its shortstat
/// line unless the two commits hold the same files.
fn parse_commit_diffs(text: &str) -> HashMap<String, (u64, u64, u64)> {
    let mut found = HashMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let word = line.split(' ').next().unwrap_or("");
        if !line.starts_with(' ') && word.len() >= 40 && word.chars().all(|c| c.is_ascii_hexdigit())
        {
            found.insert(word.to_string(), (0, 0, 0));
            current = Some(word);
        } else if let Some(c) = current {
            found.insert(c.to_string(), parse_shortstat(line));
        }
    }
    found
}

/// The merge-base of two revisions, None when they share no history.
pub fn merge_base(repo: &Path, a: &str, b: &str) -> Result<Option<String>> {
    answer(repo, &["merge-base", a, b])
}

/// Print the diff from `from` to the worktree's files — committed, staged, unstaged and
/// untracked (not ignored) — on fleet's stdout, through git's pager when that is a terminal.
/// Untracked files are shown by staging everything into a throw-away copy of the index, so
/// the worktree's own index is not touched. True when there were differences.
pub fn diff_worktree(worktree: &Path, from: &str, stat: bool) -> Result<bool> {
    // Relative to the worktree unless absolute (`--path-format` needs git 2.31).
    let index = worktree.join(run(worktree, &["rev-parse", "--git-path", "index"])?.trim());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = std::env::temp_dir().join(format!("fleet-index-{}-{nanos}", std::process::id()));
    let result = (|| {
        if index.exists() {
            // O_EXCL: a file (or symlink) someone put at that name in the shared temp dir
            // is never written through.
            use std::os::unix::fs::OpenOptionsExt;
            let mut copy = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            std::io::copy(&mut std::fs::File::open(&index)?, &mut copy)?;
        }
        let status = command(worktree, &["add", "-A"])
            .env("GIT_INDEX_FILE", &tmp)
            .stdout(Stdio::null())
            .output()
            .map_err(spawn_error)?;
        if !status.status.success() {
            bail!(
                "`git add -A` (into a temporary index) in {} failed: {}",
                worktree.display(),
                String::from_utf8_lossy(&status.stderr).trim()
            );
        }
        let mut args = vec!["diff", "--cached"];
        if stat {
            args.push("--stat");
        }
        args.push(from);
        show(worktree, &args, Some(&tmp))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Print the diff between two revisions (as [`diff_worktree`]); true when they differ.
pub fn diff_revs(repo: &Path, from: &str, to: &str, stat: bool) -> Result<bool> {
    let mut args = vec!["diff"];
    if stat {
        args.push("--stat");
    }
    args.extend([from, to]);
    show(repo, &args, None)
}

/// Run a `git diff …` on fleet's stdout and stderr (git pages it on a terminal), after a
/// `--quiet` one that tells whether there is anything to show (`--exit-code` would turn
/// git's pager off). True when there were changes.
fn show(dir: &Path, args: &[&str], index: Option<&Path>) -> Result<bool> {
    let with_index = |mut cmd: Command| {
        if let Some(i) = index {
            cmd.env("GIT_INDEX_FILE", i);
        }
        cmd
    };
    let mut quiet = args.to_vec();
    quiet.insert(1, "--quiet");
    let status = with_index(command(dir, &quiet))
        .status()
        .map_err(spawn_error)?;
    match status.code() {
        Some(0) => return Ok(false),
        Some(1) => {}
        _ => bail!(
            "`git {}` in {} failed ({status})",
            quiet.join(" "),
            dir.display()
        ),
    }
    let status = with_index(command(dir, args))
        .status()
        .map_err(spawn_error)?;
    if !status.success() {
        bail!(
            "`git {}` in {} failed ({status})",
            args.join(" "),
            dir.display()
        );
    }
    Ok(true)
}

/// `git status --porcelain` lines of a checkout: everything, or tracked changes only.
pub fn changes(dir: &Path, untracked: bool) -> Result<Vec<String>> {
    let mode = if untracked {
        "--untracked-files=all"
    } else {
        "--untracked-files=no"
    };
    Ok(run_unlocked(dir, &["status", "--porcelain", mode])?
        .lines()
        .map(str::to_string)
        .collect())
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

/// An operation the user has under way in a checkout (git's own markers, in the
/// checkout's git directory): "a merge", "a rebase", …; None when there is none.
pub fn operation_in_progress(checkout: &Path) -> Result<Option<&'static str>> {
    const MARKERS: [(&str, &str); 7] = [
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase or `git am`"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("sequencer", "a cherry-pick or revert of several commits"),
        ("BISECT_LOG", "a bisect"),
    ];
    let mut args = vec!["rev-parse"];
    for (marker, _) in MARKERS {
        args.extend(["--git-path", marker]);
    }
    let out = run(checkout, &args)?;
    Ok(out
        .lines()
        .zip(MARKERS)
        .find(|(path, _)| checkout.join(path).symlink_metadata().is_ok())
        .map(|(_, (_, what))| what))
}

/// How [`merge`] ended.
#[derive(Debug)]
pub enum Merged {
    /// Merged (or squashed and committed); git's own summary.
    Ok(String),
    /// Conflicts: these files; the merge was undone (`git reset --merge`).
    Conflict(Vec<String>),
}

/// Merge the local `branch` (as `refs/heads/BRANCH`: a tag of that name does not shadow it)
/// into the branch checked out in `repo` (`--squash`: one new commit). On a conflict the
/// merge is undone and the conflicting files returned; on any other failure too the checkout
/// is put back as it was and git's message returned as the error. It refuses to start while
/// the user has an operation under way ([`operation_in_progress`]), so what it undoes
/// (`git reset --merge`) is only ever its own merge.
pub fn merge(repo: &Path, branch: &str, squash: bool, message: &str) -> Result<Merged> {
    if let Some(what) = operation_in_progress(repo)? {
        bail!(
            "{} has {what} in progress; finish or abort it first (nothing was changed)",
            repo.display()
        );
    }
    let full = format!("refs/heads/{branch}");
    let mut args = vec!["merge", "--no-edit"];
    if squash {
        args.push("--squash");
    } else {
        args.extend(["-m", message]);
    }
    args.push(&full);
    let out = command(repo, &args).output().map_err(spawn_error)?;
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let conflicts: Vec<String> = run(repo, &["diff", "--name-only", "--diff-filter=U"])
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        // Undo whatever the merge left (harmless when it changed nothing).
        let undo = run(repo, &["reset", "--merge"]);
        if !conflicts.is_empty() {
            undo.context("the merge conflicted and `git reset --merge` failed")?;
            return Ok(Merged::Conflict(conflicts));
        }
        undo?;
        bail!(
            "`git merge {branch}` in {} failed: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if squash {
        let out = command(repo, &["commit", "--no-edit", "-m", message])
            .output()
            .map_err(spawn_error)?;
        if !out.status.success() {
            let _ = run(repo, &["reset", "--merge"]);
            bail!(
                "`git commit` of the squashed {branch} in {} failed (the squash was undone): {}",
                repo.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        said.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    Ok(Merged::Ok(said))
}

/// ` 2 files changed, 3 insertions(+), 1 deletion(-)` → (2, 3, 1).
pub fn parse_shortstat(s: &str) -> (u64, u64, u64) {
    let (mut f, mut i, mut d) = (0, 0, 0);
    for part in s.trim().split(',') {
        let mut words = part.split_whitespace();
        let n: u64 = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        match words.next() {
            Some(w) if w.starts_with("file") => f = n,
            Some(w) if w.starts_with("insertion") => i = n,
            Some(w) if w.starts_with("deletion") => d = n,
            _ => {}
        }
    }
    (f, i, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shortstat() {
        assert_eq!(
            parse_shortstat(" 2 files changed, 3 insertions(+), 1 deletion(-)\n"),
            (2, 3, 1)
        );
        assert_eq!(parse_shortstat(" 1 file changed, 1 deletion(-)"), (1, 0, 1));
        assert_eq!(parse_shortstat(""), (0, 0, 0));
    }

    #[test]
    fn a_failed_worktree_add_leaves_no_new_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("r");
        std::fs::create_dir_all(&repo).unwrap();
        let git = |args: &[&str]| run(&repo, args).unwrap();
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "i",
        ]);
        std::fs::write(tmp.path().join("file"), "x").unwrap();
        let list = worktrees(&repo).unwrap();
        let path = tmp.path().join("file").join("wt");
        let exists = branch_exists(&repo, "fleet/x").unwrap();
        let args = worktree_add_args_known(&list, &path, "fleet/x", "main", exists).unwrap();
        assert!(args.contains(&"-b".to_string()));
        assert!(worktree_add(&repo, &args).is_err());
        assert!(!branch_exists(&repo, "fleet/x").unwrap());
    }

    #[test]
    fn commits_ahead_in_one_call_matches_one_call_per_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path();
        let git = |args: &[&str]| {
            let mut cmd = command(repo, args);
            cmd.env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", repo)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@e")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@e");
            assert!(cmd.status().unwrap().success(), "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "base"]);
        git(&["branch", "fleet/a1"]);
        git(&["branch", "fleet/a1x"]);
        git(&["checkout", "-q", "-b", "fleet/a2"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&["commit", "-q", "--allow-empty", "-m", "two"]);
        git(&["checkout", "-q", "main"]);
        let branches = ["fleet/a1", "fleet/a2", "fleet/gone"];
        let want: HashMap<String, u64> = [("fleet/a1".to_string(), 0), ("fleet/a2".to_string(), 2)]
            .into_iter()
            .collect();
        let ahead = |found: HashMap<String, Tip>| -> HashMap<String, u64> {
            found.into_iter().map(|(b, t)| (b, t.ahead)).collect()
        };
        assert_eq!(ahead(commits_ahead_each(repo, "main", &branches)), want);
        assert_eq!(ahead(branch_tips(repo, "main", &branches)), want);
        if let Some(found) = ahead_behind(repo, "main", &branches) {
            // for-each-ref with ahead-behind (git 2.41+) also gives behind and the tip.
            let a2 = commit_oid(repo, "fleet/a2").unwrap();
            assert_eq!(found["fleet/a2"].oid, a2);
            assert_eq!(found["fleet/a2"].behind, Some(0));
            assert_eq!(ahead(found), want);
        }
    }

    /// A temp repo with one commit on main, and a git runner for it.
    fn temp_repo() -> (
        tempfile::TempDir,
        PathBuf,
        impl Fn(&Path, &[&str]) -> String,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let repo = root.join("repo");
        std::fs::create_dir(&repo).unwrap();
        let git = |dir: &Path, args: &[&str]| -> String {
            let out = command(dir, args)
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

    #[test]
    fn a_registered_worktree_is_what_git_worktree_add_makes() {
        let (_tmp, repo, git) = temp_repo();
        git(&repo, &["branch", "by-git"]);
        git(&repo, &["branch", "by-fleet"]);
        let wts = repo.parent().unwrap().join("wts");
        let (g, f) = (wts.join("g"), wts.join("sub").join("f"));
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "--no-checkout",
                &g.display().to_string(),
                "by-git",
            ],
        );
        let common = common_dir(&repo).unwrap();
        assert_eq!(
            registrar(&repo, &common).unwrap(),
            Registrar::Files {
                common: common.clone()
            }
        );
        register_worktree(&common, &f, "by-fleet").unwrap();

        // the same files, the same contents but for the names
        let admin = |id: &str| common.join("worktrees").join(id);
        let files = |dir: PathBuf| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        // (but git's first reflog line of the worktree's HEAD)
        let mut by_git = files(admin("g"));
        by_git.retain(|f| f != "logs");
        assert_eq!(by_git, files(admin("f")));
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(
            read(admin("f").join("commondir")),
            read(admin("g").join("commondir"))
        );
        assert_eq!(
            read(admin("f").join("HEAD")),
            read(admin("g").join("HEAD")).replace("by-git", "by-fleet")
        );
        assert_eq!(
            read(admin("f").join("gitdir")),
            format!("{}/.git\n", f.display())
        );
        assert_eq!(
            read(f.join(".git")),
            format!("gitdir: {}\n", admin("f").display())
        );
        assert_eq!(
            read(g.join(".git")).replace("/g\n", "/f\n"),
            read(f.join(".git"))
        );
        assert!(worktree_unfilled(&f));

        // git takes it as its own: listed on its branch, not prunable, checks out, removable
        worktree_fill(&f).unwrap();
        assert!(!worktree_unfilled(&f));
        let list = worktrees(&repo).unwrap();
        let w = registered(&list, &f).expect("listed");
        assert_eq!(
            (w.branch.as_deref(), w.prunable, w.locked.is_some()),
            (Some("by-fleet"), false, false)
        );
        assert_eq!(git(&repo, &["worktree", "prune", "-n", "-v"]), "");
        assert_eq!(git(&f, &["status", "--porcelain"]), "");
        assert_eq!(std::fs::read_to_string(f.join("f.txt")).unwrap(), "x\n");
        let err = register_worktree(&common, &f, "main").unwrap_err();
        assert!(format!("{err:#}").contains("cannot register"), "{err:#}");
        assert!(
            f.join("f.txt").exists(),
            "a failed registration touched nothing"
        );
        git(&repo, &["worktree", "remove", &f.display().to_string()]);
        assert!(!f.exists() && !admin("f").exists());

        // and fleet removes what git made: refused with untracked files, removed when clean
        worktree_fill(&g).unwrap();
        std::fs::write(g.join("new"), "").unwrap();
        assert_eq!(remove_worktree(&repo, &g, false).unwrap(), Removal::Dirty);
        assert!(g.join("new").exists());
        std::fs::remove_file(g.join("new")).unwrap();
        assert_eq!(remove_worktree(&repo, &g, false).unwrap(), Removal::Removed);
        assert!(!g.exists() && !common.join("worktrees").exists());
        assert_eq!(worktrees(&repo).unwrap().len(), 1);
    }

    #[test]
    fn repositories_with_per_worktree_config_register_through_git() {
        let (_tmp, repo, git) = temp_repo();
        let common = common_dir(&repo).unwrap();
        git(&repo, &["config", "extensions.worktreeConfig", "true"]);
        assert_eq!(registrar(&repo, &common).unwrap(), Registrar::Git);
        git(&repo, &["config", "extensions.worktreeConfig", "false"]);
        git(&repo, &["config", "core.sparseCheckout", "yes"]);
        assert_eq!(registrar(&repo, &common).unwrap(), Registrar::Git);
        git(&repo, &["config", "core.sparseCheckout", "off"]);
        // a group's repository: git makes the worktree files group-writable
        git(&repo, &["config", "core.sharedRepository", "group"]);
        assert_eq!(registrar(&repo, &common).unwrap(), Registrar::Git);
        git(&repo, &["config", "core.sharedRepository", "false"]);
        git(&repo, &["config", "extensions.refStorage", "files"]);
        assert!(matches!(
            registrar(&repo, &common).unwrap(),
            Registrar::Files { .. }
        ));
        // a repository whose refs are in a reftable (git 2.45+)
        let table = repo.parent().unwrap().join("table");
        let made = command(
            repo.parent().unwrap(),
            &["init", "-q", "--ref-format=reftable"],
        )
        .arg(&table)
        .output()
        .unwrap();
        if made.status.success() {
            let common = common_dir(&table).unwrap();
            assert_eq!(registrar(&table, &common).unwrap(), Registrar::Git);
        }
    }

    #[test]
    fn parses_status_and_diff_tree() {
        let oid = "a".repeat(40);
        let status = format!("# branch.oid {oid}\0# branch.head fleet/a1\0? new file\0? dir/x\0");
        let look = parse_look(&status);
        assert_eq!(look.head.as_deref(), Some(oid.as_str()));
        assert_eq!((look.changed, look.untracked), (false, 2));
        let changed = "# branch.oid (initial)\x001 .M N... 100644 100644 100644 x y a\0";
        let look = parse_look(changed);
        assert_eq!((look.head, look.changed, look.untracked), (None, true, 0));

        let (b, c) = ("b".repeat(40), "c".repeat(40));
        let out = format!("{b}\n 2 files changed, 3 insertions(+), 1 deletion(-)\n{c}\n");
        let found = parse_commit_diffs(&out);
        assert_eq!(found[&b], (2, 3, 1));
        assert_eq!(found[&c], (0, 0, 0));
    }

    #[test]
    fn branch_names() {
        assert!(valid_branch_name("fleet/agent1"));
        assert!(valid_branch_name("feature/validation"));
        assert!(!valid_branch_name("a..b"));
        assert!(!valid_branch_name("a b"));
        assert!(!valid_branch_name("-x"));
        assert!(!valid_branch_name("x.lock"));
    }
}
