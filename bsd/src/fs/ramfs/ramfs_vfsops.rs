//! A fresh ramfs for `mount(2)` (the ramfs's `VFS_MOUNT`): an empty file system with a fixed
//! share of the file systems' heap allowance, so that mounting again and again cannot take
//! more of the kernel heap than the shares add up to. At most [`RAMFS_MOUNT_MAX`] such
//! file systems exist at once; each one's share ([`RamfsShare`]) is held by its quota, so it
//! comes back when the last of its vnodes goes — at `unmount(2)`, or when the last file
//! open in it after a forced unmount closes.

use core::sync::atomic::{AtomicUsize, Ordering};

use sys::Errno;

use super::{RAMFS_NODE_GROWTH_MAX, RamQuota, ramfs_new_root_with};
use crate::vfs::vfs_mount::VfsInstance;

/// Most ramfs file systems `mount(2)` may have made and not yet given back (besides the
/// root file system and `/tmp`, which boot makes). One more: `ENOMEM`.
pub const RAMFS_MOUNT_MAX: usize = 8;

/// Bytes each mounted ramfs may grow to: set once at boot from the file systems' heap
/// allowance; no limit before (host tests), as `osfmk::kern::budget::heap_share` has none.
static RAMFS_MOUNT_SHARE: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Ramfs file systems `mount(2)` made that still exist.
static RAMFS_MOUNTED: AtomicUsize = AtomicUsize::new(0);

/// Sets how many bytes each ramfs made by `mount(2)` may hold (boot).
pub fn ramfs_set_mount_share(bytes: usize) {
    RAMFS_MOUNT_SHARE.store(bytes, Ordering::Release);
}

/// Ramfs file systems made by `mount(2)` that still hold their share.
pub fn ramfs_mounted() -> usize {
    RAMFS_MOUNTED.load(Ordering::Acquire)
}

/// One mounted ramfs's claim on a [`RAMFS_MOUNT_MAX`] slot, given back when dropped.
pub struct RamfsShare(());

impl RamfsShare {
    /// Takes a slot; none left: `ENOMEM`.
    fn take() -> Result<RamfsShare, Errno> {
        RAMFS_MOUNTED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(1).filter(|&t| t <= RAMFS_MOUNT_MAX)
            })
            .map(|_| RamfsShare(()))
            .map_err(|_| Errno::ENOMEM)
    }
}

impl Drop for RamfsShare {
    fn drop(&mut self) {
        RAMFS_MOUNTED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A new, empty ramfs for `mount(2)`: its root (mode `0755`, root's) and its quota, which
/// allows the share set at boot and [`RAMFS_NODE_GROWTH_MAX`] nodes beyond the root.
pub fn ramfs_mount_new() -> Result<VfsInstance, Errno> {
    let quota = RamQuota::with_share(RamfsShare::take()?);
    let root = ramfs_new_root_with(quota.clone())?;
    quota.cap_growth(RAMFS_MOUNT_SHARE.load(Ordering::Acquire));
    quota.cap_node_growth(RAMFS_NODE_GROWTH_MAX);
    Ok((root, quota))
}
