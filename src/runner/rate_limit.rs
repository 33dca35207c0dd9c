//! Rate limits: the only place that tells from an agent's last words whether its CLI hit a
//! rate limit (or an overloaded service), how long to wait, and that waits it out (the agent
//! shown `waiting`) before the next try. Only an agent CLI fleet knows (a preset) can hit
//! one, told by the CLI's own error (its event stream's error or result; for aider, its
//! documented message): the output of a `command:` or `agent: shell` agent is its own work
//! (a test suite's `1429 passed`, a log that mentions a rate limit), never taken for one. A
//! `command:` that wraps an agent CLI gets no rate-limit retries: `agent:` with `args:` does.
use std::fs::File;
use std::time::Duration;

use crate::preset::Preset;
use crate::state::{self, Record, Spec, State};
use crate::util;

use super::{End, Tee};

/// After a run of the agent: None when it did not end on a rate limit; else the task
/// reopened for the next try once the wait is over, or the end of the run (no retries left,
/// the task unreadable).
pub(super) fn retry_after_rate_limit(
    spec: &Spec,
    record: &mut Record,
    result: &std::result::Result<i32, End>,
    tail: &[u8],
    out: &mut Tee,
) -> Option<std::result::Result<File, End>> {
    if !spec.preset.is_some_and(|p| p != Preset::Shell) {
        return None;
    }
    let exit = match result {
        Ok(code) if *code != 0 => Some(*code),
        Err((_, code, Some(reason))) if reason.starts_with("exit") => Some(*code),
        _ => None,
    };
    let delay = exit.and_then(|_| rate_limited(tail, record.rate_retry))?;
    let code = exit.unwrap_or(1);
    if record.rate_retry >= spec.retries {
        out.line(&format!(
            "[fleet] rate-limited again (exit {code}); no retries left (retries: {})",
            spec.retries
        ));
        return Some(Err((
            State::Failed,
            code,
            Some(format!("rate limited (exit {code})")),
        )));
    }
    wait_out_rate_limit(spec, record, code, delay, out);
    Some(File::open(&spec.task).map_err(|e| {
        out.line(&format!("[fleet] cannot open the task again: {e}"));
        (State::Failed, 127, Some("task unreadable".into()))
    }))
}

/// The agent ended on its CLI's rate limit: show `waiting` until `delay` seconds from now,
/// then mark a new attempt running.
fn wait_out_rate_limit(spec: &Spec, record: &mut Record, code: i32, delay: u64, out: &mut Tee) {
    record.rate_retry += 1;
    let at = util::now() + delay;
    record.state = Some(State::Waiting);
    record.retry_at = Some(at);
    let _ = state::write_json(&spec.record, record);
    out.line(&format!(
        "[fleet] rate-limited (exit {code}): trying again at {} (retry {} of {})",
        util::rfc3339(at),
        record.rate_retry,
        spec.retries
    ));
    // Asleep until then (the clock read again after, in case the sleep came short).
    while util::now() < at {
        std::thread::sleep(Duration::from_secs(at.saturating_sub(util::now())).max(SHORT));
    }
    super::next_attempt(spec, record);
    out.line(&format!(
        "[fleet] {} started again at {} (attempt {})",
        spec.agent,
        util::rfc3339(util::now()),
        record.attempt
    ));
}

/// The least a rate-limit wait sleeps at a time (the clock counts in seconds).
const SHORT: Duration = Duration::from_millis(100);

/// What the agent's CLI itself said last, where a rate limit shows: for an event stream,
/// the CLI's own error (an agent's tool output that mentions a 429 is not the CLI's); for
/// plain text, the last [`LAST_LINES`] lines.
pub(super) fn last_words(
    spec: &Spec,
    tail: Vec<u8>,
    result: &std::result::Result<i32, End>,
) -> Vec<u8> {
    if spec.format.is_some() {
        return match result {
            Err((_, _, Some(reason))) => reason.clone().into_bytes(),
            _ => Vec::new(),
        };
    }
    let text = String::from_utf8_lossy(&tail);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LAST_LINES)..]
        .join("\n")
        .into_bytes()
}

/// How many of a plain-text agent's last lines are its last words.
const LAST_LINES: usize = 5;

/// Words agent CLIs use when they stop on a rate limit or an overloaded service. (Not a bare
/// `429`: digits inside other text, `1429 passed`, are no rate limit; the CLIs say "429 Too
/// Many Requests", "rate limited (429)", "Request rejected (429) · … rate limit".)
const RATE_LIMIT_SIGNS: [&str; 8] = [
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "overloaded",
    "usage limit",
    "quota exceeded",
    "resource_exhausted",
];

/// First backoff after a rate limit whose reset time the CLI did not say; doubles each time.
const BACKOFF: u64 = 30;
/// The longest fleet waits between two tries.
const MAX_WAIT: u64 = 6 * 3600;

/// Did the agent end on a rate limit, judging by the end of its output? Then how many
/// seconds to wait: until the reset time the CLI printed (Claude Code prints
/// `…limit reached|<unix time>`), after `retry after N`, or an exponential backoff.
fn rate_limited(tail: &[u8], retries_so_far: u32) -> Option<u64> {
    let text = String::from_utf8_lossy(tail).to_lowercase();
    if !RATE_LIMIT_SIGNS.iter().any(|s| text.contains(s)) {
        return None;
    }
    let now = util::now();
    let reset = text.split('|').skip(1).find_map(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (digits.len() == 10)
            .then(|| digits.parse::<u64>().ok())
            .flatten()
    });
    let after = text
        .split("retry after")
        .nth(1)
        .or_else(|| text.split("retry-after:").nth(1))
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        });
    let wait = match (reset, after) {
        (Some(at), _) => at.saturating_sub(now),
        (None, Some(secs)) => secs,
        (None, None) => BACKOFF.saturating_mul(1 << retries_so_far.min(10)),
    };
    Some(wait.clamp(1, MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spots_rate_limits_and_their_reset() {
        assert_eq!(rate_limited(b"error: file not found", 0), None);
        assert_eq!(rate_limited(b"tests: 1429 passed, 1 failed", 0), None);
        let at = util::now() + 120;
        let wait = rate_limited(format!("Claude AI usage limit reached|{at}").as_bytes(), 0);
        assert!(
            matches!(wait, Some(w) if (118..=120).contains(&w)),
            "{wait:?}"
        );
        assert_eq!(
            rate_limited(b"429 Too Many Requests; retry after 7s", 0),
            Some(7)
        );
        assert_eq!(rate_limited(b"API Error: Overloaded", 0), Some(30));
        assert_eq!(rate_limited(b"API Error: Overloaded", 2), Some(120));
    }
}
