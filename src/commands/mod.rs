//! One file per subcommand, each a small function over the modules above.
use std::collections::HashSet;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::manifest::{self, Plan};
use crate::tmux;

pub mod attach;
pub mod completions;
pub mod diff;
pub mod doctor;
pub mod down;
pub mod init;
pub mod logs;
pub mod man;
pub mod merge;
pub mod resume;
pub mod status;
pub mod up;
pub mod validate;
pub mod wait;

/// Run the parsed command; the exit code on success.
pub fn run(cli: Cli) -> Result<i32> {
    let file = cli.file.as_deref();
    match cli.command {
        Command::Init(args) => init::run(file, &args),
        Command::Validate => validate::run(file),
        Command::Up(args) => up::run(&manifest::load(file)?.need_base()?, &args),
        Command::Attach(args) => attach::run(&manifest::load(file)?, &args),
        Command::Status(args) => status::run(file, &args),
        Command::Logs(args) => logs::run(&manifest::load(file)?, &args),
        Command::Diff(args) => diff::run(&manifest::load(file)?.need_base()?, &args),
        Command::Wait(args) => wait::run(&manifest::load(file)?, &args),
        Command::Merge(args) => merge::run(&manifest::load(file)?.need_base()?, &args),
        Command::Continue(args) => resume::run(&manifest::load(file)?, &args),
        Command::Down(args) => down::run(&manifest::load(file)?, &args),
        Command::Doctor => doctor::run(file),
        Command::Run(args) => crate::runner::main(&args.spec),
        Command::Completions(args) => completions::run(args.shell),
        Command::Man(args) => man::run(&args),
        Command::Agents => completions::agents(file),
    }
}

/// The names of the live sessions that this manifest's fleet owns (tagged with its path).
pub fn owned(plan: &Plan, sessions: &[tmux::Session]) -> HashSet<String> {
    let tag = plan.tag();
    sessions
        .iter()
        .filter(|s| s.tag == tag)
        .map(|s| s.name.clone())
        .collect()
}

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
pub fn up_hint(plan: &Plan, name: &str, state: crate::state::State) -> String {
    use crate::state::State;
    let rerun = if matches!(state, State::Done | State::Failed) {
        "--rerun "
    } else {
        ""
    };
    format!("{} up {rerun}{name}", fleet_command(plan))
}
