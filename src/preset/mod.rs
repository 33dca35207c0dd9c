//! The agent CLIs fleet knows (`agent:` presets) and how each is started: its headless or
//! interactive command line at each autonomy level (`permissions:`), the user's extra
//! arguments (`args:`) in their place, the command that resumes its conversation, and the
//! event stream it prints. One file per CLI owns that CLI's flags; this file dispatches.
use serde::{Deserialize, Serialize};

use crate::transcript::Format;
use crate::util::shell_quote;

mod aider;
mod claude;
pub use claude::refuses as claude_refuses;
mod codex;
pub mod credential;
mod gemini;
mod guarded;
use guarded::Guarded;

/// How often an agent that ended on its CLI's rate limit is started again, unless
/// `retries:` says.
pub const DEFAULT_RETRIES: u32 = 3;

/// `agent:` — a known agent CLI, run the way its documentation gives for scripts (headless)
/// or, with `interactive: true`, as its TUI with the task as the initial prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Claude Code: `claude --print`, the task on stdin.
    Claude,
    /// OpenAI Codex CLI: `codex exec -`, the task on stdin.
    Codex,
    /// Aider: `aider --yes-always --message-file <task>`.
    Aider,
    /// Gemini CLI: `gemini --output-format stream-json`, headless because stdin (the task)
    /// is not a terminal.
    Gemini,
    /// No AI: the task is a shell script, run by `sh`.
    Shell,
}

/// `permissions:` — what an agent may do without asking, mapped to each CLI's own flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permissions {
    /// Read and answer; no edits, no commands that change anything.
    ReadOnly,
    /// Edit files in its worktree and run git and the verify command there (the default:
    /// an unattended agent that cannot edit is useless).
    #[default]
    Edit,
    /// Anything, without asking (the CLI's own bypass mode).
    Full,
}

impl Permissions {
    pub const ALL: [Permissions; 3] = [Permissions::ReadOnly, Permissions::Edit, Permissions::Full];

    pub fn name(self) -> &'static str {
        match self {
            Permissions::ReadOnly => "read-only",
            Permissions::Edit => "edit",
            Permissions::Full => "full",
        }
    }
}

/// How one agent's CLI is started: what the manifest says beyond the preset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// Its TUI on the pane's terminal instead of the headless command.
    #[serde(default)]
    pub interactive: bool,
    #[serde(default)]
    pub permissions: Permissions,
    /// `args:`, added to the CLI's command line where its options go.
    #[serde(default)]
    pub args: Vec<String>,
    /// The agent's `verify:` command, which `edit` lets it run too (to check its work).
    #[serde(default)]
    pub verify: Option<String>,
    /// `mcp:`: the `fleet mcp` server its CLI is given, scoped to this manifest.
    #[serde(default)]
    pub mcp: Option<McpServer>,
}

/// `mcp:` on an agent: `fleet` sees every agent and acts on itself; `lead` acts on all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpRole {
    Fleet,
    Lead,
}

/// The `fleet mcp` server an agent's CLI is configured with: the fleet binary and its
/// arguments (`-f MANIFEST mcp --as NAME [--lead]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServer {
    pub command: String,
    pub args: Vec<String>,
    /// A lead: it may call every tool; else the read tools and its own actions.
    pub lead: bool,
}

/// Set in a box whose agent has `mcp:`: the socket where the runner serves its `fleet mcp`
/// (the `fleet mcp` started inside only relays to it).
pub const MCP_SOCKET_VAR: &str = "FLEET_MCP_SOCKET";

/// The tools an agent that may not act on others is allowed without asking.
pub const MCP_READ_TOOLS: [&str; 5] = ["status", "diff", "logs", "conflicts", "wait"];

impl McpServer {
    /// The server for agent `name` of the manifest at `manifest`, run by `fleet`.
    pub fn new(fleet: &str, manifest: &std::path::Path, name: &str, role: McpRole) -> Self {
        let mut args = vec![
            "-f".to_string(),
            manifest.display().to_string(),
            "mcp".into(),
            "--as".into(),
            name.into(),
        ];
        if role == McpRole::Lead {
            args.push("--lead".into());
        }
        McpServer {
            command: fleet.to_string(),
            args,
            lead: role == McpRole::Lead,
        }
    }
}

/// The values of `--flag VALUE` and `--flag=VALUE` in `args`.
fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a == flag {
            found.extend(args.get(i + 1).cloned());
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            found.push(v.to_string());
        }
    }
    found
}

impl Launch {
    /// The extra arguments quoted for `sh -c`, each after a space ("" when none).
    fn args(&self) -> String {
        self.args
            .iter()
            .map(|a| format!(" {}", shell_quote(a)))
            .collect()
    }
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Claude,
        Preset::Codex,
        Preset::Aider,
        Preset::Gemini,
        Preset::Shell,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Claude => "claude",
            Preset::Codex => "codex",
            Preset::Aider => "aider",
            Preset::Gemini => "gemini",
            Preset::Shell => "shell",
        }
    }

    /// The event stream the headless command prints, which the runner turns into a readable
    /// transcript and usage figures; None for plain text.
    pub fn format(self, interactive: bool) -> Option<Format> {
        match (self, interactive) {
            (_, true) => None,
            (Preset::Claude, false) => Some(Format::ClaudeStreamJson),
            (Preset::Codex, false) => Some(Format::CodexJson),
            (Preset::Gemini, false) => Some(Format::GeminiStreamJson),
            (Preset::Aider, false) => Some(Format::AiderText),
            _ => None,
        }
    }

    /// The command (for `sh -c` in the worktree; the task on stdin, and in `$FLEET_TASK`),
    /// with `max_cost_usd` passed on to a CLI that enforces a budget itself.
    pub fn command(self, launch: &Launch, max_cost_usd: Option<f64>) -> String {
        let args = launch.args();
        match self {
            Preset::Claude => claude::command(launch, &args, max_cost_usd),
            Preset::Codex => codex::command(launch, &args),
            Preset::Aider => aider::command(launch, &args),
            Preset::Gemini => gemini::command(launch, &args),
            Preset::Shell if launch.interactive => format!(r#"sh{args} "$FLEET_TASK""#),
            Preset::Shell => format!("sh{args} -s"),
        }
    }

    /// The headless command that resumes the CLI's conversation `session` with a follow-up
    /// on stdin (verify retries, `fleet continue`), allowed to spend `budget_usd` more;
    /// None when the CLI cannot.
    pub fn resume_command(
        self,
        session: &str,
        launch: &Launch,
        budget_usd: Option<f64>,
    ) -> Option<String> {
        let (id, args) = (shell_quote(session), launch.args());
        match self {
            Preset::Claude => Some(claude::resume(&id, launch, &args, budget_usd)),
            Preset::Codex => Some(codex::resume(&id, launch, &args)),
            Preset::Gemini => Some(gemini::resume(&id, launch, &args)),
            Preset::Aider | Preset::Shell => None,
        }
    }

    /// The first of `args` that sets what the agent may do (a permission mode, a sandbox,
    /// tools allowed without asking…), which is `permissions:`'s to say; None for `shell`.
    pub fn permission_flag(self, args: &[String]) -> Option<String> {
        let guarded = match self {
            Preset::Claude => &claude::GUARDED,
            Preset::Codex => &codex::GUARDED,
            Preset::Aider => &aider::GUARDED,
            Preset::Gemini => &gemini::GUARDED,
            Preset::Shell => return None,
        };
        guarded.find(args)
    }

    /// Can fleet resume this CLI's conversation (a verify retry, `fleet continue`, a
    /// rate-limit restart)?
    pub fn can_resume(self) -> bool {
        self.resume_command("s", &Launch::default(), None).is_some()
    }

    /// The API endpoints (URLs or hosts) this CLI needs, its base URL as configured: `var`
    /// reads the agent's environment (its `env:`, else fleet's own).
    pub fn endpoints(self, launch: &Launch, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        match self {
            Preset::Claude => claude::endpoints(var),
            Preset::Codex => codex::endpoints(launch, var),
            Preset::Aider => aider::endpoints(launch, var),
            Preset::Gemini => gemini::endpoints(var),
            Preset::Shell => Vec::new(),
        }
    }

    /// What `permissions` lets this CLI do, in a few words (`validate` prints it).
    pub fn allows(self, permissions: Permissions) -> &'static str {
        match self {
            Preset::Claude => claude::allows(permissions),
            Preset::Codex => codex::allows(permissions),
            Preset::Aider => aider::allows(permissions),
            Preset::Gemini => gemini::allows(permissions),
            Preset::Shell => "anything the task's shell script does (no permission modes)",
        }
    }
}
