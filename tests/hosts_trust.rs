//! The same rules on a host as here, through the real private sshd of tests/common/sshd.rs
//! (else `SKIP ssh: …`): every write fleet makes in a host's repository goes through the
//! host's own fleet (a symlink there is refused before anything is written through it), the
//! ssh control-socket directory must be the user's own and closed to others, and two
//! `hosts:` entries that are one repository on one destination are a manifest error.
mod common;

use std::os::unix::fs::PermissionsExt;

use common::sshd::Sshd;
use common::Fleet;

#[test]
fn up_writes_nothing_on_a_host_through_a_symlink_in_its_repository() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let a = sshd.host("host-a").clone();
    let repo = a.dir.join("repo");
    let victim = a.dir.join("victim");
    // The repository there exists, its info/exclude a symlink to a file of the user's.
    sshd.ssh_ok(&[
        "host-a",
        &format!(
            "git init -q {r} && printf 'keep\\n' > {v} && rm -f {r}/.git/info/exclude && ln -s {v} {r}/.git/info/exclude",
            r = repo.display(),
            v = victim.display()
        ),
    ]);
    f.manifest(&format!(
        "command: \"true\"\nhosts:\n  host-a: {{ssh: host-a, dir: {r}, fleet: {fl}}}\nhost: host-a\n\
         agents:\n  - name: a1\n    prompt: x\n",
        r = repo.display(),
        fl = fleet.display(),
    ));
    let up = f.fleet_at(&f.repo, &[("PATH", &sshd.path())], &["up"]);
    up.code(1)
        .stderr_has("host host-a")
        .stderr_has(".git/info/exclude is a symlink");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "keep\n",
        "fleet wrote through the symlink there\n{}",
        up.output()
    );
    // Refused before the slice was written or an agent started there.
    assert!(!repo.join(".fleet-remote.yaml").exists(), "{}", up.output());
    assert!(!repo.join(".fleet").exists(), "{}", up.output());
}

#[test]
fn the_ssh_control_directory_must_be_the_users_own_and_closed() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let fleet = sshd.share(env!("CARGO_BIN_EXE_fleet"));
    let f = Fleet::new();
    let a = sshd.host("host-a").clone();
    f.manifest(&format!(
        "command: \"true\"\nhosts:\n  host-a: {{ssh: host-a, dir: {r}, fleet: {fl}}}\nhost: host-a\n\
         agents:\n  - name: a1\n    prompt: x\n",
        r = a.dir.join("repo").display(),
        fl = fleet.display(),
    ));
    let path = sshd.path();
    let uid = unsafe { libc::geteuid() };
    let ctl = f.tmp_dir().join(format!("fleet-ssh-{uid}"));
    let up = || f.fleet_at(&f.repo, &[("PATH", &path)], &["up"]);
    // Open to others: whoever enters it could ride the user's connections.
    std::fs::create_dir(&ctl).unwrap();
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    up().code(1)
        .stderr_has("has mode 0755, open to others (it must be 0700)")
        .stderr_has("nothing was started");
    // Another owner's, even at 0700.
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o700)).unwrap();
    let other = std::process::Command::new("chown")
        .arg(&a.user)
        .arg(&ctl)
        .status()
        .unwrap();
    assert!(other.success());
    up().code(1).stderr_has("not to you");
    // A symlink to a directory of the user's own.
    std::fs::remove_dir(&ctl).unwrap();
    let real = f.root.join("elsewhere");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, &ctl).unwrap();
    up().code(1).stderr_has("is a symlink");
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    // Gone: fleet makes it, 0700, and up reaches the host.
    std::fs::remove_file(&ctl).unwrap();
    let run = up();
    run.success();
    let meta = std::fs::symlink_metadata(&ctl).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{}", run.output());
    f.fleet_at(&f.repo, &[("PATH", &path)], &["down"]).success();
}

#[test]
fn two_hosts_that_are_one_repository_on_one_destination_are_a_manifest_error() {
    let Some(sshd) = Sshd::start_or_skip() else {
        return;
    };
    let f = Fleet::new();
    let a = sshd.host("host-a").clone();
    // `host-a` is an alias of the client config for fleet-remote-a@127.0.0.1 on the sshd's
    // port: ssh resolves both spellings to one destination. host-b is another account.
    f.manifest(&format!(
        "command: \"true\"\nhosts:\n  \
           alias: {{ssh: host-a, dir: /srv/r}}\n  \
           byport: {{ssh: {user}@127.0.0.1, port: {port}, dir: /srv/r/}}\n  \
           other: {{ssh: host-b, dir: /srv/r}}\n  \
           elsewhere: {{ssh: {user}@127.0.0.1, port: {port}, dir: /srv/s}}\n\
         agents:\n  - name: a1\n    prompt: x\n    host: alias\n  - name: a2\n    prompt: x\n    host: byport\n",
        user = a.user,
        port = sshd.port,
    ));
    let run = f.fleet_at(&f.repo, &[("PATH", &sshd.path())], &["validate"]);
    run.code(2).stderr_has(&format!(
        "hosts.alias and hosts.byport: both are {}@127.0.0.1:{} with `dir: /srv/r`",
        a.user, sshd.port
    ));
    assert!(!run.stderr.contains("hosts.other"), "{}", run.output());
    assert!(!run.stderr.contains("hosts.elsewhere"), "{}", run.output());
    // up refuses as well, having made nothing.
    f.fleet_at(&f.repo, &[("PATH", &sshd.path())], &["up"])
        .code(2)
        .stderr_has("hosts.alias and hosts.byport");
    assert!(!f.repo.join(".fleet").exists());
}
