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

/// The files and directories a CLI keeps its state and credentials in.
pub(super) fn state_of(preset: Preset, home: &Path) -> Vec<PathBuf> {
    let env_dir = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    match preset {
        Preset::Claude => {
            let mut paths = vec![home.join(".claude"), home.join(".claude.json")];
            if let Some(dir) = env_dir("CLAUDE_CONFIG_DIR") {
                paths.push(dir);
            }
            paths
        }
        Preset::Codex => vec![env_dir("CODEX_HOME").unwrap_or_else(|| home.join(".codex"))],
        Preset::Gemini => vec![home.join(".gemini")],
        Preset::Aider => aider_files(home),
        Preset::Shell => Vec::new(),
    }
}

/// `~/.aider*`: aider's settings, history and caches.
fn aider_files(home: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".aider"))
        .map(|e| e.path())
        .collect();
    found.sort();
    if !found.iter().any(|p| p.ends_with(".aider")) {
        found.push(home.join(".aider"));
    }
    found
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

/// Hide the secrets and the other CLIs' state; make the agent's own CLI's state writable
/// (made first when missing, so the CLI can start its first session).
pub(super) fn hide_and_share(agent: &Agent, sandbox: &mut Sandbox) -> Result<()> {
    let Some(home) = home() else { return Ok(()) };
    let own = agent.preset.map(|p| state_of(p, &home)).unwrap_or_default();
    let mut hidden: Vec<PathBuf> = SECRET_DIRS
        .iter()
        .chain(SECRET_FILES.iter())
        .map(|s| home.join(s))
        .collect();
    for cli in CLIS.iter().filter(|c| Some(**c) != agent.preset) {
        hidden.extend(state_of(*cli, &home));
    }
    for path in hidden.iter().filter(|p| !own.contains(p)) {
        hide(sandbox, path);
    }
    for path in &own {
        if !path.exists() {
            if path.extension().is_some_and(|x| x == "json") {
                continue; // a settings file the CLI writes itself, where it can
            }
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        rw(sandbox, path);
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
