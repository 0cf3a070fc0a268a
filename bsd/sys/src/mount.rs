//! File system statistics (XNU `bsd/sys/mount.h`): `struct statfs` in its 64-bit-inode form,
//! what statfs64 (345), fstatfs64 (346) and getfsstat64 (347) write, and the mount flags and
//! type numbers it reports (reference files-tty-tools §2.1), and the command flags of
//! mount (167) and unmount (159).

/// Bytes of a file system type name with its NUL (`MFSTYPENAMELEN`).
pub const MFSTYPENAMELEN: usize = 16;

/// Read-only file system (`MNT_RDONLY`).
pub const MNT_RDONLY: u32 = 0x0000_0001;
/// Written synchronously (`MNT_SYNCHRONOUS`).
pub const MNT_SYNCHRONOUS: u32 = 0x0000_0002;
/// Programs on it cannot be run (`MNT_NOEXEC`).
pub const MNT_NOEXEC: u32 = 0x0000_0004;
/// Set-id bits are not honoured (`MNT_NOSUID`).
pub const MNT_NOSUID: u32 = 0x0000_0008;
/// Device nodes are not interpreted (`MNT_NODEV`).
pub const MNT_NODEV: u32 = 0x0000_0010;
/// A union with the file system beneath (`MNT_UNION`).
pub const MNT_UNION: u32 = 0x0000_0020;
/// Written asynchronously (`MNT_ASYNC`).
pub const MNT_ASYNC: u32 = 0x0000_0040;
/// Supports content protection (`MNT_CPROTECT`).
pub const MNT_CPROTECT: u32 = 0x0000_0080;
/// Exported over NFS (`MNT_EXPORTED`).
pub const MNT_EXPORTED: u32 = 0x0000_0100;
/// Removable storage (`MNT_REMOVABLE`).
pub const MNT_REMOVABLE: u32 = 0x0000_0200;
/// Quarantined (`MNT_QUARANTINE`).
pub const MNT_QUARANTINE: u32 = 0x0000_0400;
/// Stored locally (`MNT_LOCAL`).
pub const MNT_LOCAL: u32 = 0x0000_1000;
/// Quotas are on (`MNT_QUOTA`).
pub const MNT_QUOTA: u32 = 0x0000_2000;
/// The root file system (`MNT_ROOTFS`).
pub const MNT_ROOTFS: u32 = 0x0000_4000;
/// Supports volfs (`MNT_DOVOLFS`, deprecated).
pub const MNT_DOVOLFS: u32 = 0x0000_8000;
/// Not a path to user data: Finder does not show it (`MNT_DONTBROWSE`).
pub const MNT_DONTBROWSE: u32 = 0x0010_0000;
/// Ownership is ignored (`MNT_IGNORE_OWNERSHIP`).
pub const MNT_IGNORE_OWNERSHIP: u32 = 0x0020_0000;
/// Mounted by the automounter (`MNT_AUTOMOUNTED`).
pub const MNT_AUTOMOUNTED: u32 = 0x0040_0000;
/// Journaled (`MNT_JOURNALED`).
pub const MNT_JOURNALED: u32 = 0x0080_0000;
/// No user extended attributes (`MNT_NOUSERXATTR`).
pub const MNT_NOUSERXATTR: u32 = 0x0100_0000;
/// Writes are deferred (`MNT_DEFWRITE`).
pub const MNT_DEFWRITE: u32 = 0x0200_0000;
/// MAC labels per object (`MNT_MULTILABEL`).
pub const MNT_MULTILABEL: u32 = 0x0400_0000;
/// A symbolic link is not followed to the mount point (`MNT_NOFOLLOW`).
pub const MNT_NOFOLLOW: u32 = 0x0800_0000;
/// Access times are not updated (`MNT_NOATIME`).
pub const MNT_NOATIME: u32 = 0x1000_0000;
/// A snapshot (`MNT_SNAPSHOT`).
pub const MNT_SNAPSHOT: u32 = 0x4000_0000;
/// Access times are updated strictly (`MNT_STRICTATIME`).
pub const MNT_STRICTATIME: u32 = 0x8000_0000;

/// The mount flags statfs reports (`MNT_VISFLAGMASK`): every state flag above; the command
/// flags of mount and unmount (`MNT_UPDATE`, `MNT_FORCE` …) are never shown.
pub const MNT_VISFLAGMASK: u32 = MNT_RDONLY
    | MNT_SYNCHRONOUS
    | MNT_NOEXEC
    | MNT_NOSUID
    | MNT_NODEV
    | MNT_UNION
    | MNT_ASYNC
    | MNT_EXPORTED
    | MNT_QUARANTINE
    | MNT_LOCAL
    | MNT_QUOTA
    | MNT_REMOVABLE
    | MNT_ROOTFS
    | MNT_DOVOLFS
    | MNT_DONTBROWSE
    | MNT_IGNORE_OWNERSHIP
    | MNT_AUTOMOUNTED
    | MNT_JOURNALED
    | MNT_NOUSERXATTR
    | MNT_DEFWRITE
    | MNT_MULTILABEL
    | MNT_NOFOLLOW
    | MNT_NOATIME
    | MNT_STRICTATIME
    | MNT_SNAPSHOT
    | MNT_CPROTECT;

/// mount command flag: change the flags of the file system mounted at the directory
/// instead of mounting a new one (`MNT_UPDATE`).
pub const MNT_UPDATE: u32 = 0x0001_0000;
/// unmount command flag: do not wait for a busy file system (`MNT_NOBLOCK`).
pub const MNT_NOBLOCK: u32 = 0x0002_0000;
/// mount command flag: reload the file system's state from its device (`MNT_RELOAD`).
pub const MNT_RELOAD: u32 = 0x0004_0000;
/// unmount command flag: take the file system down even while it is in use (`MNT_FORCE`).
pub const MNT_FORCE: u32 = 0x0008_0000;

/// getfsstat64 flag: refresh every file system's statistics first (`MNT_WAIT`).
pub const MNT_WAIT: i32 = 1;
/// getfsstat64 flag: report the statistics cached (`MNT_NOWAIT`).
pub const MNT_NOWAIT: i32 = 2;
/// getfsstat64 flag: as `MNT_WAIT` (`MNT_DWAIT`).
pub const MNT_DWAIT: i32 = 4;

/// devfs's type number (XNU's `FT_DEVFS`, `bsd/vfs/vfs_conf.c`).
pub const FT_DEVFS: u32 = 19;
/// The ramfs's type number. XNU has no ramfs: this is the first number it gives a file
/// system registered after its built-in ones (`fstypenumstart`, one past `FT_BINDFS` 23).
pub const FT_RAMFS: u32 = 24;

/// A file system's id (`fsid_t`): two 32-bit words. XNU puts a number that tells mounts apart
/// in the first and the type number in the second.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable,
)]
#[repr(C)]
pub struct Fsid {
    pub val: [i32; 2],
}

/// `struct statfs` with 64-bit inodes (`statfs64`): 2168 bytes, offsets in the reference's
/// table. Names are NUL-terminated within their arrays.
#[derive(Clone, Debug, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
pub struct Statfs {
    /// Fundamental block size: the unit of `f_blocks`, `f_bfree`, `f_bavail`.
    pub f_bsize: u32,
    /// Optimal transfer size.
    pub f_iosize: i32,
    /// Blocks in the file system.
    pub f_blocks: u64,
    /// Free blocks.
    pub f_bfree: u64,
    /// Free blocks an unprivileged user may use.
    pub f_bavail: u64,
    /// File nodes in the file system.
    pub f_files: u64,
    /// Free file nodes.
    pub f_ffree: u64,
    pub f_fsid: Fsid,
    /// Who mounted it.
    pub f_owner: u32,
    /// The type number (`FT_*`).
    pub f_type: u32,
    /// Mount flags, within [`MNT_VISFLAGMASK`].
    pub f_flags: u32,
    pub f_fssubtype: u32,
    /// The type name (`"ramfs"`, `"devfs"`).
    pub f_fstypename: [u8; MFSTYPENAMELEN],
    /// Where it is mounted.
    pub f_mntonname: [u8; crate::param::MAXPATHLEN],
    /// What is mounted there.
    pub f_mntfromname: [u8; crate::param::MAXPATHLEN],
    /// `MNT_EXT_*` flags.
    pub f_flags_ext: u32,
    pub f_reserved: [u32; 7],
}

const _: () = assert!(core::mem::size_of::<Statfs>() == 2168);

impl Statfs {
    /// All fields zero, as the kernel starts the struct it fills.
    pub fn zeroed() -> Statfs {
        <Statfs as zerocopy::FromZeros>::new_zeroed()
    }
}

/// Copies `name` into `field` with a terminating NUL, cut short to fit (`strlcpy`).
pub fn set_name(field: &mut [u8], name: &[u8]) {
    let n = name.len().min(field.len().saturating_sub(1));
    field[..n].copy_from_slice(&name[..n]);
    field[n..].fill(0);
}

/// The NUL-terminated name in `field`, without its NUL.
pub fn name_of(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    /// Offsets from the reference's table (§2.1), not from the struct.
    #[test]
    fn statfs_layout_is_xnus() {
        assert_eq!(core::mem::size_of::<Statfs>(), 2168);
        assert_eq!(offset_of!(Statfs, f_iosize), 4);
        assert_eq!(offset_of!(Statfs, f_blocks), 8);
        assert_eq!(offset_of!(Statfs, f_bfree), 16);
        assert_eq!(offset_of!(Statfs, f_bavail), 24);
        assert_eq!(offset_of!(Statfs, f_files), 32);
        assert_eq!(offset_of!(Statfs, f_ffree), 40);
        assert_eq!(offset_of!(Statfs, f_fsid), 48);
        assert_eq!(offset_of!(Statfs, f_owner), 56);
        assert_eq!(offset_of!(Statfs, f_type), 60);
        assert_eq!(offset_of!(Statfs, f_flags), 64);
        assert_eq!(offset_of!(Statfs, f_fssubtype), 68);
        assert_eq!(offset_of!(Statfs, f_fstypename), 72);
        assert_eq!(offset_of!(Statfs, f_mntonname), 88);
        assert_eq!(offset_of!(Statfs, f_mntfromname), 1112);
        assert_eq!(offset_of!(Statfs, f_flags_ext), 2136);
        assert_eq!(offset_of!(Statfs, f_reserved), 2140);
        assert_eq!(core::mem::size_of::<Fsid>(), 8);
    }

    #[test]
    fn flag_values_are_xnus() {
        assert_eq!(
            MNT_VISFLAGMASK & 0x000f_0000,
            0,
            "no command flag (UPDATE/NOBLOCK/RELOAD/FORCE) is visible"
        );
        assert_eq!(
            MNT_VISFLAGMASK & (MNT_LOCAL | MNT_ROOTFS | MNT_DONTBROWSE),
            MNT_LOCAL | MNT_ROOTFS | MNT_DONTBROWSE
        );
        assert_eq!(
            (MNT_LOCAL, MNT_ROOTFS, MNT_DONTBROWSE, MNT_NOFOLLOW),
            (0x1000, 0x4000, 0x10_0000, 0x800_0000)
        );
    }

    #[test]
    fn names_are_nul_terminated_and_cut_to_fit() {
        let mut s = Statfs::zeroed();
        set_name(&mut s.f_fstypename, b"ramfs");
        assert_eq!(name_of(&s.f_fstypename), b"ramfs");
        set_name(&mut s.f_fstypename, b"a-very-long-type-name");
        assert_eq!(name_of(&s.f_fstypename), b"a-very-long-typ", "15 bytes and the NUL");
        assert_eq!(s.f_fstypename[MFSTYPENAMELEN - 1], 0);
        set_name(&mut s.f_fstypename, b"dev");
        assert_eq!(&s.f_fstypename[..4], b"dev\0");
        assert!(s.f_fstypename[4..].iter().all(|&b| b == 0), "the rest cleared");
    }
}
