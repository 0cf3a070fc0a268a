//! CPU-local primitives: masking IRQs, reading the counter, waiting for interrupts.
//! On the host (unit tests) they are no-ops or read a fake clock, so locks work unchanged.

/// Mask IRQs and return the previous DAIF so that nesting restores exactly.
#[inline]
pub fn interrupts_disable() -> u64 {
    #[cfg(target_os = "none")]
    {
        let daif: u64;
        // SAFETY: reading DAIF and setting the I bit only changes this CPU's interrupt mask.
        unsafe {
            core::arch::asm!("mrs {}, daif", "msr daifset, #2", out(reg) daif, options(nostack, preserves_flags));
        }
        daif
    }
    #[cfg(not(target_os = "none"))]
    0
}

/// Restore the DAIF returned by [`interrupts_disable`].
#[inline]
pub fn interrupts_restore(daif: u64) {
    #[cfg(target_os = "none")]
    // SAFETY: writes back a DAIF value previously read on this CPU.
    unsafe {
        core::arch::asm!("msr daif, {}", in(reg) daif, options(nostack, preserves_flags));
    }
    #[cfg(not(target_os = "none"))]
    let _ = daif;
}

/// IRQs masked on this CPU until this is dropped, when the mask is put back as it was:
/// [`interrupts_disable`] and [`interrupts_restore`] as a value, so that the restore cannot
/// be forgotten, or come before what it protects (a field declared after a lock guard drops
/// after it).
pub struct InterruptsMasked {
    daif: u64,
}

impl InterruptsMasked {
    /// Mask IRQs on this CPU.
    #[inline]
    pub fn new() -> InterruptsMasked {
        InterruptsMasked { daif: interrupts_disable() }
    }
}

impl Default for InterruptsMasked {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for InterruptsMasked {
    #[inline]
    fn drop(&mut self) {
        interrupts_restore(self.daif);
    }
}

/// Unmask IRQs (used by the idle loop and by threads starting to run).
#[inline]
pub fn interrupts_enable() {
    #[cfg(target_os = "none")]
    // SAFETY: clearing the I bit only lets this CPU take interrupts.
    unsafe {
        core::arch::asm!("msr daifclr, #2", options(nostack, preserves_flags));
    }
}

/// Are IRQs masked on this CPU?
#[inline]
pub fn interrupts_masked() -> bool {
    #[cfg(target_os = "none")]
    {
        let daif: u64;
        // SAFETY: reading DAIF has no side effects.
        unsafe { core::arch::asm!("mrs {}, daif", out(reg) daif, options(nomem, nostack, preserves_flags)) };
        daif & (1 << 7) != 0
    }
    #[cfg(not(target_os = "none"))]
    false
}

/// Wait for an interrupt (the idle loop).
#[inline]
pub fn wait_for_interrupt() {
    #[cfg(target_os = "none")]
    // SAFETY: `wfi` only pauses this CPU until an interrupt is pending.
    unsafe {
        core::arch::asm!("wfi", options(nomem, nostack, preserves_flags));
    }
}

/// The virtual counter, CNTVCT_EL0: Mach absolute time.
#[inline]
pub fn read_counter() -> u64 {
    #[cfg(target_os = "none")]
    {
        use aarch64_cpu::registers::{CNTVCT_EL0, Readable};
        // Without the barrier the read could be satisfied before earlier instructions.
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
        CNTVCT_EL0.get()
    }
    #[cfg(not(target_os = "none"))]
    0
}

/// The counter frequency, CNTFRQ_EL0 (read at run time: QEMU versions differ).
#[inline]
pub fn counter_frequency() -> u64 {
    #[cfg(target_os = "none")]
    {
        use aarch64_cpu::registers::{CNTFRQ_EL0, Readable};
        CNTFRQ_EL0.get()
    }
    #[cfg(not(target_os = "none"))]
    62_500_000
}
