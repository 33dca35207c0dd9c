//! Test harness: a throw-away git repo, a private tmux server and a `fleet` runner.
//!
//! Each test builds a [`Fleet`]: a temp dir holding
//!
//! ```text
//! <tmp>/repo/            git repo on `main`, one commit (README.md); the identity only in ~/.gitconfig
//! <tmp>/repo.worktrees/  where fleet puts worktrees by default
//! <tmp>/home/            HOME (no user git or tmux config)
//! <tmp>/tmux/            TMUX_TMPDIR: the private tmux server's socket lives here
//! <tmp>/out/             captured stdout/stderr of every command
//! ```
//!
//! Every process the tests start (fleet, git, tmux) gets the same environment: `TMUX` unset,
//! `HOME` and `TMUX_TMPDIR` private, `NO_COLOR=1`, `RUST_BACKTRACE=1`, no inherited `GIT_*` or
//! `FLEET_*` variables. Dropping the `Fleet` kills its tmux servers, pass or fail.
//!
//! [`sshd`] adds "remote hosts" for the ssh tests: a private sshd on 127.0.0.1 that logs
//! into other local accounts (`ssh host-a …`). [`real`] is what the tests with the real
//! agent CLIs share (finding a CLI, running fleet or the CLI with it, reading what it
//! printed); [`repo`] what the tests of `command:` agents share about the repository (a
//! committing command, a trapped checkout); [`sandbox`] and [`net`] what the sandbox tests share; [`status`] reads
//! `status --json` for the hosts tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod net;
pub mod real;
pub mod repo;
pub mod sandbox;
pub mod sshd;
pub mod status;

#[allow(unused_imports)]
pub use real::{path_with, real_cli};
#[allow(unused_imports)]
pub use repo::commits;

/// How long a single command may run before the test gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Default deadline for things that happen asynchronously (agents finishing, clients switching).
pub const DEADLINE: u64 = 20;
/// The socket name (`tmux -L`) of the second tmux server the attach test uses for a real client.
pub const OUTER: &str = "outer";

pub struct Fleet {
    _tmp: tempfile::TempDir,
    /// The temp dir (canonical path).
    pub root: PathBuf,
    /// The git repo, `<root>/repo`; fleet runs with this as its working directory.
    pub repo: PathBuf,
    pub home: PathBuf,
    pub tmux_dir: PathBuf,
    out_dir: PathBuf,
    counter: AtomicUsize,
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Run {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            expected,
            "unexpected exit code\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts stdout contains `needle` (case-insensitive).
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            contains_ci(&self.stdout, needle),
            "stdout should contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// Asserts stderr contains `needle` (case-insensitive).
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            contains_ci(&self.stderr, needle),
            "stderr should contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// stdout and stderr together, for messages that may go to either.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Quotes a string for `sh`.
pub fn sh_quote(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', r"'\''"))
}

pub fn sorted<S: AsRef<str>>(v: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v
}

/// Canonical form of a path, for comparing paths that may be spelled differently
/// (`/a/repo/../repo.worktrees/x` vs `/a/repo.worktrees/x`).
#[track_caller]
pub fn canon(p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    fs::canonicalize(p).unwrap_or_else(|e| panic!("canonicalize {}: {e}", p.display()))
}

/// Runs a command to completion (with a timeout), its output in numbered files under
/// `out_dir`. Files, not pipes, so a daemon (the tmux server) that inherits them cannot keep the test waiting for EOF.
pub fn run_captured(out_dir: &Path, counter: &AtomicUsize, mut cmd: Command) -> Run {
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let out_path = out_dir.join(format!("{n}.out"));
    let err_path = out_dir.join(format!("{n}.err"));
    cmd.stdout(fs::File::create(&out_path).unwrap());
    cmd.stderr(fs::File::create(&err_path).unwrap());
    let desc = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{desc} did not finish within {COMMAND_TIMEOUT:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        cmd: desc,
        code: status.code().unwrap_or(-1),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Every path under `dir` with its type, mode, size and a hash of its content; the test's own
/// output dir and the tmux socket dir are left out.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        if rel == "out" || rel == "tmux" || rel.ends_with(".git/index") {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.mode() & 0o7777;
        if meta.file_type().is_symlink() {
            out.push(format!("{rel} -> {:?}", fs::read_link(&path).ok()));
        } else if meta.is_dir() {
            out.push(format!("{rel}/ {mode:o}"));
            walk(root, &path, out);
        } else {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            fs::read(&path).unwrap_or_default().hash(&mut h);
            out.push(format!("{rel} {mode:o} {} {:x}", meta.len(), h.finish()));
        }
    }
}

/// The test user's `~/.gitconfig`: the identity lives here, not in each repository, with
/// settings many users have that change what git does (fleet must pin what it relies on).
pub const GLOBAL_GITCONFIG: &str = "[user]\n\tname = Fleet Test\n\temail = fleet-test@example.com\n\
[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n\
[rebase]\n\tupdateRefs = true\n\tautoStash = true\n[merge]\n\tautoStash = true\n[pull]\n\trebase = true\n";

impl Fleet {
    /// A temp dir with a git repo `repo/` (branch `main`, one commit) and a private tmux env.
    pub fn new() -> Fleet {
        Fleet::with_repo_dir("repo")
    }

    /// Like [`Fleet::new`], with the repo in `<tmp>/<dir>` (e.g. a name tmux cannot use as is).
    pub fn with_repo_dir(dir: &str) -> Fleet {
        let tmp = tempfile::Builder::new()
            .prefix("fleet-test-")
            .tempdir()
            .expect("create temp dir");
        let root = canon(tmp.path());
        let repo = root.join(dir);
        let home = root.join("home");
        let tmux_dir = root.join("tmux");
        let out_dir = root.join("out");
        for d in [&repo, &home, &tmux_dir, &out_dir] {
            fs::create_dir_all(d).unwrap();
        }
        let f = Fleet {
            _tmp: tmp,
            root,
            repo,
            home,
            tmux_dir,
            out_dir,
            counter: AtomicUsize::new(0),
        };
        // As users live: the identity and common settings in the global config (an agent
        // CLI that hides it, as gemini does for its shell, must still be able to commit).
        fs::write(f.home.join(".gitconfig"), GLOBAL_GITCONFIG).unwrap();
        f.git(&["init", "-q", "-b", "main"]);
        f.file("README.md", "# test repo\n");
        f.file(".gitignore", "*.local\n");
        f.git(&["add", "README.md", ".gitignore"]);
        f.git(&["commit", "-q", "-m", "initial"]);
        // An ignored file of the user's in the checkout, as most checkouts have.
        f.file("notes.local", "the user's own ignored notes\n");
        f
    }

    /// The private temp dir every process of the test gets as `TMPDIR` (outside `HOME`, as
    /// a user's is: codex refuses to set up its sandbox helpers when `HOME` is inside it).
    pub fn tmp_dir(&self) -> PathBuf {
        let dir = self.root.join("tmp");
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    // ---------------------------------------------------------------- files

    /// Writes `repo/agents.yaml` (not committed).
    pub fn manifest(&self, yaml: &str) -> &Self {
        self.file("agents.yaml", yaml)
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.repo.join("agents.yaml")
    }

    /// Writes a file relative to the repo (not committed), creating parent directories.
    pub fn file(&self, path: &str, content: &str) -> &Self {
        let p = self.repo.join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        self
    }

    /// Default worktree of an agent: `<tmp>/<repo dir>.worktrees/<name>`.
    pub fn worktree(&self, name: &str) -> PathBuf {
        self.worktree_dir().join(name)
    }

    /// Default worktree dir: `<tmp>/<repo dir>.worktrees`.
    pub fn worktree_dir(&self) -> PathBuf {
        let dir = self.repo.file_name().unwrap().to_string_lossy();
        self.root.join(format!("{dir}.worktrees"))
    }

    /// Default log of an agent: `repo/.fleet/logs/<name>.log`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.repo
            .join(".fleet")
            .join("logs")
            .join(format!("{name}.log"))
    }

    /// fleet's commands as `fleet --help` lists them (not `help`): what the documentation
    /// tests check, so a new command is checked without a list to keep.
    pub fn commands(&self) -> Vec<String> {
        let help = self.fleet(&["--help"]);
        help.success()
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    }

    /// The agent's log, or "" when it does not exist (yet).
    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    /// What the agent (its setup, its verify) printed: its log without fleet's own lines,
    /// which quote its command (so a test of its output cannot pass on the quote alone).
    pub fn output(&self, name: &str) -> String {
        self.log(name)
            .lines()
            .filter(|l| !l.starts_with("[fleet]"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    // ---------------------------------------------------------------- processes

    /// The environment every process of the test runs with.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("GIT_") || k.starts_with("FLEET_") || k.starts_with("TMUX") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("HOME", &self.home)
            .env("TMPDIR", self.tmp_dir())
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("TMUX_TMPDIR", &self.tmux_dir)
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("SHELL", "/bin/sh")
            .current_dir(&self.repo)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command to completion (with a timeout); see [`run_captured`].
    fn run(&self, cmd: Command) -> Run {
        run_captured(&self.out_dir, &self.counter, cmd)
    }

    /// Every file, directory and symlink under the temp dir (not the test's output or the
    /// tmux socket dir), sorted: type, mode, size and a hash of the content, so a test can
    /// assert that a command changed nothing.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }

    /// Runs `fleet ARGS…` in the repo. Whatever the exit code, fleet must never panic.
    #[track_caller]
    pub fn fleet(&self, args: &[&str]) -> Run {
        self.fleet_at(&self.repo, &[], args)
    }

    /// Runs `fleet ARGS…` in `cwd` with extra environment variables.
    #[track_caller]
    pub fn fleet_at(&self, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        self.program_at(env!("CARGO_BIN_EXE_fleet"), cwd, env, args)
    }

    /// Runs `PROGRAM ARGS…` (a fleet binary: another build of it) as [`Fleet::fleet_at`] does.
    #[track_caller]
    pub fn program_at(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        cwd: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Run {
        let mut cmd = self.command(program);
        cmd.args(args).current_dir(cwd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let run = self.run(cmd);
        for bad in ["panicked", "stack backtrace"] {
            assert!(
                !run.stderr.contains(bad) && !run.stdout.contains(bad),
                "fleet must not panic or print a backtrace ({bad:?})\n{}",
                run.describe()
            );
        }
        run
    }

    /// Runs `tmux ARGS…` against the private server; does not check the exit code.
    pub fn tmux(&self, args: &[&str]) -> Run {
        let mut cmd = self.command("tmux");
        // `-u`: in a non-UTF-8 locale tmux would print the tabs of our formats as `_`.
        cmd.arg("-u").args(args);
        self.run(cmd)
    }

    /// Starts the user's own detached session `name` running a shell; returns its pane id.
    pub fn user_shell(&self, name: &str) -> String {
        self.tmux_ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "200",
            "-y",
            "50",
            "sh",
        ]);
        self.panes(name, "#{pane_id}")[0].clone()
    }

    /// Types `fleet -f <manifest> ARGS; echo $? > <rc file>` into a pane, as a user would;
    /// returns a closure-friendly path of the rc file (empty until the command exits).
    pub fn type_fleet(&self, pane: &str, args: &str, rc_name: &str) -> PathBuf {
        let rc = self.root.join(rc_name);
        let line = format!(
            "{} -f {} {args}; echo $? > {}",
            sh_quote(env!("CARGO_BIN_EXE_fleet")),
            sh_quote(self.manifest_path().to_string_lossy()),
            sh_quote(rc.to_string_lossy())
        );
        self.tmux_ok(&["send-keys", "-t", pane, "-l", &line]);
        self.tmux_ok(&["send-keys", "-t", pane, "Enter"]);
        rc
    }

    /// Waits for a command typed by [`Fleet::type_fleet`] to exit; returns its exit code.
    #[track_caller]
    pub fn typed_exit_code(&self, rc: &Path) -> String {
        self.wait_for("the typed fleet command to exit", DEADLINE, |_| {
            fs::read_to_string(rc).is_ok_and(|s| !s.is_empty())
        });
        fs::read_to_string(rc).unwrap().trim().to_string()
    }

    /// Runs `tmux ARGS…` and returns its stdout, panicking on failure.
    #[track_caller]
    pub fn tmux_ok(&self, args: &[&str]) -> String {
        let run = self.tmux(args);
        run.success();
        run.stdout
    }

    /// Runs `git ARGS…` in the repo and returns its trimmed stdout, panicking on failure.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo, args)
    }

    #[track_caller]
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let run = self.try_git_in(dir, args);
        run.success();
        run.stdout.trim().to_string()
    }

    pub fn try_git_in(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = self.command("git");
        cmd.args(args).current_dir(dir);
        self.run(cmd)
    }

    // ---------------------------------------------------------------- observations

    /// Names of all sessions on the private server (empty when no server runs).
    pub fn sessions(&self) -> Vec<String> {
        let run = self.tmux(&["list-sessions", "-F", "#{session_name}"]);
        if run.code != 0 {
            return vec![];
        }
        sorted(run.stdout.lines().filter(|l| !l.is_empty()))
    }

    /// `#{format}` of every pane of a session, all windows.
    #[track_caller]
    pub fn panes(&self, session: &str, format: &str) -> Vec<String> {
        let out = self.tmux_ok(&[
            "list-panes",
            "-s",
            "-t",
            &format!("={session}"),
            "-F",
            format,
        ]);
        out.lines().map(str::to_string).collect()
    }

    /// `session_name session_id pane_id pane_pid` of every pane on the server: a fingerprint that
    /// changes when anything is recreated or respawned.
    pub fn pane_fingerprint(&self) -> Vec<String> {
        let run = self.tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{session_name} #{session_id} #{pane_id} #{pane_pid}",
        ]);
        if run.code != 0 {
            return vec![];
        }
        sorted(run.stdout.lines())
    }

    /// pane pid of a session's (first) pane.
    #[track_caller]
    pub fn pane_pid(&self, session: &str) -> String {
        self.panes(session, "#{pane_pid}")[0].clone()
    }

    /// Sessions the clients of the private server are looking at.
    pub fn clients(&self) -> Vec<String> {
        let run = self.tmux(&["list-clients", "-F", "#{client_session}"]);
        if run.code != 0 {
            return vec![];
        }
        sorted(run.stdout.lines())
    }

    /// Local branches under `fleet/`.
    pub fn fleet_branches(&self) -> Vec<String> {
        let out = self.git(&[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/fleet/",
        ]);
        sorted(out.lines().filter(|l| !l.is_empty()))
    }

    /// `fleet status --json`, parsed. Panics when it fails or is not JSON.
    #[track_caller]
    pub fn status_json(&self) -> Value {
        let run = self.fleet(&["status", "--json"]);
        run.success();
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!("`fleet status --json` is not JSON: {e}\n{}", run.describe())
        })
    }

    /// The agent's object from `fleet status --json`.
    #[track_caller]
    pub fn agent(&self, name: &str) -> Value {
        let status = self.status_json();
        status["agents"]
            .as_array()
            .unwrap_or_else(|| panic!("status has no agents array: {status}"))
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no agent {name:?} in status: {status}"))
            .clone()
    }

    /// The agent's state from `fleet status --json`.
    #[track_caller]
    pub fn state(&self, name: &str) -> String {
        self.agent(name)["state"]
            .as_str()
            .unwrap_or("<not a string>")
            .to_string()
    }

    /// Polls `cond` until it holds or `secs` pass; true when it held.
    pub fn try_wait_for(&self, secs: u64, mut cond: impl FnMut(&Fleet) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `cond` until it holds; after `secs` panics with `what` and what fleet and tmux see.
    #[track_caller]
    pub fn wait_for(&self, what: &str, secs: u64, cond: impl FnMut(&Fleet) -> bool) {
        if !self.try_wait_for(secs, cond) {
            panic!(
                "timed out after {secs}s waiting for {what}\n{}",
                self.diagnostics()
            );
        }
    }

    /// Waits until the agent reaches `state`.
    #[track_caller]
    pub fn wait_state(&self, name: &str, state: &str) {
        self.wait_for(&format!("agent {name} to be {state}"), DEADLINE, |f| {
            f.state(name) == state
        });
    }

    /// What a failing test wants to know: status, sessions, panes.
    pub fn diagnostics(&self) -> String {
        let status = self.fleet(&["status", "--json"]);
        let panes = self.tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{session_name} #{pane_id} #{pane_title} dead=#{pane_dead} #{pane_current_command}",
        ]);
        let logs: BTreeMap<String, String> = fs::read_dir(self.repo.join(".fleet/logs"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().to_string(),
                            fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "--- fleet status --json (exit {}) ---\n{}{}\n--- tmux panes ---\n{}{}\n--- logs ---\n{logs:#?}",
            status.code, status.stdout, status.stderr, panes.stdout, panes.stderr
        )
    }
}

impl Fleet {
    /// Writes an executable `name` (a stub of an agent CLI) into `<root>/stubs`; returns a
    /// `PATH` with that directory first.
    pub fn stub(&self, name: &str, script: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let bin = self.root.join("stubs");
        fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A person at a real terminal: a second tmux server ([`OUTER`]) whose 120x40 pane runs
    /// `command` (e.g. `tmux attach …`) against the private server, then stays open.
    pub fn outer_client(&self, command: &str) {
        let line = format!(
            "env -u TMUX TMUX_TMPDIR={} {command}; sleep 60",
            sh_quote(self.tmux_dir.to_string_lossy())
        );
        self.tmux_ok(&[
            "-L",
            OUTER,
            "new-session",
            "-d",
            "-s",
            "outer",
            "-x",
            "120",
            "-y",
            "40",
            &line,
        ]);
    }

    /// How many panes each window of the monitor session `repo-monitor` has, in order.
    #[track_caller]
    pub fn monitor_window_panes(&self) -> Vec<usize> {
        let out = self.tmux_ok(&[
            "list-windows",
            "-t",
            "=repo-monitor:",
            "-F",
            "#{window_panes}",
        ]);
        out.lines().filter_map(|l| l.parse().ok()).collect()
    }

    /// What a pane shows now (`-e`: with colour escapes).
    pub fn screen(&self, pane: &str, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", pane];
        if escapes {
            args.push("-e");
        }
        self.tmux(&args).stdout
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Pass or fail: no tmux server outlives the test (the temp dir goes after this).
        let _ = self.tmux(&["-L", OUTER, "kill-server"]);
        let _ = self.tmux(&["kill-server"]);
    }
}

/// A fleet command running in the background (for signals and races).
pub struct Spawned {
    pub child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

impl Drop for Spawned {
    /// A test that fails half-way leaves no fleet command running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    /// Sends `signal` (e.g. "INT") to the command's whole process group, as Ctrl-C in a
    /// terminal does.
    pub fn signal_group(&self, signal: &str) {
        let status = Command::new("kill")
            .args([
                &format!("-{signal}"),
                "--",
                &format!("-{}", self.child.id()),
            ])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// What the command printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits (at most a minute) for the command to end; what it left behind.
    pub fn wait(mut self) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > COMMAND_TIMEOUT {
                let _ = self.child.kill();
                panic!("a spawned fleet command did not finish within {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        use std::os::unix::process::ExitStatusExt;
        Run {
            cmd: "spawned fleet".into(),
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

impl Fleet {
    /// Starts `fleet ARGS…` in the repo in its own process group, without waiting.
    pub fn spawn_fleet(&self, args: &[&str]) -> Spawned {
        self.spawn_fleet_env(&[], args)
    }

    /// [`Fleet::spawn_fleet`] with extra environment variables.
    pub fn spawn_fleet_env(&self, env: &[(&str, &str)], args: &[&str]) -> Spawned {
        use std::os::unix::process::CommandExt;
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let out = self.out_dir.join(format!("{n}.out"));
        let err = self.out_dir.join(format!("{n}.err"));
        let mut cmd = self.command(env!("CARGO_BIN_EXE_fleet"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .process_group(0)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let child = cmd.spawn().expect("spawn fleet");
        Spawned { child, out, err }
    }
}

impl Fleet {
    /// `fleet ARGS…` in the repo with the test's environment, not started: for a test that
    /// talks to it over stdin/stdout (`fleet mcp`).
    pub fn fleet_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_fleet"));
        cmd.args(args);
        cmd
    }
}
