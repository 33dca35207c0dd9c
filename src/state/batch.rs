//! The writes `up` makes for several agents at once (their run specs, their records, their
//! worktrees' disk use), each set flushed to disk together ([`write_atomic_all`]): starting
//! a set of agents waits for the disk once, not once an agent.
use std::path::PathBuf;

use anyhow::Result;

use super::{json_bytes, Dir, Record, Spec};
use crate::safe_fs::write_atomic_all;

impl Dir {
    /// [`Dir::write_record`] of several agents, flushed to disk together.
    pub fn write_records(&self, records: &[(&str, Record)]) -> Result<()> {
        let files = records
            .iter()
            .map(|(agent, r)| Ok((self.record_path(agent), json_bytes(r)?)))
            .collect::<Result<Vec<_>>>()?;
        write_atomic_all(&files)
    }

    pub fn write_spec(&self, spec: &Spec) -> Result<()> {
        self.write_specs(std::slice::from_ref(spec))
    }

    /// The run specs of several agents, flushed to disk together.
    pub fn write_specs(&self, specs: &[Spec]) -> Result<()> {
        let files = specs
            .iter()
            .map(|s| Ok((self.spec_path(&s.agent), json_bytes(s)?)))
            .collect::<Result<Vec<_>>>()?;
        write_atomic_all(&files)
    }

    /// Remembers [`Dir::disk_bytes`] of each agent, flushed to disk together.
    pub fn remember_disk(&self, sizes: &[(&str, u64)]) -> Result<()> {
        let files: Vec<(PathBuf, Vec<u8>)> = sizes
            .iter()
            .map(|(agent, bytes)| (self.root.join("disk").join(agent), bytes.to_string().into()))
            .collect();
        write_atomic_all(&files)
    }
}
