//! `task_for_pid` (−45) and `pid_for_task` (−46): the bridge between BSD pids and Mach task
//! ports (XNU keeps them in `bsd/vm/vm_unix.c`). The traps sit in the Mach table; which
//! process wraps a task, and who may have another process's task port, are BSD's to say
//! through [`BsdHooks`](crate::kern::exception::BsdHooks). As on XNU, every failure is
//! `KERN_FAILURE` and the out value is still written (-1, or `MACH_PORT_NULL`).

use alloc::sync::Arc;

use mach::port::{MACH_PORT_NULL, MACH_PORT_TYPE_SEND};
use mach::{KernReturn, MachPortName};

use crate::arm64::copyio::{UserAddr, copyout};
use crate::kern::exception::bsd_hooks;
use crate::kern::sched_prim::current_thread;
use crate::kern::task::{Task, TaskRef};

fn kr(k: KernReturn) -> u64 {
    k.0 as i64 as u64
}

/// Write a 32-bit value to the caller's memory (`task` is the caller's); false if the
/// address is bad.
fn put_u32(task: &Task, value: u32, ptr: u64) -> bool {
    task.map.is_some() && copyout(&value.to_le_bytes(), UserAddr(ptr)).is_ok()
}

/// The task a send right in the caller's space names.
fn task_named(name: MachPortName) -> Option<TaskRef> {
    current_thread().task.itk_space.lookup_kobject::<Task>(name, MACH_PORT_TYPE_SEND).ok()
}

/// −46: `pid_for_task(task, &pid)`.
pub fn pid_for_task(task_name: u64, pid_ptr: u64) -> u64 {
    let me = current_thread().task.clone();
    let pid = task_named(task_name as MachPortName).and_then(|t| bsd_hooks()?.task_pid(&t));
    let written = put_u32(&me, pid.unwrap_or(-1) as u32, pid_ptr);
    kr(if pid.is_some() && written { KernReturn::KERN_SUCCESS } else { KernReturn::KERN_FAILURE })
}

/// −45: `task_for_pid(target_tport, pid, &task)`: a send right to process `pid`'s task port
/// in the caller's space. `target_tport` must be the caller's own task port.
pub fn task_for_pid(target_tport: u64, pid: u64, task_ptr: u64) -> u64 {
    let me = current_thread().task.clone();
    let granted = task_named(target_tport as MachPortName)
        .filter(|t| Arc::ptr_eq(t, &me))
        .and_then(|_| bsd_hooks()?.task_for_pid(pid as i32).ok())
        .and_then(|target| me.itk_space.insert_send(&target.self_port()).ok());
    let Some(name) = granted else {
        put_u32(&me, MACH_PORT_NULL, task_ptr);
        return kr(KernReturn::KERN_FAILURE);
    };
    if put_u32(&me, name, task_ptr) {
        kr(KernReturn::KERN_SUCCESS)
    } else {
        // Nobody learned the name: take the right back.
        let _ = me.itk_space.deallocate(name);
        kr(KernReturn::KERN_FAILURE)
    }
}
