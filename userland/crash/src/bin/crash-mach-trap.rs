//! Dies of SIGSYS: an unassigned Mach trap number (EXC_SYSCALL, as XNU's `kern_invalid`).
#![no_std]
#![no_main]

/// A trap slot XNU leaves empty (`kern_invalid`).
const UNASSIGNED_MACH_TRAP: u32 = 120;

fn main(_: &libsys::Args) -> i32 {
    libsys::println!("crash-mach-trap: calling Mach trap -{UNASSIGNED_MACH_TRAP}");
    // SAFETY: no pointers; the kernel must kill only this process.
    let r = unsafe { libsys::mach_traps::mach_trap(UNASSIGNED_MACH_TRAP, [0; 8]) };
    libsys::println!("crash-mach-trap: survived?! got {r:#x}");
    0
}

libsys::entry!(main);
