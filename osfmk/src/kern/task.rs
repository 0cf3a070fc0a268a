//! Tasks: an address space (`vm_map`), a port name space (`ipc_space`) and a set of threads.
//! The kernel task has no user address space. BSD hangs its `proc` off `bsd_info`.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use mach::KernReturn;

use crate::arm64::pmap::{Pmap, TtbrSlot};
use crate::ipc::ipc_port::{IkotType, PortRef, SendRight};
use crate::ipc::ipc_space::{IpcSpace, SpaceRef};
use crate::kern::ipc_kobject::{KObject, ipc_kobject_alloc_port};
use crate::kern::lock_order;
use crate::kern::locks::SimpleLock;
use crate::kern::sched_prim;
use crate::kern::thread::{Thread, ThreadRef};
use crate::vm::vm_map::VmMap;
use crate::vm::vm_map_lock::VmMapLock;
use mach::defs::special::{TASK_HOST_PORT, TASK_KERNEL_PORT, TASK_MAX_SPECIAL_PORT, TASK_NAME_PORT};

/// Shared reference to a task.
pub type TaskRef = Arc<Task>;

static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(0);

/// Most slots one task's IPC space may hold (the IPC budgets live in `kern::budget`).
pub use crate::kern::budget::TASK_IPC_SPACE_MAX;

/// Slots for special ports, indexed by id (0 unused).
const TASK_SPECIAL_PORT_SLOTS: usize = TASK_MAX_SPECIAL_PORT as usize + 1;

fn special_slot(which: i32) -> Result<usize, KernReturn> {
    usize::try_from(which)
        .ok()
        .filter(|&i| (1..TASK_SPECIAL_PORT_SLOTS).contains(&i))
        .ok_or(KernReturn::KERN_INVALID_ARGUMENT)
}

/// The table page that TTBR0 points at while a kernel-only task runs: empty, so no user
/// address translates.
static EMPTY_USER_ROOT: spin::Once<u64> = spin::Once::new();

/// A task is a kernel object through its control port ([`Task::self_port`]).
impl KObject for Task {
    const IKOT: IkotType = IkotType::TaskControl;
}

/// A Mach task.
pub struct Task {
    /// Unique id, 0 for the kernel task.
    pub task_id: u64,
    /// The user address space; None for the kernel task.
    pub map: Option<VmMapLock>,
    /// What TTBR0 is loaded from while the task runs: its map's pmap's root and ASID, shared
    /// with the pmap. The context switch reads it here, not through the map's lock; exec
    /// replaces it with the map.
    ttbr: TtbrSlot,
    /// The port name space.
    pub itk_space: SpaceRef,
    threads: SimpleLock<Vec<Weak<Thread>>>,
    /// Woken whenever one of the task's threads has ended and left its CPU (exec waits for
    /// the others).
    pub(crate) thread_gone: crate::kern::waitq::WaitQueue,
    /// Ended threads not yet off their CPU.
    ending: AtomicU32,
    /// An exec is ending the other threads: no new ones (`begin_halt`).
    halting: AtomicBool,
    /// `task_suspend` count: no thread of the task runs user code while it is non-zero.
    suspend_count: AtomicU32,
    /// Being killed (SIGKILL, `task_terminate`): no suspension holds its threads any more.
    killed: AtomicBool,
    itk_self: spin::Once<PortRef>,
    /// The task's exception ports (`task_set_exception_ports`), inherited by children.
    pub exc_actions: crate::kern::exception::ExceptionActions,
    /// Kernel heap bytes held by messages this task sent that are still in flight
    /// (`ipc_kmsg::KmsgCharge`).
    pub ipc_kmsg_bytes: Arc<core::sync::atomic::AtomicUsize>,
    /// Semaphores this task created; they die with it (XNU `semaphore_list`).
    semaphores: SimpleLock<Vec<Arc<crate::kern::sync_sema::Semaphore>>>,
    /// User and system time of the task's threads that have ended (`mach_absolute_time`
    /// ticks), for `task_info`.
    dead_times: [AtomicU64; 2],
    /// Special ports set with `task_set_special_port`, by id (`TASK_BOOTSTRAP_PORT`…); a
    /// child inherits them at fork and spawn, as on XNU.
    itk_special: SimpleLock<[Option<SendRight>; TASK_SPECIAL_PORT_SLOTS]>,
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
        Ok(Task::build(Some(VmMap::new(pmap))))
    }

    /// A child of `parent` for `fork`: its address space is `vm_map_fork` of the parent's
    /// (copy-on-write, shared or absent per each region's inheritance); its port space is
    /// new and empty; it has no threads yet.
    pub fn fork(parent: &Task) -> Result<TaskRef, KernReturn> {
        let parent_map = parent.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
        let child_pmap = crate::vm::pmap::MachinePmap::new(Pmap::create()?);
        let map =
            crate::vm::vm_map::vm_map_fork(&mut parent_map.write(), alloc::boxed::Box::new(child_pmap))?;
        let child = Task::build(Some(map));
        child.inherit_special_ports(parent);
        Ok(child)
    }

    /// Copy `parent`'s special ports (bootstrap and the rest) and exception ports into this
    /// new task, as XNU's fork and spawn do.
    pub fn inherit_special_ports(&self, parent: &Task) {
        self.exc_actions.inherit_from(&parent.exc_actions);
        let copies: [Option<SendRight>; TASK_SPECIAL_PORT_SLOTS] =
            core::array::from_fn(|i| parent.itk_special.lock()[i].as_ref().map(SendRight::copy));
        let old = core::mem::replace(&mut *self.itk_special.lock(), copies);
        drop(old);
    }

    /// A send right for special port `which` (`task_get_special_port`): the task's own port
    /// and the host port are fixed, the others are whatever was set (None if nothing).
    pub fn get_special_port(self: &Arc<Self>, which: i32) -> Result<Option<SendRight>, KernReturn> {
        match which {
            TASK_KERNEL_PORT | TASK_NAME_PORT => Ok(Some(self.self_port().make_send())),
            TASK_HOST_PORT => Ok(Some(crate::kern::host::host_port().make_send())),
            _ => {
                let slot = special_slot(which)?;
                Ok(self.itk_special.lock()[slot].as_ref().map(SendRight::copy))
            }
        }
    }

    /// Set special port `which` to `right` (None clears it); the old right is released. The
    /// task's own port and the host port cannot be replaced (`KERN_INVALID_ARGUMENT`).
    pub fn set_special_port(&self, which: i32, right: Option<SendRight>) -> Result<(), KernReturn> {
        if matches!(which, TASK_KERNEL_PORT | TASK_NAME_PORT | TASK_HOST_PORT) {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        let slot = special_slot(which)?;
        let old = core::mem::replace(&mut self.itk_special.lock()[slot], right);
        drop(old);
        Ok(())
    }

    /// Replace the address space (exec): the new map becomes current on this CPU if the
    /// caller is one of this task's threads, and the old one is torn down.
    pub fn replace_map(&self, mut new: VmMap) -> Result<(), KernReturn> {
        let map = self.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
        let ttbr = new.pmap_mut().ttbr();
        let (old, old_ttbr) = {
            let mut guard = map.write();
            let old = core::mem::replace(&mut *guard, new);
            // Map and TTBR0 source change together: from here a switch into the task loads
            // the new tables. The old ones stay until `old` drops below, after this CPU has
            // left them; no other CPU may still run on them by then (spawn's task has no
            // thread yet; exec must have its other threads off CPU, not only told to end).
            (old, self.ttbr.set(ttbr))
        };
        // Only a thread of this task runs on its address space; anyone else (the kernel
        // building a first process, a parent spawning a child) must keep its own.
        if core::ptr::eq(sched_prim::current_thread().task.as_ref(), self) {
            self.activate();
        }
        drop(old_ttbr);
        drop(old);
        Ok(())
    }

    /// Virtual size and resident pages of the address space (`task_info` basic).
    pub fn vm_sizes(&self) -> (u64, u64) {
        self.map.as_ref().map_or((0, 0), |m| {
            let m = m.read();
            (m.virtual_size(), m.resident_pages())
        })
    }

    fn build(mut map: Option<VmMap>) -> TaskRef {
        let ttbr = map.as_mut().and_then(|m| m.pmap_mut().ttbr());
        let task = Arc::new(Task {
            task_id: NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed),
            map: map.map(VmMapLock::new),
            ttbr: TtbrSlot::new(ttbr),
            itk_space: IpcSpace::with_limit(TASK_IPC_SPACE_MAX),
            threads: SimpleLock::new(&lock_order::TASK_THREADS, Vec::new()),
            thread_gone: crate::kern::waitq::WaitQueue::new(),
            ending: AtomicU32::new(0),
            halting: AtomicBool::new(false),
            suspend_count: AtomicU32::new(0),
            killed: AtomicBool::new(false),
            itk_self: spin::Once::new(),
            itk_special: SimpleLock::new(&lock_order::TASK_SPECIAL_PORTS, Default::default()),
            dead_times: [AtomicU64::new(0), AtomicU64::new(0)],
            semaphores: SimpleLock::new(&lock_order::TASK_SEMAPHORES, Vec::new()),
            ipc_kmsg_bytes: Arc::new(core::sync::atomic::AtomicUsize::new(0)),
            exc_actions: Default::default(),
            bsd_info: spin::Once::new(),
        });
        // Notifications queued on the task's ports are charged to the task.
        task.itk_space.set_kmsg_counter(task.ipc_kmsg_bytes.clone());
        task
    }

    /// `t` joins the task; false (and it does not) while an exec ends the task's threads.
    pub(crate) fn add_thread(&self, t: &ThreadRef) -> bool {
        let mut threads = self.threads.lock();
        if self.halting.load(Ordering::Acquire) {
            return false;
        }
        threads.retain(|w| w.strong_count() > 0);
        threads.push(Arc::downgrade(t));
        true
    }

    /// Claim the right to end every other thread (exec): false if another thread of the
    /// task already has it. New threads are refused until [`end_halt`](Task::end_halt).
    pub(crate) fn begin_halt(&self) -> bool {
        let _threads = self.threads.lock();
        self.halting.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The halt is over (the others have ended): threads may be created again.
    pub(crate) fn end_halt(&self) {
        self.halting.store(false, Ordering::Release);
    }

    /// An ended thread of the task is off its CPU now (`thread_dispatch`).
    pub(crate) fn thread_ended_off_cpu(&self) {
        self.ending.fetch_sub(1, Ordering::AcqRel);
        self.thread_gone.wakeup_all();
    }

    /// Threads that have left the list but may still be on a CPU.
    pub(crate) fn threads_ending(&self) -> u32 {
        self.ending.load(Ordering::Acquire)
    }

    /// The task's live threads.
    pub fn threads(&self) -> Vec<ThreadRef> {
        self.threads.lock().iter().filter_map(Weak::upgrade).collect()
    }

    /// `t` is ending: it leaves the task's list. True if it was the last thread — no other
    /// started or yet-to-start thread is left. Decided under the list's lock, so of threads
    /// ending together exactly one is the last (XNU's `task->active_thread_count`).
    pub(crate) fn remove_thread(&self, t: &Thread) -> bool {
        let mut threads = self.threads.lock();
        // Until `thread_dispatch` sees it off its CPU (`thread_ended_off_cpu`).
        self.ending.fetch_add(1, Ordering::AcqRel);
        threads.retain(|w| w.strong_count() > 0 && !core::ptr::eq(w.as_ptr(), t));
        threads.is_empty()
    }

    /// `task_suspend` nesting count.
    pub fn suspend_count(&self) -> u32 {
        self.suspend_count.load(Ordering::Acquire)
    }

    /// The task is being killed: from now on no suspension — of the task or of any of its
    /// threads, made before or after — keeps a thread from running to the AST that ends it
    /// (a thread that suspended itself, a stopped process, `task_suspend` by anyone).
    pub fn mark_killed(&self) {
        self.killed.store(true, Ordering::Release);
        for t in self.threads() {
            sched_prim::thread_wakeup_suspended(&t);
        }
    }

    /// Has [`mark_killed`](Task::mark_killed) been called?
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Suspend every thread of the task once more (`task_suspend`). Returns once every
    /// thread but the caller is off its CPU (XNU's `task_hold` + `task_wait`).
    pub fn suspend(&self) {
        self.suspend_count.fetch_add(1, Ordering::AcqRel);
        for t in self.threads() {
            sched_prim::thread_ast_post(&t);
        }
        let me = sched_prim::current_thread();
        for t in self.threads().iter().filter(|t| !Arc::ptr_eq(t, &me)) {
            sched_prim::thread_wait(t);
        }
    }

    /// Undo one `task_suspend`; the threads run again when the count reaches zero.
    pub fn resume(&self) -> Result<(), KernReturn> {
        let prev = self
            .suspend_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1))
            .map_err(|_| KernReturn::KERN_FAILURE)?;
        if prev == 1 {
            for t in self.threads() {
                sched_prim::thread_wakeup_suspended(&t);
            }
        }
        Ok(())
    }

    /// Create a semaphore owned by this task (`semaphore_create`).
    pub fn semaphore_create(
        &self,
        policy: u32,
        value: i32,
    ) -> Result<Arc<crate::kern::sync_sema::Semaphore>, KernReturn> {
        /// Most semaphores one task may own: each costs kernel memory.
        const TASK_SEMAPHORES_MAX: usize = 4096;
        if !crate::kern::budget::user_port_allowed() {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        let sem = crate::kern::sync_sema::Semaphore::create(policy, value)?;
        let mut list = self.semaphores.lock();
        if list.len() >= TASK_SEMAPHORES_MAX {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        list.push(sem.clone());
        Ok(sem)
    }

    /// Destroy a semaphore this task owns (`semaphore_destroy`); `KERN_INVALID_RIGHT` if it
    /// belongs to another task.
    pub fn semaphore_destroy(&self, sem: &Arc<crate::kern::sync_sema::Semaphore>) -> Result<(), KernReturn> {
        let found = {
            let mut list = self.semaphores.lock();
            let at = list.iter().position(|s| Arc::ptr_eq(s, sem)).ok_or(KernReturn::KERN_INVALID_RIGHT)?;
            list.swap_remove(at)
        };
        found.destroy();
        Ok(())
    }

    /// A thread of this task ended having used `user` and `system` ticks.
    pub fn note_thread_ended(&self, user: u64, system: u64) {
        self.dead_times[0].fetch_add(user, Ordering::Relaxed);
        self.dead_times[1].fetch_add(system, Ordering::Relaxed);
    }

    /// `task_info(flavor)` as `natural_t` words (reference §8.1): `MACH_TASK_BASIC_INFO`,
    /// `TASK_BASIC_INFO_64_2`, `TASK_THREAD_TIMES_INFO` and `TASK_AUDIT_TOKEN`. A `count`
    /// smaller than the flavor's is `KERN_INVALID_ARGUMENT`, an unknown flavor too.
    pub fn task_info(&self, flavor: u32, count: u32) -> Result<Vec<u32>, KernReturn> {
        use crate::kern::thread_act::time_value;
        use mach::info::{
            MACH_TASK_BASIC_INFO, MACH_TASK_BASIC_INFO_COUNT, POLICY_TIMESHARE, TASK_AUDIT_TOKEN,
            TASK_AUDIT_TOKEN_COUNT, TASK_BASIC_INFO_64_2, TASK_BASIC_INFO_64_2_COUNT, TASK_THREAD_TIMES_INFO,
            TASK_THREAD_TIMES_INFO_COUNT,
        };
        let need = match flavor {
            TASK_THREAD_TIMES_INFO => TASK_THREAD_TIMES_INFO_COUNT,
            TASK_AUDIT_TOKEN => TASK_AUDIT_TOKEN_COUNT,
            TASK_BASIC_INFO_64_2 => TASK_BASIC_INFO_64_2_COUNT,
            MACH_TASK_BASIC_INFO => MACH_TASK_BASIC_INFO_COUNT,
            _ => return Err(KernReturn::KERN_INVALID_ARGUMENT),
        };
        if count < need {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        let live = self.threads().iter().map(|t| t.sched.times()).fold((0, 0), |a, t| (a.0 + t.0, a.1 + t.1));
        let dead = (self.dead_times[0].load(Ordering::Relaxed), self.dead_times[1].load(Ordering::Relaxed));
        let (vsize, pages) = self.vm_sizes();
        let resident = pages * crate::vm::vm_page::PAGE_SIZE;
        let split = |v: u64| [v as u32, (v >> 32) as u32];
        let mut w = Vec::with_capacity(need as usize);
        match flavor {
            TASK_THREAD_TIMES_INFO => {
                w.extend_from_slice(&time_value(live.0));
                w.extend_from_slice(&time_value(live.1));
            }
            TASK_AUDIT_TOKEN => {
                let token = crate::kern::exception::bsd_hooks().and_then(|h| h.audit_token(self));
                w.extend_from_slice(&token.unwrap_or([0; 8]));
            }
            TASK_BASIC_INFO_64_2 => {
                w.push(self.suspend_count());
                w.extend_from_slice(&split(vsize));
                w.extend_from_slice(&split(resident));
                w.extend_from_slice(&time_value(dead.0));
                w.extend_from_slice(&time_value(dead.1));
                w.push(POLICY_TIMESHARE);
            }
            _ => {
                w.extend_from_slice(&split(vsize));
                w.extend_from_slice(&split(resident));
                w.extend_from_slice(&split(resident));
                w.extend_from_slice(&time_value(dead.0));
                w.extend_from_slice(&time_value(dead.1));
                w.push(POLICY_TIMESHARE);
                w.push(self.suspend_count());
            }
        }
        Ok(w)
    }

    /// Install this task's address space in TTBR0 (the context switch): from its `ttbr` slot,
    /// never through the map's lock, which the thread switched away from may hold.
    pub fn activate(&self) {
        self.ttbr.activate(EMPTY_USER_ROOT.get().copied());
    }

    /// `f` on the task's address space, write-locked for `f` only.
    /// `KERN_INVALID_TASK` (or its errno) for a task without one: the kernel task.
    pub fn with_map<R, E: From<KernReturn>>(
        &self,
        f: impl FnOnce(&mut VmMap) -> Result<R, E>,
    ) -> Result<R, E> {
        let map = self.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
        f(&mut map.write())
    }

    /// `f` on the task's address space, read-locked; as [`Task::with_map`].
    pub fn with_map_read<R, E: From<KernReturn>>(
        &self,
        f: impl FnOnce(&VmMap) -> Result<R, E>,
    ) -> Result<R, E> {
        let map = self.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
        f(&map.read())
    }

    /// The task's kernel port (what `task_self_trap` hands out a send right to).
    pub fn self_port(self: &Arc<Self>) -> PortRef {
        self.itk_self.call_once(|| ipc_kobject_alloc_port(self)).clone()
    }

    /// Tear the task down: every thread is asked to terminate, and its rights and address
    /// space go now, even if references to the `Task` itself (from ports, BSD or its dying
    /// threads) linger a little longer. The caller's own thread, if it is one of them,
    /// must end itself next (`thread_terminate_self`).
    pub fn terminate(&self) {
        self.mark_killed();
        for t in self.threads() {
            sched_prim::thread_terminate(&t);
        }
        self.itk_space.destroy();
        let special = core::mem::take(&mut *self.itk_special.lock());
        drop(special);
        self.exc_actions.clear();
        let semaphores = core::mem::take(&mut *self.semaphores.lock());
        for sem in semaphores {
            sem.destroy();
        }
        if let Some(p) = self.itk_self.get() {
            p.destroy();
        }
        if let Some(map) = &self.map {
            map.write().deallocate_all();
        }
    }
}
