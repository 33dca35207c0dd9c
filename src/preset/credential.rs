//! Which credential an agent's CLI runs with, as a short label (`claude:key-3f9a`,
//! `codex:login`): the API key variable it gets (from its `env:`, else fleet's environment),
//! identified by a fingerprint (16 bits of a hash: never the secret), else the CLI's own
//! login file in the user's home. Agents with one label share one account's quota.
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Preset;

/// The API key variables each CLI reads, in the order it prefers them, and its login file
/// under the home directory.
fn sources(preset: Preset) -> Option<(&'static [&'static str], &'static str)> {
    match preset {
        // A subscription's token (`claude setup-token`) before an API key, as claude takes it.
        Preset::Claude => Some((
            &["CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"],
            ".claude/.credentials.json",
        )),
        Preset::Codex => Some((&["CODEX_API_KEY", "OPENAI_API_KEY"], ".codex/auth.json")),
        Preset::Gemini => Some((
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            ".gemini/oauth_creds.json",
        )),
        Preset::Aider | Preset::Shell => None,
    }
}

/// The label of the credential an agent of `preset` with `env` runs with; None for a CLI
/// fleet does not know the credentials of (aider, shell, `command:`).
pub fn label(preset: Option<Preset>, env: &BTreeMap<String, String>) -> Option<String> {
    let preset = preset?;
    let (vars, login) = sources(preset)?;
    let name = preset.name();
    for var in vars {
        let value = env.get(*var).cloned().or_else(|| std::env::var(var).ok());
        if let Some(secret) = value.filter(|v| !v.trim().is_empty()) {
            return Some(format!("{name}:key-{:04x}", fingerprint(secret.trim())));
        }
    }
    let home = env
        .get("HOME")
        .cloned()
        .or_else(|| std::env::var("HOME").ok())
        .map(PathBuf::from);
    match home.map(|h| h.join(login)).filter(|p| p.is_file()) {
        Some(_) => Some(format!("{name}:login")),
        None => Some(format!("{name}:none")),
    }
}

/// A variable whose value `validate` does not print: its name says it holds a key, token,
/// secret or password.
pub fn is_secret(var: &str) -> bool {
    let v = var.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD"]
        .iter()
        .any(|w| v.contains(w))
}

/// 16 bits of FNV-1a over the secret: enough to tell a few keys apart, too little to say
/// anything about the key.
fn fingerprint(secret: &str) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in secret.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) as u16
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_told_apart_and_never_shown() {
        let env = |k: &str| {
            [("ANTHROPIC_API_KEY".to_string(), k.to_string())]
                .into_iter()
                .collect()
        };
        let a = super::label(Some(super::Preset::Claude), &env("sk-ant-one")).unwrap();
        let b = super::label(Some(super::Preset::Claude), &env("sk-ant-two")).unwrap();
        assert!(a.starts_with("claude:key-") && a.len() == 15, "{a}");
        assert_ne!(a, b);
        assert!(!a.contains("sk-ant"));
    }
}
