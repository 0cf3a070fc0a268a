//! Port rights through the `_kernelrpc_mach_port_*` traps (issue M1.5, first part):
//! allocating a receive right, its type, dropping it, and XNU's codes for bad names, rights,
//! deltas, pointers and targets.

use libsys::Args;
use libsys::mach_traps::{
    _kernelrpc_mach_port_allocate_trap as port_allocate,
    _kernelrpc_mach_port_deallocate_trap as port_deallocate,
    _kernelrpc_mach_port_mod_refs_trap as port_mod_refs, _kernelrpc_mach_port_type_trap as port_type,
    mach_reply_port, mach_task_self,
};
use mach::message::MACH_SEND_INVALID_DEST;
use mach::port::*;
use mach::{KernReturn, MachPortName};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mach_port_allocate / type / mod_refs: a receive right's life", receive_right_life),
    ("mach_port_* traps: bad names, rights, deltas, pointers, targets", port_trap_errors),
];

fn kr(v: u64) -> KernReturn {
    KernReturn(v as i32)
}

fn task() -> u64 {
    mach_task_self() as u64
}

fn allocate(right: MachPortRight) -> Result<MachPortName, KernReturn> {
    let mut name: MachPortName = 0;
    // SAFETY: `name` is a writable u32.
    let r = kr(unsafe { port_allocate(task(), right as u64, &mut name as *mut MachPortName as u64) });
    if r == KernReturn::KERN_SUCCESS { Ok(name) } else { Err(r) }
}

fn type_of(name: MachPortName) -> Result<MachPortType, KernReturn> {
    let mut ty: MachPortType = 0;
    // SAFETY: `ty` is a writable u32.
    let r = kr(unsafe { port_type(task(), name as u64, &mut ty as *mut MachPortType as u64) });
    if r == KernReturn::KERN_SUCCESS { Ok(ty) } else { Err(r) }
}

fn mod_refs(name: MachPortName, right: MachPortRight, delta: i32) -> KernReturn {
    // SAFETY: no pointers.
    kr(unsafe { port_mod_refs(task(), name as u64, right as u64, delta as i64 as u64) })
}

fn receive_right_life(_: &Args) -> Result<(), &'static str> {
    let a = allocate(MACH_PORT_RIGHT_RECEIVE).map_err(|_| "allocate")?;
    let b = allocate(MACH_PORT_RIGHT_RECEIVE).map_err(|_| "allocate again")?;
    check(mach_port_valid(a) && a != b, "fresh, distinct names")?;
    check(type_of(a) == Ok(MACH_PORT_TYPE_RECEIVE), "a receive right")?;
    check(type_of(mach_task_self()) == Ok(MACH_PORT_TYPE_SEND), "our task port is a send right")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, 0) == KernReturn::KERN_SUCCESS, "delta 0 is a no-op")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "dropping it")?;
    check(type_of(a) == Err(KernReturn::KERN_INVALID_NAME), "a dropped name is gone")?;
    check(mod_refs(b, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")?;
    // A name freed and reused never answers for the old right (the generation changes).
    let c = allocate(MACH_PORT_RIGHT_RECEIVE).map_err(|_| "allocate after free")?;
    check(c != a && c != b, "a reused slot gets a new name")?;
    check(mod_refs(c, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn port_trap_errors(_: &Args) -> Result<(), &'static str> {
    check(allocate(MACH_PORT_RIGHT_SEND) == Err(KernReturn::KERN_INVALID_VALUE), "allocate a send right")?;
    check(allocate(99) == Err(KernReturn::KERN_INVALID_VALUE), "allocate right 99")?;
    let a = allocate(MACH_PORT_RIGHT_RECEIVE).map_err(|_| "allocate")?;
    // SAFETY: deliberately bad pointers and names; the kernel must refuse them.
    unsafe {
        let r = kr(port_allocate(task(), MACH_PORT_RIGHT_RECEIVE as u64, KERNEL_ADDRESS));
        check(r == KernReturn::KERN_INVALID_ADDRESS, "allocate into kernel memory")?;
        let r = kr(port_type(task(), a as u64, KERNEL_ADDRESS));
        check(r == KernReturn::KERN_INVALID_ADDRESS, "type into kernel memory")?;
        check(kr(port_deallocate(task(), a as u64)) == KernReturn::KERN_INVALID_RIGHT, "deallocate receive")?;
        check(kr(port_deallocate(task(), MACH_PORT_NULL as u64)) == KernReturn::KERN_SUCCESS, "null name")?;
        check(kr(port_deallocate(task(), 0x1234_5603)) == KernReturn::KERN_INVALID_NAME, "garbage name")?;
        // The target must be our own task port: a receive right or garbage is not.
        let reply = mach_reply_port() as u64;
        check(port_deallocate(reply, a as u64) == MACH_SEND_INVALID_DEST as u64, "target not a task")?;
        check(port_deallocate(0xdead_beef, a as u64) == MACH_SEND_INVALID_DEST as u64, "garbage target")?;
        check(
            mod_refs(reply as MachPortName, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS,
            "cleanup",
        )?;
    }
    check(mod_refs(a, 77, -1) == KernReturn::KERN_INVALID_VALUE, "unknown right")?;
    check(mod_refs(a, MACH_PORT_RIGHT_SEND, -1) == KernReturn::KERN_INVALID_RIGHT, "no send right there")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, -2) == KernReturn::KERN_INVALID_VALUE, "receive delta -2")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, 1) == KernReturn::KERN_INVALID_VALUE, "receive delta +1")?;
    check(type_of(a) == Ok(MACH_PORT_TYPE_RECEIVE), "failed calls changed nothing")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")
}
