//! Every tmux call fleet makes, through `tmux_interface`. Many commands go to one tmux
//! process ([`Batch`]); sessions are always targeted exactly (`=name`, or `=name:` for
//! commands that take a window or pane), never by index and never by "the current pane".
//! This file owns the server fleet talks to, targets and quoting, batches and single
//! commands, tmux's version, and the clients (messages, attaching); what the server holds
//! (its sessions, the monitor's panes) is read in `sessions`, re-exported here.
use std::borrow::Cow;

use anyhow::{bail, Context, Result};
use tmux_interface::{StdIO, Tmux, TmuxCommand, TmuxCommands};

mod sessions;

use sessions::no_server;
pub use sessions::{sessions, snapshot, Pane, Session, Snapshot};

/// The oldest tmux fleet supports.
pub const MIN_VERSION: (u32, u32) = (3, 2);

/// The session option fleet tags its sessions with; its value is the manifest's path.
pub const TAG: &str = "@fleet";

/// The socket of the server fleet's sessions live on, once a command has found it recorded
/// in `.fleet/` ([`use_server`]); unset, tmux's own choice (`$TMUX`, `TMUX_TMPDIR`).
static SOCKET: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Talk to the server whose socket `up` recorded (`recorded`), while that socket is there:
/// run from inside another tmux server (whose `$TMUX` would otherwise choose it), fleet
/// still finds its own sessions instead of calling them lost. Without a record, or once
/// that server is gone, tmux's default as before.
pub fn use_server(recorded: Option<std::path::PathBuf>) {
    use std::os::unix::fs::FileTypeExt;
    if let Some(socket) = recorded {
        if std::fs::metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = SOCKET.set(socket);
        }
    }
}

/// The socket of the server fleet talks to (to record where sessions are made): the one in
/// use, else `$TMUX`'s when set, else `tmux-<uid>/default` in `$TMUX_TMPDIR` or /tmp (a
/// relative `TMUX_TMPDIR` made absolute, as tmux does, so the record holds wherever read).
pub fn socket() -> std::path::PathBuf {
    if let Some(s) = SOCKET.get() {
        return s.clone();
    }
    if let Ok(t) = std::env::var("TMUX") {
        if let Some(s) = t.split(',').next().filter(|s| !s.is_empty()) {
            return s.into();
        }
    }
    let dir = std::env::var_os("TMUX_TMPDIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp".into());
    let dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.into());
    dir.join(format!("tmux-{}", crate::util::uid()))
        .join("default")
}

/// A tmux invocation on fleet's server (`-S` when one was found recorded) with `-u`: without
/// a UTF-8 locale tmux prints the tab of our `-F` formats as `_`.
fn on_server(tmux: Tmux<'static>) -> Tmux<'static> {
    let tmux = tmux.force_utf8();
    match SOCKET.get() {
        Some(s) => tmux.socket_path(s.display().to_string()),
        None => tmux,
    }
}

/// What fleet's sessions need whatever the user's tmux configuration says, set on each
/// session fleet creates, on new-session's line (`target` = [`window`]): a session with
/// nobody attached stays (`destroy-unattached` would kill the agent at once), and its status
/// line shows its whole name (tmux's `status-left` is `[#S] `, cut at 10 characters). Only
/// the length is set, a number: no user string goes where tmux reads a format.
pub fn keep_session(batch: &mut Batch, target: &str) {
    batch.and("set-option", &["-t", target, "destroy-unattached", "off"]);
    let name = target.trim_start_matches('=').trim_end_matches(':');
    let width = (name.chars().count() + 3).max(10).to_string();
    batch.and("set-option", &["-t", target, "status-left-length", &width]);
}

/// What the server must do for fleet's sessions to live: not exit when no client is
/// attached (`exit-unattached`, a server-wide option, the one fleet has to set there).
pub fn keep_server(batch: &mut Batch) {
    batch.add("set-option", &["-s", "exit-unattached", "off"]);
}

/// An exact target for commands that take a session (`kill-session`, `switch-client`):
/// `=name` (plain `name` would prefix-match `name10`).
pub fn exact(session: &str) -> String {
    format!("={session}")
}

/// The current window of a session, exactly: `=name:`. Commands whose target is a window or
/// pane (`set-option`, `split-window`, `list-panes`) read a bare `=name` as a window name.
pub fn window(session: &str) -> String {
    format!("={session}:")
}

/// The one way a user string (a path) goes into a shell command that tmux runs through a
/// format (`pipe-pane`; `run-shell` and `if-shell` alike): tmux expands `#(...)`, `#{...}`
/// and strftime's `%` in such a line before `sh -c` sees it, so the string may not appear
/// in it as itself. It reaches `sh` as `"$(printf '\NNN...')"`, every byte an octal
/// escape: the line tmux reads holds only fleet's own characters (no `#`, no `%`), and the
/// string may hold anything (`#(touch x)`, `%Y`, quotes, spaces) without being expanded or
/// split. (Command substitution drops trailing newlines; fleet refuses paths with
/// control characters.)
pub fn shell_word(s: &str) -> String {
    let octal: String = s.bytes().map(|b| format!("\\{b:03o}")).collect();
    format!("\"$(printf '{octal}')\"")
}

/// The `pipe-pane` command that appends what a pane shows to `log` (see [`shell_word`]).
pub fn pipe_to(log: &std::path::Path) -> String {
    format!("exec cat >> {}", shell_word(&log.display().to_string()))
}

/// tmux reads an argument ending in `;` as a command separator; escape that one character.
fn escape_arg(arg: &str) -> Cow<'static, str> {
    match arg.strip_suffix(';') {
        Some(head) => Cow::Owned(format!("{head}\\;")),
        None => Cow::Owned(arg.to_string()),
    }
}

fn spawn_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "tmux is not installed or not on PATH; install tmux {}.{} or newer (apt-get install tmux, brew install tmux)",
            MIN_VERSION.0,
            MIN_VERSION.1
        )
    } else {
        anyhow::Error::new(e).context("cannot run tmux")
    }
}

fn tmux_error(e: tmux_interface::Error) -> anyhow::Error {
    match e {
        tmux_interface::Error::IO(io) => spawn_error(io),
        other => anyhow::anyhow!("cannot run tmux: {other:?}"),
    }
}

/// Many tmux commands run by one tmux process, in order (see [`Batch::run`]).
#[derive(Default)]
pub struct Batch {
    cmds: Vec<Vec<String>>,
    /// For each command: whether it goes on the line of the one before ([`Batch::and`]).
    joined: Vec<bool>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one command: its name and arguments, passed to tmux as they are (no shell).
    pub fn add<S: AsRef<str>>(&mut self, name: &str, args: &[S]) -> &mut Self {
        self.push(name, args, false)
    }

    /// Add a command that runs only if every command since the last [`Batch::add`] did:
    /// tmux skips the rest of a line after a command of it fails (e.g. a `set-option` on a
    /// session whose `new-session` failed would reach someone else's session of that name).
    pub fn and<S: AsRef<str>>(&mut self, name: &str, args: &[S]) -> &mut Self {
        let joined = !self.cmds.is_empty();
        self.push(name, args, joined)
    }

    fn push<S: AsRef<str>>(&mut self, name: &str, args: &[S], joined: bool) -> &mut Self {
        // A shell command tmux runs through a format is built by `shell_word`/`pipe_to`.
        debug_assert!(
            !matches!(name, "pipe-pane" | "run-shell" | "if-shell")
                || args.last().is_none_or(|c| !c.as_ref().contains(['#', '%'])),
            "a user string in a tmux format: {name}"
        );
        let mut cmd = vec![name.to_string()];
        cmd.extend(args.iter().map(|a| a.as_ref().to_string()));
        self.cmds.push(cmd);
        self.joined.push(joined);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// The commands as a user would type them (for `--dry-run` and errors).
    pub fn lines(&self) -> Vec<String> {
        self.cmds
            .iter()
            .map(|c| {
                let words: Vec<String> = c.iter().map(|w| crate::util::shell_quote(w)).collect();
                format!("tmux {}", words.join(" "))
            })
            .collect()
    }

    /// The batch on tmux's command line (used for a single command).
    fn build(&self) -> Tmux<'static> {
        let mut cmds = TmuxCommands::new();
        for c in &self.cmds {
            let mut cmd = TmuxCommand::new();
            cmd.name(c[0].clone());
            for a in &c[1..] {
                cmd.push_param(escape_arg(a));
            }
            cmds.push(cmd);
        }
        on_server(Tmux::with_commands(cmds))
    }

    /// Run the batch in one tmux process; its stdout, or an error with tmux's message.
    ///
    /// One command goes on tmux's command line. More go through a script that one
    /// `tmux start-server ; source-file` reads: tmux refuses a command line over ~16 KiB
    /// ("command too long"), which 64 agents pass easily. In a script a failing command does
    /// not stop the ones after it; the error is still reported.
    pub fn run(&self) -> Result<String> {
        if crate::util::verbose() {
            for c in &self.cmds {
                crate::util::trace("tmux", c);
            }
        }
        match self.cmds.len() {
            0 => Ok(String::new()),
            1 => self.output(self.build()),
            _ => {
                let script = Script::write(&self.script()?)?;
                let mut start = TmuxCommand::new();
                start.name("start-server");
                let mut source = TmuxCommand::new();
                source
                    .name("source-file")
                    .push_param(script.path.display().to_string());
                let mut cmds = TmuxCommands::new();
                cmds.push(start);
                cmds.push(source);
                self.output(on_server(Tmux::with_commands(cmds)))
            }
        }
    }

    /// The batch in tmux's configuration syntax, every argument single-quoted; commands
    /// joined by [`Batch::and`] on one line, separated by ` ; `.
    fn script(&self) -> Result<String> {
        let mut text = String::new();
        for (i, (c, joined)) in self.cmds.iter().zip(&self.joined).enumerate() {
            if let Some(bad) = c.iter().find(|a| a.contains('\n')) {
                bail!("cannot pass an argument with a newline to tmux: {bad:?}");
            }
            if *joined {
                text.push_str(" ; ");
            } else if i > 0 {
                text.push('\n');
            }
            let words: Vec<String> = c[1..]
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
                .collect();
            text.push_str(&c[0]);
            for w in words {
                text.push(' ');
                text.push_str(&w);
            }
        }
        text.push('\n');
        Ok(text)
    }

    fn output(&self, tmux: Tmux<'static>) -> Result<String> {
        let out = tmux.stdin(Some(StdIO::Null)).output().map_err(tmux_error)?;
        let stdout = String::from_utf8_lossy(&out.0.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.0.stderr).trim().to_string();
        // tmux_interface returns Ok even when tmux failed: check the status ourselves.
        if !out.success() || !stderr.is_empty() {
            let first = self.cmds.first().map(|c| c[0].as_str()).unwrap_or("");
            bail!(
                "tmux failed ({} command{}, starting with `{first}`): {}",
                self.len(),
                if self.len() == 1 { "" } else { "s" },
                if stderr.is_empty() {
                    "no message"
                } else {
                    &stderr
                }
            );
        }
        Ok(stdout)
    }
}

/// A private temporary file holding a tmux script, removed on drop.
struct Script {
    path: std::path::PathBuf,
}

impl Script {
    fn write(text: &str) -> Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir();
        for n in 0..100u32 {
            let path = dir.join(format!("fleet-{}-{n}.tmux", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(text.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(Script { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot create a file in {}", dir.display()))
                }
            }
        }
        bail!("cannot create a temporary file in {}", dir.display())
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Run one tmux command.
pub fn one<S: AsRef<str>>(name: &str, args: &[S]) -> Result<String> {
    let mut b = Batch::new();
    b.add(name, args);
    b.run()
}

/// tmux's version string, checked against [`MIN_VERSION`].
pub fn version() -> Result<String> {
    crate::util::trace("tmux", &["-V"]);
    let out = Tmux::new()
        .version()
        .stdin(Some(StdIO::Null))
        .output()
        .map_err(tmux_error)?;
    check_version(String::from_utf8_lossy(&out.0.stdout).trim().to_string())
}

/// A version string (`tmux 3.3a`, or the `3.3a` of `#{version}`) checked against
/// [`MIN_VERSION`].
fn check_version(v: String) -> Result<String> {
    let num = v.trim_start_matches("tmux ").trim_start_matches("next-");
    let mut parts = num
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if (major, minor) < MIN_VERSION => bail!(
            "{v}{} is too old; install tmux {}.{} or newer (or put it first on PATH)",
            which::which("tmux")
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default(),
            MIN_VERSION.0,
            MIN_VERSION.1
        ),
        // `tmux master` and other builds without a number are taken as new enough.
        _ => Ok(v),
    }
}

/// Show a message on the status line of every attached client for a few seconds (two tmux
/// processes: list the clients, then tell them all). Nothing when no client is attached.
pub fn tell_clients(message: &str) -> Result<()> {
    let clients = match one("list-clients", &["-F", "#{client_name}"]) {
        Ok(out) => out,
        Err(e) if no_server(&format!("{e:#}")) => return Ok(()),
        Err(e) => return Err(e),
    };
    // The message is a format (and strftime's): `#` and `%` doubled show as themselves.
    let text = message.replace('#', "##").replace('%', "%%");
    let mut batch = Batch::new();
    for client in clients.lines().filter(|c| !c.is_empty()) {
        batch.add("display-message", &["-c", client, "-d", "5000", &text]);
    }
    batch.run().map(drop)
}

/// Is this process running inside tmux, on the server fleet talks to? (Inside another
/// server, `switch-client` cannot reach fleet's sessions: `attach` nests instead.)
pub fn inside() -> bool {
    let Ok(t) = std::env::var("TMUX") else {
        return false;
    };
    match (t.split(',').next(), SOCKET.get()) {
        (Some(ours), Some(fleet)) => std::path::Path::new(ours) == fleet.as_path(),
        _ => !t.is_empty(),
    }
}

/// Attach the terminal to a session (outside tmux) or switch this client to it (inside).
/// Inside tmux but in a pane no client shows (a script in a detached session), there is no
/// client to switch: this terminal attaches instead, as from outside.
pub fn attach(session: &str) -> Result<()> {
    let target = exact(session);
    if inside() {
        match one("switch-client", &["-t", target.as_str()]) {
            Ok(_) => return Ok(()),
            Err(e) if format!("{e:#}").contains("no current client") => {}
            Err(e) => return Err(e).with_context(|| format!("cannot attach to session {session}")),
        }
    }
    attach_here(&target).with_context(|| format!("cannot attach to session {session}"))
}

/// Opens a window running `command` (its words, run without a shell) after the window of
/// the pane this process runs in (`$TMUX_PANE`), and shows it. False, and nothing done,
/// when this process is not in a pane of the server fleet talks to.
pub fn open_window(name: &str, command: &[String]) -> Result<bool> {
    let pane = match std::env::var("TMUX_PANE") {
        Ok(p) if p.starts_with('%') && inside() => p,
        _ => return Ok(false),
    };
    // new-window takes a window: the pane's, by its id.
    let window = one(
        "display-message",
        &["-p", "-t", pane.as_str(), "#{window_id}"],
    )?;
    let window = window.trim();
    // `-n` is read as a format: `#` doubled shows as itself.
    let name = name.replace('#', "##");
    let mut args = vec!["-a", "-t", window, "-n", name.as_str()];
    args.extend(command.iter().map(String::as_str));
    one("new-window", &args)?;
    Ok(true)
}

/// `tmux attach-session -t target` on this terminal.
fn attach_here(target: &str) -> Result<()> {
    crate::util::trace("tmux", &["attach-session", "-t", target]);
    let mut cmd = on_server(Tmux::with_command(
        TmuxCommand::new()
            .name("attach-session")
            .push_param("-t")
            .push_param(target.to_string())
            .to_owned(),
    ))
    .into_command();
    // From inside another tmux server: a client nested in that one's pane.
    cmd.env_remove("TMUX");
    let status = cmd.status().map_err(spawn_error)?;
    if !status.success() {
        bail!("tmux attach-session -t {target} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_trailing_semicolons() {
        assert_eq!(escape_arg("a;"), "a\\;");
        assert_eq!(escape_arg("a;b"), "a;b");
        assert_eq!(exact("p-agent1"), "=p-agent1");
    }

    #[test]
    fn shell_words_hold_no_format_characters() {
        assert_eq!(shell_word("a#%"), r#""$(printf '\141\043\045')""#);
        let line = pipe_to(std::path::Path::new("/x/#(touch y)/%Y/it's.log"));
        assert!(!line.contains(['#', '%']), "{line}");
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("printf %s {}", shell_word("#(x) %Y 'q' \"d\" $HOME")),
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "#(x) %Y 'q' \"d\" $HOME"
        );
    }
}
