//! Dies of SIGSYS: an unused BSD syscall slot (`nosys`: ENOSYS and SIGSYS, as XNU).
#![no_std]
#![no_main]

/// An unused slot of the BSD table.
const UNUSED_BSD_SYSCALL: u32 = 40;

fn main(_: &libsys::Args) -> i32 {
    libsys::println!("crash-nosys: calling BSD syscall {UNUSED_BSD_SYSCALL}");
    // SAFETY: no pointers; the kernel must kill only this process.
    let r = unsafe { libsys::syscall::syscall(UNUSED_BSD_SYSCALL, [0; 8]) };
    libsys::println!("crash-nosys: survived?! got {r:?}");
    0
}

libsys::entry!(main);
