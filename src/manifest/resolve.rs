//! Turning the raw manifest into a [`Plan`]: the top-level settings first ([`Top`]: project,
//! `worktree_dir`, `.fleet/`, limits, prices, env, `copy:`), then each agent against them
//! ([`Agents`]), then where everything is (logs, worktrees, state) as a whole. Every problem
//! is collected; none stops the rest from being checked.
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::agent::Agents;
use super::checks::{env_map, sanitize, valid_name};
use super::paths::{check_places, line_break, normalize, real_path, unusable_dir};
use super::places::{symlink_problems, Places};
use super::schema::{RawAgent, RawManifest};
use super::top::Top;
use super::yaml::agent_lines;
use super::Plan;

/// The [`Plan`] of the manifest at `path` (in `dir`, inside `repo`), its problems noted in
/// `problems` (the plan is only used when there are none).
pub(super) fn resolve(
    path: &Path,
    dir: &Path,
    repo: Option<&Path>,
    mut raw: RawManifest,
    text: &str,
    problems: &mut Vec<String>,
) -> Result<Plan> {
    let top = top_level(path, dir, repo, &mut raw, problems);
    let lines = agent_lines(text, &raw.agents);
    let indices = raw
        .indices
        .clone()
        .unwrap_or_else(|| (0..raw.agents.len()).collect());
    let raw_agents = std::mem::take(&mut raw.agents);
    let hosts = super::hosts::hosts(&raw.hosts, problems);
    let top_host = super::hosts::place(raw.host.as_deref(), &raw.hosts, "host: ", problems);
    let mut resolved = Agents::new(&raw, &top);
    let (places, entries) = add_agents(
        &raw,
        raw_agents,
        &indices,
        &lines,
        top_host,
        &mut resolved,
        problems,
    );
    resolved.finish();
    let Agents {
        agents,
        mut warnings,
        log_ats,
        ..
    } = resolved;
    if raw.radar == Some(super::Radar::Tell) {
        warnings.extend(untold(&agents));
    }
    check_where(path, &top, &agents, &log_ats, problems);
    super::graph::check(&agents, &entries, problems);
    let (agents, remote, slice_top) = super::slice::split(agents, &places, text, problems);
    // With hosts, each place (this machine, each host) enforces its agents' share.
    let all = agents.len() + remote.len();
    let (budget, whole_budget) = budgets(&raw, agents.len(), all, problems);
    Ok(Plan {
        manifest: path.to_path_buf(),
        dir: dir.to_path_buf(),
        repo: top.repo_path,
        project: top.project,
        base: raw.base.unwrap_or_default(),
        worktree_dir: top.worktree_dir,
        state_dir: top.state_dir,
        setup: raw.setup,
        copy: top.copy,
        max_parallel: match &raw.max_parallel {
            Some(super::schema::RawParallel::All(n)) => Some(*n),
            _ => None,
        },
        max_parallel_per: match &raw.max_parallel {
            Some(super::schema::RawParallel::Per(m)) => m.clone(),
            _ => std::collections::BTreeMap::new(),
        },
        budget,
        whole_budget,
        per_window: top.per_window.max(1) as usize,
        monitor_enabled: raw.monitor.as_ref().and_then(|m| m.enabled).unwrap_or(true),
        radar: raw.radar.unwrap_or_default(),
        agents,
        hosts,
        remote,
        slice_top,
        prices: std::mem::take(&mut raw.prices),
        warnings,
        base_problems: Vec::new(),
    })
}

/// Each agent checked against the top level into `resolved` (`indices`: each one's index
/// as written, `lines`: its line in the text), with where it runs (its `host:`, else `top_host`):
/// (name, place) of each, and its entry in the dependency graph.
fn add_agents(
    raw: &RawManifest,
    raw_agents: Vec<RawAgent>,
    indices: &[usize],
    lines: &[Option<usize>],
    top_host: Option<String>,
    resolved: &mut Agents,
    problems: &mut Vec<String>,
) -> (Vec<(String, Option<String>)>, Vec<super::graph::Entry>) {
    let mut places = Vec::new();
    let mut entries = Vec::new();
    for (n, mut a) in raw_agents.into_iter().enumerate() {
        let i = indices[n];
        let at = match lines[n] {
            Some(line) => format!("agents[{i}] ({}) at line {line}: ", a.name),
            None => format!("agents[{i}] ({}): ", a.name),
        };
        let place = match a.host.take() {
            Some(h) => super::hosts::place(Some(&h), &raw.hosts, &at, problems),
            None => top_host.clone(),
        };
        entries.push(super::graph::Entry {
            name: a.name.clone(),
            at: at.clone(),
            host: place.clone(),
        });
        places.push((a.name.clone(), place));
        resolved.add(a, i, &at, problems);
    }
    (places, entries)
}

/// The `budget:` this machine enforces (its `here` agents' share of `all`; its problems
/// noted) and the whole fleet's.
fn budgets(
    raw: &RawManifest,
    here: usize,
    all: usize,
    problems: &mut Vec<String>,
) -> (Option<crate::state::Budget>, Option<crate::state::Budget>) {
    let budget = raw
        .budget
        .as_ref()
        .and_then(|b| crate::state::Budget::check(b, problems))
        .map(|b| b.share(here, all));
    let whole_budget = raw
        .budget
        .as_ref()
        .and_then(|b| crate::state::Budget::check(b, &mut Vec::new()));
    (budget, whole_budget)
}

/// `radar: tell` reaches only agents whose conversation fleet can resume: one warning
/// naming the others (their own `command:`, an interactive one, aider, shell).
fn untold(agents: &[super::Agent]) -> Option<String> {
    let names: Vec<&str> = agents
        .iter()
        .filter(|a| {
            a.interactive || a.format.is_none() || !a.preset.is_some_and(super::Preset::can_resume)
        })
        .map(|a| a.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    let one = names.len() == 1;
    Some(format!(
        "radar: tell cannot tell {} {} of overlaps, as fleet cannot resume {} conversation (its own `command:`, interactive, aider or shell); status still shows {} overlaps",
        if one { "agent" } else { "agents" },
        names.join(", "),
        if one { "its" } else { "their" },
        if one { "its" } else { "their" },
    ))
}

/// The top-level settings resolved and checked, in the order their problems are reported.
fn top_level<'a>(
    path: &Path,
    dir: &'a Path,
    repo: Option<&'a Path>,
    raw: &mut RawManifest,
    problems: &mut Vec<String>,
) -> Top<'a> {
    let repo_path = repo
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    let repo_name = repo_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let project = project(raw.project.take(), &repo_name, problems);
    let worktree_dir = worktree_dir(raw, dir, repo, &repo_path, &repo_name, problems);
    if raw.setup.as_ref().is_some_and(|v| v.contains('\0')) {
        problems.push(
            "setup holds a NUL byte, which no shell takes (in double quotes YAML reads \\0 as NUL)"
                .into(),
        );
    }
    check_usable(path, &worktree_dir, problems);
    let state_dir = dir.join(".fleet");
    let state_dir_bad = check_state_dir(&state_dir, problems);
    let per_window = check_settings(raw, problems);
    let env = env_map(&raw.env, "", problems);
    if let Some(n) = &raw.network {
        super::net::check_network(n, "", problems);
    }
    if let Some(p) = &raw.ports {
        super::net::check_ports(p, "", problems);
    }
    let copy = copies(raw, dir, &repo_path, problems);
    let seed = super::seed::seeds(&raw.seed, dir, &repo_path, "", problems);
    if raw.agents.is_empty()
        && raw.indices.as_ref().is_none_or(Vec::is_empty)
        && !raw.agents_unreadable
    {
        problems.push("agents: the list is empty; add at least one agent with `name:` and `task:` or `prompt:`".into());
    }
    Top {
        manifest: path.to_path_buf(),
        dir,
        repo,
        repo_path,
        repo_name,
        project,
        worktree_dir,
        state_dir,
        state_dir_bad,
        per_window,
        env,
        copy,
        seed,
    }
}

/// `project:`, else the repository's directory name made a valid name.
fn project(given: Option<String>, repo_name: &str, problems: &mut Vec<String>) -> String {
    match given {
        Some(p) => {
            if !valid_name(&p) {
                problems.push(format!(
                    "project: `{p}` is not a valid name; use letters, digits, `-` and `_` (tmux rewrites `.` and `:`), at most 64"
                ));
            }
            p
        }
        None => sanitize(repo_name),
    }
}

/// `worktree_dir:`, else `<repo>.worktrees` beside the repository; not inside `.git`.
fn worktree_dir(
    raw: &RawManifest,
    dir: &Path,
    repo: Option<&Path>,
    repo_path: &Path,
    repo_name: &str,
    problems: &mut Vec<String>,
) -> PathBuf {
    let worktree_dir = match &raw.worktree_dir {
        // Through symlinks, as git records worktrees: fleet finds its own in git's list.
        Some(d) => real_path(&dir.join(d)),
        None => real_path(
            &repo_path
                .parent()
                .unwrap_or(Path::new("/"))
                .join(format!("{repo_name}.worktrees")),
        ),
    };
    if let Some(repo) = repo {
        if worktree_dir.starts_with(repo.join(".git")) {
            problems.push(format!(
                "worktree_dir: {} is inside .git; choose a directory outside it, e.g. ../{repo_name}.worktrees",
                worktree_dir.display()
            ));
        }
    }
    worktree_dir
}

/// The manifest's path and `worktree_dir` are paths tmux and git can take, and fleet can
/// create the worktrees there.
fn check_usable(path: &Path, worktree_dir: &Path, problems: &mut Vec<String>) {
    // tmux takes no argument with a line break (and git's worktree list would split it).
    if line_break(path) {
        problems.push(format!(
            "its path {:?} holds a line break, which tmux cannot take; rename that directory",
            path.display()
        ));
    }
    if line_break(worktree_dir) {
        problems.push(format!(
            "worktree_dir: {:?} holds a line break, which tmux and git cannot take; choose another",
            worktree_dir.display()
        ));
    }
    if let Some(why) = unusable_dir(worktree_dir) {
        problems.push(format!(
            "worktree_dir: {} cannot hold worktrees: {why}; set `worktree_dir:` to a directory fleet can create",
            worktree_dir.display()
        ));
    }
}

/// `.fleet/` is a directory or can become one. True when something else is there (a file).
fn check_state_dir(state_dir: &Path, problems: &mut Vec<String>) -> bool {
    let state_dir_bad = state_dir.exists() && !state_dir.is_dir();
    // A symlink whose target is gone: `exists()` says no, and creating the directory fails.
    let dangling = !state_dir.exists()
        && state_dir
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
    if dangling {
        let target = std::fs::read_link(state_dir).unwrap_or_default();
        problems.push(format!(
            "{} is a symlink to {}, which does not exist; fleet keeps its state there: remove the link (`rm {}`) or create the directory it points to",
            state_dir.display(),
            target.display(),
            crate::util::shell_quote(&state_dir.display().to_string())
        ));
    } else if state_dir_bad {
        problems.push(format!(
            "{} is a file; fleet keeps its state in that directory: move the file away",
            state_dir.display()
        ));
    }
    state_dir_bad
}

/// The top-level numbers and `command:`: `max_parallel`, `monitor.per_window` (returned),
/// an empty `command:`, `prices:`.
fn check_settings(raw: &RawManifest, problems: &mut Vec<String>) -> u32 {
    if let Some(super::schema::RawParallel::Per(m)) = &raw.max_parallel {
        if let Some((k, _)) = m.iter().find(|(_, n)| **n == 0) {
            problems.push(format!(
                "max_parallel: {k}: must be at least 1; remove it to run all its agents at once"
            ));
        }
    }
    if let Some(super::schema::RawParallel::All(0)) = raw.max_parallel {
        problems
            .push("max_parallel: must be at least 1; remove it to run all agents at once".into());
    }
    let per_window = raw
        .monitor
        .as_ref()
        .and_then(|m| m.per_window)
        .unwrap_or(super::DEFAULT_PER_WINDOW as u32);
    if per_window == 0 {
        problems.push(format!(
            "monitor: per_window: must be at least 1; remove it for the default {}",
            super::DEFAULT_PER_WINDOW
        ));
    }
    if let Some(c) = &raw.command {
        if c.trim().is_empty() {
            problems
                .push("command: is empty; give the agent's command, e.g. `claude --print`".into());
        }
    }
    for (model, p) in &raw.prices {
        let rates = [Some(p.input), p.cached_input, Some(p.output)];
        if rates
            .iter()
            .flatten()
            .any(|r| !(r.is_finite() && *r >= 0.0))
        {
            problems.push(format!(
                "prices: `{model}`: a price is dollars per million tokens, 0 or more (e.g. {{input: 1.25, output: 10}})"
            ));
        }
    }
    per_window
}

/// The `copy:` files: each there (a symlink, even a dangling one, is copied as one) and
/// inside the repository, and no symlink among them leading out of it.
fn copies(
    raw: &RawManifest,
    dir: &Path,
    repo_path: &Path,
    problems: &mut Vec<String>,
) -> Vec<(PathBuf, PathBuf)> {
    let mut copy = Vec::new();
    for c in &raw.copy {
        let src = normalize(&dir.join(c));
        let rel = src.strip_prefix(repo_path).map(Path::to_path_buf);
        match rel {
            // (a symlink is copied as one, even a dangling one)
            Ok(rel) if src.symlink_metadata().is_ok() => {
                match super::places::copy_link_problem(c, &src, repo_path) {
                    Some(problem) => problems.push(problem),
                    None => copy.push((src, rel)),
                }
            }
            Ok(_) => problems.push(format!(
                "copy: {} not found (looked for {}); remove it from `copy:` or create it",
                c.display(),
                src.display()
            )),
            Err(_) => problems.push(format!(
                "copy: {} is outside the repository {}; list files inside it",
                c.display(),
                repo_path.display()
            )),
        }
    }
    copy
}

/// Where everything is, as a whole: the symlinks fleet would meet, and the logs and
/// `worktree_dir` against the other places.
fn check_where(
    path: &Path,
    top: &Top,
    agents: &[super::Agent],
    log_ats: &[(String, PathBuf)],
    problems: &mut Vec<String>,
) {
    let copies: Vec<PathBuf> = top.copy.iter().map(|(src, _)| src.clone()).collect();
    problems.extend(symlink_problems(&top.state_dir, log_ats, &copies));
    let places = Places::new(
        path,
        &top.repo_path,
        &top.state_dir,
        &top.worktree_dir,
        agents,
        &top.copy,
    );
    check_places(
        &places,
        &top.worktree_dir,
        &top.repo_name,
        log_ats,
        problems,
    );
}
