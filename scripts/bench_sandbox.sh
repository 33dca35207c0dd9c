# Sourced by scripts/bench.sh: the sandbox row. `fleet up` of 16 agents in boxes
# (`sandbox: true`) against 16 without, interleaved pairs on the small repo: the wall time
# from `up` until every agent's command runs (its first line, `ready`, is in its log: inside
# its box for the sandboxed ones), and the CPU that took (fleet up's own, the tmux server's,
# and every process under the server at that moment: runners, bwrap, the agents' shells),
# and, while the 16 boxes stand, the memory of their bwrap processes (RSS and PSS) per
# agent. Each agent is `echo ready; exec sleep 300`.
# shellcheck shell=bash

# Why the sandbox row cannot run here (empty when it can).
sandbox_missing() {
    command -v bwrap >/dev/null || { echo "bubblewrap not installed (apt-get install bubblewrap)"; return; }
    bwrap --ro-bind / / --unshare-pid -- true 2>/dev/null || echo "bwrap cannot make a box here"
}

sandbox_manifest() { # FILE SANDBOX(true|false)
    local a
    {
        printf 'project: bench\nsandbox: %s\ncommand: "echo ready; exec sleep 300"\nagents:\n' "$2"
        for a in $(N=16 agent_names); do printf '  - name: %s\n    task: task.md\n' "$a"; done
    } > "$1"
}

# CPU ticks (utime+stime+cutime+cstime) of PID, or 0.
sandbox_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    # after the command's name (which may hold spaces): field 3 is the state
    awk '{ print $12 + $13 + $14 + $15 }' <<< "${stat##*) }"
}

# The pids under PID (its descendants, not itself).
sandbox_tree() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            for (i in pids) {
                p = pids[i]; q = parent[p]
                while (q != "" && q != 0 && q != 1) { if (q == root) { print p; break } q = parent[q] }
            }
        }'
}

# One run: `up`, wait until all 16 are ready; appends wall ms and CPU ms to
# times/sandbox-KIND-{wall,cpu}, and for boxes the bwrap memory per agent (kB) to
# times/sandbox-{rss,pss}; then `down`.
sandbox_run() { # KIND(boxed|open)
    local yaml="$REPO/sandbox-$1.yaml" server t0 t1 c0 c1 up_cpu tree_ticks p hz n
    hz=$(getconf CLK_TCK)
    server=$(tmux display-message -p -t keepalive '#{pid}')
    c0=$(sandbox_ticks "$server")
    t0=$(date +%s%N)
    TIMEFORMAT='%U %S'
    { time "$FLEET" -f "$yaml" up >/dev/null; } 2> "$WORK/up.cpu"
    local deadline=$((SECONDS + 120))
    until [ "$(grep -lx ready "$REPO/.fleet/logs/"*.log 2>/dev/null | wc -l)" -ge 16 ]; do
        [ "$SECONDS" -lt "$deadline" ] || { say "sandbox row: the agents did not all start"; exit 1; }
        sleep 0.02
    done
    t1=$(date +%s%N)
    c1=$(sandbox_ticks "$server")
    tree_ticks=0
    for p in $(sandbox_tree "$server"); do
        tree_ticks=$((tree_ticks + $(sandbox_ticks "$p")))
    done
    up_cpu=$(awk '{ printf "%d", ($1 + $2) * 1000 + 0.5 }' "$WORK/up.cpu")
    echo $(((t1 - t0 + 500000) / 1000000)) >> "$WORK/times/sandbox-$1-wall"
    echo $((up_cpu + (c1 - c0 + tree_ticks) * 1000 / hz)) >> "$WORK/times/sandbox-$1-cpu"
    if [ "$1" = boxed ]; then
        local rss=0 pss=0 kb
        for p in $(sandbox_tree "$server"); do
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = bwrap ] || continue
            kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
            rss=$((rss + ${kb:-0}))
            kb=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
            pss=$((pss + ${kb:-0}))
        done
        n=16
        echo $((rss / n)) >> "$WORK/times/sandbox-rss"
        echo $((pss / n)) >> "$WORK/times/sandbox-pss"
    fi
    "$FLEET" -f "$yaml" down --rm-worktrees --force >/dev/null
}

sandbox_row() {
    local why pairs r
    why=$(sandbox_missing)
    if [ "$SANDBOX" = 0 ] || [ -n "$why" ] || [[ " ${REPOS[*]} " != *" small "* ]]; then
        [ "$SANDBOX" = 0 ] && why="--no-sandbox"
        [ -n "$why" ] || why="needs the small repo (--repos)"
        row "small|16|up until 16 agents run, sandboxed vs not (skipped: $why)" "" ""
        say "sandbox row skipped: $why"
        return
    fi
    REPO="$WORK/small" WT="$WORK/small.worktrees"
    sandbox_manifest "$REPO/sandbox-boxed.yaml" true
    sandbox_manifest "$REPO/sandbox-open.yaml" false
    pairs=$((RUNS > 7 ? RUNS : 7))
    say "small repo, 16 agents: up until they run, $pairs interleaved pairs sandboxed and not"
    for ((r = 0; r < pairs; r++)); do
        if [ $((r % 2)) = 0 ]; then
            reset_repo; sandbox_run boxed; reset_repo; sandbox_run open
        else
            reset_repo; sandbox_run open; reset_repo; sandbox_run boxed
        fi
    done
    reset_repo
    row "small|16|up until 16 agents run: sandboxed vs not, wall" "sandbox-boxed-wall" "sandbox-open-wall"
    row "small|16|up until 16 agents run: sandboxed vs not, CPU" "sandbox-boxed-cpu" "sandbox-open-cpu"
    SANDBOX_MEMORY="the bwrap processes of one box: median RSS $(median "$WORK/times/sandbox-rss") kB, PSS $(median "$WORK/times/sandbox-pss") kB (16 boxes, $pairs runs)"
}
