//! An agent's usage while it runs: its event stream turned into the readable transcript on
//! its way to the pane, and the tokens, cost and session id it reports (and the CLI's own
//! logs beside the stream) saved into its record every few seconds, so the step's stopper
//! can hold it to its budget.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::state::{self, Record};
use crate::transcript::Transcript;

/// An agent's event stream on its way to the pane: the readable transcript goes out, the
/// usage and session id go into the record (saved every few seconds while it runs).
pub(super) struct Usage<'a> {
    pub(super) transcript: Transcript,
    /// What earlier runs of this start (before a verify retry) used.
    pub(super) prior: crate::transcript::Usage,
    /// The manifest's `prices:`, for a CLI that reports tokens only.
    pub(super) prices: &'a std::collections::BTreeMap<String, crate::prices::Price>,
    pub(super) record: &'a mut Record,
    pub(super) path: &'a Path,
    pub(super) saved: Instant,
    /// When the CLI's logs were last read.
    pub(super) polled: Instant,
    /// Whether the CLI printed something since: it is at work, its logs may be growing.
    pub(super) heard: bool,
}

/// How often a running agent's usage is written to its record.
const SAVE_USAGE: Duration = Duration::from_secs(2);
/// How soon after the CLI printed something the logs it writes beside its stream are read
/// (a budget stops it within about this long of a model request that went over).
const POLL_LOGS: Duration = Duration::from_millis(250);
/// How often they are read while the CLI prints nothing (a model request that takes long).
const POLL_QUIET: Duration = Duration::from_secs(2);

impl Usage<'_> {
    pub(super) fn text(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.heard = true;
        let text = self.transcript.feed(bytes);
        // A retry starting or ending shows at once.
        if self.saved.elapsed() >= SAVE_USAGE || self.transcript.retrying != self.record.retrying {
            self.save();
        }
        text
    }

    /// When the CLI's logs are to be read next: [`POLL_LOGS`] after the last read when the
    /// CLI printed something since, else [`POLL_QUIET`] after it.
    pub(super) fn next_poll(&self) -> Instant {
        self.polled + if self.heard { POLL_LOGS } else { POLL_QUIET }
    }

    /// Read the CLI's logs for the usage so far, when [`Usage::next_poll`] says so; saved
    /// when it grew.
    pub(super) fn poll(&mut self) {
        if Instant::now() < self.next_poll() {
            return;
        }
        self.polled = Instant::now();
        self.heard = false;
        let before = self.transcript.usage;
        self.transcript.poll();
        if self.transcript.usage != before {
            self.save();
        }
    }

    /// This run's usage added to the earlier runs'.
    pub(super) fn total(&self) -> crate::transcript::Usage {
        self.prior.plus(self.transcript.priced(self.prices))
    }

    pub(super) fn save(&mut self) {
        self.record.usage = Some(self.total());
        self.record.retrying = self.transcript.retrying.clone();
        if self.transcript.session_id.is_some() {
            self.record.session_id = self.transcript.session_id.clone();
        }
        let _ = state::write_json(self.path, &*self.record);
        self.saved = Instant::now();
    }
}
