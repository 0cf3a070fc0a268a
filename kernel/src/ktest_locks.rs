//! In-kernel tests of the lock kinds and the lock validator (`osfmk::kern::lock_order`): each
//! kind of violation is provoked on purpose and must be caught, and a priority inversion on
//! an `LckMtx` must be resolved by the priority the waiter lends the owner.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use osfmk::arm64::cpu::InterruptsMasked;
use osfmk::arm64::cpu_data;
use osfmk::kern::clock::mach_absolute_time;
use osfmk::kern::lock_order::{
    TEST_INNER, TEST_OUTER, TEST_SLEEPING, Violation, ViolationKind, expect_violation,
};
use osfmk::kern::locks::{LckMtx, LckRw, SimpleLock, SpinLock, assert_may_block};
use osfmk::kern::sched::SchedMode;
use osfmk::kern::sched_prim::{self, BASEPRI_KERNEL};
use osfmk::kern::task::TaskRef;
use osfmk::kern::thread::{Thread, ThreadState};
use osfmk::kern::thread_act::thread_terminate_self;

use crate::kprintln;

static OUTER: SimpleLock<u32> = SimpleLock::new(&TEST_OUTER, 0);
static INNER: SimpleLock<u32> = SimpleLock::new(&TEST_INNER, 0);
static INNER_IRQ: SpinLock<u32> = SpinLock::new(&TEST_INNER, 0);
static OUTER_IRQ: SpinLock<u32> = SpinLock::new(&TEST_OUTER, 0);
static MTX: LckMtx<u32> = LckMtx::new(&TEST_SLEEPING, 0);
static RW: LckRw<u32> = LckRw::new(&TEST_SLEEPING, 0);

fn caught(v: Option<Violation>, kind: ViolationKind) -> Result<Violation, &'static str> {
    let v = v.ok_or("the validator did not catch it")?;
    kprintln!("ktest:   caught: {v}");
    if v.kind != kind {
        return Err("the validator reported the wrong kind of violation");
    }
    Ok(v)
}

/// An acquisition against the written order is caught, naming both locks and both places,
/// and where the legal order was seen; the legal order and declared nesting are not.
pub fn order_inversion(_: &TaskRef) -> Result<(), &'static str> {
    let legal = expect_violation(|| {
        let _o = OUTER.lock();
        drop(INNER.lock());
        let _j = INNER_IRQ.lock();
    });
    if legal.is_some() {
        return Err("the legal order was reported");
    }
    let v = caught(
        expect_violation(|| {
            let _i = INNER.lock();
            let _o = OUTER.lock();
        }),
        ViolationKind::Order,
    )?;
    let (taking, held) = (v.taking.ok_or("no lock taken")?, v.held.ok_or("no lock held")?);
    if !core::ptr::eq(taking.class, &TEST_OUTER) || !core::ptr::eq(held.class, &TEST_INNER) {
        return Err("the wrong classes were named");
    }
    if !taking.at.file().ends_with("ktest_locks.rs") || !held.at.file().ends_with("ktest_locks.rs") {
        return Err("the acquisition sites are not the test's");
    }
    if v.seen.is_none() {
        return Err("the first-seen legal order was not recorded");
    }
    let msg = alloc::format!("{v}");
    if !msg.starts_with("lock order violation: took test outer (at kernel/src/ktest_locks.rs:")
        || !msg.contains("while holding test inner (taken at kernel/src/ktest_locks.rs:")
    {
        return Err("the message does not name both locks and sites");
    }
    // Two locks of one class: only with a declared, increasing subclass.
    let a = SimpleLock::new(&TEST_INNER, 1);
    let b = SimpleLock::new(&TEST_INNER, 2);
    caught(
        expect_violation(|| {
            let _a = a.lock();
            let _b = b.lock();
        }),
        ViolationKind::Order,
    )?;
    let nested = expect_violation(|| {
        let _a = a.lock();
        let _b = b.lock_nested(1);
    });
    if nested.is_some() {
        return Err("lock_nested with a higher subclass was reported");
    }
    // A try-lock cannot deadlock: exempt from the order.
    let tried = expect_violation(|| {
        let _i = INNER.lock();
        let _o = OUTER.try_lock();
    });
    if tried.is_some() {
        return Err("a try_lock against the order was reported");
    }
    Ok(())
}

/// Taking a sleeping lock, blocking, or calling `assert_may_block` with a spin lock held is
/// caught; so is a wait with preemption disabled.
pub fn sleeping_under_spin(_: &TaskRef) -> Result<(), &'static str> {
    caught(
        expect_violation(|| {
            let _s = OUTER.lock();
            *MTX.lock() += 1;
        }),
        ViolationKind::SleepingUnderSpin,
    )?;
    caught(
        expect_violation(|| {
            let _s = INNER_IRQ.lock();
            let _r = RW.read();
        }),
        ViolationKind::SleepingUnderSpin,
    )?;
    // The validator reports this one before the switch and the switch is skipped.
    let v = caught(
        expect_violation(|| {
            let _s = OUTER.lock();
            sched_prim::thread_block();
        }),
        ViolationKind::BlockUnderSpin,
    )?;
    if !v.held.is_some_and(|h| core::ptr::eq(h.class, &TEST_OUTER)) {
        return Err("the held spin lock was not named");
    }
    caught(
        expect_violation(|| {
            let _s = INNER.lock();
            assert_may_block();
        }),
        ViolationKind::BlockUnderSpin,
    )?;
    caught(
        expect_violation(|| {
            cpu_data::preemption_disable();
            assert_may_block();
            cpu_data::preemption_enable();
        }),
        ViolationKind::BlockPreemptionDisabled,
    )?;
    // A sleeping lock held across a block is fine.
    let fine = expect_violation(|| {
        let _m = MTX.lock();
        assert_may_block();
        sched_prim::thread_block();
    });
    if fine.is_some() {
        return Err("a legal block holding sleeping locks was reported");
    }
    Ok(())
}

/// In interrupt context a sleeping lock, and a preemption-disabling spin lock, are caught;
/// an interrupt-masking one is not.
pub fn sleeping_in_interrupt(_: &TaskRef) -> Result<(), &'static str> {
    let in_irq = |f: &dyn Fn()| {
        expect_violation(|| {
            let _masked = InterruptsMasked::new();
            cpu_data::interrupt_enter();
            f();
            cpu_data::interrupt_exit();
        })
    };
    let v = caught(in_irq(&|| *MTX.lock() += 1), ViolationKind::InInterrupt)?;
    if !v.taking.is_some_and(|t| core::ptr::eq(t.class, &TEST_SLEEPING)) {
        return Err("the sleeping lock was not named");
    }
    caught(in_irq(&|| *OUTER.lock() += 1), ViolationKind::SimpleLockInInterrupt)?;
    if in_irq(&|| *INNER_IRQ.lock() += 1).is_some() {
        return Err("an interrupt-masking lock in interrupt context was reported");
    }
    Ok(())
}

/// A preemption-disabling lock taken under an interrupt-masking one is caught (a deadlock
/// across CPUs with an interrupt handler that takes the outer lock); the other way round is
/// fine.
pub fn simple_under_irq_safe(_: &TaskRef) -> Result<(), &'static str> {
    let v = caught(
        expect_violation(|| {
            let _o = OUTER_IRQ.lock();
            *INNER.lock() += 1;
        }),
        ViolationKind::SimpleUnderIrqSafe,
    )?;
    let named = v.taking.is_some_and(|t| core::ptr::eq(t.class, &TEST_INNER))
        && v.held.is_some_and(|h| core::ptr::eq(h.class, &TEST_OUTER));
    if !named {
        return Err("the two locks were not named");
    }
    let fine = expect_violation(|| {
        let _o = OUTER.lock();
        *INNER_IRQ.lock() += 1;
    });
    if fine.is_some() {
        return Err("an interrupt-masking lock under a preemption-disabling one was reported");
    }
    Ok(())
}

// ---- Priority inversion ------------------------------------------------------------------

static PI_MTX: LckMtx<()> = LckMtx::new(&TEST_SLEEPING, ());
static PI_RW: LckRw<()> = LckRw::new(&TEST_SLEEPING, ());
/// The inversion's lock: an `LckMtx` (arg 0), or an `LckRw` L holds exclusively and H wants
/// shared (arg 1).
const ON_MUTEX: u64 = 0;
const ON_RW: u64 = 1;
static L_HAS_LOCK: AtomicBool = AtomicBool::new(false);
static L_GO: AtomicBool = AtomicBool::new(false);
static L_MAX_PRI: AtomicU8 = AtomicU8::new(0);
static L_PRI_AFTER: AtomicU8 = AtomicU8::new(0);
static H_STARTED: AtomicBool = AtomicBool::new(false);
static H_ACQUIRED_AT: AtomicU64 = AtomicU64::new(0);
static M_STOP: AtomicBool = AtomicBool::new(false);
static M_ENDED_AT: AtomicU64 = AtomicU64::new(0);
static M_DEADLINE: AtomicU64 = AtomicU64::new(0);

const PRI_L: u8 = BASEPRI_KERNEL - 40;
const PRI_M: u8 = BASEPRI_KERNEL - 20;
const PRI_H: u8 = BASEPRI_KERNEL;
const PRI_TEST: u8 = BASEPRI_KERNEL + 10;

/// Low: takes the mutex, spins (never blocking) until told to go on, releases it.
extern "C" fn low(on: u64) -> ! {
    sched_prim::thread_continue();
    let me = sched_prim::current_thread();
    let (m, w) = if on == ON_RW { (None, Some(PI_RW.write())) } else { (Some(PI_MTX.lock()), None) };
    L_HAS_LOCK.store(true, Ordering::SeqCst);
    while !L_GO.load(Ordering::SeqCst) {
        L_MAX_PRI.fetch_max(me.sched_pri(), Ordering::Relaxed);
    }
    L_MAX_PRI.fetch_max(me.sched_pri(), Ordering::Relaxed);
    drop((m, w));
    L_PRI_AFTER.store(me.sched_pri(), Ordering::SeqCst);
    drop(me);
    thread_terminate_self()
}

/// Medium: spins without blocking, long, unless stopped.
extern "C" fn medium(_: u64) -> ! {
    sched_prim::thread_continue();
    let deadline = M_DEADLINE.load(Ordering::SeqCst);
    while !M_STOP.load(Ordering::SeqCst) && mach_absolute_time() < deadline {
        core::hint::spin_loop();
    }
    M_ENDED_AT.store(mach_absolute_time(), Ordering::SeqCst);
    thread_terminate_self()
}

/// High: blocks on the mutex L holds.
extern "C" fn high(on: u64) -> ! {
    sched_prim::thread_continue();
    H_STARTED.store(true, Ordering::SeqCst);
    let (m, r) = if on == ON_RW { (None, Some(PI_RW.read())) } else { (Some(PI_MTX.lock()), None) };
    H_ACQUIRED_AT.store(mach_absolute_time(), Ordering::SeqCst);
    drop((m, r));
    thread_terminate_self()
}

fn sleep_quanta(n: u64, q: u64) {
    sched_prim::thread_sleep_until(mach_absolute_time() + n * q);
}

/// L (low) holds an `LckMtx`, H (high) waits for it, M (medium) spins. Without priority
/// inheritance M keeps L, and so H, off this CPU until M stops; with it L runs at H's
/// priority, releases at once, and H gets the mutex while M is still spinning. Afterwards L
/// is back at its own priority.
pub fn priority_inversion(task: &TaskRef) -> Result<(), &'static str> {
    inversion(task, ON_MUTEX)
}

/// The same with an `LckRw`: a reader waiting for the writer lends the writer its priority.
pub fn priority_inversion_rw(task: &TaskRef) -> Result<(), &'static str> {
    inversion(task, ON_RW)
}

fn inversion(task: &TaskRef, on: u64) -> Result<(), &'static str> {
    let q = sched_prim::quantum_ticks();
    for f in [&L_HAS_LOCK, &L_GO, &H_STARTED, &M_STOP] {
        f.store(false, Ordering::SeqCst);
    }
    for v in [&H_ACQUIRED_AT, &M_ENDED_AT] {
        v.store(0, Ordering::SeqCst);
    }
    L_MAX_PRI.store(0, Ordering::SeqCst);
    let me = sched_prim::current_thread();
    sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, PRI_TEST);
    let l = Thread::create(task.clone(), PRI_L, low, on).ok_or("no memory")?;
    sched_prim::thread_setrun(l.clone());
    let give_up = mach_absolute_time() + 100 * q;
    while !L_HAS_LOCK.load(Ordering::SeqCst) && mach_absolute_time() < give_up {
        sleep_quanta(1, q);
    }
    // M spins for 50 quanta at most: long enough that an H left waiting for it is obvious.
    M_DEADLINE.store(mach_absolute_time() + 50 * q, Ordering::SeqCst);
    let m = Thread::create(task.clone(), PRI_M, medium, 0).ok_or("no memory")?;
    let h = Thread::create(task.clone(), PRI_H, high, on).ok_or("no memory")?;
    sched_prim::thread_setrun(m.clone());
    sched_prim::thread_setrun(h.clone());
    // Let H block on the mutex (and M start spinning), then let L finish.
    while !H_STARTED.load(Ordering::SeqCst) && mach_absolute_time() < give_up {
        sleep_quanta(1, q);
    }
    sleep_quanta(2, q);
    let released = mach_absolute_time();
    L_GO.store(true, Ordering::SeqCst);
    while H_ACQUIRED_AT.load(Ordering::SeqCst) == 0 && mach_absolute_time() < give_up {
        sleep_quanta(1, q);
    }
    M_STOP.store(true, Ordering::SeqCst);
    for t in [&l, &m, &h] {
        while t.state() != ThreadState::Terminated {
            sleep_quanta(1, q);
        }
    }
    sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, BASEPRI_KERNEL);
    let (acquired, m_end) = (H_ACQUIRED_AT.load(Ordering::SeqCst), M_ENDED_AT.load(Ordering::SeqCst));
    kprintln!(
        "ktest:   H got the lock {} ticks after L could release it (quantum {q}); M ran until {} ticks after; L ran at up to {}, then {}",
        acquired.saturating_sub(released),
        m_end.saturating_sub(released),
        L_MAX_PRI.load(Ordering::SeqCst),
        L_PRI_AFTER.load(Ordering::SeqCst)
    );
    if acquired == 0 || acquired >= m_end {
        return Err("H waited for M: the priority inversion was not resolved");
    }
    if L_MAX_PRI.load(Ordering::SeqCst) != PRI_H {
        return Err("L did not run at H's priority while H waited");
    }
    if L_PRI_AFTER.load(Ordering::SeqCst) != PRI_L || l.sched.promotion() != 0 {
        return Err("L kept the lent priority after releasing the lock");
    }
    Ok(())
}

// ---- LckRw under contention ----------------------------------------------------------------

static RW2: LckRw<u64> = LckRw::new(&TEST_SLEEPING, 0);
static SEQ: AtomicU64 = AtomicU64::new(1);
static W_SEQ: AtomicU64 = AtomicU64::new(0);
static R_SEQ: AtomicU64 = AtomicU64::new(0);
static R3_HOLDS: AtomicBool = AtomicBool::new(false);
static R3_GO: AtomicBool = AtomicBool::new(false);

/// Takes the lock exclusively, holds it across a sleep (a sleeping lock may be), releases.
extern "C" fn rw_writer(_: u64) -> ! {
    sched_prim::thread_continue();
    let q = sched_prim::quantum_ticks();
    let mut w = RW2.write();
    W_SEQ.store(SEQ.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    *w += 1;
    sleep_quanta(1, q);
    drop(w);
    thread_terminate_self()
}

/// Takes the lock shared once.
extern "C" fn rw_reader(_: u64) -> ! {
    sched_prim::thread_continue();
    let r = RW2.read();
    R_SEQ.store(SEQ.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    drop(r);
    thread_terminate_self()
}

/// Holds the lock shared until told to let go.
extern "C" fn rw_holder(_: u64) -> ! {
    sched_prim::thread_continue();
    let q = sched_prim::quantum_ticks();
    let r = RW2.read();
    R3_HOLDS.store(true, Ordering::SeqCst);
    while !R3_GO.load(Ordering::SeqCst) {
        sleep_quanta(1, q);
    }
    drop(r);
    thread_terminate_self()
}

fn wait_all(ts: &[&osfmk::kern::thread::ThreadRef], q: u64) {
    for t in ts {
        while t.state() != ThreadState::Terminated {
            sleep_quanta(1, q);
        }
    }
}

/// A writer that waits for readers holds new readers off (writers are not starved), and gets
/// the lock when the last reader leaves; the reader behind it follows. `try_upgrade` fails
/// beside another reader (dropping the read lock) and succeeds alone; `downgrade` keeps the
/// lock shared.
pub fn rw_contention(task: &TaskRef) -> Result<(), &'static str> {
    let q = sched_prim::quantum_ticks();
    for v in [&W_SEQ, &R_SEQ] {
        v.store(0, Ordering::SeqCst);
    }
    R3_HOLDS.store(false, Ordering::SeqCst);
    R3_GO.store(false, Ordering::SeqCst);
    let me = sched_prim::current_thread();
    sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, PRI_TEST);
    let result = (|| {
        let r = RW2.read();
        let w = Thread::create(task.clone(), PRI_H, rw_writer, 0).ok_or("no memory")?;
        sched_prim::thread_setrun(w.clone());
        sleep_quanta(1, q);
        let rd = Thread::create(task.clone(), PRI_H, rw_reader, 0).ok_or("no memory")?;
        sched_prim::thread_setrun(rd.clone());
        sleep_quanta(1, q);
        if W_SEQ.load(Ordering::SeqCst) != 0 {
            return Err("the writer got the lock beside a reader");
        }
        if R_SEQ.load(Ordering::SeqCst) != 0 {
            return Err("a new reader passed the waiting writer");
        }
        drop(r);
        wait_all(&[&w, &rd], q);
        let (ws, rs) = (W_SEQ.load(Ordering::SeqCst), R_SEQ.load(Ordering::SeqCst));
        if ws == 0 || rs == 0 || ws > rs {
            return Err("the writer did not go first when the reader left, or the reader never came");
        }
        // Upgrades.
        let holder = Thread::create(task.clone(), PRI_H, rw_holder, 0).ok_or("no memory")?;
        sched_prim::thread_setrun(holder.clone());
        while !R3_HOLDS.load(Ordering::SeqCst) {
            sleep_quanta(1, q);
        }
        if RW2.read().try_upgrade().is_ok() {
            return Err("an upgrade beside another reader succeeded");
        }
        R3_GO.store(true, Ordering::SeqCst);
        wait_all(&[&holder], q);
        let mut w = RW2.read().try_upgrade().map_err(|_| "the only reader could not upgrade")?;
        *w += 1;
        let r = w.downgrade();
        if *r != 2 || RW2.try_write().is_some() || RW2.try_read().is_none() {
            return Err("downgrade did not keep the lock shared");
        }
        drop(r);
        if RW2.try_write().is_none() {
            return Err("the lock was not free at the end");
        }
        Ok(())
    })();
    sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, BASEPRI_KERNEL);
    result
}

// ---- Sleeping locks taken and released while the CPU is shared -----------------------------

static CHURN_MTX: LckMtx<u64> = LckMtx::new(&TEST_SLEEPING, 0);
static CHURN_DEADLINE: AtomicU64 = AtomicU64::new(0);
static CHURN_ROUNDS: AtomicU64 = AtomicU64::new(0);
static CHURN_PREEMPTED: AtomicU64 = AtomicU64::new(0);
static SPIN_ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Takes and releases an uncontended `LckMtx` as fast as it can until the deadline, counting
/// the times it found it had been off the CPU (a gap of half a quantum between two rounds).
extern "C" fn churn(_: u64) -> ! {
    sched_prim::thread_continue();
    let half_quantum = sched_prim::quantum_ticks() / 2;
    let deadline = CHURN_DEADLINE.load(Ordering::SeqCst);
    let mut last = mach_absolute_time();
    while last < deadline {
        *CHURN_MTX.lock() += 1;
        CHURN_ROUNDS.fetch_add(1, Ordering::Relaxed);
        let now = mach_absolute_time();
        if now - last > half_quantum {
            CHURN_PREEMPTED.fetch_add(1, Ordering::Relaxed);
        }
        last = now;
    }
    thread_terminate_self()
}

/// Spins beside `churn` at its priority, so quantum ends preempt them in turn.
extern "C" fn spin_beside(_: u64) -> ! {
    sched_prim::thread_continue();
    let deadline = CHURN_DEADLINE.load(Ordering::SeqCst);
    while mach_absolute_time() < deadline {
        SPIN_ROUNDS.fetch_add(1, Ordering::Relaxed);
    }
    thread_terminate_self()
}

/// A thread that takes and releases a sleeping lock is preempted wherever the timer finds it,
/// including inside the validator's record of the locks it holds: the preemption's own lock
/// checks must not spin on that record (they did, with interrupts masked, and the CPU hung).
pub fn sleeping_locks_preempted(task: &TaskRef) -> Result<(), &'static str> {
    let q = sched_prim::quantum_ticks();
    for v in [&CHURN_ROUNDS, &CHURN_PREEMPTED, &SPIN_ROUNDS] {
        v.store(0, Ordering::SeqCst);
    }
    let me = sched_prim::current_thread();
    sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, PRI_TEST);
    let result = (|| {
        CHURN_DEADLINE.store(mach_absolute_time() + 150 * q, Ordering::SeqCst);
        // As many spinners as CPUs: every CPU is busy, so the churning thread shares one and
        // is preempted at quantum ends, wherever it is.
        let c = Thread::create(task.clone(), PRI_H, churn, 0).ok_or("no memory")?;
        let mut threads = alloc::vec![c.clone()];
        for _ in 0..cpu_data::cpus_online() {
            threads.push(Thread::create(task.clone(), PRI_H, spin_beside, 0).ok_or("no memory")?);
        }
        for t in &threads {
            sched_prim::thread_setrun(t.clone());
        }
        let all: alloc::vec::Vec<&osfmk::kern::thread::ThreadRef> = threads.iter().collect();
        wait_all(&all, q);
        let (rounds, preempted) =
            (CHURN_ROUNDS.load(Ordering::SeqCst), CHURN_PREEMPTED.load(Ordering::SeqCst));
        kprintln!(
            "ktest:   {rounds} lock/unlock rounds, off the CPU {preempted} times, beside {} spins",
            SPIN_ROUNDS.load(Ordering::SeqCst)
        );
        if preempted < 10 || SPIN_ROUNDS.load(Ordering::SeqCst) == 0 {
            return Err("the two threads did not take turns on the CPU");
        }
        if *CHURN_MTX.lock() != rounds {
            return Err("a round's increment was lost");
        }
        Ok(())
    })();
    sched_prim::thread_set_base_priority(&me, SchedMode::Fixed, BASEPRI_KERNEL);
    result
}
