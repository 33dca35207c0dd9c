//! The sandbox (`sandbox: true`) with `command:` agents: each escape fails and changes
//! nothing while the agent ends as its task says; refs a box moved beside its own branch
//! fail the agent; `sandbox: true` on a machine whose bubblewrap cannot make a box is an
//! error before anything starts; validate, status and doctor say what the box is. The same
//! escapes through the real CLIs' shell tools are in tests/real_sandbox.rs.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::sandbox::{bwrap_works, Targets};
use common::Fleet;

/// The two agents of the escape test: `boxed` runs the escapes, `other` is the neighbour
/// whose worktree and branch they aim at (it commits on its own branch meanwhile).
fn escape_manifest(script: &str) -> String {
    format!(
        "sandbox: true\nagents:\n  - name: other\n    command: \"cat >/dev/null; echo b > b.txt && git add b.txt && git commit -qm other\"\n    prompt: x\n  - name: boxed\n    command: sh -s\n    prompt: {}\n",
        serde_json::to_string(script).unwrap()
    )
}

#[test]
fn every_escape_of_a_command_agent_fails_and_it_still_ends_done() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    let mut targets = Targets::new(&f, "other");
    let script = targets.script(&f.repo);
    f.manifest(&escape_manifest(&script));
    targets.refs = f.git(&["for-each-ref"]);
    f.fleet(&["up"]).success();
    f.wait_state("other", "done");
    f.wait_state("boxed", "done");
    targets.check(&f, "boxed");
    // The neighbour's own commit landed (its box may write its own branch).
    assert_eq!(f.git(&["log", "-1", "--format=%s", "fleet/other"]), "other");
    let status = f.agent("boxed");
    assert_eq!(status["sandbox"], true, "{status}");
    assert!(f.log("boxed").contains("[fleet] sandboxed (bubblewrap)"));
    assert_eq!(f.agent("other")["sandbox"], true);
}

#[test]
fn a_ref_the_box_could_write_moved_beside_its_branch_fails_the_agent() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    // A branch in the agent's ref directory with no loose file (packed): nothing to bind
    // read-only onto, so the box can write a loose one (by hand: git itself fails on the
    // branch's read-only reflog); the runner sees it moved.
    f.git(&["branch", "fleet/old"]);
    f.git(&["pack-refs", "--all"]);
    f.manifest(
        r#"sandbox: true
agents:
  - name: mover
    command: cat >/dev/null; echo w > w.txt && git add w.txt && git commit -qm w && git rev-parse HEAD > "$(git rev-parse --git-common-dir)/refs/heads/fleet/old"
    prompt: x
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_for("mover to end", common::DEADLINE, |f| {
        f.state("mover") != "running"
    });
    assert_eq!(f.state("mover"), "failed", "{}", f.log("mover"));
    let reason = f.agent("mover")["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.contains("refs/heads/fleet/old"),
        "{reason}\n{}",
        f.log("mover")
    );
    assert!(
        f.log("mover").contains("refs/heads/fleet/old"),
        "{}",
        f.log("mover")
    );
    // The merge train takes no failed agent.
    let merge = f.fleet(&["merge", "mover"]);
    assert_ne!(merge.code, 0, "{}", merge.describe());
}

#[test]
fn a_sandbox_bubblewrap_cannot_make_is_an_error_before_anything_starts() {
    let f = Fleet::new();
    // A bwrap that cannot make its namespaces, as on a machine with unprivileged user
    // namespaces disabled.
    let bin = f.root.join("nobwrap");
    fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("bwrap");
    fs::write(
        &stub,
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    f.manifest(
        "agents:\n  - name: open\n    command: \"cat >/dev/null\"\n    prompt: x\n  - name: boxed\n    sandbox: true\n    command: \"cat >/dev/null\"\n    prompt: x\n",
    );
    let up = f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]);
    up.code(2)
        .stderr_has("agents.yaml")
        .stderr_has("agent `boxed`")
        .stderr_has("Permission denied")
        .stderr_has("sandbox: false");
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
    assert!(f.fleet_branches().is_empty(), "{:?}", f.fleet_branches());
    let validate = f.fleet_at(&f.repo, &[("PATH", &path)], &["validate"]);
    validate.code(2).stderr_has("agent `boxed`");
    let doctor = f.fleet_at(&f.repo, &[("PATH", &path)], &["doctor"]);
    assert!(
        doctor.stdout.contains("sandbox") && doctor.stdout.contains("Permission denied"),
        "{}",
        doctor.describe()
    );
    // `fleet init` writes the key commented out here.
    fs::create_dir_all(f.repo.join("new")).unwrap();
    f.fleet_at(
        &f.repo,
        &[("PATH", &path)],
        &["init", "-f", "new/agents.yaml"],
    )
    .success();
    let written = fs::read_to_string(f.repo.join("new/agents.yaml")).unwrap();
    assert!(written.contains("# sandbox: true"), "{written}");
}

#[test]
fn init_writes_sandbox_true_where_the_box_works() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    fs::create_dir_all(f.repo.join("new")).unwrap();
    f.fleet(&["init", "-f", "new/agents.yaml"]).success();
    let written = fs::read_to_string(f.repo.join("new/agents.yaml")).unwrap();
    assert!(
        written.lines().any(|l| l.starts_with("sandbox: true")),
        "{written}"
    );
}

#[test]
fn validate_says_which_agents_are_boxed_and_what_they_may_write() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    f.manifest(
        "sandbox: true\nagents:\n  - name: boxed\n    agent: claude\n    permissions: full\n    prompt: x\n  - name: open\n    sandbox: false\n    command: \"cat\"\n    prompt: x\n",
    );
    // (claude is not installed here: validate says so, after the plan)
    let v = f.fleet(&["validate"]);
    let out = v.stdout.clone();
    assert!(out.contains("sandbox"), "{out}");
    let boxed = out
        .lines()
        .skip_while(|l| *l != "agent boxed")
        .skip(1)
        .take_while(|l| !l.starts_with("agent "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(boxed.contains(".claude"), "{out}");
    assert!(boxed.contains("worktree"), "{out}");
    let open = out
        .lines()
        .skip_while(|l| *l != "agent open")
        .skip(1)
        .take_while(|l| !l.starts_with("agent "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(open.contains("sandbox:  no"), "{out}");
    assert!(boxed.contains("inside its box"), "{out}");
}

#[test]
fn down_ends_everything_a_box_started() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    // A child that leaves its process group and ignores SIGHUP and SIGTERM, as a daemon
    // an agent starts would.
    f.manifest(
        "sandbox: true\nagents:\n  - name: boxed\n    command: \"cat >/dev/null; setsid sh -c 'trap \\\"\\\" HUP TERM; exec sleep 3579' & echo started; sleep 300\"\n    prompt: x\n",
    );
    f.fleet(&["up"]).success();
    let running = |f: &Fleet| {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", "sleep 3579"])
            .output()
            .unwrap();
        let _ = f;
        !ps.stdout.is_empty()
    };
    f.wait_for("the box's daemon to start", common::DEADLINE, running);
    f.fleet(&["down"]).success();
    f.wait_for("the box's daemon to end", common::DEADLINE, |f| !running(f));
}

/// A `bwrap` first on `PATH` that runs `before` (sh, with the real bwrap's arguments as
/// `$@`) when it is given a box's refs to bind, then the real bwrap.
fn bwrap_shim(f: &Fleet, before: &str) -> String {
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v bwrap"])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    let bin = f.root.join("shim-bin");
    fs::create_dir_all(&bin).unwrap();
    let shim = bin.join("bwrap");
    fs::write(
        &shim,
        format!(
            "#!/bin/sh\ncase \" $* \" in *'/.git/refs/heads/fleet/'*) {before} ;; esac\nexec {real} \"$@\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The agent `boxed` of these tests: commits, or exits 1 (`fail`), counting its runs.
fn counting_manifest(fail: bool) -> String {
    let end = if fail {
        "exit 1"
    } else {
        "git add a.txt && git commit -qm a"
    };
    format!("sandbox: true\nagents:\n  - name: boxed\n    command: \"cat >/dev/null; echo ran >> a.txt; {end}\"\n    prompt: x\n")
}

fn ended(f: &Fleet) -> String {
    f.wait_for("boxed to end", common::DEADLINE, |f| {
        f.state("boxed") != "running"
    });
    f.state("boxed")
}

#[test]
fn a_box_whose_setup_failed_as_the_repository_changed_is_built_again() {
    if !bwrap_works() {
        return;
    }
    let f = Fleet::new();
    // Another ref in the box's ref directory, deleted (as another agent's git or the user
    // may) after fleet listed it and before bwrap binds it: the first box's setup fails.
    f.git(&["branch", "fleet/spare"]);
    let fired = f.root.join("fired");
    let path = bwrap_shim(
        &f,
        &format!(
            "[ -e {0} ] || {{ : > {0}; git -C {1} branch -qD fleet/spare; }}",
            fired.display(),
            f.repo.display()
        ),
    );
    f.manifest(&counting_manifest(false));
    f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]).success();
    let log = || f.log("boxed");
    assert_eq!(ended(&f), "done", "{}", log());
    assert!(fired.exists(), "the shim never ran: {}", log());
    assert!(log().contains("Can't find source path"), "{}", log());
    assert_eq!(
        log()
            .matches("the repository changed while the box was built; building it again")
            .count(),
        1,
        "{}",
        log()
    );
    // The agent ran once, in the second box, and its commit landed.
    let wt = f.worktree("boxed");
    assert_eq!(fs::read_to_string(wt.join("a.txt")).unwrap(), "ran\n");
    assert_eq!(f.git(&["log", "-1", "--format=%s", "fleet/boxed"]), "a");
}

#[test]
fn a_boxed_agent_that_exits_1_runs_once_and_a_box_that_never_sets_up_is_given_up() {
    if !bwrap_works() {
        return;
    }
    // The agent ran and failed: no second box.
    let f = Fleet::new();
    let path = bwrap_shim(&f, ":");
    f.manifest(&counting_manifest(true));
    f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]).success();
    assert_eq!(ended(&f), "failed", "{}", f.log("boxed"));
    assert!(!f.log("boxed").contains("building it again"));
    let wt = f.worktree("boxed");
    assert_eq!(fs::read_to_string(wt.join("a.txt")).unwrap(), "ran\n");
    // A box that can never be set up: built a few times, then the agent fails.
    let g = Fleet::new();
    let path = bwrap_shim(&g, "set -- --ro-bind /nonexistent-fleet-test /mnt \"$@\"");
    g.manifest(&counting_manifest(false));
    g.fleet_at(&g.repo, &[("PATH", &path)], &["up"]).success();
    assert_eq!(ended(&g), "failed", "{}", g.log("boxed"));
    let log = g.log("boxed");
    assert_eq!(log.matches("building it again").count(), 3, "{log}");
    assert!(log.contains("given up after 4 tries"), "{log}");
    assert!(!g.worktree("boxed").join("a.txt").exists(), "{log}");
}
