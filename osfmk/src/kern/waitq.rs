//! Wait queues (XNU's `waitq`): the threads waiting for something, owned by the object that
//! is waited for — a port's blocked senders, a semaphore's waiters, a process's `wait4`
//! callers, the console's readers.
//!
//! A wait has three parts, and the order is the whole point:
//! 1. [`Wait::begin`] (under the lock that protects the condition): the thread is marked
//!    waiting, with an optional deadline and interruptibility, and joins one or more queues
//!    with [`Wait::on`]. A wakeup from here on is not lost.
//! 2. The caller drops the object's lock.
//! 3. [`Wait::block`] gives up the CPU unless the wait already ended, and says how it ended.
//!
//! A thread can be on several queues for one wait (select, poll, kqueue): whichever wakes it
//! first ends the wait, and the [`Wait`] removes the thread from the others when it is
//! dropped, so a queue never keeps stale entries. A wakeup takes entries off the queue until
//! it finds one whose wait is still open (an entry can be stale when that thread's wait just
//! ended by its deadline, an abort, or another queue), so `wakeup_one` never wakes nobody
//! while somebody waits.
//!
//! Locking: object lock → wait queue lock → scheduler lock. A queue's lock is an
//! interrupt-masking spin lock (interrupt handlers wake threads) held only to link or unlink.
//! On the host the queues exist (objects embed them) but never hold anyone: nothing else
//! runs there to wake a waiter, and a host-side wait ends at once by its deadline.

/// How a wait ended (`wait_result_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitResult {
    /// The event happened (`THREAD_AWAKENED`).
    Awakened = 0,
    /// The deadline passed first (`THREAD_TIMED_OUT`).
    TimedOut = 1,
    /// The wait was aborted: a signal, termination or `thread_abort` (`THREAD_INTERRUPTED`).
    Interrupted = 2,
}

impl WaitResult {
    /// From the byte a thread keeps it in.
    pub fn from_u8(v: u8) -> WaitResult {
        match v {
            1 => WaitResult::TimedOut,
            2 => WaitResult::Interrupted,
            _ => WaitResult::Awakened,
        }
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(not(target_os = "none"))]
pub use host::*;

/// Whether a wait can be broken by `thread_abort` (signals, termination).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruptible {
    /// Only a wakeup (or the deadline) ends the wait (`THREAD_UNINT`).
    No,
    /// An abort ends it with `WaitResult::Interrupted` (`THREAD_ABORTSAFE`).
    Yes,
}

#[cfg(target_os = "none")]
mod imp {
    use super::{Interruptible, WaitResult};
    use crate::arm64::cpu_data;
    use crate::kern::lock_order;
    use crate::kern::locks::SpinLock;
    use crate::kern::sched_prim;
    use crate::kern::thread::{Thread, ThreadRef};
    use alloc::collections::VecDeque;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    struct Waiter {
        thread: ThreadRef,
        /// Which of the thread's waits this entry is for.
        seq: u64,
    }

    /// Waiters in arrival order. The first is kept inline: most queues never hold more
    /// than one thread (a receiver's own queue always), and then waiting allocates nothing.
    struct Waiters {
        first: Option<Waiter>,
        rest: VecDeque<Waiter>,
    }

    impl Waiters {
        const fn new() -> Waiters {
            Waiters { first: None, rest: VecDeque::new() }
        }

        fn is_empty(&self) -> bool {
            self.first.is_none()
        }

        fn push_back(&mut self, w: Waiter) {
            if self.first.is_none() {
                self.first = Some(w);
            } else {
                self.rest.push_back(w);
            }
        }

        fn pop_front(&mut self) -> Option<Waiter> {
            let w = self.first.take()?;
            self.first = self.rest.pop_front();
            Some(w)
        }

        fn iter(&self) -> impl Iterator<Item = &Waiter> {
            self.first.iter().chain(self.rest.iter())
        }

        /// Keep the waiters `keep` says yes to, in order.
        fn retain(&mut self, mut keep: impl FnMut(&Waiter) -> bool) {
            if let Some(w) = self.first.take()
                && keep(&w)
            {
                self.first = Some(w);
            }
            self.rest.retain(|w| keep(w));
            if self.first.is_none() {
                self.first = self.rest.pop_front();
            }
        }
    }

    /// Threads waiting on one object, in arrival order.
    pub struct WaitQueue {
        waiters: SpinLock<Waiters>,
    }

    impl Default for WaitQueue {
        fn default() -> Self {
            WaitQueue::new()
        }
    }

    impl core::fmt::Debug for WaitQueue {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("WaitQueue").finish_non_exhaustive()
        }
    }

    impl WaitQueue {
        /// An empty queue.
        pub const fn new() -> WaitQueue {
            WaitQueue { waiters: SpinLock::new(&lock_order::WAITQ, Waiters::new()) }
        }

        /// Wake the longest waiter whose wait is still open (`waitq_wakeup64_one`). Returns
        /// whether a thread was woken.
        pub fn wakeup_one(&self) -> bool {
            self.wakeup_one_with(WaitResult::Awakened)
        }

        /// `wakeup_one` that ends the wait with `result`.
        pub fn wakeup_one_with(&self, result: WaitResult) -> bool {
            let mut q = self.waiters.lock();
            while let Some(w) = q.pop_front() {
                if sched_prim::thread_go(&w.thread, w.seq, result) {
                    return true;
                }
            }
            false
        }

        /// Wake every waiter (`waitq_wakeup64_all`). Returns how many were woken.
        pub fn wakeup_all(&self) -> usize {
            self.wakeup_all_with(WaitResult::Awakened)
        }

        /// `wakeup_all` that ends the waits with `result`.
        pub fn wakeup_all_with(&self, result: WaitResult) -> usize {
            let mut q = self.waiters.lock();
            let mut n = 0;
            while let Some(w) = q.pop_front() {
                n += usize::from(sched_prim::thread_go(&w.thread, w.seq, result));
            }
            n
        }

        /// Wake `t` if it waits here (`waitq_wakeup64_thread`); false if it does not.
        pub fn wakeup_thread(&self, t: &Thread) -> bool {
            let mut q = self.waiters.lock();
            let mut woke = false;
            q.retain(|w| {
                if core::ptr::eq(Arc::as_ptr(&w.thread), t) {
                    woke |= sched_prim::thread_go(&w.thread, w.seq, WaitResult::Awakened);
                    false
                } else {
                    true
                }
            });
            woke
        }

        /// Is anyone queued here (possibly a wait that is just ending)?
        pub fn has_waiters(&self) -> bool {
            !self.waiters.lock().is_empty()
        }

        /// The highest scheduled priority among the waiters (for priority inheritance).
        pub fn max_waiter_priority(&self) -> Option<u8> {
            self.waiters.lock().iter().map(|w| w.thread.sched_pri()).max()
        }

        fn push(&self, thread: ThreadRef, seq: u64) {
            self.waiters.lock().push_back(Waiter { thread, seq });
        }

        fn remove(&self, t: &Thread, seq: u64) {
            let mut q = self.waiters.lock();
            if !q.is_empty() {
                q.retain(|w| !(w.seq == seq && core::ptr::eq(Arc::as_ptr(&w.thread), t)));
            }
        }
    }

    /// The queues one wait is on: one or two inline (nearly every wait), more on the heap.
    enum Queues<'q> {
        None,
        One(&'q WaitQueue),
        Two(&'q WaitQueue, &'q WaitQueue),
        Many(Vec<&'q WaitQueue>),
    }

    impl<'q> Queues<'q> {
        fn push(&mut self, q: &'q WaitQueue) {
            *self = match core::mem::replace(self, Queues::None) {
                Queues::None => Queues::One(q),
                Queues::One(a) => Queues::Two(a, q),
                Queues::Two(a, b) => Queues::Many(alloc::vec![a, b, q]),
                Queues::Many(mut v) => {
                    v.push(q);
                    Queues::Many(v)
                }
            }
        }

        /// Room for `n` more queues, so joining them allocates nothing.
        fn try_reserve(&mut self, n: usize) -> Result<(), alloc::collections::TryReserveError> {
            let held = match self {
                Queues::None => 0,
                Queues::One(_) => 1,
                Queues::Two(..) => 2,
                Queues::Many(v) => return v.try_reserve(n),
            };
            if held + n <= 2 {
                return Ok(());
            }
            let mut v = Vec::new();
            v.try_reserve(held + n)?;
            match core::mem::replace(self, Queues::None) {
                Queues::One(a) => v.push(a),
                Queues::Two(a, b) => v.extend([a, b]),
                _ => {}
            }
            *self = Queues::Many(v);
            Ok(())
        }

        fn for_each(&self, mut f: impl FnMut(&WaitQueue)) {
            match self {
                Queues::None => {}
                Queues::One(a) => f(a),
                Queues::Two(a, b) => {
                    f(a);
                    f(b)
                }
                Queues::Many(v) => v.iter().for_each(|q| f(q)),
            }
        }
    }

    /// One wait of the current thread, from `begin` to `block` (see the module doc). Dropping
    /// it without blocking cancels the wait (the condition turned out true after all).
    pub struct Wait<'q> {
        thread: ThreadRef,
        /// None: the wait failed at once (an abort was pending on an interruptible wait).
        seq: Option<u64>,
        queues: Queues<'q>,
        blocked: bool,
    }

    impl<'q> Wait<'q> {
        /// Start waiting (XNU `assert_wait_deadline`): until a wakeup on a queue this wait is
        /// [`on`](Wait::on), absolute time `deadline`, or — if `interruptible` — an abort.
        ///
        /// Preemption stays off from here until [`block`](Wait::block) (or the drop), so
        /// the thread is on every queue it waits on before anything can switch it away —
        /// a preemption while it is marked waiting is the same as blocking.
        pub fn begin(interruptible: Interruptible, deadline: Option<u64>) -> Wait<'q> {
            cpu_data::preemption_disable();
            let thread = sched_prim::current_thread();
            let seq = sched_prim::wait_begin(&thread, interruptible, deadline);
            Wait { thread, seq, queues: Queues::None, blocked: false }
        }

        /// Also end the wait on a wakeup of `q`.
        pub fn on(&mut self, q: &'q WaitQueue) -> &mut Self {
            if let Some(seq) = self.seq {
                q.push(self.thread.clone(), seq);
                self.queues.push(q);
            }
            self
        }

        /// Make room to join `n` more queues without allocating (a `select` over many
        /// files asks first, so running out of memory is its error, not a failure here).
        pub fn try_reserve(&mut self, n: usize) -> Result<(), alloc::collections::TryReserveError> {
            self.queues.try_reserve(n)
        }

        /// Block until the wait ends (at once if it already has) and say how it ended.
        pub fn block(mut self) -> WaitResult {
            self.blocked = true;
            cpu_data::preemption_enable();
            match self.seq {
                None => WaitResult::Interrupted,
                Some(_) => sched_prim::thread_block(),
            }
        }
    }

    impl Drop for Wait<'_> {
        fn drop(&mut self) {
            if let Some(seq) = self.seq {
                if !self.blocked {
                    sched_prim::wait_cancel(&self.thread, seq);
                }
                let t = &*self.thread;
                self.queues.for_each(|q| q.remove(t, seq));
            }
            if !self.blocked && cpu_data::preemption_enable() {
                sched_prim::ast_check_preempt();
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
mod host {
    use super::{Interruptible, WaitResult};

    /// The host's stand-in: objects embed it, nobody ever waits on it (see the module doc).
    #[derive(Debug, Default)]
    pub struct WaitQueue;

    impl WaitQueue {
        /// An empty queue.
        pub const fn new() -> WaitQueue {
            WaitQueue
        }
        /// Nobody waits on the host.
        pub fn wakeup_one(&self) -> bool {
            false
        }
        /// Nobody waits on the host.
        pub fn wakeup_one_with(&self, _result: WaitResult) -> bool {
            false
        }
        /// Nobody waits on the host.
        pub fn wakeup_all(&self) -> usize {
            0
        }
        /// Nobody waits on the host.
        pub fn wakeup_all_with(&self, _result: WaitResult) -> usize {
            0
        }
        /// Nobody waits on the host.
        pub fn has_waiters(&self) -> bool {
            false
        }
    }

    /// A host-side wait: it ends by its deadline as soon as it blocks.
    pub struct Wait<'q>(core::marker::PhantomData<&'q WaitQueue>);

    impl<'q> Wait<'q> {
        /// Start a wait.
        pub fn begin(_interruptible: Interruptible, _deadline: Option<u64>) -> Wait<'q> {
            Wait(core::marker::PhantomData)
        }
        /// Join `q` (no effect on the host).
        pub fn on(&mut self, _q: &'q WaitQueue) -> &mut Self {
            self
        }
        /// Nobody else runs on the host to end the wait: it times out.
        pub fn try_reserve(&mut self, _n: usize) -> Result<(), alloc::collections::TryReserveError> {
            Ok(())
        }

        pub fn block(self) -> WaitResult {
            WaitResult::TimedOut
        }
    }
}
