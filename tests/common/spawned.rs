//! A fleet command started without waiting for it ([`Spawned`]: for signals and races), and
//! a fleet command not started at all ([`Fleet::fleet_command`]: for a test that talks to it
//! over stdin and stdout).
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Fleet, Run, COMMAND_TIMEOUT};

/// A fleet command running in the background (for signals and races).
pub struct Spawned {
    pub child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

impl Drop for Spawned {
    /// A test that fails half-way leaves no fleet command running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    /// Sends `signal` (e.g. "INT") to the command's whole process group, as Ctrl-C in a
    /// terminal does.
    pub fn signal_group(&self, signal: &str) {
        let status = Command::new("kill")
            .args([
                &format!("-{signal}"),
                "--",
                &format!("-{}", self.child.id()),
            ])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// What the command printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits (at most a minute) for the command to end; what it left behind.
    pub fn wait(mut self) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > COMMAND_TIMEOUT {
                let _ = self.child.kill();
                panic!("a spawned fleet command did not finish within {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        use std::os::unix::process::ExitStatusExt;
        Run {
            cmd: "spawned fleet".into(),
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

impl Fleet {
    /// Starts `fleet ARGS…` in the repo in its own process group, without waiting.
    pub fn spawn_fleet(&self, args: &[&str]) -> Spawned {
        self.spawn_fleet_env(&[], args)
    }

    /// [`Fleet::spawn_fleet`] with extra environment variables.
    pub fn spawn_fleet_env(&self, env: &[(&str, &str)], args: &[&str]) -> Spawned {
        use std::os::unix::process::CommandExt;
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let out = self.out_dir.join(format!("{n}.out"));
        let err = self.out_dir.join(format!("{n}.err"));
        let mut cmd = self.command(env!("CARGO_BIN_EXE_fleet"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .process_group(0)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let child = cmd.spawn().expect("spawn fleet");
        Spawned { child, out, err }
    }
}

impl Fleet {
    /// `fleet ARGS…` in the repo with the test's environment, not started: for a test that
    /// talks to it over stdin/stdout (`fleet mcp`).
    pub fn fleet_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_fleet"));
        cmd.args(args);
        cmd
    }
}
