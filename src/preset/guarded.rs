//! The flags of each agent CLI that set what its agent may do without asking — permission
//! modes, sandboxes, tools allowed without a prompt, more directories to act in, settings or
//! policy files that carry such rules — which only `permissions:` sets. `args:` naming one
//! (in any spelling the CLI takes: `--flag value`, `--flag=value`, a short `-s`, `-sVALUE`,
//! a cluster `-ys`, an abbreviation) is a manifest error, so `validate` never prints a level
//! the agent does not run at. Flags that only take away (`--disallowedTools`) stay allowed.

/// One CLI's permission flags, as its argument parser reads them.
pub(super) struct Guarded {
    /// Long options (`--name`, also `--name=value`).
    pub long: &'static [&'static str],
    /// Short options (`-s`, `-sVALUE`, `-s=VALUE`).
    pub short: &'static [char],
    /// The parser reads `-abc` as `-a -b -c` (yargs): any letter of it counts.
    pub clusters: bool,
    /// The parser takes an unambiguous prefix of a long option (Python's argparse).
    pub abbreviations: bool,
    /// Options whose `KEY=VALUE` sets configuration, and the key prefixes that are
    /// permissions (codex's `-c sandbox_mode=…`).
    pub config: &'static [&'static str],
    pub config_keys: &'static [&'static str],
}

impl Guarded {
    /// The first of `args` that is one of these flags, as the user wrote it.
    pub fn find(&self, args: &[String]) -> Option<String> {
        args.iter()
            .enumerate()
            .find_map(|(i, arg)| self.flag(arg, args.get(i + 1).map(String::as_str)))
    }

    /// `arg` (followed by `next`) as a permission flag, if it is one.
    fn flag(&self, arg: &str, next: Option<&str>) -> Option<String> {
        if arg.starts_with("--") {
            let name = arg.split_once('=').map_or(arg, |(n, _)| n);
            if self.config.contains(&name) {
                let value = arg.split_once('=').map(|(_, v)| v).or(next)?;
                return self.config_key(value).then(|| arg.to_string());
            }
            let hit = self.long.iter().any(|l| {
                *l == name || (self.abbreviations && name.len() > 3 && l.starts_with(name))
            });
            return hit.then(|| name.to_string());
        }
        let letters = arg.strip_prefix('-')?;
        let first = letters.chars().next()?;
        if self.config.contains(&&arg[..1 + first.len_utf8()]) {
            let rest = letters[first.len_utf8()..].trim_start_matches('=');
            let value = if rest.is_empty() { next? } else { rest };
            return self.config_key(value).then(|| arg.to_string());
        }
        let hit = if self.clusters {
            letters
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .find(|c| self.short.contains(c))
        } else {
            self.short.contains(&first).then_some(first)
        };
        hit.map(|c| format!("-{c}"))
    }

    /// Does `KEY=VALUE` set a permission?
    fn config_key(&self, value: &str) -> bool {
        let key = value.split('=').next().unwrap_or("").trim();
        self.config_keys.iter().any(|k| key.starts_with(k))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Preset;

    fn found(p: Preset, args: &[&str]) -> Option<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        p.permission_flag(&args)
    }

    #[test]
    fn finds_each_spelling_and_leaves_other_flags() {
        use Preset::*;
        assert_eq!(
            found(Claude, &["--permission-mode", "bypassPermissions"]).as_deref(),
            Some("--permission-mode")
        );
        assert_eq!(
            found(Claude, &["--model", "x", "--permission-mode=plan"]).as_deref(),
            Some("--permission-mode")
        );
        assert!(found(Claude, &["--allowedTools", "Bash"]).is_some());
        assert!(found(Claude, &["--dangerously-skip-permissions"]).is_some());
        assert_eq!(
            found(Claude, &["--disallowedTools", "Bash", "--model", "o"]),
            None
        );
        assert_eq!(
            found(Codex, &["-s", "danger-full-access"]).as_deref(),
            Some("-s")
        );
        assert_eq!(
            found(Codex, &["-sdanger-full-access"]).as_deref(),
            Some("-s")
        );
        assert!(found(Codex, &["--sandbox=danger-full-access"]).is_some());
        assert!(found(Codex, &["-c", "sandbox_mode=\"danger-full-access\""]).is_some());
        assert!(found(Codex, &["--config=approval_policy=never"]).is_some());
        assert!(found(Codex, &["-csandbox_workspace_write.network_access=true"]).is_some());
        assert_eq!(found(Codex, &["-c", "model=\"o3\"", "-m", "o3"]), None);
        assert_eq!(found(Gemini, &["-y"]).as_deref(), Some("-y"));
        assert_eq!(found(Gemini, &["-dy"]).as_deref(), Some("-y"));
        assert!(found(Gemini, &["--approval-mode=yolo"]).is_some());
        assert!(found(Gemini, &["--approvalMode", "yolo"]).is_some());
        assert_eq!(found(Gemini, &["-m", "gemini-2.5-pro"]), None);
        assert!(found(Aider, &["--yes-always"]).is_some());
        assert_eq!(found(Aider, &["--no-dry"]).as_deref(), Some("--no-dry"));
        assert_eq!(
            found(Aider, &["--model", "gpt-4o", "--no-auto-commits"]),
            None
        );
        assert_eq!(found(Shell, &["-y", "--permission-mode"]), None);
    }
}
