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
/// Lowest priority (idle).
pub const IDLEPRI: u8 = 0;
/// Default priority of user threads (`BASEPRI_DEFAULT`).
pub const BASEPRI_DEFAULT: u8 = 31;
/// Default priority of kernel threads (`BASEPRI_KERNEL`).
pub const BASEPRI_KERNEL: u8 = 81;
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
    use crate::kern::locks::SpinLock;
    use crate::kern::thread::{Thread, ThreadRef, ThreadState};
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

    struct Scheduler {
        runq: RunQueue<ThreadRef>,
        waits: WaitTable<ThreadRef>,
    }

    static SCHED: SpinLock<Option<Scheduler>> = SpinLock::new(None);

    /// The per-CPU block (TPIDR_EL1 points here): the running thread and the idle thread.
    pub struct ProcessorData {
        current: AtomicPtr<Thread>,
        idle: AtomicPtr<Thread>,
        /// Set by the timer when the running thread's quantum is over (AST_QUANTUM).
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
    /// the boot stack) and `idle` runs whenever nothing else can.
    pub fn sched_init(boot: ThreadRef, idle: ThreadRef) {
        // SAFETY: publishes the static per-CPU block's address in this CPU's TPIDR_EL1.
        unsafe {
            core::arch::asm!("msr tpidr_el1, {}", in(reg) &CPU0 as *const _ as u64, options(nostack, preserves_flags))
        };
        *SCHED.lock() = Some(Scheduler { runq: RunQueue::new(), waits: WaitTable::default() });
        boot.set_state(ThreadState::Running);
        CPU0.current.store(Arc::into_raw(boot) as *mut Thread, Ordering::Release);
        CPU0.idle.store(Arc::into_raw(idle) as *mut Thread, Ordering::Release);
    }

    /// The running thread.
    pub fn current_thread() -> ThreadRef {
        let p = cpu_data().current.load(Ordering::Acquire);
        assert!(!p.is_null(), "current_thread before sched_init");
        // SAFETY: `current` always holds one strong count of a live thread (from
        // `Arc::into_raw`); we take a new one without releasing that count.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }

    /// Has the scheduler started?
    pub fn sched_running() -> bool {
        !cpu_data().current.load(Ordering::Acquire).is_null()
    }

    /// Make `t` runnable.
    pub fn thread_setrun(t: ThreadRef) {
        let pri = t.sched_pri();
        t.set_state(ThreadState::Runnable);
        if let Some(s) = SCHED.lock().as_mut() {
            s.runq.enqueue(t, pri);
        }
    }

    /// Declare that the current thread is about to wait on `event`; call `thread_block`
    /// next. A wakeup that arrives in between is not lost (the thread is just runnable), and
    /// being preempted in between is the same as blocking early.
    ///
    /// The rule that makes this safe (XNU's): test the condition and call `assert_wait`
    /// under the lock that the waker takes to change the condition. Otherwise the condition
    /// can come true between the test and the wait, and nobody wakes the thread.
    pub fn assert_wait(event: Event) {
        let t = current_thread();
        if let Some(s) = SCHED.lock().as_mut() {
            // State and wait-table entry change together, with IRQs masked: a preemption
            // never sees a waiting thread that no wakeup could find.
            t.set_state(ThreadState::Waiting);
            s.waits.add(event, t);
        }
    }

    /// Wake every thread waiting on `event`. Returns how many were woken.
    pub fn thread_wakeup(event: Event) -> usize {
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return 0 };
        let woken = s.waits.take(event);
        let n = woken.len();
        for t in woken {
            if t.state() == ThreadState::Waiting {
                let pri = t.sched_pri();
                t.set_state(ThreadState::Runnable);
                s.runq.enqueue(t, pri);
            }
        }
        if n > 0 {
            cpu_data().need_resched.store(true, Ordering::Relaxed);
        }
        n
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
    /// it stays off the run queue until a wakeup (or forever).
    ///
    /// Reference counting: `current` owns one count of the running thread. On a switch that
    /// count cannot be dropped on the old thread's own stack (dropping the last count frees
    /// the stack), so it is parked in `PREVIOUS` and released by the thread that runs next.
    pub fn thread_block() {
        let daif = cpu::interrupts_disable();
        let cpu = cpu_data();
        cpu.need_resched.store(false, Ordering::Relaxed);
        let old_ptr = cpu.current.load(Ordering::Acquire) as *const Thread;
        let idle_ptr = cpu.idle.load(Ordering::Acquire) as *const Thread;
        // SAFETY: `current` holds a count of the running thread for as long as it runs.
        let old = unsafe { &*old_ptr };
        let next: ThreadRef = {
            let mut guard = SCHED.lock();
            let s = guard.as_mut().expect("thread_block before sched_init");
            if old.state() == ThreadState::Running && !core::ptr::eq(old_ptr, idle_ptr) {
                // SAFETY: `current`'s count keeps `old` alive.
                let me = unsafe { clone_raw(old_ptr) };
                let pri = me.sched_pri();
                me.set_state(ThreadState::Runnable);
                s.runq.enqueue(me, pri);
            }
            match s.runq.dequeue() {
                Some(t) => t,
                // SAFETY: `cpu.idle` holds a permanent count of the idle thread.
                None => unsafe { clone_raw(idle_ptr) },
            }
        };
        if core::ptr::eq(Arc::as_ptr(&next), old_ptr) {
            old.set_state(ThreadState::Running);
            drop(next);
            cpu::interrupts_restore(daif);
            return;
        }
        next.set_state(ThreadState::Running);
        next.activate_address_space();
        let new_ctx = next.machine_context();
        cpu.current.store(Arc::into_raw(next) as *mut Thread, Ordering::Release);
        PREVIOUS.store(old_ptr as *mut Thread, Ordering::Release);
        // SAFETY: both contexts belong to live threads (old via PREVIOUS, new via current),
        // and IRQs are masked across the switch.
        unsafe { machine_switch_context(old.machine_context(), new_ctx) };
        // Back on this thread, possibly much later, switched to by someone else.
        release_previous();
        cpu::interrupts_restore(daif);
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

    /// The timer tick: the running thread's quantum is over.
    pub fn sched_tick() {
        cpu_data().need_resched.store(true, Ordering::Relaxed);
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
