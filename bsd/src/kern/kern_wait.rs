//! `wait4` (XNU's `wait4_nocancel` in `bsd/kern/kern_exit.c`, reference §9.8): which of the
//! caller's children to report, and how — reap a zombie, report a stop or a continue, block,
//! or fail — given a snapshot of the children; plus what SIGCHLD's siginfo says about a
//! child and `struct rusage` from a child's times. Pure: the caller holds the process-list
//! lock, applies the outcome (reap, mark reported) and sleeps on `Block`.

use sys::Errno;
use sys::resource::Rusage;
use sys::signal::{CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SIGCONT, Signal};
use sys::time::Timeval;
use sys::wait::{
    W_CONTINUED, WCONTINUED, WCOREFLAG, WNOHANG, WNOWAIT, WUNTRACED, w_stopcode, wexitstatus, wifcontinued,
    wifexited, wifsignaled, wifstopped, wstopsig, wtermsig,
};

use crate::kern::kern_pid::Pid;
use crate::kern::kern_sendsig::SigOrigin;

/// The options `wait4` accepts; any other bit is EINVAL.
pub const WAIT4_OPTIONS: i32 = WNOHANG | WUNTRACED | WCONTINUED | WNOWAIT;

/// A child's state as `wait4` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildState {
    /// Nothing to report.
    Running,
    /// Exited with this wait status (`p_xstat`), waiting to be reaped.
    Zombie { status: i32 },
    /// Stopped by `sig`; `reported` once a wait4 with WUNTRACED saw it (`P_LWAITED`).
    Stopped { sig: Signal, reported: bool },
    /// Continued after a stop; `reported` once a wait4 with WCONTINUED saw it
    /// (`P_CONTINUED` cleared).
    Continued { reported: bool },
}

/// One child of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildView {
    pub pid: Pid,
    pub pgid: Pid,
    pub state: ChildState,
}

/// What `wait4` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Return `pid` with `status`; when `reap`, free the zombie (and hand its rusage out).
    Exited { pid: Pid, status: i32, reap: bool },
    /// Return `pid` with a stopped status; when `mark_reported`, mark the stop as seen.
    Stopped { pid: Pid, status: i32, mark_reported: bool },
    /// Return `pid` with the continued status; when `mark_reported`, mark it as seen.
    Continued { pid: Pid, status: i32, mark_reported: bool },
    /// WNOHANG and nothing to report: return 0.
    NoneReady,
    /// Sleep until a child changes state (interruptibly), then ask again.
    Block,
}

/// Choose what `wait4(pid, …, options)` reports. `caller_pgid` resolves pid 0; `children`
/// lists the caller's children in the order to prefer. EINVAL for unknown options or
/// pid = INT_MIN (which has no negation); ECHILD when no child matches `pid`.
pub fn wait4_select(
    caller_pgid: Pid,
    pid: Pid,
    options: i32,
    children: impl IntoIterator<Item = ChildView>,
) -> Result<WaitOutcome, Errno> {
    if options & !WAIT4_OPTIONS != 0 || pid == Pid::MIN {
        return Err(Errno::EINVAL);
    }
    let consume = options & WNOWAIT == 0;
    let matches = |c: &ChildView| match pid {
        -1 => true,
        0 => c.pgid == caller_pgid,
        p if p > 0 => c.pid == p,
        p => c.pgid == -p,
    };
    let mut found = false;
    for c in children.into_iter().filter(matches) {
        found = true;
        match c.state {
            ChildState::Zombie { status } => {
                // Only the low 16 bits are a wait status; the rest is never shown.
                return Ok(WaitOutcome::Exited { pid: c.pid, status: status & 0xffff, reap: consume });
            }
            ChildState::Stopped { sig, reported: false } if options & WUNTRACED != 0 => {
                return Ok(WaitOutcome::Stopped {
                    pid: c.pid,
                    status: w_stopcode(sig),
                    mark_reported: consume,
                });
            }
            ChildState::Continued { reported: false } if options & WCONTINUED != 0 => {
                return Ok(WaitOutcome::Continued {
                    pid: c.pid,
                    status: W_CONTINUED,
                    mark_reported: consume,
                });
            }
            _ => {}
        }
    }
    if !found {
        Err(Errno::ECHILD)
    } else if options & WNOHANG != 0 {
        Ok(WaitOutcome::NoneReady)
    } else {
        Ok(WaitOutcome::Block)
    }
}

/// The SIGCHLD siginfo fields for child `pid` (real uid `uid`) whose new wait status is
/// `status`: CLD_EXITED with the exit code, CLD_KILLED / CLD_DUMPED with the signal,
/// CLD_STOPPED with the stop signal, CLD_CONTINUED with SIGCONT.
pub fn sigchld_origin(pid: Pid, uid: u32, status: i32) -> SigOrigin {
    let (code, value) = if wifexited(status) {
        (CLD_EXITED, wexitstatus(status))
    } else if wifcontinued(status) {
        (CLD_CONTINUED, SIGCONT as i32)
    } else if wifstopped(status) {
        (CLD_STOPPED, wstopsig(status))
    } else if wifsignaled(status) && status & WCOREFLAG != 0 {
        (CLD_DUMPED, wtermsig(status))
    } else {
        (CLD_KILLED, wtermsig(status))
    };
    SigOrigin { pid, uid, code, status: value }
}

/// A timeval from microseconds, saturating where seconds no longer fit.
fn timeval_from_micros(us: u64) -> Timeval {
    let sec = i64::try_from(us / 1_000_000).unwrap_or(i64::MAX);
    // Below one million, so it fits.
    let usec = (us % 1_000_000) as i32;
    Timeval { tv_sec: sec, tv_usec: usec, _pad: 0 }
}

/// The `struct rusage` `wait4` hands out for a reaped child, from its user and system time
/// in microseconds (the only usage this kernel accounts so far).
pub fn rusage_from_times(user_us: u64, system_us: u64) -> Rusage {
    Rusage {
        ru_utime: timeval_from_micros(user_us),
        ru_stime: timeval_from_micros(system_us),
        ..Rusage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::signal::{SIGSEGV, SIGTERM, SIGTSTP, SIGTTIN};
    use sys::wait::{WEXITED, WSTOPPED, w_exitcode, w_termsig};

    fn child(pid: Pid, pgid: Pid, state: ChildState) -> ChildView {
        ChildView { pid, pgid, state }
    }

    const RUN: ChildState = ChildState::Running;

    #[test]
    fn bad_options_and_pid() {
        for bad in [WEXITED, WSTOPPED, 0x40, -1] {
            assert_eq!(wait4_select(5, -1, bad, [child(6, 5, RUN)]), Err(Errno::EINVAL), "{bad:#x}");
        }
        assert_eq!(wait4_select(5, Pid::MIN, 0, [child(6, 5, RUN)]), Err(Errno::EINVAL));
    }

    #[test]
    fn no_matching_child_is_echild() {
        assert_eq!(wait4_select(5, -1, 0, []), Err(Errno::ECHILD));
        assert_eq!(wait4_select(5, 7, 0, [child(6, 5, RUN)]), Err(Errno::ECHILD));
        assert_eq!(wait4_select(5, 0, WNOHANG, [child(6, 9, RUN)]), Err(Errno::ECHILD));
        assert_eq!(wait4_select(5, -8, 0, [child(6, 9, RUN)]), Err(Errno::ECHILD));
    }

    #[test]
    fn block_or_none_ready() {
        assert_eq!(wait4_select(5, -1, 0, [child(6, 5, RUN)]), Ok(WaitOutcome::Block));
        assert_eq!(wait4_select(5, -1, WNOHANG, [child(6, 5, RUN)]), Ok(WaitOutcome::NoneReady));
        // A stop without WUNTRACED, a continue without WCONTINUED: nothing to report.
        let kids = [
            child(6, 5, ChildState::Stopped { sig: SIGTSTP, reported: false }),
            child(7, 5, ChildState::Continued { reported: false }),
        ];
        assert_eq!(wait4_select(5, -1, WNOHANG, kids), Ok(WaitOutcome::NoneReady));
    }

    #[test]
    fn reaps_the_first_zombie_that_matches() {
        let kids = [
            child(6, 5, RUN),
            child(7, 8, ChildState::Zombie { status: w_exitcode(3) }),
            child(9, 5, ChildState::Zombie { status: w_termsig(SIGSEGV, true) }),
        ];
        assert_eq!(
            wait4_select(5, -1, 0, kids),
            Ok(WaitOutcome::Exited { pid: 7, status: 0x300, reap: true })
        );
        assert_eq!(wait4_select(5, 0, 0, kids), Ok(WaitOutcome::Exited { pid: 9, status: 0x8b, reap: true }));
        assert_eq!(wait4_select(5, 9, 0, kids), Ok(WaitOutcome::Exited { pid: 9, status: 0x8b, reap: true }));
        assert_eq!(
            wait4_select(5, -8, 0, kids),
            Ok(WaitOutcome::Exited { pid: 7, status: 0x300, reap: true })
        );
        assert_eq!(wait4_select(5, 6, WNOHANG, kids), Ok(WaitOutcome::NoneReady));
        assert_eq!(
            wait4_select(5, 7, WNOWAIT, kids),
            Ok(WaitOutcome::Exited { pid: 7, status: 0x300, reap: false }),
            "WNOWAIT leaves it waitable"
        );
        let wide = [child(7, 5, ChildState::Zombie { status: 0x7_0300 })];
        assert_eq!(
            wait4_select(5, 7, 0, wide),
            Ok(WaitOutcome::Exited { pid: 7, status: 0x300, reap: true })
        );
    }

    #[test]
    fn stops_need_wuntraced_and_are_reported_once() {
        let stopped = [child(6, 5, ChildState::Stopped { sig: SIGTTIN, reported: false })];
        assert_eq!(
            wait4_select(5, -1, WUNTRACED, stopped),
            Ok(WaitOutcome::Stopped { pid: 6, status: 0x157f, mark_reported: true })
        );
        assert_eq!(
            wait4_select(5, -1, WUNTRACED | WNOWAIT, stopped),
            Ok(WaitOutcome::Stopped { pid: 6, status: 0x157f, mark_reported: false })
        );
        let seen = [child(6, 5, ChildState::Stopped { sig: SIGTTIN, reported: true })];
        assert_eq!(wait4_select(5, -1, WUNTRACED | WNOHANG, seen), Ok(WaitOutcome::NoneReady));
    }

    #[test]
    fn continues_need_wcontinued() {
        let cont = [child(6, 5, ChildState::Continued { reported: false })];
        assert_eq!(
            wait4_select(5, -1, WCONTINUED, cont),
            Ok(WaitOutcome::Continued { pid: 6, status: 0x137f, mark_reported: true })
        );
        let seen = [child(6, 5, ChildState::Continued { reported: true })];
        assert_eq!(wait4_select(5, -1, WCONTINUED, seen), Ok(WaitOutcome::Block));
    }

    #[test]
    fn sigchld_info_for_each_change() {
        let o = sigchld_origin(6, 501, w_exitcode(42));
        assert_eq!((o.pid, o.uid, o.code, o.status), (6, 501, CLD_EXITED, 42));
        let o = sigchld_origin(6, 0, w_termsig(SIGTERM, false));
        assert_eq!((o.code, o.status), (CLD_KILLED, SIGTERM as i32));
        let o = sigchld_origin(6, 0, w_termsig(SIGSEGV, true));
        assert_eq!((o.code, o.status), (CLD_DUMPED, SIGSEGV as i32));
        let o = sigchld_origin(6, 0, w_stopcode(SIGTSTP));
        assert_eq!((o.code, o.status), (CLD_STOPPED, SIGTSTP as i32));
        let o = sigchld_origin(6, 0, W_CONTINUED);
        assert_eq!((o.code, o.status), (CLD_CONTINUED, SIGCONT as i32));
    }

    #[test]
    fn rusage_times() {
        let r = rusage_from_times(2_500_001, 999_999);
        assert_eq!(r.ru_utime, Timeval { tv_sec: 2, tv_usec: 500_001, _pad: 0 });
        assert_eq!(r.ru_stime, Timeval { tv_sec: 0, tv_usec: 999_999, _pad: 0 });
        assert_eq!(r.ru_nsignals, 0);
        assert_eq!(rusage_from_times(u64::MAX, 0).ru_utime.tv_sec, (u64::MAX / 1_000_000) as i64);
        let b = zerocopy::IntoBytes::as_bytes(&r);
        assert_eq!(&b[0..8], &2i64.to_le_bytes());
    }
}
