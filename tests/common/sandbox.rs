//! What the sandbox tests share (tests/sandbox.rs with `command:` agents, tests/real_sandbox.rs
//! with the real CLIs): whether bubblewrap works here, the escape attempts as one shell
//! script (run by a `command:` agent or by a CLI's shell tool), and the checks that every
//! attempt failed and left everything as it was.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::Fleet;

/// Whether a box can be built here; prints a skip line when not (scripts/test.sh installs
/// bubblewrap, so CI never skips).
pub fn bwrap_works() -> bool {
    let ok = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-pid", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP sandbox: bubblewrap (`bwrap`) is missing or cannot make a box here (scripts/test.sh installs it)");
    }
    ok
}

/// What the escapes aim at, and how it was before.
pub struct Targets {
    /// A file in `$HOME` (`.bashrc`).
    pub bashrc: PathBuf,
    /// The secret key (`~/.ssh/id_ed25519`).
    pub key: PathBuf,
    /// Another agent's worktree.
    pub other_worktree: PathBuf,
    /// Another agent's branch.
    pub other_branch: String,
    /// A process outside the box (a `sleep` the test started).
    pub victim: Child,
    /// Every ref before the agents ran.
    pub refs: String,
    /// The main checkout's README before.
    pub readme: String,
    /// Each CLI's settings file (commands it runs in the user's own sessions later) and
    /// its content before (None: absent).
    pub settings: Vec<(PathBuf, Option<String>)>,
}

/// The settings files of the agent CLIs under `$HOME`: hooks, MCP servers, `notify`.
const SETTINGS: [&str; 3] = [
    ".claude/settings.json",
    ".codex/config.toml",
    ".gemini/settings.json",
];

pub const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nthe user's secret key\n";
pub const BASHRC: &str = "# the user's bashrc\n";

impl Targets {
    /// Make the targets in `f` (`~/.bashrc`, `~/.ssh/id_ed25519`, a process to kill).
    pub fn new(f: &Fleet, other_agent: &str) -> Targets {
        fs::write(f.home.join(".bashrc"), BASHRC).unwrap();
        fs::create_dir_all(f.home.join(".ssh")).unwrap();
        fs::write(f.home.join(".ssh/id_ed25519"), KEY).unwrap();
        let victim = Command::new("sleep").arg("600").spawn().unwrap();
        Targets {
            bashrc: f.home.join(".bashrc"),
            key: f.home.join(".ssh/id_ed25519"),
            other_worktree: f.worktree(other_agent),
            other_branch: format!("fleet/{other_agent}"),
            victim,
            refs: String::new(),
            readme: fs::read_to_string(f.repo.join("README.md")).unwrap(),
            settings: SETTINGS
                .iter()
                .map(|s| {
                    let path = f.home.join(s);
                    let before = fs::read_to_string(&path).ok();
                    (path, before)
                })
                .collect(),
        }
    }

    /// The escapes as one `sh` script (no `$(…)`: gemini's shell tool refuses it), run in
    /// the agent's worktree: each attempt's outcome
    /// goes to `escapes.txt` (`NAME refused` or `NAME ESCAPED`), which it commits with a
    /// first commit (so that `HEAD` is a commit no other ref has).
    pub fn script(&self, repo: &Path) -> String {
        let q = |p: &Path| super::sh_quote(p.display().to_string());
        format!(
            r#"echo work > work.txt && git add work.txt && git commit -qm work
try() {{ name=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "$name ESCAPED"; else echo "$name refused"; fi >> escapes.txt; }}
try bashrc sh -c 'echo evil >> "$HOME/.bashrc"'
try checkout sh -c 'echo evil > {repo}/escape.txt'
try checkout_file sh -c 'echo evil >> {repo}/README.md'
try other_worktree sh -c 'echo evil > {other}/escape.txt'
try ssh_key sh -c 'cp "$HOME/.ssh/id_ed25519" stolen_key && grep -q secret stolen_key'
try base_ref git update-ref refs/heads/main HEAD
try other_ref git update-ref refs/heads/{branch} HEAD
try kill kill -9 {pid}
mkdir -p "$HOME/.claude" "$HOME/.codex" "$HOME/.gemini" 2>/dev/null
for s in {settings}; do echo '{{"hooks": "evil"}}' > "$HOME/$s"; done 2>/dev/null
git add escapes.txt && git commit -qm escapes && echo escapes-committed"#,
            repo = q(repo),
            other = q(&self.other_worktree),
            branch = self.other_branch,
            pid = self.victim.id(),
            settings = SETTINGS.join(" "),
        )
    }

    /// Every attempt was refused, everything is as it was, the agent's branch has its two
    /// commits (`escapes.txt` listing the refusals).
    #[track_caller]
    pub fn check(&mut self, f: &Fleet, agent: &str) {
        let branch = format!("fleet/{agent}");
        let shown = f.try_git_in(&f.repo, &["show", &format!("{branch}:escapes.txt")]);
        assert_eq!(
            shown.code,
            0,
            "no escapes.txt on {branch}:\n{}\nits log: {}\nits worktree: {:?}\nescapes.txt there: {:?}",
            f.log(agent),
            f.git(&["log", "--format=%s", &branch]),
            fs::read_dir(f.worktree(agent))
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>()),
            fs::read_to_string(f.worktree(agent).join("escapes.txt")).ok(),
        );
        let escapes = shown.stdout;
        let names = [
            "bashrc",
            "checkout",
            "checkout_file",
            "other_worktree",
            "ssh_key",
            "base_ref",
            "other_ref",
            "kill",
        ];
        for name in names {
            assert!(
                escapes.contains(&format!("{name} refused")),
                "{name} was not refused:\n{escapes}\n{}",
                f.log(agent)
            );
        }
        assert_eq!(fs::read_to_string(&self.bashrc).unwrap(), BASHRC);
        for (path, before) in &self.settings {
            assert_eq!(
                &fs::read_to_string(path).ok(),
                before,
                "{} changed\n{}",
                path.display(),
                f.log(agent)
            );
        }
        assert_eq!(fs::read_to_string(&self.key).unwrap(), KEY);
        assert!(!f.repo.join("escape.txt").exists());
        assert_eq!(
            fs::read_to_string(f.repo.join("README.md")).unwrap(),
            self.readme
        );
        assert!(!self.other_worktree.join("escape.txt").exists());
        let stolen = f.git(&["ls-tree", "-r", "--name-only", &branch]);
        assert!(!stolen.contains("stolen_key"), "{stolen}");
        assert_eq!(
            f.git(&["rev-parse", "main"]),
            f.git(&["rev-parse", "HEAD"]),
            "main moved"
        );
        let other = f.git(&["log", "--format=%s", &self.other_branch]);
        assert!(
            !other.contains("escapes") && !other.starts_with("work"),
            "{other}"
        );
        assert!(
            self.victim.try_wait().unwrap().is_none(),
            "the process outside the box was killed"
        );
        let subjects = f.git(&["log", "--format=%s", "main..", &branch]);
        assert_eq!(subjects, "escapes\nwork", "{}", f.log(agent));
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        let _ = self.victim.kill();
        let _ = self.victim.wait();
    }
}
