//! Process exit (XNU's `exit1` / `proc_exit`): record the status, close descriptors, tear
//! down the task's rights and memory, and end the calling thread. When init dies there is
//! nothing left to run: XNU panics ("initproc exited"); we report it and power off cleanly,
//! which is what a person at `make run` — and the boot tests — want to see.

use alloc::sync::Arc;

use osfmk::kern::thread_act::thread_terminate_self;
use sys::signal::signal_name;
use sys::wait::{wexitstatus, wifexited, wtermsig};

use crate::kern::bsd_init::platform;
use crate::kern::kern_proc::{Proc, ProcState};

/// The pid of init.
pub const INITPROC_PID: i32 = 1;

/// End process `p` (the caller's own) with wait status `status`. Never returns.
pub fn exit1(p: &Arc<Proc>, status: i32) -> ! {
    *p.p_stat.lock() = ProcState::Zombie(status);
    p.p_fd.lock().close_all();
    p.task.terminate();
    let msg = if wifexited(status) {
        alloc::format!("bsd: pid {} ({}) exited with status {}\n", p.p_pid, p.p_comm, wexitstatus(status))
    } else {
        let sig = wtermsig(status) as u32;
        alloc::format!(
            "bsd: pid {} ({}) killed by signal {} (SIG{})\n",
            p.p_pid,
            p.p_comm,
            sig,
            signal_name(sig)
        )
    };
    platform().console_write(msg.as_bytes());
    if p.p_pid == INITPROC_PID {
        platform().console_write(b"bsd: init is gone; powering off\n");
        platform().halt();
    }
    thread_terminate_self()
}
