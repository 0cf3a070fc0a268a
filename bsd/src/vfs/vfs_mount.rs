//! The mount table (XNU's `struct mount` and its `mountlist`, `vfs_mount.c`-era logic from
//! `vfs_syscalls.c`/`vfs_subr.c`): a file system's root vnode grafted onto a directory
//! vnode, which it then hides.
//!
//! A [`Mount`] joins two vnodes both ways: the covered directory's `v_mountedhere` points at
//! the mount, so a lookup that reaches the directory continues at the mounted root; the
//! mounted root knows its mount, so `..` from it leaves for the covered directory's parent
//! (`vfs_lookup`). Every live mount is also on the global list ([`mountlist`]): the root
//! file system first ([`vfs_mountroot`], covering nothing), then the others in the order
//! they were made. A mount knows its kind ([`VfsConf`]), flags and names, and asks its file
//! system ([`VfsOps`]) for the numbers `statfs` reports ([`Mount::statfs`]); a vnode finds
//! its mount by the number its file system gives every vnode ([`vnode_mount`]).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use sys::Errno;
use sys::mount::{Fsid, MNT_VISFLAGMASK, Statfs, set_name};

use crate::vfs::vnode::{VType, Vnode, VnodeRef};

/// A kind of file system (XNU's `struct vfstable` entry): its name and type number.
#[derive(Debug)]
pub struct VfsConf {
    /// The type name (`f_fstypename`), e.g. `"ramfs"`.
    pub vfc_name: &'static str,
    /// The type number (`f_type`, `FT_*`).
    pub vfc_typenum: u32,
}

/// A file system's size and use as `statfs` reports them (the numbers of XNU's `struct
/// vfsstatfs` that `VFS_GETATTR` fills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VfsStat {
    /// The unit of the block counts.
    pub f_bsize: u32,
    /// The best transfer size.
    pub f_iosize: u32,
    /// Blocks in all, free, and free to an unprivileged user.
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    /// File nodes in all, and free.
    pub f_files: u64,
    pub f_ffree: u64,
}

/// What a mounted file system answers for itself as a whole (XNU's `vfsops`; so far only
/// `vfs_getattr`).
pub trait VfsOps: Send + Sync {
    /// Its size and use now.
    fn vfs_getattr(&self) -> VfsStat;
}

/// How a file system is mounted: its kind, mount flags (`MNT_*`), what it is mounted from
/// (`f_mntfromname`), where (`f_mntonname`), and its [`VfsOps`].
pub struct MountArgs {
    pub vfc: &'static VfsConf,
    pub flags: u32,
    pub from: &'static str,
    pub on: &'static str,
    pub ops: Arc<dyn VfsOps>,
}

/// A mounted file system.
pub struct Mount {
    /// The directory it is mounted on (XNU's `mnt_vnodecovered`); none for the root file
    /// system.
    mnt_vnodecovered: Option<VnodeRef>,
    /// Its root directory (what XNU's `VFS_ROOT` returns).
    mnt_root: VnodeRef,
    /// Its kind, flags, names and operations.
    mnt_args: MountArgs,
}

/// A counted reference to a mount.
pub type MountRef = Arc<Mount>;

impl Mount {
    /// The directory this file system hides; `None` for the root file system.
    pub fn covered(&self) -> Option<&VnodeRef> {
        self.mnt_vnodecovered.as_ref()
    }

    /// The mounted file system's root directory.
    pub fn root(&self) -> &VnodeRef {
        &self.mnt_root
    }

    /// The file system's type name.
    pub fn fstypename(&self) -> &'static str {
        self.mnt_args.vfc.vfc_name
    }

    /// `struct statfs` for this mount (XNU's `vfs_get_statfs64` after `vfs_update_vfsstat`):
    /// the file system's numbers now, its id (its number, then its type number), owner (the
    /// kernel mounted everything: root), type, the visible mount flags and its names.
    pub fn statfs(&self) -> Statfs {
        let st = self.mnt_args.ops.vfs_getattr();
        let typenum = self.mnt_args.vfc.vfc_typenum;
        let mut sfs = Statfs::zeroed();
        sfs.f_bsize = st.f_bsize;
        sfs.f_iosize = i32::try_from(st.f_iosize).unwrap_or(i32::MAX);
        sfs.f_blocks = st.f_blocks;
        sfs.f_bfree = st.f_bfree;
        sfs.f_bavail = st.f_bavail;
        sfs.f_files = st.f_files;
        sfs.f_ffree = st.f_ffree;
        sfs.f_fsid = Fsid { val: [self.mnt_root.fsid() as i32, typenum as i32] };
        sfs.f_owner = 0;
        sfs.f_type = typenum;
        sfs.f_flags = self.mnt_args.flags & MNT_VISFLAGMASK;
        set_name(&mut sfs.f_fstypename, self.mnt_args.vfc.vfc_name.as_bytes());
        set_name(&mut sfs.f_mntonname, self.mnt_args.on.as_bytes());
        set_name(&mut sfs.f_mntfromname, self.mnt_args.from.as_bytes());
        sfs
    }
}

/// Every mount, oldest first (XNU's `mountlist`): the root file system, then the others in
/// the order they were mounted. A reader-writer spin lock: each mount and unmount writes it
/// once, nothing else takes a lock under it.
static MOUNTLIST: spin::RwLock<Vec<MountRef>> = spin::RwLock::new(Vec::new());

/// The mounts there are, oldest first.
pub fn mountlist() -> Vec<MountRef> {
    MOUNTLIST.read().clone()
}

/// The mount `vp`'s file system is mounted as (XNU's `vnode_mount`), found by its number;
/// `None` for a file system not (or no longer) mounted.
pub fn vnode_mount(vp: &Vnode) -> Option<MountRef> {
    let fsid = vp.fsid();
    if fsid == 0 {
        return None;
    }
    MOUNTLIST.read().iter().find(|m| m.mnt_root.fsid() == fsid).cloned()
}

/// The next file system number (XNU's `vfs_getnewfsid`): unique, never 0.
pub fn vfs_getnewfsid() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Makes the file system whose root directory is `root` the root file system (XNU's
/// `vfs_mountroot`): the first entry of the mount list, covering nothing. `root` not a
/// directory or mounted already: `EINVAL`; a root file system there already: `EBUSY`.
pub fn vfs_mountroot(root: VnodeRef, args: MountArgs) -> Result<MountRef, Errno> {
    if root.vtype() != VType::VDIR {
        return Err(Errno::EINVAL);
    }
    let mut list = MOUNTLIST.write();
    if list.iter().any(|m| m.mnt_vnodecovered.is_none()) {
        return Err(Errno::EBUSY);
    }
    if root.root_of().is_some() || root.mountedhere().is_some() {
        return Err(Errno::EINVAL);
    }
    let mp = Arc::new(Mount { mnt_vnodecovered: None, mnt_root: root, mnt_args: args });
    mp.mnt_root.mounts.write().root_of = Some(Arc::downgrade(&mp));
    list.insert(0, mp.clone());
    Ok(mp)
}

/// Mounts the file system whose root directory is `root` on directory `covered`. `covered`
/// not a directory: `ENOTDIR`; already a mount point, or the root of a mounted file system
/// already: `EBUSY` (XNU refuses to stack a mount on a covered vnode); `root` not a
/// directory or mounted elsewhere already: `EINVAL`. Who may mount is the caller's concern.
pub fn vfs_mount(covered: &VnodeRef, root: VnodeRef, args: MountArgs) -> Result<MountRef, Errno> {
    if covered.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    if root.vtype() != VType::VDIR || Arc::ptr_eq(covered, &root) {
        return Err(Errno::EINVAL);
    }
    let mut list = MOUNTLIST.write();
    // The two vnodes' links change together under the list's lock, so no two mounts race
    // for the same directory or root.
    if covered.mountedhere().is_some() {
        return Err(Errno::EBUSY);
    }
    if root.root_of().is_some() || root.mountedhere().is_some() {
        return Err(Errno::EINVAL);
    }
    let mp = Arc::new(Mount { mnt_vnodecovered: Some(covered.clone()), mnt_root: root, mnt_args: args });
    mp.mnt_root.mounts.write().root_of = Some(Arc::downgrade(&mp));
    covered.mounts.write().mountedhere = Some(mp.clone());
    list.push(mp.clone());
    Ok(mp)
}

/// Takes mount `mp` down: its covered directory shows again. Something still mounted on
/// the mounted root, or the root file system: `EBUSY`; not mounted (any more): `EINVAL`.
/// Vnodes of the file system that are still held (open files, a cwd) stay usable; `..` from
/// its root then stops there, as from any file system root.
pub fn vfs_unmount(mp: &MountRef) -> Result<(), Errno> {
    let mut list = MOUNTLIST.write();
    let Some(at) = list.iter().position(|m| Arc::ptr_eq(m, mp)) else {
        return Err(Errno::EINVAL);
    };
    let Some(covered) = &mp.mnt_vnodecovered else {
        return Err(Errno::EBUSY);
    };
    if mp.mnt_root.mountedhere().is_some() {
        return Err(Errno::EBUSY);
    }
    list.remove(at);
    covered.mounts.write().mountedhere = None;
    mp.mnt_root.mounts.write().root_of = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::ramfs::{RAMFS_VFSCONF, RamQuota, ramfs_new_root, ramfs_new_root_with};
    use sys::mount::{FT_RAMFS, MNT_LOCAL, MNT_ROOTFS, name_of};

    /// Fixed numbers, for the statfs fill.
    struct Fixed;
    impl VfsOps for Fixed {
        fn vfs_getattr(&self) -> VfsStat {
            VfsStat {
                f_bsize: 4096,
                f_iosize: 8192,
                f_blocks: 100,
                f_bfree: 40,
                f_bavail: 30,
                f_files: 9,
                f_ffree: 2,
            }
        }
    }

    fn args(on: &'static str) -> MountArgs {
        MountArgs { vfc: &RAMFS_VFSCONF, flags: MNT_LOCAL, from: "test", on, ops: Arc::new(Fixed) }
    }

    #[test]
    fn mount_links_both_ways_and_unmount_undoes_it() {
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let other = ramfs_new_root();
        let mp = vfs_mount(&mnt, other.clone(), args("/mnt")).unwrap();
        assert!(Arc::ptr_eq(&mnt.mountedhere().unwrap(), &mp));
        assert!(Arc::ptr_eq(&other.root_of().unwrap(), &mp));
        assert!(Arc::ptr_eq(mp.covered().unwrap(), &mnt) && Arc::ptr_eq(mp.root(), &other));
        assert_eq!(mp.fstypename(), "ramfs");
        assert!(mountlist().iter().any(|m| Arc::ptr_eq(m, &mp)));
        let file = other.create(b"f", 0o644).unwrap();
        assert!(Arc::ptr_eq(&vnode_mount(&file).unwrap(), &mp), "a file finds its mount by number");
        assert!(vnode_mount(&root).is_none(), "a file system never mounted has none");
        vfs_unmount(&mp).unwrap();
        assert!(mnt.mountedhere().is_none() && other.root_of().is_none());
        assert!(!mountlist().iter().any(|m| Arc::ptr_eq(m, &mp)));
        assert!(vnode_mount(&file).is_none(), "nor one taken down");
        assert_eq!(vfs_unmount(&mp), Err(Errno::EINVAL), "not mounted any more");
    }

    #[test]
    fn mount_refuses_what_xnu_refuses() {
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let file = root.create(b"f", 0o644).unwrap();
        let (a, b) = (ramfs_new_root(), ramfs_new_root());
        assert_eq!(vfs_mount(&file, a.clone(), args("/f")).err(), Some(Errno::ENOTDIR));
        assert_eq!(vfs_mount(&mnt, file.clone(), args("/mnt")).err(), Some(Errno::EINVAL));
        assert_eq!(vfs_mount(&mnt, mnt.clone(), args("/mnt")).err(), Some(Errno::EINVAL));
        let mp = vfs_mount(&mnt, a.clone(), args("/mnt")).unwrap();
        assert_eq!(
            vfs_mount(&mnt, b.clone(), args("/mnt")).err(),
            Some(Errno::EBUSY),
            "one mount per directory"
        );
        let elsewhere = root.mkdir(b"other", 0o755).unwrap();
        assert_eq!(
            vfs_mount(&elsewhere, a.clone(), args("/other")).err(),
            Some(Errno::EINVAL),
            "a root mounts once"
        );
        // A mount may stack on a mounted root; it holds the lower one up until it goes.
        let upper = vfs_mount(&a, b, args("/mnt")).unwrap();
        assert_eq!(vfs_unmount(&mp), Err(Errno::EBUSY));
        vfs_unmount(&upper).unwrap();
        vfs_unmount(&mp).unwrap();
    }

    #[test]
    fn statfs_reports_the_file_system_and_its_mount() {
        let root = ramfs_new_root();
        let mp = Mount {
            mnt_vnodecovered: None,
            mnt_root: root.clone(),
            mnt_args: MountArgs {
                flags: MNT_ROOTFS | MNT_LOCAL | 0x0001_0000,
                from: "initrd",
                on: "/",
                ..args("/")
            },
        };
        let sfs = mp.statfs();
        assert_eq!((sfs.f_bsize, sfs.f_iosize), (4096, 8192));
        assert_eq!((sfs.f_blocks, sfs.f_bfree, sfs.f_bavail), (100, 40, 30));
        assert_eq!((sfs.f_files, sfs.f_ffree), (9, 2));
        assert_eq!(sfs.f_fsid.val, [root.fsid() as i32, FT_RAMFS as i32], "its number, then its type");
        assert_ne!(root.fsid(), 0);
        assert_eq!((sfs.f_type, sfs.f_owner, sfs.f_fssubtype, sfs.f_flags_ext), (FT_RAMFS, 0, 0, 0));
        assert_eq!(sfs.f_flags, MNT_ROOTFS | MNT_LOCAL, "MNT_UPDATE is a command, never shown");
        assert_eq!(name_of(&sfs.f_fstypename), b"ramfs");
        assert_eq!(name_of(&sfs.f_mntonname), b"/");
        assert_eq!(name_of(&sfs.f_mntfromname), b"initrd");
        assert!(sfs.f_reserved.iter().all(|&w| w == 0));
        assert_eq!(mp.fstypename(), "ramfs");
    }

    #[test]
    fn a_ramfs_counts_its_quota_in_pages_and_nodes() {
        let quota = RamQuota::unlimited();
        let root = ramfs_new_root_with(quota.clone()).unwrap();
        quota.cap_growth(40 * 4096);
        quota.cap_node_growth(10);
        let before = quota.vfs_getattr();
        assert_eq!((before.f_bsize, before.f_iosize), (4096, 4096));
        assert_eq!(before.f_files - before.f_ffree, 1, "the root is one node");
        assert_eq!(before.f_bfree, 40, "the growth allowed, in pages");
        assert!(before.f_blocks >= before.f_bfree && before.f_bavail == before.f_bfree);
        let f = root.create(b"f", 0o644).unwrap();
        f.setsize(8 * 4096).unwrap();
        let after = quota.vfs_getattr();
        assert_eq!(after.f_ffree, before.f_ffree - 1, "one more node");
        assert!(after.f_bfree <= 40 - 8 && after.f_bfree >= 40 - 9, "eight pages of data and the node");
        assert_eq!(after.f_blocks, before.f_blocks, "the size does not change");
        assert_eq!(f.fsid(), root.fsid(), "one number for the whole file system");
        assert_ne!(ramfs_new_root().fsid(), root.fsid(), "another file system, another number");
    }
}
