//! `fleet man`: the man page, made by clap_mangen from the command line definitions.
//!
//! One page, fleet(1): the usual sections, then COMMANDS with each command's synopsis,
//! description and own options, then EXIT STATUS, ENVIRONMENT and FILES. `--out DIR` writes
//! it as `DIR/fleet.1`, plus one page per command (`fleet-up.1`, …) for `man fleet-up`.
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, ManArgs};

/// Arguments every command has (propagated from the top): listed once, in OPTIONS.
const GLOBAL: [&str; 5] = ["file", "quiet", "verbose", "help", "version"];

/// Every key of the manifest with its default, so an installed fleet documents itself.
const MANIFEST: &str = r#".SH MANIFEST
\fIagents.yaml\fR: YAML; unknown keys are errors. Relative paths are relative to its directory. Top level:
.TP
\fBproject\fR
session names \fIPROJECT\-AGENT\fR; default: the repository's directory name
.TP
\fBbase\fR
the branch worktrees start from; default: the current branch
.TP
\fBworktree_dir\fR
where worktrees go; default: \fI../REPO.worktrees\fR
.TP
\fBagent\fR
the agent CLI: claude, codex, aider, gemini or shell; default: claude
.TP
\fBpermissions\fR
read\-only, edit or full: what agents may do without asking, as each CLI's own flags (full inside a sandbox needs no further word); default: edit
.TP
\fBsandbox\fR
true: each agent's steps (setup, its CLI and every command it runs, verify) run in a bubblewrap box: it writes only its worktree, its own branch, a private \fI/tmp\fR, its cache and its CLI's own state; the usual secrets and other CLIs' credentials are hidden; it sees and signals no process outside (\fBon_exit\fR runs outside); refused (exit 2) where bubblewrap cannot make a box (\fBfleet doctor\fR says why); default: false
.TP
\fBnetwork\fR
what a sandboxed agent may reach besides its CLI's own API (each preset's endpoints, its base URL from \fBenv\fR or fleet's environment at \fBup\fR): a list of \fIhost\fR (ports 443 and 80), \fIhost:port\fR or \fIhttps://host/...\fR, loopback addresses included; or \fIall\fR, the machine's whole network; the agent's own list replaces the top level's; default: none more
.TP
\fBargs\fR
extra arguments for the preset's CLI (the preset's transcript, usage and resume stay); default: none
.TP
\fBcommand\fR
any command instead of the preset, run by \fIsh \-c\fR with the task on stdin (no usage, budget or resume); default: none
.TP
\fBinteractive\fR
the CLI's TUI in the pane, the task as its first prompt; default: false
.TP
\fBenv\fR
variables added to every agent's environment; default: none
.TP
\fBsetup\fR
run in each new worktree before its agent; default: none
.TP
\fBcopy\fR
untracked files copied into each new worktree; default: none
.TP
\fBseed\fR
ignored directories of the checkout (\fBnode_modules\fR, \fBtarget\fR, \fB.venv\fR…) copied into each new worktree: a clone where the file system shares blocks (btrfs, XFS; on btrfs one snapshot of a seed base, fleet's own subvolume in \fB.fleet/seed/\fR made once and kept in step with the checkout's directory on each \fBup\fR, removed by the \fBdown \-\-rm\-worktrees\fR that leaves no worktree; or of a subvolume of yours), else a real copy, never a link; symlinks copied as symlinks. Only when the files it derives from are the same in the worktree as in the checkout (by name: node_modules: package\-lock.json, npm\-shrinkwrap.json, yarn.lock, pnpm\-lock.yaml, bun.lock(b); target: Cargo.lock; .venv, venv: poetry.lock, uv.lock, pdm.lock, Pipfile.lock, requirements*.txt; vendor: composer.lock, Gemfile.lock, go.sum; .bundle: Gemfile.lock; any other: \fB{path: DIR, key: FILE}\fR), else skipped with a line saying why; per agent too (replacing the top level); default: none
.TP
\fBverify\fR
run after the agent exits 0; the agent is done only if it passes; default: none
.TP
\fBverify_retries\fR
how often a failed verify goes back to the agent's conversation; default: 0
.TP
\fBverify_timeout\fR
the longest \fBfleet merge\fR lets an agent's verify run on the merged base (90s, 10m, 2h); past it verify's process group is stopped and the merge taken back; default: 30m
.TP
\fBon_exit\fR
run when an agent ends (FLEET_STATE, FLEET_EXIT_CODE set); default: none
.TP
\fBtimeout\fR
stop an agent after this long (90s, 45m, 2h); default: none
.TP
\fBmax_cost_usd\fR
stop an agent once its CLI's reported cost passes this, over all its runs; default: none
.TP
\fBretries\fR
how often an agent stopped by its CLI's rate limit starts again; default: 3. A quota (the account's usage limit, which the CLI says apart from a rate limit: claude logged in to a subscription, codex on a ChatGPT plan) is no rate limit and counts no retry: fleet records it for the agent's credential under \fI.fleet/quota/\fR with its reset time, stops every claude, codex or gemini agent on that credential (\fIwaiting (quota on claude:key\-3f9a, resets 19:00)\fR), starts nobody new on it (\fIqueued (quota on ...)\fR), and at the reset resumes each agent's own session; agents on other credentials go on, and \fBup\fR after the reset clears the record
.TP
\fBports\fR
names of TCP ports: each agent gets a free port of its own for each name, as \fINAME=port\fR in its environment (setup, verify and on_exit too), kept across restarts; a sandboxed agent's server on it answers on this machine's 127.0.0.1:port; default: none
.TP
\fBmax_parallel\fR
at most this many agents at once, the rest queued; or a map by CLI name or credential label (as \fBvalidate\fR shows it, e.g. \fIclaude:key\-3f9a\fR, \fIcodex:login\fR): at most this many agents on that credential at once, e.g. \fBmax_parallel: {claude: 4}\fR; default: no limit
.TP
\fBbudget\fR
the whole fleet's budget: \fBusd\fR (dollars) and/or \fBtokens\fR (input and output), summed over every agent's runs, and \fBreserve\fR (in the budget's one unit; default 0). Once the spend reaches the budget less the reserve no agent starts (they stay \fIqueued (fleet budget)\fR) and no verify retry begins; at the budget the running agents are stopped (\fIfailed (fleet budget)\fR). With agents on \fBhosts\fR, this machine and each host enforce the share of their agents (the budget and reserve times their agents over all agents), so together they never spend more; a share one place leaves unspent does not move to another, and \fBstatus\fR shows this machine's share; default: none
.TP
\fBmonitor\fR
\fBenabled\fR: \fIfalse\fR builds no monitor session (\fBup\fR closes one left from before, \fBattach\fR needs a NAME; a host's fleet always gets \fIfalse\fR); default: true. \fBper_window\fR: panes per monitor window; default: 9
.TP
\fBradar\fR
what fleet does with the overlaps its radar finds (agents whose work touches the same files): \fIshow\fR them (under \fBstatus\fR's table, \fBoverlaps\fR in its \fB\-\-json\fR, the monitor's status pane); \fItell\fR also tells both agents at their next turn, once per pair and again only when the files they share grow: a running agent when its run ends cleanly, by resuming its session with the notice before verify (as a verify retry does); an agent that ended, with its next \fBfleet continue\fR (\fBstatus\fR names it meanwhile); never an agent whose conversation fleet cannot resume (its own \fBcommand\fR, interactive, aider, shell: \fBvalidate\fR names them); \fIoff\fR looks for none; default: show
.TP
\fBprices\fR
dollars per million tokens by model (\fBinput\fR, \fBcached_input\fR, \fBoutput\fR), for CLIs that report tokens only; default: a built\-in list
.TP
\fBhosts\fR
other machines, by name: \fBssh\fR (the destination), \fBdir\fR (the repository there), \fBfleet\fR (the program there; default: fleet; when it is missing or another version on the same platform, \fBup\fR copies this fleet to \fI~/.cache/fleet/bin/fleet\-VERSION\-STAMP\fR there (one copy per build) and uses that), \fBport\fR (ssh's \fB\-p\fR), \fBidentity\fR (ssh's \fB\-i\fR: a key file here, \fI~/\fR this machine's home), \fBoptions\fR (more ssh options, a word each), \fBmax_sessions\fR (sessions fleet opens at once on one ssh connection there, at most sshd's MaxSessions; default: 8); default: none
.TP
\fBhost\fR
where agents run: \fIlocal\fR (this machine) or a name of \fBhosts\fR; default: local
.TP
\fBagents\fR
the agents, each with \fBname\fR (required), \fBtask\fR (a file) or \fBprompt\fR (text), \fBbranch\fR (default: \fIfleet/NAME\fR), \fBlog\fR (default: \fI.fleet/logs/NAME.log\fR), and its own \fBagent\fR, \fBpermissions\fR, \fBsandbox\fR, \fBnetwork\fR, \fBargs\fR, \fBcommand\fR, \fBinteractive\fR, \fBenv\fR (merged over the top level's), \fBverify\fR, \fBverify_retries\fR, \fBverify_timeout\fR, \fBon_exit\fR, \fBtimeout\fR, \fBmax_cost_usd\fR, \fBretries\fR, \fBhost\fR, \fBports\fR over the top level's; \fBmcp\fR (\fIfleet\fR or \fIlead\fR; \fBagent: claude\fR or \fBcodex\fR only): its CLI is given \fBfleet mcp \-\-as NAME\fR on this manifest as the MCP server \fIfleet\fR, with its tools allowed (claude: \fB\-\-mcp\-config\fR; codex: \fB\-c mcp_servers.fleet.\fR...); \fIfleet\fR reads every agent but acts (up, continue, merge) only on itself, \fIlead\fR on every agent of the manifest; and \fBafter\fR (a list of agent names of the same host, or one name): the agent starts once those are \fIdone\fR, its branch made from theirs (one: its tip; several: their merge, the agent \fIblocked\fR if they conflict); a task's \fB{{diff:NAME}}\fR (NAME in \fBafter\fR) becomes \fIgit diff BASE...NAME's branch\fR when it starts, cut at 256 KiB
"#;

const TAIL: &str = r#".SH "STATUS JSON"
\fBfleet status \-\-json\fR prints one object: \fBproject\fR, \fBmanifest\fR, \fBmonitor\fR {\fBsession\fR, \fBrunning\fR, \fBenabled\fR (false: \fBmonitor: enabled: false\fR)} and \fBagents\fR, a list (empty when there are none) of objects with \fBname\fR, \fBstate\fR, \fBexit_code\fR, \fBreason\fR, \fBattempt\fR, \fBsession\fR, \fBbranch\fR, \fBworktree\fR, \fBlog\fR, \fBstarted_at\fR, \fBfinished_at\fR, \fBcommits_ahead\fR, \fBfiles_changed\fR, \fBinsertions\fR, \fBdeletions\fR, \fBlast_line\fR, \fBusage\fR {\fBinput_tokens\fR, \fBoutput_tokens\fR, \fBcost_usd\fR, \fBturns\fR}, \fBsession_id\fR, \fBpermissions\fR, \fBdenials\fR, \fBverify_retry\fR, \fBretry_at\fR, \fBretrying\fR, \fBhost\fR (\fIlocal\fR, or the name of its host), \fBuncommitted\fR (its worktree has uncommitted changes or untracked files), \fBuncommitted_paths\fR (those paths, at most 1000: what the radar compares, also of an agent on a host), \fBafter\fR (the names of its \fBafter\fR, a list), \fBsandbox\fR (true: its steps run in a box), \fBcredential\fR (the credential its CLI runs with: \fICLI:key\-XXXX\fR, a 16\-bit fingerprint of the API key (or claude's \fBCLAUDE_CODE_OAUTH_TOKEN\fR) from its \fBenv\fR or fleet's environment, never the key; \fICLI:login\fR, its CLI's own login; \fICLI:none\fR; null for aider, shell and \fBcommand\fR agents), \fBquota\fR (null, or while the agent is \fIwaiting\fR or \fIqueued\fR on its credential's quota: {\fBlabel\fR, \fBresets_at\fR, \fBagent\fR (whose CLI hit it)}), \fBlabel\fR (the state as the table shows it, e.g. \fIfailed (verify failed, exit 1)\fR, \fIdone (uncommitted changes)\fR or \fIqueued (after api)\fR; null for an agent its host did not report), \fBruntime_secs\fR (how long it ran, or has been running, in seconds; null before it started), \fBhead\fR (the commit its branch points at; null before it has one, or with git older than 2.41), \fBdisk_bytes\fR (the bytes of its worktree's files and \fBseed\fR copies when \fBup\fR made it; null for a worktree made before), \fBports\fR (its \fBports\fR, name to port number, {} before its first \fBup\fR), \fBround\fR (its round: 1 for its first run, 0 before it), \fBreview\fR (null, or while its latest round is a review: \fBround\fR, \fBsent_at\fR, \fBcommit\fR (the commit reviewed), \fBcomments\fR (how many), \fBnotes\fR (true when there were general notes), \fBfile\fR (the review file) and \fBanswered\fR (false while the agent still works on it)) and \fBmerged_as\fR (null, or {\fBhow\fR (\fIsquashed\fR or \fIrebased\fR), \fBcommit\fR (the commit the base got), \fBtip\fR (the agent's commit merged so)} when \fBfleet merge \-\-squash\fR or \fB\-\-rebase\fR brought its work in as new commits that the base still holds: \fBcommits_ahead\fR and the diff then count from \fBtip\fR, and the label says e.g. \fIdone (squashed as 1a2b3c4d5e6f)\fR). Beside \fBagents\fR, \fBbudget\fR: null without \fBbudget\fR, else {\fBusd\fR, \fBtokens\fR, \fBreserve\fR, \fBspent_usd\fR, \fBspent_tokens\fR, \fBstate\fR (\fIok\fR, \fIreserve\fR: no new start, or \fIspent\fR)}; \fBpending_merge\fR: null, or the merge fleet made and never verified (see MERGE TRAIN) as {\fBagent\fR, \fBbranch\fR, \fBbase\fR, \fBbefore\fR, \fBmerge\fR, \fBstrategy\fR, \fBverify\fR, \fBcommits_on_top\fR, \fBverifying\fR (a running \fBfleet merge\fR is verifying it now), \fBmerged_at\fR}; and \fBoverlaps\fR (the radar; agents here and on hosts: a host's agent by the paths its fleet reports and its branch as last fetched): a list of {\fBagents\fR (two names), \fBfiles\fR (the files both change: their commits since the merge\-base with the base, and their worktrees' uncommitted and untracked files), \fBconflict\fR (their commits would conflict, as \fBfleet conflicts\fR finds), and with \fBradar: tell\fR \fBtold\fR (the names of those told of all its files)}, also shown under the table as \fIapi and signup both change FILE (would conflict)\fR. A \fBstate\fR is one of \fIpending\fR, \fIqueued\fR, \fIrunning\fR, \fIwaiting\fR, \fIdone\fR, \fIfailed\fR, \fIstopped\fR, \fIlost\fR, \fIblocked\fR (an agent of its \fBafter\fR failed, was stopped, lost or blocked, or their branches conflict; \fBreason\fR says which, e.g. \fIapi failed\fR) \fIdamaged\fR, or, for an agent on another host, \fIunreachable\fR (its host does not answer; \fBreason\fR says why). The status of agents on other hosts fetches only the branches whose \fBhead\fR there moved since the last fetch. Fields are only ever added, never renamed.
.SH "MCP SERVER"
\fBfleet mcp\fR serves fleet's commands on the manifest it was started with as the tools of an MCP server on stdin/stdout: \fBstatus\fR (the STATUS JSON object), \fBdiff\fR (\fBname\fR, \fBstat\fR, \fBmax_bytes\fR, default 64 KiB), \fBlogs\fR (\fBname\fR, \fBlines\fR), \fBconflicts\fR (the CONFLICTS JSON object), \fBwait\fR (\fBnames\fR, \fBtimeout_secs\fR: default 60, at most 600; then their status), \fBup\fR (\fBnames\fR of agents of the manifest, \fBrerun\fR: never a new agent or command), \fBcontinue\fR (\fBname\fR, \fBmessage\fR), \fBmerge\fR (\fBnames\fR or \fBall\fR, verified as always). Each call runs this fleet binary (\fBfleet \-f MANIFEST status \-\-json\fR, ...): the answer is its output as structured content and text, a refusal a tool error with fleet's own message. With \fB\-\-as NAME\fR the caller is that agent: it reads every agent but \fBup\fR, \fBcontinue\fR and \fBmerge\fR only itself, unless \fB\-\-lead\fR; its \fBwait\fR without names waits for the others. In a sandboxed agent's box (\fBFLEET_MCP_SOCKET\fR set) it only relays to the server the runner runs for that agent outside the box.
.SH "CONFLICTS JSON"
\fBfleet conflicts \-\-json\fR prints one object: \fBbase\fR (the base's name), \fBmerges\fR, a list (each agent with a branch merged with the base, then every pair of them, in manifest order) of objects with \fBleft\fR (the base's name, or an agent's), \fBleft_branch\fR, \fBbase\fR (true when \fBleft\fR is the base), \fBright\fR (an agent), \fBright_branch\fR, \fBclean\fR (true or false) and \fBfiles\fR (the conflicting files, empty when clean), \fBwithout_branch\fR, the agents not compared because they have no branch yet, and \fBunreachable\fR, the agents not compared because their host did not answer (an agent on another host is compared on its branch fetched from there, as \fBstatus\fR fetches it). Computed with \fBgit merge\-tree \-\-write\-tree\fR (git 2.38 or newer): only the agents' committed work is compared, and no worktree, index or ref is touched. Fields are only ever added, never renamed.
.SH "MERGE TRAIN"
\fBfleet merge NAME...\fR and \fBfleet merge \-\-all\fR merge the agents' branches into the base in the main checkout one after another, in dependency (else manifest) order. Before the first merge everything is checked: the main checkout (on the base, clean, no merge, rebase, cherry\-pick, revert or bisect of yours under way) and each agent (not running or queued; not failed unless \fB\-\-force\fR, or \fB\-\-no\-verify\fR for a failed verify; its worktree clean, its work on its own branch; with \fB\-\-all\fR, done). A named agent that may not be merged refuses the whole train, changing nothing; \fB\-\-all\fR skips it (and any agent whose branch holds its work), saying why. Each branch is merged as asked: \fB\-\-ff\fR (the default: a fast\-forward when it can be, else a merge commit), \fB\-\-no\-ff\fR, \fB\-\-ff\-only\fR, \fB\-\-squash\fR (one commit), \fB\-\-rebase\fR (its commits replayed on the base in a scratch worktree, \fI../REPO.worktrees/.rebase\-NAME\fR, then fast\-forwarded; the agent's branch stays as it is). Then the agent's \fBverify\fR runs on the result in the main checkout (not with \fB\-\-no\-verify\fR). The train stops at the first conflict (the merge is aborted) or failed verify (the merge is taken back with \fBgit reset \-\-keep\fR, only while the base is still at the commit fleet made): the base stays at the last good merge, nothing half\-merged remains, and the error names the agent with the conflicting files or verify's last lines. \fB\-\-resume\-agent\fR then hands them to the agent as \fBfleet continue\fR does (it is offered only to an agent that can be continued). A merge never overwrites a file of yours in the main checkout that git does not track, ignored ones included (an ignored \fI.env\fR): before any merge, every path it would write is checked (a file there, a file where it needs a directory, files inside a directory where it writes a file), and the merge is refused naming the files, whatever the strategy, \fB\-\-force\fR included: move them out of the way. A squash (and a rebased copy) is remembered in \fI.fleet/merged/NAME.json\fR: \fBstatus\fR counts the agent as merged, a later \fBfleet merge NAME\fR says it is merged already, and commits the agent adds afterwards are replayed on the base and merged as asked, never its branch itself (which would bring back the history the squash left out). An agent whose commits change no file (they cancel out) has nothing to merge and the train goes on. \fB\-\-all\fR says the agents with nothing to merge in one line and ends naming every agent it skipped and why; it exits 3 when one of them had finished. Verify runs in a process group of its own, for at most its \fBverify_timeout\fR (default 30m): past it, or on Ctrl\-C, SIGTERM or SIGHUP to fleet, the whole group gets SIGTERM (SIGKILL 5 s later), nothing it started is left running, and the merge is taken back (exit 1 for the time limit, 128 + the signal for a signal). The merge is taken back on the base \fIbranch\fR, only while it is still at fleet's merge (\fBgit reset \-\-keep\fR when HEAD is on it, else \fBgit update\-ref\fR with the merge as the expected value, the checkout left where verify put it, and said). A verify that changed tracked files of the main checkout is named as the cause and stops the train (its merge kept when it passed). Before each merge that verify will judge, fleet writes \fI.fleet/merge\-pending.json\fR (agent, base, the commit before, the merge's commit, strategy) and removes it once verify gave its verdict; a fleet killed in between leaves it, and \fBfleet merge\fR (refusing to merge more), \fBfleet status\fR (a warning, and \fBpending_merge\fR in \fB\-\-json\fR) and \fBfleet doctor\fR (a problem) say that the base holds a merge that was never verified. \fBfleet merge \-\-verify\-pending\fR runs its verify now (the merge stays if it passes, is taken back if it fails); \fBfleet merge \-\-undo\-pending\fR takes it back, refused when the base has commits on top of it (fleet never resets your work; \fB\-\-verify\-pending\fR still works then).
.SH "ROUNDS"
Round 1 of an agent is its first run; each later run with a new instruction is its next round: \fBfleet review\fR (comments sent to its conversation) or \fBfleet up \-\-rerun\fR (its task again). Where a rerun starts is one rule. An agent whose work is all in the base (its commits merged, squash\-merged, or none of its own, found with \fBgit merge\-tree\fR) and whose worktree holds no change starts from the base's current tip: its branch moves there (\fBgit reset \-\-keep\fR in its worktree, else the ref alone), and commits only that branch reached are first kept under \fIrefs/fleet/kept/NAME/N\fR. An agent with work the base lacks (commits, or uncommitted changes) runs again on its branch, that work kept; \fB\-\-fresh\fR starts it from the base's tip instead, its old tip kept under \fIrefs/fleet/kept/NAME/N\fR (named in the output), and is refused while its worktree has uncommitted changes. Every hint that names \fB\-\-rerun\fR says which will happen. A task (file or prompt) changed since the agent's last round is named by \fBup\fR, with what \fB\-\-rerun\fR would do; \fBup\fR never reruns it by itself. \fBfleet doctor\fR names a kept branch whose work is in the base with the \fBgit branch \-d\fR that deletes it.
.SH "EXIT STATUS"
.TP
\fB0\fR
success
.TP
\fB1\fR
a runtime error (printed as \fIerror: ...\fR on stderr); for \fBfleet wait\fR, an awaited agent failed, was stopped, lost, blocked or never started, or is unreachable (its host failed 3 asks in a row); for \fBfleet conflicts\fR, a merge conflicts; for \fBfleet merge\fR, the train refused to start or stopped (a conflict, a failed verify)
.TP
\fB2\fR
bad usage or an invalid manifest (every problem is listed; nothing was changed)
.TP
\fB3\fR
\fBfleet merge \-\-all\fR went through but skipped an agent that had finished (done or failed: its worktree dirty, its verify failed, a file of yours in the way, ...); its summary names each skipped agent and why
.TP
\fB124\fR
\fBfleet wait \-\-timeout\fR ran out
.TP
\fB130\fR, \fB143\fR, \fB129\fR
interrupted by Ctrl\-C, SIGTERM or SIGHUP (128 + the signal); \fBfleet merge\fR stops between merges, or undoes the merge under way
.SH ENVIRONMENT
.TP
\fBFLEET_FILE\fR
the manifest, when \fB\-f\fR is not given
.TP
\fBNO_COLOR\fR
set and not empty: no colours, even on a terminal
.TP
\fBVISUAL\fR, \fBEDITOR\fR
the editor \fBfleet review\fR opens (the first set and not empty; else vi), run as git runs it: \fIsh \-c '$EDITOR "$@"'\fR
.TP
\fBFLEET_AGENT\fR, \fBFLEET_BRANCH\fR, \fBFLEET_WORKTREE\fR, \fBFLEET_LOG\fR, \fBFLEET_TASK\fR, \fBFLEET_PROJECT\fR
set for each agent's command, \fIverify\fR and \fIon_exit\fR (the latter also gets \fBFLEET_STATE\fR and \fBFLEET_EXIT_CODE\fR)
.SH FILES
.TP
\fIagents.yaml\fR
the manifest: found with \fB\-f\fR, else \fB$FLEET_FILE\fR, else in the current directory or the nearest parent
.TP
\fI.fleet/\fR
fleet's state beside the manifest: agent records, run specs, logs (\fI.fleet/logs/NAME.log\fR), rounds (\fI.fleet/rounds/NAME.json\fR), review files (\fI.fleet/reviews/\fR), the lock, what the radar asked of git (\fI.fleet/radar.json\fR) and told agents (\fI.fleet/radar\-told.json\fR); kept out of git through \fI.git/info/exclude\fR
.TP
\fIrefs/fleet/kept/NAME/N\fR
an agent's earlier work, kept when its branch moved to the base's tip for its next round (\fBgit log refs/fleet/kept/NAME/N\fR shows it)
.TP
\fI../REPO.worktrees/NAME\fR
each agent's worktree, on branch \fIfleet/NAME\fR
.SH "SEE ALSO"
\fBgit\-worktree\fR(1), \fBtmux\fR(1)
"#;

pub fn run(args: &ManArgs) -> Result<i32> {
    let cmd = built();
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&page(&cmd)?)?;
            out.flush()?;
        }
        Some(dir) => write_pages(&cmd, dir)?,
    }
    Ok(0)
}

/// fleet's command, built (so each subcommand knows it is `fleet up`), without `help`.
fn built() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The subcommands a user runs: not the hidden internal ones.
fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// A subcommand with the global options hidden, so its page lists only its own.
fn own_options(sub: &clap::Command) -> clap::Command {
    let mut sub = sub.clone();
    for id in GLOBAL {
        if sub.get_arguments().any(|a| a.get_id() == id) {
            sub = sub.mut_arg(id, |a| a.hide(true));
        }
    }
    sub
}

/// The whole fleet(1) page in roff.
pub fn page(cmd: &clap::Command) -> Result<Vec<u8>> {
    let man = Man::new(cmd.clone()).title("FLEET");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in visible(cmd) {
        let sub = own_options(sub);
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_string();
        writeln!(out, ".SS \"{}\"", name.replace('-', "\\-"))?;
        let man = Man::new(sub.clone());
        // The synopsis and options of the command, under its .SS heading instead of .SH ones.
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut section)?;
        }
        let text = String::from_utf8_lossy(&section).into_owned();
        for line in text.lines() {
            if line.starts_with(".SH") {
                writeln!(out, ".PP")?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
    }
    out.write_all(MANIFEST.as_bytes())?;
    out.write_all(TAIL.as_bytes())?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// `fleet.1` and `fleet-<command>.1` for each command, in `dir`.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<()> {
    // The directory the user named, through its symlinks; none is followed below it.
    let real = crate::manifest::real_path(&std::env::current_dir()?.join(dir));
    let main = dir.join("fleet.1");
    crate::safe_fs::write_file(&real.join("fleet.1"), &page(cmd)?, false)?;
    let mut written = vec![main];
    for sub in visible(cmd) {
        let man = Man::new(sub.clone());
        let title = man.get_filename().trim_end_matches(".1").to_uppercase();
        let man = man.title(title);
        let path = dir.join(man.get_filename());
        let mut bytes = Vec::new();
        man.render(&mut bytes)?;
        crate::safe_fs::write_file(&real.join(man.get_filename()), &bytes, false)?;
        written.push(path);
    }
    crate::info!(
        "wrote {} man pages in {} (fleet.1, fleet-up.1, …)",
        written.len(),
        dir.display()
    );
    Ok(())
}
