//! Signals, as far as this milestone goes: posting, Mach exceptions turned into signals
//! (XNU's `ux_handler` mapping, reference §6), and delivery of the default actions on the
//! way back to user mode (AST_BSD). Handlers, masks and `sigaction` come with M1.4.

use core::sync::atomic::Ordering;

use mach::KernReturn;
use mach::exception::{
    EXC_ARITHMETIC, EXC_BAD_ACCESS, EXC_BAD_INSTRUCTION, EXC_BREAKPOINT, EXC_EMULATION, EXC_SOFTWARE,
    EXC_SYSCALL, ExceptionType,
};
use osfmk::kern::exception::BsdHooks;
use sys::signal::{
    DefaultAction, SIGBUS, SIGEMT, SIGFPE, SIGILL, SIGSEGV, SIGSYS, SIGTRAP, Signal, default_action, sigmask,
};
use sys::wait::w_termsig;

use crate::kern::kern_exit::exit1;
use crate::kern::kern_proc::current_proc;

/// The signal BSD sends for an unhandled Mach exception (`ux_exception`).
pub fn ux_exception(exception: ExceptionType, code: i64) -> Option<Signal> {
    match exception {
        EXC_BAD_ACCESS if code == KernReturn::KERN_INVALID_ADDRESS.0 as i64 => Some(SIGSEGV),
        EXC_BAD_ACCESS => Some(SIGBUS),
        EXC_BAD_INSTRUCTION => Some(SIGILL),
        EXC_ARITHMETIC => Some(SIGFPE),
        EXC_EMULATION => Some(SIGEMT),
        EXC_BREAKPOINT => Some(SIGTRAP),
        EXC_SYSCALL => Some(SIGSYS),
        EXC_SOFTWARE => None,
        _ => None,
    }
}

/// BSD's side of the Mach ↔ BSD contract.
pub struct Hooks;

/// The instance registered at boot.
pub static BSD_HOOKS: Hooks = Hooks;

impl BsdHooks for Hooks {
    fn unhandled_exception(&self, exception: ExceptionType, code: i64, _subcode: i64) {
        if let (Some(sig), Some(p)) = (ux_exception(exception, code), current_proc()) {
            p.post_signal(sig);
        }
    }

    fn memory_exhausted(&self, addr: u64) {
        if let Some(p) = current_proc() {
            let msg = alloc::format!(
                "bsd: pid {} ({}) is out of memory (fault at {:#x}); killing it\n",
                p.p_pid,
                p.p_comm,
                addr
            );
            crate::kern::bsd_init::platform().console_write(msg.as_bytes());
            p.post_signal(sys::signal::SIGKILL);
        }
    }

    fn ast_bsd(&self) {
        let Some(p) = current_proc() else { return };
        let pending = p.p_siglist.swap(0, Ordering::SeqCst);
        for sig in 1..sys::signal::NSIG {
            if pending & sigmask(sig) == 0 {
                continue;
            }
            match default_action(sig) {
                DefaultAction::Terminate => exit1(&p, w_termsig(sig, false)),
                DefaultAction::Core => exit1(&p, w_termsig(sig, true)),
                // Stopping needs job control (M1.4); until then stop signals are ignored,
                // as are the signals whose default is to do nothing.
                DefaultAction::Stop | DefaultAction::Continue | DefaultAction::Ignore => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_map_like_xnu() {
        assert_eq!(ux_exception(EXC_BAD_ACCESS, KernReturn::KERN_INVALID_ADDRESS.0 as i64), Some(SIGSEGV));
        assert_eq!(ux_exception(EXC_BAD_ACCESS, KernReturn::KERN_PROTECTION_FAILURE.0 as i64), Some(SIGBUS));
        assert_eq!(ux_exception(EXC_SYSCALL, 77), Some(SIGSYS));
        assert_eq!(ux_exception(EXC_BAD_INSTRUCTION, 0), Some(SIGILL));
    }
}
