//! What `status --watch` keeps from one frame to the next (the screen's text, tmux's last
//! answer, the monitor borders as marked) and how a frame is drawn over the last one.
use std::io::Write;

use anyhow::Result;

use crate::launch::hints::plural;
use crate::manifest::Plan;
use crate::{tmux, util};

/// A frame of `text` for a terminal of `rows` lines, under which the clock line goes: a
/// frame taller than that would scroll its header off, so the header stays and the lines
/// that do not fit are counted on the last line instead.
fn fit(text: &str, rows: Option<usize>) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let room = match rows {
        Some(rows) if lines.len() + 1 > rows => rows.saturating_sub(2).clamp(1, lines.len()),
        _ => return text.to_string(),
    };
    let mut out: String = lines[..room].iter().map(|l| format!("{l}\n")).collect();
    out.push_str(&format!(
        "… {} more (a taller window shows them)\n",
        plural(lines.len() - room, "line")
    ));
    out
}

/// What `--watch` keeps of the screen and of tmux from one frame to the next.
#[derive(Default)]
pub(super) struct Frame {
    /// The text on the screen now (above the time).
    pub(super) text: String,
    /// The sessions and (in the monitor) its panes, as tmux last said.
    pub(super) sessions: Vec<tmux::Session>,
    pub(super) panes: Vec<tmux::Pane>,
    /// Ask tmux again at the next frame.
    pub(super) ask_tmux: bool,
    /// The states on the monitor panes' borders as last marked (`mark` compares them with
    /// what tmux says: only after a new answer can it find something to change).
    pub(super) labels: Vec<(String, String)>,
}

impl Frame {
    /// Ask tmux for the sessions (and the monitor's panes), when it is time to.
    pub(super) fn sessions(&mut self, plan: &Plan, monitor: bool) -> Result<()> {
        if !self.ask_tmux {
            return Ok(());
        }
        if monitor {
            let snap = tmux::snapshot(&plan.monitor_session())?;
            self.panes = snap.panes;
            self.sessions = snap.sessions;
        } else {
            self.sessions = tmux::sessions()?;
        }
        self.ask_tmux = false;
        // The borders are compared with tmux's fresh answer.
        self.labels.clear();
        Ok(())
    }

    /// One `--watch` frame over the last, with the time it was drawn, fitted to the
    /// terminal's height; when the text is the last frame's, only the time (the line the
    /// cursor is on) is written again.
    pub(super) fn draw(&mut self, text: &str) {
        let text = fit(text, util::terminal_height());
        // (no newline after the clock: on the terminal's last line it would scroll the frame)
        let clock = format!(
            "{}  (every 1s, Ctrl-C to quit)\x1b[K",
            util::rfc3339(util::now())
        );
        let out = if self.text == text {
            format!("\r{clock}")
        } else {
            // Home, then clear to the end of the screen after the text: no flicker.
            format!("\x1b[H{}\x1b[J{clock}", text.replace('\n', "\x1b[K\n"))
        };
        self.text = text;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}
