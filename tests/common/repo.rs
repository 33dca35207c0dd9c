//! What the tests of `command:` agents share about the repository: [`commits`] (an agent's
//! command that writes a file and commits it), [`Fleet::up_four_agents`] (four of them, two
//! in conflict, done), [`Fleet::rev`] (a commit id), and
//! [`Fleet::checkout_runs`] / [`Fleet::plain_checkout`] (every checkout runs a script of the
//! test's, as a slow or failing checkout would).
use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::Fleet;

/// A `command:` (inside YAML double quotes) that writes `text` (printf escapes allowed) to
/// `file` and commits it as `write FILE`.
pub fn commits(file: &str, text: &str) -> String {
    format!("printf '{text}' > {file}; git add {file}; git commit -qm 'write {file}'")
}

impl Fleet {
    /// A fifo in the test's root that nobody writes until the test does: a reader blocks
    /// on it until then.
    pub fn fifo(&self, name: &str) -> std::path::PathBuf {
        let path = self.root.join(name);
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        path
    }

    /// `git rev-parse WHAT` in the repo.
    #[track_caller]
    pub fn rev(&self, what: &str) -> String {
        self.git(&["rev-parse", what])
    }

    /// Every checkout runs `script` (sh, in the worktree) after README.md is written,
    /// through a smudge filter on a file checked out after it (committed here): fleet runs
    /// no hook of the user's for its own checkouts, but a filter is part of checking files
    /// out.
    pub fn checkout_runs(&self, script: &str) {
        self.file(".gitattributes", "zz.txt filter=trap\n");
        self.file("zz.txt", "last\n");
        self.git(&["add", ".gitattributes", "zz.txt"]);
        self.git(&["commit", "-qm", "trap the checkout of zz.txt"]);
        let path = self.root.join("trap.sh");
        fs::write(&path, format!("#!/bin/sh\n{script}\nexec cat\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let path = path.to_string_lossy().to_string();
        self.git(&["config", "filter.trap.smudge", &path]);
        self.git(&["config", "filter.trap.clean", "cat"]);
        self.git(&["config", "filter.trap.required", "true"]);
    }

    /// Four agents: `one` and `two` write files of their own, `left` and `right` both rewrite
    /// README.md's one line; up, and all done.
    pub fn up_four_agents(&self) {
        self.manifest(&format!(
            "agents:\n  - name: one\n    prompt: x\n    command: \"{}\"\n  - name: two\n    prompt: x\n    command: \"{}\"\n  - name: left\n    prompt: x\n    command: \"{}\"\n  - name: right\n    prompt: x\n    command: \"{}\"\n",
            commits("one.txt", "one\\n"),
            commits("two.txt", "two\\n"),
            commits("README.md", "# left\\n"),
            commits("README.md", "# right\\n"),
        ));
        self.fleet(&["up"]).success();
        self.fleet(&["wait", "--timeout", "20"]).success();
    }

    /// Checkouts as usual again (after [`Fleet::checkout_runs`]).
    pub fn plain_checkout(&self) {
        self.git(&["config", "--remove-section", "filter.trap"]);
    }
}
