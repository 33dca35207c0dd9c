//! Conformance with the real OpenAI Codex CLI (codex-cli 0.171.0, `FLEET_REAL_CODEX` = the
//! path of its `codex`; scripts/test.sh installs it) against the scripted Responses API of
//! tests/fake/openai.rs on 127.0.0.1. Without the variable every test prints a skip line and
//! passes: the stubs of the other tests stay the fast ones, these are the truth.
//!
//! codex finds the fake through `$HOME/.codex/config.toml` (HOME is the test's private one):
//! a custom provider `fake` with the fake's `base_url` and `env_key = "OPENAI_API_KEY"`.
mod common;
mod fake;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Fleet;
use fake::openai::{self, Responses, Turn};
use serde_json::Value;

/// The real codex, or None after printing the skip line.
fn real_codex() -> Option<PathBuf> {
    match std::env::var_os("FLEET_REAL_CODEX") {
        Some(p) if Path::new(&p).exists() => Some(PathBuf::from(p)),
        _ => {
            eprintln!("SKIP real codex: FLEET_REAL_CODEX not set (scripts/test.sh installs it)");
            None
        }
    }
}

/// PATH with the real codex's directory first.
fn path_with(codex: &Path) -> String {
    let dir = codex.parent().unwrap().to_string_lossy().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// Points codex (HOME's `.codex`) at the fake.
fn configure(f: &Fleet, base_url: &str) {
    let dir = f.home.join(".codex");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.toml"), openai::codex_config_toml(base_url)).unwrap();
}

/// The JSON events of a run's stdout.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn of_type<'a>(evs: &'a [Value], t: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["type"] == t).collect()
}

/// The usage codex must report for requests `from..to` of the fake (its turn.completed sums
/// every request of the thread).
fn expected_input(requests: std::ops::Range<usize>) -> u64 {
    requests.map(|n| openai::usage_of(n).0).sum()
}

/// Runs the real `codex exec --json ARGS -` in `dir` with the task on stdin, bounded by a
/// deadline (kills it after). Returns (exit code or None when killed, stdout, stderr).
fn codex_exec(
    f: &Fleet,
    codex: &Path,
    dir: &Path,
    args: &[&str],
    task: &str,
    deadline: Duration,
) -> (Option<i32>, String, String) {
    let out = f.root.join("codex.out");
    let err = f.root.join("codex.err");
    let mut cmd = Command::new(codex);
    cmd.arg("exec")
        .arg("--json")
        .args(args)
        .current_dir(dir)
        .env("HOME", &f.home)
        .env_remove("CODEX_HOME")
        .env("OPENAI_API_KEY", "sk-fake")
        .env("PATH", path_with(codex))
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("GIT_") {
            cmd.env_remove(&k);
        }
    }
    let mut child = cmd.spawn().expect("run codex");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(task.as_bytes()).unwrap();
    }
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        code,
        fs::read_to_string(&out).unwrap_or_default(),
        fs::read_to_string(&err).unwrap_or_default(),
    )
}

/// A linked worktree of the test repo (as fleet makes them), on a new branch.
fn worktree(f: &Fleet, name: &str) -> PathBuf {
    let wt = f.root.join(format!("wt-{name}"));
    f.git(&["worktree", "add", "-q", "-b", name, wt.to_str().unwrap()]);
    wt
}

/// The edit level's flags, as the preset writes them (for a run without fleet).
fn edit_flags(wt: &Path) -> Vec<String> {
    let git = |arg: &str| {
        let out = Command::new("git")
            .args(["rev-parse", arg])
            .current_dir(wt)
            .output()
            .unwrap();
        let p = String::from_utf8(out.stdout).unwrap().trim().to_string();
        common::canon(wt.join(p)).to_string_lossy().to_string()
    };
    vec![
        "--sandbox".into(),
        "workspace-write".into(),
        "--add-dir".into(),
        git("--git-common-dir"),
        "--add-dir".into(),
        git("--git-dir"),
    ]
}

const WRITE_AND_COMMIT: &str = "Write hello.txt containing 'hello' and commit it.\n";

fn write_and_commit() -> Vec<Turn> {
    vec![
        Turn::exec("printf 'hello\\n' > hello.txt"),
        Turn::exec("git add -A && git commit -q -m 'add hello'"),
        Turn::say("Wrote hello.txt and committed it."),
    ]
}

// ------------------------------------------------------------------ codex alone

/// The fake speaks Responses well enough: at workspace-write with the worktree's git dirs
/// writable, codex runs both commands and commits; its usage is the sum of the 3 requests.
#[test]
fn codex_alone_edits_and_commits_at_workspace_write() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    let api = Responses::start(write_and_commit());
    configure(&f, &api.base_url());
    let wt = worktree(&f, "alone");
    let flags = edit_flags(&wt);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.push("-");
    let (code, out, err) = codex_exec(
        &f,
        &codex,
        &wt,
        &args,
        WRITE_AND_COMMIT,
        Duration::from_secs(90),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let evs = events(&out);
    let cmds: Vec<&Value> = of_type(&evs, "item.completed")
        .into_iter()
        .filter(|e| e["item"]["type"] == "command_execution")
        .collect();
    assert_eq!(cmds.len(), 2, "{out}");
    assert!(cmds.iter().all(|e| e["item"]["exit_code"] == 0), "{out}");
    let done = of_type(&evs, "turn.completed");
    assert_eq!(done.len(), 1, "{out}");
    assert_eq!(done[0]["usage"]["input_tokens"], expected_input(0..3));
    assert_eq!(api.calls(), 3);
    assert_eq!(
        f.git_in(&wt, &["log", "-1", "--format=%s"]).trim(),
        "add hello"
    );
    // Only /responses, plain JSON.
    for r in api.server.requests() {
        assert_eq!((r.method.as_str(), r.route()), ("POST", "/v1/responses"));
        assert_eq!(r.header("content-encoding"), None);
    }
}

/// At read-only the sandbox refuses the write and the commit. codex's JSON stream usually shows
/// no item at all for a refused command (only the model sees "Read-only file system"); now and
/// then (under load) it shows one as a failed `command_execution` with that text.
#[test]
fn codex_alone_read_only_refusal_is_mostly_silent_in_the_stream() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    let api = Responses::start(write_and_commit());
    configure(&f, &api.base_url());
    let wt = worktree(&f, "ro");
    let (code, out, err) = codex_exec(
        &f,
        &codex,
        &wt,
        &["--sandbox", "read-only", "-"],
        WRITE_AND_COMMIT,
        Duration::from_secs(90),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!wt.join("hello.txt").exists());
    let outputs = api.tool_outputs();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert!(
        outputs.iter().all(|o| o.contains("Read-only file system")),
        "{outputs:?}"
    );
    for e in events(&out) {
        if e["item"]["type"] == "command_execution" && e["type"] == "item.completed" {
            assert_eq!(e["item"]["status"], "failed", "{out}");
            let text = e["item"]["aggregated_output"].as_str().unwrap_or("");
            assert!(text.contains("Read-only file system"), "{out}");
        }
    }
}

/// A 429 on every request: five "Reconnecting... n/5" error events, then turn.failed, exit 1.
#[test]
fn codex_alone_rate_limited_fails_after_five_retries() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    let api = Responses::start(vec![Turn::Status(429)]);
    configure(&f, &api.base_url());
    let wt = worktree(&f, "rl");
    let (code, out, err) = codex_exec(&f, &codex, &wt, &["-"], "hi\n", Duration::from_secs(120));
    assert_eq!(code, Some(1), "{out}\n{err}");
    let evs = events(&out);
    let retries = of_type(&evs, "error")
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Reconnecting... ")
        })
        .count();
    assert_eq!(retries, 5, "{out}");
    let failed = of_type(&evs, "turn.failed");
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("429 Too Many Requests"),
        "{out}"
    );
}

/// With nothing listening codex retries "waiting for network" forever (its
/// `unbounded_connection_retries` feature); with it disabled it gives up after 5 and exits 1.
#[test]
fn codex_alone_unreachable_api_is_bounded_by_disabling_unbounded_retries() {
    let Some(codex) = real_codex() else { return };
    let f = Fleet::new();
    configure(&f, &openai::unreachable_base_url());
    let wt = worktree(&f, "down");
    let (code, out, err) = codex_exec(
        &f,
        &codex,
        &wt,
        &["--disable", "unbounded_connection_retries", "-"],
        "hi\n",
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{out}\n{err}");
    let evs = events(&out);
    assert!(
        out.contains("Reconnecting... 5/5 (Connection failed"),
        "{out}"
    );
    assert_eq!(of_type(&evs, "turn.failed").len(), 1, "{out}");
}
