//! Which processes an introspection request asks about: the selectors of `sysctl kern.proc`
//! (`KERN_PROC_ALL`, `_PID`, `_PGRP`, `_TTY`, `_UID`, `_RUID`) and of `proc_info`'s pid
//! list (`PROC_ALL_PIDS`, `_PGRP_ONLY`, `_TTY_ONLY`, `_UID_ONLY`, `_RUID_ONLY`,
//! `_PPID_ONLY`), decoded from user input into one filter and matched against a process's
//! ids. Pure logic, unit-tested on the host.

use sys::Errno;
use sys::proc_info::*;
use sys::sysctl::*;

use crate::kern::kern_pid::Pid;

/// "No terminal" as a device number (`NODEV`).
pub const NODEV: i32 = -1;

/// The ids a filter looks at.
#[derive(Clone, Copy, Debug)]
pub struct ProcIds {
    pub pid: Pid,
    pub ppid: Pid,
    pub pgid: Pid,
    pub uid: u32,
    pub ruid: u32,
    /// Controlling terminal, or [`NODEV`].
    pub tdev: i32,
}

/// A selection of processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFilter {
    All,
    Pid(Pid),
    Pgrp(Pid),
    Tty(i32),
    Uid(u32),
    Ruid(u32),
    Ppid(Pid),
}

impl ProcFilter {
    /// From the name components after `kern.proc`: `[KERN_PROC_ALL]` or `[op, value]`.
    pub fn from_sysctl(rest: &[i32]) -> Result<ProcFilter, Errno> {
        Ok(match *rest {
            [KERN_PROC_ALL] | [KERN_PROC_ALL, _] => ProcFilter::All,
            [KERN_PROC_PID, v] => ProcFilter::Pid(v),
            [KERN_PROC_PGRP, v] => ProcFilter::Pgrp(v),
            [KERN_PROC_TTY, v] => ProcFilter::Tty(v),
            [KERN_PROC_UID, v] => ProcFilter::Uid(v as u32),
            [KERN_PROC_RUID, v] => ProcFilter::Ruid(v as u32),
            _ => return Err(Errno::EINVAL),
        })
    }

    /// From `proc_info(PROC_INFO_CALL_LISTPIDS, kind, value, …)`.
    pub fn from_listpids(kind: u32, value: u32) -> Result<ProcFilter, Errno> {
        Ok(match kind {
            PROC_ALL_PIDS => ProcFilter::All,
            PROC_PGRP_ONLY => ProcFilter::Pgrp(value as Pid),
            PROC_TTY_ONLY => ProcFilter::Tty(value as i32),
            PROC_UID_ONLY => ProcFilter::Uid(value),
            PROC_RUID_ONLY => ProcFilter::Ruid(value),
            PROC_PPID_ONLY => ProcFilter::Ppid(value as Pid),
            _ => return Err(Errno::EINVAL),
        })
    }

    /// Does the process with `ids` belong to the selection?
    pub fn matches(&self, ids: &ProcIds) -> bool {
        match *self {
            ProcFilter::All => true,
            ProcFilter::Pid(p) => ids.pid == p,
            ProcFilter::Pgrp(g) => ids.pgid == g,
            ProcFilter::Tty(t) => ids.tdev != NODEV && ids.tdev == t,
            ProcFilter::Uid(u) => ids.uid == u,
            ProcFilter::Ruid(u) => ids.ruid == u,
            ProcFilter::Ppid(p) => ids.ppid == p,
        }
    }
}

/// The room to report when the caller only asks how big the answer is: a few entries more
/// than now, so a list that grows a little between the two calls still fits (XNU does the
/// same).
pub fn size_estimate(count: usize, each: usize) -> usize {
    (count + count / 8 + 4) * each
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: ProcIds = ProcIds { pid: 7, ppid: 1, pgid: 5, uid: 501, ruid: 0, tdev: NODEV };

    #[test]
    fn sysctl_names_decode() {
        assert_eq!(ProcFilter::from_sysctl(&[KERN_PROC_ALL]), Ok(ProcFilter::All));
        assert_eq!(ProcFilter::from_sysctl(&[KERN_PROC_PID, 7]), Ok(ProcFilter::Pid(7)));
        assert_eq!(ProcFilter::from_sysctl(&[KERN_PROC_PID]), Err(Errno::EINVAL), "pid missing");
        assert_eq!(ProcFilter::from_sysctl(&[99, 1]), Err(Errno::EINVAL));
        assert_eq!(ProcFilter::from_sysctl(&[KERN_PROC_UID, 1, 2]), Err(Errno::EINVAL));
    }

    #[test]
    fn listpids_kinds_decode() {
        assert_eq!(ProcFilter::from_listpids(PROC_ALL_PIDS, 123), Ok(ProcFilter::All));
        assert_eq!(ProcFilter::from_listpids(PROC_PPID_ONLY, 1), Ok(ProcFilter::Ppid(1)));
        assert_eq!(ProcFilter::from_listpids(0, 0), Err(Errno::EINVAL));
        assert_eq!(ProcFilter::from_listpids(PROC_KDBG_ONLY_UNSUPPORTED, 0), Err(Errno::EINVAL));
    }

    const PROC_KDBG_ONLY_UNSUPPORTED: u32 = 7;

    #[test]
    fn filters_match_the_right_ids() {
        assert!(ProcFilter::All.matches(&IDS));
        assert!(ProcFilter::Pid(7).matches(&IDS) && !ProcFilter::Pid(8).matches(&IDS));
        assert!(ProcFilter::Pgrp(5).matches(&IDS) && !ProcFilter::Pgrp(7).matches(&IDS));
        assert!(ProcFilter::Uid(501).matches(&IDS) && !ProcFilter::Ruid(501).matches(&IDS));
        assert!(ProcFilter::Ppid(1).matches(&IDS));
        assert!(!ProcFilter::Tty(NODEV).matches(&IDS), "no terminal matches no tty filter");
    }

    #[test]
    fn estimates_leave_room() {
        assert!(size_estimate(0, 4) >= 4 * 4);
        assert!(size_estimate(100, 648) > 100 * 648);
    }
}
