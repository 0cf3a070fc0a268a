//! `posix_spawn` (XNU `bsd/sys/spawn.h` and `spawn_internal.h`): attribute flags and the
//! layouts libc hands the kernel (LP64).

/// The child's effective ids become its real ones.
pub const POSIX_SPAWN_RESETIDS: u16 = 0x0001;
/// The child joins process group `psa_pgroup` (0: a new group of its own).
pub const POSIX_SPAWN_SETPGROUP: u16 = 0x0002;
/// The signals in `psa_sigdefault` go back to SIG_DFL in the child.
pub const POSIX_SPAWN_SETSIGDEF: u16 = 0x0004;
/// The child's signal mask is `psa_sigmask`.
pub const POSIX_SPAWN_SETSIGMASK: u16 = 0x0008;
/// Exec in the caller instead of creating a child (Darwin extension).
pub const POSIX_SPAWN_SETEXEC: u16 = 0x0040;
/// The child starts suspended (its task suspended once).
pub const POSIX_SPAWN_START_SUSPENDED: u16 = 0x0080;
/// The child starts a new session (Darwin extension).
pub const POSIX_SPAWN_SETSID: u16 = 0x0400;
/// Every descriptor not named by an INHERIT action is closed in the child.
pub const POSIX_SPAWN_CLOEXEC_DEFAULT: u16 = 0x4000;

/// `struct _posix_spawn_args_desc` (LP64): nine (size, pointer) pairs.
pub const SPAWN_ARGS_DESC_SIZE: usize = 9 * 16;
/// Offsets in the args descriptor.
pub const ARGS_ATTR_SIZE: usize = 0;
pub const ARGS_ATTRP: usize = 8;
pub const ARGS_FILE_ACTIONS_SIZE: usize = 16;
pub const ARGS_FILE_ACTIONS: usize = 24;

/// `struct _posix_spawnattr`: the leading fields this kernel reads.
pub const ATTR_FLAGS: usize = 0; // short psa_flags
pub const ATTR_SIGDEFAULT: usize = 4; // sigset_t psa_sigdefault
pub const ATTR_SIGMASK: usize = 8; // sigset_t psa_sigmask
pub const ATTR_PGROUP: usize = 12; // pid_t psa_pgroup
/// Bytes of the attribute block read (the fields above).
pub const ATTR_READ_SIZE: usize = 16;

/// File actions (`psfa_t`).
pub const PSFA_OPEN: u32 = 0;
pub const PSFA_CLOSE: u32 = 1;
pub const PSFA_DUP2: u32 = 2;
pub const PSFA_INHERIT: u32 = 3;

/// `struct _posix_spawn_file_actions`: `int alloc, count` then the actions.
pub const FILE_ACTIONS_HEADER: usize = 8;
/// One `_psfa_action_t`: type, fd, then a union whose largest member is the open
/// arguments (oflag, mode, path[PATH_MAX]) rounded to 4 bytes: 8 + 1032.
pub const PSFA_ACTION_SIZE: usize = 1040;
/// Offsets inside an action.
pub const PSFA_TYPE: usize = 0;
pub const PSFA_FILEDES: usize = 4;
pub const PSFA_OPEN_OFLAG: usize = 8;
pub const PSFA_OPEN_MODE: usize = 12;
pub const PSFA_OPEN_PATH: usize = 14;
pub const PSFA_DUP2_NEWFD: usize = 8;
/// `PATH_MAX`.
pub const PATH_MAX: usize = 1024;
