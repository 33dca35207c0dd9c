//! The commands fleet tells the user to type: how to call fleet for this manifest and the
//! `fleet up` that starts an agent again. Every such hint comes from here.
use crate::manifest::Plan;
use crate::state::State;

/// How to call fleet for this manifest from the current directory: `fleet`, or
/// `fleet -f PATH` when fleet would not find this manifest by itself.
pub fn fleet_command(plan: &Plan) -> String {
    match crate::manifest::locate(None) {
        Ok(found) if found == plan.manifest => "fleet".into(),
        _ => format!(
            "fleet -f {}",
            crate::util::shell_quote(&plan.manifest.display().to_string())
        ),
    }
}

/// The `fleet up` that starts an agent in this state again: finished agents (`done`,
/// `failed`) need `--rerun`, which `up` alone never restarts. Every hint that tells the user
/// to start an agent comes from here.
pub fn up_hint(plan: &Plan, name: &str, state: State) -> String {
    let rerun = if matches!(state, State::Done | State::Failed) {
        "--rerun "
    } else {
        ""
    };
    format!("{} up {rerun}{name}", fleet_command(plan))
}

/// `1 agent`, `3 agents`.
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
