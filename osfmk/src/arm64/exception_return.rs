//! The way back from a trap: restore a [`TrapFrame`] from the kernel stack and `eret` to it.
//!
//! The exception vectors (in `kernel/src/exception.rs`) save a frame, run the handler and
//! branch to `exception_return`; a thread entering user mode for the first time (or after
//! exec) jumps here through [`thread_exception_return`] with its own frame. Both paths are
//! the same instructions, kept here so that osfmk owns its return-to-user path and depends
//! on nothing above it. The frame layout is `TrapFrame`'s, named by the offsets below.

use core::arch::global_asm;
use core::mem::offset_of;

use super::trapframe::{TRAP_FRAME_SIZE, TrapFrame};

/// Offset of x0 in the frame; x0–x29 follow in pairs.
pub const FRAME_X0: usize = offset_of!(TrapFrame, x);
/// Offset of the pair (x30, SP_EL0).
pub const FRAME_X30_SP: usize = offset_of!(TrapFrame, x) + 30 * 8;
/// Offset of the pair (ELR_EL1, SPSR_EL1).
pub const FRAME_ELR_SPSR: usize = offset_of!(TrapFrame, elr);

const _: () = assert!(offset_of!(TrapFrame, sp_el0) == FRAME_X30_SP + 8);
const _: () = assert!(offset_of!(TrapFrame, spsr) == FRAME_ELR_SPSR + 8);

unsafe extern "C" {
    /// Restore the frame at `frame` and return from the exception to the state it holds.
    ///
    /// # Safety
    /// `frame` must be a complete, 16-byte aligned frame at the top of the running thread's
    /// own kernel stack, describing an EL0 state (or the interrupted EL1 state it saved);
    /// everything below it on that stack is abandoned.
    fn thread_exception_return(frame: *const TrapFrame) -> !;
}

global_asm!(
    r#"
// thread_exception_return(frame): make `frame` the stack top and fall into the return path.
.global thread_exception_return
thread_exception_return:
    mov     sp, x0

// exception_return: the frame is at sp. Interrupts stay masked from here to the eret, so
// nothing can be taken on a half-restored state.
.global exception_return
exception_return:
    msr     daifset, #2
    ldp     x10, x11, [sp, #{elr_spsr}]
    msr     elr_el1, x10
    msr     spsr_el1, x11
    ldp     x30, x9, [sp, #{x30_sp}]
    msr     sp_el0, x9
    ldp     x0, x1, [sp, #{x0} + 0]
    ldp     x2, x3, [sp, #{x0} + 16]
    ldp     x4, x5, [sp, #{x0} + 32]
    ldp     x6, x7, [sp, #{x0} + 48]
    ldp     x8, x9, [sp, #{x0} + 64]
    ldp     x10, x11, [sp, #{x0} + 80]
    ldp     x12, x13, [sp, #{x0} + 96]
    ldp     x14, x15, [sp, #{x0} + 112]
    ldp     x16, x17, [sp, #{x0} + 128]
    ldp     x18, x19, [sp, #{x0} + 144]
    ldp     x20, x21, [sp, #{x0} + 160]
    ldp     x22, x23, [sp, #{x0} + 176]
    ldp     x24, x25, [sp, #{x0} + 192]
    ldp     x26, x27, [sp, #{x0} + 208]
    ldp     x28, x29, [sp, #{x0} + 224]
    add     sp, sp, #{frame}
    eret
"#,
    elr_spsr = const FRAME_ELR_SPSR,
    x30_sp = const FRAME_X30_SP,
    x0 = const FRAME_X0,
    frame = const TRAP_FRAME_SIZE,
);

/// Leave the kernel through the frame at `addr`, the running thread's own user frame.
///
/// # Safety
/// As for `thread_exception_return`: `addr` is the running thread's own frame at the top of
/// its kernel stack, filled in for the state to return to.
pub(super) unsafe fn return_through_frame(addr: u64) -> ! {
    // SAFETY: forwarded from this function's contract.
    unsafe { thread_exception_return(addr as *const TrapFrame) }
}
