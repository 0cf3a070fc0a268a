//! Filling a ramfs from a cpio "newc" archive — the initrd the boot loader hands us.
//!
//! `cpio_reader` parses the entries. It stops quietly both at the trailer and at the first
//! damaged header, and it also accepts the old cpio formats, so we keep our own count of
//! where each entry starts: every entry must carry the newc magic, and the walk must end on
//! a `TRAILER!!!` entry. Anything else — a bad header, a truncated archive, an odd name — is
//! `EINVAL`, never a panic. Bytes after the trailer are ignored. Names must be UTF-8, a
//! limit of `cpio_reader`.
//!
//! Device nodes, FIFOs and sockets in the archive are skipped: devfs provides `/dev`.

use alloc::collections::BTreeMap;

use cpio_reader::Entry;
use sys::Errno;

use super::{RAMFS_DEFAULT_DIR_PERM, RAMFS_NODE_GROWTH_MAX, RamQuota, ramfs_new_root_with};
use crate::vfs::vnode::{VType, VnodeRef};
use crate::vfs::{ALLPERMS, MAXPATHLEN, NAME_MAX};

/// Size of a newc header: the 6-byte magic and thirteen 8-digit hex fields
/// (see cpio(5), "New ASCII Format").
const NEWC_HEADER_LEN: usize = 110;
/// Where the name-size field sits in a newc header.
const NEWC_NAMESIZE_AT: usize = 94;
/// The newc magic.
const NEWC_MAGIC: &[u8] = b"070701";
/// The magic of newc with a data checksum ("crc"), otherwise the same layout.
const NEWC_CRC_MAGIC: &[u8] = b"070702";
/// The name of the entry that ends an archive.
const TRAILER: &[u8] = b"TRAILER!!!";

/// Builds a new ramfs from a cpio "newc" archive and returns its root.
///
/// Parent directories are made as needed (with [`RAMFS_DEFAULT_DIR_PERM`] until the
/// archive's own entry for them, which may come before or after their contents, sets their
/// mode). `.` is the root itself. A symlink's data is its target. Regular files that share
/// an inode number and have a link count above one are hard links; in newc only the last of them carries the data. A name
/// that climbs with `..`, passes through a non-directory, or appears twice is `EINVAL`.
/// Once loaded, the files (data and metadata) may grow by `allowance` bytes in all, and
/// the file system by [`RAMFS_NODE_GROWTH_MAX`] nodes (then ENOSPC).
pub fn ramfs_from_cpio(archive: &[u8], allowance: usize) -> Result<VnodeRef, Errno> {
    let quota = RamQuota::unlimited();
    let root = ramfs_new_root_with(quota.clone())?;
    let mut links: BTreeMap<(u32, u32, u32), VnodeRef> = BTreeMap::new();
    let mut at = 0usize;
    for entry in cpio_reader::iter_files(archive) {
        if !is_newc_header(archive, at) {
            return Err(Errno::EINVAL);
        }
        at = at
            .checked_add(align4(NEWC_HEADER_LEN + entry.name().len() + 1))
            .and_then(|at| at.checked_add(align4(entry.file().len())))
            .ok_or(Errno::EINVAL)?;
        add_entry(&root, &entry, &mut links)?;
    }
    if !is_trailer(archive, at) {
        return Err(Errno::EINVAL);
    }
    quota.cap_growth(allowance);
    quota.cap_node_growth(RAMFS_NODE_GROWTH_MAX);
    Ok(root)
}

/// Enters one archive member into the tree under `root`.
fn add_entry(
    root: &VnodeRef,
    entry: &Entry<'_>,
    links: &mut BTreeMap<(u32, u32, u32), VnodeRef>,
) -> Result<(), Errno> {
    let name = entry.name().as_bytes();
    if name.is_empty() {
        return Err(Errno::EINVAL);
    }
    let mut parts = name.split(|&b| b == b'/').filter(|p| !p.is_empty() && *p != b".");
    let Some(mut last) = parts.next() else {
        // The archive's entry for the root itself (".").
        return set_dir_mode(root, entry);
    };
    let mut dir = root.clone();
    for next in parts {
        dir = dir_for_entry(&dir, last)?;
        last = next;
    }
    if last == b".." || last.len() > NAME_MAX || last.contains(&0) {
        return Err(Errno::EINVAL);
    }

    // `Mode` covers exactly the 16 bits of `st_mode`, so this never truncates.
    let mode = entry.mode().bits() as u16;
    let perm = mode & ALLPERMS;
    let data = entry.file();
    match VType::from_mode(mode) {
        VType::VDIR => match dir.lookup(last) {
            Ok(existing) => set_dir_mode(&existing, entry),
            Err(Errno::ENOENT) => {
                let made = dir.mkdir(last, perm).map_err(|_| Errno::EINVAL)?;
                made.set_owner(entry.uid(), entry.gid());
                Ok(())
            }
            Err(_) => Err(Errno::EINVAL),
        },
        VType::VREG => {
            let key = (entry.devmajor().unwrap_or(0), entry.devminor().unwrap_or(0), entry.ino());
            let file = match links.get(&key) {
                Some(first) if entry.nlink() > 1 => {
                    dir.link(last, first).map_err(|_| Errno::EINVAL)?;
                    first.clone()
                }
                _ => {
                    let file = dir.create(last, perm).map_err(|_| Errno::EINVAL)?;
                    file.set_owner(entry.uid(), entry.gid());
                    if entry.nlink() > 1 {
                        links.insert(key, file.clone());
                    }
                    file
                }
            };
            if !data.is_empty() {
                file.write_at(0, data)?;
            }
            Ok(())
        }
        VType::VLNK => {
            if data.len() >= MAXPATHLEN {
                return Err(Errno::EINVAL);
            }
            let link = dir.symlink(last, perm, data).map_err(|_| Errno::EINVAL)?;
            link.set_owner(entry.uid(), entry.gid());
            Ok(())
        }
        VType::VBLK | VType::VCHR | VType::VFIFO | VType::VSOCK => Ok(()),
        VType::VNON => Err(Errno::EINVAL),
    }
}

/// The directory `name` inside `dir`, made if missing. A path in the archive never climbs
/// out with `..` and never passes through anything but a directory.
fn dir_for_entry(dir: &VnodeRef, name: &[u8]) -> Result<VnodeRef, Errno> {
    if name == b".." || name.len() > NAME_MAX || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    match dir.lookup(name) {
        Ok(vp) if vp.vtype() == VType::VDIR => Ok(vp),
        Err(Errno::ENOENT) => dir.mkdir(name, RAMFS_DEFAULT_DIR_PERM),
        _ => Err(Errno::EINVAL),
    }
}

/// Applies a directory entry's mode and owner to the directory `vp` already standing at its path.
fn set_dir_mode(vp: &VnodeRef, entry: &Entry<'_>) -> Result<(), Errno> {
    let mode = entry.mode().bits() as u16;
    if VType::from_mode(mode) != VType::VDIR || vp.vtype() != VType::VDIR {
        return Err(Errno::EINVAL);
    }
    vp.chmod(mode & ALLPERMS);
    vp.set_owner(entry.uid(), entry.gid());
    Ok(())
}

fn align4(n: usize) -> usize {
    n.next_multiple_of(4)
}

fn is_newc_header(archive: &[u8], at: usize) -> bool {
    matches!(archive.get(at..at + NEWC_MAGIC.len()), Some(m) if m == NEWC_MAGIC || m == NEWC_CRC_MAGIC)
}

/// Whether a newc header naming `TRAILER!!!` starts at `at`.
fn is_trailer(archive: &[u8], at: usize) -> bool {
    let namesize_field = archive.get(at + NEWC_NAMESIZE_AT..at + NEWC_NAMESIZE_AT + 8);
    let name = archive.get(at + NEWC_HEADER_LEN..at + NEWC_HEADER_LEN + TRAILER.len() + 1);
    is_newc_header(archive, at)
        // Writers differ in the case of their hex digits.
        && namesize_field.is_some_and(|f| f.eq_ignore_ascii_case(b"0000000b"))
        && name.is_some_and(|n| n.starts_with(TRAILER) && n.ends_with(&[0]))
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use std::format;

    use super::*;
    use crate::vfs::vfs_lookup::{VfsContext, namei};
    use crate::vfs::vnode::KauthCred;
    use crate::vfs::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};

    /// A test-only newc writer: one entry per call, `finish` appends the trailer.
    #[derive(Default)]
    struct Newc {
        out: Vec<u8>,
        next_ino: u32,
        /// The uid and gid the next entries carry.
        owner: (u32, u32),
    }

    impl Newc {
        fn entry_ino(&mut self, name: &str, mode: u32, data: &[u8], ino: u32, nlink: u32) {
            let fields = [ino, mode, self.owner.0, self.owner.1, nlink, 0, data.len() as u32, 0, 0, 0, 0];
            self.out.extend_from_slice(NEWC_MAGIC);
            for f in fields {
                self.out.extend_from_slice(format!("{f:08X}").as_bytes());
            }
            self.out.extend_from_slice(format!("{:08X}", name.len() + 1).as_bytes());
            self.out.extend_from_slice(b"00000000");
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(0);
            self.pad();
            self.out.extend_from_slice(data);
            self.pad();
        }

        fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
            self.next_ino += 1;
            let ino = self.next_ino;
            self.entry_ino(name, mode, data, ino, 1);
        }

        fn pad(&mut self) {
            self.out.resize(self.out.len().next_multiple_of(4), 0);
        }

        fn finish(mut self) -> Vec<u8> {
            self.entry_ino("TRAILER!!!", 0, &[], 0, 1);
            // Archivers pad to a block; that tail must be ignored.
            self.out.resize(self.out.len().next_multiple_of(512), 0);
            self.out
        }
    }

    const DIR: u32 = S_IFDIR as u32;
    const REG: u32 = S_IFREG as u32;
    const LNK: u32 = S_IFLNK as u32;

    fn walk(root: &VnodeRef, path: &str) -> VnodeRef {
        namei(&VfsContext::new(KauthCred::ROOT, root.clone(), root.clone()), path.as_bytes(), false).unwrap()
    }

    #[test]
    fn a_typical_initrd() {
        let mut a = Newc::default();
        a.entry(".", DIR | 0o700, &[]);
        a.entry("sbin", DIR | 0o755, &[]);
        a.entry("sbin/init", REG | 0o555, b"\x7fELF...");
        a.entry("bin/sh", REG | 0o755, b"shell");
        a.entry("etc/motd", REG | 0o644, b"hi\n");
        a.entry("etc", DIR | 0o750, &[]);
        a.entry("bin/ls", LNK | 0o777, b"sh");
        a.entry("init", LNK | 0o777, b"/sbin/init");
        let root = ramfs_from_cpio(&a.finish(), usize::MAX).unwrap();

        assert_eq!(root.mode(), S_IFDIR | 0o700);
        assert_eq!(walk(&root, "/sbin/init").read_to_vec().unwrap(), b"\x7fELF...");
        assert_eq!(walk(&root, "/sbin/init").mode(), S_IFREG | 0o555);
        assert_eq!(walk(&root, "/bin").mode(), S_IFDIR | RAMFS_DEFAULT_DIR_PERM);
        // Mode from an entry that comes after the directory's contents.
        assert_eq!(walk(&root, "/etc").mode(), S_IFDIR | 0o750);
        let ls = walk(&root, "/bin/ls");
        assert_eq!(ls.mode(), S_IFLNK | 0o777);
        assert_eq!(ls.readlink().unwrap(), b"sh");
        let sh =
            namei(&VfsContext::new(KauthCred::ROOT, root.clone(), root.clone()), b"/bin/ls", true).unwrap();
        assert_eq!(sh.read_to_vec().unwrap(), b"shell");
        let init =
            namei(&VfsContext::new(KauthCred::ROOT, root.clone(), root.clone()), b"/init", true).unwrap();
        assert!(Arc::ptr_eq(&init, &walk(&root, "/sbin/init")));
    }

    #[test]
    fn owners_come_from_the_archive() {
        let mut a = Newc::default();
        a.entry("root-owned", REG | 0o644, b"x");
        a.owner = (501, 20);
        a.entry("home", DIR | 0o700, &[]);
        a.entry("home/f", REG | 0o600, b"y");
        a.entry("home/l", LNK | 0o777, b"f");
        a.entry(".", DIR | 0o755, &[]);
        let root = ramfs_from_cpio(&a.finish(), usize::MAX).unwrap();
        let owner = |p: &str| {
            let vp = walk(&root, p);
            (vp.uid(), vp.gid())
        };
        assert_eq!(owner("/root-owned"), (0, 0));
        assert_eq!(owner("/home"), (501, 20));
        assert_eq!(owner("/home/f"), (501, 20));
        assert_eq!(owner("/home/l"), (501, 20));
        assert_eq!((root.uid(), root.gid()), (501, 20), "the entry for `.` gives the root its owner");
    }

    #[test]
    fn leading_dot_slash_and_slashes_are_accepted() {
        let mut a = Newc::default();
        a.entry("./a//b/./c", REG | 0o644, b"x");
        a.entry("/d", DIR | 0o711, &[]);
        let root = ramfs_from_cpio(&a.finish(), usize::MAX).unwrap();
        assert_eq!(walk(&root, "/a/b/c").read_to_vec().unwrap(), b"x");
        assert_eq!(walk(&root, "/d").mode(), S_IFDIR | 0o711);
    }

    #[test]
    fn empty_archive_is_just_a_root() {
        let root = ramfs_from_cpio(&Newc::default().finish(), usize::MAX).unwrap();
        assert!(root.readdir().unwrap().is_empty());
    }

    #[test]
    fn device_nodes_are_skipped() {
        let mut a = Newc::default();
        a.entry("dev/console", S_IFCHR as u32 | 0o600, &[]);
        let root = ramfs_from_cpio(&a.finish(), usize::MAX).unwrap();
        assert!(walk(&root, "/dev").readdir().unwrap().is_empty());
    }

    #[test]
    fn hard_links_share_data_carried_by_the_last() {
        let mut a = Newc::default();
        a.entry_ino("bin/a", REG | 0o755, &[], 42, 2);
        a.entry_ino("bin/b", REG | 0o755, b"data", 42, 2);
        let root = ramfs_from_cpio(&a.finish(), usize::MAX).unwrap();
        let first = walk(&root, "/bin/a");
        assert!(Arc::ptr_eq(&first, &walk(&root, "/bin/b")));
        assert_eq!(first.read_to_vec().unwrap(), b"data");
    }

    #[test]
    fn same_inode_without_links_is_two_files() {
        let mut a = Newc::default();
        a.entry_ino("a", REG | 0o644, b"1", 7, 1);
        a.entry_ino("b", REG | 0o644, b"2", 7, 1);
        let root = ramfs_from_cpio(&a.finish(), usize::MAX).unwrap();
        assert_eq!(walk(&root, "/a").read_to_vec().unwrap(), b"1");
        assert_eq!(walk(&root, "/b").read_to_vec().unwrap(), b"2");
    }

    fn rejects(build: impl FnOnce(&mut Newc)) {
        let mut a = Newc::default();
        build(&mut a);
        assert_eq!(ramfs_from_cpio(&a.finish(), usize::MAX).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn bad_names_and_types_are_einval() {
        rejects(|a| a.entry("../escape", REG | 0o644, b""));
        rejects(|a| a.entry("a/../b", REG | 0o644, b""));
        rejects(|a| a.entry("", REG | 0o644, b""));
        rejects(|a| a.entry("x", 0o644, b""));
        rejects(|a| a.entry(".", REG | 0o644, b""));
        rejects(|a| a.entry(&"n".repeat(NAME_MAX + 1), REG | 0o644, b""));
        rejects(|a| a.entry(&format!("{}/f", "n".repeat(NAME_MAX + 1)), REG | 0o644, b""));
        rejects(|a| a.entry("a\0b", REG | 0o644, b""));
        rejects(|a| {
            a.entry("f", REG | 0o644, b"");
            a.entry("f", REG | 0o644, b"");
        });
        rejects(|a| {
            a.entry("f", REG | 0o644, b"");
            a.entry("f/g", REG | 0o644, b"");
        });
        rejects(|a| {
            a.entry("f", REG | 0o644, b"");
            a.entry("f", DIR | 0o755, b"");
        });
        rejects(|a| {
            a.entry("l", LNK | 0o777, b"d");
            a.entry("l/g", REG | 0o644, b"");
        });
        rejects(|a| a.entry("l", LNK | 0o777, b""));
        rejects(|a| a.entry("l", LNK | 0o777, b"a\0b"));
        rejects(|a| a.entry("l", LNK | 0o777, &[b'a'; MAXPATHLEN]));
    }

    fn sample() -> Vec<u8> {
        let mut a = Newc::default();
        a.entry("sbin/init", REG | 0o555, b"0123456789");
        a.entry("etc/motd", REG | 0o644, b"hello");
        a.finish()
    }

    #[test]
    fn damaged_archives_are_einval() {
        let good = sample();
        assert!(ramfs_from_cpio(&good, usize::MAX).is_ok());
        assert_eq!(ramfs_from_cpio(&[], usize::MAX).unwrap_err(), Errno::EINVAL);
        assert_eq!(ramfs_from_cpio(b"not an archive", usize::MAX).unwrap_err(), Errno::EINVAL);

        // No trailer.
        let mut a = Newc::default();
        a.entry("f", REG | 0o644, b"x");
        assert_eq!(ramfs_from_cpio(&a.out, usize::MAX).unwrap_err(), Errno::EINVAL);

        // A bad hex digit in the second header.
        let second = good.windows(6).skip(1).position(|w| w == NEWC_MAGIC).unwrap() + 1;
        let mut bad = good.clone();
        bad[second + 6] = b'Z';
        assert_eq!(ramfs_from_cpio(&bad, usize::MAX).unwrap_err(), Errno::EINVAL);

        // A file size running past the end.
        let mut bad = good.clone();
        bad[54..62].copy_from_slice(b"7FFFFFFF");
        assert_eq!(ramfs_from_cpio(&bad, usize::MAX).unwrap_err(), Errno::EINVAL);

        // The old portable format is not newc.
        let mut bad = good.clone();
        bad[..6].copy_from_slice(b"070707");
        assert_eq!(ramfs_from_cpio(&bad, usize::MAX).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn every_truncation_and_byte_flip_is_handled() {
        let good = sample();
        for len in 0..good.len() {
            // Cutting inside the trailer or before it loses the trailer; only the block
            // padding after it may go.
            let r = ramfs_from_cpio(&good[..len], usize::MAX);
            let trailer_end = good.windows(10).position(|w| w == TRAILER).unwrap() + 11;
            assert_eq!(r.is_ok(), len >= trailer_end, "len {len}");
        }
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                // Any outcome but a panic is fine; most are EINVAL.
                let _ = ramfs_from_cpio(&bad, usize::MAX);
            }
        }
    }
}
