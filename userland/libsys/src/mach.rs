//! The Mach C API over the trap stubs, under XNU's names: `mach_msg` with Libsyscall's
//! restart rules, and the port calls (`mach_port_allocate`, …) that act on the caller's own
//! task through the `_kernelrpc` traps.

use ::mach::message::{
    MACH_RCV_INTERRUPT, MACH_RCV_INTERRUPTED, MACH_RCV_MSG, MACH_SEND_INTERRUPT, MACH_SEND_INTERRUPTED,
    MACH_SEND_MSG, MachMsgHeader, MachMsgOption, MachMsgReturn,
};
use ::mach::port::{MachPortRight, MachPortType};
use ::mach::{KernReturn, MachPortName};

use crate::mach_traps as traps;

fn kr(v: u64) -> KernReturn {
    KernReturn(v as i32)
}

/// `mach_msg()`: send and/or receive. As Libsyscall does, an interrupted send is restarted
/// unless `MACH_SEND_INTERRUPT` is set, and an interrupted receive is restarted (receive only)
/// unless `MACH_RCV_INTERRUPT` is set.
///
/// # Safety
/// `msg` must point to a buffer of at least `max(send_size, rcv_size)` bytes, valid for
/// reads and writes, holding a message header when sending.
pub unsafe fn mach_msg(
    msg: *mut MachMsgHeader,
    option: MachMsgOption,
    send_size: u32,
    rcv_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
    notify: MachPortName,
) -> MachMsgReturn {
    let mut option = option;
    let mut send_size = send_size;
    loop {
        // SAFETY: forwarded from this function's contract.
        let mr = unsafe {
            traps::mach_msg_trap(
                msg as u64,
                u64::from(option),
                u64::from(send_size),
                u64::from(rcv_size),
                u64::from(rcv_name),
                u64::from(timeout),
                u64::from(notify),
            )
        } as MachMsgReturn;
        if mr == MACH_SEND_INTERRUPTED && option & MACH_SEND_INTERRUPT == 0 {
            continue;
        }
        if mr == MACH_RCV_INTERRUPTED && option & MACH_RCV_INTERRUPT == 0 && option & MACH_RCV_MSG != 0 {
            option &= !MACH_SEND_MSG;
            send_size = 0;
            continue;
        }
        return mr;
    }
}

/// `mach_port_allocate(task, right, &name)`.
pub fn mach_port_allocate(task: MachPortName, right: MachPortRight, name: &mut MachPortName) -> KernReturn {
    // SAFETY: `name` is a writable u32.
    kr(unsafe {
        traps::_kernelrpc_mach_port_allocate_trap(u64::from(task), u64::from(right), name as *mut u32 as u64)
    })
}

/// `mach_port_deallocate(task, name)`.
pub fn mach_port_deallocate(task: MachPortName, name: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    kr(unsafe { traps::_kernelrpc_mach_port_deallocate_trap(u64::from(task), u64::from(name)) })
}

/// `mach_port_mod_refs(task, name, right, delta)`.
pub fn mach_port_mod_refs(
    task: MachPortName,
    name: MachPortName,
    right: MachPortRight,
    delta: i32,
) -> KernReturn {
    // SAFETY: no pointers.
    kr(unsafe {
        traps::_kernelrpc_mach_port_mod_refs_trap(
            u64::from(task),
            u64::from(name),
            u64::from(right),
            delta as i64 as u64,
        )
    })
}

/// `mach_port_type(task, name, &type)`.
pub fn mach_port_type(task: MachPortName, name: MachPortName, ty: &mut MachPortType) -> KernReturn {
    // SAFETY: `ty` is a writable u32.
    kr(unsafe {
        traps::_kernelrpc_mach_port_type_trap(u64::from(task), u64::from(name), ty as *mut u32 as u64)
    })
}

/// `mach_reply_port()`: a fresh receive right.
pub fn mach_reply_port() -> MachPortName {
    // SAFETY: takes no arguments.
    unsafe { traps::mach_reply_port() as MachPortName }
}
