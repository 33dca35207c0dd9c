//! fleet's commands on other hosts: each host's own fleet runs the agents placed there, from
//! the manifest slice this fleet sends it; this module brings the code there (a git push of
//! the base), and runs `up`, `status --json` and `down` there over one [`Link`] per host,
//! all hosts at once. The commands merge what each host says with this machine's part.
use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};

use super::ssh::{each, Link, REMOTE_MANIFEST};
use crate::manifest::{Host, Plan};

/// What one host's fleet said (stdout, stderr), for the command to print.
pub struct Said {
    pub stdout: String,
    pub stderr: String,
    /// After `up`: the objects of `status --json` there of the agents it was asked to start
    /// (none when that ask failed); empty for other commands.
    pub agents: Vec<serde_json::Value>,
}

/// The hosts of `names` (from [`Plan::split_names`]), in `hosts:` order.
fn hosts_of<'p>(plan: &'p Plan, names: &BTreeMap<String, Vec<String>>) -> Vec<&'p Host> {
    plan.hosts
        .values()
        .filter(|h| names.contains_key(&h.name))
        .collect()
}

/// The output of a finished remote command, or an error naming the host with what it said.
fn said(host: &Host, what: &str, out: std::process::Output) -> Result<Said> {
    let said = Said {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        agents: Vec::new(),
    };
    if !out.status.success() {
        bail!(
            "{what} on host {} failed ({}): {}",
            host.name,
            out.status,
            said.stderr.trim()
        );
    }
    Ok(said)
}

/// The repository there made ready for the push and the manifest slice written, both by
/// the host's own fleet (`fleet _receive DIR`, the slice on its stdin), so every write there
/// goes through its `safe_fs` as it would here: never a shell's `>` or `>>`, which would
/// follow a symlink in the repository there.
fn receive(link: &Link, slice: &str) -> Result<()> {
    let script = format!(
        "exec {} _receive {}",
        link.fleet_program(),
        super::ssh::remote_path(&link.host.dir)
    );
    said(
        link.host,
        "preparing the repository",
        link.run(&script, Some(slice.as_bytes()))?,
    )?;
    Ok(())
}

/// The links to the hosts of `names`, each opened and its fleet's version checked, all at
/// once: what `up` needs before it changes anything anywhere. An error lists every host
/// that cannot be used, and why.
pub fn connect<'p>(plan: &'p Plan, names: &BTreeMap<String, Vec<String>>) -> Result<Vec<Link<'p>>> {
    let hosts = hosts_of(plan, names);
    let results = each(&hosts, |h| {
        let link = Link::open(h)?;
        super::install::ensure(&link)?;
        Ok(link)
    });
    let mut links = Vec::new();
    let mut problems = Vec::new();
    for r in results {
        match r {
            Ok(link) => links.push(link),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("nothing was started; {}", problems.join("\n  "));
    }
    Ok(links)
}

/// `fleet up` on one host: the repository, the base pushed, the slice sent, `up` run.
fn up_on(plan: &Plan, link: &Link, names: &[String], rerun: bool) -> Result<Said> {
    let host = link.host;
    receive(link, &plan.slice(&host.name)?)?;
    let refspec = format!("refs/heads/{b}:refs/heads/{b}", b = plan.base);
    let (git_ssh, _slot) = link.git_ssh_command()?;
    crate::git::push(&plan.repo, &link.git_url(), &[refspec], &git_ssh)
        .with_context(|| format!("cannot push {} to host {}", plan.base, host.name))?;
    let mut script = format!(
        "{}exec {} -f {REMOTE_MANIFEST} -q up",
        link.cd(),
        link.fleet_program()
    );
    if rerun {
        script.push_str(" --rerun");
    }
    for n in names {
        script.push(' ');
        script.push_str(&crate::util::shell_quote(n));
    }
    let mut said = said(host, "fleet up", link.run(&script, None)?)?;
    // Their states now, for the lines `up` prints (over the same connection).
    let mut args = vec!["status".to_string(), "--json".into()];
    args.extend(names.iter().cloned());
    said.agents = status_json(link, &args).unwrap_or_default();
    Ok(said)
}

/// `fleet up` over every link (from [`connect`]), at once; each host's answer.
pub fn up(
    plan: &Plan,
    links: &[Link],
    names: &BTreeMap<String, Vec<String>>,
    rerun: bool,
) -> Vec<(String, Result<Said>)> {
    let results = each(links, |link| {
        up_on(plan, link, &names[&link.host.name], rerun)
    });
    links
        .iter()
        .map(|l| l.host.name.clone())
        .zip(results)
        .collect()
}

/// A fleet command on a host where `up` may never have run (no manifest there, not even
/// the repository): nothing to do there then (`none` is printed instead).
fn fleet_if_up(link: &Link, args: &[String], none: &str) -> Result<std::process::Output> {
    let mut script = format!(
        "if [ ! -f {}/{REMOTE_MANIFEST} ]; then printf '%s' {}; exit 0; fi; {}exec {} -f {REMOTE_MANIFEST}",
        super::ssh::remote_path(&link.host.dir),
        crate::util::shell_quote(none),
        link.cd(),
        link.fleet_program()
    );
    for a in args {
        script.push(' ');
        script.push_str(&crate::util::shell_quote(a));
    }
    link.run(&script, None)
}

/// Where `status` fetches the branch of an agent on `host`: `git branch -r` shows it as
/// `fleet-HOST/BRANCH`, and `diff` compares it with the base, here.
pub fn fetched_ref(host: &str, branch: &str) -> String {
    format!("refs/remotes/fleet-{host}/{branch}")
}

/// `fleet status --json ARGS…` there (`args` from `status` on): its agents' objects (none
/// when `up` never ran there). An error names the host when it stopped answering, its fleet
/// failed or said something else than JSON.
pub fn status_json(link: &Link, args: &[String]) -> Result<Vec<serde_json::Value>> {
    let host = link.host;
    let out = said(host, "fleet status", fleet_if_up(link, args, "{}")?)?;
    let value: serde_json::Value = serde_json::from_str(&out.stdout)
        .map_err(|e| anyhow!("host {}: its fleet's status is not JSON: {e}", host.name))?;
    Ok(value["agents"].as_array().cloned().unwrap_or_default())
}

/// The refspecs of the branches of `host`'s agents that started and moved since the last
/// fetch: an agent whose `head` there (in its `status --json`) is the commit already
/// fetched here needs no fetch, so a warm `status` of agents that did not commit runs no
/// git at all (a host whose fleet does not say `head` has every branch fetched).
fn to_fetch(plan: &Plan, host: &str, agents: &[serde_json::Value]) -> Vec<String> {
    let fetched = crate::git::ref_oids(&plan.repo, &format!("refs/remotes/fleet-{host}/"))
        .unwrap_or_default();
    plan.remote_on(host)
        .iter()
        .filter(|r| {
            agents.iter().any(|a| {
                a["name"] == r.agent.name.as_str()
                    && !a["started_at"].is_null()
                    && a["head"].as_str().is_none_or(|head| {
                        fetched
                            .get(&fetched_ref(host, &r.agent.branch))
                            .map(String::as_str)
                            != Some(head)
                    })
            })
        })
        .map(|r| {
            let b = &r.agent.branch;
            format!("+refs/heads/{b}:{}", fetched_ref(host, b))
        })
        .collect()
}

/// What a host's fleet said about its agents.
pub struct HostStatus {
    /// Its agents' objects of `status --json`.
    pub agents: Vec<serde_json::Value>,
    /// Why the fetch of their branches failed, when it did.
    pub fetch_problem: Option<String>,
}

/// `fleet status --json` of every host of `names`, at once, then one `git fetch` per host of
/// the branches of its agents that started (into [`fetched_ref`]), over the same connection.
pub fn status(
    plan: &Plan,
    names: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, Result<HostStatus>)> {
    let hosts = hosts_of(plan, names);
    let results = each(&hosts, |h| {
        let link = Link::open(h)?;
        let mut args = vec!["status".to_string(), "--json".into()];
        args.extend(names[&h.name].iter().cloned());
        let agents = status_json(&link, &args)?;
        let refspecs = to_fetch(plan, &h.name, &agents);
        let fetch_problem = if refspecs.is_empty() {
            None
        } else {
            let (git_ssh, _slot) = link.git_ssh_command()?;
            crate::git::fetch(&plan.repo, &link.git_url(), &refspecs, &git_ssh)
                .err()
                .map(|e| format!("host {}: cannot fetch its agents' branches: {e:#}", h.name))
        };
        Ok(HostStatus {
            agents,
            fetch_problem,
        })
    });
    hosts.iter().map(|h| h.name.clone()).zip(results).collect()
}

/// `fleet down` (with `args`, e.g. `--rm-worktrees`) on every host of `names`, at once.
pub fn down(
    plan: &Plan,
    names: &BTreeMap<String, Vec<String>>,
    args: &[&str],
) -> Vec<(String, Result<Said>)> {
    let hosts = hosts_of(plan, names);
    let results = each(&hosts, |h| {
        let link = Link::open(h)?;
        let mut all: Vec<String> = std::iter::once("down")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        all.extend(names[&h.name].iter().cloned());
        let answer = said(h, "fleet down", fleet_if_up(&link, &all, "")?);
        // Its kept ssh connections end with it (each once its last session ended).
        let _ = super::ssh::close(h);
        answer
    });
    hosts.iter().map(|h| h.name.clone()).zip(results).collect()
}

/// An agent on another host as `merge` needs it: its branch fetched here, and its state as
/// its host's fleet says.
pub struct Fetched {
    pub name: String,
    /// Its host's name.
    pub host: String,
    /// Where its branch was fetched ([`fetched_ref`]); None when it never started there
    /// (no branch to fetch).
    pub fetched: Option<String>,
    /// Its state there (`pending` when its host's fleet does not know it).
    pub state: crate::state::State,
    /// Its object of `status --json` there.
    pub status: serde_json::Value,
}

/// The agents `names` of `host` (all of them when empty): one link, one `status --json` and
/// one fetch of their branches (as [`status`] does). An error names the host when it does
/// not answer, its fleet fails, or the fetch fails: nothing half-fetched is reported.
pub fn fetch_agents(plan: &Plan, host: &str, names: &[String]) -> Result<Vec<Fetched>> {
    let ask = BTreeMap::from([(host.to_string(), names.to_vec())]);
    let Some((_, answer)) = status(plan, &ask).pop() else {
        bail!("no host {host} in `hosts:`");
    };
    let answer = answer?;
    if let Some(problem) = answer.fetch_problem {
        bail!("{problem}");
    }
    let mut out = Vec::new();
    for r in plan.remote_on(host) {
        if !names.is_empty() && !names.contains(&r.agent.name) {
            continue;
        }
        let found = answer
            .agents
            .iter()
            .find(|a| a["name"] == r.agent.name.as_str());
        let status = found.cloned().unwrap_or(serde_json::Value::Null);
        let state = match found {
            None => crate::state::State::Pending,
            Some(a) => serde_json::from_value(a["state"].clone()).map_err(|_| {
                anyhow!(
                    "host {host}: its fleet reports {} as `{}`, a state this fleet does not know",
                    r.agent.name,
                    a["state"]
                )
            })?,
        };
        let started = found.is_some_and(|a| !a["started_at"].is_null());
        out.push(Fetched {
            name: r.agent.name.clone(),
            host: host.to_string(),
            fetched: started.then(|| fetched_ref(host, &r.agent.branch)),
            state,
            status,
        });
    }
    Ok(out)
}
