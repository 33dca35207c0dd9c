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
