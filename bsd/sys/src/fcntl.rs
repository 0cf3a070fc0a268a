//! Open flags (XNU `bsd/sys/fcntl.h`, reference §9.3).

/// Open for reading only.
pub const O_RDONLY: u32 = 0x0000;
/// Open for writing only.
pub const O_WRONLY: u32 = 0x0001;
/// Open for reading and writing.
pub const O_RDWR: u32 = 0x0002;
/// The access-mode bits.
pub const O_ACCMODE: u32 = 0x0003;
/// Writes go to the end.
pub const O_APPEND: u32 = 0x0008;
/// Create the file if it does not exist.
pub const O_CREAT: u32 = 0x0200;
/// Truncate to zero length.
pub const O_TRUNC: u32 = 0x0400;
/// With O_CREAT: fail if the file exists.
pub const O_EXCL: u32 = 0x0800;
/// Close the descriptor on exec.
pub const O_CLOEXEC: u32 = 0x0100_0000;
/// Do not follow a symbolic link as the last component (`O_NOFOLLOW`; ELOOP if it is one).
pub const O_NOFOLLOW: u32 = 0x0000_0100;
/// Fail with ENOTDIR unless the path names a directory (`O_DIRECTORY`).
pub const O_DIRECTORY: u32 = 0x0010_0000;
/// Take a shared `flock` lock on the new description as it opens (`O_SHLOCK`).
pub const O_SHLOCK: u32 = 0x0000_0010;
/// Take an exclusive `flock` lock on the new description as it opens (`O_EXLOCK`).
pub const O_EXLOCK: u32 = 0x0000_0020;

/// `fcntl` commands (an `int`, as its `cmd` argument is).
/// Duplicate to the lowest free descriptor at or above the argument.
pub const F_DUPFD: i32 = 0;
/// Read the descriptor flags (`FD_CLOEXEC`).
pub const F_GETFD: i32 = 1;
/// Set the descriptor flags.
pub const F_SETFD: i32 = 2;
/// `F_DUPFD`, with close-on-exec set on the new descriptor.
pub const F_DUPFD_CLOEXEC: i32 = 67;
/// The descriptor flag: close on exec.
pub const FD_CLOEXEC: i32 = 1;
/// Read the open file's status flags and access mode.
pub const F_GETFL: i32 = 3;
/// Set the open file's status flags (`O_APPEND`, `O_NONBLOCK`, ...).
pub const F_SETFL: i32 = 4;

/// Non-blocking I/O (`O_NDELAY` is the same bit).
pub const O_NONBLOCK: u32 = 0x0004;
/// Signal the process group when I/O is possible.
pub const O_ASYNC: u32 = 0x0040;
/// Synchronous writes.
pub const O_SYNC: u32 = 0x0080;

/// `ioctl` requests every file answers or refuses (`sys/filio.h`, reference §9.9).
/// Bytes ready to read, as an `int`.
pub const FIONREAD: u32 = 0x4004_667f;
/// Set (non-zero `int`) or clear non-blocking I/O.
pub const FIONBIO: u32 = 0x8004_667e;
/// Set (non-zero `int`) or clear asynchronous I/O signals.
pub const FIOASYNC: u32 = 0x8004_667d;
/// Set close-on-exec on the descriptor.
pub const FIOCLEX: u32 = 0x2000_6601;
/// Clear close-on-exec on the descriptor.
pub const FIONCLEX: u32 = 0x2000_6602;

/// `lseek` whence: from the start of the file.
pub const SEEK_SET: i32 = 0;
/// From the current offset.
pub const SEEK_CUR: i32 = 1;
/// From the end of the file.
pub const SEEK_END: i32 = 2;

/// `O_NOCTTY`: opening a terminal does not make it the controlling terminal.
pub const O_NOCTTY: u32 = 0x0002_0000;

/// More `fcntl` commands (reference §9.4).
/// Turn data caching off (non-zero) or on for the file: accepted, the ramfs has no cache
/// apart from the file itself.
pub const F_NOCACHE: i32 = 48;
/// The file's path, into a buffer of `MAXPATHLEN` bytes.
pub const F_GETPATH: i32 = 50;
/// Flush the file's data to permanent storage (`fsync`, and the drive's cache too).
pub const F_FULLFSYNC: i32 = 51;
/// Set (non-zero) or clear "no SIGPIPE" on the open file description.
pub const F_SETNOSIGPIPE: i32 = 73;
/// Read "no SIGPIPE" (1 or 0).
pub const F_GETNOSIGPIPE: i32 = 74;

/// The `*at` calls' directory argument meaning "the working directory" (`AT_FDCWD`).
pub const AT_FDCWD: i32 = -2;
/// `faccessat`: check with the effective ids, not the real ones.
pub const AT_EACCESS: i32 = 0x10;
/// Describe or change a final symbolic link itself.
pub const AT_SYMLINK_NOFOLLOW: i32 = 0x20;
/// `linkat`: follow a final symbolic link of the existing path.
pub const AT_SYMLINK_FOLLOW: i32 = 0x40;
/// `unlinkat`: remove a directory (as `rmdir`).
pub const AT_REMOVEDIR: i32 = 0x80;
/// Fail with ELOOP on a symbolic link anywhere in the path.
pub const AT_SYMLINK_NOFOLLOW_ANY: i32 = 0x800;

/// `access` modes (`sys/unistd.h`): existence, and the three permissions.
pub const F_OK: i32 = 0;
/// Execute (search, for a directory).
pub const X_OK: i32 = 1;
/// Write.
pub const W_OK: i32 = 2;
/// Read.
pub const R_OK: i32 = 4;

/// `flock` operations (reference §9.4): shared lock.
pub const LOCK_SH: i32 = 1;
/// Exclusive lock.
pub const LOCK_EX: i32 = 2;
/// Do not wait: EAGAIN on a conflict.
pub const LOCK_NB: i32 = 4;
/// Unlock.
pub const LOCK_UN: i32 = 8;

/// The `ioctl` request encoding (`sys/ioccom.h`, reference §9.9): direction bits, a 13-bit
/// parameter length, a group byte and a number byte.
/// No parameter.
pub const IOC_VOID: u32 = 0x2000_0000;
/// The parameter is copied out to user memory after the call.
pub const IOC_OUT: u32 = 0x4000_0000;
/// The parameter is copied in from user memory before the call.
pub const IOC_IN: u32 = 0x8000_0000;
/// Copied both ways.
pub const IOC_INOUT: u32 = IOC_IN | IOC_OUT;
/// The length field's mask (after shifting right 16).
pub const IOCPARM_MASK: u32 = 0x1fff;

/// The parameter length encoded in request `cmd`.
pub const fn iocparm_len(cmd: u32) -> usize {
    ((cmd >> 16) & IOCPARM_MASK) as usize
}

/// The most buffers one `readv`/`writev` may name (`UIO_MAXIOV`, `IOV_MAX`).
pub const UIO_MAXIOV: usize = 1024;

/// The initial file-creation mask of a process (`CMASK`).
pub const CMASK: u16 = 0o022;
