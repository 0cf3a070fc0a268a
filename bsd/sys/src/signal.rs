//! Signal numbers and sets (XNU `bsd/sys/signal.h`, reference §9.2).

/// A signal number, 1..=31.
pub type Signal = u32;

pub const SIGHUP: Signal = 1;
pub const SIGINT: Signal = 2;
pub const SIGQUIT: Signal = 3;
pub const SIGILL: Signal = 4;
pub const SIGTRAP: Signal = 5;
pub const SIGABRT: Signal = 6;
pub const SIGEMT: Signal = 7;
pub const SIGFPE: Signal = 8;
pub const SIGKILL: Signal = 9;
pub const SIGBUS: Signal = 10;
pub const SIGSEGV: Signal = 11;
pub const SIGSYS: Signal = 12;
pub const SIGPIPE: Signal = 13;
pub const SIGALRM: Signal = 14;
pub const SIGTERM: Signal = 15;
pub const SIGURG: Signal = 16;
pub const SIGSTOP: Signal = 17;
pub const SIGTSTP: Signal = 18;
pub const SIGCONT: Signal = 19;
pub const SIGCHLD: Signal = 20;
pub const SIGTTIN: Signal = 21;
pub const SIGTTOU: Signal = 22;
pub const SIGIO: Signal = 23;
pub const SIGXCPU: Signal = 24;
pub const SIGXFSZ: Signal = 25;
pub const SIGVTALRM: Signal = 26;
pub const SIGPROF: Signal = 27;
pub const SIGWINCH: Signal = 28;
pub const SIGINFO: Signal = 29;
pub const SIGUSR1: Signal = 30;
pub const SIGUSR2: Signal = 31;
/// One more than the largest signal number.
pub const NSIG: Signal = 32;

/// `sigset_t`: bit `n - 1` stands for signal `n`.
pub type SigSet = u32;

/// The set holding only `sig`.
pub const fn sigmask(sig: Signal) -> SigSet {
    1 << (sig - 1)
}

/// What a signal does when its action is `SIG_DFL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Terminate the process.
    Terminate,
    /// Terminate and mark the status as having dumped core (WCOREFLAG).
    Core,
    /// Nothing happens.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue a stopped process (otherwise ignored).
    Continue,
}

/// The default action of `sig` (XNU `sigprop`).
pub fn default_action(sig: Signal) -> DefaultAction {
    match sig {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGEMT | SIGFPE | SIGBUS | SIGSEGV | SIGSYS => {
            DefaultAction::Core
        }
        SIGURG | SIGCHLD | SIGIO | SIGWINCH | SIGINFO => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

/// The name without the `SIG` prefix, for kernel messages.
pub fn signal_name(sig: Signal) -> &'static str {
    const NAMES: [&str; NSIG as usize] = [
        "?", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL", "BUS", "SEGV", "SYS", "PIPE",
        "ALRM", "TERM", "URG", "STOP", "TSTP", "CONT", "CHLD", "TTIN", "TTOU", "IO", "XCPU", "XFSZ",
        "VTALRM", "PROF", "WINCH", "INFO", "USR1", "USR2",
    ];
    NAMES.get(sig as usize).copied().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn darwin_numbers_and_defaults() {
        assert_eq!(sigmask(SIGKILL), 1 << 8);
        assert_eq!(default_action(SIGSYS), DefaultAction::Core);
        assert_eq!(default_action(SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(SIGTSTP), DefaultAction::Stop);
        assert_eq!(signal_name(SIGSEGV), "SEGV");
        assert_eq!(signal_name(99), "?");
    }
}
