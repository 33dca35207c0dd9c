//! The fleet program on another host. `up` needs this fleet's version there: the host's own
//! (`hosts.NAME.fleet`) when it answers so, else, when the host is the same platform as
//! this machine (`uname -sm` alike), this very binary, copied over the link to a fleet-owned
//! cache there ([`fleet_copy`], one per build: written to a temporary name, made 0755, renamed; nothing of
//! the user's is overwritten). Another platform keeps the error saying how to install it.
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use super::ssh::{fleet_copy, fleet_version, remote_path, Link};

/// What a host has, from one ssh session: its platform (`uname -sm`), what its own fleet
/// (`hosts.NAME.fleet`) and the copy of [`fleet_copy`] say to `--version`, tmux's and git's
/// versions, and its repository directory (each None when it does not run or is missing).
#[derive(Debug, Default)]
pub struct There {
    pub platform: String,
    pub own: Option<String>,
    pub copy: Option<String>,
    pub tmux: Option<String>,
    pub git: Option<String>,
    /// `git`: a repository; `dir`: a directory, no repository yet; `none`: missing.
    pub repo: String,
}

impl There {
    /// The program [`Link::fleet_program`] runs there is this fleet's version.
    pub fn ready(&self) -> bool {
        let want = fleet_version();
        self.own.as_deref() == Some(want.as_str()) || self.copy.as_deref() == Some(want.as_str())
    }
}

/// Asks the host what it has ([`There`]): one ssh session, one line per answer.
pub fn there(link: &Link) -> Result<There> {
    let first = |cmd: &str| format!("echo \"$({cmd} 2>/dev/null | head -n 1)\"");
    let dir = remote_path(&link.host.dir);
    let script = [
        "uname -sm".to_string(),
        first(&format!("{} --version", remote_path(&link.host.fleet))),
        first(&format!("{} --version", fleet_copy())),
        first("tmux -V"),
        first("git --version"),
        format!(
            "if [ -e {dir}/.git ]; then echo git; elif [ -d {dir} ]; then echo dir; else echo none; fi"
        ),
    ]
    .join("; ");
    let out = link.run(&script, None)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().map(|l| l.trim().to_string());
    let mut next = || lines.next().filter(|l| !l.is_empty());
    Ok(There {
        platform: next().unwrap_or_default(),
        own: next(),
        copy: next(),
        tmux: next(),
        git: next(),
        repo: next().unwrap_or_default(),
    })
}

/// This machine's platform, as `uname -sm` says it.
pub fn platform_here() -> Result<String> {
    let out = Command::new("uname")
        .arg("-sm")
        .output()
        .context("cannot run uname")?;
    if !out.status.success() {
        bail!("`uname -sm` failed here");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// When this returns Ok, the link's fleet program is this fleet's version: it was, or this
/// binary was copied there (same platform), which is said. An error says why not and how
/// to install it.
pub fn ensure(link: &Link) -> Result<()> {
    let host = link.host;
    let want = fleet_version();
    let found = there(link)?;
    if found.ready() {
        return Ok(());
    }
    let problem = match &found.own {
        Some(v) => format!("`{}` there is {v}, this one is {want}", host.fleet),
        None => format!("`{}` does not run there", host.fleet),
    };
    let here = platform_here()?;
    if found.platform != here {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "fleet".into());
        bail!(
            "host {}: {problem}, and it is `{}` there, `{here}` here, so this fleet cannot copy itself there; install {want} there (build it there with `cargo install --path .` from this version's source, or copy a build for that platform like `scp {exe} {}:fleet`) and give its path as `hosts.{}.fleet`",
            host.name,
            found.platform,
            host.ssh,
            host.name
        );
    }
    copy(link).with_context(|| {
        format!(
            "host {}: {problem}, and copying this fleet there failed",
            host.name
        )
    })?;
    match there(link)?.copy {
        Some(v) if v == want => {
            crate::info!(
                "host {}: {problem}; copied this fleet there ({}) and using it",
                host.name,
                shown_copy()
            );
            Ok(())
        }
        other => Err(anyhow!(
            "host {}: {problem}; this fleet was copied there ({}), but it answers {}",
            host.name,
            shown_copy(),
            other.unwrap_or_else(|| "nothing".into())
        )),
    }
}

/// The copy's path as people read it.
pub fn shown_copy() -> String {
    fleet_copy()
        .replace('"', "")
        .replace("${XDG_CACHE_HOME:-$HOME/.cache}", "~/.cache")
}

/// This binary to [`fleet_copy`] there: a new temporary file (noclobber), 0755, renamed
/// over the old copy. The one write fleet makes on a host with a shell rather than through
/// the host's own fleet (there is none yet): only into fleet's own cache there, never into
/// the repository, and a symlink in the copy's place is replaced, not followed.
fn copy(link: &Link) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this fleet's binary")?;
    let bytes = std::fs::read(&exe).with_context(|| format!("cannot read {}", exe.display()))?;
    let copy = fleet_copy();
    let script = format!(
        "set -e; f={copy}; mkdir -p \"${{f%/*}}\"; t=\"$f.new.$$\"; rm -f \"$t\"; \
         (set -C; cat > \"$t\"); chmod 755 \"$t\"; mv -f \"$t\" \"$f\""
    );
    let out = link.run(&script, Some(&bytes))?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
