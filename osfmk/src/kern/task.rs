//! Tasks: an address space (`vm_map`), a port name space (`ipc_space`) and a set of threads.
//! The kernel task has no user address space. BSD hangs its `proc` off `bsd_info`.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mach::KernReturn;

use crate::arm64::pmap::Pmap;
use crate::ipc::ipc_port::{IkotType, IpcPort, PortRef};
use crate::ipc::ipc_space::{IpcSpace, SpaceRef};
use crate::kern::locks::SpinLock;
use crate::kern::sched_prim;
use crate::kern::thread::{Thread, ThreadRef};
use crate::vm::vm_map::VmMap;

/// Shared reference to a task.
pub type TaskRef = Arc<Task>;

static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(0);

/// Most port names one task's IPC space may hold. Names and the ports behind them live on
/// the kernel heap, so one task allocating without end must hit this limit
/// (`KERN_NO_SPACE`) long before the heap runs dry. Generous for any real program.
pub const TASK_IPC_SPACE_MAX: u32 = 1 << 14;

/// The table page that TTBR0 points at while a kernel-only task runs: empty, so no user
/// address translates.
static EMPTY_USER_ROOT: spin::Once<u64> = spin::Once::new();

/// A Mach task.
pub struct Task {
    /// Unique id, 0 for the kernel task.
    pub task_id: u64,
    /// The user address space; None for the kernel task.
    pub map: Option<SpinLock<VmMap>>,
    /// The port name space.
    pub itk_space: SpaceRef,
    threads: SpinLock<Vec<Weak<Thread>>>,
    /// `task_suspend` count: no thread of the task runs user code while it is non-zero.
    suspend_count: AtomicU32,
    itk_self: spin::Once<PortRef>,
    /// The BSD `proc` wrapping this task (XNU's `bsd_info`), opaque to Mach.
    pub bsd_info: spin::Once<Box<dyn Any + Send + Sync>>,
}

impl Task {
    /// The kernel task (pid 0's task): no user map.
    pub fn kernel_task() -> Result<TaskRef, KernReturn> {
        let empty = crate::vm::vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        crate::arm64::pmap::zero_page(empty);
        EMPTY_USER_ROOT.call_once(|| empty);
        Ok(Task::build(None))
    }

    /// A new user task with an empty address space.
    pub fn create() -> Result<TaskRef, KernReturn> {
        let pmap = Pmap::create()?;
        Ok(Task::build(Some(SpinLock::new(VmMap::new(pmap)))))
    }

    /// A child of `parent` for `fork`: its address space is `vm_map_fork` of the parent's
    /// (copy-on-write, shared or absent per each region's inheritance); its port space is
    /// new and empty; it has no threads yet.
    pub fn fork(parent: &Task) -> Result<TaskRef, KernReturn> {
        let parent_map = parent.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
        let child_pmap = crate::vm::pmap::MachinePmap::new(Pmap::create()?);
        let map = crate::vm::vm_map::vm_map_fork(&mut parent_map.lock(), alloc::boxed::Box::new(child_pmap))?;
        Ok(Task::build(Some(SpinLock::new(map))))
    }

    /// Replace the address space (exec): the new map becomes current on this CPU if the
    /// caller is one of this task's threads, and the old one is torn down.
    pub fn replace_map(&self, new: VmMap) -> Result<(), KernReturn> {
        let map = self.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
        let old = core::mem::replace(&mut *map.lock(), new);
        // Only a thread of this task runs on its address space; anyone else (the kernel
        // building a first process, a parent spawning a child) must keep its own.
        if core::ptr::eq(sched_prim::current_thread().task.as_ref(), self) {
            self.activate();
        }
        drop(old);
        Ok(())
    }

    /// Virtual size and resident pages of the address space (`task_info` basic).
    pub fn vm_sizes(&self) -> (u64, u64) {
        self.map.as_ref().map_or((0, 0), |m| {
            let m = m.lock();
            (m.virtual_size(), m.resident_pages())
        })
    }

    fn build(map: Option<SpinLock<VmMap>>) -> TaskRef {
        Arc::new(Task {
            task_id: NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed),
            map,
            itk_space: IpcSpace::with_limit(TASK_IPC_SPACE_MAX),
            threads: SpinLock::new(Vec::new()),
            suspend_count: AtomicU32::new(0),
            itk_self: spin::Once::new(),
            bsd_info: spin::Once::new(),
        })
    }

    pub(crate) fn add_thread(&self, t: &ThreadRef) {
        let mut threads = self.threads.lock();
        threads.retain(|w| w.strong_count() > 0);
        threads.push(Arc::downgrade(t));
    }

    /// The task's live threads.
    pub fn threads(&self) -> Vec<ThreadRef> {
        self.threads.lock().iter().filter_map(Weak::upgrade).collect()
    }

    /// `task_suspend` nesting count.
    pub fn suspend_count(&self) -> u32 {
        self.suspend_count.load(Ordering::Acquire)
    }

    /// Suspend every thread of the task once more (`task_suspend`).
    pub fn suspend(&self) {
        self.suspend_count.fetch_add(1, Ordering::AcqRel);
    }

    /// Undo one `task_suspend`; the threads run again when the count reaches zero.
    pub fn resume(&self) -> Result<(), KernReturn> {
        let prev = self
            .suspend_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1))
            .map_err(|_| KernReturn::KERN_FAILURE)?;
        if prev == 1 {
            for t in self.threads() {
                sched_prim::thread_wakeup(sched_prim::suspend_event(&t));
            }
        }
        Ok(())
    }

    /// Install this task's address space in TTBR0.
    pub fn activate(&self) {
        match &self.map {
            Some(map) => map.lock().pmap().activate(),
            None => {
                if let Some(&root) = EMPTY_USER_ROOT.get() {
                    Pmap::deactivate_user(root);
                }
            }
        }
    }

    /// The task's kernel port (what `task_self_trap` hands out a send right to).
    pub fn self_port(self: &Arc<Self>) -> PortRef {
        self.itk_self
            .call_once(|| {
                let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(self) as Weak<dyn Any + Send + Sync>;
                IpcPort::new_kobject(IkotType::TaskControl, weak)
            })
            .clone()
    }

    /// Tear the task down: every thread is asked to terminate, and its rights and address
    /// space go now, even if references to the `Task` itself (from ports, BSD or its dying
    /// threads) linger a little longer. The caller's own thread, if it is one of them,
    /// must end itself next (`thread_terminate_self`).
    pub fn terminate(&self) {
        for t in self.threads() {
            sched_prim::thread_terminate(&t);
        }
        self.itk_space.destroy();
        if let Some(p) = self.itk_self.get() {
            p.destroy();
        }
        if let Some(map) = &self.map {
            map.lock().deallocate_all();
        }
    }
}
