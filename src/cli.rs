//! The command line: clap definitions and nothing else.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fleet",
    version,
    about = "Run a fleet of coding agents in parallel: one git worktree and tmux session each",
    propagate_version = true
)]
pub struct Cli {
    /// The manifest (default: $FLEET_FILE, else agents.yaml in this directory or the nearest parent)
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Print only errors and the output asked for (status, logs, diff, --json): not the
    /// progress of up, down and merge
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print every git and tmux command fleet runs, on stderr, before running it
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write agents.yaml and tasks/example.md, or N agents with --agents N (refuses to overwrite)
    Init(InitArgs),
    /// Check the manifest and the tools, print the resolved plan
    Validate,
    /// Create worktrees and sessions for agents not running and not finished, then the monitor
    Up(UpArgs),
    /// Attach to an agent's session (on its host over ssh -t), or to the monitor without NAME
    Attach(AttachArgs),
    /// Show each agent's state, branch, work and last log line
    Status(StatusArgs),
    /// Print an agent's log, or follow it with -f (an agent on another host: over ssh)
    Logs(LogsArgs),
    /// Show an agent's work against base: its commits, uncommitted and untracked changes
    Diff(DiffArgs),
    /// Wait until the agents finish, here and on hosts; exit 1 if any failed or is unreachable, 124 on timeout
    Wait(WaitArgs),
    /// Merge agents' branches into base in the main checkout, one after another, each
    /// verified; stop at the first conflict or failed verify (an agent on another host: its
    /// branch fetched from there first)
    Merge(MergeArgs),
    /// Which agents' branches conflict, with base and with each other, and in which files;
    /// exit 1 when any does (nothing is changed)
    Conflicts(ConflictsArgs),
    /// Resume a finished, failed, stopped or lost agent's conversation with a follow-up
    /// instruction
    Continue(ContinueArgs),
    /// Review an agent's work line by line in your editor and send the comments back to its
    /// conversation (its next round); --show prints every round
    ///
    /// fleet writes the agent's committed diff against base into .fleet/reviews/NAME-ROUND-COMMIT.diff
    /// and opens $VISUAL, else $EDITOR, else vi on it. The file: a header of # lines (ignored,
    /// with the agent and the commit shown), room for general notes, then the diff as git
    /// prints it. Write notes above the diff; write a comment on a new line starting with >
    /// right under any line of any hunk (under a @@ line: about the hunk; under diff --git:
    /// about the file); several > lines in a row are one comment. Leave the diff's own
    /// lines as they are.
    ///
    /// On saving, the notes and comments go to the agent's conversation as `fleet continue`
    /// sends a follow-up (claude, codex and gemini, headless; other agents are refused before
    /// the editor opens, naming `fleet up --rerun`), each comment with its file, line, the
    /// line itself and its hunk; the agent runs, and its verify after it, as after any run.
    /// A comment on a line no longer in the agent's diff (it moved on since the file was
    /// written) is refused with the line, and nothing is sent; a line found once elsewhere
    /// in the same file is sent where it is now. No comments and no notes: nothing is sent.
    /// The round (its number, the commit reviewed, the comments) is recorded in
    /// .fleet/rounds/NAME.json; status shows `review N sent`, then the usual states.
    Review(ReviewArgs),
    /// Stop the agents' sessions (and the monitor once none is left); keeps work
    Down(DownArgs),
    /// Serve fleet's commands (status, diff, logs, conflicts, wait, up, continue, merge) as
    /// the tools of an MCP server on stdin/stdout, for a lead agent to drive this fleet
    Mcp(McpArgs),
    /// Check tools, programs, and leftovers (orphan sessions, stale worktrees, lone branches)
    Doctor,
    /// Print the shell completion script (agent names complete from the manifest)
    Completions(CompletionsArgs),
    /// Print fleet's man page (roff), or write fleet.1 and fleet-<command>.1 with --out DIR
    Man(ManArgs),
    /// The runner that is each agent pane's first process (internal)
    #[command(name = "_run", hide = true)]
    Run(RunArgs),
    /// The first process in a sandboxed step's box: its network bridge, then the step (internal)
    #[command(name = "_net-inside", hide = true)]
    NetInside(NetInsideArgs),
    /// The manifest's agent names, one a line, for the completion scripts (internal)
    #[command(name = "_agents", hide = true)]
    Agents,
    /// On a host: its repository made ready and the manifest slice on stdin written, by
    /// the fleet that placed agents there (internal)
    #[command(name = "_receive", hide = true)]
    Receive(ReceiveArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Write N agents (agent1..agentN), each with its task file tasks/agentI.md
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=999))]
    pub agents: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write fleet.1 and one fleet-<command>.1 per command into DIR instead of printing
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Agents to start (default: all)
    pub names: Vec<String>,
    /// Print the git and tmux steps and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Attach to the monitor afterwards
    #[arg(long)]
    pub attach: bool,
    /// Also run finished (done or failed) agents again, as their next round: from base's
    /// current tip when their work is all in base (merged, squash-merged, or no commits of
    /// their own), else on their branch, keeping its work
    #[arg(long)]
    pub rerun: bool,
    /// With --rerun (implied): start the named finished agents from base's current tip even
    /// when their branch holds work base lacks; that work stays reachable under
    /// refs/fleet/kept/NAME/N (named in the output). Refused over uncommitted changes
    #[arg(long)]
    pub fresh: bool,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The agent (default: the monitor)
    pub name: Option<String>,
    /// An agent on another host: on this terminal even inside tmux (the window `attach`
    /// opens there runs this) (internal)
    #[arg(long, hide = true, requires = "name")]
    pub here: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("shown").args(["json", "watch"])))]
pub struct StatusArgs {
    /// Agents to show (default: all)
    pub names: Vec<String>,
    /// Print one JSON object; its fields are listed in `fleet man` (STATUS JSON) and are only
    /// ever added, never renamed
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw every second until Ctrl-C
    #[arg(long)]
    pub watch: bool,
    /// With --watch: also show each agent's state on its monitor pane's border; with
    /// --json (asked by the monitor of a fleet with hosts): LAST LINE as the monitor shows
    /// it (internal)
    #[arg(long, hide = true, requires = "shown")]
    pub monitor: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The agent
    pub name: String,
    /// Keep printing new lines until the agent exits (or Ctrl-C); `-f` after `logs` means
    /// this (the manifest then goes before it: `fleet -f PATH logs NAME -f`)
    #[arg(long)]
    pub follow: bool,
    /// How many of the last lines to print first
    #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
    pub lines: usize,
    /// With --follow: the monitor's pane, which follows on after the agent ends and, for an
    /// agent on another host, across the host's drops (internal)
    #[arg(long, hide = true, requires = "follow")]
    pub monitor: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The agent
    pub name: String,
    /// Only the files changed and their line counts
    #[arg(long)]
    pub stat: bool,
    /// Only what changed since the last review was sent (`fleet review`): the agent's
    /// answer
    #[arg(long)]
    pub since_review: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Agents to wait for (default: all)
    pub names: Vec<String>,
    /// Give up after this many seconds (exit 124)
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("follow-up").required(true).args(["message", "message_file"])))]
pub struct ContinueArgs {
    /// The agent
    pub name: String,
    /// The follow-up instruction
    #[arg(short, long, value_name = "TEXT")]
    pub message: Option<String>,
    /// The follow-up instruction, from a file (`-f` after `continue` means this)
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The agent
    pub name: String,
    /// Send this review file (one `fleet review` wrote, edited) instead of opening an
    /// editor; `--file` and `-f` after `review` mean this (the manifest then goes first:
    /// `fleet -f PATH review NAME --file F`)
    #[arg(long, value_name = "FILE", conflicts_with = "show")]
    pub review_file: Option<PathBuf>,
    /// Print every round of the agent: what each sent (the review's notes and comments)
    /// and the commits the agent made in it
    #[arg(long)]
    pub show: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["names", "all", "verify_pending", "undo_pending"])))]
#[command(group(clap::ArgGroup::new("strategy").args(["ff", "no_ff", "ff_only", "squash", "rebase"])))]
pub struct MergeArgs {
    /// The agents whose branches to merge, one after another (in dependency, else manifest,
    /// order), each verified; the train stops at the first conflict or failed verify
    pub names: Vec<String>,
    /// Merge every agent that is done; the others are skipped and named at the end, each
    /// with its reason (exit 3 when one of them had finished)
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// git's default: a fast-forward when base has nothing the branch lacks, else a merge
    /// commit
    #[arg(long)]
    pub ff: bool,
    /// Always a merge commit
    #[arg(long)]
    pub no_ff: bool,
    /// Only a fast-forward: stop when base has commits the branch lacks
    #[arg(long)]
    pub ff_only: bool,
    /// Squash each agent's commits into one commit on base (remembered: the agent counts
    /// as merged, and only commits it adds later are merged again)
    #[arg(long)]
    pub squash: bool,
    /// Replay each agent's commits on base (in a scratch copy: its branch stays as it is),
    /// then fast-forward
    #[arg(long)]
    pub rebase: bool,
    /// Merge even though the agent's verify failed, and run no verify after merging
    #[arg(long)]
    pub no_verify: bool,
    /// Merge even though the agent failed (non-zero exit, timeout, …) or its worktree holds
    /// commits its branch lacks (never over a file of yours that git does not track)
    #[arg(long)]
    pub force: bool,
    /// On a conflict or a failed verify, hand it back to the agent (as `fleet continue`
    /// does) with the conflicting files or verify's output
    #[arg(long)]
    pub resume_agent: bool,
    /// Run the verify of a merge fleet made and never verified (it was killed during its
    /// verify): the merge stays if it passes, is taken back if it fails
    #[arg(long, conflicts_with_all = ["strategy", "no_verify", "force", "resume_agent"])]
    pub verify_pending: bool,
    /// Take back a merge fleet made and never verified (only while base is still at it)
    #[arg(long, conflicts_with_all = ["strategy", "no_verify", "force", "resume_agent"])]
    pub undo_pending: bool,
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Agents to compare (default: all)
    pub names: Vec<String>,
    /// Print one JSON object (its shape is in `fleet man`, CONFLICTS JSON; every pair)
    #[arg(long)]
    pub json: bool,
    /// List every pair, the clean ones too (default: only those that conflict)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The agent of the manifest this server is handed to: it may read every agent but
    /// act (up, continue, merge) only on itself, unless --lead
    #[arg(long = "as", value_name = "NAME")]
    pub as_agent: Option<String>,
    /// With --as: that agent is the fleet's lead and may act on every agent of the manifest
    #[arg(long, requires = "as_agent")]
    pub lead: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Agents to stop (default: all, and the monitor)
    pub names: Vec<String>,
    /// Also remove the agents' worktrees when they have no uncommitted changes
    #[arg(long)]
    pub rm_worktrees: bool,
    /// With --rm-worktrees: remove worktrees even with uncommitted changes
    #[arg(long, requires = "rm_worktrees")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// The repository's directory on this host (`hosts.NAME.dir`)
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent's run spec written by `fleet up`
    pub spec: PathBuf,
}

#[derive(Debug, Args)]
pub struct NetInsideArgs {
    /// The bridge's socket directory, bound into the box
    pub dir: PathBuf,
    /// Listen on this loopback address and carry each connection out (the Nth through DIR/oN)
    #[arg(long = "to", value_name = "ADDR:PORT")]
    pub to: Vec<std::net::SocketAddrV4>,
    /// Carry each connection from the host's side of this port to the box's 127.0.0.1:PORT
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// The step's command
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// `-f` is the global `--file`, except after `logs`, where it means `--follow` as in
/// `tail -f`: rewrite that one spelling before clap parses.
pub fn follow_shorthand<T: Into<std::ffi::OsString>>(
    args: impl IntoIterator<Item = T>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let mut i = 1;
    // Find the subcommand: the first word that is not an option or the global -f's value.
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "-f" || a == "--file" {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    // After `logs`, -f follows (tail -f); after `continue`, it names the message file; after
    // `review`, -f and --file name the review file.
    let (long, also) = match args.get(i).and_then(|a| a.to_str()) {
        Some("logs") => ("--follow", None),
        Some("continue") => ("--message-file", None),
        Some("review") => ("--review-file", Some("--file")),
        _ => return args,
    };
    for a in args.iter_mut().skip(i + 1) {
        if a == "--" {
            break;
        }
        if a == "-f" || also.is_some_and(|l| a == l) {
            *a = long.into();
        } else if let Some(value) = also
            .and_then(|l| a.to_str()?.strip_prefix(l)?.strip_prefix('='))
            .map(str::to_string)
        {
            *a = format!("{long}={value}").into();
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<String> {
        follow_shorthand(args.iter().copied())
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dash_f_after_logs_follows() {
        assert_eq!(
            words(&["fleet", "logs", "a", "-f"]),
            ["fleet", "logs", "a", "--follow"]
        );
        assert_eq!(
            words(&["fleet", "-f", "x.yaml", "logs", "-f", "a"]),
            ["fleet", "-f", "x.yaml", "logs", "--follow", "a"]
        );
        // elsewhere -f is the manifest
        assert_eq!(
            words(&["fleet", "status", "-f", "x.yaml"]),
            ["fleet", "status", "-f", "x.yaml"]
        );
        assert_eq!(words(&["fleet", "-f", "logs"]), ["fleet", "-f", "logs"]);
        // after review, -f and --file name the review file
        assert_eq!(
            words(&["fleet", "-f", "m.yaml", "review", "a", "--file", "r.diff"]),
            [
                "fleet",
                "-f",
                "m.yaml",
                "review",
                "a",
                "--review-file",
                "r.diff"
            ]
        );
        assert_eq!(
            words(&["fleet", "review", "a", "--file=r.diff"]),
            ["fleet", "review", "a", "--review-file=r.diff"]
        );
        let cli = Cli::try_parse_from(follow_shorthand([
            "fleet", "-f", "m.yaml", "logs", "a", "-f", "-n", "3",
        ]))
        .unwrap();
        assert_eq!(cli.file.as_deref(), Some(std::path::Path::new("m.yaml")));
        match cli.command {
            Command::Logs(l) => assert!(l.follow && l.lines == 3 && l.name == "a"),
            other => panic!("{other:?}"),
        }
    }
}
