#!/usr/bin/env python3
"""Packs a directory tree into a cpio "newc" archive: the initrd the kernel mounts as its root.

Usage: scripts/mkinitrd.py <root-dir> <output.cpio>

The format is cpio(5)'s "New ASCII Format" (magic 070701), the one Linux initramfs and our
`bsd::fs::ramfs` read: per entry a 110-byte header of thirteen 8-digit hex fields, the NUL
terminated name padded to a multiple of 4, then the data padded to a multiple of 4. The
archive ends with an entry named TRAILER!!!.

The output is deterministic, so the same tree always gives the same bytes: entries sorted
by name, the root directory "." first, all times 0, owner and group 0 (root), inode numbers
counting up from 1 in that order. Names are relative to the root and have no leading "./".
Directories, regular files and symlinks are supported; anything else is an error. Hard links
are stored as separate files.
"""

import os
import stat
import sys

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


def header(*, ino, mode, nlink, filesize, namesize):
    """The 110-byte newc header: magic, then 13 fields of 8 hex digits."""
    fields = (
        ino,
        mode,
        0,  # uid
        0,  # gid
        nlink,
        0,  # mtime
        filesize,
        0,  # devmajor
        0,  # devminor
        0,  # rdevmajor
        0,  # rdevminor
        namesize,
        0,  # check (only used by the "070702" crc variant)
    )
    return MAGIC + b"".join(b"%08X" % f for f in fields)


def pad4(n):
    """Bytes of NUL padding that bring an offset of n up to a multiple of 4."""
    return b"\0" * (-n % 4)


class Writer:
    def __init__(self, out):
        self.out = out
        self.offset = 0
        self.next_ino = 1

    def write(self, data):
        self.out.write(data)
        self.offset += len(data)

    def entry(self, name, mode, data=b"", nlink=1):
        encoded = name.encode("utf-8") + b"\0"
        ino = 0
        if name != TRAILER:
            ino = self.next_ino
            self.next_ino += 1
        self.write(header(ino=ino, mode=mode, nlink=nlink, filesize=len(data), namesize=len(encoded)))
        self.write(encoded)
        self.write(pad4(self.offset))
        self.write(data)
        self.write(pad4(self.offset))


def collect(root):
    """All paths under root, relative to it, sorted bytewise; "." (the root) first."""
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        # os.walk lists symlinks to directories under dirnames but (rightly) does not
        # descend into them; they are entries like any other.
        for n in dirnames + filenames:
            names.append(os.path.relpath(os.path.join(dirpath, n), root))
    # Sorting the encoded bytes keeps the order independent of the locale. A parent always
    # sorts before its children, as its name is a prefix of theirs.
    names.sort(key=os.fsencode)
    return ["."] + names


def pack(root, out):
    w = Writer(out)
    for name in collect(root):
        path = os.path.join(root, name)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # The kernel's cpio reader only takes UTF-8 names.
            sys.exit(f"mkinitrd: {path!r}: name is not UTF-8")
        st = os.lstat(path)
        # Keep the type and permission bits (including setuid/sticky); drop nothing else.
        mode = stat.S_IFMT(st.st_mode) | stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            # By convention a directory's link count is 2 plus its number of subdirectories.
            subdirs = sum(
                1 for e in os.scandir(path) if e.is_dir(follow_symlinks=False)
            )
            w.entry(name, mode, nlink=2 + subdirs)
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                w.entry(name, mode, f.read())
        elif stat.S_ISLNK(st.st_mode):
            # A symlink's data is its target, without a terminating NUL.
            w.entry(name, mode, os.fsencode(os.readlink(path)))
        else:
            sys.exit(f"mkinitrd: {path}: not a directory, regular file or symlink")
    w.entry(TRAILER, 0, nlink=1)
    return w.offset


def main(argv):
    if len(argv) != 3:
        sys.exit(f"usage: {argv[0]} <root-dir> <output.cpio>")
    root, output = argv[1], argv[2]
    if not os.path.isdir(root):
        sys.exit(f"mkinitrd: {root}: not a directory")
    # Write to a temporary file and rename, so a failed run never leaves a truncated
    # archive where QEMU would pick it up.
    tmp = output + ".tmp"
    try:
        with open(tmp, "wb") as out:
            size = pack(root, out)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"mkinitrd: {output}: {size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
