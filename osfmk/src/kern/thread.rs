//! Threads: a kernel stack, a saved machine context, a scheduling state and priority, and
//! the task they belong to. A thread that runs user code enters EL0 through a trap frame
//! built at the top of its kernel stack.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::arm64::cswitch::{MachineContext, thread_start_trampoline_addr};
use crate::arm64::trapframe::TrapFrame;
use crate::ipc::ipc_port::{IkotType, PortRef};
use crate::kern::ipc_kobject::{KObject, ipc_kobject_alloc_port};
use crate::kern::locks::SpinLock;
use crate::kern::sched::SchedMode;
use crate::kern::stack::KernelStack;
use crate::kern::task::TaskRef;

/// Shared reference to a thread.
pub type ThreadRef = Arc<Thread>;

pub use crate::kern::waitq::WaitResult;

/// Per-thread scheduling state. Fields change with the run queue lock held (or on the
/// running thread itself); atomics let anyone read them without a lock.
pub struct ThreadSched {
    /// `SchedMode` as a byte.
    mode: AtomicU8,
    /// The priority the thread asked for (`base_pri`).
    base_pri: AtomicU8,
    /// The priority it is scheduled at now (`sched_pri`): base minus time-share penalty.
    sched_pri: AtomicU8,
    /// Recent CPU use, decayed lazily (`sched_usage`).
    pub(crate) cpu_usage: AtomicU32,
    /// The scheduler tick at which `cpu_usage` was last decayed (`sched_stamp`).
    pub(crate) usage_stamp: AtomicU64,
    /// How the last wait ended.
    wait_result: AtomicU8,
    /// Counts waits, so a stale timeout cannot end a later wait.
    pub(crate) wait_seq: AtomicU64,
    /// The current wait may be aborted.
    pub(crate) interruptible: AtomicBool,
    /// `thread_suspend` count (`user_stop_count`).
    pub(crate) suspend_count: AtomicU32,
    /// Asked to terminate: it will, on its way back to user mode.
    pub(crate) terminate_requested: AtomicBool,
    /// Asked to abort: interruptible waits fail until it returns to user mode.
    pub(crate) abort_requested: AtomicBool,
    /// Counter ticks spent in user mode and in the kernel (`user_timer`, `system_timer`).
    pub(crate) user_ticks: AtomicU64,
    pub(crate) system_ticks: AtomicU64,
    /// When the current stretch of user or kernel time began, and which it is.
    pub(crate) stamp: AtomicU64,
    pub(crate) in_user: AtomicBool,
    /// Where its registers are (`OFF_CPU`, `ON_CPU`, `SWITCHING_OUT`): the switch protocol
    /// of `sched_prim`. `SWITCHING_OUT` works as a lock on the saved context, held by the
    /// CPU switching the thread away and released by `thread_dispatch` once it is saved.
    pub(crate) on_cpu: AtomicU8,
    /// The CPU it last ran on.
    pub(crate) last_cpu: AtomicU32,
    /// Bumped whenever something is posted that the way back to user mode must act on (an
    /// abort for a signal, a termination, a suspension): XNU's AST bits, as a generation.
    pub(crate) ast_gen: AtomicU32,
    /// `thread_stop` holds: while non-zero it is kept off every CPU.
    pub(crate) stop_count: AtomicU32,
    /// A priority floor lent by a waiter on a lock it holds (priority inheritance); 0: none.
    pub(crate) promotion: AtomicU8,
    /// The timer that ends the current wait (`TimerId` parts; `seq == NO_TIMER`: none).
    pub(crate) wait_timer_deadline: AtomicU64,
    pub(crate) wait_timer_seq: AtomicU64,
    /// Whose queue that timer is on (the CPU the wait began on).
    pub(crate) wait_timer_cpu: AtomicU32,
}

/// `on_cpu`: its registers are in its saved context.
pub(crate) const OFF_CPU: u8 = 0;
/// `on_cpu`: running on a CPU (its own code, or about to block).
pub(crate) const ON_CPU: u8 = 1;
/// `on_cpu`: its CPU has chosen to switch it away and is saving its registers.
pub(crate) const SWITCHING_OUT: u8 = 2;
/// No wait timer stored (`wait_timer_seq`).
pub(crate) const NO_TIMER: u64 = u64::MAX;

impl ThreadSched {
    /// Are its registers saved, and it on no CPU (a statistic: it may change at once)?
    pub fn is_off_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire) == OFF_CPU
    }

    fn new(mode: SchedMode, pri: u8) -> ThreadSched {
        ThreadSched {
            mode: AtomicU8::new(mode as u8),
            base_pri: AtomicU8::new(pri),
            sched_pri: AtomicU8::new(pri),
            cpu_usage: AtomicU32::new(0),
            usage_stamp: AtomicU64::new(0),
            wait_result: AtomicU8::new(WaitResult::Awakened as u8),
            wait_seq: AtomicU64::new(0),
            interruptible: AtomicBool::new(false),
            suspend_count: AtomicU32::new(0),
            terminate_requested: AtomicBool::new(false),
            abort_requested: AtomicBool::new(false),
            user_ticks: AtomicU64::new(0),
            system_ticks: AtomicU64::new(0),
            stamp: AtomicU64::new(crate::kern::clock::mach_absolute_time()),
            in_user: AtomicBool::new(false),
            on_cpu: AtomicU8::new(OFF_CPU),
            last_cpu: AtomicU32::new(0),
            ast_gen: AtomicU32::new(0),
            stop_count: AtomicU32::new(0),
            promotion: AtomicU8::new(0),
            wait_timer_deadline: AtomicU64::new(0),
            wait_timer_seq: AtomicU64::new(NO_TIMER),
            wait_timer_cpu: AtomicU32::new(0),
        }
    }

    /// Scheduling mode.
    pub fn mode(&self) -> SchedMode {
        SchedMode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    /// Base priority.
    pub fn base_pri(&self) -> u8 {
        self.base_pri.load(Ordering::Relaxed)
    }

    pub(crate) fn set_base(&self, mode: SchedMode, base: u8) {
        self.mode.store(mode as u8, Ordering::Relaxed);
        self.base_pri.store(base, Ordering::Relaxed);
    }

    /// The priority floor lent by lock waiters (0: none).
    pub fn promotion(&self) -> u8 {
        self.promotion.load(Ordering::Relaxed)
    }

    pub(crate) fn set_sched_pri(&self, pri: u8) {
        self.sched_pri.store(pri, Ordering::Relaxed);
    }

    /// How the last wait ended.
    pub fn wait_result(&self) -> WaitResult {
        WaitResult::from_u8(self.wait_result.load(Ordering::Acquire))
    }

    pub(crate) fn set_wait_result(&self, r: WaitResult) {
        self.wait_result.store(r as u8, Ordering::Release);
    }

    /// Time in user mode and in the kernel, in counter ticks.
    pub fn times(&self) -> (u64, u64) {
        (self.user_ticks.load(Ordering::Relaxed), self.system_ticks.load(Ordering::Relaxed))
    }

    /// `thread_suspend` nesting count.
    pub fn suspend_count(&self) -> u32 {
        self.suspend_count.load(Ordering::Relaxed)
    }
}

/// Scheduling state (XNU's TH_RUN/TH_WAIT bits), with `on_cpu` kept beside it: a thread can
/// be `Waiting` or `Runnable` and still on its CPU for the moment it takes to switch away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// Built, not yet started.
    Embryo = 0,
    /// On a run queue (or held off it by `thread_stop`).
    Runnable = 1,
    /// Running on a CPU, or chosen to go back to a run queue when its CPU switches away.
    Running = 2,
    /// Blocked in `assert_wait`/`thread_block`.
    Waiting = 3,
    /// Finished; never runs again.
    Terminated = 4,
}

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

/// Every live thread by address: how a lock waiter finds the thread whose address is in a
/// sleeping lock's word (to lend it its priority) without trusting the address.
/// Interrupt-masking: a thread's last reference may go under the scheduler lock, which the
/// clock interrupt takes.
static THREADS_BY_ADDR: SpinLock<BTreeMap<usize, Weak<Thread>>> =
    SpinLock::new(&crate::kern::lock_order::THREAD_REGISTRY, BTreeMap::new());

/// The live thread at `addr` (an `Arc::as_ptr` of a `ThreadRef`), if there is one.
pub fn thread_by_addr(addr: usize) -> Option<ThreadRef> {
    THREADS_BY_ADDR.lock().get(&addr).and_then(Weak::upgrade)
}

/// A Mach thread.
pub struct Thread {
    /// Unique id (`thread_id` in `thread_identifier_info`).
    pub thread_id: u64,
    /// The task this thread runs in.
    pub task: TaskRef,
    state: AtomicU8,
    /// Priorities, waits, suspension, CPU accounting.
    pub sched: ThreadSched,
    /// Saved registers while switched out. Written by the CPU switching the thread out and
    /// read by the CPU switching it in; the switch protocol (`sched_prim`) orders the two:
    /// a CPU loads it only after seeing `on_cpu` go to `OFF_CPU` (acquire), which the
    /// switching-out side stores (release) after the save.
    pub(crate) context: crate::arm64::thread_machine::ContextCell,
    /// None for the boot thread, which keeps running on the boot stack.
    kstack: Option<KernelStack>,
    /// The thread's kernel port (a send right to it is what `thread_self_trap` returns).
    self_port: spin::Once<PortRef>,
    /// BSD's per-thread data (`uthread`), opaque to Mach.
    pub uthread: spin::Once<Box<dyn Any + Send + Sync>>,
    /// The thread's exception ports (`thread_set_exception_ports`).
    pub exc_actions: crate::kern::exception::ExceptionActions,
    /// Where it waits while suspended; `thread_resume` and termination wake it.
    pub(crate) suspend_waitq: crate::kern::waitq::WaitQueue,
    /// Priorities lent by waiters on its locks; the validator's record of its locks.
    pub(crate) locks: crate::kern::locks::ThreadLocks,
}

impl Thread {
    /// None if the task takes no new threads (an exec is ending its threads).
    fn build(task: TaskRef, pri: u8, kstack: Option<KernelStack>, ctx: MachineContext) -> Option<ThreadRef> {
        // Threads of the kernel task run at fixed priorities; user threads time-share.
        let mode = if task.map.is_none() { SchedMode::Fixed } else { SchedMode::Timeshare };
        let t = Arc::new(Thread {
            thread_id: NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed),
            task,
            state: AtomicU8::new(ThreadState::Embryo as u8),
            sched: ThreadSched::new(mode, pri),
            context: crate::arm64::thread_machine::ContextCell::new(ctx),
            kstack,
            self_port: spin::Once::new(),
            uthread: spin::Once::new(),
            exc_actions: Default::default(),
            suspend_waitq: crate::kern::waitq::WaitQueue::new(),
            locks: crate::kern::locks::ThreadLocks::new(),
        });
        THREADS_BY_ADDR.lock().insert(Arc::as_ptr(&t).addr(), Arc::downgrade(&t));
        t.task.add_thread(&t).then_some(t)
    }

    /// The thread that is already running at boot (it adopts the boot stack).
    pub fn bootstrap(task: TaskRef, pri: u8) -> Option<ThreadRef> {
        Thread::build(task, pri, None, MachineContext::new(0, 0, 0, 0))
    }

    /// A new thread in `task` that will call `entry(arg)` on its own kernel stack.
    /// `entry` must call `sched_prim::thread_continue()` first and never return.
    pub fn create(task: TaskRef, pri: u8, entry: extern "C" fn(u64) -> !, arg: u64) -> Option<ThreadRef> {
        let kstack = KernelStack::alloc().ok()?;
        let ctx =
            MachineContext::new(thread_start_trampoline_addr(), kstack.top(), arg, entry as *const () as u64);
        Thread::build(task, pri, Some(kstack), ctx)
    }

    /// The top of this thread's kernel stack (None for the boot thread, which has none of
    /// its own).
    pub fn kernel_stack_top(&self) -> Option<u64> {
        self.kstack.as_ref().map(|k| k.top())
    }

    /// Where the user trap frame of this thread lives: the top of its kernel stack.
    pub fn user_frame_addr(&self) -> Option<u64> {
        self.kstack.as_ref().map(|k| k.top() - core::mem::size_of::<TrapFrame>() as u64)
    }

    /// Current scheduling state.
    pub fn state(&self) -> ThreadState {
        match self.state.load(Ordering::Acquire) {
            0 => ThreadState::Embryo,
            1 => ThreadState::Runnable,
            2 => ThreadState::Running,
            3 => ThreadState::Waiting,
            _ => ThreadState::Terminated,
        }
    }

    /// Change the scheduling state (the scheduler's business).
    pub fn set_state(&self, s: ThreadState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Scheduled priority.
    pub fn sched_pri(&self) -> u8 {
        self.sched.sched_pri.load(Ordering::Relaxed)
    }

    /// Install this thread's task's address space on this CPU.
    pub fn activate_address_space(&self) {
        self.task.activate();
    }

    /// The thread's kernel port, created on first use.
    pub fn self_port(self: &Arc<Self>) -> PortRef {
        self.self_port.call_once(|| ipc_kobject_alloc_port(self)).clone()
    }
}

/// A thread is a kernel object through its control port ([`Thread::self_port`]).
impl KObject for Thread {
    const IKOT: IkotType = IkotType::ThreadControl;
}

impl Drop for Thread {
    fn drop(&mut self) {
        THREADS_BY_ADDR.lock().remove(&core::ptr::from_ref(self).addr());
        if let Some(p) = self.self_port.get() {
            p.destroy();
        }
    }
}
