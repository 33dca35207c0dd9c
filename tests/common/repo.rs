//! What the tests of `command:` agents share about the repository: [`commits`] (an agent's
//! command that writes a file and commits it), [`Fleet::rev`] (a commit id), and
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

    /// Checkouts as usual again (after [`Fleet::checkout_runs`]).
    pub fn plain_checkout(&self) {
        self.git(&["config", "--remove-section", "filter.trap"]);
    }
}
