//! "Did you mean": the closest of the names a place expects to a name that is not one of them
//! (a misspelt key: `comand` → `command`), and the edit distance it is measured by (also for
//! agent names, in `Plan`'s unknown-agent error).

/// For "unknown field `comand`, expected one of `a`, `b`": the closest expected name.
pub(super) fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    let field = rest.split('`').next()?;
    let expected = rest.split("expected ").nth(1)?;
    closest(field, expected.split('`').skip(1).step_by(2)).map(str::to_string)
}

/// The one of `known` closest to `name`, when one is close enough to be a slip (at most 2
/// edits, or a third of its length): the one rule of every "did you mean".
pub(super) fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
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
