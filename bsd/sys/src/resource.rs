//! Priorities, limits and resource usage (XNU `bsd/sys/resource.h`).

use core::mem::offset_of;

use crate::le;
use crate::time::Timeval;

/// `getpriority`/`setpriority` target: one process (`who` = pid, 0 = the caller).
pub const PRIO_PROCESS: u64 = 0;
/// … a process group (`who` = pgid, 0 = the caller's).
pub const PRIO_PGRP: u64 = 1;
/// … every process of a user (`who` = uid, 0 = the caller's).
pub const PRIO_USER: u64 = 2;
/// Lowest nice value (highest priority).
pub const PRIO_MIN: i32 = -20;
/// Highest nice value (lowest priority).
pub const PRIO_MAX: i32 = 20;

/// `struct rusage` for a 64-bit process (`wait4`, `getrusage`): two timevals and fourteen
/// longs, 144 bytes. Only the times are kept by this kernel so far; the counters are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

impl Rusage {
    /// The bytes user space reads.
    pub fn to_bytes(&self) -> [u8; RUSAGE_SIZE] {
        let mut b = [0u8; RUSAGE_SIZE];
        le::put(&mut b, offset_of!(Rusage, ru_utime), self.ru_utime.to_bytes());
        le::put(&mut b, offset_of!(Rusage, ru_stime), self.ru_stime.to_bytes());
        let longs = [
            self.ru_maxrss,
            self.ru_ixrss,
            self.ru_idrss,
            self.ru_isrss,
            self.ru_minflt,
            self.ru_majflt,
            self.ru_nswap,
            self.ru_inblock,
            self.ru_oublock,
            self.ru_msgsnd,
            self.ru_msgrcv,
            self.ru_nsignals,
            self.ru_nvcsw,
            self.ru_nivcsw,
        ];
        for (i, v) in longs.iter().enumerate() {
            le::put(&mut b, offset_of!(Rusage, ru_maxrss) + 8 * i, v.to_le_bytes());
        }
        b
    }
}

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
        let b = r.to_bytes();
        assert_eq!(&b[0..8], &2i64.to_le_bytes());
        assert_eq!(&b[8..12], &500i32.to_le_bytes());
        assert_eq!(&b[16..24], &1i64.to_le_bytes());
        assert_eq!(&b[24..28], &7i32.to_le_bytes());
        assert_eq!(&b[32..40], &11i64.to_le_bytes());
        assert_eq!(&b[136..144], &99i64.to_le_bytes());
    }
}

/// `struct rlimit`: soft (current) and hard (maximum) limit, 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

impl Rlimit {
    /// The bytes user space reads and writes.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.rlim_cur.to_le_bytes());
        b[8..].copy_from_slice(&self.rlim_max.to_le_bytes());
        b
    }

    /// From the 16 bytes user space passed.
    pub fn from_bytes(b: [u8; 16]) -> Rlimit {
        let mut cur = [0u8; 8];
        let mut max = [0u8; 8];
        cur.copy_from_slice(&b[..8]);
        max.copy_from_slice(&b[8..]);
        Rlimit { rlim_cur: u64::from_le_bytes(cur), rlim_max: u64::from_le_bytes(max) }
    }
}

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
