//! Identity (XNU's `kern_prot.c`): credentials — real, effective and saved user and group
//! ids — and process groups and sessions.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use sys::Errno;

use crate::kern::kern_proc::{Pid, Proc, allproc_lock, proc_find};

/// `setuid(uid)`: root sets all three ids; others may only set the effective id to their
/// real or saved one.
pub fn setuid(p: &Proc, uid: u32) -> Result<(), Errno> {
    let mut c = p.p_ucred.lock();
    if c.uid == 0 {
        c.uid = uid;
        c.ruid = uid;
        c.svuid = uid;
    } else if uid == c.ruid || uid == c.svuid {
        c.uid = uid;
    } else {
        return Err(Errno::EPERM);
    }
    p.p_sugid.store(true, Ordering::Relaxed);
    Ok(())
}

/// `seteuid(uid)`: the effective id, to the real or saved one (anything, for root).
pub fn seteuid(p: &Proc, uid: u32) -> Result<(), Errno> {
    let mut c = p.p_ucred.lock();
    if c.uid != 0 && uid != c.ruid && uid != c.svuid {
        return Err(Errno::EPERM);
    }
    c.uid = uid;
    p.p_sugid.store(true, Ordering::Relaxed);
    Ok(())
}

/// `setgid(gid)`: as `setuid`, for groups (root is decided by the effective uid).
pub fn setgid(p: &Proc, gid: u32) -> Result<(), Errno> {
    let mut c = p.p_ucred.lock();
    if c.uid == 0 {
        c.gid = gid;
        c.rgid = gid;
        c.svgid = gid;
    } else if gid == c.rgid || gid == c.svgid {
        c.gid = gid;
    } else {
        return Err(Errno::EPERM);
    }
    p.p_sugid.store(true, Ordering::Relaxed);
    Ok(())
}

/// `setegid(gid)`.
pub fn setegid(p: &Proc, gid: u32) -> Result<(), Errno> {
    let mut c = p.p_ucred.lock();
    if c.uid != 0 && gid != c.rgid && gid != c.svgid {
        return Err(Errno::EPERM);
    }
    c.gid = gid;
    p.p_sugid.store(true, Ordering::Relaxed);
    Ok(())
}

/// `setpgid(pid, pgid)` with BSD's rules: the target is the caller or one of its children
/// (ESRCH), not a child that has exec'd (EACCES), not a session leader and in the caller's
/// session (EPERM); a group other than the target's own pid must already exist in that
/// session (EPERM).
pub fn setpgid(p: &Arc<Proc>, pid: i64, pgid: i64) -> Result<(), Errno> {
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let pid = if pid == 0 { p.p_pid } else { Pid::try_from(pid).map_err(|_| Errno::ESRCH)? };
    let procs = allproc_lock();
    let target = procs.get(&pid).cloned().ok_or(Errno::ESRCH)?;
    if target.p_pid != p.p_pid {
        if target.ppid() != p.p_pid || target.is_zombie() {
            return Err(Errno::ESRCH);
        }
        if target.p_exec.load(Ordering::Acquire) {
            return Err(Errno::EACCES);
        }
    }
    if target.p_pid == target.session() || target.session() != p.session() {
        return Err(Errno::EPERM);
    }
    let pgid = if pgid == 0 { target.p_pid } else { Pid::try_from(pgid).map_err(|_| Errno::EINVAL)? };
    if pgid != target.p_pid && !procs.values().any(|q| q.pgrp() == pgid && q.session() == p.session()) {
        return Err(Errno::EPERM);
    }
    target.p_pgrpid.store(pgid, Ordering::Release);
    Ok(())
}

/// `setsid()`: a new session and group led by the caller, unless it already leads a group.
pub fn setsid(p: &Arc<Proc>) -> Result<Pid, Errno> {
    let procs = allproc_lock();
    if procs.values().any(|q| q.pgrp() == p.p_pid) {
        return Err(Errno::EPERM);
    }
    p.p_sessionid.store(p.p_pid, Ordering::Release);
    p.p_pgrpid.store(p.p_pid, Ordering::Release);
    Ok(p.p_pid)
}

fn target(p: &Arc<Proc>, pid: i64) -> Result<Arc<Proc>, Errno> {
    if pid == 0 {
        return Ok(p.clone());
    }
    Pid::try_from(pid).ok().and_then(proc_find).filter(|q| q.p_pid != 0).ok_or(Errno::ESRCH)
}

/// `getpgid(pid)`.
pub fn getpgid(p: &Arc<Proc>, pid: i64) -> Result<Pid, Errno> {
    target(p, pid).map(|q| q.pgrp())
}

/// `getsid(pid)`.
pub fn getsid(p: &Arc<Proc>, pid: i64) -> Result<Pid, Errno> {
    target(p, pid).map(|q| q.session())
}
