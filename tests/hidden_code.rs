//! Strings that reach tmux or a shell as code (issue 15, class 3): a path or a prompt is
//! data wherever fleet hands it on. tmux never expands a `#(...)` or `%Y` of a path it is
//! given (the repository's directory name, a `log:` path, through `pipe-pane`), and
//! `validate` prints a prompt's control characters escaped instead of sending them to the
//! terminal.

mod common;

use std::fs;

use common::{Fleet, DEADLINE};

/// Files named `pwned*` anywhere under the test's temp dir: what a `#(touch …)` that ran
/// would have left.
fn pwned(f: &Fleet) -> Vec<String> {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with("pwned") {
                found.push(p.display().to_string());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&f.root, &mut found);
    found
}

#[test]
fn format_strings_in_paths_are_never_run_by_tmux() {
    // The repository's own directory holds a tmux command substitution and a strftime
    // escape; so does the second agent's `log:`.
    let f = Fleet::with_repo_dir("r#(cd;touch pwned-repo)%Y");
    f.manifest(
        r#"agents:
  - name: talker
    interactive: true
    command: 'echo "said hello"; sleep 1'
    prompt: hi
  - name: logged
    interactive: true
    command: 'echo "said bye"; sleep 1'
    prompt: hi
    log: 'logs/#(cd;touch pwned-log)x%Y#{pane_id}.log'
"#,
    );
    f.fleet(&["up"]).success();
    f.wait_state("talker", "done");
    f.wait_state("logged", "done");
    f.wait_for("the pane's output in both logs", DEADLINE, |f| {
        let custom = f.repo.join("logs/#(cd;touch pwned-log)x%Y#{pane_id}.log");
        f.output("talker").contains("said hello")
            && fs::read_to_string(custom).is_ok_and(|l| l.contains("said bye"))
    });
    assert_eq!(
        pwned(&f),
        Vec::<String>::new(),
        "tmux ran a command from a path"
    );
}

#[test]
fn validate_prints_control_characters_escaped() {
    let f = Fleet::new();
    // An OSC 52 (set the clipboard) and a bell in a prompt, an escape in an env value.
    f.manifest(
        "agents:\n  - name: a\n    command: cat\n    prompt: \"fix it\\e]52;c;cm0gLXJmIH4=\\a now\"\n    env: { NOTE: \"x\\e[2Jy\" }\n",
    );
    let run = f.fleet(&["validate"]);
    run.success();
    let out = run.output();
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "a control character reached the terminal: {out:?}"
    );
    run.stdout_has(r"fix it\u{1b}]52;c;cm0gLXJmIH4=\u{7} now")
        .stdout_has(r"NOTE=x\u{1b}[2Jy");
}
