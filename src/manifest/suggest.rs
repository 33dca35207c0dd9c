//! "Did you mean": the closest of the names a place expects to a name that is not one of them
//! (a misspelt key: `comand` → `command`), and the edit distance it is measured by (also for
//! agent names, in `Plan`'s unknown-agent error).

/// For "unknown field `comand`, expected one of `a`, `b`": the closest expected names, each
/// in backticks (`` `command` ``).
pub(super) fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    let field = rest.split('`').next()?;
    let expected = rest.split("expected ").nth(1)?;
    closest(field, expected.split('`').skip(1).step_by(2), "`")
}

/// The ones of `known` closest to `name`, when close enough to be a slip (at most 2 edits,
/// or a third of its length): all those equally close, in `known`'s order, each between
/// `quote`s, joined by ` or ` (`clash or clash2`). The one rule of every "did you mean".
pub(super) fn closest<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
    quote: &str,
) -> Option<String> {
    let near: Vec<(usize, &str)> = known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .collect();
    let best = near.iter().map(|(d, _)| *d).min()?;
    let mut names: Vec<String> = Vec::new();
    for (_, k) in near.iter().filter(|(d, _)| *d == best) {
        let k = format!("{quote}{k}{quote}");
        if !names.contains(&k) {
            names.push(k);
        }
    }
    Some(names.join(" or "))
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
        assert_eq!(did_you_mean(msg).as_deref(), Some("`command`"));
        assert_eq!(
            did_you_mean("agents: unknown field `zzzzzz`, expected `name`"),
            None
        );
    }

    #[test]
    fn names_every_name_equally_close() {
        let known = ["docs", "clash", "clash2", "slow"];
        assert_eq!(
            closest("clash3", known, "").as_deref(),
            Some("clash or clash2")
        );
        assert_eq!(closest("slo", known, "`").as_deref(), Some("`slow`"));
        assert_eq!(closest("zzzzzz", known, ""), None);
    }
}
