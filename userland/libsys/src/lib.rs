//! The user-space runtime: the entry point, BSD system call and Mach trap stubs (generated
//! from the same tables as the kernel's: `sys::for_each_std_syscall!` and
//! `mach::for_each_mach_trap!`; each BSD stub takes its arguments with the table's C types,
//! `sys::types`), errno from the carry flag, and `print!`.
//!
//! A program is `#![no_std] #![no_main]`, defines `fn main(args: &Args) -> i32` and names
//! it with [`entry!`].
#![no_std]

pub mod bootstrap;
pub mod introspect;
pub mod mach;
pub mod mach_traps;
pub mod platform;
pub mod print;
pub mod process;
pub mod signal;
pub mod start;
pub mod syscall;
pub mod thread;

pub use start::Args;
pub use sys::Errno;

/// Argument registers for a stub: the given values, then zeros.
#[doc(hidden)]
pub fn pad_args<const N: usize>(given: &[u64]) -> [u64; N] {
    let mut a = [0u64; N];
    for (slot, v) in a.iter_mut().zip(given) {
        *slot = *v;
    }
    a
}
