//! Starting and ending threads that run user code.

use crate::arm64::thread_machine;
use crate::arm64::trapframe::TrapFrame;
use crate::kern::sched_prim::{self, BASEPRI_DEFAULT};
use crate::kern::task::TaskRef;
use crate::kern::thread::{Thread, ThreadRef, ThreadState};

extern "C" fn user_thread_entry(_: u64) -> ! {
    sched_prim::thread_continue();
    // A thread created suspended (or already asked to end, or killed) stops here before
    // user mode, as on any other way there.
    thread_machine::with_own_user_frame(ast_taken_user);
    thread_machine::return_to_user_through_own_frame()
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
    let t = Thread::create(task, BASEPRI_DEFAULT, user_thread_entry, 0)?;
    let addr = t.user_frame_addr()?;
    with_embryo_state(&t, |f, ctx| {
        *f = frame;
        // Its kernel stack starts below the frame.
        ctx.regs[12] = addr;
    })?;
    Some(t)
}

/// `f` on the user frame and saved context of a thread that has not run yet. None if it
/// has started meanwhile.
fn with_embryo_state<R>(
    t: &ThreadRef,
    f: impl FnOnce(&mut TrapFrame, &mut crate::arm64::cswitch::MachineContext) -> R,
) -> Option<R> {
    // Its context is claimed while it is filled in, in case someone resumes it meanwhile.
    thread_machine::with_saved_state(t, |frame, ctx| {
        (t.state() == ThreadState::Embryo).then(|| f(frame, ctx))
    })
    .flatten()
}

/// Before a user thread first runs: set its TSD base (TPIDRRO_EL0) and argument registers.
pub fn thread_set_user_tsd(t: &ThreadRef, tsd: u64, x: &[u64]) {
    with_embryo_state(t, |frame, ctx| {
        for (slot, v) in frame.x.iter_mut().zip(x) {
            *slot = *v;
        }
        ctx.tpidrro_el0 = tsd;
    });
}

/// A new thread in `task` that resumes user mode with `frame` and with the calling thread's
/// FP/SIMD registers and thread pointers (`fork`'s child thread).
pub fn thread_dup(task: TaskRef, frame: &TrapFrame) -> Option<ThreadRef> {
    let t = thread_create_user(task, frame.elr, frame.sp_el0, &frame.x)?;
    with_embryo_state(&t, |f, ctx| {
        f.spsr = frame.spsr;
        thread_machine::save_own_user_state_into(ctx);
    })?;
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
    if t.user_frame_addr().is_none() {
        return Err(mach::KernReturn::KERN_INVALID_ARGUMENT);
    }
    if alloc::sync::Arc::ptr_eq(t, &sched_prim::current_thread()) {
        return thread_machine::with_own_user_frame(f).ok_or(mach::KernReturn::KERN_INVALID_ARGUMENT);
    }
    let one_at_a_time = THREAD_STOP.lock();
    sched_prim::thread_stop(t);
    let r = thread_machine::with_saved_state(t, |frame, _| f(frame));
    sched_prim::thread_unstop(t);
    drop(one_at_a_time);
    r.ok_or(mach::KernReturn::KERN_TERMINATED)
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
