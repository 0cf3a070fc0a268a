//! Absolute time and the timebase (`mach_timebase_info`, reference §1.5).

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// `struct mach_timebase_info`: nanoseconds = ticks * numer / denom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct MachTimebaseInfo {
    pub numer: u32,
    pub denom: u32,
}

/// Nanoseconds per second.
pub const NSEC_PER_SEC: u64 = 1_000_000_000;

/// `mach_timespec_t`: seconds and nanoseconds, as `clock_sleep` reports its wake time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct MachTimespec {
    pub tv_sec: u32,
    pub tv_nsec: i32,
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl MachTimebaseInfo {
    /// The timebase of a counter running at `freq_hz`, reduced as XNU does at boot.
    pub const fn from_frequency(freq_hz: u64) -> MachTimebaseInfo {
        let g = gcd(NSEC_PER_SEC, freq_hz);
        MachTimebaseInfo { numer: (NSEC_PER_SEC / g) as u32, denom: (freq_hz / g) as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_like_xnu() {
        assert_eq!(MachTimebaseInfo::from_frequency(24_000_000), MachTimebaseInfo { numer: 125, denom: 3 });
        assert_eq!(MachTimebaseInfo::from_frequency(62_500_000), MachTimebaseInfo { numer: 16, denom: 1 });
        assert_eq!(core::mem::size_of::<MachTimebaseInfo>(), 8);
    }
}
