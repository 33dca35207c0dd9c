//! The tools `fleet mcp` offers, as plain data: each tool's name, description and input
//! schema, and how a call becomes fleet's own command line ([`plan_call`]). The role check
//! lives here too: an agent given the tool (`--as NAME`) reads every agent but acts (up,
//! continue, merge) only on itself unless it is the lead (`--lead`). Nothing here runs a
//! process; `run` does.
use serde_json::{json, Map, Value};

/// The most of a diff or log a tool returns (bytes); the rest is cut, and the result says so.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;
/// The longest `wait` a tool call may ask for (seconds): a client's call should end.
pub const MAX_WAIT_SECS: u64 = 600;
/// The `wait` a tool call gets when it names no timeout (seconds).
pub const DEFAULT_WAIT_SECS: u64 = 60;

/// Who is calling: the user (no `--as`), an agent of the fleet, or the fleet's lead agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `--as NAME`: the agent this server was handed to (None: the user registered it).
    pub agent: Option<String>,
    /// `--lead`: that agent may act on every agent of the manifest.
    pub lead: bool,
    /// The manifest's other agents: what `wait` without names waits for when an agent
    /// calls it (waiting for "all" would wait for itself).
    pub others: Vec<String>,
}

impl Role {
    /// May this caller act (up, continue, merge) on `name`?
    fn may_act_on(&self, name: &str) -> bool {
        match &self.agent {
            None => true,
            Some(me) => self.lead || me == name,
        }
    }

    /// The refusal for acting on `names` (None: allowed).
    fn refuse(&self, tool: &str, names: &[String]) -> Option<String> {
        let me = self.agent.as_deref()?;
        let other = names.iter().find(|n| !self.may_act_on(n))?;
        Some(format!(
            "agent {me} may read every agent but `{tool}` only itself, not {other}; the user marks a lead agent with `mcp: lead` in the manifest"
        ))
    }
}

/// What a tool call turns into: fleet's arguments (after `-f MANIFEST`), and how its
/// output is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: &'static str,
    pub args: Vec<String>,
    /// stdout is one JSON object (status, conflicts).
    pub json: bool,
    /// Exit codes that are an answer, not a failure (conflicts: 1, wait: 1 and 124).
    pub answers: &'static [i32],
    /// Cut stdout to this many bytes.
    pub max_bytes: usize,
}

/// The tools, for `tools/list`: (name, description, input schema, read-only).
pub fn list() -> Vec<(&'static str, &'static str, Value, bool)> {
    let names = json!({"type": "array", "items": {"type": "string"},
        "description": "agent names of the manifest (default: all)"});
    let name = json!({"type": "string", "description": "an agent of the manifest"});
    vec![
        ("status", "Each agent's state, branch, work and last log line: fleet status --json (its fields are in `fleet man`, STATUS JSON), with `overlaps`: agents whose work touches the same files.",
            object(json!({"names": names}), &[]), true),
        ("diff", "One agent's work against base: commits, uncommitted and untracked changes (fleet diff NAME); `stat` for files and line counts only. Cut at max_bytes.",
            object(json!({"name": name, "stat": {"type": "boolean"}, "max_bytes": {"type": "integer", "minimum": 1}}), &["name"]), true),
        ("logs", "The last lines of one agent's log (fleet logs NAME -n LINES).",
            object(json!({"name": name, "lines": {"type": "integer", "minimum": 1, "maximum": 10000}}), &["name"]), true),
        ("conflicts", "Which agents' branches conflict, with base and with each other, and in which files (fleet conflicts --json); nothing is changed.",
            object(json!({"names": names}), &[]), true),
        ("wait", "Wait until the agents finish or timeout_secs pass (default 60, at most 600); then their status. An agent calling it does not wait for itself.",
            object(json!({"names": names, "timeout_secs": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECS}}), &[]), true),
        ("up", "Start agents of the manifest by name (fleet up NAMES); `rerun` also restarts finished ones. Only agents the manifest names: never a new agent or command.",
            object(json!({"names": {"type": "array", "items": {"type": "string"}, "minItems": 1}, "rerun": {"type": "boolean"}}), &["names"]), false),
        ("continue", "Resume a finished, failed or lost agent's conversation with a follow-up instruction (fleet continue NAME -m MESSAGE).",
            object(json!({"name": name, "message": {"type": "string", "minLength": 1}}), &["name", "message"]), false),
        ("merge", "Merge agents' branches into base, each verified as always (fleet merge NAMES, or all: every agent that is done); a conflict or failed verify stops the train and is returned as an error.",
            object(json!({"names": {"type": "array", "items": {"type": "string"}}, "all": {"type": "boolean"}}), &[]), false),
    ]
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// Turn a `tools/call` into fleet's command line, or a refusal (the tool error's text).
pub fn plan_call(tool: &str, args: &Map<String, Value>, role: &Role) -> Result<Call, String> {
    let (tool, mut argv, json, answers): (&'static str, Vec<String>, bool, &'static [i32]) =
        match tool {
            "status" => ("status", vec!["status".into(), "--json".into()], true, &[]),
            "conflicts" => (
                "conflicts",
                vec!["conflicts".into(), "--json".into()],
                true,
                &[1],
            ),
            "diff" => ("diff", vec!["diff".into(), string(args, "name")?], false, &[]),
            "logs" => ("logs", vec!["logs".into(), string(args, "name")?], false, &[]),
            "wait" => ("wait", wait_args(args, role)?, false, &[1, 124]),
            "up" => ("up", up_args(args, role)?, false, &[]),
            "continue" => ("continue", continue_args(args, role)?, false, &[]),
            "merge" => ("merge", merge_args(args, role)?, false, &[]),
            other => {
                return Err(format!(
                    "no tool `{other}`; the tools are status, diff, logs, conflicts, wait, up, continue, merge"
                ))
            }
        };
    if matches!(tool, "status" | "conflicts") {
        argv.extend(names(args, "names")?);
    }
    if tool == "diff" && boolean(args, "stat")? {
        argv.push("--stat".into());
    }
    if tool == "logs" {
        let lines = integer(args, "lines")?.unwrap_or(50).clamp(1, 10_000);
        argv.extend(["-n".into(), lines.to_string()]);
    }
    let max_bytes = match integer(args, "max_bytes")? {
        Some(n) => usize::try_from(n.max(1)).unwrap_or(DEFAULT_MAX_BYTES),
        None => DEFAULT_MAX_BYTES,
    };
    Ok(Call {
        tool,
        args: argv,
        json,
        answers,
        max_bytes,
    })
}

fn wait_args(args: &Map<String, Value>, role: &Role) -> Result<Vec<String>, String> {
    let secs = integer(args, "timeout_secs")?
        .unwrap_or(DEFAULT_WAIT_SECS)
        .min(MAX_WAIT_SECS);
    let mut argv = vec!["wait".into(), "--timeout".into(), secs.to_string()];
    let names = names(args, "names")?;
    if names.is_empty() && role.agent.is_some() {
        argv.push("--".into());
        argv.extend(role.others.iter().cloned());
    } else {
        argv.push("--".into());
        argv.extend(names);
    }
    Ok(argv)
}

fn up_args(args: &Map<String, Value>, role: &Role) -> Result<Vec<String>, String> {
    let names = names(args, "names")?;
    if names.is_empty() {
        return Err("`up` needs the names of the agents to start (`names`)".into());
    }
    if let Some(why) = role.refuse("up", &names) {
        return Err(why);
    }
    let mut argv = vec!["up".to_string()];
    if boolean(args, "rerun")? {
        argv.push("--rerun".into());
    }
    argv.push("--".into());
    argv.extend(names);
    Ok(argv)
}

fn continue_args(args: &Map<String, Value>, role: &Role) -> Result<Vec<String>, String> {
    let name = string(args, "name")?;
    let message = string(args, "message")?;
    if let Some(why) = role.refuse("continue", std::slice::from_ref(&name)) {
        return Err(why);
    }
    Ok(vec![
        "continue".into(),
        "--message".into(),
        message,
        "--".into(),
        name,
    ])
}

fn merge_args(args: &Map<String, Value>, role: &Role) -> Result<Vec<String>, String> {
    let names = names(args, "names")?;
    let all = boolean(args, "all")?;
    match (all, names.is_empty()) {
        (true, false) => return Err("`merge` takes `names` or `all`, not both".into()),
        (false, true) => return Err("`merge` needs `names` or `all: true`".into()),
        _ => {}
    }
    if all {
        if let Some(me) = role.agent.as_deref().filter(|_| !role.lead) {
            return Err(format!(
                "agent {me} may merge only itself, not every agent; the user marks a lead agent with `mcp: lead` in the manifest"
            ));
        }
        return Ok(vec!["merge".into(), "--all".into()]);
    }
    if let Some(why) = role.refuse("merge", &names) {
        return Err(why);
    }
    let mut argv = vec!["merge".to_string(), "--".into()];
    argv.extend(names);
    Ok(argv)
}

fn string(args: &Map<String, Value>, key: &str) -> Result<String, String> {
    match args.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(format!("`{key}` must be a non-empty string")),
        None => Err(format!("`{key}` is missing")),
    }
}

fn boolean(args: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("`{key}` must be true or false")),
    }
}

fn integer(args: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a whole number ≥ 0")),
    }
}

/// A list of agent names; each must look like a name (never an option fleet would read).
fn names(args: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    let list = match args.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(format!("`{key}` must be a list of agent names")),
    };
    list.iter()
        .map(|v| match v.as_str() {
            Some(s) if !s.is_empty() && !s.starts_with('-') => Ok(s.to_string()),
            _ => Err(format!("`{key}` must be a list of agent names, got {v}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn peer() -> Role {
        Role {
            agent: Some("api".into()),
            lead: false,
            others: vec!["web".into()],
        }
    }

    #[test]
    fn a_peer_reads_all_but_acts_only_on_itself() {
        let r = peer();
        assert!(plan_call("diff", &args(json!({"name": "web"})), &r).is_ok());
        let e = plan_call("up", &args(json!({"names": ["web"]})), &r).unwrap_err();
        assert!(e.contains("agent api may read every agent but `up` only itself, not web"));
        assert!(plan_call("up", &args(json!({"names": ["api"]})), &r).is_ok());
        assert!(plan_call("merge", &args(json!({"all": true})), &r).is_err());
        let lead = Role {
            lead: true,
            ..peer()
        };
        assert!(plan_call(
            "continue",
            &args(json!({"name": "web", "message": "go"})),
            &lead
        )
        .is_ok());
    }

    #[test]
    fn names_cannot_smuggle_options() {
        let r = Role {
            agent: None,
            lead: false,
            others: Vec::new(),
        };
        assert!(plan_call("up", &args(json!({"names": ["--rerun"]})), &r).is_err());
        let c = plan_call("up", &args(json!({"names": ["a", "b"], "rerun": true})), &r).unwrap();
        assert_eq!(c.args, ["up", "--rerun", "--", "a", "b"]);
        let w = plan_call("wait", &args(json!({"timeout_secs": 9999})), &peer()).unwrap();
        assert_eq!(w.args, ["wait", "--timeout", "600", "--", "web"]);
    }
}
