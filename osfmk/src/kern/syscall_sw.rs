//! The Mach trap table (`mach_trap_table`): trap number → handler, built from the single
//! declaration in `mach::traps`. Each handler takes the argument registers and returns what
//! goes back in x0. A number with no handler raises EXC_SYSCALL, as XNU's `kern_invalid`
//! slots do (reference §1.3): with no exception handler the process dies of SIGSYS.

use mach::exception::EXC_SYSCALL;
use mach::port::MACH_PORT_NULL;
use mach::traps::MACH_TRAP_TABLE_COUNT;
use mach::{KernReturn, for_each_mach_trap};

use crate::arm64::copyio::{UserAddr, copyout};
use crate::arm64::trapframe::TrapFrame;
use crate::ipc::mach_kernelrpc;
use crate::kern::exception::exception_triage;
use crate::kern::sched_prim::current_thread;
use crate::kern::{clock, sync_sema, syscall_subr};

/// Argument registers x0–x7 of a trap.
pub struct MachTrapArgs(pub [u64; 8]);

/// Handlers, named as in the table.
mod traps {
    use super::*;

    /// Allocate memory in the caller's map.
    pub fn _kernelrpc_mach_vm_allocate_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_vm_allocate_trap(a.0[0], a.0[1], a.0[2], a.0[3])
    }

    /// Deallocate a range of the caller's map.
    pub fn _kernelrpc_mach_vm_deallocate_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_vm_deallocate_trap(a.0[0], a.0[1], a.0[2])
    }

    /// Change the protection of a range of the caller's map.
    pub fn _kernelrpc_mach_vm_protect_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_vm_protect_trap(a.0[0], a.0[1], a.0[2], a.0[3], a.0[4])
    }

    /// Map anonymous memory into the caller's map.
    pub fn _kernelrpc_mach_vm_map_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_vm_map_trap(a.0[0], a.0[1], a.0[2], a.0[3], a.0[4], a.0[5])
    }

    /// Allocate a right in the caller's space.
    pub fn _kernelrpc_mach_port_allocate_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_allocate_trap(a.0[0], a.0[1], a.0[2])
    }

    /// Drop one user reference of a right in the caller's space.
    pub fn _kernelrpc_mach_port_deallocate_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_deallocate_trap(a.0[0], a.0[1])
    }

    /// Change the user references of a right in the caller's space.
    pub fn _kernelrpc_mach_port_mod_refs_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_mod_refs_trap(a.0[0], a.0[1], a.0[2], a.0[3])
    }

    /// Move a receive right into a port set (or out of its set).
    pub fn _kernelrpc_mach_port_move_member_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_move_member_trap(a.0[0], a.0[1], a.0[2])
    }

    /// Add a receive right to a port set.
    pub fn _kernelrpc_mach_port_insert_member_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_insert_member_trap(a.0[0], a.0[1], a.0[2])
    }

    /// Take a receive right out of a port set.
    pub fn _kernelrpc_mach_port_extract_member_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_extract_member_trap(a.0[0], a.0[1], a.0[2])
    }

    /// A receive right with options (queue limit, a send right under the same name).
    pub fn _kernelrpc_mach_port_construct_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_construct_trap(a.0[0], a.0[1], a.0[2], a.0[3])
    }

    /// Drop a receive right and some send references with it.
    pub fn _kernelrpc_mach_port_destruct_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_destruct_trap(a.0[0], a.0[1], a.0[2], a.0[3])
    }

    /// A receive right's attributes.
    pub fn _kernelrpc_mach_port_get_attributes_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_get_attributes_trap(a.0[0], a.0[1], a.0[2], a.0[3], a.0[4])
    }

    /// Enter a right under a chosen name in the caller's space.
    pub fn _kernelrpc_mach_port_insert_right_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_insert_right_trap(a.0[0], a.0[1], a.0[2], a.0[3])
    }

    /// Arm or disarm a port notification.
    pub fn _kernelrpc_mach_port_request_notification_trap(a: &MachTrapArgs) -> u64 {
        let [task, name, msgid, sync, notify, poly, previous, _] = a.0;
        mach_kernelrpc::mach_port_request_notification_trap(task, name, msgid, sync, notify, poly, previous)
    }

    /// The rights a name in the caller's space stands for.
    pub fn _kernelrpc_mach_port_type_trap(a: &MachTrapArgs) -> u64 {
        mach_kernelrpc::mach_port_type_trap(a.0[0], a.0[1], a.0[2])
    }

    /// A send right to another process's task port, by pid.
    pub fn task_for_pid(a: &MachTrapArgs) -> u64 {
        crate::kern::task_for_pid::task_for_pid(a.0[0], a.0[1], a.0[2])
    }

    /// The pid of the process a task port belongs to.
    pub fn pid_for_task(a: &MachTrapArgs) -> u64 {
        crate::kern::task_for_pid::pid_for_task(a.0[0], a.0[1])
    }

    /// A new port with only a receive right, named in the caller's space.
    pub fn mach_reply_port(_: &MachTrapArgs) -> u64 {
        let task = current_thread().task.clone();
        match task.itk_space.alloc_receive() {
            Ok((name, _port)) => name as u64,
            Err(_) => MACH_PORT_NULL as u64,
        }
    }

    /// A send right to the calling thread's kernel port.
    pub fn thread_self_trap(_: &MachTrapArgs) -> u64 {
        let thread = current_thread();
        let port = thread.self_port();
        thread.task.itk_space.insert_send(&port).map_or(MACH_PORT_NULL, |n| n) as u64
    }

    /// A send right to the calling task's kernel port.
    pub fn task_self_trap(_: &MachTrapArgs) -> u64 {
        let task = current_thread().task.clone();
        let port = task.self_port();
        task.itk_space.insert_send(&port).map_or(MACH_PORT_NULL, |n| n) as u64
    }

    /// A send right to the host port.
    pub fn host_self_trap(_: &MachTrapArgs) -> u64 {
        let task = current_thread().task.clone();
        let port = crate::kern::host::host_port();
        task.itk_space.insert_send(&port).map_or(MACH_PORT_NULL, |n| n) as u64
    }

    /// Send and/or receive a message.
    pub fn mach_msg_trap(a: &MachTrapArgs) -> u64 {
        let [msg, option, send_size, rcv_size, rcv_name, timeout, ..] = a.0;
        crate::ipc::mach_msg::mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout)
    }

    /// `mach_msg_trap` with a separate receive buffer.
    pub fn mach_msg_overwrite_trap(a: &MachTrapArgs) -> u64 {
        let [msg, option, send_size, rcv_size, rcv_name, timeout, _, rcv_msg] = a.0;
        crate::ipc::mach_msg::mach_msg_overwrite_trap(
            msg, option, send_size, rcv_size, rcv_name, timeout, rcv_msg,
        )
    }

    /// Send and/or receive a message, the header in registers.
    pub fn mach_msg2_trap(a: &MachTrapArgs) -> u64 {
        let [data, options, x2, x3, x4, x5, x6, x7] = a.0;
        crate::ipc::mach_msg::mach_msg2_trap(data, options, x2, x3, x4, x5, x6, x7)
    }

    /// Signal a semaphore.
    pub fn semaphore_signal_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_signal_trap(a.0[0])
    }

    /// Wake every waiter of a semaphore.
    pub fn semaphore_signal_all_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_signal_all_trap(a.0[0])
    }

    /// Wake one given thread waiting on a semaphore.
    pub fn semaphore_signal_thread_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_signal_thread_trap(a.0[0], a.0[1])
    }

    /// Wait on a semaphore.
    pub fn semaphore_wait_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_wait_trap(a.0[0])
    }

    /// Signal one semaphore and wait on another.
    pub fn semaphore_wait_signal_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_wait_signal_trap(a.0[0], a.0[1])
    }

    /// Wait on a semaphore with a timeout.
    pub fn semaphore_timedwait_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_timedwait_trap(a.0[0], a.0[1], a.0[2])
    }

    /// Signal one semaphore and wait on another with a timeout.
    pub fn semaphore_timedwait_signal_trap(a: &MachTrapArgs) -> u64 {
        sync_sema::traps::semaphore_timedwait_signal_trap(a.0[0], a.0[1], a.0[2], a.0[3])
    }

    /// Yield to any equal or better thread; true if others were runnable.
    pub fn swtch(_: &MachTrapArgs) -> u64 {
        syscall_subr::swtch() as u64
    }

    /// Yield below every other runnable thread once.
    pub fn swtch_pri(_: &MachTrapArgs) -> u64 {
        syscall_subr::swtch_pri() as u64
    }

    /// Yield, depressed or for a while.
    pub fn thread_switch(args: &MachTrapArgs) -> u64 {
        kr(syscall_subr::thread_switch(args.0[0] as u32, args.0[1] as u32, args.0[2] as u32))
    }

    /// Sleep on the system clock; optionally copy out the wake time.
    pub fn clock_sleep_trap(args: &MachTrapArgs) -> u64 {
        let [clock, kind, sec, nsec, wakeup, ..] = args.0;
        match syscall_subr::clock_sleep(clock as u32, kind as u32, sec as u32, nsec as u32) {
            Ok(ts) if wakeup != 0 => {
                let mut bytes = [0u8; 8];
                bytes[..4].copy_from_slice(&ts.tv_sec.to_le_bytes());
                bytes[4..].copy_from_slice(&ts.tv_nsec.to_le_bytes());
                copyout_current(&bytes, wakeup)
            }
            Ok(_) => kr(KernReturn::KERN_SUCCESS),
            Err(e) => kr(e),
        }
    }

    /// Sleep until an absolute time.
    pub fn mach_wait_until_trap(args: &MachTrapArgs) -> u64 {
        kr(syscall_subr::mach_wait_until(args.0[0]))
    }

    /// Copy out `{numer, denom}` for converting absolute time to nanoseconds.
    pub fn mach_timebase_info_trap(args: &MachTrapArgs) -> u64 {
        let tb = clock::mach_timebase_info();
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&tb.numer.to_le_bytes());
        bytes[4..].copy_from_slice(&tb.denom.to_le_bytes());
        copyout_current(&bytes, args.0[0])
    }

    /// A `kern_return_t` as it goes back in x0 (sign-extended).
    fn kr(k: KernReturn) -> u64 {
        k.0 as i64 as u64
    }

    /// Copy `bytes` to the caller's `addr`: KERN_SUCCESS or KERN_INVALID_ADDRESS.
    fn copyout_current(bytes: &[u8], addr: u64) -> u64 {
        let task = current_thread().task.clone();
        if task.map.is_none() {
            return kr(KernReturn::KERN_INVALID_ARGUMENT);
        }
        match copyout(bytes, UserAddr(addr)) {
            Ok(()) => kr(KernReturn::KERN_SUCCESS),
            Err(_) => kr(KernReturn::KERN_INVALID_ADDRESS),
        }
    }
}

macro_rules! build_dispatch {
    ($( ($nr:literal, $name:ident, [$($arg:ident),*]) ),* $(,)?) => {
        fn dispatch(nr: u32, args: &MachTrapArgs) -> Option<u64> {
            match nr {
                $( $nr => Some(traps::$name(args)), )*
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
    let mut regs = [0; 8];
    regs.copy_from_slice(&frame.x[..8]);
    let result = if nr < MACH_TRAP_TABLE_COUNT { dispatch(nr, &MachTrapArgs(regs)) } else { None };
    match result {
        Some(x0) => frame.x[0] = x0,
        None => exception_triage(EXC_SYSCALL, nr as i64, 0),
    }
}
