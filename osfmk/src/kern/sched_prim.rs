//! The scheduler: run queues with a priority bitmap, `thread_block`, waits and wakeups, and
//! the timer-driven quantum.
//!
//! Mach priorities run 0–127 (reference §12.1); the run queue keeps one FIFO per priority and
//! a 128-bit bitmap of non-empty queues, so picking the next thread is a count-leading-zeros.
//! A thread that blocks says why with `assert_wait(event)`; `thread_wakeup(event)` makes every
//! thread waiting on it runnable again. This milestone keeps one CPU; all state sits behind
//! IRQ-masking locks so that more CPUs are bring-up work (see `locks`).

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

    /// Remove every entry matching `pred` (a thread terminated while runnable).
    pub fn remove_if(&mut self, mut pred: impl FnMut(&T) -> bool) {
        for pri in 0..NRQS {
            let before = self.queues[pri].len();
            self.queues[pri].retain(|t| !pred(t));
            self.count -= before - self.queues[pri].len();
            if self.queues[pri].is_empty() {
                self.bitmap[pri / 64] &= !(1 << (pri % 64));
            }
        }
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

/// What a wait is for: an address-like token, as in XNU's `event_t`.
pub type Event = usize;

/// Threads waiting on events. A list is enough for one CPU and a handful of waiters; the
/// per-event hashed wait queues of M1.3 replace it behind the same functions.
pub struct WaitTable<T> {
    waiters: Vec<(Event, T)>,
}

impl<T> Default for WaitTable<T> {
    fn default() -> Self {
        WaitTable { waiters: Vec::new() }
    }
}

impl<T: Clone> WaitTable<T> {
    /// Record that `t` waits on `event`.
    pub fn add(&mut self, event: Event, t: T) {
        self.waiters.push((event, t));
    }

    /// Remove and return every waiter on `event`, in the order they began waiting.
    pub fn take(&mut self, event: Event) -> Vec<T> {
        let mut woken = Vec::new();
        self.waiters.retain(|(e, t)| {
            if *e == event {
                woken.push(t.clone());
                false
            } else {
                true
            }
        });
        woken
    }

    /// Forget every waiter matching `pred` (its wait was cancelled).
    pub fn remove_if(&mut self, mut pred: impl FnMut(&T) -> bool) {
        self.waiters.retain(|(_, w)| !pred(w));
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

// The machine-facing half of the scheduler: the per-CPU block behind TPIDR_EL1 and the
// hand-over of thread references across a context switch need raw pointers.
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod imp {
    use super::*;
    use crate::arm64::cpu;
    use crate::arm64::cswitch::machine_switch_context;
    use crate::kern::clock::{mach_absolute_time, nanoseconds_to_absolutetime};
    use crate::kern::locks::SpinLock;
    use crate::kern::sched::{SCHED_TICK_NS, SchedMode, USAGE_PER_QUANTUM, compute_sched_pri, decay_usage};
    use crate::kern::thread::{Thread, ThreadRef, ThreadState, WaitResult};
    use crate::kern::timer_call::{TimerId, TimerQueue};
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

    /// A pending wait timeout: which thread, and which of its waits.
    struct WaitTimeout {
        thread: ThreadRef,
        seq: u64,
    }

    struct Scheduler {
        runq: RunQueue<ThreadRef>,
        /// Waiting threads by event, with the deadline (if any) that ends their wait.
        waits: WaitTable<(ThreadRef, Option<TimerId>)>,
        timers: TimerQueue<WaitTimeout>,
        /// Absolute time the running thread's quantum ends.
        quantum_end: u64,
        /// Counter ticks per quantum and per scheduler (decay) tick.
        quantum: u64,
        sched_tick: u64,
    }

    static SCHED: SpinLock<Option<Scheduler>> = SpinLock::new(None);

    /// Where the scheduler asks for its next interrupt: the kernel's timer driver.
    pub trait ClockDevice: Sync {
        /// Interrupt at absolute time `deadline` (replacing any earlier request).
        fn set_deadline(&self, deadline: u64);
    }

    static CLOCK: spin::Once<&'static dyn ClockDevice> = spin::Once::new();

    /// The per-CPU block (TPIDR_EL1 points here): the running thread and the idle thread.
    pub struct ProcessorData {
        current: AtomicPtr<Thread>,
        idle: AtomicPtr<Thread>,
        /// AST_PREEMPT: switch at the next opportunity (quantum over, or a wakeup).
        pub need_resched: AtomicBool,
    }

    static CPU0: ProcessorData = ProcessorData {
        current: AtomicPtr::new(core::ptr::null_mut()),
        idle: AtomicPtr::new(core::ptr::null_mut()),
        need_resched: AtomicBool::new(false),
    };

    fn cpu_data() -> &'static ProcessorData {
        let p: u64;
        // SAFETY: TPIDR_EL1 holds the address of this CPU's `ProcessorData` (set in
        // `sched_init` before any thread runs) and is only read here.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el1", out(reg) p, options(nomem, nostack, preserves_flags))
        };
        if p == 0 {
            return &CPU0;
        }
        // SAFETY: see above; the block is static.
        unsafe { &*(p as *const ProcessorData) }
    }

    /// Bring up the scheduler on the boot CPU. `boot` becomes the running thread (it adopts
    /// the boot stack) and `idle` runs whenever nothing else can. `clock` takes our deadlines.
    pub fn sched_init(boot: ThreadRef, idle: ThreadRef, clock: &'static dyn ClockDevice) {
        // SAFETY: publishes the static per-CPU block's address in this CPU's TPIDR_EL1.
        unsafe {
            core::arch::asm!("msr tpidr_el1, {}", in(reg) &CPU0 as *const _ as u64, options(nostack, preserves_flags))
        };
        CLOCK.call_once(|| clock);
        let quantum = nanoseconds_to_absolutetime(QUANTUM_NS);
        let now = mach_absolute_time();
        *SCHED.lock() = Some(Scheduler {
            runq: RunQueue::new(),
            waits: WaitTable::default(),
            timers: TimerQueue::default(),
            quantum_end: now + quantum,
            quantum,
            sched_tick: nanoseconds_to_absolutetime(SCHED_TICK_NS),
        });
        boot.set_state(ThreadState::Running);
        CPU0.current.store(Arc::into_raw(boot) as *mut Thread, Ordering::Release);
        CPU0.idle.store(Arc::into_raw(idle) as *mut Thread, Ordering::Release);
        clock.set_deadline(now + quantum);
    }

    /// The running thread.
    pub fn current_thread() -> ThreadRef {
        let p = cpu_data().current.load(Ordering::Acquire);
        assert!(!p.is_null(), "current_thread before sched_init");
        // SAFETY: `current` always holds one strong count of a live thread (from
        // `Arc::into_raw`); we take a new one without releasing that count.
        unsafe { clone_raw(p) }
    }

    /// Has the scheduler started?
    pub fn sched_running() -> bool {
        !cpu_data().current.load(Ordering::Acquire).is_null()
    }

    /// The scheduler tick number at `now` (decay happens per tick).
    fn tick_of(s: &Scheduler, now: u64) -> u64 {
        now / s.sched_tick.max(1)
    }

    /// Bring `t`'s usage decay up to date and recompute its scheduled priority.
    fn update_priority(s: &Scheduler, t: &Thread, now: u64) -> u8 {
        let tick = tick_of(s, now);
        let last = t.sched.usage_stamp.swap(tick, Ordering::Relaxed);
        let elapsed = tick.saturating_sub(last).min(u32::MAX as u64) as u32;
        let usage = decay_usage(t.sched.cpu_usage.load(Ordering::Relaxed), elapsed);
        t.sched.cpu_usage.store(usage, Ordering::Relaxed);
        let pri = compute_sched_pri(t.sched.mode(), t.sched.base_pri(), usage);
        t.sched.set_sched_pri(pri);
        pri
    }

    fn enqueue(s: &mut Scheduler, t: ThreadRef) {
        let pri = update_priority(s, &t, mach_absolute_time());
        t.set_state(ThreadState::Runnable);
        s.runq.enqueue(t, pri);
    }

    /// Make `t` runnable (a new thread, or one that was never waiting).
    pub fn thread_setrun(t: ThreadRef) {
        let pri;
        {
            let mut guard = SCHED.lock();
            let Some(s) = guard.as_mut() else { return };
            enqueue(s, t.clone());
            pri = t.sched_pri();
        }
        preempt_if_higher(pri);
    }

    /// A thread of priority `pri` became runnable: ask for a switch if it beats ours.
    fn preempt_if_higher(pri: u8) {
        let cur = cpu_data().current.load(Ordering::Acquire);
        if cur.is_null() || core::ptr::eq(cur, cpu_data().idle.load(Ordering::Acquire)) {
            cpu_data().need_resched.store(true, Ordering::Relaxed);
            return;
        }
        // SAFETY: `current` holds a count of the running thread, which is not null here.
        let running = unsafe { &*cur };
        if pri > running.sched_pri() {
            cpu_data().need_resched.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a wait can be broken by `thread_abort` (signals, termination).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Interruptible {
        /// Only the event (or the deadline) ends the wait (`THREAD_UNINT`).
        No,
        /// An abort ends it with `WaitResult::Interrupted` (`THREAD_ABORTSAFE`).
        Yes,
    }

    /// Declare that the current thread is about to wait on `event`; call `thread_block`
    /// next. A wakeup that arrives in between is not lost (the thread is just runnable), and
    /// being preempted in between is the same as blocking early.
    ///
    /// The rule that makes this safe (XNU's): test the condition and call `assert_wait`
    /// under the lock that the waker takes to change the condition. Otherwise the condition
    /// can come true between the test and the wait, and nobody wakes the thread.
    pub fn assert_wait(event: Event) {
        assert_wait_deadline(event, Interruptible::No, None);
    }

    /// `assert_wait` that may also end at absolute time `deadline`, or by an abort.
    pub fn assert_wait_deadline(event: Event, interruptible: Interruptible, deadline: Option<u64>) {
        let t = current_thread();
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return };
        let seq = t.sched.wait_seq.fetch_add(1, Ordering::Relaxed) + 1;
        t.sched.interruptible.store(interruptible == Interruptible::Yes, Ordering::Relaxed);
        if interruptible == Interruptible::Yes && t.sched.abort_requested.load(Ordering::Relaxed) {
            // An abort is pending: the wait fails at once (the thread stays running).
            t.sched.set_wait_result(WaitResult::Interrupted);
            return;
        }
        t.sched.set_wait_result(WaitResult::Awakened);
        let timer = deadline.map(|d| s.timers.enter(d, WaitTimeout { thread: t.clone(), seq }));
        // State and wait-table entry change together, with IRQs masked: a preemption
        // never sees a waiting thread that no wakeup could find.
        t.set_state(ThreadState::Waiting);
        s.waits.add(event, (t, timer));
        if let Some(d) = deadline {
            program_clock(s, d);
        }
    }

    /// End `t`'s wait with `result` if it is still waiting (lock held).
    fn clear_wait_locked(s: &mut Scheduler, t: &ThreadRef, result: WaitResult) -> bool {
        if t.state() != ThreadState::Waiting {
            return false;
        }
        let mut timer = None;
        s.waits.remove_if(|(w, tm)| {
            let hit = Arc::ptr_eq(w, t);
            if hit {
                timer = *tm;
            }
            hit
        });
        if let Some(id) = timer {
            s.timers.cancel(id);
        }
        t.sched.set_wait_result(result);
        enqueue(s, t.clone());
        true
    }

    fn wakeup(event: Event, one: bool) -> usize {
        let mut best = 0;
        let n = {
            let mut guard = SCHED.lock();
            let Some(s) = guard.as_mut() else { return 0 };
            let mut woken = s.waits.take(event);
            if one && woken.len() > 1 {
                // Put back all but the first waiter.
                for w in woken.drain(1..) {
                    s.waits.add(event, w);
                }
            }
            let n = woken.len();
            for (t, timer) in woken {
                if let Some(id) = timer {
                    s.timers.cancel(id);
                }
                if t.state() == ThreadState::Waiting {
                    t.sched.set_wait_result(WaitResult::Awakened);
                    enqueue(s, t.clone());
                    best = best.max(t.sched_pri());
                }
            }
            n
        };
        if n > 0 {
            preempt_if_higher(best);
        }
        n
    }

    /// Wake `t` if it is waiting on `event` (XNU `thread_wakeup_thread`); false if it is not.
    pub fn thread_wakeup_thread(event: Event, t: &ThreadRef) -> bool {
        let woke = {
            let mut guard = SCHED.lock();
            let Some(s) = guard.as_mut() else { return false };
            let waiting_here = s.waits.waiters.iter().any(|(e, (w, _))| *e == event && Arc::ptr_eq(w, t));
            waiting_here && clear_wait_locked(s, t, WaitResult::Awakened)
        };
        if woke {
            preempt_if_higher(t.sched_pri());
        }
        woke
    }

    /// Wake every thread waiting on `event`. Returns how many were woken.
    pub fn thread_wakeup(event: Event) -> usize {
        wakeup(event, false)
    }

    /// Wake the longest-waiting thread on `event`.
    pub fn thread_wakeup_one(event: Event) -> usize {
        wakeup(event, true)
    }

    /// Abort `t`: an interruptible wait it is in (or next enters, until it returns to user
    /// mode) ends with `WaitResult::Interrupted` (XNU's `thread_abort`).
    pub fn thread_abort(t: &ThreadRef) {
        t.sched.abort_requested.store(true, Ordering::Relaxed);
        let woke = {
            let mut guard = SCHED.lock();
            let Some(s) = guard.as_mut() else { return };
            t.sched.interruptible.load(Ordering::Relaxed) && clear_wait_locked(s, t, WaitResult::Interrupted)
        };
        if woke {
            preempt_if_higher(t.sched_pri());
        }
    }

    /// Charge the time since the last stamp to user or system time.
    fn account(t: &Thread, now: u64) {
        let since = now.saturating_sub(t.sched.stamp.swap(now, Ordering::Relaxed));
        if t.sched.in_user.load(Ordering::Relaxed) {
            t.sched.user_ticks.fetch_add(since, Ordering::Relaxed);
        } else {
            t.sched.system_ticks.fetch_add(since, Ordering::Relaxed);
        }
    }

    /// The running thread trapped in from user mode.
    pub fn thread_enter_kernel() {
        let t = current_thread();
        account(&t, mach_absolute_time());
        t.sched.in_user.store(false, Ordering::Relaxed);
    }

    /// The running thread is about to return to user mode.
    pub fn thread_exit_kernel() {
        let t = current_thread();
        account(&t, mach_absolute_time());
        t.sched.in_user.store(true, Ordering::Relaxed);
        t.sched.abort_requested.store(false, Ordering::Relaxed);
    }

    /// A new strong reference from a pointer that already holds one.
    ///
    /// # Safety
    /// `p` must come from `Arc::into_raw` and its count must still be held by someone.
    unsafe fn clone_raw(p: *const Thread) -> ThreadRef {
        // SAFETY: per the contract, the count we add keeps `p` alive.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }

    /// Give up the CPU: run the best runnable thread. If the current thread is still
    /// runnable it goes to the back of its priority's queue; if it is waiting or terminated
    /// it stays off the run queue until a wakeup (or forever). Returns how the current
    /// thread's wait ended (`Awakened` when it was not waiting).
    ///
    /// Reference counting: `current` owns one count of the running thread. On a switch that
    /// count cannot be dropped on the old thread's own stack (dropping the last count frees
    /// the stack), so it is parked in `PREVIOUS` and released by the thread that runs next.
    pub fn thread_block() -> WaitResult {
        thread_block_reason(None)
    }

    /// `thread_block`, yielding at `yield_pri` instead of the thread's own priority when it
    /// stays runnable (a priority depression for one decision: `thread_switch` DEPRESS).
    fn thread_block_reason(yield_pri: Option<u8>) -> WaitResult {
        let daif = cpu::interrupts_disable();
        let cpu = cpu_data();
        cpu.need_resched.store(false, Ordering::Relaxed);
        let old_ptr = cpu.current.load(Ordering::Acquire) as *const Thread;
        let idle_ptr = cpu.idle.load(Ordering::Acquire) as *const Thread;
        // SAFETY: `current` holds a count of the running thread for as long as it runs.
        let old = unsafe { &*old_ptr };
        let now = mach_absolute_time();
        account(old, now);
        let next: ThreadRef = {
            let mut guard = SCHED.lock();
            let s = guard.as_mut().expect("thread_block before sched_init");
            if old.state() == ThreadState::Running && !core::ptr::eq(old_ptr, idle_ptr) {
                // SAFETY: `current`'s count keeps `old` alive.
                let me = unsafe { clone_raw(old_ptr) };
                let pri = yield_pri.unwrap_or_else(|| update_priority(s, &me, now));
                me.set_state(ThreadState::Runnable);
                s.runq.enqueue(me, pri);
            }
            let next = match s.runq.dequeue() {
                Some(t) => t,
                // SAFETY: `cpu.idle` holds a permanent count of the idle thread.
                None => unsafe { clone_raw(idle_ptr) },
            };
            // A new thread on the CPU gets a fresh quantum.
            if !core::ptr::eq(Arc::as_ptr(&next), old_ptr) {
                s.quantum_end = now + s.quantum;
                program_clock(s, s.quantum_end);
            }
            next
        };
        if core::ptr::eq(Arc::as_ptr(&next), old_ptr) {
            old.set_state(ThreadState::Running);
            drop(next);
            cpu::interrupts_restore(daif);
            return old.sched.wait_result();
        }
        next.set_state(ThreadState::Running);
        next.sched.stamp.store(now, Ordering::Relaxed);
        next.activate_address_space();
        let new_ctx = next.machine_context();
        cpu.current.store(Arc::into_raw(next) as *mut Thread, Ordering::Release);
        PREVIOUS.store(old_ptr as *mut Thread, Ordering::Release);
        // SAFETY: both contexts belong to live threads (old via PREVIOUS, new via current),
        // and IRQs are masked across the switch.
        unsafe { machine_switch_context(old.machine_context(), new_ctx) };
        // Back on this thread, possibly much later, switched to by someone else.
        release_previous();
        let me = cpu_data().current.load(Ordering::Acquire);
        // SAFETY: we are the running thread; `current` holds our count.
        let result = unsafe { &*me }.sched.wait_result();
        cpu::interrupts_restore(daif);
        result
    }

    static PREVIOUS: AtomicPtr<Thread> = AtomicPtr::new(core::ptr::null_mut());

    fn release_previous() {
        let p = PREVIOUS.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: `p` is the count `current` held on the thread that switched to us.
            unsafe { drop(Arc::from_raw(p)) };
        }
    }

    /// First Rust code of every new thread (IRQs still masked from the switch): finish the
    /// switch that brought us here, then take interrupts.
    pub fn thread_continue() {
        release_previous();
        cpu::interrupts_enable();
    }

    /// Yield the CPU to any thread of equal or higher priority (`swtch`, `thread_switch`
    /// without options). Returns whether another thread was runnable.
    pub fn thread_yield() -> bool {
        let others = SCHED.lock().as_ref().is_some_and(|s| !s.runq.is_empty());
        thread_block();
        others
    }

    /// Yield below every other runnable thread once (`thread_switch` with DEPRESS, and
    /// `swtch_pri`).
    pub fn thread_yield_depressed() -> bool {
        let others = SCHED.lock().as_ref().is_some_and(|s| !s.runq.is_empty());
        thread_block_reason(Some(crate::kern::sched::MINPRI + 1));
        others
    }

    /// Sleep until absolute time `deadline` (`mach_wait_until`). Returns `Interrupted`
    /// if aborted first.
    pub fn thread_sleep_until(deadline: u64) -> WaitResult {
        if deadline <= mach_absolute_time() {
            return WaitResult::TimedOut;
        }
        let t = current_thread();
        let event = Arc::as_ptr(&t) as usize;
        drop(t);
        assert_wait_deadline(event, Interruptible::Yes, Some(deadline));
        thread_block()
    }

    fn program_clock(s: &Scheduler, wanted: u64) {
        let next = s.timers.next_deadline().map_or(s.quantum_end, |d| d.min(s.quantum_end)).min(wanted);
        if let Some(c) = CLOCK.get() {
            c.set_deadline(next);
        }
    }

    /// The clock interrupt: expire deadlines, and end the running thread's quantum when it
    /// is over (charging it CPU use, which lowers a time-sharing thread's priority).
    pub fn clock_interrupt() {
        let now = mach_absolute_time();
        let mut resched = false;
        let mut best = 0;
        {
            let mut guard = SCHED.lock();
            let Some(s) = guard.as_mut() else { return };
            while let Some(w) = s.timers.pop_expired(now) {
                if w.thread.sched.wait_seq.load(Ordering::Relaxed) == w.seq
                    && clear_wait_locked(s, &w.thread, WaitResult::TimedOut)
                {
                    best = best.max(w.thread.sched_pri());
                }
            }
            if now >= s.quantum_end {
                let cur = cpu_data().current.load(Ordering::Acquire);
                if !cur.is_null() && !core::ptr::eq(cur, cpu_data().idle.load(Ordering::Acquire)) {
                    // SAFETY: `current` holds a count of the running thread.
                    let t = unsafe { &*cur };
                    if t.sched.mode() == SchedMode::Timeshare {
                        update_priority(s, t, now);
                        t.sched.cpu_usage.fetch_add(USAGE_PER_QUANTUM, Ordering::Relaxed);
                        update_priority(s, t, now);
                    }
                }
                s.quantum_end = now + s.quantum;
                resched = true;
            }
            program_clock(s, s.quantum_end);
        }
        if resched {
            cpu_data().need_resched.store(true, Ordering::Relaxed);
        } else if best > 0 {
            preempt_if_higher(best);
        }
    }

    /// On the way out of an exception: switch if a reschedule was asked for (AST_PREEMPT).
    pub fn ast_check_preempt() {
        if cpu_data().need_resched.load(Ordering::Relaxed) {
            thread_block();
        }
    }

    /// The idle loop: wait for interrupts; the timer or a wakeup brings work.
    pub fn idle_thread_loop() -> ! {
        loop {
            cpu::interrupts_enable();
            cpu::wait_for_interrupt();
            if cpu_data().need_resched.load(Ordering::Relaxed) {
                thread_block();
            }
        }
    }

    /// Suspend `t` once more (`thread_suspend`): it stops before it next runs user code.
    pub fn thread_suspend(t: &Thread) {
        t.sched.suspend_count.fetch_add(1, Ordering::AcqRel);
    }

    /// Undo one `thread_suspend`. Errors if the thread was not suspended.
    pub fn thread_resume(t: &Thread) -> Result<(), mach::KernReturn> {
        let prev = t
            .sched
            .suspend_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1))
            .map_err(|_| mach::KernReturn::KERN_FAILURE)?;
        if prev == 1 {
            thread_wakeup(suspend_event(t));
        }
        Ok(())
    }

    /// What a suspended thread waits on.
    pub fn suspend_event(t: &Thread) -> Event {
        &t.sched as *const _ as usize
    }

    /// Ask `t` to terminate: it ends itself before it next runs user code; an interruptible
    /// wait it is in is aborted.
    pub fn thread_terminate(t: &ThreadRef) {
        t.sched.terminate_requested.store(true, Ordering::Release);
        thread_abort(t);
        // A suspended thread must run to notice.
        thread_wakeup(suspend_event(t));
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
            // Test-and-wait under the scheduler lock's protection of the counts' wakeups:
            // resume (and a kill) wakes `suspend_event` after changing what we test.
            let ev = suspend_event(&t);
            assert_wait_deadline(ev, Interruptible::No, None);
            if !suspension_holds(&t) || terminate_requested(&t) {
                let mut guard = SCHED.lock();
                if let Some(s) = guard.as_mut() {
                    clear_wait_locked(s, &t, WaitResult::Awakened);
                }
                drop(guard);
            }
            thread_block();
        }
    }

    /// Change a thread's scheduling mode and base priority.
    pub fn thread_set_base_priority(t: &ThreadRef, mode: SchedMode, base: u8) {
        let mut guard = SCHED.lock();
        t.sched.set_base(mode, base.min(crate::kern::sched::MAXPRI));
        if let Some(s) = guard.as_mut() {
            update_priority(s, t, mach_absolute_time());
            // Re-sort it if it is waiting in the run queue.
            let mut found = false;
            s.runq.remove_if(|q| {
                let hit = Arc::ptr_eq(q, t);
                found |= hit;
                hit
            });
            if found {
                let pri = t.sched_pri();
                s.runq.enqueue(t.clone(), pri);
            }
        }
        drop(guard);
        cpu_data().need_resched.store(true, Ordering::Relaxed);
    }

    /// Counter ticks this CPU's scheduler has handed out per quantum.
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
    fn remove_if_keeps_bitmap_exact() {
        let mut rq = RunQueue::new();
        rq.enqueue(1, 5);
        rq.enqueue(2, 70);
        rq.remove_if(|&t| t == 2);
        assert_eq!(rq.highest(), Some(5));
        assert_eq!(rq.len(), 1);
    }

    #[test]
    fn wait_table_wakes_only_its_event() {
        let mut w = WaitTable::default();
        w.add(1, 'a');
        w.add(2, 'b');
        w.add(1, 'c');
        assert_eq!(w.take(1), ['a', 'c']);
        assert_eq!(w.take(1), [] as [char; 0]);
        w.remove_if(|&c| c == 'b');
        assert_eq!(w.take(2), [] as [char; 0]);
    }
}
