//! Fitting the shell (issue 8): completions with agent names, the man page, `init --agents N`,
//! `-q` and `-v`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Fleet;

const AGENTS: &str = "command: \"cat >/dev/null; sleep 300\"\nagents:\n  - name: alpha\n    prompt: one\n  - name: amber\n    prompt: two\n  - name: beta\n    prompt: three\n";

/// `PATH` with fleet's directory first (and `extra` before it, when given).
fn path_with_fleet(extra: Option<&Path>) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_fleet")).parent().unwrap();
    let mut dirs: Vec<PathBuf> = extra.into_iter().map(Path::to_path_buf).collect();
    dirs.push(bin.to_path_buf());
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Is `program` on PATH?
fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `shell ARGS…` in `cwd` with fleet on PATH; (exit code, stdout, stderr).
fn shell(f: &Fleet, cwd: &Path, shell: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(shell)
        .args(args)
        .current_dir(cwd)
        .env("PATH", path_with_fleet(None))
        .env("HOME", &f.home)
        .env_remove("FLEET_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sources the bash completion script, then for each line of `cases` (the words of a command
/// line, the last one being completed) prints `words -> completions`.
fn bash_complete(f: &Fleet, cwd: &Path, cases: &[&[&str]]) -> String {
    let script = f.root.join("fleet.bash");
    let run = f.fleet(&["completions", "bash"]);
    run.success();
    fs::write(&script, &run.stdout).unwrap();
    let mut body = format!(
        "source {}\ncomplete -p fleet || exit 7\n",
        common::sh_quote(script.to_string_lossy())
    );
    body.push_str(
        r#"t() {
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
    local func; func=$(complete -p fleet | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
    "$func" fleet "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "$* -> ${COMPREPLY[*]}"
}
"#,
    );
    for words in cases {
        let quoted: Vec<String> = words.iter().map(common::sh_quote).collect();
        body.push_str(&format!("t {}\n", quoted.join(" ")));
    }
    let (code, stdout, stderr) = shell(f, cwd, "bash", &["--norc", "--noprofile", "-c", &body]);
    assert_eq!(code, 0, "bash failed\n{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "bash printed errors: {stderr}");
    stdout
}

#[test]
fn bash_completion_loads_and_completes_commands_and_agent_names() {
    let f = Fleet::new();
    f.manifest(AGENTS);
    let out = bash_complete(
        &f,
        &f.repo,
        &[
            &["fleet", "attach", "a"],
            &["fleet", "at"],
            &["fleet", "up", "alpha", ""],
            &["fleet", "logs", "-n", "3", "b"],
            &["fleet", "attach", "alpha", "a"],
            &["fleet", "merge", "--s"],
            &["fleet", "init", "a"],
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("complete ") && lines[0].ends_with(" fleet"),
        "{out}"
    );
    assert_eq!(lines[1], "fleet attach a -> alpha amber", "{out}");
    assert_eq!(lines[2], "fleet at -> attach", "{out}");
    assert_eq!(lines[3], "fleet up alpha  -> alpha amber beta", "{out}");
    assert_eq!(lines[4], "fleet logs -n 3 b -> beta", "{out}");
    // attach takes one agent: no second one is offered
    assert!(!lines[5].contains("amber"), "{out}");
    assert_eq!(lines[6], "fleet merge --s -> --squash", "{out}");
    // init takes no agent
    assert!(!lines[7].contains("alpha"), "{out}");
    // the hidden commands are not offered
    let all = bash_complete(&f, &f.repo, &[&["fleet", ""], &["fleet", "_"]]);
    assert!(
        all.contains(" merge ") && all.contains(" completions "),
        "{all}"
    );
    let offered = all.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(
        !offered.contains("_run") && !offered.contains("_agents"),
        "{all}"
    );
}

#[test]
fn bash_completion_reads_the_manifest_given_with_dash_f_and_is_quiet_without_one() {
    let f = Fleet::new();
    f.file(
        "elsewhere/fleet.yaml",
        "agents:\n  - name: gamma\n    prompt: x\n  - name: golf\n    prompt: y\n",
    );
    fs::write(
        f.home.join("h.yaml"),
        "agents:\n  - name: hotel\n    prompt: x\n",
    )
    .unwrap();
    // no agents.yaml anywhere above the repo: nothing to complete, and no noise
    let out = bash_complete(
        &f,
        &f.repo,
        &[
            &["fleet", "status", "g"],
            &["fleet", "-f", "elsewhere/fleet.yaml", "status", "g"],
            &["fleet", "--file=elsewhere/fleet.yaml", "down", "go"],
            &["fleet", "-f", "~/h.yaml", "wait", ""],
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], "fleet status g -> ", "{out}");
    assert_eq!(
        lines[2], "fleet -f elsewhere/fleet.yaml status g -> gamma golf",
        "{out}"
    );
    assert_eq!(
        lines[3], "fleet --file=elsewhere/fleet.yaml down go -> golf",
        "{out}"
    );
    assert_eq!(lines[4], "fleet -f ~/h.yaml wait  -> hotel", "{out}");
}

#[test]
fn agents_helper_prints_names_or_nothing_and_never_fails() {
    let f = Fleet::new();
    // no manifest
    let run = f.fleet(&["_agents"]);
    run.success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    // a manifest with a problem fleet would refuse still completes its names
    f.manifest("agents:\n  - name: alpha\n    prompt: x\n    colour: red\n  - name: beta\n");
    let run = f.fleet(&["_agents"]);
    run.success();
    assert_eq!(run.stdout, "alpha\nbeta\n");
    // not YAML at all, or a missing -f file: nothing, exit 0
    f.manifest("agents: [\n");
    let run = f.fleet(&["_agents"]);
    run.success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    let run = f.fleet(&["-f", "nope.yaml", "_agents"]);
    run.success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    // and it is not in the help
    let help = f.fleet(&["--help"]);
    assert!(!help.stdout.contains("_agents"), "{}", help.stdout);
}

#[test]
fn zsh_and_fish_scripts_parse_and_complete_agent_names() {
    let f = Fleet::new();
    let zsh = f.fleet(&["completions", "zsh"]);
    zsh.success();
    assert!(zsh.stdout.starts_with("#compdef fleet"), "{}", zsh.stdout);
    // the positional NAME(S) of the eleven agent commands complete with _fleet_agents
    assert_eq!(zsh.stdout.matches(":_fleet_agents' \\").count(), 11);
    assert!(zsh.stdout.contains("_fleet_agents() {"));
    let fish = f.fleet(&["completions", "fish"]);
    fish.success();
    assert!(fish.stdout.contains(
        "complete -c fleet -n \"__fish_fleet_using_subcommand up attach status logs diff wait merge conflicts continue review down\" -f -a '(__fish_fleet_agents)'"
    ));
    for (sh, run) in [("zsh", &zsh), ("fish", &fish)] {
        if !installed(sh) {
            eprintln!("{sh} is not installed: only checked the script's text");
            continue;
        }
        let script = f.root.join(format!("fleet.{sh}"));
        fs::write(&script, &run.stdout).unwrap();
        let (code, out, err) = shell(&f, &f.repo, sh, &["-n", &script.to_string_lossy()]);
        assert_eq!(code, 0, "{sh} -n failed\n{out}\n{err}");
    }
    // a shell fleet does not support is a usage error
    f.fleet(&["completions", "tcsh"]).code(2);
}

#[test]
fn man_page_has_every_command_and_renders() {
    let f = Fleet::new();
    let run = f.fleet(&["man"]);
    run.success();
    let roff = &run.stdout;
    assert!(roff.contains(".TH FLEET 1"), "{roff}");
    let commands = f.commands();
    assert!(commands.iter().any(|c| c == "conflicts"), "{commands:?}");
    for cmd in &commands {
        assert!(
            roff.contains(&format!(".SS \"fleet {cmd}\"")),
            "{cmd}\n{roff}"
        );
    }
    assert!(
        !roff.contains("_run") && !roff.contains("_agents"),
        "{roff}"
    );
    assert!(roff.contains(".SH \"EXIT STATUS\"") && roff.contains("FLEET_FILE"));

    let dir = f.root.join("man1");
    let out = f.fleet(&["man", "--out", &dir.to_string_lossy()]);
    out.success();
    let mut pages: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 18, "{pages:?}");
    assert!(pages.contains(&"fleet-continue.1".to_string()));
    assert!(pages.contains(&"fleet.1".to_string()) && pages.contains(&"fleet-up.1".to_string()));
    assert_eq!(fs::read_to_string(dir.join("fleet.1")).unwrap(), *roff);
    assert!(fs::read_to_string(dir.join("fleet-merge.1"))
        .unwrap()
        .contains(".TH FLEET-MERGE 1"));

    if !installed("man") {
        eprintln!("man is not installed: only checked the roff");
        return;
    }
    let (code, text, err) = {
        let out = Command::new("man")
            .args(["-l", &dir.join("fleet.1").to_string_lossy()])
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MAN_KEEP_FORMATTING", "")
            .env("HOME", &f.home)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 0, "man -l failed: {err}");
    // man formats for a pipe without bold/underline escapes; strip any that remain
    let plain: String = strip_overstrike(&text);
    // and the justification's extra spaces
    let words = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "NAME",
        "fleet - Run a fleet of coding agents",
        "SYNOPSIS",
        "COMMANDS",
        "fleet merge [--ff] [--no-ff] [--ff-only] [--squash] [--rebase]",
        "EXIT STATUS",
    ] {
        assert!(words.contains(needle), "{needle:?} not in\n{plain}");
    }
    assert!(
        plain.lines().all(|l| l.chars().count() <= 80),
        "lines wider than MANWIDTH\n{plain}"
    );
}

/// Removes the `c\bc` (bold) and `_\bc` (underline) overstrikes of nroff output.
fn strip_overstrike(s: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        out.push(c);
    }
    out.into_iter().collect()
}

/// Every file under `dir` (but `.git`) with its content.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read_to_string(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_with_agents_writes_a_valid_fleet_and_never_overwrites() {
    let f = Fleet::new();
    let run = f.fleet(&["init", "--agents", "3"]);
    run.success().stdout_has("3 task files");
    for i in 1..=3 {
        let task = fs::read_to_string(f.repo.join(format!("tasks/agent{i}.md"))).unwrap();
        for section in ["## What to do", "## Success criteria", "## Do NOT"] {
            assert!(task.contains(section), "agent{i}: {task}");
        }
    }
    assert!(!f.repo.join("tasks/example.md").exists());
    let manifest = fs::read_to_string(f.manifest_path()).unwrap();
    assert!(manifest.contains("\nagent: claude "), "{manifest}");
    // .fleet/ is kept out of git before it even exists, and nothing fleet wrote is ignored
    let exclude = fs::read_to_string(f.repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/.fleet/"), "{exclude}");
    let status = f.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(
        common::sorted(status.lines()),
        [
            "?? agents.yaml",
            "?? tasks/agent1.md",
            "?? tasks/agent2.md",
            "?? tasks/agent3.md"
        ]
    );
    f.file(".fleet/logs/x.log", "state\n");
    assert_eq!(
        f.git(&["status", "--porcelain", "--untracked-files=all"]),
        status
    );

    // the manifest names `claude`: put a stub of it on PATH for validate
    let bin = f.root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let claude = bin.join("claude");
    fs::write(&claude, "#!/bin/sh\ncat\n").unwrap();
    fs::set_permissions(&claude, fs::Permissions::from_mode(0o755)).unwrap();
    let path = path_with_fleet(Some(&bin));
    let valid = f.fleet_at(&f.repo, &[("PATH", &path)], &["validate"]);
    valid.success();
    assert_eq!(
        valid.stdout.matches("\nagent agent").count(),
        3,
        "{valid:?}"
    );
    for i in 1..=3 {
        valid.stdout_has(&format!("agent agent{i}\n"));
    }

    // again, or with more agents: refused, and nothing changes
    f.file("tasks/agent2.md", "my own task\n");
    let before = snapshot(&f.repo);
    let again = f.fleet(&["init", "--agents", "3"]);
    again.code(1).stderr_has("never overwrites");
    let more = f.fleet(&["init", "--agents", "5"]);
    more.code(1).stderr_has("agents.yaml");
    assert!(!more.stderr.contains("agent4"), "{more:?}");
    assert_eq!(snapshot(&f.repo), before);
    // only a task file in the way: still nothing written
    fs::remove_file(f.manifest_path()).unwrap();
    let before = snapshot(&f.repo);
    f.fleet(&["init", "--agents", "3"])
        .code(1)
        .stderr_has("tasks/agent2.md");
    assert_eq!(snapshot(&f.repo), before);
    assert!(!f.manifest_path().exists());
    // zero agents is a usage error
    f.fleet(&["init", "--agents", "0"]).code(2);
}

#[test]
fn verbose_prints_every_git_and_tmux_command_and_quiet_only_errors() {
    let f = Fleet::new();
    f.manifest(AGENTS);
    let up = f.fleet(&["-v", "up", "alpha"]);
    up.success().stdout_has("started 1 agent");
    let trace: Vec<&str> = up.stderr.lines().collect();
    assert!(trace.iter().all(|l| l.starts_with("+ ")), "{}", up.stderr);
    let repo = f.repo.to_string_lossy();
    // the worktree's registration, which fleet writes itself, is traced too
    assert!(
        trace.iter().any(|l| l.starts_with(&format!(
            "+ fleet register-worktree {repo}.worktrees/alpha fleet/alpha"
        ))),
        "{}",
        up.stderr
    );
    assert!(
        trace
            .iter()
            .any(|l| l.starts_with(&format!("+ git -C {repo}.worktrees/alpha checkout"))),
        "{}",
        up.stderr
    );
    assert!(
        trace.iter().any(|l| l.starts_with("+ tmux new-session")),
        "{}",
        up.stderr
    );
    assert!(trace.contains(&"+ tmux -V"), "{}", up.stderr);
    // without -v: no trace
    let status = f.fleet(&["status", "alpha"]);
    status.success();
    assert_eq!(status.stderr, "");

    // -q: up and down say nothing; status, --json and errors still print
    let up = f.fleet(&["-q", "up"]);
    up.success();
    assert_eq!((up.stdout.as_str(), up.stderr.as_str()), ("", ""));
    let quiet_status = f.fleet(&["status", "-q"]);
    quiet_status.success().stdout_has("amber");
    f.fleet(&["-q", "status", "--json"])
        .success()
        .stdout_has("\"agents\"");
    f.fleet(&["-q", "logs", "nobody"])
        .code(2)
        .stderr_has("nobody");
    let down = f.fleet(&["down", "-q"]);
    down.success();
    assert_eq!((down.stdout.as_str(), down.stderr.as_str()), ("", ""));
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
    // -q and -v together make no sense
    f.fleet(&["-q", "-v", "status"]).code(2);
}
