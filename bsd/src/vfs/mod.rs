//! The virtual file system layer (XNU's `bsd/vfs`): the [`vnode`] every file system hands out,
//! [`vfs_lookup`], which walks a path over vnodes, [`vfs_vnops`] (vnodes as open files) and
//! [`vfs_syscalls`] (the file system calls).
//!
//! It also holds the path limits and file-type mode bits that the lookup and the file systems
//! share. They are user ABI and will move to `sys` when it grows `syslimits`/`stat` modules.

pub mod vfs_lookup;
#[cfg(target_os = "none")]
pub mod vfs_syscalls;
pub mod vfs_vnops;
pub mod vnode;

/// Longest path, counting its terminating NUL (XNU `sys/syslimits.h` `PATH_MAX`, and
/// `sys/param.h` `MAXPATHLEN`).
pub const MAXPATHLEN: usize = 1024;

/// Longest single path component, in bytes (XNU `sys/syslimits.h` `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Most symbolic links one lookup may traverse before failing with `ELOOP`
/// (XNU `sys/param.h` `MAXSYMLINKS`).
pub const MAXSYMLINKS: usize = 32;

// Mode bits are part of the user ABI; they live in `sys::stat`.
pub use sys::stat::{ALLPERMS, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
