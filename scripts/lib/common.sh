# shellcheck shell=bash
# scripts/lib/common.sh: helpers shared by the project's scripts.
#   logging ........ log, warn, die, header
#   root ........... as_root (runs a command as root: directly, or through sudo)
#   Debian ......... ensure_debian_packages GROUP... (groups of packaging/debian-packages.txt)
#   Rust ........... ensure_cargo, ensure_rust_components, ensure_nextest
#   CI ............. setup_ci_env (CI=true: target dir outside the clone, no colour, nextest profile "ci")
#   project ........ workspace_uses_tauri
# Source it from a bash script; it only defines functions and two variables.

# Load once, even when sourced by several libraries.
[[ -n ${_GATEPASS_COMMON_SH:-} ]] && return 0
_GATEPASS_COMMON_SH=1

# The repository's root folder (this file is scripts/lib/common.sh).
GATEPASS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The one list of Debian packages, grouped by purpose.
GATEPASS_PACKAGES_FILE="$GATEPASS_ROOT/packaging/debian-packages.txt"

# ---------------------------------------------------------------------------------------------
# Logging. Messages go to stderr, so that a script's stdout stays usable (scripts/postgres url).
# ---------------------------------------------------------------------------------------------
log() { printf -- '--- %s\n' "$*" >&2; }
warn() { printf -- 'WARNING: %s\n' "$*" >&2; }
die() {
    printf -- 'ERROR: %s\n' "$*" >&2
    exit 1
}
# A clear header for a step of a script, on stdout next to the step's own output.
header() { printf -- '\n======== %s ========\n' "$*"; }

# ---------------------------------------------------------------------------------------------
# Root.
# ---------------------------------------------------------------------------------------------
# True when this shell can run commands as root (it is root, or sudo is installed).
can_be_root() { [[ $EUID -eq 0 ]] || command -v sudo >/dev/null 2>&1; }

# Run a command as root: directly when root, else through sudo (which may ask for a password).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*': run this script as root, or install and set up sudo"
    fi
}

# ---------------------------------------------------------------------------------------------
# Debian packages.
# ---------------------------------------------------------------------------------------------
# Print the packages of one group of packaging/debian-packages.txt, one a line.
debian_packages_of_group() {
    local want=$1 group="" line
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}            # drop the comment
        line=${line//[[:space:]]/} # one package a line: drop all blanks
        [[ -z $line ]] && continue
        if [[ $line =~ ^\[(.+)\]$ ]]; then
            group=${BASH_REMATCH[1]}
        elif [[ $group == "$want" ]]; then
            printf '%s\n' "$line"
        fi
    done <"$GATEPASS_PACKAGES_FILE"
}

# True when a Debian package is installed (for any architecture).
debian_package_installed() {
    # shellcheck disable=SC2016 # ${db:Status-Status} is dpkg-query's format, not a shell expansion
    dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

# Install the missing packages of the given groups (e.g. ensure_debian_packages build tauri).
# Checks with dpkg-query first; runs 'apt-get update' at most once per run (also across the
# scripts it starts), and only when something is missing.
ensure_debian_packages() {
    local group pkg
    local -a wanted=() missing=() pkgs=()
    for group in "$@"; do
        mapfile -t pkgs < <(debian_packages_of_group "$group")
        ((${#pkgs[@]} > 0)) || die "no Debian package group [$group] in $GATEPASS_PACKAGES_FILE"
        wanted+=("${pkgs[@]}")
    done
    for pkg in "${wanted[@]}"; do
        debian_package_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        log "Debian packages ($*): all installed"
        return 0
    fi

    log "Debian packages ($*): missing ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found (not Debian?): install these packages yourself: ${missing[*]}"
    can_be_root ||
        die "missing Debian packages: ${missing[*]}. Run this script as root or with sudo, or have them installed: apt-get install ${missing[*]}"
    if [[ -z ${GATEPASS_APT_UPDATED:-} ]]; then
        as_root apt-get update || die "apt-get update failed"
        export GATEPASS_APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" ||
        die "apt-get install failed for: ${missing[*]}"
}

# ---------------------------------------------------------------------------------------------
# Rust tools (the machine has Rust stable from rustup; these fill what is missing).
# ---------------------------------------------------------------------------------------------
ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" # installed, but not on PATH yet
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust stable with rustup, then open a new shell"
}

# rustfmt and clippy, which scripts/test runs.
ensure_rust_components() {
    ensure_cargo
    if ! cargo fmt --version >/dev/null 2>&1; then
        log "installing the Rust component rustfmt"
        rustup component add rustfmt || die "could not install the Rust component rustfmt"
    fi
    if ! cargo clippy --version >/dev/null 2>&1; then
        log "installing the Rust component clippy"
        rustup component add clippy || die "could not install the Rust component clippy"
    fi
}

ensure_nextest() {
    ensure_cargo
    if ! cargo nextest --version >/dev/null 2>&1; then
        log "installing cargo-nextest from crates.io (takes a few minutes, once)"
        cargo install cargo-nextest --locked || die "could not install cargo-nextest"
    fi
}

# ---------------------------------------------------------------------------------------------
# CI. CI runs '.ci/run' in a fresh clone with CI=true.
# ---------------------------------------------------------------------------------------------
setup_ci_env() {
    [[ ${CI:-} == true || ${CI:-} == 1 ]] || return 0
    # Builds are reused between runs: the target folder lives outside the clone.
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CARGO_TARGET_CACHE:-${HOME:-/root}/.cache/gatepass/target}}"
    export CARGO_TERM_COLOR=never
    export NEXTEST_PROFILE="${NEXTEST_PROFILE:-ci}"
    log "CI: CARGO_TARGET_DIR=$CARGO_TARGET_DIR CARGO_TERM_COLOR=never NEXTEST_PROFILE=$NEXTEST_PROFILE"
}

# ---------------------------------------------------------------------------------------------
# Project.
# ---------------------------------------------------------------------------------------------
# True once a Cargo.toml of the repository depends on tauri (then the build needs WebKitGTK).
workspace_uses_tauri() {
    grep -rqsE --include=Cargo.toml \
        --exclude-dir=target --exclude-dir=node_modules --exclude-dir=.git --exclude-dir=.data \
        '^[[:space:]]*tauri([[:space:]]*=|\.)' "$GATEPASS_ROOT"
}

# ---------------------------------------------------------------------------------------------
# The kiosk front end.
# ---------------------------------------------------------------------------------------------
# ui/node_modules from ui/package-lock.json (npm ci), when missing or older than the lock file.
ensure_ui_deps() {
    command -v npm >/dev/null 2>&1 || die "npm not found: install Node 20 with npm"
    if [[ ! -d $GATEPASS_ROOT/ui/node_modules || $GATEPASS_ROOT/ui/package-lock.json -nt $GATEPASS_ROOT/ui/node_modules ]]; then
        log "npm ci in ui/"
        (cd "$GATEPASS_ROOT/ui" && npm ci --no-audit --no-fund) || die "npm ci failed in ui/"
    fi
}

# ui/dist, which the Tauri shell embeds at compile time (tauri::generate_context!): built
# before any cargo command compiles kiosk-app/shell.
ensure_ui_dist() {
    ensure_ui_deps
    log "building ui/dist"
    (cd "$GATEPASS_ROOT/ui" && npm run build --silent) || die "the ui build failed"
}

# ---------------------------------------------------------------------------------------------
# Ports and displays.
# ---------------------------------------------------------------------------------------------
# A free TCP port on loopback.
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# A free X display number.
free_display() {
    local n
    for n in $(seq 90 140); do
        [[ -e /tmp/.X$n-lock || -e /tmp/.X11-unix/X$n ]] || {
            echo "$n"
            return
        }
    done
    die "no free X display between :90 and :140"
}
