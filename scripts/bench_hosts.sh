# Sourced by scripts/bench.sh: the "remote hosts" of the hosts row (issue 17), made as the
# tests make them (tests/common/sshd.rs): a private sshd on 127.0.0.1, key auth only, the
# accounts scripts/ssh-hosts.sh creates (fleet-remote-a, fleet-remote-b) as host-a and
# host-b, each with its own TMUX_TMPDIR and XDG_CACHE_HOME under the bench's temp dir.
# Nothing is installed or created outside $WORK/ssh; `hosts_stop` kills the sshd it started.
# shellcheck shell=bash

HOSTS_USERS=(fleet-remote-a fleet-remote-b)
HOSTS_SSHD_PID=
HOSTS_PATH=
HOSTS_YAML=

hosts_sshd() { command -v sshd || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; } || true; }

# Why the hosts row cannot run here (empty when it can): root, sshd and the accounts.
hosts_missing() {
    [ "$(id -u)" -eq 0 ] || { echo "not root (a private sshd logs into other accounts only as root)"; return; }
    [ -n "$(hosts_sshd)" ] || { echo "sshd not found (apt-get install openssh-server)"; return; }
    command -v ssh-keygen >/dev/null || { echo "ssh-keygen not found (openssh-client)"; return; }
    local u
    for u in "${HOSTS_USERS[@]}"; do
        id -u "$u" >/dev/null 2>&1 || { echo "account $u missing (scripts/test.sh creates it, as root)"; return; }
    done
}

# Starts the sshd; sets HOSTS_PATH (ssh wrappers first), HOSTS_FLEET (fleet as the accounts
# can run it) and HOSTS_DIR_a / HOSTS_DIR_b (a directory each account owns).
hosts_start() {
    local s="$WORK/ssh" u i port letter
    # The accounts must reach their directories and keys through here.
    chmod 755 "$WORK"
    mkdir -p "$s"/{server/keys,client,bin,shared,remote}
    chmod -R 755 "$s"
    ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$s/server/host_key"
    ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$s/client/id"
    cp "$FLEET" "$s/shared/fleet"
    chmod 755 "$s/shared/fleet"
    HOSTS_FLEET="$s/shared/fleet"
    for ((port = 20000 + RANDOM % 30000; ; port++)); do
        (: < "/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    cat > "$s/server/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $s/server/host_key
PidFile $s/server/sshd.pid
AuthorizedKeysFile $s/server/keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers ${HOSTS_USERS[*]}
UsePAM no
StrictModes no
AcceptEnv TMUX_TMPDIR XDG_CACHE_HOME
PrintMotd no
MaxStartups 100
EOF
    printf '[127.0.0.1]:%s %s\n' "$port" "$(cat "$s/server/host_key.pub")" > "$s/client/known_hosts"
    : > "$s/client/config"
    for i in "${!HOSTS_USERS[@]}"; do
        u=${HOSTS_USERS[$i]}
        letter=$(printf "\\x$(printf %x $((97 + i)))")
        cp "$s/client/id.pub" "$s/server/keys/$u"
        mkdir -p "$s/remote/$u"
        chown "$u:" "$s/remote/$u"
        printf -v "HOSTS_DIR_$letter" '%s' "$s/remote/$u"
        printf 'Host host-%s\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  SetEnv TMUX_TMPDIR=%s XDG_CACHE_HOME=%s/cache\n' \
            "$letter" "$port" "$u" "$s/remote/$u" "$s/remote/$u" >> "$s/client/config"
    done
    printf 'Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n' \
        "$s/client/id" "$s/client/known_hosts" >> "$s/client/config"
    printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$s/client/config" > "$s/bin/ssh"
    chmod 755 "$s/bin/ssh"
    mkdir -p /run/sshd
    "$(hosts_sshd)" -D -e -f "$s/server/sshd_config" 2> "$s/server/sshd.log" &
    HOSTS_SSHD_PID=$!
    HOSTS_PATH="$s/bin:$PATH"
    for ((i = 0; i < 100; i++)); do
        PATH=$HOSTS_PATH ssh host-a true 2>/dev/null && return 0
        sleep 0.1
    done
    say "the bench sshd does not answer: $(tail -n 3 "$s/server/sshd.log")"
    return 1
}

hosts_stop() {
    [ -z "$HOSTS_SSHD_PID" ] || kill "$HOSTS_SSHD_PID" 2>/dev/null || true
    HOSTS_SSHD_PID=
}

# The manifest of N agents split over host-a and host-b (`sleep 300` each).
hosts_manifest() { # N FILE
    local n=$1 i
    {
        printf 'project: bench-hosts\ncommand: sleep 300\nhosts:\n'
        printf '  host-a: {ssh: host-a, dir: %s/repo, fleet: %s}\n' "$HOSTS_DIR_a" "$HOSTS_FLEET"
        printf '  host-b: {ssh: host-b, dir: %s/repo, fleet: %s}\n' "$HOSTS_DIR_b" "$HOSTS_FLEET"
        printf 'agents:\n'
        for ((i = 1; i <= n; i++)); do
            printf '  - name: r%d\n    prompt: sleep\n    host: host-%s\n' "$i" "$([ $((i % 2)) = 1 ] && echo a || echo b)"
        done
    } > "$2"
}
