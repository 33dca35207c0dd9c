//! Aider's plain output (`--no-pretty --no-stream`; aider-chat 0.86.2), which passes through
//! as it is while these lines are read:
//!
//! - after each reply, `Tokens: 776 sent, 17 received. Cost: $0.0026 message, $0.0026
//!   session.` (the cost only when aider knows the model's price; `, 1.2k cache write` and
//!   `, 3.4k cache hit` before `received` when there are any, and then the cost on a line of
//!   its own). Without streaming the counts are the API's own usage (streamed, aider counts
//!   them itself); they are printed rounded from 1000 on (`1.2k`, `12k`) and the cost to
//!   $0.0001: the usage is as exact as aider says it. Each line is one turn; the cost is the
//!   session's so far.
//! - `Did not apply edit to X (--dry-run)`: an edit refused (`permissions: read-only`).
//! - an API error: `litellm.RateLimitError: …` (wrapped at 80 columns), then aider's word for
//!   it, e.g. `The API provider has rate limited you. Try again later or check your quotas.`,
//!   then `Retrying in 0.2 seconds...` — or nothing more when aider gives up (about a minute
//!   of retries), and it exits 0 all the same. That last error is the CLI's error.
use super::Transcript;

/// What aider says after an API error (its `exceptions.py`), before retrying or giving up.
const ERROR_WORDS: [&str; 8] = [
    "The API provider has rate limited you.",
    "The API provider's servers are down or overloaded.",
    "The API provider is not able to authenticate you.",
    "The API provider timed out without returning a response.",
    "The API provider has refused the request due to a safety policy",
    "Insufficient credits with the API provider.",
    "The API provider was unable to fetch one or more images.",
    "OpenRouter or the upstream API provider is down, overloaded or rate limiting",
];

impl Transcript {
    /// One line of aider's output: the same line out, the usage and errors noted.
    pub(super) fn aider(&mut self, line: &str) -> Vec<String> {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("Tokens: ") {
            self.usage.turns += 1;
            self.aider_error = None;
            let (tokens, cost) = match rest.split_once(" Cost: ") {
                Some((t, c)) => (t, Some(c)),
                None => (rest, None),
            };
            for part in tokens.trim_end_matches('.').split(", ") {
                if let Some(n) = part.strip_suffix(" sent").and_then(count) {
                    self.usage.input_tokens += n;
                } else if let Some(n) = part.strip_suffix(" received").and_then(count) {
                    self.usage.output_tokens += n;
                }
            }
            self.aider_cost(cost);
        } else if l.starts_with("Cost: $") {
            self.aider_cost(Some(&l["Cost: ".len()..]));
        } else if l.starts_with("Did not apply edit to ") && l.ends_with("(--dry-run)") {
            self.usage.denials += 1;
        } else if ERROR_WORDS.iter().any(|w| l.starts_with(w))
            || (l.starts_with("litellm.") && l.contains("Error: "))
        {
            self.aider_error = Some(l.to_string());
        } else if l.starts_with("Retrying in ")
            || l.starts_with("Applied edit to ")
            || l.starts_with("Commit ")
        {
            self.aider_error = None;
        }
        vec![line.to_string()]
    }

    /// `$0.0026 message, $0.0026 session.`: the session's cost so far.
    fn aider_cost(&mut self, cost: Option<&str>) {
        let session = cost
            .and_then(|c| c.split(", ").find_map(|p| p.strip_suffix(" session.")))
            .and_then(|s| s.trim_start_matches('$').parse::<f64>().ok());
        if let Some(s) = session {
            self.usage.cost_usd = Some(s);
        }
    }
}

/// `776`, `1.2k`, `12k` (aider's rounding), `1.5M`.
fn count(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, scale) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    let n: f64 = num.parse().ok()?;
    Some((n * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::Format;

    #[test]
    fn usage_from_the_token_lines_of_a_real_run() {
        let input = include_str!("../../tests/fixtures/real/aider-commit.txt");
        let (text, t) = run(Format::AiderText, input);
        assert_eq!(text, input, "aider's output passes through as it is");
        assert_eq!(t.usage.turns, 1);
        // `--no-stream`: the API's own figures (what the fake server sent)
        assert_eq!(t.usage.input_tokens, 513);
        assert_eq!(t.usage.output_tokens, 53);
        assert_eq!(t.usage.cost_usd, Some(0.0023));
        assert_eq!(t.usage.denials, 0);
        assert_eq!(t.error, None);
    }

    #[test]
    fn rounded_counts_cache_figures_and_a_cost_on_its_own_line() {
        let (_, t) = run(
            Format::AiderText,
            "Tokens: 1.2k sent, 3 received. Cost: $0.01 message, $0.01 session.\n\
             Tokens: 12k sent, 2.0k cache write, 8.9k cache hit, 310 received.\n\
             Cost: $0.05 message, $0.06 session.\n",
        );
        assert_eq!(t.usage.turns, 2);
        assert_eq!(t.usage.input_tokens, 13_200);
        assert_eq!(t.usage.output_tokens, 313);
        assert_eq!(t.usage.cost_usd, Some(0.06));
    }

    #[test]
    fn an_api_error_it_gave_up_on_is_its_error() {
        let input = include_str!("../../tests/fixtures/real/aider-rate-limit.txt");
        let (_, t) = run(Format::AiderText, input);
        assert_eq!(
            t.error.as_deref(),
            Some("The API provider has rate limited you. Try again later or check your quotas.")
        );
        assert_eq!(t.usage.turns, 0);
        // the provider's message had a URL: aider prints it once more at the very end
        let input = include_str!("../../tests/fixtures/real/aider-rate-limit-url.txt");
        let (_, t) = run(Format::AiderText, input);
        assert!(t
            .error
            .unwrap()
            .starts_with("The API provider has rate limited you."));
        // one it got past is not
        let (_, t) = run(
            Format::AiderText,
            "The API provider has rate limited you. Try again later or check your quotas.\n\
             Retrying in 0.2 seconds...\nTokens: 10 sent, 2 received.\n",
        );
        assert_eq!(t.error, None);
        assert_eq!(t.usage.input_tokens, 10);
    }

    #[test]
    fn dry_run_edits_are_denials() {
        let input = include_str!("../../tests/fixtures/real/aider-dry-run.txt");
        let (_, t) = run(Format::AiderText, input);
        assert_eq!(t.usage.denials, 1);
        assert_eq!(t.usage.turns, 1);
        assert_eq!(t.error, None);
    }
}
