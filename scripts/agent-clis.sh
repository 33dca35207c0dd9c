# Sourced by scripts/test.sh: `ensure_agent_clis` installs the pinned agent CLIs the
# conformance tests run (from the npm registry and PyPI) into a cache, and exports
# FLEET_REAL_<CLI>=/path/to/program for each one that installed. One that cannot be
# installed is said so (the tests then print a skip line for it); nothing else fails.
# Versions are pinned: a CLI's output format is a fact of its version (tests/fixtures/real).
# shellcheck shell=bash

CLAUDE_VERSION=2.1.197
CODEX_VERSION=0.171.0
GEMINI_VERSION=0.61.0
AIDER_VERSION=0.86.2

agent_cli_cache() {
    printf '%s\n' "${FLEET_CLI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet-test/clis}"
}

# npm_cli VAR PACKAGE VERSION PROGRAM
npm_cli() {
    local var=$1 pkg=$2 version=$3 prog=$4 dir
    dir="$(agent_cli_cache)/$prog-$version"
    if [ ! -x "$dir/node_modules/.bin/$prog" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            say "conformance: $prog $version not installed (no npm); its tests will be skipped"
            return 0
        fi
        say "conformance: installing $pkg@$version into $dir"
        mkdir -p "$dir"
        if ! timeout 600 npm install --silent --no-audit --no-fund --prefix "$dir" "$pkg@$version" >&2; then
            say "conformance: $pkg@$version did not install; its tests will be skipped"
            return 0
        fi
    fi
    export "$var=$dir/node_modules/.bin/$prog"
}

pip_cli() {
    local dir
    dir="$(agent_cli_cache)/aider-$AIDER_VERSION"
    if [ ! -x "$dir/bin/aider" ]; then
        if ! command -v python3 >/dev/null 2>&1; then
            say "conformance: aider $AIDER_VERSION not installed (no python3); its tests will be skipped"
            return 0
        fi
        say "conformance: installing aider-chat==$AIDER_VERSION into $dir"
        if ! { python3 -m venv "$dir" && timeout 900 "$dir/bin/pip" install -q "aider-chat==$AIDER_VERSION"; } >&2; then
            rm -rf "$dir"
            say "conformance: aider-chat==$AIDER_VERSION did not install; its tests will be skipped"
            return 0
        fi
    fi
    export FLEET_REAL_AIDER="$dir/bin/aider"
}

ensure_agent_clis() {
    npm_cli FLEET_REAL_CLAUDE @anthropic-ai/claude-code "$CLAUDE_VERSION" claude
    npm_cli FLEET_REAL_CODEX @openai/codex "$CODEX_VERSION" codex
    npm_cli FLEET_REAL_GEMINI @google/gemini-cli "$GEMINI_VERSION" gemini
    pip_cli
}
