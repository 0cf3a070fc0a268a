#!/usr/bin/env bash
# Stages the root filesystem tree that scripts/mkinitrd.py packs into the initrd.
#
# Usage: scripts/mkrootfs.sh <rootfs-dir> <user-bin-dir> <bench-binary> [<extra-dir>]
#   <rootfs-dir>    made afresh (its old contents are removed)
#   <user-bin-dir>  cargo's output dir for the user programs (init, utest, crash-*)
#   <bench-binary>  the bench program to install (debug or release build)
#   <extra-dir>     optional; copied over the top (ROOTFS_EXTRA), symlinks and modes kept
#
# Layout: /sbin/init, /bin/{ps,utest,hog-echo,bench,crash-*} (mode 0755), and the empty directories
# /dev (where devfs is mounted) and /tmp.
set -euo pipefail

if (($# < 3 || $# > 4)); then
    echo "usage: $0 <rootfs-dir> <user-bin-dir> <bench-binary> [<extra-dir>]" >&2
    exit 2
fi
rootfs=$1 bindir=$2 bench=$3 extra=${4:-}

# Guard the rm -rf below against an empty or root path.
if [[ -z $rootfs || $rootfs == / ]]; then
    echo "mkrootfs: refusing to use '$rootfs' as the rootfs directory" >&2
    exit 2
fi
rm -rf "$rootfs"
mkdir -p "$rootfs"/{sbin,bin,dev,tmp}
chmod 0755 "$rootfs" "$rootfs"/{sbin,bin,dev}
chmod 1777 "$rootfs/tmp"

install -m 0755 "$bindir/init" "$rootfs/sbin/init"
for prog in ps utest hog-echo crash-segv crash-ill crash-mach-trap crash-nosys crash-protect crash-stack \
    crash-oom; do
    install -m 0755 "$bindir/$prog" "$rootfs/bin/$prog"
done
install -m 0755 "$bench" "$rootfs/bin/bench"
# For the exec tests: a script run by an interpreter, and a file that is not a program.
printf '#!/bin/utest --print-args\n' >"$rootfs/bin/args.sh"
printf 'just some text\n' >"$rootfs/bin/not-elf"
chmod 0755 "$rootfs/bin/args.sh" "$rootfs/bin/not-elf"

if [[ -n $extra ]]; then
    if [[ ! -d $extra ]]; then
        echo "mkrootfs: ROOTFS_EXTRA=$extra is not a directory" >&2
        exit 2
    fi
    # "dir/." copies the contents, merging into existing directories.
    cp -a "$extra/." "$rootfs/"
fi
