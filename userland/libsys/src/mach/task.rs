//! Tasks and threads: information, state, suspension, termination, the thread list and task
//! special ports, as XNU's `task` and `thread_act` MIG routines.

use ::mach::defs;
use ::mach::{KernReturn, MachPortName};

use super::mig::{self, MigBuffer, status, with_reply, words_out};

/// `task_info(task, flavor, info, &count)`.
pub fn task_info(task: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    with_reply(mig::task_info(task, flavor, *count, &mut MigBuffer::new()), |out| {
        words_out(&out.task_info_out, info, count)
    })
}

/// `thread_info(thread, flavor, info, &count)`.
pub fn thread_info(thread: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    with_reply(mig::thread_info(thread, flavor, *count, &mut MigBuffer::new()), |out| {
        words_out(&out.thread_info_out, info, count)
    })
}

/// `thread_get_state(thread, flavor, state, &count)`.
pub fn thread_get_state(thread: MachPortName, flavor: u32, state: &mut [u32], count: &mut u32) -> KernReturn {
    with_reply(mig::thread_get_state(thread, flavor, *count, &mut MigBuffer::new()), |out| {
        words_out(&out.old_state, state, count)
    })
}

/// `thread_set_state(thread, flavor, state, count)`.
pub fn thread_set_state(thread: MachPortName, flavor: u32, state: &[u32]) -> KernReturn {
    status(mig::thread_set_state(thread, flavor, state, &mut MigBuffer::new()))
}

/// `task_suspend(task)`.
pub fn task_suspend(task: MachPortName) -> KernReturn {
    status(mig::task_suspend(task, &mut MigBuffer::new()))
}

/// `task_resume(task)`.
pub fn task_resume(task: MachPortName) -> KernReturn {
    status(mig::task_resume(task, &mut MigBuffer::new()))
}

/// `thread_suspend(thread)`.
pub fn thread_suspend(thread: MachPortName) -> KernReturn {
    status(mig::thread_suspend(thread, &mut MigBuffer::new()))
}

/// `thread_resume(thread)`.
pub fn thread_resume(thread: MachPortName) -> KernReturn {
    status(mig::thread_resume(thread, &mut MigBuffer::new()))
}

/// `task_terminate(task)`.
pub fn task_terminate(task: MachPortName) -> KernReturn {
    status(mig::task_terminate(task, &mut MigBuffer::new()))
}

/// `thread_terminate(thread)`.
pub fn thread_terminate(thread: MachPortName) -> KernReturn {
    status(mig::thread_terminate(thread, &mut MigBuffer::new()))
}

/// `task_threads(task, &threads, &count)`: the address of a new array of thread port names in
/// our address space (free it with `mach_vm_deallocate`) and its length.
pub fn task_threads(task: MachPortName, threads: &mut u64, count: &mut u32) -> KernReturn {
    with_reply(mig::task_threads(task, &mut MigBuffer::new()), |out| {
        (*threads, *count) = (out.act_list.address, out.act_list.count);
    })
}

/// `task_get_special_port(task, which, &port)`.
pub fn task_get_special_port(task: MachPortName, which: i32, port: &mut MachPortName) -> KernReturn {
    with_reply(mig::task_get_special_port(task, which as u32, &mut MigBuffer::new()), |out| {
        *port = out.special_port.name
    })
}

/// `task_set_special_port(task, which, port)`: a copy of our send right for `port`.
pub fn task_set_special_port(task: MachPortName, which: i32, port: MachPortName) -> KernReturn {
    status(mig::task_set_special_port(task, which as u32, (port, 0), &mut MigBuffer::new()))
}

/// `task_get_bootstrap_port(task, &port)`.
pub fn task_get_bootstrap_port(task: MachPortName, port: &mut MachPortName) -> KernReturn {
    task_get_special_port(task, defs::special::TASK_BOOTSTRAP_PORT, port)
}
