//! `fork` (XNU's `kern_fork.c`): a new process around a new Mach task whose address space is
//! `vm_map_fork` of the parent's (copy-on-write), with one thread — a copy of the caller —
//! and copies of the parent's descriptors (sharing open file descriptions), signal actions
//! and mask, credentials, process group and session, working and root directories.
//!
//! Darwin's return convention: the parent gets x0 = child pid, x1 = 0; the child x0 = its
//! own pid, x1 = 1 (Libsyscall's stub tests x1).

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use osfmk::arm64::trapframe::TrapFrame;
use osfmk::kern::sched_prim::{current_thread, thread_setrun};
use osfmk::kern::task::Task;
use osfmk::kern::thread_act::thread_dup;
use sys::Errno;
use sys::trap::PSR64_CF;

use crate::kern::kern_proc::{Membership, Pid, Proc, pid_alloc, uthread};

/// Most processes at once (XNU's `maxproc` is larger; ours is a round number that keeps a
/// fork bomb from eating the kernel heap).
pub const MAXPROC: usize = 1000;

/// Fork the calling process. Returns the child's pid.
pub fn fork1(p: &Arc<Proc>, frame: &TrapFrame) -> Result<Pid, Errno> {
    crate::kern::kern_rlimit::check_nproc(p)?;
    let pid = pid_alloc()?;
    let task = Task::fork(&p.task).map_err(|_| Errno::ENOMEM)?;
    let mut child_frame = *frame;
    child_frame.x[0] = pid as u64;
    child_frame.x[1] = 1;
    child_frame.spsr &= !PSR64_CF;
    let thread = thread_dup(task.clone(), &child_frame).ok_or(Errno::ENOMEM)?;
    let parent_thread = current_thread();
    // One thread's signal lock at a time: two of one class never nest.
    let inherited = uthread(&parent_thread).sig.lock().inherit();
    *uthread(&thread).sig.lock() = inherited;
    // Copy out under each lock in turn, then create the child (which takes the table lock).
    let (comm, cred) = (p.comm(), *p.p_ucred.lock());
    let fds = p.p_fd.lock().fork_copy();
    let sigacts = p.p_sigacts.lock().fork_copy();
    let child =
        Proc::create_from(pid, p.p_pid, &comm, task, cred, fds, sigacts, Membership::ChildOf(p.p_pid));
    let limits = *p.p_rlimit.lock();
    *child.p_rlimit.lock() = limits;
    *child.p_fd_dirs.write() = p.dirs_for_child();
    child.p_nice.store(p.p_nice.load(Ordering::Relaxed), Ordering::Relaxed);
    // A set-id taint goes with the child, as XNU's fork copies P_SUGID.
    child.p_sugid.store(p.p_sugid.load(Ordering::Relaxed), Ordering::Relaxed);
    child.p_threadstart.store(p.p_threadstart.load(Ordering::Relaxed), Ordering::Relaxed);
    child.p_pth_tsd_offset.store(p.p_pth_tsd_offset.load(Ordering::Relaxed), Ordering::Relaxed);
    child.set_running();
    thread_setrun(thread);
    Ok(pid)
}
