//! Identity (XNU's `kern_prot.c`): credentials — real, effective and saved user and group
//! ids — and process groups and sessions.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use osfmk::vm::user_ptr::{UserAddr, UserSlice};
use sys::Errno;
use sys::param::NGROUPS_MAX;
use zerocopy::IntoBytes;

use crate::kern::kern_credential::CredGroups;
use crate::kern::kern_proc::{Pid, Proc, pgrps};

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

/// `getgroups(gidsetsize, gidset)`: the caller's groups, its effective group first. A size of
/// 0 asks only how many there are; a buffer too small for them all is `EINVAL`; a bad
/// pointer `EFAULT`. Returns the count.
pub fn getgroups(p: &Proc, gidsetsize: u32, gidset: UserAddr) -> Result<usize, Errno> {
    let c = *p.p_ucred.lock();
    let (list, n) = c.groups.list(c.gid);
    if gidsetsize == 0 {
        return Ok(n);
    }
    if (gidsetsize as usize) < n {
        return Err(Errno::EINVAL);
    }
    UserSlice::new(gidset.0, n * size_of::<u32>())?.write_at(0, list[..n].as_bytes())?;
    Ok(n)
}

/// `setgroups(gidsetsize, gidset)`: the caller's group list becomes `gidset`, whose first
/// entry is the effective group (XNU keeps it as `cr_groups[0]`); an empty list leaves the
/// effective group and drops the supplementary ones. Root only (`EPERM`); more than
/// `NGROUPS_MAX` (16) entries `EINVAL`; a bad pointer `EFAULT`.
pub fn setgroups(p: &Proc, gidsetsize: u32, gidset: UserAddr) -> Result<(), Errno> {
    if p.p_ucred.lock().uid != 0 {
        return Err(Errno::EPERM);
    }
    let n = gidsetsize as usize;
    if n > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut list = [0u32; NGROUPS_MAX];
    UserSlice::new(gidset.0, n * size_of::<u32>())?.read_at(0, list[..n].as_mut_bytes())?;
    let (egid, groups) = CredGroups::from_list(&list[..n])?;
    let mut c = p.p_ucred.lock();
    if let Some(egid) = egid {
        c.gid = egid;
    }
    c.groups = groups;
    p.p_sugid.store(true, Ordering::Relaxed);
    Ok(())
}

/// `setpgid(pid, pgid)` with BSD's rules (`kern_pgrp::PgrpTable::setpgid`): the target is
/// the caller or one of its descendants (ESRCH), not one that has exec'd (EACCES), not a
/// session leader and in the caller's session (EPERM); another group must already exist
/// in that session (EPERM).
pub fn setpgid(p: &Arc<Proc>, pid: Pid, pgid: Pid) -> Result<(), Errno> {
    let orphaned = pgrps().setpgid(p.p_pid, pid, pgid)?;
    crate::kern::kern_sig::orphaned_pgrps(&orphaned);
    Ok(())
}

/// `setsid()`: a new session and group led by the caller, unless it already leads a group.
pub fn setsid(p: &Arc<Proc>) -> Result<Pid, Errno> {
    let orphaned = pgrps().setsid(p.p_pid)?;
    crate::kern::kern_sig::orphaned_pgrps(&orphaned);
    Ok(p.p_pid)
}

/// `getpgid(pid)`.
pub fn getpgid(p: &Arc<Proc>, pid: Pid) -> Result<Pid, Errno> {
    pgrps().getpgid(p.p_pid, pid)
}

/// `getsid(pid)`.
pub fn getsid(p: &Arc<Proc>, pid: Pid) -> Result<Pid, Errno> {
    pgrps().getsid(p.p_pid, pid)
}
