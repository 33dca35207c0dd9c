//! The documentation keeps its promises: `agents.yaml.example` copied into a fresh repository
//! validates and names every key; nothing in README.md, docs/, `--help` or the man page
//! refers to a repository file that does not exist.
mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::Fleet;

/// The fleet repository (where README.md lives).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

const CLAUDE_STUB: &str = "#!/bin/sh\ncat >/dev/null\nexit 0\n";

#[test]
fn the_example_manifest_validates_in_a_fresh_repository() {
    let f = Fleet::new();
    f.manifest(&read(&root().join("agents.yaml.example")));
    let path = f.stub("claude", CLAUDE_STUB);
    f.fleet_at(&f.repo, &[("PATH", &path)], &["validate"])
        .success()
        .stdout_has("is valid");
    // Validating made nothing: no branch, no worktree, no session.
    let branches = f.git(&["branch", "--format=%(refname:short)"]);
    assert_eq!(branches.trim(), "main");
    assert!(!f.worktree_dir().exists());
    assert!(f.sessions().is_empty(), "{:?}", f.sessions());
}

/// The keys serde accepts, from its "unknown field … expected one of …" message.
fn accepted_keys(f: &Fleet, yaml: &str) -> Vec<String> {
    f.manifest(yaml);
    let run = f.fleet(&["validate"]);
    let msg = run.output();
    let list = msg
        .split("expected one of")
        .nth(1)
        .or_else(|| msg.split("expected").nth(1))
        .unwrap_or_else(|| panic!("no list of keys in:\n{msg}"));
    let list = list.lines().next().unwrap();
    let keys: Vec<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty(), "{msg}");
    keys
}

/// Manifests with an unknown key in each map serde checks, so its error lists the keys.
const KEY_SETS: [(&str, &str); 5] = [
    ("top level", "bogus_key: 1\nagents: []\n"),
    ("agent", "agents:\n  - name: a\n    bogus_key: 1\n"),
    ("monitor", "monitor: {bogus_key: 1}\nagents: []\n"),
    ("prices", "prices: {m: {bogus_key: 1}}\nagents: []\n"),
    ("hosts", "hosts: {h: {bogus_key: 1}}\nagents: []\n"),
];

#[test]
fn the_man_pages_manifest_section_names_every_key() {
    let f = Fleet::new();
    let page = f.fleet(&["man"]);
    let page = page.success().stdout.clone();
    let manifest = &page[page.find(".SH MANIFEST").expect("a MANIFEST section")..];
    let mut missing = Vec::new();
    for (what, yaml) in KEY_SETS {
        for key in accepted_keys(&f, yaml) {
            if !manifest.contains(&format!("\\fB{}\\fR", key.replace('-', "\\-"))) {
                missing.push(format!("{what}: {key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the man page's MANIFEST lacks {missing:?}"
    );
}

#[test]
fn the_example_manifest_names_every_key() {
    let f = Fleet::new();
    let example = read(&root().join("agents.yaml.example"));
    // A key is named when a line, live or commented out, starts with `key:` (or `- key:`),
    // or an inline map holds it (`{ key: …` or `, key: …`).
    let named = |key: &str| {
        example.lines().any(|line| {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line);
            line.starts_with(&format!("{key}:"))
                || line.contains(&format!("{{ {key}:"))
                || line.contains(&format!(", {key}:"))
        })
    };
    let mut missing = Vec::new();
    for (what, yaml) in KEY_SETS {
        for key in accepted_keys(&f, yaml) {
            if !named(&key) {
                missing.push(format!("{what}: {key}"));
            }
        }
    }
    assert!(missing.is_empty(), "agents.yaml.example lacks {missing:?}");
}

/// The repository files a text names: markdown link targets (not URLs or anchors), and
/// words that look like paths of this repository (`src/…`, `tests/…`, `scripts/…`, `docs/…`,
/// `.ci/…`, `agents.yaml.example`, `Cargo.toml`, an upper-case `NAME.md`).
fn named_files(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    // Markdown links: ](target)
    for part in text.split("](").skip(1) {
        let Some(end) = part.find(')') else { continue };
        let target = part[..end].split('#').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            found.push(target.to_string());
        }
    }
    // Words that look like repository paths (in backticks, code blocks or prose).
    let is_sep = |c: char| {
        c.is_whitespace() || matches!(c, '`' | '(' | ')' | '"' | '\'' | ',' | ';' | '[' | ']')
    };
    for word in text.split(is_sep) {
        let word = word.trim_end_matches(['.', ':', '!', '?']);
        let looks_like_path = ["src/", "tests/", "scripts/", "docs/", ".ci/"]
            .iter()
            .any(|p| word.starts_with(p))
            || word == "agents.yaml.example"
            || word == "Cargo.toml"
            || (word.ends_with(".md")
                && !word.contains('/')
                && word[..word.len() - 3]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_'));
        // Placeholders and patterns name no one file.
        let pattern = word.contains(['<', '>', '*', '…', '{', '$']) || word.contains("...");
        if looks_like_path && !pattern && word.len() > 3 {
            found.push(word.to_string());
        }
    }
    found
}

/// Names in `text` (found in `doc`, relative to `base`) that exist neither relative to
/// `base` nor to the repository root.
fn dangling(doc: &str, base: &Path, text: &str, allowed: &[&str]) -> Vec<String> {
    named_files(text)
        .into_iter()
        .filter(|name| !allowed.contains(&name.as_str()))
        .filter(|name| !base.join(name).exists() && !root().join(name).exists())
        .map(|name| format!("{doc}: {name}"))
        .collect()
}

/// Files the example transcripts name in a user's repository, not this one.
const USER_FILES: &[&str] = &["GREETING.md", "NOTES.md"];

#[test]
fn the_docs_name_only_files_that_exist() {
    let mut docs = vec![root().join("README.md")];
    let dir = root().join("docs");
    for entry in fs::read_dir(&dir).expect("docs/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    assert!(docs.len() >= 3, "README.md and docs/*.md: {docs:?}");
    let mut bad = Vec::new();
    for doc in &docs {
        let name = doc.strip_prefix(root()).unwrap().display().to_string();
        bad.extend(dangling(
            &name,
            doc.parent().unwrap(),
            &read(doc),
            USER_FILES,
        ));
    }
    assert!(bad.is_empty(), "names of files that do not exist: {bad:#?}");
}

#[test]
fn the_readme_shows_demo_and_tests_first_and_links_each_doc_once() {
    let readme = read(&root().join("README.md"));
    let first: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    for cmd in ["scripts/demo.sh", "scripts/test.sh"] {
        assert!(
            first.contains(cmd),
            "{cmd} is not in the README's first 40 lines"
        );
    }
    for doc in ["docs/design.md", "docs/benchmarks.md", "docs/hosts.md"] {
        let links = readme.matches(&format!("]({doc})")).count();
        assert_eq!(links, 1, "README links {doc} {links} times");
    }
    let lines = readme.lines().count();
    assert!(
        lines <= 350,
        "README.md has {lines} lines: it is a user guide"
    );
}

#[test]
fn help_and_man_page_name_only_files_that_exist() {
    let f = Fleet::new();
    let mut texts = vec![
        (
            "fleet --help".to_string(),
            f.fleet(&["--help"]).success().output(),
        ),
        (
            "fleet man".to_string(),
            f.fleet(&["man"]).success().output(),
        ),
    ];
    let commands = f.commands();
    assert!(commands.len() >= 15, "{commands:?}");
    for cmd in &commands {
        let run = f.fleet(&[cmd, "--help"]);
        texts.push((format!("fleet {cmd} --help"), run.success().output()));
    }
    let mut bad = Vec::new();
    for (what, text) in &texts {
        // The man page is roff: `\-` is a dash.
        let text = text
            .replace("\\-", "-")
            .replace("\\fB", " ")
            .replace("\\fI", " ");
        let text = text.replace("\\fR", " ");
        bad.extend(dangling(what, &root(), &text, &[]));
        for line in text.lines().filter(|l| l.contains("DESIGN")) {
            bad.push(format!("{what}: {line}"));
        }
    }
    assert!(bad.is_empty(), "names of files that do not exist: {bad:#?}");
}

/// `scripts/demo.sh`, the README's first command, finds the fleet cargo built wherever
/// `CARGO_TARGET_DIR` puts it, absolute or relative (it ran `target/release/fleet` and
/// failed with 127). A `cargo` first on PATH stands in for the release build (it puts this
/// test's fleet where cargo would); `cargo metadata` is the real one. The demo then runs
/// through, on the test's private tmux server.
#[test]
fn the_demo_honours_cargo_target_dir() {
    let f = Fleet::new();
    let real_cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let stub = format!(
        "#!/bin/sh\nif [ \"$1\" = build ]; then\n  case \"$CARGO_TARGET_DIR\" in /*) t=\"$CARGO_TARGET_DIR\";; *) t=\"$PWD/$CARGO_TARGET_DIR\";; esac\n  mkdir -p \"$t/release\" && cp {} \"$t/release/fleet\"; exit\nfi\nexec {} \"$@\"\n",
        common::sh_quote(env!("CARGO_BIN_EXE_fleet")),
        common::sh_quote(&real_cargo)
    );
    let path = f.stub("cargo", &stub);
    let absolute = f.root.join("target-abs");
    // The same place spelled from the project's root, as cargo resolves a relative one.
    let up: String = root().components().skip(1).map(|_| "../").collect();
    let relative = format!(
        "{up}{}",
        f.root
            .join("target-rel")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    for (dir, built) in [
        (absolute.display().to_string(), absolute.clone()),
        (relative, f.root.join("target-rel")),
    ] {
        let run = f.program_at(
            root().join("scripts/demo.sh"),
            &f.root,
            &[("PATH", &path), ("CARGO_TARGET_DIR", &dir)],
            &[],
        );
        assert_eq!(run.code, 0, "CARGO_TARGET_DIR={dir}\n{}", run.output());
        run.stderr_has("demo: fleet merge writer");
        assert!(built.join("release/fleet").is_file());
    }
}
