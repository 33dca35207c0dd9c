//! `budget:`: the fleet's budget in dollars and/or tokens, with a reserve, and what the
//! fleet has spent (the sum over its agents' records, earlier starts included). Below the
//! budget less the reserve agents start as usual; in the reserve no new agent starts and no
//! verify retry begins; at the budget the running agents are stopped.
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Record;

/// The manifest's `budget:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
    pub reserve: Option<f64>,
}

/// The fleet's budget, checked: at least one unit, the reserve in the budget's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
    /// Of the budget's one unit (dollars or tokens); 0 without one.
    pub reserve: f64,
}

/// Where the fleet's spend stands against its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Agents start and run as usual.
    Ok,
    /// In the reserve: no new start, no verify retry; running agents go on.
    Reserve,
    /// Spent: running agents are stopped.
    Spent,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Reserve => "reserve",
            Level::Spent => "spent",
        }
    }
}

/// What the fleet has spent: dollars (as its CLIs report or `prices:` give) and tokens
/// (input and output).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub usd: f64,
    pub tokens: u64,
}

impl Spent {
    /// What one record says its agent spent: its latest start and the earlier ones.
    pub fn of(record: &Record) -> Spent {
        Spent::of_usage(record.usage.as_ref()).plus(Spent::of_usage(record.earlier.as_ref()))
    }

    /// What one usage spent.
    pub fn of_usage(usage: Option<&crate::transcript::Usage>) -> Spent {
        usage.map_or_else(Spent::default, |u| Spent {
            usd: u.cost_usd.unwrap_or(0.0),
            tokens: u.input_tokens + u.output_tokens,
        })
    }

    /// The sum of the records in `agents` (`.fleet/agents/`), leaving out `except`'s.
    pub fn in_dir(agents: &Path, except: Option<&str>) -> Spent {
        let mut total = Spent::default();
        let Ok(entries) = std::fs::read_dir(agents) else {
            return total;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json")
                || except.is_some_and(|n| path.file_stem().is_some_and(|s| s == n))
            {
                continue;
            }
            if let Some(r) = super::read_json::<Record>(&path) {
                total = total.plus(Spent::of(&r));
            }
        }
        total
    }

    pub fn plus(self, other: Spent) -> Spent {
        Spent {
            usd: self.usd + other.usd,
            tokens: self.tokens + other.tokens,
        }
    }
}

impl Budget {
    /// The share of `n` agents of `of` (this machine's, or one host's): the budget and its
    /// reserve scaled by n/of, so that the places together never spend more than the whole.
    pub fn share(self, n: usize, of: usize) -> Budget {
        if of == 0 || n >= of {
            return self;
        }
        let part = n as f64 / of as f64;
        Budget {
            usd: self.usd.map(|u| u * part),
            tokens: self.tokens.map(|t| (t as f64 * part).floor() as u64),
            reserve: self.reserve * part,
        }
    }

    /// Check `budget:` (problems pushed, naming the fix).
    pub fn check(raw: &RawBudget, problems: &mut Vec<String>) -> Option<Budget> {
        let bad = |x: f64| !x.is_finite() || x < 0.0;
        if raw.usd.is_none() && raw.tokens.is_none() {
            problems.push("budget: give `usd:` and/or `tokens:`, e.g. `budget: {usd: 20}`".into());
            return None;
        }
        if raw.usd.is_some_and(bad) || raw.reserve.is_some_and(bad) {
            problems.push("budget: `usd:` and `reserve:` must be numbers of at least 0".into());
            return None;
        }
        let reserve = raw.reserve.unwrap_or(0.0);
        if reserve > 0.0 && raw.usd.is_some() && raw.tokens.is_some() {
            problems.push(
                "budget: `reserve:` is in the budget's unit; with both `usd:` and `tokens:` it would be ambiguous: keep one of them, or drop `reserve:`".into(),
            );
            return None;
        }
        let whole = raw.usd.or(raw.tokens.map(|t| t as f64)).unwrap_or(0.0);
        if reserve > whole {
            problems.push(format!(
                "budget: `reserve: {reserve}` is more than the budget ({whole}); make it smaller"
            ));
            return None;
        }
        Some(Budget {
            usd: raw.usd,
            tokens: raw.tokens,
            reserve,
        })
    }

    /// Where `spent` stands: the worst of its units.
    pub fn level(&self, spent: Spent) -> Level {
        let of = |cap: f64, used: f64| {
            if used >= cap {
                Level::Spent
            } else if used >= cap - self.reserve {
                Level::Reserve
            } else {
                Level::Ok
            }
        };
        let usd = self.usd.map_or(Level::Ok, |cap| of(cap, spent.usd));
        let tokens = self
            .tokens
            .map_or(Level::Ok, |cap| of(cap as f64, spent.tokens as f64));
        usd.max(tokens)
    }

    /// `$3.10 of $20 (reserve $2)`, `120000 of 500000 tokens`.
    pub fn describe(&self, spent: Spent) -> String {
        let reserve = |unit: &str| {
            if self.reserve > 0.0 {
                format!(" (reserve {unit}{})", self.reserve)
            } else {
                String::new()
            }
        };
        let mut parts = Vec::new();
        if let Some(usd) = self.usd {
            parts.push(format!("${:.2} of ${usd}{}", spent.usd, reserve("$")));
        }
        if let Some(t) = self.tokens {
            let r = if self.usd.is_none() {
                reserve("")
            } else {
                String::new()
            };
            parts.push(format!("{} of {t} tokens{r}", spent.tokens));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_reserve_and_the_cap() {
        let b = Budget {
            usd: Some(10.0),
            tokens: None,
            reserve: 2.0,
        };
        let at = |usd| b.level(Spent { usd, tokens: 0 });
        assert_eq!(at(7.9), Level::Ok);
        assert_eq!(at(8.0), Level::Reserve);
        assert_eq!(at(10.0), Level::Spent);
        let t = Budget {
            usd: None,
            tokens: Some(1000),
            reserve: 0.0,
        };
        assert_eq!(
            t.level(Spent {
                usd: 99.0,
                tokens: 999
            }),
            Level::Ok
        );
        assert_eq!(
            t.level(Spent {
                usd: 0.0,
                tokens: 1000
            }),
            Level::Spent
        );
    }
}
