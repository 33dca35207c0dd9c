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
//! The `Fleet` itself (files, processes, git) is here; the rest, one file a concept:
//! - [`wait`]: `status --json` read (an agent, its state) and polled with a deadline;
//! - [`tmux`]: the private server as a user meets it (their shell, a typed fleet command, an
//!   attached client) and what it shows;
//! - [`spawned`]: a fleet command run in the background ([`Spawned`]) or not started;
//! - [`repo`]: what the tests of `command:` agents share (a committing command, four agents
//!   two of which conflict, a trapped checkout);
//! - [`real`]: what the tests with the real agent CLIs share (finding a CLI, fleet with it
//!   on `PATH`, running the CLI itself, reading what it printed, the `mcp: lead` checks);
//! - [`sandbox`] and [`net`]: what the sandbox tests share;
//! - [`sshd`]: "remote hosts" for the ssh tests, a private sshd on 127.0.0.1 that logs into
//!   other local accounts (`ssh host-a …`), and [`status`] reading them with a `PATH`.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod net;
pub mod real;
pub mod repo;
pub mod sandbox;
mod spawned;
pub mod sshd;
pub mod status;
mod tmux;
mod wait;

#[allow(unused_imports)]
pub use real::{path_with, real_cli};
#[allow(unused_imports)]
pub use repo::commits;
#[allow(unused_imports)]
pub use spawned::Spawned;

/// How long a single command may run before the test gives up on it.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
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

    /// Local branches under `fleet/`.
    pub fn fleet_branches(&self) -> Vec<String> {
        let out = self.git(&[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/fleet/",
        ]);
        sorted(out.lines().filter(|l| !l.is_empty()))
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
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Pass or fail: no tmux server outlives the test (the temp dir goes after this).
        let _ = self.tmux(&["-L", OUTER, "kill-server"]);
        let _ = self.tmux(&["kill-server"]);
    }
}
