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
#            files, 20,000 by default, sized like real ones) against the floor plus `cp -a
#            node_modules` into each worktree, 4 at a time; on this machine's file system
#            (ext4 here) and, when mkfs.xfs and a loop mount work (root), on an XFS image
#            (reflink=1) made by the bench, where the floor's copy is `cp -a --reflink=never`
#            (a plain copy);
#   seed:    (SPEED_SEED_ROWS=0 skips them) seed:'s own cost, on a repository of 300 files:
#            `fleet up` of SPEED_SEED_N (4) agents with `seed: [node_modules]` (SPEED_SEED
#            files) and with `seed: [target]` (a cargo target/ of SPEED_TARGET_MB, 512)
#            against `fleet up` without, timed alone, then `cp -a --reflink=never` (a plain
#            copy) into each worktree 4 at a time, and `cp -a --reflink=always` (cp's clone)
#            beside; on loop-mounted ext4, XFS (reflink=1) and btrfs images, each made,
#            used and deleted in turn (SPEED_SEED_FS names them). On btrfs a plain tree is
#            seeded through fleet's seed base (.fleet/seed/): rows "base made" (each run's
#            up makes it) and "base current" (kept from an earlier up, as while the fleet
#            has worktrees); then again with each tree a subvolume of the user's (seed:
#            snapshots it; SPEED_SEED_SUBVOLUMES=0 skips those); SPEED_UP=0 skips the up rows,
#            SPEED_HOSTS=0 the hosts;
#   hosts    `fleet status --json` of 16 agents on 2 ssh hosts (bench_hosts.sh) warm (the
#            kept ssh masters alive) and cold (masters closed before each run) against 16
#            local agents.
# shellcheck shell=bash

SPEED_PAIRS=${SPEED_PAIRS:-7}
SPEED_FILES=${SPEED_FILES:-50000}
SPEED_SEED=${SPEED_SEED:-20000}
SPEED_TARGET_MB=${SPEED_TARGET_MB:-512}
SPEED_SEED_N=${SPEED_SEED_N:-4}
SPEED_SEED_KEYS=()
SPEED_SIZES=${SPEED_SIZES:-"4 16"}
# The file systems of the large rows (ext4 and xfs images; ext4 falls back to this
# machine's disk), and whether the seed: rows run (SPEED_SEED_ROWS=0: the up rows alone;
# SPEED_UP=0: no up rows).
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

# A node_modules of $2 files shaped like real ones (npm's own bundled tree measures a median
# of 2 KB, a mean of 6 KB, 4 files a directory; an application's adds source maps, type
# files, MB-size bundles and native binaries): about 600 packages of 1-400 files (Pareto)
# in nested lib/ and dist/ directories, a package.json, README and LICENSE each, .js sizes
# log-normal (median 2 KB, 90th percentile 14 KB), a .map beside each .js in 30% of the
# packages and a .d.ts in 40%, a 1-9 MB bundle in one package of 60, a 1-8 MB .node addon
# in one of 250, one 9 MB platform binary, a .bin of symlinks. At 20,000 files: 200 MB,
# mean 10 KB, median 1.5 KB, 3,200 directories.
speed_make_node_modules() { # DIR FILES
    python3 - "$1" "$2" <<'EOF'
import os, random, sys, math
root, n = sys.argv[1], int(sys.argv[2])
random.seed(11)
os.makedirs(os.path.join(root, ".bin"), exist_ok=True)
LINE = b"  exports.fn = function (a, b) { return a + b; }; // generated\n"
def put(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write((LINE * (size // len(LINE) + 1))[:size])
def lognorm(median, p90):
    return int(random.lognormvariate(math.log(median), math.log(p90 / median) / 1.2816))
made, pkg = 0, 0
while made < n:
    name = "pkg%d" % pkg
    if pkg % 7 == 3:
        name = "@scope%d/pkg%d" % (pkg % 50, pkg)
    p = os.path.join(root, name)
    # metadata every package has
    put(os.path.join(p, "package.json"), lognorm(1200, 3500)); made += 1
    if random.random() < 0.7:
        put(os.path.join(p, "README.md"), lognorm(4000, 20000)); made += 1
    if random.random() < 0.8:
        put(os.path.join(p, "LICENSE"), random.randint(1000, 1200)); made += 1
    # sources: most packages small, a long tail of big ones (files per package)
    files = min(int(random.paretovariate(1.3) * 5), 400)
    maps = random.random() < 0.3
    types = random.random() < 0.4
    subdirs = ["lib", "lib/utils"] if files < 12 else ["lib", "lib/utils", "dist", "dist/esm", "dist/cjs", "src", "lib/internal", "dist/esm/internal"]
    for i in range(files):
        if made >= n:
            break
        d = os.path.join(p, subdirs[i % len(subdirs)])
        size = min(lognorm(2000, 14000), 2 << 20)
        put(os.path.join(d, "m%d.js" % i), size); made += 1
        if maps and made < n:
            put(os.path.join(d, "m%d.js.map" % i), int(size * 1.4)); made += 1
        if types and made < n:
            put(os.path.join(d, "m%d.d.ts" % i), lognorm(600, 4000)); made += 1
    # the long tail in bytes: bundles of MBs, native addons, a platform binary
    if pkg % 60 == 7 and made < n:
        put(os.path.join(p, "dist", "bundle.js"), random.randint(1 << 20, 9 << 20)); made += 1
    if pkg % 250 == 19 and made < n:
        put(os.path.join(p, "build", "Release", "addon.node"), random.randint(1 << 20, 8 << 20)); made += 1
    if pkg == 30 and made < n:
        put(os.path.join(p, "bin", "esbuild"), 9 << 20); made += 1
    if pkg % 10 == 0:
        os.symlink("../%s/lib/m0.js" % name, os.path.join(root, ".bin", "pkg%d" % pkg))
    pkg += 1
EOF
}

# A cargo target/ of about $2 MB shaped like a real one (this project's own: 2,200 files,
# 680 MB, half of them under 4 KB, the bytes in .rlib/.rmeta of 100 KB-40 MB): per crate a
# .fingerprint directory of 4 small files, an .rlib (log-normal, median 250 KB, 90th
# percentile 5 MB), its .rmeta and .d; a build script's binary and output in one crate of 8,
# a proc-macro .so in one of 25; the project's binary (60 MB) and incremental directory
# (object files of 40-300 KB, a dep graph and query cache). At 512: ~1,100 files, 540 MB.
speed_make_target() { # DIR MB
    python3 - "$1" "$2" <<'EOF'
import os, random, sys, math
root, mb = sys.argv[1], int(sys.argv[2])
random.seed(13)
BLOCK = bytes(random.getrandbits(8) for _ in range(65536))
def put(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        while size > 0:
            f.write(BLOCK[: min(size, len(BLOCK))])
            size -= len(BLOCK)
def lognorm(median, p90):
    return int(random.lognormvariate(math.log(median), math.log(p90 / median) / 1.2816))
d = os.path.join(root, "debug")
total, c = 0, 0
while total < (mb << 20) * 3 // 4:
    h = "%016x" % random.getrandbits(64)
    name = "crate%d" % c
    fp = os.path.join(d, ".fingerprint", "%s-%s" % (name, h))
    put(os.path.join(fp, "lib-" + name), 16)
    put(os.path.join(fp, "lib-%s.json" % name), lognorm(700, 1500))
    put(os.path.join(fp, "dep-lib-" + name), lognorm(300, 3000))
    put(os.path.join(fp, "invoked.timestamp"), 48)
    rlib = min(lognorm(250 << 10, 5 << 20), 40 << 20)
    put(os.path.join(d, "deps", "lib%s-%s.rlib" % (name, h)), rlib)
    put(os.path.join(d, "deps", "lib%s-%s.rmeta" % (name, h)), int(rlib * 0.6))
    put(os.path.join(d, "deps", "%s-%s.d" % (name, h)), lognorm(1500, 8000))
    total += int(rlib * 1.6)
    if c % 8 == 3:  # a build script: its binary, its run's output
        b = os.path.join(d, "build", "%s-%016x" % (name, random.getrandbits(64)))
        size = lognorm(4 << 20, 9 << 20)
        put(os.path.join(b, "build-script-build"), size)
        put(os.path.join(b, "build_script_build-%016x" % random.getrandbits(64)), size)
        put(os.path.join(b, "build_script_build-%016x.d" % random.getrandbits(64)), 800)
        r = os.path.join(d, "build", "%s-%016x" % (name, random.getrandbits(64)))
        for f, s in (("output", 300), ("root-output", 80), ("stderr", 0), ("invoked.timestamp", 48)):
            put(os.path.join(r, f), s)
        os.makedirs(os.path.join(r, "out"), exist_ok=True)
        total += 2 * size
    if c % 25 == 11:  # a proc-macro
        size = lognorm(6 << 20, 15 << 20)
        put(os.path.join(d, "deps", "lib%s_derive-%s.so" % (name, h)), size)
        total += size
    c += 1
# the project's own crate: its binary and incremental state (many object files)
put(os.path.join(d, "app"), 60 << 20)
inc = os.path.join(d, "incremental", "app-%016x" % random.getrandbits(64), "s-h3k2-%016x" % random.getrandbits(64))
for i in range(int(mb / 2)):
    put(os.path.join(inc, "%02x" % (i % 256), "cgu%d.o" % i), lognorm(40 << 10, 300 << 10))
put(os.path.join(inc, "dep-graph.bin"), 8 << 20)
put(os.path.join(inc, "query-cache.bin"), 20 << 20)
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

# The seed rows' repository at $1: a few hundred tracked files (so `up` itself is small
# beside the copies), a committed package-lock.json and Cargo.lock, an ignored
# node_modules of SPEED_SEED files and target/ of SPEED_TARGET_MB; manifests of
# SPEED_SEED_N agents plain and with `seed: [node_modules]` or `seed: [target]`.
speed_setup_seed_repo() { # DIR
    local repo=$1 v
    git init -q -b main "$repo"
    speed_make_repo "$repo" 300
    printf 'node_modules/\ntarget/\n' > "$repo/.gitignore"
    printf '{"lockfileVersion": 3}\n' > "$repo/package-lock.json"
    printf '# generated\nversion = 4\n' > "$repo/Cargo.lock"
    printf 'Sleep; this is a benchmark.\n' > "$repo/task.md"
    git -C "$repo" add -A
    git -C "$repo" config gc.auto 0
    git -C "$repo" commit -q -m "generated repository of 300 files"
    speed_make_node_modules "$repo/node_modules" "$SPEED_SEED"
    speed_make_target "$repo/target" "$SPEED_TARGET_MB"
    for v in plain node_modules target; do
        {
            printf 'project: seed\ncommand: sleep 300\nmonitor: {enabled: false}\n'
            printf 'worktree_dir: %s\n' "$repo.wt"
            [ "$v" = plain ] || printf 'seed: [%s]\n' "$v"
            printf 'agents:\n'
            for ((i = 1; i <= SPEED_SEED_N; i++)); do printf '  - name: a%d\n    task: task.md\n' "$i"; done
        } > "$repo/seed-$v.yaml"
    done
}

# PAIRS interleaved pairs for `seed: [$3]` on the repository $1: fleet's run is `fleet up`
# with the seed; the floor's is `fleet up` without it (timed alone: .base), then a plain
# copy into every worktree, 4 at a time (`cp -a --reflink=never`: .copy), then cp's own
# clone of it beside (`cp -a --reflink=auto`: .cpclone, on file systems that share blocks:
# what the kernel allows any tool). After every run each worktree's copy is checked to
# hold every file and symlink of the checkout's.
# (With COPIED, the key of a row whose floor made the same copies, the floor here is the
# plain `up` alone, and the table takes the copies' times from that row.)
# (With WARM, on btrfs: the seed base in .fleet/seed/ is made once before the pairs and
# kept by every reset, as an `up` finds it while the fleet has worktrees: fleet's run
# brings it up to date, finds nothing changed, and snapshots it. Without, each reset
# removes .fleet/ and fleet's run makes the base anew.)
speed_seed_pairs() { # DIR LABEL TREE [COPIED] [WARM]
    local repo=$1 label=$2 tree=$3 copied=${4:-} warm=${5:-} r v want
    local wt="$repo.wt" key="seed-${2//[^a-z0-9]/_}-$3" names
    names=$(seq -f 'a%g' 1 "$SPEED_SEED_N" | tr '\n' ' ')
    want=$(find "$repo/$tree" | wc -l)
    local keep="" restore=""
    if [ -n "$warm" ]; then
        keep="mv '$repo/.fleet/seed' '$repo.seed' 2>/dev/null;"
        restore="; if [ -d '$repo.seed' ]; then mkdir -p '$repo/.fleet' && mv '$repo.seed' '$repo/.fleet/seed'; fi"
    fi
    local reset="$keep tmux list-sessions -F '#S' 2>/dev/null | grep -v '^keepalive\$' | xargs -r -n1 -I{} tmux kill-session -t ={}; \
        '$FLEET' -f '$repo/seed-plain.yaml' down --rm-worktrees --force; \
        rm -rf '$wt' '$repo/.fleet'; git -C '$repo' worktree prune; \
        git -C '$repo' for-each-ref --format='%(refname:short)' refs/heads/fleet | xargs -r git -C '$repo' branch -q -D $restore; sync"
    if [ -n "$warm" ]; then
        bash -c "$reset" >/dev/null 2>&1
        "$FLEET" -f "$repo/seed-$tree.yaml" -q up >/dev/null 2>&1 || { say "$key: the base's first up failed"; exit 1; }
        [ -d "$repo/.fleet/seed/$tree" ] || { say "$key: no seed base after the first up"; exit 1; }
    fi
    local check="for a in $names; do [ \$(find '$wt/'\$a/$tree | wc -l) = $want ] || exit 1; done"
    local each="printf '%s\n' $names | xargs -P 4 -I{}"
    for k in fleet floor base copy cpclone; do : > "$WORK/times/$key.$k"; done
    say "$label: up + seed: [$tree] against up + a plain copy, $SPEED_PAIRS pairs"
    for ((r = 0; r < SPEED_PAIRS; r++)); do
        local order=(fleet floor)
        [ $((r % 2)) = 0 ] || order=(floor fleet)
        for v in "${order[@]}"; do
            bash -c "$reset" >/dev/null 2>&1 || { say "reset failed"; exit 1; }
            if [ "$v" = fleet ]; then
                speed_time "$WORK/times/$key.fleet" "'$FLEET' -f '$repo/seed-$tree.yaml' -q up"
                bash -c "$check" || { say "$key: fleet's run did not seed every worktree"; exit 1; }
            else
                speed_time "$WORK/times/$key.base" "'$FLEET' -f '$repo/seed-plain.yaml' -q up"
                if [ -n "$copied" ]; then
                    tail -n 1 "$WORK/times/$key.base" >> "$WORK/times/$key.floor"
                    continue
                fi
                speed_time "$WORK/times/$key.copy" "$each cp -a --reflink=never '$repo/$tree' '$wt/{}/$tree'"
                bash -c "$check" || { say "$key: the plain copy did not copy everything"; exit 1; }
                if [ "$label" != ext4 ]; then
                    speed_time "$WORK/times/$key.cpclone" "$each cp -a --reflink=always '$repo/$tree' '$wt/{}/$tree.clone'"
                fi
                paste -d' ' "$WORK/times/$key.base" "$WORK/times/$key.copy" | tail -1 |
                    awk '{ print $1 + $3, $2 + $4 }' >> "$WORK/times/$key.floor"
            fi
        done
    done
    bash -c "$reset" >/dev/null 2>&1 || true
    [ -z "$warm" ] || rm -rf "$repo/.fleet" "$repo.seed"
    SPEED_SEED_KEYS+=("$label|$tree|$key|${copied:-$key}")
}

speed_seed_rows() {
    local fs repo t
    SPEED_SEED_KEYS=()
    for fs in ${SPEED_SEED_FS:-ext4 xfs btrfs}; do
        speed_mount "$fs" "seed-$fs" || continue
        repo="$WORK/seed-$fs/repo"
        say "$fs: node_modules of $SPEED_SEED files and target/ of $SPEED_TARGET_MB MB (generating)"
        speed_setup_seed_repo "$repo"
        # On btrfs a plain directory is seeded through fleet's seed base (a subvolume in
        # .fleet/seed/): made by the first up, then current.
        local label=$fs
        [ "$fs" != btrfs ] || label="btrfs, base made"
        for t in ${SPEED_SEED_TREES:-node_modules target}; do
            speed_seed_pairs "$repo" "$label" "$t"
        done
        if [ "$fs" = btrfs ]; then
            for t in ${SPEED_SEED_TREES:-node_modules target}; do
                speed_seed_pairs "$repo" "btrfs, base current" "$t" "seed-btrfs__base_made-$t" warm
            done
        fi
        if [ "$fs" = btrfs ] && [ "${SPEED_SEED_SUBVOLUMES:-1}" = 1 ] && command -v btrfs >/dev/null; then
            # The same trees made subvolumes (as a user would with `btrfs subvolume create`
            # before the first install): seed: snapshots them.
            for t in node_modules target; do
                mv "$repo/$t" "$repo/$t.dir"
                btrfs subvolume create "$repo/$t" >/dev/null
                cp -a --reflink=always "$repo/$t.dir/." "$repo/$t/"
                rm -rf "$repo/$t.dir"
            done
            # (the floor's copies are those of the rows above: the same trees)
            speed_seed_pairs "$repo" "btrfs, a subvolume" node_modules seed-btrfs__base_made-node_modules
            speed_seed_pairs "$repo" "btrfs, a subvolume" target seed-btrfs__base_made-target
        fi
        speed_unmount "seed-$fs"
    done
}

# seed:'s rows: its own cost (the seeded up less the plain up) beside the plain copy's and
# cp's clone's, wall and CPU.
speed_seed_table() {
    [ "${#SPEED_SEED_KEYS[@]}" -gt 0 ] || return 0
    echo
    echo "seed: of N=$SPEED_SEED_N worktrees; medians of $SPEED_PAIRS interleaved pairs, ms; seed: = (up with seed:) - (up without); copy = cp -a --reflink=never into each, 4 at a time; clone = cp -a --reflink=always the same way"
    echo
    echo "| file system | tree | up + seed: wall | up wall | seed: wall | copy wall | seed: / copy (wall) | seed: CPU | copy CPU | seed: / copy (CPU) | cp clone wall | cp clone CPU |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local r fs tree key copied
    for r in "${SPEED_SEED_KEYS[@]}"; do
        IFS='|' read -r fs tree key copied <<< "$r"
        m() {
            local k=$key
            [[ "$1" != copy && "$1" != cpclone ]] || k=$copied
            if [ -s "$WORK/times/$k.$1" ]; then speed_median "$WORK/times/$k.$1" "$2"; else echo -1; fi
        }
        awk -v fs="$fs" -v t="$tree" -v fw="$(m fleet 1)" -v bw="$(m base 1)" -v cw="$(m copy 1)" \
            -v fc="$(m fleet 2)" -v bc="$(m base 2)" -v cc="$(m copy 2)" -v kw="$(m cpclone 1)" -v kc="$(m cpclone 2)" 'BEGIN {
            sw = fw - bw; sc = fc - bc
            printf "| %s | %s | %d | %d | %d | %d | %.2f | %d | %d | %.2f | %s | %s |\n", fs, t, fw, bw, sw, cw, (cw > 0 ? sw / cw : 0), sc, cc, (cc > 0 ? sc / cc : 0), (kw < 0 ? "-" : kw), (kc < 0 ? "-" : kc) }'
    done
}

# A file system image of type $1 loop-mounted at $WORK/$1 (sparse, in memory as the page
# cache holds it): the rows then measure the work of fleet and the floor, not this
# machine's disk (its root ext4, mounted with `discard`, takes milliseconds a file
# creation, and swings). Nothing (the reason on stderr) when it cannot be made.
# (NAME: the image's and mount's name in $WORK, the type by default. The seed: rows' images,
# named, are mounted with `discard`, so that removed copies give their space back to this
# machine's disk.)
speed_mount() { # TYPE [NAME]
    local fs=$1 at=${2:-$1}
    [ "$(id -u)" -eq 0 ] || { say "$fs rows skipped: not root"; return 1; }
    command -v "mkfs.$fs" >/dev/null || { say "$fs rows skipped: mkfs.$fs missing (apt-get install xfsprogs / btrfs-progs / e2fsprogs)"; return 1; }
    truncate -s 12G "$WORK/$at.img"
    case "$fs" in
        xfs) mkfs.xfs -q -m reflink=1 "$WORK/$at.img" >/dev/null 2>&1 ;;
        btrfs) mkfs.btrfs -q "$WORK/$at.img" >/dev/null 2>&1 ;;
        ext4) mkfs.ext4 -q -F -N 3000000 "$WORK/$at.img" >/dev/null 2>&1 ;;
    esac || { say "$fs rows skipped: mkfs.$fs failed"; return 1; }
    mkdir -p "$WORK/$at"
    mount -o "loop${2:+,discard}" "$WORK/$at.img" "$WORK/$at" 2>/dev/null || { say "$fs rows skipped: cannot loop-mount"; return 1; }
    SPEED_MOUNTS+=("$WORK/$at")
}

# The image NAME unmounted and deleted (the disk is small).
speed_unmount() { # NAME
    umount "$WORK/$1" 2>/dev/null || umount -l "$WORK/$1" 2>/dev/null || true
    rm -f "$WORK/$1.img"
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
    if [ "$SPEED_SEED_ROWS" = 1 ]; then speed_seed_rows; fi
    [ "${SPEED_UP:-1}" = 1 ] || return 0
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
    speed_seed_table
    [ "${#SPEED_ROWS[@]}" -gt 0 ] || return 0
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
