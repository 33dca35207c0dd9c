//! Scale (issue 7): the tmux process budget, `max_parallel`, the monitor's windows.
//!
//! The budget is counted with a `tmux` wrapper first on `PATH`: it appends one line per tmux
//! process to a counter file, then runs the real tmux. fleet passes its `PATH` on to the tmux
//! server and so to every pane, the agents' runners and the monitor's status pane included:
//! their tmux processes are counted too.
use std::fs;
use std::path::PathBuf;

use crate::common::{sh_quote, Fleet};

/// A `tmux` wrapper counting its invocations, first on `PATH`.
struct Counter {
    path: String,
    file: PathBuf,
}

impl Counter {
    fn new(f: &Fleet) -> Counter {
        let bin = f.root.join("counting-bin");
        fs::create_dir_all(&bin).unwrap();
        let real = which::which("tmux").expect("tmux on PATH");
        let file = f.root.join("tmux-calls");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\t%s\\n' \"${{TMUX_COUNT_AS:-}}\" \"$*\" >> {}\nexec {} \"$@\"\n",
            sh_quote(file.to_string_lossy()),
            sh_quote(real.to_string_lossy())
        );
        let wrapper = bin.join("tmux");
        fs::write(&wrapper, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Counter { path, file }
    }

    /// Every tmux process so far: (tag, arguments).
    fn calls(&self) -> Vec<(String, String)> {
        fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (tag, args) = l.split_once('\t').unwrap_or(("", l));
                (tag.to_string(), args.to_string())
            })
            .collect()
    }

    /// Runs `fleet ARGS…` with the wrapper on PATH; the tmux processes started meanwhile
    /// (any process's) and the ones started by this fleet command and its children.
    fn fleet(&self, f: &Fleet, tag: &str, args: &[&str]) -> (Vec<String>, Vec<String>) {
        let before = self.calls().len();
        f.fleet_at(
            &f.repo,
            &[("PATH", self.path.as_str()), ("TMUX_COUNT_AS", tag)],
            args,
        )
        .success();
        let calls = self.calls();
        let meanwhile = calls[before..].iter().map(|(_, a)| a.clone()).collect();
        let own = calls
            .iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, a)| a.clone())
            .collect();
        (meanwhile, own)
    }
}

fn sleepers(f: &Fleet, n: usize) {
    let mut yaml = String::from("command: \"sleep 300\"\nagents:\n");
    for i in 1..=n {
        yaml.push_str(&format!("  - name: a{i}\n    prompt: hi\n"));
    }
    f.manifest(&yaml);
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

#[test]
fn up_and_status_spawn_a_fixed_number_of_tmux_processes_whatever_the_agent_count() {
    for n in [3, 12] {
        let f = Fleet::new();
        sleepers(&f, n);
        let c = Counter::new(&f);
        let (up, _) = c.fleet(&f, "up", &["up"]);
        assert_budget(&format!("first up of {n} agents"), &up, 4);
        assert_eq!(f.sessions().len(), n + 1, "{n} agents and the monitor");
        let (again, _) = c.fleet(&f, "again", &["up"]);
        assert_budget(&format!("second up of {n} agents"), &again, 4);
        for args in [&["status"][..], &["status", "--json"]] {
            let tag = args.join(" ");
            let (_, own) = c.fleet(&f, &tag, args);
            assert_budget(&format!("{tag} of {n} agents"), &own, 1);
        }
        // Two more agents: their sessions and a rebuilt monitor, still one batch.
        sleepers(&f, n + 2);
        let (grow, _) = c.fleet(&f, "grow", &["up"]);
        assert_budget(&format!("up from {n} to {} agents", n + 2), &grow, 4);
        assert_eq!(
            f.sessions().len(),
            n + 3,
            "{} agents and the monitor",
            n + 2
        );
    }
}
