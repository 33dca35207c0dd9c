//! `$HOME` as a box sees it: read-only, the usual secrets hidden (an empty directory over
//! each secret directory, `/dev/null` over each secret file), the other agent CLIs'
//! credentials hidden too, and the agent's own CLI's state (its sessions, so `continue`
//! and verify retries resume; its settings) writable. Also the environment: the other CLIs'
//! keys taken away, claude told it runs in a sandbox.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::bwrap::rw;
use super::{Agent, Sandbox};
use crate::preset::{Permissions, Preset};

/// Secret directories under `$HOME`, hidden from every box.
const SECRET_DIRS: [&str; 8] = [
    ".ssh",
    ".gnupg",
    ".aws",
    ".config/gcloud",
    ".docker",
    ".kube",
    ".azure",
    ".config/gh",
];

/// Secret files under `$HOME`, hidden from every box.
const SECRET_FILES: [&str; 5] = [
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".config/git/credentials",
];

/// The agent CLIs with state under `$HOME`.
const CLIS: [Preset; 4] = [Preset::Claude, Preset::Codex, Preset::Gemini, Preset::Aider];

/// `$HOME`, when set and absolute.
pub(super) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
}

/// Where a CLI keeps its state under `$HOME`.
pub(super) struct CliState {
    /// Its directory (`~/.claude`, `$CODEX_HOME` or `~/.codex`, `~/.gemini`, `~/.aider`).
    pub(super) dir: PathBuf,
    /// Where its sessions go, made when missing and kept writable: `continue` and verify
    /// retries resume them.
    sessions: &'static [&'static str],
    /// Its settings and extensions: kept read-only in a box. They run commands in the
    /// user's own sessions of the CLI later (hooks, MCP servers, `notify`), outside any box.
    config: &'static [&'static str],
}

/// The state of `preset`'s CLI, if it keeps any under `home`.
pub(super) fn state_of(preset: Preset, home: &Path) -> Option<CliState> {
    let env_dir = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    Some(match preset {
        Preset::Claude => CliState {
            dir: env_dir("CLAUDE_CONFIG_DIR").unwrap_or_else(|| home.join(".claude")),
            sessions: &["projects"],
            config: &[
                "settings.json",
                "settings.local.json",
                ".claude.json",
                "CLAUDE.md",
                "commands",
                "agents",
                "hooks",
                "plugins",
                "skills",
                "output-styles",
            ],
        },
        Preset::Codex => CliState {
            dir: env_dir("CODEX_HOME").unwrap_or_else(|| home.join(".codex")),
            sessions: &["sessions"],
            config: &[
                "config.toml",
                "AGENTS.md",
                "AGENTS.override.md",
                "prompts",
                "rules",
                "skills",
            ],
        },
        Preset::Gemini => CliState {
            dir: home.join(".gemini"),
            sessions: &["tmp"],
            config: &[
                "settings.json",
                "GEMINI.md",
                "extensions",
                "commands",
                "policies",
            ],
        },
        Preset::Aider => CliState {
            dir: home.join(".aider"),
            sessions: &[],
            config: &[],
        },
        Preset::Shell => return None,
    })
}

/// The files a CLI keeps directly in `$HOME` beside its directory (its credentials and
/// settings): hidden from the other CLIs' boxes; in its own box read-only, as `$HOME` is.
fn home_files(preset: Preset, home: &Path) -> Vec<PathBuf> {
    let starts = |prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(home)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect()
    };
    match preset {
        Preset::Claude => vec![home.join(".claude.json")],
        Preset::Aider => starts(".aider"),
        _ => Vec::new(),
    }
}

/// The environment variables holding a CLI's credentials.
fn keys_of(preset: Preset) -> &'static [&'static str] {
    match preset {
        Preset::Claude => &[
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
        ],
        Preset::Codex => &["OPENAI_API_KEY", "CODEX_API_KEY"],
        Preset::Gemini => &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        Preset::Aider | Preset::Shell => &[],
    }
}

/// Hide the secrets and the other CLIs' state; give the agent's own CLI its state.
pub(super) fn hide_and_share(agent: &Agent, sandbox: &mut Sandbox) -> Result<()> {
    let Some(home) = home() else { return Ok(()) };
    let own = agent.preset.and_then(|p| state_of(p, &home));
    let mut hidden: Vec<PathBuf> = SECRET_DIRS
        .iter()
        .chain(SECRET_FILES.iter())
        .map(|s| home.join(s))
        .collect();
    for cli in CLIS.iter().filter(|c| Some(**c) != agent.preset) {
        hidden.extend(state_of(*cli, &home).map(|s| s.dir));
        hidden.extend(home_files(*cli, &home));
    }
    for path in &hidden {
        if own.as_ref().is_none_or(|o| !o.dir.starts_with(path)) {
            hide(sandbox, path);
        }
    }
    if let Some(own) = own {
        share(&own, sandbox)?;
    }
    Ok(())
}

/// The CLI's own state in its box: a throwaway directory (what the CLI makes at its top
/// is lost with the box) over which each entry that is there is bound writable (its
/// credentials, caches, history), its settings and extensions read-only, and its sessions
/// directory writable (made when missing).
fn share(own: &CliState, sandbox: &mut Sandbox) -> Result<()> {
    std::fs::create_dir_all(&own.dir)
        .with_context(|| format!("cannot create {}", own.dir.display()))?;
    for dir in own.sessions {
        let path = own.dir.join(dir);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&own.dir)
        .with_context(|| format!("cannot read {}", own.dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    sandbox.args([std::ffi::OsString::from("--tmpfs"), own.dir.clone().into()]);
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if own.config.contains(&name) {
            super::bwrap::ro(sandbox, &path);
        } else {
            rw(sandbox, &path);
        }
    }
    Ok(())
}

/// An empty directory over a directory, `/dev/null` over a file; nothing when missing
/// (the box cannot make it: `$HOME` is read-only).
fn hide(sandbox: &mut Sandbox, path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        sandbox.args([std::ffi::OsString::from("--tmpfs"), path.into()]);
    } else {
        sandbox.args([
            std::ffi::OsString::from("--ro-bind"),
            "/dev/null".into(),
            path.into(),
        ]);
    }
}

/// The box's environment: the other CLIs' keys taken away (unless the manifest's `env:`
/// gives them), claude told it runs in a sandbox, `FLEET_SANDBOX=1`.
pub(super) fn environment(agent: &Agent, sandbox: &mut Sandbox) {
    let own: &[&str] = agent.preset.map(keys_of).unwrap_or(&[]);
    let aider = agent.preset == Some(Preset::Aider);
    for cli in CLIS {
        for key in keys_of(cli) {
            // aider talks to every vendor's API: it keeps them all
            if !aider && !own.contains(key) && !agent.env.contains_key(*key) {
                sandbox.unset(key);
            }
        }
    }
    if agent.preset == Some(Preset::Claude) && agent.permissions == Permissions::Full {
        // claude refuses bypassPermissions as root outside a sandbox; this is one.
        sandbox.env("IS_SANDBOX", "1");
    }
    sandbox.env("FLEET_SANDBOX", "1");
}
