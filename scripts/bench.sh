#!/usr/bin/env bash
# fleet against the hand-made way, side by side, in one run (issue 7).
#
#   scripts/bench.sh [--quick] [--runs R] [--sizes "4 16"] [--status-sizes "4"] [--repos small]
#                    [--no-hosts] [--no-sandbox] [--speed | --no-speed] [--idle | --no-idle]
#
# (--quick: N = 4 and 16, 3 runs; BENCH_TIMER=date times with date even with hyperfine.)
# Builds a release fleet, makes two throw-away repos (a small one and one of 5,000 files) and
# times, for N fake agents (`sleep 300`):
#   up+down  `fleet up` + `fleet down --rm-worktrees` against
#            - shell: the hand-made loop: per agent `git worktree add -b …` and
#              `tmux new-session -d -s aN "cmd < task > log 2>&1"`, then a monitor session
#              with a `split-window` per agent; teardown `tmux kill-session` and
#              `git worktree remove` per agent;
#            - tmuxp: the same worktrees, the sessions from `tmuxp load -d` of equivalent
#              YAML files (skipped with a note when tmuxp is not installed);
#            - floor: the N `git worktree add` and N `git worktree remove` alone, one after
#              another: the git work every variant does;
#            - fs floor: no git, no tmux: the repo's tracked files copied N times (`cp -r`)
#              and removed (`rm -rf`), on every core at once: what the file system allows
#              any tool that makes N checkouts;
#            (on the big repo, N=64 times fleet alone, for its growth: each variant would
#            take minutes there; status on the big repo goes up to N=32);
#   status   `fleet status --json` against a loop of `tmux has-session` + `git diff
#            --shortstat` + `git rev-list --count` per agent, on the fresh worktrees and again
#            once every worktree's index was refreshed (as an agent's own `git status` does),
#            and against the floor of any status: every file of the N worktrees stat'ed once
#            (`find`), on every core at once, no git;
#   hosts    `fleet status --json` of 16 agents on 2 ssh hosts (8 + 8, `sleep 300`, through a
#            private sshd on 127.0.0.1 into the accounts scripts/ssh-hosts.sh makes, as the
#            tests do: scripts/bench_hosts.sh) against 16 local agents, interleaved (needs
#            root, sshd and the accounts, else the row is skipped saying why; --no-hosts);
#   sandbox  `fleet up` of 16 agents in boxes (`sandbox: true`) against 16 without, until
#            every agent's command runs, at least 7 interleaved pairs: medians of the wall
#            time and of the CPU it took, and the memory of each box's bwrap processes
#            (scripts/bench_sandbox.sh; skipped saying why without bubblewrap; --no-sandbox);
#   idle     64 agents printing a line a second: fleet's own CPU and memory per agent against
#            the same loops in tmux sessions by hand (scripts/bench_idle.sh; --idle alone).
# Every run starts clean (branches deleted, untimed). Runs are interleaved (each round runs
# every variant once, the order rotating) and the table shows medians in milliseconds and
# the ratio fleet / baseline. Times come from hyperfine (one run per call) when it is
# installed, else from `date`. Nothing is installed. Everything happens in a temp dir on a
# private tmux server (TMUX_TMPDIR), removed at the end, Ctrl-C included.
set -euo pipefail

say() { printf 'bench: %s\n' "$*" >&2; }

# ------------------------------------------------------------------ variants (run by `__run`)
# They run in a child bash with the environment set up below: REPO, WT (worktree parent),
# FLEET, N, ...

agent_names() { seq -f 'a%g' 1 "$N"; }

v_fleet() {
    "$FLEET" -f "$REPO/fleet-$N.yaml" up >/dev/null
    "$FLEET" -f "$REPO/fleet-$N.yaml" down --rm-worktrees >/dev/null
}

# The seed's way: a worktree and a session per agent, then a monitor window.
v_shell() {
    local wt="$WORK/$(basename "$REPO").shell" a
    for a in $(agent_names); do
        git -C "$REPO" worktree add -q -b "shell/$a" "$wt/$a" main
        tmux new-session -d -s "shell-$a" -c "$wt/$a" "sleep 300 < '$REPO/task.md' > '$WORK/logs/shell-$a.log' 2>&1"
    done
    tmux new-session -d -s shell-monitor -x 200 -y 50
    for a in $(agent_names); do
        tmux split-window -t shell-monitor: "tail -F '$WORK/logs/shell-$a.log'" \; select-layout -t shell-monitor: tiled
    done
    for a in $(agent_names); do
        tmux kill-session -t "=shell-$a"
    done
    tmux kill-session -t =shell-monitor
    for a in $(agent_names); do
        git -C "$REPO" worktree remove "$wt/$a"
    done
}

v_tmuxp() {
    local wt="$WORK/$(basename "$REPO").tmuxp" a
    for a in $(agent_names); do
        git -C "$REPO" worktree add -q -b "tmuxp/$a" "$wt/$a" main
    done
    tmuxp load -d "$WORK/tmuxp/$N"/*.yaml >/dev/null
    for a in $(agent_names); do
        tmux kill-session -t "=tmuxp-$a"
    done
    tmux kill-session -t =tmuxp-monitor
    for a in $(agent_names); do
        git -C "$REPO" worktree remove "$wt/$a"
    done
}

v_floor() {
    local wt="$WORK/$(basename "$REPO").floor" a
    for a in $(agent_names); do
        git -C "$REPO" worktree add -q -b "floor/$a" "$wt/$a" main
    done
    for a in $(agent_names); do
        git -C "$REPO" worktree remove "$wt/$a"
    done
}

# The file system's floor for N checkouts: the tracked files (all under src/) copied N times
# and removed, a stream a core, with no git and no tmux.
v_fsfloor() {
    local wt="$WORK/$(basename "$REPO").fsfloor" jobs
    jobs=$(nproc)
    mkdir -p "$wt"
    agent_names | xargs -P "$jobs" -I{} cp -r "$REPO/src" "$wt/{}"
    agent_names | xargs -P "$jobs" -I{} rm -rf "$wt/{}"
}

v_status() {
    "$FLEET" -f "$REPO/fleet-$N.yaml" status --json >/dev/null
}

# The floor of any status: every file of the N worktrees stat'ed once (find's -size needs
# the stat), the worktrees split into one stream a core, no git.
v_status_floor() {
    local jobs
    jobs=$(nproc)
    agent_names | sed "s|^|$WT/|" | xargs -n $(((N + jobs - 1) / jobs)) -P "$jobs" \
        sh -c 'find "$@" -size +1000000k' sh >/dev/null
}

v_status_hosts() {
    PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" status --json >/dev/null
}

v_status_shell() {
    local a
    for a in $(agent_names); do
        tmux has-session -t "=bench-$a"
        git -C "$WT/$a" diff --shortstat >/dev/null
        git -C "$REPO" rev-list --count "main..fleet/$a" >/dev/null
    done
}

if [ "${1:-}" = "__run" ]; then
    "v_$2"
    exit
fi

# ------------------------------------------------------------------ options and tools
QUICK=0
HOSTS=1
SANDBOX=1
RUNS=
REPOS=(small big)
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --no-hosts) HOSTS=0 ;;
        --speed) SPEED_ONLY=1 ;;
        --idle) IDLE_ONLY=1 ;;
        --no-idle) IDLE=0 ;;
        --no-speed) SPEED=0 ;;
        --no-sandbox) SANDBOX=0 ;;
        --runs) RUNS="$2"; shift ;;
        --sizes) read -ra SIZES_ARG <<< "$2"; SIZES_SET=1; shift ;;
        --status-sizes) read -ra STATUS_ARG <<< "$2"; STATUS_SET=1; shift ;;
        --repos) read -ra REPOS <<< "$2"; shift ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        *) say "unknown option $1 (try --help)"; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    SIZES=(4 16); STATUS_SIZES=(4 16); RUNS=${RUNS:-3}
else
    SIZES=(4 16 64); STATUS_SIZES=(4 16 32 64); RUNS=${RUNS:-5}
fi
[ -z "${SIZES_SET:-}" ] || SIZES=("${SIZES_ARG[@]}")
[ -z "${STATUS_SET:-}" ] || STATUS_SIZES=("${STATUS_ARG[@]}")

for tool in git tmux cargo; do
    command -v "$tool" >/dev/null || { say "$tool is not installed; scripts/tools.sh or your package manager installs it"; exit 1; }
done
HYPERFINE=$(command -v hyperfine || true)
[ "${BENCH_TIMER:-}" != date ] || HYPERFINE=
TMUXP=$(command -v tmuxp || true)
[ -n "$HYPERFINE" ] && say "timing with $("$HYPERFINE" --version)" || say "hyperfine not installed: timing with date (install hyperfine to use it)"
[ -n "$TMUXP" ] || say "tmuxp not installed: the tmuxp comparison is skipped (pip install tmuxp to include it)"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
say "cargo build --release"
cargo build --release --quiet
FLEET="$PWD/target/release/fleet"
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)

# ------------------------------------------------------------------ a private world
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fleet-bench.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
# shellcheck source=scripts/bench_hosts.sh
. scripts/bench_hosts.sh
# shellcheck source=scripts/bench_speed.sh
. scripts/bench_speed.sh
[ -z "${SPEED_ONLY:-}" ] || { REPOS=(); HOSTS=0; }
[ -z "${IDLE_ONLY:-}" ] || { REPOS=(); HOSTS=0; SANDBOX=0; SPEED=0; }
# shellcheck source=scripts/bench_idle.sh
. scripts/bench_idle.sh
# shellcheck source=scripts/bench_sandbox.sh
. scripts/bench_sandbox.sh
SANDBOX_MEMORY=
cleanup() {
    speed_cleanup
    if [ -n "$HOSTS_SSHD_PID" ]; then
        PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" down --rm-worktrees --force >/dev/null 2>&1 || true
        hosts_stop
    fi
    tmux kill-server 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/home" "$WORK/tmux" "$WORK/logs" "$WORK/times"
cp "$0" "$WORK/bench.sh"
unset TMUX TMUX_PANE FLEET_FILE
export HOME="$WORK/home" TMUX_TMPDIR="$WORK/tmux" WORK FLEET GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
# A session keeps the server up between variants (tmux exits with its last session).
tmux new-session -d -s keepalive

make_repo() { # NAME FILES
    local repo="$WORK/$1" d f
    git init -q -b main "$repo"
    for ((d = 0; d < $2 / 100 + 1; d++)); do
        mkdir -p "$repo/src/d$d"
        for ((f = 0; f < 100 && d * 100 + f < $2; f++)); do
            printf 'line one of %d/%d\nline two\n' "$d" "$f" > "$repo/src/d$d/f$f.txt"
        done
    done
    printf 'Sleep; this is a benchmark.\n' > "$repo/task.md"
    git -C "$repo" add -A
    git -C "$repo" commit -q -m "synthetic repo of $2 files"
    # Packed, as a clone is (5,000 loose objects would make every checkout a disk walk).
    git -C "$repo" gc -q
    local n
    for n in "${SIZES[@]}" "${STATUS_SIZES[@]}"; do
        N=$n make_manifest "$repo/fleet-$n.yaml"
    done
}

make_manifest() { # FILE (N agents)
    local a
    {
        printf 'project: bench\ncommand: sleep 300\nagents:\n'
        for a in $(agent_names); do printf '  - name: %s\n    task: task.md\n' "$a"; done
    } > "$1"
}
say "making the repos (${REPOS[*]}; small: 20 files, big: 5,000 files)"
for repo in "${REPOS[@]}"; do
    case "$repo" in
        small) make_repo small 20 ;;
        big) make_repo big 5000 ;;
        *) say "unknown repo $repo (small or big)"; exit 2 ;;
    esac
done

# tmuxp: one YAML per agent session plus the monitor, like fleet's sessions.
if [ -n "$TMUXP" ]; then
    for n in "${SIZES[@]}"; do
        mkdir -p "$WORK/tmuxp/$n"
        for a in $(N=$n agent_names); do
            cat > "$WORK/tmuxp/$n/$a.yaml" <<EOF
session_name: tmuxp-$a
windows:
  - window_name: $a
    start_directory: \${REPO_WT}/$a
    panes:
      - sleep 300 < $WORK/task.md > $WORK/logs/tmuxp-$a.log 2>&1
EOF
        done
        {
            printf 'session_name: tmuxp-monitor\nwindows:\n  - window_name: monitor\n    layout: tiled\n    panes:\n'
            for a in $(N=$n agent_names); do printf '      - tail -F %s/logs/tmuxp-%s.log\n' "$WORK" "$a"; done
        } > "$WORK/tmuxp/$n/zz-monitor.yaml"
    done
    printf 'Sleep; this is a benchmark.\n' > "$WORK/task.md"
fi

# Milliseconds one run of a variant takes.
timeit() { # VARIANT
    if [ -n "$HYPERFINE" ]; then
        "$HYPERFINE" -N --runs 1 --style none --export-json "$WORK/h.json" \
            "bash $WORK/bench.sh __run $1" >/dev/null 2>"$WORK/h.err" || {
            cat "$WORK/h.err" >&2
            say "variant $1 failed"
            exit 1
        }
        sed -n 's/.*"median": *\([0-9.e+-]*\).*/\1/p' "$WORK/h.json" | head -1 | awk '{ printf "%d\n", $1 * 1000 + 0.5 }'
    else
        local start end
        start=$(date +%s%N)
        bash "$WORK/bench.sh" __run "$1" || { say "variant $1 failed"; exit 1; }
        end=$(date +%s%N)
        echo $(((end - start + 500000) / 1000000))
    fi
}

# Back to a clean repo: no worktrees, branches, state or logs of a previous run.
reset_repo() {
    local s
    for s in $(tmux list-sessions -F '#{session_name}' | grep -vx keepalive); do
        tmux kill-session -t "=$s"
    done
    git -C "$REPO" worktree prune
    local branches
    branches=$(git -C "$REPO" for-each-ref --format='%(refname:short)' refs/heads/fleet refs/heads/shell refs/heads/tmuxp refs/heads/floor)
    [ -z "$branches" ] || git -C "$REPO" branch -q -D $branches
    rm -rf "$REPO/.fleet" "$WORK/logs"/* "$WORK/$(basename "$REPO")".{worktrees,shell,tmuxp,floor,fsfloor}
}

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One table row: what, fleet's key, the baseline's key.
ROWS=()
row() { ROWS+=("$1|$2|$3"); }

export REPO N WT REPO_WT
for repo in "${REPOS[@]}"; do
    REPO="$WORK/$repo"
    WT="$WORK/$repo.worktrees"
    REPO_WT="$WORK/$repo.tmuxp"
    for N in "${SIZES[@]}"; do
        variants=(fleet shell floor fsfloor)
        [ -n "$TMUXP" ] && variants+=(tmuxp)
        # 64 checkouts of 5,000 files take minutes a variant on 2 cores: past N=16 the big
        # repo runs fleet only (its growth from N=16; the comparisons are at N <= 16).
        big_n=$([ "$repo" = big ] && [ "$N" -gt 16 ] && echo 1 || echo 0)
        [ "$big_n" = 0 ] || variants=(fleet)
        say "$repo repo, N=$N: up+down, ${variants[*]}, $RUNS rounds"
        for ((r = 0; r < RUNS; r++)); do
            for ((i = 0; i < ${#variants[@]}; i++)); do
                v=${variants[(i + r) % ${#variants[@]}]}
                reset_repo
                timeit "$v" >> "$WORK/times/$repo-$N-$v"
            done
        done
        reset_repo
        if [ "$big_n" = 1 ]; then
            row "$repo|$N|up+down (fleet alone: its growth)" "$repo-$N-fleet" ""
            continue
        fi
        row "$repo|$N|up+down vs shell loop" "$repo-$N-fleet" "$repo-$N-shell"
        if [ -n "$TMUXP" ]; then
            row "$repo|$N|up+down vs tmuxp load" "$repo-$N-fleet" "$repo-$N-tmuxp"
        else
            row "$repo|$N|up+down vs tmuxp load (not installed)" "$repo-$N-fleet" ""
        fi
        row "$repo|$N|up+down vs bare worktree add+remove" "$repo-$N-fleet" "$repo-$N-floor"
        row "$repo|$N|up+down vs file-system floor (cp -r + rm -rf, every core)" "$repo-$N-fleet" "$repo-$N-fsfloor"
    done
    for N in "${STATUS_SIZES[@]}"; do
        # The same for status: 64 big worktrees only to read them is minutes of checkout.
        [ "$repo" = small ] || [ "$N" -le 32 ] || continue
        say "$repo repo, N=$N: status, $RUNS rounds on fresh worktrees, $RUNS after a refresh"
        reset_repo
        "$FLEET" -f "$REPO/fleet-$N.yaml" up >/dev/null
        for state in fresh refreshed; do
            if [ "$state" = refreshed ]; then
                # Index stat data written a second after checkout: no racy entries left.
                sleep 1.1
                for a in $(agent_names); do git -C "$WT/$a" status --porcelain >/dev/null; done
            fi
            for ((r = 0; r < RUNS; r++)); do
                order=(status status_shell status_floor)
                [ $((r % 2)) = 0 ] || order=(status_floor status_shell status)
                for v in "${order[@]}"; do
                    timeit "$v" >> "$WORK/times/$repo-$N-$state-$v"
                done
            done
            row "$repo|$N|status --json vs shell loop ($state)" "$repo-$N-$state-status" "$repo-$N-$state-status_shell"
            row "$repo|$N|status --json vs stat of every file, every core ($state)" "$repo-$N-$state-status" "$repo-$N-$state-status_floor"
        done
        "$FLEET" -f "$REPO/fleet-$N.yaml" down --rm-worktrees --force >/dev/null
    done
    reset_repo
done

# ------------------------------------------------------------------ 16 agents on 2 hosts
hosts_row() {
    local why
    why=$(hosts_missing)
    if [ "$HOSTS" = 0 ] || [ -n "$why" ] || [[ " ${REPOS[*]} " != *" small "* ]]; then
        [ "$HOSTS" = 0 ] && why="--no-hosts"
        [ -n "$why" ] || why="needs the small repo (--repos)"
        row "small|16|status --json, 8+8 agents on 2 ssh hosts vs 16 local (skipped: $why)" "" ""
        say "hosts row skipped: $why"
        return
    fi
    REPO="$WORK/small" WT="$WORK/small.worktrees" N=16
    reset_repo
    [ -f "$REPO/fleet-16.yaml" ] || N=16 make_manifest "$REPO/fleet-16.yaml"
    hosts_start
    mkdir -p "$REPO/hosts"
    HOSTS_YAML="$REPO/hosts/fleet.yaml"
    export HOSTS_YAML HOSTS_PATH
    hosts_manifest 16 "$HOSTS_YAML"
    say "small repo, 16 agents on 2 hosts: status, $RUNS rounds against 16 local"
    "$FLEET" -f "$REPO/fleet-16.yaml" up >/dev/null
    PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" up >/dev/null
    local running
    running=$(PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" status --json | grep -o '"state": *"running"' | wc -l)
    [ "$running" = 16 ] || { say "only $running of the 16 agents on the hosts run"; exit 1; }
    local r v order
    for ((r = 0; r < RUNS; r++)); do
        order=(status status_hosts)
        [ $((r % 2)) = 0 ] || order=(status_hosts status)
        for v in "${order[@]}"; do
            timeit "$v" >> "$WORK/times/hosts-$v"
        done
    done
    row "small|16|status --json, 8+8 agents on 2 ssh hosts vs 16 local" "hosts-status_hosts" "hosts-status"
    PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" down --rm-worktrees --force >/dev/null
    hosts_stop
    "$FLEET" -f "$REPO/fleet-16.yaml" down --rm-worktrees --force >/dev/null
    reset_repo
}
[ -n "${SPEED_ONLY:-}${IDLE_ONLY:-}" ] || hosts_row
[ -n "${SPEED_ONLY:-}${IDLE_ONLY:-}" ] || sandbox_row
[ "${SPEED:-1}" = 0 ] || speed_main
[ "${IDLE:-1}" = 0 ] || idle_row

# ------------------------------------------------------------------ the radar's cost
# 16 running agents on a 2,000-file repository, each with a commit of its own file and an
# uncommitted edit of one file they all share: what the radar adds to a status refresh
# (`fleet -v status --json` prints its own time) when nothing changed since the last look,
# and with nothing kept (.fleet/radar.json removed: every commit and pair asked of git),
# beside the whole `status --json`.
radar_row() {
    REPO="$WORK/radar" WT="$WORK/radar.worktrees" N=16
    [ -d "$REPO" ] || make_repo radar 2000
    {
        printf 'project: radar\nagents:\n'
        for a in $(agent_names); do
            printf '  - name: %s\n    task: task.md\n    command: "printf %s > src/d1/f%s.txt; git add -A; git commit -qm %s; printf edit >> src/d0/f0.txt; sleep 300"\n' "$a" "$a" "${a#a}" "$a"
        done
    } > "$REPO/fleet-16.yaml"
    say "radar: 16 agents on 2,000 files, $RUNS rounds"
    reset_repo
    "$FLEET" -f "$REPO/fleet-16.yaml" up >/dev/null
    local tries=0
    until [ "$("$FLEET" -f "$REPO/fleet-16.yaml" status --json | grep -c '"uncommitted": true')" = 16 ]; do
        tries=$((tries + 1)); [ "$tries" -lt 100 ] || { say "radar: the agents did not edit"; exit 1; }
        sleep 0.2
    done
    local r ms
    for ((r = 0; r < RUNS; r++)); do
        for state in warm cold; do
            [ "$state" = warm ] || rm -f "$REPO/.fleet/radar.json"
            ms=$("$FLEET" -v -f "$REPO/fleet-16.yaml" status --json 2>&1 >/dev/null |
                sed -n 's/^\[fleet\] radar: .*, \([0-9.]*\) ms$/\1/p' | awk '{ printf "%d\n", $1 + 0.5 }')
            echo "$ms" >> "$WORK/times/radar-$state"
        done
        timeit status >> "$WORK/times/radar-status"
    done
    row "radar 2,000 files|16|radar per refresh, nothing changed vs whole status --json" "radar-warm" "radar-status"
    row "radar 2,000 files|16|radar per refresh, nothing kept vs whole status --json" "radar-cold" "radar-status"
    "$FLEET" -f "$REPO/fleet-16.yaml" down --rm-worktrees --force >/dev/null
    reset_repo
}
[ -n "${IDLE_ONLY:-}" ] || radar_row

# ------------------------------------------------------------------ the table
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo
echo "fleet $COMMIT, $(date -u +%Y-%m-%d), $(nproc) cores (${cpu:-unknown CPU}), $(tmux -V), $(git --version)"
echo "medians of $RUNS interleaved runs, milliseconds; timer: $([ -n "$HYPERFINE" ] && "$HYPERFINE" --version || echo date)${TMUXP:+; $(tmuxp -V 2>/dev/null | head -1)}"
echo
[ "${SPEED:-1}" = 0 ] || speed_table
[ "${IDLE:-1}" = 0 ] || idle_table
[ "${#ROWS[@]}" = 0 ] || echo
[ "${#ROWS[@]}" = 0 ] || echo "| repo | N | comparison | fleet ms | baseline ms | fleet / baseline |"
[ "${#ROWS[@]}" = 0 ] || echo "|---|---:|---|---:|---:|---:|"
for r in "${ROWS[@]}"; do
    IFS='|' read -r repo n what fkey bkey <<< "$r"
    if [ -z "$fkey" ]; then
        echo "| $repo | $n | $what | - | - | - |"
        continue
    fi
    f=$(median "$WORK/times/$fkey")
    if [ -n "$bkey" ]; then
        b=$(median "$WORK/times/$bkey")
        ratio=$(awk -v f="$f" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? f / b : 0) }')
    else
        b="-"; ratio="-"
    fi
    echo "| $repo | $n | $what | $f | $b | $ratio |"
done
echo
for repo in "${REPOS[@]}"; do
    [ "${#SIZES[@]}" -gt 1 ] || continue
    lo=${SIZES[1]:-}; hi=${SIZES[-1]}
    [ -n "$lo" ] && [ "$lo" != "$hi" ] || continue
    f_lo=$(median "$WORK/times/$repo-$lo-fleet"); f_hi=$(median "$WORK/times/$repo-$hi-fleet")
    awk -v a="$f_lo" -v b="$f_hi" -v lo="$lo" -v hi="$hi" -v repo="$repo" \
        'BEGIN { printf "%s repo: fleet up+down grows %.2fx from N=%d to N=%d (linear: %.2fx)\n", repo, b / a, lo, hi, hi / lo }'
done
[ -z "$SANDBOX_MEMORY" ] || echo "sandbox: $SANDBOX_MEMORY"
