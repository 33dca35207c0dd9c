//! Which credential each agent runs with: a short label with a fingerprint of its key
//! (never the key), or the CLI's login; shown by `validate` and `status --json`.

mod common;

use common::Fleet;

const KEY: &str = "sk-ant-api03-SECRETSECRETSECRET";

#[test]
fn credentials_are_labelled_without_showing_the_key() {
    let f = Fleet::new();
    f.manifest(&format!(
        "agents:\n  - name: keyed\n    agent: claude\n    prompt: hi\n    env: {{ANTHROPIC_API_KEY: \"{KEY}\"}}\n  - name: other\n    agent: claude\n    prompt: hi\n    env: {{ANTHROPIC_API_KEY: \"sk-ant-api03-OTHER\"}}\n  - name: plain\n    prompt: hi\n    command: \"true\"\n"
    ));
    let path = f.stub("claude", "#!/bin/sh\ncat > /dev/null\n");
    let run = f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["validate"]);
    run.success().stdout_has("credential: claude:key-");
    let out = run.output();
    assert!(!out.contains("SECRET"), "{out}");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    let json = f.status_json();
    let text = json.to_string();
    assert!(!text.contains("SECRET"), "the key leaked: {text}");
    let label = |name: &str| f.agent(name)["credential"].clone();
    let keyed = label("keyed");
    assert!(
        keyed.as_str().unwrap().starts_with("claude:key-"),
        "{keyed}"
    );
    assert_ne!(keyed, label("other"));
    assert_eq!(label("plain"), serde_json::Value::Null);
    let records = std::fs::read_dir(f.repo.join(".fleet/agents")).unwrap();
    for r in records {
        let text = std::fs::read_to_string(r.unwrap().path()).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
    }
}

#[test]
fn max_parallel_per_credential_is_respected() {
    let f = Fleet::new();
    let timeline = f.root.join("timeline");
    let path = f.stub(
        "claude",
        r#"#!/bin/sh
cat > /dev/null
echo "start $FLEET_AGENT" >> "$TIMELINE"
sleep 2
echo "end $FLEET_AGENT" >> "$TIMELINE"
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s","total_cost_usd":0,"usage":{"input_tokens":1,"output_tokens":1}}'
"#,
    );
    let claude = |name: &str| format!("  - name: {name}\n    agent: claude\n    prompt: hi\n");
    f.manifest(&format!(
        "max_parallel: {{claude: 2}}\nenv: {{TIMELINE: \"{}\"}}\nagents:\n{}{}{}  - name: plain\n    prompt: hi\n    command: \"sleep 1\"\n",
        timeline.display(),
        claude("c1"),
        claude("c2"),
        claude("c3")
    ));
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["validate"])
        .success()
        .stdout_has("max_parallel: 2 on claude");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success()
        .stdout_has("1 queued");
    // the agent without a credential is not held back
    assert_ne!(f.state("plain"), "queued");
    assert_eq!(f.state("c3"), "queued");
    f.wait_for("all three claude agents done", 60, |f| {
        ["c1", "c2", "c3"].iter().all(|n| f.state(n) == "done")
    });
    let text = std::fs::read_to_string(&timeline).unwrap();
    let (mut now, mut most) = (0, 0);
    for line in text.lines() {
        if line.starts_with("start") {
            now += 1;
            most = most.max(now);
        } else {
            now -= 1;
        }
    }
    assert_eq!(most, 2, "{text}");
}
