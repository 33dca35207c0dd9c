//! Operations on agents of other hosts (issue 17), through the real private sshd of
//! tests/common/sshd.rs (else `SKIP ssh: …`): `merge` of a remote agent (fetched from its
//! host, checked as a local one), `doctor`'s checks of each host, and a host whose own sshd
//! stops mid-run while the others still answer.
mod common;

use common::sshd::Sshd;
use common::status::{agents_by_name, wait_for};
use common::Fleet;

#[test]
fn doctor_checks_each_host_and_names_one_that_does_not_answer() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let (a, b) = (sshd.host("host-a").clone(), sshd.host("host-b").clone());
    let rb = b.dir.join("repo");
    sshd.ssh_ok(&["host-b", &format!("git init -q {}", rb.display())]);
    f.manifest(&format!(
        "command: \"true\"\n\
         hosts:\n  \
           host-a: {{ssh: host-a, dir: {ra}, fleet: {fl}}}\n  \
           host-b: {{ssh: host-b, dir: {rb}, fleet: /nowhere/fleet}}\n  \
           dead: {{ssh: host-a, dir: /r, port: 1}}\n  \
           byport: {{ssh: fleet-remote-a@127.0.0.1, port: {port}, dir: /r}}\n\
         agents:\n  - name: here\n    prompt: x\n  - name: a1\n    prompt: x\n    host: host-a\n",
        ra = a.dir.join("repo").display(),
        rb = rb.display(),
        fl = fleet.display(),
        port = sshd.port,
    ));
    let run = f.fleet_at(&f.repo, &[("PATH", &sshd.path())], &["doctor"]);
    eprintln!("{}", run.stdout);
    let version = format!("fleet {}", env!("CARGO_PKG_VERSION"));
    run.code(1)
        .stdout_has("ok       host host-a: answers over ssh (host-a, Linux")
        .stdout_has(&format!("ok       host host-a: {version} (`{}`)", fleet.display()))
        .stdout_has("ok       host host-a: tmux ")
        .stdout_has("ok       host host-a: git version ")
        .stdout_has(&format!(
            "info     host host-a: {} does not exist yet; `fleet up` creates it",
            a.dir.join("repo").display()
        ))
        .stdout_has("info     host host-b: `/nowhere/fleet` does not run there; `fleet up` copies this fleet there (~/.cache/fleet/bin/fleet-")
        .stdout_has(&format!("ok       host host-b: repository {}", rb.display()))
        // `port:` is ssh's -p: the sshd's port reaches it without an alias, port 1 nothing.
        .stdout_has("ok       host byport: answers over ssh (fleet-remote-a@127.0.0.1, Linux")
        .stdout_has("problem  host dead (ssh host-a) does not answer: ")
        .stdout_has("Connection refused")
        .stdout_has("fix: make `ssh host-a true` work without a prompt")
        .stdout_has("1 problem found");
}
#[test]
fn merge_fetches_a_remote_agent_and_checks_it_as_a_local_one() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let a = sshd.host("host-a").clone();
    f.manifest(&format!(
        "hosts:\n  host-a: {{ssh: host-a, dir: {ra}, fleet: {fl}}}\n\
         host: host-a\n\
         agents:\n  \
           - name: good\n    prompt: good work\n    command: \"cat > good.txt; git add -A; git commit -qm good\"\n  \
           - name: bad\n    prompt: bad work\n    command: \"cat > bad.txt; git add -A; git commit -qm bad; exit 3\"\n  \
           - name: messy\n    prompt: messy work\n    command: \"cat > messy.txt\"\n",
        ra = a.dir.join("repo").display(),
        fl = fleet.display(),
    ));
    f.git(&["add", "-A"]);
    f.git(&["commit", "-qm", "manifest"]);
    let path = sshd.path();
    let fl = |args: &[&str]| f.fleet_at(&f.repo, &[("PATH", &path)], args);
    // Not started: nothing to fetch, said so.
    fl(&["merge", "good"])
        .code(1)
        .stderr_has("good has not started on host host-a");
    fl(&["up"]).success();
    wait_for(&f, &path, "the agents to end", |a| {
        a["good"]["state"] == "done"
            && a["bad"]["state"] == "failed"
            && a["messy"]["state"] == "done"
    });
    let head = || f.git(&["rev-parse", "HEAD"]).trim().to_string();
    // conflicts compares the remote agents on their branches fetched from the host: a
    // good.txt of the base's own clashes with good's.
    std::fs::write(f.repo.join("good.txt"), "the base's own\n").unwrap();
    f.git(&["add", "good.txt"]);
    f.git(&["commit", "-qm", "clash"]);
    let run = fl(&["conflicts", "--json"]);
    run.code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let found: Vec<String> = v["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}+{}:{}", m["left"], m["right"], m["files"]))
        .collect();
    assert_eq!(
        found,
        [
            r#""main"+"good":["good.txt"]"#,
            r#""main"+"bad":[]"#,
            r#""main"+"messy":[]"#,
            r#""good"+"bad":[]"#,
            r#""good"+"messy":[]"#,
            r#""bad"+"messy":[]"#,
        ],
        "{}",
        run.output()
    );
    f.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let before = head();
    // A failed agent is refused, as a local one is; so is uncommitted work there.
    fl(&["merge", "bad"])
        .code(1)
        .stderr_has("it failed (exit 3)")
        .stderr_has("--force");
    fl(&["merge", "messy"])
        .code(1)
        .stderr_has("its worktree on host host-a has uncommitted changes");
    assert_eq!(head(), before, "a refused merge changed the base");
    // A done one is fetched and merged into the local base, with no status first.
    let _ = f.git(&["update-ref", "-d", "refs/remotes/fleet-host-a/fleet/good"]);
    fl(&["merge", "good"]).success().stdout_has("merged good");
    assert_eq!(
        std::fs::read_to_string(f.repo.join("good.txt")).unwrap(),
        "good work\n"
    );
    assert_eq!(f.git(&["log", "-1", "--format=%s"]).trim(), "good");
    // Its host stops answering: refused, naming the host; nothing changed.
    let before = head();
    sshd.stop();
    fl(&["merge", "bad", "--force"])
        .code(1)
        .stderr_has("it runs on host host-a, which cannot be asked now")
        .stderr_has("host host-a (ssh host-a) does not answer");
    assert_eq!(head(), before);
    sshd.restart();
    fl(&["merge", "bad", "--force"]).success();
    assert_eq!(
        std::fs::read_to_string(f.repo.join("bad.txt")).unwrap(),
        "bad work\n"
    );
}

#[test]
fn a_host_whose_sshd_stops_mid_run_is_unreachable_and_the_others_still_report() {
    let Some(mut sshd) = Sshd::start_or_skip() else {
        return;
    };
    sshd.own_sshd("host-a");
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let (a, b) = (sshd.host("host-a").clone(), sshd.host("host-b").clone());
    // a1 works only once the test lets it: it is still running when its host goes away.
    let go = a.dir.join("go");
    let work = "cat > out.txt; git add -A; git commit -qm work";
    f.manifest(&format!(
        "command: \"{work}\"\n\
         hosts:\n  \
           host-a: {{ssh: host-a, dir: {ra}, fleet: {fl}}}\n  \
           host-b: {{ssh: host-b, dir: {rb}, fleet: {fl}}}\n\
         agents:\n  \
           - name: here\n    prompt: local work\n  \
           - name: a1\n    prompt: work on a\n    host: host-a\n    \
             command: \"while [ ! -e {go} ]; do sleep 0.1; done; {work}\"\n  \
           - name: b1\n    prompt: work on b\n    host: host-b\n",
        ra = a.dir.join("repo").display(),
        rb = b.dir.join("repo").display(),
        fl = fleet.display(),
        go = go.display(),
    ));
    let path = sshd.path();
    f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]).success();
    let done = |a: &serde_json::Value| a["state"] == "done" && a["commits_ahead"] == 1;
    wait_for(&f, &path, "here and b1 done, a1 running", |ag| {
        done(&ag["here"]) && done(&ag["b1"]) && ag["a1"]["state"] == "running"
    });

    // host-a's sshd stops: its agent is unreachable, named; host-b and here as they are.
    sshd.stop_host("host-a");
    let run = f.fleet_at(&f.repo, &[("PATH", &path)], &["status", "--json"]);
    run.success()
        .stderr_has("host host-a (ssh host-a) does not answer");
    let agents = agents_by_name(&f, &path);
    assert_eq!(agents["a1"]["state"], "unreachable", "{agents:#?}");
    assert_eq!(agents["a1"]["host"], "host-a");
    let reason = agents["a1"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("host host-a"), "{reason}");
    for (name, host) in [("here", "local"), ("b1", "host-b")] {
        assert!(done(&agents[name]), "{agents:#?}");
        assert_eq!(agents[name]["host"], host);
    }
    f.fleet_at(&f.repo, &[("PATH", &path)], &["status"])
        .success()
        .stdout_has("unreachable");

    // The agent there kept running meanwhile; it finishes while its host is away.
    std::fs::write(&go, "").unwrap();
    sshd.restart_host("host-a");
    let agents = wait_for(&f, &path, "every agent done", |ag| {
        ["here", "a1", "b1"].iter().all(|n| done(&ag[*n]))
    });
    assert_eq!(agents["a1"]["host"], "host-a");
    // Nothing lost: its commit came back with status's fetch.
    assert_eq!(
        f.git(&["log", "-1", "--format=%s", "fleet-host-a/fleet/a1"])
            .trim(),
        "work"
    );
}
