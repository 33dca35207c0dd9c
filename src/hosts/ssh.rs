//! The one way fleet reaches another host: a [`Link`] over the multiplexed ssh connections
//! (`ControlMaster`) fleet keeps per host between its commands ([`super::pool`]), that runs
//! shell scripts and fleet's own commands there and gives git the `GIT_SSH_COMMAND` riding
//! the same connection. git and tmux never run over it: the host's own fleet runs them
//! there. Every session holds a slot of its master, so no connection carries more sessions
//! than the host's `max_sessions:`.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use super::pool::{self, Pool, Slot, PERSIST_SECS};
use crate::manifest::Host;
use crate::util::shell_quote;

/// How long ssh tries to connect before the host counts as not answering.
const CONNECT_TIMEOUT_SECS: u32 = 10;
pub use crate::manifest::REMOTE_MANIFEST;
/// Where `up` copies this fleet on a host of the same platform whose own fleet is missing
/// or another version (a word of a script there): a fleet-owned cache, never a program of
/// the user's. One copy per build (`fleet-VERSION-STAMP`, the stamp from this binary's
/// size and time), so a fleet rebuilt at the same version is copied again rather than a
/// stale copy run there.
pub fn fleet_copy() -> String {
    static COPY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        if let Some(meta) = std::env::current_exe()
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
        {
            meta.len().hash(&mut h);
            meta.modified().ok().hash(&mut h);
        }
        format!(
            "\"${{XDG_CACHE_HOME:-$HOME/.cache}}\"/fleet/bin/fleet-{}-{:08x}",
            env!("CARGO_PKG_VERSION"),
            h.finish() as u32
        )
    })
    .clone()
}

/// What `fleet --version` says, here and (for the same fleet) there.
pub fn fleet_version() -> String {
    format!("fleet {}", env!("CARGO_PKG_VERSION"))
}

/// How long [`Link::stream`] waits for the script there to end once interrupted.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// ssh's exit code when the connection itself failed.
const SSH_FAILED: i32 = 255;

/// One host reached over the ssh masters fleet keeps ([`Pool`]): each session it opens
/// holds a slot on a master, started when none is alive.
pub struct Link<'a> {
    pub host: &'a Host,
    pool: Pool,
}

/// The directory of the control sockets: short (a socket path holds at most 107 bytes),
/// made by fleet, the user's own and mode 0700; one that exists with another owner, a wider
/// mode or as a symlink is refused ([`crate::safe_fs::owned_private_dir`]): whoever can
/// enter it can run commands on the hosts over the user's connections.
pub fn control_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fleet-ssh-{}", crate::util::uid()));
    crate::safe_fs::owned_private_dir(&dir)
        .with_context(|| format!("cannot use the ssh control directory {}", dir.display()))?;
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

/// Starts the master of `host` on `ctl` (in the background, kept [`PERSIST_SECS`] after its
/// last session; its output in a file so no pipe of ours waits on it). An error says the
/// host does not answer, and why.
fn start_master(host: &Host, ctl: &Path) -> Result<()> {
    let err_path = ctl.with_extension("err");
    let _ = std::fs::remove_file(&err_path);
    let err = crate::safe_fs::open(&err_path, crate::safe_fs::How::New)?;
    let mut cmd = Command::new("ssh");
    cmd.args(["-M", "-N", "-f", "-o"])
        .arg(format!("ControlPersist={PERSIST_SECS}"))
        .arg("-o")
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
    Ok(())
}

/// `ssh` over the master on `ctl` (never starting one of its own), ready for the rest.
fn over(host: &Host, ctl: &Path) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-o", "ControlMaster=no", "-o"])
        .arg(format!("ControlPath={}", ctl.display()))
        .args(base_args(host));
    cmd
}

/// The masters of `host` in the control directory.
fn pool_of(host: &Host) -> Result<Pool> {
    Ok(Pool::new(control_dir()?, host, &base_args(host)))
}

/// Stops the kept masters of `host` (`fleet down`): no new session on them, each ends with
/// its last one.
pub fn close(host: &Host) -> Result<()> {
    pool_of(host)?.stop(&|ctl| over(host, ctl), &host.ssh);
    Ok(())
}

impl<'a> Link<'a> {
    /// Reaches `host` over a kept master, starting one when none is alive. An error says the
    /// host does not answer, and why.
    pub fn open(host: &'a Host) -> Result<Link<'a>> {
        let link = Link {
            host,
            pool: pool_of(host)?,
        };
        drop(link.slot()?);
        Ok(link)
    }

    /// A slot for one session, on a master that is alive.
    fn slot(&self) -> Result<Slot> {
        self.pool.slot(&|ctl| start_master(self.host, ctl))
    }

    /// A master of it is alive (a master ends by itself when the host stopped answering).
    pub fn is_open(&self) -> bool {
        !self.pool.masters().is_empty()
    }

    /// `ssh` over a master, ready for the remote command, with the slot it holds.
    fn ssh(&self) -> Result<(Command, Slot)> {
        let slot = self.slot()?;
        Ok((over(self.host, &slot.ctl), slot))
    }

    /// What git runs as ssh to reach this host over a kept master, with the slot its one
    /// session holds (keep it until git is done).
    pub fn git_ssh_command(&self) -> Result<(String, Slot)> {
        let slot = self.slot()?;
        let mut words = vec![
            "ssh".to_string(),
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            format!("ControlPath={}", slot.ctl.display()),
        ];
        words.extend(base_args(self.host));
        let command = words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        Ok((command, slot))
    }

    /// git's URL of the repository there.
    pub fn git_url(&self) -> String {
        format!("{}:{}", self.host.ssh, self.host.dir)
    }

    /// Runs `script` by the login shell there, `input` on its stdin; its output, whatever
    /// its exit code. An error when ssh itself failed (the host stopped answering).
    pub fn run(&self, script: &str, input: Option<&[u8]>) -> Result<Output> {
        match self.run_once(script, input)? {
            // Its master ended between the look and the session (its idle time was up):
            // once more, on a master started anew.
            (out, ctl) if out.status.code() == Some(SSH_FAILED) && !pool::alive(&ctl) => {
                Ok(self.run_once(script, input)?.0)
            }
            (out, _) => Ok(out),
        }
        .and_then(|out| self.answered(out))
    }

    /// An error when ssh itself failed, naming the host and what ssh said.
    fn answered(&self, out: Output) -> Result<Output> {
        if out.status.code() == Some(SSH_FAILED) {
            return Err(anyhow!(
                "host {} (ssh {}) stopped answering: {}",
                self.host.name,
                self.host.ssh,
                last_words(&String::from_utf8_lossy(&out.stderr), "ssh failed")
            ));
        }
        Ok(out)
    }

    /// [`Link::run`] on one slot; its output and the master's socket.
    fn run_once(&self, script: &str, input: Option<&[u8]>) -> Result<(Output, PathBuf)> {
        let (mut cmd, slot) = self.ssh()?;
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
        if out.status.code() != Some(SSH_FAILED) {
            written.context("cannot send the input")?;
        }
        Ok((out, slot.ctl.clone()))
    }

    /// `cd DIR && ` for a script there (`~/` in `dir:` is the remote home).
    pub fn cd(&self) -> String {
        format!("cd {} && ", remote_path(&self.host.dir))
    }

    /// Runs the host's fleet on its manifest there: `fleet -f .fleet-remote.yaml ARGS…`.
    pub fn fleet(&self, args: &[&str], input: Option<&[u8]>) -> Result<Output> {
        self.run(&fleet_script(self.host, args), input)
    }

    /// The host's fleet program, one word of a script there: `hosts.NAME.fleet` when it
    /// is this fleet's version, else the copy `up` may have made ([`fleet_copy`]). Only a
    /// host with that copy pays for asking the named one its version.
    pub fn fleet_program(&self) -> String {
        fleet_program(self.host)
    }

    /// Runs `script` there, bound to the connection ([`bound`]), its output on this
    /// process's stdout and stderr as it comes; its exit code. Ctrl-C (or SIGTERM, SIGHUP
    /// once interrupts are deferred) ends it there too. An error when ssh itself failed.
    pub fn stream(&self, script: &str) -> Result<i32> {
        let (mut cmd, _slot) = self.ssh()?;
        cmd.arg("--")
            .arg(&self.host.ssh)
            .arg(bound(script))
            // Held open, never written: its end is how the script there learns ours.
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        // Its own process group: Ctrl-C reaches this fleet, which ends the script there by
        // closing the stdin (killing ssh instead would leave the script running there).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        trace(&cmd);
        let mut child = cmd.spawn().context("cannot run ssh")?;
        let mut stdin = child.stdin.take();
        let mut since: Option<std::time::Instant> = None;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if crate::util::interrupted() {
                stdin = None;
                let since = since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > STOP_WAIT {
                    // The connection is wedged: ssh's own keepalive would take longer.
                    let _ = child.kill();
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        drop(stdin);
        match status.code() {
            Some(SSH_FAILED) => Err(anyhow!(
                "host {} (ssh {}) stopped answering",
                self.host.name,
                self.host.ssh
            )),
            Some(code) => Ok(code),
            // Killed (by us when interrupted, or by a signal of its own).
            None => Ok(130),
        }
    }
}

/// `script` bound to the ssh connection it runs on: when the connection ends (the local
/// ssh was stopped or killed, its fleet died, the network dropped), so does the script. A
/// session without a terminal gets no hangup from sshd (a remote `tail -f` would linger);
/// instead a watchdog reads the session's stdin, which the local side holds open and never
/// writes, and stops the script at its end. The script's stdin is /dev/null; its exit code
/// is the session's.
pub fn bound(script: &str) -> String {
    format!(
        "exec 3<&0 </dev/null; ({script}) 3<&- & p=$!; \
         {{ cat <&3 >/dev/null 2>&1; kill $p; }} >/dev/null 2>&1 & w=$!; \
         exec 3<&-; wait $p; r=$?; kill $w 2>/dev/null; exit $r"
    )
}

/// The words of an ssh that runs `script` on `host` on a terminal there (`-t`), for a
/// person at this terminal (`attach`): run here by [`on_terminal`], or by tmux in a window.
/// [`QUIET_CLOSE`] after the host's own options, so leaving it is as quiet as leaving a
/// local session while a failed connection still says why.
pub fn terminal_words(host: &Host, script: &str) -> Vec<String> {
    let mut words = vec!["ssh".to_string(), "-t".into()];
    words.extend(base_args(host));
    words.extend(["-o".to_string(), QUIET_CLOSE.into()]);
    words.extend(["--".to_string(), host.ssh.clone(), script.to_string()]);
    words
}

/// The log level of the terminal ssh of `attach`: with a terminal, ssh says `Connection to
/// HOST closed.` (over a shared connection `Shared connection to HOST closed.`) at its
/// default level (INFO) when the session ends, which a detach from a local session never
/// says. At ERROR it keeps what a failed connection says (`Connection refused`, `Permission
/// denied`, a changed host key), unlike `-q`, which hides those too. ssh takes an option's
/// first value: placed after the host's `options:`, a `LogLevel` there wins (ssh's config
/// file, read after the command line, does not).
const QUIET_CLOSE: &str = "LogLevel=ERROR";

/// Runs [`terminal_words`] on this terminal (stdin, stdout and stderr); ssh's exit code
/// (the remote command's, or 255 when the connection failed).
pub fn on_terminal(host: &Host, script: &str) -> Result<i32> {
    let words = terminal_words(host, script);
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    trace(&cmd);
    let status = cmd.status().context("cannot run ssh")?;
    Ok(status.code().unwrap_or(130))
}

/// The host's fleet program, one word of a script there (see [`Link::fleet_program`]).
pub fn fleet_program(host: &Host) -> String {
    format!(
        "\"$(f={own}; [ ! -x {copy} ] || [ \"$(\"$f\" --version 2>/dev/null)\" = {want} ] || f={copy}; printf %s \"$f\")\"",
        own = remote_path(&host.fleet),
        copy = fleet_copy(),
        want = shell_quote(&fleet_version()),
    )
}

/// The script that runs the host's fleet on its manifest there, every argument quoted:
/// `cd DIR && exec fleet -f .fleet-remote.yaml ARGS…`.
pub fn fleet_script(host: &Host, args: &[&str]) -> String {
    let mut script = format!(
        "cd {} && exec {} -f {REMOTE_MANIFEST}",
        remote_path(&host.dir),
        fleet_program(host)
    );
    for a in args {
        script.push(' ');
        script.push_str(&shell_quote(a));
    }
    script
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
