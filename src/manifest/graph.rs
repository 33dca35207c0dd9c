//! `after:`, the order agents build on each other in: its checks (unknown names, an agent
//! after itself, cycles, an agent after one on another host, a `{{diff:NAME}}` naming an
//! agent not in `after:`), and the order itself ([`Plan::in_order`], [`Plan::order_line`]).
use std::collections::HashMap;

use super::suggest::closest;
use super::{Agent, Plan, Task};

/// One agent's entry for the checks: its name, the `at` naming it in messages, its host
/// (None: this machine).
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) at: String,
    pub(super) host: Option<String>,
}

/// The names `{{diff:NAME}}` in a task's text refers to, each once, in order.
pub fn diff_refs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(DIFF_OPEN) {
        rest = &rest[i + DIFF_OPEN.len()..];
        let Some(end) = rest.find("}}") else { break };
        let name = rest[..end].trim().to_string();
        if !found.contains(&name) {
            found.push(name);
        }
        rest = &rest[end + 2..];
    }
    found
}

/// How a task names another agent's diff: `{{diff:api}}`.
pub const DIFF_OPEN: &str = "{{diff:";

/// Check the `after:` of the resolved `agents` against every agent of the manifest
/// (`entries`, in file order, those that did not resolve included).
pub(super) fn check(agents: &[Agent], entries: &[Entry], problems: &mut Vec<String>) {
    let entry = |name: &str| entries.iter().find(|e| e.name == name);
    let known: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    for a in agents {
        let Some(me) = entry(&a.name) else { continue };
        let at = &me.at;
        for dep in &a.after {
            if *dep == a.name {
                problems.push(format!(
                    "{at}after: `{dep}` is the agent itself; an agent cannot wait for itself: remove it"
                ));
                continue;
            }
            let Some(other) = entry(dep) else {
                problems.push(format!(
                    "{at}after: unknown agent `{dep}`{}; known agents: {}",
                    closest(dep, known.iter().copied(), "`")
                        .map(|k| format!(" (did you mean {k}?)"))
                        .unwrap_or_default(),
                    known.join(", ")
                ));
                continue;
            };
            if other.host != me.host {
                let host = |h: &Option<String>| h.clone().unwrap_or_else(|| super::LOCAL.into());
                problems.push(format!(
                    "{at}after: `{dep}` runs on host `{}`, this agent on `{}`; an agent can only build on agents of its own host: give both the same `host:` or drop `{dep}` from `after:`",
                    host(&other.host),
                    host(&me.host)
                ));
            }
        }
        check_diff_refs(a, at, problems);
    }
    for cycle in cycles(agents) {
        let at = entry(&cycle[0]).map_or("", |e| e.at.as_str());
        problems.push(format!(
            "{at}after: a cycle, {}; agents in a cycle would wait for each other forever: remove one of these `after:`",
            cycle.join(" → ")
        ));
    }
}

/// Each `{{diff:NAME}}` of the agent's task names an agent of its `after:` (whose diff is
/// there to take when it starts).
fn check_diff_refs(a: &Agent, at: &str, problems: &mut Vec<String>) {
    let text = match &a.task {
        Task::Prompt(p) => p.clone(),
        Task::File(path) => super::task_text(path).unwrap_or_default(),
    };
    for name in diff_refs(&text) {
        if !a.after.contains(&name) {
            problems.push(format!(
                "{at}its task names {DIFF_OPEN}{name}}}}}, but `{name}` is not in its `after:` (the diff is taken once that agent is done); add `after: [{}]`",
                a.after
                    .iter()
                    .chain(std::iter::once(&name))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
}

/// The cycles of `after:`, each once, as the path that closes it (`a → b → a`), found from
/// the agents in manifest order.
fn cycles(agents: &[Agent]) -> Vec<Vec<String>> {
    let index: HashMap<&str, usize> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    // 0: not seen, 1: on the path, 2: done
    let mut mark = vec![0u8; agents.len()];
    let mut found: Vec<Vec<String>> = Vec::new();
    for start in 0..agents.len() {
        let mut path = Vec::new();
        visit(agents, &index, start, &mut mark, &mut path, &mut found);
    }
    found
}

fn visit(
    agents: &[Agent],
    index: &HashMap<&str, usize>,
    at: usize,
    mark: &mut [u8],
    path: &mut Vec<usize>,
    found: &mut Vec<Vec<String>>,
) {
    if mark[at] == 2 {
        return;
    }
    if mark[at] == 1 {
        let from = path.iter().position(|&p| p == at).unwrap_or(0);
        let mut cycle: Vec<String> = path[from..]
            .iter()
            .map(|&i| agents[i].name.clone())
            .collect();
        cycle.push(agents[at].name.clone());
        found.push(cycle);
        return;
    }
    mark[at] = 1;
    path.push(at);
    for dep in &agents[at].after {
        if let Some(&d) = index.get(dep.as_str()).filter(|&&d| d != at) {
            visit(agents, index, d, mark, path, found);
        }
    }
    path.pop();
    mark[at] = 2;
}

impl Plan {
    /// This machine's agents in dependency order: each after every agent of its `after:`,
    /// manifest order breaking ties (the first agent in the file whose dependencies are all
    /// placed comes next). The manifest has no cycles (a problem when it is loaded).
    pub fn in_order(&self) -> Vec<&Agent> {
        let mut placed: Vec<&Agent> = Vec::with_capacity(self.agents.len());
        let mut left: Vec<&Agent> = self.agents.iter().collect();
        while !left.is_empty() {
            let ready = left
                .iter()
                .position(|a| {
                    a.after.iter().all(|d| {
                        placed.iter().any(|p| &p.name == d)
                            || !self.agents.iter().any(|x| &x.name == d)
                    })
                })
                // (a cycle, which a loaded plan never has: keep manifest order)
                .unwrap_or(0);
            placed.push(left.remove(ready));
        }
        placed
    }

    /// The agents that name `name` in their `after:`, in manifest order.
    pub fn dependents(&self, name: &str) -> Vec<&Agent> {
        self.agents
            .iter()
            .filter(|a| a.after.iter().any(|d| d == name))
            .collect()
    }

    /// The order in one line, `a → b, c → d; e`: each group of agents linked by `after:`
    /// as its stages (agents of one stage can run at once), the groups apart by `;`.
    pub fn order_line(&self) -> String {
        let order = self.in_order();
        let mut stage: HashMap<&str, usize> = HashMap::new();
        for a in &order {
            let s = a
                .after
                .iter()
                .filter_map(|d| stage.get(d.as_str()))
                .map(|s| s + 1)
                .max()
                .unwrap_or(0);
            stage.insert(&a.name, s);
        }
        let groups = self.groups(&order);
        let lines: Vec<String> = groups
            .iter()
            .map(|group| {
                let last = group
                    .iter()
                    .map(|a| stage[a.name.as_str()])
                    .max()
                    .unwrap_or(0);
                (0..=last)
                    .map(|s| {
                        group
                            .iter()
                            .filter(|a| stage[a.name.as_str()] == s)
                            .map(|a| a.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .collect::<Vec<_>>()
                    .join(" → ")
            })
            .collect();
        lines.join("; ")
    }

    /// The agents of `order` in groups linked by `after:` (either way), in the order of each
    /// group's first agent.
    fn groups<'a>(&self, order: &[&'a Agent]) -> Vec<Vec<&'a Agent>> {
        let mut group_of: HashMap<&'a str, usize> = HashMap::new();
        let mut groups: Vec<Vec<&'a Agent>> = Vec::new();
        for &a in order {
            let mut joined: Vec<usize> = a
                .after
                .iter()
                .filter_map(|d| group_of.get(d.as_str()).copied())
                .collect();
            joined.sort_unstable();
            joined.dedup();
            let g = match joined.first() {
                None => {
                    groups.push(Vec::new());
                    groups.len() - 1
                }
                Some(&first) => {
                    for &other in joined[1..].iter().rev() {
                        let moved = std::mem::take(&mut groups[other]);
                        for m in moved.iter().copied() {
                            group_of.insert(m.name.as_str(), first);
                        }
                        groups[first].extend(moved);
                    }
                    first
                }
            };
            groups[g].push(a);
            group_of.insert(a.name.as_str(), g);
        }
        for g in &mut groups {
            g.sort_by_key(|a| order.iter().position(|o| o.name == a.name));
        }
        groups.into_iter().filter(|g| !g.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_diff_refs() {
        assert_eq!(
            diff_refs("review {{diff:api}} and {{diff: db }} and {{diff:api}}"),
            vec!["api".to_string(), "db".to_string()]
        );
        assert!(diff_refs("no {{diff:unclosed").is_empty());
    }

    /// The plan of `agents:` (YAML lines) in a fresh repository, or its problems.
    fn plan(agents: &str) -> Result<Plan, String> {
        let text = format!(
            "command: \"true\"\nhosts: {{far: {{ssh: me@far, dir: /r}}}}\nagents:\n{agents}"
        );
        crate::manifest::parse_in_new_repo(&text)
            .1
            .map_err(|e| format!("{e:#}"))
    }

    fn names(agents: Vec<&Agent>) -> Vec<&str> {
        agents.into_iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn orders_by_after_then_manifest_order() {
        let p = plan(concat!(
            "  - {name: d, prompt: x, after: [b, c]}\n",
            "  - {name: c, prompt: x, after: a}\n",
            "  - {name: e, prompt: x}\n",
            "  - {name: b, prompt: x, after: [a]}\n",
            "  - {name: a, prompt: x}\n",
        ))
        .unwrap();
        assert_eq!(names(p.in_order()), ["e", "a", "c", "b", "d"]);
        assert_eq!(p.order_line(), "e; a → c, b → d");
        assert_eq!(names(p.dependents("a")), ["c", "b"]);
    }

    #[test]
    fn refuses_unknown_names_self_and_cycles() {
        let e = plan(concat!(
            "  - {name: api, prompt: x, after: [apu]}\n",
            "  - {name: b, prompt: x, after: [b]}\n",
            "  - {name: c, prompt: x, after: [d]}\n",
            "  - {name: d, prompt: x, after: [c]}\n",
            "  - {name: r, prompt: \"see {{diff:api}}\"}\n",
        ))
        .unwrap_err();
        assert!(
            e.contains("unknown agent `apu` (did you mean `api`?)"),
            "{e}"
        );
        assert!(e.contains("`b` is the agent itself"), "{e}");
        assert!(e.contains("a cycle, c → d → c"), "{e}");
        assert!(e.contains("`api` is not in its `after:`"), "{e}");
        assert_eq!(e.matches("cycle").count(), 2, "{e}");
    }

    #[test]
    fn refuses_an_agent_after_one_on_another_host() {
        let e = plan(concat!(
            "  - {name: a, prompt: x, host: far}\n",
            "  - {name: b, prompt: x, after: a}\n",
        ))
        .unwrap_err();
        assert!(
            e.contains("after: `a` runs on host `far`, this agent on `local`"),
            "{e}"
        );
        // On one host, the agents placed there keep their `after:` in the host's manifest.
        let p = plan(concat!(
            "  - {name: a, prompt: x, host: far}\n",
            "  - {name: b, prompt: x, after: a, host: far}\n",
        ))
        .unwrap();
        assert!(p.slice("far").unwrap().contains("after: a"));
    }
}
