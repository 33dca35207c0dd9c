# Sourced by scripts/bench.sh: the rows where users wait (issue "fast where users wait"),
# each an interleaved comparison of fleet with the floor measured in the same run, with
# medians of wall and CPU time (user+sys of every process), and a check after every floor
# run that it really made every worktree, session and copy (a parallel `git worktree add`
# that lost git's lock fails without a word: a floor that did less looks faster).
#
#   large    `fleet up` of N agents (4, 16) on a generated repository of SPEED_FILES files
#            (50,000 by default, a realistic tree: nested directories, sizes from a few
#            bytes to tens of KB) against the hand-made floor: `git worktree add
#            --no-checkout` one after another, `git checkout` 4 at a time, a tmux session
#            each; both without a monitor session;
#   seed     the same with `seed: [node_modules]` (a generated node_modules of SPEED_SEED
#            small files, 20,000 by default) against the floor plus `cp -a node_modules`
#            into each worktree, 4 at a time; on this machine's file system (ext4 here) and,
#            when mkfs.xfs and a loop mount work (root), on an XFS image (reflink=1) made by
#            the bench, where the floor's copy is `cp -a --reflink=never` (a plain copy);
#   hosts    `fleet status --json` of 16 agents on 2 ssh hosts (bench_hosts.sh) warm (the
#            kept ssh masters alive) and cold (masters closed before each run) against 16
#            local agents.
# shellcheck shell=bash

SPEED_PAIRS=${SPEED_PAIRS:-7}
SPEED_FILES=${SPEED_FILES:-50000}
SPEED_SEED=${SPEED_SEED:-20000}
SPEED_SIZES=${SPEED_SIZES:-"4 16"}
# The file systems of the large rows (ext4 and xfs images; ext4 falls back to this
# machine's disk), and whether the seed: rows run (SPEED_SEED_ROWS=0: the up rows alone).
SPEED_FS=${SPEED_FS:-"ext4 xfs"}
SPEED_SEED_ROWS=${SPEED_SEED_ROWS:-1}
SPEED_ROWS=()
SPEED_MOUNTS=()

# Times one command (a string run by bash): appends "wall cpu" in ms to FILE.
speed_time() { # FILE CMD
    local t
    t=$( { TIMEFORMAT='%3R %3U %3S'; time bash -c "$2" >/dev/null 2>"$WORK/speed.err"; } 2>&1 ) || {
        say "failed: $2"; cat "$WORK/speed.err" >&2; exit 1
    }
    awk '{ printf "%d %d\n", $1 * 1000 + 0.5, ($2 + $3) * 1000 + 0.5 }' <<< "$t" >> "$1"
}

speed_median() { # FILE COLUMN
    awk -v c="$2" '{ print $c }' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# PAIRS interleaved runs of fleet's and the floor's command (the order alternating), each
# after RESET (untimed), the floor's checked by CHECK (untimed) after every run.
speed_pairs() { # KEY FLEET_CMD FLOOR_CMD RESET CHECK_FLEET CHECK_FLOOR
    local key=$1 r
    : > "$WORK/times/$key.fleet"; : > "$WORK/times/$key.floor"
    for ((r = 0; r < SPEED_PAIRS; r++)); do
        local order=(fleet floor)
        [ $((r % 2)) = 0 ] || order=(floor fleet)
        for v in "${order[@]}"; do
            bash -c "$4" >/dev/null 2>&1 || { say "reset failed: $4"; exit 1; }
            if [ "$v" = fleet ]; then
                speed_time "$WORK/times/$key.fleet" "$2"
                bash -c "$5" || { say "$key: fleet's run did not do all its work"; exit 1; }
            else
                speed_time "$WORK/times/$key.floor" "$3"
                bash -c "$6" || { say "$key: the floor's run did not do all its work"; exit 1; }
            fi
        done
    done
    bash -c "$4" >/dev/null 2>&1 || true
    say "$key: fleet $(speed_median "$WORK/times/$key.fleet" 1) ms (CPU $(speed_median "$WORK/times/$key.fleet" 2)), floor $(speed_median "$WORK/times/$key.floor" 1) ms (CPU $(speed_median "$WORK/times/$key.floor" 2))"
}

speed_row() { SPEED_ROWS+=("$1|$2|$3"); } # WHAT FLOOR KEY

# A repository of $2 files in a tree like a real project's: a few top directories, nested
# 1-4 deep, 10-60 files a directory, sizes mostly small with a long tail.
speed_make_repo() { # DIR FILES
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
made, dirs = 0, [""]
while made < n:
    parent = random.choice(dirs)
    d = os.path.join(parent, "m%d" % len(dirs)) if parent.count("/") < 4 else parent
    if d not in dirs:
        dirs.append(d)
    os.makedirs(os.path.join(root, "src", d), exist_ok=True)
    for _ in range(random.randint(10, 60)):
        if made >= n:
            break
        size = min(int(random.paretovariate(1.2) * 300), 200000)
        with open(os.path.join(root, "src", d, "f%d.txt" % made), "w") as f:
            f.write(("line %d of a generated file\n" % made) * (size // 28 + 1))
        made += 1
EOF
}

# A node_modules of $2 small files (packages of 5-40 files, a .bin of symlinks).
speed_make_node_modules() { # DIR FILES
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(11)
made, pkg = 0, 0
os.makedirs(os.path.join(root, ".bin"), exist_ok=True)
while made < n:
    p = os.path.join(root, "pkg%d" % pkg, "lib")
    os.makedirs(p, exist_ok=True)
    with open(os.path.join(root, "pkg%d" % pkg, "package.json"), "w") as f:
        f.write('{"name": "pkg%d", "version": "1.0.%d"}\n' % (pkg, pkg))
    made += 1
    for i in range(random.randint(5, 40)):
        if made >= n:
            break
        with open(os.path.join(p, "m%d.js" % i), "w") as f:
            f.write("module.exports = %d;\n" % i * random.randint(1, 60))
        made += 1
    if pkg % 10 == 0:
        os.symlink("../pkg%d/lib/m0.js" % pkg, os.path.join(root, ".bin", "pkg%d" % pkg))
    pkg += 1
EOF
}

# A repository for the rows at $1 (a directory), $2 files, with a committed
# package-lock.json and an ignored node_modules; the manifests of each size.
speed_setup_repo() { # DIR FILES
    local repo=$1 n
    git init -q -b main "$repo"
    speed_make_repo "$repo" "$2"
    printf 'node_modules/\n' > "$repo/.gitignore"
    printf '{"lockfileVersion": 3}\n' > "$repo/package-lock.json"
    printf 'Sleep; this is a benchmark.\n' > "$repo/task.md"
    git -C "$repo" add -A
    # (no automatic gc in the background: it would hold gc's lock and the mount)
    git -C "$repo" config gc.auto 0
    git -C "$repo" commit -q -m "generated repository of $2 files"
    git -C "$repo" gc -q
    speed_make_node_modules "$repo/node_modules" "$SPEED_SEED"
    for n in $SPEED_SIZES; do
        for seed in plain seed; do
            {
                printf 'project: speed\ncommand: sleep 300\nmonitor: {enabled: false}\n'
                printf 'worktree_dir: %s\n' "$repo.wt"
                [ "$seed" = plain ] || printf 'seed: [node_modules]\n'
                printf 'agents:\n'
                for ((i = 1; i <= n; i++)); do printf '  - name: a%d\n    task: task.md\n' "$i"; done
            } > "$repo/speed-$n-$seed.yaml"
        done
    done
}

# The commands of the rows on the repository $1 at N=$2 (exported for the child bashes).
speed_rows_on() { # DIR N LABEL COPY
    local repo=$1 n=$2 label=$3 copy=$4 last
    last=$(git -C "$repo" ls-files src | tail -1)
    local wt="$repo.wt" names
    names=$(seq -f 'a%g' 1 "$n" | tr '\n' ' ')
    local reset="tmux list-sessions -F '#S' 2>/dev/null | grep -v '^keepalive\$' | xargs -r -n1 -I{} tmux kill-session -t ={}; \
        '$FLEET' -f '$repo/speed-$n-plain.yaml' down --rm-worktrees --force; \
        rm -rf '$wt' '$repo/.fleet'; git -C '$repo' worktree prune; \
        git -C '$repo' for-each-ref --format='%(refname:short)' refs/heads/fleet refs/heads/floor | xargs -r git -C '$repo' branch -q -D"
    local floor="set -e; for a in $names; do git -C '$repo' worktree add -q --no-checkout -b floor/\$a '$wt/'\$a main; done; \
        printf '%s\n' $names | xargs -P 4 -I{} git -C '$wt/{}' checkout -f -q"
    local floor_sessions="; for a in $names; do tmux new-session -d -s floor-\$a -c '$wt/'\$a 'sleep 300'; done"
    local check_floor="for a in $names; do [ -f '$wt/'\$a/'$last' ] && tmux has-session -t =floor-\$a || exit 1; done; \
        [ \$(git -C '$repo' worktree list | grep -c 'floor/') = $n ]"
    local check_fleet="for a in $names; do [ -f '$wt/'\$a/'$last' ] && tmux has-session -t =speed-\$a || exit 1; done"
    local key="$label-$n"
    say "$label, N=$n: fleet up against the floor, $SPEED_PAIRS pairs"
    speed_pairs "$key-up" "'$FLEET' -f '$repo/speed-$n-plain.yaml' -q up" "$floor$floor_sessions" \
        "$reset" "$check_fleet" "$check_floor"
    speed_row "$label, N=$n: up" "worktree add one by one, checkout 4 at a time, a session each" "$key-up"
    [ "$SPEED_SEED_ROWS" = 1 ] || return 0
    local seeded="for a in $names; do [ -f '$wt/'\$a/node_modules/pkg0/package.json ] || exit 1; done"
    say "$label, N=$n: fleet up with seed: against the floor and $copy, $SPEED_PAIRS pairs"
    speed_pairs "$key-seed" "'$FLEET' -f '$repo/speed-$n-seed.yaml' -q up" \
        "$floor; printf '%s\n' $names | xargs -P 4 -I{} $copy '$repo/node_modules' '$wt/{}/node_modules' $floor_sessions" \
        "$reset" "$check_fleet; $seeded" "$check_floor; $seeded"
    speed_row "$label, N=$n: up + seed: node_modules ($SPEED_SEED files)" "the floor above + $copy into each, 4 at a time" "$key-seed"
}

# A file system image of type $1 loop-mounted at $WORK/$1 (sparse, in memory as the page
# cache holds it): the rows then measure the work of fleet and the floor, not this
# machine's disk (its root ext4, mounted with `discard`, takes milliseconds a file
# creation, and swings). Nothing (the reason on stderr) when it cannot be made.
speed_mount() { # TYPE
    local fs=$1
    [ "$(id -u)" -eq 0 ] || { say "$fs rows skipped: not root"; return 1; }
    command -v "mkfs.$fs" >/dev/null || { say "$fs rows skipped: mkfs.$fs missing (apt-get install xfsprogs / e2fsprogs)"; return 1; }
    truncate -s 12G "$WORK/$fs.img"
    case "$fs" in
        xfs) mkfs.xfs -q -m reflink=1 "$WORK/$fs.img" >/dev/null 2>&1 ;;
        ext4) mkfs.ext4 -q -F -N 3000000 "$WORK/$fs.img" >/dev/null 2>&1 ;;
    esac || { say "$fs rows skipped: mkfs.$fs failed"; return 1; }
    mkdir -p "$WORK/$fs"
    mount -o loop "$WORK/$fs.img" "$WORK/$fs" 2>/dev/null || { say "$fs rows skipped: cannot loop-mount"; return 1; }
    SPEED_MOUNTS+=("$WORK/$fs")
}

speed_hosts_rows() {
    local why
    why=$(hosts_missing)
    if [ -n "$why" ]; then
        speed_row "hosts: skipped ($why)" "-" ""
        return
    fi
    REPO="$WORK/speed-small" WT="$WORK/speed-small.worktrees" N=16
    mkdir -p "$REPO"
    git init -q -b main "$REPO"
    printf 'Sleep; this is a benchmark.\n' > "$REPO/task.md"
    git -C "$REPO" add -A && git -C "$REPO" commit -q -m small
    N=16 make_manifest "$REPO/fleet-16.yaml"
    # fleet's ssh control directory is under TMPDIR: the bench's own, so closing the masters
    # for the cold runs touches no one else's.
    export TMPDIR="$WORK/tmp"
    mkdir -p "$TMPDIR"
    hosts_start
    mkdir -p "$REPO/hosts"
    HOSTS_YAML="$REPO/hosts/fleet.yaml"
    export HOSTS_YAML HOSTS_PATH REPO WT N
    hosts_manifest 16 "$HOSTS_YAML"
    "$FLEET" -f "$REPO/fleet-16.yaml" up >/dev/null
    PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" up >/dev/null
    local running
    running=$(PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" status --json | grep -o '"state": *"running"' | wc -l)
    [ "$running" = 16 ] || { say "only $running of the 16 agents on the hosts run"; exit 1; }
    local local_status="'$FLEET' -f '$REPO/fleet-16.yaml' status --json"
    local remote_status="PATH='$HOSTS_PATH' '$FLEET' -f '$HOSTS_YAML' status --json"
    local all16="[ \$($remote_status | grep -o '\"state\": *\"running\"' | wc -l) = 16 ]"
    local all16_local="[ \$($local_status | grep -o '\"state\": *\"running\"' | wc -l) = 16 ]"
    # Cold: every kept master closed first (ssh -O exit on each socket), untimed.
    local close="for s in '$WORK/tmp'/fleet-ssh-\$(id -u)/*; do [ -S \"\$s\" ] && PATH='$HOSTS_PATH' ssh -o ControlPath=\"\$s\" -O exit host-a; done; true"
    say "hosts: status of 8+8 remote agents warm, against 16 local, $SPEED_PAIRS pairs"
    speed_pairs hosts-warm "$remote_status" "$local_status" "true" "$all16" "$all16_local"
    speed_row "hosts warm: status --json, 8+8 agents on 2 ssh hosts" "status --json of 16 local agents" hosts-warm
    say "hosts: status cold (masters closed before each run), against 16 local, $SPEED_PAIRS pairs"
    speed_pairs hosts-cold "$remote_status" "$local_status" "$close" "$all16" "$all16_local"
    speed_row "hosts cold: status --json, 8+8 agents on 2 ssh hosts" "status --json of 16 local agents" hosts-cold
    PATH="$HOSTS_PATH" "$FLEET" -f "$HOSTS_YAML" down --rm-worktrees --force >/dev/null
    hosts_stop
    "$FLEET" -f "$REPO/fleet-16.yaml" down --rm-worktrees --force >/dev/null
    unset TMPDIR
}

speed_main() {
    local n fs where places=()
    if [ "${SPEED_HOSTS:-1}" = 1 ]; then speed_hosts_rows; fi
    for fs in $SPEED_FS; do
        if speed_mount "$fs"; then where="$WORK/$fs"; else
            [ "$fs" = ext4 ] || continue
            where="$WORK"; fs=$(df -T "$WORK" | awk 'NR == 2 { print $2 }')" (this machine's disk)"
        fi
        say "$fs: a repository of $SPEED_FILES files and a node_modules of $SPEED_SEED (generating)"
        speed_setup_repo "$where/large" "$SPEED_FILES"
        places+=("$fs|$where")
    done
    # The first size everywhere, then the others on the first file system alone (the
    # second's point is seed:'s clone).
    local first=${SPEED_SIZES%% *} p i=0
    for n in $SPEED_SIZES; do
        for p in "${places[@]}"; do
            fs=${p%%|*} where=${p#*|}
            [ "$n" = "$first" ] || [ "$p" = "${places[0]}" ] || continue
            local copy="cp -a"
            [[ "$fs" != xfs* ]] || copy="cp -a --reflink=never"
            speed_rows_on "$where/large" "$n" "$fs, $SPEED_FILES files" "$copy"
        done
    done
}

speed_cleanup() {
    local m
    for m in "${SPEED_MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}

speed_table() {
    echo
    echo "medians of $SPEED_PAIRS interleaved pairs, milliseconds; CPU = user+sys of every process"
    echo
    echo "| row | floor (same run) | fleet wall | floor wall | wall ratio | fleet CPU | floor CPU | CPU ratio |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    local r what floor key fw bw fc bc
    for r in "${SPEED_ROWS[@]}"; do
        IFS='|' read -r what floor key <<< "$r"
        if [ -z "$key" ]; then echo "| $what | $floor | - | - | - | - | - | - |"; continue; fi
        fw=$(speed_median "$WORK/times/$key.fleet" 1); bw=$(speed_median "$WORK/times/$key.floor" 1)
        fc=$(speed_median "$WORK/times/$key.fleet" 2); bc=$(speed_median "$WORK/times/$key.floor" 2)
        awk -v w="$what" -v fl="$floor" -v fw="$fw" -v bw="$bw" -v fc="$fc" -v bc="$bc" 'BEGIN {
            printf "| %s | %s | %d | %d | %.2f | %d | %d | %.2f |\n", w, fl, fw, bw, (bw ? fw / bw : 0), fc, bc, (bc ? fc / bc : 0) }'
    done
    echo
    # seed:'s own cost: the seeded row less the plain one, for fleet and for the floor.
    for r in "${SPEED_ROWS[@]}"; do
        IFS='|' read -r what floor key <<< "$r"
        [[ "$key" == *-seed ]] || continue
        local plain=${key%-seed}-up
        awk -v w="${what%%: up*}" -v a="$(speed_median "$WORK/times/$key.fleet" 1)" -v b="$(speed_median "$WORK/times/$plain.fleet" 1)" \
            -v c="$(speed_median "$WORK/times/$key.floor" 1)" -v d="$(speed_median "$WORK/times/$plain.floor" 1)" -v fl="${floor##* + }" 'BEGIN {
            printf "%s: seed: itself (seeded row less plain row) %d ms; the floor'"'"'s %s %d ms (%.2f)\n", w, a - b, fl, c - d, ((c - d) > 0 ? (a - b) / (c - d) : 0) }'
    done
}
