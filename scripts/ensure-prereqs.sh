#!/usr/bin/env bash
# Makes sure everything `make` needs is installed, installing what is missing:
#   - the Rust toolchain pinned in rust-toolchain.toml, with its targets and components;
#   - qemu-system-aarch64, gdb-multiarch, the GNU cross toolchain for the C test programs
#     (aarch64-linux-gnu-gcc, with its binutils: objcopy strips the root file system's
#     programs) — Debian/Ubuntu packages — and python3.
#
# Every make target that builds or runs calls this first, so the common case — everything
# present — must be fast: it only looks at local files (no rustup or apt network calls) and
# takes a few milliseconds.
#
# Usage: scripts/ensure-prereqs.sh [--check]
#   --check   report what is missing and exit 1 instead of installing it.
#
# We cannot rely on rustup installing the toolchain on first use: RUSTUP_AUTO_INSTALL may be
# 0 (then cargo just fails with "toolchain ... is not installed").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

check_only=0
case "${1:-}" in
    --check) check_only=1 ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

say() { echo "ensure-prereqs: $*" >&2; }

# --- What rust-toolchain.toml asks for -------------------------------------------------------

# Prints the string value of `key = "..."`, or the items of `key = ["a", "b"]`, one a line.
# rust-toolchain.toml is a flat [toolchain] table, so a line-based reading is enough.
toml_values() {
    sed -n -E "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" rust-toolchain.toml |
        tr -d '[]"' | tr ',' '\n' | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//; /^$/d'
}

channel=$(toml_values channel)
if [[ -z $channel ]]; then
    say "no channel in rust-toolchain.toml"
    exit 1
fi
mapfile -t targets < <(toml_values targets)
mapfile -t components < <(toml_values components)

# Where to find rustup: a fresh login shell may not have ~/.cargo/bin on PATH yet.
if ! command -v rustup >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/rustup ]]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

# Lists what is missing from the toolchain, one item a line ("toolchain", "target X",
# "component X"). Only local files are consulted.
missing_rust() {
    local cargo sysroot host t c probe
    if ! cargo=$(rustup which --toolchain "$channel" cargo 2>/dev/null); then
        echo "toolchain $channel"
        return
    fi
    sysroot=$(dirname "$(dirname "$cargo")")
    host=$("$sysroot/bin/rustc" -vV | sed -n 's/^host: //p')
    for t in "${targets[@]}"; do
        [[ -d $sysroot/lib/rustlib/$t/lib ]] || echo "target $t"
    done
    for c in "${components[@]}"; do
        # One file each component is known to install; a component we don't know is
        # assumed present (rustup itself ignores unknown ones when not auto-installing).
        case $c in
            rust-src) probe=lib/rustlib/src/rust/library/core/Cargo.toml ;;
            llvm-tools | llvm-tools-preview) probe=lib/rustlib/$host/bin/llvm-objcopy ;;
            clippy | clippy-preview) probe=bin/cargo-clippy ;;
            rustfmt | rustfmt-preview) probe=bin/rustfmt ;;
            *) continue ;;
        esac
        [[ -e $sysroot/$probe ]] || echo "component $c"
    done
}

# Runs a command as root: directly, or through sudo without prompting.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    else
        say "need root to run: $*"
        return 1
    fi
}

status=0

# --- Rust ------------------------------------------------------------------------------------

if ! command -v rustup >/dev/null 2>&1; then
    say "rustup is not installed; install it from https://rustup.rs and run make again"
    exit 1
fi

mapfile -t rust_missing < <(missing_rust)
if ((${#rust_missing[@]})); then
    say "missing: ${rust_missing[*]}"
    if ((check_only)); then
        status=1
    else
        # With no toolchain argument, rustup installs what rust-toolchain.toml names,
        # components and targets included. --no-self-update: see the toolchain notes §7.
        say "running: rustup toolchain install --no-self-update (in $root)"
        rustup toolchain install --no-self-update
        # An already-installed toolchain may not get new targets/components from the
        # command above on every rustup version, so add whatever is still missing.
        mapfile -t rust_missing < <(missing_rust)
        for item in "${rust_missing[@]}"; do
            case $item in
                target\ *) rustup target add --toolchain "$channel" "${item#target }" ;;
                component\ *) rustup component add --toolchain "$channel" "${item#component }" ;;
                *) say "still missing after install: $item"; exit 1 ;;
            esac
        done
    fi
fi

# --- Host tools ------------------------------------------------------------------------------

# command -> Debian package that provides it.
declare -A package_of=(
    [qemu-system-aarch64]=qemu-system-arm
    [gdb-multiarch]=gdb-multiarch
    [python3]=python3
    [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu
    [aarch64-linux-gnu-objcopy]=binutils-aarch64-linux-gnu
)
packages=()
for cmd in qemu-system-aarch64 gdb-multiarch python3 aarch64-linux-gnu-gcc aarch64-linux-gnu-objcopy; do
    command -v "$cmd" >/dev/null 2>&1 || packages+=("${package_of[$cmd]}")
done
if ((${#packages[@]})); then
    say "missing packages: ${packages[*]}"
    if ((check_only)); then
        status=1
    elif ! command -v apt-get >/dev/null 2>&1; then
        say "no apt-get here; install ${packages[*]} with your package manager"
        exit 1
    else
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update
        as_root apt-get install -y "${packages[@]}"
    fi
fi

exit "$status"
