//! `permissions:` and `args:` (issue 14) with stub CLIs: each level reaches the CLI as its
//! own flags, `args:` keeps the preset, `validate` says what each agent may do and warns
//! when `command:` drops a preset feature, and an agent whose CLI was refused actions and
//! that changed nothing is not a silent `done`.
mod common;

use std::fs;

use common::{sh_quote, Fleet};

/// A stub that notes its arguments (one per line) in `<name>.args` and eats stdin.
fn noting(name: &str) -> String {
    format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {name}.args\ncat > /dev/null\n")
}

#[test]
fn each_level_reaches_the_cli_as_its_flags_and_args_keep_the_preset() {
    let f = Fleet::new();
    for name in ["claude", "codex", "gemini"] {
        f.stub(name, &noting(name));
    }
    let path = f.stub("aider", &noting("aider"));
    f.manifest(
        r#"permissions: read-only
args: [--model, "big one"]
agents:
  - name: ro
    agent: claude
    prompt: look
  - name: full
    agent: claude
    permissions: full
    args: []
    env: { IS_SANDBOX: "1" }
    prompt: go
  - name: ed
    agent: claude
    permissions: edit
    args: []
    verify: "true && test -d ."
    prompt: go
  - name: cx
    agent: codex
    permissions: full
    prompt: go
  - name: ge
    agent: gemini
    prompt: look
"#,
    );
    let env = [("PATH", path.as_str())];
    let validate = f.fleet_at(&f.repo, &env, &["validate"]);
    // one machine: no host lines
    assert!(!validate.stdout.contains("  host:"), "{}", validate.stdout);
    validate
        .success()
        .stdout_has("permissions: read-only — read files; edits and commands are denied")
        .stdout_has("permissions: full — anything (bypassPermissions; as root only with IS_SANDBOX=1 in env)")
        .stdout_has(r#"args:     ["--model", "big one"]"#);
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    let args = |agent: &str, cli: &str| {
        fs::read_to_string(f.worktree(agent).join(format!("{cli}.args"))).unwrap()
    };
    let head = "--print\n--output-format\nstream-json\n--verbose\n";
    assert_eq!(
        args("ro", "claude"),
        format!("{head}--permission-mode\ndontAsk\n--model\nbig one\n")
    );
    // an agent's own `args: []` replaces the top level's
    assert_eq!(
        args("full", "claude"),
        format!("{head}--permission-mode\nbypassPermissions\n")
    );
    // at `edit`, claude may run git and the agent's verify command
    assert_eq!(
        args("ed", "claude"),
        format!("{head}--permission-mode\nacceptEdits\n--allowedTools\nBash(git:*)\nBash(true && test -d .)\nBash(true && test -d .:*)\n")
    );
    assert_eq!(
        args("cx", "codex"),
        "exec\n--json\n--disable\nunbounded_connection_retries\n--dangerously-bypass-approvals-and-sandbox\n--model\nbig one\n-\n"
    );
    assert_eq!(
        args("ge", "gemini"),
        "--output-format\nstream-json\n--skip-trust\n--approval-mode\ndefault\n--model\nbig one\n"
    );
    let agent = f.agent("ro");
    assert_eq!(agent["host"], "local");
    assert_eq!(agent["permissions"], "read-only");
    assert_eq!(agent["denials"], 0);
}

#[test]
fn full_claude_as_root_needs_the_users_word_that_this_is_a_sandbox() {
    let f = Fleet::new();
    let path = f.stub("claude", &noting("claude"));
    let yaml =
        "agents:\n  - name: full\n    agent: claude\n    permissions: full\n    prompt: go\n";
    f.manifest(yaml);
    let env = [("PATH", path.as_str())];
    if unsafe_uid() == 0 {
        // claude refuses bypassPermissions as root: said before anything starts
        f.fleet_at(&f.repo, &env, &["up"])
            .code(2)
            .stderr_has("agents[0] (full)")
            .stderr_has("add `IS_SANDBOX: \"1\"` to `env:`");
        assert!(f.sessions().is_empty());
        assert!(!f.repo.join(".fleet").exists());
    }
    f.manifest(&yaml.replace("    prompt", "    env: { IS_SANDBOX: \"1\" }\n    prompt"));
    f.fleet_at(&f.repo, &env, &["validate"])
        .success()
        .stdout_has("permissions: full");
}

/// This process's user id.
fn unsafe_uid() -> u32 {
    extern "C" {
        fn getuid() -> u32;
    }
    // SAFETY: getuid(2) cannot fail and has no preconditions.
    unsafe { getuid() }
}

#[test]
fn command_that_drops_preset_features_is_warned_and_args_with_it_refused() {
    let f = Fleet::new();
    f.manifest(
        r#"max_cost_usd: 1
verify_retries: 2
agents:
  - name: own
    command: "cat > /dev/null"
    prompt: hi
"#,
    );
    f.fleet(&["validate"])
        .success()
        .stderr_has("warning:")
        .stderr_has("the top-level max_cost_usd (fleet reads no cost from it) and verify_retries")
        .stderr_has("for agent own, which runs its own `command:`");
    f.manifest(
        r#"agents:
  - name: own
    command: "cat > /dev/null"
    args: [--model, opus]
    prompt: hi
"#,
    );
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("args: adds to a preset's command");
    assert!(!f.repo.join(".fleet").exists());
    // a level fleet does not know is a manifest error naming the choices
    f.manifest("permissions: write\nagents:\n  - name: x\n    prompt: hi\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("unknown variant `write`")
        .stderr_has("`read-only`");
}

#[test]
fn denials_without_a_change_fail_and_show_in_status() {
    let f = Fleet::new();
    // A claude whose every edit was denied: success, as the real one says, with the
    // denials listed in its result event.
    let result = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"I could not write the file.","session_id":"s-d","total_cost_usd":0.01,"usage":{"input_tokens":10,"output_tokens":5},"permission_denials":[{"tool_name":"Write","tool_use_id":"t1","tool_input":{"file_path":"a.txt"}},{"tool_name":"Bash","tool_use_id":"t2","tool_input":{"command":"git commit"}}]}"#;
    let path = f.stub(
        "claude",
        &format!("#!/bin/sh\ncat > /dev/null\necho {}\n", sh_quote(result)),
    );
    f.manifest(
        r#"agents:
  - name: denied
    agent: claude
    permissions: read-only
    prompt: write a.txt
"#,
    );
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "20"])
        .code(1)
        .stdout_has("denied failed (2 actions denied)");
    let agent = f.agent("denied");
    assert_eq!(agent["state"], "failed");
    assert_eq!(agent["denials"], 2);
    assert_eq!(agent["reason"], "2 actions denied");
    assert!(
        f.log("denied")
            .contains("refused 2 actions (permissions: read-only)"),
        "{}",
        f.log("denied")
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("failed (2 actions denied)");
}

#[test]
fn tokens_only_clis_get_a_cost_from_the_price_table() {
    let f = Fleet::new();
    // A gemini that reports tokens only, for a model the manifest prices.
    let events = [
        r#"{"type":"init","session_id":"g-1","model":"house-model-1"}"#,
        r#"{"type":"result","status":"success","stats":{"input_tokens":2000000,"output_tokens":100000}}"#,
    ];
    let script = format!(
        "#!/bin/sh\ncat > /dev/null\necho {}\necho {}\n",
        sh_quote(events[0]),
        sh_quote(events[1])
    );
    let path = f.stub("gemini", &script);
    f.manifest(
        r#"prices:
  house-model-1: { input: 0.5, output: 4 }
agents:
  - name: ge
    agent: gemini
    prompt: go
"#,
    );
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    // 2M in at $0.50 + 0.1M out at $4
    assert_eq!(f.agent("ge")["usage"]["cost_usd"], 1.4);
    f.fleet(&["status"]).success().stdout_has("$1.40");
    // a price fleet cannot use is a manifest error
    f.manifest("prices:\n  m: { input: -1, output: 2 }\nagents:\n  - name: x\n    prompt: hi\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("prices: `m`: a price is dollars per million tokens");
}

#[test]
fn a_continue_is_judged_by_its_own_refusals_not_the_earlier_runs() {
    let f = Fleet::new();
    // The first run is refused once and changes nothing; the continued one is refused
    // nothing and (as asked) changes nothing either.
    let denied = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"no","session_id":"s-c","total_cost_usd":0.01,"usage":{"input_tokens":1,"output_tokens":1},"permission_denials":[{"tool_name":"Write","tool_use_id":"t1","tool_input":{}}]}"#;
    let fine = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"nothing to do","session_id":"s-c","total_cost_usd":0.01,"usage":{"input_tokens":1,"output_tokens":1},"permission_denials":[]}"#;
    let path = f.stub(
        "claude",
        &format!(
            "#!/bin/sh\ncat > /dev/null\nif [ -f ../first-done ]; then echo {}; else touch ../first-done; echo {}; fi\n",
            sh_quote(fine),
            sh_quote(denied)
        ),
    );
    f.manifest("agents:\n  - name: a\n    agent: claude\n    prompt: look\n");
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).code(1);
    assert_eq!(f.agent("a")["reason"], "1 action denied");
    f.fleet_at(&f.repo, &env, &["continue", "a", "-m", "Just answer."])
        .success();
    f.wait_for("the continued run to end", 20, |f| {
        f.agent("a")["attempt"] == 2 && f.state("a") != "running"
    });
    let agent = f.agent("a");
    assert_eq!(agent["state"], "done", "{agent}");
    // the conversation's refusals still add up
    assert_eq!(agent["denials"], 1, "{agent}");
}

/// `args:` cannot raise an agent's permissions: a flag of the CLI's that sets what the agent
/// may do (in any spelling its parser takes) is a manifest error naming the file, the agent
/// and the flag, and nothing is made; flags that only take away stay allowed.
#[test]
fn args_that_set_permissions_are_refused_naming_the_flag() {
    let f = Fleet::new();
    let cases = [
        (
            "permissions: read-only\nagents:\n  - name: ro\n    agent: claude\n    args: [--permission-mode, bypassPermissions]\n    prompt: look\n",
            "args: `--permission-mode` sets what claude may do",
        ),
        (
            "agent: codex\nargs: [--model, o3, --sandbox=danger-full-access]\nagents:\n  - name: cx\n    prompt: look\n",
            "the top-level `args:` `--sandbox` sets what codex may do",
        ),
        (
            "agents:\n  - name: cx\n    agent: codex\n    args: [-c, 'sandbox_mode=\"danger-full-access\"']\n    prompt: look\n",
            "args: `-c` sets what codex may do",
        ),
        (
            "agents:\n  - name: ge\n    agent: gemini\n    args: [-dy]\n    prompt: look\n",
            "args: `-y` sets what gemini may do",
        ),
        (
            "agents:\n  - name: ai\n    agent: aider\n    permissions: read-only\n    args: [--no-dry-run]\n    prompt: look\n",
            "args: `--no-dry-run` sets what aider may do",
        ),
    ];
    for (manifest, says) in cases {
        let agent = manifest
            .split("name: ")
            .nth(1)
            .unwrap()
            .split('\n')
            .next()
            .unwrap();
        f.manifest(manifest);
        for cmd in ["validate", "up"] {
            f.fleet(&[cmd])
                .code(2)
                .stderr_has("agents.yaml")
                .stderr_has(&format!("agents[0] ({agent}) at line"))
                .stderr_has(says)
                .stderr_has("set `permissions:` instead");
        }
        assert!(!f.repo.join(".fleet").exists(), "{manifest}");
        assert!(f.fleet_branches().is_empty());
    }
    // Taking away is the user's to add.
    f.manifest("agents:\n  - name: ro\n    agent: claude\n    permissions: read-only\n    args: [--disallowedTools, Bash, --model, opus]\n    prompt: look\n");
    let path = f.stub("claude", &noting("claude"));
    f.fleet_at(&f.repo, &[("PATH", &path)], &["validate"])
        .success();
}

/// `verify_retries` on aider (which cannot resume its conversation) does nothing: said,
/// once for a top-level key however many agents it concerns.
#[test]
fn verify_retries_on_aider_is_warned_once_per_key() {
    let f = Fleet::new();
    f.manifest(
        r#"agent: aider
verify: "true"
verify_retries: 2
agents:
  - name: a1
    prompt: hi
  - name: a2
    prompt: hi
  - name: cl
    agent: claude
    prompt: hi
"#,
    );
    f.stub("claude", "#!/bin/sh\n");
    let path = f.stub("aider", "#!/bin/sh\n");
    let env = [("PATH", path.as_str())];
    let run = f.fleet_at(&f.repo, &env, &["validate"]);
    run.success()
        .stderr_has("the top-level verify_retries does nothing for the aider agents")
        .stderr_has("aider cannot resume its conversation")
        .stderr_has("(for a1, a2)");
    assert_eq!(
        run.output().matches("verify_retries does nothing").count(),
        1
    );
    f.manifest(
        "agents:\n  - name: a1\n    agent: aider\n    verify: \"true\"\n    verify_retries: 1\n    prompt: hi\n",
    );
    f.fleet_at(&f.repo, &env, &["validate"])
        .success()
        .stderr_has("agents[0] (a1)")
        .stderr_has("verify_retries does nothing");
}
