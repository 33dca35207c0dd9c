//! The git configuration fleet's logic relies on, pinned for every git process fleet starts
//! (`git -c KEY=VALUE` on its command line, [`super::Git::output`]), whatever the user's
//! system, global or repository config says: a `-c` beats every config file and reaches the
//! git processes git starts itself (a hook's `git` included). Three lists: what every process
//! gets ([`PINNED`]), what a process whose output fleet reads gets ([`PARSED`]), and what
//! fleet's own bookkeeping gets ([`BOOKKEEPING`]).

/// The settings fleet's git logic assumes, pinned for every git process fleet starts,
/// whatever the user's system, global or repository config says: given as `git -c
/// KEY=VALUE`, which beats every config file and reaches the git processes that git starts
/// itself (a hook's `git` included). Each is git's default unless said.
pub(super) const PINNED: &[(&str, &str)] = &[
    // A rebase moves no branch but the one it rebases: `merge --rebase` replays an agent's
    // commits on a detached copy, and `fleet/NAME` must stay where the agent left it.
    ("rebase.updateRefs", "false"),
    // Nothing is put aside and brought back behind fleet's back: fleet checks the checkout
    // is clean itself, and a stash popped onto its merge would mix the user's changes in.
    ("rebase.autoStash", "false"),
    ("merge.autoStash", "false"),
    // A rebased copy is the agent's commits as they are: no `fixup!` squashed in, merge
    // commits flattened (as `merge --rebase` promises), one way of replaying.
    ("rebase.autoSquash", "false"),
    ("rebase.rebaseMerges", "false"),
    ("rebase.backend", "merge"),
    // fleet says how it merges (`--ff`, `--no-ff`, `--ff-only`, `--squash`); `merge.ff=false`
    // would also refuse every `--squash`.
    ("merge.ff", "true"),
    // A conflict is a conflict: not resolved from a recorded resolution (which fleet would
    // take for a merge that failed for no reason), and fleet's undone conflicts are not
    // recorded in the user's `rr-cache`.
    ("rerere.enabled", "false"),
    ("rerere.autoUpdate", "false"),
    // `git status --porcelain` lists untracked files: a worktree holding only new files is
    // not "clean" (and so not removed without `--force`).
    ("status.showUntrackedFiles", "normal"),
    // `git log --format=…` prints only the format (no signature check lines among subjects).
    ("log.showSignature", "false"),
    // A fetch from a host takes the refs it names and deletes none; a push to a host sends
    // the refs it names, no tags, no submodule pushes elsewhere, no signed-push prompt.
    ("fetch.prune", "false"),
    ("fetch.pruneTags", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("push.followTags", "false"),
    ("push.recurseSubmodules", "no"),
    ("push.gpgSign", "false"),
    // No `git gc --auto` left running in the background after fleet's commit or merge (its
    // `packed-refs.lock` would make fleet's next ref update fail): the user's next git runs it.
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
];

/// How git's output looks, pinned for every git process whose output fleet reads (not for
/// the diffs `fleet diff` shows the user on the terminal, which look as the user likes): no
/// colour codes (`color.ui=always`, `color.diff=always`… would put escape sequences into what
/// fleet parses), paths quoted as git does by default (C-style, octal for non-ASCII bytes),
/// diff headers `a/…` `b/…` relative to the top of the checkout.
pub(super) const PARSED: &[(&str, &str)] = &[
    ("color.ui", "false"),
    ("color.diff", "false"),
    ("color.status", "false"),
    ("color.branch", "false"),
    ("color.showBranch", "false"),
    ("color.grep", "false"),
    ("color.interactive", "false"),
    ("color.remote", "false"),
    ("color.push", "false"),
    ("color.transport", "false"),
    ("color.advice", "false"),
    ("core.quotePath", "true"),
    ("diff.noprefix", "false"),
    ("diff.mnemonicPrefix", "false"),
    ("diff.srcPrefix", "a/"),
    ("diff.dstPrefix", "b/"),
    ("diff.relative", "false"),
];

/// Pinned for fleet's own bookkeeping — making and filling worktrees, creating and moving its
/// branches, a pipeline's start commit (`commit-tree`), the rebase in its scratch worktree,
/// taking back its own merge — but not for the commits that are the user's own: the merge
/// commit or squashed commit fleet makes on `base` (`users_commit`: the user's hooks
/// run and the user's signing applies, as for a merge the user typed) and the commits a
/// rebase replays onto `base` (`users_signing`: signed as the user signs). No hook of
/// the user's runs for bookkeeping (a failing `post-checkout` or `reference-transaction` hook
/// would fail it halfway), and nothing of fleet's own asks for a signing passphrase.
pub(super) const BOOKKEEPING: &[(&str, &str)] =
    &[("core.hooksPath", "/dev/null"), ("commit.gpgSign", "false")];

/// The pins of one process: [`PINNED`]; [`PARSED`] unless its output is `shown` to the user;
/// [`BOOKKEEPING`] unless it makes the user's own commit (`users_commit`), and without
/// `commit.gpgSign` when its commits land on the user's branch (`users_signing`).
pub(super) fn pins(
    shown: bool,
    users_commit: bool,
    users_signing: bool,
) -> Vec<(&'static str, &'static str)> {
    let mut pins = PINNED.to_vec();
    if !shown {
        pins.extend_from_slice(PARSED);
    }
    if !users_commit {
        pins.extend(
            BOOKKEEPING
                .iter()
                .filter(|(k, _)| !(users_signing && *k == "commit.gpgSign")),
        );
    }
    pins
}
