//! Agent presets and interactive agents (issue 8): each preset hands the task to a stub of
//! its CLI the way that CLI documents; an interactive agent is answered through tmux.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{sh_quote, Fleet, DEADLINE};

/// The arguments claude gets at the default permissions (`edit`).
const CLAUDE_EDIT: &str = "--permission-mode\nacceptEdits\n--allowedTools\nBash(git:*)\n";

const TASK: &str = "Fix the bug.\nSecond line: $HOME `x` 'q' \"d\"\n";

/// A stub CLI: writes its arguments (one per line), whether stdin is a terminal, and its
/// stdin (when not a terminal) into `<worktree>/<name>.args|.tty|.stdin`, then exits 0.
fn stub_script(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         printf '%s\\n' \"$@\" > {name}.args\n\
         if [ -t 0 ]; then echo yes > {name}.tty; else echo no > {name}.tty; cat > {name}.stdin; fi\n\
         echo {name} stub ran\n"
    )
}

/// Stubs of every preset's program; the PATH with them first and their directory.
fn stubs(f: &Fleet) -> (PathBuf, String) {
    let mut path = String::new();
    for name in ["claude", "codex", "aider", "gemini"] {
        path = f.stub(name, &stub_script(name));
    }
    (f.root.join("stubs"), path)
}

fn read(p: PathBuf) -> String {
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn each_preset_passes_the_task_the_way_its_cli_expects() {
    let f = Fleet::new();
    let (bin, path) = stubs(&f);
    f.file("tasks/task.md", TASK).manifest(
        r#"agent: codex             # the default preset of this fleet
agents:
  - name: cl
    agent: claude
    task: tasks/task.md
  - name: co                 # the top-level preset
    task: tasks/task.md
  - name: ai
    agent: aider
    task: tasks/task.md
  - name: ge
    agent: gemini
    task: tasks/task.md
  - name: sh
    agent: shell
    prompt: "echo from-the-task > shell.txt; echo \"$FLEET_AGENT\" >> shell.txt"
  - name: own
    agent: claude
    command: "claude --print --model opus"   # command: still wins
    task: tasks/task.md
"#,
    );
    let env = [("PATH", path.as_str())];
    let validate = f.fleet_at(&f.repo, &env, &["validate"]);
    validate
        .success()
        .stdout_has("agent:    codex (headless)")
        .stdout_has(&format!(
            "program:  codex, installed at {}",
            bin.join("codex").display()
        ));
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet_at(&f.repo, &env, &["wait", "--timeout", "20"])
        .success();

    let wt = |name: &str, file: &str| read(f.worktree(name).join(file));
    let task_file = canon_task(&f);
    // claude: --print with its event stream, allowed to edit (the default permissions),
    // the task on stdin
    assert_eq!(
        wt("cl", "claude.args"),
        format!("--print\n--output-format\nstream-json\n--verbose\n{CLAUDE_EDIT}")
    );
    assert_eq!(wt("cl", "claude.stdin"), TASK);
    // codex: exec --json -, in a sandbox that lets it write its worktree and commit, the
    // task on stdin
    assert_eq!(
        wt("co", "codex.args"),
        format!(
            "exec\n--json\n--disable\nunbounded_connection_retries\n--sandbox\nworkspace-write\n--add-dir\n{}\n--add-dir\n{}\n-\n",
            common::canon(f.repo.join(".git")).display(),
            common::canon(f.repo.join(".git/worktrees/co")).display()
        )
    );
    assert_eq!(wt("co", "codex.stdin"), TASK);
    // aider: the task as --message-file, no questions asked, plain output, nothing of its
    // own fetched, installed or written to .gitignore
    assert_eq!(
        wt("ai", "aider.args"),
        format!(
            "--yes-always\n--no-pretty\n--no-stream\n--no-check-update\n--no-show-release-notes\n--no-analytics\n--no-gitignore\n--message-file\n{}\n",
            task_file.display()
        )
    );
    // gemini: headless because stdin is not a terminal; the task on stdin
    assert_eq!(
        wt("ge", "gemini.args"),
        "--output-format\nstream-json\n--skip-trust\n--approval-mode\nauto_edit\n--allowed-tools\nrun_shell_command(git)\n"
    );
    assert_eq!(wt("ge", "gemini.tty"), "no\n");
    assert_eq!(wt("ge", "gemini.stdin"), TASK);
    // shell: the task is the script
    assert_eq!(wt("sh", "shell.txt"), "from-the-task\nsh\n");
    // an explicit command overrides the preset
    assert_eq!(wt("own", "claude.args"), "--print\n--model\nopus\n");

    // without the programs, validate names what is missing per agent (exit 2)
    f.fleet(&["validate"])
        .code(2)
        .stdout_has("program:  codex, NOT INSTALLED")
        .stderr_has("agent `ai`: program `aider` not found on PATH");
    // an unknown preset is a manifest error naming the choices
    f.manifest("agents:\n  - name: x\n    agent: claud\n    prompt: hi\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("unknown variant `claud`")
        .stderr_has("`claude`");
}

/// The absolute path `FLEET_TASK` has for tasks/task.md.
fn canon_task(f: &Fleet) -> PathBuf {
    fs::canonicalize(f.repo.join("tasks/task.md")).unwrap()
}

#[test]
fn interactive_presets_get_the_terminal_and_the_task_as_first_prompt() {
    let f = Fleet::new();
    let (_bin, path) = stubs(&f);
    f.file("tasks/task.md", TASK).manifest(
        r#"interactive: true
agents:
  - name: cl
    agent: claude
    task: tasks/task.md
  - name: ge
    agent: gemini
    task: tasks/task.md
"#,
    );
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(read(f.worktree("cl").join("claude.tty")), "yes\n");
    assert_eq!(
        read(f.worktree("cl").join("claude.args")),
        format!("{CLAUDE_EDIT}{TASK}")
    );
    assert_eq!(
        read(f.worktree("ge").join("gemini.args")),
        format!("--skip-trust\n--approval-mode\nauto_edit\n--allowed-tools\nrun_shell_command(git)\n--prompt-interactive\n{TASK}")
    );
    // what the pane showed is in the log, through tmux pipe-pane
    f.wait_for("the stub's output in the log", DEADLINE, |f| {
        f.output("cl").contains("claude stub ran")
    });
}

#[test]
fn an_interactive_agent_is_answered_after_attach_and_logged() {
    let f = Fleet::new();
    f.manifest(
        r#"agents:
  - name: asker
    agent: shell
    interactive: true
    prompt: |
      printf 'Which colour? '
      read answer
      echo "got $answer"
      echo "$answer" > answer.txt
"#,
    );
    f.fleet(&["up"]).success();
    // a person attaches from a terminal: a client of the outer tmux server runs fleet attach
    f.outer_client(&format!(
        "{} -f {} attach asker",
        sh_quote(env!("CARGO_BIN_EXE_fleet")),
        sh_quote(f.manifest_path().to_string_lossy())
    ));
    f.wait_for("a client on the agent's session", DEADLINE, |f| {
        f.clients() == ["repo-asker"]
    });
    f.wait_for("the question on the agent's pane", DEADLINE, |f| {
        f.screen("=repo-asker:", false).contains("Which colour?")
    });
    assert_eq!(f.state("asker"), "running");
    f.tmux_ok(&["send-keys", "-t", "=repo-asker:", "-l", "teal"]);
    f.tmux_ok(&["send-keys", "-t", "=repo-asker:", "Enter"]);
    f.wait_state("asker", "done");
    assert_eq!(read(f.worktree("asker").join("answer.txt")), "teal\n");
    f.wait_for("the conversation in the log", DEADLINE, |f| {
        let log = f.log("asker");
        log.contains("[fleet] asker started")
            && log.contains("Which colour?")
            && log.contains("got teal")
    });
    assert_eq!(f.agent("asker")["exit_code"], 0);
}

#[test]
fn a_failing_setup_fails_the_agent_before_it_starts() {
    let f = Fleet::new();
    f.manifest(
        r#"setup: "echo installing deps; echo 'npm ERR! missing' >&2; exit 5"
agents:
  - name: needy
    prompt: "x"
    command: "touch agent-ran.txt"
"#,
    );
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"])
        .code(1)
        .stdout_has("needy failed (setup failed)");
    let agent = f.agent("needy");
    assert_eq!(agent["reason"], "setup failed");
    assert_eq!(agent["exit_code"], 5);
    assert!(!f.worktree("needy").join("agent-ran.txt").exists());
    let log = f.log("needy");
    assert!(log.contains("[fleet] setup: echo installing deps"), "{log}");
    assert!(
        log.contains("installing deps") && log.contains("npm ERR! missing"),
        "{log}"
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("failed (setup failed)");
}

// ------------------------------------------------------------------ structured output (9)

#[test]
fn claude_stream_json_becomes_a_transcript_and_usage() {
    let f = Fleet::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-stream.jsonl");
    // A claude that replays a recorded stream-json transcript (and notes its arguments).
    let path = f.stub(
        "claude",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > claude.args\ncat > /dev/null\ncat {}\n",
            sh_quote(fixture.to_string_lossy())
        ),
    );
    f.manifest("agents:\n  - name: cl\n    prompt: \"Add a greeting.\"\n");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "20"]).success();

    assert_eq!(
        read(f.worktree("cl").join("claude.args")),
        format!("--print\n--output-format\nstream-json\n--verbose\n{CLAUDE_EDIT}")
    );
    let agent = f.agent("cl");
    assert_eq!(
        agent["usage"],
        serde_json::json!({
            "input_tokens": 15 + 2450 + 39970,
            "output_tokens": 190,
            "cost_usd": 0.041238,
            "turns": 5
        })
    );
    assert_eq!(agent["session_id"], "9f0c6a52-3d1e-4f7b-a8c2-5b7e1d2c4a10");

    let log = f.log("cl");
    for readable in [
        "[claude] session 9f0c6a52-3d1e-4f7b-a8c2-5b7e1d2c4a10 (claude-sonnet-4-5)",
        "I'll add the greeting file and commit it.",
        "-> Write: /work/repo/GREETING.md",
        "-> Bash: git add GREETING.md && git commit -m 'Add greeting'",
        "  ! tool error: fatal: not a git repository",
        "[claude] 5 turns, 42435 tokens in, 190 out, $0.0412",
    ] {
        assert!(
            log.contains(readable),
            "{readable:?} not in the log:\n{log}"
        );
    }
    assert!(!log.contains("\"type\""), "raw JSON in the log:\n{log}");

    // the table shows tokens and cost, with a total row
    let table = f.fleet(&["status"]);
    table
        .success()
        .stdout_has("TOKENS")
        .stdout_has("42.6k")
        .stdout_has("$0.04");
    assert!(
        table.stdout.lines().any(|l| l.starts_with("TOTAL")),
        "{}",
        table.stdout
    );
}
