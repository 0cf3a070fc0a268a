//! Semaphores: created and destroyed through the task's MIG routines, signalled and waited on
//! through their traps.

use ::mach::{KernReturn, MachPortName};

use super::mig::{self, MigBuffer, status, with_reply};
use crate::mach_traps as traps;

/// `semaphore_create(task, &semaphore, policy, value)`.
pub fn semaphore_create(
    task: MachPortName,
    semaphore: &mut MachPortName,
    policy: u32,
    value: i32,
) -> KernReturn {
    with_reply(mig::semaphore_create(task, policy, value as u32, &mut MigBuffer::new()), |out| {
        *semaphore = out.semaphore.name
    })
}

/// `semaphore_destroy(task, semaphore)`: consumes our send right.
pub fn semaphore_destroy(task: MachPortName, semaphore: MachPortName) -> KernReturn {
    status(mig::semaphore_destroy(task, (semaphore, 0), &mut MigBuffer::new()))
}

/// `semaphore_signal(semaphore)`.
pub fn semaphore_signal(semaphore: MachPortName) -> KernReturn {
    traps::semaphore_signal_trap(semaphore)
}

/// `semaphore_signal_all(semaphore)`.
pub fn semaphore_signal_all(semaphore: MachPortName) -> KernReturn {
    traps::semaphore_signal_all_trap(semaphore)
}

/// `semaphore_signal_thread(semaphore, thread)`.
pub fn semaphore_signal_thread(semaphore: MachPortName, thread: MachPortName) -> KernReturn {
    traps::semaphore_signal_thread_trap(semaphore, thread)
}

/// `semaphore_wait(semaphore)`.
pub fn semaphore_wait(semaphore: MachPortName) -> KernReturn {
    traps::semaphore_wait_trap(semaphore)
}

/// `semaphore_wait_signal(wait_semaphore, signal_semaphore)`.
pub fn semaphore_wait_signal(wait: MachPortName, signal: MachPortName) -> KernReturn {
    traps::semaphore_wait_signal_trap(wait, signal)
}

/// `semaphore_timedwait(semaphore, {sec, nsec})`.
pub fn semaphore_timedwait(semaphore: MachPortName, sec: u32, nsec: i32) -> KernReturn {
    traps::semaphore_timedwait_trap(semaphore, sec, nsec)
}

/// `semaphore_timedwait_signal(wait_semaphore, signal_semaphore, {sec, nsec})`.
pub fn semaphore_timedwait_signal(
    wait: MachPortName,
    signal: MachPortName,
    sec: u32,
    nsec: i32,
) -> KernReturn {
    traps::semaphore_timedwait_signal_trap(wait, signal, sec, nsec)
}
