//! Scale (issue 7): the tmux process budget, `max_parallel`, the monitor's windows.
//!
//! The budget is counted with a `tmux` wrapper first on `PATH`: it appends one line per tmux
//! process to a counter file, then runs the real tmux. fleet passes its `PATH` on to the tmux
//! server and so to every pane, the agents' runners and the monitor's status pane included:
//! their tmux processes are counted too.
use std::fs;
use std::path::PathBuf;

use crate::common::{sh_quote, Fleet};

/// `tmux` and `git` wrappers counting their invocations, first on `PATH`.
struct Counter {
    path: String,
    file: PathBuf,
}

impl Counter {
    fn new(f: &Fleet) -> Counter {
        let bin = f.root.join("counting-bin");
        fs::create_dir_all(&bin).unwrap();
        let file = f.root.join("calls");
        for program in ["tmux", "git"] {
            let real = which::which(program).expect("tmux and git on PATH");
            let script = format!(
                "#!/bin/sh\nparent=$(tr '\\0' ' ' < /proc/$PPID/cmdline 2>/dev/null)\nprintf '{program}\\t%s\\t%s\\t%s\\n' \"${{TMUX_COUNT_AS:-}}\" \"$parent\" \"$*\" >> {}\nexec {} \"$@\"\n",
                sh_quote(file.to_string_lossy()),
                sh_quote(real.to_string_lossy())
            );
            let wrapper = bin.join(program);
            fs::write(&wrapper, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Counter { path, file }
    }

    /// Every tmux (or git) process so far: (tag, arguments).
    fn calls(&self, program: &str) -> Vec<(String, String)> {
        self.calls_by(program)
            .into_iter()
            .map(|(tag, _, args)| (tag, args))
            .collect()
    }

    /// Each call: its tag, the command line of the process that made it, its arguments.
    fn calls_by(&self, program: &str) -> Vec<(String, String, String)> {
        fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut words = l.splitn(4, '\t');
                let (p, tag, parent) = (words.next()?, words.next()?, words.next()?);
                let args = words.next()?;
                (p == program).then(|| (tag.to_string(), parent.to_string(), args.to_string()))
            })
            .collect()
    }

    /// Runs `fleet ARGS…` with the wrappers on PATH; the tmux processes started meanwhile
    /// (any process's) and the ones started by this fleet command and its children.
    fn fleet(&self, f: &Fleet, tag: &str, args: &[&str]) -> (Vec<String>, Vec<String>) {
        let before = self.calls("tmux").len();
        f.fleet_at(
            &f.repo,
            &[("PATH", self.path.as_str()), ("TMUX_COUNT_AS", tag)],
            args,
        )
        .success();
        // The calls this fleet command made itself (not those of the monitor's status pane
        // or of a runner, which go on meanwhile: under load they fell into the window).
        let own_line = format!(" {} ", args.join(" "));
        let meanwhile = self.calls_by("tmux")[before..]
            .iter()
            .filter(|(_, parent, _)| format!("{parent} ").contains(&own_line))
            .map(|(_, _, a)| a.clone())
            .collect();
        (meanwhile, self.own("tmux", tag))
    }

    /// The `program` processes started by the fleet command run with `tag`.
    fn own(&self, program: &str, tag: &str) -> Vec<String> {
        self.calls(program)
            .into_iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, a)| a)
            .collect()
    }
}

fn sleepers(f: &Fleet, n: usize) {
    let mut yaml = String::from("command: \"sleep 300\"\nagents:\n");
    for i in 1..=n {
        yaml.push_str(&format!("  - name: a{i}\n    prompt: hi\n"));
    }
    f.manifest(&yaml);
}

/// A git command line without the leading `-c KEY=VALUE` pairs.
fn without_pins(args: &str) -> String {
    let mut rest = args;
    while let Some(r) = rest.strip_prefix("-c ") {
        rest = r.split_once(' ').map_or("", |(_, r)| r);
    }
    rest.to_string()
}

#[track_caller]
fn assert_budget(what: &str, calls: &[String], max: usize) {
    assert!(
        calls.len() <= max,
        "{what}: {} tmux processes, at most {max} allowed:\n  {}",
        calls.len(),
        calls.join("\n  ")
    );
}

/// An `up` that starts `agents`: its agents start as their worktrees become ready, those
/// ready together in one `source-file` (so as many batches as checkouts that ended apart, at
/// most one an agent, and the monitor's); every other tmux process is a fixed few.
#[track_caller]
fn assert_up_budget(what: &str, calls: &[String], agents: usize) {
    let (starts, others): (Vec<String>, Vec<String>) = calls
        .iter()
        .cloned()
        .partition(|a| a.contains("source-file"));
    assert_budget(&format!("{what}, besides its batches"), &others, 2);
    assert!(
        !starts.is_empty() && starts.len() <= agents + 1,
        "{what}: {} batches for {agents} agents:\n  {}",
        starts.len(),
        calls.join("\n  ")
    );
}

#[test]
fn up_and_status_spawn_a_fixed_number_of_tmux_processes_whatever_the_agent_count() {
    for n in [3, 12] {
        let f = Fleet::new();
        sleepers(&f, n);
        let c = Counter::new(&f);
        let (up, _) = c.fleet(&f, "up", &["up"]);
        assert_up_budget(&format!("first up of {n} agents"), &up, n);
        assert_eq!(f.sessions().len(), n + 1, "{n} agents and the monitor");
        let (again, _) = c.fleet(&f, "again", &["up"]);
        assert_budget(&format!("second up of {n} agents"), &again, 4);
        for args in [&["status"][..], &["status", "--json"]] {
            let tag = args.join(" ");
            let (_, own) = c.fleet(&f, &tag, args);
            assert_budget(&format!("{tag} of {n} agents"), &own, 1);
            // Git answers for all branches at once (git 2.41+); each worktree costs one
            // `git status`, and a fresh one (clean, no commits) nothing more.
            // (without the `-c KEY=VALUE` settings fleet pins on every git's command line)
            let git: Vec<String> = c.own("git", &tag).iter().map(|a| without_pins(a)).collect();
            let count = |what: &str| git.iter().filter(|a| a.contains(what)).count();
            assert_eq!(count("for-each-ref"), 1, "{tag}: {git:#?}");
            assert_eq!(count(" status "), n, "{tag}: {git:#?}");
            if git_has_ahead_behind() {
                assert_eq!(count("rev-list"), 0, "{tag}: {git:#?}");
                assert_eq!(count("diff"), 0, "{tag}: {git:#?}");
                assert!(
                    git.len() <= n + 4,
                    "{tag}: {} git calls: {git:#?}",
                    git.len()
                );
            }
        }
        // Two more agents: their sessions and a rebuilt monitor.
        sleepers(&f, n + 2);
        let (grow, _) = c.fleet(&f, "grow", &["up"]);
        assert_up_budget(&format!("up from {n} to {} agents", n + 2), &grow, 2);
        assert_eq!(
            f.sessions().len(),
            n + 3,
            "{} agents and the monitor",
            n + 2
        );
    }
}

/// git 2.41 and newer know `%(ahead-behind)`.
fn git_has_ahead_behind() -> bool {
    let out = std::process::Command::new("git")
        .arg("--version")
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0)) >= (2, 41)
}

#[test]
fn max_parallel_runs_at_most_k_agents_at_once_and_all_finish() {
    let f = Fleet::new();
    // Each agent notes its start and end (nanoseconds) in a shared file.
    let events = f.root.join("events");
    let note = |what: &str| {
        format!(
            "echo {what} $(date +%s%N) $FLEET_AGENT >> {}",
            sh_quote(events.to_string_lossy())
        )
    };
    let mut yaml = format!(
        "max_parallel: 2\ncommand: \"{}; sleep 0.4; {}\"\nagents:\n",
        note("start"),
        note("end")
    );
    let names: Vec<String> = (1..=5).map(|i| format!("a{i}")).collect();
    for name in &names {
        yaml.push_str(&format!("  - name: {name}\n    prompt: hi\n"));
    }
    f.manifest(&yaml);
    f.fleet(&["up"])
        .success()
        .stdout_has("started 2 agents")
        .stdout_has("3 queued (max_parallel: 2): a3, a4, a5");
    for name in &names {
        f.wait_state(name, "done");
    }
    let text = fs::read_to_string(&events).unwrap();
    let mut timeline: Vec<(u128, i32)> = text
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[1].parse().unwrap(), if w[0] == "start" { 1 } else { -1 })
        })
        .collect();
    timeline.sort();
    assert_eq!(
        timeline.len(),
        10,
        "every agent started and ended once:\n{text}"
    );
    let (mut running, mut most) = (0, 0);
    for (_, step) in &timeline {
        running += step;
        most = most.max(running);
    }
    assert_eq!(
        most, 2,
        "at most max_parallel agents at once, and that many:\n{text}"
    );
    for name in &names {
        assert_eq!(f.agent(name)["attempt"], 1, "{name} ran once");
    }
}

#[test]
fn queued_agents_show_in_status_and_down_stops_them_for_good() {
    let f = Fleet::new();
    sleepers(&f, 3);
    let yaml = fs::read_to_string(f.manifest_path()).unwrap();
    f.manifest(&format!("max_parallel: 1\n{yaml}"));
    f.fleet(&["up"]).success();
    let states =
        |f: &Fleet| -> Vec<String> { ["a1", "a2", "a3"].iter().map(|n| f.state(n)).collect() };
    assert_eq!(states(&f), ["running", "queued", "queued"]);
    f.fleet(&["status"]).success().stdout_has("queued");
    // A queued agent already has its worktree and branch, ready to start.
    assert!(f.worktree("a3").is_dir());

    f.fleet(&["down"])
        .success()
        .stdout_has("stopped a1, a2, a3");
    assert_eq!(states(&f), ["stopped", "stopped", "stopped"]);
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());

    // up again: the limit holds again.
    f.fleet(&["up"]).success().stdout_has("2 queued");
    assert_eq!(states(&f), ["running", "queued", "queued"]);
}

#[test]
fn monitor_per_window_sets_the_panes_of_each_monitor_window() {
    let f = Fleet::new();
    sleepers(&f, 10);
    let yaml = fs::read_to_string(f.manifest_path()).unwrap();
    f.manifest(&format!("monitor:\n  per_window: 4\n{yaml}"));
    f.fleet(&["up"]).success();
    assert_eq!(
        f.monitor_window_panes(),
        [4, 4, 3],
        "status + 10 agents, 4 a window"
    );
    // a changed per_window rebuilds the monitor (the agents are the same)
    f.manifest(&format!("monitor:\n  per_window: 2\n{yaml}"));
    f.fleet(&["up"]).success().stdout_has("rebuilt the monitor");
    assert_eq!(f.monitor_window_panes(), [2, 2, 2, 2, 2, 1]);

    for (bad, says) in [
        (
            "monitor: {per_window: 0}\n",
            "per_window: must be at least 1",
        ),
        ("monitor: {per_windows: 4}\n", "unknown field `per_windows`"),
    ] {
        f.manifest(&format!("{bad}{yaml}"));
        f.fleet(&["validate"]).code(2).stderr_has(says);
    }
}

#[test]
fn up_checks_out_a_worktree_an_interrupted_up_registered_but_never_filled() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a1\n    prompt: hi\n    command: \"test -f README.md\"\n");
    // What `up` leaves when stopped between registering a worktree and checking it out.
    let wt = f.worktree("a1");
    f.git(&[
        "worktree",
        "add",
        "-q",
        "--no-checkout",
        "-b",
        "fleet/a1",
        &wt.to_string_lossy(),
        "main",
    ]);
    assert!(!wt.join("README.md").exists());
    f.fleet(&["up"]).success();
    f.wait_state("a1", "done");
    assert_eq!(
        f.git_in(&wt, &["status", "--porcelain"]),
        "",
        "a clean checkout"
    );
}
