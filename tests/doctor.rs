//! `fleet doctor` (issue 6): finds what is wrong or left behind and prints the fix.

mod common;

use std::fs;

use common::{sorted, Fleet};

const THREE: &str = "command: \"sleep 300\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n  - name: a3\n    prompt: three\n";

#[test]
fn doctor_is_happy_with_a_healthy_fleet() {
    let f = Fleet::new();
    f.manifest(&THREE.replace("\"sleep 300\"", "\"cat >/dev/null; sleep 300\""));
    let before = f.fleet(&["doctor"]);
    before.success().stdout_has("no problems found");
    f.fleet(&["up"]).success();
    let run = f.fleet(&["doctor"]);
    run.success()
        .stdout_has("ok       tmux 3")
        .stdout_has("ok       git 2")
        .stdout_has("agent a1: runs ")
        .stdout_has("no problems found");
    assert!(!run.stdout.contains("problem "), "{run:?}");
}

#[test]
fn doctor_finds_leftovers_and_prints_the_fix_for_each() {
    let f = Fleet::new();
    f.manifest(THREE);
    f.fleet(&["up"]).success();
    let repo = f.repo.display().to_string();

    // a3 leaves the manifest (its session stays), a4 needs a program that is not installed.
    f.manifest(
        "command: \"sleep 300\"\nagents:\n  - name: a1\n    prompt: one\n  - name: a2\n    prompt: two\n  - name: a4\n    prompt: four\n    command: no-such-cli --go\n",
    );
    // a1's session vanishes (lost); a2's worktree directory is deleted by hand.
    f.tmux_ok(&["kill-session", "-t", "=repo-a1"]);
    f.tmux_ok(&["kill-session", "-t", "=repo-a2"]);
    fs::remove_dir_all(f.worktree("a2")).unwrap();
    // A stray directory in the worktree dir, a fleet branch nobody checks out.
    fs::create_dir_all(f.worktree_dir().join("stray")).unwrap();
    f.git(&["branch", "fleet/old"]);
    let before = f.git(&["for-each-ref"]);

    let run = f.fleet(&["doctor"]);
    run.code(1)
        .stdout_has("ok       tmux")
        .stdout_has("agent a4: program `no-such-cli` not found on PATH")
        .stdout_has("install `no-such-cli` or change the agent's `command:`")
        .stdout_has("session repo-a3 is tagged by this fleet but no agent in the manifest has it")
        .stdout_has("fix: tmux kill-session -t =repo-a3")
        .stdout_has("agent a1 is lost")
        .stdout_has("fix: fleet up a1")
        .stdout_has("agent a2 is lost")
        .stdout_has(&format!(
            "worktree {} is registered but its directory is gone",
            f.worktree("a2").display()
        ))
        .stdout_has(&format!("fix: git -C {repo} worktree prune"))
        .stdout_has(&format!(
            "{} is in the worktree dir but is not a worktree",
            f.worktree_dir().join("stray").display()
        ))
        .stdout_has("branch fleet/old has no worktree")
        .stdout_has(&format!("fix: git -C {repo} branch -d fleet/old"))
        .stdout_has("branch fleet/a2 has no worktree")
        .stdout_has("8 problems found");
    assert!(!run.stdout.contains("fleet/a3 has no"), "{}", run.stdout);
    // Doctor only looks.
    assert_eq!(f.git(&["for-each-ref"]), before);
    assert!(f.sessions().contains(&"repo-a3".to_string()));

    // The printed fixes make it happy again.
    f.tmux_ok(&["kill-session", "-t", "=repo-a3"]);
    f.git(&["worktree", "prune"]);
    fs::remove_dir(f.worktree_dir().join("stray")).unwrap();
    f.git(&["branch", "-d", "fleet/old"]);
    f.git(&["branch", "-D", "fleet/a2"]);
    f.manifest(
        THREE
            .replace("  - name: a3\n    prompt: three\n", "")
            .as_str(),
    );
    f.fleet(&["up", "a1", "a2"]).success();
    let run = f.fleet(&["doctor"]);
    run.success().stdout_has("no problems found");
    assert_eq!(
        f.sessions(),
        sorted(["repo-a1", "repo-a2", "repo-monitor"]),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_reports_missing_tools_and_an_invalid_manifest() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a.b\n    prompt: x\n");
    let bin = f.root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "git"] {
        let path = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap();
        std::os::unix::fs::symlink(path, bin.join(tool)).unwrap();
    }
    let run = f.fleet_at(&f.repo, &[("PATH", bin.to_str().unwrap())], &["doctor"]);
    run.code(1)
        .stdout_has("problem  tmux is not installed")
        .stdout_has("fix: install tmux 3.2 or newer")
        .stdout_has("ok       git")
        .stdout_has("agents.yaml is invalid")
        .stdout_has("`a.b`")
        .stdout_has("fleet validate")
        .stdout_has("2 problems found");
}

#[test]
fn doctor_finds_half_made_and_misplaced_worktrees_and_open_state() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fleet::new();
    f.manifest(THREE);
    f.fleet(&["up"]).success();
    let a1 = f.worktree("a1");
    let a2 = f.worktree("a2");
    f.git_in(&a1, &["switch", "-q", "-c", "mine"]);
    f.git(&[
        "worktree",
        "lock",
        "--reason",
        "initializing",
        a2.to_str().unwrap(),
    ]);
    fs::set_permissions(f.repo.join(".fleet"), fs::Permissions::from_mode(0o755)).unwrap();

    let run = f.fleet(&["doctor"]);
    run.code(1)
        .stdout_has(&format!(
            "agent a1's worktree {} is on mine instead of fleet/a1",
            a1.display()
        ))
        .stdout_has(&format!("fix: git -C {} switch fleet/a1", a1.display()))
        .stdout_has(&format!(
            "worktree {} is locked (initializing)",
            a2.display()
        ))
        .stdout_has(&format!(
            "fix: git -C {} worktree unlock {}",
            f.repo.display(),
            a2.display()
        ))
        .stdout_has("is readable by others (mode 755)")
        .stdout_has(&format!(
            "fix: chmod -R go-rwx {}",
            f.repo.join(".fleet").display()
        ))
        .stdout_has("3 problems found");

    f.git_in(&a1, &["switch", "-q", "fleet/a1"]);
    f.git(&["worktree", "unlock", a2.to_str().unwrap()]);
    fs::set_permissions(f.repo.join(".fleet"), fs::Permissions::from_mode(0o700)).unwrap();
    f.fleet(&["doctor"]).success();
}

#[test]
fn doctor_sees_a_queue_nothing_will_start() {
    let f = Fleet::new();
    f.manifest(&format!("max_parallel: 1\n{THREE}"));
    f.fleet(&["up"]).success();
    assert_eq!(f.state("a2"), "queued");
    // The tmux server dies: a1 is lost, and no runner is left to start a2 and a3.
    f.tmux_ok(&["kill-server"]);
    let run = f.fleet(&["doctor"]);
    run.code(1)
        .stdout_has("agent a1 is lost")
        .stdout_has("a2, a3 queued but no agent is running to start them")
        .stdout_has("fix: fleet up");
    f.fleet(&["up"]).success();
    let run = f.fleet(&["doctor"]);
    run.success();
}
