//! The context switch: callee-saved registers, the kernel stack pointer, the user FP/SIMD
//! registers and the user thread pointers move between CPU and `MachineContext`.
//!
//! The kernel is built for `aarch64-unknown-none-softfloat`, so FP/SIMD registers only ever
//! hold user state: they survive traps untouched and are saved only here, on a thread switch.

use core::arch::global_asm;

/// What a thread leaves behind when it is switched out. Layout shared with the assembly below.
#[derive(Debug)]
#[repr(C, align(16))]
pub struct MachineContext {
    /// x19–x28, x29 (fp), x30 (lr), sp.
    pub regs: [u64; 13],
    /// TPIDRRO_EL0 (user thread pointer set by the platform call) and TPIDR_EL0.
    pub tpidrro_el0: u64,
    pub tpidr_el0: u64,
    /// FPCR and FPSR.
    pub fpcr: u64,
    pub fpsr: u64,
    _pad: u64,
    /// q0–q31.
    pub q: [u128; 32],
}

impl MachineContext {
    /// A context that starts at `trampoline` on stack `sp` with x19 = `a`, x20 = `b`.
    pub const fn new(trampoline: u64, sp: u64, a: u64, b: u64) -> MachineContext {
        let mut regs = [0; 13];
        regs[0] = a;
        regs[1] = b;
        regs[11] = trampoline;
        regs[12] = sp;
        MachineContext { regs, tpidrro_el0: 0, tpidr_el0: 0, fpcr: 0, fpsr: 0, _pad: 0, q: [0; 32] }
    }
}

const _: () = assert!(core::mem::offset_of!(MachineContext, tpidrro_el0) == 104);
const _: () = assert!(core::mem::offset_of!(MachineContext, q) == 144);

unsafe extern "C" {
    /// Save the current context into `old` and resume `new`.
    ///
    /// # Safety
    /// Both pointers must be valid, `new` must have been saved by this function or built by
    /// `MachineContext::new` with a live stack, and IRQs must be masked.
    pub fn machine_switch_context(old: *mut MachineContext, new: *const MachineContext);
}

global_asm!(
    r#"
// The kernel is compiled without FP/SIMD; only these routines touch the user's registers.
.arch_extension fp
.arch_extension simd

// Store the user thread pointers, FPCR/FPSR and q0–q31 into the context at \ctx
// (clobbers x9, x10).
.macro save_user_state ctx
    mrs     x9, tpidrro_el0
    mrs     x10, tpidr_el0
    stp     x9, x10, [\ctx, #104]
    mrs     x9, fpcr
    mrs     x10, fpsr
    stp     x9, x10, [\ctx, #120]
    add     x9, \ctx, #144
    stp     q0, q1, [x9, #0]
    stp     q2, q3, [x9, #32]
    stp     q4, q5, [x9, #64]
    stp     q6, q7, [x9, #96]
    stp     q8, q9, [x9, #128]
    stp     q10, q11, [x9, #160]
    stp     q12, q13, [x9, #192]
    stp     q14, q15, [x9, #224]
    stp     q16, q17, [x9, #256]
    stp     q18, q19, [x9, #288]
    stp     q20, q21, [x9, #320]
    stp     q22, q23, [x9, #352]
    stp     q24, q25, [x9, #384]
    stp     q26, q27, [x9, #416]
    stp     q28, q29, [x9, #448]
    stp     q30, q31, [x9, #480]
.endm

// Load FPCR/FPSR and q0–q31 from the context at \ctx (clobbers x9, x10).
.macro load_user_fp ctx
    ldp     x9, x10, [\ctx, #120]
    msr     fpcr, x9
    msr     fpsr, x10
    add     x9, \ctx, #144
    ldp     q0, q1, [x9, #0]
    ldp     q2, q3, [x9, #32]
    ldp     q4, q5, [x9, #64]
    ldp     q6, q7, [x9, #96]
    ldp     q8, q9, [x9, #128]
    ldp     q10, q11, [x9, #160]
    ldp     q12, q13, [x9, #192]
    ldp     q14, q15, [x9, #224]
    ldp     q16, q17, [x9, #256]
    ldp     q18, q19, [x9, #288]
    ldp     q20, q21, [x9, #320]
    ldp     q22, q23, [x9, #352]
    ldp     q24, q25, [x9, #384]
    ldp     q26, q27, [x9, #416]
    ldp     q28, q29, [x9, #448]
    ldp     q30, q31, [x9, #480]
.endm

.global machine_switch_context
machine_switch_context:
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x9, sp
    str     x9, [x0, #96]
    save_user_state x0

    load_user_fp x1
    ldp     x9, x10, [x1, #104]
    msr     tpidrro_el0, x9
    msr     tpidr_el0, x10
    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x30, [x1, #80]
    ldr     x9, [x1, #96]
    mov     sp, x9
    ret

// machine_save_user_fp(ctx): store this CPU's FP/SIMD registers (the running thread's user
// state, since the kernel never uses them) and TPIDRRO/TPIDR into `ctx` (fork).
.global machine_save_user_fp
machine_save_user_fp:
    save_user_state x0
    ret

// machine_load_user_fp(ctx): load the FP/SIMD registers from `ctx` (sigreturn).
.global machine_load_user_fp
machine_load_user_fp:
    load_user_fp x0
    ret

// First instructions of every new thread: x19 = argument, x20 = Rust entry `fn(u64) -> !`.
.global thread_start_trampoline
thread_start_trampoline:
    mov     x29, xzr
    mov     x0, x19
    blr     x20
1:  wfe
    b       1b
"#
);

unsafe extern "C" {
    fn thread_start_trampoline();
    /// Store the running thread's user FP/SIMD registers and thread pointers into `ctx`.
    ///
    /// # Safety
    /// `ctx` must be a valid context no CPU is switching to or from.
    pub fn machine_save_user_fp(ctx: *mut MachineContext);
    fn machine_load_user_fp(ctx: *const MachineContext);
}

/// The running thread's user FP/SIMD state.
#[derive(Clone, Copy, Debug)]
pub struct UserFpState {
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

/// Read the running thread's user FP/SIMD registers (they are live in the CPU: the kernel
/// never touches them).
pub fn read_user_fp() -> UserFpState {
    let mut ctx = MachineContext::new(0, 0, 0, 0);
    // SAFETY: `ctx` is a local context that only this call writes.
    unsafe { machine_save_user_fp(&mut ctx) };
    UserFpState { q: ctx.q, fpsr: ctx.fpsr, fpcr: ctx.fpcr }
}

/// Replace the running thread's user FP/SIMD registers (`sigreturn`).
pub fn write_user_fp(fp: &UserFpState) {
    let mut ctx = MachineContext::new(0, 0, 0, 0);
    ctx.q = fp.q;
    ctx.fpsr = fp.fpsr;
    ctx.fpcr = fp.fpcr;
    // SAFETY: loads FP registers only, from a valid local context.
    unsafe { machine_load_user_fp(&ctx) };
}

/// Address of the trampoline a new thread's context starts at.
pub fn thread_start_trampoline_addr() -> u64 {
    thread_start_trampoline as *const () as u64
}

/// Clear the running thread's user thread pointers (TPIDRRO_EL0, TPIDR_EL0): exec.
pub fn reset_user_thread_pointers() {
    // SAFETY: these registers only hold user-visible thread pointers; the context switch
    // saves whatever they hold.
    unsafe {
        core::arch::asm!("msr tpidrro_el0, xzr", "msr tpidr_el0, xzr", options(nostack, preserves_flags))
    };
}
