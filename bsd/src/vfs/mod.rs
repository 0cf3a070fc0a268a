//! The virtual file system layer (XNU's `bsd/vfs`): the [`vnode`] every file system hands out,
//! and [`vfs_lookup`], which walks a path over vnodes.
//!
//! It also holds the path limits and file-type mode bits that the lookup and the file systems
//! share. They are user ABI and will move to `sys` when it grows `syslimits`/`stat` modules.

pub mod vfs_lookup;
pub mod vnode;

/// Longest path, counting its terminating NUL (XNU `sys/syslimits.h` `PATH_MAX`, and
/// `sys/param.h` `MAXPATHLEN`).
pub const MAXPATHLEN: usize = 1024;

/// Longest single path component, in bytes (XNU `sys/syslimits.h` `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Most symbolic links one lookup may traverse before failing with `ELOOP`
/// (XNU `sys/param.h` `MAXSYMLINKS`).
pub const MAXSYMLINKS: usize = 32;

/// The file-type field of a mode (XNU `sys/stat.h` `S_IFMT`).
pub const S_IFMT: u16 = 0o170000;
/// Named pipe (`S_IFIFO`).
pub const S_IFIFO: u16 = 0o010000;
/// Character device (`S_IFCHR`).
pub const S_IFCHR: u16 = 0o020000;
/// Directory (`S_IFDIR`).
pub const S_IFDIR: u16 = 0o040000;
/// Block device (`S_IFBLK`).
pub const S_IFBLK: u16 = 0o060000;
/// Regular file (`S_IFREG`).
pub const S_IFREG: u16 = 0o100000;
/// Symbolic link (`S_IFLNK`).
pub const S_IFLNK: u16 = 0o120000;
/// Socket (`S_IFSOCK`).
pub const S_IFSOCK: u16 = 0o140000;
/// Every permission bit: set-id, sticky and rwx for owner, group and other
/// (XNU `sys/stat.h` `ALLPERMS`).
pub const ALLPERMS: u16 = 0o7777;
