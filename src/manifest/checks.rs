//! The checks of single values: agent and project names, durations (`timeout: 45m`), and
//! the names and values of `env:`.
use std::collections::BTreeMap;

use super::schema::Scalar;

/// `90`, `90s`, `45m`, `2h`, `1h30m` → seconds; None when it is not such a duration (or 0).
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return (secs > 0).then_some(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        let n: u64 = std::mem::take(&mut number).parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (number.is_empty() && total > 0).then_some(total)
}

/// Is `name` a valid agent (or project) name: `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`?
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A directory name turned into a valid project name.
pub(crate) fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_start_matches(['-', '_']);
    let s: String = s.chars().take(64).collect();
    if s.is_empty() {
        "fleet".to_string()
    } else {
        s
    }
}

/// A variable name every shell can use (POSIX): `^[A-Za-z_][A-Za-z0-9_]*$`. Other keys
/// (`A-B`, `1X`, `A B`) reach the agent's process but no `$NAME` in `sh -c` can read them.
pub(super) fn env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The environment of `env:` as strings; keys a shell cannot name and values holding a NUL
/// byte are problems (`at` names the agent, or is empty at the top level).
pub(super) fn env_map(
    env: &BTreeMap<String, Scalar>,
    at: &str,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in env {
        if !env_name(k) {
            problems.push(format!(
                "{at}env: `{}` is not a name a shell can use; use letters, digits and `_`, not starting with a digit",
                k.escape_debug()
            ));
        }
        let v = v.0.clone();
        if v.contains('\0') {
            problems.push(format!("{at}env: `{k}` holds a NUL byte"));
        }
        out.insert(k.clone(), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("45m"), Some(2700));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration(" 2h "), Some(7200));
        for bad in ["", "0", "0s", "45x", "m", "1h30", "-5m", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("agent1"));
        assert!(valid_name("A_b-c"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
        assert!(valid_name(&"a".repeat(64)));
        assert!(!valid_name(&"a".repeat(65)));
        assert_eq!(sanitize("my.repo"), "my-repo");
        assert_eq!(sanitize("..x"), "x");
    }
}
