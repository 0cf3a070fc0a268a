//! The `wait4` options and the status word it reports (XNU `bsd/sys/wait.h`, reference §9.8).

use crate::signal::{SIGCONT, Signal};

/// `wait4` option: return 0 at once instead of blocking when no child has news.
pub const WNOHANG: i32 = 0x1;
/// … also report children that stopped.
pub const WUNTRACED: i32 = 0x2;
/// `waitid` option: report children that exited.
pub const WEXITED: i32 = 0x4;
/// `waitid` option: report children that stopped.
pub const WSTOPPED: i32 = 0x8;
/// … also report stopped children that continued.
pub const WCONTINUED: i32 = 0x10;
/// … report, but leave the child waitable (no reap, no "already reported" mark).
pub const WNOWAIT: i32 = 0x20;
/// `wait4` pid: any child.
pub const WAIT_ANY: i32 = -1;
/// `wait4` pid: any child in the caller's process group.
pub const WAIT_MYPGRP: i32 = 0;

/// Low 7 bits of a status meaning "stopped" (`_WSTOPPED`).
pub const WSTATUS_STOPPED: i32 = 0x7f;

/// `WCOREFLAG`: the process dumped core.
pub const WCOREFLAG: i32 = 0x80;

/// Status of a process that called `exit(code)`.
pub const fn w_exitcode(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// Status of a process killed by `sig`.
pub const fn w_termsig(sig: Signal, core: bool) -> i32 {
    sig as i32 | if core { WCOREFLAG } else { 0 }
}

/// Did the process exit normally?
pub const fn wifexited(status: i32) -> bool {
    status & 0x7f == 0
}

/// The exit code of a normal exit.
pub const fn wexitstatus(status: i32) -> i32 {
    (status >> 8) & 0xff
}

/// Was the process killed by a signal?
pub const fn wifsignaled(status: i32) -> bool {
    let low = status & 0x7f;
    low != 0 && low != 0x7f
}

/// The signal that killed the process.
pub const fn wtermsig(status: i32) -> i32 {
    status & 0x7f
}

/// Status of a process stopped by `sig` (`W_STOPCODE`).
pub const fn w_stopcode(sig: Signal) -> i32 {
    ((sig as i32) << 8) | WSTATUS_STOPPED
}

/// Status reported for a stopped process that continued: `W_STOPCODE(SIGCONT)`, 0x137f.
pub const W_CONTINUED: i32 = w_stopcode(SIGCONT);

/// Is the process stopped (and not merely continued)?
pub const fn wifstopped(status: i32) -> bool {
    status & 0x7f == WSTATUS_STOPPED && wstopsig(status) != SIGCONT as i32
}

/// The signal that stopped the process.
pub const fn wstopsig(status: i32) -> i32 {
    (status >> 8) & 0xff
}

/// Did a stopped process continue?
pub const fn wifcontinued(status: i32) -> bool {
    status & 0x7f == WSTATUS_STOPPED && wstopsig(status) == SIGCONT as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SIGSEGV;

    #[test]
    fn encodings() {
        assert_eq!(w_exitcode(3), 0x300);
        assert!(wifexited(w_exitcode(3)) && wexitstatus(w_exitcode(3)) == 3);
        let s = w_termsig(SIGSEGV, true);
        assert!(wifsignaled(s) && wtermsig(s) == 11 && s & WCOREFLAG != 0);
        let st = w_stopcode(crate::signal::SIGTSTP);
        assert_eq!(st, 0x127f);
        assert!(wifstopped(st) && !wifcontinued(st) && wstopsig(st) == 18);
        assert!(!wifexited(st) && !wifsignaled(st));
        assert_eq!(W_CONTINUED, 0x137f);
        assert!(wifcontinued(W_CONTINUED) && !wifstopped(W_CONTINUED));
    }
}
