//! Reading the manifest's text into its schema, and saying where it went wrong: serde's
//! message with the line and column of the key at fault, a hint for the fix, and — since serde
//! stops at the first problem — the rest found by parsing the parts again one by one
//! (salvage). Also the line of each agent, for the messages that name it.
use super::checks::valid_name;
use super::schema::{RawAgent, RawManifest};
use super::suggest::did_you_mean;

/// The deepest nesting fleet parses (a real manifest nests 5 or 6 levels): deeper, a YAML
/// parser works for minutes (100,000 levels of `[`), so fleet refuses it before parsing.
pub const MAX_DEPTH: usize = 64;

/// The largest manifest fleet reads (a real one is a few KiB; long tasks go in `task:` files).
pub const MAX_BYTES: usize = 4 << 20;

/// Why fleet will not parse `text` at all, if so: larger than [`MAX_BYTES`], or nested
/// deeper than [`MAX_DEPTH`]. One pass over the text, before any YAML parser sees it.
pub(super) fn beyond_bounds(text: &str) -> Option<String> {
    if text.len() > MAX_BYTES {
        return Some(too_big());
    }
    let line = deepest(text)?;
    Some(format!(
        "it nests deeper than {MAX_DEPTH} levels (at line {line}), deeper than any manifest fleet reads: list the agents with their settings, a few levels deep"
    ))
}

/// The message for a manifest larger than [`MAX_BYTES`].
pub(super) fn too_big() -> String {
    format!(
        "it is larger than the {} MiB fleet reads: a manifest lists agents; put long tasks in `task:` files",
        MAX_BYTES >> 20
    )
}

/// The 1-based line where the text first nests deeper than [`MAX_DEPTH`].
/// Block nesting counts each deeper indentation and each `- ` of a compact sequence; flow
/// nesting each `[` and `{` outside quotes and comments. Lines of a block scalar (`|`, `>`)
/// are text, not nesting.
fn deepest(text: &str) -> Option<usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut scalar_at: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        match scalar_at {
            Some(at) if indent > at => continue,
            _ => scalar_at = None,
        }
        let mut rest = body;
        let mut dashes = 0;
        if flow == 0 {
            while indents.last().is_some_and(|&i| i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            while let Some(r) = rest
                .strip_prefix('-')
                .filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
            {
                dashes += 1;
                rest = r.trim_start_matches([' ', '\t']);
            }
        }
        let block = indents.len() + dashes;
        let (deepest_flow, content) = scan_flow(rest, &mut flow, MAX_DEPTH.saturating_sub(block));
        if block + deepest_flow > MAX_DEPTH {
            return Some(n + 1);
        }
        if flow == 0 && opens_block_scalar(content) {
            scalar_at = Some(indent);
        }
    }
    None
}

/// Walk one line's text, counting the flow collections opened (`flow`, carried over lines):
/// the deepest it got on this line (the walk stops once beyond `room`), and the line without
/// its comment.
fn scan_flow<'a>(line: &'a str, flow: &mut usize, room: usize) -> (usize, &'a str) {
    let mut deepest = *flow;
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') if prev == ' ' || "[{,:".contains(prev) => quote = Some(c),
            (None, '#') if prev == ' ' || prev == '\t' => return (deepest, &line[..i]),
            (None, '[' | '{') => {
                *flow += 1;
                deepest = deepest.max(*flow);
                if deepest > room {
                    return (deepest, line);
                }
            }
            (None, ']' | '}') => *flow = flow.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    (deepest, line)
}

/// Does this line (without its comment) end with a block scalar's header (`key: |`, `- >-`)?
fn opens_block_scalar(content: &str) -> bool {
    let last = content.trim_end().rsplit([' ', '\t']).next().unwrap_or("");
    last.starts_with(['|', '>'])
        && last[1..]
            .chars()
            .all(|c| c == '+' || c == '-' || c.is_ascii_digit())
}

/// The manifest's text read into its schema, and the problems met reading it. serde stops at
/// the first problem: then the text is parsed again piece by piece to list the rest, and the
/// parts that do parse are resolved all the same (None when nothing does).
pub(super) fn read(text: &str) -> (Option<RawManifest>, Vec<String>) {
    match serde_yaml::from_str(text) {
        Ok(raw) => (Some(raw), Vec::new()),
        Err(e) => {
            let first =
                tab_indented(text, &e).unwrap_or_else(|| located(text, 0, &yaml_problem(&e)));
            let (raw, more) = salvage(text);
            let mut problems = vec![first.clone()];
            problems.extend(more.into_iter().filter(|m| !same_problem(&first, m)));
            (raw, problems)
        }
    }
}

/// After a failed parse: the manifest from the parts that do parse (top-level keys, each agent
/// on its own), and every problem of the parts that do not (without line numbers).
fn salvage(text: &str) -> (Option<RawManifest>, Vec<String>) {
    use serde_yaml::Value;
    let mut problems = Vec::new();
    let Ok(Value::Mapping(mut map)) = serde_yaml::from_str::<Value>(text) else {
        return (None, problems);
    };
    let agents = map.remove("agents");
    map.insert("agents".into(), Value::Sequence(Vec::new()));
    let top = match serde_yaml::from_value::<RawManifest>(Value::Mapping(map)) {
        Ok(top) => top,
        Err(e) => {
            problems.push(located(text, 0, &yaml_problem(&e)));
            // Check the agents against the defaults all the same.
            RawManifest::default()
        }
    };
    let mut parsed = Vec::new();
    let mut indices = Vec::new();
    // `agents:` is not a list, or none of its items parses: reported already, not "empty".
    let unreadable = match &agents {
        Some(Value::Sequence(items)) => !items.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    if let Some(Value::Sequence(items)) = agents {
        for (i, item) in items.into_iter().enumerate() {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            match serde_yaml::from_value::<RawAgent>(item) {
                Ok(a) => {
                    parsed.push(a);
                    indices.push(i);
                }
                Err(e) => {
                    let from = agent_line(text, i).unwrap_or(0);
                    let msg = located(text, from, &yaml_problem(&e));
                    problems.push(format!("agents[{i}]{name}: {msg}"));
                }
            }
        }
    }
    let mut raw = top;
    raw.agents_unreadable = unreadable && parsed.is_empty();
    raw.agents = parsed;
    raw.indices = Some(indices);
    (Some(raw), problems)
}

/// The 0-based line of the `i`th item of the top-level `agents:` list.
fn agent_line(text: &str, i: usize) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("agents:"))?;
    let indent = lines[start + 1..]
        .iter()
        .find(|l| l.trim_start().starts_with('-'))
        .map(|l| l.len() - l.trim_start().len())?;
    lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .filter(|(_, l)| {
            l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('-')
        })
        .nth(i)
        .map(|(n, _)| n)
}

/// An "unknown field `x`" message with the line of `x:` (searched from line `from`) added.
fn located(text: &str, from: usize, msg: &str) -> String {
    if msg.contains(" at line ") {
        return msg.to_string();
    }
    let Some(field) = msg
        .split("unknown field `")
        .nth(1)
        .and_then(|r| r.split('`').next())
    else {
        return msg.to_string();
    };
    let line = text.lines().enumerate().skip(from).find(|(_, l)| {
        let l = l.trim_start().trim_start_matches('-').trim_start();
        l.strip_prefix(field)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    });
    match line {
        Some((n, l)) => {
            let col = l.len() - l.trim_start().trim_start_matches('-').trim_start().len() + 1;
            match msg.split_once(" (did you mean") {
                Some((head, hint)) => {
                    format!("{head} at line {} column {col} (did you mean{hint}", n + 1)
                }
                None => format!("{msg} at line {} column {col}", n + 1),
            }
        }
        None => msg.to_string(),
    }
}

/// Is `other` (from [`salvage`], no location) the problem `first` (serde's, located) names?
fn same_problem(first: &str, other: &str) -> bool {
    let core = |m: &str| -> String {
        let m = m.split(" at line ").next().unwrap_or(m);
        let m = m.split(" (did you mean").next().unwrap_or(m);
        // the hint fleet adds after `; `
        let m = m.split("; ").next().unwrap_or(m);
        // `agents[1] (name): msg` and `agents[1]: msg` name the same place.
        match (m.find(" ("), m.find("): ")) {
            (Some(a), Some(b)) if a < b && m.starts_with("agents[") => {
                format!("{}{}", &m[..a], &m[b + 1..])
            }
            _ => m.to_string(),
        }
    };
    // serde stops at an agent's first problem both times, so the problem found in
    // `agents[i]` alone is the first problem whenever that one lies in `agents[i]` too (the
    // wording may differ: `agents[0].retries: invalid type…` and `agents[0] (a1): invalid
    // value…`).
    let index = |m: &str| -> Option<String> {
        let rest = m.strip_prefix("agents[")?;
        let end = rest.find(']')?;
        Some(rest[..end].to_string())
    };
    if let (Some(a), Some(b)) = (index(first), index(other)) {
        return a == b;
    }
    let (first, other) = (core(first), core(other));
    // serde names the key (`max_parallel: invalid type…`) only when parsing the whole file.
    first == other || first.ends_with(&format!(": {other}"))
}

/// When the parse failed on a line indented with a tab, that is the problem to name (YAML
/// indents with spaces only; the parser's own words speak of tokens and scalars).
fn tab_indented(text: &str, e: &serde_yaml::Error) -> Option<String> {
    let line = e.location()?.line();
    let at = text.lines().nth(line.checked_sub(1)?)?;
    let indent = &at[..at.len() - at.trim_start_matches([' ', '\t']).len()];
    indent.contains('\t').then(|| {
        format!("YAML does not allow tabs for indentation: line {line}; indent it with spaces")
    })
}

/// serde_yaml's message with its path and location, plus a hint for the fix.
fn yaml_problem(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    if let Some(hint) = did_you_mean(&msg) {
        format!("{msg} (did you mean {hint}?)")
    } else if msg.contains("missing field `agents`") {
        format!("{msg}; list the agents under `agents:` (see `fleet init`)")
    } else if msg.starts_with("radar: ") {
        format!("{msg}; write `radar: show` (the default: overlaps in status), `radar: tell` (also tell both agents at their next turn) or `radar: off`")
    } else if msg.contains("missing field `name`") {
        format!("{msg}; give every agent a `name:`")
    } else if msg.starts_with("agents: invalid type") {
        format!("{msg}; write each agent as a list item starting with `- name:`")
    } else if [
        "mapping values are not allowed",
        "did not find expected",
        "found character that cannot start",
        "found unexpected",
        "while scanning",
        "while parsing",
    ]
    .iter()
    .any(|s| msg.contains(s))
    {
        format!(
            "{msg}; fix the YAML there (quote a value that holds `: ` or ` #`, e.g. prompt: \"fix: the bug\")"
        )
    } else {
        msg
    }
}

/// The valid names in `agents[].name` of a manifest's text, read loosely: other problems
/// (unknown keys, missing tasks, no repository) do not matter (for shell completion).
pub fn agent_names_loosely(text: &str) -> Vec<String> {
    if beyond_bounds(text).is_some() {
        return Vec::new();
    }
    let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Vec::new();
    };
    let Some(agents) = value.get("agents").and_then(|a| a.as_sequence()) else {
        return Vec::new();
    };
    agents
        .iter()
        .filter_map(|a| a.get("name").and_then(|n| n.as_str()))
        .filter(|n| valid_name(n))
        .map(str::to_string)
        .collect()
}

/// The 1-based line of each agent's `name:` entry, found by scanning the text in order.
pub(super) fn agent_lines(text: &str, agents: &[RawAgent]) -> Vec<Option<usize>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    agents
        .iter()
        .map(|a| {
            let found = lines.iter().enumerate().skip(from).find(|(_, l)| {
                let l = l.trim_start().trim_start_matches('-').trim_start();
                l.strip_prefix("name:").is_some_and(|v| {
                    let v = v.split(" #").next().unwrap_or("").trim();
                    v.trim_matches(|c| c == '"' || c == '\'') == a.name
                })
            });
            found.map(|(i, _)| {
                from = i + 1;
                i + 1
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_nesting_before_parsing() {
        let deep = |n: usize| {
            format!(
                "agents:\n  - name: a\n    prompt: {}{}\n",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert_eq!(deepest(&deep(60)), None);
        assert_eq!(deepest(&deep(100_000)), Some(3));
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert_eq!(deepest(&block), Some(MAX_DEPTH + 1));
        // brackets in quotes, comments and block scalars are text
        let text = format!(
            "agents:\n  - name: a # {open}\n    prompt: \"{open}\"\n    task_note: |\n      {open}\n{deep_text}  - name: b\n    prompt: '{open}'\n",
            open = "[".repeat(100),
            deep_text = (0..100).map(|i| format!("      {}x\n", " ".repeat(i))).collect::<String>()
        );
        assert_eq!(deepest(&text), None, "{text}");
        assert!(deepest("a: - - - - b\n").is_none());
    }

    #[test]
    fn finds_agent_lines() {
        let text = "agents:\n  - name: a\n    prompt: x\n  - prompt: y\n    name: \"b\"\n";
        let raw: RawManifest = serde_yaml::from_str(text).unwrap();
        assert_eq!(agent_lines(text, &raw.agents), vec![Some(2), Some(5)]);
    }
}
