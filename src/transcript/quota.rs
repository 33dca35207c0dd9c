//! Quotas as the CLIs say them: an account's usage limit (Claude's session or weekly limit,
//! a ChatGPT plan's usage limit, an API key's exhausted quota), which holds for every agent
//! on that credential until a reset time, told from a transient rate limit (a 429 the CLI
//! retries, and fleet backs off per agent).
//!
//! Facts of the pinned CLIs (tests/fixtures/real/*-quota*.jsonl):
//! - claude 2.1.197, logged in to a subscription (`claude login`, `CLAUDE_CODE_OAUTH_TOKEN`):
//!   a 429 whose `anthropic-ratelimit-unified-status` header is `rejected` is not retried;
//!   its stream gets a `rate_limit_event` with `rate_limit_info` {`status: rejected`,
//!   `resetsAt` (unix seconds, the `anthropic-ratelimit-unified-reset` header),
//!   `rateLimitType` (`five_hour`, `seven_day`…)}, then a failed `result` (`is_error`,
//!   `api_error_status: 429`, "You've hit your session limit · resets 11:07pm (UTC)"),
//!   exit 1. With an API key those headers are ignored: a 429 is a rate limit.
//! - codex 0.171.0: a 429 whose body's `error.type` is `usage_limit_reached` (with
//!   `resets_at`/`resets_in_seconds`) is not retried; `error` and `turn.failed` say "You’ve
//!   hit your usage limit. … try again at 11:07 PM." (the reset in the local time zone,
//!   `%-I:%M %p` the same day, else `%b %-d<st|nd|rd|th>, %Y %-I:%M %p`), exit 1; an API
//!   key's `insufficient_quota` is "Quota exceeded. Check your plan and billing details.".
//!   Its session log's last `token_count` has the windows' `resets_at` from the
//!   `x-codex-*-reset-at` headers.
//! - gemini 0.61.0 on an API key: a 429 `RESOURCE_EXHAUSTED` whose `QuotaFailure` names a
//!   per-day quota is not retried: its `result` error says "[API Error: You have exhausted
//!   your daily quota on this model.]", exit 173; a 429 without it ("Resource has been
//!   exhausted (e.g. check quota)") is retried, a rate limit.
use serde_json::Value;

/// The CLI stopped on its account's quota; when it resets, if the CLI said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaHit {
    /// Unix seconds.
    pub resets_at: Option<u64>,
}

/// Claude's `rate_limit_event`: the reset of a quota it rejects (None: no quota, or the
/// account goes on on paid extra usage), as `Some(None)` when rejected without a reset.
pub(super) fn claude_rejected(e: &Value) -> Option<Option<u64>> {
    let info = &e["rate_limit_info"];
    if info["status"] != "rejected" || info["isUsingOverage"] == true {
        return None;
    }
    Some(info["resetsAt"].as_u64())
}

/// What a claude failure says when it is a quota (its words, for a stream without the
/// `rate_limit_event`).
pub(super) fn claude_says_quota(result: &str) -> bool {
    result.starts_with("You've hit your") || result.starts_with("You're out of usage")
}

/// Is this codex error message a quota? Then its reset time, if it gives one.
pub(super) fn codex_quota(message: &str) -> Option<QuotaHit> {
    let m = message.replace('\u{2019}', "'");
    if !(m.contains("You've hit your usage limit") || m.starts_with("Quota exceeded")) {
        return None;
    }
    let resets_at = m
        .split("ry again at ")
        .nth(1)
        .and_then(|t| local_time(t.trim_end_matches('.').trim(), crate::util::now()));
    Some(QuotaHit { resets_at })
}

/// Is this gemini error its API key's daily quota (a `TerminalQuotaError` it does not
/// retry: "You have exhausted your daily quota on this model.")? Its message drops the
/// API's `retryDelay`; the Gemini API's daily quotas reset at midnight Pacific time, taken
/// as the next 08:00 UTC (midnight PST; an hour late in summer).
pub(super) fn gemini_quota(message: &str) -> Option<QuotaHit> {
    if !message.contains("exhausted your daily quota") {
        return None;
    }
    let now = crate::util::now();
    let day = now - now % 86_400;
    let at = day + 8 * 3600;
    Some(QuotaHit {
        resets_at: Some(if at > now { at } else { at + 86_400 }),
    })
}

/// The reset codex's session log has: the latest `token_count`'s windows used up (100%),
/// the latest of their `resets_at`.
pub(super) fn codex_log_reset(log: &str) -> Option<u64> {
    let e = log
        .lines()
        .rev()
        .filter(|l| l.contains("\"token_count\"") && l.contains("\"rate_limits\""))
        .find_map(|l| serde_json::from_str::<Value>(l).ok())?;
    let limits = &e["payload"]["rate_limits"];
    ["primary", "secondary"]
        .iter()
        .map(|w| &limits[*w])
        .filter(|w| w["used_percent"].as_f64().is_some_and(|p| p >= 100.0))
        .filter_map(|w| w["resets_at"].as_u64())
        .max()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `11:07 PM` (today) or `Dec 8th, 2026 11:07 PM` in this machine's local time zone (the
/// one the CLI, a child of this process, formats in) as unix seconds; a time of day already
/// past today is tomorrow's.
pub fn local_time(text: &str, now: u64) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (date, clock) = match words.as_slice() {
        [t, ampm] => (None, (*t, *ampm)),
        [mon, day, year, t, ampm] => {
            let m = MONTHS.iter().position(|x| x == mon)?;
            let d: u32 = day
                .trim_end_matches(',')
                .trim_end_matches(char::is_alphabetic)
                .parse()
                .ok()?;
            let y: i32 = year.parse().ok()?;
            (Some((y, m as i32, d as i32)), (*t, *ampm))
        }
        _ => return None,
    };
    let (h, min) = clock.0.split_once(':')?;
    let (mut h, min): (i32, i32) = (h.parse().ok()?, min.parse().ok()?);
    match clock.1 {
        "PM" if h != 12 => h += 12,
        "AM" if h == 12 => h = 0,
        "AM" | "PM" => {}
        _ => return None,
    }
    let mut tm = local_tm(now)?;
    if let Some((y, m, d)) = date {
        tm.tm_year = y - 1900;
        tm.tm_mon = m;
        tm.tm_mday = d;
    }
    tm.tm_hour = h;
    tm.tm_min = min;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    // SAFETY: mktime reads and normalises a tm we own.
    let at = unsafe { libc::mktime(&mut tm) };
    let at = u64::try_from(at).ok()?;
    Some(if date.is_none() && at + 60 < now {
        at + 86_400
    } else {
        at
    })
}

/// `now` broken down in the local time zone.
fn local_tm(now: u64) -> Option<libc::tm> {
    let t = libc::time_t::try_from(now).ok()?;
    // SAFETY: an all-zero tm is valid; localtime_r fills it from t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

/// `19:00` in the local time zone, with the date (`Dec 9 19:00`) when it is not within the
/// next day.
pub fn clock(at: u64) -> String {
    let now = crate::util::now();
    match local_tm(at) {
        Some(tm) if at < now + 20 * 3600 => format!("{:02}:{:02}", tm.tm_hour, tm.tm_min),
        Some(tm) => format!(
            "{} {} {:02}:{:02}",
            MONTHS[tm.tm_mon.clamp(0, 11) as usize],
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min
        ),
        None => crate::util::rfc3339(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_reset_times_are_read_in_local_time() {
        let now = crate::util::now();
        let tm = local_tm(now + 3600).unwrap();
        let (h12, ampm) = match tm.tm_hour {
            0 => (12, "AM"),
            h @ 1..=11 => (h, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        let text = format!("{h12}:{:02} {ampm}", tm.tm_min);
        let at = local_time(&text, now).unwrap();
        assert!(
            at.abs_diff(now + 3600) < 61,
            "{text}: {at} vs {}",
            now + 3600
        );
        let day = format!(
            "{} {}th, {} {text}",
            MONTHS[tm.tm_mon as usize],
            tm.tm_mday,
            tm.tm_year + 1900
        );
        assert!(local_time(&day, now).unwrap().abs_diff(now + 3600) < 61);
        assert_eq!(local_time("soon", now), None);
    }

    #[test]
    fn quota_words_are_told_from_rate_limits() {
        let hit = codex_quota("You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at 11:07 PM.");
        assert!(hit.unwrap().resets_at.is_some());
        assert_eq!(
            codex_quota("Quota exceeded. Check your plan and billing details."),
            Some(QuotaHit { resets_at: None })
        );
        assert_eq!(
            codex_quota("exceeded retry limit, last status: 429 Too Many Requests"),
            None
        );
        assert!(claude_says_quota(
            "You've hit your session limit · resets 11:07pm (UTC)"
        ));
        assert!(!claude_says_quota(
            "API Error: Request rejected (429) · rate limit"
        ));
    }

    fn replay(format: crate::transcript::Format, input: &str) -> crate::transcript::Transcript {
        let mut t = crate::transcript::Transcript::new(format);
        t.feed(input.as_bytes());
        t.finish();
        t
    }

    #[test]
    fn the_real_clis_quota_errors_are_quotas_with_their_reset() {
        let t = replay(
            crate::transcript::Format::ClaudeStreamJson,
            include_str!("../../tests/fixtures/real/claude-quota.jsonl"),
        );
        assert_eq!(
            t.quota,
            Some(QuotaHit {
                resets_at: Some(1_796_685_600)
            })
        );
        assert!(t
            .error
            .unwrap()
            .starts_with("You've hit your session limit"));
        let t = replay(
            crate::transcript::Format::CodexJson,
            include_str!("../../tests/fixtures/real/codex-quota.jsonl"),
        );
        assert!(
            t.quota.is_some_and(|q| q.resets_at.is_some()),
            "{:?}",
            t.quota
        );
        let t = replay(
            crate::transcript::Format::GeminiStreamJson,
            include_str!("../../tests/fixtures/real/gemini-quota.jsonl"),
        );
        assert!(
            t.quota.is_some_and(|q| q.resets_at.is_some()),
            "{:?}",
            t.quota
        );
        // A rate limit given up on is no quota.
        let t = replay(
            crate::transcript::Format::GeminiStreamJson,
            include_str!("../../tests/fixtures/real/gemini-429.jsonl"),
        );
        assert_eq!(t.quota, None);
        for (format, text) in [
            (
                crate::transcript::Format::ClaudeStreamJson,
                include_str!("../../tests/fixtures/real/claude-rate-limit-fails.jsonl"),
            ),
            (
                crate::transcript::Format::CodexJson,
                include_str!("../../tests/fixtures/real/codex-429.jsonl"),
            ),
        ] {
            let t = replay(format, text);
            assert!(t.error.is_some());
            assert_eq!(t.quota, None);
        }
    }
}
