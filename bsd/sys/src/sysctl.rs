//! `sysctl` names (XNU `bsd/sys/sysctl.h`): the top-level and second-level numbers this
//! kernel answers.

/// Longest name (`CTL_MAXNAME`).
pub const CTL_MAXNAME: usize = 12;
/// Top level: kernel and hardware.
pub const CTL_KERN: i32 = 1;
pub const CTL_HW: i32 = 6;
/// `kern.*`.
pub const KERN_OSTYPE: i32 = 1;
pub const KERN_OSRELEASE: i32 = 2;
pub const KERN_VERSION: i32 = 4;
pub const KERN_MAXPROC: i32 = 6;
pub const KERN_ARGMAX: i32 = 8;
pub const KERN_HOSTNAME: i32 = 10;
pub const KERN_PROC: i32 = 14;
/// `kern.proc.*`: which processes (the fourth name component is the pid, pgid, tty or uid).
pub const KERN_PROC_ALL: i32 = 0;
pub const KERN_PROC_PID: i32 = 1;
pub const KERN_PROC_PGRP: i32 = 2;
pub const KERN_PROC_TTY: i32 = 3;
pub const KERN_PROC_UID: i32 = 4;
pub const KERN_PROC_RUID: i32 = 5;
/// `hw.*`.
pub const HW_MACHINE: i32 = 1;
pub const HW_NCPU: i32 = 3;
pub const HW_PAGESIZE: i32 = 7;
pub const HW_MEMSIZE: i32 = 24;
/// Longest host name (`MAXHOSTNAMELEN`).
pub const MAXHOSTNAMELEN: usize = 256;
