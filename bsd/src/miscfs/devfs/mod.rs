//! devfs (XNU's `bsd/miscfs/devfs`): the file system mounted on `/dev`, a fixed directory
//! of character-device vnodes (VCHR) that carry a device number ([`cdevsw::DevT`]) and
//! open through the character device switch ([`cdevsw`]), plus `fd/` (fdesc), whose
//! entries are the calling process's descriptors.
//!
//! | node | major, minor | mode |
//! | --- | --- | --- |
//! | `console` | 0, 0 | 0622 |
//! | `tty` | 2, 0 | 0666 |
//! | `null`, `zero` | 3, 2 / 3, 3 | 0666 |
//! | `random`, `urandom` | 14, 0 / 14, 1 | 0666 |
//! | `fd/N` | fdesc, N | 0666 |

pub mod cdevsw;
pub mod random;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use sys::Errno;
use sys::mount::{FT_DEVFS, MNT_DONTBROWSE, MNT_LOCAL};

use crate::vfs::vfs_mount::{MountArgs, VfsConf, VfsInstance, VfsOps, VfsStat, vfs_getnewfsid};
use crate::vfs::vnode::{DirEntry, VType, Vnode, VnodeOps, VnodeRef};
use cdevsw::{
    CONSOLE_MAJOR, CTTY_MAJOR, DevT, FDESC_MAJOR, MM_MAJOR, MM_NULL, MM_ZERO, RANDOM_MAJOR, makedev,
};

/// The devices devfs shows: name, device number, permissions.
const DEVFS_NODES: &[(&[u8], DevT, u16)] = &[
    (b"console", makedev(CONSOLE_MAJOR, 0), 0o622),
    (b"null", makedev(MM_MAJOR, MM_NULL), 0o666),
    (b"random", makedev(RANDOM_MAJOR, 0), 0o666),
    (b"tty", makedev(CTTY_MAJOR, 0), 0o666),
    (b"urandom", makedev(RANDOM_MAJOR, 1), 0o666),
    (b"zero", makedev(MM_MAJOR, MM_ZERO), 0o666),
];

/// The highest descriptor `/dev/fd` names (the descriptor table's size).
const FDESC_MAX: u32 = crate::kern::kern_descrip::NOFILE as u32;

/// devfs as a kind of file system: `statfs` calls it `"devfs"`, type [`FT_DEVFS`], as XNU.
pub static DEVFS_VFSCONF: VfsConf =
    VfsConf { vfc_name: "devfs", vfc_typenum: FT_DEVFS, vfc_mount: devfs_mount_new };

/// A new devfs for `mount(2)`: its own nodes for the same devices, and its `statfs` answer.
/// It holds a fixed handful of vnodes, so the mount table's bound bounds it.
pub fn devfs_mount_new() -> Result<VfsInstance, Errno> {
    Ok((devfs_new_root()?, Arc::new(DevfsStats)))
}

/// How `/dev` is mounted: local and not for browsing, from `"devfs"`, as XNU mounts it at
/// boot (`devfs_kernel_mount`).
pub fn devfs_mount_args() -> MountArgs {
    MountArgs {
        vfc: &DEVFS_VFSCONF,
        flags: MNT_LOCAL | MNT_DONTBROWSE,
        from: "devfs".into(),
        on: "/dev".into(),
        ops: Arc::new(DevfsStats),
    }
}

/// The nodes a devfs holds: its devices, `fd` and the root.
const DEVFS_NODE_COUNT: u64 = DEVFS_NODES.len() as u64 + 2;

/// devfs's answer to `statfs`, as XNU's `devfs_statfs` gives it: 512-byte blocks, as many as
/// its nodes (it holds nodes, not data), and always full — nothing free, nothing to make.
struct DevfsStats;

impl VfsOps for DevfsStats {
    fn vfs_getattr(&self) -> VfsStat {
        VfsStat {
            f_bsize: 512,
            f_iosize: 512,
            f_blocks: DEVFS_NODE_COUNT,
            f_bfree: 0,
            f_bavail: 0,
            f_files: DEVFS_NODE_COUNT,
            f_ffree: 0,
        }
    }
}

/// A device node: its number is all it has (and the number of its devfs).
struct DevNode {
    dev: DevT,
    fsid: u32,
}

impl VnodeOps for DevNode {
    fn size(&self) -> u64 {
        0
    }
    fn rdev(&self) -> u32 {
        self.dev
    }
    fn fsid(&self) -> u32 {
        self.fsid
    }
}

/// A devfs directory: a fixed list of entries, made with it (nothing is created in devfs).
struct DevfsDir {
    entries: Vec<(&'static [u8], VnodeRef)>,
    fsid: u32,
}

impl VnodeOps for DevfsDir {
    fn fsid(&self) -> u32 {
        self.fsid
    }
    fn lookup(&self, name: &[u8]) -> Result<VnodeRef, Errno> {
        self.entries.iter().find(|(n, _)| *n == name).map(|(_, vp)| vp.clone()).ok_or(Errno::ENOENT)
    }
    fn size(&self) -> u64 {
        self.entries.len() as u64
    }
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Ok(self.entries.iter().map(|(n, vp)| DirEntry { name: n.to_vec(), vtype: vp.vtype() }).collect())
    }
}

/// `/dev/fd` (fdesc): a decimal name N below the table size is a device node with minor N
/// (made on lookup); whether N is open is judged when it is opened (`EBADF`).
struct FdescDir {
    fsid: u32,
}

/// The descriptor number `name` spells: decimal digits, no leading zero (but "0").
fn fdesc_number(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 4 || (name.len() > 1 && name[0] == b'0') {
        return None;
    }
    let mut n = 0u32;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    (n < FDESC_MAX).then_some(n)
}

impl VnodeOps for FdescDir {
    fn fsid(&self) -> u32 {
        self.fsid
    }
    fn lookup(&self, name: &[u8]) -> Result<VnodeRef, Errno> {
        let n = fdesc_number(name).ok_or(Errno::ENOENT)?;
        let ops = DevNode { dev: makedev(FDESC_MAJOR, n), fsid: self.fsid };
        Vnode::new(VType::VCHR, 0o666, None, Box::new(ops))
    }
    fn size(&self) -> u64 {
        0
    }
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        // The caller's open descriptors, as XNU lists them.
        #[allow(unused_mut)]
        let mut out = Vec::new();
        #[cfg(target_os = "none")]
        if let Some(p) = crate::kern::kern_proc::current_proc() {
            let fdp = p.p_fd.lock();
            for fd in 0..FDESC_MAX as i32 {
                if fdp.get(fd).is_ok() {
                    out.push(DirEntry { name: alloc::format!("{fd}").into_bytes(), vtype: VType::VCHR });
                }
            }
        }
        Ok(out)
    }
}

/// A new devfs; returns its root directory (`0555`, as XNU's `/dev` is `dr-xr-xr-x`).
/// Past `kern.maxvnodes`: `ENFILE`.
pub fn devfs_new_root() -> Result<VnodeRef, Errno> {
    let fsid = vfs_getnewfsid();
    // The root first, so the entries can point back at it for `..`.
    let holder = Vnode::new(VType::VDIR, 0o555, None, Box::new(DevfsDir { entries: Vec::new(), fsid }))?;
    let mut entries: Vec<(&'static [u8], VnodeRef)> = DEVFS_NODES
        .iter()
        .map(|&(name, dev, perm)| {
            Ok((name, Vnode::new(VType::VCHR, perm, Some(&holder), Box::new(DevNode { dev, fsid }))?))
        })
        .collect::<Result<_, Errno>>()?;
    entries.push((b"fd", Vnode::new(VType::VDIR, 0o555, Some(&holder), Box::new(FdescDir { fsid }))?));
    entries.sort_by(|a, b| a.0.cmp(b.0));
    // Children hold only a weak link to their parent, so the real root can be made now and
    // `holder` dropped: `..` of an entry is the mounted-on directory's business (the mount
    // links), never this vnode's.
    Vnode::new(VType::VDIR, 0o555, None, Box::new(DevfsDir { entries, fsid }))
}

#[cfg(test)]
mod tests {
    use super::cdevsw::*;
    use super::*;
    use crate::fs::ramfs::ramfs_new_root;
    use crate::kern::kern_descrip::{FREAD, FWRITE, FileGlob, dofileread, dofilewrite};
    use crate::kern::uio::{Uio, UioRw};
    use crate::vfs::vfs_lookup::VfsContext;
    use crate::vfs::vfs_mount::{vfs_mount, vfs_unmount};
    use crate::vfs::vfs_vnops::vn_open;
    use crate::vfs::vnode::KauthCred;
    use alloc::sync::Arc;
    use osfmk::arm64::pmap::USER_VM_MIN;
    use osfmk::vm::user_ptr::{UserAddr, UserSlice, host_user_memory};
    use sys::fcntl::{O_RDONLY, O_RDWR, O_WRONLY};

    const UBUF: u64 = USER_VM_MIN + 0x30_0000;

    fn rd(fg: &FileGlob, len: usize) -> Result<usize, Errno> {
        dofileread(fg, &mut Uio::new(UserAddr(UBUF), len, 0, UioRw::Read)?, 0)
    }
    fn wr(fg: &FileGlob, len: usize) -> Result<usize, Errno> {
        dofilewrite(fg, &mut Uio::new(UserAddr(UBUF), len, 0, UioRw::Write)?, 0)
    }
    fn peek(len: usize) -> Vec<u8> {
        let mut v = alloc::vec![0u8; len];
        UserSlice::new(UBUF, len).unwrap().read_at(0, &mut v).unwrap();
        v
    }
    fn poke(bytes: &[u8]) {
        UserSlice::new(UBUF, bytes.len()).unwrap().write_at(0, bytes).unwrap();
    }

    /// A root ramfs with devfs mounted on `/dev`, and root's context in it.
    fn system() -> (VnodeRef, VnodeRef, VfsContext) {
        let root = ramfs_new_root();
        let dev = root.mkdir(b"dev", 0o755).unwrap();
        let ctx = VfsContext::new(KauthCred::ROOT, root.clone(), root.clone());
        (root, dev, ctx)
    }

    #[test]
    fn device_numbers_are_xnus() {
        let d = devfs_new_root().unwrap();
        let rdev = |n: &[u8]| d.lookup(n).unwrap().rdev();
        assert_eq!(rdev(b"null"), (3 << 24) | 2);
        assert_eq!(rdev(b"zero"), (3 << 24) | 3);
        assert_eq!(rdev(b"console"), 0);
        assert_eq!(rdev(b"tty"), 2 << 24);
        assert_eq!((major(rdev(b"urandom")), minor(rdev(b"urandom"))), (RANDOM_MAJOR, 1));
        assert_eq!(d.lookup(b"null").unwrap().vtype(), VType::VCHR);
        assert_eq!(d.lookup(b"null").unwrap().mode(), crate::vfs::S_IFCHR | 0o666);
        assert_eq!(d.lookup(b"full").unwrap_err(), Errno::ENOENT, "XNU has no /dev/full");
        let names: Vec<Vec<u8>> = d.readdir().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names.len(), 7);
        assert!(names.contains(&b"fd".to_vec()) && names.contains(&b"random".to_vec()));
    }

    #[test]
    fn lookup_through_the_mount_and_cdevsw_dispatch() {
        let mem = host_user_memory::session();
        mem.map(UBUF, 0x10000, true);
        let (_root, dev, ctx) = system();
        let mp = vfs_mount(&dev, devfs_new_root().unwrap(), devfs_mount_args()).unwrap();
        let null = vn_open(&ctx, b"/dev/null", O_RDWR, 0).unwrap();
        poke(&[7; 100]);
        assert_eq!(rd(&null, 100), Ok(0), "null reads end of file");
        assert_eq!(wr(&null, 5000), Ok(5000), "and swallows writes");
        let zero = vn_open(&ctx, b"/dev/zero", O_RDWR, 0).unwrap();
        assert_eq!(rd(&zero, 9000), Ok(9000));
        assert!(peek(9000).iter().all(|&b| b == 0));
        assert_eq!(wr(&zero, 10), Ok(10));
        let ur = vn_open(&ctx, b"/dev/urandom", O_RDWR, 0).unwrap();
        assert_eq!(rd(&ur, 64), Ok(64));
        let a = peek(64);
        assert_eq!(rd(&ur, 64), Ok(64));
        assert_ne!(a, peek(64), "never the same bytes twice");
        assert_eq!(wr(&ur, 4), Err(Errno::EPERM), "urandom takes no writes");
        let r = vn_open(&ctx, b"/dev/random", O_WRONLY, 0).unwrap();
        assert_eq!(wr(&r, 64), Ok(64), "random stirs them in");
        let ro = vn_open(&ctx, b"/dev/null", O_RDONLY, 0).unwrap();
        assert_eq!(wr(&ro, 1), Err(Errno::EBADF));
        let mut n = [0u8; 4];
        assert_eq!(null.fg_ops.fo_ioctl(&null, sys::fcntl::FIONBIO, &mut n), Ok(()));
        assert_eq!(null.fg_ops.fo_ioctl(&null, sys::fcntl::FIONREAD, &mut n), Err(Errno::ENODEV));
        assert_eq!(null.fg_ops.fo_stat().unwrap().st_mode, crate::vfs::S_IFCHR | 0o666);
        // /dev/fd lookups: decimal names only.
        assert!(crate::vfs::vfs_lookup::namei(&ctx, b"/dev/fd/3", true).is_ok());
        assert_eq!(crate::vfs::vfs_lookup::namei(&ctx, b"/dev/fd/03", true).err(), Some(Errno::ENOENT));
        assert_eq!(crate::vfs::vfs_lookup::namei(&ctx, b"/dev/fd/x", true).err(), Some(Errno::ENOENT));
        assert_eq!(crate::vfs::vfs_lookup::namei(&ctx, b"/dev/fd/99999", true).err(), Some(Errno::ENOENT));
        // `..` from the devfs root leaves for the root file system.
        assert!(crate::vfs::vfs_lookup::namei(&ctx, b"/dev/../dev/zero", true).is_ok());
        // Open devices keep it mounted (a long-term use of their vnodes each).
        assert_eq!(vfs_unmount(&mp), Err(Errno::EBUSY));
        drop((null, zero, ur, r, ro));
        vfs_unmount(&mp).unwrap();
        assert_eq!(vn_open(&ctx, b"/dev/null", O_RDONLY, 0).err(), Some(Errno::ENOENT));
    }

    #[test]
    fn a_major_without_a_driver_is_enxio() {
        assert_eq!(cdevsw(makedev(9, 0)).err(), Some(Errno::ENXIO));
        assert_eq!(cdevsw(makedev(200, 0)).err(), Some(Errno::ENXIO));
        assert!(cdevsw(makedev(MM_MAJOR, MM_NULL)).is_ok());
        assert_eq!(
            cdevsw(makedev(MM_MAJOR, 0)).unwrap().d_open(makedev(MM_MAJOR, 0), FREAD).err(),
            Some(Errno::ENODEV)
        );
    }

    #[test]
    fn fdesc_shares_the_description_with_no_more_access() {
        let ro = FileGlob::new(FREAD, Arc::new(super::cdevsw::tests_support::Nothing)).unwrap();
        assert!(Arc::ptr_eq(&dupfdopen(&ro, FREAD).unwrap(), &ro));
        assert_eq!(dupfdopen(&ro, FREAD | FWRITE).err(), Some(Errno::EACCES));
        let rw = FileGlob::new(FREAD | FWRITE, Arc::new(super::cdevsw::tests_support::Nothing)).unwrap();
        assert!(Arc::ptr_eq(&dupfdopen(&rw, FWRITE).unwrap(), &rw));
    }
}
