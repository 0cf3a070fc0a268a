//! The arguments of the BSD calls as the kernel sees them (XNU's `sysproto.h`): the Rust
//! type of each of XNU's C argument types, and the one conversion from an argument
//! register to it ([`SysArg`]).
//!
//! `syscalls.master` gives every argument a C type; `for_each_std_syscall!` hands those
//! names on, and the dispatcher converts register `i` with `<argtypes::TYPE as SysArg>`
//! before calling the handler, so a handler whose signature disagrees with the table does
//! not compile. A 64-bit process passes every argument in a full register; as in XNU's
//! 64-bit argument layout, a 32-bit type is the register's low 32 bits (the upper half is
//! ignored, whatever it holds) and a 64-bit type the whole register. Pointers stay
//! unchecked [`UserAddr`]s here: a handler builds a `UserPtr`/`UserSlice` from one, which
//! checks it, and a bad one is EFAULT when the call uses it (not before), as in XNU.

use osfmk::vm::user_ptr::UserAddr;

/// A value that an argument register holds.
pub trait SysArg: Sized {
    /// The value in `reg`.
    fn from_reg(reg: u64) -> Self;
}

impl SysArg for i32 {
    fn from_reg(reg: u64) -> i32 {
        reg as u32 as i32
    }
}

impl SysArg for u32 {
    fn from_reg(reg: u64) -> u32 {
        reg as u32
    }
}

impl SysArg for i64 {
    fn from_reg(reg: u64) -> i64 {
        reg as i64
    }
}

impl SysArg for u64 {
    fn from_reg(reg: u64) -> u64 {
        reg
    }
}

impl SysArg for usize {
    fn from_reg(reg: u64) -> usize {
        reg as usize
    }
}

impl SysArg for UserAddr {
    fn from_reg(reg: u64) -> UserAddr {
        UserAddr(reg)
    }
}

/// The argument types by their C names (`sys::types`), with the kernel's own user address
/// type for `user_addr_t` (every pointer).
#[allow(non_camel_case_types)]
pub mod argtypes {
    pub use sys::types::*;

    /// A user address, unchecked until the call builds a pointer from it.
    pub type user_addr_t = osfmk::vm::user_ptr::UserAddr;
}

/// The argument registers of one call, taken in order.
pub struct ArgRegs {
    regs: [u64; 8],
    next: usize,
}

impl ArgRegs {
    /// The registers x0..x7 (or x1..x7 and a zero, for the indirect call).
    pub fn new(regs: [u64; 8]) -> ArgRegs {
        ArgRegs { regs, next: 0 }
    }

    /// The next argument as a `T`. There are at most eight (the table checks it); past
    /// them reads as zero.
    pub fn take<T: SysArg>(&mut self) -> T {
        let reg = self.regs.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        T::from_reg(reg)
    }
}

#[cfg(test)]
mod tests {
    use super::argtypes::*;
    use super::*;

    #[test]
    fn thirty_two_bit_types_are_the_low_half() {
        let junk = 0xdead_beef_0000_0000u64;
        assert_eq!(<int as SysArg>::from_reg(junk | 5), 5);
        assert_eq!(<pid_t as SysArg>::from_reg(junk | 0xffff_ffff), -1);
        assert_eq!(<int as SysArg>::from_reg(0x8000_0000), i32::MIN);
        assert_eq!(<u_int as SysArg>::from_reg(junk | 7), 7);
        assert_eq!(<uid_t as SysArg>::from_reg(u64::MAX), u32::MAX);
        assert_eq!(<sigset_t as SysArg>::from_reg(junk | 0x10), 0x10);
    }

    #[test]
    fn sixty_four_bit_types_are_the_whole_register() {
        assert_eq!(<off_t as SysArg>::from_reg(u64::MAX), -1);
        assert_eq!(<long as SysArg>::from_reg(1 << 40), 1 << 40);
        assert_eq!(<size_t as SysArg>::from_reg(1 << 40), 1 << 40);
        assert_eq!(<uint64_t as SysArg>::from_reg(u64::MAX), u64::MAX);
        assert_eq!(<user_addr_t as SysArg>::from_reg(0x1234_5678_9abc), UserAddr(0x1234_5678_9abc));
    }

    #[test]
    fn registers_are_taken_in_order() {
        let mut a = ArgRegs::new([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(a.take::<int>(), 1);
        assert_eq!(a.take::<user_addr_t>(), UserAddr(2));
        for want in 3..=8 {
            assert_eq!(a.take::<u64>(), want);
        }
        assert_eq!(a.take::<u64>(), 0, "past the eighth");
    }
}
