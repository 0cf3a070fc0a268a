//! The status word `wait4` reports (XNU `bsd/sys/wait.h`, reference §9.8).

use crate::signal::Signal;

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
    }
}
