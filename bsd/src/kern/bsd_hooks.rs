//! BSD's side of the Mach ↔ BSD contract (`osfmk::kern::exception::BsdHooks`): each hook
//! hands Mach's call to the BSD module that owns the work (signals, the process lifecycle,
//! `vm_unix`). Registered once by `bsd_init`.

use mach::exception::ExceptionType;
use mach::{KernReturn, MachPortName};
use osfmk::arm64::trapframe::TrapFrame;
use osfmk::kern::exception::BsdHooks;
use osfmk::kern::task::Task;
use osfmk::kern::thread::Thread;
use osfmk::vm::user_ptr::UserAddr;

use crate::kern::kern_exit::exit1;
use crate::kern::kern_sendsig::SigOrigin;
use crate::kern::kern_sig::{self, psignal};
use crate::vm::vm_unix::{self, proc_of_task};

/// The hooks (no state: everything they need is in the processes).
pub struct Hooks;

/// The instance registered at boot.
pub static BSD_HOOKS: Hooks = Hooks;

impl BsdHooks for Hooks {
    fn unhandled_exception(&self, exception: ExceptionType, code: i64, subcode: i64) {
        kern_sig::unhandled_exception(exception, code, subcode);
    }

    fn memory_exhausted(&self, addr: u64) {
        kern_sig::memory_exhausted(addr);
    }

    fn ast_bsd(&self, frame: &mut TrapFrame) {
        kern_sig::bsd_ast(frame);
    }

    fn pid_for_task(&self, t: MachPortName, pid_out: UserAddr) -> Result<(), KernReturn> {
        vm_unix::pid_for_task(t, pid_out)
    }

    fn task_for_pid(&self, target_tport: MachPortName, pid: i32, t_out: UserAddr) -> Result<(), KernReturn> {
        vm_unix::task_for_pid(target_tport, pid, t_out)
    }

    fn task_terminate(&self, task: &Task) -> bool {
        let Some(p) = proc_of_task(task) else { return false };
        let _ = psignal(&p, sys::signal::SIGKILL, SigOrigin::default());
        true
    }

    fn thread_terminated(&self, thread: &Thread, last: bool) {
        let Some(p) = proc_of_task(&thread.task) else { return };
        if !p.p_lexit.load(core::sync::atomic::Ordering::Acquire) {
            // Once exiting, exit1 has counted the time of every thread still running.
            p.thread_ended(thread);
        }
        if last {
            // The last thread of a process ending is the process exiting, whatever ended
            // it (XNU: `proc_exit` from `thread_terminate_self`); exit1 does nothing if the
            // process is exiting already.
            exit1(&p, sys::wait::w_exitcode(0));
        }
    }

    /// Audit session ids and pid versions are not kept: both read 0. The audit uid is the
    /// real uid (there is no login session to set it apart).
    fn audit_token(&self, task: &Task) -> Option<[u32; 8]> {
        let p = proc_of_task(task)?;
        let cred = *p.p_ucred.lock();
        Some([cred.ruid, cred.uid, cred.gid, cred.ruid, cred.rgid, p.p_pid as u32, 0, 0])
    }
}
