//! What an agent runs: its command line from `agent:`, `command:` and `args:` (the most
//! specific level winning), the MCP server a preset is handed, and the warnings for what an
//! agent's own `command:` drops that only a preset gives.
use super::schema::{RawAgent, RawManifest};
use std::path::Path;

use super::{Launch, Preset};

/// The agent's command and the preset it came from: the most specific wins (the agent's
/// command, its preset, the top-level command, the top-level preset, then claude); for a
/// preset, how to launch it (`permissions:`, `args:`, the more specific level winning).
pub(super) fn agent_command(
    a: &RawAgent,
    raw: &RawManifest,
    interactive: bool,
    at: &str,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> (String, Option<Preset>, Launch) {
    let (command, preset) = match (&a.command, a.agent, &raw.command, raw.agent) {
        (Some(c), _, _, _) => (c.clone(), None),
        (None, Some(p), _, _) => (String::new(), Some(p)),
        (None, None, Some(c), _) => (c.clone(), None),
        (None, None, None, p) => (String::new(), Some(p.unwrap_or(Preset::Claude))),
    };
    if a.command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        problems.push(format!("{at}command is empty; give the agent's command"));
    }
    let launch = Launch {
        interactive,
        permissions: a.permissions.or(raw.permissions).unwrap_or_default(),
        args: a
            .args
            .clone()
            .or_else(|| raw.args.clone())
            .unwrap_or_default(),
        verify: a.verify.clone().or_else(|| raw.verify.clone()),
        mcp: None,
    };
    if preset.is_none() {
        if a.args.is_some() {
            problems.push(format!(
                "{at}args: adds to a preset's command (`agent: claude`, ...), but this agent has its own `command:`; put the arguments in `command:` or drop `command:` for the preset"
            ));
        } else if raw.args.is_some() {
            warnings.push(format!(
                "{at}the top-level `args:` does not apply: the agent has its own `command:`"
            ));
        }
        if a.permissions.is_some() || raw.permissions.is_some() {
            warnings.push(format!(
                "{at}`permissions:` does not apply to its own `command:`; fleet cannot know its flags (use `agent:` for a known CLI)"
            ));
        }
    }
    for arg in &launch.args {
        if arg.contains('\0') {
            problems.push(format!(
                "{at}args: `{}` holds a NUL byte, which no program takes",
                arg.escape_debug()
            ));
        }
    }
    if let Some((p, flag)) = preset.and_then(|p| p.permission_flag(&launch.args).map(|f| (p, f))) {
        let whose = if a.args.is_some() {
            "args:"
        } else {
            "the top-level `args:`"
        };
        problems.push(format!(
            "{at}{whose} `{}` sets what {} may do, which only `permissions:` says (read-only, edit or full; this agent: {}): remove it from `args:` and set `permissions:` instead",
            crate::util::display(&flag),
            p.name(),
            launch.permissions.name()
        ));
    }
    (command, preset, launch)
}

/// `mcp:`: the `fleet mcp` server for this agent's CLI, for the CLIs fleet can configure
/// (claude, codex); any other is refused (exit 2) with what to do instead.
pub(super) fn mcp_server(
    a: &RawAgent,
    preset: Option<Preset>,
    manifest: &Path,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<crate::preset::McpServer> {
    let role = a.mcp?;
    if !matches!(preset, Some(Preset::Claude | Preset::Codex)) {
        let cli = preset.map_or("its own `command:`", Preset::name);
        problems.push(format!(
            "{at}mcp: fleet can hand `fleet mcp` to claude and codex, not to {cli}; use `agent: claude` or `agent: codex`, or register `fleet mcp -f {} --as {}` in that CLI's own MCP settings",
            manifest.display(),
            a.name
        ));
        return None;
    }
    // The fleet that reads the manifest is the one the agent's tools run.
    let fleet = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "fleet".into());
    Some(crate::preset::McpServer::new(
        &fleet, manifest, &a.name, role,
    ))
}

/// What an agent run by its own `command:` loses of what its manifest asks for, as said
/// in a warning (only a preset gives usage, cost or a session); empty when nothing.
pub(super) fn lost_to_command(
    a: &RawAgent,
    raw: &RawManifest,
    max_cost_usd: Option<f64>,
) -> String {
    let mut lost = Vec::new();
    if max_cost_usd.is_some() {
        lost.push("max_cost_usd (fleet reads no cost from it)");
    }
    if a.verify_retries
        .or(raw.verify_retries)
        .is_some_and(|n| n > 0)
    {
        lost.push("verify_retries (fleet cannot resume its conversation)");
    }
    lost.join(" and ")
}

/// A preset that cannot resume a conversation (aider) makes `verify_retries` do nothing:
/// said for the agent's own key, once for a top-level one.
pub(super) fn lost_to_preset(
    a: &RawAgent,
    raw: &RawManifest,
    preset: Preset,
    at: &str,
    warnings: &mut Vec<String>,
) {
    if preset.can_resume() {
        return;
    }
    let why = format!(
        "{} cannot resume its conversation, so a failed verify ends the agent failed",
        preset.name()
    );
    if a.verify_retries.is_some_and(|n| n > 0) {
        warn_once(warnings, format!("{at}verify_retries does nothing: {why}"));
    } else if a.verify_retries.is_none() && raw.verify_retries.is_some_and(|n| n > 0) {
        let w = format!(
            "the top-level verify_retries does nothing for the {} agents: {why}",
            preset.name()
        );
        warn_top(warnings, &w, &a.name);
    }
}

/// Add a warning unless it is there already.
fn warn_once(warnings: &mut Vec<String>, warning: String) {
    if !warnings.contains(&warning) {
        warnings.push(warning);
    }
}

/// A top-level key's warning, said once for all the agents it concerns: `… (for a, b)`.
fn warn_top(warnings: &mut Vec<String>, warning: &str, agent: &str) {
    let head = format!("{warning} (for ");
    match warnings.iter_mut().find(|w| w.starts_with(&head)) {
        Some(w) => {
            w.pop();
            w.push_str(&format!(", {agent})"));
        }
        None => warnings.push(format!("{head}{agent})")),
    }
}
