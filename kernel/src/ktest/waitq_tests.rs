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
    sched_prim::deadline_after_ns(n * 1_000_000) - mach_absolute_time()
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
    FIRST_DEADLINE.store(mach_absolute_time() + ms(3), Ordering::Relaxed);
    // Below our priority: once the first one's deadline passes it is runnable, but does not
    // run while we spin.
    for i in 0..2 {
        let t = Thread::create(task.clone(), BASEPRI_KERNEL - 2, pset_receiver, i).ok_or("no memory")?;
        sched_prim::thread_setrun(t);
    }
    sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
    while mach_absolute_time() < FIRST_DEADLINE.load(Ordering::Relaxed) + ms(2) {
        core::hint::spin_loop();
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
    ipc_mqueue_send(&port, kmsg, false, IpcTimeout::Poll).map_err(|_| "send")?;
    let end = mach_absolute_time() + ms(100);
    while RECEIVED[1].load(Ordering::Acquire) == 0 && mach_absolute_time() < end {
        sched_prim::thread_sleep_until(mach_absolute_time() + ms(1));
    }
    let second = RECEIVED[1].load(Ordering::Acquire);
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
