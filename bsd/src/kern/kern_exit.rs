//! Process exit (XNU's `exit1` / `proc_exit`): record the status, close descriptors, tear
//! down the task's threads, rights and memory, hand the children to init, tell the parent
//! (SIGCHLD and a wakeup of its `wait4`), and end the calling thread.
//!
//! When init dies there is nothing left to run: XNU panics ("initproc exited"); we report it
//! and power off cleanly, which is what a person at `make run` — and the boot tests — want.

use alloc::sync::Arc;

use osfmk::kern::sched_prim;
use sys::signal::{SIGCHLD, signal_name};
use sys::wait::{WCOREFLAG, wexitstatus, wifexited, wtermsig};

use crate::kern::bsd_init::platform;
use crate::kern::kern_proc::{Proc, ProcState, allproc_lock, pgrps};
use crate::kern::kern_wait::sigchld_origin;

/// The pid of init.
pub const INITPROC_PID: i32 = 1;

/// End process `p` (the caller's own) with wait status `status`. Every thread, the caller's
/// included, is asked to terminate; the caller returns, drops what it holds, and ends on
/// its way back to user mode (terminating here, with references still on this stack,
/// would leak the process, its task and its thread).
///
/// Only the first call for a process does anything: threads exiting together (exit and a
/// fatal signal, the last thread ending during an exit) each end only their own thread.
pub fn exit1(p: &Arc<Proc>, status: i32) {
    if p.p_lexit.swap(true, core::sync::atomic::Ordering::AcqRel) {
        sched_prim::thread_terminate(&sched_prim::current_thread());
        return;
    }
    // The working and root directories go with the descriptors (XNU's `fdfree`), so a
    // zombie keeps no file system busy; each thread's own working directory too. (First:
    // a peer that sees this process's descriptors close knows its directories are gone.)
    let dirs = core::mem::take(&mut *p.p_fd_dirs.write());
    drop(dirs);
    for t in p.threads() {
        let own = crate::kern::kern_proc::uthread(&t).uu_cdir.write().take();
        drop(own);
    }
    p.p_fd.lock().close_all();
    // Keep the CPU time of the threads still running (those already ending have theirs
    // counted), then ask every thread to end; the caller's ends on its way to user mode.
    let (u, st) = p.live_thread_times();
    {
        let mut ru = p.p_ru.lock();
        ru.0 += u;
        ru.1 += st;
    }
    p.task.terminate();
    // Report init's end, and every crash (a signal that dumps core), as XNU logs crashes.
    if p.p_pid == INITPROC_PID || (!wifexited(status) && status & WCOREFLAG != 0) {
        let msg = if wifexited(status) {
            alloc::format!("bsd: pid {} ({}) exited with status {}\n", p.p_pid, p.comm(), wexitstatus(status))
        } else {
            let sig = wtermsig(status) as u32;
            alloc::format!(
                "bsd: pid {} ({}) killed by signal {} (SIG{})\n",
                p.p_pid,
                p.comm(),
                sig,
                signal_name(sig)
            )
        };
        platform().console_write(msg.as_bytes());
    }
    if p.p_pid == INITPROC_PID {
        platform().console_write(b"bsd: init is gone; powering off\n");
        platform().halt();
    }

    // Become a zombie, give the children to init, and find the parent — all under the
    // table lock, so a parent in wait4 cannot miss it.
    let (parent, init, orphaned_zombie, orphaned) = {
        let mut procs = allproc_lock();
        *p.p_stat.lock() = ProcState::Zombie(status);
        let orphaned = pgrps().exit(p.p_pid, INITPROC_PID);
        let mut orphaned_zombie = false;
        for q in procs.values() {
            if q.ppid() == p.p_pid {
                q.set_ppid(INITPROC_PID);
                orphaned_zombie |= q.is_zombie();
            }
        }
        let parent = procs.get(&p.ppid()).cloned();
        // A parent that set SIGCHLD to SIG_IGN, or SA_NOCLDWAIT, leaves no zombies behind.
        if let Some(par) = &parent
            && par.p_sigacts.lock().nocldwait()
        {
            procs.remove(&p.p_pid);
            pgrps().reap(p.p_pid);
        }
        (parent, procs.get(&INITPROC_PID).cloned(), orphaned_zombie, orphaned)
    };
    if let Some(par) = parent {
        let origin = sigchld_origin(p.p_pid, p.p_ucred.lock().ruid, status);
        let _ = crate::kern::kern_sig::psignal(&par, SIGCHLD, origin);
        par.p_waitq.wakeup_all();
    }
    if orphaned_zombie && let Some(init) = init {
        init.p_waitq.wakeup_all();
    }
    crate::kern::kern_sig::orphaned_pgrps(&orphaned);
}

/// What `wait4` found.
pub struct Waited {
    pub pid: i32,
    pub status: i32,
    /// The child's user and system time (counter ticks), for `rusage`.
    pub times: (u64, u64),
}

/// `wait4(pid, options)`: pid > 0 that child, −1 any child, 0 any child in the caller's
/// group, < −1 any child in group −pid (the choice is `kern_wait::wait4_select`). WNOHANG
/// returns None when nothing is ready; otherwise it sleeps (interruptibly) until a child
/// exits, stops or continues.
pub fn wait4(p: &Arc<Proc>, pid: i32, options: i32) -> Result<Option<Waited>, sys::Errno> {
    use crate::kern::kern_proc::JobReport;
    use crate::kern::kern_synch::{PCATCH, msleep};
    use crate::kern::kern_wait::{ChildState, ChildView, WaitOutcome, wait4_select};

    // The reaped child's last reference goes after the sleep is over, not inside the check.
    let mut reaped = None;
    let found = msleep(&[&p.p_waitq], PCATCH, None, || {
        let mut procs = allproc_lock();
        let children: alloc::vec::Vec<Arc<Proc>> =
            procs.values().filter(|q| q.ppid() == p.p_pid && q.p_pid != p.p_pid).cloned().collect();
        let views = children.iter().map(|q| ChildView {
            pid: q.p_pid,
            pgid: q.pgrp(),
            state: match (*q.p_stat.lock(), *q.p_jobreport.lock()) {
                (ProcState::Zombie(status), _) => ChildState::Zombie { status },
                (_, Some(JobReport::Stopped(sig))) => ChildState::Stopped { sig, reported: false },
                (_, Some(JobReport::Continued)) => ChildState::Continued { reported: false },
                _ => ChildState::Running,
            },
        });
        let find = |pid| children.iter().find(|q| q.p_pid == pid).cloned();
        match wait4_select(p.pgrp(), pid, options, views)? {
            WaitOutcome::Exited { pid, status, reap } => {
                let q = find(pid).ok_or(sys::Errno::ECHILD)?;
                // A zombie's threads are all accounted in `p_ru`.
                let times = *q.p_ru.lock();
                if reap {
                    procs.remove(&pid);
                    pgrps().reap(pid);
                    let theirs = *q.p_cru.lock();
                    let mut mine = p.p_cru.lock();
                    mine.0 += times.0 + theirs.0;
                    mine.1 += times.1 + theirs.1;
                }
                reaped = Some(q);
                Ok(Some(Some(Waited { pid, status, times })))
            }
            WaitOutcome::Stopped { pid, status, mark_reported }
            | WaitOutcome::Continued { pid, status, mark_reported } => {
                let q = find(pid).ok_or(sys::Errno::ECHILD)?;
                if mark_reported {
                    *q.p_jobreport.lock() = None;
                }
                Ok(Some(Some(Waited { pid, status, times: q.cpu_times() })))
            }
            WaitOutcome::NoneReady => Ok(Some(None)),
            // A child that exits after this check wakes `p_waitq`, which we are on.
            WaitOutcome::Block => Ok(None),
        }
    });
    drop(reaped);
    found
}
