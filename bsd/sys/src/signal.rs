//! Signal numbers and sets, the `sigaction` flags and structures, the alternate signal stack
//! and `siginfo_t` with its codes (XNU `bsd/sys/signal.h`, reference §9.2, §9.10, §10).

use core::mem::offset_of;

use zerocopy::{FromBytes, Immutable, IntoBytes};

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

/// Signals that can be neither caught, ignored nor masked (`sigcantmask`).
pub const SIGCANTMASK: SigSet = sigmask(SIGKILL) | sigmask(SIGSTOP);
/// Signals whose default action stops the process (`stopsigmask`).
pub const STOPSIGMASK: SigSet = sigmask(SIGSTOP) | sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU);
/// Stop signals sent by the terminal (`SA_TTYSTOP` in `sigprop`): a process group with no
/// job-control parent (orphaned) discards them instead of stopping.
pub const TTYSTOPSIGMASK: SigSet = sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU);
/// Signals whose default action continues the process (`contsigmask`).
pub const CONTSIGMASK: SigSet = sigmask(SIGCONT);

/// Is `sig` a signal number (1..NSIG)? Everything taking a number from user space checks
/// this before `sigmask`, which has no meaning for 0.
pub const fn is_valid(sig: Signal) -> bool {
    sig > 0 && sig < NSIG
}

/// Handler value: take the default action.
pub const SIG_DFL: u64 = 0;
/// Handler value: ignore the signal.
pub const SIG_IGN: u64 = 1;
/// Handler value of the obsolete `sigset(…, SIG_HOLD)`; the kernel treats it as an address.
pub const SIG_HOLD: u64 = 5;
/// What `signal()` returns on failure.
pub const SIG_ERR: u64 = u64::MAX;

/// `sigprocmask` / `__pthread_sigmask` `how`: add the set to the mask.
pub const SIG_BLOCK: i32 = 1;
/// … remove the set from the mask.
pub const SIG_UNBLOCK: i32 = 2;
/// … replace the mask by the set.
pub const SIG_SETMASK: i32 = 3;

/// `sa_flags`: run the handler on the alternate signal stack.
pub const SA_ONSTACK: i32 = 0x1;
/// … restart an interrupted system call instead of failing it with EINTR.
pub const SA_RESTART: i32 = 0x2;
/// … reset the action to SIG_DFL when the signal is delivered.
pub const SA_RESETHAND: i32 = 0x4;
/// … (SIGCHLD) no SIGCHLD when a child stops or continues.
pub const SA_NOCLDSTOP: i32 = 0x8;
/// … do not block the signal while its handler runs.
pub const SA_NODEFER: i32 = 0x10;
/// … (SIGCHLD) children leave no zombies.
pub const SA_NOCLDWAIT: i32 = 0x20;
/// … the handler takes `(sig, siginfo_t *, ucontext_t *)`.
pub const SA_SIGINFO: i32 = 0x40;
/// … (legacy) the library supplies its own trampoline; ignored by the kernel.
pub const SA_USERTRAMP: i32 = 0x100;
/// … (legacy) 64-bit register set in the context; ignored by the kernel.
pub const SA_64REGSET: i32 = 0x200;
/// … check `sigreturn`'s token against the frame (latched by the first `sigaction`, §10).
pub const SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP: i32 = 0x400;
/// The flags the kernel keeps; anything else is dropped after reading 0x400.
pub const SA_USERSPACE_MASK: i32 =
    SA_ONSTACK | SA_RESTART | SA_RESETHAND | SA_NOCLDSTOP | SA_NODEFER | SA_NOCLDWAIT | SA_SIGINFO;

/// `ss_flags`: the thread is running on its alternate stack (reported, never set by the user).
pub const SS_ONSTACK: i32 = 0x1;
/// `ss_flags`: no alternate stack.
pub const SS_DISABLE: i32 = 0x4;
/// The documented minimum alternate stack size.
pub const MINSIGSTKSZ: u64 = 32768;
/// The recommended alternate stack size.
pub const SIGSTKSZ: u64 = 131072;

/// `si_code` for SIGILL: no further detail.
pub const ILL_NOOP: i32 = 0;
/// … illegal opcode.
pub const ILL_ILLOPC: i32 = 1;
/// … illegal trap.
pub const ILL_ILLTRP: i32 = 2;
/// … privileged opcode.
pub const ILL_PRVOPC: i32 = 3;
/// … illegal operand.
pub const ILL_ILLOPN: i32 = 4;
/// … illegal addressing mode.
pub const ILL_ILLADR: i32 = 5;
/// … privileged register.
pub const ILL_PRVREG: i32 = 6;
/// … coprocessor error.
pub const ILL_COPROC: i32 = 7;
/// … internal stack error.
pub const ILL_BADSTK: i32 = 8;

/// `si_code` for SIGFPE: no further detail.
pub const FPE_NOOP: i32 = 0;
/// … floating-point divide by zero.
pub const FPE_FLTDIV: i32 = 1;
/// … floating-point overflow.
pub const FPE_FLTOVF: i32 = 2;
/// … floating-point underflow.
pub const FPE_FLTUND: i32 = 3;
/// … floating-point inexact result.
pub const FPE_FLTRES: i32 = 4;
/// … invalid floating-point operation.
pub const FPE_FLTINV: i32 = 5;
/// … subscript out of range.
pub const FPE_FLTSUB: i32 = 6;
/// … integer divide by zero.
pub const FPE_INTDIV: i32 = 7;
/// … integer overflow.
pub const FPE_INTOVF: i32 = 8;

/// `si_code` for SIGSEGV: no further detail.
pub const SEGV_NOOP: i32 = 0;
/// … address not mapped.
pub const SEGV_MAPERR: i32 = 1;
/// … access not permitted by the mapping.
pub const SEGV_ACCERR: i32 = 2;

/// `si_code` for SIGBUS: no further detail.
pub const BUS_NOOP: i32 = 0;
/// … misaligned address.
pub const BUS_ADRALN: i32 = 1;
/// … nonexistent physical address.
pub const BUS_ADRERR: i32 = 2;
/// … object-specific hardware error.
pub const BUS_OBJERR: i32 = 3;

/// `si_code` for SIGTRAP: breakpoint.
pub const TRAP_BRKPT: i32 = 1;
/// … trace trap.
pub const TRAP_TRACE: i32 = 2;

/// `si_code` for SIGCHLD: no further detail.
pub const CLD_NOOP: i32 = 0;
/// … the child exited.
pub const CLD_EXITED: i32 = 1;
/// … the child was killed by a signal.
pub const CLD_KILLED: i32 = 2;
/// … the child was killed by a signal and dumped core.
pub const CLD_DUMPED: i32 = 3;
/// … a traced child trapped.
pub const CLD_TRAPPED: i32 = 4;
/// … the child stopped.
pub const CLD_STOPPED: i32 = 5;
/// … the stopped child continued.
pub const CLD_CONTINUED: i32 = 6;

/// `si_code` for SIGIO/SIGPOLL: input available.
pub const POLL_IN: i32 = 1;
/// … output possible.
pub const POLL_OUT: i32 = 2;
/// … input message available.
pub const POLL_MSG: i32 = 3;
/// … I/O error.
pub const POLL_ERR: i32 = 4;
/// … high-priority input available.
pub const POLL_PRI: i32 = 5;
/// … device disconnected.
pub const POLL_HUP: i32 = 6;

/// `si_code` for any signal: sent by `kill`.
pub const SI_USER: i32 = 0x10001;
/// … sent by `sigqueue`.
pub const SI_QUEUE: i32 = 0x10002;
/// … a timer expired.
pub const SI_TIMER: i32 = 0x10003;
/// … an asynchronous I/O request completed.
pub const SI_ASYNCIO: i32 = 0x10004;
/// … a message arrived on an empty queue.
pub const SI_MESGQ: i32 = 0x10005;

/// `struct __sigaction` as a 64-bit process passes it to `sigaction` (the new action, 24
/// bytes): the handler, the library trampoline the kernel returns through, the mask to add
/// while the handler runs, and the `SA_*` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct SigactionIn {
    pub sa_handler: u64,
    pub sa_tramp: u64,
    pub sa_mask: SigSet,
    pub sa_flags: i32,
}

/// `struct sigaction` as `sigaction` writes back the old action (16 bytes, no trampoline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct SigactionOut {
    pub sa_handler: u64,
    pub sa_mask: SigSet,
    pub sa_flags: i32,
}

/// `stack_t` for a 64-bit process (`sigaltstack`, and `uc_stack` in a ucontext): 24 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct SigaltStack {
    pub ss_sp: u64,
    pub ss_size: u64,
    pub ss_flags: i32,
    pub _pad: i32,
}

/// `siginfo_t` for a 64-bit process: 104 bytes. `pad[0]` carries the interrupted stack
/// pointer on arm64 (§10 step 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Siginfo {
    pub si_signo: i32,
    pub si_errno: i32,
    pub si_code: i32,
    pub si_pid: i32,
    pub si_uid: u32,
    pub si_status: i32,
    pub si_addr: u64,
    pub si_value: u64,
    pub si_band: i64,
    pub pad: [u64; 7],
}

/// Byte size of [`SigactionIn`].
pub const SIGACTION_IN_SIZE: usize = 24;
/// Byte size of [`SigactionOut`].
pub const SIGACTION_OUT_SIZE: usize = 16;
/// Byte size of [`SigaltStack`].
pub const SIGALTSTACK_SIZE: usize = 24;
/// Byte size of [`Siginfo`].
pub const SIGINFO_SIZE: usize = 104;

const _: () = assert!(core::mem::size_of::<SigactionIn>() == SIGACTION_IN_SIZE);
const _: () = assert!(offset_of!(SigactionIn, sa_tramp) == 8 && offset_of!(SigactionIn, sa_flags) == 20);
const _: () = assert!(core::mem::size_of::<SigactionOut>() == SIGACTION_OUT_SIZE);
const _: () = assert!(offset_of!(SigactionOut, sa_mask) == 8 && offset_of!(SigactionOut, sa_flags) == 12);
const _: () = assert!(core::mem::size_of::<SigaltStack>() == SIGALTSTACK_SIZE);
const _: () = assert!(offset_of!(SigaltStack, ss_flags) == 16);
const _: () = assert!(core::mem::size_of::<Siginfo>() == SIGINFO_SIZE);
const _: () = assert!(offset_of!(Siginfo, si_addr) == 24 && offset_of!(Siginfo, si_value) == 32);
const _: () = assert!(offset_of!(Siginfo, si_band) == 40 && offset_of!(Siginfo, pad) == 48);

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

    #[test]
    fn sets_and_validity() {
        assert_eq!(SIGCANTMASK, 0x1_0100);
        assert_eq!(STOPSIGMASK & TTYSTOPSIGMASK, TTYSTOPSIGMASK);
        assert_eq!(STOPSIGMASK & sigmask(SIGSTOP), sigmask(SIGSTOP));
        assert!(!is_valid(0) && is_valid(1) && is_valid(31) && !is_valid(NSIG));
        assert_eq!(SA_USERSPACE_MASK, 0x7f);
    }

    #[test]
    fn sigaction_layouts() {
        let mut raw = [0u8; SIGACTION_IN_SIZE];
        raw[..8].copy_from_slice(&0x1_0000_2000u64.to_le_bytes());
        raw[8..16].copy_from_slice(&0x1_0000_3000u64.to_le_bytes());
        raw[16..20].copy_from_slice(&0x8000_0001u32.to_le_bytes());
        raw[20..24].copy_from_slice(&0x442i32.to_le_bytes());
        let a = SigactionIn::read_from_bytes(&raw).unwrap();
        assert_eq!(
            a,
            SigactionIn {
                sa_handler: 0x1_0000_2000,
                sa_tramp: 0x1_0000_3000,
                sa_mask: 0x8000_0001,
                sa_flags: 0x442
            }
        );
        assert_eq!(a.as_bytes(), raw);
        let o = SigactionOut { sa_handler: 7, sa_mask: 0xf0, sa_flags: SA_RESTART };
        let ob = o.as_bytes();
        assert_eq!(&ob[..8], &7u64.to_le_bytes());
        assert_eq!(&ob[8..12], &0xf0u32.to_le_bytes());
        assert_eq!(&ob[12..16], &2i32.to_le_bytes());
    }

    #[test]
    fn stack_and_siginfo_layouts() {
        let s = SigaltStack { ss_sp: 0x5000, ss_size: SIGSTKSZ, ss_flags: SS_DISABLE, _pad: 0 };
        let b = s.as_bytes();
        assert_eq!(&b[8..16], &SIGSTKSZ.to_le_bytes());
        assert_eq!(&b[16..20], &4i32.to_le_bytes());
        let mut i =
            Siginfo { si_signo: SIGSEGV as i32, si_code: SEGV_ACCERR, si_addr: 0xdead, ..Siginfo::default() };
        i.pad[0] = 0x7000;
        i.pad[6] = 9;
        let b = i.as_bytes();
        assert_eq!(&b[0..4], &11i32.to_le_bytes());
        assert_eq!(&b[8..12], &2i32.to_le_bytes());
        assert_eq!(&b[24..32], &0xdeadu64.to_le_bytes());
        assert_eq!(&b[48..56], &0x7000u64.to_le_bytes());
        assert_eq!(&b[96..104], &9u64.to_le_bytes());
    }
}
