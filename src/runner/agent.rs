//! One run of the agent's command (its first, or a resumed session): the only place an
//! agent's event stream becomes a readable transcript on its way out while its usage, cost
//! and session id go into the record, and where a CLI's own error or budget stop is read.
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::state::{self, Record, Spec, State};
use crate::transcript::Transcript;

use super::step::{step_with, Limits};
use super::{End, Tee};

/// One run of the agent's command (its first, or a resumed session): its exit code, or the
/// end of the whole run when it was stopped or its CLI failed.
pub(super) fn run_agent(
    spec: &Spec,
    record: &mut Record,
    command: &str,
    input: File,
    limits: &Limits,
    out: &mut Tee,
) -> std::result::Result<i32, End> {
    let prior = record.usage.unwrap_or_default();
    let session = record.session_id.clone();
    let env = |k: &str| spec.env.get(k).cloned().or_else(|| std::env::var(k).ok());
    let mut usage = spec.format.map(|format| Usage {
        transcript: Transcript::new(format)
            .with_model(model_arg(&spec.launch.args))
            .with_baseline(session, prior)
            .with_env(env),
        prices: &spec.prices,
        prior,
        record,
        path: &spec.record,
        saved: Instant::now(),
        polled: Instant::now(),
    });
    let (code, stopped) = step_with(spec, command, Some(input), &[], out, usage.as_mut(), limits);
    let mut cli_error = None;
    let mut cut_short = false;
    if let Some(u) = usage.as_mut() {
        u.transcript.after_exit(env);
        u.save();
        cli_error = u.transcript.error.take();
        // A CLI that died (a crash; gemini's relaunching parent turns the signal into
        // exit 1) ends its stream without the final event it always gives.
        cut_short = code != 0
            && stopped.is_none()
            && u.transcript.session_id.is_some()
            && !u.transcript.ended
            && cli_error.is_none()
            && spec.format.is_some_and(|f| f.has_final_event());
        if cut_short {
            out.line(&format!(
                "[fleet] the CLI's stream ended without its final result event ({}): the usage is what its stream and logs showed before",
                exit_words(code)
            ));
        }
        // A CLI that enforces the budget itself (claude --max-budget-usd) says so.
        let over = limits
            .max_cost_usd
            .zip(u.total().cost_usd)
            .is_some_and(|(max, cost)| cost >= max);
        if stopped.is_none() && (over || cli_error.as_deref().is_some_and(|e| e.contains("budget")))
        {
            out.line("[fleet] stopped: the agent reached max_cost_usd");
            return Err((State::Failed, code, Some("budget".into())));
        }
    }
    if let Some(why) = stopped {
        return Err((State::Failed, code, Some(why.into())));
    }
    let zero_fails = spec.format.is_some_and(|f| f.exits_zero_on_error());
    if let Some(why) = cli_error.filter(|_| code != 0 || zero_fails) {
        return Err((
            State::Failed,
            code,
            Some(format!("{}: {why}", exit_words(code))),
        ));
    }
    if cut_short {
        let why = format!("{}: {CUT_SHORT}", exit_words(code));
        return Err((State::Failed, code, Some(why)));
    }
    Ok(code)
}

/// Why a run whose CLI died says so.
const CUT_SHORT: &str = "the stream ended without its final result event";

/// `exit 3`, or `killed by SIGSEGV` for a shell's 128+N of a signal that ends a process
/// (SIGHUP to SIGTERM; above, 128+N is more likely an exit code, as gemini's 173 for an
/// HTTP 429).
pub(super) fn exit_words(code: i32) -> String {
    const NAMES: [&str; 15] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM",
    ];
    match usize::try_from(code - 129).ok().and_then(|i| NAMES.get(i)) {
        Some(name) => format!("killed by SIG{name}"),
        None => format!("exit {code}"),
    }
}

/// The model named in a CLI's arguments (`--model X`, `--model=X`, `-m X`), if any.
fn model_arg(args: &[String]) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| match a.as_str() {
        "--model" | "-m" => args.get(i + 1).cloned(),
        _ => a.strip_prefix("--model=").map(str::to_string),
    })
}

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

    fn save(&mut self) {
        self.record.usage = Some(self.total());
        self.record.retrying = self.transcript.retrying.clone();
        if self.transcript.session_id.is_some() {
            self.record.session_id = self.transcript.session_id.clone();
        }
        let _ = state::write_json(self.path, &*self.record);
        self.saved = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signals_are_named_and_exit_codes_kept() {
        assert_eq!(super::exit_words(139), "killed by SIGSEGV");
        assert_eq!(super::exit_words(137), "killed by SIGKILL");
        assert_eq!(super::exit_words(129), "killed by SIGHUP");
        assert_eq!(super::exit_words(1), "exit 1");
        assert_eq!(super::exit_words(128), "exit 128");
        // gemini's 429: an exit code, not a signal
        assert_eq!(super::exit_words(173), "exit 173");
    }
}
