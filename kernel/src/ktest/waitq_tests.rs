//! In-kernel tests of wait queues and of stopping threads (`osfmk::kern::waitq`,
//! `sched_prim::thread_stop`): what only real threads and a real clock can show.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use osfmk::kern::clock::mach_absolute_time;
use osfmk::kern::sched_prim::{self, BASEPRI_KERNEL};
use osfmk::kern::task::TaskRef;
use osfmk::kern::thread::{Thread, ThreadRef, ThreadState, WaitResult};
use osfmk::kern::thread_act::thread_terminate_self;
use osfmk::kern::waitq::{Interruptible, Wait, WaitQueue};

static QA: WaitQueue = WaitQueue::new();
static QB: WaitQueue = WaitQueue::new();
/// How the helper thread's wait ended (`WaitResult as u8`), `NOT_YET` until it has.
static RESULT: AtomicU8 = AtomicU8::new(NOT_YET);
const NOT_YET: u8 = 0xff;

fn ms(n: u64) -> u64 {
    osfmk::kern::clock::nanoseconds_to_absolutetime(n * 1_000_000)
}

/// Sleep (so that threads of any priority run) until `t` is blocked in a wait, or give up
/// after `limit` ticks.
fn until_waiting(t: &ThreadRef, limit: u64) -> Result<(), &'static str> {
    let end = mach_absolute_time() + limit;
    while t.state() != ThreadState::Waiting || t.sched.wait_result() != WaitResult::Awakened {
        if mach_absolute_time() > end {
            return Err("the helper thread never started waiting");
        }
        sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
    }
    Ok(())
}

fn until_result(limit: u64) -> Result<WaitResult, &'static str> {
    let end = mach_absolute_time() + limit;
    loop {
        match RESULT.load(Ordering::Acquire) {
            NOT_YET if mach_absolute_time() > end => return Err("the helper thread's wait never ended"),
            NOT_YET => {
                sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
            }
            r => return Ok(WaitResult::from_u8(r)),
        }
    }
}

/// Waits on both queues (interruptibly, no deadline) and records how the wait ended.
extern "C" fn wait_on_both(_: u64) -> ! {
    sched_prim::thread_continue();
    let mut w = Wait::begin(Interruptible::Yes, None);
    w.on(&QA).on(&QB);
    let r = w.block();
    RESULT.store(r as u8, Ordering::Release);
    thread_terminate_self()
}

fn start(task: &TaskRef, pri: u8, entry: extern "C" fn(u64) -> !) -> Result<ThreadRef, &'static str> {
    RESULT.store(NOT_YET, Ordering::Release);
    let t = Thread::create(task.clone(), pri, entry, 0).ok_or("no memory")?;
    sched_prim::thread_setrun(t.clone());
    Ok(t)
}

/// A wakeup that comes between `Wait::begin` and `block` is not lost.
pub fn wakeup_before_block(_: &TaskRef) -> Result<(), &'static str> {
    let mut w = Wait::begin(Interruptible::No, Some(mach_absolute_time() + ms(100)));
    w.on(&QA);
    if !QA.wakeup_one() {
        return Err("nobody was woken");
    }
    if w.block() != WaitResult::Awakened {
        return Err("the wait did not end by the wakeup");
    }
    if QA.has_waiters() {
        return Err("the queue kept an entry");
    }
    Ok(())
}

/// A thread waiting on two queues is woken by either, and leaves neither holding it.
pub fn wait_on_two_queues(task: &TaskRef) -> Result<(), &'static str> {
    let t = start(task, BASEPRI_KERNEL, wait_on_both)?;
    until_waiting(&t, ms(500))?;
    if QB.wakeup_all() != 1 {
        return Err("the second queue did not wake the thread");
    }
    if until_result(ms(500))? != WaitResult::Awakened {
        return Err("wrong wait result");
    }
    if QA.has_waiters() || QB.has_waiters() {
        return Err("a queue kept a stale entry");
    }
    Ok(())
}

/// `wakeup_one` passes over an entry whose wait already ended (woken through another
/// queue, not yet run) and wakes a thread that really waits.
pub fn wakeup_one_skips_ended_waits(task: &TaskRef) -> Result<(), &'static str> {
    // Below our priority: once woken it stays runnable, unrun, its QB entry stale.
    let t = start(task, BASEPRI_KERNEL - 1, wait_on_both)?;
    until_waiting(&t, ms(500))?;
    if !QA.wakeup_one() {
        return Err("the first queue did not wake the thread");
    }
    if t.state() == ThreadState::Waiting {
        return Err("the woken thread still looks waiting");
    }
    let mut me = Wait::begin(Interruptible::No, Some(mach_absolute_time() + ms(50)));
    me.on(&QB);
    let woke = QB.wakeup_one();
    let result = me.block();
    until_result(ms(500))?;
    if !woke {
        return Err("wakeup_one woke nobody while a thread waited");
    }
    if result != WaitResult::Awakened {
        return Err("the waiting thread was passed over");
    }
    Ok(())
}

/// A deadline ends a wait, not before it; an abort ends an interruptible wait.
pub fn deadlines_and_aborts(task: &TaskRef) -> Result<(), &'static str> {
    let start_time = mach_absolute_time();
    let r = {
        let mut w = Wait::begin(Interruptible::Yes, Some(start_time + ms(5)));
        w.on(&QA);
        w.block()
    };
    if r != WaitResult::TimedOut || mach_absolute_time() < start_time + ms(5) {
        return Err("the deadline did not end the wait, or ended it early");
    }
    if QA.has_waiters() {
        return Err("a timed-out wait left its entry");
    }
    let t = start(task, BASEPRI_KERNEL, wait_on_both)?;
    until_waiting(&t, ms(500))?;
    sched_prim::thread_abort(&t);
    if until_result(ms(500))? != WaitResult::Interrupted {
        return Err("the abort did not interrupt the wait");
    }
    if QA.has_waiters() || QB.has_waiters() {
        return Err("an aborted wait left its entries");
    }
    Ok(())
}

static STOPPABLE_COUNT: AtomicU64 = AtomicU64::new(0);
static STOPPABLE_END: AtomicBool = AtomicBool::new(false);

extern "C" fn stoppable(_: u64) -> ! {
    sched_prim::thread_continue();
    while !STOPPABLE_END.load(Ordering::Relaxed) {
        STOPPABLE_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    thread_terminate_self()
}

fn progress_over(quanta: u64) -> u64 {
    let before = STOPPABLE_COUNT.load(Ordering::Relaxed);
    let until = mach_absolute_time() + quanta * sched_prim::quantum_ticks();
    while mach_absolute_time() < until {
        sched_prim::thread_yield();
    }
    STOPPABLE_COUNT.load(Ordering::Relaxed) - before
}

/// `thread_stop` keeps a runnable thread off the CPU until `thread_unstop`.
pub fn stop_holds_a_thread_off_cpu(task: &TaskRef) -> Result<(), &'static str> {
    STOPPABLE_END.store(false, Ordering::Relaxed);
    let t = Thread::create(task.clone(), BASEPRI_KERNEL, stoppable, 0).ok_or("no memory")?;
    sched_prim::thread_setrun(t.clone());
    if progress_over(2) == 0 {
        return Err("the thread never ran");
    }
    sched_prim::thread_stop(&t);
    let stopped = progress_over(3);
    sched_prim::thread_unstop(&t);
    let resumed = progress_over(2);
    STOPPABLE_END.store(true, Ordering::Relaxed);
    while t.state() != ThreadState::Terminated {
        sched_prim::thread_yield();
    }
    if stopped != 0 {
        return Err("a stopped thread ran");
    }
    if resumed == 0 {
        return Err("thread_unstop did not let it run again");
    }
    Ok(())
}

/// The port set the receive test's threads wait on.
static PSET: spin::Once<osfmk::ipc::ipc_pset::PsetRef> = spin::Once::new();
/// How each receiver's receive ended: 0 not yet, 1 a message, 2 timed out, 3 anything else.
static RECEIVED: [AtomicU8; 2] = [AtomicU8::new(0), AtomicU8::new(0)];
/// The first receiver's deadline.
static FIRST_DEADLINE: AtomicU64 = AtomicU64::new(0);

extern "C" fn pset_receiver(which: u64) -> ! {
    use mach::message::MACH_RCV_TIMED_OUT;
    use osfmk::ipc::ipc_mqueue::IpcTimeout;
    sched_prim::thread_continue();
    let i = which as usize & 1;
    let timeout =
        if i == 0 { IpcTimeout::Until(FIRST_DEADLINE.load(Ordering::Relaxed)) } else { IpcTimeout::Forever };
    let outcome = match PSET.get().map(|s| osfmk::ipc::ipc_pset::ipc_pset_receive(s, 1024, false, timeout)) {
        Some(Ok(_)) => 1,
        Some(Err(e)) if e == MACH_RCV_TIMED_OUT => 2,
        _ => 3,
    };
    RECEIVED[i].store(outcome, Ordering::Release);
    thread_terminate_self()
}

/// A message queued on a set's member wakes a receiver that really waits, even when the
/// receiver first in line has just timed out (ended, but not yet run to leave the line).
pub fn pset_wakeup_passes_over_timed_out_receiver(task: &TaskRef) -> Result<(), &'static str> {
    use osfmk::ipc::ipc_kmsg::{IpcKmsg, MsgRight, SenderToken};
    use osfmk::ipc::ipc_mqueue::{IpcTimeout, ipc_mqueue_send};
    let space = osfmk::ipc::ipc_space::IpcSpace::new();
    let (_, port) = space.alloc_receive().map_err(|_| "alloc_receive")?;
    let pset = PSET.call_once(osfmk::ipc::ipc_pset::IpcPset::new).clone();
    pset.insert(&port).map_err(|_| "insert")?;
    for r in &RECEIVED {
        r.store(0, Ordering::Relaxed);
    }
    FIRST_DEADLINE.store(mach_absolute_time() + ms(50), Ordering::Relaxed);
    let first = Thread::create(task.clone(), BASEPRI_KERNEL - 2, pset_receiver, 0).ok_or("no memory")?;
    let second_thread =
        Thread::create(task.clone(), BASEPRI_KERNEL - 2, pset_receiver, 1).ok_or("no memory")?;
    sched_prim::thread_setrun(first.clone());
    until_waiting(&first, ms(40))?;
    sched_prim::thread_setrun(second_thread.clone());
    until_waiting(&second_thread, ms(40))?;
    // Hold the first receiver off every CPU: when its deadline passes its wait ends, but it
    // cannot run to leave the line (on one CPU or several alike).
    sched_prim::thread_stop(&first);
    while mach_absolute_time() < FIRST_DEADLINE.load(Ordering::Relaxed) + ms(2) {
        sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
    }
    if first.state() != ThreadState::Runnable {
        sched_prim::thread_unstop(&first);
        return Err("the first receiver's wait did not end at its deadline");
    }
    let kmsg = IpcKmsg {
        bits: 0,
        size: 24,
        remote: MsgRight::Send(port.make_send()),
        local: MsgRight::Null,
        id: 7,
        body: alloc::vec::Vec::new(),
        descriptors: alloc::vec::Vec::new(),
        sender: SenderToken::KERNEL,
        charge: None,
    };
    let sent = ipc_mqueue_send(&port, kmsg, false, IpcTimeout::Poll).map_err(|_| "send");
    let end = mach_absolute_time() + ms(100);
    while sent.is_ok() && RECEIVED[1].load(Ordering::Acquire) == 0 && mach_absolute_time() < end {
        sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
    }
    let second = RECEIVED[1].load(Ordering::Acquire);
    sched_prim::thread_unstop(&first);
    sent?;
    // Whatever happened, nobody stays blocked on the set.
    pset.destroy();
    let end = mach_absolute_time() + ms(100);
    while (RECEIVED[0].load(Ordering::Acquire) == 0 || RECEIVED[1].load(Ordering::Acquire) == 0)
        && mach_absolute_time() < end
    {
        sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
    }
    if RECEIVED[0].load(Ordering::Acquire) != 2 {
        return Err("the first receiver did not time out");
    }
    if second != 1 {
        return Err("the message woke nobody: the waiting receiver slept on");
    }
    Ok(())
}

// ---- A wakeup on one CPU gets another CPU going (the reschedule SGI) -------------------------

static IPI_Q: WaitQueue = WaitQueue::new();
static IPI_WOKEN_AT: AtomicU64 = AtomicU64::new(0);
static IPI_STOP: AtomicBool = AtomicBool::new(false);
static IPI_CPU: AtomicU64 = AtomicU64::new(0);

/// Waits on `IPI_Q` over and over, noting when each wakeup got it running.
extern "C" fn ipi_sleeper(_: u64) -> ! {
    sched_prim::thread_continue();
    loop {
        let mut wait = Wait::begin(Interruptible::No, None);
        wait.on(&IPI_Q);
        if IPI_STOP.load(Ordering::Acquire) {
            break;
        }
        wait.block();
        IPI_CPU.store(u64::from(osfmk::arm64::cpu_data::cpu_number()), Ordering::Relaxed);
        IPI_WOKEN_AT.store(mach_absolute_time(), Ordering::Release);
    }
    thread_terminate_self()
}

/// This thread spins at the top priority and wakes a thread that then cannot run here: an
/// idle CPU must take it at once, which only a reschedule interrupt sent to that CPU makes
/// it do (without one it would look at its next clock tick: half a quantum late on average).
/// The other CPUs stay idle, so the host has cores for them. On one CPU there is nothing to
/// show.
pub fn wakeup_runs_on_an_idle_cpu(task: &TaskRef) -> Result<(), &'static str> {
    let cpus = osfmk::arm64::cpu_data::cpus_online();
    if cpus < 2 {
        crate::kprintln!("ktest:   one CPU: nothing to signal");
        return Ok(());
    }
    let q = sched_prim::quantum_ticks();
    IPI_STOP.store(false, Ordering::SeqCst);
    let me = sched_prim::current_thread();
    sched_prim::thread_set_base_priority(&me, osfmk::kern::sched::SchedMode::Fixed, BASEPRI_KERNEL + 20);
    let result = (|| {
        let sleeper = Thread::create(task.clone(), BASEPRI_KERNEL + 10, ipi_sleeper, 0).ok_or("no memory")?;
        sched_prim::thread_set_base_priority(
            &sleeper,
            osfmk::kern::sched::SchedMode::Fixed,
            BASEPRI_KERNEL + 10,
        );
        let threads = [sleeper.clone()];
        sched_prim::thread_setrun(sleeper.clone());
        let signals =
            || -> u64 { osfmk::arm64::cpu_data::all_cpus().iter().map(|c| c.reschedule_interrupts()).sum() };
        let signals_before = signals();
        let mut latencies = alloc::vec::Vec::new();
        for _ in 0..15 {
            // Spin (never block: this CPU stays busy) until the sleeper waits again.
            let end = mach_absolute_time() + 50 * q;
            while sleeper.state() != ThreadState::Waiting {
                if mach_absolute_time() > end {
                    return Err("the sleeper never went back to waiting");
                }
            }
            // Then until it has switched away (a wakeup while it is still on its CPU, between
            // `Wait::begin` and `block`, needs no signal), and a little more for its CPU to
            // doze in `wfi`.
            while !sleeper.sched.is_off_cpu() {
                if mach_absolute_time() > end {
                    return Err("the sleeper never left its CPU");
                }
            }
            let settle = mach_absolute_time() + ms(1);
            while mach_absolute_time() < settle {
                core::hint::spin_loop();
            }
            IPI_WOKEN_AT.store(0, Ordering::SeqCst);
            // It is Waiting a moment before it is on the queue (`Wait::begin`, then `on`).
            let t0 = loop {
                let t0 = mach_absolute_time();
                if IPI_Q.wakeup_one() {
                    break t0;
                }
                if t0 > end {
                    return Err("the sleeper never got on its queue");
                }
            };
            let end = t0 + 5 * q;
            let woke = loop {
                let at = IPI_WOKEN_AT.load(Ordering::Acquire);
                if at != 0 {
                    break at;
                }
                if mach_absolute_time() > end {
                    break end;
                }
            };
            latencies.push(woke.saturating_sub(t0));
            if IPI_CPU.load(Ordering::Relaxed) == u64::from(osfmk::arm64::cpu_data::cpu_number()) {
                return Err("the woken thread ran on the CPU that woke it");
            }
        }
        let signalled = signals() - signals_before;
        latencies.sort_unstable();
        let median = latencies[latencies.len() / 2];
        crate::kprintln!(
            "ktest:   {cpus} CPUs: {signalled} reschedule interrupts for {} wakeups; the woken thread ran after {median} ticks (median; worst {}), quantum {q}",
            latencies.len(),
            latencies.last().copied().unwrap_or(0)
        );
        IPI_STOP.store(true, Ordering::SeqCst);
        IPI_Q.wakeup_all();
        for t in &threads {
            let end = mach_absolute_time() + 100 * q;
            while t.state() != ThreadState::Terminated {
                if mach_absolute_time() > end {
                    return Err("a helper thread did not end");
                }
                IPI_Q.wakeup_all();
                sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
            }
        }
        // Each wakeup signals the idle CPU it picks. (How fast it then runs is up to the host
        // as much as to us — a vCPU the host has not scheduled takes the interrupt late — so
        // the latency is printed, and only a gross delay fails.)
        if signalled < latencies.len() as u64 {
            return Err("a wakeup that picked another CPU did not signal it");
        }
        if median >= 4 * q {
            return Err("woken threads waited quanta for an idle CPU");
        }
        Ok(())
    })();
    IPI_STOP.store(true, Ordering::SeqCst);
    sched_prim::thread_set_base_priority(&me, osfmk::kern::sched::SchedMode::Fixed, BASEPRI_KERNEL);
    result
}

// ---- The CPUs, their clocks and their deadlines ----------------------------------------------

/// Every CPU the device tree lists is online once the kernel gets to its work (the boot CPU
/// waits for each one it starts to join the scheduler, not merely to check in).
pub fn every_cpu_online(_: &TaskRef) -> Result<(), &'static str> {
    let (online, listed) = (osfmk::arm64::cpu_data::cpus_online(), osfmk::arm64::cpu_data::cpu_count());
    crate::kprintln!("ktest:   {online} of {listed} CPUs online");
    if online != listed {
        return Err("a started CPU was not online yet");
    }
    Ok(())
}

/// While this thread sleeps 100 ms ten times, the other CPUs have nothing to run: an idle CPU
/// takes no quantum tick, and this thread's deadlines are on this CPU's own queue, so they
/// take no clock interrupt at all (with a tick, or with deadlines on one shared queue that
/// every CPU's timer follows, each would take ten or more).
pub fn idle_cpus_take_no_clock_interrupts(_: &TaskRef) -> Result<(), &'static str> {
    let cpus = osfmk::arm64::cpu_data::all_cpus();
    if cpus.len() < 2 {
        crate::kprintln!("ktest:   one CPU: no idle CPU to watch");
        return Ok(());
    }
    let me = sched_prim::current_thread();
    // Fixed at a high priority: this thread stays where it is (nothing preempts it), and
    // every wakeup of it picks this CPU, idle then.
    sched_prim::thread_set_base_priority(&me, osfmk::kern::sched::SchedMode::Fixed, BASEPRI_KERNEL + 20);
    // Settle: let whatever ran before finish, and this thread's CPU be its home.
    sched_prim::thread_sleep_until(mach_absolute_time() + ms(20));
    let before: alloc::vec::Vec<u64> = cpus.iter().map(|c| c.clock_interrupts()).collect();
    let mut moved = false;
    let home = osfmk::arm64::cpu_data::cpu_number();
    for _ in 0..10 {
        sched_prim::thread_sleep_until(mach_absolute_time() + ms(10));
        moved |= osfmk::arm64::cpu_data::cpu_number() != home;
    }
    let taken: alloc::vec::Vec<u64> =
        cpus.iter().zip(&before).map(|(c, b)| c.clock_interrupts() - b).collect();
    sched_prim::thread_set_base_priority(&me, osfmk::kern::sched::SchedMode::Fixed, BASEPRI_KERNEL);
    crate::kprintln!("ktest:   clock interrupts per CPU over ten 10 ms sleeps on CPU {home}: {taken:?}");
    if moved {
        // Its own CPU was idle at every deadline: an idle CPU that took the thread instead
        // was looking at the run queue without being asked (a tick).
        return Err("the sleeping thread was woken on another CPU than its own idle one");
    }
    // A stray one for a deadline of a thread an earlier test left: allow two.
    if taken.iter().enumerate().any(|(i, &n)| i != home as usize && n > 2) {
        return Err("an idle CPU took clock interrupts for nothing it had to do");
    }
    if taken[home as usize] < 10 {
        return Err("the sleeping thread's own CPU did not serve its deadlines");
    }
    Ok(())
}
