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
//!
//! The two ends of `unix_syscall` that touch only registers live here too, so they run on
//! the host: reading the call's number and arguments from the trap frame
//! ([`unix_syscall_args`]) and setting the registers the caller sees on return
//! ([`unix_syscall_return`]).

use osfmk::arm64::trapframe::TrapFrame;
use osfmk::vm::user_ptr::UserAddr;
use sys::Errno;
use sys::syscalls::RetKind;
use sys::trap::PSR64_CF;

/// A call's two result registers (x0, x1), or its error.
pub type SysRet = Result<(u64, u64), Errno>;

/// The register that carries the call number.
const X_NUMBER: usize = 16;

/// The call's number and its eight argument registers, read from the caller's frame. The
/// number is x16's low 16 bits; number 0 is the indirect call (`syscall(2)`): the number is
/// then x0's low 16 bits and the arguments are x1..x7 (the eighth reads as 0).
pub fn unix_syscall_args(frame: &TrapFrame) -> (u32, [u64; 8]) {
    let mut regs = [0u64; 8];
    let nr = frame.x[X_NUMBER] as u16 as u32;
    if nr == 0 {
        regs[..7].copy_from_slice(&frame.x[1..8]);
        (frame.x[0] as u16 as u32, regs)
    } else {
        regs.copy_from_slice(&frame.x[..8]);
        (nr, regs)
    }
}

/// Set what the caller sees on return (reference §1.2): success clears PSTATE.C and fills
/// x0/x1 by the call's return kind; an error sets C with the errno in x0 and 0 in x1;
/// EJUSTRETURN leaves every register as the call set it; ERESTART backs the PC up to the
/// `svc` so the call runs again.
pub fn unix_syscall_return(frame: &mut TrapFrame, ret: RetKind, result: SysRet) {
    match result {
        Ok((rv0, rv1)) => {
            frame.spsr &= !PSR64_CF;
            match ret {
                RetKind::None => {}
                RetKind::Int => {
                    frame.x[0] = rv0 as i32 as i64 as u64;
                    frame.x[1] = rv1 as i32 as i64 as u64;
                }
                RetKind::UInt => {
                    frame.x[0] = rv0 as u32 as u64;
                    frame.x[1] = rv1 as u32 as u64;
                }
                RetKind::Ssize | RetKind::Off | RetKind::Addr => {
                    frame.x[0] = rv0;
                    frame.x[1] = 0;
                }
            }
        }
        Err(e) if e == Errno::EJUSTRETURN => {}
        Err(e) if e == Errno::ERESTART => frame.elr = frame.elr.wrapping_sub(SVC_INSTRUCTION_BYTES),
        Err(e) => {
            frame.spsr |= PSR64_CF;
            frame.x[0] = e.0 as u64;
            frame.x[1] = 0;
        }
    }
}

/// The size of the `svc` instruction a restarted call goes back to.
const SVC_INSTRUCTION_BYTES: u64 = 4;

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

    use osfmk::test_rng::Rng;

    /// A register value: often a small or edge value, else random bits.
    fn reg(rng: &mut Rng) -> u64 {
        match rng.next() % 4 {
            0 => rng.next() % 600,
            1 => [0, 1, u64::MAX, 1 << 31, 1 << 32, 0xffff_ffff, 0x1_0000_0000 | (rng.next() % 600)]
                [(rng.next() % 7) as usize],
            _ => rng.next(),
        }
    }
    /// Random inputs per run for each check below (B3's bar for a parser of user input).
    const CASES: usize = 100_000;

    /// What XNU's 64-bit argument layout makes of `reg` for an argument of C type `ty`,
    /// written from the C types themselves (not from `SysArg`): 32-bit types are the low
    /// half, signed or not; 64-bit types are the whole register.
    fn xnu_value(ty: &str, reg: u64) -> i128 {
        match ty {
            "int" | "int32_t" | "pid_t" => i128::from(reg as u32 as i32),
            "u_int" | "uint32_t" | "uid_t" | "gid_t" | "id_t" | "sigset_t" | "socklen_t"
            | "mach_port_name_t" => i128::from(reg as u32),
            "long" | "int64_t" | "off_t" => i128::from(reg as i64),
            "u_long" | "uint64_t" | "size_t" | "user_size_t" | "user_addr_t" => i128::from(reg),
            other => panic!("argument type {other} is not in the test's reference: add it"),
        }
    }

    /// A converted argument, widened for comparison.
    trait Widen {
        fn widen(self) -> i128;
    }
    macro_rules! widen_ints {
        ($($t:ty),*) => { $( impl Widen for $t { fn widen(self) -> i128 { self as i128 } } )* };
    }
    widen_ints!(i32, u32, i64, u64, usize);
    impl Widen for UserAddr {
        fn widen(self) -> i128 {
            i128::from(self.0)
        }
    }

    /// Converts call `nr`'s registers as the generated dispatcher does (the same macro
    /// input, the same `ArgRegs`): its argument type names and the values it would pass.
    macro_rules! std_call_conversions {
        ($( ($nr:literal, $name:ident, $ret:ident, [$($arg:ident: $ty:ident),*]) ),* $(,)?) => {
            const STD_CALLS: &[u32] = &[$($nr),*];
            fn convert(nr: u32, regs: [u64; 8]) -> Option<(&'static [&'static str], alloc::vec::Vec<i128>)> {
                let mut args = ArgRegs::new(regs);
                match nr {
                    $( $nr => Some((
                        &[$(stringify!($ty)),*],
                        alloc::vec![$( args.take::<argtypes::$ty>().widen() ),*],
                    )), )*
                    _ => None,
                }
            }
        };
    }
    sys::for_each_std_syscall!(std_call_conversions);

    #[test]
    fn every_call_gets_each_argument_as_its_c_type_says() {
        let mut rng = Rng(0x5359_5350_524f_544f);
        for _ in 0..CASES {
            let nr = STD_CALLS[(rng.next() % STD_CALLS.len() as u64) as usize];
            let regs: [u64; 8] = core::array::from_fn(|_| reg(&mut rng));
            let (types, got) = convert(nr, regs).expect("a STD call converts");
            assert_eq!(types.len(), got.len());
            for (i, (ty, value)) in types.iter().zip(&got).enumerate() {
                assert_eq!(
                    *value,
                    xnu_value(ty, regs[i]),
                    "call {nr} argument {i} ({ty}) from {:#x}",
                    regs[i]
                );
            }
        }
    }

    /// A frame with random registers, the number in x16 (sometimes 0: the indirect call).
    fn random_frame(rng: &mut Rng) -> TrapFrame {
        let mut frame = TrapFrame::default();
        for x in frame.x.iter_mut() {
            *x = reg(rng);
        }
        if rng.next().is_multiple_of(8) {
            frame.x[X_NUMBER] = rng.next() & !0xffff;
        }
        frame.elr = rng.next() & !3;
        frame.spsr = rng.next() & 0xf000_03ff;
        frame
    }

    #[test]
    fn random_frames_decode_as_xnu_passes_calls() {
        let mut rng = Rng(0x756e_6978_5f73_7973);
        for _ in 0..CASES {
            let frame = random_frame(&mut rng);
            let (nr, regs) = unix_syscall_args(&frame);
            if frame.x[X_NUMBER] as u16 == 0 {
                assert_eq!(nr, u32::from(frame.x[0] as u16), "indirect: the number is in x0");
                assert_eq!(regs[..7], frame.x[1..8], "indirect: arguments from x1");
                assert_eq!(regs[7], 0);
            } else {
                assert_eq!(nr, u32::from(frame.x[X_NUMBER] as u16));
                assert_eq!(regs[..], frame.x[..8]);
            }
            // Any number has a descriptor: unassigned and out-of-range ones are nosys.
            let info = sys::syscalls::sysent_info(nr);
            if nr as usize >= sys::syscalls::NSYSENT {
                assert_eq!(info.status, sys::syscalls::SysStatus::NoSys, "number {nr}");
            }
            assert!(info.narg <= 8);
        }
    }

    #[test]
    fn random_results_set_the_registers_xnu_sets() {
        let kinds = [RetKind::None, RetKind::Int, RetKind::UInt, RetKind::Ssize, RetKind::Off, RetKind::Addr];
        let mut rng = Rng(0x7265_7475_726e_5f78);
        for _ in 0..CASES {
            let before = random_frame(&mut rng);
            let ret = kinds[(rng.next() % kinds.len() as u64) as usize];
            let result: SysRet = match rng.next() % 5 {
                0 => Err(Errno::EJUSTRETURN),
                1 => Err(Errno::ERESTART),
                2 => Err(Errno((rng.next() % 107) as i32 + 1)),
                _ => Ok((reg(&mut rng), reg(&mut rng))),
            };
            let mut frame = before;
            unix_syscall_return(&mut frame, ret, result);
            // Nothing but x0, x1, the carry flag and (for a restart) the PC may change.
            assert_eq!(frame.x[2..], before.x[2..]);
            assert_eq!(frame.sp_el0, before.sp_el0);
            assert_eq!(frame.spsr & !PSR64_CF, before.spsr & !PSR64_CF);
            match result {
                Err(e) if e == Errno::EJUSTRETURN => {
                    assert_eq!((frame.x, frame.spsr, frame.elr), (before.x, before.spsr, before.elr));
                }
                Err(e) if e == Errno::ERESTART => {
                    assert_eq!(frame.elr, before.elr.wrapping_sub(4), "back to the svc");
                    assert_eq!((frame.x, frame.spsr), (before.x, before.spsr));
                }
                Err(e) => {
                    assert_ne!(frame.spsr & PSR64_CF, 0, "an error sets the carry flag");
                    assert_eq!((frame.x[0], frame.x[1], frame.elr), (e.0 as u64, 0, before.elr));
                }
                Ok((rv0, rv1)) => {
                    assert_eq!(frame.spsr & PSR64_CF, 0, "success clears the carry flag");
                    assert_eq!(frame.elr, before.elr);
                    let want = match ret {
                        RetKind::None => (before.x[0], before.x[1]),
                        RetKind::Int => (rv0 as i32 as i64 as u64, rv1 as i32 as i64 as u64),
                        RetKind::UInt => (rv0 as u32 as u64, rv1 as u32 as u64),
                        RetKind::Ssize | RetKind::Off | RetKind::Addr => (rv0, 0),
                    };
                    assert_eq!((frame.x[0], frame.x[1]), want, "{ret:?}");
                }
            }
        }
    }
}
