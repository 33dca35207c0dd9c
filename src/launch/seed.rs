//! `seed:` in a new worktree: each listed directory of the main checkout (ignored ones such
//! as `node_modules`) copied in by [`crate::safe_fs::clone_tree`] (a clone where the file
//! system shares blocks, else a real copy; never a link), only when every file it derives
//! from (its keys: the lockfiles beside it, or `key:`) is the same in the worktree as in
//! the checkout. Otherwise it is skipped with a line saying why; a directory already in
//! the worktree (tracked by git) is never touched.
//!
//! On btrfs the copy is one snapshot of the directory's seed base instead
//! ([`crate::safe_fs::sync_base`]: fleet's own subvolume in `.fleet/seed/`, made by the
//! clone walk and brought up to date once per `up` before the first worktree takes its
//! snapshot); where there can be none (another file system, another subvolume) or it
//! fails, the walk as above.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::launch::hints::plural;
use crate::manifest::{Agent, Plan, Seed};

/// The files a key pattern names in `root` (a `*` in its last part matches any part of a
/// name), sorted, with their contents.
fn key_files(root: &Path, key: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let name = key
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = key.parent().unwrap_or(Path::new(""));
    let names: Vec<String> = match name.split_once('*') {
        None => vec![name],
        Some((head, tail)) => {
            let mut found: Vec<String> = std::fs::read_dir(root.join(parent))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| {
                            n.len() >= head.len() + tail.len()
                                && n.starts_with(head)
                                && n.ends_with(tail)
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found
        }
    };
    names
        .into_iter()
        .filter_map(|n| {
            let rel = parent.join(n);
            let bytes = std::fs::read(root.join(&rel)).ok()?;
            Some((rel, bytes))
        })
        .collect()
}

/// Why the worktree's keys are not the checkout's (None when they all are the same).
fn keys_differ(plan: &Plan, worktree: &Path, seed: &Seed) -> Option<String> {
    let mut any = false;
    for key in &seed.keys {
        let here = key_files(&plan.repo, key);
        let there = key_files(worktree, key);
        any |= !here.is_empty();
        for (rel, bytes) in &here {
            match there.iter().find(|(r, _)| r == rel) {
                None => return Some(format!("{} is not in the worktree", rel.display())),
                Some((_, b)) if b != bytes => {
                    return Some(format!(
                        "{} differs from the checkout's (the branch changed it)",
                        rel.display()
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some((rel, _)) = there
            .iter()
            .find(|(r, _)| !here.iter().any(|(h, _)| h == r))
        {
            return Some(format!("{} is not in the checkout", rel.display()));
        }
    }
    if !any {
        let names: Vec<String> = seed.keys.iter().map(|k| k.display().to_string()).collect();
        return Some(format!(
            "none of the files it derives from is in the checkout ({}); name its lockfile with `key:`",
            names.join(", ")
        ));
    }
    None
}

/// The seed bases of one `up`: each brought up to date once, by the first worktree that
/// needs it (the others wait for it); by the seeded directory, its files and bytes (None:
/// no base, the walk seeds).
#[derive(Default)]
pub struct Bases(Mutex<HashMap<PathBuf, Option<(u64, u64)>>>);

/// Where the base of the seeded directory `rel` lives.
pub fn base_path(plan: &Plan, rel: &Path) -> PathBuf {
    plan.state_dir
        .join("seed")
        .join(crate::safe_fs::base_name(rel))
}

impl Bases {
    /// The base of `rel` brought up to date (by this call when it is the first), with its
    /// files and bytes; the line saying what the sync did, when this call made it.
    fn get(&self, plan: &Plan, rel: &Path, near: &Path) -> (Option<(u64, u64)>, Option<String>) {
        let Ok(mut all) = self.0.lock() else {
            return (None, None);
        };
        if let Some(known) = all.get(rel) {
            return (*known, None);
        }
        let base = base_path(plan, rel);
        let shown = base
            .strip_prefix(&plan.dir)
            .unwrap_or(&base)
            .display()
            .to_string();
        let (known, line) = match crate::safe_fs::sync_base(&plan.repo, rel, &base, near) {
            Ok(None) => (None, None),
            Ok(Some(s)) => {
                let what = if s.made {
                    "made from the checkout".to_string()
                } else if s.changed + s.removed == 0 {
                    "up to date with the checkout".to_string()
                } else {
                    let entries =
                        |n: u64| format!("{n} {}", if n == 1 { "entry" } else { "entries" });
                    format!(
                        "brought up to date ({} cloned anew, {} removed)",
                        entries(s.changed),
                        entries(s.removed)
                    )
                };
                let line = format!(
                    "seed base {shown}: {what} ({} files); each worktree's {} is a snapshot of it",
                    s.files,
                    rel.display()
                );
                (Some((s.files, s.bytes)), Some(line))
            }
            Err(e) => (
                None,
                Some(format!(
                    "seed base {shown}: {e:#}; seeding {} file by file",
                    rel.display()
                )),
            ),
        };
        all.insert(rel.to_path_buf(), known);
        (known, line)
    }
}

/// Seeds the new worktree of `agent`; the lines to say (one per directory, seeded or
/// skipped, and why) and the bytes copied.
pub fn seed(plan: &Plan, agent: &Agent, bases: &Bases) -> (Vec<String>, u64) {
    let mut said = Vec::new();
    let mut bytes = 0;
    for s in &agent.seed {
        let path = s.path.display();
        let name = &agent.name;
        let skip = |why: String| format!("{name}: seed {path} skipped: {why}");
        let src = plan.repo.join(&s.path);
        if !src.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            said.push(skip(format!(
                "{} is not a directory in the checkout",
                src.display()
            )));
            continue;
        }
        if agent.worktree.join(&s.path).symlink_metadata().is_ok() {
            said.push(skip(
                "the worktree has it already (tracked by git?); kept as it is".into(),
            ));
            continue;
        }
        if let Some(why) = keys_differ(plan, &agent.worktree, s) {
            said.push(skip(why));
            continue;
        }
        let (base, line) = bases.get(plan, &s.path, &agent.worktree);
        said.extend(line);
        if let Some((files, b)) = base {
            let at = base_path(plan, &s.path);
            if crate::safe_fs::snapshot_base(&at, &agent.worktree, &s.path).is_ok() {
                bytes += b;
                said.push(format!(
                    "{name}: seeded {path} from the checkout ({}, snapshot of its seed base)",
                    plural(files as usize, "file")
                ));
                continue;
            }
        }
        match crate::safe_fs::clone_tree(&plan.repo, &agent.worktree, &s.path) {
            Ok(c) => {
                bytes += c.bytes;
                said.push(format!(
                    "{name}: seeded {path} from the checkout ({}, {})",
                    plural(c.files as usize, "file"),
                    if c.snapshot {
                        "snapshot"
                    } else if c.cloned == c.files && c.files > 0 {
                        "cloned"
                    } else {
                        "copied"
                    }
                ))
            }
            Err(e) => {
                // What was copied is fleet's own (the worktree is new, no agent ran in it);
                // removed only through no symlink.
                let dst = agent.worktree.join(&s.path);
                if crate::safe_fs::first_symlink(&dst).is_none() {
                    let _ = std::fs::remove_dir_all(&dst);
                }
                said.push(skip(format!("{e:#}")));
            }
        }
    }
    (said, bytes)
}
