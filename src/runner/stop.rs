//! The limits of a running step and the [`Stopper`] that enforces them: past its timeout,
//! its own `max_cost_usd`, the fleet's `budget:` or its credential's quota, an agent's
//! process group gets SIGTERM, then SIGKILL after [`GRACE`]. [`limits`] reads them from the
//! run spec.
use std::time::{Duration, Instant};

use super::usage::Usage;
use super::Tee;
use crate::state::Spec;
use crate::util;

/// When to stop an agent early.
#[derive(Default)]
pub(super) struct Limits {
    pub(super) deadline: Option<Instant>,
    pub(super) max_cost_usd: Option<f64>,
    /// The fleet's budget: stop the agent once the whole fleet has spent it.
    pub(super) fleet: Option<FleetBudget>,
    /// The agent's credential: stop it (to resume after the reset) once it is under quota.
    pub(super) quota: Option<QuotaCheck>,
}

/// Where a runner looks for its credential's quota: `.fleet/` and the label.
pub(super) struct QuotaCheck {
    pub(super) root: std::path::PathBuf,
    pub(super) label: String,
}

/// The fleet's budget as one runner checks it: the other agents' records (in `agents`,
/// `.fleet/agents/`) read at most every [`FLEET_READ`], its own agent's usage as it runs.
pub(super) struct FleetBudget {
    pub(super) budget: crate::state::Budget,
    pub(super) agents: std::path::PathBuf,
    pub(super) agent: String,
}

/// How often a runner reads the other agents' records for the fleet's spend.
const FLEET_READ: Duration = Duration::from_secs(3);

/// How often a runner looks whether its agent's credential came under quota.
const QUOTA_LOOK: Duration = Duration::from_secs(2);

/// After SIGTERM, an agent has this long to end before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// When to stop the agent early; the timeout counts from the first start, across verify
/// retries.
pub(super) fn limits(spec: &Spec) -> Limits {
    Limits {
        deadline: spec
            .timeout
            .map(|t| Instant::now() + Duration::from_secs(t)),
        max_cost_usd: spec.max_cost_usd,
        fleet: fleet_budget(spec),
        quota: quota_watch(spec),
    }
}

/// The fleet's `budget:` as this agent's runner checks it, if it has one.
pub(super) fn fleet_budget(spec: &Spec) -> Option<FleetBudget> {
    Some(FleetBudget {
        budget: spec.budget?,
        agents: spec.record.parent()?.to_path_buf(),
        agent: spec.agent.clone(),
    })
}

/// The credential's quota as this agent's runner watches it: only a CLI fleet can resume
/// (stopped now, its session resumed after the reset) is stopped by another's quota.
fn quota_watch(spec: &Spec) -> Option<QuotaCheck> {
    spec.preset.filter(|p| p.can_resume())?;
    Some(QuotaCheck {
        root: super::quota::root(spec)?,
        label: spec.credential.clone()?,
    })
}

/// Has the fleet's spend (every agent's record) reached its budget less the reserve?
pub(super) fn fleet_in_reserve(spec: &Spec) -> bool {
    let Some(fleet) = fleet_budget(spec) else {
        return false;
    };
    let spent = crate::state::Spent::in_dir(&fleet.agents, None);
    fleet.budget.level(spent) >= crate::state::Level::Reserve
}

/// Stops a running step past its limits: SIGTERM to its process group, then SIGKILL after
/// [`GRACE`] ([`util::Ender`], as the merge train stops its verify).
#[derive(Default)]
pub(super) struct Stopper {
    /// Why it is being stopped, and the group's ender.
    pub(super) stopping: Option<(&'static str, util::Ender)>,
    /// Since when the agent has been over its budget.
    over_at: Option<Instant>,
    /// What the other agents of the fleet had spent, and when their records were read.
    others: Option<(Instant, crate::state::Spent)>,
    /// The credential's quota record, re-read only when its directory changed, and when
    /// the directory was last looked at.
    quota: crate::state::quota::Watch,
    quota_at: Option<Instant>,
}

impl Stopper {
    /// Look at the limits once (the child `pid` still running), and act.
    pub(super) fn check(
        &mut self,
        pid: u32,
        usage: Option<&Usage>,
        limits: &Limits,
        out: &mut Tee,
    ) {
        if let Some((_, ender)) = self.stopping.as_mut() {
            ender.push();
            return;
        }
        let Some(why) = self.past(usage, limits) else {
            return;
        };
        out.line(&format!(
            "[fleet] stopping the agent: {}",
            match why {
                "timeout" => "it ran past its timeout",
                FLEET_BUDGET => "the fleet has spent its budget",
                super::quota::QUOTA =>
                    "its credential's usage limit is reached (it resumes after the reset)",
                _ => "it spent more than max_cost_usd",
            }
        ));
        // A quota stops the CLI at once (SIGTERM, then SIGKILL): given a grace, claude ends
        // its running tool and sends its next request, into the quota. It resumes from its
        // session log, as after a crash.
        let grace = if why == super::quota::QUOTA {
            Duration::ZERO
        } else {
            GRACE
        };
        let mut ender = util::Ender::new(pid, grace);
        ender.push();
        if why == super::quota::QUOTA {
            std::thread::sleep(Duration::from_millis(1));
            ender.push();
        }
        self.stopping = Some((why, ender));
    }

    /// When [`Stopper::check`] must look again though no output came (every output, and
    /// the exit, wake the runner anyway): at the timeout, at the end of a grace (SIGKILL
    /// after SIGTERM; a CLI over its budget that is ending by itself), and when what it
    /// last read of things that change without a word to this runner is out of date (the
    /// other agents' records). A check of something more of that kind adds its time here.
    /// None: nothing but output or the exit needs a look.
    pub(super) fn next_check(&self, usage: Option<&Usage>, limits: &Limits) -> Option<Instant> {
        if let Some((_, ender)) = &self.stopping {
            return Some(ender.due());
        }
        // `past` acts once the grace has passed (`elapsed() > GRACE`).
        let grace = self
            .over_at
            .filter(|_| usage.is_some_and(|u| u.transcript.ended))
            .map(|at| at + GRACE + Duration::from_millis(1));
        let others = limits.fleet.as_ref().map(|_| match self.others {
            Some((at, _)) => at + FLEET_READ,
            None => Instant::now(),
        });
        let quota = limits.quota.as_ref().map(|_| match self.quota_at {
            Some(at) => at + QUOTA_LOOK,
            None => Instant::now(),
        });
        [limits.deadline, grace, others, quota]
            .into_iter()
            .flatten()
            .min()
    }

    /// Which limit the step is past now (`timeout`, `budget`), if any.
    fn past(&mut self, usage: Option<&Usage>, limits: &Limits) -> Option<&'static str> {
        // The whole run's cost (earlier runs of this start included).
        let cost = usage.and_then(|u| u.total().cost_usd);
        let over = limits
            .max_cost_usd
            .zip(cost)
            .is_some_and(|(max, c)| c > max);
        // A CLI that gave its final result is ending by itself (claude stops on its own
        // --max-budget-usd): it gets GRACE to exit before a SIGTERM.
        let ended = usage.is_some_and(|u| u.transcript.ended);
        let over_since = *self.over_at.get_or_insert_with(Instant::now);
        if !over {
            self.over_at = None;
        }
        if limits.deadline.is_some_and(|d| Instant::now() >= d) {
            Some("timeout")
        } else if over && (!ended || over_since.elapsed() > GRACE) {
            Some("budget")
        } else if self.fleet_spent(usage, limits) {
            Some(FLEET_BUDGET)
        } else if !ended && self.under_quota(limits) {
            Some(super::quota::QUOTA)
        } else {
            None
        }
    }

    /// Is the agent's credential under quota now? (A stat of `.fleet/quota/` at most every
    /// [`QUOTA_LOOK`]; its record read only when the directory changed.)
    fn under_quota(&mut self, limits: &Limits) -> bool {
        let Some(q) = &limits.quota else {
            return false;
        };
        if self.quota_at.is_some_and(|at| at.elapsed() < QUOTA_LOOK) {
            return false;
        }
        self.quota_at = Some(Instant::now());
        self.quota.check(&q.root, &q.label).is_some()
    }

    /// Has the whole fleet spent its budget (the others' records, this agent's live usage)?
    fn fleet_spent(&mut self, usage: Option<&Usage>, limits: &Limits) -> bool {
        use crate::state::{Level, Spent};
        let Some(fleet) = &limits.fleet else {
            return false;
        };
        // Without a stream of its own, the agent's record counts as the others' do.
        let except = usage.map(|_| fleet.agent.as_str());
        let others = match self.others {
            Some((at, spent)) if at.elapsed() < FLEET_READ => spent,
            _ => {
                let spent = Spent::in_dir(&fleet.agents, except);
                self.others = Some((Instant::now(), spent));
                spent
            }
        };
        let own = usage.map_or_else(Spent::default, |u| {
            Spent::of_usage(Some(&u.total())).plus(Spent::of_usage(u.record.earlier.as_ref()))
        });
        fleet.budget.level(others.plus(own)) == Level::Spent
    }
}

/// Why an agent stopped because the whole fleet spent its `budget:`.
pub(super) const FLEET_BUDGET: &str = "fleet budget";
