//! The Mach trap table (XNU `osfmk/kern/syscall_sw.c`, reference §3), declared once.
//!
//! User space passes `x16 = -N`. [`for_each_mach_trap!`] hands every trap this kernel
//! implements to a caller's macro as `(N, name, (arg: type, ...) -> return_kind)`, with XNU's
//! argument types (the fields of its `*_args` structs in `osfmk/mach/mach_traps.h`) and its
//! return type. The kernel's dispatcher (`osfmk::kern::syscall_sw`) and the user stubs
//! (`libsys::mach_traps`) are both built from it, so neither can take or give a different type.
//! Slots not listed raise `EXC_SYSCALL` like XNU's `kern_invalid` (reference §1.3).
//!
//! The types are those of [`types`] — except `user_addr_t`, a user address, which each side
//! names for itself (the kernel an unchecked user address, user space a raw pointer). How a
//! value sits in a register is [`TrapArg`]'s to say, and how a result sits in x0
//! [`TrapReturn`]'s, each said once for both sides.

use crate::kern_return::KernReturn;
use crate::message::MachMsgReturn;
use crate::port::MachPortName;

/// Number of slots in the Mach trap table.
pub const MACH_TRAP_TABLE_COUNT: u32 = 128;

/// The most argument registers a trap reads (x0–x7).
pub const MACH_TRAP_MAX_ARGS: usize = 8;

/// Fast trap: `mach_absolute_time`, handled before the table (x0 ← time).
pub const MACH_ABSOLUTE_TIME_TRAP: u32 = 3;
/// Fast trap: `mach_continuous_time`, handled before the table.
pub const MACH_CONTINUOUS_TIME_TRAP: u32 = 4;

/// Calls `$m!` with every implemented trap as `(number, name, (arg: type, ...) -> return)`.
/// Argument types are the names in [`types`] plus `user_addr_t`; return kinds are the names in
/// [`returns`].
#[macro_export]
macro_rules! for_each_mach_trap {
    ($m:ident) => {
        $m! {
            (10, _kernelrpc_mach_vm_allocate_trap,
                (target: mach_port_name_t, addr: user_addr_t, size: mach_vm_size_t, flags: int)
                -> kern_return_t),
            (12, _kernelrpc_mach_vm_deallocate_trap,
                (target: mach_port_name_t, address: mach_vm_address_t, size: mach_vm_size_t)
                -> kern_return_t),
            (14, _kernelrpc_mach_vm_protect_trap,
                (target: mach_port_name_t, address: mach_vm_address_t, size: mach_vm_size_t,
                 set_maximum: boolean_t, new_protection: vm_prot_t)
                -> kern_return_t),
            (15, _kernelrpc_mach_vm_map_trap,
                (target: mach_port_name_t, addr: user_addr_t, size: mach_vm_size_t,
                 mask: mach_vm_offset_t, flags: int, cur_protection: vm_prot_t)
                -> kern_return_t),
            (16, _kernelrpc_mach_port_allocate_trap,
                (target: mach_port_name_t, right: mach_port_right_t, name: user_addr_t)
                -> kern_return_t),
            (18, _kernelrpc_mach_port_deallocate_trap,
                (target: mach_port_name_t, name: mach_port_name_t)
                -> kern_return_t),
            (19, _kernelrpc_mach_port_mod_refs_trap,
                (target: mach_port_name_t, name: mach_port_name_t, right: mach_port_right_t,
                 delta: mach_port_delta_t)
                -> kern_return_t),
            (20, _kernelrpc_mach_port_move_member_trap,
                (target: mach_port_name_t, member: mach_port_name_t, after: mach_port_name_t)
                -> kern_return_t),
            (21, _kernelrpc_mach_port_insert_right_trap,
                (target: mach_port_name_t, name: mach_port_name_t, poly: mach_port_name_t,
                 poly_poly: mach_msg_type_name_t)
                -> kern_return_t),
            (22, _kernelrpc_mach_port_insert_member_trap,
                (target: mach_port_name_t, name: mach_port_name_t, pset: mach_port_name_t)
                -> kern_return_t),
            (23, _kernelrpc_mach_port_extract_member_trap,
                (target: mach_port_name_t, name: mach_port_name_t, pset: mach_port_name_t)
                -> kern_return_t),
            (24, _kernelrpc_mach_port_construct_trap,
                (target: mach_port_name_t, options: user_addr_t, context: uint64_t, name: user_addr_t)
                -> kern_return_t),
            (25, _kernelrpc_mach_port_destruct_trap,
                (target: mach_port_name_t, name: mach_port_name_t, srdelta: mach_port_delta_t,
                 guard: uint64_t)
                -> kern_return_t),
            (26, mach_reply_port, () -> mach_port_name_t),
            (27, thread_self_trap, () -> mach_port_name_t),
            (28, task_self_trap, () -> mach_port_name_t),
            (29, host_self_trap, () -> mach_port_name_t),
            (31, mach_msg_trap,
                (msg: user_addr_t, option: mach_msg_option_t, send_size: mach_msg_size_t,
                 rcv_size: mach_msg_size_t, rcv_name: mach_port_name_t,
                 timeout: mach_msg_timeout_t, priority: mach_msg_priority_t)
                -> mach_msg_return_t),
            (32, mach_msg_overwrite_trap,
                (msg: user_addr_t, option: mach_msg_option_t, send_size: mach_msg_size_t,
                 rcv_size: mach_msg_size_t, rcv_name: mach_port_name_t,
                 timeout: mach_msg_timeout_t, priority: mach_msg_priority_t, rcv_msg: user_addr_t)
                -> mach_msg_return_t),
            (33, semaphore_signal_trap, (signal_name: mach_port_name_t) -> kern_return_t),
            (34, semaphore_signal_all_trap, (signal_name: mach_port_name_t) -> kern_return_t),
            (35, semaphore_signal_thread_trap,
                (signal_name: mach_port_name_t, thread_name: mach_port_name_t)
                -> kern_return_t),
            (36, semaphore_wait_trap, (wait_name: mach_port_name_t) -> kern_return_t),
            (37, semaphore_wait_signal_trap,
                (wait_name: mach_port_name_t, signal_name: mach_port_name_t)
                -> kern_return_t),
            (38, semaphore_timedwait_trap,
                (wait_name: mach_port_name_t, sec: unsigned_int, nsec: clock_res_t)
                -> kern_return_t),
            (39, semaphore_timedwait_signal_trap,
                (wait_name: mach_port_name_t, signal_name: mach_port_name_t, sec: unsigned_int,
                 nsec: clock_res_t)
                -> kern_return_t),
            (40, _kernelrpc_mach_port_get_attributes_trap,
                (target: mach_port_name_t, name: mach_port_name_t, flavor: mach_port_flavor_t,
                 info: user_addr_t, count: user_addr_t)
                -> kern_return_t),
            (45, task_for_pid,
                (target_tport: mach_port_name_t, pid: int, t: user_addr_t) -> kern_return_t),
            (46, pid_for_task, (t: mach_port_name_t, pid: user_addr_t) -> kern_return_t),
            (47, mach_msg2_trap,
                (data: mach_vm_address_t, options: mach_msg_option64_t,
                 msgh_bits_and_send_size: uint64_t, msgh_remote_and_local_port: uint64_t,
                 msgh_voucher_and_id: uint64_t, desc_count_and_rcv_name: uint64_t,
                 rcv_size_and_priority: uint64_t, timeout: uint64_t)
                -> mach_msg_return_t),
            (59, swtch_pri, (pri: int) -> boolean_t),
            (60, swtch, () -> boolean_t),
            (61, thread_switch,
                (thread_name: mach_port_name_t, option: int, option_time: mach_msg_timeout_t)
                -> kern_return_t),
            (62, clock_sleep_trap,
                (clock_name: mach_port_name_t, sleep_type: sleep_type_t, sleep_sec: int,
                 sleep_nsec: int, wakeup_time: user_addr_t)
                -> kern_return_t),
            (76, _kernelrpc_mach_port_type_trap,
                (target: mach_port_name_t, name: mach_port_name_t, ptype: user_addr_t)
                -> kern_return_t),
            (77, _kernelrpc_mach_port_request_notification_trap,
                (target: mach_port_name_t, name: mach_port_name_t, msgid: mach_msg_id_t,
                 sync: mach_port_mscount_t, notify: mach_port_name_t,
                 notify_poly: mach_msg_type_name_t, previous: user_addr_t)
                -> kern_return_t),
            (89, mach_timebase_info_trap, (info: user_addr_t) -> kern_return_t),
            (90, mach_wait_until_trap, (deadline: uint64_t) -> kern_return_t),
        }
    };
}

/// XNU's C types of the trap arguments as they are on arm64 (LP64), under their C names so the
/// declaration reads as `mach_traps.h` does. `user_addr_t` is not here: each side names it.
#[allow(non_camel_case_types)]
pub mod types {
    use crate::message::{MachMsgOption, MachMsgTypeName};
    use crate::port::{MachPortName, MachPortRight};
    use crate::vm::VmProt;

    /// `int`.
    pub type int = i32;
    /// `unsigned int`.
    pub type unsigned_int = u32;
    /// `uint64_t`.
    pub type uint64_t = u64;
    /// `boolean_t` (an `int` on arm64: any nonzero low word is true).
    pub type boolean_t = bool;
    /// `mach_port_name_t`.
    pub type mach_port_name_t = MachPortName;
    /// `mach_port_right_t`.
    pub type mach_port_right_t = MachPortRight;
    /// `mach_port_delta_t` (`integer_t`).
    pub type mach_port_delta_t = i32;
    /// `mach_port_flavor_t` (`int`).
    pub type mach_port_flavor_t = i32;
    /// `mach_port_mscount_t` (`natural_t`).
    pub type mach_port_mscount_t = u32;
    /// `mach_msg_type_name_t`.
    pub type mach_msg_type_name_t = MachMsgTypeName;
    /// `mach_msg_id_t` (`integer_t`).
    pub type mach_msg_id_t = i32;
    /// `mach_msg_option_t`: the legacy traps' 32 option bits.
    pub type mach_msg_option_t = MachMsgOption;
    /// `mach_msg_option64_t`.
    pub type mach_msg_option64_t = crate::message::MachMsgOption64;
    /// `mach_msg_size_t`.
    pub type mach_msg_size_t = u32;
    /// `mach_msg_timeout_t`: milliseconds.
    pub type mach_msg_timeout_t = u32;
    /// `mach_msg_priority_t`.
    pub type mach_msg_priority_t = u32;
    /// `mach_vm_address_t`.
    pub type mach_vm_address_t = u64;
    /// `mach_vm_offset_t`.
    pub type mach_vm_offset_t = u64;
    /// `mach_vm_size_t`.
    pub type mach_vm_size_t = u64;
    /// `vm_prot_t`.
    pub type vm_prot_t = VmProt;
    /// `clock_res_t` (`int`: nanoseconds).
    pub type clock_res_t = i32;
    /// `sleep_type_t` (`int`).
    pub type sleep_type_t = i32;
}

/// A trap argument type and how it sits in its 64-bit register, as XNU's arm64 trap entry
/// reads it: each argument has a register of its own; a 32-bit type is the register's low 32
/// bits (the upper half is ignored, whatever it holds); a 64-bit type is the whole register.
pub trait TrapArg: Sized {
    /// The value the kernel sees for register contents `reg`.
    fn from_reg(reg: u64) -> Self;
    /// The register contents user space passes for `self`.
    fn into_reg(self) -> u64;
}

impl TrapArg for u32 {
    fn from_reg(reg: u64) -> u32 {
        reg as u32
    }
    fn into_reg(self) -> u64 {
        u64::from(self)
    }
}

impl TrapArg for i32 {
    fn from_reg(reg: u64) -> i32 {
        reg as u32 as i32
    }
    fn into_reg(self) -> u64 {
        self as i64 as u64
    }
}

impl TrapArg for u64 {
    fn from_reg(reg: u64) -> u64 {
        reg
    }
    fn into_reg(self) -> u64 {
        self
    }
}

impl TrapArg for bool {
    fn from_reg(reg: u64) -> bool {
        u32::from_reg(reg) != 0
    }
    fn into_reg(self) -> u64 {
        u64::from(self)
    }
}

impl TrapArg for crate::vm::VmProt {
    fn from_reg(reg: u64) -> Self {
        crate::vm::VmProt(i32::from_reg(reg))
    }
    fn into_reg(self) -> u64 {
        self.0.into_reg()
    }
}

/// A raw user pointer (user space's `user_addr_t`): the address, all 64 bits.
impl<T> TrapArg for *mut T {
    fn from_reg(reg: u64) -> *mut T {
        reg as usize as *mut T
    }
    fn into_reg(self) -> u64 {
        self as usize as u64
    }
}

/// A trap's return type: what the kernel's handler gives back, what the user stub hands its
/// caller, and how it travels in x0 (an `int` is sign-extended, as XNU stores it; a port name
/// zero-extended).
pub trait TrapReturn {
    /// The handler's result.
    type Handler;
    /// The stub's result.
    type User;
    /// x0 for the handler's result.
    fn encode(result: Self::Handler) -> u64;
    /// The stub's result from x0.
    fn decode(x0: u64) -> Self::User;
}

/// The return types of [`for_each_mach_trap!`], under XNU's names.
#[allow(non_camel_case_types)]
pub mod returns {
    use super::*;

    /// `kern_return_t`: the handler answers `Ok(())` for `KERN_SUCCESS` or the error code.
    pub enum kern_return_t {}
    /// `mach_msg_return_t`: the handler answers the message code itself (success included).
    pub enum mach_msg_return_t {}
    /// `mach_port_name_t`: a name in the caller's space (`MACH_PORT_NULL` on failure).
    pub enum mach_port_name_t {}
    /// `boolean_t`.
    pub enum boolean_t {}

    impl TrapReturn for kern_return_t {
        type Handler = Result<(), KernReturn>;
        type User = KernReturn;
        fn encode(result: Result<(), KernReturn>) -> u64 {
            result.err().unwrap_or(KernReturn::KERN_SUCCESS).0.into_reg()
        }
        fn decode(x0: u64) -> KernReturn {
            KernReturn::from_reg(x0)
        }
    }

    /// Return types whose handler and stub both deal in the value itself, carried in x0 as
    /// its argument-register form (`TrapArg`).
    macro_rules! plain_returns {
        ($($ret:ident => $t:ty),* $(,)?) => {$(
            impl TrapReturn for $ret {
                type Handler = $t;
                type User = $t;
                fn encode(result: $t) -> u64 {
                    result.into_reg()
                }
                fn decode(x0: u64) -> $t {
                    <$t>::from_reg(x0)
                }
            }
        )*};
    }
    plain_returns!(mach_msg_return_t => MachMsgReturn, mach_port_name_t => MachPortName, boolean_t => bool);
}

/// One row of the table, for tools and tests.
#[derive(Clone, Copy, Debug)]
pub struct MachTrapInfo {
    /// The trap number (user space passes its negation).
    pub number: u32,
    /// XNU's name.
    pub name: &'static str,
    /// The argument names, x0 first.
    pub args: &'static [&'static str],
    /// The argument types' XNU names.
    pub arg_types: &'static [&'static str],
    /// The return type's XNU name.
    pub returns: &'static str,
}

macro_rules! trap_table {
    ($( ($nr:literal, $name:ident, ($($arg:ident: $ty:ident),*) -> $ret:ident) ),* $(,)?) => {
        /// Trap numbers (positive; user space passes the negation in x16).
        #[allow(non_upper_case_globals)]
        pub mod nr {
            $( #[doc = stringify!($name)] pub const $name: u32 = $nr; )*
        }

        /// Every implemented trap, in declaration order.
        pub const MACH_TRAPS: &[MachTrapInfo] = &[
            $( MachTrapInfo {
                number: $nr,
                name: stringify!($name),
                args: &[$(stringify!($arg)),*],
                arg_types: &[$(stringify!($ty)),*],
                returns: stringify!($ret),
            }, )*
        ];
    };
}
for_each_mach_trap!(trap_table);

/// `thread_switch` options (`osfmk/mach/thread_switch.h`, reference §3).
pub mod switch_option {
    /// Just yield (to the named thread if it can run).
    pub const SWITCH_OPTION_NONE: i32 = 0;
    /// Yield and depress the caller's priority for `option_time` ms.
    pub const SWITCH_OPTION_DEPRESS: i32 = 1;
    /// Yield and wait `option_time` ms.
    pub const SWITCH_OPTION_WAIT: i32 = 2;
    /// Lock contention: like DEPRESS.
    pub const SWITCH_OPTION_DISPATCH_CONTENTION: i32 = 3;
    /// OS lock contention: like DEPRESS.
    pub const SWITCH_OPTION_OSLOCK_DEPRESS: i32 = 4;
    /// OS lock contention: like WAIT.
    pub const SWITCH_OPTION_OSLOCK_WAIT: i32 = 5;
}

/// `clock_sleep` sleep types (`osfmk/mach/clock_types.h`).
pub mod sleep_type {
    /// The time is an absolute clock value.
    pub const TIME_ABSOLUTE: i32 = 0;
    /// The time is relative to now.
    pub const TIME_RELATIVE: i32 = 1;
}

#[cfg(test)]
mod tests {
    use super::returns::{boolean_t, kern_return_t, mach_msg_return_t, mach_port_name_t};
    use super::*;

    #[test]
    fn numbers_match_xnu() {
        assert_eq!(nr::mach_reply_port, 26);
        assert_eq!(nr::task_self_trap, 28);
        assert_eq!(nr::mach_msg2_trap, 47);
        assert_eq!(nr::mach_timebase_info_trap, 89);
    }

    #[test]
    fn table_has_no_duplicates_and_fits_the_registers() {
        for (i, t) in MACH_TRAPS.iter().enumerate() {
            assert!(t.number < MACH_TRAP_TABLE_COUNT, "{} is past the table", t.name);
            assert!(
                t.number != MACH_ABSOLUTE_TIME_TRAP && t.number != MACH_CONTINUOUS_TIME_TRAP,
                "{} takes a fast-trap slot",
                t.name
            );
            assert!(t.args.len() <= MACH_TRAP_MAX_ARGS, "{} has more arguments than registers", t.name);
            assert_eq!(t.args.len(), t.arg_types.len());
            for other in &MACH_TRAPS[i + 1..] {
                assert_ne!(t.number, other.number, "{} and {} share a number", t.name, other.name);
                assert_ne!(t.name, other.name, "{} is declared twice", t.name);
            }
        }
    }

    /// The argument counts of XNU's user prototypes (reference §3), written out apart from
    /// the declaration so that a lost or extra argument shows.
    #[test]
    fn arities_match_xnu() {
        let expected: &[(&str, usize)] = &[
            ("_kernelrpc_mach_vm_allocate_trap", 4),
            ("_kernelrpc_mach_vm_deallocate_trap", 3),
            ("_kernelrpc_mach_vm_protect_trap", 5),
            ("_kernelrpc_mach_vm_map_trap", 6),
            ("_kernelrpc_mach_port_allocate_trap", 3),
            ("_kernelrpc_mach_port_deallocate_trap", 2),
            ("_kernelrpc_mach_port_mod_refs_trap", 4),
            ("_kernelrpc_mach_port_move_member_trap", 3),
            ("_kernelrpc_mach_port_insert_right_trap", 4),
            ("_kernelrpc_mach_port_insert_member_trap", 3),
            ("_kernelrpc_mach_port_extract_member_trap", 3),
            ("_kernelrpc_mach_port_construct_trap", 4),
            ("_kernelrpc_mach_port_destruct_trap", 4),
            ("mach_reply_port", 0),
            ("thread_self_trap", 0),
            ("task_self_trap", 0),
            ("host_self_trap", 0),
            ("mach_msg_trap", 7),
            ("mach_msg_overwrite_trap", 8),
            ("semaphore_signal_trap", 1),
            ("semaphore_signal_all_trap", 1),
            ("semaphore_signal_thread_trap", 2),
            ("semaphore_wait_trap", 1),
            ("semaphore_wait_signal_trap", 2),
            ("semaphore_timedwait_trap", 3),
            ("semaphore_timedwait_signal_trap", 4),
            ("_kernelrpc_mach_port_get_attributes_trap", 5),
            ("task_for_pid", 3),
            ("pid_for_task", 2),
            ("mach_msg2_trap", 8),
            ("swtch_pri", 1),
            ("swtch", 0),
            ("thread_switch", 3),
            ("clock_sleep_trap", 5),
            ("_kernelrpc_mach_port_type_trap", 3),
            ("_kernelrpc_mach_port_request_notification_trap", 7),
            ("mach_timebase_info_trap", 1),
            ("mach_wait_until_trap", 1),
        ];
        assert_eq!(expected.len(), MACH_TRAPS.len(), "a trap was added or lost");
        for (name, n) in expected {
            let t = MACH_TRAPS.iter().find(|t| t.name == *name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(t.args.len(), *n, "{name}");
        }
        // Port-returning traps answer a name, the yields a boolean, mach_msg its own code.
        for t in MACH_TRAPS {
            let want = match t.name {
                "mach_reply_port" | "thread_self_trap" | "task_self_trap" | "host_self_trap" => {
                    "mach_port_name_t"
                }
                "swtch" | "swtch_pri" => "boolean_t",
                "mach_msg_trap" | "mach_msg_overwrite_trap" | "mach_msg2_trap" => "mach_msg_return_t",
                _ => "kern_return_t",
            };
            assert_eq!(t.returns, want, "{}", t.name);
        }
    }

    #[test]
    fn thirty_two_bit_arguments_are_the_low_half() {
        assert_eq!(u32::from_reg(0xdead_beef_0000_0103), 0x103);
        assert_eq!(i32::from_reg(0x1234_5678_ffff_fffe), -2);
        assert_eq!(i32::from_reg(0x0000_0000_8000_0000), i32::MIN);
        assert!(!bool::from_reg(0x1_0000_0000), "a boolean_t is the low word only");
        assert!(bool::from_reg(0xffff_ffff_0000_0002));
        assert_eq!(u64::from_reg(u64::MAX), u64::MAX);
        assert_eq!(crate::vm::VmProt::from_reg(0x7_0000_0003), crate::vm::VmProt(3));
        assert_eq!((-1i32).into_reg(), u64::MAX);
        assert_eq!(i32::from_reg((-7i32).into_reg()), -7);
        assert_eq!(u32::from_reg(0xffff_ffffu32.into_reg()), u32::MAX);
    }

    #[test]
    fn results_travel_in_x0_as_xnu_stores_them() {
        assert_eq!(kern_return_t::encode(Ok(())), 0);
        assert_eq!(kern_return_t::encode(Err(KernReturn::KERN_INVALID_NAME)), 15);
        // kern_return_t is an int: a negative code (MIG's) is sign-extended.
        assert_eq!(kern_return_t::encode(Err(KernReturn(-303))), (-303i64) as u64);
        assert_eq!(kern_return_t::decode((-303i64) as u64), KernReturn(-303));
        assert_eq!(kern_return_t::decode(0xffff_ffff_0000_0000), KernReturn::KERN_SUCCESS);
        assert_eq!(mach_port_name_t::encode(0xffff_fff0), 0xffff_fff0, "names are zero-extended");
        assert_eq!(mach_port_name_t::decode(0x1_0000_0103), 0x103);
        assert_eq!(boolean_t::encode(true), 1);
        assert!(!boolean_t::decode(0x1_0000_0000));
        let mr = crate::message::MACH_SEND_INVALID_DEST;
        assert_eq!(mach_msg_return_t::decode(mach_msg_return_t::encode(mr)), mr);
    }
}
