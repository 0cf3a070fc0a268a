//! `task_for_pid` (−45) and `pid_for_task` (−46): Mach traps whose work is BSD's (XNU keeps
//! them in `bsd/vm/vm_unix.c`, and so does rxnu, in `bsd::vm::vm_unix`). Mach's table routes
//! them through [`BsdHooks`](crate::kern::exception::BsdHooks), since osfmk never depends on
//! bsd; with no BSD registered they fail with `KERN_FAILURE`, as any refusal does.

use mach::{KernReturn, MachPortName};

use crate::kern::exception::bsd_hooks;
use crate::vm::user_ptr::UserAddr;

/// −46: `pid_for_task(t, &pid)`.
pub fn pid_for_task(t: MachPortName, pid_out: UserAddr) -> Result<(), KernReturn> {
    bsd_hooks().ok_or(KernReturn::KERN_FAILURE)?.pid_for_task(t, pid_out)
}

/// −45: `task_for_pid(target_tport, pid, &t)`.
pub fn task_for_pid(target_tport: MachPortName, pid: i32, t_out: UserAddr) -> Result<(), KernReturn> {
    bsd_hooks().ok_or(KernReturn::KERN_FAILURE)?.task_for_pid(target_tport, pid, t_out)
}
