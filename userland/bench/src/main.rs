//! `/bin/bench`: microbenchmarks in guest instructions (DESIGN §5 level 7). Run it under
//! `-icount shift=0,sleep=off` (`make bench`): then one counter tick is a fixed number of
//! instructions and two runs print the same numbers.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use libsys::mach_traps::{
    mach_absolute_time, mach_timebase_info_trap, mach_wait_until_trap, swtch_pri, thread_self_trap,
    timebase_info,
};
use libsys::syscall::getppid;
use libsys::thread::{ThreadSlot, thread_register, thread_spawn};
use libsys::{Args, entry, println};

const ITERATIONS: u64 = 20_000;
/// Slower operations get fewer rounds (the totals stay in the same range).
const SLOW_ITERATIONS: u64 = 500;

/// Nanoseconds per operation (= guest instructions with icount shift=0), in hundredths.
fn measure(tb: (u64, u64), iterations: u64, mut op: impl FnMut()) -> u64 {
    op();
    let t0 = mach_absolute_time();
    for _ in 0..iterations {
        op();
    }
    let ticks = mach_absolute_time() - t0;
    ticks * tb.0 * 100 / tb.1 / iterations
}

const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: the stack is used by one thread at a time (each is joined before the next).
unsafe impl Sync for Stack {}
static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));
static SLOT: ThreadSlot = ThreadSlot::new();
static STOP: AtomicBool = AtomicBool::new(false);

fn stack() -> &'static mut [u8] {
    // SAFETY: only one thread uses the stack at a time (see `Stack`).
    unsafe { &mut *STACK.0.get() }
}

extern "C" fn nothing(_: u64) {}

extern "C" fn yielder(_: u64) {
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: no pointers.
        unsafe { swtch_pri(0) };
    }
}

fn main(_: &Args) -> i32 {
    let Ok(tb) = timebase_info() else {
        println!("bench: mach_timebase_info failed");
        return 1;
    };
    let tb = (tb.numer as u64, tb.denom as u64);
    if thread_register().is_err() {
        println!("bench: bsdthread_register failed");
        return 1;
    }
    let mut info = [0u32; 2];
    let syscall = measure(tb, ITERATIONS, || {
        // SAFETY: getppid takes no pointers.
        let _ = unsafe { getppid() };
    });
    let trap = measure(tb, ITERATIONS, || {
        // SAFETY: no arguments.
        let _ = unsafe { thread_self_trap() };
    });
    let copyout = measure(tb, ITERATIONS, || {
        // SAFETY: `info` is a valid 8-byte buffer.
        let _ = unsafe { mach_timebase_info_trap(info.as_mut_ptr() as u64) };
    });
    // Two threads handing the CPU back and forth: each swtch_pri is one switch.
    STOP.store(false, Ordering::SeqCst);
    if thread_spawn(yielder, 0, stack(), &SLOT).is_err() {
        println!("bench: bsdthread_create failed");
        return 1;
    }
    let switch = measure(tb, ITERATIONS, || {
        // SAFETY: no pointers.
        unsafe { swtch_pri(0) };
    }) / 2;
    STOP.store(true, Ordering::SeqCst);
    SLOT.join();
    let create = measure(tb, SLOW_ITERATIONS, || {
        if thread_spawn(nothing, 0, stack(), &SLOT).is_ok() {
            SLOT.join();
        }
    });
    let wait_until = measure(tb, SLOW_ITERATIONS, || {
        // A deadline already past: the trap's entry, check and return.
        // SAFETY: no pointers.
        unsafe { mach_wait_until_trap(0) };
    });
    let rows: [(&str, u64); 6] = [
        ("null BSD syscall (getppid)", syscall),
        ("null Mach trap (thread_self_trap)", trap),
        ("Mach trap with copyout (mach_timebase_info_trap)", copyout),
        ("thread switch (two threads, swtch_pri)", switch),
        ("thread create + run + terminate + join", create),
        ("mach_wait_until round trip (deadline passed)", wait_until),
    ];
    println!("bench: guest instructions per operation (-icount shift=0)");
    for (name, hundredths) in rows {
        println!("bench: {:<50} {:>8}.{:02}", name, hundredths / 100, hundredths % 100);
    }
    0
}

entry!(main);
