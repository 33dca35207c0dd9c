//! The manifest (`agents.yaml`): its schema, validation, and resolution into a [`Plan`] of
//! fully resolved agents. serde_yaml stays behind this module so it can be swapped.
//!
//! This file owns the public face: [`locate`], [`load`] and [`parse`], the resolved [`Plan`],
//! [`Agent`] and [`Task`], and [`Invalid`] (every problem at once, exit 2). The work is done
//! by concern below it:
//!
//! | module | owns |
//! |---|---|
//! | `schema` | the serde `Raw*` types, `agents.yaml` as written |
//! | `yaml` | reading the text: parse errors with line and column, salvaging the parts that parse |
//! | `suggest` | "did you mean" for a misspelt name |
//! | `resolve` | the top-level settings, and turning the raw manifest into a [`Plan`] |
//! | `agent` | one agent resolved: name, task, branch, log, command and launch, limits, env |
//! | `command` | what an agent runs: its command line, its MCP server, what its own `command:` drops |
//! | `checks` | the value checks: names, durations, environment variables |
//! | `paths` | paths: cleaning them, whether fleet can write there; asks `places` which path may be what |
//! | `places` | the one judge of what a path may be: a log, a `worktree_dir`, a `copy:` entry |
//! | `net` | `network:` and `ports:`: their checks, the more specific level winning |
//! | `top` | the top-level settings once resolved, what each agent is resolved against |
//! | `hosts` | `hosts:` and `host:`: the other machines and where each agent runs |
//! | `slice` | the manifest a host's fleet gets: its agents, paths made sense of there |
//! | `graph` | `after:`: the checks (unknown names, cycles, hosts, `{{diff:NAME}}`), the order ([`Plan::in_order`]) |
//! | `base` | the base branch and the branches git could not create ([`Plan::need_base`]) |
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::UsageError;

mod agent;
mod base;
mod checks;
mod command;
mod graph;
mod hosts;
mod net;
mod paths;
mod places;
mod resolve;
mod schema;
mod seed;
mod slice;
mod suggest;
mod top;
mod yaml;

pub use crate::state::{Budget, Level, Spent};
pub use graph::{diff_refs, DIFF_OPEN};
pub use hosts::{Host, DEFAULT_FLEET, DEFAULT_SESSIONS, LOCAL, REMOTE_MANIFEST};
pub(crate) use paths::{normalize, real_path};
pub use schema::Radar;
pub use seed::{Seed, KNOWN as SEED_KEYS};
pub use slice::Names;
pub use yaml::agent_names_loosely;

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "agents.yaml";
/// The plain-text form of the command agents run when the manifest gives none (the
/// `claude` preset runs it with `--output-format stream-json --verbose`).
pub const DEFAULT_COMMAND: &str = "claude --print";

pub use crate::preset::{Launch, McpRole, Permissions, Preset, DEFAULT_RETRIES};

/// Panes per monitor window, its status pane included, unless `monitor.per_window` says:
/// 3x3, readable on a 200x50 terminal.
pub const DEFAULT_PER_WINDOW: usize = 9;

/// How long the merge train lets a verify run when the manifest does not say
/// (`verify_timeout:`): 30 minutes.
pub const DEFAULT_VERIFY_TIMEOUT: u64 = 30 * 60;

/// The name no agent may take: it is the monitor's.
pub const RESERVED_NAME: &str = "monitor";

/// The largest task file fleet accepts (1 MiB: a long specification is a few dozen KiB).
/// A task must be a regular file: a FIFO would hang `validate`, `/dev/zero` never ends.
pub const MAX_TASK_BYTES: u64 = 1 << 20;

/// The text of a task file, when it is a regular file of at most [`MAX_TASK_BYTES`] (a FIFO
/// would hang the reader, `/dev/zero` never ends): None otherwise, or when unreadable.
pub fn task_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_TASK_BYTES {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// Where an agent's task comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// A task file (absolute path).
    File(PathBuf),
    /// An inline prompt; fleet writes it to a file under `.fleet/` for `FLEET_TASK`.
    Prompt(String),
}

/// One fully resolved agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    /// tmux session name: `<project>-<name>`.
    pub session: String,
    pub branch: String,
    /// Absolute worktree path.
    pub worktree: PathBuf,
    /// Absolute log path.
    pub log: PathBuf,
    pub task: Task,
    /// Run by `sh -c`, the task on stdin (not when interactive).
    pub command: String,
    /// The preset the command came from, if it came from one.
    pub preset: Option<Preset>,
    /// The command's event stream (from its preset), or None for plain text.
    pub format: Option<crate::transcript::Format>,
    /// Runs on the pane's terminal (a TUI a person can answer); logged with `pipe-pane`.
    pub interactive: bool,
    /// How its preset's CLI is started: interactive, `permissions:`, `args:`.
    pub launch: Launch,
    /// `sandbox: true`: its steps run in a box of their own (see [`crate::sandbox`]).
    pub sandbox: bool,
    /// Stop the agent after this many seconds (`timeout: 45m`).
    pub timeout: Option<u64>,
    /// Stop the agent once its CLI reports spending more than this (`max_cost_usd: 2.50`).
    pub max_cost_usd: Option<f64>,
    /// How often a failed verify goes back to the agent's conversation (resumable presets).
    pub verify_retries: u32,
    /// How often an agent that ended on its CLI's rate limit is started again.
    pub retries: u32,
    /// Top-level env with the agent's merged over it.
    pub env: BTreeMap<String, String>,
    pub verify: Option<String>,
    /// The longest the merge train lets its verify run on the merged base, in seconds
    /// (`verify_timeout: 10m`; default [`DEFAULT_VERIFY_TIMEOUT`]).
    pub verify_timeout: u64,
    /// Run by `sh -c` when the agent ends, with FLEET_STATE and FLEET_EXIT_CODE set.
    pub on_exit: Option<String>,
    /// `after:`: the agents (of the same host) whose work this one starts from, in the order
    /// written, each once.
    pub after: Vec<String>,
    /// `seed:`: the directories of the checkout each new worktree of it gets a copy of.
    pub seed: Vec<Seed>,
    /// `network:`: what a sandboxed agent may reach besides its CLI's own endpoints.
    pub network: crate::sandbox::net::Network,
    /// `ports:`: the names of the TCP ports it gets (NAME=port in its environment).
    pub ports: Vec<String>,
}

/// An agent placed on another host.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The name of its host in `hosts:`.
    pub host: String,
    /// The agent as resolved here (name, branch, task …); its paths are this machine's.
    pub agent: Agent,
    /// Its entry in the manifest as written.
    pub(crate) raw: serde_yaml::Mapping,
}

/// The manifest resolved against the repository: everything `up` needs, no defaults left.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Absolute path of the manifest.
    pub manifest: PathBuf,
    /// The manifest's directory: relative paths are relative to it.
    pub dir: PathBuf,
    /// Top directory of the git repository holding the manifest.
    pub repo: PathBuf,
    pub project: String,
    pub base: String,
    pub worktree_dir: PathBuf,
    /// `.fleet/` beside the manifest.
    pub state_dir: PathBuf,
    pub setup: Option<String>,
    /// Absolute source paths of files copied into each new worktree, with their path
    /// relative to the repository top.
    pub copy: Vec<(PathBuf, PathBuf)>,
    pub max_parallel: Option<u32>,
    /// `max_parallel:` as a map: at most this many agents at once per CLI name or
    /// credential label.
    pub max_parallel_per: BTreeMap<String, u32>,
    /// `budget:`: the fleet's budget (dollars and/or tokens) and its reserve; with agents on
    /// hosts, this machine's share (by its number of agents: each host gets its own share).
    pub budget: Option<Budget>,
    /// `budget:` as written, for the hosts' shares.
    pub whole_budget: Option<Budget>,
    /// Panes per monitor window, the status pane included (`monitor.per_window`, default 9).
    pub per_window: usize,
    /// `monitor.enabled` (default true): false, fleet builds no monitor session (a host's
    /// fleet: the monitor of the fleet that sent it its agents shows them).
    pub monitor_enabled: bool,
    /// `radar:` (default `show`): `tell` also tells overlapping agents at their next turn.
    pub radar: Radar,
    /// The agents that run on this machine.
    pub agents: Vec<Agent>,
    /// `hosts:`, by name.
    pub hosts: BTreeMap<String, Host>,
    /// The agents placed on other hosts (`host:`), in manifest order: their fleet there runs
    /// them, from the manifest [`Plan::slice`] gives.
    pub remote: Vec<Remote>,
    /// The top-level keys a host's manifest inherits (see `slice`).
    pub(crate) slice_top: serde_yaml::Mapping,
    /// `prices:`: dollars per million tokens by model, over the built-in list.
    pub prices: BTreeMap<String, crate::prices::Price>,
    /// What is allowed but probably not meant (`validate` and `up` print them).
    pub warnings: Vec<String>,
    /// Why `base` cannot be used (deleted, never there, no commits). Only the commands that
    /// start from the base or merge into it refuse ([`Plan::need_base`]); `down`, `status`,
    /// `logs` and the rest work whatever happened to it.
    pub base_problems: Vec<String>,
}

impl Plan {
    /// The monitor's session name.
    pub fn monitor_session(&self) -> String {
        format!("{}-{}", self.project, RESERVED_NAME)
    }

    /// The value fleet tags its tmux sessions with (`@fleet`).
    pub fn tag(&self) -> String {
        self.manifest.display().to_string()
    }

    /// The agents named, in manifest order (all of them when `names` is empty); an unknown
    /// name is a usage error listing the known ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Agent>> {
        if names.is_empty() {
            return Ok(self.agents.iter().collect());
        }
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !self.agents.iter().any(|a| &a.name == *n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(self.unknown_agents(&unknown));
        }
        Ok(self
            .agents
            .iter()
            .filter(|a| names.contains(&a.name))
            .collect())
    }

    /// One agent by name; an unknown name is a usage error listing the known ones.
    pub fn agent(&self, name: &str) -> Result<&Agent> {
        self.agents
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| self.unknown_agents(&[name]))
    }

    fn unknown_agents(&self, unknown: &[&str]) -> anyhow::Error {
        if let Some(r) = self
            .remote
            .iter()
            .find(|r| unknown.contains(&r.agent.name.as_str()))
        {
            return UsageError(format!(
                "agent `{}` runs on host `{}`, which this command does not reach yet (`up`, `status`, `diff`, `merge`, `conflicts`, `logs`, `attach`, `continue`, `wait` and `down` do; `fleet status` fetches its branch as `fleet-{}/{}`); run it there: ssh {} and use fleet -f {} in {}",
                r.agent.name,
                r.host,
                r.host,
                r.agent.branch,
                self.hosts.get(&r.host).map_or("", |h| h.ssh.as_str()),
                hosts::REMOTE_MANIFEST,
                self.hosts.get(&r.host).map_or("", |h| h.dir.as_str()),
            ))
            .into();
        }
        let known: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
        let what = if unknown.len() == 1 {
            format!("unknown agent `{}`", unknown[0])
        } else {
            format!("unknown agents `{}`", unknown.join("`, `"))
        };
        UsageError(format!(
            "{what} in {}{}; known agents: {}",
            self.manifest.display(),
            closest_agent(unknown, &known)
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default(),
            known.join(", ")
        ))
        .into()
    }
}

/// The known agent names closest to the one unknown name (`agnet1` → `agent1`), as for keys;
/// none for several unknown names or when none is close.
fn closest_agent(unknown: &[&str], known: &[&str]) -> Option<String> {
    let [name] = unknown else {
        return None;
    };
    suggest::closest(name, known.iter().copied(), "")
}

/// The problems found in a manifest: all of them, each on its own line. Exit code 2.
#[derive(Debug)]
pub struct Invalid {
    pub file: String,
    pub problems: Vec<String>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} is invalid ({n} problem{}); nothing was changed:",
            self.file,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}: {p}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

impl From<Invalid> for UsageError {
    fn from(i: Invalid) -> Self {
        UsageError(i.to_string())
    }
}

/// Find the manifest: `-f PATH`, else `$FLEET_FILE`, else `agents.yaml` in the current
/// directory or the nearest parent. Returns an absolute path.
pub fn locate(file: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let given = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("FLEET_FILE").map(PathBuf::from));
    if let Some(path) = given {
        let abs = cwd.join(&path);
        if abs.is_dir() {
            return Err(UsageError(format!(
                "manifest {} is a directory; pass the manifest file itself with -f (e.g. {}/{FILE_NAME})",
                path.display(),
                path.display()
            ))
            .into());
        }
        if !abs.is_file() {
            return Err(UsageError(format!(
                "manifest {} not found; pass an existing file with -f, or run `fleet init`",
                path.display()
            ))
            .into());
        }
        return Ok(normalize(&abs));
    }
    for dir in cwd.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(UsageError(format!(
        "no {FILE_NAME} in {} or any parent directory; run `fleet init` to write one, or pass -f PATH",
        cwd.display()
    ))
    .into())
}

/// Locate, read, validate and resolve the manifest.
pub fn load(file: Option<&Path>) -> Result<Plan> {
    let path = locate(file)?;
    let text = read_text(&path).map_err(|e| match e {
        Unread::TooBig => UsageError::from(Invalid {
            file: display_name(&path),
            problems: vec![yaml::too_big()],
        }),
        Unread::Io(e) => UsageError(format!(
            "cannot read the manifest {}: {e}; it must be a readable UTF-8 text file",
            path.display()
        )),
    })?;
    parse(&path, &text)
}

/// Why [`read_text`] read no manifest.
pub enum Unread {
    /// More than [`yaml::MAX_BYTES`].
    TooBig,
    Io(std::io::Error),
}

/// The manifest's text, read only up to [`yaml::MAX_BYTES`] (a huge file, or one that never
/// ends, is not read whole).
pub fn read_text(path: &Path) -> std::result::Result<String, Unread> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(Unread::Io)?;
    let mut bytes = Vec::new();
    file.take(yaml::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(Unread::Io)?;
    if bytes.len() > yaml::MAX_BYTES {
        return Err(Unread::TooBig);
    }
    String::from_utf8(bytes)
        .map_err(|e| Unread::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Validate and resolve a manifest's text. `path` must be absolute.
pub fn parse(path: &Path, text: &str) -> Result<Plan> {
    let display = display_name(path);
    let invalid = |problems: Vec<String>| -> anyhow::Error {
        UsageError::from(Invalid {
            file: display.clone(),
            problems,
        })
        .into()
    };
    if text.trim().is_empty() {
        return Err(invalid(vec![
            "the file is empty; list your agents under `agents:` (see `fleet init`)".into(),
        ]));
    }
    if let Some(why) = yaml::beyond_bounds(text) {
        return Err(invalid(vec![why]));
    }
    let (raw, mut problems) = yaml::read(text);
    let Some(raw) = raw else {
        return Err(invalid(problems));
    };
    // The manifest's directory is resolved once, through the user's symlinks: fleet follows
    // none below it (see `safe_fs`).
    let given_dir = path.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::canonicalize(given_dir).unwrap_or_else(|_| given_dir.to_path_buf());
    let real_manifest = path.file_name().map(|n| dir.join(n));
    let path = real_manifest.as_deref().unwrap_or(path);
    let repo = match crate::git::toplevel(&dir) {
        Ok(Some(repo)) => Some(repo),
        Ok(None) => {
            problems.push(format!(
                "{} is not inside a git repository; run `git init` and commit once, or move the manifest into a repository",
                dir.display()
            ));
            None
        }
        Err(e) => return Err(e),
    };
    let mut plan = resolve::resolve(path, &dir, repo.as_deref(), raw, text, &mut problems)?;
    if let Some(repo) = &repo {
        let mut base_problems = Vec::new();
        base::check_base(repo, &mut plan, &mut base_problems)?;
        if problems.is_empty() {
            plan.base_problems = base_problems;
        } else {
            problems.extend(base_problems);
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(invalid(problems))
    }
}

/// A name a user would recognise: relative to the current directory when below it.
fn display_name(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// The plan of a manifest's `text` as `agents.yaml` of a fresh repository (kept while the
/// returned directory lives), or its problems: for tests.
#[cfg(test)]
pub(crate) fn parse_in_new_repo(text: &str) -> (tempfile::TempDir, Result<Plan>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(git.success());
    let plan = parse(&dir.join("agents.yaml"), text);
    (tmp, plan)
}
