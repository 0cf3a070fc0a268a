//! Kernel locks: four kinds, each with a reason to exist (XNU's `lck_spin_t`, `lck_mtx_t`,
//! `lck_rw_t`, and a spin lock that also masks interrupts).
//!
//! | kind | while held | use it for |
//! |------|------------|------------|
//! | [`SpinLock`] | IRQs masked, spinning | state an interrupt handler or the scheduler touches: the scheduler, wait queues, timers, the kernel heap, the console's UART and input ring, and what the context switch takes with interrupts masked (ASIDs, the kernel pmap, kernel stack slots, the page pool: `thread_dispatch` frees a dead thread's stack). Nothing else. |
//! | [`SimpleLock`] | preemption disabled, spinning | short critical sections that never block and never touch user memory: ports, spaces, port sets, tasks, procs, pgrps, fd tables, budgets. The default. |
//! | [`LckMtx`] | may sleep; owner tracked | anything that may block or run long: file data, directories, vnodes, ttys, pipes. Waiters lend their priority to the owner. |
//! | [`LckRw`] | may sleep; shared or exclusive | mostly-read state that may block: the `vm_map` (inside `VmMapLock`: a fault takes it shared and may sleep, upgrading only to change an entry; class `VM_MAP`). |
//!
//! Rules: interrupt handlers take only [`SpinLock`]s and only wake threads — work that needs
//! task or process locks (posting ^C's SIGINT) runs in thread context. Nothing blocks, and no
//! sleeping lock is taken, while a spin lock of either kind is held ([`assert_may_block`]
//! says so at the places that might: copyin/copyout). Rights and references are released
//! after locks are dropped.
//!
//! The order between classes is written once, in [`lock_order`](crate::kern::lock_order),
//! and every constructor names its class; test builds check it (same module).
//!
//! Why [`SimpleLock`] is a separate kind from [`SpinLock`]: an interrupt that arrives while a
//! short section holds a lock no interrupt handler takes does no harm; it is the *switch* an
//! interrupt may cause that must wait, so preemption is what gets disabled (XNU's
//! `simple_lock`/`lck_spin_lock` do the same). The name is XNU's for that lock.
//!
//! Priority inheritance (XNU's turnstiles in spirit, one level deep): a thread that waits for
//! an [`LckMtx`] (or an [`LckRw`] held exclusively) lends the owner its priority. What each
//! lock lends is remembered by the lock; what a thread is lent is a multiset of priorities
//! in the thread ([`ThreadLocks`]), so a thread holding several contended mutexes runs at the
//! highest of what their waiters lend and keeps the rest when it releases one. Not done: the
//! chain (a lent priority does not pass on to the owner of a lock the owner waits for).
//!
//! No unsafe code: the sleeping locks keep their value behind an inner spin lock that only
//! the holder of the word takes (so it never spins), and a waiter finds the owner's thread
//! from the address in the lock word through the thread registry (`thread::thread_by_addr`).

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arm64::{cpu, cpu_data};
use crate::kern::lock_order::{self, LockClass};
#[cfg(feature = "lock-validator")]
use core::panic::Location;

#[cfg(feature = "lock-validator")]
fn held_at(
    class: &'static LockClass,
    subclass: u8,
    addr: usize,
    at: &'static Location<'static>,
) -> lock_order::Held {
    lock_order::Held { class, subclass, addr, at, irq_safe: false }
}

// ---- The two spin lock kinds: one lock, two modes ---------------------------------------

/// What a spin lock does to its CPU while it is held: mask interrupts ([`MaskIrq`], for
/// [`SpinLock`]) or disable preemption ([`NoPreempt`], for [`SimpleLock`]).
pub trait SpinMode {
    /// Held for as long as the lock (taken before it, dropped after it is released); its
    /// drop undoes what [`enter`](SpinMode::enter) did.
    type Token;
    /// Does this mode mask interrupts? (The validator tells the two kinds apart.)
    const MASKS_IRQ: bool;
    /// Prepare the CPU for holding a lock of this mode.
    fn enter() -> Self::Token;
}

/// [`SpinLock`]'s mode: interrupts masked while held.
pub struct MaskIrq;

impl SpinMode for MaskIrq {
    type Token = cpu::InterruptsMasked;
    const MASKS_IRQ: bool = true;
    #[inline(always)]
    fn enter() -> cpu::InterruptsMasked {
        cpu::InterruptsMasked::new()
    }
}

/// [`SimpleLock`]'s mode: preemption disabled while held.
pub struct NoPreempt;

impl SpinMode for NoPreempt {
    type Token = PreemptionDisabled;
    const MASKS_IRQ: bool = false;
    #[inline(always)]
    fn enter() -> PreemptionDisabled {
        PreemptionDisabled(cpu_data::preemption_disable_here(), PhantomData)
    }
}

/// Preemption off on this CPU until dropped; when that brings it back on and a reschedule
/// is pending, switch now (unless IRQs are masked: then the caller is the scheduler, or
/// holds a [`SpinLock`], and the switch waits for the next opportunity).
/// It keeps this CPU's block: with preemption off, the thread stays on this CPU.
pub struct PreemptionDisabled(&'static cpu_data::CpuData, PhantomData<*const ()>);

impl Drop for PreemptionDisabled {
    #[inline(always)]
    fn drop(&mut self) {
        if self.0.preemption_enable_here() && !cpu::interrupts_masked() {
            #[cfg(target_os = "none")]
            crate::kern::sched_prim::ast_check_preempt();
        }
    }
}

/// A spin lock of mode `M` (see [`SpinLock`] and [`SimpleLock`], the two names it is used
/// by).
pub struct Spin<M: SpinMode, T: ?Sized> {
    #[cfg(feature = "lock-validator")]
    class: &'static LockClass,
    _mode: PhantomData<M>,
    inner: spin::Mutex<T>,
}

/// A spin lock that masks IRQs while held: only for state shared with interrupt handlers
/// and the scheduler (see the module doc).
pub type SpinLock<T> = Spin<MaskIrq, T>;

/// A spin lock that disables preemption while held (XNU's `simple_lock`/`lck_spin_t`): the
/// default lock, for short critical sections that never block (see the module doc).
pub type SimpleLock<T> = Spin<NoPreempt, T>;

/// Holds a [`Spin`] lock. Fields drop in declaration order: the lock is released first,
/// then the mode's token (the interrupt mask put back, or preemption enabled again and a
/// pending switch taken).
pub struct SpinGuard<'a, M: SpinMode, T: ?Sized> {
    guard: spin::MutexGuard<'a, T>,
    _mode: M::Token,
    /// The lock's address, which the validator knows it by.
    #[cfg(feature = "lock-validator")]
    key: usize,
}

/// Holds a [`SpinLock`]; IRQs stay masked until it drops.
pub type SpinLockGuard<'a, T> = SpinGuard<'a, MaskIrq, T>;

/// Holds a [`SimpleLock`]; preemption stays off until it drops.
pub type SimpleLockGuard<'a, T> = SpinGuard<'a, NoPreempt, T>;

impl<M: SpinMode, T> Spin<M, T> {
    /// A new unlocked lock of `class`.
    pub const fn new(class: &'static LockClass, value: T) -> Spin<M, T> {
        #[cfg(not(feature = "lock-validator"))]
        let _ = class;
        Spin {
            #[cfg(feature = "lock-validator")]
            class,
            _mode: PhantomData,
            inner: spin::Mutex::new(value),
        }
    }
}

impl<M: SpinMode, T: ?Sized> Spin<M, T> {
    /// Enter the mode (mask IRQs or disable preemption), then spin until the lock is ours.
    #[inline]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn lock(&self) -> SpinGuard<'_, M, T> {
        self.lock_nested(0)
    }

    /// Take a second lock of this lock's class, ordered after the one held with a lower
    /// `subclass` (two ports: the destination 0, the one being moved 1).
    #[inline]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn lock_nested(&self, subclass: u8) -> SpinGuard<'_, M, T> {
        let token = M::enter();
        #[cfg(feature = "lock-validator")]
        lock_order::spin_acquire(
            held_at(self.class, subclass, self.addr(), Location::caller()),
            false,
            M::MASKS_IRQ,
        );
        #[cfg(not(feature = "lock-validator"))]
        let _ = subclass;
        SpinGuard {
            guard: self.inner.lock(),
            _mode: token,
            #[cfg(feature = "lock-validator")]
            key: self.addr(),
        }
    }

    /// The value through an exclusive borrow of the lock: no one else can hold it, so
    /// nothing is locked (a map changing its own pmap under the map's write lock).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Take the lock if it is free (the panic path uses it to avoid deadlocking on itself).
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn try_lock(&self) -> Option<SpinGuard<'_, M, T>> {
        let token = M::enter();
        // On failure `token` drops here and the mode is left again.
        let guard = self.inner.try_lock()?;
        #[cfg(feature = "lock-validator")]
        lock_order::spin_acquire(held_at(self.class, 0, self.addr(), Location::caller()), true, M::MASKS_IRQ);
        Some(SpinGuard {
            guard,
            _mode: token,
            #[cfg(feature = "lock-validator")]
            key: self.addr(),
        })
    }

    #[cfg(feature = "lock-validator")]
    fn addr(&self) -> usize {
        core::ptr::from_ref(self).cast::<u8>().addr()
    }
}

#[cfg(feature = "lock-validator")]
impl<M: SpinMode, T: ?Sized> Drop for SpinGuard<'_, M, T> {
    fn drop(&mut self) {
        lock_order::spin_release(self.key);
    }
}

impl<M: SpinMode, T: ?Sized> Deref for SpinGuard<'_, M, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<M: SpinMode, T: ?Sized> DerefMut for SpinGuard<'_, M, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

// ---- What a thread holds: promotions (and, for the validator, its sleeping locks) ---------

/// The priorities lent to a thread by waiters on the locks it holds, as a multiset: a
/// count per priority and a bitmap of the non-zero counts, so the highest is a
/// count-leading-zeros.
#[derive(Debug)]
pub struct Promotions {
    counts: [u16; 128],
    bitmap: [u64; 2],
}

impl Default for Promotions {
    fn default() -> Self {
        Self::new()
    }
}

impl Promotions {
    /// Nothing lent.
    pub const fn new() -> Promotions {
        Promotions { counts: [0; 128], bitmap: [0; 2] }
    }

    /// One more lend of `pri` (0 is no lend).
    pub fn lend(&mut self, pri: u8) {
        let p = usize::from(pri.min(127));
        if p == 0 {
            return;
        }
        self.counts[p] = self.counts[p].saturating_add(1);
        self.bitmap[p / 64] |= 1 << (p % 64);
    }

    /// Take back one lend of `pri`.
    pub fn unlend(&mut self, pri: u8) {
        let p = usize::from(pri.min(127));
        if p == 0 || self.counts[p] == 0 {
            return;
        }
        self.counts[p] -= 1;
        if self.counts[p] == 0 {
            self.bitmap[p / 64] &= !(1 << (p % 64));
        }
    }

    /// The highest priority lent (0: none).
    pub fn highest(&self) -> u8 {
        if self.bitmap[1] != 0 {
            64 + 63 - self.bitmap[1].leading_zeros() as u8
        } else if self.bitmap[0] != 0 {
            63 - self.bitmap[0].leading_zeros() as u8
        } else {
            0
        }
    }
}

/// Lock state each thread carries (a field of `Thread`).
#[derive(Debug)]
pub struct ThreadLocks {
    /// What waiters lend this thread (see the module doc). Threads run only on the target.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    promotions: SimpleLock<Promotions>,
    /// The sleeping locks this thread holds, for the validator. Only the thread itself
    /// touches it, so the lock is never contended.
    #[cfg(feature = "lock-validator")]
    pub(crate) held: spin::Mutex<lock_order::HeldStack>,
}

impl Default for ThreadLocks {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for SimpleLock<Promotions> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimpleLock").finish_non_exhaustive()
    }
}

impl ThreadLocks {
    /// Nothing held, nothing lent.
    pub const fn new() -> ThreadLocks {
        ThreadLocks {
            promotions: SimpleLock::new(&lock_order::THREAD_PROMOTIONS, Promotions::new()),
            #[cfg(feature = "lock-validator")]
            held: spin::Mutex::new(lock_order::HeldStack::new()),
        }
    }
}

/// `f` on the current thread's [`ThreadLocks`] (None before the scheduler runs, and on the
/// host, where there are no threads).
#[cfg(feature = "lock-validator")]
pub(crate) fn with_current_thread_locks<R>(f: impl FnOnce(&ThreadLocks) -> R) -> Option<R> {
    #[cfg(target_os = "none")]
    {
        crate::kern::sched_prim::with_current_thread(|t| f(&t.locks))
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = f;
        None
    }
}

/// Panic (in validator builds) unless the caller may block: thread context, preemption
/// enabled, no spin lock of either kind held. Put it first in anything that may sleep
/// without taking a sleeping lock or calling `thread_block` itself: copyin/copyout (a
/// fault may read a page in), allocations that may wait. A no-op in other builds.
#[inline]
#[cfg_attr(feature = "lock-validator", track_caller)]
pub fn assert_may_block() {
    #[cfg(feature = "lock-validator")]
    let _ = lock_order::check_block(Location::caller(), true);
}

// ---- The lock word of the sleeping locks ---------------------------------------------------

/// Low bits of a sleeping lock's word; the rest is the owning thread's address (threads are
/// at least 8-byte aligned) or, for a read-held [`LckRw`], the reader count.
#[cfg(target_os = "none")]
const FLAG_BITS: usize = 0b111;
/// Someone waits, or a hand-over is in progress: releases go through the interlock.
const WAITERS: usize = 0b010;
/// [`LckRw`]: held exclusively (the word holds the owner).
const RW_WRITE: usize = 0b001;
/// [`LckRw`]: a writer waits; new readers wait behind it (writers are not starved).
const RW_WRITER_WANTS: usize = 0b100;
/// [`LckRw`]: one reader.
const RW_READER: usize = 0b1000;

/// The owner word for "no thread yet" (boot, before the scheduler; and the host).
const NO_THREAD: usize = 0b1000;

/// The current thread, as a lock owner: its address.
#[inline]
fn current_owner() -> usize {
    #[cfg(target_os = "none")]
    {
        match crate::kern::sched_prim::current_thread_addr() {
            0 => NO_THREAD,
            a => a,
        }
    }
    #[cfg(not(target_os = "none"))]
    NO_THREAD
}

/// The interlocked part of a sleeping lock: what its waiters lend the owner.
#[cfg(target_os = "none")]
#[derive(Debug, Default)]
struct Interlocked {
    /// The priority this lock's waiters lend its (exclusive) owner now; 0: none.
    lent: u8,
    /// [`LckRw`]: bumped each time waiting readers are let in, so a woken reader passes a
    /// writer that queued meanwhile (it was let in before that writer came).
    reader_gen: u32,
}

#[cfg(target_os = "none")]
mod slow {
    //! The contended paths, which need threads and wait queues.
    use super::*;
    use crate::kern::sched_prim;
    use crate::kern::thread::{Thread, ThreadRef};
    use crate::kern::waitq::{Interruptible, Wait, WaitQueue};

    const _: () = assert!(core::mem::align_of::<Thread>() > FLAG_BITS);

    /// A counted reference to the thread owning a lock whose word is `word`.
    ///
    /// Call only holding the lock's interlock, having seen `word` (owner bits non-zero and
    /// not [`NO_THREAD`]) with [`WAITERS`] set: the owner cannot release without that
    /// interlock, and a thread that holds a lock is alive (it is running, or on a run or
    /// wait queue, each of which holds a count of it).
    pub(super) fn owner_ref(word: usize) -> Option<ThreadRef> {
        let addr = word & !FLAG_BITS;
        if addr == 0 || addr == NO_THREAD {
            return None;
        }
        crate::kern::thread::thread_by_addr(addr)
    }

    /// Change what `owner` is lent: `old` back, `new` lent (either 0 for none); its
    /// scheduled priority follows.
    pub(super) fn relend(owner: &ThreadRef, old: u8, new: u8) {
        if old == new {
            return;
        }
        let mut p = owner.locks.promotions.lock();
        p.unlend(old);
        p.lend(new);
        // Under the promotions lock, so two changes cannot apply in the wrong order.
        sched_prim::thread_set_promotion(owner, p.highest());
    }

    /// Lend the owner seen in `word` the current thread's priority (if it is more than the
    /// lock lends already).
    pub(super) fn lend_to_owner(il: &mut Interlocked, word: usize) {
        let Some(owner) = owner_ref(word) else { return };
        assert!(
            !core::ptr::eq(Arc::as_ptr(&owner), current_owner() as *const Thread),
            "sleeping lock taken twice by its owner"
        );
        let pri = sched_prim::current_thread().sched_pri();
        if pri > il.lent {
            relend(&owner, il.lent, pri);
            il.lent = pri;
        }
    }

    /// The current thread became the owner with `waitq`s still waiting: they lend to it.
    pub(super) fn lend_to_self(il: &mut Interlocked, queues: &[&WaitQueue]) {
        let pri = queues.iter().filter_map(|q| q.max_waiter_priority()).max().unwrap_or(0);
        if pri > il.lent {
            relend(&sched_prim::current_thread(), il.lent, pri);
            il.lent = pri;
        }
    }

    /// The current thread stops being the exclusive owner: take back what was lent.
    pub(super) fn unlend_self(il: &mut Interlocked) {
        if il.lent != 0 {
            relend(&sched_prim::current_thread(), il.lent, 0);
            il.lent = 0;
        }
    }

    /// Join `q` and block (the interlock guard is dropped in between, after the join).
    pub(super) fn wait_on(q: &WaitQueue, il: SimpleLockGuard<'_, Interlocked>) {
        let mut wait = Wait::begin(Interruptible::No, None);
        wait.on(q);
        drop(il);
        wait.block();
    }

    use alloc::sync::Arc;
}

// ---- LckMtx: the sleeping mutex ------------------------------------------------------------

/// A sleeping mutex (XNU's `lck_mtx_t`): for anything that may block or run long. The owner
/// is tracked; a waiter lends the owner its priority; never in interrupt context.
///
/// The word is 0 (free), the owner's address, or that with [`WAITERS`]: the uncontended lock
/// and unlock are one compare-and-swap each. Contended, under the interlock: the waiter
/// sets `WAITERS` (so the owner's release comes through the interlock too), lends its
/// priority and waits on the mutex's queue; the release takes the loan back, frees the word
/// and wakes one waiter, which tries again (a running thread may take the mutex first; the
/// woken one then waits again). Whoever takes the mutex with waiters left sets `WAITERS`
/// again and is lent their priority.
pub struct LckMtx<T: ?Sized> {
    state: AtomicUsize,
    #[cfg(target_os = "none")]
    interlock: SimpleLock<Interlocked>,
    #[cfg(target_os = "none")]
    waitq: crate::kern::waitq::WaitQueue,
    #[cfg(feature = "lock-validator")]
    class: &'static LockClass,
    /// The value. Only the owner (of the word) takes this inner lock, so it never spins:
    /// it is what lets the guard hand out the value without unsafe code.
    data: spin::Mutex<T>,
}

impl<T: ?Sized> core::fmt::Debug for LckMtx<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LckMtx").field("state", &self.state.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// Holds an [`LckMtx`]; released on drop. Stays on the thread that took it. Fields drop in
/// order: the value's inner lock first, then the mutex itself.
pub struct LckMtxGuard<'a, T: ?Sized> {
    data: spin::MutexGuard<'a, T>,
    _release: MtxRelease<'a, T>,
}

/// Releases an [`LckMtx`] when dropped.
struct MtxRelease<'a, T: ?Sized> {
    lock: &'a LckMtx<T>,
    owner: usize,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: ?Sized> MtxRelease<'a, T> {
    /// The guard of a mutex the caller now owns.
    fn guard(self) -> LckMtxGuard<'a, T> {
        LckMtxGuard { data: self.lock.data.lock(), _release: self }
    }
}

impl<T> LckMtx<T> {
    /// A new unlocked mutex of `class`.
    pub const fn new(class: &'static LockClass, value: T) -> LckMtx<T> {
        #[cfg(not(feature = "lock-validator"))]
        let _ = class;
        LckMtx {
            state: AtomicUsize::new(0),
            #[cfg(target_os = "none")]
            interlock: SimpleLock::new(&lock_order::LCK_INTERLOCK, Interlocked { lent: 0, reader_gen: 0 }),
            #[cfg(target_os = "none")]
            waitq: crate::kern::waitq::WaitQueue::new(),
            #[cfg(feature = "lock-validator")]
            class,
            data: spin::Mutex::new(value),
        }
    }

    /// The value, taken out of the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> LckMtx<T> {
    /// Take the mutex, sleeping while another thread holds it.
    #[inline]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn lock(&self) -> LckMtxGuard<'_, T> {
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_acquire(held_at(self.class, 0, self.addr(), Location::caller()), false);
        let me = current_owner();
        if self.state.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended(me);
        }
        MtxRelease { lock: self, owner: me, _not_send: PhantomData }.guard()
    }

    /// Take the mutex if it is free.
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn try_lock(&self) -> Option<LckMtxGuard<'_, T>> {
        let me = current_owner();
        self.state.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).ok()?;
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_acquire(held_at(self.class, 0, self.addr(), Location::caller()), true);
        Some(MtxRelease { lock: self, owner: me, _not_send: PhantomData }.guard())
    }

    /// Is the mutex held (by anyone)? For assertions.
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }

    /// The value, through `&mut` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cfg(feature = "lock-validator")]
    fn addr(&self) -> usize {
        core::ptr::from_ref(self).cast::<u8>().addr()
    }

    #[cold]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    fn lock_contended(&self, me: usize) {
        #[cfg(feature = "lock-validator")]
        let _ = lock_order::check_block(Location::caller(), true);
        #[cfg(target_os = "none")]
        loop {
            let mut il = self.interlock.lock();
            let s = self.state.load(Ordering::Relaxed);
            if s == 0 {
                let waiting = self.waitq.has_waiters();
                let word = if waiting { me | WAITERS } else { me };
                if self.state.compare_exchange(0, word, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    if waiting {
                        slow::lend_to_self(&mut il, &[&self.waitq]);
                    }
                    return;
                }
                continue;
            }
            if s & WAITERS == 0
                && self.state.compare_exchange(s, s | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            slow::lend_to_owner(&mut il, s);
            slow::wait_on(&self.waitq, il);
        }
        // The host has no other threads to wait for, only (in tests) std threads: spin.
        #[cfg(not(target_os = "none"))]
        while self.state.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
    }

    fn unlock(&self, me: usize) {
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_release(self.addr());
        if self.state.compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_contended(me);
        }
    }

    #[cold]
    fn unlock_contended(&self, me: usize) {
        #[cfg(target_os = "none")]
        {
            let mut il = self.interlock.lock();
            assert_eq!(
                self.state.load(Ordering::Relaxed) & !FLAG_BITS,
                me,
                "LckMtx released by a thread that does not own it"
            );
            slow::unlend_self(&mut il);
            self.state.store(0, Ordering::Release);
            self.waitq.wakeup_one();
        }
        #[cfg(not(target_os = "none"))]
        {
            let _ = me;
            self.state.store(0, Ordering::Release);
        }
    }
}

impl<T: ?Sized> Drop for MtxRelease<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock(self.owner);
    }
}

impl<T: ?Sized> Deref for LckMtxGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> DerefMut for LckMtxGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

// ---- LckRw: the sleeping reader-writer lock -----------------------------------------------

/// A sleeping reader-writer lock (XNU's `lck_rw_t`): shared or exclusive, for mostly-read
/// state that may block — the `vm_map`.
///
/// Writers are not starved: once a writer waits, new readers wait too; a writer's release
/// lets the waiting readers in first, the last reader's release a writer. A waiter for the
/// exclusive owner lends it its priority (readers are not tracked, so they are lent
/// nothing). [`LckRwReadGuard::try_upgrade`] is `vm_map_lock_read_to_write`: it may fail, and
/// then the read lock is gone and the caller takes the write lock and looks again.
///
/// The word: [`RW_WRITE`] with the owner's address, or a reader count (in units of
/// [`RW_READER`]); plus [`WAITERS`] (someone waits: every change goes through the
/// interlock, so while it is set the word only changes there) and [`RW_WRITER_WANTS`].
pub struct LckRw<T: ?Sized> {
    state: AtomicUsize,
    #[cfg(target_os = "none")]
    interlock: SimpleLock<Interlocked>,
    #[cfg(target_os = "none")]
    read_q: crate::kern::waitq::WaitQueue,
    #[cfg(target_os = "none")]
    write_q: crate::kern::waitq::WaitQueue,
    #[cfg(feature = "lock-validator")]
    class: &'static LockClass,
    /// The value. Its inner lock is taken the way the word was (shared by readers, by the
    /// writer alone), so it never spins: it is what lets the guards hand out the value
    /// without unsafe code.
    data: spin::RwLock<T>,
}

impl<T: ?Sized> core::fmt::Debug for LckRw<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LckRw").field("state", &self.state.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// Holds an [`LckRw`] shared. Fields drop in order: the value's inner lock, then the lock.
pub struct LckRwReadGuard<'a, T: ?Sized> {
    data: spin::RwLockReadGuard<'a, T>,
    release: RwReadRelease<'a, T>,
}

/// Holds an [`LckRw`] exclusively. Fields drop in order: the value's inner lock, then the
/// lock.
pub struct LckRwWriteGuard<'a, T: ?Sized> {
    data: spin::RwLockWriteGuard<'a, T>,
    release: RwWriteRelease<'a, T>,
}

/// Releases a read hold of an [`LckRw`] when dropped.
struct RwReadRelease<'a, T: ?Sized> {
    lock: &'a LckRw<T>,
    _not_send: PhantomData<*const ()>,
}

/// Releases the write hold of an [`LckRw`] when dropped.
struct RwWriteRelease<'a, T: ?Sized> {
    lock: &'a LckRw<T>,
    owner: usize,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: ?Sized> RwReadRelease<'a, T> {
    fn guard(self) -> LckRwReadGuard<'a, T> {
        LckRwReadGuard { data: self.lock.data.read(), release: self }
    }
}

impl<'a, T: ?Sized> RwWriteRelease<'a, T> {
    fn guard(self) -> LckRwWriteGuard<'a, T> {
        LckRwWriteGuard { data: self.lock.data.write(), release: self }
    }
}

impl<T> LckRw<T> {
    /// A new unlocked lock of `class`.
    pub const fn new(class: &'static LockClass, value: T) -> LckRw<T> {
        #[cfg(not(feature = "lock-validator"))]
        let _ = class;
        LckRw {
            state: AtomicUsize::new(0),
            #[cfg(target_os = "none")]
            interlock: SimpleLock::new(&lock_order::LCK_INTERLOCK, Interlocked { lent: 0, reader_gen: 0 }),
            #[cfg(target_os = "none")]
            read_q: crate::kern::waitq::WaitQueue::new(),
            #[cfg(target_os = "none")]
            write_q: crate::kern::waitq::WaitQueue::new(),
            #[cfg(feature = "lock-validator")]
            class,
            data: spin::RwLock::new(value),
        }
    }

    /// The value, taken out of the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> LckRw<T> {
    /// Take the lock shared, sleeping while a writer holds it or waits for it.
    #[inline]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn read(&self) -> LckRwReadGuard<'_, T> {
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_acquire(held_at(self.class, 0, self.addr(), Location::caller()), false);
        if !self.try_read_word() {
            self.read_contended();
        }
        RwReadRelease { lock: self, _not_send: PhantomData }.guard()
    }

    /// Take the lock exclusively, sleeping while anyone holds it.
    #[inline]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn write(&self) -> LckRwWriteGuard<'_, T> {
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_acquire(held_at(self.class, 0, self.addr(), Location::caller()), false);
        let me = current_owner();
        if self.state.compare_exchange(0, me | RW_WRITE, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.write_contended(me);
        }
        RwWriteRelease { lock: self, owner: me, _not_send: PhantomData }.guard()
    }

    /// Take the lock shared if that needs no wait.
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn try_read(&self) -> Option<LckRwReadGuard<'_, T>> {
        if !self.try_read_word() {
            return None;
        }
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_acquire(held_at(self.class, 0, self.addr(), Location::caller()), true);
        Some(RwReadRelease { lock: self, _not_send: PhantomData }.guard())
    }

    /// Take the lock exclusively if it is free.
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn try_write(&self) -> Option<LckRwWriteGuard<'_, T>> {
        let me = current_owner();
        self.state.compare_exchange(0, me | RW_WRITE, Ordering::Acquire, Ordering::Relaxed).ok()?;
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_acquire(held_at(self.class, 0, self.addr(), Location::caller()), true);
        Some(RwWriteRelease { lock: self, owner: me, _not_send: PhantomData }.guard())
    }

    /// The value, through `&mut` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cfg(feature = "lock-validator")]
    fn addr(&self) -> usize {
        core::ptr::from_ref(self).cast::<u8>().addr()
    }

    /// The uncontended shared acquisition: no writer, none waiting, nobody queued.
    #[inline]
    fn try_read_word(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        for _ in 0..4 {
            if s & (RW_WRITE | RW_WRITER_WANTS | WAITERS) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(s, s + RW_READER, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Set [`WAITERS`] on a word without it (the word is then only changed under the
    /// interlock). Returns the word with the flag, or None if it changed meanwhile.
    #[cfg(target_os = "none")]
    fn enter_slow_mode(&self, s: usize) -> Option<usize> {
        if s & WAITERS != 0 {
            return Some(s);
        }
        self.state
            .compare_exchange(s, s | WAITERS, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| s | WAITERS)
    }

    /// The flags the word needs for who is still queued.
    #[cfg(target_os = "none")]
    fn queued_flags(&self) -> usize {
        let writers = self.write_q.has_waiters();
        if writers {
            WAITERS | RW_WRITER_WANTS
        } else if self.read_q.has_waiters() {
            WAITERS
        } else {
            0
        }
    }

    /// The word is free (under the interlock, in slow mode): let the waiting readers in if
    /// `readers_first` or no writer waits, else one writer. Returns the word to store.
    #[cfg(target_os = "none")]
    fn hand_over(&self, il: &mut Interlocked, readers_first: bool) -> usize {
        let readers = self.read_q.has_waiters();
        if readers && (readers_first || !self.write_q.has_waiters()) {
            il.reader_gen = il.reader_gen.wrapping_add(1);
            self.read_q.wakeup_all();
            self.queued_flags()
        } else if self.write_q.wakeup_one() {
            // Keep new readers out until the woken writer has had its turn.
            WAITERS | RW_WRITER_WANTS
        } else {
            self.queued_flags()
        }
    }

    #[cold]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    fn read_contended(&self) {
        #[cfg(feature = "lock-validator")]
        let _ = lock_order::check_block(Location::caller(), true);
        #[cfg(target_os = "none")]
        {
            let mut my_gen = None;
            loop {
                let mut il = self.interlock.lock();
                let s = self.state.load(Ordering::Relaxed);
                let let_in = my_gen.is_some_and(|g| g != il.reader_gen);
                if s & WAITERS == 0 && s & (RW_WRITE | RW_WRITER_WANTS) == 0 {
                    if self
                        .state
                        .compare_exchange(s, s + RW_READER, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return;
                    }
                    continue;
                }
                let Some(s) = self.enter_slow_mode(s) else { continue };
                if s & RW_WRITE == 0 && (s & RW_WRITER_WANTS == 0 || let_in) {
                    self.state.store(s + RW_READER, Ordering::Relaxed);
                    return;
                }
                if s & RW_WRITE != 0 {
                    slow::lend_to_owner(&mut il, s);
                }
                my_gen = Some(il.reader_gen);
                slow::wait_on(&self.read_q, il);
            }
        }
        #[cfg(not(target_os = "none"))]
        while !self.try_read_word() {
            core::hint::spin_loop();
        }
    }

    #[cold]
    #[cfg_attr(feature = "lock-validator", track_caller)]
    fn write_contended(&self, me: usize) {
        #[cfg(feature = "lock-validator")]
        let _ = lock_order::check_block(Location::caller(), true);
        #[cfg(target_os = "none")]
        loop {
            let mut il = self.interlock.lock();
            let s = self.state.load(Ordering::Relaxed);
            if s == 0 {
                if self.state.compare_exchange(0, me | RW_WRITE, Ordering::Acquire, Ordering::Relaxed).is_ok()
                {
                    return;
                }
                continue;
            }
            let Some(s) = self.enter_slow_mode(s) else { continue };
            if s & RW_WRITE == 0 && s & !FLAG_BITS == 0 {
                // Free, in slow mode: take it; whoever is still queued lends to us.
                let flags = self.queued_flags();
                self.state.store(me | RW_WRITE | flags, Ordering::Relaxed);
                if flags != 0 {
                    slow::lend_to_self(&mut il, &[&self.read_q, &self.write_q]);
                }
                return;
            }
            self.state.store(s | RW_WRITER_WANTS, Ordering::Relaxed);
            if s & RW_WRITE != 0 {
                slow::lend_to_owner(&mut il, s);
            }
            slow::wait_on(&self.write_q, il);
        }
        #[cfg(not(target_os = "none"))]
        while self
            .state
            .compare_exchange_weak(0, me | RW_WRITE, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
    }

    fn read_unlock(&self) {
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_release(self.addr());
        let mut s = self.state.load(Ordering::Relaxed);
        while s & WAITERS == 0 {
            match self.state.compare_exchange_weak(s, s - RW_READER, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        self.read_unlock_contended();
    }

    #[cold]
    fn read_unlock_contended(&self) {
        #[cfg(target_os = "none")]
        {
            let mut il = self.interlock.lock();
            let s = self.state.load(Ordering::Relaxed) - RW_READER;
            if s & !FLAG_BITS != 0 {
                self.state.store(s, Ordering::Release);
                return;
            }
            let word = self.hand_over(&mut il, false);
            self.state.store(word, Ordering::Release);
        }
    }

    fn write_unlock(&self, me: usize) {
        #[cfg(feature = "lock-validator")]
        lock_order::sleeping_release(self.addr());
        if self.state.compare_exchange(me | RW_WRITE, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.write_unlock_contended(me);
        }
    }

    #[cold]
    fn write_unlock_contended(&self, me: usize) {
        #[cfg(target_os = "none")]
        {
            let mut il = self.interlock.lock();
            assert_eq!(
                self.state.load(Ordering::Relaxed) & !FLAG_BITS,
                me,
                "LckRw released by a thread that does not own it"
            );
            slow::unlend_self(&mut il);
            let word = self.hand_over(&mut il, true);
            self.state.store(word, Ordering::Release);
        }
        #[cfg(not(target_os = "none"))]
        {
            let _ = me;
            self.state.store(0, Ordering::Release);
        }
    }
}

/// [`LckRwReadGuard::try_upgrade`] failed (another reader holds the lock); the read lock
/// is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpgradeFailed;

impl<'a, T: ?Sized> LckRwReadGuard<'a, T> {
    /// Turn the read lock into the write lock if this is the only reader
    /// (`vm_map_lock_read_to_write`). On failure the read lock is released: take the write
    /// lock and redo whatever the read lock was taken for.
    #[cfg_attr(feature = "lock-validator", track_caller)]
    pub fn try_upgrade(self) -> Result<LckRwWriteGuard<'a, T>, UpgradeFailed> {
        let LckRwReadGuard { data, release } = self;
        // Our read of the value ends; the word still counts us as a reader, so no writer
        // gets in until we upgrade or let go.
        drop(data);
        let lock = release.lock;
        let me = current_owner();
        // The word now says "written by us": the write of the value (which no one else can
        // want) begins.
        let upgraded = move |release: RwReadRelease<'a, T>| {
            core::mem::forget(release);
            RwWriteRelease { lock, owner: me, _not_send: PhantomData }.guard()
        };
        if lock.state.compare_exchange(RW_READER, me | RW_WRITE, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            return Ok(upgraded(release));
        }
        #[cfg(target_os = "none")]
        {
            let il = lock.interlock.lock();
            let s = lock.state.load(Ordering::Relaxed);
            if s & WAITERS != 0 && s & !FLAG_BITS == RW_READER {
                // The only reader, in slow mode: writers wait for us anyway.
                lock.state.store(me | RW_WRITE | (s & FLAG_BITS & !RW_WRITE), Ordering::Relaxed);
                drop(il);
                return Ok(upgraded(release));
            }
        }
        drop(release);
        Err(UpgradeFailed)
    }
}

impl<'a, T: ?Sized> LckRwWriteGuard<'a, T> {
    /// Keep the lock, shared (`vm_map_lock_write_to_read`): waiting readers come in too.
    pub fn downgrade(self) -> LckRwReadGuard<'a, T> {
        let LckRwWriteGuard { data, release } = self;
        let (lock, me) = (release.lock, release.owner);
        core::mem::forget(release);
        let data = spin::RwLockWriteGuard::downgrade(data);
        if lock
            .state
            .compare_exchange(me | RW_WRITE, RW_READER, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            #[cfg(target_os = "none")]
            {
                let mut il = lock.interlock.lock();
                slow::unlend_self(&mut il);
                // Readers first: they were waiting behind us, and we stay one of them.
                let readers = lock.read_q.has_waiters();
                if readers {
                    il.reader_gen = il.reader_gen.wrapping_add(1);
                    lock.read_q.wakeup_all();
                }
                lock.state.store(RW_READER | lock.queued_flags(), Ordering::Release);
            }
        }
        LckRwReadGuard { data, release: RwReadRelease { lock, _not_send: PhantomData } }
    }
}

impl<T: ?Sized> Drop for RwReadRelease<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Drop for RwWriteRelease<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock(self.owner);
    }
}

impl<T: ?Sized> Deref for LckRwReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> Deref for LckRwWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> DerefMut for LckRwWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kern::lock_order::{TEST_INNER, TEST_OUTER, TEST_SLEEPING};

    #[test]
    fn spin_lock_and_try_lock() {
        let l = SpinLock::new(&TEST_OUTER, 5);
        {
            let mut g = l.lock();
            *g += 1;
            assert!(l.try_lock().is_none());
        }
        assert_eq!(*l.try_lock().unwrap(), 6);
    }

    #[test]
    fn simple_lock_nests_and_gives_preemption_back() {
        let a = SimpleLock::new(&TEST_OUTER, 1);
        let b = SimpleLock::new(&TEST_INNER, 2);
        let level = || cpu_data::current_cpu().preemption_disabled();
        {
            let ga = a.lock();
            let gb = b.lock();
            assert_eq!(*ga + *gb, 3);
            assert!(level());
            assert!(a.try_lock().is_none());
        }
        assert!(a.try_lock().is_some());
    }

    #[test]
    fn mutex_lock_try_lock() {
        let m = LckMtx::new(&TEST_SLEEPING, alloc::vec![1, 2]);
        {
            let mut g = m.lock();
            g.push(3);
            assert!(m.is_locked());
            assert!(m.try_lock().is_none());
        }
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), [1, 2, 3]);
    }

    #[test]
    fn mutex_excludes_std_threads() {
        let m = std::sync::Arc::new(LckMtx::new(&TEST_SLEEPING, 0u64));
        let threads: std::vec::Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*m.lock(), 40_000);
    }

    #[test]
    fn rw_shared_exclusive_upgrade_downgrade() {
        let l = LckRw::new(&TEST_SLEEPING, 7);
        {
            let r1 = l.read();
            let r2 = l.read();
            assert_eq!(*r1 + *r2, 14);
            assert!(l.try_write().is_none());
            drop(r2);
            // The only reader upgrades.
            let Ok(mut w) = r1.try_upgrade() else { panic!("the sole reader could not upgrade") };
            *w = 8;
            assert!(l.try_read().is_none());
            let r = w.downgrade();
            assert_eq!(*r, 8);
            assert!(l.try_read().is_some(), "a downgraded lock admits readers");
        }
        {
            let r1 = l.read();
            let _r2 = l.read();
            assert!(r1.try_upgrade().is_err(), "two readers: upgrade fails");
            // And the failed upgrade gave up its read lock.
            drop(_r2);
            assert!(l.try_write().is_some());
        }
    }

    #[test]
    fn rw_excludes_std_threads() {
        let l = std::sync::Arc::new(LckRw::new(&TEST_SLEEPING, (0u64, 0u64)));
        let threads: std::vec::Vec<_> = (0..4)
            .map(|i| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        if i % 2 == 0 {
                            let mut w = l.write();
                            w.0 += 1;
                            w.1 += 1;
                        } else {
                            let r = l.read();
                            assert_eq!(r.0, r.1);
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(l.read().0, 10_000);
    }

    #[test]
    fn rw_lock_can_hold_a_vm_map() {
        // The vm_map will live behind an LckRw (of class VM_MAP) shared by a task's threads.
        fn shared<T: Sync + Send>() {}
        shared::<LckRw<crate::vm::vm_map::VmMap>>();
        let _class = &crate::kern::lock_order::VM_MAP;
    }

    #[test]
    fn promotions_keep_the_highest_lend() {
        let mut p = Promotions::new();
        assert_eq!(p.highest(), 0);
        p.lend(40);
        p.lend(90);
        p.lend(90);
        p.lend(70);
        assert_eq!(p.highest(), 90);
        p.unlend(90);
        assert_eq!(p.highest(), 90, "two mutexes lent 90; one gave it back");
        p.unlend(90);
        assert_eq!(p.highest(), 70);
        p.unlend(70);
        p.unlend(70);
        assert_eq!(p.highest(), 40);
        p.unlend(40);
        assert_eq!(p.highest(), 0);
    }
}
