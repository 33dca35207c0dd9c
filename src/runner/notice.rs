//! `radar: tell` at the end of a run: when the agent's CLI exits cleanly, before verify, the
//! runner looks at the radar (as `status` does: cheap when nothing was committed, see
//! [`crate::view::radar`]) and, when another agent changes files this one shares and it was
//! not told yet, resumes the agent's session with the notice, as a verify retry does. The
//! notice is noted as told in `.fleet/radar-told.json` ([`crate::view::notice`]).
use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::state::{Dir, Record, Spec};
use crate::view::notice;

use super::Tee;

/// Notices one run delivers at most (each is news: a pair or a file more; this only bounds
/// two agents that keep adding shared files).
const MAX_NOTICES: u32 = 3;

static DELIVERED: AtomicU32 = AtomicU32::new(0);

/// The resumed session's command and the notice it reads, when the agent has news and its
/// conversation can go on (a resumable CLI, its session id, budget left).
pub(super) fn radar_notice(spec: &Spec, record: &Record, out: &mut Tee) -> Option<(String, File)> {
    if !spec.radar_tell || DELIVERED.load(Ordering::Relaxed) >= MAX_NOTICES {
        return None;
    }
    if record
        .budget_left(spec.max_cost_usd)
        .is_some_and(|l| l <= 0.0)
    {
        return None;
    }
    let (id, resume) = super::resumed_session(spec, record)?;
    if super::stop::fleet_in_reserve(spec) {
        return None;
    }
    let text = match news(spec, &id) {
        Ok(text) => text?,
        Err(e) => {
            out.line(&format!("[fleet] radar: cannot look for overlaps: {e:#}"));
            return None;
        }
    };
    let n = DELIVERED.fetch_add(1, Ordering::Relaxed) + 1;
    let name = format!("{}.radar-{}-{n}.md", spec.agent, record.attempt);
    match super::prompt_file(spec, &name, &text) {
        Ok(f) => {
            for l in text.lines().filter(|l| l.starts_with("- ")) {
                out.line(&format!("[fleet] radar: {}", &l[2..]));
            }
            out.line(&format!(
                "[fleet] radar: resuming the agent's session {id} with the notice"
            ));
            Some((resume, f))
        }
        Err(e) => {
            out.line(&format!("[fleet] cannot write the radar's notice: {e:#}"));
            None
        }
    }
}

/// The notice this agent has not heard yet (noted as told), under the `.fleet` lock.
fn news(spec: &Spec, session: &str) -> anyhow::Result<Option<String>> {
    let plan = crate::launch::load(Some(&spec.manifest))?;
    let dir = Dir::new(&plan.state_dir);
    let _lock = dir.lock(crate::launch::LOCK_WAIT)?;
    let overlaps = notice::look(&plan);
    notice::take(&plan, &spec.agent, Some(session), &overlaps)
}
