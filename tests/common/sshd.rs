//! A real, private `sshd` on 127.0.0.1 for the ssh tests: "remote hosts" that are other
//! local accounts (scripts/ssh-hosts.sh creates them), reached with key auth, nothing mocked.
//!
//! [`Sshd::start_or_skip`] builds a temp dir holding
//!
//! ```text
//! <tmp>/server/        sshd_config, host key, PidFile, sshd.log (sshd -e), authorized_keys/<user>
//! <tmp>/client/        id_ed25519 (the test's key), known_hosts (the host key, pinned), ssh_config
//! <tmp>/bin/           `ssh` and `scp` wrappers adding `-F <tmp>/client/ssh_config`
//! <tmp>/ctl/           a short directory for ControlPath sockets
//! <tmp>/shared/        programs copied for the remote accounts to run ([`Sshd::share`])
//! <tmp>/remote-bin/    first on every remote session's PATH (sshd `SetEnv`): agent CLI stubs
//! <tmp>/remote/<user>/ owned by that user: a place for its repositories; also its TMUX_TMPDIR
//!                      and, as `<user>/cache`, its XDG_CACHE_HOME
//! <tmp>/out/           captured stdout/stderr of every command
//! ```
//!
//! and starts `sshd -D -e -f <tmp>/server/sshd_config` as a child, listening only on
//! 127.0.0.1 on a free port. The client config names one alias per account: `host-a` →
//! `fleet-remote-a@127.0.0.1:PORT`, `host-b` → `fleet-remote-b@…`, so `ssh -F <config>
//! host-a true` (or `ssh host-a true` with [`Sshd::path`] first on PATH) works.
//! [`Sshd::own_sshd`] moves one alias to a second sshd on its own port (same host key,
//! same accounts), so [`Sshd::stop_host`] takes that one host away while the others answer.
//!
//! Facts this rests on (measured with OpenSSH 9.2, Debian 12):
//! - ssh reads `~/.ssh/config` from the passwd entry's home, not from `$HOME`: a test's
//!   private HOME does not give it a config, hence `-F` and the wrappers in `<tmp>/bin`
//!   (git, which runs `ssh` from PATH, goes through them too).
//! - `StrictModes yes` refuses an AuthorizedKeysFile when any directory from it up to `/`
//!   is group/world-writable or owned by someone other than root or the user ("bad ownership
//!   or modes for directory /tmp"); the temp dir lives under /tmp (1777), so `StrictModes no`.
//!   The key files are still root-owned, 0644, in 0755 directories: sshd reads them *as the
//!   user*, so every directory on the way must be searchable by that account.
//! - `UsePAM no` makes sshd refuse a locked account ("!" in /etc/shadow, useradd's default)
//!   even for a key login: scripts/ssh-hosts.sh sets the password field to "*".
//! - sshd needs its privilege-separation directory `/run/sshd` (made here when missing).
//!
//! Every remote session gets `TMUX_TMPDIR=<tmp>/remote/<user>`, `XDG_CACHE_HOME=<tmp>/remote/<user>/cache`
//! (so a fleet copied there is this test's) and `FLEET_SSHD_TEST_MARK=<tmp>`
//! (client `SetEnv`, server `AcceptEnv`): each test has its own tmux servers on the "remote
//! host", and dropping the [`Sshd`] kills sshd, its connections and every process of the
//! remote accounts that carries the mark or runs under `<tmp>`, pass or fail.
use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{sh_quote, Run};

/// The accounts scripts/ssh-hosts.sh creates, when `FLEET_TEST_SSH_USERS` does not say.
pub const DEFAULT_USERS: [&str; 2] = ["fleet-remote-a", "fleet-remote-b"];
/// How long sshd may take to listen (after start or restart).
const LISTEN_DEADLINE: Duration = Duration::from_secs(10);
/// The environment variable that marks the processes of this test on the remote accounts.
pub const MARK: &str = "FLEET_SSHD_TEST_MARK";

/// One "remote host": an ssh alias for a local account.
#[derive(Debug, Clone)]
pub struct Host {
    /// The ssh alias in the client config: `host-a`, `host-b`, …
    pub alias: String,
    pub user: String,
    /// `<tmp>/remote/<user>`, owned by the user (its TMUX_TMPDIR; put repositories here).
    pub dir: PathBuf,
    /// The account's home directory (from the passwd entry).
    pub home: PathBuf,
}

pub struct Sshd {
    _tmp: tempfile::TempDir,
    /// The temp dir (canonical path).
    pub root: PathBuf,
    pub port: u16,
    pub hosts: Vec<Host>,
    /// The client config (`ssh -F`).
    pub config: PathBuf,
    /// The test's private key.
    pub identity: PathBuf,
    /// A short directory for ControlPath sockets.
    pub ctl: PathBuf,
    program: PathBuf,
    server: PathBuf,
    out_dir: PathBuf,
    counter: AtomicUsize,
    child: Option<Child>,
    /// The host key's public half (known_hosts pins it for every port).
    host_pub: String,
    /// Hosts moved to an sshd of their own ([`Sshd::own_sshd`]): alias, port, process.
    own: Vec<(String, u16, Option<Child>)>,
    /// sshd's `MaxSessions` ([`Sshd::limit_sessions`]; sshd's default 10 when None).
    max_sessions: Option<u32>,
}

fn uid_of(user: &str) -> Option<(u32, PathBuf)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 7 && f[0] == user {
            Some((f[2].parse().ok()?, PathBuf::from(f[5])))
        } else {
            None
        }
    })
}

fn find_sshd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEET_TEST_SSHD").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("sshd"))
        .find(|p| p.is_file())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", p.display()));
}

fn write(p: &Path, content: &str, mode: u32) {
    fs::write(p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    chmod(p, mode);
}

/// A port nobody listens on right now (the kernel's pick).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// True when an SSH server answers on the port with its banner.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

/// Pids of every live process: (pid, ppid, uid).
fn processes() -> Vec<(i32, i32, u32)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<i64>().ok())
        };
        if let (Some(ppid), Some(uid)) = (field("PPid:"), field("Uid:")) {
            out.push((pid, ppid as i32, uid as u32));
        }
    }
    out
}

/// `pid` and all its descendants.
fn tree(pid: i32) -> Vec<i32> {
    let procs = processes();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    found
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we found; a stale pid only yields ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Sshd {
    /// Starts a private sshd for the remote accounts, or says why it cannot (the reason of a
    /// skip: not root, sshd or an account missing).
    pub fn start() -> Result<Sshd, String> {
        // SAFETY: getuid cannot fail.
        if unsafe { libc::getuid() } != 0 {
            return Err(
                "not root: a private sshd can log into other accounts only as root \
                        (scripts/test.sh runs as root in CI)"
                    .into(),
            );
        }
        let program = find_sshd().ok_or(
            "sshd not found (scripts/test.sh installs openssh-server; FLEET_TEST_SSHD names it)",
        )?;
        for tool in ["ssh", "ssh-keygen"] {
            find_program(tool).ok_or(format!("{tool} not found (openssh-client)"))?;
        }
        let users: Vec<String> = match std::env::var("FLEET_TEST_SSH_USERS") {
            Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
            _ => DEFAULT_USERS.iter().map(|s| s.to_string()).collect(),
        };
        let mut accounts = Vec::new();
        for user in &users {
            let (uid, home) = uid_of(user).ok_or(format!(
                "account {user} missing (scripts/test.sh creates it when run as root)"
            ))?;
            accounts.push((user.clone(), uid, home));
        }
        if !Path::new("/run/sshd").is_dir() {
            fs::create_dir_all("/run/sshd").map_err(|e| format!("mkdir /run/sshd: {e}"))?;
            chmod(Path::new("/run/sshd"), 0o755);
        }

        let tmp = tempfile::Builder::new()
            .prefix("fleet-sshd-")
            .tempdir_in("/tmp")
            .expect("create temp dir");
        let root = super::canon(tmp.path());
        // The remote accounts read their authorized_keys and reach their dirs through here.
        chmod(&root, 0o755);
        let server = root.join("server");
        let client = root.join("client");
        let bin = root.join("bin");
        let ctl = root.join("ctl");
        let remote = root.join("remote");
        let out_dir = root.join("out");
        for d in [&server, &client, &bin, &ctl, &remote, &out_dir] {
            fs::create_dir_all(d).unwrap();
            chmod(d, 0o755);
        }
        chmod(&ctl, 0o700);
        let keys = server.join("authorized_keys");
        fs::create_dir_all(&keys).unwrap();
        chmod(&keys, 0o755);

        let keygen = |path: &Path, comment: &str| {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .status()
                .expect("run ssh-keygen");
            assert!(st.success(), "ssh-keygen -f {} failed", path.display());
        };
        let host_key = server.join("ssh_host_ed25519_key");
        keygen(&host_key, "fleet-test-host");
        let identity = client.join("id_ed25519");
        keygen(&identity, "fleet-test-client");
        let client_pub = fs::read_to_string(identity.with_extension("pub")).unwrap();
        let host_pub = fs::read_to_string(host_key.with_extension("pub")).unwrap();

        let mut hosts = Vec::new();
        for (i, (user, uid, home)) in accounts.iter().enumerate() {
            write(&keys.join(user), &client_pub, 0o644);
            let dir = remote.join(user);
            fs::create_dir_all(&dir).unwrap();
            chmod(&dir, 0o755);
            std::os::unix::fs::chown(&dir, Some(*uid), None)
                .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
            let letter = (b'a' + i as u8) as char;
            hosts.push(Host {
                alias: format!("host-{letter}"),
                user: user.clone(),
                dir,
                home: home.clone(),
            });
        }

        let port = free_port();
        let config = client.join("ssh_config");
        let mut sshd = Sshd {
            _tmp: tmp,
            root,
            port,
            hosts,
            config,
            identity,
            ctl,
            program,
            server,
            out_dir,
            counter: AtomicUsize::new(0),
            child: None,
            host_pub,
            own: Vec::new(),
            max_sessions: None,
        };
        // A port another test grabbed between free_port and sshd's bind: try another.
        let mut attempt = 0;
        loop {
            sshd.write_configs();
            match sshd.spawn_and_wait() {
                Ok(()) => break,
                Err(e) if attempt < 3 && e.contains("Address already in use") => {
                    attempt += 1;
                    sshd.port = free_port();
                }
                Err(e) => panic!("{e}"),
            }
        }
        Ok(sshd)
    }

    /// [`Sshd::start`], or prints `SKIP ssh: <why>` and gives None (the test then returns).
    pub fn start_or_skip() -> Option<Sshd> {
        match Sshd::start() {
            Ok(s) => Some(s),
            Err(why) => {
                eprintln!("SKIP ssh: {why}");
                None
            }
        }
    }

    /// The server's config listening on `port`, its pid file named `pid`.
    fn server_config(&self, port: u16, pid: &str) -> String {
        let users: Vec<&str> = self.hosts.iter().map(|h| h.user.as_str()).collect();
        let server = &self.server;
        format!(
            "# fleet's test sshd: only loopback, only key auth, only the test accounts.\n\
             ListenAddress 127.0.0.1\n\
             Port {port}\n\
             HostKey {server}/ssh_host_ed25519_key\n\
             PidFile {server}/{pid}\n\
             AuthorizedKeysFile {server}/authorized_keys/%u\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin no\n\
             AllowUsers {users}\n\
             UsePAM no\n\
             StrictModes no\n\
             AcceptEnv {MARK} TMUX_TMPDIR XDG_CACHE_HOME\n\
             SetEnv PATH={root}/remote-bin:/usr/local/bin:/usr/bin:/bin\n\
             PrintMotd no\n\
             X11Forwarding no\n\
             LogLevel VERBOSE\n{limit}",
            limit = self
                .max_sessions
                .map(|n| format!("MaxSessions {n}\n"))
                .unwrap_or_default(),
            server = server.display(),
            users = users.join(" "),
            root = self.root.display(),
        )
    }

    /// The port `alias` is reached on: its own sshd's, else the shared one's.
    fn port_of(&self, alias: &str) -> u16 {
        self.own
            .iter()
            .find(|o| o.0 == alias)
            .map_or(self.port, |o| o.1)
    }

    fn write_configs(&self) {
        let sshd_config = self.server_config(self.port, "sshd.pid");
        write(&self.server.join("sshd_config"), &sshd_config, 0o644);

        let known = self.root.join("client/known_hosts");
        let pinned: String = std::iter::once(self.port)
            .chain(self.own.iter().map(|o| o.1))
            .map(|port| format!("[127.0.0.1]:{port} {}\n", self.host_pub.trim_end()))
            .collect();
        write(&known, &pinned, 0o644);
        let mut cfg = String::from("# fleet's test ssh client config (ssh -F)\n");
        for h in &self.hosts {
            cfg += &format!(
                "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  SetEnv {MARK}={root} TMUX_TMPDIR={dir} XDG_CACHE_HOME={dir}/cache\n",
                alias = h.alias,
                port = self.port_of(&h.alias),
                user = h.user,
                root = self.root.display(),
                dir = h.dir.display(),
            );
        }
        cfg += &format!(
            "Host *\n  IdentityFile {id}\n  IdentitiesOnly yes\n  IdentityAgent none\n  \
             UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  CheckHostIP no\n  BatchMode yes\n  LogLevel ERROR\n",
            id = self.identity.display(),
            known = known.display(),
        );
        write(&self.config, &cfg, 0o644);

        let bin = self.root.join("bin");
        for tool in ["ssh", "scp"] {
            if let Some(real) = find_program(tool) {
                write(
                    &bin.join(tool),
                    &format!(
                        "#!/bin/sh\nexec {} -F {} \"$@\"\n",
                        sh_quote(real.to_string_lossy()),
                        sh_quote(self.config.to_string_lossy())
                    ),
                    0o755,
                );
            }
        }
    }

    /// Starts the shared sshd process and polls until it answers with its banner.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = self.spawn_server(&self.server.join("sshd_config"), self.port)?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts `sshd -D -e -f CONFIG` and polls until it answers on `port`.
    fn spawn_server(&self, config: &Path, port: u16) -> Result<Child, String> {
        let log = self.server.join("sshd.log");
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(&self.program)
            .args(["-D", "-e", "-f"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        let mut child = child;
        let deadline = Instant::now() + LISTEN_DEADLINE;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return Err(format!(
                    "sshd exited ({st}) before listening on 127.0.0.1:{port}\n--- sshd.log ---\n{}",
                    self.log()
                ));
            }
            if answers(port) {
                return Ok(child);
            }
            if Instant::now() > deadline {
                stop_server(child);
                return Err(format!(
                    "sshd did not answer on 127.0.0.1:{port} within {LISTEN_DEADLINE:?}\n--- sshd.log ---\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What sshd logged so far (`-e`, LogLevel VERBOSE).
    pub fn log(&self) -> String {
        fs::read_to_string(self.server.join("sshd.log")).unwrap_or_default()
    }

    /// The host `host-a`, `host-b`, … by alias.
    #[track_caller]
    pub fn host(&self, alias: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.alias == alias)
            .unwrap_or_else(|| panic!("no host {alias}"))
    }

    /// A directory with `ssh` and `scp` wrappers that use this sshd's client config.
    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// Copies an executable (e.g. `env!("CARGO_BIN_EXE_fleet")`) to `<tmp>/shared/<name>`,
    /// 0755 in directories every account can search, so a remote account can run it even
    /// when the build directory is under a home it cannot enter; gives the copy's path.
    pub fn share(&self, program: impl AsRef<Path>) -> PathBuf {
        let program = program.as_ref();
        let dir = self.root.join("shared");
        fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        let copy = dir.join(program.file_name().expect("a program's file name"));
        fs::copy(program, &copy)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", program.display(), copy.display()));
        chmod(&copy, 0o755);
        copy
    }

    /// Writes an executable `name` (a stub of an agent CLI) into `<tmp>/remote-bin`, which
    /// is first on the PATH of every remote session (sshd's `SetEnv`); gives its path.
    pub fn remote_program(&self, name: &str, script: &str) -> PathBuf {
        let dir = self.root.join("remote-bin");
        fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        let path = dir.join(name);
        write(&path, script, 0o755);
        path
    }

    /// A PATH with [`Sshd::bin`] first: `ssh host-a …` (and git's ssh) reach the test sshd.
    pub fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `ssh -F <config>`, ready for more arguments; stdin null.
    pub fn ssh_command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(&self.config).stdin(Stdio::null());
        cmd
    }

    /// A ControlPath for a multiplexed connection named `name` (short: under 108 bytes).
    pub fn control_path(&self, name: &str) -> PathBuf {
        self.ctl.join(name)
    }

    /// Runs `ssh -F <config> ARGS…` to completion (output to files, so a ControlPersist
    /// master that inherits them cannot keep the test waiting).
    pub fn ssh(&self, args: &[&str]) -> Run {
        let mut cmd = self.ssh_command();
        cmd.args(args);
        self.run(cmd)
    }

    /// Like [`Sshd::ssh`], asserting exit 0; gives stdout.
    #[track_caller]
    pub fn ssh_ok(&self, args: &[&str]) -> String {
        let run = self.ssh(args);
        assert_eq!(
            run.code,
            0,
            "ssh failed\n{}--- sshd.log ---\n{}",
            run.describe(),
            self.log()
        );
        run.stdout
    }

    /// Starts `ssh -F <config> ARGS…` without waiting; stdout/stderr go to the returned files.
    pub fn spawn_ssh(&self, args: &[&str]) -> (Child, PathBuf, PathBuf) {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let out = self.out_dir.join(format!("{n}.out"));
        let err = self.out_dir.join(format!("{n}.err"));
        let mut cmd = self.ssh_command();
        cmd.args(args)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        (cmd.spawn().expect("spawn ssh"), out, err)
    }

    /// Runs a command with a timeout, output captured through files.
    pub fn run(&self, cmd: Command) -> Run {
        super::run_captured(&self.out_dir, &self.counter, cmd)
    }

    /// True while the sshd listener runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// Stops sshd as a host going away would: the listener and every connection it serves
    /// (so multiplexed masters lose their server). What the remote accounts started outside
    /// a session (daemonized tmux servers) keeps running, as it would on a real host.
    /// The hosts moved to an sshd of their own ([`Sshd::own_sshd`]) keep answering.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_server(child);
        }
    }

    /// Moves host `alias` to an sshd of its own (another port, the same host key and
    /// accounts), so [`Sshd::stop_host`] can take that host away while the others answer.
    /// Connections made before keep going to the shared sshd.
    #[track_caller]
    pub fn own_sshd(&mut self, alias: &str) {
        self.host(alias);
        let port = free_port();
        let config = self.server.join(format!("sshd_config-{alias}"));
        write(
            &config,
            &self.server_config(port, &format!("sshd-{alias}.pid")),
            0o644,
        );
        let child = self
            .spawn_server(&config, port)
            .unwrap_or_else(|e| panic!("{e}"));
        self.own.push((alias.to_string(), port, Some(child)));
        self.write_configs();
    }

    /// Stops the own sshd of `alias` as [`Sshd::stop`] stops the shared one.
    #[track_caller]
    pub fn stop_host(&mut self, alias: &str) {
        let own = self.own.iter_mut().find(|o| o.0 == alias);
        let own = own.unwrap_or_else(|| panic!("{alias} has no sshd of its own"));
        if let Some(child) = own.2.take() {
            stop_server(child);
        }
    }

    /// Starts the own sshd of `alias` again, on its port.
    #[track_caller]
    pub fn restart_host(&mut self, alias: &str) {
        self.stop_host(alias);
        let i = self.own.iter().position(|o| o.0 == alias).unwrap();
        let config = self.server.join(format!("sshd_config-{alias}"));
        let child = self
            .spawn_server(&config, self.own[i].1)
            .unwrap_or_else(|e| panic!("{e}"));
        self.own[i].2 = Some(child);
    }

    /// Sets sshd's `MaxSessions` (sessions per connection) to `n` and starts it again.
    #[track_caller]
    pub fn limit_sessions(&mut self, n: u32) {
        self.max_sessions = Some(n);
        self.write_configs();
        self.restart();
    }

    /// The logins of `user` so far (sshd's "Accepted publickey for USER" lines).
    pub fn logins(&self, user: &str) -> usize {
        self.log()
            .matches(&format!("Accepted publickey for {user} "))
            .count()
    }

    /// Starts sshd again on the same port with the same host key.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            panic!("{e}");
        }
    }

    /// Kills what the test left on the remote accounts: processes carrying this sshd's mark
    /// in their environment, or whose working directory is under the temp dir.
    pub fn kill_remote_processes(&self) {
        let uids: Vec<u32> = self
            .hosts
            .iter()
            .filter_map(|h| uid_of(&h.user).map(|u| u.0))
            .collect();
        let mark = format!("{MARK}={}", self.root.display());
        for (pid, _, uid) in processes() {
            if !uids.contains(&uid) {
                continue;
            }
            let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let marked = env.split(|b| *b == 0).any(|v| v == mark.as_bytes());
            let inside = fs::read_link(format!("/proc/{pid}/cwd"))
                .map(|c| c.starts_with(&self.root))
                .unwrap_or(false);
            if marked || inside {
                kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(true)
}

/// Kills an sshd and every connection it serves; they are gone when this returns.
fn stop_server(mut child: Child) {
    let pids = tree(child.id() as i32);
    for &pid in pids.iter().rev() {
        kill(pid, libc::SIGKILL);
    }
    let _ = child.wait();
    let deadline = Instant::now() + LISTEN_DEADLINE;
    while pids[1..]
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists() && !is_zombie(*p))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Sshd {
    /// Pass or fail: no sshd, connection or remote process of this test outlives it.
    fn drop(&mut self) {
        self.stop();
        for own in &mut self.own {
            if let Some(child) = own.2.take() {
                stop_server(child);
            }
        }
        self.kill_remote_processes();
    }
}
