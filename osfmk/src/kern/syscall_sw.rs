//! The Mach trap table (`mach_trap_table`): trap number → handler, built from the single
//! declaration in `mach::traps`. The dispatcher turns each argument register into the type
//! the declaration gives it (`mach::traps::TrapArg`: a 32-bit type is the register's low 32
//! bits, as XNU's arm64 trap entry reads it), calls the handler of the trap's name with those
//! typed values — so a handler whose signature disagrees with the declaration does not
//! compile — and encodes its result into x0 (`mach::traps::TrapReturn`). A number with no
//! handler raises EXC_SYSCALL, as XNU's `kern_invalid` slots do (reference §1.3): with no
//! exception handler the process dies of SIGSYS.
//!
//! The handlers live with their subsystems under XNU's trap names (`mach_kernelrpc`,
//! `mach_msg`, `task_for_pid`, `sync_sema::traps`, `syscall_subr`, `clock`); only the
//! port-returning `*_self_trap`s are here.

use mach::exception::EXC_SYSCALL;
use mach::port::MACH_PORT_NULL;
use mach::traps::{MACH_TRAP_MAX_ARGS, MACH_TRAP_TABLE_COUNT, TrapArg, TrapReturn};
use mach::{MachPortName, for_each_mach_trap};

use crate::arm64::trapframe::TrapFrame;
use crate::kern::clock;
use crate::kern::exception::exception_triage;
use crate::kern::sched_prim::current_thread;
use crate::vm::user_ptr::UserAddr;

/// The argument types as this side sees them: XNU's (`mach::traps::types`), and a user
/// address as the kernel's unchecked [`UserAddr`] (a handler makes a `UserPtr` of it, or
/// `copyout_val`s to it, when it touches the memory).
#[allow(non_camel_case_types)]
mod args {
    pub use mach::traps::types::*;

    /// `user_addr_t`.
    pub type user_addr_t = super::UserAddr;
}

impl TrapArg for UserAddr {
    fn from_reg(reg: u64) -> UserAddr {
        UserAddr(reg)
    }
    fn into_reg(self) -> u64 {
        self.0
    }
}

/// Every handler, by its trap's name.
mod handlers {
    pub use super::mach_self::*;
    pub use crate::ipc::mach_kernelrpc::*;
    pub use crate::ipc::mach_msg::{mach_msg_overwrite_trap, mach_msg_trap, mach_msg2_trap};
    pub use crate::kern::clock::mach_timebase_info_trap;
    pub use crate::kern::sync_sema::traps::*;
    pub use crate::kern::syscall_subr::*;
    pub use crate::kern::task_for_pid::*;
}

/// The traps that answer a name in the caller's space (XNU's `ipc_tt.c` and `mach_port.c`
/// ones).
mod mach_self {
    use super::*;

    /// −26: a new port with only a receive right, named in the caller's space.
    pub fn mach_reply_port() -> MachPortName {
        let task = current_thread().task.clone();
        task.itk_space.alloc_receive().map_or(MACH_PORT_NULL, |(name, _port)| name)
    }

    /// −27: a send right to the calling thread's kernel port.
    pub fn thread_self_trap() -> MachPortName {
        let thread = current_thread();
        let port = thread.self_port();
        thread.task.itk_space.insert_send(&port).unwrap_or(MACH_PORT_NULL)
    }

    /// −28: a send right to the calling task's kernel port.
    pub fn task_self_trap() -> MachPortName {
        let task = current_thread().task.clone();
        let port = task.self_port();
        task.itk_space.insert_send(&port).unwrap_or(MACH_PORT_NULL)
    }

    /// −29: a send right to the host port.
    pub fn host_self_trap() -> MachPortName {
        let task = current_thread().task.clone();
        task.itk_space.insert_send(&crate::kern::host::host_port()).unwrap_or(MACH_PORT_NULL)
    }
}

macro_rules! build_dispatch {
    ($( ($nr:literal, $name:ident, ($($arg:ident: $ty:ident),*) -> $ret:ident) ),* $(,)?) => {
        /// Run trap `nr` on the argument registers; what goes back in x0, or None for an
        /// empty slot.
        fn dispatch(nr: u32, regs: [u64; MACH_TRAP_MAX_ARGS]) -> Option<u64> {
            match nr {
                $( $nr => {
                    // Registers in order; the table test keeps every trap within eight.
                    #[allow(unused_mut, unused_variables)]
                    let mut regs = regs.into_iter();
                    $( let $arg = <args::$ty as TrapArg>::from_reg(regs.next().unwrap_or(0)); )*
                    let result: <mach::traps::returns::$ret as TrapReturn>::Handler =
                        handlers::$name($($arg),*);
                    Some(<mach::traps::returns::$ret as TrapReturn>::encode(result))
                } )*
                _ => None,
            }
        }
    };
}
for_each_mach_trap!(build_dispatch);

/// Handle `svc` with a negative x16: trap `-x16`. Fast traps come first, as in XNU.
pub fn mach_syscall(frame: &mut TrapFrame) {
    let nr = (frame.x[16] as i32).unsigned_abs();
    if nr == mach::traps::MACH_ABSOLUTE_TIME_TRAP || nr == mach::traps::MACH_CONTINUOUS_TIME_TRAP {
        frame.x[0] = clock::mach_absolute_time();
        return;
    }
    let mut regs = [0; MACH_TRAP_MAX_ARGS];
    regs.copy_from_slice(&frame.x[..MACH_TRAP_MAX_ARGS]);
    let result = if nr < MACH_TRAP_TABLE_COUNT { dispatch(nr, regs) } else { None };
    match result {
        Some(x0) => frame.x[0] = x0,
        None => exception_triage(EXC_SYSCALL, nr as i64, 0),
    }
}
