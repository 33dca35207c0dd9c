//! `network:` and `ports:`, at the top level or per agent (the more specific level wins, as
//! for `permissions:`): the hosts a sandboxed agent may reach besides its CLI's own, or
//! `all`; the names of the TCP ports each agent gets. Each value is checked where it is
//! written, so a top-level mistake is reported once.
use crate::sandbox::net::{Dest, Network};

/// Problems of one `network:` value (`at` names the agent, or is empty at the top level).
pub(super) fn check_network(network: &Network, at: &str, problems: &mut Vec<String>) {
    let Network::Only(entries) = network else {
        return;
    };
    for entry in entries {
        if let Err(why) = Dest::parse(entry) {
            problems.push(format!(
                "{at}network: `{}`: {why}; write `host`, `host:port` or `https://host/…` (or `network: all` to share the host's network)",
                entry.escape_debug()
            ));
        }
    }
}

/// Problems of one `ports:` value: each a name a shell can use, once.
pub(super) fn check_ports(ports: &[String], at: &str, problems: &mut Vec<String>) {
    let mut seen: Vec<&str> = Vec::new();
    for name in ports {
        if !super::checks::env_name(name) {
            problems.push(format!(
                "{at}ports: `{}` is not a variable name (the port is given as NAME=port); use letters, digits and `_`, not starting with a digit, e.g. PORT",
                name.escape_debug()
            ));
        } else if seen.contains(&name.as_str()) {
            problems.push(format!(
                "{at}ports: `{name}` is named twice; give each port its own name"
            ));
        } else if name.starts_with("FLEET_") {
            problems.push(format!(
                "{at}ports: `{name}` would hide fleet's own variable; choose a name not starting with FLEET_"
            ));
        }
        seen.push(name);
    }
}

/// The agent's own value, else the top level's, else the default.
pub(super) fn resolve<T: Clone + Default>(own: Option<&T>, top: Option<&T>) -> T {
    own.or(top).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_ports() {
        let mut p = Vec::new();
        check_ports(
            &["PORT".into(), "1X".into(), "PORT".into(), "FLEET_X".into()],
            "a: ",
            &mut p,
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("`1X` is not a variable name"));
        assert!(p[1].contains("named twice"));
    }

    #[test]
    fn checks_network() {
        let mut p = Vec::new();
        check_network(
            &Network::Only(vec!["pypi.org".into(), "a b".into()]),
            "",
            &mut p,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        check_network(&Network::All, "", &mut p);
        assert_eq!(p.len(), 1);
    }
}
