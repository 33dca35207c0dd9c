//! Quotas in the runner: the agent's CLI said its account's usage limit is reached (a
//! quota, not a transient rate limit: see [`crate::transcript::QuotaHit`]), or another
//! agent on the same credential did. The runner records the credential's quota under
//! `.fleet/quota/` ([`crate::state::quota`]), shows the agent `waiting (quota on <label>,
//! resets 19:00)` until the reset, then resumes the CLI's own session (the one `continue`
//! resumes) with a short note to go on where it stopped; a CLI it cannot resume starts the
//! task again. A pause is no failure and no rate-limit retry: it counts against neither.
//! The [`super::stop::Stopper`] stops a running agent whose credential comes under quota.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::state::{self, quota, QuotaWait, Record, Spec, State};
use crate::util;

use super::{End, Tee};

/// Why the Stopper stopped an agent whose credential came under quota.
pub(super) const QUOTA: &str = "quota";

/// How the agent's run came to a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pause {
    /// Its CLI hit the quota; the reset it named, if any.
    Hit(Option<u64>),
    /// Another agent on its credential did (the Stopper stopped this one).
    Held,
}

impl Pause {
    /// How a run of the agent ended, if on the account's quota: its CLI hit it (and was
    /// not stopped for something else), or the Stopper stopped it for another's.
    pub(super) fn of(
        stopped: Option<&str>,
        hit: Option<crate::transcript::QuotaHit>,
    ) -> Option<Pause> {
        match (stopped, hit) {
            (None, Some(hit)) => Some(Pause::Hit(hit.resets_at)),
            (Some(QUOTA), _) => Some(Pause::Held),
            _ => None,
        }
    }
}

/// How long to wait for a quota whose CLI named no reset.
const DEFAULT_WAIT: u64 = 3600;
/// The longest pause (a weekly limit is at most a week away).
const MAX_WAIT: u64 = 8 * 86_400;
/// How often a pausing runner looks at the quota's record again (a later reset, a record
/// removed by hand to lift it early).
const LOOK: Duration = Duration::from_secs(2);

/// `.fleet/` of the agent.
pub(super) fn root(spec: &Spec) -> Option<PathBuf> {
    spec.record.parent()?.parent().map(Path::to_path_buf)
}

/// The quota that holds now on the agent's credential, if any.
pub(super) fn holding(spec: &Spec) -> Option<quota::Quota> {
    quota::active(&root(spec)?, spec.credential.as_deref()?)
}

/// The pause after `pause`: record a quota the CLI hit, wait until it resets, and give the
/// command and input to go on with (the session resumed, else the task from the start).
pub(super) fn pause_and_go_on(
    spec: &Spec,
    record: &mut Record,
    pause: Pause,
    out: &mut Tee,
) -> std::result::Result<(String, File), End> {
    let resets_at = match pause {
        Pause::Hit(reset) => {
            let now = util::now();
            let at = reset
                .filter(|&t| t > now)
                .unwrap_or(now + DEFAULT_WAIT)
                .min(now + MAX_WAIT);
            let shared = root(spec)
                .zip(spec.credential.as_deref())
                .map(|(r, l)| quota::record(&r, l, at, &spec.agent).map_or(at, |q| q.resets_at));
            let said = if reset.is_some() {
                ""
            } else {
                " (its CLI named no reset: fleet waits an hour)"
            };
            out.line(&format!(
                "[fleet] the account's usage limit is reached{}{said}",
                spec.credential
                    .as_deref()
                    .map_or_else(String::new, |l| format!(
                        " on {l}: every agent on it pauses"
                    )),
            ));
            shared.unwrap_or(at)
        }
        Pause::Held => holding(spec).map_or(util::now(), |q| q.resets_at),
    };
    wait_out(spec, record, resets_at, out);
    go_on(spec, record, out)
}

/// Wait on the credential's quota before a start (nothing run yet): true when it waited.
pub(super) fn wait_before_start(spec: &Spec, record: &mut Record, out: &mut Tee) -> bool {
    let Some(q) = holding(spec) else {
        return false;
    };
    out.line(&format!(
        "[fleet] {} is under quota (hit by {}): waiting before the start",
        q.label, q.agent
    ));
    wait_out(spec, record, q.resets_at, out);
    true
}

/// Show `waiting` on the quota until `resets_at` (later when a later reset is recorded;
/// sooner when its record is removed), then mark the agent running again.
fn wait_out(spec: &Spec, record: &mut Record, mut resets_at: u64, out: &mut Tee) {
    let label = spec
        .credential
        .clone()
        .unwrap_or_else(|| spec.preset.map_or("its CLI", |p| p.name()).to_string());
    let show = |record: &mut Record, at: u64| {
        record.state = Some(State::Waiting);
        record.retry_at = Some(at);
        record.quota = Some(QuotaWait {
            label: label.clone(),
            resets_at: at,
        });
        let _ = state::write_json(&spec.record, record);
    };
    show(record, resets_at);
    out.line(&format!(
        "[fleet] paused on the quota of {label} until {} ({})",
        util::rfc3339(resets_at),
        crate::transcript::clock(resets_at)
    ));
    let shared = root(spec).zip(spec.credential.clone());
    while util::now() < resets_at {
        std::thread::sleep(LOOK.min(Duration::from_secs(resets_at - util::now())));
        let Some((root, label)) = &shared else {
            continue;
        };
        match quota::active(root, label) {
            Some(q) if q.resets_at > resets_at => {
                resets_at = q.resets_at;
                show(record, resets_at);
            }
            Some(_) => {}
            None => break,
        }
    }
    record.quota = None;
    super::next_attempt(spec, record);
    out.line(&format!(
        "[fleet] the quota of {label} is reset: {} goes on at {} (attempt {})",
        spec.agent,
        util::rfc3339(util::now()),
        record.attempt
    ));
}

/// After the pause: the CLI's session resumed with [`PAUSED`] (a CLI that can, its session
/// known), else the task from the start.
fn go_on(spec: &Spec, record: &Record, out: &mut Tee) -> std::result::Result<(String, File), End> {
    if let Some((id, cmd)) = super::resumed_session(spec, record) {
        let name = format!("{}.quota-{}.md", spec.agent, record.attempt);
        match super::prompt_file(spec, &name, PAUSED) {
            Ok(f) => {
                out.line(&format!("[fleet] resuming the agent's session {id}"));
                return Ok((cmd, f));
            }
            Err(e) => out.line(&format!(
                "[fleet] cannot write the note for the resumed session ({e:#}): starting the task again"
            )),
        }
    }
    File::open(&spec.task)
        .map(|f| (spec.command.clone(), f))
        .map_err(|e| {
            out.line(&format!("[fleet] cannot open the task again: {e}"));
            (State::Failed, 127, Some("task unreadable".into()))
        })
}

/// What a session resumed after a quota pause is told.
const PAUSED: &str = "You were paused because the account's usage limit was reached; it has \
reset now. Go on with the task from where you stopped: check what is already done (files, \
commits) before repeating anything, then finish it.\n";
