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
            (26, mach_reply_port, []),
            (27, thread_self_trap, []),
            (28, task_self_trap, []),
            (29, host_self_trap, []),
            (89, mach_timebase_info_trap, [info]),
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

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_match_xnu() {
        assert_eq!(super::nr::mach_reply_port, 26);
        assert_eq!(super::nr::task_self_trap, 28);
        assert_eq!(super::nr::mach_timebase_info_trap, 89);
    }
}
