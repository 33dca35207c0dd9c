//! `ports:`: each agent gets a TCP port of its own for each name, given to its steps as
//! `NAME=port`. Chosen under the `.fleet` lock (the caller holds it: `up`, the queue,
//! `continue`), so agents started at once never get the same one; kept in
//! `.fleet/ports.json` (agent → name → port) so a restart gets the same ports.
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::state::{self, Dir};

/// agent → port name → port.
pub type Table = BTreeMap<String, BTreeMap<String, u16>>;

/// Where the ports of a fleet are kept.
pub fn path(dir: &Dir) -> PathBuf {
    dir.root.join("ports.json")
}

/// The ports each agent was given so far (none when nothing was).
pub fn table(dir: &Dir) -> Table {
    state::read_json(&path(dir)).unwrap_or_default()
}

/// The ports of `agent` for `names`: those it had, a new free one for each new name (the
/// names it no longer has give theirs up). The caller holds the `.fleet` lock.
pub fn assign(dir: &Dir, agent: &str, names: &[String]) -> Result<BTreeMap<String, u16>> {
    let mut all = table(dir);
    let had = all.remove(agent).unwrap_or_default();
    let mut mine: BTreeMap<String, u16> = names
        .iter()
        .filter_map(|n| had.get(n).map(|p| (n.clone(), *p)))
        .collect();
    let mut taken: Vec<u16> = all.values().flat_map(|m| m.values().copied()).collect();
    taken.extend(mine.values().copied());
    for name in names {
        if mine.contains_key(name) {
            continue;
        }
        let port = free_port(&taken)?;
        taken.push(port);
        mine.insert(name.clone(), port);
    }
    if mine == had {
        return Ok(mine);
    }
    if !mine.is_empty() {
        all.insert(agent.to_string(), mine.clone());
    }
    dir.create()?;
    state::write_json(&path(dir), &all)?;
    Ok(mine)
}

/// A port nobody listens on now (on loopback or every address) and no agent of this fleet
/// has: tried at random below the kernel's range for outgoing connections (so a client's
/// own port never takes an agent's), then any the kernel gives.
fn free_port(taken: &[u16]) -> Result<u16> {
    let (low, high) = (20000u32, ephemeral_start().clamp(20001, 65536));
    let mut seed = seed();
    for _ in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = (low + (seed % u64::from(high - low)) as u32) as u16;
        if !taken.contains(&port) && free(port) {
            return Ok(port);
        }
    }
    for _ in 0..50 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !taken.contains(&port) && free(port) {
            return Ok(port);
        }
    }
    bail!("cannot find a free TCP port on this machine")
}

/// Nothing listens on `port` (loopback or every address).
fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// The first port of the kernel's range for outgoing connections (32768 by default).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (nanos ^ (u64::from(std::process::id()) << 32)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_distinct_ports_and_keeps_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::new(&tmp.path().join(".fleet"));
        let names = vec!["PORT".to_string(), "DB_PORT".to_string()];
        let a = assign(&dir, "a", &names).unwrap();
        let b = assign(&dir, "b", &names).unwrap();
        let mut all: Vec<u16> = a.values().chain(b.values()).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4, "{a:?} {b:?}");
        assert_eq!(assign(&dir, "a", &names).unwrap(), a, "kept");
        let fewer = assign(&dir, "a", &names[..1]).unwrap();
        assert_eq!(fewer.len(), 1);
        assert_eq!(fewer["PORT"], a["PORT"]);
        assert_eq!(table(&dir)["b"], b);
        assert!(assign(&dir, "a", &[]).unwrap().is_empty());
        assert!(!table(&dir).contains_key("a"));
    }
}
