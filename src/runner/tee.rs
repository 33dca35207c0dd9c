//! The output of a run on its way out: the only place that writes to both the agent's log
//! and its pane, and keeps what a caller asks for (verify's output, the last bytes).
use std::fs::File;
use std::io::Write;

/// Writes to the log and the pane; a failing pane (closed terminal) does not stop the log.
pub(super) struct Tee<'a> {
    pub(super) log: Option<&'a mut File>,
    pub(super) pane: std::io::Stdout,
    /// Also keeps what is written, while set (verify's output, for a retry prompt).
    pub(super) capture: Option<Vec<u8>>,
    /// Keeps the last [`TAIL`] bytes written, while set (to spot a rate limit).
    pub(super) tail: Option<Vec<u8>>,
}

const TAIL: usize = 4096;

impl Tee<'_> {
    pub(super) fn write(&mut self, bytes: &[u8]) {
        if let Some(log) = self.log.as_mut() {
            let _ = log.write_all(bytes);
        }
        if let Some(c) = self.capture.as_mut() {
            c.extend_from_slice(bytes);
        }
        if let Some(t) = self.tail.as_mut() {
            t.extend_from_slice(bytes);
            if t.len() > TAIL {
                t.drain(..t.len() - TAIL);
            }
        }
        let _ = self.pane.write_all(bytes);
        let _ = self.pane.flush();
    }

    /// Keep the last bytes written anew, for one step of its own: what a caller kept so far
    /// is handed back, to give to [`Tee::end_tail`].
    pub(super) fn own_tail(&mut self) -> Option<Vec<u8>> {
        self.tail.replace(Vec::new())
    }

    /// The last bytes written since [`Tee::own_tail`]; the caller's tail (`outer`) goes on,
    /// with them at its end.
    pub(super) fn end_tail(&mut self, outer: Option<Vec<u8>>) -> Vec<u8> {
        let mine = self.tail.take().unwrap_or_default();
        self.tail = outer.map(|mut t| {
            t.extend_from_slice(&mine);
            t.drain(..t.len().saturating_sub(TAIL));
            t
        });
        mine
    }

    pub(super) fn line(&mut self, text: &str) {
        self.write(format!("{text}\n").as_bytes());
    }

    /// `[fleet] LABEL: SCRIPT`, a script of several lines each on a `[fleet]` line of its
    /// own (aligned under the first): every line fleet writes starts with `[fleet]`, so what
    /// is not fleet's is the agent's (or its setup's, its verify's) own output.
    pub(super) fn script(&mut self, label: &str, script: &str) {
        let pad = " ".repeat(label.len() + 1);
        for (i, line) in script.trim_end().lines().enumerate() {
            let lead = if i == 0 {
                format!("{label}:")
            } else {
                pad.clone()
            };
            self.line(&format!("[fleet] {lead} {line}"));
        }
    }
}
