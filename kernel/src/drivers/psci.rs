//! PSCI (Arm DEN 0022): powering the machine off, through the conduit the DTB names.

/// PSCI `SYSTEM_OFF` function id (SMC32 calling convention).
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0` (the default on QEMU virt).
    Hvc,
    /// `smc #0` (virt with `virtualization=on`).
    Smc,
}

/// Power off. Falls back to halting this CPU if PSCI returns.
pub fn system_off(conduit: Option<Conduit>) -> ! {
    // SAFETY: SYSTEM_OFF does not return on success; on failure the firmware returns an
    // error in x0, which we ignore and then halt.
    unsafe {
        match conduit {
            Some(Conduit::Hvc) => {
                core::arch::asm!("hvc #0", inout("x0") PSCI_SYSTEM_OFF => _, options(nostack))
            }
            Some(Conduit::Smc) => {
                core::arch::asm!("smc #0", inout("x0") PSCI_SYSTEM_OFF => _, options(nostack))
            }
            None => {}
        }
    }
    loop {
        osfmk::arm64::cpu::interrupts_disable();
        osfmk::arm64::cpu::wait_for_interrupt();
    }
}
