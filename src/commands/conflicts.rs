//! `fleet conflicts [NAMES] [--json]`: which agents' branches would conflict when merged,
//! each with `base` and every pair with each other, and in which files. Computed with `git
//! merge-tree --write-tree` ([`git::merge_trees`]): no worktree, index or ref is touched, so
//! it is safe while agents work. Exit 0 when every merge is clean, 1 when any conflicts.
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
    let agents = plan.select(&args.names)?;
    let names: Vec<&str> = agents.iter().map(|a| a.branch.as_str()).collect();
    let existing = git::existing_branches(&plan.repo, &names)?;
    let (with, without): (Vec<&Agent>, Vec<&Agent>) = agents
        .into_iter()
        .partition(|a| existing.contains(&a.branch));
    let base_oid = git::rev_parse(&plan.repo, &format!("{}^{{commit}}", plan.base))?;
    let rows = compare(plan, &base_oid, &with)?;
    let conflicts = rows
        .iter()
        .filter(|r| matches!(r.merge, TreeMerge::Conflict(_)))
        .count();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(plan, &rows, &without))?
        );
    } else {
        print!("{}", table(&rows));
        report(&rows, &without, conflicts);
    }
    Ok(i32::from(conflicts > 0))
}

/// Each agent with the base, then every pair of agents, in manifest order.
fn compare<'a>(plan: &'a Plan, base_oid: &str, agents: &[&'a Agent]) -> Result<Vec<Row<'a>>> {
    let full = |a: &Agent| format!("refs/heads/{}", a.branch);
    let mut rows = Vec::new();
    let mut pairs = Vec::new();
    for right in agents {
        pairs.push((base_oid.to_string(), full(right)));
        rows.push((plan.base.as_str(), plan.base.as_str(), true, *right));
    }
    for (i, left) in agents.iter().enumerate() {
        for right in &agents[i + 1..] {
            pairs.push((full(left), full(right)));
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
fn table(rows: &[Row]) -> String {
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

/// Under the table: the agents left out, and the count of conflicts.
fn report(rows: &[Row], without: &[&Agent], conflicts: usize) {
    if !without.is_empty() {
        let names: Vec<&str> = without.iter().map(|a| a.name.as_str()).collect();
        crate::info!("not compared (no branch yet): {}", names.join(", "));
    }
    match (rows.len(), conflicts) {
        (0, _) => crate::info!("no agent has a branch yet: nothing to compare"),
        (n, 0) => crate::info!(
            "all {n} merge{} clean",
            if n == 1 { " is" } else { "s are" }
        ),
        (n, c) => crate::info!(
            "{c} of {n} merge{} conflict{}",
            if n == 1 { "" } else { "s" },
            if c == 1 { "s" } else { "" }
        ),
    }
}
