#!/usr/bin/env python3
"""Writes damaged copies of a static ELF executable for the guest exec test (utest's
`exec_mutants`): each must be refused with ENOEXEC, or run, or crash — never hurt the kernel.

Usage: scripts/mkmutants.py <program> <out-dir>

<out-dir>/index lists one mutant a line, "<file> <expectation>":
  ENOEXEC  posix_spawn must fail with ENOEXEC
  exit0    it must load and exit with status 0 (damage the ELF specification allows)
  any      anything but harm to the kernel: ENOEXEC, an exit, or death by a signal
The input must be a GNU ld static executable with a text PT_LOAD first and a zero-fill
(p_filesz 0) data PT_LOAD second, as userland/c builds hello. Random flips use fixed seeds, so
the set is the same every build.
"""

import os
import random
import struct
import sys

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_INTERP, PT_GNU_STACK = 1, 3, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
ET_DYN, EM_X86_64 = 3, 62
# The top of the user stack (bsd/src/kern/kern_exec.rs USRSTACK64).
USRSTACK64 = 0x1_7000_0000


class Image:
    def __init__(self, data):
        self.data = bytearray(data)
        f = list(EHDR.unpack_from(self.data, 0))
        self.ehdr = f
        self.phoff, self.phnum = f[5], f[10]

    def phdr(self, i):
        return list(PHDR.unpack_from(self.data, self.phoff + i * PHDR.size))

    def set_phdr(self, i, fields):
        PHDR.pack_into(self.data, self.phoff + i * PHDR.size, *fields)

    def set_ehdr(self, **changes):
        names = ["ident", "type", "machine", "version", "entry", "phoff", "shoff", "flags",
                 "ehsize", "phentsize", "phnum", "shentsize", "shnum", "shstrndx"]
        for k, v in changes.items():
            self.ehdr[names.index(k)] = v
        EHDR.pack_into(self.data, 0, *self.ehdr)

    def loads(self):
        return [i for i in range(self.phnum) if self.phdr(i)[0] == PT_LOAD]

    def find(self, p_type):
        return next(i for i in range(self.phnum) if self.phdr(i)[0] == p_type)


def mutants(original):
    """(name, expectation, bytes) for every mutant."""
    base = Image(original)
    text, data = base.loads()[:2]
    if base.phdr(data)[5] != 0:
        raise SystemExit("mkmutants: the second PT_LOAD must be zero-fill (p_filesz 0)")
    size = len(original)

    def change(fn):
        img = Image(original)
        fn(img)
        return bytes(img.data)

    def phdr_field(index, field, value):
        def fn(img):
            p = img.phdr(index)
            p[field] = value
            img.set_phdr(index, p)
        return fn

    # Field numbers in PHDR: type flags offset vaddr paddr filesz memsz align.
    out = [
        ("phnum-huge", "ENOEXEC", change(lambda i: i.set_ehdr(phnum=0xFFF0))),
        ("phoff-past-eof", "ENOEXEC", change(lambda i: i.set_ehdr(phoff=size + 8))),
        ("phentsize", "ENOEXEC", change(lambda i: i.set_ehdr(phentsize=32))),
        ("not-aarch64", "ENOEXEC", change(lambda i: i.set_ehdr(machine=EM_X86_64))),
        ("dynamic", "ENOEXEC", change(lambda i: i.set_ehdr(type=ET_DYN))),
        ("entry-in-data", "ENOEXEC", change(lambda i: i.set_ehdr(entry=base.phdr(data)[3]))),
        ("text-below-4g", "ENOEXEC", change(phdr_field(text, 3, 0x10000))),
        ("text-rwx", "ENOEXEC", change(phdr_field(text, 1, PF_R | PF_W | PF_X))),
        ("filesz-past-eof", "ENOEXEC", change(lambda i: (phdr_field(text, 5, size + 0x1000)(i),
                                                        phdr_field(text, 6, size + 0x1000)(i)))),
        ("memsz-wraps", "ENOEXEC", change(phdr_field(data, 6, (1 << 64) - 0x1000))),
        ("data-over-text", "ENOEXEC", change(phdr_field(data, 3, base.phdr(text)[3] + 0x100))),
        ("interp", "ENOEXEC", change(phdr_field(base.find(PT_GNU_STACK), 0, PT_INTERP))),
        ("truncated", "ENOEXEC", bytes(original[:100])),
        # Memory reaching into the stack (and its guard) below USRSTACK64 cannot be loaded.
        ("bss-into-stack", "ENOEXEC", change(phdr_field(data, 6, USRSTACK64 - base.phdr(data)[3]))),
        # A zero-fill segment's offset names no file bytes: any value is valid ELF.
        ("bss-offset-far", "exit0", change(phdr_field(data, 2, 0xFF_FFFF_F000 + base.phdr(data)[3] % 4096))),
    ]
    # Random damage to the headers the loader reads: whatever happens is fine, but it must
    # happen to the program, not the kernel.
    headers = base.phoff + base.phnum * PHDR.size
    for seed in range(8):
        rng = random.Random(seed)
        img = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            img[rng.randrange(headers)] ^= 1 << rng.randrange(8)
        out.append((f"flip-{seed}", "any", bytes(img)))
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, outdir = sys.argv[1:]
    with open(src, "rb") as f:
        original = f.read()
    os.makedirs(outdir, exist_ok=True)
    index = []
    for name, expect, data in mutants(original):
        path = os.path.join(outdir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o755)
        index.append(f"{name} {expect}\n")
    with open(os.path.join(outdir, "index"), "w") as f:
        f.writelines(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
