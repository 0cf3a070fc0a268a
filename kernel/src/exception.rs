//! Exception vectors and the first level of exception handling (XNU's `sleh`).
//!
//! All 16 vectors (ARM ARM D1.10.2) save a full `TrapFrame` on the current kernel stack and
//! call `exception_dispatch`. Synchronous exceptions from EL0 are system calls and user
//! faults; IRQs are the timer and the UART; a data abort inside a copyin/copyout routine
//! is resolved like a user fault, or fixed up to fail the copy (`copyio_fault`); anything
//! else unexpected panics with the decoded syndrome. On the way back to EL0 the pending
//! ASTs run (preemption, BSD signal work).

use core::arch::global_asm;

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};

use mach::KernReturn;
use mach::exception::{EXC_BAD_ACCESS, EXC_BAD_INSTRUCTION, EXC_BREAKPOINT};
use mach::vm::VmProt;
use osfmk::arm64::copyio::{copyio_fixup, is_user_address};
use osfmk::arm64::esr::{Esr, ec};
use osfmk::arm64::exception_return::{FRAME_ELR_SPSR, FRAME_X0, FRAME_X30_SP};
use osfmk::arm64::trapframe::{TRAP_FRAME_SIZE, TrapFrame};
use osfmk::kern::exception::{bsd_hooks, exception_triage};
use osfmk::kern::sched_prim;
use osfmk::kern::stack::{KSTACK_GUARD_SIZE, KSTACK_REGION_L0, KSTACK_SLOT_SIZE};

global_asm!(
    r#"
.macro SAVE_FRAME
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #{x0} + 0]
    stp     x2, x3, [sp, #{x0} + 16]
    stp     x4, x5, [sp, #{x0} + 32]
    stp     x6, x7, [sp, #{x0} + 48]
    stp     x8, x9, [sp, #{x0} + 64]
    stp     x10, x11, [sp, #{x0} + 80]
    stp     x12, x13, [sp, #{x0} + 96]
    stp     x14, x15, [sp, #{x0} + 112]
    stp     x16, x17, [sp, #{x0} + 128]
    stp     x18, x19, [sp, #{x0} + 144]
    stp     x20, x21, [sp, #{x0} + 160]
    stp     x22, x23, [sp, #{x0} + 176]
    stp     x24, x25, [sp, #{x0} + 192]
    stp     x26, x27, [sp, #{x0} + 208]
    stp     x28, x29, [sp, #{x0} + 224]
    mrs     x9, sp_el0
    stp     x30, x9, [sp, #{x30_sp}]
    mrs     x10, elr_el1
    mrs     x11, spsr_el1
    stp     x10, x11, [sp, #{elr_spsr}]
.endm

.macro VECTOR kind
    .balign 0x80
    SAVE_FRAME
    mov     x0, sp
    mov     x1, #\kind
    b       exception_common
.endm

// Exceptions taken at EL1 on SP_EL1 first check that the kernel stack has room: if the
// frame would land in a stack's guard, the stack overflowed, and saving the frame there
// would fault again forever. SP_EL0 is free scratch while in the kernel (the user's value
// is in the thread's trap frame), so x0 is parked there during the check.
.macro VECTOR_EL1 kind
    .balign 0x80
    b       el1_vector_\kind
.endm

.macro EL1_ENTRY kind
el1_vector_\kind:
    msr     sp_el0, x0
    mov     x0, sp
    sub     x0, x0, #({frame} + 16)
    ubfx    x0, x0, #39, #9
    cmp     x0, #{kstack_l0}
    b.ne    1f
    mov     x0, sp
    sub     x0, x0, #({frame} + 16)
    and     x0, x0, #({slot_size} - 1)
    cmp     x0, #{guard_size}
    b.lo    kernel_stack_overflow_entry
1:  mrs     x0, sp_el0
    SAVE_FRAME
    mov     x0, sp
    mov     x1, #\kind
    b       exception_common
.endm

.section .text
.balign 0x800
.global exception_vectors
exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR_EL1 4
    VECTOR_EL1 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15
    // Each entry must fit its 0x80 bytes, or every later vector would shift: `.org` fails
    // the build if the table has grown past 2 KiB.
    .org    exception_vectors + 0x800

    EL1_ENTRY 4
    EL1_ENTRY 5

// The kernel stack overflowed: finish on this CPU's emergency stack (its top is the first
// word of the per-CPU block TPIDR_EL1 points at) and panic.
kernel_stack_overflow_entry:
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{emergency_top_offset}]
    mov     sp, x0
    mrs     x0, sp_el0
    SAVE_FRAME
    mov     x0, sp
    bl      kernel_stack_overflow
1:  wfe
    b       1b

exception_common:
    // Make the interrupted frame the caller of the handler, so backtraces cross the trap.
    ldr     x29, [sp, #{x0} + 232]
    ldr     x30, [sp, #{elr_spsr}]
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    bl      exception_dispatch
    add     sp, sp, #16
    b       exception_return

"#,
    frame = const TRAP_FRAME_SIZE,
    x0 = const FRAME_X0,
    x30_sp = const FRAME_X30_SP,
    elr_spsr = const FRAME_ELR_SPSR,
    kstack_l0 = const (KSTACK_REGION_L0 & 0x1ff),
    slot_size = const KSTACK_SLOT_SIZE,
    guard_size = const KSTACK_GUARD_SIZE,
    emergency_top_offset = const osfmk::arm64::cpu_data::EMERGENCY_STACK_TOP_OFFSET,
);

/// Reached on the emergency stack when an EL1 exception found the kernel stack overflowed.
#[unsafe(no_mangle)]
extern "C" fn kernel_stack_overflow(frame: &TrapFrame) -> ! {
    crate::panic::set_trap_frame(frame);
    let (esr, far) = read_esr_far();
    panic!(
        "kernel stack overflow (exception {} at ELR {:#018x}, FAR {:#018x} in the stack's guard, frame pointer {:#018x})",
        esr.class_name(),
        frame.elr,
        far,
        frame.x[29]
    )
}

unsafe extern "C" {
    static exception_vectors: u8;
}

/// Point VBAR_EL1 at the vectors (2 KiB aligned, in the kernel text).
pub fn init() {
    // SAFETY: only the address of the assembly symbol is taken.
    let base = unsafe { &exception_vectors as *const u8 as u64 };
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Which of the 16 vectors fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vector {
    /// Current EL with SP_EL1: synchronous.
    KernelSync,
    /// Current EL with SP_EL1: IRQ.
    KernelIrq,
    /// Lower EL (AArch64): synchronous.
    UserSync,
    /// Lower EL (AArch64): IRQ.
    UserIrq,
    /// Anything else (SP_EL0 at EL1, FIQ, SError, AArch32).
    Unexpected(u64),
}

fn vector(kind: u64) -> Vector {
    match kind {
        4 => Vector::KernelSync,
        5 => Vector::KernelIrq,
        8 => Vector::UserSync,
        9 => Vector::UserIrq,
        k => Vector::Unexpected(k),
    }
}

const VECTOR_NAMES: [&str; 16] = [
    "EL1t sync",
    "EL1t IRQ",
    "EL1t FIQ",
    "EL1t SError",
    "EL1h sync",
    "EL1h IRQ",
    "EL1h FIQ",
    "EL1h SError",
    "EL0/64 sync",
    "EL0/64 IRQ",
    "EL0/64 FIQ",
    "EL0/64 SError",
    "EL0/32 sync",
    "EL0/32 IRQ",
    "EL0/32 FIQ",
    "EL0/32 SError",
];

fn read_esr_far() -> (Esr, u64) {
    (Esr(ESR_EL1.get()), FAR_EL1.get())
}

/// Print a frame and the syndrome, then panic: an exception the kernel cannot handle.
fn fatal(frame: &TrapFrame, kind: u64, esr: Esr, far: u64) -> ! {
    crate::panic::set_trap_frame(frame);
    panic!(
        "unexpected exception ({}): {} (EC {:#04x}, ISS {:#x}){}, FAR {:#018x}, ELR {:#018x}",
        VECTOR_NAMES.get(kind as usize).copied().unwrap_or("?"),
        esr.class_name(),
        esr.ec(),
        esr.iss(),
        match esr.ec() {
            ec::DABT_CURRENT | ec::DABT_LOWER | ec::IABT_CURRENT | ec::IABT_LOWER => {
                alloc::format!(
                    ": {} at level {}{}",
                    esr.fault_name(),
                    esr.fault_level(),
                    if esr.is_write() { " (write)" } else { "" }
                )
            }
            _ => alloc::string::String::new(),
        },
        far,
        frame.elr
    )
}

#[unsafe(no_mangle)]
extern "C" fn exception_dispatch(frame: &mut TrapFrame, kind: u64) {
    match vector(kind) {
        Vector::UserSync => {
            let (esr, far) = read_esr_far();
            let seen = sched_prim::thread_enter_kernel();
            // Traps from user mode run with interrupts on, like XNU's sleh.
            osfmk::arm64::cpu::interrupts_enable();
            user_sync(frame, esr, far);
            return_to_user(frame, seen);
        }
        Vector::UserIrq => {
            let seen = sched_prim::thread_enter_kernel();
            crate::irq::handle();
            // The handlers are done: the way back runs with interrupts on, as after a trap.
            // (It may deliver a signal posted meanwhile — on another CPU, whose reschedule
            // interrupt is what brought us here — and that copies out to the user's stack.)
            osfmk::arm64::cpu::interrupts_enable();
            return_to_user(frame, seen);
        }
        Vector::KernelIrq => {
            crate::irq::handle();
            // Kernel preemption: an IRQ never interrupts the holder of an interrupt-masking
            // lock, and `ast_check_preempt` leaves a CPU alone while preemption is disabled
            // (preemption-disabling locks, a wait being set up).
            if sched_prim::sched_running() {
                sched_prim::ast_check_preempt();
            }
        }
        Vector::KernelSync => {
            let (esr, far) = read_esr_far();
            if esr.ec() == ec::DABT_CURRENT
                && let Some(fixup) = copyio_fixup(frame.elr)
            {
                copyio_fault(frame, esr, far, fixup);
                return;
            }
            if crate::ktest::expected_fault(frame, esr, far) {
                return;
            }
            fatal(frame, kind, esr, far)
        }
        Vector::Unexpected(k) => {
            let (esr, far) = read_esr_far();
            fatal(frame, k, esr, far)
        }
    }
}

/// Synchronous exceptions from EL0: system calls and faults.
fn user_sync(frame: &mut TrapFrame, esr: Esr, far: u64) {
    match esr.ec() {
        ec::SVC64 => crate::syscall::handle_svc(frame),
        ec::DABT_LOWER | ec::IABT_LOWER if esr.is_mmu_fault() => {
            let access = if esr.ec() == ec::IABT_LOWER {
                VmProt::EXECUTE
            } else if esr.is_write() {
                VmProt::WRITE
            } else {
                VmProt::READ
            };
            match user_fault(far, access) {
                Ok(()) => {}
                Err(KernReturn::KERN_RESOURCE_SHORTAGE) => {
                    if let Some(h) = bsd_hooks() {
                        h.memory_exhausted(far);
                    }
                }
                Err(kr) => exception_triage(EXC_BAD_ACCESS, kr.0 as i64, far as i64),
            }
        }
        ec::DABT_LOWER | ec::IABT_LOWER => {
            // Alignment and external aborts are not the VM's to resolve.
            exception_triage(EXC_BAD_ACCESS, KernReturn::KERN_PROTECTION_FAILURE.0 as i64, far as i64)
        }
        ec::PC_ALIGN | ec::SP_ALIGN => {
            exception_triage(EXC_BAD_ACCESS, KernReturn::KERN_INVALID_ADDRESS.0 as i64, far as i64)
        }
        ec::BRK64 | ec::BREAKPOINT_LOWER | ec::SOFTSTEP_LOWER | ec::WATCHPOINT_LOWER => {
            exception_triage(EXC_BREAKPOINT, esr.iss() as i64, frame.elr as i64)
        }
        _ => exception_triage(EXC_BAD_INSTRUCTION, esr.0 as i64, frame.elr as i64),
    }
}

/// Resolve a user fault through the current task's map (`vm_map_fault`: its read lock,
/// the write lock only if an entry must change).
fn user_fault(far: u64, access: VmProt) -> Result<(), KernReturn> {
    let task = sched_prim::current_thread().task.clone();
    let map = task.map.as_ref().ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    osfmk::vm::vm_fault::vm_map_fault(map, far, access)
}

/// PSTATE.I in a saved SPSR: IRQs were masked where the exception was taken.
const SPSR_I: u64 = 1 << 7;

/// A data abort at a user access of a copy routine (see `osfmk::arm64::copyio`): an MMU
/// fault at a user address is resolved as a user fault would be, on the current task's
/// map, and the access runs again; anything else, or a fault `vm_map_fault` cannot resolve,
/// resumes at the routine's `fixup`, which makes the copy fail.
fn copyio_fault(frame: &mut TrapFrame, esr: Esr, far: u64, fixup: u64) {
    if esr.is_mmu_fault() && is_user_address(far) {
        let access = if esr.is_write() { VmProt::WRITE } else { VmProt::READ };
        // Taking the exception masked IRQs; the copy ran with them on (no spin lock held),
        // and so does the fault, as a user fault would. `exception_return` masks them again
        // before the frame is restored.
        if frame.spsr & SPSR_I == 0 {
            osfmk::arm64::cpu::interrupts_enable();
        }
        if user_fault(far, access).is_ok() {
            return;
        }
    }
    frame.elr = fixup;
}

/// The ASTs on the way back to EL0 (XNU's `ast_taken_user`): BSD's and the thread's own
/// until nothing holds the thread, then preemption; then the clock switches to user time.
/// The last look is taken with interrupts masked (they stay masked to the `eret`), so a
/// suspension, kill, signal or reschedule that arrives meanwhile is acted on now, not at
/// the next trap.
fn return_to_user(frame: &mut TrapFrame, mut seen: u32) {
    loop {
        osfmk::kern::thread_act::ast_taken_user(frame);
        osfmk::arm64::cpu::interrupts_disable();
        if sched_prim::ast_user_settled(&mut seen) {
            break;
        }
        osfmk::arm64::cpu::interrupts_enable();
        sched_prim::ast_check_preempt();
    }
    sched_prim::thread_exit_kernel();
}
