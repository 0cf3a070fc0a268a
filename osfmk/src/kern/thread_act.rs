//! Starting and ending threads that run user code.
// Building the first user frame on a new kernel stack, and jumping to it.
#![allow(unsafe_code)]

use crate::arm64::trapframe::TrapFrame;
use crate::kern::sched_prim::{self, BASEPRI_DEFAULT};
use crate::kern::task::TaskRef;
use crate::kern::thread::{Thread, ThreadRef, ThreadState};

unsafe extern "C" {
    /// Restore the trap frame at `frame` and `eret` to it (the kernel's exception-return
    /// path, in `kernel/src/exception.rs`).
    fn thread_exception_return(frame: *const TrapFrame) -> !;
}

extern "C" fn user_thread_entry(frame: u64) -> ! {
    sched_prim::thread_continue();
    // A thread created suspended (or already asked to end, or killed) stops here before
    // user mode, as on any other way there.
    // SAFETY: `frame` is the trap frame `thread_create_user` wrote at the top of this
    // thread's own kernel stack, which nothing else touches while the thread runs.
    ast_taken_user(unsafe { &mut *(frame as *mut TrapFrame) });
    // SAFETY: as above; returning through it enters EL0.
    unsafe { thread_exception_return(frame as *const TrapFrame) }
}

/// The ASTs on the way back to user mode (XNU's `ast_taken_user`), before preemption:
/// BSD's (signals, exit), then the thread's own (terminate, suspend). After a wait for a
/// suspension signals may have arrived (a SIGKILL, say), so both run again until nothing
/// held the thread.
pub fn ast_taken_user(frame: &mut TrapFrame) {
    loop {
        if let Some(h) = crate::kern::exception::bsd_hooks() {
            h.ast_bsd(frame);
        }
        if !sched_prim::thread_ast_user() {
            return;
        }
    }
}

/// A new thread in `task` that will enter user mode at `pc` with stack `sp`, suspended
/// until `thread_setrun`. Returns None when out of memory for its kernel stack.
pub fn thread_create_user(task: TaskRef, pc: u64, sp: u64, x: &[u64]) -> Option<ThreadRef> {
    let mut frame = TrapFrame::new_user(pc, sp);
    for (slot, v) in frame.x.iter_mut().zip(x) {
        *slot = *v;
    }
    // Build the thread with a placeholder, then write the frame where it will live.
    let t = Thread::create(task, BASEPRI_DEFAULT, user_thread_entry, 0)?;
    let addr = t.user_frame_addr()?;
    // SAFETY: `addr` is the top 272 bytes of the new thread's kernel stack, which nothing
    // uses until the thread first runs; it is 16-byte aligned.
    unsafe { (addr as *mut TrapFrame).write(frame) };
    // SAFETY: the thread has not run, so nobody else touches its saved context. x19 is the
    // argument its trampoline passes to `user_thread_entry`; its stack starts below the frame.
    unsafe {
        let ctx = &mut *t.machine_context();
        ctx.regs[0] = addr;
        ctx.regs[12] = addr;
    }
    Some(t)
}

/// Before a user thread first runs: set its TSD base (TPIDRRO_EL0) and argument registers.
pub fn thread_set_user_tsd(t: &ThreadRef, tsd: u64, x: &[u64]) {
    if t.state() != ThreadState::Embryo {
        return;
    }
    if let Some(addr) = t.user_frame_addr() {
        // SAFETY: the thread has not run: its frame at the top of its kernel stack and its
        // saved context are ours to fill in.
        unsafe {
            let frame = &mut *(addr as *mut TrapFrame);
            for (slot, v) in frame.x.iter_mut().zip(x) {
                *slot = *v;
            }
            (*t.machine_context()).tpidrro_el0 = tsd;
        }
    }
}

/// A new thread in `task` that resumes user mode with `frame` and with the calling thread's
/// FP/SIMD registers and thread pointers (`fork`'s child thread).
pub fn thread_dup(task: TaskRef, frame: &TrapFrame) -> Option<ThreadRef> {
    let t = thread_create_user(task, frame.elr, frame.sp_el0, &frame.x)?;
    if let Some(addr) = t.user_frame_addr() {
        // SAFETY: the new thread has not run; its frame and context are ours to fill, and
        // the FP registers on this CPU are the caller's user state (the kernel never uses
        // them).
        unsafe {
            (*(addr as *mut TrapFrame)).spsr = frame.spsr;
            crate::arm64::cswitch::machine_save_user_fp(t.machine_context());
        }
    }
    Some(t)
}

/// End the calling thread: it never runs again; its stack is freed by whoever runs next
/// once the last reference goes. BSD hears of every thread that ends, whichever way it was
/// asked to (`thread_terminate`, `bsdthread_terminate`, exit, a kill); when it was the
/// task's last, the process exits (XNU runs `proc_exit` from `thread_terminate_self`).
pub fn thread_terminate_self() -> ! {
    #[cfg(feature = "lock-validator")]
    crate::kern::lock_order::check_terminate();
    let me = sched_prim::current_thread();
    let (user, system) = me.sched.times();
    me.task.note_thread_ended(user, system);
    let last = me.task.remove_thread(&me);
    if let Some(h) = crate::kern::exception::bsd_hooks() {
        h.thread_terminated(&me, last);
    }
    // No count of our own may stay on this stack: it is never unwound.
    drop(me);
    sched_prim::thread_terminate_block()
}

/// End every other thread of the caller's task and wait until each one that ever ran has
/// ended and is off its CPU (exec, before the old address space goes). A thread that never
/// started ends before it first reaches user mode (`thread_terminate` marks it).
/// `KERN_ABORTED` if the caller is itself told to terminate meanwhile (another thread's
/// exec, a kill): it must not wait for threads that may be waiting for it.
pub fn thread_terminate_others() -> Result<(), mach::KernReturn> {
    use crate::kern::waitq::{Interruptible, Wait};
    let me = sched_prim::current_thread();
    let task = me.task.clone();
    // One thread at a time ends the others: of two racing execs one backs out here, before
    // it has terminated anybody. From now on no thread can be added.
    if !task.begin_halt() {
        return Err(mach::KernReturn::KERN_ABORTED);
    }
    let others: alloc::vec::Vec<ThreadRef> =
        task.threads().into_iter().filter(|t| !alloc::sync::Arc::ptr_eq(t, &me)).collect();
    for t in &others {
        sched_prim::thread_terminate(t);
    }
    let ended = |t: &ThreadRef| matches!(t.state(), ThreadState::Terminated | ThreadState::Embryo);
    let result = loop {
        // On the queue before looking: an end in between still wakes us.
        let mut wait = Wait::begin(Interruptible::No, None);
        wait.on(&task.thread_gone);
        if sched_prim::terminate_requested(&me) {
            break Err(mach::KernReturn::KERN_ABORTED);
        }
        // Every other thread ended, and every ended one (those too that were ending before
        // we looked) off its CPU.
        if others.iter().all(ended) && task.threads_ending() == 0 {
            break Ok(());
        }
        wait.block();
    };
    task.end_halt();
    result
}

pub use mach::info::{ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT};
use mach::info::{
    POLICY_RR, POLICY_TIMESHARE, TH_STATE_HALTED, TH_STATE_RUNNING, TH_STATE_STOPPED, TH_STATE_WAITING,
    THREAD_BASIC_INFO, THREAD_BASIC_INFO_COUNT,
};

/// Held by the thread that stops another for `with_user_frame` (see `lock_order::THREAD_STOP`).
static THREAD_STOP: crate::kern::locks::LckMtx<()> =
    crate::kern::locks::LckMtx::new(&crate::kern::lock_order::THREAD_STOP, ());

/// Run `f` on the saved user registers of `t`. For the caller's own thread that is its trap
/// frame, which only it touches. Any other thread is first stopped (`thread_stop`): held off
/// every CPU, and waited for until it is off the one it ran on, so its frame holds its user
/// state and nothing changes it until `thread_unstop`.
fn with_user_frame<R>(t: &ThreadRef, f: impl FnOnce(&mut TrapFrame) -> R) -> Result<R, mach::KernReturn> {
    if t.state() == ThreadState::Terminated {
        return Err(mach::KernReturn::KERN_TERMINATED);
    }
    let addr = t.user_frame_addr().ok_or(mach::KernReturn::KERN_INVALID_ARGUMENT)?;
    let myself = alloc::sync::Arc::ptr_eq(t, &sched_prim::current_thread());
    let stopping = (!myself).then(|| {
        let one_at_a_time = THREAD_STOP.lock();
        sched_prim::thread_stop(t);
        one_at_a_time
    });
    // SAFETY: `addr` is the user frame at the top of `t`'s own kernel stack, which lives as
    // long as `t` (we hold a reference). Either `t` is the calling thread, whose frame this
    // code alone uses, or `t` is stopped: off every CPU and kept off until `thread_unstop`
    // below, so no other code reads or writes the frame while `frame` lives.
    let frame = unsafe { &mut *(addr as *mut TrapFrame) };
    let r = f(frame);
    if let Some(one_at_a_time) = stopping {
        sched_prim::thread_unstop(t);
        drop(one_at_a_time);
    }
    Ok(r)
}

/// `thread_get_state(t, ARM_THREAD_STATE64)`: the user registers as 68 words.
pub fn thread_get_state(
    t: &ThreadRef,
    flavor: u32,
    count: u32,
) -> Result<alloc::vec::Vec<u32>, mach::KernReturn> {
    if flavor != ARM_THREAD_STATE64 || count < ARM_THREAD_STATE64_COUNT {
        return Err(mach::KernReturn::KERN_INVALID_ARGUMENT);
    }
    with_user_frame(t, |frame| {
        let mut regs = [0u64; 33];
        regs[..31].copy_from_slice(&frame.x);
        regs[31] = frame.sp_el0;
        regs[32] = frame.elr;
        let mut words: alloc::vec::Vec<u32> =
            regs.iter().flat_map(|r| [*r as u32, (*r >> 32) as u32]).collect();
        words.push(frame.spsr as u32);
        words.push(0);
        words
    })
}

/// `thread_set_state(t, ARM_THREAD_STATE64, words)`: new user registers. Only the condition
/// flags of cpsr are taken: a user cannot change its exception level or interrupt masks.
pub fn thread_set_state(t: &ThreadRef, flavor: u32, words: &[u32]) -> Result<(), mach::KernReturn> {
    if flavor != ARM_THREAD_STATE64 || (words.len() as u32) < ARM_THREAD_STATE64_COUNT {
        return Err(mach::KernReturn::KERN_INVALID_ARGUMENT);
    }
    let reg = |i: usize| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32);
    with_user_frame(t, |frame| {
        for (i, x) in frame.x.iter_mut().enumerate() {
            *x = reg(i);
        }
        frame.sp_el0 = reg(31);
        frame.elr = reg(32);
        const NZCV: u64 = 0xf000_0000;
        frame.spsr = (frame.spsr & !NZCV) | (u64::from(words[66]) & NZCV);
    })
}

/// `thread_info(t, THREAD_BASIC_INFO)`: times, policy, run state and suspend count.
pub fn thread_info(t: &Thread, flavor: u32, count: u32) -> Result<alloc::vec::Vec<u32>, mach::KernReturn> {
    if flavor != THREAD_BASIC_INFO || count < THREAD_BASIC_INFO_COUNT {
        return Err(mach::KernReturn::KERN_INVALID_ARGUMENT);
    }
    let (user, system) = t.sched.times();
    let run_state = match t.state() {
        ThreadState::Terminated => TH_STATE_HALTED,
        ThreadState::Running | ThreadState::Runnable => TH_STATE_RUNNING,
        _ if t.sched.suspend_count() > 0 => TH_STATE_STOPPED,
        _ => TH_STATE_WAITING,
    };
    let policy = match t.sched.mode() {
        crate::kern::sched::SchedMode::Timeshare => POLICY_TIMESHARE,
        _ => POLICY_RR,
    };
    let mut words = alloc::vec::Vec::with_capacity(THREAD_BASIC_INFO_COUNT as usize);
    words.extend_from_slice(&time_value(user));
    words.extend_from_slice(&time_value(system));
    words.extend_from_slice(&[0, policy, run_state, 0, t.sched.suspend_count(), 0]);
    Ok(words)
}

/// A `time_value_t` (seconds, microseconds) from `mach_absolute_time` ticks.
pub fn time_value(ticks: u64) -> [u32; 2] {
    let us = crate::kern::clock::absolutetime_to_nanoseconds(ticks) / 1000;
    [(us / 1_000_000) as u32, (us % 1_000_000) as u32]
}
