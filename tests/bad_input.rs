//! Bad input (issue 6): a table of bad manifests and situations. Each case says the exit code
//! the contract gives it, the message fragments that name the file/agent/key and the fix, and
//! the test checks that the message is one `error: …` paragraph without a panic and that
//! nothing changed: refs, worktrees, every file under the temp dir (repo, worktree dir,
//! `.fleet/`), and the tmux sessions of the private server.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{contains_ci, Fleet};

/// Where and how a case runs fleet.
struct Ctx {
    cwd: PathBuf,
    env: Vec<(String, String)>,
}

struct Case {
    what: &'static str,
    /// `repo/agents.yaml` (not written when empty).
    yaml: &'static str,
    /// Prepares the situation (before the "before" snapshot).
    setup: Option<fn(&Fleet, &mut Ctx)>,
    /// The fleet commands that must each refuse (default: `validate` and `up`).
    commands: Vec<Vec<&'static str>>,
    code: i32,
    /// Each must appear in stderr (case-insensitive).
    expect: Vec<&'static str>,
    /// Root can read and write anything: chmod cases say nothing then.
    skip_as_root: bool,
}

fn case(what: &'static str, yaml: &'static str, expect: &[&'static str]) -> Case {
    Case {
        what,
        yaml,
        setup: None,
        commands: vec![vec!["validate"], vec!["up"]],
        code: 2,
        expect: expect.to_vec(),
        skip_as_root: false,
    }
}

impl Case {
    fn setup(mut self, f: fn(&Fleet, &mut Ctx)) -> Self {
        self.setup = Some(f);
        self
    }
    fn only(mut self, commands: &[&[&'static str]]) -> Self {
        self.commands = commands.iter().map(|c| c.to_vec()).collect();
        self
    }
    fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
    fn not_as_root(mut self) -> Self {
        self.skip_as_root = true;
        self
    }
}

const ONE: &str = "agents:\n  - name: a1\n    prompt: hi\n    command: cat\n";

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A directory of symlinks to the programs fleet and its agents need, without `missing`.
fn path_without(f: &Fleet, missing: &str) -> String {
    let dir = f.root.join(format!("bin-without-{missing}"));
    fs::create_dir_all(&dir).unwrap();
    for tool in ["sh", "cat", "env", "tmux", "git", "sleep", "id"] {
        if tool == missing {
            continue;
        }
        if let Ok(path) = which(tool) {
            std::os::unix::fs::symlink(path, dir.join(tool)).unwrap();
        }
    }
    dir.display().to_string()
}

fn which(tool: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Everything a failed command must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    refs: String,
    worktrees: String,
    files: Vec<String>,
    sessions: String,
}

fn snapshot(f: &Fleet) -> Snapshot {
    let refs = f.try_git_in(&f.repo, &["for-each-ref"]);
    let worktrees = f.try_git_in(&f.repo, &["worktree", "list", "--porcelain"]);
    let sessions = f.tmux(&["list-sessions", "-F", "#{session_name} #{@fleet}"]);
    let files = f.files();
    Snapshot {
        refs: format!("{}{}", refs.code, refs.stdout),
        worktrees: format!("{}{}", worktrees.code, worktrees.stdout),
        files,
        sessions: if sessions.code == 0 {
            sessions.stdout
        } else {
            "no server".into()
        },
    }
}

/// Why `stderr` is not one `error: …` paragraph free of panics, if it is not.
fn paragraph_problem(stderr: &str) -> Option<String> {
    if !stderr.starts_with("error: ") {
        return Some("does not start with `error: `".into());
    }
    let body = stderr.trim_end();
    if body.lines().any(|l| l.trim().is_empty()) {
        return Some("has a blank line (more than one paragraph)".into());
    }
    if body.lines().filter(|l| l.starts_with("error")).count() != 1 {
        return Some("has more than one `error` line".into());
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "unwrap"] {
        if contains_ci(stderr, bad) {
            return Some(format!("mentions {bad:?}"));
        }
    }
    None
}

/// Runs every case (a few at a time: each has its own repo and tmux server) and reports all
/// failures at once.
fn run_cases(cases: Vec<Case>) {
    let root = is_root();
    let cases: Vec<&Case> = cases
        .iter()
        .filter(|c| {
            let skip = c.skip_as_root && root;
            if skip {
                eprintln!("skipped as root: {}", c.what);
            }
            !skip
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let found = run_case(case);
                failures.lock().unwrap().extend(found);
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures in {} cases:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// One case: what went wrong with it, if anything.
fn run_case(case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let f = Fleet::new();
    if !case.yaml.is_empty() {
        f.manifest(case.yaml);
    }
    f.file("tasks/t.md", "a task\n");
    let mut ctx = Ctx {
        cwd: f.repo.clone(),
        env: Vec::new(),
    };
    if let Some(setup) = case.setup {
        setup(&f, &mut ctx);
    }
    for args in &case.commands {
        let before = snapshot(&f);
        let env: Vec<(&str, &str)> = ctx
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let run = f.fleet_at(&ctx.cwd, &env, args);
        let after = snapshot(&f);
        let context = format!(
            "case {:?}: fleet {}\n  exit {}\n  stdout: {:?}\n  stderr: {}",
            case.what,
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr.trim_end().replace('\n', "\n          ")
        );
        let mut problems = Vec::new();
        if run.code != case.code {
            problems.push(format!("exit code {} instead of {}", run.code, case.code));
        }
        for needle in &case.expect {
            if !contains_ci(&run.stderr, needle) {
                problems.push(format!("stderr lacks {needle:?}"));
            }
        }
        if let Some(p) = paragraph_problem(&run.stderr) {
            problems.push(format!("message {p}"));
        }
        if before != after {
            problems.push(describe_change(&before, &after));
        }
        if !problems.is_empty() {
            failures.push(format!("{context}\n  -> {}", problems.join("\n  -> ")));
        }
    }
    // The chmod cases leave files the temp dir's cleanup must be able to remove (only under
    // the repo: tmux refuses a socket dir with other permissions than its own).
    if case.skip_as_root {
        restore_permissions(&f.repo);
    }
    failures
}

fn describe_change(before: &Snapshot, after: &Snapshot) -> String {
    let mut what = Vec::new();
    if before.refs != after.refs {
        what.push(format!("refs: {:?} -> {:?}", before.refs, after.refs));
    }
    if before.worktrees != after.worktrees {
        what.push(format!(
            "worktrees: {:?} -> {:?}",
            before.worktrees, after.worktrees
        ));
    }
    if before.sessions != after.sessions {
        what.push(format!(
            "sessions: {:?} -> {:?}",
            before.sessions, after.sessions
        ));
    }
    let gone: Vec<&String> = before
        .files
        .iter()
        .filter(|p| !after.files.contains(p))
        .collect();
    let new: Vec<&String> = after
        .files
        .iter()
        .filter(|p| !before.files.contains(p))
        .collect();
    if !gone.is_empty() || !new.is_empty() {
        what.push(format!("files gone: {gone:?}, files new: {new:?}"));
    }
    format!("something changed: {}", what.join("; "))
}

fn restore_permissions(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if let Ok(meta) = fs::symlink_metadata(&path) {
            if meta.is_dir() {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
                restore_permissions(&path);
            } else if meta.is_file() && meta.mode() & 0o600 != 0o600 {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o644));
            }
        }
    }
}

#[test]
fn bad_input_exits_with_one_clear_message_and_changes_nothing() {
    let long = "agents:\n  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n    prompt: hi\n";
    let cases = vec![
        // ---- the file itself
        case(
            "YAML syntax error",
            "agents:\n  - name: a1\n    prompt: hi: there\n",
            &["agents.yaml", "line 3", "quote"],
        ),
        case("empty file", "\n", &["agents.yaml", "empty", "fleet init"]),
        case(
            "no `agents` key",
            "project: x\n",
            &["agents.yaml", "missing field `agents`", "list the agents"],
        ),
        case(
            "wrong type of a value",
            "max_parallel: lots\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "max_parallel", "invalid type", "line 1"],
        ),
        case(
            "wrong type of `agents`",
            "agents:\n  name: a1\n  prompt: hi\n",
            &["agents.yaml", "agents", "invalid type", "- name:"],
        ),
        case(
            "wrong type of an agent's value",
            "agents:\n  - name: a1\n    prompt: hi\n    command: cat\n    retries: lots\n",
            &["agents.yaml", "(1 problem)", "agents[0].retries", "invalid type", "line 5"],
        ),
        case(
            "unknown agent preset",
            "agents:\n  - name: a1\n    prompt: hi\n    agent: nosuch\n",
            &["agents.yaml", "(1 problem)", "unknown variant `nosuch`", "claude", "line 4"],
        ),
        case(
            "unknown key with a suggestion",
            "agents:\n  - name: a1\n    prompt: hi\n    comand: cat\n",
            &[
                "agents.yaml",
                "comand",
                "line 4 column 5",
                "did you mean `command`",
            ],
        ),
        case(
            "unknown top-level key",
            "projekt: x\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "projekt", "did you mean `project`"],
        ),
        case(
            "empty agents",
            "agents: []\n",
            &["agents.yaml", "agents", "empty", "add at least one agent"],
        ),
        case(
            "agent without a name",
            "agents:\n  - prompt: hi\n",
            &["agents.yaml", "agents[0]", "name", "give every agent a `name:`"],
        ),
        // ---- names
        case(
            "duplicate names",
            "agents:\n  - name: a1\n    prompt: one\n  - name: a1\n    prompt: two\n",
            &["agents.yaml", "duplicate name `a1`", "agents[0]", "own name"],
        ),
        case(
            "name with a dot",
            "agents:\n  - name: a.b\n    prompt: hi\n",
            &["agents.yaml", "`a.b`", "letters, digits"],
        ),
        case(
            "name with a colon",
            "agents:\n  - name: \"a:b\"\n    prompt: hi\n",
            &["agents.yaml", "`a:b`", "letters, digits"],
        ),
        case(
            "name with a space",
            "agents:\n  - name: a b\n    prompt: hi\n",
            &["agents.yaml", "`a b`", "letters, digits"],
        ),
        case(
            "name with a leading dash",
            "agents:\n  - name: \"-x\"\n    prompt: hi\n",
            &["agents.yaml", "`-x`", "starting with a letter or digit"],
        ),
        case("name of 65 characters", long, &["agents.yaml", "1-64"]),
        case(
            "name `monitor`",
            "agents:\n  - name: monitor\n    prompt: hi\n",
            &["agents.yaml", "`monitor`", "reserved", "rename"],
        ),
        case(
            "invalid project name",
            "project: my.proj\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "project", "`my.proj`", "letters, digits"],
        ),
        // ---- the task
        case(
            "task file missing",
            "agents:\n  - name: a1\n    task: tasks/missing.md\n",
            &["agents.yaml", "(a1)", "tasks/missing.md", "not found", "create it"],
        ),
        case(
            "task is a directory",
            "agents:\n  - name: a1\n    task: tasks\n",
            &["agents.yaml", "(a1)", "tasks", "directory", "point `task:` at a file"],
        ),
        case(
            "task file unreadable",
            "agents:\n  - name: a1\n    task: tasks/secret.md\n",
            &["agents.yaml", "(a1)", "tasks/secret.md", "cannot be read", "permissions"],
        )
        .setup(|f, _| {
            f.file("tasks/secret.md", "secret\n");
            fs::set_permissions(f.repo.join("tasks/secret.md"), fs::Permissions::from_mode(0o000))
                .unwrap();
        })
        .not_as_root(),
        case(
            "both task and prompt",
            "agents:\n  - name: a1\n    task: tasks/t.md\n    prompt: hi\n",
            &["agents.yaml", "(a1)", "both `task` and `prompt`", "keep exactly one"],
        ),
        case(
            "neither task nor prompt",
            "agents:\n  - name: a1\n    command: cat\n",
            &["agents.yaml", "(a1)", "neither `task` nor `prompt`", "add `task:"],
        ),
        // ---- branches, worktrees, logs
        case(
            "two agents on the same branch",
            "agents:\n  - name: a1\n    prompt: x\n    branch: work\n  - name: a2\n    prompt: y\n    branch: work\n",
            &["agents.yaml", "(a2)", "branch `work`", "agent `a1`", "its own branch"],
        ),
        case(
            "an agent's worktree would be the repository itself",
            "worktree_dir: ..\nagents:\n  - name: repo\n    prompt: x\n",
            &["agents.yaml", "(repo)", "worktree", "the repository", "worktree_dir"],
        ),
        case(
            "invalid branch name",
            "agents:\n  - name: a1\n    prompt: x\n    branch: \"a..b\"\n",
            &["agents.yaml", "(a1)", "`a..b`", "fix `branch:`"],
        ),
        case(
            "two agents on the same log",
            "agents:\n  - name: a1\n    prompt: x\n    log: same.log\n  - name: a2\n    prompt: y\n    log: same.log\n",
            &["agents.yaml", "(a2)", "same.log", "agent `a1`", "its own log"],
        ),
        case(
            "base that does not exist",
            "base: nosuch\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "base", "`nosuch` does not exist", "set `base:`"],
        ),
        case(
            "detached HEAD and no base",
            ONE,
            &["agents.yaml", "detached HEAD", "set `base:`"],
        )
        .setup(|f, _| {
            f.git(&["checkout", "-q", "--detach"]);
        }),
        case(
            "worktree_dir inside .git",
            "worktree_dir: .git/wt\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "worktree_dir", "inside .git", "outside it"],
        ),
        case(
            "a worktree path that exists and is not a worktree",
            ONE,
            &["a1", "not a worktree", "move it away"],
        )
        .setup(|f, _| {
            fs::create_dir_all(f.worktree("a1")).unwrap();
            fs::write(f.worktree("a1").join("mine.txt"), "keep me").unwrap();
        })
        .only(&[&["up"]]),
        case(
            "a branch checked out in another worktree",
            ONE,
            &["a1", "`fleet/a1`", "already checked out", "elsewhere"],
        )
        .setup(|f, _| {
            f.git(&["branch", "fleet/a1"]);
            let other = f.root.join("elsewhere");
            f.git(&["worktree", "add", "-q", other.to_str().unwrap(), "fleet/a1"]);
        })
        .only(&[&["up"]]),
        case(
            "log directory is a file",
            "agents:\n  - name: a1\n    prompt: hi\n    log: README.md/a1.log\n",
            &["agents.yaml", "(a1)", "README.md", "log", "fix `log:`"],
        ),
        case(
            "log directory not writable",
            "agents:\n  - name: a1\n    prompt: hi\n    log: logs/a1.log\n",
            &["agents.yaml", "(a1)", "logs", "not writable", "fix `log:`"],
        )
        .setup(|f, _| {
            fs::create_dir_all(f.repo.join("logs")).unwrap();
            fs::set_permissions(f.repo.join("logs"), fs::Permissions::from_mode(0o555)).unwrap();
        })
        .not_as_root(),
        case(
            "copy of a missing file",
            "copy: [.env]\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "copy", ".env", "not found"],
        ),
        case(
            "max_parallel 0",
            "max_parallel: 0\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "max_parallel", "at least 1"],
        ),
        case(
            "invalid env variable name",
            "env: { \"A=B\": x }\nagents:\n  - name: a1\n    prompt: hi\n",
            &["agents.yaml", "env", "`A=B`", "letters, digits"],
        ),
        case(
            "worktree_dir is a file",
            "worktree_dir: README.md\nagents:\n  - name: a1\n    prompt: hi\n    command: cat\n",
            &["agents.yaml", "worktree_dir", "README.md is a file", "set `worktree_dir:`"],
        ),
        case(
            "a line break in worktree_dir",
            "worktree_dir: \"../wt\\nx\"\nagents:\n  - name: a1\n    prompt: hi\n    command: cat\n",
            &["agents.yaml", "worktree_dir", "line break", "choose another"],
        ),
        case(
            "a NUL byte in a command (YAML reads \\033 in double quotes as NUL, 3, 3)",
            "agents:\n  - name: a1\n    prompt: hi\n    command: \"printf '\\033]2;t\\007'\"\n",
            &["agents.yaml", "(a1)", "command holds a NUL byte", "\\x1b"],
        ),
        case(
            "a NUL byte in setup",
            "setup: \"echo \\0\"\nagents:\n  - name: a1\n    prompt: hi\n    command: cat\n",
            &["agents.yaml", "setup holds a NUL byte"],
        ),
        case(
            "a line break in a log path",
            "agents:\n  - name: a1\n    prompt: hi\n    command: cat\n    log: \"a\\nb.log\"\n",
            &["agents.yaml", "(a1)", "line break", "fix `log:`"],
        ),
        case(
            "a line break in the repository's path",
            "",
            &["agents.yaml", "line break", "rename that directory"],
        )
        .setup(|f, ctx| {
            let dir = f.root.join("two\nlines");
            fs::create_dir_all(&dir).unwrap();
            f.git_in(&dir, &["init", "-q", "-b", "main"]);
            f.git_in(&dir, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "i"]);
            fs::write(dir.join("agents.yaml"), ONE).unwrap();
            ctx.cwd = dir;
        }),
        case(
            ".fleet is a file",
            ONE,
            &["agents.yaml", ".fleet is a file", "move the file away"],
        )
        .setup(|f, _| {
            f.file(".fleet", "not a directory\n");
        }),
        // ---- where the manifest is
        case(
            "manifest outside any git repository",
            "",
            &["agents.yaml", "not inside a git repository", "git init"],
        )
        .setup(|f, ctx| {
            let dir = f.root.join("plain");
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("agents.yaml"), ONE).unwrap();
            ctx.cwd = dir;
        }),
        case(
            "repository without commits",
            "",
            &["agents.yaml", "no commits", "commit once"],
        )
        .setup(|f, ctx| {
            let dir = f.root.join("fresh");
            fs::create_dir_all(&dir).unwrap();
            f.git_in(&dir, &["init", "-q"]);
            fs::write(dir.join("agents.yaml"), ONE).unwrap();
            ctx.cwd = dir;
        }),
        case(
            "no manifest anywhere",
            "",
            &["no agents.yaml", "fleet init", "-f"],
        )
        .setup(|f, ctx| {
            let dir = f.root.join("nowhere");
            fs::create_dir_all(&dir).unwrap();
            ctx.cwd = dir;
        }),
        case(
            "-f to a missing file",
            ONE,
            &["nope.yaml", "not found", "fleet init"],
        )
        .only(&[&["-f", "nope.yaml", "validate"], &["-f", "nope.yaml", "up"]]),
        case(
            "-f to a directory",
            ONE,
            &["tasks", "is a directory", "-f"],
        )
        .only(&[&["-f", "tasks", "validate"], &["-f", "tasks", "up"]]),
        case(
            "manifest that is not UTF-8",
            "",
            &["agents.yaml", "UTF-8"],
        )
        .setup(|f, _| {
            fs::write(f.manifest_path(), b"agents:\n  - name: a1\n    prompt: \xff\xfe\n").unwrap();
        }),
        // ---- programs and tools
        case(
            "agent program not found",
            "agents:\n  - name: a1\n    prompt: hi\n    command: no-such-agent-cli --go\n",
            &["agents.yaml", "agent `a1`", "`no-such-agent-cli`", "not found on PATH", "change `command:`"],
        ),
        case(
            "agent program given by a missing absolute path",
            "agents:\n  - name: a1\n    prompt: hi\n    command: /nonexistent/agent run\n",
            &["agent `a1`", "/nonexistent/agent", "not found"],
        ),
        case(
            "tmux missing from PATH",
            ONE,
            &["tmux is not installed or not on PATH", "install tmux 3.2"],
        )
        .setup(|f, ctx| {
            ctx.env.push(("PATH".into(), path_without(f, "tmux")));
        })
        .code(1),
        case(
            "git missing from PATH",
            ONE,
            &["git is not installed or not on PATH", "install git 2.30"],
        )
        .setup(|f, ctx| {
            ctx.env.push(("PATH".into(), path_without(f, "git")));
        })
        .code(1),
        case(
            "tmux older than supported",
            ONE,
            &["tmux 2.9", "old-tmux/tmux", "too old", "install tmux 3.2 or newer"],
        )
        .setup(|f, ctx| {
            let dir = f.root.join("old-tmux");
            fs::create_dir_all(&dir).unwrap();
            let tmux = dir.join("tmux");
            fs::write(&tmux, "#!/bin/sh\necho 'tmux 2.9'\n").unwrap();
            fs::set_permissions(&tmux, fs::Permissions::from_mode(0o755)).unwrap();
            let path = std::env::var("PATH").unwrap_or_default();
            ctx.env
                .push(("PATH".into(), format!("{}:{path}", dir.display())));
        })
        .code(1),
        case(
            "git older than supported",
            ONE,
            &["git 2.20.1", "old-git/git", "too old", "install git 2.30 or newer"],
        )
        .setup(|f, ctx| {
            let dir = f.root.join("old-git");
            fs::create_dir_all(&dir).unwrap();
            let git = dir.join("git");
            let real = which("git").unwrap();
            fs::write(
                &git,
                format!(
                    "#!/bin/sh\nfor a; do [ \"$a\" = --version ] && {{ echo 'git version 2.20.1'; exit 0; }}; done\nexec '{}' \"$@\"\n",
                    real.display()
                ),
            )
            .unwrap();
            fs::set_permissions(&git, fs::Permissions::from_mode(0o755)).unwrap();
            let path = std::env::var("PATH").unwrap_or_default();
            ctx.env
                .push(("PATH".into(), format!("{}:{path}", dir.display())));
        })
        .code(1),
        case(
            "a user's tmux session holds an agent's name",
            ONE,
            &["repo-a1", "not made by this fleet", "project:"],
        )
        .setup(|f, _| {
            f.tmux_ok(&["new-session", "-d", "-s", "repo-a1", "sleep 300"]);
        })
        .only(&[&["up"]]),
        // ---- unknown agents on the command line
        case(
            "up of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["up", "nosuch"]]),
        case(
            "attach of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["attach", "nosuch"]]),
        case(
            "down of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["down", "nosuch"]]),
        case(
            "status of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["status", "nosuch"], &["status", "--json", "nosuch"]]),
        case(
            "wait for an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["wait", "nosuch"]]),
        case(
            "merge of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["merge", "nosuch"]]),
        // ---- an agent that never started
        case(
            "merge of an agent that never started",
            ONE,
            &["a1", "no branch fleet/a1", "fleet up a1"],
        )
        .only(&[&["merge", "a1"], &["merge", "--squash", "a1"]])
        .code(1),
        case(
            "diff of an agent that never started",
            ONE,
            &["a1", "no branch fleet/a1", "fleet up a1"],
        )
        .only(&[&["diff", "a1"], &["diff", "--stat", "a1"]])
        .code(1),
        case(
            "attach to an agent or a monitor that is not running",
            ONE,
            &["has no tmux session", "fleet up"],
        )
        .only(&[&["attach", "a1"], &["attach"]])
        .code(1),
    ];
    assert!(cases.len() >= 30, "the table has at least 30 cases");
    run_cases(cases);
}

/// `logs` and `diff` come with issue 5; enable this once they are merged.
#[test]
fn logs_and_diff_of_an_unknown_agent_are_usage_errors() {
    run_cases(vec![
        case(
            "logs of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["logs", "nosuch"]]),
        case(
            "diff of an unknown agent",
            ONE,
            &["unknown agent `nosuch`", "known agents: a1"],
        )
        .only(&[&["diff", "nosuch"]]),
    ]);
}

/// Odd YAML of every kind: fleet refuses it with one message and never panics (acceptance 3).
#[test]
fn no_manifest_makes_fleet_panic() {
    let inputs: &[&str] = &[
        "[]",
        "- a\n- b\n",
        "just a string",
        "agents: 5\n",
        "agents: [1, 2]\n",
        "agents: [[]]\n",
        "agents: [{name: 1, prompt: x}]\n",
        "agents: [{name: [a], prompt: x}]\n",
        "agents: [{name: a, prompt: [x]}]\n",
        "agents: [{name: a, prompt: x, env: {A: [1]}}]\n",
        "agents: [{name: a, prompt: x, env: 5}]\n",
        "agents: [{name: a, prompt: x, task: null}]\n",
        "agents: [{name: '', prompt: x}]\n",
        "agents: [{name: a, prompt: x, branch: ''}]\n",
        "agents: [{name: a, prompt: '   '}]\n",
        "agents: [{name: a, prompt: x, command: '  '}]\n",
        "agents: [{name: a, prompt: x, log: ''}]\n",
        "agents: [{name: a, prompt: x, log: .}]\n",
        "agents: &x [*x]\n",
        "a: &a [*a, *a]\nagents: []\n",
        "\t\n",
        "---\n---\n",
        "\u{feff}agents: []\n",
        "agents:\n  - name: a\n    prompt: x\n  - name: a\n    prompt: x\n  - name: a\n    prompt: x\n",
        "max_parallel: -1\nagents: [{name: a, prompt: x}]\n",
        "max_parallel: 99999999999\nagents: [{name: a, prompt: x}]\n",
        "env: {\"\": x}\nagents: [{name: a, prompt: x}]\n",
        "env: {A: \"\\0\"}\nagents: [{name: a, prompt: x}]\n",
        "copy: x\nagents: [{name: a, prompt: x}]\n",
        "copy: [/etc/passwd]\nagents: [{name: a, prompt: x}]\n",
        "copy: [../..]\nagents: [{name: a, prompt: x}]\n",
        "project: ''\nagents: [{name: a, prompt: x}]\n",
        "base: 'main..x'\nagents: [{name: a, prompt: x}]\n",
        "base: '-x'\nagents: [{name: a, prompt: x}]\n",
        "worktree_dir: /dev/null\nagents: [{name: a, prompt: x}]\n",
        "agents:\n  - name: a\n    task: /dev/null/x\n",
        "agents:\n  - name: a\n    task: \"\\0\"\n",
        "agents:\n  - name: a\n    prompt: x\n    comand: y\n    verfy: z\n  - nam: b\n",
        "agents:\n  - name: a\n  prompt: x\n",
        "agents:\n- name: a\n  prompt: \"unterminated\n",
    ];
    let f = Fleet::new();
    let mut failures = Vec::new();
    for input in inputs {
        f.manifest(input);
        // `fleet_at` itself fails the test on a panic or a backtrace.
        let run = f.fleet(&["validate"]);
        let problem = if run.code != 2 {
            Some(format!("exit {} instead of 2", run.code))
        } else {
            paragraph_problem(&run.stderr)
        };
        if let Some(p) = problem {
            failures.push(format!(
                "{input:?}: {p}\n  stdout: {}\n  stderr: {}",
                run.stdout, run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(!f.repo.join(".fleet").exists());
}

/// A manifest nested deeper than any real one (100,000 levels of `[`, or of indentation) or
/// larger than 4 MiB is refused before any YAML parser sees it (which took minutes): exit 2,
/// naming the file and the line, nothing made. Text that only looks deep (brackets in quotes,
/// comments, block scalars) is not.
#[test]
fn a_manifest_too_deep_or_too_large_is_refused_before_parsing() {
    let f = Fleet::new();
    let n = 100_000;
    let flow = format!(
        "agents:\n  - name: a\n    prompt: {}{}\n",
        "[".repeat(n),
        "]".repeat(n)
    );
    let mut block = "agents:\n  - name: a\n    prompt: x\nx:\n".to_string();
    for i in 1..=100 {
        block.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
    }
    let large = format!(
        "agents:\n  - name: a\n    prompt: x\n# {}\n",
        "x".repeat(5 << 20)
    );
    for (text, says) in [
        (&flow, "nests deeper than 64 levels (at line 3)"),
        (&block, "nests deeper than 64 levels (at line 68)"),
        (&large, "larger than the 4 MiB fleet reads"),
    ] {
        f.manifest(text);
        for cmd in ["validate", "up"] {
            f.fleet(&[cmd])
                .code(2)
                .stderr_has("agents.yaml")
                .stderr_has(says);
        }
        assert!(!f.repo.join(".fleet").exists());
    }
    let deep_looking = format!(
        "agents:\n  - name: a # {open}\n    prompt: \"{open}\"\n  - name: b\n    prompt: |\n      {open}\n{lines}",
        open = "[".repeat(100),
        lines = (0..100)
            .map(|i| format!("      {}x\n", " ".repeat(i)))
            .collect::<String>()
    );
    f.manifest(&deep_looking);
    let path = f.stub("claude", "#!/bin/sh\ncat > /dev/null\n");
    f.fleet_at(&f.repo, &[("PATH", &path)], &["validate"])
        .success();
}
