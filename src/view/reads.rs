//! What a view that refreshes every second (`status --watch`) keeps of the files it reads:
//! each agent's record, rounds and the tail of its log, read again only after the caller
//! said that file changed ([`Reads::changed`]; the status pane learns it from inotify). A
//! [`Reads::default`] keeps nothing: every ask reads the file.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::state::{Dir, Record, Round};

/// The bytes of a log's end that its last line is looked for in.
pub const TAIL: u64 = 4096;

#[derive(Default)]
pub struct Reads {
    /// Keep what was read until told it changed.
    keep: bool,
    records: HashMap<PathBuf, Option<Record>>,
    rounds: HashMap<PathBuf, Vec<Round>>,
    tails: HashMap<PathBuf, String>,
}

impl Reads {
    /// Reads that keep each file's content until [`Reads::changed`] or [`Reads::forget`].
    pub fn keeping() -> Reads {
        Reads {
            keep: true,
            ..Reads::default()
        }
    }

    /// The file at `path` changed: read it again at the next ask.
    pub fn changed(&mut self, path: &Path) {
        self.records.remove(path);
        self.rounds.remove(path);
        self.tails.remove(path);
    }

    /// Anything may have changed: read every file again.
    pub fn forget(&mut self) {
        self.records.clear();
        self.rounds.clear();
        self.tails.clear();
    }

    /// The record of `agent` ([`Dir::record`]).
    pub fn record(&mut self, dir: &Dir, agent: &str) -> Option<Record> {
        if !self.keep {
            return dir.record(agent);
        }
        let path = dir.record_path(agent);
        self.records
            .entry(path)
            .or_insert_with(|| dir.record(agent))
            .clone()
    }

    /// The rounds of `agent` ([`Dir::rounds`]).
    pub fn rounds(&mut self, dir: &Dir, agent: &str) -> Vec<Round> {
        if !self.keep {
            return dir.rounds(agent);
        }
        let path = dir.rounds_path(agent);
        self.rounds
            .entry(path)
            .or_insert_with(|| dir.rounds(agent))
            .clone()
    }

    /// The last [`TAIL`] bytes of the log at `path` as text (empty when there is none).
    pub fn tail(&mut self, path: &Path) -> String {
        if !self.keep {
            return read_tail(path);
        }
        self.tails
            .entry(path.to_path_buf())
            .or_insert_with(|| read_tail(path))
            .clone()
    }
}

/// The last [`TAIL`] bytes of the file at `path` as text: one open, stat and read.
pub fn read_tail(path: &Path) -> String {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL);
    let mut buf = vec![0u8; (len - from) as usize];
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], from + got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    String::from_utf8_lossy(&buf).into_owned()
}
