//! `fleet conflicts [NAMES] [--json]`: which agents' branches would conflict when merged,
//! each with `base` and every pair with each other, and in which files. Computed with `git
//! merge-tree --write-tree` ([`git::merge_trees`]): no worktree, index or ref is touched, so
//! it is safe while agents work. Agents on other hosts are compared on their branches fetched
//! from there (as `status` fetches them). The table lists the pairs that conflict (every
//! pair with `--all`), then one line for the rest and what to do next. Exit 0 when every
//! merge is clean, 1 when any conflicts.
use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::ConflictsArgs;
use crate::git::{self, TreeMerge};
use crate::manifest::{Agent, Plan};

/// One merge looked at: `left` into `right` (names as the user knows them), and its result.
struct Row<'a> {
    /// The base's name, or the first agent's.
    left: &'a str,
    left_branch: &'a str,
    /// Is `left` the base (not an agent)?
    base: bool,
    right: &'a Agent,
    merge: TreeMerge,
}

pub fn run(plan: &Plan, args: &ConflictsArgs) -> Result<i32> {
    let split = plan.split_names(&args.names)?;
    let agents = match &split.local {
        Some(local) => plan.select(local)?,
        None => Vec::new(),
    };
    let names: Vec<&str> = agents.iter().map(|a| a.branch.as_str()).collect();
    let existing = git::existing_branches(&plan.repo, &names)?;
    let (with, mut without): (Vec<&Agent>, Vec<&Agent>) = agents
        .into_iter()
        .partition(|a| existing.contains(&a.branch));
    let mut with: Vec<(&Agent, String)> = with
        .into_iter()
        .map(|a| (a, format!("refs/heads/{}", a.branch)))
        .collect();
    let unreachable = remote_branches(plan, &split.hosts, &mut with, &mut without);
    let base_oid = git::rev_parse(&plan.repo, &format!("{}^{{commit}}", plan.base))?;
    let rows = compare(plan, &base_oid, &with)?;
    let conflicts = rows
        .iter()
        .filter(|r| matches!(r.merge, TreeMerge::Conflict(_)))
        .count();
    if args.json {
        let mut value = to_json(plan, &rows, &without);
        value["unreachable"] = json!(unreachable);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let shown: Vec<&Row> = rows
            .iter()
            .filter(|r| args.all || matches!(r.merge, TreeMerge::Conflict(_)))
            .collect();
        print!("{}", table(&shown));
        report(plan, &rows, &without, conflicts, args.all);
    }
    Ok(i32::from(conflicts > 0))
}

/// The agents on other hosts: their branches fetched from each host (all at once, as
/// `status` fetches them, into `fleet-HOST/BRANCH`) go to `with`, those that never started
/// to `without`; the agents of a host that does not answer are named in a warning and
/// returned.
fn remote_branches<'a>(
    plan: &'a Plan,
    hosts: &std::collections::BTreeMap<String, Vec<String>>,
    with: &mut Vec<(&'a Agent, String)>,
    without: &mut Vec<&'a Agent>,
) -> Vec<&'a str> {
    let mut unreachable = Vec::new();
    for (host, answer) in crate::hosts::ops::status(plan, hosts) {
        let wanted = &hosts[&host];
        let agents = plan
            .remote_on(&host)
            .into_iter()
            .map(|r| &r.agent)
            .filter(|a| wanted.is_empty() || wanted.contains(&a.name));
        let problem = match &answer {
            Err(e) => Some(format!("{e:#}")),
            Ok(s) => s.fetch_problem.clone(),
        };
        if let Some(problem) = problem {
            let names: Vec<&str> = agents.map(|a| a.name.as_str()).collect();
            eprintln!("warning: {problem}; not compared: {}", names.join(", "));
            unreachable.extend(names);
            continue;
        }
        let said = answer.map(|s| s.agents).unwrap_or_default();
        for a in agents {
            let started = said
                .iter()
                .any(|v| v["name"] == a.name.as_str() && !v["started_at"].is_null());
            if started {
                with.push((a, crate::hosts::ops::fetched_ref(&host, &a.branch)));
            } else {
                without.push(a);
            }
        }
    }
    unreachable
}

/// Each agent with the base, then every pair of agents, in manifest order.
fn compare<'a>(
    plan: &'a Plan,
    base_oid: &str,
    agents: &[(&'a Agent, String)],
) -> Result<Vec<Row<'a>>> {
    let mut rows = Vec::new();
    let mut pairs = Vec::new();
    for (right, at) in agents {
        pairs.push((base_oid.to_string(), at.clone()));
        rows.push((plan.base.as_str(), plan.base.as_str(), true, *right));
    }
    for (i, (left, left_at)) in agents.iter().enumerate() {
        for (right, right_at) in &agents[i + 1..] {
            pairs.push((left_at.clone(), right_at.clone()));
            rows.push((left.name.as_str(), left.branch.as_str(), false, *right));
        }
    }
    let merges = git::merge_trees(&plan.repo, &pairs)?;
    Ok(rows
        .into_iter()
        .zip(merges)
        .map(|((left, left_branch, base, right), merge)| Row {
            left,
            left_branch,
            base,
            right,
            merge,
        })
        .collect())
}

fn files(merge: &TreeMerge) -> &[String] {
    match merge {
        TreeMerge::Clean => &[],
        TreeMerge::Conflict(files) => files,
    }
}

/// The `--json` object (its shape is in the man page, CONFLICTS JSON).
fn to_json(plan: &Plan, rows: &[Row], without: &[&Agent]) -> Value {
    let merges: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "left": r.left,
                "left_branch": r.left_branch,
                "base": r.base,
                "right": r.right.name,
                "right_branch": r.right.branch,
                "clean": r.merge == TreeMerge::Clean,
                "files": files(&r.merge),
            })
        })
        .collect();
    json!({
        "base": plan.base,
        "merges": merges,
        "without_branch": without.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
    })
}

/// The table: one line per merge (PAIR, RESULT, FILES); empty without merges.
fn table(rows: &[&Row]) -> String {
    let cells: Vec<[String; 3]> = rows
        .iter()
        .map(|r| {
            let left = if r.base {
                format!("{} (base)", r.left)
            } else {
                r.left.to_string()
            };
            let result = match r.merge {
                TreeMerge::Clean => "clean",
                TreeMerge::Conflict(_) => "conflict",
            };
            [
                format!("{left}, {}", r.right.name),
                result.to_string(),
                files(&r.merge).join(", "),
            ]
        })
        .collect();
    if cells.is_empty() {
        return String::new();
    }
    let header = ["PAIR", "RESULT", "FILES"].map(str::to_string);
    let mut widths = [0usize; 2];
    for row in std::iter::once(&header).chain(&cells) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&cells)
        .map(|[pair, result, files]| {
            let l = format!(
                "{pair:<w0$}  {result:<w1$}  {files}",
                w0 = widths[0],
                w1 = widths[1]
            );
            format!("{}\n", l.trim_end())
        })
        .collect()
}

/// Under the table: the agents left out, the count of conflicts and of the clean rest, and
/// what to do about the first conflict.
fn report(plan: &Plan, rows: &[Row], without: &[&Agent], conflicts: usize, all: bool) {
    if !without.is_empty() {
        let names: Vec<&str> = without.iter().map(|a| a.name.as_str()).collect();
        crate::info!("not compared (no branch yet): {}", names.join(", "));
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    match (rows.len(), conflicts) {
        (0, _) => crate::info!("no agent has a branch yet: nothing to compare"),
        (n, 0) => crate::info!(
            "all {n} merge{} clean",
            if n == 1 { " is" } else { "s are" }
        ),
        (n, c) => {
            let clean = n - c;
            let rest = match (clean, all) {
                (0, _) => String::new(),
                (k, true) => format!("; {k} clean"),
                (k, false) => format!(
                    "; the other {k} {} clean (--all lists every pair)",
                    if k == 1 { "is" } else { "are" }
                ),
            };
            crate::info!(
                "{c} of {n} merge{} conflict{}{rest}",
                s(n),
                if c == 1 { "s" } else { "" }
            );
        }
    }
    if let Some(first) = rows
        .iter()
        .find(|r| matches!(r.merge, TreeMerge::Conflict(_)))
    {
        crate::info!("{}", next_step(plan, first));
    }
}

/// What to do about a conflicting pair: merge one, then hand the other the conflict (an
/// agent fleet can resume) or resolve it by hand.
fn next_step(plan: &Plan, row: &Row) -> String {
    let other = row.right;
    let resumable = other.preset.is_some() && other.format.is_some();
    let fix = if resumable {
        format!(
            "`fleet merge {n} --resume-agent` hands {n} the conflict to resolve",
            n = other.name
        )
    } else {
        format!(
            "resolve it by hand (git -C {} merge {})",
            crate::util::shell_quote(&plan.repo.display().to_string()),
            other.branch
        )
    };
    if row.base {
        format!(
            "next: {} conflicts with {} already: {fix}",
            other.name, plan.base
        )
    } else {
        format!(
            "next: `fleet merge {}` first; {} then conflicts with {}: {fix}",
            row.left, other.name, plan.base
        )
    }
}
