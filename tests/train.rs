//! Bringing many agents' work home (issue 18): `fleet conflicts` predicts which branches
//! clash without touching anything, and `fleet merge --all` (the merge train) merges them
//! one by one into base, verifying each, stopping at the first conflict or failed verify
//! with base at the last good merge.

mod common;

use std::fs;
use std::path::PathBuf;

use common::Fleet;
use serde_json::Value;

/// An agent that commits `file` holding the text `text` (printf-escaped, so `\n` works).
fn commits(file: &str, text: &str) -> String {
    format!("printf '{text}' > {file}; git add {file}; git commit -qm 'write {file}'")
}

/// Four agents: `one` and `two` write files of their own, `left` and `right` both rewrite
/// README.md's one line.
fn four_agents(f: &Fleet) {
    f.manifest(&format!(
        r#"agents:
  - name: one
    prompt: "x"
    command: "{}"
  - name: two
    prompt: "x"
    command: "{}"
  - name: left
    prompt: "x"
    command: "{}"
  - name: right
    prompt: "x"
    command: "{}"
"#,
        commits("one.txt", "one\\n"),
        commits("two.txt", "two\\n"),
        commits("README.md", "# left\\n"),
        commits("README.md", "# right\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
}

/// Everything a command could change: every ref, the status of the main checkout and of
/// each worktree, each index's bytes and mtime, and every file under the temp dir (but git's
/// object database, where `git merge-tree` may write objects no ref names).
fn everything(f: &Fleet, names: &[&str]) -> Vec<String> {
    let mut out = vec![f.git(&["for-each-ref", "--format=%(refname) %(objectname)"])];
    let mut checkouts = vec![f.repo.clone()];
    checkouts.extend(names.iter().map(|n| f.worktree(n)));
    for dir in &checkouts {
        // Without optional locks: this status must not refresh the index it compares.
        out.push(f.git_in(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=all",
            ],
        ));
        out.push(f.git_in(dir, &["rev-parse", "HEAD"]));
        let index = PathBuf::from(f.git_in(dir, &["rev-parse", "--git-path", "index"]));
        let index = if index.is_absolute() {
            index
        } else {
            dir.join(index)
        };
        let meta = fs::metadata(&index).unwrap();
        out.push(format!(
            "{} {:?} {:?}",
            index.display(),
            fs::read(&index).unwrap(),
            meta.modified().unwrap()
        ));
    }
    out.extend(
        f.files()
            .into_iter()
            .filter(|l| !l.starts_with("repo/.git/objects")),
    );
    out
}

/// The lines of a table with each run of spaces made one, so a test need not know the widths.
fn squeezed(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.stdout))
}

#[test]
fn conflicts_names_exactly_the_clashing_pair_and_file_and_changes_nothing() {
    let f = Fleet::new();
    four_agents(&f);
    let names = ["one", "two", "left", "right"];
    let before = everything(&f, &names);

    let run = f.fleet(&["conflicts"]);
    run.code(1).stdout_has("1 of 10 merges conflicts");
    let conflicting: Vec<String> = squeezed(&run.stdout)
        .into_iter()
        .filter(|l| l.contains(" conflict "))
        .collect();
    assert_eq!(
        conflicting,
        ["left, right conflict README.md"],
        "{}",
        run.stdout
    );

    let run = f.fleet(&["conflicts", "--json"]);
    run.code(1);
    let v = json(&run);
    assert_eq!(v["base"], "main");
    let merges = v["merges"].as_array().unwrap();
    assert_eq!(merges.len(), 4 + 6, "{v}");
    let clashes: Vec<&Value> = merges.iter().filter(|m| m["clean"] == false).collect();
    assert_eq!(clashes.len(), 1, "{v}");
    assert_eq!(clashes[0]["left"], "left");
    assert_eq!(clashes[0]["right"], "right");
    assert_eq!(clashes[0]["right_branch"], "fleet/right");
    assert_eq!(clashes[0]["files"], serde_json::json!(["README.md"]));
    assert_eq!(
        merges.iter().filter(|m| m["base"] == true).count(),
        4,
        "each agent against base: {v}"
    );

    // only the clean ones: exit 0
    f.fleet(&["conflicts", "one", "two", "left"])
        .success()
        .stdout_has("all 6 merges are clean");

    let after = everything(&f, &names);
    let changed: Vec<(&String, &String)> =
        before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "fleet conflicts changed something: {changed:#?}"
    );
    assert!(!f.repo.join(".git/MERGE_HEAD").exists());
}

#[test]
fn conflicts_compares_with_base_and_skips_agents_without_a_branch() {
    let f = Fleet::new();
    f.manifest(&format!(
        r#"agents:
  - name: edits
    prompt: "x"
    command: "{}"
  - name: later
    prompt: "x"
    command: "true"
"#,
        commits("README.md", "# agent\\n"),
    ));
    f.fleet(&["up", "edits"]).success();
    f.fleet(&["wait", "edits", "--timeout", "20"]).success();
    f.file("README.md", "# main moved on\n");
    f.git(&["commit", "-qam", "main edit"]);

    let run = f.fleet(&["conflicts", "--json"]);
    run.code(1);
    let v = json(&run);
    assert_eq!(
        v["merges"],
        serde_json::json!([{"left": "main", "left_branch": "main", "base": true,
            "right": "edits", "right_branch": "fleet/edits", "clean": false,
            "files": ["README.md"]}])
    );
    assert_eq!(v["without_branch"], serde_json::json!(["later"]));
    let run = f.fleet(&["conflicts"]);
    run.code(1)
        .stdout_has("not compared (no branch yet): later");
    assert!(
        squeezed(&run.stdout).contains(&"main (base), edits conflict README.md".to_string()),
        "{}",
        run.stdout
    );
}
