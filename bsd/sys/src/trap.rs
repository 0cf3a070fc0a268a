//! How user space enters the kernel and how a BSD call's result comes back (reference §1).

/// The immediate of the system call instruction, `svc #0x80` (`SWI_SYSCALL`).
pub const SWI_SYSCALL: u16 = 0x80;
/// x16 value selecting the platform (machdep) call; its sub-code is in x3.
pub const PLATFORM_SYSCALL_TRAP_NO: u32 = 0x8000_0000;
/// Platform sub-code: set the thread pointer (TPIDRRO_EL0) from x0.
pub const PLATFORM_SET_TSD_BASE: u64 = 2;
/// Platform sub-code: read the thread pointer into x0.
pub const PLATFORM_GET_TSD_BASE: u64 = 3;
/// PSTATE.C: set on return when a BSD call failed (x0 = errno).
pub const PSR64_CF: u64 = 0x2000_0000;
/// PSTATE condition flags N, Z, C, V: the only PSTATE bits user code may choose (restored by
/// `sigreturn`; everything else — exception masks, single step, mode — is the kernel's).
pub const PSR64_NZCV_MASK: u64 = 0xf000_0000;
/// PSTATE a 64-bit user thread runs with: EL0, SP_EL0, AArch64, no flags, nothing masked.
pub const PSR64_USER64_DEFAULT: u64 = 0;
