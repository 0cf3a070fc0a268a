//! Priorities (XNU's `kern_resource.c`): `getpriority` and `setpriority` map BSD nice values
//! onto Mach base priorities of every thread of the process.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use osfmk::kern::sched::{SchedMode, nice_to_base_pri};
use osfmk::kern::sched_prim::thread_set_base_priority;
use sys::Errno;
use sys::resource::{PRIO_MAX, PRIO_MIN, PRIO_PGRP, PRIO_PROCESS, PRIO_USER};

use crate::kern::kern_proc::{Proc, allproc, proc_find};

/// The processes `which`/`who` names, as the caller `p` sees them.
/// `who` is an `id_t`: a pid or pgid (read as an `int`, as XNU does) or a uid.
fn targets(p: &Arc<Proc>, which: i32, who: u32) -> Result<Vec<Arc<Proc>>, Errno> {
    let id = who as i32;
    let found: Vec<Arc<Proc>> = match which {
        PRIO_PROCESS if who == 0 => alloc::vec![p.clone()],
        PRIO_PROCESS => proc_find(id).into_iter().collect(),
        // Until process groups arrive (M1.4) every process leads its own group.
        PRIO_PGRP if who == 0 || id == p.p_pid => alloc::vec![p.clone()],
        PRIO_PGRP => proc_find(id).into_iter().collect(),
        PRIO_USER => {
            let uid = if who == 0 { p.p_ucred.lock().uid } else { who };
            allproc().into_iter().filter(|q| q.p_ucred.lock().uid == uid).collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    // The kernel task's proc (pid 0) is not a target.
    let found: Vec<Arc<Proc>> = found.into_iter().filter(|q| q.p_pid != 0).collect();
    if found.is_empty() { Err(Errno::ESRCH) } else { Ok(found) }
}

/// `getpriority(which, who)`: the lowest nice value among the targets.
pub fn getpriority(p: &Arc<Proc>, which: i32, who: u32) -> Result<i32, Errno> {
    let procs = targets(p, which, who)?;
    Ok(procs.iter().map(|q| q.p_nice.load(Ordering::Relaxed)).min().unwrap_or(0))
}

/// `setpriority(which, who, prio)`: set the nice value (clamped to −20..=20) of each target.
/// Only root may lower a nice value or touch another user's process.
pub fn setpriority(p: &Arc<Proc>, which: i32, who: u32, prio: i32) -> Result<(), Errno> {
    let procs = targets(p, which, who)?;
    let nice = prio.clamp(PRIO_MIN, PRIO_MAX);
    let cred = *p.p_ucred.lock();
    for q in &procs {
        let target_uid = q.p_ucred.lock().uid;
        if cred.uid != 0 && cred.uid != target_uid && cred.ruid != target_uid {
            return Err(Errno::EPERM);
        }
        if cred.uid != 0 && nice < q.p_nice.load(Ordering::Relaxed) {
            return Err(Errno::EACCES);
        }
    }
    for q in procs {
        q.p_nice.store(nice, Ordering::Relaxed);
        for t in q.task.threads() {
            thread_set_base_priority(&t, SchedMode::Timeshare, nice_to_base_pri(nice));
        }
    }
    Ok(())
}
