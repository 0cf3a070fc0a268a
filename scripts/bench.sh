#!/usr/bin/env bash
# Boots the system once (as set up by `make bench`: init=/bin/bench under -icount, or by
# `make bench-smp`: init=/bin/bench-scaling on several CPUs) and prints the console lines that
# start with "bench:" as they come. Fails unless QEMU exits with 0.
#
# Usage: scripts/bench.sh <timeout-seconds> <log-file>
# The full console goes to <log-file>.
set -euo pipefail

if (($# != 2)); then
    echo "usage: $0 <timeout-seconds> <log-file>" >&2
    exit 2
fi
limit=$1 log=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$(dirname "$log")"

# --foreground keeps QEMU in our process group, so Ctrl-C at a terminal still reaches it;
# -k makes sure it is gone a few seconds after the limit even if it ignores SIGTERM.
# stdin is /dev/null: the benchmark needs no input and must never wait for any.
# The serial console ends lines with CR LF; drop the CRs before matching.
set +e
timeout --foreground -k 5 "$limit" "$root/scripts/qemu.sh" </dev/null 2>&1 |
    tee "$log" | tr -d '\r' | grep --line-buffered '^bench:'
statuses=("${PIPESTATUS[@]}")
set -e

status=${statuses[0]}
if ((status != 0)); then
    if ((status == 124)); then
        echo "bench: FAIL: no clean exit within ${limit}s (console in $log)" >&2
    else
        echo "bench: FAIL: QEMU exited with status $status (console in $log)" >&2
    fi
    tail -n 20 "$log" >&2
    exit 1
fi
if ((statuses[3] != 0)); then
    echo "bench: FAIL: no bench: lines on the console (see $log)" >&2
    exit 1
fi
