# Sourced by scripts/test.sh: `ensure_ssh_hosts` prepares what the ssh tests
# (tests/ssh_harness.rs, tests/common/sshd.rs) stand on: sshd and ssh installed, and two
# local accounts playing the "remote hosts" a private sshd on 127.0.0.1 logs into.
# When ready it exports FLEET_TEST_SSHD (the sshd program) and FLEET_TEST_SSH_USERS
# (comma-separated accounts); when it cannot (not root), it says why and the ssh tests
# print a SKIP line for themselves. Idempotent; never prompts.
# shellcheck shell=bash

FLEET_SSH_USERS=(fleet-remote-a fleet-remote-b)

sshd_program() {
    command -v sshd 2>/dev/null || { [ -x /usr/sbin/sshd ] && printf '%s\n' /usr/sbin/sshd; }
}

# ensure_ssh_user NAME: a login account with a home, bash, a git identity and an unlocked
# (but unusable) password field: with `UsePAM no`, sshd refuses a locked account ("!" in
# /etc/shadow, useradd's default) even for key logins; "*" matches no password.
ensure_ssh_user() {
    local user=$1 home
    if ! id -u "$user" >/dev/null 2>&1; then
        say "ssh: creating account $user (a 'remote host' for the ssh tests)"
        useradd --create-home --user-group --shell /bin/bash "$user"
    fi
    usermod --password '*' --shell /bin/bash "$user"
    home=$(getent passwd "$user" | cut -d: -f6)
    if [ ! -d "$home" ]; then
        mkdir -p "$home"
        chown "$user:" "$home"
        chmod 0750 "$home"
    fi
    if [ ! -f "$home/.gitconfig" ]; then
        printf '[user]\n\tname = %s\n\temail = %s@fleet-test.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n' \
            "$user" "$user" >"$home/.gitconfig"
        chown "$user:" "$home/.gitconfig"
    fi
}

ensure_ssh_hosts() {
    if [ "$(id -u)" -ne 0 ]; then
        say "ssh: SKIPPED: not root: cannot create the accounts ${FLEET_SSH_USERS[*]} nor run an sshd that logs into them; the ssh tests will be skipped"
        return 0
    fi
    local missing=()
    sshd_program >/dev/null || missing+=(openssh-server)
    command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
    command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
    command -v useradd >/dev/null 2>&1 || missing+=(passwd)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "ssh: installing missing packages: ${missing[*]}"
        # shellcheck disable=SC2046 # unique words
        install_pkgs $(printf '%s\n' "${missing[@]}" | sort -u)
    fi
    local sshd
    sshd=$(sshd_program) || { say "ssh: SKIPPED: sshd not found after installing openssh-server"; return 0; }
    # sshd's privilege-separation directory (Debian's service file makes it; we run sshd by hand).
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
    local user
    for user in "${FLEET_SSH_USERS[@]}"; do
        ensure_ssh_user "$user"
    done
    export FLEET_TEST_SSHD="$sshd"
    FLEET_TEST_SSH_USERS=$(IFS=,; printf '%s' "${FLEET_SSH_USERS[*]}")
    export FLEET_TEST_SSH_USERS
    say "ssh: $("$sshd" -V 2>&1 | head -n1 || true); remote accounts $FLEET_TEST_SSH_USERS"
}
