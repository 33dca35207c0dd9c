//! A sandboxed agent's network: which destinations (`host:port`) it may reach, and how its
//! box sees them. The box has a private network namespace (loopback only); each allowed
//! destination gets a listener inside ([`bridge`](super::bridge)) on a loopback address:
//! `127.0.0.1:PORT` for a loopback destination (the same address the agent was given), a
//! distinct `127.0.0.N:PORT` for a named host, which the box's own `/etc/hosts` maps the
//! name to (so TLS with the real name passes through untouched). Everything else has no
//! address in the box: a name not in its `/etc/hosts` does not resolve, an address has no
//! route.
//!
//! A CLI that uses a proxy (`HTTPS_PROXY`, which the box sets) reaches named hosts through
//! the runner's proxy instead ([`proxy`](super::proxy)): an unprivileged box cannot listen on
//! port 443, and the proxy needs no listener per host.
//!
//! The destinations come from the agent's CLI (each preset's endpoints, its base URL from
//! the agent's `env:` or fleet's own environment first, see [`crate::preset::Preset::endpoints`])
//! and the manifest's `network:` list.
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

/// One destination the box may reach: a host name or a loopback address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dest {
    /// A DNS name (lower case) or an IPv4 loopback address (`127.x.y.z`, `localhost`).
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The ports a `network:` entry without one means: HTTPS and HTTP.
pub const DEFAULT_PORTS: [u16; 2] = [443, 80];

impl Dest {
    /// Parse one `network:` entry: `host` (ports 443 and 80), `host:port`, or a URL
    /// (`https://host:port/path`, the scheme's port when none). The error says what is
    /// wrong, for a message that names the file and agent.
    pub fn parse(entry: &str) -> Result<Vec<Dest>, String> {
        let text = entry.trim();
        let (rest, scheme_port) = match text.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "https" | "wss" => (rest, Some(443)),
                "http" | "ws" => (rest, Some(80)),
                other => return Err(format!("scheme `{other}` is not http or https")),
            },
            None => (text, None),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or("");
        if authority.starts_with('[') {
            return Err("IPv6 addresses are not supported; name the host".into());
        }
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(n) if n > 0 => (h, Some(n)),
                _ => return Err(format!("port `{p}` is not a number from 1 to 65535")),
            },
            None => (authority, None),
        };
        let host = host.to_ascii_lowercase();
        check_host(&host)?;
        let ports = match port.or(scheme_port) {
            Some(p) => vec![p],
            None => DEFAULT_PORTS.to_vec(),
        };
        Ok(ports
            .into_iter()
            .map(|port| Dest {
                host: host.clone(),
                port,
            })
            .collect())
    }

    /// A loopback destination: reached inside the box at the same address.
    pub fn loopback(&self) -> Option<Ipv4Addr> {
        if self.host == "localhost" {
            return Some(Ipv4Addr::LOCALHOST);
        }
        self.host
            .parse::<Ipv4Addr>()
            .ok()
            .filter(|a| a.is_loopback())
    }
}

/// A host name as DNS writes it (letters, digits, `-`, dots between labels of at most 63),
/// or a loopback IPv4 address: other addresses cannot be given an address inside the box.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no host".into());
    }
    if let Ok(addr) = host.parse::<Ipv4Addr>() {
        if addr.is_loopback() {
            return Ok(());
        }
        return Err(format!(
            "`{host}` is an address outside this machine; name the host instead"
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "`{host}` is not a host name (letters, digits, `-` and dots)"
        ));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{host}` is not an IPv4 address or a host name"));
    }
    Ok(())
}

/// `network:` as the manifest resolves it for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// `network: all`: the box shares the host's network.
    All,
    /// Only these, besides what the agent's CLI needs (the default: none more).
    #[serde(untagged)]
    Only(Vec<String>),
}

impl Default for Network {
    fn default() -> Self {
        Network::Only(Vec::new())
    }
}

/// Where each destination is reached inside the box, and the `/etc/hosts` that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Each destination with the address its listener takes inside the box.
    pub listens: Vec<(Dest, SocketAddrV4)>,
    /// The box's `/etc/hosts`.
    pub hosts: String,
}

/// Give each destination its address inside the box: loopback ones keep theirs, each named
/// host gets the next of `127.0.0.2`, `127.0.0.3`, … (its ports share it).
pub fn layout(dests: &[Dest]) -> Layout {
    let mut named: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
    let mut listens = Vec::new();
    for d in dests {
        let ip = match d.loopback() {
            Some(ip) => ip,
            None => {
                let next = named.len() as u32 + 2;
                *named.entry(d.host.as_str()).or_insert_with(|| {
                    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + next)
                })
            }
        };
        listens.push((d.clone(), SocketAddrV4::new(ip, d.port)));
    }
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if let Some(name) = hostname().filter(|n| !named.contains_key(n.as_str())) {
        hosts.push_str(&format!("127.0.0.1\t{name}\n"));
    }
    for (name, ip) in &named {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    Layout { listens, hosts }
}

/// This machine's name (some tools look themselves up).
fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && check_host(name).is_ok()).then(|| name.to_string())
}

/// What a sandboxed agent's box may reach, as its run spec keeps it: the host's network
/// for `network: all`, else its CLI's endpoints (`var` reads the agent's environment) and
/// the manifest's `network:`, each as `host:port`.
pub fn allowlist(
    preset: Option<crate::preset::Preset>,
    launch: &crate::preset::Launch,
    network: &Network,
    var: &dyn Fn(&str) -> Option<String>,
) -> super::Network {
    let Network::Only(extra) = network else {
        return super::Network::All;
    };
    let needs = preset.map(|p| p.endpoints(launch, var)).unwrap_or_default();
    let all = dests(needs.iter().chain(extra).map(String::as_str));
    super::Network::Allow(all.iter().map(Dest::to_string).collect())
}

/// How an agent's CLI finds a setting such as its base URL: in the agent's `env:`, else in
/// the environment of this fleet command (`up` starts it with that environment).
pub fn setting(env: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |k| {
        env.get(k)
            .cloned()
            .or_else(|| std::env::var(k).ok())
            .filter(|v| !v.is_empty())
    }
}

/// The unix sockets under `dir` (at most `depth` directories down, symlinks not followed):
/// the host's daemons listen there (the user's D-Bus and systemd, an ssh or gpg agent,
/// docker), and a unix socket crosses any network namespace.
pub fn sockets_under(dir: &std::path::Path, depth: u32) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_socket() {
            found.push(e.path());
        } else if kind.is_dir() && depth > 0 {
            found.extend(sockets_under(&e.path(), depth - 1));
        }
    }
    found.sort();
    found
}

/// Every destination of a list of entries, each once, in order (entries that do not parse
/// are the manifest's to refuse; here they are left out).
pub fn dests<'a>(entries: impl IntoIterator<Item = &'a str>) -> Vec<Dest> {
    let mut all: Vec<Dest> = Vec::new();
    for d in entries
        .into_iter()
        .flat_map(|e| Dest::parse(e).unwrap_or_default())
    {
        if !all.contains(&d) {
            all.push(d);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Dest {
        let mut v = Dest::parse(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn parses_entries() {
        assert_eq!(
            one("registry.npmjs.org:443").to_string(),
            "registry.npmjs.org:443"
        );
        assert_eq!(
            one("https://API.example.com/v1").to_string(),
            "api.example.com:443"
        );
        assert_eq!(
            one("http://127.0.0.1:4711/v1").to_string(),
            "127.0.0.1:4711"
        );
        assert_eq!(
            one("http://localhost:9/").loopback(),
            Some(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(Dest::parse("pypi.org").unwrap().len(), 2);
        for bad in [
            "",
            "a b",
            "host:0",
            "host:99999",
            "ftp://x",
            "10.0.0.1",
            "[::1]:80",
            "-x.com",
            "1.2.3",
        ] {
            assert!(Dest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lays_out_addresses_and_hosts() {
        let d = dests([
            "api.anthropic.com:443",
            "127.0.0.1:4000",
            "x.org:80",
            "api.anthropic.com:80",
        ]);
        let l = layout(&d);
        let addrs: Vec<String> = l.listens.iter().map(|(_, a)| a.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "127.0.0.2:443",
                "127.0.0.1:4000",
                "127.0.0.3:80",
                "127.0.0.2:80"
            ]
        );
        assert!(l.hosts.contains("127.0.0.2\tapi.anthropic.com\n"));
        assert!(l.hosts.contains("127.0.0.3\tx.org\n"));
    }
}
