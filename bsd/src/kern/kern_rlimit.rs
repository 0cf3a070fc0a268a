//! Resource limits (XNU's `kern_resource.c` half on `getrlimit`/`setrlimit`): per process,
//! inherited by fork and kept by exec. Enforced: RLIMIT_NOFILE (descriptor table),
//! RLIMIT_NPROC (fork and spawn, for everyone but root), RLIMIT_STACK (the stack exec
//! maps) and RLIMIT_AS (the task's `vm_map` size limit).

use alloc::sync::Arc;

use sys::Errno;
use sys::resource::*;

use crate::kern::kern_descrip::NOFILE;
use crate::kern::kern_fork::MAXPROC;
use crate::kern::kern_proc::{Proc, allproc};

/// A process's limits, indexed by `RLIMIT_*`.
pub type Rlimits = [Rlimit; RLIM_NLIMITS as usize];

const INF: Rlimit = Rlimit { rlim_cur: RLIM_INFINITY, rlim_max: RLIM_INFINITY };

/// Smallest and largest stack exec will map.
pub const STACK_MIN: u64 = 64 * 1024;
pub const STACK_MAX: u64 = 1 << 30;
/// Default stack: 8 MiB, as on Darwin.
pub const STACK_DEFAULT: u64 = 8 * 1024 * 1024;

/// Limits of the first process.
pub fn default_rlimits() -> Rlimits {
    let mut l = [INF; RLIM_NLIMITS as usize];
    l[RLIMIT_STACK as usize] = Rlimit { rlim_cur: STACK_DEFAULT, rlim_max: STACK_MAX };
    l[RLIMIT_NOFILE as usize] = Rlimit { rlim_cur: NOFILE as u64, rlim_max: NOFILE as u64 };
    // As XNU's maxprocperuid: half the system's processes for one user.
    l[RLIMIT_NPROC as usize] = Rlimit { rlim_cur: (MAXPROC / 2) as u64, rlim_max: (MAXPROC / 2) as u64 };
    l
}

/// `getrlimit(which)`.
pub fn getrlimit(p: &Proc, which: u32) -> Result<Rlimit, Errno> {
    let which = usize::try_from(which).ok().filter(|&w| w < RLIM_NLIMITS as usize).ok_or(Errno::EINVAL)?;
    Ok(p.p_rlimit.lock()[which])
}

/// `setrlimit(which, new)`: the soft limit may not exceed the hard one (EINVAL); only root
/// raises a hard limit (EPERM).
pub fn setrlimit(p: &Arc<Proc>, which: u32, new: Rlimit) -> Result<(), Errno> {
    let which = usize::try_from(which).ok().filter(|&w| w < RLIM_NLIMITS as usize).ok_or(Errno::EINVAL)?;
    if new.rlim_cur > new.rlim_max {
        return Err(Errno::EINVAL);
    }
    let root = p.p_ucred.lock().uid == 0;
    {
        let mut limits = p.p_rlimit.lock();
        if new.rlim_max > limits[which].rlim_max && !root {
            return Err(Errno::EPERM);
        }
        limits[which] = new;
    }
    match which as u32 {
        RLIMIT_NOFILE => p.p_fd.lock().set_limit(new.rlim_cur),
        RLIMIT_AS => {
            if let Some(map) = &p.task.map {
                map.write().set_size_limit(new.rlim_cur);
            }
        }
        _ => {}
    }
    Ok(())
}

/// May `p` create another process? EAGAIN past RLIMIT_NPROC (root is exempt) or the
/// system-wide MAXPROC.
pub fn check_nproc(p: &Proc) -> Result<(), Errno> {
    let procs = allproc();
    if procs.len() >= MAXPROC {
        return Err(Errno::EAGAIN);
    }
    let cred = *p.p_ucred.lock();
    if cred.uid == 0 {
        return Ok(());
    }
    let limit = p.p_rlimit.lock()[RLIMIT_NPROC as usize].rlim_cur;
    let mine = procs.iter().filter(|q| !q.is_zombie() && q.p_ucred.lock().ruid == cred.ruid).count() as u64;
    if mine >= limit { Err(Errno::EAGAIN) } else { Ok(()) }
}

/// The stack size exec maps for a process with these limits.
pub fn stack_size(limits: &Rlimits) -> u64 {
    limits[RLIMIT_STACK as usize].rlim_cur.clamp(STACK_MIN, STACK_MAX) & !0xfff
}
