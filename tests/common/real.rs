//! What the tests with the real agent CLIs share (tests/real_*.rs, tests/conformance.rs):
//!
//! - finding a CLI: [`real_cli`] (None, after a skip line, when its `FLEET_REAL_*` is not
//!   set) and [`path_with`] (a `PATH` with its directory first);
//! - running fleet with it: [`Fleet::fleet_with`] (any command, the CLI first on `PATH`)
//!   and [`Fleet::up_and_wait`] (`up`, then `wait` with a timeout);
//! - running the CLI itself: [`Fleet::cli_command`] (the test's environment, as fleet gets
//!   it) and [`Fleet::run_cli`] (with its task on stdin, under a deadline);
//! - reading what it printed: [`json_lines`], [`text_below`] (a session store's files) and
//!   [`record_fixture`] (tests/fixtures/real, with `FLEET_RECORD_FIXTURES=1`);
//! - writing a manifest: [`yaml_map`] (an agent's `env:` on one line);
//! - a review round: [`Fleet::review_with`] (`fleet review` whose editor comments on three
//!   lines) and [`REVIEW_COMMENTS`] (what the CLI must be sent of them);
//! - the `mcp: lead` tests: [`lead_manifest`] and [`assert_lead_drove_the_worker`].
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Fleet, Run};

/// The real CLI named by `var` (`FLEET_REAL_CLAUDE`…), or None (after saying so) when the
/// test should skip. A variable naming no file is a broken setup, not a skip.
pub fn real_cli(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "{var}={} is not a file", p.display());
            Some(p)
        }
        _ => {
            eprintln!("SKIP: {var} not set (scripts/test.sh installs the real CLIs)");
            None
        }
    }
}

/// `PATH` with the directory of the CLI at `cli` first.
pub fn path_with(cli: &Path) -> String {
    format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `{ K: "v", ... }` on one line of YAML (an agent's or the manifest's `env:`).
pub fn yaml_map(pairs: &[(String, String)]) -> String {
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// The JSON values of a stream's lines (the lines that are not JSON left out).
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every file's text below `dir`, one after another ("" when there is none).
pub fn text_below(dir: &Path) -> String {
    let mut text = String::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            text.push_str(&text_below(&path));
        } else {
            text.push_str(&fs::read_to_string(&path).unwrap_or_default());
        }
    }
    text
}

/// Writes what a real CLI printed to tests/fixtures/real/<name> when recording
/// (`FLEET_RECORD_FIXTURES` set), the temp dir spelled `/tmp/fleet-real` (also as a session
/// store spells it, with dashes) and this checkout `/work/fleet`.
pub fn record_fixture(f: &Fleet, name: &str, text: &str) {
    if std::env::var_os("FLEET_RECORD_FIXTURES").is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real");
    fs::create_dir_all(&dir).unwrap();
    let root = f.root.display().to_string();
    let dashed = root.replace(['/', '.'], "-");
    let text = text
        .replace(&root, "/tmp/fleet-real")
        .replace(&dashed, "-tmp-fleet-real")
        .replace(env!("CARGO_MANIFEST_DIR"), "/work/fleet");
    fs::write(dir.join(name), text).unwrap();
}

/// An editor (for `fleet review`) that writes a comment under each of three lines.
const REVIEW_EDITOR: &str = r#"#!/bin/sh
awk '{ print }
/^\+one$/ { print "> say one in capitals" }
/^\+two$/ { print "> say two twice" }
/^\+three$/ { print "> drop three" }' "$1" > "$1.new" && mv "$1.new" "$1"
"#;

/// What the CLI's resumed run must be sent of [`Fleet::review_with`]'s comments: each line
/// they are on and each comment.
pub const REVIEW_COMMENTS: [&str; 6] = [
    "notes.txt line 1:",
    "say one in capitals",
    "notes.txt line 2:",
    "say two twice",
    "notes.txt line 3:",
    "drop three",
];

impl Fleet {
    /// `fleet review AGENT` (which must succeed) with the real CLI at `cli` first on `PATH`
    /// and an `$EDITOR` that comments on the lines `one`, `two` and `three` of the agent's
    /// `notes.txt`: round 2, three comments, sent to the agent's session.
    #[track_caller]
    pub fn review_with(&self, cli: &Path, agent: &str) -> Run {
        self.stub("editor", REVIEW_EDITOR);
        let editor = self.root.join("stubs/editor").display().to_string();
        let path = path_with(cli);
        let env = [
            ("PATH", path.as_str()),
            ("EDITOR", editor.as_str()),
            ("VISUAL", ""),
        ];
        let run = self.fleet_at(&self.repo, &env, &["review", agent]);
        run.success()
            .stdout_has(&format!("sent review round 2 to {agent} (3 comments)"));
        run
    }

    /// Runs `fleet ARGS…` in the repo with the real CLI at `cli` first on `PATH`.
    #[track_caller]
    pub fn fleet_with(&self, cli: &Path, args: &[&str]) -> Run {
        let path = path_with(cli);
        self.fleet_at(&self.repo, &[("PATH", path.as_str())], args)
    }

    /// `fleet up` (which must succeed), then `fleet wait --timeout SECS`, with the real CLI
    /// at `cli` first on `PATH`; the wait's run (it exits 1 when an agent failed).
    #[track_caller]
    pub fn up_and_wait(&self, cli: &Path, secs: u32) -> Run {
        self.fleet_with(cli, &["up"]).success();
        self.fleet_with(cli, &["wait", "--timeout", &secs.to_string()])
    }

    /// The real CLI `program` in the repo with the environment fleet gets in the tests
    /// (HOME, TMPDIR and the tmux dir the test's own, no inherited `GIT_*`, `FLEET_*` or
    /// `TMUX*`), its directory first on `PATH`, and no credential of the user's.
    pub fn cli_command(&self, program: &Path) -> Command {
        let mut cmd = self.command(program);
        cmd.env("PATH", path_with(program))
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .env_remove("OPENAI_API_KEY")
            .env_remove("CODEX_HOME")
            .env_remove("GEMINI_API_KEY")
            .env_remove("IS_SANDBOX");
        cmd
    }

    /// Runs `cmd` (from [`Fleet::cli_command`]) with `input` on stdin; after `deadline` it
    /// is killed (exit code -1). Its output goes to files, as [`super::run_captured`]'s.
    pub fn run_cli(&self, mut cmd: Command, input: &str, deadline: Duration) -> Run {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let out = self.out_dir.join(format!("{n}.out"));
        let err = self.out_dir.join(format!("{n}.err"));
        cmd.stdin(Stdio::piped())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let desc = format!("{:?}", cmd.get_program());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {desc}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let start = Instant::now();
        let code = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s.code().unwrap_or(-1);
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break -1;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Run {
            cmd: desc,
            code,
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
        }
    }
}

/// The manifest of the `mcp: lead` tests: `head` (the top-level keys: the CLI, its `env:`),
/// an agent `lead` with `mcp: lead`, and a `command:` agent `worker` the lead starts, which
/// commits `w.txt` with the subject `w`.
pub fn lead_manifest(head: &str) -> String {
    format!(
        "{head}agents:\n  - name: lead\n    prompt: run the fleet\n    mcp: lead\n  - name: worker\n    prompt: x\n    command: \"printf 'w\\\\n' > w.txt; git add w.txt; git commit -qm w\"\n"
    )
}

/// What the lead's model was told and fleet shows after its calls (`status`, `up` of
/// `worker`, `wait` of it, `up` of `intruder`): the status it got says `worker` pending, the
/// wait `done`; the worker committed, no intruder runs, and the lead's transcript (`log`)
/// shows each call and the refusal in fleet's words.
#[track_caller]
pub fn assert_lead_drove_the_worker(f: &Fleet, status: &Value, wait: &Value, log: &str) {
    let worker = status["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "worker")
        .unwrap();
    assert_eq!(worker["state"], "pending", "{status}");
    assert_eq!(wait["outcome"], "done", "{wait}");
    assert_eq!(wait["status"]["agents"][0]["state"], "done", "{wait}");
    assert_eq!(f.state("worker"), "done");
    assert_eq!(
        f.git(&["log", "-1", "--format=%s", "fleet/worker"]).trim(),
        "w"
    );
    assert!(!f.sessions().iter().any(|s| s.contains("intruder")));
    for call in [
        "-> mcp__fleet__status: {}",
        "-> mcp__fleet__up: {\"names\":[\"worker\"]}",
        "-> mcp__fleet__wait:",
        "! tool error: unknown agent `intruder`",
    ] {
        assert!(log.contains(call), "{call}\n{log}");
    }
}
