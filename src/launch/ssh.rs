//! The one way fleet reaches another host: a [`Link`], one multiplexed ssh connection
//! (`ControlMaster`) per host per command, that runs shell scripts and fleet's own commands
//! there and gives git the `GIT_SSH_COMMAND` riding the same connection. git and tmux never
//! run over it: the host's own fleet runs them there.
//!
//! A link carries at most [`MAX_CHANNELS`] sessions at once (sshd's default `MaxSessions` is
//! 10, and ssh silently opens a second login for an 11th); fleet itself uses one or two.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use crate::manifest::Host;
use crate::util::shell_quote;

/// Sessions a link may carry at once: below sshd's default `MaxSessions` (10).
pub const MAX_CHANNELS: usize = 8;
/// How long ssh tries to connect before the host counts as not answering.
const CONNECT_TIMEOUT_SECS: u32 = 10;
pub use crate::manifest::REMOTE_MANIFEST;
/// Where `up` copies this fleet on a host of the same platform whose own fleet is missing
/// or another version (a word of a script there): a fleet-owned cache, never a program of
/// the user's.
pub const FLEET_COPY: &str = concat!(
    "\"${XDG_CACHE_HOME:-$HOME/.cache}\"/fleet/bin/fleet-",
    env!("CARGO_PKG_VERSION")
);

/// What `fleet --version` says, here and (for the same fleet) there.
pub fn fleet_version() -> String {
    format!("fleet {}", env!("CARGO_PKG_VERSION"))
}

/// ssh's exit code when the connection itself failed.
const SSH_FAILED: i32 = 255;

/// A multiplexed ssh connection to one host; closed when dropped.
pub struct Link<'a> {
    pub host: &'a Host,
    ctl: PathBuf,
}

/// The directory of the control sockets: short (a socket path holds at most 107 bytes),
/// private to the user.
fn control_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fleet-ssh-{}", crate::util::uid()));
    crate::util::private_dir(&dir)
        .with_context(|| format!("cannot make the ssh control directory {}", dir.display()))?;
    Ok(dir)
}

/// The options every ssh of a link gets: fail rather than ask, fail fast, the user's own.
fn base_args(host: &Host) -> Vec<String> {
    let mut args = vec![
        "-o".to_string(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
        "-o".into(),
        "ServerAliveInterval=5".into(),
        "-o".into(),
        "ServerAliveCountMax=3".into(),
    ];
    args.extend(host.options.iter().cloned());
    args
}

impl<'a> Link<'a> {
    /// Connects to `host` (the master runs in the background, its output in a file so no
    /// pipe of ours waits on it). An error says the host does not answer, and why.
    pub fn open(host: &'a Host) -> Result<Link<'a>> {
        let dir = control_dir()?;
        let ctl = dir.join(format!("{}-{}", std::process::id(), host.name));
        let _ = std::fs::remove_file(&ctl);
        let err_path = ctl.with_extension("err");
        let err = crate::safe_fs::open(&err_path, crate::safe_fs::How::New)?;
        let mut cmd = Command::new("ssh");
        cmd.args(["-M", "-N", "-f", "-o", "ControlPersist=120", "-o"])
            .arg(format!("ControlPath={}", ctl.display()))
            .args(base_args(host))
            .arg("--")
            .arg(&host.ssh)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        trace(&cmd);
        let status = cmd.status().context("cannot run ssh")?;
        let said = std::fs::read_to_string(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&err_path);
        if !status.success() {
            bail!(
                "host {} (ssh {}) does not answer: {}",
                host.name,
                host.ssh,
                last_words(&said, "ssh failed")
            );
        }
        Ok(Link { host, ctl })
    }

    /// `ssh` over the master, ready for the remote command.
    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-o", "ControlMaster=no", "-o"])
            .arg(format!("ControlPath={}", self.ctl.display()))
            .args(base_args(self.host));
        cmd
    }

    /// What git runs as ssh to reach this host over the same connection.
    pub fn git_ssh_command(&self) -> String {
        let mut words = vec![
            "ssh".to_string(),
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            format!("ControlPath={}", self.ctl.display()),
        ];
        words.extend(base_args(self.host));
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// git's URL of the repository there.
    pub fn git_url(&self) -> String {
        format!("{}:{}", self.host.ssh, self.host.dir)
    }

    /// Runs `script` by the login shell there, `input` on its stdin; its output, whatever
    /// its exit code. An error when ssh itself failed (the host stopped answering).
    pub fn run(&self, script: &str, input: Option<&[u8]>) -> Result<Output> {
        let mut cmd = self.ssh();
        cmd.arg("--")
            .arg(&self.host.ssh)
            .arg(script)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        trace(&cmd);
        let mut child = cmd.spawn().context("cannot run ssh")?;
        let written = match (input, child.stdin.take()) {
            (Some(bytes), Some(mut stdin)) => stdin.write_all(bytes),
            _ => Ok(()),
        };
        let out = child.wait_with_output()?;
        if out.status.code() == Some(SSH_FAILED) {
            return Err(anyhow!(
                "host {} (ssh {}) stopped answering: {}",
                self.host.name,
                self.host.ssh,
                last_words(&String::from_utf8_lossy(&out.stderr), "ssh failed")
            ));
        }
        written.context("cannot send the input")?;
        Ok(out)
    }

    /// `cd DIR && ` for a script there (`~/` in `dir:` is the remote home).
    pub fn cd(&self) -> String {
        format!("cd {} && ", remote_path(&self.host.dir))
    }

    /// Runs the host's fleet on its manifest there: `fleet -f .fleet-remote.yaml ARGS…`.
    pub fn fleet(&self, args: &[&str], input: Option<&[u8]>) -> Result<Output> {
        let mut script = format!(
            "{}exec {} -f {REMOTE_MANIFEST}",
            self.cd(),
            remote_path(&self.host.fleet)
        );
        for a in args {
            script.push(' ');
            script.push_str(&shell_quote(a));
        }
        self.run(&script, input)
    }

    /// The host's fleet program, one word of a script there: `hosts.NAME.fleet` when it
    /// is this fleet's version, else the copy `up` may have made ([`FLEET_COPY`]).
    pub fn fleet_program(&self) -> String {
        format!(
            "\"$(f={}; [ \"$(\"$f\" --version 2>/dev/null)\" = {} ] || f={}; printf %s \"$f\")\"",
            remote_path(&self.host.fleet),
            shell_quote(&fleet_version()),
            FLEET_COPY
        )
    }
}

impl Drop for Link<'_> {
    /// Ends the master (and so the connection).
    fn drop(&mut self) {
        let mut cmd = self.ssh();
        cmd.args(["-O", "exit", "--", &self.host.ssh])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
        let _ = std::fs::remove_file(&self.ctl);
    }
}

/// A path for a remote shell, quoted; a leading `~/` stays the remote home.
pub fn remote_path(p: &str) -> String {
    match p.strip_prefix("~/") {
        Some(rest) if !rest.is_empty() => format!("\"$HOME\"/{}", shell_quote(rest)),
        _ if p == "~" => "\"$HOME\"".into(),
        _ => shell_quote(p),
    }
}

/// The last non-empty line of what ssh said, or `otherwise`.
fn last_words(said: &str, otherwise: &str) -> String {
    said.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(otherwise)
        .to_string()
}

/// `-v`: the ssh command, as for git and tmux.
fn trace(cmd: &Command) {
    if crate::util::verbose() {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        crate::util::trace("ssh", &args);
    }
}

/// `f` of every item (a host, a link), each on a thread of its own (hosts are asked in
/// parallel), answers in the items' order. Not [`crate::util::in_parallel`]: that one
/// shares a few threads per core among many short local jobs, where a host may take its
/// whole connect timeout and must not hold up the others.
pub fn each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Vec<Result<R>> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|i| s.spawn(move || f(i))).collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("asking a host failed")))
            })
            .collect()
    })
}
