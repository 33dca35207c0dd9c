//! `fleet merge NAME… | --all [--ff | --no-ff | --ff-only | --squash | --rebase]
//! [--no-verify] [--force] [--resume-agent]`: the merge train of [`crate::train`],
//! which merges the agents' branches into `base` in the main checkout one after another,
//! each verified, and stops at the first conflict or failed verify with base at the last
//! good merge. `--verify-pending` / `--undo-pending` settle a merge a killed train never
//! verified.
use anyhow::Result;

use crate::cli::MergeArgs;
use crate::git::How;
use crate::manifest::Plan;
use crate::train::{self, Options, Strategy};

pub fn run(plan: &Plan, args: &MergeArgs) -> Result<i32> {
    if args.verify_pending {
        return train::verify_pending(plan);
    }
    if args.undo_pending {
        return train::undo_pending(plan);
    }
    let strategy = if args.rebase {
        Strategy::Rebase
    } else if args.squash {
        Strategy::Git(How::Squash)
    } else if args.ff_only {
        Strategy::Git(How::FfOnly)
    } else if args.no_ff {
        Strategy::Git(How::NoFf)
    } else {
        Strategy::Git(How::Merge)
    };
    let opts = Options {
        strategy,
        no_verify: args.no_verify,
        force: args.force,
        resume_agent: args.resume_agent,
        all: args.all,
    };
    train::run(plan, &args.names, &opts)
}
