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
        .stdout_has("a1: seeded node_modules from the checkout (1 file, ");
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

/// A tree of more directories than the copy splits ahead of its workers (64), deep and
/// wide, with read-only files and directories: copied exactly (every file's bytes, every
/// mode and modification time).
#[test]
fn seed_copies_a_large_tree_exactly() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fleet::new();
    let nm = checkout(&f);
    fs::remove_file(nm.join("escape")).unwrap();
    for p in 0..90 {
        let dir = nm.join(format!("pkg{p}/lib/deep/er"));
        fs::create_dir_all(&dir).unwrap();
        for i in 0..(p % 7 + 1) {
            fs::write(dir.join(format!("m{i}.js")), "x".repeat(p * 100 + i)).unwrap();
        }
        fs::write(
            nm.join(format!("pkg{p}/package.json")),
            format!("{{\"n\":{p}}}"),
        )
        .unwrap();
    }
    fs::set_permissions(
        nm.join("pkg3/package.json"),
        fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    fs::set_permissions(
        nm.join("pkg4/lib/deep/er/m0.js"),
        fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    fs::set_permissions(nm.join("pkg5/lib/deep"), fs::Permissions::from_mode(0o555)).unwrap();
    f.manifest(
        "seed: [node_modules]\nagents:\n  - name: a1\n    prompt: hi\n    command: \"true\"\n",
    );
    f.fleet(&["up"])
        .success()
        .stdout_has("a1: seeded node_modules from the checkout (");
    let wt = f.worktree("a1").join("node_modules");
    let (want, got) = (listing(&nm), listing(&wt));
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "{} differs", w.0.display());
    }
    // (the read-only directory, made writable again so the temp dir can go)
    for root in [&nm, &wt] {
        fs::set_permissions(
            root.join("pkg5/lib/deep"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
}

/// Every entry under `root`, sorted: its path, mode, modification time, size and bytes.
type Entry = (std::path::PathBuf, u32, (i64, i64), u64, Vec<u8>);
fn listing(root: &std::path::Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let body = if m.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.push((
                p.strip_prefix(root).unwrap().to_path_buf(),
                m.mode(),
                (m.mtime(), m.mtime_nsec()),
                if m.is_dir() { 0 } else { m.len() },
                body,
            ));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The test's repository cloned onto the mounted image at `disk/`, with `ignored/` in its
/// `.gitignore` and the lockfile `lockfile` committed: the clone's path.
fn clone_onto_disk(f: &Fleet, ignored: &str, lockfile: &str) -> std::path::PathBuf {
    let repo = f.root.join("disk/repo");
    f.git_in(
        &f.root,
        &[
            "clone",
            "-q",
            f.repo.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    let text = if lockfile == "Cargo.lock" {
        "version = 3\n"
    } else {
        "{\"lockfileVersion\": 3}\n"
    };
    fs::write(repo.join(".gitignore"), format!("{ignored}/\n")).unwrap();
    fs::write(repo.join(lockfile), text).unwrap();
    f.git_in(&repo, &["add", ".gitignore", lockfile]);
    f.git_in(&repo, &["commit", "-qm", "lockfile"]);
    repo
}

/// A btrfs image loop-mounted at a directory for one test, unmounted (lazily: a process may
/// still be in it) and removed when dropped.
struct Btrfs(std::path::PathBuf);

impl Btrfs {
    /// `dir` (made here) as the mount point; None (and why, on stderr) where this machine
    /// cannot: not root, no btrfs tools, no loop device.
    fn mount(dir: &std::path::Path) -> Option<Btrfs> {
        let run = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let img = dir.with_extension("img");
        let (i, d) = (img.to_str().unwrap(), dir.to_str().unwrap());
        fs::create_dir_all(dir).unwrap();
        let ok = // SAFETY: geteuid has no preconditions and cannot fail.
            unsafe { libc::geteuid() } == 0
            && run("truncate", &["-s", "300M", i])
            && run("mkfs.btrfs", &["-q", i])
            && run("mount", &["-o", "loop", i, d])
            && run("btrfs", &["--version"]);
        if !ok {
            eprintln!("skipped: needs root, mkfs.btrfs, btrfs and a loop device");
            let _ = fs::remove_file(&img);
            return None;
        }
        Some(Btrfs(dir.to_path_buf()))
    }
}

impl Drop for Btrfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = fs::remove_file(self.0.with_extension("img"));
    }
}

/// On btrfs, a `node_modules` that is a subvolume of the user's is seeded as a snapshot of
/// it (one step, whatever its size): a tree of its own, so the agent's write in place
/// leaves the checkout's file unchanged.
#[test]
fn a_subvolume_is_seeded_as_a_snapshot_that_writes_cannot_cross() {
    let f = Fleet::new();
    let Some(_disk) = Btrfs::mount(&f.root.join("disk")) else {
        return;
    };
    // The repository moved onto the btrfs image, its node_modules a subvolume.
    let repo = clone_onto_disk(&f, "node_modules", "package-lock.json");
    let nm = repo.join("node_modules");
    let made = std::process::Command::new("btrfs")
        .args(["subvolume", "create"])
        .arg(&nm)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    fs::create_dir_all(nm.join("left-pad/lib")).unwrap();
    fs::write(nm.join("left-pad/lib/index.js"), "original\n").unwrap();
    fs::write(
        repo.join("agents.yaml"),
        "seed: [node_modules]\nagents:\n  - name: a1\n    prompt: hi\n    \
         command: \"printf changed > node_modules/left-pad/lib/index.js; echo done\"\n",
    )
    .unwrap();
    f.fleet_at(&repo, &[], &["up"])
        .success()
        .stdout_has("a1: seeded node_modules from the checkout (1 file, snapshot)");
    let wt = f.root.join("disk/repo.worktrees/a1/node_modules");
    // A subvolume of its own (the root inode of one), not the checkout's.
    assert_eq!(fs::metadata(&wt).unwrap().ino(), 256);
    f.wait_for("the agent's write", 20, |_| {
        fs::read_to_string(wt.join("left-pad/lib/index.js")).is_ok_and(|s| s == "changed")
    });
    assert_eq!(
        fs::read_to_string(wt.join("left-pad/lib/index.js")).unwrap(),
        "changed"
    );
    assert_eq!(
        fs::read_to_string(nm.join("left-pad/lib/index.js")).unwrap(),
        "original\n"
    );
    f.fleet_at(&repo, &[], &["down", "--rm-worktrees", "--force"])
        .success();
}

/// On btrfs, a plain `node_modules` (no subvolume of the user's) is seeded through fleet's
/// own seed base in `.fleet/seed/`: made by the first `up`, brought up to date by the next
/// (a changed file cloned anew, a removed one gone, a new one there), and each worktree's
/// copy one snapshot of it. Writes through a seeded copy reach neither the checkout nor
/// the base. A user who is not root does the same, and its `down --rm-worktrees` of the
/// last worktree removes the snapshots and the base.
#[test]
fn a_plain_directory_on_btrfs_is_seeded_from_a_base_kept_in_step() {
    let f = Fleet::new();
    let Some(_disk) = Btrfs::mount(&f.root.join("disk")) else {
        return;
    };
    let repo = clone_onto_disk(&f, "node_modules", "package-lock.json");
    let nm = repo.join("node_modules");
    fs::create_dir_all(nm.join("left-pad/lib")).unwrap();
    fs::create_dir_all(nm.join(".bin")).unwrap();
    fs::write(nm.join("left-pad/lib/index.js"), "original\n").unwrap();
    fs::write(nm.join("left-pad/gone.js"), "gone\n").unwrap();
    symlink("../left-pad/lib/index.js", nm.join(".bin/left-pad")).unwrap();
    let agent = |name: &str| {
        format!(
            "  - name: {name}\n    prompt: hi\n    \
             command: \"printf changed > node_modules/left-pad/lib/index.js; echo done\"\n"
        )
    };
    let manifest = |names: &[&str]| {
        let agents: String = names.iter().map(|n| agent(n)).collect();
        fs::write(
            repo.join("agents.yaml"),
            format!("seed: [node_modules]\nagents:\n{agents}"),
        )
        .unwrap();
    };
    let done = |name: &str| {
        f.wait_for(&format!("{name} to be done"), 30, |f| {
            let out = f.fleet_at(&repo, &[], &["status", "--json"]).stdout.clone();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
            v["agents"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["name"] == name && a["state"] == "done")
        })
    };
    manifest(&["a1"]);
    f.fleet_at(&repo, &[], &["up"])
        .success()
        .stdout_has("seed base .fleet/seed/node_modules: made from the checkout (2 files)")
        .stdout_has(
            "a1: seeded node_modules from the checkout (2 files, snapshot of its seed base)",
        );
    let base = repo.join(".fleet/seed/node_modules");
    let wt1 = f.root.join("disk/repo.worktrees/a1/node_modules");
    // The base and the copy are subvolumes (the root inode of one), the checkout's is not.
    assert_eq!(fs::metadata(&base).unwrap().ino(), 256);
    assert_eq!(fs::metadata(&wt1).unwrap().ino(), 256);
    assert_ne!(fs::metadata(&nm).unwrap().ino(), 256);
    f.wait_for("the agent's write", 20, |_| {
        fs::read_to_string(wt1.join("left-pad/lib/index.js")).is_ok_and(|s| s == "changed")
    });
    done("a1");
    // The write went through the copy alone.
    for tree in [&nm, &base] {
        assert_eq!(
            fs::read_to_string(tree.join("left-pad/lib/index.js")).unwrap(),
            "original\n",
            "{}",
            tree.display()
        );
    }
    assert_eq!(
        fs::read_link(wt1.join(".bin/left-pad")).unwrap(),
        std::path::Path::new("../left-pad/lib/index.js")
    );
    // The checkout's directory changes: a file rewritten, one removed, one added.
    fs::write(nm.join("left-pad/lib/index.js"), "version 2\n").unwrap();
    fs::remove_file(nm.join("left-pad/gone.js")).unwrap();
    fs::write(nm.join("left-pad/new.js"), "new\n").unwrap();
    fs::create_dir_all(nm.join("ro/lib")).unwrap();
    fs::write(nm.join("ro/lib/x.js"), "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(nm.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    manifest(&["a1", "a2"]);
    f.fleet_at(&repo, &[], &["up"])
        .success()
        .stdout_has("seed base .fleet/seed/node_modules: brought up to date (3 entries cloned anew, 1 entry removed) (3 files)")
        .stdout_has("a2: seeded node_modules from the checkout (3 files, snapshot of its seed base)");
    let wt2 = f.root.join("disk/repo.worktrees/a2/node_modules");
    // The base and the new copy are the checkout's tree exactly: every entry's bytes, mode
    // and modification time, the read-only directory's too (but the file a2 rewrites).
    let want = listing(&nm);
    assert_eq!(listing(&base), want);
    let written = std::path::Path::new("left-pad/lib/index.js");
    let but = |l: Vec<Entry>| l.into_iter().filter(|e| e.0 != written).collect::<Vec<_>>();
    assert_eq!(but(listing(&wt2)), but(want));
    for tree in [&base, &wt2] {
        assert!(
            !tree.join("left-pad/gone.js").exists(),
            "{}",
            tree.display()
        );
        assert_eq!(
            fs::read_to_string(tree.join("left-pad/new.js")).unwrap(),
            "new\n"
        );
    }
    assert_eq!(
        fs::read_to_string(base.join("left-pad/lib/index.js")).unwrap(),
        "version 2\n"
    );
    done("a2");
    // a1's copy is its own: still what the agent wrote, with the file since removed.
    assert_eq!(
        fs::read_to_string(wt1.join("left-pad/lib/index.js")).unwrap(),
        "changed"
    );
    assert!(wt1.join("left-pad/gone.js").exists());
    assert_eq!(
        fs::read_to_string(nm.join("left-pad/lib/index.js")).unwrap(),
        "version 2\n"
    );
    // A user who is not root, owning the repository: its up syncs and snapshots the base,
    // its down removes the seeded snapshots and the base (btrfs lets the owner rmdir an
    // emptied subvolume).
    f.fleet_at(&repo, &[], &["down"]).success();
    let user = "1000";
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .arg(&f.root)
        .output()
        .unwrap();
    assert!(chown.status.success(), "{chown:?}");
    let as_user = |args: &[&str]| {
        let (uid, gid) = (format!("--reuid={user}"), format!("--regid={user}"));
        let mut all = vec![
            &uid[..],
            &gid[..],
            "--clear-groups",
            env!("CARGO_BIN_EXE_fleet"),
        ];
        all.extend_from_slice(args);
        f.program_at("setpriv", &repo, &[], &all)
    };
    // The user's own up brings the base (now the user's) up to date and snapshots it.
    fs::write(
        nm.join("left-pad/lib/index.js"),
        "version 3
",
    )
    .unwrap();
    manifest(&["a1", "a2", "a3"]);
    as_user(&["up"])
        .success()
        .stdout_has("seed base .fleet/seed/node_modules: brought up to date (1 entry cloned anew, 0 entries removed)")
        .stdout_has("a3: seeded node_modules from the checkout (3 files, snapshot of its seed base)");
    let wt3 = f.root.join("disk/repo.worktrees/a3/node_modules");
    assert_eq!(fs::metadata(&wt3).unwrap().ino(), 256);
    assert_eq!(fs::metadata(&wt3).unwrap().uid(), 1000);
    f.wait_for("a3's write", 20, |_| {
        fs::read_to_string(wt3.join("left-pad/lib/index.js")).is_ok_and(|s| s == "changed")
    });
    assert_eq!(
        fs::read_to_string(base.join("left-pad/lib/index.js")).unwrap(),
        "version 3\n"
    );
    as_user(&["down", "--rm-worktrees", "--force"])
        .success()
        .stdout_has("removed the seed bases in");
    assert!(!wt3.exists());
    assert!(!wt1.exists() && !wt2.exists());
    assert!(!repo.join(".fleet/seed").exists());
}

/// The seed base stays while the fleet has a worktree (a `down` that keeps them, or removes
/// some) and goes with the `down --rm-worktrees` that leaves none (here as root: btrfs
/// deletes the subvolume whole).
#[test]
fn the_seed_base_goes_with_the_last_worktree() {
    let f = Fleet::new();
    let Some(_disk) = Btrfs::mount(&f.root.join("disk")) else {
        return;
    };
    let repo = clone_onto_disk(&f, "target", "Cargo.lock");
    fs::create_dir_all(repo.join("target/debug")).unwrap();
    fs::write(repo.join("target/debug/app"), "binary\n").unwrap();
    fs::write(
        repo.join("agents.yaml"),
        "seed: [target]\nagents:\n  - name: a1\n    prompt: hi\n    command: \"true\"\n  \
         - name: a2\n    prompt: hi\n    command: \"true\"\n",
    )
    .unwrap();
    f.fleet_at(&repo, &[], &["up"])
        .success()
        .stdout_has("a1: seeded target from the checkout (1 file, snapshot of its seed base)")
        .stdout_has("a2: seeded target from the checkout (1 file, snapshot of its seed base)");
    let base = repo.join(".fleet/seed/target");
    assert_eq!(fs::metadata(&base).unwrap().ino(), 256);
    f.fleet_at(&repo, &[], &["down"]).success();
    assert!(base.exists());
    f.fleet_at(&repo, &[], &["down", "a1", "--rm-worktrees", "--force"])
        .success();
    assert!(base.exists(), "a2's worktree is still there");
    f.fleet_at(&repo, &[], &["down", "a2", "--rm-worktrees", "--force"])
        .success()
        .stdout_has("removed the seed bases in");
    assert!(!repo.join(".fleet/seed").exists());
    assert!(!f.root.join("disk/repo.worktrees/a2").exists());
}
