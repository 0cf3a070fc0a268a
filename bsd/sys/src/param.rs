//! System limits (XNU `bsd/sys/syslimits.h` and `bsd/sys/param.h`): path and name lengths
//! and the symbolic-link bound that lookups, `posix_spawn`'s open actions and `sysctlbyname`
//! share with user space.

/// Longest path, counting its terminating NUL (`syslimits.h`).
pub const PATH_MAX: usize = 1024;

/// The kernel's name for [`PATH_MAX`] (`param.h` defines it as `PATH_MAX`).
pub const MAXPATHLEN: usize = PATH_MAX;

/// Longest single path component, in bytes (`syslimits.h`).
pub const NAME_MAX: usize = 255;

/// Most symbolic links one lookup may traverse before failing with `ELOOP` (`param.h`).
pub const MAXSYMLINKS: usize = 32;

/// Most groups a process may be in, its effective group included (`NGROUPS_MAX`;
/// `param.h`'s `NGROUPS` is the same).
pub const NGROUPS_MAX: usize = 16;

/// Writes to a pipe of at most this many bytes are atomic (`PIPE_BUF`, `syslimits.h`).
pub const PIPE_BUF: usize = 512;
