//! `network:` and `ports:`, at the top level or per agent (the more specific level wins, as
//! for `permissions:`): the hosts a sandboxed agent may reach besides its CLI's own, or
//! `all`; the names of the TCP ports each agent gets. Each value is checked where it is
//! written, so a top-level mistake is reported once.
use super::schema::RawNetwork;
use crate::sandbox::net::{Dest, Network};

/// One `network:` value checked (`at` names the agent, or is empty at the top level).
pub(super) fn check_network(network: &RawNetwork, at: &str, problems: &mut Vec<String>) -> Network {
    let entries = match network {
        RawNetwork::Word(w) if w == "all" => return Network::All,
        RawNetwork::Word(w) => {
            problems.push(format!(
                "{at}network: `{}` is not `all` or a list of hosts; write `network: all` or `network: [{}]`",
                w.escape_debug(),
                w.escape_debug()
            ));
            return Network::default();
        }
        RawNetwork::List(entries) => entries,
    };
    for entry in entries {
        if let Err(why) = Dest::parse(entry) {
            problems.push(format!(
                "{at}network: `{}`: {why}; write `host`, `host:port` or `https://host/…` (or `network: all` to share the host's network)",
                entry.escape_debug()
            ));
        }
    }
    Network::Only(entries.clone())
}

/// The agent's `network:` (checked here), else the top level's (checked once, by
/// `resolve`), else only what its CLI needs.
pub(super) fn network(
    own: Option<&RawNetwork>,
    top: Option<&RawNetwork>,
    at: &str,
    problems: &mut Vec<String>,
) -> Network {
    match (own, top) {
        (Some(n), _) => check_network(n, at, problems),
        (None, Some(n)) => check_network(n, "", &mut Vec::new()),
        (None, None) => Network::default(),
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
        let list = RawNetwork::List(vec!["pypi.org".into(), "a b".into()]);
        assert!(matches!(check_network(&list, "", &mut p), Network::Only(_)));
        assert_eq!(p.len(), 1, "{p:?}");
        let all = RawNetwork::Word("all".into());
        assert_eq!(check_network(&all, "", &mut p), Network::All);
        assert_eq!(p.len(), 1);
        check_network(&RawNetwork::Word("none".into()), "", &mut p);
        assert_eq!(p.len(), 2);
    }
}
