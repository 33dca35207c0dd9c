//! `fleet _receive DIR` (internal), run on a host by the fleet that places agents there,
//! before it pushes the base and runs `up` there: the repository at DIR made ready to
//! receive the push (`git init` when missing, pushes to its checked-out branch update its
//! files), the manifest slice kept out of its `git status`, and the slice (on stdin) written
//! as `DIR/.fleet-remote.yaml`. Every write goes through this host's [`crate::safe_fs`], as
//! on the machine of the user: a symlink inside DIR (e.g. `.git/info/exclude` pointing
//! elsewhere) is refused before anything is written through it.
use std::io::Read;

use anyhow::{Context, Result};

use crate::cli::ReceiveArgs;
use crate::manifest::REMOTE_MANIFEST;

pub fn run(args: &ReceiveArgs) -> Result<i32> {
    // The user's symlinks in `dir:` are resolved once, at the top, as for a manifest here;
    // none below it is followed.
    let dir = crate::manifest::real_path(&args.dir);
    crate::safe_fs::create_dir(&dir, false)?;
    let mut slice = Vec::new();
    std::io::stdin()
        .read_to_end(&mut slice)
        .context("cannot read the manifest slice on stdin")?;
    crate::git::receiving(&dir)?;
    let common = crate::git::common_dir(&dir)?;
    crate::launch::exclude::exclude_pattern(
        &common,
        "the manifest the fleet that placed agents here sends",
        REMOTE_MANIFEST,
    )?;
    crate::safe_fs::write_atomic(&dir.join(REMOTE_MANIFEST), &slice)?;
    Ok(0)
}
