//! Git between this repository and the repository of another host, over ssh: the base goes
//! there with a push, the agents' branches come back with a fetch. git runs here; ssh (the
//! `GIT_SSH_COMMAND` the launch layer gives, riding its multiplexed connection) runs
//! `git-receive-pack`/`git-upload-pack` there.
use std::path::Path;

use anyhow::Result;

use super::git;

/// Push `refspecs` from `repo` to `url` (`DEST:DIR`), ssh being `ssh_command`.
pub fn push(repo: &Path, url: &str, refspecs: &[String], ssh_command: &str) -> Result<()> {
    let mut args = vec!["push", "--quiet", url];
    args.extend(refspecs.iter().map(String::as_str));
    git(repo, &args)
        .env("GIT_SSH_COMMAND", ssh_command)
        .run()
        .map(|_| ())
}

/// The commit of each ref under `prefix` (`refs/remotes/fleet-HOST/`), by full ref name.
pub fn ref_oids(repo: &Path, prefix: &str) -> Result<std::collections::HashMap<String, String>> {
    let out = git(
        repo,
        &["for-each-ref", "--format=%(objectname) %(refname)", prefix],
    )
    .run()?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(oid, name)| (name.to_string(), oid.to_string()))
        .collect())
}

/// The bytes of every file of the tree of `rev` (what a checkout of it writes), from one
/// `ls-tree -r -l`.
pub fn tree_bytes(repo: &Path, rev: &str) -> Result<u64> {
    let out = git(repo, &["ls-tree", "-r", "-l", "--full-tree", rev]).run()?;
    Ok(out
        .lines()
        .filter_map(|l| {
            l.split('\t')
                .next()?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        })
        .sum())
}

/// Fetch `refspecs` from `url` into `repo`, ssh being `ssh_command`.
pub fn fetch(repo: &Path, url: &str, refspecs: &[String], ssh_command: &str) -> Result<()> {
    let mut args = vec!["fetch", "--quiet", "--no-tags", url];
    args.extend(refspecs.iter().map(String::as_str));
    git(repo, &args)
        .env("GIT_SSH_COMMAND", ssh_command)
        .run()
        .map(|_| ())
}

/// The repository at `dir` (a directory that exists) ready to receive `push`es from another
/// machine: made with `git init` when it is none, and its checked-out branch updated by a
/// push (`receive.denyCurrentBranch updateInstead`). For the fleet of a host, on its own
/// repository.
pub fn receiving(dir: &Path) -> Result<()> {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q"]).run()?;
    }
    git(
        dir,
        &["config", "receive.denyCurrentBranch", "updateInstead"],
    )
    .run()
    .map(|_| ())
}
