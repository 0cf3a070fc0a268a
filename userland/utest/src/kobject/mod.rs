//! Kernel objects through MIG messages (issue M1.5): `task_*`, `thread_*`, `mach_port_*`,
//! `mach_vm_*` and `host_*` routines on our own objects and on another task's, special ports
//! inherited across fork as a rendezvous, and XNU's MIG error replies; one module per
//! subject, the cases listed here in their run order.

mod bootstrap;
mod exception;
mod host;
mod memory;
mod notify;
mod port;
mod task;

use libsys::Args;
use libsys::mach::*;
use libsys::mach_traps::{mach_task_self, mach_thread_self, task_for_pid};
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{exit_process, getpid};
use mach::defs::special::TASK_BOOTSTRAP_PORT;
use mach::exception::{EXC_BAD_ACCESS, EXC_BREAKPOINT, EXCEPTION_DEFAULT, MACH_EXCEPTION_CODES};
use mach::message::*;
use mach::mig::{MIG_BAD_ARGUMENTS, MIG_BAD_ID};
use mach::port::*;
use mach::vm::{VM_FLAGS_ANYWHERE, VM_REGION_BASIC_INFO_64, VmProt};
use mach::{KernReturn, MachPortName};

use crate::ipc::{drop_port, new_port, simple, type_of};
use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("task_info / task_threads / thread_info / thread_get_state on ourselves", task::own_objects),
    ("host_info / host_statistics, and MIG error replies", host::host_and_errors),
    ("mach_port_* routines: names, refs, attributes, insert / extract", port::port_routines),
    ("two tasks: bootstrap special port, rights and OOL memory, RPC reply", bootstrap::two_tasks),
    ("another task's memory, threads and space through its task port", task::remote_task_control),
    ("notifications: send-once, port-destroyed, port-deleted, dead-name, no-senders", notify::notifications),
    (
        "exception ports: a handler in another task repairs a fault, or refuses it",
        exception::exception_handler,
    ),
    (
        "bootstrap: init serves register / look_up; two unrelated processes meet by name",
        bootstrap::bootstrap_rendezvous,
    ),
    (
        "named memory entries: mach_make_memory_entry_64 + mach_vm_map, shared between tasks",
        memory::shared_memory,
    ),
    ("task_terminate / thread_terminate", task::terminate),
    ("host exception port: a breakpoint stepped over with thread_set_state", exception::host_handler),
    ("EXCEPTION_STATE_IDENTITY: the handler gets and returns the thread state", exception::state_handler),
];

const SUCCESS: KernReturn = KernReturn::KERN_SUCCESS;
use mach::info::{
    ARM_THREAD_STATE64, ARM_THREAD_STATE64_PC, HOST_BASIC_INFO, HOST_VM_INFO, MACH_TASK_BASIC_INFO,
    TASK_AUDIT_TOKEN, THREAD_BASIC_INFO,
};

/// A send right to our child `pid`'s task port (we are root, so `task_for_pid` allows it).
pub(crate) fn child_task(pid: i32) -> Result<MachPortName, &'static str> {
    let mut t = 0;
    // SAFETY: `t` is a writable u32.
    let kr = unsafe { task_for_pid(mach_task_self(), pid, core::ptr::from_mut(&mut t).cast()) };
    if kr == mach::KernReturn::KERN_SUCCESS { Ok(t) } else { Err("task_for_pid(child)") }
}

fn pid() -> u32 {
    getpid().unwrap_or(0) as u32
}

/// Written by the parent of `remote_task_control` into its child through `mach_vm_write`.
static mut MAILBOX: [u64; 2] = [0x1111, 0];

fn mailbox_addr() -> u64 {
    core::ptr::addr_of!(MAILBOX) as u64
}

fn read_mailbox(i: usize) -> u64 {
    // SAFETY: a volatile read of our own static (another task writes it through the kernel).
    unsafe { core::ptr::read_volatile((mailbox_addr() as *const u64).add(i)) }
}

/// The name the parent inserts a send right under, in the child's space.
pub(super) const CHOSEN_NAME: MachPortName = 0x5_0503;
