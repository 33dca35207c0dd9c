//! What `fleet doctor` learns of the other hosts of the manifest, all at once (a thread and
//! one ssh connection per host): whether each answers over ssh, its fleet (or the copy `up`
//! would make), tmux and git there, and its repository directory. Each finding as doctor
//! prints it; nothing is changed anywhere.
use super::install::{platform_here, shown_copy, there, There};
use super::ssh::{each, fleet_version, Link};
use crate::manifest::{Host, Plan};

/// One thing doctor says about a host.
pub enum Finding {
    Ok(String),
    /// How things are, nothing to fix.
    Info(String),
    Problem {
        what: String,
        fix: String,
    },
}

/// Every host of `hosts:` (used by an agent or not), in `hosts:` order, its findings.
pub fn hosts(plan: &Plan) -> Vec<Finding> {
    let hosts: Vec<&Host> = plan.hosts.values().collect();
    let here = platform_here().unwrap_or_default();
    each(&hosts, |h| Ok(host(h, &here)))
        .into_iter()
        .flat_map(|r| r.unwrap_or_default())
        .collect()
}

/// The findings of one host.
fn host(h: &Host, here: &str) -> Vec<Finding> {
    let answer = Link::open(h).and_then(|link| there(&link));
    let t = match answer {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding::Problem {
                what: format!("{e:#}"),
                fix: format!(
                    "make `ssh {} true` work without a prompt (fleet runs ssh with BatchMode=yes): the machine up and reachable, its host key in known_hosts, your key loaded or named in ~/.ssh/config or `hosts.{}.options`",
                    h.ssh, h.name
                ),
            }]
        }
    };
    let at = format!("host {}", h.name);
    let mut out = vec![Finding::Ok(format!(
        "{at}: answers over ssh ({}, {})",
        h.ssh, t.platform
    ))];
    out.push(fleet(h, &t, here));
    let (tm, g) = (crate::tmux::MIN_VERSION, crate::git::MIN_VERSION);
    for (tool, found, least) in [("tmux", &t.tmux, tm), ("git", &t.git, g)] {
        out.push(match found {
            Some(v) => Finding::Ok(format!("{at}: {v}")),
            None => Finding::Problem {
                what: format!("{at}: {tool} not found there"),
                fix: format!(
                    "install {tool} {}.{} or newer on {} (apt-get install {tool})",
                    least.0, least.1, h.ssh
                ),
            },
        });
    }
    out.push(match t.repo.as_str() {
        "git" => Finding::Ok(format!("{at}: repository {}", h.dir)),
        "dir" => Finding::Info(format!(
            "{at}: {} is not a git repository yet; `fleet up` makes it one (git init)",
            h.dir
        )),
        _ => Finding::Info(format!(
            "{at}: {} does not exist yet; `fleet up` creates it",
            h.dir
        )),
    });
    out
}

/// The fleet there: this version (its own or the copy), or what `up` will do about it.
fn fleet(h: &Host, t: &There, here: &str) -> Finding {
    let at = format!("host {}", h.name);
    let want = fleet_version();
    if t.own.as_deref() == Some(want.as_str()) {
        return Finding::Ok(format!("{at}: {want} (`{}`)", h.fleet));
    }
    if t.copy.as_deref() == Some(want.as_str()) {
        return Finding::Ok(format!("{at}: {want} (fleet's copy, {})", shown_copy()));
    }
    let own = match &t.own {
        Some(v) => format!("`{}` there is {v}, this one is {want}", h.fleet),
        None => format!("`{}` does not run there", h.fleet),
    };
    if t.platform == here {
        return Finding::Info(format!(
            "{at}: {own}; `fleet up` copies this fleet there ({}), the same platform",
            shown_copy()
        ));
    }
    Finding::Problem {
        what: format!(
            "{at}: {own}, and it is `{}` there, `{here}` here, so fleet cannot copy itself",
            t.platform
        ),
        fix: format!(
            "install {want} on {} (`cargo install --path .` from this version's source) and give its path as `hosts.{}.fleet`",
            h.ssh, h.name
        ),
    }
}
