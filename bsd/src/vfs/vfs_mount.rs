//! The mount table (XNU's `struct mount` and its `mountlist`, `vfs_mount.c`-era logic from
//! `vfs_syscalls.c`/`vfs_subr.c`): a file system's root vnode grafted onto a directory
//! vnode, which it then hides.
//!
//! A [`Mount`] joins two vnodes both ways: the covered directory's `v_mountedhere` points at
//! the mount, so a lookup that reaches the directory continues at the mounted root; the
//! mounted root knows its mount, so `..` from it leaves for the covered directory's parent
//! (`vfs_lookup`). Every live mount is also on the global list ([`mountlist`]) in the
//! order they were made.

use alloc::sync::Arc;
use alloc::vec::Vec;

use sys::Errno;

use crate::vfs::vnode::{VType, VnodeRef};

/// A mounted file system.
pub struct Mount {
    /// The directory it is mounted on (XNU's `mnt_vnodecovered`).
    mnt_vnodecovered: VnodeRef,
    /// Its root directory (what XNU's `VFS_ROOT` returns).
    mnt_root: VnodeRef,
    /// The file system's type name (`f_fstypename`), e.g. `"ramfs"`.
    mnt_fstypename: &'static str,
}

/// A counted reference to a mount.
pub type MountRef = Arc<Mount>;

impl Mount {
    /// The directory this file system hides.
    pub fn covered(&self) -> &VnodeRef {
        &self.mnt_vnodecovered
    }

    /// The mounted file system's root directory.
    pub fn root(&self) -> &VnodeRef {
        &self.mnt_root
    }

    /// The file system's type name.
    pub fn fstypename(&self) -> &'static str {
        self.mnt_fstypename
    }
}

/// Every mount, oldest first (XNU's `mountlist`). A reader-writer spin lock: each mount
/// and unmount writes it once, nothing else takes a lock under it.
static MOUNTLIST: spin::RwLock<Vec<MountRef>> = spin::RwLock::new(Vec::new());

/// The mounts there are, oldest first.
pub fn mountlist() -> Vec<MountRef> {
    MOUNTLIST.read().clone()
}

/// Mounts the file system whose root directory is `root` on directory `covered`. `covered`
/// not a directory: `ENOTDIR`; already a mount point, or the root of a mounted file system
/// already: `EBUSY` (XNU refuses to stack a mount on a covered vnode); `root` not a
/// directory or mounted elsewhere already: `EINVAL`. Who may mount is the caller's concern.
pub fn vfs_mount(covered: &VnodeRef, root: VnodeRef, fstypename: &'static str) -> Result<MountRef, Errno> {
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
    let mp =
        Arc::new(Mount { mnt_vnodecovered: covered.clone(), mnt_root: root, mnt_fstypename: fstypename });
    mp.mnt_root.mounts.write().root_of = Some(Arc::downgrade(&mp));
    covered.mounts.write().mountedhere = Some(mp.clone());
    list.push(mp.clone());
    Ok(mp)
}

/// Takes mount `mp` down: its covered directory shows again. Something still mounted on
/// the mounted root: `EBUSY`; not mounted (any more): `EINVAL`. Vnodes of the file system
/// that are still held (open files, a cwd) stay usable; `..` from its root then stops
/// there, as from any file system root.
pub fn vfs_unmount(mp: &MountRef) -> Result<(), Errno> {
    let mut list = MOUNTLIST.write();
    let Some(at) = list.iter().position(|m| Arc::ptr_eq(m, mp)) else {
        return Err(Errno::EINVAL);
    };
    if mp.mnt_root.mountedhere().is_some() {
        return Err(Errno::EBUSY);
    }
    list.remove(at);
    mp.mnt_vnodecovered.mounts.write().mountedhere = None;
    mp.mnt_root.mounts.write().root_of = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::ramfs::ramfs_new_root;

    #[test]
    fn mount_links_both_ways_and_unmount_undoes_it() {
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let other = ramfs_new_root();
        let mp = vfs_mount(&mnt, other.clone(), "ramfs").unwrap();
        assert!(Arc::ptr_eq(&mnt.mountedhere().unwrap(), &mp));
        assert!(Arc::ptr_eq(&other.root_of().unwrap(), &mp));
        assert!(Arc::ptr_eq(mp.covered(), &mnt) && Arc::ptr_eq(mp.root(), &other));
        assert_eq!(mp.fstypename(), "ramfs");
        assert!(mountlist().iter().any(|m| Arc::ptr_eq(m, &mp)));
        vfs_unmount(&mp).unwrap();
        assert!(mnt.mountedhere().is_none() && other.root_of().is_none());
        assert!(!mountlist().iter().any(|m| Arc::ptr_eq(m, &mp)));
        assert_eq!(vfs_unmount(&mp), Err(Errno::EINVAL), "not mounted any more");
    }

    #[test]
    fn mount_refuses_what_xnu_refuses() {
        let root = ramfs_new_root();
        let mnt = root.mkdir(b"mnt", 0o755).unwrap();
        let file = root.create(b"f", 0o644).unwrap();
        let (a, b) = (ramfs_new_root(), ramfs_new_root());
        assert_eq!(vfs_mount(&file, a.clone(), "ramfs").err(), Some(Errno::ENOTDIR));
        assert_eq!(vfs_mount(&mnt, file.clone(), "ramfs").err(), Some(Errno::EINVAL));
        assert_eq!(vfs_mount(&mnt, mnt.clone(), "ramfs").err(), Some(Errno::EINVAL));
        let mp = vfs_mount(&mnt, a.clone(), "ramfs").unwrap();
        assert_eq!(vfs_mount(&mnt, b.clone(), "ramfs").err(), Some(Errno::EBUSY), "one mount per directory");
        let elsewhere = root.mkdir(b"other", 0o755).unwrap();
        assert_eq!(
            vfs_mount(&elsewhere, a.clone(), "ramfs").err(),
            Some(Errno::EINVAL),
            "a root mounts once"
        );
        // A mount may stack on a mounted root; it holds the lower one up until it goes.
        let upper = vfs_mount(&a, b, "ramfs").unwrap();
        assert_eq!(vfs_unmount(&mp), Err(Errno::EBUSY));
        vfs_unmount(&upper).unwrap();
        vfs_unmount(&mp).unwrap();
    }
}
