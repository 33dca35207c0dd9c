//! Paths (issue 15, classes 1 and 2). Class 1: fleet never writes, truncates or copies
//! through a symlink it did not make, and `copy:` never reads outside the repository — a log
//! or `.fleet/lock` symlinked to a file outside, `copy:` of a committed symlink, through a
//! symlinked directory, of a symlink loop, `fleet init` over a dangling `agents.yaml`
//! symlink. Class 2: paths that matter — a `log:` that is the manifest, a task file, under
//! `.git/`, in a worktree or among `.fleet/`'s internals, a `worktree_dir` mixed with
//! `.fleet/` — are refused with exit 2 and nothing created; a `worktree_dir` inside the
//! checkout and a manifest under `a[1]/` are kept out of git.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::Fleet;

/// `validate` and `up` each refuse with exit 2, one message holding every fragment, and
/// nothing under the temp dir changes.
#[track_caller]
fn refused(f: &Fleet, expect: &[&str]) {
    let before = f.files();
    for cmd in ["validate", "up"] {
        let run = f.fleet(&[cmd]);
        run.code(2);
        for e in expect {
            run.stderr_has(e);
        }
        assert_eq!(f.files(), before, "`fleet {cmd}` changed files");
    }
    assert_eq!(f.sessions(), Vec::<String>::new());
}

const OUTSIDE: &str = "the user's own file, outside the repository\n";

// ---------------------------------------------------------------- class 1

#[test]
fn a_log_symlinked_to_a_file_outside_is_refused_and_the_file_untouched() {
    let f = Fleet::new();
    let outside = f.root.join("outside.txt");
    fs::write(&outside, OUTSIDE).unwrap();
    fs::create_dir(f.repo.join("logs")).unwrap();
    symlink(&outside, f.repo.join("logs/a1.log")).unwrap();
    f.manifest(
        "agents:\n  - name: a1\n    prompt: hi\n    command: echo out\n    log: logs/a1.log\n",
    );
    refused(
        &f,
        &["agents.yaml", "a1", "logs/a1.log", "symlink", "outside.txt"],
    );

    // The same through a symlinked directory on the way.
    fs::remove_file(f.repo.join("logs/a1.log")).unwrap();
    fs::remove_dir(f.repo.join("logs")).unwrap();
    symlink(&f.root, f.repo.join("logs")).unwrap();
    f.manifest(
        "agents:\n  - name: a1\n    prompt: hi\n    command: echo out\n    log: logs/outside.txt\n",
    );
    refused(&f, &["a1", "symlink", "logs"]);
    assert_eq!(fs::read_to_string(&outside).unwrap(), OUTSIDE);
}

#[test]
fn a_lock_symlinked_to_a_file_outside_is_never_overwritten() {
    let f = Fleet::new();
    let outside = f.root.join("outside.txt");
    fs::write(&outside, OUTSIDE).unwrap();
    f.manifest("agents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n");
    fs::create_dir(f.repo.join(".fleet")).unwrap();
    symlink(&outside, f.repo.join(".fleet/lock")).unwrap();
    refused(&f, &[".fleet/lock", "symlink", "remove"]);
    for cmd in [&["down"][..], &["down", "a1"]] {
        f.fleet(cmd).code(2).stderr_has(".fleet/lock");
    }
    assert_eq!(fs::read_to_string(&outside).unwrap(), OUTSIDE);
}

#[test]
fn copy_of_a_committed_symlink_leaves_the_users_file_whole() {
    let f = Fleet::new();
    f.file("real.txt", "precious\n");
    symlink(f.repo.join("real.txt"), f.repo.join("link.txt")).unwrap();
    f.git(&["add", "real.txt", "link.txt"]);
    f.git(&["commit", "-q", "-m", "a committed symlink"]);
    f.manifest("copy: [link.txt]\nagents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n");
    f.fleet(&["up"]).success();
    assert_eq!(
        fs::read_to_string(f.repo.join("real.txt")).unwrap(),
        "precious\n"
    );
    let copied = f.worktree("a1").join("link.txt");
    assert!(fs::symlink_metadata(&copied).unwrap().is_symlink());
    assert_eq!(fs::read_link(&copied).unwrap(), f.repo.join("real.txt"));
}

#[test]
fn copy_reads_nothing_outside_the_repository_through_a_symlink() {
    let f = Fleet::new();
    let secrets = f.root.join("secrets");
    fs::create_dir(&secrets).unwrap();
    fs::write(secrets.join("key"), "SECRET\n").unwrap();
    symlink(&secrets, f.repo.join("conf")).unwrap();
    // Through a symlinked directory: refused before anything is made.
    f.manifest("copy: [conf/key]\nagents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n");
    refused(&f, &["copy", "conf/key", "symlink", "conf"]);

    // The symlink itself, or a directory holding it: refused like the outside path itself
    // (copied as a symlink, it would hand the agent the way out).
    f.manifest("copy: [conf]\nagents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n");
    refused(
        &f,
        &[
            "copy: conf is a symlink",
            "secrets",
            "outside the repository",
        ],
    );
    f.file("cfg/a.txt", "a\n");
    symlink("../../secrets/key", f.repo.join("cfg/key")).unwrap();
    f.manifest("copy: [cfg]\nagents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n");
    refused(
        &f,
        &[
            "copy: cfg holds the symlink",
            "cfg/key",
            "outside the repository",
        ],
    );
    // A symlink inside the repository to another that leads out: followed as the kernel would.
    fs::remove_file(f.repo.join("cfg/key")).unwrap();
    symlink("../conf/key", f.repo.join("cfg/key")).unwrap();
    refused(&f, &["cfg/key", "outside the repository"]);
    assert!(!f.worktree("a1").exists());
}

#[test]
fn copy_of_a_directory_with_a_symlink_loop_copies_the_loop_as_a_symlink() {
    let f = Fleet::new();
    f.file("cfg/a.txt", "a\n");
    symlink(".", f.repo.join("cfg/loop")).unwrap();
    symlink("b", f.repo.join("cfg/c")).unwrap();
    symlink("c", f.repo.join("cfg/b")).unwrap();
    f.manifest("copy: [cfg]\nagents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n");
    f.fleet(&["up"]).success();
    let cfg = f.worktree("a1").join("cfg");
    assert_eq!(fs::read_to_string(cfg.join("a.txt")).unwrap(), "a\n");
    for (link, target) in [("loop", "."), ("b", "c"), ("c", "b")] {
        assert_eq!(fs::read_link(cfg.join(link)).unwrap(), Path::new(target));
    }
}

#[test]
fn init_writes_nothing_through_a_dangling_manifest_symlink() {
    let f = Fleet::new();
    let target = f.root.join("elsewhere.yaml");
    symlink(&target, f.manifest_path()).unwrap();
    let run = f.fleet(&["init"]);
    assert_ne!(run.code, 0, "init must refuse");
    run.stderr_has("agents.yaml");
    assert!(!target.exists(), "init wrote through the symlink");
    assert!(!f.repo.join("tasks").exists(), "init wrote the task file");
}

// ---------------------------------------------------------------- class 2

#[test]
fn a_log_in_a_place_that_matters_is_refused_naming_the_place() {
    let cases: &[(&str, &[&str])] = &[
        ("agents.yaml", &["a1", "is the manifest"]),
        ("tasks/a2.md", &["a1", "task file of agent `a2`"]),
        (".git/a1.log", &["a1", ".git"]),
        (
            "../repo.worktrees/a2/x.log",
            &["a1", "worktree of agent `a2`"],
        ),
        (".fleet/agents/a2.json", &["a1", "fleet's own state"]),
        (".fleet/lock", &["a1", "fleet's own state"]),
        (".env", &["a1", "copy:"]),
    ];
    for (log, expect) in cases {
        let f = Fleet::new();
        f.file("tasks/a2.md", "do\n");
        f.file(".env", "X=1\n");
        f.manifest(&format!(
            "copy: [.env]\nagents:\n  - name: a1\n    prompt: hi\n    command: echo out\n    log: {log}\n  - name: a2\n    task: tasks/a2.md\n    command: echo out\n"
        ));
        let mut all = vec!["agents.yaml", "log:"];
        all.extend_from_slice(expect);
        refused(&f, &all);
    }
}

#[test]
fn a_worktree_dir_mixed_with_fleets_state_is_refused() {
    let cases: &[(&str, &str)] = &[
        (".fleet", "inside fleet's state"),
        (".fleet/wt", "inside fleet's state"),
        (".", "repository itself"),
    ];
    for (dir, why) in cases {
        let f = Fleet::new();
        f.manifest(&format!(
            "worktree_dir: {dir}\nagents:\n  - name: a1\n    prompt: hi\n    command: echo out\n"
        ));
        refused(&f, &["agents.yaml", "worktree_dir", why]);
    }
    // A manifest that an agent's worktree would hold.
    let f = Fleet::new();
    let sub = f.repo.join("sub/a1");
    fs::create_dir_all(&sub).unwrap();
    fs::write(
        sub.join("agents.yaml"),
        "worktree_dir: ..\nagents:\n  - name: a1\n    prompt: hi\n    command: echo out\n",
    )
    .unwrap();
    let run = f.fleet_at(&sub, &[], &["validate"]);
    run.code(2).stderr_has("inside the worktree of agent `a1`");
}

#[test]
fn a_worktree_dir_inside_the_checkout_is_kept_out_of_git() {
    let f = Fleet::new();
    f.manifest(
        "worktree_dir: .worktrees\nagents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n",
    );
    f.git(&["add", "agents.yaml"]);
    f.git(&["commit", "-q", "-m", "manifest"]);
    f.fleet(&["up"]).success();
    assert!(f.repo.join(".worktrees/a1").is_dir());
    let status = f.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "", "the main checkout shows fleet's files");
}

#[test]
fn the_exclude_line_of_a_manifest_under_glob_characters_matches_it() {
    let f = Fleet::new();
    let sub = f.repo.join("a[1]");
    fs::create_dir(&sub).unwrap();
    fs::write(
        sub.join("agents.yaml"),
        "agents:\n  - name: a1\n    prompt: hi\n    command: sleep 300\n",
    )
    .unwrap();
    f.git(&["add", "--", "a[[]1]/agents.yaml"]);
    f.git(&["commit", "-q", "-m", "manifest"]);
    f.fleet_at(&sub, &[], &["up"]).success();
    assert!(sub.join(".fleet").is_dir());
    let status = f.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "", "the main checkout shows fleet's state");
}
