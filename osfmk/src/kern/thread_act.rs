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
    // A thread created suspended (or already asked to end) stops here before user mode.
    sched_prim::thread_ast_user();
    // SAFETY: `frame` is the trap frame `thread_create_user` wrote at the top of this
    // thread's own kernel stack; returning through it enters EL0.
    unsafe { thread_exception_return(frame as *const TrapFrame) }
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
/// once the last reference goes.
pub fn thread_terminate_self() -> ! {
    let me = sched_prim::current_thread();
    me.set_state(ThreadState::Terminated);
    drop(me);
    sched_prim::thread_block();
    unreachable!("a terminated thread was scheduled again");
}
