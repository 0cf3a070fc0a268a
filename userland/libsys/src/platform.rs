//! The platform (machdep) call, x16 = 0x80000000 with a sub-code in x3 (reference §1.4).

use sys::trap::{PLATFORM_GET_TSD_BASE, PLATFORM_SET_TSD_BASE, PLATFORM_SYSCALL_TRAP_NO};

fn platform_call(code: u64, x0: u64) -> u64 {
    let out: u64;
    // SAFETY: the platform call changes at most x0 and the thread pointer register.
    unsafe {
        core::arch::asm!("svc #0x80", in("x16") PLATFORM_SYSCALL_TRAP_NO as u64, in("x3") code,
            inlateout("x0") x0 => out, options(nostack));
    }
    out
}

/// Set this thread's TSD base (TPIDRRO_EL0), as `__thread_set_tsd_base` does.
pub fn thread_set_tsd_base(base: u64) {
    platform_call(PLATFORM_SET_TSD_BASE, base);
}

/// Read the TSD base back through the platform call.
pub fn thread_get_tsd_base() -> u64 {
    platform_call(PLATFORM_GET_TSD_BASE, 0)
}

/// Read TPIDRRO_EL0 directly (EL0 may read it).
pub fn tpidrro() -> u64 {
    let v: u64;
    // SAFETY: reading TPIDRRO_EL0 is allowed at EL0 and has no side effects.
    unsafe { core::arch::asm!("mrs {}, tpidrro_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}
