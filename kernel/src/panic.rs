//! The panic path: say what broke (message, the trap frame if an exception caused it, the
//! current thread) with a frame-pointer backtrace, then stop. QEMU is ended through
//! semihosting with a failure status so tests never hang on a panic.

use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use osfmk::arm64::trapframe::TrapFrame;

use crate::console::panic_print;

static PANICKING: AtomicBool = AtomicBool::new(false);
static TRAP_FRAME: AtomicPtr<TrapFrame> = AtomicPtr::new(core::ptr::null_mut());

/// Exit status QEMU reports after a kernel panic.
pub const PANIC_EXIT_STATUS: u32 = 101;

/// Remember the frame of the exception that is about to panic, for the register dump.
pub fn set_trap_frame(frame: &TrapFrame) {
    TRAP_FRAME.store(frame as *const TrapFrame as *mut TrapFrame, Ordering::Relaxed);
}

/// Walk frame records (x29 chains) while they stay inside kernel memory.
fn backtrace(mut fp: u64) {
    panic_print(format_args!("backtrace:\n"));
    for depth in 0..32 {
        if fp == 0 || !fp.is_multiple_of(16) || fp < osfmk::arm64::pmap::PHYS_MAP_BASE {
            break;
        }
        // SAFETY: `fp` is a 16-byte aligned upper-half address taken from a frame-record
        // chain the compiler maintains (the kernel is built with frame pointers); the
        // record's two words sit in a kernel stack, which is mapped.
        let (next, lr) = unsafe { ((fp as *const u64).read(), (fp as *const u64).add(1).read()) };
        if lr == 0 {
            break;
        }
        panic_print(format_args!("  #{depth:<2} {lr:#018x}\n"));
        fp = next;
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    osfmk::arm64::cpu::interrupts_disable();
    if PANICKING.swap(true, Ordering::SeqCst) {
        crate::drivers::semihosting::exit(PANIC_EXIT_STATUS);
    }
    panic_print(format_args!("\npanic: {}\n", info.message()));
    if let Some(loc) = info.location() {
        panic_print(format_args!("  at {}:{}\n", loc.file(), loc.line()));
    }
    if osfmk::kern::sched_prim::sched_running() {
        let t = osfmk::kern::sched_prim::current_thread();
        panic_print(format_args!("  thread {} in task {}\n", t.thread_id, t.task.task_id));
    }
    let frame = TRAP_FRAME.load(Ordering::Relaxed);
    if frame.is_null() {
        let fp: u64;
        // SAFETY: reading our own frame pointer register.
        unsafe { core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
        backtrace(fp);
    } else {
        // SAFETY: set by `set_trap_frame` from a live frame on this CPU's stack just before
        // panicking; nothing has popped it.
        let f = unsafe { &*frame };
        for (i, pair) in f.x.chunks(2).enumerate() {
            match pair {
                [a, b] => {
                    panic_print(format_args!("  x{:<2} {:#018x}  x{:<2} {:#018x}\n", 2 * i, a, 2 * i + 1, b))
                }
                [a] => panic_print(format_args!("  x{:<2} {:#018x}\n", 2 * i, a)),
                _ => {}
            }
        }
        panic_print(format_args!(
            "  sp_el0 {:#018x}  elr {:#018x}  spsr {:#010x}\n",
            f.sp_el0, f.elr, f.spsr
        ));
        panic_print(format_args!("  #0  {:#018x}\n", f.elr));
        backtrace(f.x[29]);
    }
    crate::drivers::semihosting::exit(PANIC_EXIT_STATUS)
}
