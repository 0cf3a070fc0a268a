#!/usr/bin/env bash
# Boots the kernel Image with the initrd on QEMU's `virt` board. `make run`, `make debug`,
# `make bench` and the tests all start QEMU through here, so there is one command line.
#
# Usage: scripts/qemu.sh [extra QEMU arguments...]
# Environment (all optional):
#   KERNEL_IMAGE  raw arm64 Image to boot             (default build/Image)
#   INITRD        cpio archive for the root fs         (default build/initrd.cpio)
#   BOOTARGS      kernel command line (/chosen/bootargs in the DTB)
#   CPU           -cpu model                           (default cortex-a72)
#   MACHINE_OPTS  appended to "-M virt", e.g. ",gic-version=3" or ",virtualization=on"
#   SMP           how many CPUs (-smp)                 (default 4)
#   QEMU_ARGS     more QEMU arguments, split on whitespace
#   QEMU          the QEMU binary                      (default qemu-system-aarch64)
#
# The kernel goes in as a raw Image, not the ELF: only then does QEMU take its Linux boot
# path, which loads the initrd and writes linux,initrd-start/-end and bootargs into the DTB's
# /chosen node (and passes the DTB in x0).
#
# Exit status is QEMU's: 0 after PSCI SYSTEM_OFF, the semihosting exit code otherwise
# (101 for a kernel panic, the failure count for ktest).
#
# QEMU is exec'd, so whoever runs this script owns QEMU's pid (timeouts can kill it). With
# -nographic the serial console is on stdin/stdout: interactive when stdin is a terminal
# (Ctrl-A X quits), scriptable when it is a pipe.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

kernel=${KERNEL_IMAGE:-$root/build/Image}
initrd=${INITRD:-$root/build/initrd.cpio}
cpu=${CPU:-cortex-a72}

for f in "$kernel" "$initrd"; do
    if [[ ! -f $f ]]; then
        echo "qemu.sh: $f does not exist (run make first)" >&2
        exit 2
    fi
done

args=(
    -M "virt${MACHINE_OPTS:-}"
    -cpu "$cpu"
    -smp "${SMP:-4}"
    -m 512M
    -nographic
    -nic none        # else virt adds a virtio NIC that wants an iPXE ROM we may not have
    -semihosting     # the kernel exits with a status code through semihosting
    -kernel "$kernel"
    -initrd "$initrd"
    -append "${BOOTARGS:-}"
)
# QEMU_ARGS is a plain string of options, split on whitespace (no globbing, no quotes).
read -r -a extra <<<"${QEMU_ARGS:-}"
args+=("${extra[@]}" "$@")

qemu=${QEMU:-qemu-system-aarch64}
echo "+ $qemu ${args[*]}" >&2
exec "$qemu" "${args[@]}"
