//! Dies of SIGILL: an undefined instruction (EXC_BAD_INSTRUCTION).
#![no_std]
#![no_main]

fn main(_: &libsys::Args) -> i32 {
    libsys::println!("crash-ill: executing an undefined instruction");
    // SAFETY: `udf` traps; the kernel must kill only this process.
    unsafe { core::arch::asm!("udf #0") };
    libsys::println!("crash-ill: survived?!");
    0
}

libsys::entry!(main);
