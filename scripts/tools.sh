# Sourced by scripts/test.sh and scripts/demo.sh: `ensure_tools TOOL...` installs the
# tools that are missing (apt-get on Debian/Ubuntu, brew on macOS), saying so through the
# caller's `say`. Never prompts. `bwrap` (the sandbox) comes in the package `bubblewrap`,
# on Linux only.
# shellcheck shell=bash

install_pkgs() {
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 || { say "not root and no sudo: install $* yourself"; exit 1; }
            sudo=(sudo -n)
        fi
        ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
    elif command -v brew >/dev/null 2>&1; then
        HOMEBREW_NO_AUTO_UPDATE=1 brew install "$@" >&2
    else
        say "neither apt-get nor brew found: install $* yourself"; exit 1
    fi
}

ensure_tools() {
    local missing=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 && continue
        case "$tool" in
            bwrap) [ "$(uname -s)" = Linux ] && missing+=(bubblewrap) ;;
            *) missing+=("$tool") ;;
        esac
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing missing tools: ${missing[*]}"
        install_pkgs "${missing[@]}"
    fi
    command -v cargo >/dev/null 2>&1 || { say "cargo not found: install Rust first (https://rustup.rs)"; exit 1; }
}
