//! What tokens cost, for the CLIs that report tokens only (Codex, Gemini CLI): a small
//! table of list prices per model (US dollars per million tokens, as published by OpenAI
//! and Google; the `prices:` key of the manifest overrides or adds models), so budgets,
//! `cost_usd` and the TOTAL row work for every preset.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    /// Input tokens served from the provider's cache; default: the input price.
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
}

impl Price {
    const fn new(input: f64, cached_input: f64, output: f64) -> Price {
        Price {
            input,
            cached_input: Some(cached_input),
            output,
        }
    }

    /// The cost of `input` tokens (of which `cached` came from the cache) and `output`.
    pub fn cost(&self, input: u64, cached: u64, output: u64) -> f64 {
        let cached = cached.min(input);
        let fresh = (input - cached) as f64 * self.input;
        let cached = cached as f64 * self.cached_input.unwrap_or(self.input);
        (fresh + cached + output as f64 * self.output) / 1e6
    }
}

/// Dollars as fleet writes them (records, `status --json`, a CLI's budget flag): rounded to
/// six decimals, a millionth of a dollar, so sums print as `0.016844`, not
/// `0.016843499999999997`.
pub fn round_usd(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

/// [`round_usd`] for serde (`serialize_with`).
pub fn serialize_usd<S: serde::Serializer>(usd: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match usd {
        Some(c) => s.serialize_some(&round_usd(*c)),
        None => s.serialize_none(),
    }
}

/// List prices by model-name prefix (the longest matching prefix wins), 2026-11.
const LIST: &[(&str, Price)] = &[
    ("gpt-5", Price::new(1.25, 0.125, 10.0)),
    ("gpt-5-mini", Price::new(0.25, 0.025, 2.0)),
    ("gpt-5-codex-mini", Price::new(0.25, 0.025, 2.0)),
    ("gpt-5.1-codex-mini", Price::new(0.25, 0.025, 2.0)),
    ("gpt-5-nano", Price::new(0.05, 0.005, 0.4)),
    ("gpt-4.1", Price::new(2.0, 0.5, 8.0)),
    ("gpt-4.1-mini", Price::new(0.4, 0.1, 1.6)),
    ("o3", Price::new(2.0, 0.5, 8.0)),
    ("o4-mini", Price::new(1.1, 0.275, 4.4)),
    ("gemini-2.5-pro", Price::new(1.25, 0.125, 10.0)),
    ("gemini-2.5-flash", Price::new(0.3, 0.03, 2.5)),
    ("gemini-2.5-flash-lite", Price::new(0.1, 0.01, 0.4)),
    ("gemini-3-pro", Price::new(2.0, 0.2, 12.0)),
    ("gemini-3-flash", Price::new(0.5, 0.05, 3.0)),
];

/// The price of `model`: the manifest's entry for exactly that model, else the list's
/// longest prefix of it.
pub fn lookup(model: &str, overrides: &BTreeMap<String, Price>) -> Option<Price> {
    if let Some(p) = overrides.get(model) {
        return Some(*p);
    }
    let model = model.rsplit('/').next().unwrap_or(model);
    LIST.iter()
        .filter(|(prefix, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_rounded_to_a_millionth() {
        assert_eq!(round_usd(0.016843499999999997), 0.016843);
        assert_eq!(round_usd(0.0000004), 0.0);
        let json = serde_json::to_string(&crate::transcript::Usage {
            cost_usd: Some(0.1 + 0.2),
            ..Default::default()
        })
        .unwrap();
        assert!(json.contains("\"cost_usd\":0.3,"), "{json}");
    }

    #[test]
    fn longest_prefix_and_overrides() {
        let none = BTreeMap::new();
        assert_eq!(lookup("gpt-5-codex", &none).unwrap().input, 1.25);
        assert_eq!(lookup("gpt-5-mini-2025", &none).unwrap().input, 0.25);
        assert_eq!(
            lookup("models/gemini-2.5-flash-lite", &none)
                .unwrap()
                .output,
            0.4
        );
        assert_eq!(lookup("llama-3", &none), None);
        let mut mine = BTreeMap::new();
        mine.insert("llama-3".to_string(), Price::new(1.0, 1.0, 2.0));
        assert_eq!(lookup("llama-3", &mine).unwrap().output, 2.0);
    }

    #[test]
    fn cached_tokens_cost_less() {
        let p = Price::new(1.0, 0.1, 10.0);
        let c = p.cost(1_000_000, 500_000, 100_000);
        assert!((c - (0.5 + 0.05 + 1.0)).abs() < 1e-9, "{c}");
        let plain = Price {
            input: 2.0,
            cached_input: None,
            output: 0.0,
        };
        assert!((plain.cost(1_000_000, 1_000_000, 0) - 2.0).abs() < 1e-9);
    }
}
