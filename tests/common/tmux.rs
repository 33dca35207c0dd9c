//! The test's private tmux server as a user meets it: their own shell session, a fleet
//! command typed into a pane, a second server whose client attaches ([`super::OUTER`]), and
//! what the server shows (sessions, panes, clients, a pane's screen).
use std::fs;
use std::path::{Path, PathBuf};

use super::{sh_quote, sorted, Fleet, DEADLINE, OUTER};

impl Fleet {
    /// Starts the user's own detached session `name` running a shell; returns its pane id.
    pub fn user_shell(&self, name: &str) -> String {
        self.tmux_ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "200",
            "-y",
            "50",
            "sh",
        ]);
        self.panes(name, "#{pane_id}")[0].clone()
    }

    /// Types `fleet -f <manifest> ARGS; echo $? > <rc file>` into a pane, as a user would;
    /// returns a closure-friendly path of the rc file (empty until the command exits).
    pub fn type_fleet(&self, pane: &str, args: &str, rc_name: &str) -> PathBuf {
        let rc = self.root.join(rc_name);
        let line = format!(
            "{} -f {} {args}; echo $? > {}",
            sh_quote(env!("CARGO_BIN_EXE_fleet")),
            sh_quote(self.manifest_path().to_string_lossy()),
            sh_quote(rc.to_string_lossy())
        );
        self.tmux_ok(&["send-keys", "-t", pane, "-l", &line]);
        self.tmux_ok(&["send-keys", "-t", pane, "Enter"]);
        rc
    }

    /// Waits for a command typed by [`Fleet::type_fleet`] to exit; returns its exit code.
    #[track_caller]
    pub fn typed_exit_code(&self, rc: &Path) -> String {
        self.wait_for("the typed fleet command to exit", DEADLINE, |_| {
            fs::read_to_string(rc).is_ok_and(|s| !s.is_empty())
        });
        fs::read_to_string(rc).unwrap().trim().to_string()
    }

    /// Names of all sessions on the private server (empty when no server runs).
    pub fn sessions(&self) -> Vec<String> {
        let run = self.tmux(&["list-sessions", "-F", "#{session_name}"]);
        if run.code != 0 {
            return vec![];
        }
        sorted(run.stdout.lines().filter(|l| !l.is_empty()))
    }

    /// `#{format}` of every pane of a session, all windows.
    #[track_caller]
    pub fn panes(&self, session: &str, format: &str) -> Vec<String> {
        let out = self.tmux_ok(&[
            "list-panes",
            "-s",
            "-t",
            &format!("={session}"),
            "-F",
            format,
        ]);
        out.lines().map(str::to_string).collect()
    }

    /// `session_name session_id pane_id pane_pid` of every pane on the server: a fingerprint that
    /// changes when anything is recreated or respawned.
    pub fn pane_fingerprint(&self) -> Vec<String> {
        let run = self.tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{session_name} #{session_id} #{pane_id} #{pane_pid}",
        ]);
        if run.code != 0 {
            return vec![];
        }
        sorted(run.stdout.lines())
    }

    /// pane pid of a session's (first) pane.
    #[track_caller]
    pub fn pane_pid(&self, session: &str) -> String {
        self.panes(session, "#{pane_pid}")[0].clone()
    }

    /// Sessions the clients of the private server are looking at.
    pub fn clients(&self) -> Vec<String> {
        let run = self.tmux(&["list-clients", "-F", "#{client_session}"]);
        if run.code != 0 {
            return vec![];
        }
        sorted(run.stdout.lines())
    }

    /// A person at a real terminal: a second tmux server ([`OUTER`]) whose 120x40 pane runs
    /// `command` (e.g. `tmux attach …`) against the private server, then stays open.
    pub fn outer_client(&self, command: &str) {
        let line = format!(
            "env -u TMUX TMUX_TMPDIR={} {command}; sleep 60",
            sh_quote(self.tmux_dir.to_string_lossy())
        );
        self.tmux_ok(&[
            "-L",
            OUTER,
            "new-session",
            "-d",
            "-s",
            "outer",
            "-x",
            "120",
            "-y",
            "40",
            &line,
        ]);
    }

    /// How many panes each window of the monitor session `repo-monitor` has, in order.
    #[track_caller]
    pub fn monitor_window_panes(&self) -> Vec<usize> {
        let out = self.tmux_ok(&[
            "list-windows",
            "-t",
            "=repo-monitor:",
            "-F",
            "#{window_panes}",
        ]);
        out.lines().filter_map(|l| l.parse().ok()).collect()
    }

    /// What a pane shows now (`-e`: with colour escapes).
    pub fn screen(&self, pane: &str, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", pane];
        if escapes {
            args.push("-e");
        }
        self.tmux(&args).stdout
    }
}
