//! Time: Mach absolute time is the generic timer's virtual counter; the timebase converts it
//! to nanoseconds with the frequency read at boot (never a constant: QEMU versions differ).

use mach::KernReturn;
use mach::time::MachTimebaseInfo;

use crate::arm64::cpu;
use crate::vm::user_ptr::{UserAddr, copyout_val};

/// Ticks since boot (`mach_absolute_time`).
pub fn mach_absolute_time() -> u64 {
    cpu::read_counter()
}

/// The timebase for this machine's counter.
pub fn mach_timebase_info() -> MachTimebaseInfo {
    MachTimebaseInfo::from_frequency(cpu::counter_frequency())
}

/// −89 `mach_timebase_info_trap(&info)`: copy out `{numer, denom}` for converting absolute
/// time to nanoseconds.
pub fn mach_timebase_info_trap(info: UserAddr) -> Result<(), KernReturn> {
    Ok(copyout_val(&mach_timebase_info(), info)?)
}

/// Convert nanoseconds to absolute-time ticks (rounding up, saturating).
pub fn nanoseconds_to_absolutetime(ns: u64) -> u64 {
    let freq = cpu::counter_frequency() as u128;
    let ticks = (ns as u128 * freq).div_ceil(1_000_000_000);
    ticks.min(u64::MAX as u128) as u64
}

/// Convert absolute-time ticks to nanoseconds (saturating).
pub fn absolutetime_to_nanoseconds(ticks: u64) -> u64 {
    let tb = mach_timebase_info();
    ((ticks as u128 * tb.numer as u128) / tb.denom.max(1) as u128).min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_at_host_frequency() {
        // The host stand-in frequency is 62.5 MHz: 16 ns per tick.
        assert_eq!(nanoseconds_to_absolutetime(16), 1);
        assert_eq!(nanoseconds_to_absolutetime(17), 2);
        assert_eq!(absolutetime_to_nanoseconds(1_000), 16_000);
        assert!(nanoseconds_to_absolutetime(u64::MAX) > 0);
    }
}
