#!/usr/bin/env bash
# The test command of fleet: installs what the tests need (tmux, git) when it is
# missing, then runs rustfmt, clippy and the whole test suite.
# Works non-interactively (CI): never prompts, never reads stdin.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }

# install PKG... — with apt-get (Debian/Ubuntu) or brew (macOS).
apt_updated=0
install_pkgs() {
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=()
        if [ "$(id -u)" -ne 0 ]; then
            if command -v sudo >/dev/null 2>&1; then
                sudo=(sudo -n)
            else
                say "not root and no sudo: install $* yourself"; exit 1
            fi
        fi
        if [ "$apt_updated" -eq 0 ]; then
            ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
            apt_updated=1
        fi
        ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
    elif command -v brew >/dev/null 2>&1; then
        HOMEBREW_NO_AUTO_UPDATE=1 brew install "$@" >&2
    else
        say "neither apt-get nor brew found: install $* yourself"; exit 1
    fi
}

missing=()
for tool in tmux git; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing missing tools: ${missing[*]}"
    install_pkgs "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install Rust first (https://rustup.rs)"; exit 1
fi

say "using $(tmux -V), $(git --version), $(cargo --version)"

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
