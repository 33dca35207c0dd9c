//! `hosts:` and `host:`: the other machines agents may run on (each reached over ssh, where
//! fleet itself runs the agents placed there), checked, and each agent's place. An agent
//! without `host:` (and no top-level one) runs here, on the host `local`.
use std::collections::BTreeMap;

use super::checks::valid_name;
use super::schema::RawHost;
use super::suggest::closest;

/// The name of this machine in `host:`.
pub const LOCAL: &str = "local";
/// The manifest fleet writes for a host's fleet, at the top of the repository there.
pub const REMOTE_MANIFEST: &str = ".fleet-remote.yaml";
/// Sessions fleet opens at once on one ssh connection unless `max_sessions:` says: below
/// sshd's default `MaxSessions` (10).
pub const DEFAULT_SESSIONS: usize = 8;
/// The remote fleet's program when `hosts.NAME.fleet` does not say.
pub const DEFAULT_FLEET: &str = "fleet";

/// One resolved entry of `hosts:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    /// The ssh destination (`user@machine`, or an alias of `~/.ssh/config`).
    pub ssh: String,
    /// The repository's path there (created with `git init` when missing).
    pub dir: String,
    /// The fleet program there.
    pub fleet: String,
    /// More ssh options, each one word (`-p`, `2222`, `-i`, `~/.ssh/key`, `-o`, `X=y`).
    pub options: Vec<String>,
    /// Sessions fleet opens at once on one ssh connection there (at most sshd's
    /// `MaxSessions` there; default [`DEFAULT_SESSIONS`]).
    pub max_sessions: usize,
}

/// A word ssh or a remote shell could take for something else: empty, an option, a line break
/// or a NUL.
fn bad_word(s: &str) -> bool {
    s.trim().is_empty() || s.contains(['\n', '\r', '\0'])
}

/// The `hosts:` of the manifest, each checked; problems noted in `problems`.
pub(super) fn hosts(
    raw: &BTreeMap<String, RawHost>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Host> {
    let mut out = BTreeMap::new();
    for (name, h) in raw {
        if let Some(host) = host(name, h, problems) {
            out.insert(name.clone(), host);
        }
    }
    same_place(&out, problems);
    out
}

/// One host of `hosts:` (`name`: `h`), checked; None when it has a problem (noted).
fn host(name: &str, h: &RawHost, problems: &mut Vec<String>) -> Option<Host> {
    let at = format!("hosts.{name}: ");
    let before = problems.len();
    check_name(name, &at, problems);
    let ssh = h.ssh.clone().unwrap_or_default();
    if h.ssh.is_none() {
        problems.push(format!(
            "{at}`ssh:` is missing; give the ssh destination, e.g. `ssh: me@build1`"
        ));
    } else if bad_word(&ssh) || ssh.starts_with('-') || ssh.contains(char::is_whitespace) {
        problems.push(format!(
            "{at}ssh: `{ssh}` is not an ssh destination; write `user@machine` or an alias of ~/.ssh/config (ssh options go in `options:`)"
        ));
    }
    let dir = h.dir.clone().unwrap_or_default();
    if h.dir.is_none() {
        problems.push(format!(
            "{at}`dir:` is missing; give the repository's path on that machine, e.g. `dir: /home/me/src/webapp`"
        ));
    } else if bad_word(&dir) {
        problems.push(format!(
            "{at}dir: `{dir}` is not a path; give the repository's path on that machine"
        ));
    }
    let fleet = h.fleet.clone().unwrap_or_else(|| DEFAULT_FLEET.into());
    if bad_word(&fleet) {
        problems.push(format!(
            "{at}fleet: `{fleet}` is not a program; give the path of fleet there or leave it out (default `{DEFAULT_FLEET}`)"
        ));
    }
    if let Some(o) = h.options.iter().find(|o| o.contains(['\n', '\r', '\0'])) {
        problems.push(format!(
            "{at}options: {o:?} holds a line break or NUL; give each ssh option as one word"
        ));
    }
    let identity = h.identity.as_deref().map(expand_home);
    if identity.as_deref().is_some_and(bad_word) {
        problems.push(format!(
            "{at}identity: {:?} is not a file name; give the path of the ssh key here, e.g. `identity: ~/.ssh/id_build1`",
            h.identity.as_deref().unwrap_or("")
        ));
    }
    let max_sessions = h.max_sessions.map_or(DEFAULT_SESSIONS, |n| n as usize);
    if !(1..=64).contains(&max_sessions) {
        problems.push(format!(
            "{at}max_sessions: {max_sessions} is out of range; give 1-64, at most the `MaxSessions` of sshd there (default {})",
            DEFAULT_SESSIONS
        ));
    }
    if problems.len() != before {
        return None;
    }
    let options = ssh_options(h, identity);
    Some(Host {
        name: name.to_string(),
        ssh,
        dir,
        fleet,
        options,
        max_sessions,
    })
}

/// A host's name: valid, and not this machine's.
fn check_name(name: &str, at: &str, problems: &mut Vec<String>) {
    if !valid_name(name) {
        problems.push(format!(
            "{at}the name is not valid; use 1-64 letters, digits, `-` or `_`, starting with a letter or digit"
        ));
    }
    if name == LOCAL {
        problems.push(format!(
            "{at}`{LOCAL}` is this machine's name; give the host another name"
        ));
    }
}

/// A key file's path with a leading `~/` made the home directory (without a HOME here, `~/`
/// is left to ssh, which expands it itself).
fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if !home.is_empty() => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// The ssh options of a host: `port:` and `identity:` (expanded) as ssh's `-p` and `-i`,
/// before the user's own `options:`.
fn ssh_options(h: &RawHost, identity: Option<String>) -> Vec<String> {
    let mut options = Vec::new();
    if let Some(port) = h.port {
        options.extend(["-p".to_string(), port.to_string()]);
    }
    if let Some(identity) = identity {
        options.extend(["-i".to_string(), identity]);
    }
    options.extend(h.options.iter().cloned());
    options
}

/// Two hosts that are one place: the same `dir:` on the same destination, as ssh itself
/// resolves it (`ssh -G`: user, hostname and port after `~/.ssh/config`, `port:` and
/// `options:`). Their fleets there would share one manifest slice and overwrite each other's
/// agents. Only hosts with the same `dir:` are resolved (no ssh runs for the others); a
/// destination ssh cannot resolve is left to `up` to report.
fn same_place(hosts: &BTreeMap<String, Host>, problems: &mut Vec<String>) {
    let mut by_dir: BTreeMap<String, Vec<&Host>> = BTreeMap::new();
    for h in hosts.values() {
        let dir = super::paths::normalize(std::path::Path::new(&h.dir));
        by_dir
            .entry(dir.to_string_lossy().into_owned())
            .or_default()
            .push(h);
    }
    for (dir, group) in by_dir.into_iter().filter(|(_, g)| g.len() > 1) {
        let mut seen: Vec<(String, &Host)> = Vec::new();
        for h in group {
            let Some(dest) = destination(h) else { continue };
            match seen.iter().find(|(d, _)| *d == dest) {
                Some((_, first)) => problems.push(format!(
                    "hosts.{} and hosts.{}: both are {dest} with `dir: {dir}`, one repository there; their fleets would overwrite each other's agents: give one of them another `dir:`, or place their agents on one host",
                    first.name, h.name
                )),
                None => seen.push((dest, h)),
            }
        }
    }
}

/// Where ssh takes `host` to, `user@hostname:port`, as `ssh -G` resolves it; None when ssh
/// cannot say.
fn destination(host: &Host) -> Option<String> {
    let out = std::process::Command::new("ssh")
        .arg("-G")
        .args(&host.options)
        .arg("--")
        .arg(&host.ssh)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map(str::trim)
    };
    Some(format!(
        "{}@{}:{}",
        field("user")?,
        field("hostname")?.to_lowercase(),
        field("port")?
    ))
}

/// Where an agent runs: None for this machine, else the name of its host. An unknown name is
/// a problem (`at` names the agent or the top level).
pub(super) fn place(
    given: Option<&str>,
    raw: &BTreeMap<String, RawHost>,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    let name = given?;
    if name == LOCAL {
        return None;
    }
    if raw.contains_key(name) {
        return Some(name.to_string());
    }
    let close = closest(name, raw.keys().map(String::as_str), "")
        .map(|k| format!(" (did you mean {k}?)"))
        .unwrap_or_default();
    let known: Vec<&str> = std::iter::once(LOCAL)
        .chain(raw.keys().map(String::as_str).filter(|k| *k != LOCAL))
        .collect();
    problems.push(format!(
        "{at}host `{name}` is not in `hosts:`{close}; use one of {}, or add it under `hosts:` with `ssh:` and `dir:`",
        known.join(", ")
    ));
    None
}
