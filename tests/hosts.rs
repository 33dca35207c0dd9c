//! Agents on other hosts (issue 17): `hosts:` and `host:` in the manifest, and, with the real
//! private sshd of tests/common/sshd.rs (root, sshd and the accounts scripts/test.sh makes;
//! else `SKIP ssh: …`), `up`, `status` and `down` reaching a local agent and agents on
//! `host-a` and `host-b` at once, and a host whose sshd stops while the others still answer.
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::status::{agents_by_name, wait_for, DEADLINE};
use common::Fleet;
use serde_json::Value;

const HOSTS: &str = "hosts:\n  build1: {ssh: me@build1, dir: /src/webapp}\n";

#[test]
fn validate_prints_each_agents_host() {
    let f = Fleet::new();
    f.manifest(&format!(
        "{HOSTS}command: \"true\"\nagents:\n  - name: here\n    prompt: hi\n  - name: there\n    prompt: hi\n    host: build1\n"
    ));
    let run = f.fleet(&["validate"]);
    run.success()
        .stdout_has("agent here\n  host:     local")
        .stdout_has(
            "agent there\n  host:     build1 (ssh me@build1, repository /src/webapp, fleet fleet)",
        );
    // `port:` and `identity:` are ssh's -p and -i (`~/` the home here), before `options:`.
    f.manifest(
        "hosts:\n  build1: {ssh: me@build1, dir: /r, port: 2222, identity: ~/.ssh/k, options: [-o, 'Compression=yes']}\ncommand: \"true\"\nagents:\n  - name: there\n    prompt: hi\n    host: build1\n",
    );
    let home = f.root.join("home");
    f.fleet_at(&f.repo, &[("HOME", &home.to_string_lossy())], &["validate"])
        .success()
        .stdout_has(&format!(
            "host:     build1 (ssh -p 2222 -i {}/.ssh/k -o Compression=yes me@build1, repository /r",
            home.display()
        ));
    // The top-level host places every agent without its own.
    f.manifest(&format!(
        "{HOSTS}host: build1\ncommand: \"true\"\nagents:\n  - name: here\n    prompt: hi\n    host: local\n  - name: there\n    prompt: hi\n"
    ));
    f.fleet(&["validate"])
        .success()
        .stdout_has("agent here\n  host:     local")
        .stdout_has("agent there\n  host:     build1");
}

#[test]
fn bad_hosts_are_manifest_errors_naming_the_fix() {
    let f = Fleet::new();
    f.manifest(
        "hosts:\n  local: {ssh: x, dir: /r}\n  nodir: {ssh: x}\n  opt: {ssh: -oProxyCommand=x, dir: /r}\n  build1: {ssh: me@b, dir: /r, bogus: 1}\ncommand: \"true\"\nagents:\n  - name: a\n    prompt: hi\n    host: buidl1\n",
    );
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("agents.yaml")
        .stderr_has("unknown field `bogus`");
    f.manifest(
        "hosts:\n  local: {ssh: x, dir: /r}\n  nodir: {ssh: x}\n  opt: {ssh: -oProxyCommand=x, dir: /r}\n  build1: {ssh: me@b, dir: /r}\ncommand: \"true\"\nagents:\n  - name: a\n    prompt: hi\n    host: buidl1\n",
    );
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("hosts.local: `local` is this machine's name")
        .stderr_has("hosts.nodir: `dir:` is missing")
        .stderr_has("hosts.opt: ssh: `-oProxyCommand=x` is not an ssh destination")
        .stderr_has(
            "agents[0] (a) at line 8: host `buidl1` is not in `hosts:` (did you mean build1?)",
        );
    // Nothing was made.
    assert!(!f.repo.join(".fleet").exists());
}

/// Polls until every agent is done with one commit, each on its host; panics after DEADLINE.
#[track_caller]
fn wait_all_done(f: &Fleet, path: &str) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let agents = agents_by_name(f, path);
        let done = ["here", "a1", "b1"].iter().all(|n| {
            agents
                .get(*n)
                .is_some_and(|a| a["state"] == "done" && a["commits_ahead"] == 1)
        });
        if done {
            return agents;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for every agent to be done: {agents:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn up_status_down_reach_every_host_and_a_silent_host_is_unreachable() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let (a, b) = (sshd.host("host-a").clone(), sshd.host("host-b").clone());
    f.manifest(&format!(
        "command: \"cat > out.txt; git add -A; git commit -qm work\"\n\
         hosts:\n  \
           host-a: {{ssh: host-a, dir: {ra}, fleet: {fl}}}\n  \
           host-b: {{ssh: host-b, dir: {rb}, fleet: {fl}}}\n\
         agents:\n  \
           - name: here\n    prompt: local work\n  \
           - name: a1\n    prompt: work on a\n    host: host-a\n  \
           - name: b1\n    prompt: work on b\n    host: host-b\n",
        ra = a.dir.join("repo").display(),
        rb = b.dir.join("repo").display(),
        fl = fleet.display(),
    ));
    let path = sshd.path();
    let fl = |args: &[&str]| f.fleet_at(&f.repo, &[("PATH", &path)], args);
    fl(&["validate"]).success().stdout_has("host:     host-a");
    let up = fl(&["up"]);
    eprintln!("{}", up.stdout);
    up.success();
    let agents = wait_all_done(&f, &path);
    for (name, host) in [("here", "local"), ("a1", "host-a"), ("b1", "host-b")] {
        assert_eq!(agents[name]["host"], host, "{agents:#?}");
        assert_eq!(agents[name]["branch"], format!("fleet/{name}"));
    }
    // The agents ran where they were placed: their commits are in the repository there.
    for (h, name) in [(&a, "a1"), (&b, "b1")] {
        let log = sshd.ssh_ok(&[
            &h.alias,
            &format!(
                "git -C {} log --format=%s%n%an fleet/{name}",
                h.dir.join("repo").display()
            ),
        ]);
        assert!(log.starts_with(&format!("work\n{}\n", h.user)), "{log}");
    }
    // A host runs no monitor of its own (its slice says so): the monitor here shows its agents.
    for (h, name) in [(&a, "a1"), (&b, "b1")] {
        let sessions = sshd.ssh_ok(&[&h.alias, "tmux list-sessions -F '#S'"]);
        let sessions: Vec<&str> = sessions.lines().collect();
        assert!(
            sessions.contains(&format!("repo-{name}").as_str()),
            "{sessions:?}"
        );
        assert!(!sessions.contains(&"repo-monitor"), "{sessions:?}");
        let slice = sshd.ssh_ok(&[
            &h.alias,
            &format!("cat {}", h.dir.join("repo/.fleet-remote.yaml").display()),
        ]);
        assert!(slice.contains("monitor:\n  enabled: false\n"), "{slice}");
    }
    assert!(f.sessions().contains(&"repo-monitor".to_string()));
    // No login for a status after up: each host's master is kept between commands.
    let logins = || sshd.log().matches("Accepted publickey").count();
    let before = logins();
    agents_by_name(&f, &path);
    assert_eq!(
        logins() - before,
        0,
        "the kept ssh connections serve the status\n{}",
        sshd.log()
    );
    // diff fetches a remote agent's branch itself (no status first) and shows its work here.
    f.git(&["update-ref", "-d", "refs/remotes/fleet-host-a/fleet/a1"]);
    fl(&["diff", "a1", "--stat"])
        .success()
        .stdout_has("out.txt");
    assert_eq!(
        f.git(&["rev-parse", "fleet-host-b/fleet/b1^{tree}"]).trim(),
        sshd.ssh_ok(&[
            &b.alias,
            &format!(
                "git -C {} rev-parse fleet/b1^{{tree}}",
                b.dir.join("repo").display()
            )
        ])
        .trim(),
    );
    let table = fl(&["status"]);
    eprintln!("{}", table.stdout);
    table.success().stdout_has("HOST").stdout_has("host-a");
    // One table for every host, as a one-machine fleet's: RUNTIME too, and each remote
    // agent as its host's fleet labels it (`label`, `runtime_secs` in its --json).
    let header: Vec<&str> = table
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["HOST", "AGENT", "STATE", "BRANCH", "AHEAD", "FILES", "+/-", "RUNTIME", "LAST", "LINE"]
    );
    let b1: Vec<&str> = table
        .stdout
        .lines()
        .find(|l| l.starts_with("host-b"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        b1[..7],
        ["host-b", "b1", "done", "fleet/b1", "1", "1", "+1/-0"],
        "{b1:?}"
    );
    assert!(b1[7].ends_with('s'), "a runtime: {b1:?}");
    assert_eq!(agents["b1"]["label"], "done");
    assert!(agents["b1"]["runtime_secs"].is_u64(), "{:?}", agents["b1"]);

    // The hosts stop answering: their agents are unreachable, the local one still reported.
    sshd.stop();
    let started = Instant::now();
    let agents = agents_by_name(&f, &path);
    assert!(
        started.elapsed() < DEADLINE,
        "status took {:?}",
        started.elapsed()
    );
    assert_eq!(agents["here"]["state"], "done", "{agents:#?}");
    for (name, host) in [("a1", "host-a"), ("b1", "host-b")] {
        assert_eq!(agents[name]["state"], "unreachable", "{agents:#?}");
        assert_eq!(agents[name]["host"], host);
        let reason = agents[name]["reason"].as_str().unwrap_or("");
        assert!(reason.contains(&format!("host {host}")), "{reason}");
    }
    let table = fl(&["status"]);
    eprintln!("{}{}", table.stdout, table.stderr);
    table.success().stdout_has("unreachable");
    // diff then shows the branch as fetched before, and says so.
    fl(&["diff", "a1", "--stat"])
        .success()
        .stdout_has("out.txt")
        .stderr_has("host host-a (ssh host-a) does not answer")
        .stderr_has("showing a1's branch as last fetched");

    // Back: everything as before.
    sshd.restart();
    wait_all_done(&f, &path);

    // down --rm-worktrees cleans every host.
    fl(&["down", "--rm-worktrees"]).success();
    assert!(!f.worktree("here").exists());
    for (h, name) in [(&a, "a1"), (&b, "b1")] {
        let wt = h.dir.join("repo.worktrees").join(name);
        assert!(!wt.exists(), "{} still there", wt.display());
        let sessions = sshd.ssh(&[&h.alias, "tmux list-sessions -F '#S'"]);
        assert!(sessions.stdout.trim().is_empty(), "{sessions:?}");
    }
    let agents = agents_by_name(&f, &path);
    for name in ["a1", "b1"] {
        assert_eq!(agents[name]["state"], "done", "{agents:#?}");
        assert_eq!(
            agents[name]["commits_ahead"], 1,
            "the branch keeps the work"
        );
    }
}

#[test]
fn a_host_without_the_right_fleet_gets_a_copy_of_this_one_on_the_same_platform() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let f = Fleet::new();
    let old = f.root.join("fleet-old");
    let old_script = "#!/bin/sh\necho fleet 0.0.1\n";
    std::fs::write(&old, old_script).unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let old = sshd.share(&old);
    let a = sshd.host("host-a").clone();
    let path = sshd.path();
    // Another platform here (a `uname` saying so, first on PATH): no copy, the error says
    // how to install it, and nothing starts anywhere.
    let other = f.root.join("other-platform");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("uname"), "#!/bin/sh\necho Plan9 mips\n").unwrap();
    std::fs::set_permissions(
        other.join("uname"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let other_path = format!("{}:{path}", other.display());
    // The copies of this fleet there, one per build (`fleet-VERSION-STAMP`).
    let bin = a.dir.join("cache/fleet/bin");
    let copies = || -> Vec<std::path::PathBuf> {
        let prefix = format!("fleet-{}-", env!("CARGO_PKG_VERSION"));
        let mut found: Vec<_> = std::fs::read_dir(&bin)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        found.retain(|p: &std::path::PathBuf| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&prefix) && !name.contains(".new")
        });
        found
    };
    for (fleet, says) in [
        (
            "/nowhere/fleet".to_string(),
            "`/nowhere/fleet` does not run there",
        ),
        (
            old.display().to_string(),
            "there is fleet 0.0.1, this one is fleet ",
        ),
    ] {
        f.manifest(&format!(
            "command: \"cat > out.txt; git add -A; git commit -qm work\"\nhosts:\n  host-a: {{ssh: host-a, dir: {}, fleet: {fleet}}}\n\
             agents:\n  - name: here\n    prompt: x\n  - name: a1\n    prompt: x\n    host: host-a\n",
            a.dir.join("repo").display()
        ));
        f.fleet_at(&f.repo, &[("PATH", &other_path)], &["up"])
            .code(1)
            .stderr_has("nothing was started; host host-a: ")
            .stderr_has(says)
            .stderr_has("`Plan9 mips` here, so this fleet cannot copy itself")
            .stderr_has("hosts.host-a.fleet");
        assert!(f.sessions().is_empty(), "{:?}", f.sessions());
        assert!(
            !a.dir.join("repo").exists(),
            "the remote repository was made"
        );
        assert!(copies().is_empty(), "copied to another platform");
    }
    // The same platform: this fleet is copied to the cache there and used; the user's
    // program is left as it was.
    let up = f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]);
    up.success()
        .stdout_has("host host-a: `")
        .stdout_has("there is fleet 0.0.1")
        .stdout_has("copied this fleet there (~/.cache/fleet/bin/fleet-");
    let [copy] = &copies()[..] else {
        panic!("not one copy: {:?}", copies());
    };
    let mode = std::fs::metadata(copy).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o755
    );
    assert_eq!(std::fs::read_to_string(&old).unwrap(), old_script);
    let agents = wait_for(&f, &path, "a1 done", |ag| ag["a1"]["state"] == "done");
    assert_eq!(agents["a1"]["commits_ahead"], 1, "{agents:#?}");
    // A second up finds the copy and does not copy again.
    let again = f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]);
    again.success();
    assert!(!again.stdout.contains("copied"), "{}", again.stdout);
    // A fleet rebuilt at the same version is copied again (a copy per build), not the stale
    // copy run there; the old copy stays (a runner there may still run it).
    let rebuilt = f.root.join("rebuilt/fleet");
    std::fs::create_dir_all(rebuilt.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_fleet"), &rebuilt).unwrap();
    f.program_at(&rebuilt, &f.repo, &[("PATH", &path)], &["up"])
        .success()
        .stdout_has("copied this fleet there");
    assert_eq!(copies().len(), 2, "{:?}", copies());
    assert!(copies().contains(copy));
}
