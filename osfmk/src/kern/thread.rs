//! Threads: a kernel stack, a saved machine context, a scheduling state and priority, and
//! the task they belong to. A thread that runs user code enters EL0 through a trap frame
//! built at the top of its kernel stack.
// Threads own raw machine state (the saved context, the kernel stack contents).
#![allow(unsafe_code)]

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::arm64::cswitch::{MachineContext, thread_start_trampoline_addr};
use crate::arm64::pmap::phys_to_virt;
use crate::arm64::trapframe::TrapFrame;
use crate::ipc::ipc_port::{IkotType, IpcPort, PortRef};
use crate::kern::task::TaskRef;
use crate::vm::vm_page::{self, PAGE_SIZE};

/// Shared reference to a thread.
pub type ThreadRef = Arc<Thread>;

/// Pages in a kernel stack (32 KiB).
pub const KERNEL_STACK_PAGES: u64 = 8;

/// Scheduling state (a simplification of XNU's TH_* bits for one CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// Built, not yet started.
    Embryo = 0,
    /// On a run queue.
    Runnable = 1,
    /// On the CPU.
    Running = 2,
    /// Blocked in `assert_wait`/`thread_block`.
    Waiting = 3,
    /// Finished; never runs again.
    Terminated = 4,
}

/// A thread's kernel stack: contiguous frames reached through the direct map.
struct KernelStack {
    base_pa: u64,
}

impl KernelStack {
    fn top(&self) -> u64 {
        phys_to_virt(self.base_pa) + KERNEL_STACK_PAGES * PAGE_SIZE
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        for i in 0..KERNEL_STACK_PAGES {
            vm_page::vm_page_free(self.base_pa + i * PAGE_SIZE);
        }
    }
}

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

/// A Mach thread.
pub struct Thread {
    /// Unique id (`thread_id` in `thread_identifier_info`).
    pub thread_id: u64,
    /// The task this thread runs in.
    pub task: TaskRef,
    state: AtomicU8,
    sched_pri: AtomicU8,
    /// Saved registers while switched out; touched only by the context switch, with IRQs
    /// masked, by the CPU that owns the thread at that moment.
    context: UnsafeCell<MachineContext>,
    /// None for the boot thread, which keeps running on the boot stack.
    kstack: Option<KernelStack>,
    /// The thread's kernel port (a send right to it is what `thread_self_trap` returns).
    self_port: spin::Once<PortRef>,
    /// BSD's per-thread data (`uthread`), opaque to Mach.
    pub uthread: spin::Once<Box<dyn Any + Send + Sync>>,
}

// SAFETY: `context` is only accessed by the context switch with IRQs masked on the one CPU
// that is switching this thread in or out; everything else is atomics or locks.
unsafe impl Sync for Thread {}
// SAFETY: as above; a thread moves between CPUs only through the scheduler.
unsafe impl Send for Thread {}

impl Thread {
    fn build(task: TaskRef, pri: u8, kstack: Option<KernelStack>, ctx: MachineContext) -> ThreadRef {
        let t = Arc::new(Thread {
            thread_id: NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed),
            task,
            state: AtomicU8::new(ThreadState::Embryo as u8),
            sched_pri: AtomicU8::new(pri),
            context: UnsafeCell::new(ctx),
            kstack,
            self_port: spin::Once::new(),
            uthread: spin::Once::new(),
        });
        t.task.add_thread(&t);
        t
    }

    /// The thread that is already running at boot (it adopts the boot stack).
    pub fn bootstrap(task: TaskRef, pri: u8) -> ThreadRef {
        Thread::build(task, pri, None, MachineContext::new(0, 0, 0, 0))
    }

    /// A new thread in `task` that will call `entry(arg)` on its own kernel stack.
    /// `entry` must call `sched_prim::thread_continue()` first and never return.
    pub fn create(task: TaskRef, pri: u8, entry: extern "C" fn(u64) -> !, arg: u64) -> Option<ThreadRef> {
        let base_pa = vm_page::vm_page_alloc_contiguous(KERNEL_STACK_PAGES)?;
        let kstack = KernelStack { base_pa };
        let ctx =
            MachineContext::new(thread_start_trampoline_addr(), kstack.top(), arg, entry as *const () as u64);
        Some(Thread::build(task, pri, Some(kstack), ctx))
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
        self.sched_pri.load(Ordering::Relaxed)
    }

    /// Saved context, for the context switch only.
    pub fn machine_context(&self) -> *mut MachineContext {
        self.context.get()
    }

    /// Install this thread's task's address space on this CPU.
    pub fn activate_address_space(&self) {
        self.task.activate();
    }

    /// The thread's kernel port, created on first use.
    pub fn self_port(self: &Arc<Self>) -> PortRef {
        self.self_port
            .call_once(|| {
                let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(self) as Weak<dyn Any + Send + Sync>;
                IpcPort::new_kobject(IkotType::ThreadControl, weak)
            })
            .clone()
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        if let Some(p) = self.self_port.get() {
            p.destroy();
        }
    }
}
