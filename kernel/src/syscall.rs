//! `svc #0x80` from EL0: the split on x16 (reference §1.1). `0x80000000` is the platform
//! call, negative numbers are Mach traps, the rest are BSD system calls.

use osfmk::arm64::pmap::USER_VM_MAX;
use osfmk::arm64::trapframe::TrapFrame;
use sys::trap::{PLATFORM_GET_TSD_BASE, PLATFORM_SET_TSD_BASE, PLATFORM_SYSCALL_TRAP_NO};

/// Dispatch one system call.
pub fn handle_svc(frame: &mut TrapFrame) {
    let code = frame.x[16] as u32;
    if code == PLATFORM_SYSCALL_TRAP_NO {
        platform_syscall(frame);
    } else if (code as i32) < 0 {
        osfmk::kern::syscall_sw::mach_syscall(frame);
    } else {
        bsd::kern::syscalls::unix_syscall(frame);
    }
}

/// The platform call: get/set the user thread pointer TPIDRRO_EL0 (reference §1.4).
/// Unknown sub-codes are no-ops; nothing here can fail.
fn platform_syscall(frame: &mut TrapFrame) {
    match frame.x[3] {
        PLATFORM_SET_TSD_BASE => {
            let value = if frame.x[0] < USER_VM_MAX { frame.x[0] } else { 0 };
            // SAFETY: TPIDRRO_EL0 is this thread's user-readable thread pointer; the context
            // switch saves and restores it.
            unsafe {
                core::arch::asm!("msr tpidrro_el0, {}", in(reg) value, options(nostack, preserves_flags))
            };
        }
        PLATFORM_GET_TSD_BASE => {
            let value: u64;
            // SAFETY: reading this thread's TPIDRRO_EL0.
            unsafe {
                core::arch::asm!("mrs {}, tpidrro_el0", out(reg) value, options(nomem, nostack, preserves_flags))
            };
            frame.x[0] = value;
        }
        _ => {}
    }
}
