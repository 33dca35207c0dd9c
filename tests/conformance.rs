//! Issue 14's acceptance as a user story, with the real agent CLIs (pinned, installed by
//! scripts/test.sh; each one missing is skipped with a line saying so) against the scripted
//! model servers of tests/fake on 127.0.0.1: `fleet init --agents 4`, the tasks written,
//! each agent given its CLI, then `up` and `wait`. At the default permissions every agent
//! writes its file and commits it, and ends `done`; at `read-only` the same scripts end
//! with the refusals counted in `status`.
mod common;
mod fake;

use std::fs;
use std::path::PathBuf;

use common::real::yaml_map;
use common::{real_cli, Fleet};
use fake::{anthropic, gemini, openai, openai_chat, Server};

const TASK: &str = "Write hello.txt and commit it.\n";

/// The real CLIs that are installed: (preset, program directory).
fn installed() -> Vec<(&'static str, PathBuf)> {
    let mut found = Vec::new();
    for (cli, var) in [
        ("claude", "FLEET_REAL_CLAUDE"),
        ("codex", "FLEET_REAL_CODEX"),
        ("gemini", "FLEET_REAL_GEMINI"),
        ("aider", "FLEET_REAL_AIDER"),
    ] {
        if let Some(p) = real_cli(var) {
            found.push((cli, p.parent().unwrap().to_path_buf()));
        }
    }
    found
}

/// A running fake server (or two), kept alive while the test runs.
type Fake = Box<dyn std::any::Any>;

/// Starts the fake for `cli` with a script that writes hello.txt and commits it; the
/// manifest lines (indented for an agent) that point the CLI at it.
fn fake_for(f: &Fleet, cli: &str) -> (Fake, String) {
    match cli {
        "claude" => {
            let api = anthropic::Anthropic::start(anthropic::write_and_commit());
            let env = yaml_map(&api.env(1));
            (Box::new(api), format!("    env: {env}\n"))
        }
        "codex" => {
            let api = openai::Responses::start(vec![
                openai::Turn::exec("printf 'hello\\n' > hello.txt"),
                openai::Turn::exec("git add -A && git commit -q -m 'add hello'"),
                openai::Turn::say("Wrote hello.txt and committed it."),
            ]);
            openai::write_codex_config(&f.home, &api.base_url());
            (
                Box::new(api),
                "    env: { OPENAI_API_KEY: sk-fake }\n".into(),
            )
        }
        "gemini" => {
            gemini::settings(&f.home, 2);
            let (server, _script) = gemini::start(vec![
                gemini::write_file("hello.txt", "hello from gemini\n"),
                gemini::commit("add hello.txt"),
                gemini::text("Wrote hello.txt and committed it."),
            ]);
            // Anything else it would ask goes to a proxy that answers nothing.
            let trap = Server::trap();
            let env = yaml_map(&gemini::env_trapped(&server, &trap, &f.tmp_dir()));
            (Box::new((server, trap)), format!("    env: {env}\n"))
        }
        _ => {
            let server = openai_chat::Script::new(vec![openai_chat::Turn::Text(
                openai_chat::whole_file("hello.txt", "hello from aider"),
            )])
            .commit_message("Add hello.txt")
            .serve();
            let lines = format!(
                "    args: [--model, openai/fake, --openai-api-base, \"{}/v1\", --openai-api-key, sk-fake]\n    env: {{ LITELLM_LOCAL_MODEL_COST_MAP: \"True\" }}\n",
                server.url()
            );
            (Box::new(server), lines)
        }
    }
}

/// `fleet init --agents N`, the tasks written, each agent given its CLI and its fake; the
/// top-level `permissions:` replaced by `level`. The fakes, to keep alive.
fn init_fleet(f: &Fleet, clis: &[(&str, PathBuf)], level: &str) -> Vec<Fake> {
    f.fleet(&["init", "--agents", &clis.len().to_string()])
        .success();
    let mut manifest = fs::read_to_string(f.manifest_path()).unwrap();
    assert!(manifest.contains("permissions: edit"), "{manifest}");
    manifest = manifest.replace("permissions: edit", &format!("permissions: {level}"));
    let mut fakes = Vec::new();
    for (i, (cli, _)) in clis.iter().enumerate() {
        let name = format!("agent{}", i + 1);
        fs::write(f.repo.join(format!("tasks/{name}.md")), TASK).unwrap();
        let (fake, lines) = fake_for(f, cli);
        fakes.push(fake);
        let task = format!("    task: tasks/{name}.md\n");
        manifest = manifest.replace(&task, &format!("{task}    agent: {cli}\n{lines}"));
    }
    fs::write(f.manifest_path(), manifest).unwrap();
    fakes
}

/// `up` then `wait` with the real CLIs first on PATH.
fn up_and_wait(f: &Fleet, clis: &[(&str, PathBuf)]) {
    let mut path: Vec<String> = clis.iter().map(|(_, d)| d.display().to_string()).collect();
    path.push(std::env::var("PATH").unwrap_or_default());
    let path = path.join(":");
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["validate"]).success();
    f.fleet_at(&f.repo, &env, &["up"]).success();
    // `wait` exits 1 when an agent failed: the states are asserted instead.
    f.fleet(&["wait", "--timeout", "240"]);
}

#[test]
fn a_fleet_init_manifest_edits_and_commits_with_every_real_cli() {
    let clis = installed();
    if clis.is_empty() {
        return;
    }
    let f = Fleet::new();
    let _fakes = init_fleet(&f, &clis, "edit");
    up_and_wait(&f, &clis);
    for (i, (cli, _)) in clis.iter().enumerate() {
        let name = format!("agent{}", i + 1);
        let agent = f.agent(&name);
        assert_eq!(agent["state"], "done", "{cli}: {agent}\n{}", f.log(&name));
        assert_eq!(agent["commits_ahead"], 1, "{cli}: {agent}");
        let branch = format!("fleet/{name}");
        let file = f.git(&["show", &format!("{branch}:hello.txt")]);
        assert!(file.starts_with("hello"), "{cli}: {file}");
        assert!(
            agent["usage"]["output_tokens"].as_u64().unwrap_or(0) > 0,
            "{cli}: {agent}"
        );
        assert_eq!(agent["denials"], 0, "{cli}: {agent}");
    }
}

#[test]
fn at_read_only_every_real_cli_is_refused_and_status_says_so() {
    let clis = installed();
    if clis.is_empty() {
        return;
    }
    let f = Fleet::new();
    let _fakes = init_fleet(&f, &clis, "read-only");
    up_and_wait(&f, &clis);
    let status = f.fleet(&["status"]).output();
    for (i, (cli, _)) in clis.iter().enumerate() {
        let name = format!("agent{}", i + 1);
        let agent = f.agent(&name);
        assert_eq!(agent["commits_ahead"], 0, "{cli}: {agent}");
        let denials = agent["denials"].as_u64().unwrap_or(0);
        assert!(denials > 0, "{cli}: {agent}\n{}", f.log(&name));
        assert_eq!(agent["state"], "failed", "{cli}: {agent}");
        assert_eq!(
            agent["reason"],
            match denials {
                1 => "1 action denied".to_string(),
                n => format!("{n} actions denied"),
            },
            "{cli}: {agent}"
        );
        let line = status.lines().find(|l| l.starts_with(&name)).unwrap_or("");
        assert!(line.contains("denied"), "{cli}: {status}");
    }
}
