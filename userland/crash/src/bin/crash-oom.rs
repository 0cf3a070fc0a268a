//! Touches memory until the machine has none left: the kernel must kill this process (with
//! a log line), not panic, and take every page back.
#![no_std]
#![no_main]

use libsys::mach_traps::{_kernelrpc_mach_vm_allocate_trap as vm_allocate, mach_task_self};

fn main(_: &libsys::Args) -> i32 {
    // More than the machine's RAM, reserved lazily: only touched pages cost memory.
    let size: u64 = 16 << 30;
    let mut addr = 0u64;
    // SAFETY: `addr` is a valid in/out u64.
    let kr = unsafe {
        vm_allocate(
            mach_task_self(),
            core::ptr::from_mut(&mut addr).cast(),
            size,
            mach::vm::VM_FLAGS_ANYWHERE as i32,
        )
    };
    if kr != mach::KernReturn::KERN_SUCCESS {
        libsys::println!("crash-oom: mach_vm_allocate failed: {}", kr.name());
        return 1;
    }
    libsys::println!("crash-oom: touching pages until memory runs out");
    let mut page = 0;
    while page < size {
        // SAFETY: inside the allocation.
        unsafe { ((addr + page) as *mut u64).write_volatile(page) };
        page += 4096;
    }
    libsys::println!("crash-oom: survived?!");
    0
}

libsys::entry!(main);
