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
}

/// How often a running agent's usage is written to its record.
const SAVE_USAGE: Duration = Duration::from_secs(2);
/// How often the logs a CLI writes beside its stream are read while it runs (a budget
/// stops it within about this long of a model request that went over).
const POLL_LOGS: Duration = Duration::from_millis(250);

impl Usage<'_> {
    pub(super) fn text(&mut self, bytes: &[u8]) -> Vec<u8> {
        let text = self.transcript.feed(bytes);
        // A retry starting or ending shows at once.
        if self.saved.elapsed() >= SAVE_USAGE || self.transcript.retrying != self.record.retrying {
            self.save();
        }
        text
    }

    /// Read the CLI's logs for the usage so far (every [`POLL_LOGS`]); saved when it grew.
    pub(super) fn poll(&mut self) {
        if self.polled.elapsed() < POLL_LOGS {
            return;
        }
        self.polled = Instant::now();
        let before = self.transcript.usage;
        self.transcript.poll();
        if self.transcript.usage != before {
            self.save();
        }
    }

    /// This run's usage added to the earlier runs'.
    pub(super) fn total(&self) -> crate::transcript::Usage {
        let (a, b) = (self.prior, self.transcript.priced(self.prices));
        crate::transcript::Usage {
            input_tokens: a.input_tokens + b.input_tokens,
            output_tokens: a.output_tokens + b.output_tokens,
            cost_usd: match (a.cost_usd, b.cost_usd) {
                (None, None) => None,
                (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
            },
            turns: a.turns + b.turns,
            denials: a.denials + b.denials,
        }
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
