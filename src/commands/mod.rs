//! One file per subcommand, each a small function over the launch layer and the modules
//! under it; this file only dispatches. No command imports another.
use anyhow::Result;

use crate::cli::{Cli, Command};

pub mod attach;
pub mod completions;
pub mod conflicts;
pub mod diff;
pub mod doctor;
pub mod down;
pub mod init;
pub mod logs;
pub mod man;
pub mod mcp;
pub mod merge;
pub mod receive;
pub mod resume;
pub mod review;
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
        Command::Up(args) => up::run(&crate::launch::load(file)?.need_base()?, &args),
        Command::Attach(args) => attach::run(&crate::launch::load(file)?, &args),
        Command::Status(args) => status::run(file, &args),
        Command::Logs(args) => logs::run(&crate::launch::load(file)?, &args),
        Command::Diff(args) => diff::run(&crate::launch::load(file)?.need_base()?, &args),
        Command::Wait(args) => wait::run(&crate::launch::load(file)?, &args),
        Command::Merge(args) => merge::run(&crate::launch::load(file)?.need_base()?, &args),
        Command::Conflicts(args) => conflicts::run(&crate::launch::load(file)?.need_base()?, &args),
        Command::Continue(args) => resume::run(&crate::launch::load(file)?, &args),
        Command::Review(args) => review::run(&crate::launch::load(file)?.need_base()?, &args),
        Command::Down(args) => down::run(&crate::launch::load(file)?, &args),
        Command::Mcp(args) => mcp::run(file, &args),
        Command::Doctor => doctor::run(file),
        Command::Run(args) => crate::runner::main(&args.spec),
        Command::Completions(args) => completions::run(args.shell),
        Command::Man(args) => man::run(&args),
        Command::NetInside(a) => {
            crate::sandbox::bridge::inside(&a.dir, &a.to, &a.ports, &a.command)
        }
        Command::Agents => completions::agents(file),
        Command::Receive(args) => receive::run(&args),
    }
}
