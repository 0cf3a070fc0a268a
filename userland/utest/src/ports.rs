//! Port rights through the `_kernelrpc_mach_port_*` traps (issue M1.5, first part):
//! allocating a receive right, its type, dropping it, and XNU's codes for bad names, rights,
//! deltas, pointers and targets.

use libsys::Args;
use libsys::mach_traps::{
    _kernelrpc_mach_port_allocate_trap as port_allocate,
    _kernelrpc_mach_port_deallocate_trap as port_deallocate,
    _kernelrpc_mach_port_mod_refs_trap as port_mod_refs, _kernelrpc_mach_port_type_trap as port_type,
    mach_reply_port, mach_task_self, pid_for_task, task_for_pid,
};
use mach::message::MACH_SEND_INVALID_DEST;
use mach::port::*;
use mach::{KernReturn, MachPortName};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mach_port_allocate / type / mod_refs: a receive right's life", receive_right_life),
    ("mach_port_* traps: bad names, rights, deltas, pointers, targets", port_trap_errors),
    ("task_for_pid / pid_for_task: lookups and the root-or-self policy", task_for_pid_policy),
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

fn pid_of(task: MachPortName) -> (KernReturn, i32) {
    let mut pid = 12345i32;
    // SAFETY: `pid` is a writable i32.
    let r = kr(unsafe { pid_for_task(task as u64, &mut pid as *mut i32 as u64) });
    (r, pid)
}

fn task_of(pid: i32) -> (KernReturn, MachPortName) {
    let mut name: MachPortName = 0xffff;
    // SAFETY: `name` is a writable u32.
    let r = kr(unsafe { task_for_pid(task(), pid as i64 as u64, &mut name as *mut MachPortName as u64) });
    (r, name)
}

fn task_for_pid_policy(_: &Args) -> Result<(), &'static str> {
    use libsys::process::{Forked, fork, waitpid};
    // SAFETY: no pointers.
    let me = unsafe { libsys::syscall::getpid() }.map_err(|_| "getpid")? as i32;
    check(pid_of(mach_task_self()) == (KernReturn::KERN_SUCCESS, me), "pid_for_task(self)")?;
    check(pid_of(0x4242_0003) == (KernReturn::KERN_FAILURE, -1), "pid_for_task(garbage) writes -1")?;
    // SAFETY: no arguments.
    let reply = unsafe { mach_reply_port() } as MachPortName;
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
        let r = kr(task_for_pid(task(), child as u64, KERNEL_ADDRESS));
        check(r == KernReturn::KERN_FAILURE, "task_for_pid into kernel memory")?;
        let r = kr(task_for_pid(reply as u64, child as u64, &mut 0u32 as *mut u32 as u64));
        check(r == KernReturn::KERN_FAILURE, "target must be our own task port")?;
        check(
            kr(pid_for_task(mach_task_self() as u64, KERNEL_ADDRESS)) == KernReturn::KERN_FAILURE,
            "bad pid ptr",
        )?;
        check(kr(port_deallocate(task(), port as u64)) == KernReturn::KERN_SUCCESS, "drop the child's port")?;
    }
    check(mod_refs(reply, MACH_PORT_RIGHT_RECEIVE, -1) == KernReturn::KERN_SUCCESS, "cleanup")?;
    // Not root: only our own task.
    let status = crate::proc::in_child(|| {
        // SAFETY: no pointers.
        if unsafe { libsys::syscall::setuid(501) }.is_err() {
            return 1;
        }
        // SAFETY: no pointers.
        let own = unsafe { libsys::syscall::getpid() }.map_or(-1, |p| p as i32);
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
