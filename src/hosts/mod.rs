//! Agents on other hosts over ssh: one kept [`ssh::Link`] per host ([`ssh`]), fleet brought
//! there when it is missing ([`install`]), each host's own fleet asked to run `up`, `status
//! --json`, `down` and fetches ([`ops`]), answers gathered in the background ([`asker`]), the
//! per-agent commands that reach one remote agent (logs, attach, continue, wait: [`remote`])
//! and `doctor`'s checks of each host ([`checkup`]). It builds on the launch layer (sessions
//! of the monitor panes) and never calls a command.
pub mod asker;
pub mod checkup;
pub mod install;
pub mod ops;
pub mod pool;
pub mod remote;
pub mod ssh;
