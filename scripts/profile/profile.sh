#!/usr/bin/env bash
# Per-function instruction profile of one `make bench` measurement (`make profile`).
#
# Usage: scripts/profile/profile.sh <window> <iterations> [<top>]
#   <window>      which measure() call of /bin/bench to profile, from 0 in the order bench
#                 measures (see userland/bench/src/main.rs)
#   <iterations>  that measurement's iteration count, to print instructions per operation
# Runs the same kernel (KERNEL_IMAGE, symbols from KERNEL_ELF) and root file system as
# `make bench` (build them first), under
# -icount shift=0,sleep=off with the insn_profile plugin, and prints the top kernel
# functions. Raw counts stay in build/profile/counts.txt.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
window=${1:?usage: $0 <window> <iterations> [<top>]}
iterations=${2:?usage: $0 <window> <iterations> [<top>]}
top=${3:-40}
mkdir -p build/profile
cc -O2 -shared -fPIC -Wall -Wextra -o build/profile/insn_profile.so scripts/profile/insn_profile.c
BOOTARGS="init=/bin/bench" \
    QEMU_ARGS="-icount shift=0,sleep=off -plugin build/profile/insn_profile.so,out=build/profile/counts.txt,window=$window" \
    timeout -k 5 600 scripts/qemu.sh </dev/null >build/profile/console.log 2>&1
scripts/profile/symbolize.py build/profile/counts.txt "${KERNEL_ELF:-target/aarch64-unknown-none-softfloat/debug/kernel}" "$iterations" "$top"
