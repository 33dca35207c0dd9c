//! One view of the agents on other hosts: `logs`, `attach`, `continue`, `wait` and the
//! monitor's panes reach an agent placed on a host through that host's own fleet, run over
//! ssh ([`super::ssh`]) on the manifest slice `up` sent there. Never git or tmux there
//! directly: the host's fleet keeps its guarantees.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::asker::{ask_all, Asker};
use super::ssh::{self, Link};
use crate::manifest::{Host, Plan, Remote};
use crate::util;

/// How often `wait` asks the hosts (each over the connection it keeps open).
const WAIT_POLL: Duration = Duration::from_secs(2);
/// Asks in a row a host may fail (each on a fresh connection, up to ssh's connect timeout)
/// before `wait` counts its agents as `unreachable`.
const WAIT_MISSES: u32 = 3;
/// How long a monitor pane waits before it connects again to a host that dropped.
const RETRY: Duration = Duration::from_secs(5);
/// The lines a monitor pane shows again after it connected again.
const RECONNECT_LINES: usize = 20;

fn host_of<'p>(plan: &'p Plan, r: &Remote) -> Result<&'p Host> {
    plan.hosts.get(&r.host).ok_or_else(|| {
        anyhow!(
            "agent {} is placed on host {}, which is not in `hosts:`",
            r.agent.name,
            r.host
        )
    })
}

/// The arguments of `fleet logs` there.
fn logs_args(name: &str, lines: usize, follow: bool, monitor: bool) -> Vec<String> {
    let mut args = vec![
        "logs".to_string(),
        name.into(),
        "-n".into(),
        lines.to_string(),
    ];
    if follow {
        args.push("--follow".into());
    }
    if monitor {
        args.push("--monitor".into());
    }
    args
}

/// `fleet logs NAME [-n N] [--follow]` of an agent on another host: its fleet's `logs` there,
/// printed as it comes; its exit code. Following ends there when it ends here (Ctrl-C).
pub fn logs(plan: &Plan, r: &Remote, lines: usize, follow: bool, monitor: bool) -> Result<i32> {
    let host = host_of(plan, r)?;
    util::defer_interrupts_quietly();
    if monitor {
        return follow_on(host, &r.agent.name, lines);
    }
    let link = Link::open(host)?;
    let args = logs_args(&r.agent.name, lines, follow, false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = link.stream(&ssh::fleet_script(host, &args));
    if util::interrupted() {
        // Ctrl-C ends following, as for an agent here.
        return Ok(0);
    }
    code
}

/// The monitor's pane of an agent on another host: follows its log there for as long as the
/// pane lives, through the agent's end and reruns; when the host drops (or does not answer
/// yet) the pane says so and connects again every few seconds.
fn follow_on(host: &Host, name: &str, lines: usize) -> Result<i32> {
    let mut shown = false;
    let mut told: Option<String> = None;
    let mut say = |problem: String| {
        if told.as_deref() != Some(problem.as_str()) {
            println!("[fleet] {problem}; trying again every {}s", RETRY.as_secs());
            told = Some(problem);
        }
    };
    while !util::interrupted() {
        match Link::open(host) {
            Err(e) => say(format!("{e:#}")),
            Ok(link) => {
                if shown {
                    println!("[fleet] host {} answers again", host.name);
                }
                let n = if shown {
                    lines.min(RECONNECT_LINES)
                } else {
                    lines
                };
                shown = true;
                let args = logs_args(name, n, true, true);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match link.stream(&ssh::fleet_script(host, &args)) {
                    _ if util::interrupted() => break,
                    Ok(code) => say(format!(
                        "`fleet logs` on host {} ended (exit {code})",
                        host.name
                    )),
                    Err(e) => say(format!("{e:#}")),
                }
            }
        }
        if !util::sleep_unless_interrupted(RETRY) {
            break;
        }
    }
    Ok(0)
}

/// `fleet attach NAME` of an agent on another host: `fleet attach` there, on a terminal over
/// `ssh -t`. Inside tmux (fleet's server) it opens in a new window next to this one, which
/// runs `fleet attach NAME --here`; `here` attaches on this terminal whatever it is in.
pub fn attach(plan: &Plan, r: &Remote, exe: &Path, here: bool) -> Result<i32> {
    let host = host_of(plan, r)?;
    let name = &r.agent.name;
    if !here {
        let manifest = plan.manifest.display().to_string();
        let exe = exe.display().to_string();
        let words: Vec<String> = [exe.as_str(), "-f", &manifest, "attach", "--here", name]
            .map(String::from)
            .to_vec();
        if crate::tmux::open_window(name, &words)? {
            crate::info!("attached to {name} on host {} in a new window", host.name);
            return Ok(0);
        }
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        bail!(
            "cannot attach to {name} on host {}: not a terminal (stdin is not a tty); run `fleet attach {name}` from a terminal",
            host.name
        );
    }
    let code = ssh::on_terminal(host, &ssh::fleet_script(host, &["attach", name]))?;
    if code != 0 && here {
        // The window closes with ssh: keep what it said on screen until the user has read it.
        eprintln!("(fleet attach {name} on host {} ended with exit {code}; press Enter to close this window)", host.name);
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    match code {
        255 => bail!("host {} (ssh {}) does not answer", host.name, host.ssh),
        code => Ok(code),
    }
}

/// `fleet continue NAME` of an agent on another host: `fleet continue` there, the follow-up
/// on its stdin (never in the command line); what it said, each line naming the host.
pub fn resume(plan: &Plan, r: &Remote, text: &str) -> Result<i32> {
    let host = host_of(plan, r)?;
    let name = r.agent.name.as_str();
    let link = Link::open(host)?;
    let out = link.fleet(
        &["-q", "continue", name, "--message-file", "/dev/stdin"],
        Some(text.as_bytes()),
    )?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("{}: {line}", host.name);
    }
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        eprintln!("{}: {line}", host.name);
    }
    let code = out.status.code().unwrap_or(1);
    if code == 0 {
        crate::info!("continued {name} on host {}", host.name);
        crate::info!(
            "follow it: {} logs {name} -f",
            crate::launch::fleet_command(plan)
        );
    }
    Ok(code)
}

/// An agent `wait` waits for, wherever it runs.
#[derive(Debug, Clone)]
pub struct Awaited {
    pub name: String,
    /// It will not change by itself any more (done, failed, never started, unreachable…).
    pub ended: bool,
    pub done: bool,
    /// How it is told once ended: `a1 failed (exit 3) after 2s on host build1`.
    pub told: String,
}

/// One host `wait` asks, over the connection its [`Asker`] keeps between asks.
struct Watched<'p> {
    asker: Asker<'p>,
    /// Asks failed in a row.
    misses: u32,
    seen: Vec<Awaited>,
}

/// `wait` over the agents on other hosts: each host asked with `fleet status --json` there,
/// every [`WAIT_POLL`], one connection per host kept for every ask. A host that fails
/// [`WAIT_MISSES`] asks in a row has its agents `unreachable`: ended, not done.
pub struct Waiter<'p> {
    hosts: Vec<Watched<'p>>,
    asked: Option<Instant>,
}

impl<'p> Waiter<'p> {
    /// The agents of `names` (from [`Plan::split_names`]: by host, empty for all of them).
    pub fn new(plan: &'p Plan, names: &BTreeMap<String, Vec<String>>) -> Waiter<'p> {
        let hosts = plan
            .hosts
            .values()
            .filter_map(|host| {
                let wanted = names.get(&host.name)?;
                let names: Vec<String> = plan
                    .remote_on(&host.name)
                    .iter()
                    .map(|r| r.agent.name.clone())
                    .filter(|n| wanted.is_empty() || wanted.contains(n))
                    .collect();
                let seen = names
                    .iter()
                    .map(|n| Awaited {
                        name: n.clone(),
                        ended: false,
                        done: false,
                        told: String::new(),
                    })
                    .collect();
                Some(Watched {
                    asker: Asker::new(host, names, Vec::new()),
                    misses: 0,
                    seen,
                })
            })
            .collect();
        Waiter { hosts, asked: None }
    }

    /// How many agents it waits for.
    pub fn len(&self) -> usize {
        self.hosts.iter().map(|h| h.asker.names.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The agents as last seen; the hosts with agents still running asked again when it is
    /// time, all at once. `say` tells of a host that stops (or starts again) answering.
    pub fn poll(&mut self, say: &dyn Fn(String)) -> Vec<Awaited> {
        let due = self.asked.is_none_or(|t| t.elapsed() >= WAIT_POLL);
        let mut asking: Vec<&mut Watched<'p>> = self
            .hosts
            .iter_mut()
            .filter(|h| due && h.seen.iter().any(|a| !a.ended))
            .collect();
        if !asking.is_empty() {
            self.asked = Some(Instant::now());
            let mut askers: Vec<&mut Asker<'p>> = asking.iter_mut().map(|h| &mut h.asker).collect();
            let answers = ask_all(&mut askers);
            for (h, answer) in asking.into_iter().zip(answers) {
                h.take(answer, say);
            }
        }
        self.hosts.iter().flat_map(|h| h.seen.clone()).collect()
    }
}

impl Watched<'_> {
    /// What an ask gave: the agents' states, or one more miss.
    fn take(&mut self, answer: Result<Vec<Value>>, say: &dyn Fn(String)) {
        let host = self.asker.host.name.as_str();
        let agents = match answer {
            Ok(agents) => agents,
            Err(e) => {
                self.misses += 1;
                let problem = format!("{e:#}");
                if self.misses >= WAIT_MISSES {
                    for a in self.seen.iter_mut().filter(|a| !a.ended) {
                        *a = ended(&a.name, "unreachable", Some(&problem), host);
                    }
                } else if self.misses == 1 && !util::interrupted() {
                    say(format!("{problem}; asking again"));
                }
                return;
            }
        };
        if self.misses > 0 {
            say(format!("host {host} answers again"));
        }
        self.misses = 0;
        for a in self.seen.iter_mut() {
            let found = agents.iter().find(|v| v["name"] == a.name.as_str());
            let state = found.and_then(|v| v["state"].as_str()).unwrap_or("pending");
            let reason = found.and_then(|v| v["reason"].as_str());
            let runtime = found.and_then(|v| v["runtime_secs"].as_u64());
            *a = ended(&a.name, state, reason, host);
            if let (true, "done" | "failed" | "stopped", Some(secs)) = (a.ended, state, runtime) {
                // `a1 done after 3s on host build1`, as this machine's agents are told.
                a.told = a.told.replacen(
                    " on host ",
                    &format!(" after {} on host ", util::duration(secs)),
                    1,
                );
            }
        }
    }
}

/// An agent on `host` in `state` (as its fleet there says), as `wait` counts it.
fn ended(name: &str, state: &str, reason: Option<&str>, host: &str) -> Awaited {
    let ended = !matches!(state, "running" | "waiting" | "queued");
    let why = match (state, reason) {
        ("pending", _) => " (never started; `fleet up` starts it)".to_string(),
        ("done", _) | (_, None) => String::new(),
        (_, Some(r)) => format!(" ({r})"),
    };
    Awaited {
        name: name.to_string(),
        ended,
        done: state == "done",
        told: format!("{name} {state}{why} on host {host}"),
    }
}

/// `up` of agents on hosts only: the monitor (their panes) started, or rebuilt when it
/// shows other agents (closed when off); the part of `up` for this machine does it otherwise.
pub fn monitor_up(plan: &Plan) -> Result<()> {
    let snap = crate::tmux::snapshot(&plan.monitor_session())?;
    let owned = crate::view::owned(plan, &snap.sessions);
    let (alive, stale) = crate::monitor::verdict(plan, &owned, &snap);
    if alive {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let dir = crate::state::Dir::new(&plan.state_dir);
    let batch = crate::launch::sessions::sessions_batch(plan, &dir, &[], false, stale, &exe);
    crate::launch::sessions::create(&dir, &batch)?;
    Ok(())
}

/// `down` of a fleet whose agents are all on hosts: the monitor closed, when it runs; its
/// name then.
pub fn monitor_down(plan: &Plan) -> Result<Option<String>> {
    let monitor = plan.monitor_session();
    let owned = crate::view::owned(plan, &crate::tmux::sessions()?);
    if !owned.contains(&monitor) {
        return Ok(None);
    }
    crate::tmux::one("kill-session", &["-t", &crate::tmux::exact(&monitor)])?;
    Ok(Some(monitor))
}
