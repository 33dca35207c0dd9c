//! One run of the agent's command (its first, or a resumed session): the only place an
//! agent's event stream becomes a readable transcript on its way out while its usage, cost
//! and session id go into the record, and where a CLI's own error or budget stop is read.
use std::fs::File;

use std::time::Instant;

use crate::state::{Record, Spec, State};
use crate::transcript::Transcript;

use super::quota::{Pause, QUOTA};
use super::step::step_with;
use super::stop::Limits;
use super::usage::Usage;
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
    pause: &mut Option<Pause>,
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
        heard: false,
    });
    let (code, stopped) = step_with(spec, command, Some(input), &[], out, usage.as_mut(), limits);
    let mut cli_error = None;
    let mut quota_hit = None;
    let mut cut_short = false;
    if let Some(u) = usage.as_mut() {
        u.transcript.after_exit(env);
        u.save();
        cli_error = u.transcript.error.take();
        quota_hit = u.transcript.quota.take();
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
    *pause = Pause::of(stopped, quota_hit);
    if pause.is_some() {
        return Err((State::Waiting, code, Some(QUOTA.into())));
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
