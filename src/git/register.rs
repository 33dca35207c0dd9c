//! Registering new worktrees: the only place that decides how (`git worktree add
//! --no-checkout`, or fleet writing git's few worktree files itself), writes those files,
//! and takes apart a worktree an `up` began and did not complete.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::git;
use super::worktrees::dotgit_target;

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
    let out = git(
        repo,
        &[
            "config",
            "--get-regexp",
            r"^(extensions\.(worktreeconfig|relativeworktrees|refstorage)|core\.(sparsecheckout|sharedrepository)|worktree\.userelativepaths)$",
        ],
    )
    .output()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tests::temp_repo;
    use crate::git::{common_dir, registered, worktree_fill, worktree_unfilled, worktrees};

    /// A worktree `g` on `by-git` added by `git worktree add --no-checkout`, and one `f` on
    /// `by-fleet` registered by fleet beside it (a `Registrar::Files` repository).
    struct Pair {
        _tmp: tempfile::TempDir,
        repo: PathBuf,
        common: PathBuf,
        g: PathBuf,
        f: PathBuf,
    }

    fn registered_beside_git(git: impl Fn(&Path, &[&str]) -> String, pair: Pair) -> Pair {
        let Pair { repo, g, f, .. } = &pair;
        git(repo, &["branch", "by-git"]);
        git(repo, &["branch", "by-fleet"]);
        git(
            repo,
            &[
                "worktree",
                "add",
                "-q",
                "--no-checkout",
                &g.display().to_string(),
                "by-git",
            ],
        );
        let common = common_dir(repo).unwrap();
        assert_eq!(
            registrar(repo, &common).unwrap(),
            Registrar::Files {
                common: common.clone()
            }
        );
        register_worktree(&common, f, "by-fleet").unwrap();
        Pair { common, ..pair }
    }

    fn pair() -> (Pair, impl Fn(&Path, &[&str]) -> String) {
        let (_tmp, repo, git) = temp_repo();
        let wts = repo.parent().unwrap().join("wts");
        let (g, f) = (wts.join("g"), wts.join("sub").join("f"));
        let pair = Pair {
            _tmp,
            repo,
            common: PathBuf::new(),
            g,
            f,
        };
        (registered_beside_git(&git, pair), git)
    }

    #[test]
    fn a_registered_worktree_is_what_git_worktree_add_makes() {
        let (
            Pair {
                _tmp, common, g, f, ..
            },
            _git,
        ) = pair();
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
    }

    #[test]
    fn git_takes_a_registered_worktree_as_its_own() {
        let (
            Pair {
                _tmp,
                repo,
                common,
                f,
                ..
            },
            git,
        ) = pair();
        // listed on its branch, not prunable, checks out, removable
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
        assert!(!f.exists() && !common.join("worktrees").join("f").exists());
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
        let table_arg = table.display().to_string();
        let made = crate::git::git(
            repo.parent().unwrap(),
            &["init", "-q", "--ref-format=reftable", &table_arg],
        )
        .output()
        .unwrap();
        if made.status.success() {
            let common = common_dir(&table).unwrap();
            assert_eq!(registrar(&table, &common).unwrap(), Registrar::Git);
        }
    }
}
