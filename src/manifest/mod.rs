//! The manifest (`agents.yaml`): its schema, validation, and resolution into a [`Plan`] of
//! fully resolved agents. serde_yaml stays behind this module so it can be swapped.
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::{git, util, UsageError};

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "agents.yaml";
/// The plain-text form of the command agents run when the manifest gives none (the
/// `claude` preset runs it with `--output-format stream-json --verbose`).
pub const DEFAULT_COMMAND: &str = "claude --print";

pub use crate::preset::{Launch, Permissions, Preset};

/// How often an agent that ended on a rate limit is started again, unless `retries:` says.
pub const DEFAULT_RETRIES: u32 = 3;

/// The name no agent may take: it is the monitor's.
pub const RESERVED_NAME: &str = "monitor";

/// The largest task file fleet accepts (1 MiB: a long specification is a few dozen KiB).
/// A task must be a regular file: a FIFO would hang `validate`, `/dev/zero` never ends.
pub const MAX_TASK_BYTES: u64 = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    project: Option<String>,
    base: Option<String>,
    worktree_dir: Option<PathBuf>,
    command: Option<String>,
    agent: Option<Preset>,
    interactive: Option<bool>,
    permissions: Option<Permissions>,
    args: Option<Vec<String>>,
    timeout: Option<Scalar>,
    max_cost_usd: Option<f64>,
    verify_retries: Option<u32>,
    retries: Option<u32>,
    #[serde(default)]
    env: BTreeMap<String, Scalar>,
    setup: Option<String>,
    #[serde(default)]
    copy: Vec<PathBuf>,
    verify: Option<String>,
    on_exit: Option<String>,
    max_parallel: Option<u32>,
    monitor: Option<RawMonitor>,
    #[serde(default)]
    prices: BTreeMap<String, crate::preset::prices::Price>,
    agents: Vec<RawAgent>,
    /// The index in the file of each agent in `agents` (agents that did not parse are left
    /// out, so their neighbours keep their real index in messages).
    #[serde(skip)]
    indices: Option<Vec<usize>>,
    /// `agents:` is there but not a list (already reported; not "empty" as well).
    #[serde(skip)]
    agents_unreadable: bool,
}

/// `monitor: {per_window: N}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    per_window: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    task: Option<PathBuf>,
    prompt: Option<String>,
    branch: Option<String>,
    log: Option<PathBuf>,
    command: Option<String>,
    agent: Option<Preset>,
    interactive: Option<bool>,
    permissions: Option<Permissions>,
    args: Option<Vec<String>>,
    timeout: Option<Scalar>,
    max_cost_usd: Option<f64>,
    verify_retries: Option<u32>,
    retries: Option<u32>,
    #[serde(default)]
    env: BTreeMap<String, Scalar>,
    verify: Option<String>,
    on_exit: Option<String>,
}

/// An environment value: YAML lets people write `DEBUG: 1` or `VERBOSE: true`; all become
/// strings.
#[derive(Debug)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
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
    /// Run by `sh -c` when the agent ends, with FLEET_STATE and FLEET_EXIT_CODE set.
    pub on_exit: Option<String>,
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
    /// Panes per monitor window, the status pane included (`monitor.per_window`, default 9).
    pub per_window: usize,
    pub agents: Vec<Agent>,
    /// `prices:`: dollars per million tokens by model, over the built-in list.
    pub prices: BTreeMap<String, crate::preset::prices::Price>,
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

/// The known agent name closest to the one unknown name (`agnet1` → `agent1`), as for keys;
/// none for several unknown names or when none is close.
fn closest_agent<'a>(unknown: &[&str], known: &[&'a str]) -> Option<&'a str> {
    let [name] = unknown else {
        return None;
    };
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
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
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UsageError(format!(
            "cannot read the manifest {}: {e}; it must be a readable UTF-8 text file",
            path.display()
        ))
    })?;
    let plan = parse(&path, &text)?;
    // Every command that loads the manifest talks to the tmux server its fleet is on.
    crate::tmux::use_server(crate::state::Dir::new(&plan.state_dir).server());
    Ok(plan)
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
    let mut problems = Vec::new();
    let raw: RawManifest = match serde_yaml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            // serde stops at the first problem: parse again piece by piece to list the rest.
            let first =
                tab_indented(text, &e).unwrap_or_else(|| located(text, 0, &yaml_problem(&e)));
            let (raw, more) = salvage(text);
            problems.push(first.clone());
            problems.extend(more.into_iter().filter(|m| !same_problem(&first, m)));
            match raw {
                Some(raw) => raw,
                None => return Err(invalid(problems)),
            }
        }
    };
    // The manifest's directory is resolved once, through the user's symlinks: fleet follows
    // none below it (see `safe_fs`).
    let given_dir = path.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::canonicalize(given_dir).unwrap_or_else(|_| given_dir.to_path_buf());
    let real_manifest = path.file_name().map(|n| dir.join(n));
    let path = real_manifest.as_deref().unwrap_or(path);
    let repo = match git::toplevel(&dir) {
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
    let mut plan = resolve(path, &dir, repo.as_deref(), raw, text, &mut problems)?;
    if let Some(repo) = &repo {
        let mut base_problems = Vec::new();
        check_base(repo, &mut plan, &mut base_problems)?;
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

/// After a failed parse: the manifest from the parts that do parse (top-level keys, each agent
/// on its own), and every problem of the parts that do not (without line numbers).
fn salvage(text: &str) -> (Option<RawManifest>, Vec<String>) {
    use serde_yaml::Value;
    let mut problems = Vec::new();
    let Ok(Value::Mapping(mut map)) = serde_yaml::from_str::<Value>(text) else {
        return (None, problems);
    };
    let agents = map.remove("agents");
    map.insert("agents".into(), Value::Sequence(Vec::new()));
    let top = match serde_yaml::from_value::<RawManifest>(Value::Mapping(map)) {
        Ok(top) => top,
        Err(e) => {
            problems.push(located(text, 0, &yaml_problem(&e)));
            // Check the agents against the defaults all the same.
            RawManifest::default()
        }
    };
    let mut parsed = Vec::new();
    let mut indices = Vec::new();
    // `agents:` is not a list, or none of its items parses: reported already, not "empty".
    let unreadable = match &agents {
        Some(Value::Sequence(items)) => !items.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    if let Some(Value::Sequence(items)) = agents {
        for (i, item) in items.into_iter().enumerate() {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            match serde_yaml::from_value::<RawAgent>(item) {
                Ok(a) => {
                    parsed.push(a);
                    indices.push(i);
                }
                Err(e) => {
                    let from = agent_line(text, i).unwrap_or(0);
                    let msg = located(text, from, &yaml_problem(&e));
                    problems.push(format!("agents[{i}]{name}: {msg}"));
                }
            }
        }
    }
    let mut raw = top;
    raw.agents_unreadable = unreadable && parsed.is_empty();
    raw.agents = parsed;
    raw.indices = Some(indices);
    (Some(raw), problems)
}

/// The 0-based line of the `i`th item of the top-level `agents:` list.
fn agent_line(text: &str, i: usize) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("agents:"))?;
    let indent = lines[start + 1..]
        .iter()
        .find(|l| l.trim_start().starts_with('-'))
        .map(|l| l.len() - l.trim_start().len())?;
    lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .filter(|(_, l)| {
            l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('-')
        })
        .nth(i)
        .map(|(n, _)| n)
}

/// An "unknown field `x`" message with the line of `x:` (searched from line `from`) added.
fn located(text: &str, from: usize, msg: &str) -> String {
    if msg.contains(" at line ") {
        return msg.to_string();
    }
    let Some(field) = msg
        .split("unknown field `")
        .nth(1)
        .and_then(|r| r.split('`').next())
    else {
        return msg.to_string();
    };
    let line = text.lines().enumerate().skip(from).find(|(_, l)| {
        let l = l.trim_start().trim_start_matches('-').trim_start();
        l.strip_prefix(field)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    });
    match line {
        Some((n, l)) => {
            let col = l.len() - l.trim_start().trim_start_matches('-').trim_start().len() + 1;
            match msg.split_once(" (did you mean") {
                Some((head, hint)) => {
                    format!("{head} at line {} column {col} (did you mean{hint}", n + 1)
                }
                None => format!("{msg} at line {} column {col}", n + 1),
            }
        }
        None => msg.to_string(),
    }
}

/// Is `other` (from [`salvage`], no location) the problem `first` (serde's, located) names?
fn same_problem(first: &str, other: &str) -> bool {
    let core = |m: &str| -> String {
        let m = m.split(" at line ").next().unwrap_or(m);
        let m = m.split(" (did you mean").next().unwrap_or(m);
        // the hint fleet adds after `; `
        let m = m.split("; ").next().unwrap_or(m);
        // `agents[1] (name): msg` and `agents[1]: msg` name the same place.
        match (m.find(" ("), m.find("): ")) {
            (Some(a), Some(b)) if a < b && m.starts_with("agents[") => {
                format!("{}{}", &m[..a], &m[b + 1..])
            }
            _ => m.to_string(),
        }
    };
    // serde stops at an agent's first problem both times, so the problem found in
    // `agents[i]` alone is the first problem whenever that one lies in `agents[i]` too (the
    // wording may differ: `agents[0].retries: invalid type…` and `agents[0] (a1): invalid
    // value…`).
    let index = |m: &str| -> Option<String> {
        let rest = m.strip_prefix("agents[")?;
        let end = rest.find(']')?;
        Some(rest[..end].to_string())
    };
    if let (Some(a), Some(b)) = (index(first), index(other)) {
        return a == b;
    }
    let (first, other) = (core(first), core(other));
    // serde names the key (`max_parallel: invalid type…`) only when parsing the whole file.
    first == other || first.ends_with(&format!(": {other}"))
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

/// When the parse failed on a line indented with a tab, that is the problem to name (YAML
/// indents with spaces only; the parser's own words speak of tokens and scalars).
fn tab_indented(text: &str, e: &serde_yaml::Error) -> Option<String> {
    let line = e.location()?.line();
    let at = text.lines().nth(line.checked_sub(1)?)?;
    let indent = &at[..at.len() - at.trim_start_matches([' ', '\t']).len()];
    indent.contains('\t').then(|| {
        format!("YAML does not allow tabs for indentation: line {line}; indent it with spaces")
    })
}

/// serde_yaml's message with its path and location, plus a hint for the fix.
fn yaml_problem(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    if let Some(hint) = did_you_mean(&msg) {
        format!("{msg} (did you mean `{hint}`?)")
    } else if msg.contains("missing field `agents`") {
        format!("{msg}; list the agents under `agents:` (see `fleet init`)")
    } else if msg.contains("missing field `name`") {
        format!("{msg}; give every agent a `name:`")
    } else if msg.starts_with("agents: invalid type") {
        format!("{msg}; write each agent as a list item starting with `- name:`")
    } else if [
        "mapping values are not allowed",
        "did not find expected",
        "found character that cannot start",
        "found unexpected",
        "while scanning",
        "while parsing",
    ]
    .iter()
    .any(|s| msg.contains(s))
    {
        format!(
            "{msg}; fix the YAML there (quote a value that holds `: ` or ` #`, e.g. prompt: \"fix: the bug\")"
        )
    } else {
        msg
    }
}

/// For "unknown field `comand`, expected one of `a`, `b`": the closest expected name.
fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    let field = rest.split('`').next()?;
    let expected = rest.split("expected ").nth(1)?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (edit_distance(field, cand), cand))
        .filter(|(d, cand)| *d <= 2.max(cand.len() / 3))
        .min()
        .map(|(_, cand)| cand.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid names in `agents[].name` of a manifest's text, read loosely: other problems
/// (unknown keys, missing tasks, no repository) do not matter (for shell completion).
pub fn agent_names_loosely(text: &str) -> Vec<String> {
    let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Vec::new();
    };
    let Some(agents) = value.get("agents").and_then(|a| a.as_sequence()) else {
        return Vec::new();
    };
    agents
        .iter()
        .filter_map(|a| a.get("name").and_then(|n| n.as_str()))
        .filter(|n| valid_name(n))
        .map(str::to_string)
        .collect()
}

/// `90`, `90s`, `45m`, `2h`, `1h30m` → seconds; None when it is not such a duration (or 0).
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return (secs > 0).then_some(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        let n: u64 = std::mem::take(&mut number).parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (number.is_empty() && total > 0).then_some(total)
}

/// Is `name` a valid agent (or project) name: `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`?
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A directory name turned into a valid project name.
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_start_matches(['-', '_']);
    let s: String = s.chars().take(64).collect();
    if s.is_empty() {
        "fleet".to_string()
    } else {
        s
    }
}

/// Lexically clean a path: drop `.` and resolve `..` against earlier components.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A path with the symlinks of its longest existing part resolved (as git and `realpath -m`
/// resolve it), the rest cleaned lexically.
pub(crate) fn real_path(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return normalize(&rest.iter().rev().fold(real, |p, c| p.join(c)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return normalize(path),
        }
    }
}

/// The 1-based line of each agent's `name:` entry, found by scanning the text in order.
fn agent_lines(text: &str, agents: &[RawAgent]) -> Vec<Option<usize>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    agents
        .iter()
        .map(|a| {
            let found = lines.iter().enumerate().skip(from).find(|(_, l)| {
                let l = l.trim_start().trim_start_matches('-').trim_start();
                l.strip_prefix("name:").is_some_and(|v| {
                    let v = v.split(" #").next().unwrap_or("").trim();
                    v.trim_matches(|c| c == '"' || c == '\'') == a.name
                })
            });
            found.map(|(i, _)| {
                from = i + 1;
                i + 1
            })
        })
        .collect()
}

/// A variable name every shell can use (POSIX): `^[A-Za-z_][A-Za-z0-9_]*$`. Other keys
/// (`A-B`, `1X`, `A B`) reach the agent's process but no `$NAME` in `sh -c` can read them.
fn env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn env_map(
    env: &BTreeMap<String, Scalar>,
    at: &str,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in env {
        if !env_name(k) {
            problems.push(format!(
                "{at}env: `{}` is not a name a shell can use; use letters, digits and `_`, not starting with a digit",
                k.escape_debug()
            ));
        }
        let v = v.0.clone();
        if v.contains('\0') {
            problems.push(format!("{at}env: `{k}` holds a NUL byte"));
        }
        out.insert(k.clone(), v);
    }
    out
}

/// The agent's command and the preset it came from: the most specific wins (the agent's
/// command, its preset, the top-level command, the top-level preset, then claude); for a
/// preset, how to launch it (`permissions:`, `args:`, the more specific level winning).
fn agent_command(
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
    (command, preset, launch)
}

/// Warnings for an agent run by its own `command:` whose manifest asks for what only a
/// preset gives (fleet reads no usage, cost or session from a plain command).
fn lost_to_command(
    a: &RawAgent,
    raw: &RawManifest,
    max_cost_usd: Option<f64>,
    at: &str,
    warnings: &mut Vec<String>,
) {
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
    if lost.is_empty() {
        return;
    }
    warnings.push(format!(
        "{at}`command:` replaces the preset, so {} will not work, nor `fleet continue`; use `agent:` with `args:` to keep them",
        lost.join(" and ")
    ));
}

fn resolve(
    path: &Path,
    dir: &Path,
    repo: Option<&Path>,
    mut raw: RawManifest,
    text: &str,
    problems: &mut Vec<String>,
) -> Result<Plan> {
    let repo_path = repo
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    let repo_name = repo_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let project = match raw.project.take() {
        Some(p) => {
            if !valid_name(&p) {
                problems.push(format!(
                    "project: `{p}` is not a valid name; use letters, digits, `-` and `_` (tmux rewrites `.` and `:`), at most 64"
                ));
            }
            p
        }
        None => sanitize(&repo_name),
    };
    let worktree_dir = match &raw.worktree_dir {
        // Through symlinks, as git records worktrees: fleet finds its own in git's list.
        Some(d) => real_path(&dir.join(d)),
        None => real_path(
            &repo_path
                .parent()
                .unwrap_or(Path::new("/"))
                .join(format!("{repo_name}.worktrees")),
        ),
    };
    if let Some(repo) = repo {
        if worktree_dir.starts_with(repo.join(".git")) {
            problems.push(format!(
                "worktree_dir: {} is inside .git; choose a directory outside it, e.g. ../{repo_name}.worktrees",
                worktree_dir.display()
            ));
        }
    }
    if raw.setup.as_ref().is_some_and(|v| v.contains('\0')) {
        problems.push(
            "setup holds a NUL byte, which no shell takes (in double quotes YAML reads \\0 as NUL)"
                .into(),
        );
    }
    // tmux takes no argument with a line break (and git's worktree list would split it).
    let line_break = |p: &Path| p.to_string_lossy().contains(['\n', '\r']);
    if line_break(path) {
        problems.push(format!(
            "its path {:?} holds a line break, which tmux cannot take; rename that directory",
            path.display()
        ));
    }
    if line_break(&worktree_dir) {
        problems.push(format!(
            "worktree_dir: {:?} holds a line break, which tmux and git cannot take; choose another",
            worktree_dir.display()
        ));
    }
    if let Some(why) = unusable_dir(&worktree_dir) {
        problems.push(format!(
            "worktree_dir: {} cannot hold worktrees: {why}; set `worktree_dir:` to a directory fleet can create",
            worktree_dir.display()
        ));
    }
    let state_dir = dir.join(".fleet");
    let state_dir_bad = state_dir.exists() && !state_dir.is_dir();
    // A symlink whose target is gone: `exists()` says no, and creating the directory fails.
    let dangling = !state_dir.exists()
        && state_dir
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
    if dangling {
        let target = std::fs::read_link(&state_dir).unwrap_or_default();
        problems.push(format!(
            "{} is a symlink to {}, which does not exist; fleet keeps its state there: remove the link (`rm {}`) or create the directory it points to",
            state_dir.display(),
            target.display(),
            crate::util::shell_quote(&state_dir.display().to_string())
        ));
    } else if state_dir_bad {
        problems.push(format!(
            "{} is a file; fleet keeps its state in that directory: move the file away",
            state_dir.display()
        ));
    }
    if let Some(0) = raw.max_parallel {
        problems
            .push("max_parallel: must be at least 1; remove it to run all agents at once".into());
    }
    let per_window = raw
        .monitor
        .as_ref()
        .and_then(|m| m.per_window)
        .unwrap_or(crate::monitor::PER_WINDOW as u32);
    if per_window == 0 {
        problems.push(format!(
            "monitor: per_window: must be at least 1; remove it for the default {}",
            crate::monitor::PER_WINDOW
        ));
    }
    if let Some(c) = &raw.command {
        if c.trim().is_empty() {
            problems
                .push("command: is empty; give the agent's command, e.g. `claude --print`".into());
        }
    }
    for (model, p) in &raw.prices {
        let rates = [Some(p.input), p.cached_input, Some(p.output)];
        if rates
            .iter()
            .flatten()
            .any(|r| !(r.is_finite() && *r >= 0.0))
        {
            problems.push(format!(
                "prices: `{model}`: a price is dollars per million tokens, 0 or more (e.g. {{input: 1.25, output: 10}})"
            ));
        }
    }
    let top_env = env_map(&raw.env, "", problems);
    let mut copy = Vec::new();
    for c in &raw.copy {
        let src = normalize(&dir.join(c));
        let rel = src.strip_prefix(&repo_path).map(Path::to_path_buf);
        match rel {
            // (a symlink is copied as one, even a dangling one)
            Ok(rel) if src.symlink_metadata().is_ok() => copy.push((src, rel)),
            Ok(_) => problems.push(format!(
                "copy: {} not found (looked for {}); remove it from `copy:` or create it",
                c.display(),
                src.display()
            )),
            Err(_) => problems.push(format!(
                "copy: {} is outside the repository {}; list files inside it",
                c.display(),
                repo_path.display()
            )),
        }
    }
    if raw.agents.is_empty()
        && raw.indices.as_ref().is_none_or(Vec::is_empty)
        && !raw.agents_unreadable
    {
        problems.push("agents: the list is empty; add at least one agent with `name:` and `task:` or `prompt:`".into());
    }

    let lines = agent_lines(text, &raw.agents);
    let indices = raw
        .indices
        .clone()
        .unwrap_or_else(|| (0..raw.agents.len()).collect());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut branches: HashMap<String, String> = HashMap::new();
    let mut logs: HashMap<PathBuf, String> = HashMap::new();
    let mut log_ats: Vec<(String, PathBuf)> = Vec::new();
    let mut agents = Vec::new();
    let mut warnings = Vec::new();
    for (n, a) in std::mem::take(&mut raw.agents).into_iter().enumerate() {
        let i = indices[n];
        let at = match lines[n] {
            Some(line) => format!("agents[{i}] ({}) at line {line}: ", a.name),
            None => format!("agents[{i}] ({}): ", a.name),
        };
        if !valid_name(&a.name) {
            problems.push(format!(
                "{at}name `{}` is not valid; use 1-64 letters, digits, `-` or `_`, starting with a letter or digit",
                a.name
            ));
        } else if a.name == RESERVED_NAME {
            problems.push(format!(
                "{at}name `{RESERVED_NAME}` is reserved for the monitor session; rename the agent"
            ));
        }
        if let Some(first) = seen.insert(a.name.clone(), i) {
            problems.push(format!(
                "{at}duplicate name `{}` (also agents[{first}]); give each agent its own name",
                a.name
            ));
        }
        let task = match (&a.task, &a.prompt) {
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "{at}has both `task` and `prompt`; keep exactly one"
                ));
                None
            }
            (None, None) => {
                problems.push(format!(
                    "{at}has neither `task` nor `prompt`; add `task: tasks/{}.md` or `prompt: \"...\"`",
                    a.name
                ));
                None
            }
            (Some(t), None) => {
                let abs = normalize(&dir.join(t));
                match std::fs::metadata(&abs) {
                    Err(_) => problems.push(format!(
                        "{at}task file {} not found (looked for {}); create it or fix `task:`",
                        t.display(),
                        abs.display()
                    )),
                    Ok(m) if m.is_dir() => problems.push(format!(
                        "{at}task {} is a directory; point `task:` at a file",
                        t.display()
                    )),
                    Ok(m) if !m.is_file() => problems.push(format!(
                        "{at}task {} is not a regular file (a device, a FIFO or a socket would hang or never end); point `task:` at a file",
                        t.display()
                    )),
                    Ok(m) if m.len() > MAX_TASK_BYTES => problems.push(format!(
                        "{at}task file {} is {} bytes, more than a task may be ({} MiB); shorten it",
                        t.display(),
                        m.len(),
                        MAX_TASK_BYTES >> 20
                    )),
                    Ok(_) => {
                        if let Err(e) = std::fs::File::open(&abs) {
                            problems.push(format!(
                                "{at}task file {} cannot be read ({e}); fix its permissions",
                                t.display()
                            ));
                        }
                    }
                }
                Some(Task::File(abs))
            }
            (None, Some(p)) => {
                if p.trim().is_empty() {
                    problems.push(format!("{at}prompt is empty; write the task"));
                }
                Some(Task::Prompt(p.clone()))
            }
        };
        let branch = a
            .branch
            .clone()
            .unwrap_or_else(|| format!("fleet/{}", a.name));
        // (a default branch of an invalid name is reported with the name)
        if !git::valid_branch_name(&branch) && (a.branch.is_some() || valid_name(&a.name)) {
            problems.push(format!(
                "{at}branch `{branch}` is not a valid git branch name; fix `branch:`"
            ));
        }
        if let Some(other) = branches.insert(branch.clone(), a.name.clone()) {
            if other != a.name {
                problems.push(format!(
                    "{at}branch `{branch}` is also used by agent `{other}`; each agent needs its own branch"
                ));
            }
        }
        let worktree = worktree_dir.join(&a.name);
        if repo.is_some_and(|r| r.starts_with(&worktree)) {
            problems.push(format!(
                "{at}its worktree {} would be the repository {} (or hold it); set `worktree_dir:` to a directory beside the repository, e.g. ../{repo_name}.worktrees",
                worktree.display(),
                repo_path.display()
            ));
        }
        let log = normalize(&match &a.log {
            Some(l) => dir.join(l),
            None => state_dir.join("logs").join(format!("{}.log", a.name)),
        });
        if line_break(&log) && !line_break(dir) {
            problems.push(format!(
                "{at}log {:?} holds a line break, which tmux cannot take; fix `log:`",
                log.display()
            ));
        }
        if let Some(why) =
            unwritable(&log).filter(|_| !(state_dir_bad && log.starts_with(&state_dir)))
        {
            problems.push(format!(
                "{at}log {}: {why}; fix `log:` or that directory",
                log.display()
            ));
        }
        log_ats.push((at.clone(), log.clone()));
        if let Some(other) = logs.insert(log.clone(), a.name.clone()) {
            if other != a.name {
                problems.push(format!(
                    "{at}log {} is also used by agent `{other}`; give each agent its own log",
                    log.display()
                ));
            }
        }
        let interactive = a.interactive.or(raw.interactive).unwrap_or(false);
        let (command, preset, launch) =
            agent_command(&a, &raw, interactive, &at, problems, &mut warnings);
        let timeout = match a.timeout.as_ref().or(raw.timeout.as_ref()) {
            None => None,
            Some(t) => {
                let found = parse_duration(&t.0);
                if found.is_none() {
                    let whose = if a.timeout.is_some() { at.as_str() } else { "" };
                    problems.push(format!(
                        "{whose}timeout: `{}` is not a duration; write e.g. 90s, 45m, 2h or 1h30m",
                        t.0
                    ));
                }
                found
            }
        };
        let max_cost_usd = a.max_cost_usd.or(raw.max_cost_usd);
        if let Some(c) = max_cost_usd.filter(|c| !(*c > 0.0 && c.is_finite())) {
            let whose = if a.max_cost_usd.is_some() {
                at.as_str()
            } else {
                ""
            };
            problems.push(format!(
                "{whose}max_cost_usd: {c} must be more than 0 (dollars, e.g. 2.50); remove it for no limit"
            ));
        }
        let command = match preset {
            Some(p) => p.command(&launch, max_cost_usd),
            None => command,
        };
        if preset.is_none() {
            lost_to_command(&a, &raw, max_cost_usd, &at, &mut warnings);
        }
        let verify = a.verify.or_else(|| raw.verify.clone());
        let on_exit = a.on_exit.or_else(|| raw.on_exit.clone());
        // `sh -c` takes no NUL byte (in YAML, "\0" in double quotes is one: "\033" is not ESC).
        for (key, value) in [
            ("command", Some(&command)),
            ("verify", verify.as_ref()),
            ("on_exit", on_exit.as_ref()),
        ] {
            if value.is_some_and(|v| v.contains('\0')) {
                problems.push(format!(
                    "{at}{key} holds a NUL byte, which no shell takes (in double quotes YAML reads \\0 as NUL: write \\e or \\x1b for ESC)"
                ));
            }
        }
        let mut env = top_env.clone();
        env.extend(env_map(&a.env, &at, problems));
        if let Some(why) = crate::preset::claude_refuses(preset, &launch, &env) {
            problems.push(format!("{at}{why}"));
        }
        let Some(task) = task else { continue };
        agents.push(Agent {
            session: format!("{project}-{}", a.name),
            worktree,
            branch,
            log,
            task,
            command,
            preset,
            format: preset.and_then(|p| p.format(interactive)),
            interactive,
            launch,
            timeout,
            max_cost_usd,
            verify_retries: a.verify_retries.or(raw.verify_retries).unwrap_or(0),
            retries: a.retries.or(raw.retries).unwrap_or(DEFAULT_RETRIES),
            env,
            verify,
            on_exit,
            name: a.name,
        });
    }
    let copies: Vec<PathBuf> = copy.iter().map(|(src, _)| src.clone()).collect();
    problems.extend(crate::places::symlink_problems(
        &state_dir, &log_ats, &copies,
    ));
    let places =
        crate::places::Places::new(path, &repo_path, &state_dir, &worktree_dir, &agents, &copy);
    check_places(&places, &worktree_dir, &repo_name, &log_ats, problems);
    Ok(Plan {
        manifest: path.to_path_buf(),
        dir: dir.to_path_buf(),
        repo: repo_path,
        project,
        base: raw.base.unwrap_or_default(),
        worktree_dir,
        state_dir,
        setup: raw.setup,
        copy,
        max_parallel: raw.max_parallel,
        per_window: per_window.max(1) as usize,
        agents,
        prices: std::mem::take(&mut raw.prices),
        warnings,
        base_problems: Vec::new(),
    })
}

/// The problems of where things are (issue 15, class 2): logs in places that matter, a
/// `worktree_dir` that mixes with fleet's state. `at` of each log names its agent.
fn check_places(
    places: &crate::places::Places,
    worktree_dir: &Path,
    repo_name: &str,
    logs: &[(String, PathBuf)],
    problems: &mut Vec<String>,
) {
    if let Some(why) = places.worktree_dir_problem() {
        problems.push(format!(
            "worktree_dir: {} {why}; set `worktree_dir:` to a directory of its own, e.g. ../{repo_name}.worktrees",
            worktree_dir.display(),
        ));
    }
    for (at, log) in logs {
        if let Some(why) = places.log_problem(log) {
            problems.push(format!(
                "{at}log {} {why}; point `log:` elsewhere, or remove it for the default .fleet/logs/",
                log.display()
            ));
        }
    }
}

/// Why fleet could not create or append to a log at `path`, if it could not: the file is a
/// directory, a parent is a file, or the directory that would hold it is not writable.
fn unwritable(path: &Path) -> Option<String> {
    if path.is_dir() {
        return Some("is a directory".into());
    }
    if path.exists() {
        return (!util::writable(path)).then(|| "is not writable".into());
    }
    unusable_dir(path.parent()?)
}

/// Why fleet could not create files in `dir` (creating it first if need be), if it could not.
fn unusable_dir(dir: &Path) -> Option<String> {
    // The nearest part of the path that is there, as a name (a symlink that leads nowhere
    // counts: fleet could not create anything through it).
    let existing = dir
        .ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok())?;
    if std::fs::metadata(existing).is_err() {
        Some(format!(
            "{} is a symlink that leads nowhere (a loop, or its target is gone)",
            existing.display()
        ))
    } else if !existing.is_dir() {
        Some(format!("{} is a file, not a directory", existing.display()))
    } else if !util::writable(existing) {
        Some(format!(
            "the directory {} is not writable",
            existing.display()
        ))
    } else {
        None
    }
}

impl Plan {
    /// The plan, for a command that starts from the base or merges into it (`up`,
    /// `validate`, `merge`, `diff`): an invalid-manifest error (exit 2) when the base
    /// cannot be used.
    /// Branches that cannot be created are refused here too: what only the commands that
    /// start agents need to know (one git call; `down` and `status` work regardless).
    pub fn need_base(mut self) -> Result<Plan> {
        if self.base_problems.is_empty() {
            let mut problems = Vec::new();
            check_branch_names(&self.repo, &self, &mut problems)?;
            self.base_problems = problems;
        }
        if self.base_problems.is_empty() {
            return Ok(self);
        }
        Err(UsageError::from(Invalid {
            file: display_name(&self.manifest),
            problems: self.base_problems,
        })
        .into())
    }
}

/// Branches git could not create beside the ones that exist (`fleet` and `fleet/a`, `fleet/a`
/// and `fleet/a/x`: a ref is a file and a directory of refs at once), found before anything is
/// written rather than by `git update-ref` half-way through `up`. One git call.
fn check_branch_names(repo: &Path, plan: &Plan, problems: &mut Vec<String>) -> Result<()> {
    let clash = |a: &str, b: &str| {
        a != b && (a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/")))
    };
    let mut reported: Vec<(&str, &str)> = Vec::new();
    for (i, a) in plan.agents.iter().enumerate() {
        for b in &plan.agents[i + 1..] {
            if clash(&a.branch, &b.branch) {
                reported.push((&a.branch, &b.branch));
                problems.push(format!(
                    "agents `{}` and `{}`: branches `{}` and `{}` cannot both exist (git keeps `a/b` inside a directory named like the branch `a`); set `branch:` so that neither is a prefix of the other",
                    a.name, b.name, a.branch, b.branch
                ));
            }
        }
    }
    // `refs/heads/x` matches x and everything under x/: the first component of each branch
    // finds every branch that could clash with it.
    let mut patterns: Vec<String> = plan
        .agents
        .iter()
        .filter_map(|a| a.branch.split('/').next())
        .filter(|c| !c.is_empty())
        .map(|c| format!("refs/heads/{c}"))
        .collect();
    patterns.sort();
    patterns.dedup();
    if patterns.is_empty() {
        return Ok(());
    }
    let existing = git::branches_matching(repo, &patterns)?;
    for a in &plan.agents {
        for e in existing.iter().filter(|e| clash(&a.branch, e)) {
            if reported
                .iter()
                .any(|(x, y)| (*x == a.branch && y == e) || (x == e && *y == a.branch))
            {
                continue;
            }
            problems.push(format!(
                "agent `{}`: branch `{}` cannot be created beside the existing branch `{e}` (git keeps `a/b` inside a directory named like the branch `a`); set `branch:` or rename `{e}`",
                a.name, a.branch
            ));
        }
    }
    Ok(())
}

/// Fill in the base branch (default: the one recorded by the first `up`, else the current
/// branch) and check it exists.
fn check_base(repo: &Path, plan: &mut Plan, problems: &mut Vec<String>) -> Result<()> {
    // One git call when all is well: a base that names a commit (or a recorded base branch
    // that exists) also tells that the repository has commits.
    if plan.base.is_empty() {
        // The base the fleet was first started from, so that switching the main checkout to
        // another branch later does not move it (status, diff and merge compare against it).
        let recorded = crate::state::Dir::new(&plan.state_dir).base();
        if let Some(b) = recorded.filter(|b| git::branch_exists(repo, b).unwrap_or(false)) {
            plan.base = b;
            return Ok(());
        }
        if !no_commits(repo, problems)? {
            match git::current_branch(repo)? {
                Some(b) => plan.base = b,
                None => problems.push(
                    "base: not set and the repository is on a detached HEAD; set `base:` to a branch"
                        .into(),
                ),
            }
        }
    } else if !git::commit_exists(repo, &plan.base)? && !no_commits(repo, problems)? {
        problems.push(format!(
            "base: `{}` does not exist in {}; set `base:` to an existing branch (e.g. main)",
            plan.base,
            repo.display()
        ));
    }
    Ok(())
}

/// True (and the problem noted) when the repository has no commit yet.
fn no_commits(repo: &Path, problems: &mut Vec<String>) -> Result<bool> {
    if git::has_commits(repo)? {
        return Ok(false);
    }
    problems.push(format!(
        "the repository {} has no commits yet; commit once (worktrees start from a commit)",
        repo.display()
    ));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("45m"), Some(2700));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration(" 2h "), Some(7200));
        for bad in ["", "0", "0s", "45x", "m", "1h30", "-5m", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("agent1"));
        assert!(valid_name("A_b-c"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
        assert!(valid_name(&"a".repeat(64)));
        assert!(!valid_name(&"a".repeat(65)));
        assert_eq!(sanitize("my.repo"), "my-repo");
        assert_eq!(sanitize("..x"), "x");
    }

    #[test]
    fn suggests_a_key() {
        let msg = "agents[1]: unknown field `comand`, expected one of `name`, `task`, `command` at line 8 column 5";
        assert_eq!(did_you_mean(msg).as_deref(), Some("command"));
        assert_eq!(
            did_you_mean("agents: unknown field `zzzzzz`, expected `name`"),
            None
        );
    }

    #[test]
    fn finds_agent_lines() {
        let text = "agents:\n  - name: a\n    prompt: x\n  - prompt: y\n    name: \"b\"\n";
        let raw: RawManifest = serde_yaml::from_str(text).unwrap();
        assert_eq!(agent_lines(text, &raw.agents), vec![Some(2), Some(5)]);
    }

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }

    #[test]
    fn real_path_resolves_the_symlinks_of_the_part_that_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(tmp.path()).unwrap().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(real_path(&link.join("wt/./a")), real.join("wt/a"));
        assert_eq!(
            real_path(&link.join("../x")),
            real.parent().unwrap().join("x")
        );
        assert_eq!(
            real_path(Path::new("/nonexistent-fleet/a/../b")),
            PathBuf::from("/nonexistent-fleet/b")
        );
    }
}
