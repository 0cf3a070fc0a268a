#!/usr/bin/env bash
# Stages the root filesystem tree that scripts/mkinitrd.py packs into the initrd.
#
# Usage: scripts/mkrootfs.sh <rootfs-dir> <user-bin-dir> <bench-binary> <c-bin-dir> [<extra-dir>]
#   <rootfs-dir>    made afresh (its old contents are removed)
#   <user-bin-dir>  cargo's output dir for the user programs (init, utest, crash-*)
#   <bench-binary>  the bench program to install (debug or release build)
#   <c-bin-dir>     the C test programs built by userland/c (hello-O0, hello-O2, ...)
#   <extra-dir>     optional; copied over the top (ROOTFS_EXTRA), symlinks and modes kept
#
# Layout: /sbin/init, /bin/{ps,utest,hog-echo,bench,crash-*}, the C programs in /bin/c/, damaged
# copies of one of them for the exec tests in /bin/mutants/ (scripts/mkmutants.py), all mode
# 0755, /private (mode 0700, with a program in it), and the empty directories /dev (where
# devfs is mounted) and /tmp.
#
# Programs are installed without debug info (they keep their symbol tables, for crash reports);
# the unstripped builds stay where they were built, for gdb. GNU objcopy does the stripping:
# llvm-objcopy refuses GNU ld's zero-fill segments whose p_offset lies past the end of the file.
set -euo pipefail

if (($# < 4 || $# > 5)); then
    echo "usage: $0 <rootfs-dir> <user-bin-dir> <bench-binary> <c-bin-dir> [<extra-dir>]" >&2
    exit 2
fi
rootfs=$1 bindir=$2 bench=$3 cbindir=$4 extra=${5:-}
objcopy=${CROSS_OBJCOPY:-aarch64-linux-gnu-objcopy}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# install_program <how> <src> <dst>: strip (--strip-debug or --strip-all) into place, 0755.
install_program() {
    "$objcopy" "$1" "$2" "$3"
    chmod 0755 "$3"
}

# Guard the rm -rf below against an empty or root path.
if [[ -z $rootfs || $rootfs == / ]]; then
    echo "mkrootfs: refusing to use '$rootfs' as the rootfs directory" >&2
    exit 2
fi
rm -rf "$rootfs"
mkdir -p "$rootfs"/{sbin,bin,bin/c,dev,tmp}
chmod 0755 "$rootfs" "$rootfs"/{sbin,bin,bin/c,dev}
chmod 1777 "$rootfs/tmp"

install_program --strip-debug "$bindir/init" "$rootfs/sbin/init"
for prog in ps utest hog-echo crash-segv crash-ill crash-mach-trap crash-nosys crash-protect crash-stack \
    crash-oom; do
    install_program --strip-debug "$bindir/$prog" "$rootfs/bin/$prog"
done
install_program --strip-debug "$bench" "$rootfs/bin/bench"
# The C programs; `true` (what the exec benchmarks run) is stripped of its symbols too.
for prog in "$cbindir"/*; do
    case $(basename "$prog") in
        true-*) install_program --strip-all "$prog" "$rootfs/bin/c/$(basename "$prog")" ;;
        *) install_program --strip-debug "$prog" "$rootfs/bin/c/$(basename "$prog")" ;;
    esac
done
"$here/mkmutants.py" "$rootfs/bin/c/hello-O2" "$rootfs/bin/mutants"
chmod 0755 "$rootfs/bin/mutants"
# A directory only its owner (root) may search, holding a program: exec's lookup must ask for
# search permission like open's.
mkdir -p "$rootfs/private"
install_program --strip-all "$cbindir/data-O2" "$rootfs/private/data"
chmod 0700 "$rootfs/private"
# For the set-id exec tests: the ids reporter, set-user-id root and set-group-id wheel.
install_program --strip-all "$cbindir/ids-O2" "$rootfs/bin/setuid-ids"
install_program --strip-all "$cbindir/ids-O2" "$rootfs/bin/setgid-ids"
chmod 4755 "$rootfs/bin/setuid-ids"
chmod 2755 "$rootfs/bin/setgid-ids"
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
