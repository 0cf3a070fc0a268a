//! The kinds of file system this kernel has (XNU's `vfs_conf.c` table of `vfstable`s), which
//! `mount(2)` finds by type name: `"ramfs"` and `"devfs"`.

use crate::fs::ramfs::RAMFS_VFSCONF;
use crate::miscfs::devfs::DEVFS_VFSCONF;
use crate::vfs::vfs_mount::VfsConf;

/// Every kind, in the order XNU's table would list them (built-ins first).
static VFSCONF: [&VfsConf; 2] = [&DEVFS_VFSCONF, &RAMFS_VFSCONF];

/// The kind named `name` (XNU's lookup by `vfc_name` in `mount_common`); none: the caller
/// answers `ENODEV`, as XNU does when no `vfsconf` matches.
pub fn vfs_conf_find(name: &[u8]) -> Option<&'static VfsConf> {
    VFSCONF.iter().copied().find(|vfc| vfc.vfc_name.as_bytes() == name)
}
