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
//!
//! The table is bounded ([`MOUNT_MAX`]): `mount(2)` lets root add to it, and each entry holds
//! kernel heap until its `unmount(2)`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use osfmk::kern::lock_order;
use osfmk::kern::locks::SimpleLock;

use sys::Errno;
use sys::mount::{
    Fsid, MNT_ASYNC, MNT_DONTBROWSE, MNT_FORCE, MNT_IGNORE_OWNERSHIP, MNT_LOCAL, MNT_NOATIME, MNT_NODEV,
    MNT_NOEXEC, MNT_NOSUID, MNT_RDONLY, MNT_STRICTATIME, MNT_SYNCHRONOUS, MNT_UPDATE, MNT_VISFLAGMASK,
    Statfs, set_name,
};

use crate::vfs::vnode::{VType, Vnode, VnodeRef};

/// Most file systems mounted at once, the boot's three included (XNU has no fixed limit;
/// here each mount holds kernel heap that `mount(2)` asks for, so the table has a bound). One
/// more: `ENOMEM`, the error XNU's `mount_common` gives when it cannot allocate a mount.
pub const MOUNT_MAX: usize = 64;

/// A fresh file system as its kind makes it: its root directory and its [`VfsOps`].
pub type VfsInstance = (VnodeRef, Arc<dyn VfsOps>);

/// A kind of file system (XNU's `struct vfstable` entry): its name, type number, and how a
/// fresh, empty instance of it is made for `mount(2)` (XNU's `VFS_MOUNT`, here without a
/// device or arguments to read).
pub struct VfsConf {
    /// The type name (`f_fstypename`), e.g. `"ramfs"`.
    pub vfc_name: &'static str,
    /// The type number (`f_type`, `FT_*`).
    pub vfc_typenum: u32,
    /// A new instance: its root directory and what it answers `statfs` with.
    pub vfc_mount: fn() -> Result<VfsInstance, Errno>,
}

impl core::fmt::Debug for VfsConf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VfsConf")
            .field("vfc_name", &self.vfc_name)
            .field("vfc_typenum", &self.vfc_typenum)
            .finish()
    }
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
    pub from: String,
    pub on: String,
    pub ops: Arc<dyn VfsOps>,
}

/// A mounted file system.
pub struct Mount {
    /// The directory it is mounted on (XNU's `mnt_vnodecovered`); none for the root file
    /// system.
    mnt_vnodecovered: Option<VnodeRef>,
    /// Its root directory (what XNU's `VFS_ROOT` returns).
    mnt_root: VnodeRef,
    /// Its kind, names and operations (the flags as first given are in `mnt_flag`).
    mnt_args: MountArgs,
    /// Its mount flags now (XNU's `mnt_flag`); `MNT_UPDATE` may change them.
    mnt_flag: AtomicU32,
    /// Its vnodes in long-term use ([`VnodeUse`](crate::vfs::vnode::VnodeUse)s: open files,
    /// working and root directories), by address, with how many uses each: the part of
    /// XNU's `mnt_vnodelist` an unmount needs. While it is not empty the file system is
    /// busy; a forced unmount revokes what it names. Entered only under the mount list's
    /// read lock and looked at under its write lock, so an unmount never misses a use.
    mnt_inuse: SimpleLock<BTreeMap<usize, (Weak<Vnode>, usize)>>,
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

    /// Its mount flags (`MNT_*`) now.
    pub fn flags(&self) -> u32 {
        self.mnt_flag.load(Ordering::Acquire)
    }

    /// Replaces the flags in `mask` with those of `flags` (`MNT_UPDATE`); the others stay.
    pub fn update_flags(&self, mask: u32, flags: u32) {
        let _ = self
            .mnt_flag
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| Some((f & !mask) | (flags & mask)));
    }

    /// Long-term uses of its vnodes now.
    pub fn usecount(&self) -> usize {
        self.mnt_inuse.lock().values().map(|&(_, n)| n).sum()
    }

    /// Gives back one long-term use of `vp` (taken by [`vnode_mount_use`]).
    pub(crate) fn use_release(&self, vp: &Vnode) {
        let mut inuse = self.mnt_inuse.lock();
        let key = core::ptr::from_ref(vp) as usize;
        if let Some(entry) = inuse.get_mut(&key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                inuse.remove(&key);
            }
        }
    }

    /// Mounted read-only (`MNT_RDONLY`)?
    pub fn is_rdonly(&self) -> bool {
        self.flags() & MNT_RDONLY != 0
    }

    fn new(covered: Option<VnodeRef>, root: VnodeRef, args: MountArgs) -> Mount {
        let flags = AtomicU32::new(args.flags);
        Mount {
            mnt_vnodecovered: covered,
            mnt_root: root,
            mnt_args: args,
            mnt_flag: flags,
            mnt_inuse: SimpleLock::new(&lock_order::MOUNT_INUSE, BTreeMap::new()),
        }
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
        sfs.f_flags = self.flags() & MNT_VISFLAGMASK;
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

/// [`vnode_mount`], counting one long-term use of the mount it finds (under the mount list's
/// read lock, so an unmount, which checks the count under the write lock, sees it). The
/// caller gives it back with [`Mount::use_release`].
pub(crate) fn vnode_mount_use(vp: &VnodeRef) -> Option<MountRef> {
    let fsid = vp.fsid();
    if fsid == 0 {
        return None;
    }
    let list = MOUNTLIST.read();
    let mp = list.iter().find(|m| m.mnt_root.fsid() == fsid)?;
    let key = Arc::as_ptr(vp) as usize;
    mp.mnt_inuse.lock().entry(key).or_insert_with(|| (Arc::downgrade(vp), 0)).1 += 1;
    Some(mp.clone())
}

/// The flags of the mount `vp` belongs to (`vp->v_mount->mnt_flag`); 0 if it is not mounted.
pub fn vfs_flags(vp: &Vnode) -> u32 {
    vnode_mount(vp).map_or(0, |mp| mp.flags())
}

/// Does `vp` belong to a file system mounted read-only? Then nothing in it may be made,
/// removed, renamed or written (`EROFS`, as XNU's `vnode_authorize` and the name calls give).
pub fn vfs_isrdonly(vp: &Vnode) -> bool {
    vnode_mount(vp).is_some_and(|mp| mp.is_rdonly())
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
    let mp = Arc::new(Mount::new(None, root, args));
    mp.mnt_root.mounts.write().root_of = Some(Arc::downgrade(&mp));
    list.insert(0, mp.clone());
    Ok(mp)
}

/// Mounts the file system whose root directory is `root` on directory `covered`. `covered`
/// not a directory: `ENOTDIR`; already a mount point, or the root of a mounted file system
/// already: `EBUSY` (XNU refuses to stack a mount on a covered vnode); `root` not a
/// directory or mounted elsewhere already: `EINVAL`; [`MOUNT_MAX`] mounts there already:
/// `ENOMEM`. Who may mount is the caller's concern.
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
    if list.len() >= MOUNT_MAX {
        return Err(Errno::ENOMEM);
    }
    let mp = Arc::new(Mount::new(Some(covered.clone()), root, args));
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
    vfs_unmount_with(mp, false)
}

/// [`vfs_unmount`]; with `force`, a file system in use goes anyway: every vnode of it in
/// long-term use is revoked first ([`Vnode::revoke`]: XNU's `vflush` with `FORCECLOSE`),
/// except device nodes and FIFOs, which go on working as XNU's do.
pub fn vfs_unmount_with(mp: &MountRef, force: bool) -> Result<(), Errno> {
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
    {
        let inuse = mp.mnt_inuse.lock();
        if !inuse.is_empty() {
            if !force {
                return Err(Errno::EBUSY);
            }
            for vp in inuse.values().filter_map(|(w, _)| w.upgrade()) {
                if !matches!(vp.vtype(), VType::VCHR | VType::VBLK | VType::VFIFO) {
                    vp.revoke();
                }
            }
        }
    }
    list.remove(at);
    covered.mounts.write().mountedhere = None;
    mp.mnt_root.mounts.write().root_of = None;
    Ok(())
}

/// The mount flags a caller of `mount(2)` sets, kept as given and shown by `statfs`; a
/// new mount's other flags are its file system's (`MNT_LOCAL`). These are the ones XNU's
/// `mount_common` copies from the caller into `mnt_flag`, less those for features this kernel
/// lacks (unions, quarantine, content protection). Enforced: `MNT_RDONLY` (EROFS),
/// `MNT_NOEXEC` (exec: EACCES), `MNT_NOSUID` (exec ignores the set-id bits) and `MNT_NODEV`
/// (opening a device node: ENXIO); the others are kept and shown.
pub const MNT_USER_FLAGS: u32 = MNT_RDONLY
    | MNT_SYNCHRONOUS
    | MNT_NOEXEC
    | MNT_NOSUID
    | MNT_NODEV
    | MNT_ASYNC
    | MNT_DONTBROWSE
    | MNT_IGNORE_OWNERSHIP
    | MNT_NOATIME
    | MNT_STRICTATIME;

/// `mount(2)` once the caller is allowed and its arguments are in (XNU's `mount_common`):
/// `vp` is what the directory path names — past any mount on it, so a mount point stands
/// for the root mounted there — and `on` its path for `f_mntonname`.
///
/// With [`MNT_UPDATE`]: `vp` must be a mounted file system's root (else `EINVAL`), whose
/// [`MNT_USER_FLAGS`] become those in `flags` (so `MNT_RDONLY` turns on and off); the type
/// is not looked at, as XNU takes it from the mount. Otherwise: `vp` not a directory
/// `ENOTDIR`; the root of a mounted file system (a mount point, or `/`) `EBUSY`, as XNU
/// refuses a covered vnode; no kind called `fstype` `ENODEV`; then a fresh file system of
/// that kind, mounted on `vp` with the caller's flags (see [`vfs_mount`] for its errors).
pub fn mount_common(vp: &VnodeRef, fstype: &[u8], on: &str, flags: u32) -> Result<MountRef, Errno> {
    if flags & MNT_UPDATE != 0 {
        let mp = vp.root_of().ok_or(Errno::EINVAL)?;
        mp.update_flags(MNT_USER_FLAGS, flags);
        return Ok(mp);
    }
    if vp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    if vp.root_of().is_some() || vp.mountedhere().is_some() {
        return Err(Errno::EBUSY);
    }
    let vfc = crate::vfs::vfs_conf::vfs_conf_find(fstype).ok_or(Errno::ENODEV)?;
    let (root, ops) = (vfc.vfc_mount)()?;
    let args = MountArgs {
        vfc,
        flags: (flags & MNT_USER_FLAGS) | MNT_LOCAL,
        from: String::from(vfc.vfc_name),
        on: String::from(on),
        ops,
    };
    vfs_mount(vp, root, args)
}

/// `unmount(2)` once the caller is allowed and the path is looked up (XNU's `unmount` and
/// `dounmount`): `vp` must be the root of a mounted file system (`EINVAL`), not the root
/// file system's (`EBUSY`). `in_use` says whether a process still holds something inside
/// it — an open file, a working or root directory: a [`VnodeUse`](crate::vfs::vnode::VnodeUse)
/// — and then it stays (`EBUSY`), unless `flags` has `MNT_FORCE`: then those files are
/// revoked (see [`vfs_unmount_with`]) and it goes.
pub fn dounmount(vp: &VnodeRef, flags: u32) -> Result<(), Errno> {
    let mp = vp.root_of().ok_or(Errno::EINVAL)?;
    if mp.covered().is_none() {
        return Err(Errno::EBUSY);
    }
    vfs_unmount_with(&mp, flags & MNT_FORCE != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::ramfs::{RAMFS_VFSCONF, RamQuota, ramfs_new_root, ramfs_new_root_with};
    use alloc::string::ToString;
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

    fn args(on: &str) -> MountArgs {
        MountArgs {
            vfc: &RAMFS_VFSCONF,
            flags: MNT_LOCAL,
            from: "test".to_string(),
            on: on.to_string(),
            ops: Arc::new(Fixed),
        }
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
        let mp = Mount::new(
            None,
            root.clone(),
            MountArgs {
                flags: MNT_ROOTFS | MNT_LOCAL | sys::mount::MNT_UPDATE,
                from: "initrd".to_string(),
                on: "/".to_string(),
                ..args("/")
            },
        );
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

    /// The tests that make ramfs file systems through `mount_common` count the slots
    /// (`ramfs_mounted`), which are global: one such test at a time.
    static RAMFS_SLOTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn slots() -> std::sync::MutexGuard<'static, ()> {
        RAMFS_SLOTS.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(root: &VnodeRef, path: &str) -> Result<VnodeRef, Errno> {
        let ctx = crate::vfs::vfs_lookup::VfsContext::new(
            crate::vfs::vnode::KauthCred::ROOT,
            root.clone(),
            root.clone(),
        );
        crate::vfs::vfs_lookup::namei(&ctx, path.as_bytes(), true)
    }

    #[test]
    fn mount_common_mounts_a_fresh_file_system_and_dounmount_takes_it_down() {
        use crate::fs::ramfs::ramfs_mounted;
        use sys::mount::{MNT_FORCE, MNT_NODEV, MNT_NOSUID};
        let _one = slots();
        let before = ramfs_mounted();
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        mnt.create(b"hidden", 0o644).unwrap();
        let mp =
            mount_common(&mnt, b"ramfs", "/mnt", MNT_NOSUID | MNT_NODEV | MNT_FORCE | MNT_ROOTFS).unwrap();
        assert_eq!(ramfs_mounted(), before + 1, "the new ramfs holds a slot");
        let sfs = mp.statfs();
        assert_eq!(
            sfs.f_flags,
            MNT_NOSUID | MNT_NODEV | MNT_LOCAL,
            "the caller's visible flags, no commands"
        );
        assert_eq!((name_of(&sfs.f_fstypename), name_of(&sfs.f_mntonname)), (&b"ramfs"[..], &b"/mnt"[..]));
        assert_eq!(name_of(&sfs.f_mntfromname), b"ramfs");
        // Lookups cross into the fresh, empty file system.
        let top = lookup(&root, "/mnt").unwrap();
        assert!(Arc::ptr_eq(&top, mp.root()) && top.readdir().unwrap().is_empty());
        assert_eq!(lookup(&root, "/mnt/hidden").err(), Some(Errno::ENOENT));
        let f = top.create(b"f", 0o644).unwrap();
        assert!(Arc::ptr_eq(&vnode_mount(&f).unwrap(), &mp));
        assert!(Arc::ptr_eq(&lookup(&root, "/mnt/..").unwrap(), &root), "`..` leaves it");
        // Busy while a vnode of it is in long-term use (an open file, a working directory):
        // refused; the directory it covers is not its root.
        let open = crate::vfs::vnode::VnodeUse::new(f.clone());
        let cwd = crate::vfs::vnode::VnodeUse::new(top.clone());
        assert_eq!((mp.usecount(), open.usecount(), cwd.clone().usecount()), (2, 1, 2));
        assert_eq!(dounmount(&top, 0), Err(Errno::EBUSY));
        drop(open);
        assert_eq!(dounmount(&top, 0), Err(Errno::EBUSY), "the working directory still holds it");
        drop(cwd);
        assert_eq!(mp.usecount(), 0);
        assert_eq!(dounmount(&root, 0), Err(Errno::EINVAL), "not a mounted root");
        assert_eq!(dounmount(&f, 0), Err(Errno::EINVAL));
        drop((f, top));
        dounmount(mp.root(), 0).unwrap();
        assert!(mnt.mountedhere().is_none());
        assert!(Arc::ptr_eq(&lookup(&root, "/mnt").unwrap(), &mnt), "the directory shows again");
        assert!(lookup(&root, "/mnt/hidden").is_ok() && lookup(&root, "/mnt/f").is_err());
        drop(mp);
        assert_eq!(ramfs_mounted(), before, "the last reference gave the slot back");
    }

    #[test]
    fn a_forced_unmount_revokes_what_is_in_use() {
        let _one = slots();
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let mp = mount_common(&mnt, b"ramfs", "/mnt", 0).unwrap();
        let top = mp.root().clone();
        let f = top.create(b"f", 0o644).unwrap();
        f.write_at(0, b"data").unwrap();
        let d = top.mkdir(b"d", 0o755).unwrap();
        let fifo = top.mknod(b"p", VType::VFIFO, 0o644, 0).unwrap();
        let idle = top.create(b"idle", 0o644).unwrap();
        let uses = [f.clone(), d.clone(), fifo.clone()].map(crate::vfs::vnode::VnodeUse::new);
        assert_eq!(dounmount(&top, 0), Err(Errno::EBUSY));
        dounmount(&top, MNT_FORCE).unwrap();
        assert!(mnt.mountedhere().is_none(), "gone");
        let mut buf = [0u8; 4];
        assert_eq!(f.read_at(0, &mut buf), Err(Errno::EIO), "deadfs read");
        assert_eq!(f.write_at(0, b"x"), Err(Errno::EIO));
        assert_eq!(f.setsize(0), Err(Errno::EBADF));
        assert_eq!(d.lookup(b"x").err(), Some(Errno::ENOTDIR), "deadfs lookup");
        assert_eq!(d.lookup(b"..").err(), Some(Errno::ENOTDIR));
        assert_eq!(d.readdir().err(), Some(Errno::EBADF));
        assert_eq!(d.create(b"x", 0o644).err(), Some(Errno::ENOTDIR));
        assert!(!fifo.is_dead(), "a FIFO goes on working");
        assert!(!idle.is_dead() && idle.read_at(0, &mut buf) == Ok(0), "what nobody used is left alone");
        drop(uses);
        assert_eq!(mp.usecount(), 0);
    }

    #[test]
    fn mount_common_refuses_what_xnu_refuses() {
        let _one = slots();
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let file = root.create(b"f", 0o644).unwrap();
        assert_eq!(mount_common(&file, b"ramfs", "/f", 0).err(), Some(Errno::ENOTDIR));
        assert_eq!(mount_common(&mnt, b"nfs", "/mnt", 0).err(), Some(Errno::ENODEV));
        assert_eq!(mount_common(&mnt, b"", "/mnt", 0).err(), Some(Errno::ENODEV));
        assert_eq!(
            mount_common(&mnt, b"ramfs", "/mnt", MNT_UPDATE).err(),
            Some(Errno::EINVAL),
            "not mounted"
        );
        let mp = mount_common(&mnt, b"devfs", "/mnt", 0).unwrap();
        assert_eq!(mp.fstypename(), "devfs");
        assert_eq!(lookup(&root, "/mnt/null").unwrap().vtype(), VType::VCHR, "a devfs of its own");
        // What a path names past the mount is the mounted root: busy without MNT_UPDATE.
        let top = lookup(&root, "/mnt").unwrap();
        assert_eq!(mount_common(&top, b"ramfs", "/mnt", 0).err(), Some(Errno::EBUSY));
        assert_eq!(mount_common(&mnt, b"ramfs", "/mnt", 0).err(), Some(Errno::EBUSY));
        dounmount(&top, 0).unwrap();
        assert_eq!(dounmount(&top, 0), Err(Errno::EINVAL), "gone already");
    }

    #[test]
    fn a_read_only_mount_refuses_every_change_until_updated() {
        use crate::vfs::vnode::{KauthCred, VWRITE};
        let _one = slots();
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let mp = mount_common(&mnt, b"ramfs", "/mnt", MNT_RDONLY).unwrap();
        let top = mp.root().clone();
        assert!(mp.is_rdonly() && mp.statfs().f_flags & MNT_RDONLY != 0);
        assert_eq!(top.create(b"f", 0o644).err(), Some(Errno::EROFS));
        assert_eq!(top.mkdir(b"d", 0o755).err(), Some(Errno::EROFS));
        assert_eq!(top.symlink(b"l", 0o755, b"x").err(), Some(Errno::EROFS));
        assert_eq!(top.authorize(&KauthCred::ROOT, VWRITE), Err(Errno::EROFS), "even for root");
        // MNT_UPDATE without MNT_RDONLY makes it writable; with it, read-only again.
        assert!(Arc::ptr_eq(&mount_common(&top, b"", "/mnt", MNT_UPDATE).unwrap(), &mp));
        let f = top.create(b"f", 0o644).unwrap();
        f.write_at(0, b"data").unwrap();
        let d = top.mkdir(b"d", 0o755).unwrap();
        mount_common(&top, b"", "/mnt", MNT_UPDATE | MNT_RDONLY).unwrap();
        assert_eq!(f.write_at(0, b"more"), Err(Errno::EROFS));
        assert_eq!(f.setsize(0), Err(Errno::EROFS));
        assert_eq!(top.remove(b"f", false).err(), Some(Errno::EROFS));
        assert_eq!(top.rename(b"f", &d, b"g").err(), Some(Errno::EROFS));
        assert_eq!(d.link(b"h", &f).err(), Some(Errno::EROFS));
        assert_eq!(f.read_to_vec().unwrap(), b"data", "reads go on");
        assert!(root.create(b"elsewhere", 0o644).is_ok(), "other file systems are not affected");
        drop((f, d));
        dounmount(&top, 0).unwrap();
        assert!(mnt.create(b"after", 0o644).is_ok(), "the covered directory is as it was");
    }

    #[test]
    fn mounted_ramfs_file_systems_are_bounded() {
        use crate::fs::ramfs::{RAMFS_MOUNT_MAX, ramfs_mount_new, ramfs_mounted};
        let _one = slots();
        let before = ramfs_mounted();
        let mut held = Vec::new();
        while held.len() < RAMFS_MOUNT_MAX - before {
            held.push(ramfs_mount_new().unwrap());
        }
        assert_eq!(ramfs_mount_new().err(), Some(Errno::ENOMEM), "every slot is taken");
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        assert_eq!(mount_common(&mnt, b"ramfs", "/mnt", 0).err(), Some(Errno::ENOMEM));
        assert!(mnt.mountedhere().is_none(), "a refused mount leaves nothing behind");
        held.pop();
        let mp = mount_common(&mnt, b"ramfs", "/mnt", 0).unwrap();
        dounmount(&mp.root().clone(), 0).unwrap();
        drop((mp, held));
        assert_eq!(ramfs_mounted(), before);
    }
}
