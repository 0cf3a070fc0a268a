//! ramfs: the in-memory, writable root file system. Every node lives on the kernel heap,
//! and is charged — with its name and data — to the file system's [`RamQuota`]:
//! directories map names to vnodes, files own their bytes, links own their target
//! ([`ramfs_vnops`]). At boot it is filled from the initrd's cpio archive ([`ramfs_cpio`]).
//!
//! Nothing here is touched from interrupt context — only by system calls and boot — so its
//! locks are plain `spin` locks rather than the IRQ-masking `osfmk` ones. No ramfs lock is
//! held while another is taken.

mod ramfs_cpio;
mod ramfs_vnops;

pub use ramfs_cpio::ramfs_from_cpio;
pub use ramfs_vnops::{RAMFS_NODE_COST, RAMFS_NODE_GROWTH_MAX, RamQuota};

use alloc::boxed::Box;
use alloc::sync::Arc;

use sys::Errno;

use crate::vfs::vnode::{VType, Vnode, VnodeRef};

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
    Ok(Vnode::new(VType::VDIR, RAMFS_DEFAULT_DIR_PERM, None, Box::new(ops)))
}
