//! The machine side of threads, as safe functions: the thread references the per-CPU block
//! holds (raw `Arc` pointers, so that assembly and a switch can hand them over), the saved
//! context, the context switch itself, and the user trap frame at the top of a thread's
//! kernel stack. `sched_prim` and `thread_act` keep the policy; each function here checks
//! (or is built so) that what it touches is not touched by anyone else at the same time.

use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::Ordering;

use crate::arm64::cpu::{self, InterruptsMasked};
use crate::arm64::cpu_data::{CpuData, current_cpu};
use crate::arm64::cswitch::{MachineContext, machine_save_user_fp, machine_switch_context};
use crate::arm64::trapframe::TrapFrame;
use crate::kern::thread::{OFF_CPU, ON_CPU, Thread, ThreadRef};

/// A thread's saved registers while it is off every CPU.
pub struct ContextCell(UnsafeCell<MachineContext>);

// SAFETY: the cell is reached only through this module: by `thread_switch`, which saves into
// the running thread's own cell and loads a thread's cell only after winning it (`on_cpu`
// OFF_CPU → ON_CPU by compare-exchange, acquire: the release store of `thread_switch_finish`
// on the CPU that saved it comes first), and by `with_saved_state`, which wins it the same
// way for as long as it uses it. No two CPUs ever touch a cell at once.
unsafe impl Sync for ContextCell {}

impl ContextCell {
    /// A cell holding `ctx`.
    pub const fn new(ctx: MachineContext) -> ContextCell {
        ContextCell(UnsafeCell::new(ctx))
    }
}

/// A new strong reference from a per-CPU slot's pointer, which holds one.
fn clone_slot(p: *const Thread) -> Option<ThreadRef> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null slot pointer came from `Arc::into_raw` and its count is held by the
    // slot (the slots only change on their own CPU with interrupts masked, and the callers
    // read this CPU's slots with interrupts masked); the count added keeps it alive.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

/// `cpu` starts scheduling: `running` is the thread already on it, `idle` its idle thread.
pub fn install_threads(cpu: &CpuData, running: ThreadRef, idle: ThreadRef) {
    running.sched.on_cpu.store(ON_CPU, Ordering::Relaxed);
    cpu.idle_thread.store(Arc::into_raw(idle) as *mut Thread, Ordering::Release);
    let old = cpu.active_thread.swap(Arc::into_raw(running) as *mut Thread, Ordering::AcqRel);
    assert!(old.is_null(), "install_threads on a running CPU");
}

/// The running thread (a new count); None before the scheduler starts.
pub fn current_thread_ref() -> Option<ThreadRef> {
    let _masked = InterruptsMasked::new();
    clone_slot(current_cpu().active_thread.load(Ordering::Acquire))
}

/// `f` on the running thread without taking a count; None before the scheduler starts.
#[inline]
pub fn with_current_thread<R>(f: impl FnOnce(&Thread) -> R) -> Option<R> {
    let p = {
        let _masked = InterruptsMasked::new();
        current_cpu().active_thread.load(Ordering::Acquire)
    };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is the thread running this code (read on the CPU we were on then; if we
    // have moved since, we moved with it). It lives at least as long as it runs: the
    // `active_thread` slot of whatever CPU runs it holds a count.
    Some(f(unsafe { &*p }))
}

/// The running thread's address (0 before the scheduler starts): a cheap identity.
#[inline]
pub fn current_thread_addr() -> usize {
    let _masked = InterruptsMasked::new();
    current_cpu().active_thread.load(Ordering::Acquire).addr()
}

/// This CPU's idle thread (a new count).
pub fn idle_thread_ref(cpu: &CpuData) -> Option<ThreadRef> {
    clone_slot(cpu.idle_thread.load(Ordering::Acquire))
}

/// Is `t` `cpu`'s idle thread?
pub fn is_idle_thread(cpu: &CpuData, t: &Thread) -> bool {
    core::ptr::eq(cpu.idle_thread.load(Ordering::Acquire), t)
}

/// Switch this CPU from the running thread to `next` (interrupts masked), and return when
/// the running thread is switched back to, on whatever CPU. `next` must have been taken off
/// the run queue by the caller (or be this CPU's idle thread); if another CPU is still
/// saving its registers this waits until it has, and wins `next`'s context by moving its
/// `on_cpu` from OFF_CPU to ON_CPU, so no two CPUs can ever load it. The running thread's
/// count moves to `previous_thread` for [`thread_switch_finish`], `next`'s into
/// `active_thread`.
pub fn thread_switch(next: ThreadRef) {
    assert!(cpu::interrupts_masked(), "thread_switch with interrupts on");
    let cpu = current_cpu();
    let old = cpu.active_thread.load(Ordering::Acquire);
    assert!(!old.is_null() && !core::ptr::eq(old, Arc::as_ptr(&next)), "switch to the running thread");
    while next
        .sched
        .on_cpu
        .compare_exchange_weak(OFF_CPU, ON_CPU, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    next.activate_address_space();
    let new_ctx = next.context.0.get();
    cpu.previous_thread.store(old, Ordering::Relaxed);
    cpu.active_thread.store(Arc::into_raw(next) as *mut Thread, Ordering::Release);
    cpu.context_switches.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `old` is the running thread (its count now in `previous_thread`), so its cell
    // is ours to save into; `new_ctx` is the cell of the thread we just won (see above),
    // saved by a completed switch or built by `Thread::create`. Interrupts are masked.
    unsafe {
        let old_ctx = (*old).context.0.get();
        machine_switch_context(old_ctx, new_ctx)
    };
}

/// The second half of a switch, first thing on the side of the thread switched to: the
/// thread switched away from has its registers saved now; it is marked OFF_CPU (release)
/// and its count handed back. None if no switch is being finished here.
pub fn thread_switch_finish() -> Option<ThreadRef> {
    let prev = current_cpu().previous_thread.swap(core::ptr::null_mut(), Ordering::Relaxed);
    if prev.is_null() {
        return None;
    }
    // SAFETY: `previous_thread` held the count `active_thread` had on the thread that
    // switched to us; taking the slot makes the count ours.
    let prev = unsafe { Arc::from_raw(prev) };
    prev.sched.on_cpu.store(OFF_CPU, Ordering::Release);
    Some(prev)
}

/// `f` on the running thread's own user trap frame (the top of its kernel stack, which only
/// it uses). None for a thread without one (the boot thread).
pub fn with_own_user_frame<R>(f: impl FnOnce(&mut TrapFrame) -> R) -> Option<R> {
    with_current_thread(|t| {
        let addr = t.user_frame_addr()?;
        // SAFETY: `addr` is the frame at the top of the running thread's own kernel stack,
        // 16-byte aligned; nothing but this thread reads or writes it while it runs, and the
        // `&mut` lives only for `f`.
        Some(f(unsafe { &mut *(addr as *mut TrapFrame) }))
    })
    .flatten()
}

/// Enter user mode through the running thread's own user trap frame.
pub fn return_to_user_through_own_frame() -> ! {
    let addr = with_current_thread(|t| t.user_frame_addr()).flatten();
    let Some(addr) = addr else { panic!("a thread without a user frame returning to user mode") };
    // SAFETY: the frame at `addr` is this thread's own, filled in for user mode
    // (`thread_create_user` or the trap that entered the kernel); the return path only reads
    // it, and the kernel stack under it is this thread's.
    unsafe { super::exception_return::return_through_frame(addr) }
}

/// `f` on the saved user trap frame and context of `t`, a thread that is off every CPU: for
/// the length of `f` its context is claimed as a CPU switching it in would claim it
/// (`on_cpu` OFF_CPU → ON_CPU), so nothing else reads or writes them, and a CPU that wants
/// to switch it in waits. `f` runs with interrupts masked (short: a copy of registers), so
/// this CPU cannot be the one that waits. None if `t` is on a CPU, or has no user frame.
/// To have it off its CPU and keep it off for longer, stop it first (`thread_stop`).
pub fn with_saved_state<R>(
    t: &Thread,
    f: impl FnOnce(&mut TrapFrame, &mut MachineContext) -> R,
) -> Option<R> {
    let addr = t.user_frame_addr()?;
    let _masked = InterruptsMasked::new();
    t.sched.on_cpu.compare_exchange(OFF_CPU, ON_CPU, Ordering::Acquire, Ordering::Relaxed).ok()?;
    // SAFETY: we won `t`'s context (its registers saved, seen with acquire), so no CPU
    // switches it in, and it runs no code that uses its frame, until we give it back below;
    // the frame is at the top of its kernel stack, 16-byte aligned.
    let r = unsafe { f(&mut *(addr as *mut TrapFrame), &mut *t.context.0.get()) };
    t.sched.on_cpu.store(OFF_CPU, Ordering::Release);
    Some(r)
}

/// Store the calling thread's user FP/SIMD registers and thread pointers (live in this CPU:
/// the kernel never uses them) into `ctx` — a new thread's (fork).
pub fn save_own_user_state_into(ctx: &mut MachineContext) {
    // SAFETY: `ctx` is exclusively borrowed, so valid and not being switched.
    unsafe { machine_save_user_fp(ctx) }
}
