//! PSCI (Arm DEN 0022): starting the secondary CPUs and powering the machine off, through
//! the conduit the DTB names.

/// PSCI `CPU_ON` function id (SMC64 calling convention): x1 target MPIDR, x2 entry point
/// (physical), x3 context id (handed to the new CPU in x0).
const PSCI_CPU_ON_64: u64 = 0xc400_0003;
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

/// The PSCI return codes `CPU_ON` may give (DEN 0022 §5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    NotSupported,
    InvalidParameters,
    Denied,
    AlreadyOn,
    OnPending,
    InternalFailure,
    NotPresent,
    Disabled,
    InvalidAddress,
    Other(i64),
}

impl PsciError {
    fn from_code(code: i64) -> PsciError {
        match code {
            -1 => PsciError::NotSupported,
            -2 => PsciError::InvalidParameters,
            -3 => PsciError::Denied,
            -4 => PsciError::AlreadyOn,
            -5 => PsciError::OnPending,
            -6 => PsciError::InternalFailure,
            -7 => PsciError::NotPresent,
            -8 => PsciError::Disabled,
            -9 => PsciError::InvalidAddress,
            other => PsciError::Other(other),
        }
    }
}

/// One PSCI call with up to three arguments; returns x0.
fn call(conduit: Conduit, function: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = function;
    // SAFETY: a PSCI call changes no memory of ours; x0–x3 are its arguments and x0 its
    // result (the SMC calling convention may clobber x0–x17, all declared here).
    unsafe {
        match conduit {
            Conduit::Hvc => core::arch::asm!("hvc #0", inout("x0") x0, inout("x1") a1 => _,
                inout("x2") a2 => _, inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack)),
            Conduit::Smc => core::arch::asm!("smc #0", inout("x0") x0, inout("x1") a1 => _,
                inout("x2") a2 => _, inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack)),
        }
    }
    x0 as i64
}

/// Start the CPU whose affinity is `mpidr` at physical address `entry`, with `context` in
/// its x0. It starts at the caller's exception level with the MMU off.
pub fn cpu_on(conduit: Conduit, mpidr: u64, entry: u64, context: u64) -> Result<(), PsciError> {
    match call(conduit, PSCI_CPU_ON_64, mpidr, entry, context) {
        0 => Ok(()),
        code => Err(PsciError::from_code(code)),
    }
}

/// Power off. Falls back to halting this CPU if PSCI returns.
pub fn system_off(conduit: Option<Conduit>) -> ! {
    if let Some(c) = conduit {
        // SYSTEM_OFF does not return on success; on failure we halt below.
        let _ = call(c, PSCI_SYSTEM_OFF, 0, 0, 0);
    }
    loop {
        osfmk::arm64::cpu::interrupts_disable();
        osfmk::arm64::cpu::wait_for_interrupt();
    }
}
