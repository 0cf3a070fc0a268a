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
