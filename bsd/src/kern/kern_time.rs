//! Wall-clock time (XNU's `kern_time.c`): the RTC read at boot plus the counter since.

use osfmk::kern::clock::{absolutetime_to_nanoseconds, mach_absolute_time};
use sys::time::Timeval;

use crate::kern::bsd_init::platform;

/// The time of day, and the absolute time it corresponds to.
pub fn microtime() -> (Timeval, u64) {
    let (boot_secs, boot_ticks) = platform().boot_wall_clock();
    let now = mach_absolute_time();
    let since_ns = absolutetime_to_nanoseconds(now.saturating_sub(boot_ticks));
    let tv = Timeval {
        tv_sec: (boot_secs + since_ns / 1_000_000_000) as i64,
        tv_usec: ((since_ns % 1_000_000_000) / 1_000) as i32,
        _pad: 0,
    };
    (tv, now)
}

/// The time of day as a `timespec` (what file times are stamped with).
pub fn nanotime() -> sys::stat::Timespec {
    let (tv, _) = microtime();
    sys::stat::Timespec { tv_sec: tv.tv_sec, tv_nsec: i64::from(tv.tv_usec) * 1000 }
}
