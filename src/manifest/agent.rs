//! One agent resolved against the top-level settings: its name, task, branch, worktree, log,
//! command and launch (its preset or its own `command:`), limits (timeout, cost), shell
//! snippets and environment. Each step checks its own keys; [`Agents`] keeps what the agents
//! before have taken (names, branches, logs), so two agents cannot share one.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::checks::{env_map, parse_duration, valid_name};
use super::command::{agent_command, lost_to_command, lost_to_preset, mcp_server};
use super::paths::{line_break, normalize, unwritable};
use super::schema::{RawAgent, RawManifest, Scalar};
use super::top::Top;
use super::{Agent, Preset, Task, DEFAULT_RETRIES, MAX_TASK_BYTES, RESERVED_NAME};
use crate::git;

/// The agents resolved so far, and what they have taken.
pub(super) struct Agents<'a> {
    raw: &'a RawManifest,
    top: &'a Top<'a>,
    /// name → index in the file of the agent that took it
    names: HashMap<String, usize>,
    /// branch → agent
    branches: HashMap<String, String>,
    /// log → agent
    logs: HashMap<PathBuf, String>,
    /// Each agent's log, with the `at` that names the agent in messages.
    pub(super) log_ats: Vec<(String, PathBuf)>,
    /// The agents resolved (those without a usable task are left out: already a problem).
    pub(super) agents: Vec<Agent>,
    /// What is allowed but probably not meant.
    pub(super) warnings: Vec<String>,
    /// Top-level keys lost to agents' own `command:`: the keys as said, the agents (one
    /// warning for them all, from [`Agents::finish`]).
    top_lost: Vec<(String, Vec<String>)>,
}

impl<'a> Agents<'a> {
    pub(super) fn new(raw: &'a RawManifest, top: &'a Top<'a>) -> Self {
        Agents {
            raw,
            top,
            names: HashMap::new(),
            branches: HashMap::new(),
            logs: HashMap::new(),
            log_ats: Vec::new(),
            agents: Vec::new(),
            warnings: Vec::new(),
            top_lost: Vec::new(),
        }
    }

    /// The warnings about top-level keys lost to agents' own `command:`, one per set of
    /// keys naming every such agent (not one identical line per agent).
    pub(super) fn finish(&mut self) {
        for (lost, names) in std::mem::take(&mut self.top_lost) {
            self.warnings.push(format!(
                "the top-level {lost} will not work for {} {}, which {} (it replaces the preset), nor `fleet continue`; use `agent:` with `args:` to keep them",
                if names.len() == 1 { "agent" } else { "agents" },
                names.join(", "),
                if names.len() == 1 { "runs its own `command:`" } else { "run their own `command:`" },
            ));
        }
    }

    /// Resolve `a`, the `i`th agent in the file (`at` names it in messages), noting every
    /// problem in `problems`.
    pub(super) fn add(&mut self, a: RawAgent, i: usize, at: &str, problems: &mut Vec<String>) {
        let raw = self.raw;
        self.check_name(&a, i, at, problems);
        let task = task(&a, self.top.dir, at, problems);
        let branch = self.branch(&a, at, problems);
        let worktree = self.worktree(&a, at, problems);
        let log = self.log(&a, at, problems);
        let interactive = a.interactive.or(raw.interactive).unwrap_or(false);
        let (command, preset, mut launch) =
            agent_command(&a, raw, interactive, at, problems, &mut self.warnings);
        launch.mcp = mcp_server(&a, preset, &self.top.manifest, at, problems);
        let timeout = duration_key("timeout", &a.timeout, &raw.timeout, at, problems);
        let verify_timeout = duration_key(
            "verify_timeout",
            &a.verify_timeout,
            &raw.verify_timeout,
            at,
            problems,
        )
        .unwrap_or(super::DEFAULT_VERIFY_TIMEOUT);
        let max_cost_usd = max_cost_usd(&a, raw, at, problems);
        let command = match preset {
            Some(p) => p.command(&launch, max_cost_usd),
            None => command,
        };
        self.warn_lost(&a, preset, max_cost_usd, at);
        let sandbox = a.sandbox.or(raw.sandbox).unwrap_or(false);
        let verify = a.verify.or_else(|| raw.verify.clone());
        let on_exit = a.on_exit.or_else(|| raw.on_exit.clone());
        check_shell_nul(
            &command,
            verify.as_deref(),
            on_exit.as_deref(),
            at,
            problems,
        );
        let mut env = self.top.env.clone();
        env.extend(env_map(&a.env, at, problems));
        // In a box claude is told it runs in a sandbox, because it does.
        if let Some(why) = crate::preset::claude_refuses(preset, &launch, &env).filter(|_| !sandbox)
        {
            problems.push(format!("{at}{why}"));
        }
        let after = unique(a.after.as_ref().map(|l| l.0.clone()).unwrap_or_default());
        let seed = self.seed(a.seed.as_deref(), at, problems);
        let (network, ports) = network_and_ports(&a.network, &a.ports, raw, &env, at, problems);
        let Some(task) = task else { return };
        self.agents.push(Agent {
            session: format!("{}-{}", self.top.project, a.name),
            worktree,
            branch,
            log,
            task,
            command,
            preset,
            format: preset.and_then(|p| p.format(interactive)),
            interactive,
            launch,
            sandbox,
            timeout,
            max_cost_usd,
            verify_retries: a.verify_retries.or(raw.verify_retries).unwrap_or(0),
            retries: a.retries.or(raw.retries).unwrap_or(DEFAULT_RETRIES),
            env,
            verify,
            verify_timeout,
            on_exit,
            after,
            seed,
            network,
            ports,
            name: a.name,
        });
    }

    /// The agent's `seed:` (its own, checked), else the top level's.
    fn seed(
        &self,
        own: Option<&[super::seed::RawSeed]>,
        at: &str,
        problems: &mut Vec<String>,
    ) -> Vec<super::Seed> {
        match own {
            Some(own) => super::seed::seeds(own, self.top.dir, &self.top.repo_path, at, problems),
            None => self.top.seed.clone(),
        }
    }

    /// Warn when the agent's own `command:` drops what only a preset gives (its own limits
    /// at once; a top-level one once for all the agents it concerns, in [`Agents::finish`]).
    fn warn_lost(&mut self, a: &RawAgent, preset: Option<Preset>, max_cost: Option<f64>, at: &str) {
        let raw = self.raw;
        if let Some(p) = preset {
            lost_to_preset(a, raw, p, at, &mut self.warnings);
            return;
        }
        let own = a.max_cost_usd.is_some() || a.verify_retries.is_some();
        let lost = lost_to_command(a, raw, max_cost);
        if own && !lost.is_empty() {
            self.warnings.push(format!(
                "{at}`command:` replaces the preset, so {lost} will not work, nor `fleet continue`; use `agent:` with `args:` to keep them"
            ));
        } else if !lost.is_empty() {
            match self.top_lost.iter_mut().find(|(l, _)| *l == lost) {
                Some((_, names)) => names.push(a.name.clone()),
                None => self.top_lost.push((lost, vec![a.name.clone()])),
            }
        }
    }

    /// A valid name, not the monitor's, not another agent's.
    fn check_name(&mut self, a: &RawAgent, i: usize, at: &str, problems: &mut Vec<String>) {
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
        if let Some(first) = self.names.insert(a.name.clone(), i) {
            problems.push(format!(
                "{at}duplicate name `{}` (also agents[{first}]); give each agent its own name",
                a.name
            ));
        }
    }

    /// `branch:`, else `fleet/<name>`: a valid git branch name no other agent has.
    fn branch(&mut self, a: &RawAgent, at: &str, problems: &mut Vec<String>) -> String {
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
        if let Some(other) = self.branches.insert(branch.clone(), a.name.clone()) {
            if other != a.name {
                problems.push(format!(
                    "{at}branch `{branch}` is also used by agent `{other}`; each agent needs its own branch"
                ));
            }
        }
        branch
    }

    /// `<worktree_dir>/<name>`, which must not be (or hold) the repository.
    fn worktree(&self, a: &RawAgent, at: &str, problems: &mut Vec<String>) -> PathBuf {
        let top = self.top;
        let worktree = top.worktree_dir.join(&a.name);
        if top.repo.is_some_and(|r| r.starts_with(&worktree)) {
            problems.push(format!(
                "{at}its worktree {} would be the repository {} (or hold it); set `worktree_dir:` to a directory beside the repository, e.g. ../{}.worktrees",
                worktree.display(),
                top.repo_path.display(),
                top.repo_name
            ));
        }
        worktree
    }

    /// `log:`, else `.fleet/logs/<name>.log`: a path tmux can take, fleet can write, and no
    /// other agent logs to.
    fn log(&mut self, a: &RawAgent, at: &str, problems: &mut Vec<String>) -> PathBuf {
        let top = self.top;
        let log = normalize(&match &a.log {
            Some(l) => top.dir.join(l),
            None => top.state_dir.join("logs").join(format!("{}.log", a.name)),
        });
        if line_break(&log) && !line_break(top.dir) {
            problems.push(format!(
                "{at}log {:?} holds a line break, which tmux cannot take; fix `log:`",
                log.display()
            ));
        }
        if let Some(why) =
            unwritable(&log).filter(|_| !(top.state_dir_bad && log.starts_with(&top.state_dir)))
        {
            problems.push(format!(
                "{at}log {}: {why}; fix `log:` or that directory",
                log.display()
            ));
        }
        self.log_ats.push((at.to_string(), log.clone()));
        if let Some(other) = self.logs.insert(log.clone(), a.name.clone()) {
            if other != a.name {
                problems.push(format!(
                    "{at}log {} is also used by agent `{other}`; give each agent its own log",
                    log.display()
                ));
            }
        }
        log
    }
}

/// Exactly one of `task:` (a readable regular file, not too long) and `prompt:` (not empty).
/// None when there is neither or both (a problem already).
fn task(a: &RawAgent, dir: &Path, at: &str, problems: &mut Vec<String>) -> Option<Task> {
    match (&a.task, &a.prompt) {
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
            check_task_file(t, &abs, at, problems);
            Some(Task::File(abs))
        }
        (None, Some(p)) => {
            if p.trim().is_empty() {
                problems.push(format!("{at}prompt is empty; write the task"));
            }
            Some(Task::Prompt(p.clone()))
        }
    }
}

/// The task file `t` (at `abs`) is a regular file fleet can read, at most [`MAX_TASK_BYTES`].
fn check_task_file(t: &Path, abs: &Path, at: &str, problems: &mut Vec<String>) {
    match std::fs::metadata(abs) {
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
            if let Err(e) = std::fs::File::open(abs) {
                problems.push(format!(
                    "{at}task file {} cannot be read ({e}); fix its permissions",
                    t.display()
                ));
            }
        }
    }
}

/// A duration key (`timeout:`, `verify_timeout:`): the agent's, else the top-level one, in
/// seconds.
fn duration_key(
    key: &str,
    own: &Option<Scalar>,
    top: &Option<Scalar>,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<u64> {
    let t = own.as_ref().or(top.as_ref())?;
    let found = parse_duration(&t.0);
    if found.is_none() {
        let whose = if own.is_some() { at } else { "" };
        problems.push(format!(
            "{whose}{key}: `{}` is not a duration; write e.g. 90s, 45m, 2h or 1h30m",
            t.0
        ));
    }
    found
}

/// The agent's `max_cost_usd:`, else the top-level one: dollars, more than 0.
fn max_cost_usd(
    a: &RawAgent,
    raw: &RawManifest,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<f64> {
    let max_cost_usd = a.max_cost_usd.or(raw.max_cost_usd);
    if let Some(c) = max_cost_usd.filter(|c| !(*c > 0.0 && c.is_finite())) {
        let whose = if a.max_cost_usd.is_some() { at } else { "" };
        problems.push(format!(
            "{whose}max_cost_usd: {c} must be more than 0 (dollars, e.g. 2.50); remove it for no limit"
        ));
    }
    max_cost_usd
}

/// `sh -c` takes no NUL byte (in YAML, "\0" in double quotes is one: "\033" is not ESC).
fn check_shell_nul(
    command: &str,
    verify: Option<&str>,
    on_exit: Option<&str>,
    at: &str,
    problems: &mut Vec<String>,
) {
    for (key, value) in [
        ("command", Some(command)),
        ("verify", verify),
        ("on_exit", on_exit),
    ] {
        if value.is_some_and(|v| v.contains('\0')) {
            problems.push(format!(
                "{at}{key} holds a NUL byte, which no shell takes (in double quotes YAML reads \\0 as NUL: write \\e or \\x1b for ESC)"
            ));
        }
    }
}

/// The agent's `network:` (the more specific level winning) and `ports:`, checked: a port
/// name may not also be in its `env:`.
fn network_and_ports(
    network: &Option<super::schema::RawNetwork>,
    ports: &Option<Vec<String>>,
    raw: &RawManifest,
    env: &std::collections::BTreeMap<String, String>,
    at: &str,
    problems: &mut Vec<String>,
) -> (crate::sandbox::net::Network, Vec<String>) {
    if let Some(p) = ports {
        super::net::check_ports(p, at, problems);
    }
    let network = super::net::network(network.as_ref(), raw.network.as_ref(), at, problems);
    let ports = super::net::resolve(ports.as_ref(), raw.ports.as_ref());
    for name in ports.iter().filter(|p| env.contains_key(*p)) {
        problems.push(format!(
            "{at}`{name}` is both in `ports:` and in `env:`; fleet gives the port as {name}: remove it from `env:`"
        ));
    }
    (network, ports)
}

/// The agent's `after:` names, each once, in the order given.
fn unique(names: Vec<String>) -> Vec<String> {
    let mut after: Vec<String> = Vec::new();
    for n in names {
        if !after.contains(&n) {
            after.push(n);
        }
    }
    after
}
