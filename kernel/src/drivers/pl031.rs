//! The PL031 real-time clock: seconds since the Unix epoch, read once at boot to give BSD
//! its wall clock (PrimeCell RTC (PL031) Technical Reference Manual, §3.3).

use tock_registers::interfaces::Readable;
use tock_registers::register_structs;
use tock_registers::registers::ReadOnly;

register_structs! {
    Pl031Regs {
        /// Data register: the current time in seconds.
        (0x000 => dr: ReadOnly<u32>),
        (0x004 => @END),
    }
}

/// Read the RTC at virtual address `base`.
///
/// # Safety
/// `base` must map a PL031's registers as device memory.
pub unsafe fn read_seconds(base: usize) -> u64 {
    // SAFETY: per the contract; reading the data register has no side effects.
    let regs = unsafe { &*(base as *const Pl031Regs) };
    regs.dr.get() as u64
}
