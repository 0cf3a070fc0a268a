//! The Mach trap table (XNU `osfmk/kern/syscall_sw.c`, reference §3), declared once.
//!
//! User space passes `x16 = -N`. [`for_each_mach_trap!`] hands every trap this kernel
//! implements to a caller's macro as `(N, name, [args])`: the kernel's dispatcher
//! (`osfmk::kern::syscall_sw`) and the user stubs (`libsys::mach`) are both built from it.
//! Slots not listed raise `EXC_SYSCALL` like XNU's `kern_invalid` (reference §1.3).

/// Number of slots in the Mach trap table.
pub const MACH_TRAP_TABLE_COUNT: u32 = 128;

/// Fast trap: `mach_absolute_time`, handled before the table (x0 ← time).
pub const MACH_ABSOLUTE_TIME_TRAP: u32 = 3;
/// Fast trap: `mach_continuous_time`, handled before the table.
pub const MACH_CONTINUOUS_TIME_TRAP: u32 = 4;

/// Calls `$m!` with every implemented trap as `(number, name, [args])`.
#[macro_export]
macro_rules! for_each_mach_trap {
    ($m:ident) => {
        $m! {
            (10, _kernelrpc_mach_vm_allocate_trap, [target, addr, size, flags]),
            (12, _kernelrpc_mach_vm_deallocate_trap, [target, address, size]),
            (14, _kernelrpc_mach_vm_protect_trap, [target, address, size, set_maximum, new_prot]),
            (15, _kernelrpc_mach_vm_map_trap, [target, addr, size, mask, flags, cur_prot]),
            (16, _kernelrpc_mach_port_allocate_trap, [target, right, name]),
            (18, _kernelrpc_mach_port_deallocate_trap, [target, name]),
            (19, _kernelrpc_mach_port_mod_refs_trap, [target, name, right, delta]),
            (20, _kernelrpc_mach_port_move_member_trap, [target, member, after]),
            (21, _kernelrpc_mach_port_insert_right_trap, [target, name, poly, poly_poly]),
            (22, _kernelrpc_mach_port_insert_member_trap, [target, name, pset]),
            (23, _kernelrpc_mach_port_extract_member_trap, [target, name, pset]),
            (24, _kernelrpc_mach_port_construct_trap, [target, options, context, name]),
            (25, _kernelrpc_mach_port_destruct_trap, [target, name, srdelta, guard]),
            (26, mach_reply_port, []),
            (27, thread_self_trap, []),
            (28, task_self_trap, []),
            (29, host_self_trap, []),
            (31, mach_msg_trap, [msg, option, send_size, rcv_size, rcv_name, timeout, priority]),
            (32, mach_msg_overwrite_trap, [msg, option, send_size, rcv_size, rcv_name, timeout, priority, rcv_msg]),
            (33, semaphore_signal_trap, [sema]),
            (34, semaphore_signal_all_trap, [sema]),
            (35, semaphore_signal_thread_trap, [sema, thread]),
            (36, semaphore_wait_trap, [sema]),
            (37, semaphore_wait_signal_trap, [wait_sema, signal_sema]),
            (38, semaphore_timedwait_trap, [sema, sec, nsec]),
            (39, semaphore_timedwait_signal_trap, [wait_sema, signal_sema, sec, nsec]),
            (40, _kernelrpc_mach_port_get_attributes_trap, [target, name, flavor, info, count]),
            (45, task_for_pid, [target_tport, pid, t]),
            (46, pid_for_task, [t, pid]),
            (47, mach_msg2_trap, [data, options, bits_send_size, remote_local, voucher_id, desc_rcv_name, rcv_size_priority, timeout]),
            (59, swtch_pri, [pri]),
            (60, swtch, []),
            (61, thread_switch, [thread_name, option, option_time]),
            (62, clock_sleep_trap, [clock_name, sleep_type, sec, nsec, wakeup_time]),
            (89, mach_timebase_info_trap, [info]),
            (76, _kernelrpc_mach_port_type_trap, [task, name, ptype]),
            (77, _kernelrpc_mach_port_request_notification_trap, [task, name, msgid, sync, notify, notify_poly, previous]),
            (90, mach_wait_until_trap, [deadline]),
        }
    };
}

macro_rules! trap_numbers {
    ($( ($nr:literal, $name:ident, [$($arg:ident),*]) ),* $(,)?) => {
        /// Trap numbers (positive; user space passes the negation in x16).
        #[allow(non_upper_case_globals)]
        pub mod nr {
            $( #[doc = stringify!($name)] pub const $name: u32 = $nr; )*
        }
    };
}
for_each_mach_trap!(trap_numbers);

/// `thread_switch` options (`osfmk/mach/thread_switch.h`, reference §3).
pub mod switch_option {
    /// Just yield (to the named thread if it can run).
    pub const SWITCH_OPTION_NONE: u32 = 0;
    /// Yield and depress the caller's priority for `option_time` ms.
    pub const SWITCH_OPTION_DEPRESS: u32 = 1;
    /// Yield and wait `option_time` ms.
    pub const SWITCH_OPTION_WAIT: u32 = 2;
    /// Lock contention: like DEPRESS.
    pub const SWITCH_OPTION_DISPATCH_CONTENTION: u32 = 3;
    /// OS lock contention: like DEPRESS.
    pub const SWITCH_OPTION_OSLOCK_DEPRESS: u32 = 4;
    /// OS lock contention: like WAIT.
    pub const SWITCH_OPTION_OSLOCK_WAIT: u32 = 5;
}

/// `clock_sleep` sleep types (`osfmk/mach/clock_types.h`).
pub mod sleep_type {
    /// The time is an absolute clock value.
    pub const TIME_ABSOLUTE: u32 = 0;
    /// The time is relative to now.
    pub const TIME_RELATIVE: u32 = 1;
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_match_xnu() {
        assert_eq!(super::nr::mach_reply_port, 26);
        assert_eq!(super::nr::task_self_trap, 28);
        assert_eq!(super::nr::mach_timebase_info_trap, 89);
    }
}
