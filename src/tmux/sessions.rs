//! What the tmux server holds, read in one tmux process: the only place that lists its
//! sessions with their fleet tags and the panes of the session being watched (the monitor),
//! and that tells "no server runs" from a failure.
use anyhow::Result;

use super::{check_version, one, socket, version, TAG};

/// A live session as fleet sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    /// The `@fleet` tag; empty for sessions fleet did not create.
    pub tag: String,
}

pub(super) fn no_server(msg: &str) -> bool {
    msg.contains("no server running")
        || msg.contains("error connecting to")
        || msg.contains("no current session")
        // the server is going away (killed, crashed) while we ask
        || msg.contains("server exited unexpectedly")
}

/// All sessions of the server with their fleet tag; empty when no server runs.
pub fn sessions() -> Result<Vec<Session>> {
    if !server_socket_exists() {
        return Ok(Vec::new());
    }
    let fmt = format!("#{{session_name}}\t#{{{TAG}}}");
    match one("list-sessions", &["-F", fmt.as_str()]) {
        Ok(out) => Ok(out
            .lines()
            .filter_map(|l| {
                let (name, tag) = l.split_once('\t')?;
                Some(Session {
                    name: name.to_string(),
                    tag: tag.to_string(),
                })
            })
            .collect()),
        Err(e) if no_server(&format!("{e:#}")) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What one tmux process tells about the server: tmux's version, the sessions with their
/// fleet tags, and the panes of one session of interest (the monitor).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `tmux 3.3a`, checked against [`MIN_VERSION`].
    pub version: String,
    pub sessions: Vec<Session>,
    /// The panes of the session asked for, every window, in order.
    pub panes: Vec<Pane>,
}

/// A pane of the watched session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pane {
    /// `%N`
    pub id: String,
    /// Its window: 0 for the session's first, 1 for the next, …
    pub window: usize,
    /// Its `@fleet_agent` pane option: the agent whose log the monitor pane follows; empty
    /// for the status pane. (Not the pane's title, which what a pane prints can change.)
    pub agent: String,
    /// Its `@fleet_state` pane option: the agent's state on the monitor's border.
    pub mark: String,
    /// Its process ended (the monitor keeps such panes: `remain-on-exit`).
    pub dead: bool,
}

impl Snapshot {
    /// The watched session's panes, in order, as the monitor lays them out.
    pub fn layout(&self) -> Vec<(usize, String)> {
        self.panes
            .iter()
            .map(|p| (p.window, p.agent.clone()))
            .collect()
    }

    /// Whether a pane of the watched session has ended.
    pub fn dead_pane(&self) -> bool {
        self.panes.iter().any(|p| p.dead)
    }
}

/// Version, sessions and the panes of `watched` in one `list-panes -a` (or, when no server
/// runs, one `tmux -V`): `up` stays within a few tmux processes, the monitor's status pane
/// within one a refresh.
pub fn snapshot(watched: &str) -> Result<Snapshot> {
    let serverless = || -> Result<Snapshot> {
        Ok(Snapshot {
            version: version()?,
            ..Snapshot::default()
        })
    };
    if !server_socket_exists() {
        return serverless();
    }
    // Pane id, window, agent, mark and whether it ended only for the watched session
    // (fleet's own names and marks, no tabs); the tag, which holds a path, last so it may
    // contain anything.
    let only = |what: &str| {
        format!(
            "#{{?#{{==:#{{session_name}},{}}},{what},}}",
            watched.replace(['#', ',', '}'], "")
        )
    };
    let fmt = format!(
        "#{{version}}\t#{{session_name}}\t{}\t{}\t{}\t{}\t{}\t#{{{TAG}}}",
        only("#{pane_id}"),
        only("#{window_id}"),
        only("#{@fleet_agent}"),
        only("#{@fleet_state}"),
        only("#{pane_dead}")
    );
    let out = match one("list-panes", &["-a", "-F", fmt.as_str()]) {
        Ok(out) => out,
        Err(e) if no_server(&format!("{e:#}")) => return serverless(),
        Err(e) => return Err(e),
    };
    let mut snap = Snapshot::default();
    // The watched session's windows so far: the last one's id, and how many.
    let (mut last_window, mut windows) = ("", 0);
    for line in out.lines() {
        let f: Vec<&str> = line.splitn(8, '\t').collect();
        let [v, name, id, window, agent, mark, dead, tag] = f[..] else {
            continue;
        };
        if snap.version.is_empty() {
            snap.version = v.to_string();
        }
        if name == watched {
            if windows == 0 || last_window != window {
                (last_window, windows) = (window, windows + 1);
            }
            snap.panes.push(Pane {
                id: id.to_string(),
                window: windows - 1,
                agent: agent.to_string(),
                mark: mark.to_string(),
                dead: dead == "1",
            });
        }
        if snap.sessions.last().is_none_or(|s| s.name != name) {
            snap.sessions.push(Session {
                name: name.to_string(),
                tag: tag.to_string(),
            });
        }
    }
    snap.version = if snap.version.is_empty() {
        // A tmux too old to know `#{version}`: let `tmux -V` say which it is.
        version()?
    } else {
        check_version(format!("tmux {}", snap.version))?
    };
    Ok(snap)
}

/// False when the socket of the server fleet's tmux commands would reach is certainly not
/// there (then no server runs, and asking one costs a process for nothing): `$TMUX`'s when
/// set, else `tmux-<uid>/default` in `$TMUX_TMPDIR` or /tmp.
fn server_socket_exists() -> bool {
    socket().exists()
}
