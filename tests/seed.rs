//! `seed:`: each new worktree gets a copy of ignored directories of the checkout
//! (`node_modules`…) that the agent's writes cannot turn into writes to the user's own
//! directory (never a hard link), symlinks inside copied as symlinks (never followed out),
//! and only when the lockfile it derives from is the same in the worktree as in the
//! checkout; else skipped with a line saying why.
mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};

use common::Fleet;

/// A checkout with an ignored `node_modules` (a file, a `.bin` symlink inside it, a symlink
/// out of the repository) and a committed `package-lock.json`.
fn checkout(f: &Fleet) -> std::path::PathBuf {
    f.file(".gitignore", "node_modules/\n");
    f.file("package-lock.json", "{\"lockfileVersion\": 3}\n");
    f.git(&["add", ".gitignore", "package-lock.json"]);
    f.git(&["commit", "-qm", "lockfile"]);
    let nm = f.repo.join("node_modules");
    fs::create_dir_all(nm.join("left-pad/lib")).unwrap();
    fs::create_dir_all(nm.join(".bin")).unwrap();
    fs::write(nm.join("left-pad/lib/index.js"), "original\n").unwrap();
    symlink("../left-pad/lib/index.js", nm.join(".bin/left-pad")).unwrap();
    let outside = f.root.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "SECRET\n").unwrap();
    symlink(&outside, nm.join("escape")).unwrap();
    nm
}

#[test]
fn seed_copies_never_links_and_keeps_symlinks_as_symlinks() {
    let f = Fleet::new();
    let nm = checkout(&f);
    // The agent rewrites the seeded file in place (as `npm install` may).
    f.manifest(
        "seed: [node_modules]\nagents:\n  - name: a1\n    prompt: hi\n    \
         command: \"printf changed > node_modules/left-pad/lib/index.js; echo done\"\n",
    );
    f.fleet(&["up"])
        .success()
        .stdout_has("a1: seeded node_modules from the checkout (1 files, ");
    f.wait_state("a1", "done");
    let wt = f.worktree("a1").join("node_modules");
    assert_eq!(
        fs::read_to_string(wt.join("left-pad/lib/index.js")).unwrap(),
        "changed"
    );
    // The checkout's file is unchanged, and was never the same inode.
    assert_eq!(
        fs::read_to_string(nm.join("left-pad/lib/index.js")).unwrap(),
        "original\n"
    );
    let (a, b) = (
        fs::metadata(nm.join("left-pad/lib/index.js")).unwrap(),
        fs::metadata(wt.join("left-pad/lib/index.js")).unwrap(),
    );
    assert_ne!((a.dev(), a.ino()), (b.dev(), b.ino()));
    assert_eq!(a.nlink(), 1);
    // Its disk use: the checked-out files and the seeded ones, measured at creation.
    let disk = f.agent("a1")["disk_bytes"].as_u64().unwrap();
    let least = "original\n".len() + "node_modules/\n".len() + "{\"lockfileVersion\": 3}\n".len();
    assert!(disk >= least as u64, "disk_bytes {disk}");
    // Symlinks are copied as symlinks: the one out of the repository is not followed.
    let escape = wt.join("escape");
    assert!(fs::symlink_metadata(&escape).unwrap().is_symlink());
    assert_eq!(fs::read_link(&escape).unwrap(), f.root.join("outside"));
    assert_eq!(
        fs::read_link(wt.join(".bin/left-pad")).unwrap(),
        std::path::Path::new("../left-pad/lib/index.js")
    );
}

#[test]
fn a_lockfile_that_differs_skips_the_seed_with_a_message() {
    let f = Fleet::new();
    checkout(&f);
    // The checkout's lockfile changed since the commit the worktree is made from.
    f.file(
        "package-lock.json",
        "{\"lockfileVersion\": 3, \"new\": 1}\n",
    );
    f.manifest(
        "seed: [node_modules]\nagents:\n  - name: a1\n    prompt: hi\n    command: \"echo done\"\n",
    );
    f.fleet(&["up"])
        .success()
        .stdout_has("a1: seed node_modules skipped: package-lock.json differs from the checkout's");
    assert!(!f.worktree("a1").join("node_modules").exists());
}

#[test]
fn a_seed_without_a_known_lockfile_is_a_manifest_error() {
    let f = Fleet::new();
    f.manifest("seed: [deps]\nagents:\n  - name: a1\n    prompt: hi\n    command: \"true\"\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("seed: fleet does not know what deps derives from; name its lockfile");
    // Named: fine.
    f.manifest(
        "seed: [{path: deps, key: deps.lock}]\nagents:\n  - name: a1\n    prompt: hi\n    command: \"true\"\n",
    );
    f.fleet(&["validate"]).success();
}
