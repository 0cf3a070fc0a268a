//! Priorities, limits and resource usage (XNU `bsd/sys/resource.h`).

use core::mem::offset_of;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::time::Timeval;

/// `getpriority`/`setpriority` target: one process (`who` = pid, 0 = the caller).
pub const PRIO_PROCESS: i32 = 0;
/// … a process group (`who` = pgid, 0 = the caller's).
pub const PRIO_PGRP: i32 = 1;
/// … every process of a user (`who` = uid, 0 = the caller's).
pub const PRIO_USER: i32 = 2;
/// `getrusage` target: the calling process.
pub const RUSAGE_SELF: i32 = 0;
/// … its reaped children (and theirs).
pub const RUSAGE_CHILDREN: i32 = -1;
/// Lowest nice value (highest priority).
pub const PRIO_MIN: i32 = -20;
/// Highest nice value (lowest priority).
pub const PRIO_MAX: i32 = 20;

/// `struct rusage` for a 64-bit process (`wait4`, `getrusage`): two timevals and fourteen
/// longs, 144 bytes. Only the times are kept by this kernel so far; the counters are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Rusage {
    /// User time used.
    pub ru_utime: Timeval,
    /// System time used.
    pub ru_stime: Timeval,
    pub ru_maxrss: i64,
    pub ru_ixrss: i64,
    pub ru_idrss: i64,
    pub ru_isrss: i64,
    pub ru_minflt: i64,
    pub ru_majflt: i64,
    pub ru_nswap: i64,
    pub ru_inblock: i64,
    pub ru_oublock: i64,
    pub ru_msgsnd: i64,
    pub ru_msgrcv: i64,
    pub ru_nsignals: i64,
    pub ru_nvcsw: i64,
    pub ru_nivcsw: i64,
}

/// Byte size of [`Rusage`].
pub const RUSAGE_SIZE: usize = 144;

const _: () = assert!(core::mem::size_of::<Rusage>() == RUSAGE_SIZE);
const _: () = assert!(offset_of!(Rusage, ru_stime) == 16 && offset_of!(Rusage, ru_maxrss) == 32);
const _: () = assert!(offset_of!(Rusage, ru_nivcsw) == 136);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rusage_layout() {
        let r = Rusage {
            ru_utime: Timeval { tv_sec: 2, tv_usec: 500, _pad: 0 },
            ru_stime: Timeval { tv_sec: 1, tv_usec: 7, _pad: 0 },
            ru_maxrss: 11,
            ru_nivcsw: 99,
            ..Rusage::default()
        };
        let b = r.as_bytes();
        assert_eq!(&b[0..8], &2i64.to_le_bytes());
        assert_eq!(&b[8..12], &500i32.to_le_bytes());
        assert_eq!(&b[16..24], &1i64.to_le_bytes());
        assert_eq!(&b[24..28], &7i32.to_le_bytes());
        assert_eq!(&b[32..40], &11i64.to_le_bytes());
        assert_eq!(&b[136..144], &99i64.to_le_bytes());
    }
}

/// `struct rlimit`: soft (current) and hard (maximum) limit, 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

const _: () = assert!(core::mem::size_of::<Rlimit>() == 16 && offset_of!(Rlimit, rlim_max) == 8);

/// No limit (`RLIM_INFINITY`, 2^63 − 1).
pub const RLIM_INFINITY: u64 = (1 << 63) - 1;
/// Resources (`RLIMIT_*`).
pub const RLIMIT_CPU: u32 = 0;
pub const RLIMIT_FSIZE: u32 = 1;
pub const RLIMIT_DATA: u32 = 2;
pub const RLIMIT_STACK: u32 = 3;
pub const RLIMIT_CORE: u32 = 4;
/// Address space (same slot as RLIMIT_RSS).
pub const RLIMIT_AS: u32 = 5;
pub const RLIMIT_MEMLOCK: u32 = 6;
pub const RLIMIT_NPROC: u32 = 7;
pub const RLIMIT_NOFILE: u32 = 8;
/// Number of resources.
pub const RLIM_NLIMITS: u32 = 9;
