//! Priorities and resources (XNU `bsd/sys/resource.h`).

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
