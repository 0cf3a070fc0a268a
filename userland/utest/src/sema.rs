//! Semaphores (issue M1.5): `semaphore_create` / `destroy` and the traps −33…−39 — counts,
//! timeouts, ping-pong between threads and between tasks, destruction under a waiter, and
//! XNU's codes for bad names, values and objects.

use core::sync::atomic::{AtomicU32, Ordering};

use libsys::Args;
use libsys::mach::*;
use libsys::mach_traps::{mach_task_self, mach_thread_self};
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::exit_process;
use mach::KernReturn;
use mach::message::MACH_MSG_TYPE_COPY_SEND;

use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("semaphores: counts, polls, timeouts and errors", basics),
    ("semaphores: ping-pong with a thread, destroy under a waiter", with_threads),
    ("semaphores: ping-pong between two tasks", between_tasks),
];

const SUCCESS: KernReturn = KernReturn::KERN_SUCCESS;
const ROUNDS: u32 = 200;

fn create(value: i32) -> Result<u32, &'static str> {
    let mut sem = 0;
    check(semaphore_create(mach_task_self(), &mut sem, 0, value) == SUCCESS, "semaphore_create")?;
    Ok(sem)
}

fn basics(_: &Args) -> Result<(), &'static str> {
    let sem = create(2)?;
    check(semaphore_wait(sem) == SUCCESS && semaphore_wait(sem) == SUCCESS, "two signals available")?;
    check(semaphore_timedwait(sem, 0, 0) == KernReturn::KERN_OPERATION_TIMED_OUT, "poll: none left")?;
    check(semaphore_timedwait(sem, 0, 20_000_000) == KernReturn::KERN_OPERATION_TIMED_OUT, "20 ms timeout")?;
    check(semaphore_signal(sem) == SUCCESS && semaphore_timedwait(sem, 1, 0) == SUCCESS, "signal then wait")?;
    check(semaphore_signal_thread(sem, 0) == KernReturn::KERN_NOT_WAITING, "nobody waiting")?;
    check(semaphore_signal_all(sem) == SUCCESS, "signal_all with no waiters")?;
    check(
        semaphore_timedwait(sem, 0, 0) == KernReturn::KERN_OPERATION_TIMED_OUT,
        "signal_all keeps nothing",
    )?;
    // Errors.
    check(semaphore_signal(0x7777) == KernReturn::KERN_INVALID_NAME, "bad name")?;
    check(semaphore_wait(mach_task_self()) == KernReturn::KERN_INVALID_ARGUMENT, "not a semaphore")?;
    check(semaphore_timedwait(sem, 0, 2_000_000_000) == KernReturn::KERN_INVALID_VALUE, "nsec too big")?;
    let mut bad = 0;
    check(
        semaphore_create(mach_task_self(), &mut bad, 0, -1) == KernReturn::KERN_INVALID_ARGUMENT,
        "negative",
    )?;
    check(
        semaphore_create(mach_task_self(), &mut bad, 77, 0) == KernReturn::KERN_INVALID_ARGUMENT,
        "policy",
    )?;
    check(semaphore_destroy(mach_task_self(), sem) == SUCCESS, "destroy")?;
    check(semaphore_signal(sem) != SUCCESS, "a destroyed semaphore")?;
    let _ = mach_port_deallocate(mach_task_self(), sem);
    Ok(())
}

static PING: AtomicU32 = AtomicU32::new(0);
static PONG: AtomicU32 = AtomicU32::new(0);
static RESULT: AtomicU32 = AtomicU32::new(0);

extern "C" fn ponger(_: u64) {
    let (ping, pong) = (PING.load(Ordering::Acquire), PONG.load(Ordering::Acquire));
    let mut ok = 0;
    for _ in 0..ROUNDS {
        if semaphore_wait(ping) == SUCCESS && semaphore_signal(pong) == SUCCESS {
            ok += 1;
        }
    }
    RESULT.store(ok, Ordering::Release);
}

extern "C" fn doomed_waiter(_: u64) {
    let kr = semaphore_wait(PING.load(Ordering::Acquire));
    RESULT.store(kr.0 as u32, Ordering::Release);
}

fn with_threads(_: &Args) -> Result<(), &'static str> {
    let (ping, pong) = (create(0)?, create(0)?);
    PING.store(ping, Ordering::Release);
    PONG.store(pong, Ordering::Release);
    crate::sched::spawn(0, ponger, 0)?;
    for _ in 0..ROUNDS {
        check(semaphore_wait_signal(pong, ping) == SUCCESS, "wait_signal")?;
    }
    crate::sched::SLOTS[0].join();
    check(RESULT.load(Ordering::Acquire) == ROUNDS, "every round answered")?;
    // signal_thread names the waiter; destroy ends a wait with KERN_TERMINATED.
    RESULT.store(0, Ordering::Release);
    crate::sched::spawn(0, doomed_waiter, 0)?;
    while semaphore_signal_thread(ping, 0) == KernReturn::KERN_NOT_WAITING {
        crate::sched::sleep_ms(1);
    }
    crate::sched::SLOTS[0].join();
    check(RESULT.load(Ordering::Acquire) == 0, "woken by signal_thread")?;
    RESULT.store(u32::MAX, Ordering::Release);
    crate::sched::spawn(0, doomed_waiter, 0)?;
    crate::sched::sleep_ms(20);
    check(semaphore_destroy(mach_task_self(), ping) == SUCCESS, "destroy under a waiter")?;
    crate::sched::SLOTS[0].join();
    check(
        RESULT.load(Ordering::Acquire) == KernReturn::KERN_TERMINATED.0 as u32,
        "waiter got KERN_TERMINATED",
    )?;
    let me = mach_thread_self();
    check(semaphore_signal_thread(pong, me) == KernReturn::KERN_NOT_WAITING, "we are not waiting")?;
    let _ = mach_port_deallocate(mach_task_self(), me);
    let _ = semaphore_destroy(mach_task_self(), pong);
    Ok(())
}

/// Names the parent gives its child for the two semaphores.
const CHILD_PING: u32 = 0x6_0003;
const CHILD_PONG: u32 = 0x6_0103;

fn between_tasks(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let (ping, pong) = (create(0)?, create(0)?);
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // Wait for the names to appear, then answer every ping.
            let mut ty = 0;
            while mach_port_type(mach_task_self(), CHILD_PONG, &mut ty) != SUCCESS {
                crate::sched::sleep_ms(1);
            }
            for _ in 0..ROUNDS {
                if semaphore_wait(CHILD_PING) != SUCCESS || semaphore_signal(CHILD_PONG) != SUCCESS {
                    exit_process(1);
                }
            }
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let t = crate::kobject::child_task(child)?;
    check(mach_port_insert_right(t, CHILD_PING, ping, MACH_MSG_TYPE_COPY_SEND) == SUCCESS, "give ping")?;
    check(mach_port_insert_right(t, CHILD_PONG, pong, MACH_MSG_TYPE_COPY_SEND) == SUCCESS, "give pong")?;
    for _ in 0..ROUNDS {
        check(semaphore_signal(ping) == SUCCESS && semaphore_wait(pong) == SUCCESS, "round trip")?;
    }
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child answered every round")?;
    let _ = mach_port_deallocate(task, t);
    let _ = semaphore_destroy(task, ping);
    let _ = semaphore_destroy(task, pong);
    Ok(())
}
