//! The user's git configuration does not change what fleet's git does: every git process
//! fleet starts runs with the settings fleet relies on pinned (`src/git/mod.rs`). Each test
//! runs `up` (worktrees, a pipeline's start commit), the merge strategies and a conflict
//! under a hostile `~/.gitconfig`. Real git and tmux, stub agents.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{sh_quote, Fleet};

/// Every hook git may run for what fleet does.
const HOOKS: [&str; 12] = [
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-merge-commit",
    "post-merge",
    "post-checkout",
    "pre-rebase",
    "post-rewrite",
    "reference-transaction",
    "pre-push",
    "pre-auto-gc",
];

fn script(path: &std::path::Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Replace the test user's `~/.gitconfig` with one that sets everything that would change
/// fleet's git: settings many users have (`rebase.updateRefs`, `merge.autoStash`,
/// `merge.ff`, `commit.gpgSign`, `color.ui=always`, …) and some few have. Its hooks (in
/// `core.hooksPath`) log their name in `<root>/hooks.log` and succeed, or fail with
/// `fail`; its gpg signs (a fake signature, logged in `<root>/gpg.log`) or fails with `fail`.
fn hostile_gitconfig(f: &Fleet, fail: bool) {
    let exit = if fail { 1 } else { 0 };
    let hooks = f.root.join("hooks");
    fs::create_dir_all(&hooks).unwrap();
    let log = sh_quote(f.root.join("hooks.log").to_string_lossy());
    for hook in HOOKS {
        script(
            &hooks.join(hook),
            &format!("#!/bin/sh\necho {hook} >> {log}\nexit {exit}\n"),
        );
    }
    let gpg = f.root.join("gpg");
    let gpg_log = sh_quote(f.root.join("gpg.log").to_string_lossy());
    script(
        &gpg,
        &format!(
            "#!/bin/sh\necho \"$*\" >> {gpg_log}\ncat > /dev/null\n[ {exit} = 0 ] || exit 1\n\
             printf '\\n[GNUPG:] SIG_CREATED D 1 8 00 0 0\\n' >&2\n\
             printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nfake\\n-----END PGP SIGNATURE-----\\n'\n"
        ),
    );
    let config = format!(
        "[user]\n\tname = Fleet Test\n\temail = fleet-test@example.com\n\
[init]\n\tdefaultBranch = main\n\
[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {}\n\
[core]\n\thooksPath = {}\n\tquotePath = false\n\
[rebase]\n\tupdateRefs = true\n\tautoStash = true\n\tautoSquash = true\n\trebaseMerges = true\n\
[merge]\n\tautoStash = true\n\tff = false\n\
[branch \"main\"]\n\tmergeOptions = --no-commit\n\
[rerere]\n\tenabled = true\n\tautoUpdate = true\n\
[pull]\n\trebase = true\n\
[color]\n\tui = always\n\tdiff = always\n\tstatus = always\n\tbranch = always\n\
[diff]\n\tnoprefix = true\n\tmnemonicPrefix = true\n\
[status]\n\tshowUntrackedFiles = no\n\
[log]\n\tshowSignature = true\n",
        gpg.display(),
        hooks.display()
    );
    fs::write(f.home.join(".gitconfig"), config).unwrap();
}

/// A YAML scalar holding `s` as is (JSON's double-quoted strings are YAML).
fn yaml(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).unwrap()
}

/// A stub agent's commit of `text` appended to `file`, that works whatever the hostile
/// config does to commits (the agent's own git is not fleet's to pin).
fn commit(file: &str, text: &str, subject: &str) -> String {
    format!(
        "printf '{text}\\n' >> {file}; git add {file}; git -c core.hooksPath=/dev/null -c commit.gpgSign=false commit -qm '{subject}'"
    )
}

/// `a` (two commits, the second a `fixup!`), `b`, `c` after both (its start is their merge,
/// made by fleet), `left` and `right` (both change README.md's line).
fn manifest(f: &Fleet) {
    let a = format!(
        "{}; {}",
        commit("a.txt", "a1", "a 1"),
        commit("a.txt", "a2", "fixup! a 1")
    );
    let agents = [
        ("a", "", a),
        ("b", "", commit("b.txt", "b", "b 1")),
        ("c", ", after: [a, b]", commit("c.txt", "c", "c 1")),
        ("left", "", commit("README.md", "left", "left")),
        ("right", "", commit("README.md", "right", "right")),
    ];
    let mut text = "agents:\n".to_string();
    for (name, after, command) in agents {
        text.push_str(&format!(
            "  - {{name: {name}, prompt: x{after}, command: {}}}\n",
            yaml(command)
        ));
    }
    f.manifest(&text);
}

/// The raw commit object (headers: tree, parents, `gpgsig` when signed).
fn object(f: &Fleet, what: &str) -> String {
    f.git(&["cat-file", "commit", what])
}

/// Nothing half-merged in the main checkout: no merge, rebase or cherry-pick under way, the
/// tracked files clean, no scratch worktree left.
#[track_caller]
fn nothing_half_merged(f: &Fleet) {
    let git_dir = f.repo.join(".git");
    for marker in ["MERGE_HEAD", "rebase-merge", "rebase-apply", "AUTO_MERGE"] {
        assert!(!git_dir.join(marker).exists(), "{marker} left behind");
    }
    assert_eq!(
        f.git(&["-c", "color.ui=false", "status", "--porcelain", "-uno"]),
        ""
    );
    let worktrees = f.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains(".rebase-"), "{worktrees}");
}

/// `up` under the hostile config, then every agent finished and its worktree removed (its
/// branch kept), so that nothing but fleet's pins keeps `rebase.updateRefs` off the branches.
fn agents_done(f: &Fleet) -> String {
    manifest(f);
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "60"]).success();
    f.fleet(&["down", "--rm-worktrees"]).success();
    f.rev("HEAD")
}

#[test]
fn every_merge_strategy_and_a_pipeline_start_work_as_documented_under_a_hostile_gitconfig() {
    let f = Fleet::new();
    hostile_gitconfig(&f, false);
    let start = agents_done(&f);
    let (a, b) = (f.rev("fleet/a"), f.rev("fleet/b"));

    // c started from the merge of a and b that fleet made for itself: not signed.
    let c_start = object(&f, "fleet/c~1");
    assert!(
        c_start.contains(&format!("parent {a}\nparent {b}\n")),
        "{c_start}"
    );
    assert!(
        !c_start.contains("gpgsig"),
        "fleet's own commit signed: {c_start}"
    );

    let again = |f: &Fleet| f.git(&["reset", "-q", "--hard", &start]);

    // --ff: a fast-forward (not a merge commit for merge.ff=false, not a merge left
    // uncommitted for branch.main.mergeOptions=--no-commit).
    f.fleet(&["merge", "a", "--ff"]).success();
    assert_eq!(f.rev("HEAD"), a);
    nothing_half_merged(&f);

    // --no-ff: a merge commit, the user's own: their hooks run, their signing applies.
    again(&f);
    let _ = fs::remove_file(f.root.join("hooks.log"));
    f.fleet(&["merge", "a", "--no-ff"]).success();
    assert_eq!(f.rev("HEAD^1"), start);
    assert_eq!(f.rev("HEAD^2"), a);
    assert!(
        object(&f, "HEAD").contains("gpgsig"),
        "the user's merge unsigned"
    );
    let hooks = fs::read_to_string(f.root.join("hooks.log")).unwrap_or_default();
    assert!(hooks.contains("pre-merge-commit"), "{hooks}");
    nothing_half_merged(&f);

    // --ff-only: b is no fast-forward once a is in.
    again(&f);
    f.fleet(&["merge", "a", "b", "--ff-only"])
        .code(1)
        .stderr_has("fleet/b is not a fast-forward of main");
    assert_eq!(f.rev("HEAD"), a);
    nothing_half_merged(&f);

    // --squash (which merge.ff=false alone refuses in git): one signed commit per agent.
    again(&f);
    f.fleet(&["merge", "a", "b", "--squash"]).success();
    assert_eq!(
        f.git(&["rev-list", "--count", &format!("{start}..HEAD")]),
        "2"
    );
    assert_eq!(
        f.git(&["rev-list", "--merges", &format!("{start}..HEAD")]),
        ""
    );
    assert!(
        object(&f, "HEAD").contains("gpgsig"),
        "the user's squash unsigned"
    );
    nothing_half_merged(&f);

    // --rebase: a fast-forwards, b is replayed on it; neither branch moves (updateRefs), a's
    // fixup stays a commit of its own (autoSquash).
    again(&f);
    f.fleet(&["merge", "a", "b", "--rebase"]).success();
    assert_eq!((f.rev("fleet/a"), f.rev("fleet/b")), (a.clone(), b.clone()));
    assert_eq!(f.rev("HEAD~1"), a);
    assert_eq!(
        f.git(&["rev-list", "--count", &format!("{start}..HEAD")]),
        "3"
    );
    assert_eq!(
        f.git(&["show", "-s", "--no-show-signature", "--format=%s", "HEAD"]),
        "b 1"
    );
    nothing_half_merged(&f);

    // A conflict: named, taken back, and not recorded for rerere.
    again(&f);
    f.fleet(&["conflicts"])
        .code(1)
        .stdout_has("left")
        .stdout_has("README.md");
    let run = f.fleet(&["merge", "left", "right"]);
    run.code(1).stderr_has("README.md");
    assert!(
        !run.stderr.contains('\u{1b}'),
        "colour codes: {}",
        run.stderr
    );
    assert_eq!(f.rev("HEAD"), f.rev("fleet/left"));
    nothing_half_merged(&f);
    // (the test's own `git reset` makes the directory: it must stay empty)
    let recorded = fs::read_dir(f.repo.join(".git/rr-cache")).map_or(0, |d| d.count());
    assert_eq!(recorded, 0, "rerere recorded fleet's conflict");
}

#[test]
fn failing_hooks_and_gpg_stop_only_the_users_own_commits_and_say_so() {
    let f = Fleet::new();
    hostile_gitconfig(&f, true);
    // Worktrees, branches and c's start commit are fleet's bookkeeping: no hook, no signing.
    let start = agents_done(&f);
    let (a, b) = (f.rev("fleet/a"), f.rev("fleet/b"));
    assert!(object(&f, "fleet/c~1").contains(&format!("parent {a}\nparent {b}\n")));
    // The merge commit is the user's: their failing hook refuses it, and fleet says so and
    // changes nothing.
    f.fleet(&["merge", "a", "--no-ff"])
        .code(1)
        .stderr_has("hook");
    assert_eq!(f.rev("HEAD"), start);
    assert_eq!(f.rev("fleet/a"), a);
    nothing_half_merged(&f);
}
