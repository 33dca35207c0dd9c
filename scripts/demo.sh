#!/usr/bin/env bash
# fleet demo: three fake agents (plain shell commands, no AI needed) in a
# throw-away git repo. Builds fleet, runs `fleet up`, shows `fleet status` while
# the agents work, and removes everything again on exit (also on Ctrl-C).
#
# It uses your default tmux server with the project name `fleet-demo`, so its
# sessions (fleet-demo-monitor, fleet-demo-writer, ...) do not collide with yours.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
say() { printf '\033[1mdemo:\033[0m %s\n' "$*" >&2; }
[ -t 2 ] || say() { printf 'demo: %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------
# shellcheck source=scripts/tools.sh
. "$root/scripts/tools.sh"
ensure_tools tmux git

say "building fleet (cargo build --release)"
(cd "$root" && cargo build --release --quiet)
# Where cargo put it: its own answer, so CARGO_TARGET_DIR (absolute, or relative to the
# project as cargo takes it) and a target-dir of .cargo/config.toml are honoured.
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')" || target_dir=""
if [ -z "$target_dir" ]; then
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
fi
fleet="$target_dir/release/fleet"

# --- a throw-away repo -------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/fleet-demo.XXXXXX")"
tmp="$(cd "$tmp" && pwd -P)"
repo="$tmp/demo"      # fleet puts the worktrees beside it: $tmp/demo.worktrees/<agent>

cleanup() {
    local status=$?
    trap '' INT TERM
    set +e
    if [ -f "$repo/agents.yaml" ]; then
        say "cleaning up: fleet down --rm-worktrees --force"
        (cd "$repo" && "$fleet" down --rm-worktrees --force)
        # Belt and braces: sessions fleet tagged with this demo's manifest. (A space
        # separates the fields: without a UTF-8 locale tmux prints a tab as `_`.)
        tmux list-sessions -F '#{session_name} #{@fleet}' 2>/dev/null |
            while read -r name tag; do
                if [ "$tag" = "$repo/agents.yaml" ]; then
                    say "removing leftover session $name"
                    tmux kill-session -t "=$name"
                fi
            done
    fi
    rm -rf "$tmp"
    say "removed $tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sessions left by an earlier demo that was killed hard (its manifest is gone).
tmux list-sessions -F '#{session_name} #{@fleet}' 2>/dev/null |
    while read -r name tag; do
        case "$name" in fleet-demo-*) ;; *) continue ;; esac
        if [ -n "$tag" ] && [ ! -e "$tag" ]; then
            say "removing stale demo session $name"
            tmux kill-session -t "=$name" || true
        fi
    done || true   # no tmux server running: nothing to clean

mkdir -p "$repo/tasks"
cd "$repo"
git init -q -b main
git config user.name "fleet demo"
git config user.email "demo@fleet.invalid"
git config commit.gpgsign false
printf '# demo\n\nA throw-away repository for the fleet demo.\n' > README.md

cat > tasks/writer.md <<'TASK'
# Notes

## What to do
Write notes.md describing this repository.

## Success criteria
notes.md is committed on your branch.

## Do NOT
Touch README.md.
TASK

cat > agents.yaml <<'YAML'
# Three fake agents: plain shell commands instead of Claude, Codex, ...
project: fleet-demo
base: main
# The default command of every agent (run by `sh -c`, the task on stdin).
command: |
  for i in 1 2 3 4 5; do echo "$FLEET_AGENT: step $i/5"; sleep 4; done
  echo "$FLEET_AGENT: nothing to change, all good"
env:
  DEMO: "yes"
agents:
  - name: writer            # reads its task, writes a file, commits it
    task: tasks/writer.md
    command: |
      cat > notes.md        # the task arrives on stdin
      for i in 1 2 3 4 5; do echo "writer: drafting notes.md, step $i/5"; sleep 4; done
      echo "Written by $FLEET_AGENT on branch $FLEET_BRANCH." >> notes.md
      git add notes.md
      git commit -q -m "Add notes.md"
      echo "writer: committed $(git log -1 --format='%h %s')"
  - name: counter           # uses the top-level command, changes nothing
    prompt: "Count to five, slowly."
  - name: breaker           # makes some progress, then fails
    prompt: "Try something that will not work."
    command: |
      for i in 1 2 3; do echo "breaker: step $i/5"; sleep 4; done
      echo "breaker: error: simulated failure" >&2
      exit 1
YAML
git add -A
git commit -q -m "Initial commit"

say "demo repo: $repo"
say "agents.yaml:"
sed 's/^/    /' agents.yaml >&2

# --- run ---------------------------------------------------------------------
say "fleet validate"
"$fleet" validate
say "fleet up"
"$fleet" up

show_status() {
    say "fleet status ($1)"
    "$fleet" status
}
show_status "just started"

if [ -t 0 ] && [ -t 1 ]; then
    read -r -p "Attach to the monitor now? [y/N] " answer || answer=
    case "$answer" in
        [yY]*)
            if [ -n "${TMUX:-}" ]; then
                say "inside tmux: fleet attach switches this client to fleet-demo-monitor"
                "$fleet" attach
                read -r -p "Back here? (prefix + L returns to the last session) Press Enter to continue. " _ || true
            else
                say "detach with the tmux prefix + d (usually Ctrl-b d) to come back here"
                "$fleet" attach || say "fleet attach failed (exit $?)"
            fi
            ;;
    esac
fi

say "fleet wait --timeout 60 (a progress bar on a terminal; exit 1: the breaker fails)"
"$fleet" wait --timeout 60 || say "fleet wait exited $?"
show_status "all finished"

say "fleet logs breaker -n 4"
"$fleet" logs breaker -n 4
say "fleet diff writer --stat (its commits plus anything uncommitted)"
"$fleet" diff writer --stat
say "fleet merge breaker (it failed: fleet refuses to merge unfinished work, changing nothing)"
"$fleet" merge breaker || say "fleet merge exited $?"
say "fleet merge writer"
"$fleet" merge writer
say "main now: git log --oneline"
git --no-pager log --oneline >&2
