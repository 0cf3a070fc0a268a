//! Processes: `proc` wraps exactly one Mach task (XNU's `bsd_info` link, both ways), and
//! owns BSD identity: pid, parent, process group and session, credentials, descriptors,
//! working and root directories, signal actions and pending signals, exit status. `Uthread`
//! is BSD's per-thread part (signal mask and per-thread pending set, its own working
//! directory), hung off the Mach thread.
//!
//! Locks, in order: the process table (`ALLPROC`) → a proc's `p_sigacts` → its
//! `p_signals` → a thread's `Uthread::sig`; `p_fd`, `p_ucred`, `p_comm`, `p_fd_dirs` and a
//! thread's `uu_cdir` are leaves.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use osfmk::kern::lock_order;
use osfmk::kern::locks::{SimpleLock, SimpleLockGuard};
use osfmk::kern::sched_prim::current_thread;
use osfmk::kern::task::TaskRef;
use osfmk::kern::thread::ThreadRef;
use sys::Errno;

use crate::kern::kern_credential::CredGroups;
use crate::kern::kern_descrip::FileDesc;
use crate::kern::kern_pgrp::PgrpTable;
use crate::kern::kern_pid::PidAllocator;
use crate::kern::kern_sendsig::SigOrigin;
use crate::kern::kern_sigacts::Sigacts;
use crate::kern::kern_sigstate::{ProcSignals, SigState};
use crate::vfs::vfs_lookup::VfsContext;
use crate::vfs::vnode::{KauthCred, VnodeUse};

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
    /// The supplementary groups; the effective group is `gid`, first in the list.
    pub groups: CredGroups,
}

impl Ucred {
    /// What file permissions look at: the effective ids.
    pub fn kauth(&self) -> KauthCred {
        KauthCred { groups: self.groups, ..KauthCred::new(self.uid, self.gid) }
    }
}

/// A process's working and root directories and file-creation mask (XNU keeps them in the
/// `filedesc` as `fd_cdir`, `fd_rdir` and `fd_cmask`). `None` means the system root
/// (`rootvnode`): a process that never called `chdir` or `chroot` starts there, as init
/// does. Fork and spawn copy all three; exec keeps them.
#[derive(Clone)]
pub struct FdDirs {
    pub cdir: Option<VnodeUse>,
    pub rdir: Option<VnodeUse>,
    /// Permission bits taken away from every file, directory and link the process makes
    /// (`umask`); `CMASK` (022) at first.
    pub fd_cmask: u16,
}

impl Default for FdDirs {
    fn default() -> FdDirs {
        FdDirs { cdir: None, rdir: None, fd_cmask: sys::fcntl::CMASK }
    }
}

/// Life-cycle state (`p_stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// SIDL: being made by fork or spawn; its thread has not been started yet.
    Idle,
    /// SRUN: alive (possibly stopped: see `ProcSignals::stopped`).
    Run,
    /// SZOMB: exited; holds the wait status until reaped.
    Zombie(i32),
}

/// A stop or continue the parent has not collected with `wait4` yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReport {
    Stopped(u32),
    Continued,
}

/// A BSD process.
pub struct Proc {
    pub p_pid: Pid,
    p_ppid: AtomicI32,
    /// Command name (basename of the executable).
    pub p_comm: SimpleLock<String>,
    /// The task this process wraps.
    pub task: TaskRef,
    pub p_ucred: SimpleLock<Ucred>,
    pub p_fd: SimpleLock<FileDesc>,
    /// Working and root directories. A reader-writer spin lock held only to clone or swap
    /// a pointer: every relative lookup reads it, `chdir` and `chroot` write it.
    pub p_fd_dirs: spin::RwLock<FdDirs>,
    pub p_stat: SimpleLock<ProcState>,
    /// Changed its ids with set*id (`issetugid`).
    pub p_sugid: AtomicBool,
    /// Signal actions, and the process-wide pending set and stop state.
    pub p_sigacts: SimpleLock<Sigacts>,
    pub p_signals: SimpleLock<ProcSignals>,
    /// Who sent the last signal that has no fault to describe it (siginfo's sender fields).
    pub p_sigorigin: SimpleLock<SigOrigin>,
    /// A stop or continue not yet reported to the parent.
    pub p_jobreport: SimpleLock<Option<JobReport>>,
    /// Nice value (`setpriority`), −20..=20.
    pub p_nice: AtomicI32,
    /// libpthread's thread entry point and TSD offset (`bsdthread_register`).
    pub p_threadstart: AtomicU64,
    pub p_pth_tsd_offset: AtomicU64,
    /// CPU time of this process's threads that have ended (user, system), counter ticks.
    pub p_ru: SimpleLock<(u64, u64)>,
    /// CPU time of reaped children, theirs included (`RUSAGE_CHILDREN`).
    pub p_cru: SimpleLock<(u64, u64)>,
    /// Resource limits (`p_limit`).
    pub p_rlimit: SimpleLock<crate::kern::kern_rlimit::Rlimits>,
    /// When it was created (wall clock), for `ps`.
    pub p_start: sys::time::Timeval,
    /// `exit1` has begun (XNU's `P_LEXIT`): the first caller does the exit, any later one
    /// (another thread exiting, a fatal signal, the last thread ending) only ends its thread.
    pub p_lexit: AtomicBool,
    /// The parent's `wait4` sleeps here; a child's exit, stop or continue wakes it.
    pub p_waitq: osfmk::kern::waitq::WaitQueue,
}

/// The process table: pid → proc.
static ALLPROC: SimpleLock<BTreeMap<Pid, Arc<Proc>>> = SimpleLock::new(&lock_order::ALLPROC, BTreeMap::new());
/// Process groups and sessions (taken after `ALLPROC` when both are needed).
static PGRPS: SimpleLock<PgrpTable> = SimpleLock::new(&lock_order::PGRPS, PgrpTable::new_const());

/// Where a new process goes for job control.
pub enum Membership {
    /// A process made at boot: it leads a new session and group of its own id.
    Leader,
    /// A child of `parent` (fork, spawn): it joins the parent's group and session.
    ChildOf(Pid),
}

/// The process-group table, locked.
pub fn pgrps() -> SimpleLockGuard<'static, PgrpTable> {
    PGRPS.lock()
}
static PIDS: SimpleLock<Option<PidAllocator>> = SimpleLock::new(&lock_order::PIDS, None);

impl Proc {
    /// Create a process around `task`, link them both ways, and enter it in the table.
    pub fn create(pid: Pid, ppid: Pid, comm: &str, task: TaskRef, cred: Ucred, fd: FileDesc) -> Arc<Proc> {
        let p = Proc::create_from(pid, ppid, comm, task, cred, fd, Sigacts::new(), Membership::Leader);
        p.set_running();
        p
    }

    /// Creation is complete and its first thread is about to start: SIDL → SRUN.
    pub fn set_running(&self) {
        let mut st = self.p_stat.lock();
        if *st == ProcState::Idle {
            *st = ProcState::Run;
        }
    }

    /// `create` with inherited signal actions, in a process group and session.
    #[allow(clippy::too_many_arguments)]
    pub fn create_from(
        pid: Pid,
        ppid: Pid,
        comm: &str,
        task: TaskRef,
        cred: Ucred,
        fd: FileDesc,
        sigacts: Sigacts,
        membership: Membership,
    ) -> Arc<Proc> {
        let p = Arc::new(Proc {
            p_pid: pid,
            p_ppid: AtomicI32::new(ppid),
            p_comm: SimpleLock::new(&lock_order::PROC_COMM, String::from(comm)),
            task: task.clone(),
            p_ucred: SimpleLock::new(&lock_order::PROC_UCRED, cred),
            p_fd: SimpleLock::new(&lock_order::PROC_FD, fd),
            p_fd_dirs: spin::RwLock::new(FdDirs::default()),
            p_stat: SimpleLock::new(&lock_order::PROC_STAT, ProcState::Idle),
            p_sugid: AtomicBool::new(false),
            p_lexit: AtomicBool::new(false),
            p_sigacts: SimpleLock::new(&lock_order::PROC_SIGACTS, sigacts),
            p_signals: SimpleLock::new(&lock_order::PROC_SIGNALS, ProcSignals::new()),
            p_sigorigin: SimpleLock::new(&lock_order::PROC_SIGORIGIN, SigOrigin::default()),
            p_jobreport: SimpleLock::new(&lock_order::PROC_JOBREPORT, None),
            p_nice: AtomicI32::new(0),
            p_threadstart: AtomicU64::new(0),
            p_pth_tsd_offset: AtomicU64::new(0),
            p_ru: SimpleLock::new(&lock_order::PROC_RUSAGE, (0, 0)),
            p_cru: SimpleLock::new(&lock_order::PROC_RUSAGE, (0, 0)),
            p_rlimit: SimpleLock::new(&lock_order::PROC_RLIMIT, crate::kern::kern_rlimit::default_rlimits()),
            p_start: crate::kern::kern_time::microtime().0,
            p_waitq: osfmk::kern::waitq::WaitQueue::new(),
        });
        let weak = Arc::downgrade(&p);
        task.bsd_info.call_once(|| alloc::boxed::Box::new(weak));
        let mut procs = ALLPROC.lock();
        let joined = match membership {
            Membership::Leader => PGRPS.lock().insert_leader(pid, ppid),
            Membership::ChildOf(parent) => PGRPS.lock().fork(parent, pid),
        };
        // Pids come from `pid_alloc`, which skips every id the table knows: a clash is a bug.
        assert!(joined.is_ok(), "proc {pid}: process group table out of step");
        procs.insert(pid, p.clone());
        p
    }

    /// The process a task belongs to (`get_bsdtask_info`).
    pub fn from_task(task: &TaskRef) -> Option<Arc<Proc>> {
        task.bsd_info.get()?.downcast_ref::<Weak<Proc>>()?.upgrade()
    }

    /// Parent pid (init's after the parent died).
    pub fn ppid(&self) -> Pid {
        self.p_ppid.load(Ordering::Acquire)
    }

    pub(crate) fn set_ppid(&self, ppid: Pid) {
        self.p_ppid.store(ppid, Ordering::Release);
    }

    /// Process group id.
    pub fn pgrp(&self) -> Pid {
        PGRPS.lock().getpgid(self.p_pid, self.p_pid).unwrap_or(self.p_pid)
    }

    /// Session id.
    pub fn session(&self) -> Pid {
        PGRPS.lock().getsid(self.p_pid, self.p_pid).unwrap_or(self.p_pid)
    }

    /// The command name, for messages.
    pub fn comm(&self) -> String {
        self.p_comm.lock().clone()
    }

    /// Has it exited?
    pub fn is_zombie(&self) -> bool {
        matches!(*self.p_stat.lock(), ProcState::Zombie(_))
    }

    /// CPU time of the threads still running, counter ticks (user, system).
    pub fn live_thread_times(&self) -> (u64, u64) {
        self.threads().iter().filter(|t| !osfmk::kern::sched_prim::terminate_requested(t)).fold(
            (0, 0),
            |(u, s), t| {
                let (tu, ts) = t.sched.times();
                (u + tu, s + ts)
            },
        )
    }

    /// This process's own CPU time: live threads and ended ones (`RUSAGE_SELF`).
    pub fn cpu_times(&self) -> (u64, u64) {
        let (u, s) = self.live_thread_times();
        let ended = *self.p_ru.lock();
        (u + ended.0, s + ended.1)
    }

    /// Thread `t` is ending: keep its CPU time with the process.
    pub fn thread_ended(&self, t: &osfmk::kern::thread::Thread) {
        let (u, s) = t.sched.times();
        let mut ru = self.p_ru.lock();
        ru.0 += u;
        ru.1 += s;
    }

    /// Its live threads.
    pub fn threads(&self) -> Vec<ThreadRef> {
        self.task.threads()
    }

    /// The directories a child made by the calling thread starts with (fork, spawn): this
    /// process's, except that the thread's own working directory (`__pthread_chdir`), if it
    /// has one, becomes the child's process working directory, as in XNU's `fork`.
    pub fn dirs_for_child(&self) -> FdDirs {
        let mut dirs = self.p_fd_dirs.read().clone();
        if let Some(thread_cdir) = uthread(&current_thread()).uu_cdir.read().clone() {
            dirs.cdir = Some(thread_cdir);
        }
        dirs
    }

    /// The VFS context of a call the running thread makes for this process (XNU's
    /// `vfs_context_current`): the effective credential, the thread's working directory if
    /// it set one and the process's otherwise, and the process's root. No root file system
    /// (before boot has made one): `ENOENT`.
    pub fn vfs_context(&self) -> Result<VfsContext, Errno> {
        let system_root = crate::kern::bsd_init::rootvnode().ok_or(Errno::ENOENT)?;
        // Short-term references for the call: the long-term uses stay where they are.
        let (rdir, cdir, cmask) = {
            let dirs = self.p_fd_dirs.read();
            (dirs.rdir.as_deref().cloned(), dirs.cdir.as_deref().cloned(), dirs.fd_cmask)
        };
        let cred = self.p_ucred.lock().kauth();
        let thread_cdir = uthread(&current_thread()).uu_cdir.read().as_deref().cloned();
        let rdir = rdir.unwrap_or_else(|| system_root.clone());
        let cdir = thread_cdir.or(cdir).unwrap_or(system_root);
        let mut ctx = VfsContext::new(cred, rdir, cdir);
        ctx.cmask = cmask;
        Ok(ctx)
    }
}

/// BSD's per-thread state (`uthread`).
pub struct Uthread {
    /// Mask, thread-pending set, alternate stack, sigreturn token.
    pub sig: SimpleLock<SigState>,
    /// The exception that raised the pending fault signal: (FAR, ESR), for siginfo.
    pub fault: SimpleLock<(u64, u64)>,
    /// This thread's own working directory (`__pthread_chdir`), which its relative lookups
    /// use instead of the process's; a new thread starts without one.
    pub uu_cdir: spin::RwLock<Option<VnodeUse>>,
}

impl Default for Uthread {
    fn default() -> Uthread {
        Uthread {
            sig: SimpleLock::new(&lock_order::UTHREAD_SIG, SigState::default()),
            fault: SimpleLock::new(&lock_order::UTHREAD_FAULT, (0, 0)),
            uu_cdir: spin::RwLock::new(None),
        }
    }
}

/// The BSD half of thread `t` (made on first use).
pub fn uthread(t: &ThreadRef) -> &Uthread {
    let any = t.uthread.call_once(|| alloc::boxed::Box::new(Uthread::default()));
    // Only this module stores into `uthread`, always a `Uthread`.
    any.downcast_ref::<Uthread>().expect("uthread holds a Uthread")
}

/// The process of the running thread, if it has one (kernel threads of pid 0 do too).
pub fn current_proc() -> Option<Arc<Proc>> {
    Proc::from_task(&current_thread().task)
}

/// Look a process up by pid.
pub fn proc_find(pid: Pid) -> Option<Arc<Proc>> {
    ALLPROC.lock().get(&pid).cloned()
}

/// Every process (live and zombie).
pub fn allproc() -> Vec<Arc<Proc>> {
    ALLPROC.lock().values().cloned().collect()
}

/// The process table, locked (wait4 and exit change parentage and state under it).
pub fn allproc_lock() -> SimpleLockGuard<'static, BTreeMap<Pid, Arc<Proc>>> {
    ALLPROC.lock()
}

/// A fresh pid: increasing, wrapping at PID_MAX, never one in use as a pid, process group
/// or session (XNU's `forkproc` rule).
pub fn pid_alloc() -> Result<Pid, Errno> {
    let procs = ALLPROC.lock();
    let mut pids = PIDS.lock();
    let allocator = pids.get_or_insert_with(PidAllocator::new);
    let groups = PGRPS.lock();
    allocator.alloc(|pid| procs.contains_key(&pid) || groups.id_in_use(pid))
}
