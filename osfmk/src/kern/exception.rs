//! Mach exceptions and the hooks BSD registers with Mach.
//!
//! A fault or a bad trap that Mach cannot resolve becomes an exception message to the
//! thread's, then the task's, then the host's exception port (M1.5). With no taker — always,
//! for now — BSD's `ux_handler` turns it into a signal. Mach never names BSD: BSD installs an
//! implementation of [`BsdHooks`] at boot, the Rust form of XNU's BSD callouts.

use mach::exception::ExceptionType;

/// What Mach asks of the BSD personality.
pub trait BsdHooks: Sync {
    /// An exception nobody handled: deliver the matching signal to the current process
    /// (XNU's `ux_handler`/`threadsignal`). Returns only if the thread survives it.
    fn unhandled_exception(&self, exception: ExceptionType, code: i64, subcode: i64);
    /// A fault found no free page: the current task must die (with a log line), and the
    /// kernel keeps running. `addr` is where it faulted.
    fn memory_exhausted(&self, addr: u64);
    /// Deliver whatever is pending for the current thread before it returns to user mode
    /// (AST_BSD), rewriting `frame` to enter a signal handler. May not return if the process
    /// dies.
    fn ast_bsd(&self, frame: &mut crate::arm64::trapframe::TrapFrame);
    /// The pid of the process that wraps `task`, if one does (`pid_for_task`).
    #[cfg(target_os = "none")]
    fn task_pid(&self, task: &crate::kern::task::Task) -> Option<i32>;
    /// The task of process `pid`, if the current process may control it (`task_for_pid`'s
    /// policy); `KERN_FAILURE` otherwise, as XNU answers.
    #[cfg(target_os = "none")]
    fn task_for_pid(&self, pid: i32) -> Result<crate::kern::task::TaskRef, mach::KernReturn>;
    /// The audit token of the process wrapping `task` (reference §4.5: auid, euid, egid,
    /// ruid, rgid, pid, asid, pid version), for the trailers of the messages it sends.
    #[cfg(target_os = "none")]
    fn audit_token(&self, task: &crate::kern::task::Task) -> Option<[u32; 8]>;
}

static HOOKS: spin::Once<&'static dyn BsdHooks> = spin::Once::new();

/// BSD registers itself once at boot.
pub fn register_bsd_hooks(hooks: &'static dyn BsdHooks) {
    HOOKS.call_once(|| hooks);
}

/// The registered hooks, if BSD is up.
pub fn bsd_hooks() -> Option<&'static dyn BsdHooks> {
    HOOKS.get().copied()
}

/// Raise `exception` for the current thread (`exception_triage`). There are no exception
/// ports yet, so this goes straight to BSD; without BSD it is a kernel bug.
pub fn exception_triage(exception: ExceptionType, code: i64, subcode: i64) {
    match bsd_hooks() {
        Some(h) => h.unhandled_exception(exception, code, subcode),
        None => panic!("exception {exception} (code {code:#x}, subcode {subcode:#x}) before BSD is up"),
    }
}
