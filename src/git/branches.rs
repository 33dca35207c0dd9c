//! Questions about local branches and making them: whether one exists, those under a prefix
//! or matching patterns, which of a list exist (each in one git call), git's branch-name rules
//! checked offline, and creating several branches at once (all or none).
use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Result};

use super::{check, git, run};

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

/// Create these branches at `base` in one `git update-ref --stdin` (all or none), as `git
/// branch` would, reflog message included.
pub fn create_branches(repo: &Path, branches: &[&str], base: &str) -> Result<()> {
    if branches.is_empty() {
        return Ok(());
    }
    let message = format!("branch: Created from {base}");
    let text: String = branches
        .iter()
        // `^{commit}`: a base that is an annotated tag gives its commit, as `git branch`.
        .map(|b| format!("create refs/heads/{b} {base}^{{commit}}\n"))
        .collect();
    // In its own process group: the transaction is not cut short (leaving a ref's lock file).
    let out = git(repo, &["update-ref", "-m", &message, "--stdin"])
        .own_group()
        .input(text)
        .stdout(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "cannot create the branches {} from {base}: {}",
            branches.join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
