//! The manifest's schema as serde reads it: the `Raw*` types mirror `agents.yaml` key for key
//! (unknown keys are refused), with nothing resolved or checked yet; [`Scalar`] takes the
//! numbers and booleans YAML lets people write as environment values.
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::{Permissions, Preset};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub(super) project: Option<String>,
    pub(super) base: Option<String>,
    pub(super) worktree_dir: Option<PathBuf>,
    pub(super) command: Option<String>,
    pub(super) agent: Option<Preset>,
    pub(super) interactive: Option<bool>,
    pub(super) permissions: Option<Permissions>,
    /// `sandbox: true`: every agent's steps run in a box of their own.
    pub(super) sandbox: Option<bool>,
    /// `network:`: more hosts a sandboxed agent may reach, or `all`.
    pub(super) network: Option<RawNetwork>,
    pub(super) args: Option<Vec<String>>,
    pub(super) timeout: Option<Scalar>,
    pub(super) verify_timeout: Option<Scalar>,
    pub(super) max_cost_usd: Option<f64>,
    pub(super) verify_retries: Option<u32>,
    pub(super) retries: Option<u32>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, Scalar>,
    pub(super) setup: Option<String>,
    #[serde(default)]
    pub(super) copy: Vec<PathBuf>,
    /// `seed:`: ignored directories of the checkout copied into each new worktree.
    #[serde(default)]
    pub(super) seed: Vec<super::seed::RawSeed>,
    pub(super) verify: Option<String>,
    pub(super) on_exit: Option<String>,
    pub(super) max_parallel: Option<RawParallel>,
    pub(super) budget: Option<crate::state::RawBudget>,
    pub(super) monitor: Option<RawMonitor>,
    /// `radar:`: `show` (default), `tell` or `off`.
    pub(super) radar: Option<Radar>,
    #[serde(default)]
    pub(super) prices: BTreeMap<String, crate::prices::Price>,
    /// `hosts:`: the other machines agents may run on, by name.
    #[serde(default)]
    pub(super) hosts: BTreeMap<String, RawHost>,
    /// `host:`: where agents without their own `host:` run (default: this machine).
    pub(super) host: Option<String>,
    /// `ports:`: names of the TCP ports each agent gets.
    pub(super) ports: Option<Vec<String>>,
    pub(super) agents: Vec<RawAgent>,
    /// The index in the file of each agent in `agents` (agents that did not parse are left
    /// out, so their neighbours keep their real index in messages).
    #[serde(skip)]
    pub(super) indices: Option<Vec<usize>>,
    /// `agents:` is there but not a list (already reported; not "empty" as well).
    #[serde(skip)]
    pub(super) agents_unreadable: bool,
}

/// One entry of `hosts:`: how to reach the machine and where the repository is there.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub(super) ssh: Option<String>,
    pub(super) dir: Option<String>,
    pub(super) fleet: Option<String>,
    /// ssh's `-p`.
    pub(super) port: Option<u16>,
    /// ssh's `-i`: a key file here (`~/` is this machine's home).
    pub(super) identity: Option<String>,
    #[serde(default)]
    pub(super) options: Vec<String>,
    /// Sessions one ssh connection there may carry at once (sshd's `MaxSessions`).
    pub(super) max_sessions: Option<u32>,
}

/// `radar:`: what fleet does with the overlaps its radar finds (agents whose work touches
/// the same files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Radar {
    /// Shown in `status` (the line under the table, `overlaps`) and the monitor.
    #[default]
    Show,
    /// Shown, and told to both agents at their next turn (resumable CLIs).
    Tell,
    /// Not looked for.
    Off,
}

/// `monitor: {enabled: false, per_window: N}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMonitor {
    /// `false`: this fleet builds no monitor session (default: true).
    pub(super) enabled: Option<bool>,
    pub(super) per_window: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub(super) name: String,
    pub(super) task: Option<PathBuf>,
    pub(super) prompt: Option<String>,
    pub(super) branch: Option<String>,
    pub(super) log: Option<PathBuf>,
    pub(super) command: Option<String>,
    pub(super) agent: Option<Preset>,
    pub(super) interactive: Option<bool>,
    pub(super) permissions: Option<Permissions>,
    pub(super) sandbox: Option<bool>,
    pub(super) network: Option<RawNetwork>,
    pub(super) args: Option<Vec<String>>,
    pub(super) timeout: Option<Scalar>,
    pub(super) verify_timeout: Option<Scalar>,
    pub(super) max_cost_usd: Option<f64>,
    pub(super) verify_retries: Option<u32>,
    pub(super) retries: Option<u32>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, Scalar>,
    pub(super) verify: Option<String>,
    pub(super) on_exit: Option<String>,
    pub(super) host: Option<String>,
    /// `seed:` of this agent (instead of the top-level one).
    pub(super) seed: Option<Vec<super::seed::RawSeed>>,
    /// `after: [a, b]` (or `after: a`): the agents whose work this one builds on.
    pub(super) after: Option<NameList>,
    /// `mcp: fleet` (or `lead`): the agent's CLI gets `fleet mcp` on this manifest.
    pub(super) mcp: Option<super::McpRole>,
    pub(super) ports: Option<Vec<String>>,
}

/// `network:`: `all` (the host's network), or a list of hosts a box may reach.
#[derive(Debug, Clone)]
pub(super) enum RawNetwork {
    /// A word: `all` (anything else is reported).
    Word(String),
    /// A list of hosts.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for RawNetwork {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawNetwork;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all` or a list of hosts (`network: [registry.npmjs.org]`)")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawNetwork, E> {
                Ok(RawNetwork::Word(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawNetwork, A::Error> {
                let mut hosts = Vec::new();
                while let Some(h) = seq.next_element::<String>()? {
                    hosts.push(h);
                }
                Ok(RawNetwork::List(hosts))
            }
        }
        d.deserialize_any(V)
    }
}

/// `after:`: a list of agent names, or one name as a plain string.
#[derive(Debug, Default)]
pub(super) struct NameList(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NameList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of agent names (`after: [api, db]`) or one name")
            }
            fn visit_str<E>(self, v: &str) -> Result<NameList, E> {
                Ok(NameList(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<NameList, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    names.push(n);
                }
                Ok(NameList(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// An environment value: YAML lets people write `DEBUG: 1` or `VERBOSE: true`; all become
/// strings.
#[derive(Debug)]
pub(super) struct Scalar(pub(super) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `max_parallel:`: a number for the whole fleet, or a map by CLI name or credential label
/// (`{claude: 4, codex:key-3f9a: 2}`).
#[derive(Debug, Clone)]
pub(super) enum RawParallel {
    All(u32),
    Per(BTreeMap<String, u32>),
}

impl<'de> Deserialize<'de> for RawParallel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawParallel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or a map of numbers by CLI or credential like {claude: 4}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawParallel, E> {
                u32::try_from(n)
                    .map(RawParallel::All)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawParallel, E> {
                u64::try_from(n)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<RawParallel, A::Error> {
                let m = Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(a))?;
                Ok(RawParallel::Per(m))
            }
        }
        d.deserialize_any(Visitor)
    }
}
