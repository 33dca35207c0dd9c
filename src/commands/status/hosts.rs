//! `fleet status` of a fleet with agents on other hosts: this machine's agents and each
//! host's (one ssh connection per host, all at once), merged: `host` in `--json` (`local`
//! here), a HOST column in the table. A host that does not answer has its agents
//! `unreachable`, the reason naming the host; the others are reported as usual.
use anyhow::Result;
use serde_json::{json, Value};

use super::show::to_json;
use crate::launch::view::{collect, owned, Detail};
use crate::manifest::Plan;
use crate::tmux;

/// The agents' objects of `status --json`, each with its `host`, and whether the monitor
/// runs here.
pub fn agents(plan: &Plan, names: &[String]) -> Result<(Vec<Value>, bool)> {
    let split = plan.split_names(names)?;
    let sessions = tmux::sessions()?;
    let owned = owned(plan, &sessions);
    let mut out = Vec::new();
    if let Some(local) = &split.local {
        let agents = plan.select(local)?;
        let views = collect(plan, &agents, &owned, Detail::Full);
        let value = to_json(plan, &views, false);
        out.extend(value["agents"].as_array().cloned().unwrap_or_default());
    }
    for (host, answer) in crate::launch::hosts::status(plan, &split.hosts) {
        let wanted = &split.hosts[&host];
        let remote = plan
            .remote_on(&host)
            .into_iter()
            .filter(|r| wanted.is_empty() || wanted.contains(&r.agent.name));
        match &answer {
            Err(e) => eprintln!("warning: {e:#}"),
            Ok(s) => s
                .fetch_problem
                .iter()
                .for_each(|p| eprintln!("warning: {p}")),
        }
        for r in remote {
            let mut a = match &answer {
                Ok(s) => s
                    .agents
                    .iter()
                    .find(|a| a["name"] == r.agent.name.as_str())
                    .cloned()
                    .unwrap_or_else(|| placeholder(&r.agent, "pending", None)),
                Err(e) => placeholder(&r.agent, "unreachable", Some(format!("{e:#}"))),
            };
            a["host"] = host.clone().into();
            out.push(a);
        }
    }
    Ok((out, owned.contains(&plan.monitor_session())))
}

/// An agent its host did not report: every field of `status --json`, nothing known.
fn placeholder(agent: &crate::manifest::Agent, state: &str, reason: Option<String>) -> Value {
    json!({
        "name": agent.name, "state": state, "exit_code": null, "reason": reason,
        "attempt": 0, "session": agent.session, "branch": agent.branch, "worktree": null,
        "log": null, "started_at": null, "finished_at": null, "commits_ahead": 0,
        "files_changed": 0, "insertions": 0, "deletions": 0, "last_line": "", "usage": null,
        "session_id": null, "permissions": null, "denials": 0, "verify_retry": 0,
        "retry_at": null, "retrying": null, "uncommitted": false, "after": agent.after,
    })
}

/// `status --json` of the whole fleet.
pub fn json(plan: &Plan, names: &[String]) -> Result<Value> {
    let (agents, monitor) = agents(plan, names)?;
    Ok(json!({
        "project": plan.project,
        "manifest": plan.manifest,
        "monitor": {"session": plan.monitor_session(), "running": monitor},
        "agents": agents,
    }))
}

/// The table of the whole fleet, with a HOST column.
pub fn table(plan: &Plan, names: &[String], width: usize) -> Result<String> {
    let (agents, monitor) = agents(plan, names)?;
    let header: Vec<String> = [
        "HOST",
        "AGENT",
        "STATE",
        "BRANCH",
        "AHEAD",
        "FILES",
        "+/-",
        "LAST LINE",
    ]
    .map(String::from)
    .to_vec();
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
    let mut rows = vec![header];
    for a in &agents {
        // Why a host is unreachable is said once, on stderr, not in every row.
        let state = match a["reason"].as_str() {
            Some(r) if a["state"] != "unreachable" => format!("{} ({r})", text(&a["state"])),
            _ => text(&a["state"]),
        };
        rows.push(vec![
            text(&a["host"]),
            text(&a["name"]),
            state,
            text(&a["branch"]),
            a["commits_ahead"].to_string(),
            a["files_changed"].to_string(),
            format!("+{}/-{}", a["insertions"], a["deletions"]),
            crate::util::display_text(&text(&a["last_line"])).into_owned(),
        ]);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        let line: String = line.trim_end().chars().take(width.max(20)).collect();
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(if monitor {
        "monitor: running here (shows this machine's agents)\n"
    } else {
        "monitor: not running (fleet up starts it)\n"
    });
    Ok(out)
}
