//! Diffs printed for the user (`fleet diff`): the only place git writes to fleet's own
//! stdout and pages, and where untracked files are shown through a throw-away index.
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Result};

use super::{git, run};

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
        let status = git(worktree, &["add", "-A"])
            .env("GIT_INDEX_FILE", &tmp)
            .stdout(Stdio::null())
            .output()?;
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
    // On fleet's own stdout and stderr, with the index given.
    let shown = |args: &[&str]| -> Result<std::process::ExitStatus> {
        let mut cmd = git(dir, args).shown();
        if let Some(i) = index {
            cmd = cmd.env("GIT_INDEX_FILE", i);
        }
        Ok(cmd.output()?.status)
    };
    let mut quiet = args.to_vec();
    quiet.insert(1, "--quiet");
    let status = shown(&quiet)?;
    match status.code() {
        Some(0) => return Ok(false),
        Some(1) => {}
        _ => bail!(
            "`git {}` in {} failed ({status})",
            quiet.join(" "),
            dir.display()
        ),
    }
    let status = shown(args)?;
    if !status.success() {
        bail!(
            "`git {}` in {} failed ({status})",
            args.join(" "),
            dir.display()
        );
    }
    Ok(true)
}
