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
    let out = command(dir, args).output().map_err(spawn_error)?;
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
    let out = command(dir, &["rev-parse", "--show-toplevel"])
        .output()
        .map_err(spawn_error)?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim(),
    )))
}

/// Does the repository have at least one commit?
pub fn has_commits(repo: &Path) -> Result<bool> {
    check(repo, &["rev-parse", "--verify", "-q", "HEAD"])
}

/// The checked-out branch, or None on a detached HEAD.
pub fn current_branch(repo: &Path) -> Result<Option<String>> {
    let out = command(repo, &["symbolic-ref", "--short", "-q", "HEAD"])
        .output()
        .map_err(spawn_error)?;
    let b = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && !b.is_empty()).then_some(b))
}

/// Does `rev` name a commit?
pub fn commit_exists(repo: &Path, rev: &str) -> Result<bool> {
    check(
        repo,
        &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
    )
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
                    prunable: false,
                    locked: None,
                });
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

/// Create these branches at `base` in one `git update-ref --stdin` (all or none), as `git
/// branch` would, reflog message included.
pub fn create_branches(repo: &Path, branches: &[&str], base: &str) -> Result<()> {
    use std::io::Write;
    if branches.is_empty() {
        return Ok(());
    }
    let message = format!("branch: Created from {base}");
    let mut child = command(repo, &["update-ref", "-m", &message, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        let text: String = branches
            .iter()
            .map(|b| format!("create refs/heads/{b} {base}\n"))
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
    let out = command(worktree, &["checkout", "-f", "-q"])
        .process_group(0)
        .output()
        .map_err(spawn_error)?;
    if !out.status.success() {
        bail!(
            "`git checkout -f` in {} failed: {}",
            worktree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A registered worktree that was never checked out (no index yet): an `up` stopped between
/// registering and filling it.
pub fn worktree_unfilled(worktree: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(worktree.join(".git")) else {
        return false;
    };
    let Some(gitdir) = text.trim().strip_prefix("gitdir: ") else {
        return false;
    };
    let gitdir = worktree.join(gitdir);
    gitdir.is_dir() && !gitdir.join("index").exists()
}

/// Does the worktree have uncommitted changes or untracked files?
pub fn is_dirty(worktree: &Path) -> Result<bool> {
    Ok(!run(worktree, &["status", "--porcelain"])?.trim().is_empty())
}

/// Remove a worktree (its branch stays).
pub fn worktree_remove(repo: &Path, path: &Path, force: bool) -> Result<()> {
    let p = path.display().to_string();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&p);
    run(repo, &args).map(drop)
}

/// The path of `info/exclude` (shared by all worktrees).
pub fn exclude_file(repo: &Path) -> Result<PathBuf> {
    let common = run(repo, &["rev-parse", "--git-common-dir"])?;
    Ok(repo.join(common.trim()).join("info").join("exclude"))
}

/// An agent's work against the merge-base with `base`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub commits_ahead: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// Commits each branch has that `base` has not (`rev-list --count base..branch`), by branch
/// name; a missing branch is left out. One `git for-each-ref` with `%(ahead-behind)` answers
/// for every branch on git 2.41 and newer; older git gets one `rev-list` per branch.
pub fn commits_ahead(repo: &Path, base: &str, branches: &[&str]) -> HashMap<String, u64> {
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

/// [`commits_ahead`] in one `for-each-ref`; None when git cannot (older than 2.41).
fn ahead_behind(repo: &Path, base: &str, branches: &[&str]) -> Option<HashMap<String, u64>> {
    let format = format!("--format=%(ahead-behind:{base}) %(refname)");
    let patterns: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    let mut args = vec!["for-each-ref", format.as_str()];
    args.extend(patterns.iter().map(String::as_str));
    let out = run(repo, &args).ok()?;
    let mut found = HashMap::new();
    for line in out.lines() {
        let mut words = line.splitn(3, ' ');
        let (Some(ahead), Some(_behind), Some(name)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        // The patterns also match branches below these names (`fleet/a1/x`): keep exact ones.
        if let Some(b) = name.strip_prefix("refs/heads/") {
            if branches.contains(&b) {
                found.insert(b.to_string(), ahead.parse().unwrap_or(0));
            }
        }
    }
    Some(found)
}

/// [`commits_ahead`] with one `rev-list --count` per branch (any git).
fn commits_ahead_each(repo: &Path, base: &str, branches: &[&str]) -> HashMap<String, u64> {
    branches
        .iter()
        .filter_map(|b| {
            let out = run(
                repo,
                &["rev-list", "--count", &format!("{base}..refs/heads/{b}")],
            )
            .ok()?;
            Some((b.to_string(), out.trim().parse().ok()?))
        })
        .collect()
}

/// The diff of a worktree against the merge-base with `base`, committed and uncommitted
/// changes, untracked files counted as changed files: (files, insertions, deletions). Two git
/// calls; zeros for a missing worktree.
pub fn worktree_diff(worktree: &Path, base: &str) -> (u64, u64, u64) {
    let mut s = (0, 0, 0);
    if worktree.is_dir() {
        if let Ok(out) = run(worktree, &["diff", "--shortstat", "--merge-base", base]) {
            s = parse_shortstat(&out);
        }
        if let Ok(out) = run(worktree, &["ls-files", "--others", "--exclude-standard"]) {
            s.0 += out.lines().count() as u64;
        }
    }
    s
}

/// The merge-base of two revisions, None when they share no history.
pub fn merge_base(repo: &Path, a: &str, b: &str) -> Result<Option<String>> {
    let out = command(repo, &["merge-base", a, b])
        .output()
        .map_err(spawn_error)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
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
            std::fs::copy(&index, &tmp)?;
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
    Ok(run(dir, &["status", "--porcelain", mode])?
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

/// How [`merge`] ended.
#[derive(Debug)]
pub enum Merged {
    /// Merged (or squashed and committed); git's own summary.
    Ok(String),
    /// Conflicts: these files; the merge was undone (`git reset --merge`).
    Conflict(Vec<String>),
}

/// Merge `branch` into the branch checked out in `repo` (`--squash`: one new commit). On a
/// conflict the merge is undone and the conflicting files returned; on any other failure
/// too the checkout is put back as it was and git's message returned as the error.
pub fn merge(repo: &Path, branch: &str, squash: bool, message: &str) -> Result<Merged> {
    let mut args = vec!["merge", "--no-edit"];
    if squash {
        args.push("--squash");
    } else {
        args.extend(["-m", message]);
    }
    args.push(branch);
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
        assert_eq!(commits_ahead_each(repo, "main", &branches), want);
        assert_eq!(commits_ahead(repo, "main", &branches), want);
        if let Some(found) = ahead_behind(repo, "main", &branches) {
            assert_eq!(found, want, "for-each-ref with ahead-behind (git 2.41+)");
        }
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
