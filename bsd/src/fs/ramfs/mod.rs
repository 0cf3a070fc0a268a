//! ramfs: the in-memory, writable root file system. Every node lives on the kernel heap:
//! directories map names to vnodes, files own their bytes, links own their target
//! ([`ramfs_vnops`]). At boot it is filled from the initrd's cpio archive ([`ramfs_cpio`]).
//!
//! Nothing here is touched from interrupt context — only by system calls and boot — so its
//! locks are plain `spin` locks rather than the IRQ-masking `osfmk` ones. No ramfs lock is
//! held while another is taken.

mod ramfs_cpio;
mod ramfs_vnops;

pub use ramfs_cpio::ramfs_from_cpio;
pub use ramfs_vnops::RamQuota;

use alloc::boxed::Box;
use alloc::sync::Arc;

use crate::vfs::vnode::{VType, Vnode, VnodeRef};

/// Permissions of a directory nobody gave a mode: the root of an empty ramfs, or one the
/// cpio archive only names as part of a longer path (`rwxr-xr-x`).
pub const RAMFS_DEFAULT_DIR_PERM: u16 = 0o755;

/// A new, empty ramfs without a data limit; returns its root directory.
pub fn ramfs_new_root() -> VnodeRef {
    ramfs_new_root_with(RamQuota::unlimited())
}

/// A new, empty ramfs whose files share `quota`; returns its root directory.
pub fn ramfs_new_root_with(quota: Arc<RamQuota>) -> VnodeRef {
    Vnode::new(VType::VDIR, RAMFS_DEFAULT_DIR_PERM, None, Box::new(ramfs_vnops::RamDir::new(quota)))
}
