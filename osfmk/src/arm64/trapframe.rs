//! The saved user (or interrupted kernel) state that the exception vectors push on the thread's
//! kernel stack. The layout is shared with the assembly in `kernel/src/exception.rs` (which saves
//! it) and `arm64/exception_return.rs` (which restores it), through the offsets named there.

/// x0–x30, SP_EL0, ELR_EL1 and SPSR_EL1: 34 doublewords, 272 bytes (16-byte aligned).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub sp_el0: u64,
    pub elr: u64,
    pub spsr: u64,
}

/// Byte size of a [`TrapFrame`] (the assembly reserves exactly this much).
pub const TRAP_FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();

/// SPSR for a thread entering EL0 in AArch64 with interrupts enabled (M[3:0] = EL0t).
pub const SPSR_EL0T: u64 = 0;

impl TrapFrame {
    /// A frame that `eret`s to EL0 at `pc` with stack `sp`.
    pub fn new_user(pc: u64, sp: u64) -> TrapFrame {
        TrapFrame { x: [0; 31], sp_el0: sp, elr: pc, spsr: SPSR_EL0T }
    }
}

const _: () = assert!(TRAP_FRAME_SIZE == 272);
