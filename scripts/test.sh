#!/usr/bin/env bash
# The test command of fleet: installs what the tests need when it is missing (tmux, git,
# bubblewrap for the sandbox,
# the pinned agent CLIs, sshd and the ssh tests' accounts), then runs rustfmt, clippy and
# the whole test suite.
# Works non-interactively (CI): never prompts, never reads stdin.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }

# shellcheck source=scripts/tools.sh
. scripts/tools.sh
ensure_tools tmux git bwrap

say "using $(tmux -V), $(git --version), $(cargo --version)"

# The real agent CLIs, pinned, for the conformance tests (tests/real_*.rs) against the
# scripted model server on 127.0.0.1; one that cannot be installed is skipped, visibly.
# shellcheck source=scripts/agent-clis.sh
. scripts/agent-clis.sh
ensure_agent_clis
for cli in CLAUDE CODEX GEMINI AIDER; do
    var="FLEET_REAL_$cli"
    if [ -n "${!var:-}" ]; then
        say "conformance: ${!var}"
    else
        say "conformance: SKIPPED for $(printf %s "$cli" | tr A-Z a-z): not installed"
    fi
done

# The ssh tests (tests/ssh_harness.rs, issue 17): sshd and two local accounts as "remote
# hosts" for a private sshd on 127.0.0.1; without root they are skipped, visibly.
# shellcheck source=scripts/ssh-hosts.sh
. scripts/ssh-hosts.sh
ensure_ssh_hosts

if cargo fmt --version >/dev/null 2>&1; then
    say "cargo fmt --all -- --check"
    cargo fmt --all -- --check
else
    say "warning: rustfmt is not installed (rustup component add rustfmt); skipping the format check"
fi

if cargo clippy --version >/dev/null 2>&1; then
    say "cargo clippy --all-targets -- -D warnings"
    cargo clippy --all-targets -- -D warnings
else
    say "warning: clippy is not installed (rustup component add clippy); skipping lints"
fi

say "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test 2>&1 | tee "$log"
# One closing line for the whole suite (the last `test result:` of cargo is the doc tests').
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
