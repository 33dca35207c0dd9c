//! The ssh masters fleet keeps between its commands, through the real private sshd of
//! tests/common/sshd.rs (else `SKIP ssh: …`): one login serves `up` and every command after
//! it until `down` closes the master, and many commands at once never put more sessions on
//! a connection than the host's `max_sessions:` (the test sshd's `MaxSessions`).
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::Fleet;

/// The control sockets of live masters in the test's control directory.
fn live_masters(f: &Fleet) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = f.tmp_dir().join(format!("fleet-ssh-{uid}"));
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
                .map(|e| e.path())
                .filter(|p| std::os::unix::net::UnixStream::connect(p).is_ok())
                .collect()
        })
        .unwrap_or_default()
}

fn manifest(f: &Fleet, sshd: &Sshd, fleet: &Path, extra: &str) {
    let a = sshd.host("host-a");
    f.manifest(&format!(
        "monitor: {{enabled: false}}\n\
         hosts:\n  host-a: {{ssh: host-a, dir: {ra}, fleet: {fl}{extra}}}\n\
         host: host-a\n\
         command: \"echo started; sleep 120\"\n\
         agents:\n  - name: r1\n    prompt: x\n  - name: r2\n    prompt: x\n",
        ra = a.dir.join("repo").display(),
        fl = fleet.display(),
    ));
}

#[test]
fn one_kept_master_serves_every_command_until_down_closes_it() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    manifest(&f, &sshd, &fleet, "");
    let path = sshd.path();
    let fl = |args: &[&str]| f.fleet_at(&f.repo, &[("PATH", &path)], args);
    let user = sshd.host("host-a").user.clone();
    fl(&["up"]).success();
    let after_up = sshd.logins(&user);
    assert_eq!(after_up, 1, "up: one login\n{}", sshd.log());
    // Two more commands, each its own fleet process: no new login.
    let status = fl(&["status", "--json"]);
    status.success().stdout_has("\"r1\"");
    fl(&["logs", "r1", "-n", "5"]).success();
    // The branches are fetched once: a status whose agents did not move runs no git fetch.
    let head = serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap()["agents"][0]
        ["head"]
        .as_str()
        .map(str::to_string);
    let fetched = f.git(&["rev-parse", "refs/remotes/fleet-host-a/fleet/r1"]);
    assert_eq!(head.as_deref(), Some(fetched.trim()), "{}", status.stdout);
    let again = fl(&["-v", "status", "--json"]);
    again.success();
    assert!(!again.stderr.contains(" fetch "), "{}", again.stderr);
    assert_eq!(
        sshd.logins(&user),
        1,
        "the master is kept between commands\n{}",
        sshd.log()
    );
    assert_eq!(live_masters(&f).len(), 1, "{:?}", live_masters(&f));
    // down ends it: no master is left, and the next command logs in anew.
    fl(&["down"]).success();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !live_masters(&f).is_empty() {
        assert!(
            Instant::now() < deadline,
            "down left a master: {:?}",
            live_masters(&f)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    fl(&["status", "--json"]).success();
    assert_eq!(sshd.logins(&user), 2, "{}", sshd.log());
    fl(&["down"]).success();
}

#[test]
fn twenty_commands_at_once_never_exceed_the_hosts_max_sessions() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    sshd.limit_sessions(3);
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    manifest(&f, &sshd, &fleet, ", max_sessions: 3");
    let path = sshd.path();
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.wait_for("r1 running", 30, |f| {
        f.fleet_at(&f.repo, &env, &["logs", "r1"])
            .stdout
            .contains("started")
    });
    let user = sshd.host("host-a").user.clone();
    let before = sshd.logins(&user);
    let spawned: Vec<_> = (0..20)
        .map(|i| {
            let args: &[&str] = if i % 2 == 0 {
                &["status", "--json"]
            } else {
                &["logs", "r1", "-n", "3"]
            };
            f.spawn_fleet_env(&env, args)
        })
        .collect();
    for s in spawned {
        let run = s.wait();
        run.success();
        if run.cmd.contains("status") {
            let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            for a in v["agents"].as_array().unwrap() {
                assert_eq!(a["state"], "running", "{}", run.stdout);
            }
        } else {
            assert!(run.stdout.contains("started"), "{}", run.output());
        }
    }
    let log = sshd.log();
    // sshd refuses a session over its MaxSessions ("no more sessions"): none was asked for.
    assert!(!log.contains("no more sessions"), "{log}");
    // Shared masters: a few logins for twenty commands, not one each.
    let logins = sshd.logins(&user) - before;
    assert!(logins <= 8, "{logins} logins for 20 commands\n{log}");
    f.fleet_at(&f.repo, &env, &["down"]).success();
}
