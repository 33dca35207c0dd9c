//! "Did you mean": the closest of the names a place expects to a name that is not one of them
//! (a misspelt key: `comand` → `command`), and the edit distance it is measured by (also for
//! agent names, in `Plan`'s unknown-agent error).

/// For "unknown field `comand`, expected one of `a`, `b`": the closest expected name.
pub(super) fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    let field = rest.split('`').next()?;
    let expected = rest.split("expected ").nth(1)?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (edit_distance(field, cand), cand))
        .filter(|(d, cand)| *d <= 2.max(cand.len() / 3))
        .min()
        .map(|(_, cand)| cand.to_string())
}

/// The Levenshtein distance between `a` and `b`, in characters.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_key() {
        let msg = "agents[1]: unknown field `comand`, expected one of `name`, `task`, `command` at line 8 column 5";
        assert_eq!(did_you_mean(msg).as_deref(), Some("command"));
        assert_eq!(
            did_you_mean("agents: unknown field `zzzzzz`, expected `name`"),
            None
        );
    }
}
