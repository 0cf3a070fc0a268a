#!/usr/bin/env python3
"""Sums an insn_profile.c result per function and prints the top ones.

Usage: scripts/profile/symbolize.py <counts> <kernel-elf> [<iterations>] [<top>]
Kernel addresses are named from the kernel ELF's symbols (llvm-nm from the toolchain's
llvm-tools); user addresses are summed as one "[user]" line (every program is linked at the
same place, so one ELF's symbols would misname another's). With <iterations>, counts are
divided by it: instructions per operation, as `make bench` prints them.
"""

import bisect
import os
import subprocess
import sys


def llvm_nm():
    sysroot = subprocess.check_output(["rustc", "--print", "sysroot"], text=True).strip()
    host = next(l.split()[1] for l in subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
                if l.startswith("host:"))
    return os.path.join(sysroot, "lib", "rustlib", host, "bin", "llvm-nm")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    counts_path, elf = sys.argv[1], sys.argv[2]
    iterations = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    syms = []
    for line in subprocess.check_output([llvm_nm(), "-n", "--demangle", "--defined-only", elf], text=True).splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    addrs = [a for a, _ in syms]
    totals = {}
    grand = 0
    with open(counts_path) as f:
        for line in f:
            addr, n = line.split()
            addr, n = int(addr, 16), int(n)
            grand += n
            if addr < 1 << 63:
                name = "[user]"
            else:
                i = bisect.bisect_right(addrs, addr) - 1
                name = syms[i][1] if i >= 0 else "[kernel, no symbol]"
            totals[name] = totals.get(name, 0) + n
    print(f"{grand / iterations:12.1f}  total")
    for name, n in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{n / iterations:12.1f}  {name[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
