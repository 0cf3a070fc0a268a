//! Dies of SIGSEGV: a load from an unmapped address (EXC_BAD_ACCESS / KERN_INVALID_ADDRESS).
#![no_std]
#![no_main]

fn main(_: &libsys::Args) -> i32 {
    libsys::println!("crash-segv: loading from an unmapped address");
    // SAFETY: deliberately invalid; the kernel must kill only this process.
    let v = unsafe { core::ptr::read_volatile(0x0000_4000_0000_0000 as *const u64) };
    libsys::println!("crash-segv: survived?! read {v}");
    0
}

libsys::entry!(main);
