//! `task_for_pid` (Mach trap −45) and `pid_for_task` (−46), where XNU has them
//! (`bsd/vm/vm_unix.c`): the bridge between BSD pids and Mach task ports. The traps sit in
//! Mach's table, which reaches them through `BsdHooks`; which process wraps a task, and who
//! may have another process's task port, are BSD's to say. As on XNU, every failure is
//! `KERN_FAILURE` and the out value is still written (-1, or `MACH_PORT_NULL`).

use alloc::sync::Arc;

use mach::port::{MACH_PORT_NULL, MACH_PORT_TYPE_SEND};
use mach::{KernReturn, MachPortName};
use osfmk::kern::sched_prim::current_thread;
use osfmk::kern::task::{Task, TaskRef};
use osfmk::vm::user_ptr::{UserAddr, copyout_val};

use crate::kern::kern_proc::{Proc, current_proc, proc_find};

/// The task a send right in the caller's space names.
fn task_named(name: MachPortName) -> Option<TaskRef> {
    current_thread().task.itk_space.lookup_kobject::<Task>(name, MACH_PORT_TYPE_SEND).ok()
}

/// The process that wraps `task`, if one does.
pub fn proc_of_task(task: &Task) -> Option<Arc<Proc>> {
    task.bsd_info.get()?.downcast_ref::<alloc::sync::Weak<Proc>>()?.upgrade()
}

/// Root may have any process's task port except the kernel's; others only their own (XNU
/// asks for entitlements instead). Zombies have no task left to give.
fn task_for_pid_allowed(pid: i32) -> Option<TaskRef> {
    let me = current_proc()?;
    let target = proc_find(pid).filter(|q| q.p_pid != 0 && !q.is_zombie())?;
    let root = me.p_ucred.lock().uid == 0;
    (root || target.p_pid == me.p_pid).then(|| target.task.clone())
}

/// −46: `pid_for_task(t, &pid)`.
pub fn pid_for_task(t: MachPortName, pid_out: UserAddr) -> Result<(), KernReturn> {
    let pid = task_named(t).and_then(|t| proc_of_task(&t)).map(|p| p.p_pid);
    let written = copyout_val(&pid.unwrap_or(-1), pid_out).is_ok();
    if pid.is_some() && written { Ok(()) } else { Err(KernReturn::KERN_FAILURE) }
}

/// −45: `task_for_pid(target_tport, pid, &t)`: a send right to process `pid`'s task port in
/// the caller's space. `target_tport` must be the caller's own task port.
pub fn task_for_pid(target_tport: MachPortName, pid: i32, t_out: UserAddr) -> Result<(), KernReturn> {
    let me = current_thread().task.clone();
    let granted = task_named(target_tport)
        .filter(|t| Arc::ptr_eq(t, &me))
        .and_then(|_| task_for_pid_allowed(pid))
        .and_then(|target| me.itk_space.insert_send(&target.self_port()).ok());
    let Some(name) = granted else {
        let _ = copyout_val(&MACH_PORT_NULL, t_out);
        return Err(KernReturn::KERN_FAILURE);
    };
    copyout_val(&name, t_out).map_err(|_| {
        // Nobody learned the name: take the right back.
        let _ = me.itk_space.deallocate(name);
        KernReturn::KERN_FAILURE
    })
}
