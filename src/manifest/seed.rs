//! `seed:`: ignored directories of the main checkout (`node_modules`, `target`, `.venv`…)
//! that each new worktree gets a copy of, each with the files it derives from (its keys):
//! the copy is made only when every key is the same in the worktree as in the checkout.
//! An entry is a path (its keys from [`KNOWN`], by the directory's name) or
//! `{path: P, key: F}` / `{path: P, key: [F, G]}` naming them. Paths are relative to the
//! manifest's directory, as `copy:`'s, and inside the repository.
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::paths::normalize;

/// The files a seeded directory derives from, by the directory's name: the lockfiles and
/// manifests beside it (in its parent directory; `*` matches any part of a name). A
/// directory named otherwise needs `key:`.
pub const KNOWN: &[(&str, &[&str])] = &[
    (
        "node_modules",
        &[
            "package-lock.json",
            "npm-shrinkwrap.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            "bun.lockb",
            "bun.lock",
        ],
    ),
    ("target", &["Cargo.lock"]),
    (
        ".venv",
        &[
            "poetry.lock",
            "uv.lock",
            "pdm.lock",
            "Pipfile.lock",
            "requirements*.txt",
        ],
    ),
    (
        "venv",
        &[
            "poetry.lock",
            "uv.lock",
            "pdm.lock",
            "Pipfile.lock",
            "requirements*.txt",
        ],
    ),
    ("vendor", &["composer.lock", "Gemfile.lock", "go.sum"]),
    (".bundle", &["Gemfile.lock"]),
];

/// One entry of `seed:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawSeed {
    Path(PathBuf),
    Keyed { path: PathBuf, key: KeyList },
}

/// `key:`: one file or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum KeyList {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

/// One resolved `seed:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The directory, relative to the repository.
    pub path: PathBuf,
    /// The files it derives from, relative to the repository (a `*` in the last part
    /// matches any part of a name).
    pub keys: Vec<PathBuf>,
}

/// A path of `seed:` relative to the repository, or a problem naming it.
fn inside(
    p: &Path,
    dir: &Path,
    repo: &Path,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<PathBuf> {
    let abs = normalize(&dir.join(p));
    match abs.strip_prefix(repo) {
        Ok(rel) if !rel.as_os_str().is_empty() => Some(rel.to_path_buf()),
        _ => {
            problems.push(format!(
                "{at}seed: {} is not inside the repository {}; name a directory in it, e.g. `node_modules`",
                p.display(),
                repo.display()
            ));
            None
        }
    }
}

/// The `seed:` entries resolved (`at` names the agent or is empty at the top level).
pub(super) fn seeds(
    raw: &[RawSeed],
    dir: &Path,
    repo: &Path,
    at: &str,
    problems: &mut Vec<String>,
) -> Vec<Seed> {
    let mut out = Vec::new();
    for s in raw {
        let (path, given) = match s {
            RawSeed::Path(p) => (p, None),
            RawSeed::Keyed { path, key } => (path, Some(key)),
        };
        let Some(rel) = inside(path, dir, repo, at, problems) else {
            continue;
        };
        let keys = match given {
            Some(KeyList::One(k)) => vec![k.clone()],
            Some(KeyList::Many(k)) => k.clone(),
            None => {
                let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
                let known = KNOWN.iter().find(|(n, _)| Some(*n) == name.as_deref());
                let Some((_, files)) = known else {
                    problems.push(format!(
                        "{at}seed: fleet does not know what {} derives from; name its lockfile: `seed: [{{path: {}, key: FILE}}]`",
                        path.display(),
                        path.display()
                    ));
                    continue;
                };
                let parent = rel.parent().unwrap_or(Path::new(""));
                out.push(Seed {
                    keys: files.iter().map(|f| parent.join(f)).collect(),
                    path: rel,
                });
                continue;
            }
        };
        if keys.is_empty() {
            problems.push(format!(
                "{at}seed: {}: `key:` is empty; name the lockfile it derives from",
                path.display()
            ));
            continue;
        }
        let keys: Vec<PathBuf> = keys
            .iter()
            .filter_map(|k| inside(k, dir, repo, at, problems))
            .collect();
        out.push(Seed { path: rel, keys });
    }
    out
}
