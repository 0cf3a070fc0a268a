//! File mode bits (XNU `bsd/sys/stat.h`). `struct stat64` joins them with the VFS calls.

/// The file-type field of a mode (`S_IFMT`).
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
/// Every permission bit: set-id, sticky and rwx for owner, group and other (`ALLPERMS`).
pub const ALLPERMS: u16 = 0o7777;
/// Set user id on execution (`S_ISUID`).
pub const S_ISUID: u16 = 0o4000;
/// Set group id on execution (`S_ISGID`).
pub const S_ISGID: u16 = 0o2000;
/// Sticky: in a directory, only an entry's owner (or the directory's, or root) may remove it
/// (`S_ISVTX`).
pub const S_ISVTX: u16 = 0o1000;
/// Read permission, others (XNU `sys/stat.h`).
pub const S_IROTH: u16 = 0o000004;
/// Write permission, others.
pub const S_IWOTH: u16 = 0o000002;
/// Execute (search, for a directory) permission, others.
pub const S_IXOTH: u16 = 0o000001;
