//! Whether a box can be built on this machine: bubblewrap installed and allowed to make
//! its namespaces (`bwrap --ro-bind / / true` succeeds). Asked before anything of a
//! sandboxed agent starts (`up`, `validate`, `doctor`, `fleet init`): `sandbox: true` on a
//! machine without it is an error, never an unsandboxed run.
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The program fleet boxes agents with.
pub const BWRAP: &str = "bwrap";

/// Why a box cannot be built here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Not Linux: no bubblewrap.
    Platform,
    /// `bwrap` is not on `PATH`.
    NotInstalled,
    /// `bwrap` is there but cannot make a box (unprivileged user namespaces disabled, a
    /// container without the rights): what it said.
    Refused(String),
}

impl Missing {
    /// What is missing and the fix, in one sentence.
    pub fn explain(&self) -> String {
        match self {
            Missing::Platform => format!(
                "the sandbox is not supported on {} yet (it needs Linux and bubblewrap); use `sandbox: false`",
                std::env::consts::OS
            ),
            Missing::NotInstalled => "bubblewrap (`bwrap`) is not installed: install it (`apt-get install bubblewrap`, `dnf install bubblewrap`) or use `sandbox: false`".to_string(),
            Missing::Refused(said) => format!(
                "bubblewrap cannot make a sandbox here ({said}): allow unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`, or on Ubuntu an AppArmor profile for bwrap) or use `sandbox: false`"
            ),
        }
    }
}

/// Whether a box can be built here (asked once per process).
pub fn works() -> Result<(), Missing> {
    static ANSWER: OnceLock<Result<(), Missing>> = OnceLock::new();
    ANSWER.get_or_init(try_bwrap).clone()
}

/// [`works`], as the error a command refusing a sandboxed agent gives.
pub fn require() -> anyhow::Result<()> {
    works().map_err(|m| anyhow::anyhow!("{}", m.explain()))
}

/// What `fleet doctor` says of the sandbox here: Ok(what works) or Err((what is
/// missing, the fix)).
pub fn report() -> Result<String, String> {
    match works() {
        Ok(()) => {
            let version = Command::new(BWRAP)
                .arg("--version")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| BWRAP.to_string());
            Ok(format!(
                "sandbox: {version} makes boxes here (`sandbox: true` works)"
            ))
        }
        Err(m) => Err(format!("sandbox: {}", m.explain())),
    }
}

fn try_bwrap() -> Result<(), Missing> {
    if !cfg!(target_os = "linux") {
        return Err(Missing::Platform);
    }
    let out = Command::new(BWRAP)
        .args(["--ro-bind", "/", "/", "--unshare-pid", "--", "true"])
        .stdin(Stdio::null())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Missing::NotInstalled),
        Err(e) => Err(Missing::Refused(e.to_string())),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr).trim().to_string();
            Err(Missing::Refused(if said.is_empty() {
                format!("exit {}", o.status.code().unwrap_or(-1))
            } else {
                said
            }))
        }
    }
}
