//! Processes: `proc` wraps exactly one Mach task (XNU's `bsd_info` link, both ways), and
//! owns BSD identity: pid, parent, credentials, descriptors, pending signals, exit status.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use osfmk::kern::locks::SpinLock;
use osfmk::kern::sched_prim::current_thread;
use osfmk::kern::task::TaskRef;

use crate::kern::kern_descrip::FileDesc;

/// A process id.
pub type Pid = i32;

/// Credentials (`ucred`): real, effective and saved ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ucred {
    pub uid: u32,
    pub ruid: u32,
    pub svuid: u32,
    pub gid: u32,
    pub rgid: u32,
    pub svgid: u32,
}

/// Life-cycle state (`p_stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// SRUN: alive.
    Run,
    /// SZOMB: exited; holds the wait status until reaped.
    Zombie(i32),
}

/// A BSD process.
pub struct Proc {
    pub p_pid: Pid,
    pub p_ppid: Pid,
    /// Command name (basename of the executable).
    pub p_comm: String,
    /// The task this process wraps.
    pub task: TaskRef,
    pub p_ucred: SpinLock<Ucred>,
    pub p_fd: SpinLock<FileDesc>,
    pub p_stat: SpinLock<ProcState>,
    /// Pending signals (process-wide), a `sigset_t`.
    pub p_siglist: AtomicU32,
    /// Nice value (`setpriority`), −20..=20.
    pub p_nice: AtomicI32,
    /// libpthread's thread entry point and TSD offset (`bsdthread_register`).
    pub p_threadstart: AtomicU64,
    pub p_pth_tsd_offset: AtomicU64,
}

/// The process table: pid → proc.
static ALLPROC: SpinLock<BTreeMap<Pid, Arc<Proc>>> = SpinLock::new(BTreeMap::new());

impl Proc {
    /// Create a process around `task` and link them both ways.
    pub fn create(pid: Pid, ppid: Pid, comm: &str, task: TaskRef, cred: Ucred, fd: FileDesc) -> Arc<Proc> {
        let p = Arc::new(Proc {
            p_pid: pid,
            p_ppid: ppid,
            p_comm: String::from(comm),
            task: task.clone(),
            p_ucred: SpinLock::new(cred),
            p_fd: SpinLock::new(fd),
            p_stat: SpinLock::new(ProcState::Run),
            p_siglist: AtomicU32::new(0),
            p_nice: AtomicI32::new(0),
            p_threadstart: AtomicU64::new(0),
            p_pth_tsd_offset: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&p);
        task.bsd_info.call_once(|| alloc::boxed::Box::new(weak));
        ALLPROC.lock().insert(pid, p.clone());
        p
    }

    /// The process a task belongs to (`get_bsdtask_info`).
    pub fn from_task(task: &TaskRef) -> Option<Arc<Proc>> {
        task.bsd_info.get()?.downcast_ref::<Weak<Proc>>()?.upgrade()
    }

    /// Post `sig` (delivered on the way back to user mode).
    pub fn post_signal(&self, sig: u32) {
        if (1..sys::signal::NSIG).contains(&sig) {
            self.p_siglist.fetch_or(sys::signal::sigmask(sig), Ordering::SeqCst);
        }
    }
}

/// The process of the running thread, if it has one (kernel threads of pid 0 do too).
pub fn current_proc() -> Option<Arc<Proc>> {
    Proc::from_task(&current_thread().task)
}

/// Look a process up by pid.
pub fn proc_find(pid: Pid) -> Option<Arc<Proc>> {
    ALLPROC.lock().get(&pid).cloned()
}

/// Every live process, for calls that act on a set of them (`setpriority(PRIO_USER)`).
pub fn allproc() -> alloc::vec::Vec<Arc<Proc>> {
    ALLPROC.lock().values().cloned().collect()
}
