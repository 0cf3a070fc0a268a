//! ramfs: the in-memory, writable root file system (and `/tmp`). Every node lives on the
//! kernel heap, and is charged — with its name and its length — to the file system's
//! [`RamQuota`]: directories map names to vnodes, files own the pages that hold their bytes
//! (a hole is no page: it reads as zeros), links own their target ([`ramfs_vnops`]). The
//! quota is also the file system's size as `statfs` reports it. At boot it is filled from
//! the initrd's cpio archive ([`ramfs_cpio`]); `mount(2)` makes fresh, empty ones
//! ([`ramfs_vfsops`]).
//!
//! Nothing here is touched from interrupt context — only by system calls and boot — so its
//! locks are plain `spin` locks rather than the IRQ-masking `osfmk` ones. No ramfs lock is
//! held while another is taken.

mod ramfs_cpio;
mod ramfs_vfsops;
mod ramfs_vnops;

pub use ramfs_cpio::ramfs_from_cpio;
pub use ramfs_vfsops::{RAMFS_MOUNT_MAX, ramfs_mount_new, ramfs_mounted, ramfs_set_mount_share};
pub use ramfs_vnops::{RAMFS_MAXFILESIZE, RAMFS_NODE_COST, RAMFS_NODE_GROWTH_MAX, RAMFS_PAGE_SIZE, RamQuota};

use alloc::boxed::Box;
use alloc::string::ToString;
use alloc::sync::Arc;

use sys::Errno;
use sys::mount::FT_RAMFS;

use crate::vfs::vfs_mount::{MountArgs, VfsConf};
use crate::vfs::vnode::{VType, Vnode, VnodeRef};

/// The ramfs as a kind of file system: `statfs` calls it `"ramfs"`, type [`FT_RAMFS`].
pub static RAMFS_VFSCONF: VfsConf =
    VfsConf { vfc_name: "ramfs", vfc_typenum: FT_RAMFS, vfc_mount: ramfs_mount_new };

/// The quota of the ramfs whose directory (its root, when mounting) is `dvp`: what the file
/// system answers to `statfs` as a whole. Not a ramfs directory: `ENOTDIR`.
pub fn ramfs_quota(dvp: &VnodeRef) -> Result<Arc<RamQuota>, Errno> {
    ramfs_vnops::quota_of(dvp)
}

/// How to mount the ramfs whose root is `root` on `on`, from `from`, with mount flags
/// `flags`; it answers `statfs` from its quota. Not a ramfs root: `ENOTDIR`.
pub fn ramfs_mount_args(root: &VnodeRef, flags: u32, from: &str, on: &str) -> Result<MountArgs, Errno> {
    Ok(MountArgs {
        vfc: &RAMFS_VFSCONF,
        flags,
        from: from.to_string(),
        on: on.to_string(),
        ops: ramfs_quota(root)?,
    })
}

/// Permissions of a directory nobody gave a mode: the root of an empty ramfs, or one the
/// cpio archive only names as part of a longer path (`rwxr-xr-x`).
pub const RAMFS_DEFAULT_DIR_PERM: u16 = 0o755;

/// A new, empty ramfs without limits; returns its root directory (for tests).
#[cfg(test)]
pub fn ramfs_new_root() -> VnodeRef {
    ramfs_new_root_with(RamQuota::unlimited()).expect("an unlimited quota refused the root")
}

/// A new, empty ramfs whose nodes share `quota`; returns its root directory. The root is a
/// node like any other: ENOSPC if the quota has no room for it.
pub fn ramfs_new_root_with(quota: Arc<RamQuota>) -> Result<VnodeRef, Errno> {
    let ops = ramfs_vnops::RamDir::new(quota)?;
    Vnode::new(VType::VDIR, RAMFS_DEFAULT_DIR_PERM, None, Box::new(ops))
}

#[cfg(test)]
mod link_count_tests {
    use super::*;

    /// Link counts as `stat` must report them (BSD's rule: a directory has its entry, its
    /// `.`, and one `..` per subdirectory), kept by the vnode layer through every change.
    #[test]
    fn link_counts_follow_every_name_change() {
        let root = ramfs_new_root();
        assert_eq!(root.nlink(), 2);
        let a = root.mkdir(b"a", 0o755).unwrap();
        let b = root.mkdir(b"b", 0o755).unwrap();
        assert_eq!((root.nlink(), a.nlink()), (4, 2), "each subdirectory's `..`");
        let f = a.create(b"f", 0o644).unwrap();
        assert_eq!(f.nlink(), 1);
        b.link(b"g", &f).unwrap();
        assert_eq!(f.nlink(), 2);
        // A failed link changes nothing.
        assert_eq!(b.link(b"g", &f).unwrap_err(), Errno::EEXIST);
        assert_eq!(f.nlink(), 2);
        a.remove(b"f", false).unwrap();
        assert_eq!(f.nlink(), 1, "still linked from b");
        // Moving a directory moves its `..` from one parent's count to the other's.
        let c = a.mkdir(b"c", 0o755).unwrap();
        assert_eq!(a.nlink(), 3);
        a.rename(b"c", &b, b"c").unwrap();
        assert_eq!((a.nlink(), b.nlink(), c.nlink()), (2, 3, 2));
        // A rename over an existing file takes that file's link away.
        let h = b.create(b"h", 0o644).unwrap();
        b.rename(b"h", &b, b"g").unwrap();
        assert_eq!((f.nlink(), h.nlink()), (0, 1));
        b.remove(b"c", true).unwrap();
        assert_eq!((b.nlink(), c.nlink()), (2, 0));
    }
}
