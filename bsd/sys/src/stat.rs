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
/// The read, write and execute bits of owner, group and other (`ACCESSPERMS`).
pub const ACCESSPERMS: u16 = 0o777;
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

/// A time as `stat` reports it (`struct timespec`, 64-bit).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable,
)]
#[repr(C)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `struct stat64`, what stat64/fstat64/lstat64/fstatat64 write (reference §9.6; on arm64 it
/// is also user space's `struct stat`): 144 bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable,
)]
#[repr(C)]
pub struct Stat64 {
    pub st_dev: i32,
    pub st_mode: u16,
    pub st_nlink: u16,
    pub st_ino: u64,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: i32,
    pub _pad: i32,
    pub st_atimespec: Timespec,
    pub st_mtimespec: Timespec,
    pub st_ctimespec: Timespec,
    pub st_birthtimespec: Timespec,
    pub st_size: i64,
    pub st_blocks: i64,
    pub st_blksize: i32,
    pub st_flags: u32,
    pub st_gen: u32,
    pub st_lspare: i32,
    pub st_qspare: [i64; 2],
}

const _: () = assert!(core::mem::size_of::<Stat64>() == 144);

/// The size of the blocks `st_blocks` counts (`S_BLKSIZE`).
pub const S_BLKSIZE: u64 = 512;

/// `struct direntry`'s fixed part, what getdirentries64 writes before each name (reference
/// §9.7): the name starts at byte 21.
pub const DIRENTRY_NAME_OFFSET: usize = 21;

/// The whole `struct direntry`, with room for a name of `MAXPATHLEN` − 1 bytes.
pub const DIRENTRY_SIZE: usize = 1048;

/// The length of a `struct direntry` record for a name of `namlen` bytes (XNU's
/// `DIRENT64_LEN`): the whole struct less the name space it does not use, rounded up to 8
/// bytes — so at least the fixed part, the name and its NUL.
pub const fn direntry_reclen(namlen: usize) -> usize {
    (DIRENTRY_SIZE + namlen - (crate::param::MAXPATHLEN - 1) + 7) & !7
}

/// Set in getdirentries64's trailing flags word when the directory's end was reached.
pub const GETDIRENTRIES64_EOF: u32 = 1;

/// A buffer at least this long gets getdirentries64's flags word in its last 4 bytes.
pub const GETDIRENTRIES64_EXTENDED_BUFSIZE: usize = 1024;

/// The `d_type` of a record for a file of mode type bits `ifmt` (XNU's `IFTODT`).
pub const fn iftodt(ifmt: u16) -> u8 {
    ((ifmt & S_IFMT) >> 12) as u8
}

#[cfg(test)]
mod stat_tests {
    use super::*;

    /// Offsets from the reference's table (§9.6), not from the struct.
    #[test]
    fn stat64_layout_is_xnus() {
        use core::mem::offset_of;
        assert_eq!(offset_of!(Stat64, st_mode), 4);
        assert_eq!(offset_of!(Stat64, st_nlink), 6);
        assert_eq!(offset_of!(Stat64, st_ino), 8);
        assert_eq!(offset_of!(Stat64, st_uid), 16);
        assert_eq!(offset_of!(Stat64, st_rdev), 24);
        assert_eq!(offset_of!(Stat64, st_atimespec), 32);
        assert_eq!(offset_of!(Stat64, st_birthtimespec), 80);
        assert_eq!(offset_of!(Stat64, st_size), 96);
        assert_eq!(offset_of!(Stat64, st_blocks), 104);
        assert_eq!(offset_of!(Stat64, st_blksize), 112);
        assert_eq!(offset_of!(Stat64, st_gen), 120);
        assert_eq!(offset_of!(Stat64, st_qspare), 128);
    }

    #[test]
    fn direntry_lengths() {
        // (namlen + 32) & ~7, the reference's form of the same rule.
        for namlen in 0..=255 {
            assert_eq!(direntry_reclen(namlen), (namlen + 32) & !7, "{namlen}");
            assert!(direntry_reclen(namlen) > DIRENTRY_NAME_OFFSET + namlen, "room for the name and its NUL");
        }
        assert_eq!(iftodt(S_IFDIR), 4);
        assert_eq!(iftodt(S_IFREG), 8);
        assert_eq!(iftodt(S_IFLNK), 10);
    }
}
