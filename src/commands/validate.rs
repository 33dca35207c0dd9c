//! `fleet validate`: the manifest, the tools and each agent's program, then the resolved plan.
use std::path::Path;

use anyhow::Result;

use crate::launch::preflight::{find_program, missing_programs, program_of, unboxable};
use crate::manifest::{Agent, Plan, Task};
use crate::util::{display, display_path};
use crate::{git, tmux, usage};

pub fn run(file: Option<&Path>) -> Result<i32> {
    let plan = crate::launch::load(file)?.need_base()?;
    let agents: Vec<&Agent> = plan.agents.iter().collect();
    // Tools first (exit 1 when missing); the plan, with each agent's program found or not;
    // then a missing program fails validation (exit 2) with the usual message.
    let tmux_v = tmux::version()?;
    let git_v = git::version()?;
    let missing = missing_programs(&agents);
    let unboxable = unboxable(&agents);
    if missing.is_empty() && unboxable.is_empty() {
        println!("{} is valid", display_path(&plan.manifest));
    } else {
        println!("{}", display_path(&plan.manifest));
    }
    println!("  tools:        {tmux_v}, git {git_v}");
    print_plan(&plan);
    let ports = crate::sandbox::ports::table(&crate::state::Dir::new(&plan.state_dir));
    for a in &plan.agents {
        print_agent(a, !plan.hosts.is_empty(), &ports);
    }
    for r in &plan.remote {
        print_remote(plan.hosts.get(&r.host), &r.agent);
    }
    let warn = |w: &str| {
        eprintln!(
            "warning: {}: {}",
            display_path(&plan.manifest),
            crate::util::display_text(w)
        )
    };
    plan.warnings.iter().for_each(|w| warn(w));
    template_tasks(&plan).iter().for_each(|w| warn(w));
    if !unboxable.is_empty() {
        return usage(format!(
            "{}: nothing can start sandboxed here:\n  {}",
            plan.manifest.display(),
            unboxable.join("\n  ")
        ));
    }
    if !missing.is_empty() {
        let (n, s) = (missing.len(), if missing.len() == 1 { "" } else { "s" });
        return usage(format!(
            "{}: {n} agent program{s} not installed:\n  {}",
            plan.manifest.display(),
            missing.join("\n  ")
        ));
    }
    Ok(0)
}

/// The fleet-wide part of the resolved plan.
fn print_plan(plan: &Plan) {
    println!("  project:      {}", plan.project);
    println!("  repository:   {}", display_path(&plan.repo));
    println!("  base:         {}", display(&plan.base));
    println!("  worktree_dir: {}", display_path(&plan.worktree_dir));
    if let Some(setup) = &plan.setup {
        println!("  setup:        {}", indent(setup));
    }
    for (src, _) in &plan.copy {
        println!("  copy:         {}", display_path(src));
    }
    if let Some(n) = plan.max_parallel {
        println!("  max_parallel: {n}");
    }
    for (key, n) in &plan.max_parallel_per {
        println!("  max_parallel: {n} on {key}");
    }
    if let Some(b) = &plan.budget {
        let mut parts = Vec::new();
        if let Some(usd) = b.usd {
            parts.push(format!("${usd}"));
        }
        if let Some(t) = b.tokens {
            parts.push(format!("{t} tokens"));
        }
        // (the reserve is in the budget's one unit: dollars when it has them)
        let reserve = match (b.reserve, b.usd) {
            (r, _) if r <= 0.0 => String::new(),
            (r, Some(_)) => format!(" (reserve ${r})"),
            (r, None) => format!(" (reserve {r} tokens)"),
        };
        println!(
            "  budget:       {}{reserve} for the whole fleet (no new start in the reserve; running agents stopped at the budget)",
            parts.join(" and ")
        );
    }
    if plan.monitor_enabled {
        println!("  monitor:      session {}", plan.monitor_session());
    } else {
        println!("  monitor:      none (monitor: enabled: false)");
    }
    match plan.radar {
        crate::manifest::Radar::Show => {}
        crate::manifest::Radar::Tell => println!(
            "  radar:        tell (agents whose work touches the same files are told at their next turn)"
        ),
        crate::manifest::Radar::Off => println!("  radar:        off (no overlaps looked for)"),
    }
    if plan.agents.iter().any(|a| !a.after.is_empty()) {
        println!("  order:        {}", plan.order_line());
    }
}

/// One agent as resolved: where it runs (said when the manifest has other hosts), what it
/// is told, what runs it.
fn print_agent(a: &Agent, with_hosts: bool, ports: &crate::sandbox::ports::Table) {
    println!("agent {}", a.name);
    if with_hosts {
        println!("  host:     {}", crate::manifest::LOCAL);
    }
    print_session(a);
    println!("  worktree: {}", display_path(&a.worktree));
    println!("  log:      {}", display_path(&a.log));
    match &a.task {
        Task::File(p) => println!("  task:     {}", display_path(p)),
        Task::Prompt(p) => println!("  prompt:   {}", crate::util::one_line(p, 100)),
    }
    if let Some(c) = crate::preset::credential::label(a.preset, &a.env) {
        println!("  credential: {c}");
    }
    if let Some(p) = a.preset {
        let mode = if a.interactive {
            "interactive: its TUI in the pane, the task as its first prompt"
        } else {
            "headless"
        };
        println!("  agent:    {} ({mode})", p.name());
        let level = a.launch.permissions;
        if a.sandbox && level == crate::preset::Permissions::Full {
            println!(
                "  permissions: full — anything inside its box, without asking (the CLI's own bypass mode)"
            );
        } else {
            println!("  permissions: {} — {}", level.name(), p.allows(level));
        }
        if !a.launch.args.is_empty() {
            println!("  args:     {}", display(&format!("{:?}", a.launch.args)));
        }
    } else if a.interactive {
        println!("  interactive: runs on the pane's terminal");
    }
    println!("  command:  {}", indent(&a.command));
    print_program(a);
    print_sandbox(a);
    for (k, v) in &a.env {
        let v = if crate::preset::credential::is_secret(k) {
            "(hidden)".to_string()
        } else {
            display(v).to_string()
        };
        println!("  env:      {}={v}", display(k));
    }
    print_net(a, ports);
    if let Some(v) = &a.verify {
        println!("  verify:   {}", indent(v));
    }
    if let Some(v) = &a.on_exit {
        println!("  on_exit:  {}", indent(v));
    }
}

/// `ports:` (each port kept from the last `up`, or chosen by the next) and `network:`.
fn print_net(a: &Agent, ports: &crate::sandbox::ports::Table) {
    let had = ports.get(&a.name);
    for name in &a.ports {
        match had.and_then(|m| m.get(name)) {
            Some(port) => println!("  ports:    {name}={port}"),
            None => println!("  ports:    {name} (a free port chosen at `fleet up`)"),
        }
    }
    if !a.sandbox {
        return;
    }
    let var = crate::sandbox::net::setting(&a.env);
    match crate::sandbox::net::allowlist(a.preset, &a.launch, &a.network, &var) {
        crate::sandbox::Network::All => {
            println!("  network:  all (network: all: this machine's whole network)")
        }
        crate::sandbox::Network::Allow(dests) if dests.is_empty() => {
            println!("  network:  none (loopback inside its box only)")
        }
        crate::sandbox::Network::Allow(dests) => {
            println!("  network:  only {}", display(&dests.join(", ")))
        }
    }
}

/// Whether the agent runs in a box, and what it may write there.
fn print_sandbox(a: &Agent) {
    if !a.sandbox {
        println!(
            "  sandbox:  no (its commands run with all of your rights; `sandbox: true` boxes it)"
        );
        return;
    }
    let works = match crate::sandbox::works() {
        Ok(()) => String::new(),
        Err(m) => format!(" — cannot start here: {}", m.explain()),
    };
    println!("  sandbox:  yes (bubblewrap){works}");
    let writes = crate::sandbox::writes(a.preset, &a.name);
    println!("  writes:   {}", display(&writes.join(", ")));
}

/// An agent placed on another host: where, and what it is told; its fleet there resolves
/// and checks the rest when `fleet up` sends it its manifest.
fn print_remote(host: Option<&crate::manifest::Host>, a: &Agent) {
    println!("agent {}", a.name);
    if let Some(h) = host {
        // ssh's words as it gets them (`port:` and `identity:` are `-p` and `-i`).
        let ssh: String = h
            .options
            .iter()
            .chain(std::iter::once(&h.ssh))
            .map(|w| crate::util::shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "  host:     {} (ssh {}, repository {}, fleet {})",
            h.name,
            display(&ssh),
            display(&h.dir),
            display(&h.fleet)
        );
    }
    print_session(a);
    match &a.task {
        Task::File(p) => println!("  task:     {} (sent as its prompt)", display_path(p)),
        Task::Prompt(p) => println!("  prompt:   {}", crate::util::one_line(p, 100)),
    }
    println!("  command:  {}", indent(&a.command));
    println!("  program:  (checked on its host)");
}

/// Where an agent runs and when, local or remote: its session, the agents it starts after,
/// its branch.
fn print_session(a: &Agent) {
    println!("  session:  {}", a.session);
    if !a.after.is_empty() {
        println!(
            "  after:    {} (starts once they are done, from their branches)",
            a.after.join(", ")
        );
    }
    println!("  branch:   {}", display(&a.branch));
}

/// The agent's program: where it is installed, that it is not, or that a script runs.
fn print_program(a: &Agent) {
    match (find_program(a), program_of(&a.command)) {
        (Ok(Some(path)), Some(name)) => println!(
            "  program:  {}, installed at {}",
            display(&name),
            display_path(&path)
        ),
        (Err(name), _) => println!(
            "  program:  {}, NOT INSTALLED (not found on PATH)",
            display(&name)
        ),
        _ => println!("  program:  (a shell script: not checked)"),
    }
}

/// A warning for each agent whose task file still holds the `fleet init` template: it would
/// be asked to do nothing in particular.
fn template_tasks(plan: &Plan) -> Vec<String> {
    plan.agents
        .iter()
        .filter_map(|a| {
            let Task::File(path) = &a.task else {
                return None;
            };
            let left = crate::template::left_in(&std::fs::read_to_string(path).ok()?);
            (!left.is_empty()).then(|| {
                format!(
                    "agent `{}`: its task {} still holds the `fleet init` template ({}); describe the work there before `fleet up`",
                    a.name,
                    display_path(path),
                    left.join(", ")
                )
            })
        })
        .collect()
}

/// A multi-line script with its continuation lines under its first, each line escaped for
/// the terminal ([`display`]).
fn indent(script: &str) -> String {
    let lines: Vec<String> = script
        .trim_end()
        .lines()
        .map(|l| display(l).into_owned())
        .collect();
    lines.join("\n            ")
}
