//! Before anything starts: git present and new enough, and every agent's program where its
//! command says (`up` refuses otherwise; `validate` and `doctor` show what they find).
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::manifest::{Agent, Plan};
use crate::{git, tmux, usage};

/// Shell words that are not programs on PATH.
const SHELL_WORDS: &[&str] = &[
    "exit", "echo", "printf", "cd", "exec", "eval", "export", "set", "unset", "read", "test",
    "true", "false", ":", ".", "source", "if", "for", "while", "until", "case", "{", "(", "!",
    "trap", "wait", "sleep", "command", "builtin", "type", "ulimit", "umask", "shift", "return",
];

/// The program a `sh -c` command starts, when it can be told without running a shell:
/// the first word after any `VAR=value` assignments. None for builtins and shell syntax.
pub fn program_of(command: &str) -> Option<String> {
    for word in command.split_whitespace() {
        if let Some((name, _)) = word.split_once('=') {
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
        }
        if SHELL_WORDS.contains(&word) || word.chars().any(|c| "\"'`$(){}[]|&;<>*?~\\".contains(c))
        {
            return None;
        }
        return Some(word.to_string());
    }
    None
}

/// Where the agent's program is: Ok(Some(path)) found, Ok(None) nothing to check, Err(()) missing.
pub fn find_program(agent: &Agent) -> std::result::Result<Option<PathBuf>, String> {
    let Some(program) = program_of(&agent.command) else {
        return Ok(None);
    };
    if program.contains('/') {
        let p = Path::new(&program);
        if p.is_absolute() && !p.is_file() {
            return Err(program);
        }
        return Ok(Some(p.to_path_buf()));
    }
    which::which(&program).map(Some).map_err(|_| program)
}

/// tmux and git present and new enough (exit 1 otherwise); every agent's program on PATH
/// (a usage error naming the agents otherwise).
pub fn check_tools(plan: &Plan, agents: &[&Agent]) -> Result<(String, String)> {
    let tmux_v = tmux::version()?;
    let git_v = check_git_and_programs(plan, agents)?;
    Ok((tmux_v, git_v))
}

/// [`check_tools`] less tmux, for `up`, which learns tmux's version from its first tmux call
/// ([`tmux::snapshot`]); git's version.
pub fn check_git_and_programs(plan: &Plan, agents: &[&Agent]) -> Result<String> {
    let git_v = git::version()?;
    let mut missing = unboxable(agents);
    missing.extend(missing_programs(agents));
    if !missing.is_empty() {
        return usage(format!(
            "{}: nothing was started:\n  {}",
            plan.manifest.display(),
            missing.join("\n  ")
        ));
    }
    Ok(git_v)
}

/// One line for each agent that asks for a sandbox this machine cannot build, naming the
/// fix: never an unsandboxed run instead.
pub fn unboxable(agents: &[&Agent]) -> Vec<String> {
    agents
        .iter()
        .filter(|a| a.sandbox)
        .filter_map(|a| {
            crate::sandbox::works()
                .err()
                .map(|m| format!("agent `{}`: sandbox: true, but {}", a.name, m.explain()))
        })
        .collect()
}

/// One line for each agent whose program is not installed, naming the fix.
pub fn missing_programs(agents: &[&Agent]) -> Vec<String> {
    agents.iter().filter_map(|a| {
            find_program(a).err().map(|p| {
                format!(
                    "agent `{}`: program `{p}` not found{} (command: `{}`); install it or change `command:`",
                    a.name,
                    if p.contains('/') { "" } else { " on PATH" },
                    crate::util::one_line(&a.command, 80)
                )
            })
        }).collect()
}

/// The note `up` gives when the main checkout holds work not committed: the agents start
/// from the last commit of the base and will not see it. Counted are tracked files with
/// changes and untracked files git does not ignore, except fleet's own (the manifest, the
/// task files, `.fleet/` and worktrees inside the checkout: untracked before the first
/// commit of a new fleet, and the agents get them anyway). None when there is nothing.
pub fn unseen_changes(plan: &Plan) -> Option<String> {
    let lines = git::changes(&plan.repo, true).ok()?;
    let tasks: Vec<&Path> = plan
        .agents
        .iter()
        .chain(plan.remote.iter().map(|r| &r.agent))
        .filter_map(|a| match &a.task {
            crate::manifest::Task::File(p) => Some(p.as_path()),
            crate::manifest::Task::Prompt(_) => None,
        })
        .collect();
    let fleets_own = |rel: &str| {
        let p = plan.repo.join(rel.trim_matches('"'));
        p == plan.manifest
            || tasks.contains(&p.as_path())
            || p.starts_with(&plan.state_dir)
            || p.starts_with(&plan.worktree_dir)
    };
    let n = lines
        .iter()
        .filter(|l| match l.strip_prefix("?? ") {
            Some(rel) => !fleets_own(rel),
            None => true,
        })
        .count();
    (n > 0).then(|| {
        format!(
            "note: the main checkout has {n} file{s} not committed (git status); the agents start from the last commit of {base} and will not see {them}",
            s = if n == 1 { "" } else { "s" },
            base = plan.base,
            them = if n == 1 { "it" } else { "them" },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_program() {
        assert_eq!(program_of("claude --print").as_deref(), Some("claude"));
        assert_eq!(
            program_of("RUST_LOG=1 codex exec -").as_deref(),
            Some("codex")
        );
        assert_eq!(program_of("exit 3"), None);
        assert_eq!(program_of("cat > out.txt; git add -A"), Some("cat".into()));
        assert_eq!(program_of("\"my agent\" run"), None);
    }
}
