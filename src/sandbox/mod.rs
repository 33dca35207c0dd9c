//! The box a sandboxed agent's steps run in (`sandbox: true`): bubblewrap (`bwrap`), set up
//! anew for each shell step the runner starts (setup, the agent's command, verify, its
//! retries, resumed runs). The runner itself stays outside (it writes the record and the
//! log, and talks to tmux); so does `on_exit`, the user's own hook.
//!
//! This file owns the policy as the run spec carries it ([`Policy`], [`Network`]), the
//! agent a box is built for ([`Agent`]), the built box ([`Sandbox`]: bwrap's arguments, the
//! environment, the guards that live as long as the step) and the refs a step may not
//! move ([`moved_refs`]). `bwrap` builds the argument list (filesystem, processes, git);
//! `home` knows each agent CLI's own state and the secrets hidden from the box; `check`
//! whether bubblewrap works on this machine. `net` decides what a box's network may
//! reach (each CLI's endpoints and `network:`), `bridge` carries the allowed connections
//! between the box's private network and the host (and the agent's ports back), `proxy` is
//! the runner's HTTP proxy for named hosts, `ports`
//! gives each agent its own TCP ports. `mcp` carries the agent's `fleet mcp` (`mcp:`) out
//! of the box, to a server the runner starts.
//!
//! The network's seam: [`network`] gets the box before it is used and may add bwrap
//! arguments (`--unshare-net` and what fills the private network), a prefix run inside the
//! box before the step's `sh -c` (a helper that then runs it), environment, and a guard
//! that lives as long as the step (the runner's side of the bridge, dropped at its end).
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::preset::{Permissions, Preset};

pub mod bridge;
mod bwrap;
mod check;
mod home;
pub mod mcp;
pub mod net;
pub mod ports;
mod proxy;

pub use check::{report, require, works, Missing, BWRAP};

/// `network:` — what a box may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's network, shared as is.
    #[default]
    All,
    /// A private network namespace with only these destinations (`host:port`) reachable,
    /// each through the bridge ([`bridge`]).
    Allow(Vec<String>),
}

impl Network {
    /// In words for the log: `all`, the hosts it may reach, or none.
    pub fn name(&self) -> String {
        match self {
            Network::All => "all".to_string(),
            Network::Allow(hosts) if hosts.is_empty() => {
                "none (loopback inside its box only)".to_string()
            }
            Network::Allow(hosts) => hosts.join(", "),
        }
    }
}

/// What `name`'s box may write, in words (`validate` prints it): its worktree, its branch's
/// git data, a private `/tmp`, its cache, and its CLI's own state.
pub fn writes(cli: Option<Preset>, name: &str) -> Vec<String> {
    let mut writes = vec![
        "its worktree".to_string(),
        "its branch and the git objects its commits make".to_string(),
        "a private /tmp".to_string(),
        format!(".fleet/boxes/{name}/cache (XDG_CACHE_HOME)"),
    ];
    if let Some(home) = home::home() {
        if let Some(state) = cli.and_then(|p| home::state_of(p, &home)) {
            let shown = match state.dir.strip_prefix(&home) {
                Ok(rest) => format!("~/{}", rest.display()),
                Err(_) => state.dir.display().to_string(),
            };
            writes.push(format!(
                "{shown} (its sessions and credentials; its settings read-only)"
            ));
        }
    }
    writes
}

/// What a sandboxed agent's run spec says of its box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default)]
    pub network: Network,
    /// Its ports (`ports:`): a server in the box on one answers on the host's 127.0.0.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// The branches of the fleet's other agents: fleet itself may create one while a step
    /// runs (a queued agent starting), which is not the box's doing.
    #[serde(default)]
    pub siblings: Vec<String>,
    /// The agent's CLI (its preset, interactive or not): whose state the box may write and
    /// whose credentials it may read.
    #[serde(default)]
    pub cli: Option<Preset>,
}

/// The agent a box is built for.
#[derive(Debug, Clone)]
pub struct Agent<'a> {
    pub name: &'a str,
    /// Its worktree (absolute).
    pub worktree: &'a Path,
    /// Its branch (`fleet/NAME`).
    pub branch: &'a str,
    /// Its CLI, whose own state it may write and whose credentials it may read.
    pub preset: Option<Preset>,
    pub permissions: Permissions,
    /// Runs on the pane's terminal (keeps the terminal's session).
    pub interactive: bool,
    /// `.fleet/` of its manifest: its private cache goes in `boxes/NAME/`.
    pub state_dir: &'a Path,
    /// Paths it must be able to read even when they live under `/tmp` (its task, the
    /// manifest's directory, the directories of `PATH`).
    pub reads: Vec<PathBuf>,
    /// The agent's environment as the manifest gives it (`env:`): a credential set there
    /// is the user's choice and stays.
    pub env: &'a BTreeMap<String, String>,
    /// `mcp:`: the `fleet mcp` its CLI is given, which the runner serves from outside.
    pub mcp: Option<&'a crate::preset::McpServer>,
}

/// A box built for one step: bwrap's arguments, the environment inside, and the guards
/// (helper processes, files) that must live as long as the step.
#[derive(Default)]
pub struct Sandbox {
    args: Vec<OsString>,
    /// What runs inside the box before the step's `sh -c` (a network helper that then
    /// runs it).
    prefix: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    unset: Vec<String>,
    guards: Vec<Box<dyn std::any::Any + Send>>,
    /// The refs of the directory the box may write in, as they were when it was built.
    refs: BTreeMap<String, String>,
    /// The repository's common dir (where the refs are).
    common: PathBuf,
    /// The refs bound read-only onto themselves (the box cannot move them).
    protected: Vec<String>,
    /// The refs directory the box may write in (`refs/heads/fleet/`), and its own ref.
    writable_refs: String,
    own_ref: String,
    siblings: Vec<String>,
}

impl Sandbox {
    /// Add bwrap arguments (after the ones already there: a later mount covers an earlier).
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Run `words` inside the box first, the step's `sh -c script` following them as
    /// arguments (`fleet _net-inside DIR -- sh -c script`).
    pub fn prefix<I, S>(&mut self, words: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.prefix.extend(words.into_iter().map(Into::into));
        self
    }

    /// Set a variable inside the box.
    pub fn env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Take a variable of the runner's environment away from the box.
    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.unset.push(key.to_string());
        self
    }

    /// Keep `guard` alive as long as the step (dropped when the box is).
    pub fn guard(&mut self, guard: impl std::any::Any + Send) -> &mut Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// The variables taken away from the box (set them again after, to give one back).
    pub fn unset_vars(&self) -> &[String] {
        &self.unset
    }

    /// `bwrap <args> -- sh -c script`, with the box's environment; the caller sets the
    /// agent's own environment on it after [`Sandbox::unset_vars`] were removed. With
    /// `status_fd`, bwrap writes its status there (`--json-status-fd`: whether the step's
    /// command started, see the runner's `boxed::started`).
    pub fn command(&self, script: &str, status_fd: Option<i32>) -> Command {
        let mut cmd = Command::new(BWRAP);
        cmd.args(&self.args);
        if let Some(fd) = status_fd {
            cmd.arg("--json-status-fd").arg(fd.to_string());
        }
        cmd.arg("--")
            .args(&self.prefix)
            .arg("sh")
            .arg("-c")
            .arg(script);
        for key in &self.unset {
            cmd.env_remove(key);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// The bwrap command line, for the log (`bwrap --ro-bind / / ...`).
    pub fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| crate::util::shell_quote(&a.to_string_lossy()))
            .collect();
        format!("{BWRAP} {}", args.join(" "))
    }
}

/// Build the box for one step of `agent` under `policy`.
pub fn build(policy: &Policy, agent: &Agent) -> Result<Sandbox> {
    let mut sandbox = Sandbox {
        siblings: policy.siblings.clone(),
        ..Sandbox::default()
    };
    bwrap::build(agent, &mut sandbox)?;
    home::environment(agent, &mut sandbox);
    hide_sockets(&mut sandbox);
    network(policy, agent, &mut sandbox)?;
    if let Some(server) = agent.mcp {
        let relay = mcp::open(server, &std::env::temp_dir())?;
        sandbox.args(relay.bwrap_args());
        let (key, value) = relay.env();
        sandbox.env(key, value);
        sandbox.guard(relay);
    }
    Ok(sandbox)
}

/// The host's daemons' unix sockets under `/run` (`/var/run` is a link to it; `/tmp` is the
/// box's own) are covered, whatever `network:` says: a socket crosses any network namespace,
/// and the user's systemd or D-Bus, docker or an ssh agent would run or sign things outside
/// the box. Their variables go too.
fn hide_sockets(sandbox: &mut Sandbox) {
    // systemd-resolved's own socket stays: `network: all` resolves names through it.
    let resolver = Path::new("/run/systemd/resolve");
    for socket in net::sockets_under(Path::new("/run"), 4)
        .into_iter()
        .filter(|s| !s.starts_with(resolver))
    {
        sandbox.args([
            OsString::from("--ro-bind"),
            "/dev/null".into(),
            socket.into_os_string(),
        ]);
    }
    for var in ["SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS", "DOCKER_HOST"] {
        sandbox.unset(var);
    }
}

/// The network part of the box: [`Network::All`] shares the host's network; an allowlist
/// is a private network namespace (loopback only) that [`bridge`] fills: a listener in the
/// box for each destination, carried to the runner, which alone connects out; the agent's
/// ports carried back in. The bridge's runner side is the step's guard.
fn network(policy: &Policy, _agent: &Agent, sandbox: &mut Sandbox) -> Result<()> {
    let Network::Allow(allowed) = &policy.network else {
        return Ok(());
    };
    let dests = net::dests(allowed.iter().map(String::as_str));
    let fleet = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find fleet's own program: {e}"))?;
    let bridge = bridge::open(&fleet, &std::env::temp_dir(), &dests, &policy.ports)?;
    sandbox.args(bridge.bwrap_args.clone());
    sandbox.prefix(bridge.prefix.clone());
    for (key, value) in &bridge.env {
        sandbox.env(key, value);
    }
    sandbox.guard(bridge);
    Ok(())
}

/// The refs of the directory the box may write in, as they are now (read without git).
pub fn refs_now(sandbox: &Sandbox) -> BTreeMap<String, String> {
    crate::git::refs_under(&sandbox.common, &sandbox.writable_refs)
}

/// The refs the step moved that were not the box's to move: created, moved or deleted in
/// the refs directory the box could write, other than its own branch and a branch fleet
/// made meanwhile for another agent. `after` is every ref once the step ended.
pub fn moved_refs(sandbox: &Sandbox, after: &BTreeMap<String, String>) -> Vec<String> {
    let before = &sandbox.refs;
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .filter(|name| **name != sandbox.own_ref)
        .filter(|name| name.starts_with(&sandbox.writable_refs))
        // bound read-only: only someone outside the box can have moved it
        .filter(|name| !sandbox.protected.contains(name))
        .filter(|name| {
            let fleet_made = !before.contains_key(*name)
                && sandbox
                    .siblings
                    .iter()
                    .any(|b| **name == format!("refs/heads/{b}"));
            !fleet_made
        })
        .cloned()
        .collect()
}
