//! The radar: while agents work, `status` (its table and `--json`'s `overlaps`) says which
//! agents change the same files, uncommitted or committed, and whether their commits would
//! conflict; agents editing different files produce nothing.
mod common;

use common::Fleet;
use serde_json::{json, Value};

fn overlaps(f: &Fleet) -> Value {
    f.status_json()["overlaps"].clone()
}

#[test]
fn two_running_agents_editing_one_file_show_in_status_and_json() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: one\n    prompt: x\n    command: \"printf 'one\\\\n' >> README.md; sleep 60\"\n  - name: two\n    prompt: x\n    command: \"printf 'two\\\\n' >> README.md; sleep 60\"\n  - name: apart\n    prompt: x\n    command: \"printf 'apart\\\\n' > apart.txt; sleep 60\"\n",
    );
    f.fleet(&["up"]).success();
    // Each agent's edit lands on its first seconds: one refresh after it, the radar has it.
    f.wait_for("both edits", 20, |f| {
        ["one", "two", "apart"]
            .iter()
            .all(|n| f.agent(n)["uncommitted"] == true)
    });
    assert_eq!(
        overlaps(&f),
        json!([{"agents": ["one", "two"], "files": ["README.md"], "conflict": false}]),
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("one and two both change README.md\n");
    f.fleet(&["down"]).success();
}

#[test]
fn agents_editing_different_files_produce_nothing_and_committed_clashes_would_conflict() {
    let f = Fleet::new();
    let commits = |file: &str, text: &str| {
        format!("printf '{text}' > {file}; git add {file}; git commit -qm 'write {file}'")
    };
    f.manifest(&format!(
        "agents:\n  - name: a\n    prompt: x\n    command: \"{}\"\n  - name: b\n    prompt: x\n    command: \"{}\"\n",
        commits("a.txt", "a\\n"),
        commits("b.txt", "b\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(overlaps(&f), json!([]));
    let plain = f.fleet(&["status"]);
    assert!(
        !plain.success().stdout.contains("both change"),
        "{}",
        plain.stdout
    );

    // Two more agents commit README.md each their own way: their merge would conflict.
    f.manifest(&format!(
        "agents:\n  - name: a\n    prompt: x\n    command: \"{}\"\n  - name: b\n    prompt: x\n    command: \"{}\"\n  - name: left\n    prompt: x\n    command: \"{}\"\n  - name: right\n    prompt: x\n    command: \"{}\"\n",
        commits("a.txt", "a\\n"),
        commits("b.txt", "b\\n"),
        commits("README.md", "# left\\n"),
        commits("README.md", "# right\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(
        overlaps(&f),
        json!([{"agents": ["left", "right"], "files": ["README.md"], "conflict": true}]),
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("left and right both change README.md (would conflict)\n");
    // Asked again, from what the radar keeps: the same answer.
    assert_eq!(overlaps(&f)[0]["conflict"], true);
}
