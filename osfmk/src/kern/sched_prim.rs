//! The scheduler: run queues with a priority bitmap, `thread_block`, waits and wakeups, and
//! the timer-driven quantum.
//!
//! Mach priorities run 0–127 (reference §12.1); the run queue keeps one FIFO per priority and
//! a 128-bit bitmap of non-empty queues, so picking the next thread is a count-leading-zeros.
//! Threads wait on the wait queues of the objects they wait for (`waitq`); a wakeup, a
//! deadline or an abort ends a wait through [`thread_go`].
//!
//! Written for several CPUs: each CPU's own state (running thread, quantum, reschedule
//! request, the priority it runs at) is in its per-CPU block (`arm64::cpu_data`); what they
//! share — the run queue, the wait deadlines, every thread's scheduling state — is under one
//! interrupt-masking lock, the scheduler lock (XNU's processor set with one run queue). One
//! shared queue is correct for any number of CPUs and keeps every choice global (the best
//! thread always runs somewhere); per-CPU queues with balancing are a scaling step for when
//! SMP is on, behind the same functions. A wakeup picks a CPU to preempt by the priorities
//! the blocks publish (`preempt_check_locked`) and signals it through [`CpuSignal`].
//!
//! The switch protocol is described at [`thread_block`]'s private half,
//! `thread_block_reason`. Reading or changing another thread's user state first stops it
//! ([`thread_stop`]): held off every CPU and waited for until it is off the one it ran on.
//! The way back to user mode takes its last look at pending ASTs with interrupts masked
//! ([`ast_user_settled`]).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Number of priority levels (`NRQS`).
pub const NRQS: usize = 128;
pub use crate::kern::sched::{BASEPRI_DEFAULT, BASEPRI_KERNEL, IDLEPRI};
/// Time-slice length: 10 ms, XNU's standard quantum (reference §12.2).
pub const QUANTUM_NS: u64 = 10_000_000;

/// Runnable threads by priority, O(1) to pick the highest. Generic so it is unit-tested
/// without real threads.
pub struct RunQueue<T> {
    bitmap: [u64; 2],
    queues: Vec<VecDeque<T>>,
    count: usize,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RunQueue<T> {
    /// An empty run queue.
    pub fn new() -> RunQueue<T> {
        RunQueue { bitmap: [0; 2], queues: (0..NRQS).map(|_| VecDeque::new()).collect(), count: 0 }
    }

    /// Append `t` at priority `pri` (after threads of the same priority: round robin).
    pub fn enqueue(&mut self, t: T, pri: u8) {
        let pri = (pri as usize).min(NRQS - 1);
        self.queues[pri].push_back(t);
        self.bitmap[pri / 64] |= 1 << (pri % 64);
        self.count += 1;
    }

    /// The highest priority with a runnable thread.
    pub fn highest(&self) -> Option<u8> {
        if self.bitmap[1] != 0 {
            Some(64 + 63 - self.bitmap[1].leading_zeros() as u8)
        } else if self.bitmap[0] != 0 {
            Some(63 - self.bitmap[0].leading_zeros() as u8)
        } else {
            None
        }
    }

    /// Take the first thread of the highest priority.
    pub fn dequeue(&mut self) -> Option<T> {
        let pri = self.highest()? as usize;
        let t = self.queues[pri].pop_front();
        if self.queues[pri].is_empty() {
            self.bitmap[pri / 64] &= !(1 << (pri % 64));
        }
        self.count -= 1;
        t
    }

    /// Take out the first entry matching `pred`, searching from the highest priority.
    pub fn remove_first(&mut self, mut pred: impl FnMut(&T) -> bool) -> Option<T> {
        for pri in (0..NRQS).rev() {
            if self.bitmap[pri / 64] & (1 << (pri % 64)) == 0 {
                continue;
            }
            if let Some(i) = self.queues[pri].iter().position(&mut pred) {
                let t = self.queues[pri].remove(i);
                if self.queues[pri].is_empty() {
                    self.bitmap[pri / 64] &= !(1 << (pri % 64));
                }
                self.count -= 1;
                return t;
            }
        }
        None
    }

    /// Number of queued threads.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Is nothing runnable?
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

pub use crate::kern::waitq::Interruptible;

// The machine-facing half of the scheduler. The raw thread references of the per-CPU block
// and the switch itself are `arm64::thread_machine`'s.
#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::arm64::cpu;
    use crate::arm64::cpu_data::CpuTime;
    use crate::arm64::cpu_data::{CpuData, IDLE_PRI, all_cpus, current_cpu};
    use crate::arm64::thread_machine;
    use crate::kern::clock::{mach_absolute_time, nanoseconds_to_absolutetime};
    use crate::kern::locks::SpinLock;
    use crate::kern::sched::{SCHED_TICK_NS, SchedMode, USAGE_PER_QUANTUM, compute_sched_pri, decay_usage};
    use crate::kern::thread::{
        NO_TIMER, OFF_CPU, ON_CPU, SWITCHING_OUT, Thread, ThreadRef, ThreadState, WaitResult,
    };
    use crate::kern::timer_call::{TimerId, TimerQueue};
    use crate::kern::waitq::Wait;
    use alloc::sync::Arc;
    use core::sync::atomic::Ordering;

    /// A pending wait timeout: which thread, and which of its waits.
    struct WaitTimeout {
        thread: ThreadRef,
        seq: u64,
    }

    /// What every CPU shares (XNU's processor set): the run queue, the threads held off it
    /// by `thread_stop`, and each CPU's wait deadlines. One lock, the scheduler lock, covers it and
    /// every thread's scheduling state (`state`, `on_cpu`, the wait fields, `stop_count`).
    ///
    /// One run queue per processor set, not one per CPU, by choice: it is what XNU's clutch
    /// and edge schedulers keep for the CPUs of one cluster (a pset's run queue, with
    /// per-processor queues only for bound threads), and QEMU's `virt` CPUs are one cluster.
    /// Every CPU picks the best runnable thread system-wide, so priorities and the
    /// real-time and fixed bands mean the same on any number of CPUs, an idle CPU takes work
    /// the moment it looks, and there is nothing to balance; a wakeup picks the CPU to
    /// preempt (`preempt_check_locked`) and signals it. The price is one lock that every
    /// switch takes, which at a handful of CPUs costs less than stealing between queues would
    /// (the scaling table of `make bench` shows it); past that, per-CPU queues with stealing
    /// are the way on, and the choice of a CPU already goes through one function.
    struct Scheduler {
        runq: RunQueue<ThreadRef>,
        /// Runnable, but held by `thread_stop` until `thread_unstop`.
        stopped: Vec<ThreadRef>,
        /// Wait deadlines by CPU (XNU's per-processor timer call queues): a wait's deadline
        /// goes on the queue of the CPU the thread waits on, whose timer alone serves it, so a
        /// deadline wakes one CPU, not every CPU that happens to look at a shared queue.
        timers: [TimerQueue<WaitTimeout>; crate::arm64::cpu_data::MAX_CPUS],
        /// Counter ticks per quantum and per scheduler (decay) tick.
        quantum: u64,
        sched_tick: u64,
    }

    static SCHED: SpinLock<Option<Scheduler>> = SpinLock::new(&crate::kern::lock_order::SCHED, None);

    /// Where the scheduler asks for its next interrupt: the kernel's timer driver.
    pub trait ClockDevice: Sync {
        /// Interrupt this CPU at absolute time `deadline` (replacing any earlier request).
        fn set_deadline(&self, deadline: u64);
    }

    /// How the scheduler reaches another CPU: the kernel's interrupt controller.
    pub trait CpuSignal: Sync {
        /// Make CPU `cpu` take a reschedule interrupt (an SGI) soon.
        fn signal_reschedule(&self, cpu: u32);
    }

    static CLOCK: spin::Once<&'static dyn ClockDevice> = spin::Once::new();
    static SIGNAL: spin::Once<&'static dyn CpuSignal> = spin::Once::new();

    /// Register the interrupt controller's inter-processor signal, before secondary CPUs
    /// start (until then there is no other CPU to signal).
    pub fn sched_set_cpu_signal(signal: &'static dyn CpuSignal) {
        SIGNAL.call_once(|| signal);
    }

    /// Bring up the scheduler on the boot CPU. `boot` becomes the running thread (it adopts
    /// the boot stack) and `idle` runs whenever nothing else can. `clock` takes our deadlines.
    /// The boot CPU's block must already be attached (`cpu_data_attach`).
    pub fn sched_init(boot: ThreadRef, idle: ThreadRef, clock: &'static dyn ClockDevice) {
        CLOCK.call_once(|| clock);
        let quantum = nanoseconds_to_absolutetime(QUANTUM_NS);
        let now = mach_absolute_time();
        *SCHED.lock() = Some(Scheduler {
            runq: RunQueue::new(),
            stopped: Vec::new(),
            timers: core::array::from_fn(|_| TimerQueue::default()),
            quantum,
            sched_tick: nanoseconds_to_absolutetime(SCHED_TICK_NS),
        });
        processor_start(boot, idle, now + quantum);
        clock.set_deadline(now + quantum);
    }

    /// This CPU starts scheduling: `running` is the thread already on it, `idle` its idle
    /// thread.
    fn processor_start(running: ThreadRef, idle: ThreadRef, quantum_end: u64) {
        let cpu = current_cpu();
        running.set_state(ThreadState::Running);
        running.sched.on_cpu.store(ON_CPU, Ordering::Relaxed);
        running.sched.last_cpu.store(cpu.cpu_number(), Ordering::Relaxed);
        idle.sched.last_cpu.store(cpu.cpu_number(), Ordering::Relaxed);
        cpu.quantum_end.store(quantum_end, Ordering::Relaxed);
        cpu.current_pri.store(i16::from(running.sched_pri()), Ordering::Relaxed);
        thread_machine::install_threads(cpu, running, idle);
    }

    /// `quantum_end` of a CPU running its idle thread: no quantum to end.
    const NO_QUANTUM: u64 = u64::MAX;

    /// Bring up the scheduler on a secondary CPU, already running on `idle`'s stack (as the
    /// boot thread runs on the boot stack): `idle` becomes both its running and its idle
    /// thread, its clock gets its first deadline, and the CPU goes online — from then on
    /// wakeups may choose it.
    pub fn processor_start_secondary(idle: ThreadRef, clock: &'static dyn ClockDevice) {
        {
            // Under the scheduler lock: a CPU choosing whom to preempt sees the new one
            // whole (idle, at IDLE_PRI) or not at all. Idle, it needs no quantum tick.
            let _guard = SCHED.lock();
            processor_start(idle.clone(), idle, NO_QUANTUM);
            current_cpu().current_pri.store(IDLE_PRI, Ordering::Relaxed);
            crate::arm64::cpu_data::cpu_set_online(current_cpu());
        }
        clock.set_deadline(NO_QUANTUM);
    }

    /// The thread running on this CPU.
    pub fn current_thread() -> ThreadRef {
        thread_machine::current_thread_ref().expect("current_thread before sched_init")
    }

    /// Run `f` on the running thread without taking a reference (cheaper than
    /// [`current_thread`] on the trap paths).
    #[inline]
    fn with_current<R>(f: impl FnOnce(&Thread) -> R) -> R {
        thread_machine::with_current_thread(f).expect("current_thread before sched_init")
    }

    /// The running thread's address (0 before the scheduler starts): a cheap identity for
    /// lock owners, without taking a count.
    #[inline]
    pub fn current_thread_addr() -> usize {
        thread_machine::current_thread_addr()
    }

    /// `f` on the running thread, without taking a count (None before `sched_init`).
    #[cfg(feature = "lock-validator")]
    pub(crate) fn with_current_thread<R>(f: impl FnOnce(&Thread) -> R) -> Option<R> {
        thread_machine::with_current_thread(f)
    }

    /// Has the scheduler started on this CPU?
    pub fn sched_running() -> bool {
        !current_cpu().active_thread.load(Ordering::Acquire).is_null()
    }

    /// The scheduler tick number at `now` (decay happens per tick).
    fn tick_of(s: &Scheduler, now: u64) -> u64 {
        now / s.sched_tick.max(1)
    }

    /// Bring `t`'s usage decay up to date and recompute its scheduled priority (never below
    /// the floor a lock waiter lent it).
    fn update_priority(s: &Scheduler, t: &Thread, now: u64) -> u8 {
        let tick = tick_of(s, now);
        let last = t.sched.usage_stamp.swap(tick, Ordering::Relaxed);
        let elapsed = tick.saturating_sub(last).min(u32::MAX as u64) as u32;
        let usage = decay_usage(t.sched.cpu_usage.load(Ordering::Relaxed), elapsed);
        t.sched.cpu_usage.store(usage, Ordering::Relaxed);
        let pri = compute_sched_pri(t.sched.mode(), t.sched.base_pri(), usage).max(t.sched.promotion());
        t.sched.set_sched_pri(pri);
        pri
    }

    /// Put `t` (off every CPU, not waiting) where a CPU can pick it: the run queue at `pri`,
    /// or the held list while `thread_stop` holds it. Returns whether it went on the queue.
    fn setrun_locked(s: &mut Scheduler, t: ThreadRef, pri: u8) -> bool {
        t.set_state(ThreadState::Runnable);
        if t.sched.stop_count.load(Ordering::Relaxed) > 0 {
            s.stopped.push(t);
            false
        } else {
            s.runq.enqueue(t, pri);
            true
        }
    }

    /// Make `t` runnable (a new thread, or one that was never waiting).
    pub fn thread_setrun(t: ThreadRef) {
        debug_assert!(t.state() == ThreadState::Embryo, "thread_setrun of a thread that already runs");
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return };
        let pri = update_priority(s, &t, mach_absolute_time());
        if setrun_locked(s, t, pri) {
            preempt_check_locked(pri);
        }
    }

    /// A thread of priority `pri` became runnable (scheduler lock held): ask a CPU running
    /// something less important to reschedule — an idle CPU first, then the one running the
    /// lowest priority, this one on a tie — signalling it if it is not this CPU. The chosen
    /// CPU's `current_pri` is raised to `pri` at once, so that a second wakeup before it
    /// switches picks another CPU.
    fn preempt_check_locked(pri: u8) {
        let here = current_cpu();
        let pri = i16::from(pri);
        let mut victim: Option<(&CpuData, i16)> = None;
        for cpu in all_cpus().iter().filter(|c| c.is_online()) {
            let running = cpu.current_pri.load(Ordering::Relaxed);
            if running >= pri {
                continue;
            }
            let better = match victim {
                None => true,
                Some((_, best)) => running < best || (running == best && core::ptr::eq(cpu, here)),
            };
            if better {
                victim = Some((cpu, running));
            }
        }
        if let Some((cpu, _)) = victim {
            cpu.current_pri.store(pri, Ordering::Relaxed);
            cpu.set_need_resched();
            if !core::ptr::eq(cpu, here)
                && let Some(sig) = SIGNAL.get()
            {
                sig.signal_reschedule(cpu.cpu_number());
            }
        }
    }

    /// Tell the CPU running `t` (if one is) to look at its choice again: `t`'s priority
    /// changed.
    fn reconsider_running_locked(t: &Thread) {
        if t.state() != ThreadState::Running {
            return;
        }
        let Some(cpu) = all_cpus().get(t.sched.last_cpu.load(Ordering::Relaxed) as usize) else { return };
        cpu.current_pri.store(i16::from(t.sched_pri()), Ordering::Relaxed);
        cpu.set_need_resched();
        if !core::ptr::eq(cpu, current_cpu())
            && let Some(sig) = SIGNAL.get()
        {
            sig.signal_reschedule(cpu.cpu_number());
        }
    }

    /// Start a wait of `t` (the current thread; see `waitq::Wait::begin`). Returns the
    /// wait's number, or None if it failed at once because an abort is pending.
    pub(crate) fn wait_begin(
        t: &ThreadRef,
        interruptible: Interruptible,
        deadline: Option<u64>,
    ) -> Option<u64> {
        let mut guard = SCHED.lock();
        let s = guard.as_mut().expect("wait before sched_init");
        let seq = t.sched.wait_seq.fetch_add(1, Ordering::Relaxed) + 1;
        t.sched.interruptible.store(interruptible == Interruptible::Yes, Ordering::Relaxed);
        if interruptible == Interruptible::Yes && t.sched.abort_requested.load(Ordering::Relaxed) {
            t.sched.set_wait_result(WaitResult::Interrupted);
            return None;
        }
        t.sched.set_wait_result(WaitResult::Awakened);
        match deadline {
            Some(d) => {
                let cpu = current_cpu();
                let here = cpu.cpu_number();
                let id = s.timers[here as usize].enter(d, WaitTimeout { thread: t.clone(), seq });
                t.sched.wait_timer_deadline.store(id.0, Ordering::Relaxed);
                t.sched.wait_timer_seq.store(id.1, Ordering::Relaxed);
                t.sched.wait_timer_cpu.store(here, Ordering::Relaxed);
                program_clock(s, cpu);
            }
            None => t.sched.wait_timer_seq.store(NO_TIMER, Ordering::Relaxed),
        }
        t.set_state(ThreadState::Waiting);
        Some(seq)
    }

    /// The current thread gives up wait `seq` before blocking (its condition came true).
    pub(crate) fn wait_cancel(t: &ThreadRef, seq: u64) {
        let mut guard = SCHED.lock();
        if let Some(s) = guard.as_mut() {
            thread_go_locked(s, t, seq, WaitResult::Awakened);
        }
    }

    /// End `t`'s wait `seq` with `result`, if that wait is still open (XNU's `thread_go`).
    /// Returns whether it was. The thread goes back to its CPU's care if it is still on one
    /// (about to block, or switching away: `thread_dispatch` will queue it), else on the
    /// run queue.
    pub(crate) fn thread_go(t: &ThreadRef, seq: u64, result: WaitResult) -> bool {
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return false };
        thread_go_locked(s, t, seq, result)
    }

    fn thread_go_locked(s: &mut Scheduler, t: &ThreadRef, seq: u64, result: WaitResult) -> bool {
        if t.state() != ThreadState::Waiting || t.sched.wait_seq.load(Ordering::Relaxed) != seq {
            return false;
        }
        let timer_seq = t.sched.wait_timer_seq.swap(NO_TIMER, Ordering::Relaxed);
        if timer_seq != NO_TIMER
            && let Some(q) = s.timers.get_mut(t.sched.wait_timer_cpu.load(Ordering::Relaxed) as usize)
        {
            q.cancel(TimerId(t.sched.wait_timer_deadline.load(Ordering::Relaxed), timer_seq));
        }
        t.sched.set_wait_result(result);
        if t.sched.on_cpu.load(Ordering::Relaxed) == ON_CPU {
            // Not switched away yet (between `Wait::begin` and `block`): it just goes on.
            t.set_state(ThreadState::Running);
        } else {
            // Off its CPU, or being switched off one: whoever takes it from the run queue
            // waits for the switch to finish (see `thread_block_reason`).
            let pri = update_priority(s, t, mach_absolute_time());
            if setrun_locked(s, t.clone(), pri) {
                preempt_check_locked(pri);
            }
        }
        true
    }

    /// Abort `t`'s interruptible wait (and any it starts before it next returns to user
    /// mode): signals and termination (`thread_abort`).
    pub fn thread_abort(t: &ThreadRef) {
        thread_ast_post(t);
        let mut guard = SCHED.lock();
        t.sched.abort_requested.store(true, Ordering::Relaxed);
        let Some(s) = guard.as_mut() else { return };
        if t.sched.interruptible.load(Ordering::Relaxed) {
            let seq = t.sched.wait_seq.load(Ordering::Relaxed);
            thread_go_locked(s, t, seq, WaitResult::Interrupted);
        }
    }

    /// Charge the time since the last stamp to the thread's user or system time, and to this
    /// CPU's user, system or idle time (the thread runs here: every caller is `t` on its own
    /// CPU, with interrupts masked).
    fn account(t: &Thread, now: u64) {
        let since = now.saturating_sub(t.sched.stamp.swap(now, Ordering::Relaxed));
        let cpu = current_cpu();
        if t.sched.in_user.load(Ordering::Relaxed) {
            t.sched.user_ticks.fetch_add(since, Ordering::Relaxed);
            cpu.charge_time(CpuTime::User, since);
        } else {
            t.sched.system_ticks.fetch_add(since, Ordering::Relaxed);
            let kind = if thread_machine::is_idle_thread(cpu, t) { CpuTime::Idle } else { CpuTime::System };
            cpu.charge_time(kind, since);
        }
    }

    /// The running thread trapped in from user mode. Returns its AST generation, for the
    /// way back ([`ast_user_settled`]).
    pub fn thread_enter_kernel() -> u32 {
        with_current(|t| {
            account(t, mach_absolute_time());
            t.sched.in_user.store(false, Ordering::Relaxed);
            t.sched.ast_gen.load(Ordering::Acquire)
        })
    }

    /// The running thread is about to return to user mode.
    pub fn thread_exit_kernel() {
        with_current(|t| {
            account(t, mach_absolute_time());
            t.sched.in_user.store(true, Ordering::Relaxed);
            t.sched.abort_requested.store(false, Ordering::Relaxed);
        })
    }

    /// Give up the CPU: run the best runnable thread. If the current thread is still
    /// runnable it goes to the back of its priority's queue (once its registers are saved);
    /// if it is waiting or terminated it stays off the run queue until a wakeup (or forever).
    /// Returns how the current thread's last wait ended (`Awakened` when it was not waiting).
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn thread_block() -> WaitResult {
        thread_block_reason(None)
    }

    /// `thread_block`, yielding at `yield_pri` instead of the thread's own priority when it
    /// stays runnable (a priority depression for one decision: `thread_switch` DEPRESS).
    ///
    /// The switch protocol, which everything else leans on. A thread's `on_cpu` says where
    /// its registers are: `ON_CPU` while it runs, `SWITCHING_OUT` from the moment its CPU
    /// decides (under the scheduler lock) to switch it away until its registers are saved,
    /// then `OFF_CPU`. `SWITCHING_OUT` is a lock on the thread's saved context, held across
    /// the switch by the CPU switching it away (as xv6 holds the process lock across
    /// `swtch`): that CPU puts a still-runnable thread back on the run queue right away,
    /// under the same lock hold that picks the next thread, and a wakeup may queue a
    /// switching thread too — but a CPU that takes such a thread off the queue waits until
    /// `on_cpu` is `OFF_CPU` before loading its context. The release happens on the other
    /// side of the switch: the thread switched to runs `thread_dispatch` first thing, which
    /// stores `OFF_CPU` (release ordering, after the save) and drops the old thread's count.
    /// So a thread never runs on a second CPU before its context is saved, dispatch takes no
    /// lock, and the wait for a switch to finish is only ever the few instructions of a
    /// register save on another CPU. (XNU's alternative keeps the old thread off the queue
    /// until `thread_dispatch` queues it under the thread lock; it costs a second lock round
    /// on every switch.) A wakeup of a thread that is still `ON_CPU` — between
    /// `Wait::begin` and `block` — only marks it running; `thread_block` then returns at once.
    ///
    /// References: `active_thread` owns one count of the running thread. On a switch that
    /// count moves to `previous_thread` and is released by the thread that runs next —
    /// dropping it on the old thread's own stack could free that stack. The run queue holds
    /// counts of its own.
    #[cfg_attr(feature = "lock-validator", track_caller)]
    fn thread_block_reason(yield_pri: Option<u8>) -> WaitResult {
        // Blocking with a spin lock held would switch with it held (preemption is off by a
        // lock, or the wait is being set up, both legitimately: no preemption check here).
        #[cfg(feature = "lock-validator")]
        if !crate::kern::lock_order::check_block(core::panic::Location::caller(), false) {
            // A test provoked it on purpose: it has been reported; do not switch.
            return crate::kern::sched_prim::current_thread().sched.wait_result();
        }
        assert!(!crate::arm64::cpu_data::in_interrupt(), "thread_block in interrupt context");
        let daif = cpu::interrupts_disable();
        let result = with_current(|old| {
            let cpu = current_cpu();
            cpu.need_resched.store(false, Ordering::Relaxed);
            if let Some(next) = choose_next(cpu, old, yield_pri) {
                thread_machine::thread_switch(next);
                // Back on this thread, possibly much later and on another CPU, switched to
                // by someone else: finish that switch.
                thread_dispatch();
            }
            old.sched.wait_result()
        });
        cpu::interrupts_restore(daif);
        result
    }

    /// Under the scheduler lock, what `cpu` runs after `old` (the running thread): None to
    /// keep running it. The old thread is queued again if it stays runnable, and marked
    /// SWITCHING_OUT if it is to leave (see `thread_block_reason`).
    fn choose_next(cpu: &CpuData, old: &Thread, yield_pri: Option<u8>) -> Option<ThreadRef> {
        let now = mach_absolute_time();
        account(old, now);
        let mut guard = SCHED.lock();
        let s = guard.as_mut().expect("thread_block before sched_init");
        let is_idle = thread_machine::is_idle_thread(cpu, old);
        let old_runnable = old.state() == ThreadState::Running && !is_idle;
        let idle = || thread_machine::idle_thread_ref(cpu).expect("no idle thread");
        let next = if old_runnable {
            let old_pri = yield_pri.unwrap_or_else(|| update_priority(s, old, now));
            let must_leave = old.sched.stop_count.load(Ordering::Relaxed) > 0;
            // Round robin among equals: a runnable thread yields to one of its priority.
            if !must_leave && s.runq.highest().is_none_or(|best| best < old_pri) {
                None
            } else {
                // Behind its equals (or held, if stopped), then the best of the rest.
                let me = current_thread();
                if setrun_locked(s, me, old_pri) && yield_pri.is_none() {
                    preempt_check_locked(old_pri);
                }
                Some(s.runq.dequeue().unwrap_or_else(idle))
            }
        } else {
            match s.runq.dequeue() {
                Some(t) => Some(t),
                // Nothing to run: this CPU idles (unless it already is the idle thread).
                None if is_idle => None,
                None => Some(idle()),
            }
        };
        let Some(next) = next else {
            // Staying: drop any reservation a wakeup made for a thread another CPU took.
            let running = if is_idle { IDLE_PRI } else { i16::from(old.sched_pri()) };
            cpu.current_pri.store(running, Ordering::Relaxed);
            return None;
        };
        let next_is_idle = thread_machine::is_idle_thread(cpu, &next);
        cpu.current_pri
            .store(if next_is_idle { IDLE_PRI } else { i16::from(next.sched_pri()) }, Ordering::Relaxed);
        old.sched.on_cpu.store(SWITCHING_OUT, Ordering::Relaxed);
        next.set_state(ThreadState::Running);
        next.sched.last_cpu.store(cpu.cpu_number(), Ordering::Relaxed);
        next.sched.stamp.store(now, Ordering::Relaxed);
        // A new thread on the CPU gets a fresh quantum; an idle CPU needs no tick (a wakeup
        // that picks it signals it, and its own deadlines still program its timer).
        cpu.quantum_end.store(if next_is_idle { NO_QUANTUM } else { now + s.quantum }, Ordering::Relaxed);
        program_clock(s, cpu);
        Some(next)
    }

    /// The second half of a switch, run first by the thread switched to (XNU's
    /// `thread_dispatch`): the previous thread's registers are saved now, so it may run
    /// elsewhere; its count is released.
    fn thread_dispatch() {
        // Marks it OFF_CPU with release ordering: the register save happens before any CPU
        // that sees this loads them.
        let Some(prev) = thread_machine::thread_switch_finish() else { return };
        if prev.state() == ThreadState::Terminated {
            prev.task.thread_ended_off_cpu();
        }
        // Dropping may free the thread (a terminated one): we are on our own stack.
        drop(prev);
    }

    /// End the calling thread's life on the CPU (`thread_terminate_self`'s last step; it
    /// holds no reference of its own any more). Interrupts stay masked from marking it
    /// terminated to the switch: a preemption in between would switch it away unfinished,
    /// never to run again.
    pub fn thread_terminate_block() -> ! {
        cpu::interrupts_disable();
        with_current(|t| t.set_state(ThreadState::Terminated));
        thread_block();
        unreachable!("a terminated thread was scheduled again");
    }

    /// First Rust code of every new thread (IRQs still masked from the switch): finish the
    /// switch that brought us here, then take interrupts.
    pub fn thread_continue() {
        thread_dispatch();
        cpu::interrupts_enable();
    }

    /// Is anything waiting to run?
    fn runnable_others() -> bool {
        SCHED.lock().as_ref().is_some_and(|s| !s.runq.is_empty())
    }

    /// Yield the CPU to any thread of equal or higher priority (`swtch`, `thread_switch`
    /// without options). Returns whether another thread was runnable.
    pub fn thread_yield() -> bool {
        let others = runnable_others();
        thread_block();
        others
    }

    /// Yield below every other runnable thread once (`thread_switch` with DEPRESS, and
    /// `swtch_pri`).
    pub fn thread_yield_depressed() -> bool {
        let others = runnable_others();
        thread_block_reason(Some(crate::kern::sched::MINPRI + 1));
        others
    }

    /// Sleep until absolute time `deadline` (`mach_wait_until`). Returns `Interrupted`
    /// if aborted first.
    pub fn thread_sleep_until(deadline: u64) -> WaitResult {
        if deadline <= mach_absolute_time() {
            return WaitResult::TimedOut;
        }
        Wait::begin(Interruptible::Yes, Some(deadline)).block()
    }

    /// Program this CPU's timer for the earlier of its quantum's end (none while it idles)
    /// and its first wait deadline.
    fn program_clock(s: &Scheduler, cpu: &CpuData) {
        let quantum_end = cpu.quantum_end.load(Ordering::Relaxed);
        let own = s.timers.get(cpu.cpu_number() as usize).and_then(|q| q.next_deadline());
        let next = own.map_or(quantum_end, |d| d.min(quantum_end));
        if let Some(c) = CLOCK.get() {
            c.set_deadline(next);
        }
    }

    /// The clock interrupt: expire deadlines, and end the running thread's quantum when it
    /// is over (charging it CPU use, which lowers a time-sharing thread's priority).
    pub fn clock_interrupt() {
        let now = mach_absolute_time();
        let cpu = current_cpu();
        cpu.note_clock_interrupt();
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return };
        let here = cpu.cpu_number() as usize;
        while let Some(w) = s.timers.get_mut(here).and_then(|q| q.pop_expired(now)) {
            // The entry is gone from the queue: forget it before ending the wait.
            if w.thread.sched.wait_seq.load(Ordering::Relaxed) == w.seq {
                w.thread.sched.wait_timer_seq.store(NO_TIMER, Ordering::Relaxed);
            }
            thread_go_locked(s, &w.thread, w.seq, WaitResult::TimedOut);
        }
        if now >= cpu.quantum_end.load(Ordering::Relaxed) {
            // The interrupted thread used up its quantum.
            thread_machine::with_current_thread(|t| {
                if !thread_machine::is_idle_thread(cpu, t) && t.sched.mode() == SchedMode::Timeshare {
                    update_priority(s, t, now);
                    t.sched.cpu_usage.fetch_add(USAGE_PER_QUANTUM, Ordering::Relaxed);
                    update_priority(s, t, now);
                }
            });
            cpu.quantum_end.store(now + s.quantum, Ordering::Relaxed);
            cpu.set_need_resched();
        }
        program_clock(s, cpu);
    }

    /// On the way out of an exception, and when preemption is enabled again: switch if a
    /// reschedule was asked for (AST_PREEMPT) and this CPU may be preempted now.
    pub fn ast_check_preempt() {
        let cpu = current_cpu();
        if cpu.need_resched() && !cpu.preemption_disabled() && cpu.interrupt_level() == 0 {
            thread_block();
        }
    }

    /// The idle loop: wait for interrupts; the timer or a wakeup brings work.
    pub fn idle_thread_loop() -> ! {
        loop {
            // Look for work with interrupts masked, then wait: a wakeup that asks this CPU
            // after the look leaves an interrupt pending, which ends the `wfi` at once.
            cpu::interrupts_disable();
            if current_cpu().need_resched() {
                thread_block();
            } else {
                cpu::wait_for_interrupt();
            }
            cpu::interrupts_enable();
        }
    }

    /// Wait until `t` is off every CPU (XNU `thread_wait`): its registers are in its saved
    /// context and its user frame is not changing under us. `t` must not be the caller.
    pub fn thread_wait(t: &Thread) {
        // An idle thread holds no state anyone waits for, and it never leaves `Running`.
        if all_cpus().iter().any(|c| core::ptr::eq(c.idle_thread.load(Ordering::Relaxed), t)) {
            return;
        }
        loop {
            {
                let guard = SCHED.lock();
                // Running, about to run (taken off the queue), or still being switched away.
                let on_a_cpu =
                    t.state() == ThreadState::Running || t.sched.on_cpu.load(Ordering::Acquire) != OFF_CPU;
                if !on_a_cpu || guard.is_none() {
                    return;
                }
                // Make the CPU it runs on switch away soon.
                let cpu = t.sched.last_cpu.load(Ordering::Relaxed);
                if let Some(c) = all_cpus().get(cpu as usize) {
                    c.set_need_resched();
                    if !core::ptr::eq(c, current_cpu())
                        && let Some(sig) = SIGNAL.get()
                    {
                        sig.signal_reschedule(cpu);
                    }
                }
            }
            // Let others run meanwhile; with nobody else to run, doze rather than spin.
            if !thread_yield() {
                thread_sleep_until(deadline_after_ns(WAIT_OFF_CPU_POLL_NS));
            }
        }
    }

    /// How often `thread_wait` looks again while its thread is on another CPU.
    const WAIT_OFF_CPU_POLL_NS: u64 = 100_000;

    /// Hold `t` off every CPU and wait until it is off (XNU `thread_stop`), so that its
    /// saved user state can be read or changed. Undo with [`thread_unstop`]. Stops nest.
    pub fn thread_stop(t: &ThreadRef) {
        {
            let mut guard = SCHED.lock();
            t.sched.stop_count.fetch_add(1, Ordering::Relaxed);
            // Already queued: hold it off the queue too.
            if let Some(s) = guard.as_mut()
                && let Some(q) = s.runq.remove_first(|q| Arc::ptr_eq(q, t))
            {
                s.stopped.push(q);
            }
        }
        thread_wait(t);
    }

    /// Undo one [`thread_stop`]: when the last goes, a thread that became runnable while
    /// held goes on the run queue.
    pub fn thread_unstop(t: &ThreadRef) {
        let mut guard = SCHED.lock();
        let before = t.sched.stop_count.fetch_sub(1, Ordering::Relaxed);
        assert!(before != 0, "thread_unstop without thread_stop");
        if before != 1 {
            return;
        }
        let Some(s) = guard.as_mut() else { return };
        if let Some(i) = s.stopped.iter().position(|q| Arc::ptr_eq(q, t)) {
            let q = s.stopped.swap_remove(i);
            let pri = update_priority(s, &q, mach_absolute_time());
            if setrun_locked(s, q, pri) {
                preempt_check_locked(pri);
            }
        }
    }

    /// Suspend `t` once more (`thread_suspend`): it stops before it next runs user code.
    /// When `t` is not the caller, this returns only once `t` is off its CPU.
    pub fn thread_suspend(t: &ThreadRef) {
        t.sched.suspend_count.fetch_add(1, Ordering::AcqRel);
        thread_ast_post(t);
        if !Arc::ptr_eq(t, &current_thread()) && t.state() == ThreadState::Running {
            thread_wait(t);
        }
    }

    /// Undo one `thread_suspend`. Errors if the thread was not suspended.
    pub fn thread_resume(t: &Thread) -> Result<(), mach::KernReturn> {
        let prev = t
            .sched
            .suspend_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1))
            .map_err(|_| mach::KernReturn::KERN_FAILURE)?;
        if prev == 1 {
            t.suspend_waitq.wakeup_all();
        }
        Ok(())
    }

    /// Wake `t` if it waits for its suspension (or its task's) to end: the count changed,
    /// or the task is being killed.
    pub fn thread_wakeup_suspended(t: &Thread) {
        t.suspend_waitq.wakeup_all();
    }

    /// Ask `t` to terminate: it ends itself before it next runs user code; an interruptible
    /// wait it is in is aborted.
    pub fn thread_terminate(t: &ThreadRef) {
        t.sched.terminate_requested.store(true, Ordering::Release);
        thread_ast_post(t);
        thread_abort(t);
        // A suspended thread must run to notice; so must one waiting for its task's other
        // threads to end (`thread_terminate_others`), which may be waiting for us.
        t.suspend_waitq.wakeup_all();
        t.task.thread_gone.wakeup_all();
    }

    /// Is the current thread asked to terminate?
    pub fn terminate_requested(t: &Thread) -> bool {
        t.sched.terminate_requested.load(Ordering::Acquire)
    }

    /// Is `t` held by a suspension? Not once its task is being killed: nothing may keep a
    /// killed thread from reaching the AST that ends it ([`Task::mark_killed`]).
    ///
    /// [`Task::mark_killed`]: crate::kern::task::Task::mark_killed
    fn suspension_holds(t: &Thread) -> bool {
        (t.sched.suspend_count() > 0 || t.task.suspend_count() > 0) && !t.task.is_killed()
    }

    /// The per-thread AST on the way back to user mode (XNU's `thread_apc_ast`): terminate
    /// if asked, and wait while the thread or its task is suspended. Returns whether it
    /// waited: signals may have arrived meanwhile, so the caller looks at them again
    /// before user mode (`ast_taken_user`).
    pub fn thread_ast_user() -> bool {
        if with_current(|t| !terminate_requested(t) && !suspension_holds(t)) {
            return false;
        }
        let t = current_thread();
        let mut waited = false;
        loop {
            if terminate_requested(&t) {
                drop(t);
                crate::kern::thread_act::thread_terminate_self();
            }
            if !suspension_holds(&t) {
                return waited;
            }
            waited = true;
            // Resume (and a kill) change what we test before they wake the queue, and we
            // are on the queue before we test again: no wakeup is lost.
            let mut wait = Wait::begin(Interruptible::No, None);
            wait.on(&t.suspend_waitq);
            if suspension_holds(&t) && !terminate_requested(&t) {
                wait.block();
            }
        }
    }

    /// The last look on the way to user mode, with interrupts masked (they stay masked to
    /// the `eret`, so nothing can slip in after it; a poster on another CPU signals this one,
    /// whose interrupt is then taken in user mode). True if nothing is left to do: no
    /// reschedule asked for, and nothing posted to the thread (a signal's abort, a
    /// termination, a suspension) since generation `seen`, which `ast_taken_user` has acted
    /// on. Otherwise `seen` moves on and the caller runs the ASTs again.
    pub fn ast_user_settled(seen: &mut u32) -> bool {
        debug_assert!(cpu::interrupts_masked());
        let now = with_current(|t| t.sched.ast_gen.load(Ordering::Acquire));
        if now == *seen && !current_cpu().need_resched() {
            return true;
        }
        *seen = now;
        false
    }

    /// Note that something was posted to `t` for its way back to user mode, and if `t` runs
    /// on another CPU, make that CPU look (it may be in user mode, where nothing else would
    /// bring it back soon). The look under the scheduler lock pairs with the switch: either
    /// we see `t` running where it runs, or its switch comes after our post and its last
    /// look before user mode (`ast_user_settled`) sees the new generation.
    pub fn thread_ast_post(t: &Thread) {
        t.sched.ast_gen.fetch_add(1, Ordering::AcqRel);
        let Some(sig) = SIGNAL.get() else { return };
        let target = {
            let _guard = SCHED.lock();
            (t.state() == ThreadState::Running).then(|| t.sched.last_cpu.load(Ordering::Relaxed))
        };
        if let Some(cpu) = target
            && cpu != current_cpu().cpu_number()
        {
            sig.signal_reschedule(cpu);
        }
    }

    /// Change a thread's scheduling mode and base priority.
    pub fn thread_set_base_priority(t: &ThreadRef, mode: SchedMode, base: u8) {
        let mut guard = SCHED.lock();
        t.sched.set_base(mode, base.min(crate::kern::sched::MAXPRI));
        if let Some(s) = guard.as_mut() {
            requeue_locked(s, t);
        }
        reconsider_running_locked(t);
    }

    /// Recompute `t`'s priority and re-sort it if it is on the run queue.
    fn requeue_locked(s: &mut Scheduler, t: &ThreadRef) {
        let pri = update_priority(s, t, mach_absolute_time());
        if let Some(q) = s.runq.remove_first(|q| Arc::ptr_eq(q, t)) {
            s.runq.enqueue(q, pri);
            preempt_check_locked(pri);
        }
    }

    /// Lend `t` a priority floor of `pri` (0: take it back) — a lock's owner, while a
    /// thread of priority `pri` waits for the lock (priority inheritance).
    pub fn thread_set_promotion(t: &ThreadRef, pri: u8) {
        let mut guard = SCHED.lock();
        if t.sched.promotion.swap(pri, Ordering::Relaxed) == pri {
            return;
        }
        if let Some(s) = guard.as_mut() {
            requeue_locked(s, t);
        }
        // Giving the floor back may leave a better thread waiting.
        reconsider_running_locked(t);
    }

    /// Counter ticks per quantum.
    pub fn quantum_ticks() -> u64 {
        SCHED.lock().as_ref().map_or(0, |s| s.quantum)
    }

    /// Never-negative difference helper for callers computing deadlines.
    pub fn deadline_after_ns(ns: u64) -> u64 {
        mach_absolute_time().saturating_add(nanoseconds_to_absolutetime(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_priority_fifo() {
        let mut rq = RunQueue::new();
        rq.enqueue("low", 10);
        rq.enqueue("high-a", 90);
        rq.enqueue("high-b", 90);
        rq.enqueue("top", 127);
        assert_eq!(rq.highest(), Some(127));
        assert_eq!(rq.dequeue(), Some("top"));
        assert_eq!(rq.dequeue(), Some("high-a"));
        assert_eq!(rq.dequeue(), Some("high-b"));
        assert_eq!(rq.dequeue(), Some("low"));
        assert_eq!(rq.dequeue(), None);
        assert!(rq.is_empty());
    }

    #[test]
    fn remove_first_takes_one_and_keeps_order() {
        let mut rq = RunQueue::new();
        rq.enqueue(1, 5);
        rq.enqueue(2, 70);
        rq.enqueue(3, 70);
        rq.enqueue(2, 5);
        assert_eq!(rq.remove_first(|&t| t == 2), Some(2));
        assert_eq!(rq.len(), 3);
        assert_eq!(rq.dequeue(), Some(3));
        assert_eq!(rq.remove_first(|&t| t == 9), None);
        assert_eq!(rq.dequeue(), Some(1));
        assert_eq!(rq.dequeue(), Some(2));
        assert_eq!(rq.highest(), None);
    }

    #[test]
    fn remove_first_keeps_bitmap_exact() {
        let mut rq = RunQueue::new();
        rq.enqueue(1, 5);
        rq.enqueue(2, 70);
        rq.remove_first(|&t| t == 2);
        assert_eq!(rq.highest(), Some(5));
        assert_eq!(rq.len(), 1);
    }
}
