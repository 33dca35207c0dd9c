//! The fleet's `budget:` in `status`: a line under the table (spent of budget, and whether
//! the reserve holds new starts back), `queued (fleet budget)` for the agents it holds, and
//! `status --json`'s `budget` object.
use serde_json::json;

use crate::launch::queue;
use crate::manifest::Plan;
use crate::state::{Level, State};

/// `budget: $3.10 of $20 (reserve $2): no new starts` under the table, or nothing.
pub(super) fn line(plan: &Plan) -> String {
    let (Some(b), Some((level, spent))) = (plan.budget, queue::budget(plan)) else {
        return String::new();
    };
    let what = match level {
        Level::Ok => "",
        Level::Reserve => ": in the reserve, no new agent starts",
        Level::Spent => ": spent, no agent runs",
    };
    format!("budget: {}{what}\n", b.describe(spent))
}

/// The label of a queued agent that the fleet budget, or its credential's quota, holds back.
pub(super) fn label(
    plan: &Plan,
    agent: &crate::manifest::Agent,
    state: State,
    label: String,
) -> String {
    if state != State::Queued {
        return label;
    }
    if queue::budget(plan).is_some_and(|(level, _)| level >= Level::Reserve) {
        return "queued (fleet budget)".into();
    }
    match queue::under_quota(plan, agent) {
        Some(q) => format!(
            "queued (quota on {}, resets {})",
            q.label,
            crate::transcript::clock(q.resets_at)
        ),
        None => label,
    }
}

/// `status --json`'s `budget`: {usd, tokens, reserve, spent_usd, spent_tokens, state}, or
/// null without `budget:`.
pub fn json(plan: &Plan) -> serde_json::Value {
    let (Some(b), Some((level, spent))) = (plan.budget, queue::budget(plan)) else {
        return serde_json::Value::Null;
    };
    json!({
        "usd": b.usd,
        "tokens": b.tokens,
        "reserve": b.reserve,
        "spent_usd": crate::prices::round_usd(spent.usd),
        "spent_tokens": spent.tokens,
        "state": level.name(),
    })
}
