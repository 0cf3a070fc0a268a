//! The arm64 signal frame a 64-bit process sees (XNU `bsd/sys/_types/_ucontext64.h`,
//! `mach/arm/_structs.h`, reference §9.10 and §10): `ucontext64`, `mcontext64` with its
//! exception, thread and NEON states, and the 976-byte frame `sendsig` pushes. The structs
//! are `repr(C)` zerocopy types with their sizes and offsets asserted against XNU's, copied
//! whole (the derives prove there is no padding), so these definitions are the only
//! statement of the layout.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::signal::{SIGINFO_SIZE, SigSet, SigaltStack, Siginfo};

/// `sigreturn` infostyle / handler `x1`: the handler was installed without SA_SIGINFO.
pub const UC_TRAD: u32 = 1;
/// … with SA_SIGINFO: it takes `(sig, siginfo_t *, ucontext_t *)`.
pub const UC_FLAVOR: u32 = 30;
/// `sigreturn` infostyle: only mark the thread as running on its alternate stack.
pub const UC_SET_ALT_STACK: u32 = 0x4000_0000;
/// `sigreturn` infostyle: only clear that mark.
pub const UC_RESET_ALT_STACK: u32 = 0x8000_0000;

/// Bytes below the interrupted stack pointer that the frame must not touch: the arm64 ABI
/// lets leaf functions use them without moving SP (`C_64_REDZONE_LEN`).
pub const REDZONE_64: u64 = 128;

/// `arm_exception_state64`: the fault address, syndrome and exception number (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct ArmExceptionState64 {
    pub far: u64,
    pub esr: u32,
    pub exception: u32,
}

/// `arm_thread_state64`: x0–x28, fp (x29), lr (x30), sp, pc, cpsr and a flags word used by
/// pointer authentication (272 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct ArmThreadState64 {
    pub x: [u64; 29],
    pub fp: u64,
    pub lr: u64,
    pub sp: u64,
    pub pc: u64,
    pub cpsr: u32,
    pub flags: u32,
}

/// `arm_neon_state64`: q0–q31, FPSR and FPCR, padded to 16 bytes (528 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct ArmNeonState64 {
    pub q: [u128; 32],
    pub fpsr: u32,
    pub fpcr: u32,
    /// The tail padding to the 16-byte alignment of `q`, written as zero.
    pub _pad: u64,
}

/// `mcontext64`: the three register states (816 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Mcontext64 {
    pub es: ArmExceptionState64,
    pub ss: ArmThreadState64,
    pub ns: ArmNeonState64,
}

/// `ucontext64` as the kernel writes it (`user_ucontext64`, 56 bytes): `uc_mcontext64` points
/// at the mcontext and `uc_mcsize` must be [`MCONTEXT64_SIZE`] for `sigreturn` to accept it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Ucontext64 {
    pub uc_onstack: i32,
    pub uc_sigmask: SigSet,
    pub uc_stack: SigaltStack,
    pub uc_link: u64,
    pub uc_mcsize: u64,
    pub uc_mcontext64: u64,
}

/// The frame `sendsig` writes at the handler's stack pointer (976 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Sigframe64 {
    pub sinfo: Siginfo,
    pub uctx: Ucontext64,
    pub mctx: Mcontext64,
}

/// Byte size of [`ArmExceptionState64`].
pub const ARM_EXCEPTION_STATE64_SIZE: usize = 16;
/// Byte size of [`ArmThreadState64`].
pub const ARM_THREAD_STATE64_SIZE: usize = 272;
/// Byte size of [`ArmNeonState64`].
pub const ARM_NEON_STATE64_SIZE: usize = 528;
/// Byte size of [`Mcontext64`].
pub const MCONTEXT64_SIZE: usize = 816;
/// Byte size of [`Ucontext64`].
pub const UCONTEXT64_SIZE: usize = 56;
/// Byte size of [`Sigframe64`].
pub const SIGFRAME64_SIZE: usize = 976;
/// Offset of the siginfo in the frame.
pub const SIGFRAME64_SINFO: usize = offset_of!(Sigframe64, sinfo);
/// Offset of the ucontext in the frame.
pub const SIGFRAME64_UCTX: usize = offset_of!(Sigframe64, uctx);
/// Offset of the mcontext in the frame.
pub const SIGFRAME64_MCTX: usize = offset_of!(Sigframe64, mctx);

const _: () = assert!(size_of::<ArmExceptionState64>() == ARM_EXCEPTION_STATE64_SIZE);
const _: () = assert!(size_of::<ArmThreadState64>() == ARM_THREAD_STATE64_SIZE);
const _: () = assert!(offset_of!(ArmThreadState64, fp) == 232 && offset_of!(ArmThreadState64, pc) == 256);
const _: () =
    assert!(offset_of!(ArmThreadState64, cpsr) == 264 && offset_of!(ArmThreadState64, flags) == 268);
const _: () = assert!(size_of::<ArmNeonState64>() == ARM_NEON_STATE64_SIZE);
const _: () = assert!(offset_of!(ArmNeonState64, fpsr) == 512 && offset_of!(ArmNeonState64, fpcr) == 516);
const _: () = assert!(size_of::<Mcontext64>() == MCONTEXT64_SIZE);
const _: () = assert!(offset_of!(Mcontext64, ss) == 16 && offset_of!(Mcontext64, ns) == 288);
const _: () = assert!(size_of::<Ucontext64>() == UCONTEXT64_SIZE);
const _: () = assert!(offset_of!(Ucontext64, uc_stack) == 8 && offset_of!(Ucontext64, uc_link) == 32);
const _: () = assert!(offset_of!(Ucontext64, uc_mcsize) == 40 && offset_of!(Ucontext64, uc_mcontext64) == 48);
const _: () = assert!(size_of::<Sigframe64>() == SIGFRAME64_SIZE);
const _: () = assert!(SIGFRAME64_SINFO == 0 && SIGFRAME64_UCTX == SIGINFO_SIZE && SIGFRAME64_MCTX == 160);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_mcontext() -> Mcontext64 {
        let mut m = Mcontext64 {
            es: ArmExceptionState64 { far: 0xfa, esr: 0x9200_0047, exception: 3 },
            ..Mcontext64::default()
        };
        for (i, r) in m.ss.x.iter_mut().enumerate() {
            *r = 0x1000 + i as u64;
        }
        m.ss.fp = 0x29;
        m.ss.lr = 0x30;
        m.ss.sp = 0x7fff_0000;
        m.ss.pc = 0x1_0000_4000;
        m.ss.cpsr = 0x6000_0000;
        for (i, q) in m.ns.q.iter_mut().enumerate() {
            *q = (i as u128) << 64 | 0xabc;
        }
        m.ns.fpsr = 0x10;
        m.ns.fpcr = 0x0300_0000;
        m
    }

    #[test]
    fn mcontext_offsets_and_round_trip() {
        let m = sample_mcontext();
        let b = m.as_bytes();
        assert_eq!(&b[0..8], &0xfau64.to_le_bytes());
        assert_eq!(&b[8..12], &0x9200_0047u32.to_le_bytes());
        assert_eq!(&b[16..24], &0x1000u64.to_le_bytes(), "x0 right after the exception state");
        assert_eq!(&b[16 + 232..16 + 240], &0x29u64.to_le_bytes(), "fp");
        assert_eq!(&b[16 + 256..16 + 264], &0x1_0000_4000u64.to_le_bytes(), "pc");
        assert_eq!(&b[16 + 264..16 + 268], &0x6000_0000u32.to_le_bytes(), "cpsr");
        assert_eq!(&b[288 + 16..288 + 32], &((1u128 << 64) | 0xabc).to_le_bytes(), "q1");
        assert_eq!(&b[288 + 512..288 + 516], &0x10u32.to_le_bytes(), "fpsr");
        assert_eq!(&b[288 + 516..288 + 520], &0x0300_0000u32.to_le_bytes(), "fpcr");
        assert_eq!(Mcontext64::read_from_bytes(b), Ok(m));
    }

    #[test]
    fn ucontext_round_trip() {
        let u = Ucontext64 {
            uc_onstack: 1,
            uc_sigmask: 0x8000_0002,
            uc_stack: SigaltStack { ss_sp: 0x9000, ss_size: 0x8000, ss_flags: 1, _pad: 0 },
            uc_link: 0,
            uc_mcsize: MCONTEXT64_SIZE as u64,
            uc_mcontext64: 0x9000 + 160,
        };
        let b = u.as_bytes();
        assert_eq!(&b[4..8], &0x8000_0002u32.to_le_bytes());
        assert_eq!(&b[8..16], &0x9000u64.to_le_bytes());
        assert_eq!(&b[40..48], &816u64.to_le_bytes());
        assert_eq!(Ucontext64::read_from_bytes(b), Ok(u));
    }

    #[test]
    fn frame_places_the_three_parts() {
        let f = Sigframe64 {
            sinfo: Siginfo { si_signo: 30, ..Siginfo::default() },
            uctx: Ucontext64 { uc_mcsize: 816, ..Ucontext64::default() },
            mctx: sample_mcontext(),
        };
        let b = f.as_bytes();
        assert_eq!(&b[0..4], &30i32.to_le_bytes());
        assert_eq!(&b[104 + 40..104 + 48], &816u64.to_le_bytes());
        assert_eq!(Mcontext64::read_from_bytes(&b[160..]), Ok(f.mctx));
    }
}
