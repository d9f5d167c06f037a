# Shared set-up for scripts/main.sh and scripts/test.sh: installs what is missing, nothing else.
# Sourced, not run.

log() { printf '==> %s\n' "$*" >&2; }

# Debian packages every crate needs. Each crate that needs system packages lists them, one per
# line, in its own `apt-packages.txt`; comments start with '#'.
ensure_apt_packages() {
    local wanted=() missing=() p
    for f in */apt-packages.txt; do
        [ -f "$f" ] || continue
        while read -r p; do
            p=${p%%#*}; p=${p// /}
            [ -n "$p" ] && wanted+=("$p")
        done <"$f"
    done
    [ ${#wanted[@]} -gt 0 ] || return 0
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_toolchain() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            log "installing the Rust toolchain (rustup, from Debian)"
            ensure_pkg rustup
            rustup default stable
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
}

ensure_pkg() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}
