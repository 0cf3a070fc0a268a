//! The virtual file system layer (XNU's `bsd/vfs`): the [`vnode`] every file system hands out,
//! [`vfs_lookup`], which walks a path over vnodes, [`vfs_vnops`] (vnodes as open files) and
//! [`vfs_syscalls`] (the file system calls), and [`vfs_mount`], the mount table that joins
//! file systems into one tree, with [`vfs_conf`], the kinds `mount(2)` can make.
//!
//! The path limits and file-type mode bits that the lookup and the file systems share are
//! user ABI; they live in `sys` (`param`, `stat`) and are re-exported here.

pub mod vfs_conf;
pub mod vfs_lookup;
pub mod vfs_mount;
#[cfg(target_os = "none")]
pub mod vfs_syscalls;
pub mod vfs_vnops;
pub mod vnode;

// Path limits are part of the user ABI; they live in `sys::param`.
pub use sys::param::{MAXPATHLEN, MAXSYMLINKS, NAME_MAX};

// Mode bits are part of the user ABI; they live in `sys::stat`.
pub use sys::stat::{ALLPERMS, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
