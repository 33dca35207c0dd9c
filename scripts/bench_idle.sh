# Sourced by scripts/bench.sh: the idle row (`scripts/bench.sh --idle` runs it alone). 64
# agents (IDLE_N) that each print a line a second, for IDLE_SECONDS (60) of steady state:
# the CPU that fleet's own processes take (the runners, the monitor's status pane with the
# git and tmux processes it starts, the monitor's followers of the logs, the tmux server)
# as % of a core, and their memory per agent (RSS and PSS), against the floor: the same 64
# printing loops started by hand, each in a tmux session of its own writing to a log file
# (its CPU: the tmux server's), and against the same made by hand with a monitor to see
# them: a session with a `tail -F` pane per log (its CPU: the tmux server's and the tails').
# The agents' own loops count for none. IDLE_PAIRS (7) interleaved rounds; with IDLE_BEFORE=<another fleet binary>, each round runs it too (the
# same row for an earlier fleet, against the same floor). Each run checks that every agent
# printed through the window (its log grew by at least half the window's lines).
# shellcheck shell=bash

IDLE_N=${IDLE_N:-64}
IDLE_SECONDS=${IDLE_SECONDS:-60}
IDLE_PAIRS=${IDLE_PAIRS:-7}
IDLE_LOOP='i=0; while :; do i=$((i+1)); echo "line $i of an agent that prints a line a second"; sleep 1; done'

idle_manifest() { # FILE
    local a
    {
        printf 'project: idle\ncommand: %s\nagents:\n' "'$IDLE_LOOP'"
        for a in $(N=$IDLE_N agent_names); do printf '  - name: %s\n    task: task.md\n' "$a"; done
    } > "$1"
}

# CPU time of PID in nanoseconds (0 when gone): the run time of each of its threads
# (/proc/PID/task/*/schedstat, exact; utime+stime in /proc/PID/stat are ticks sampled 100
# times a second, which miss most of a process that wakes for a few microseconds at a time:
# they gave 64 runners 0.00%); with `all`, its waited-for children's too (those only in ticks).
idle_cpu_ns() { # PID [all]
    local stat own children=0
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    own=$(cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }')
    if [ "${2:-}" = all ]; then
        children=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' <<< "${stat##*) }")
    fi
    echo $((${own:-0} + children))
}

# fleet's own processes under the tmux server, one "PID KIND" a line: runner (`fleet _run`),
# status (the status pane's `fleet status --watch`), follower (a monitor pane's `tail`).
idle_procs() {
    local server p comm
    server=$(tmux display-message -p -t keepalive '#{pid}')
    echo "$server server"
    for p in $(sandbox_tree "$server"); do
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        case "$comm" in
            fleet)
                if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q ' _run '; then echo "$p runner"; else echo "$p status"; fi ;;
            tail) echo "$p follower" ;;
        esac
    done
}

# The lines in the logs of this run (LOGDIR), summed, one agent a line.
idle_lines() { # LOGDIR
    local f
    for f in "$1"/*.log; do grep -c '^line ' "$f" || true; done
}

# Each process's kind and CPU time in ns ([idle_cpu_ns]; the status pane's with its
# waited-for children: the git and tmux processes it runs).
idle_cpu_of() { # PROCS
    local p k
    while read -r p k; do
        echo "$k $(idle_cpu_ns "$p" "$([ "$k" = status ] && echo all)")"
    done <<< "$1"
}

# One run of KIND (fleet, before, floor): start, let it settle, measure IDLE_SECONDS, stop.
# Appends % of a core to times/idle-KIND-cpu, kB per agent to times/idle-KIND-{rss,pss}.
idle_run() { # KIND
    local kind=$1 fleet=$FLEET logs a p k procs t0 t1 n lines0 lines1
    [ "$kind" != before ] || fleet=$IDLE_BEFORE
    if [ "$kind" = floor ] || [ "$kind" = shell ]; then
        logs="$WORK/logs"
        for a in $(N=$IDLE_N agent_names); do
            tmux new-session -d -s "floor-$a" -x 200 -y 50 "sh -c '$IDLE_LOOP' > '$logs/$a.log' 2>&1"
        done
    fi
    if [ "$kind" = shell ]; then
        # bench.sh's hand-made monitor: a pane following each log, tiled
        tmux new-session -d -s floor-monitor -x 200 -y 50
        for a in $(N=$IDLE_N agent_names); do
            tmux split-window -t floor-monitor: "tail -F '$logs/$a.log'" \; select-layout -t floor-monitor: tiled
        done
    elif [ "$kind" != floor ]; then
        logs="$REPO/.fleet/logs"
        "$fleet" -q -f "$REPO/idle.yaml" up >/dev/null
    fi
    local deadline=$((SECONDS + 120))
    until [ "$(idle_lines "$logs" | awk '$1 > 0' | wc -l)" -ge "$IDLE_N" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { say "idle row: the $kind agents did not all print"; exit 1; }
        sleep 0.2
    done
    sleep 5 # the monitor's first git look, the panes' first screens
    procs=$(idle_procs)
    lines0=$(idle_lines "$logs" | paste -sd' ')
    idle_cpu_of "$procs" > "$WORK/idle.c0"
    t0=$(date +%s%N)
    sleep "$IDLE_SECONDS"
    t1=$(date +%s%N)
    idle_cpu_of "$procs" > "$WORK/idle.c1"
    lines1=$(idle_lines "$logs" | paste -sd' ')
    # every agent printed through the window
    n=$(paste <(tr ' ' '\n' <<< "$lines0") <(tr ' ' '\n' <<< "$lines1") |
        awk -v min=$((IDLE_SECONDS / 2)) '$2 - $1 >= min' | wc -l)
    [ "$n" -ge "$IDLE_N" ] || { say "idle row: only $n of the $kind agents printed through the window"; exit 1; }
    [ "$kind" = floor ] || [ "$kind" = shell ] || [ "$(grep -c ' runner$' <<< "$procs")" = "$IDLE_N" ] ||
        { say "idle row: $(grep -c ' runner$' <<< "$procs") runners, not $IDLE_N"; exit 1; }
    # % of a core: all of fleet's processes, and each kind's
    paste "$WORK/idle.c0" "$WORK/idle.c1" | awk -v hz=1e9 -v s="$(((t1 - t0) / 1000000))" \
        '{ d[$1] += $4 - $2; all += $4 - $2 } END { printf "all %.2f", all / hz / (s / 1000) * 100; for (k in d) printf " %s %.2f", k, d[k] / hz / (s / 1000) * 100; print "" }' \
        >> "$WORK/times/idle-$kind-cpus"
    awk '{ print $2 }' <<< "$(tail -1 "$WORK/times/idle-$kind-cpus")" >> "$WORK/times/idle-$kind-cpu"
    local rss=0 pss=0 kb
    while read -r p k; do
        kb=$(awk '/^Rss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        rss=$((rss + ${kb:-0}))
        kb=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        pss=$((pss + ${kb:-0}))
        [ "$k" = server ] || echo "$k $(awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r, p }' "/proc/$p/smaps_rollup")" >> "$WORK/times/idle-$kind-procs"
    done <<< "$procs"
    echo $((rss / IDLE_N)) >> "$WORK/times/idle-$kind-rss"
    echo $((pss / IDLE_N)) >> "$WORK/times/idle-$kind-pss"
    if [ "$kind" = floor ] || [ "$kind" = shell ]; then
        for a in $(N=$IDLE_N agent_names); do tmux kill-session -t "=floor-$a"; done
        [ "$kind" = floor ] || tmux kill-session -t "=floor-monitor"
    else
        "$fleet" -q -f "$REPO/idle.yaml" down --rm-worktrees --force >/dev/null
    fi
}

# The median RSS and PSS (kB) of one kind of fleet process, over every run.
idle_kind_memory() { # KIND(fleet|before) PROC-KIND
    [ -f "$WORK/times/idle-$1-procs" ] || return 0
    awk -v k="$2" '$1 == k { print $2 }' "$WORK/times/idle-$1-procs" > "$WORK/times/idle-m-rss"
    awk -v k="$2" '$1 == k { print $3 }' "$WORK/times/idle-$1-procs" > "$WORK/times/idle-m-pss"
    [ -s "$WORK/times/idle-m-rss" ] || return 0
    printf '%s RSS %s kB, PSS %s kB; ' "$2" "$(median "$WORK/times/idle-m-rss")" "$(median "$WORK/times/idle-m-pss")"
}

# The median CPU (% of a core) of each kind of process, over every run.
idle_kind_cpu() { # KIND(fleet|before)
    local kind
    for kind in runner server status follower; do
        awk -v k="$kind" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' \
            "$WORK/times/idle-$1-cpus" | sort -n | awk -v k="$kind" '{ v[NR] = $1 } END { if (NR) printf "%s %s; ", k, v[int((NR + 1) / 2)] }'
    done
}

idle_row() {
    local r kinds i
    [ -d "$WORK/small" ] || make_repo small 20
    REPO="$WORK/small" WT="$WORK/small.worktrees"
    idle_manifest "$REPO/idle.yaml"
    kinds=(fleet shell floor)
    [ -z "${IDLE_BEFORE:-}" ] || kinds=(fleet before shell floor)
    say "idle: $IDLE_N agents printing a line a second, ${IDLE_SECONDS}s windows, $IDLE_PAIRS rounds of ${kinds[*]}"
    for ((r = 0; r < IDLE_PAIRS; r++)); do
        for ((i = 0; i < ${#kinds[@]}; i++)); do
            reset_repo
            idle_run "${kinds[(i + r) % ${#kinds[@]}]}"
        done
    done
    reset_repo
}

# The idle table: one row per fleet (and the floor's), medians of the rounds.
idle_table() {
    [ -f "$WORK/times/idle-floor-cpu" ] || return 0
    local k what
    echo
    echo "idle: $IDLE_N agents each printing a line a second, ${IDLE_SECONDS}s windows, medians of $IDLE_PAIRS rounds"
    echo
    echo "| what | CPU, % of a core | RSS kB per agent | PSS kB per agent |"
    echo "|---|---:|---:|---:|"
    for k in fleet before shell floor; do
        [ -f "$WORK/times/idle-$k-cpu" ] || continue
        case "$k" in
            fleet) what="fleet $COMMIT: runners, status pane, followers, tmux server" ;;
            before) what="fleet before ($IDLE_BEFORE): the same" ;;
            shell) what="by hand with a monitor: the loops' sessions + a tail -F pane per log (tmux server, tails)" ;;
            floor) what="floor: the loops in tmux sessions by hand (the tmux server)" ;;
        esac
        echo "| $what | $(sort -n "$WORK/times/idle-$k-cpu" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') | $(median "$WORK/times/idle-$k-rss") | $(median "$WORK/times/idle-$k-pss") |"
    done
    for k in fleet before shell; do
        [ -f "$WORK/times/idle-$k-cpus" ] || continue
        echo
        echo "$k, CPU by kind (% of a core, all $IDLE_N together): $(idle_kind_cpu "$k")"
        echo "$k, each process: $(for p in runner follower status; do idle_kind_memory "$k" "$p"; done)"
    done
}
