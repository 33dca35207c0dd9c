//! The sandbox's network with the real agent CLIs (pinned in scripts/agent-clis.sh) against
//! the scripted model servers of tests/fake on 127.0.0.1: each reaches its API allowlisted
//! from the base URL the test sets, through the bridge (claude and codex also by a name,
//! through the box's proxy alone), its shell tool cannot reach a loopback service off the
//! list, and the agent ends `done`. Each test skips, saying so, without bwrap or its CLI.

mod common;
mod fake;

use common::net::*;
use common::real::yaml_map;
use common::{real_cli, Fleet};

#[test]
fn real_claude_in_the_box_reaches_its_api_from_the_base_url_and_no_other_service() {
    if !bwrap_works() {
        return;
    }
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    use fake::anthropic::{Anthropic, Turn};
    let other = service("other");
    let api = Anthropic::start(vec![
        Turn::bash(&probe_and_commit(other)),
        Turn::text("Probed."),
    ]);
    let f = Fleet::new();
    f.manifest(&format!(
        "agent: claude\nsandbox: true\npermissions: full\nenv: {}\nagents:\n  - name: a\n    prompt: probe\n",
        yaml_map(&api.env(1))
    ));
    let a = up_with(&f, &claude);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    let seen = probed(&f);
    assert!(seen.starts_with(&format!("refused {other}:")), "{seen}");
    assert!(api.answered() >= 2, "the model answered through the bridge");
}

#[test]
fn real_codex_in_the_box_reaches_its_provider_from_its_config_and_no_other_service() {
    if !bwrap_works() {
        return;
    }
    let Some(codex) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    use fake::openai::{codex_config, Responses, Turn};
    let other = service("other");
    let api = Responses::start(vec![
        Turn::exec(&probe_and_commit(other)),
        Turn::say("Probed."),
    ]);
    // The provider's base_url only in `-c` arguments: fleet finds it there.
    let mut args = Vec::new();
    for c in codex_config(&api.base_url()) {
        args.push("\"-c\"".to_string());
        args.push(format!("{c:?}"));
    }
    let f = Fleet::new();
    f.manifest(&format!(
        "agent: codex\nsandbox: true\npermissions: full\nargs: [{}]\nenv: {{ OPENAI_API_KEY: sk-fake }}\nagents:\n  - name: a\n    prompt: probe\n",
        args.join(", ")
    ));
    let a = up_with(&f, &codex);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    let seen = probed(&f);
    assert!(seen.starts_with(&format!("refused {other}:")), "{seen}");
}

#[test]
fn real_claude_in_the_box_reaches_a_named_base_url_host() {
    if !bwrap_works() {
        return;
    }
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let Some(name) = loopback_name() else { return };
    use fake::anthropic::{Anthropic, Turn};
    let api = Anthropic::start(vec![Turn::text("Hello.")]);
    let port = api
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let mut env = api.env(1);
    for (k, v) in env.iter_mut() {
        if k == "ANTHROPIC_BASE_URL" {
            // The API by name: the box resolves it to an address of its own.
            *v = format!("http://{name}:{port}");
        }
    }
    let f = Fleet::new();
    f.manifest(&format!(
        "agent: claude\nsandbox: true\npermissions: full\nenv: {}\nagents:\n  - name: a\n    prompt: hello\n",
        yaml_map(&env)
    ));
    let a = up_with(&f, &claude);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    assert!(api.answered() >= 1);
}

#[test]
fn real_claude_reaches_a_named_host_through_the_proxy_alone() {
    if !bwrap_works() {
        return;
    }
    let Some(claude) = real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let Some(name) = loopback_name() else { return };
    use fake::anthropic::{Anthropic, Turn};
    let api = Anthropic::start(vec![Turn::text("Hello through the proxy.")]);
    let port: u16 = api
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut env = api.env(1);
    for (k, v) in env.iter_mut() {
        if k == "ANTHROPIC_BASE_URL" {
            *v = format!("http://{name}:{port}");
        }
    }
    let (code, out) = through_proxy_only(&[dest(&name, port)], &env, &claude, &["--print", "hi"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Hello through the proxy."), "{out}");
}

#[test]
fn real_codex_reaches_a_named_host_through_the_proxy_alone() {
    if !bwrap_works() {
        return;
    }
    let Some(codex) = real_cli("FLEET_REAL_CODEX") else {
        return;
    };
    let Some(name) = loopback_name() else { return };
    use fake::openai::{codex_config, Responses, Turn};
    let api = Responses::start(vec![Turn::say("Hello through the proxy.")]);
    let url = api.base_url();
    let port: u16 = url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let named = url.replace("127.0.0.1", &name);
    let mut args = vec!["exec", "--skip-git-repo-check", "--json"];
    let config = codex_config(&named);
    for c in &config {
        args.push("-c");
        args.push(c);
    }
    args.push("hi");
    let env = [("OPENAI_API_KEY".to_string(), "sk-fake".to_string())];
    let (code, out) = through_proxy_only(&[dest(&name, port)], &env, &codex, &args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Hello through the proxy."), "{out}");
}

#[test]
fn real_gemini_in_the_box_reaches_its_api_from_the_base_url_and_no_other_service() {
    if !bwrap_works() {
        return;
    }
    let Some(gemini_cli) = real_cli("FLEET_REAL_GEMINI") else {
        return;
    };
    use fake::gemini::{self, shell, text};
    let other = service("other");
    let (server, _script) = gemini::start(vec![shell(&probe_and_commit(other)), text("Probed.")]);
    let f = Fleet::new();
    gemini::settings(&f.home, 2);
    f.manifest(&format!(
        "agent: gemini\nsandbox: true\npermissions: full\nenv: {}\nagents:\n  - name: a\n    prompt: probe\n",
        yaml_map(&gemini::env(&server))
    ));
    let a = up_with(&f, &gemini_cli);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    let seen = probed(&f);
    assert!(seen.starts_with(&format!("refused {other}:")), "{seen}");
}

#[test]
fn real_aider_in_the_box_reaches_its_model_from_its_api_base() {
    if !bwrap_works() {
        return;
    }
    let Some(aider) = real_cli("FLEET_REAL_AIDER") else {
        return;
    };
    use fake::openai_chat::{aider_args, whole_file, Script, Turn};
    let server = Script::new(vec![Turn::Text(whole_file(
        "hello.txt",
        "hello from aider",
    ))])
    .commit_message("Add hello.txt")
    .serve();
    let f = Fleet::new();
    // Beside the manifest, which the box reads.
    let meta = f.repo.join("model-metadata.json");
    let args = aider_args(&server, Some(&meta));
    f.git(&["add", "model-metadata.json"]);
    f.git(&["commit", "-q", "-m", "metadata"]);
    f.manifest(&format!(
        "agent: aider\nsandbox: true\npermissions: full\nagents:\n  - name: a\n    prompt: \"Create hello.txt containing 'hello from aider', then commit it.\"\n    args: [{args}]\n    env: {{LITELLM_LOCAL_MODEL_COST_MAP: \"True\"}}\n"
    ));
    let a = up_with(&f, &aider);
    assert_eq!(a["state"], "done", "{a}\n{}", f.log("a"));
    assert_eq!(
        f.git(&["show", "fleet/a:hello.txt"]).trim(),
        "hello from aider"
    );
}
