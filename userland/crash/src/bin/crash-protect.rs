//! Dies of SIGBUS: a write to a page made read-only (EXC_BAD_ACCESS /
//! KERN_PROTECTION_FAILURE).
#![no_std]
#![no_main]

use libsys::mach_traps::{
    _kernelrpc_mach_vm_allocate_trap as vm_allocate, _kernelrpc_mach_vm_protect_trap as vm_protect,
    mach_task_self,
};

fn main(_: &libsys::Args) -> i32 {
    let mut addr = 0u64;
    let task = mach_task_self();
    // SAFETY: `addr` is a valid in/out u64; the page is ours.
    unsafe {
        vm_allocate(task, core::ptr::from_mut(&mut addr).cast(), 4096, mach::vm::VM_FLAGS_ANYWHERE as i32);
        vm_protect(task, addr, 4096, false, mach::vm::VmProt::READ);
    }
    libsys::println!("crash-protect: writing to a read-only page");
    // SAFETY: deliberately invalid; the kernel must kill only this process.
    unsafe { (addr as *mut u64).write_volatile(1) };
    libsys::println!("crash-protect: survived?!");
    0
}

libsys::entry!(main);
