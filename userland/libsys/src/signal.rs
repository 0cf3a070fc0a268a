//! Signals: installing handlers (with the trampoline the kernel returns through, as
//! Darwin's libc does), masks, and `kill`.
//!
//! The kernel enters `__libsys_sigtramp` with x0 = handler, x1 = infostyle, x2 = signal,
//! x3 = &siginfo, x4 = &ucontext, x5 = token; it calls the handler, then `sigreturn(uctx,
//! infostyle, token)` restores the interrupted state.

use sys::Errno;
use sys::signal::{SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP, SigSet, SigactionIn, SigactionOut, Signal};

core::arch::global_asm!(
    r#"
.global __libsys_sigtramp
__libsys_sigtramp:
    mov     x19, x4
    mov     x20, x1
    mov     x21, x5
    mov     x9, x0
    mov     x0, x2
    mov     x1, x3
    mov     x2, x4
    blr     x9
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x16, #{sigreturn}
    svc     #0x80
    brk     #1
"#,
    sigreturn = const sys::syscalls::SYS_sigreturn,
);

unsafe extern "C" {
    fn __libsys_sigtramp();
}

/// A handler: `fn(signal)` (or, with SA_SIGINFO, also given &siginfo and &ucontext).
pub type Handler = extern "C" fn(i32, u64, u64);

/// Install `handler` for `sig` with `mask` added while it runs and `flags` (`SA_*`).
/// Returns the previous handler address.
pub fn signal_action(sig: Signal, handler: Handler, mask: SigSet, flags: i32) -> Result<u64, Errno> {
    install(sig, handler as *const () as u64, mask, flags)
}

/// Set `sig` to SIG_DFL (0) or SIG_IGN (1), or any raw handler value.
pub fn install(sig: Signal, handler: u64, mask: SigSet, flags: i32) -> Result<u64, Errno> {
    let act = SigactionIn {
        sa_handler: handler,
        sa_tramp: __libsys_sigtramp as *const () as u64,
        sa_mask: mask,
        sa_flags: flags | SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP,
    };
    let mut old = SigactionOut::default();
    // SAFETY: both are valid, `repr(C)` ABI structs.
    unsafe {
        crate::syscall::sigaction(
            sig as i32,
            &act as *const SigactionIn as u64,
            &mut old as *mut SigactionOut as u64,
        )?
    };
    Ok(old.sa_handler)
}

/// `sigprocmask(how, set)`: returns the old mask.
pub fn sigprocmask(how: i32, set: SigSet) -> Result<SigSet, Errno> {
    let mut old = 0u32;
    // SAFETY: both point at valid u32s.
    unsafe {
        crate::syscall::sigprocmask(how, &set as *const u32 as u64, &mut old as *mut u32 as u64)?;
    }
    Ok(old)
}

/// `sigpending()`.
pub fn sigpending() -> Result<SigSet, Errno> {
    let mut set = 0u32;
    // SAFETY: `set` is a valid u32.
    unsafe { crate::syscall::sigpending(&mut set as *mut u32 as u64)? };
    Ok(set)
}

/// `kill(pid, sig)` with POSIX semantics.
pub fn kill(pid: i32, sig: Signal) -> Result<(), Errno> {
    crate::syscall::kill(pid, sig as i32, 1).map(|_| ())
}
