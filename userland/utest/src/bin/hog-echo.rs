//! `/bin/hog-echo`: two CPU-bound threads at the default priority, and a console echo
//! beside them. The system test types a line and expects it back promptly: a CPU hog must
//! not be able to starve the console (issue M1.3).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use libsys::mach_traps::{mach_absolute_time, mach_wait_until_trap, timebase_info};
use libsys::syscall::read_bytes;
use libsys::thread::{ThreadSlot, thread_register, thread_spawn};
use libsys::{Args, entry, print, println};

const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stacks(UnsafeCell<[[u8; STACK_SIZE]; 2]>);
// SAFETY: each stack goes to exactly one thread, once.
unsafe impl Sync for Stacks {}
static STACKS: Stacks = Stacks(UnsafeCell::new([[0; STACK_SIZE]; 2]));
static SLOTS: [ThreadSlot; 2] = [ThreadSlot::new(), ThreadSlot::new()];
static SPINS: AtomicU64 = AtomicU64::new(0);

extern "C" fn hog(_: u64) {
    loop {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
}

fn main(_: &Args) -> i32 {
    if thread_register().is_err() {
        println!("hog-echo: bsdthread_register failed");
        return 1;
    }
    for (i, slot) in SLOTS.iter().enumerate() {
        // SAFETY: stack i is handed to one thread only, here.
        let stack = unsafe { &mut (*STACKS.0.get())[i] };
        if thread_spawn(hog, 0, stack, slot).is_err() {
            println!("hog-echo: bsdthread_create failed");
            return 1;
        }
    }
    // Let the hogs run long enough to be marked as CPU-bound.
    let tb = timebase_info().map_or((1, 1), |t| (t.numer as u64, t.denom as u64));
    let ticks_per_ms = 1_000_000 * tb.1 / tb.0.max(1);
    mach_wait_until_trap(mach_absolute_time() + 300 * ticks_per_ms);
    print!("hog-echo: two hogs running; type a line: ");
    let mut buf = [0u8; 128];
    let n = read_bytes(0, &mut buf).unwrap_or(0) as usize;
    let line = buf[..n].strip_suffix(b"\n").unwrap_or(&buf[..n]);
    println!("hog-echo: you typed: {}", core::str::from_utf8(line).unwrap_or("?"));
    println!("hog-echo: the hogs spun {} times meanwhile", SPINS.load(Ordering::Relaxed));
    // Exiting ends the hogs with the process.
    0
}

entry!(main);
