//! Port rights through the `_kernelrpc_mach_port_*` traps (issue M1.5, first part):
//! allocating a receive right, its type, dropping it, and XNU's codes for bad names, rights,
//! deltas, pointers and targets; and how the kernel reads a 32-bit argument from its register.

use core::ptr;

use libsys::Args;
use libsys::mach_traps::{
    _kernelrpc_mach_port_allocate_trap as port_allocate,
    _kernelrpc_mach_port_deallocate_trap as port_deallocate,
    _kernelrpc_mach_port_mod_refs_trap as port_mod_refs, _kernelrpc_mach_port_type_trap as port_type,
    mach_reply_port, mach_task_self, mach_trap, pid_for_task, task_for_pid,
};
use mach::message::MACH_SEND_INVALID_DEST;
use mach::port::*;
use mach::traps::nr;
use mach::{KernReturn, MachPortName};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mach_port_allocate / type / mod_refs: a receive right's life", receive_right_life),
    ("mach_port_* traps: bad names, rights, deltas, pointers, targets", port_trap_errors),
    ("task_for_pid / pid_for_task: lookups and the root-or-self policy", task_for_pid_policy),
    ("mach_port_* traps: a 32-bit argument is its register's low half", low_half_arguments),
];

fn task() -> MachPortName {
    mach_task_self()
}

/// Junk for the upper half of a register that carries a 32-bit argument.
const JUNK: u64 = 0xdead_beef_0000_0000;

fn allocate(right: MachPortRight) -> Result<MachPortName, KernReturn> {
    let mut name: MachPortName = 0;
    // SAFETY: `name` is a writable u32.
    let r = unsafe { port_allocate(task(), right, ptr::from_mut(&mut name).cast()) };
    if r == KernReturn::KERN_SUCCESS { Ok(name) } else { Err(r) }
}

fn type_of(name: MachPortName) -> Result<MachPortType, KernReturn> {
    let mut ty: MachPortType = 0;
    // SAFETY: `ty` is a writable u32.
    let r = unsafe { port_type(task(), name, ptr::from_mut(&mut ty).cast()) };
    if r == KernReturn::KERN_SUCCESS { Ok(ty) } else { Err(r) }
}

fn mod_refs(name: MachPortName, right: MachPortRight, delta: i32) -> KernReturn {
    port_mod_refs(task(), name, right, delta)
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
        let r = port_allocate(task(), MACH_PORT_RIGHT_RECEIVE, KERNEL_ADDRESS as *mut _);
        check(r == KernReturn::KERN_INVALID_ADDRESS, "allocate into kernel memory")?;
        let r = port_type(task(), a, KERNEL_ADDRESS as *mut _);
        check(r == KernReturn::KERN_INVALID_ADDRESS, "type into kernel memory")?;
        check(port_deallocate(task(), a) == KernReturn::KERN_INVALID_RIGHT, "deallocate receive")?;
        check(port_deallocate(task(), MACH_PORT_NULL) == KernReturn::KERN_SUCCESS, "null name")?;
        check(port_deallocate(task(), 0x1234_5603) == KernReturn::KERN_INVALID_NAME, "garbage name")?;
        // The target must be our own task port: a receive right or garbage is not.
        let reply = mach_reply_port();
        let not_ours = KernReturn(MACH_SEND_INVALID_DEST);
        check(port_deallocate(reply, a) == not_ours, "target not a task")?;
        check(port_deallocate(0xdead_beef, a) == not_ours, "garbage target")?;
        check(mod_refs(reply, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")?;
    }
    check(mod_refs(a, 77, -1) == KernReturn::KERN_INVALID_VALUE, "unknown right")?;
    check(mod_refs(a, MACH_PORT_RIGHT_SEND, -1) == KernReturn::KERN_INVALID_RIGHT, "no send right there")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, -2) == KernReturn::KERN_INVALID_VALUE, "receive delta -2")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, 1) == KernReturn::KERN_INVALID_VALUE, "receive delta +1")?;
    check(type_of(a) == Ok(MACH_PORT_TYPE_RECEIVE), "failed calls changed nothing")?;
    check(mod_refs(a, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn pid_of(task: MachPortName) -> (KernReturn, i32) {
    let mut pid = 12345i32;
    // SAFETY: `pid` is a writable i32.
    let r = unsafe { pid_for_task(task, ptr::from_mut(&mut pid).cast()) };
    (r, pid)
}

fn task_of(pid: i32) -> (KernReturn, MachPortName) {
    let mut name: MachPortName = 0xffff;
    // SAFETY: `name` is a writable u32.
    let r = unsafe { task_for_pid(task(), pid, ptr::from_mut(&mut name).cast()) };
    (r, name)
}

fn task_for_pid_policy(_: &Args) -> Result<(), &'static str> {
    use libsys::process::{Forked, fork, waitpid};
    let me = libsys::syscall::getpid().map_err(|_| "getpid")? as i32;
    check(pid_of(mach_task_self()) == (KernReturn::KERN_SUCCESS, me), "pid_for_task(self)")?;
    check(pid_of(0x4242_0003) == (KernReturn::KERN_FAILURE, -1), "pid_for_task(garbage) writes -1")?;
    let reply = mach_reply_port();
    check(pid_of(reply).0 == KernReturn::KERN_FAILURE, "a plain port is not a task")?;
    check(task_of(me) == (KernReturn::KERN_SUCCESS, mach_task_self()), "our own task: the same name")?;
    check(task_of(0) == (KernReturn::KERN_FAILURE, MACH_PORT_NULL), "never the kernel task")?;
    check(task_of(99_999) == (KernReturn::KERN_FAILURE, MACH_PORT_NULL), "no such pid")?;
    // A child: root gets its task port, which names the child.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(200);
            libsys::syscall::exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let (r, port) = task_of(child);
    check(
        r == KernReturn::KERN_SUCCESS && mach_port_valid(port) && port != mach_task_self(),
        "root: child's task",
    )?;
    check(pid_of(port) == (KernReturn::KERN_SUCCESS, child), "pid_for_task on the child's port")?;
    check(type_of(port) == Ok(MACH_PORT_TYPE_SEND), "a send right")?;
    // SAFETY: deliberately bad pointers and targets.
    unsafe {
        let r = task_for_pid(task(), child, KERNEL_ADDRESS as *mut _);
        check(r == KernReturn::KERN_FAILURE, "task_for_pid into kernel memory")?;
        let r = task_for_pid(reply, child, ptr::from_mut(&mut 0u32).cast());
        check(r == KernReturn::KERN_FAILURE, "target must be our own task port")?;
        check(
            pid_for_task(mach_task_self(), KERNEL_ADDRESS as *mut _) == KernReturn::KERN_FAILURE,
            "bad pid ptr",
        )?;
        check(port_deallocate(task(), port) == KernReturn::KERN_SUCCESS, "drop the child's port")?;
    }
    check(mod_refs(reply, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")?;
    // Not root: only our own task.
    let status = crate::proc::in_child(|| {
        if libsys::syscall::setuid(501).is_err() {
            return 1;
        }
        let own = libsys::syscall::getpid().map_or(-1, |p| p as i32);
        if task_of(me) != (KernReturn::KERN_FAILURE, MACH_PORT_NULL) {
            return 2;
        }
        if task_of(own) != (KernReturn::KERN_SUCCESS, mach_task_self()) {
            return 3;
        }
        0
    })?;
    check(sys::wait::wifexited(status) && sys::wait::wexitstatus(status) == 0, "non-root policy")?;
    check(waitpid(child, 0).is_ok(), "reap")?;
    Ok(())
}

/// XNU's trap entry gives each argument a register and reads a 32-bit type from its low 32
/// bits, whatever the upper half holds; 64-bit types (here the pointers) are whole registers.
/// The typed stubs cannot pass such junk, so these calls go through the raw trap.
fn low_half_arguments(_: &Args) -> Result<(), &'static str> {
    let target = JUNK | u64::from(task());
    let mut name: MachPortName = 0;
    let raw = |nr: u32, args: &[u64]| {
        // SAFETY: the only pointers passed are to this frame's `name` and `ty`, or bad ones the
        // kernel refuses.
        KernReturn::from_reg(unsafe { mach_trap(nr, libsys::pad_args::<8>(args)) })
    };
    let name_ptr = ptr::from_mut(&mut name) as u64;
    let r = raw(
        nr::_kernelrpc_mach_port_allocate_trap,
        &[target, JUNK | u64::from(MACH_PORT_RIGHT_RECEIVE), name_ptr],
    );
    check(
        r == KernReturn::KERN_SUCCESS && mach_port_valid(name),
        "allocate with junk above target and right",
    )?;
    let mut ty: MachPortType = 0;
    let ty_ptr = ptr::from_mut(&mut ty) as u64;
    let r = raw(nr::_kernelrpc_mach_port_type_trap, &[target, JUNK | u64::from(name), ty_ptr]);
    check(r == KernReturn::KERN_SUCCESS && ty == MACH_PORT_TYPE_RECEIVE, "type with junk above the name")?;
    // A delta of -1 is 0xffff_ffff in the low half, whatever is above it.
    let delta = JUNK | u64::from(-1i32 as u32);
    let right = JUNK | u64::from(MACH_PORT_RIGHT_RECEIVE);
    let r = raw(nr::_kernelrpc_mach_port_mod_refs_trap, &[target, JUNK | u64::from(name), right, delta]);
    check(r == KernReturn::KERN_SUCCESS, "mod_refs with junk above name, right and delta")?;
    check(type_of(name) == Err(KernReturn::KERN_INVALID_NAME), "the right is gone")?;
    // The pointer is 64 bits: junk above a good address makes it a bad one.
    let r = raw(
        nr::_kernelrpc_mach_port_allocate_trap,
        &[target, u64::from(MACH_PORT_RIGHT_RECEIVE), JUNK | name_ptr],
    );
    check(r == KernReturn::KERN_INVALID_ADDRESS, "a pointer is all 64 bits")?;
    // A name whose low half is garbage stays garbage.
    let r = raw(nr::_kernelrpc_mach_port_deallocate_trap, &[target, 0x1234_5603]);
    check(r == KernReturn::KERN_INVALID_NAME, "garbage name with a junk target")?;
    Ok(())
}
