//! Agents on other hosts (issue 17): `hosts:` and `host:` in the manifest, and, with the real
//! private sshd of tests/common/sshd.rs (root, sshd and the accounts scripts/test.sh makes;
//! else `SKIP ssh: …`), `up`, `status` and `down` reaching a local agent and agents on
//! `host-a` and `host-b` at once, and a host whose sshd stops while the others still answer.
mod common;

use common::Fleet;

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
