//! `/bin/bench`: microbenchmarks in guest instructions (DESIGN §5 level 7). Run it under
//! `-icount shift=0,sleep=off` (`make bench`): then one counter tick is a fixed number of
//! instructions and two runs print the same numbers.
#![no_std]
#![no_main]

use libsys::mach_traps::{mach_absolute_time, mach_timebase_info_trap, thread_self_trap, timebase_info};
use libsys::syscall::getppid;
use libsys::{Args, entry, println};

const ITERATIONS: u64 = 20_000;

/// Nanoseconds per operation (= guest instructions with icount shift=0), in hundredths.
fn measure(tb: (u64, u64), mut op: impl FnMut()) -> u64 {
    op();
    let t0 = mach_absolute_time();
    for _ in 0..ITERATIONS {
        op();
    }
    let ticks = mach_absolute_time() - t0;
    ticks * tb.0 * 100 / tb.1 / ITERATIONS
}

fn main(_: &Args) -> i32 {
    let Ok(tb) = timebase_info() else {
        println!("bench: mach_timebase_info failed");
        return 1;
    };
    let tb = (tb.numer as u64, tb.denom as u64);
    let mut info = [0u32; 2];
    let rows: [(&str, u64); 3] = [
        (
            "null BSD syscall (getppid)",
            measure(tb, || {
                // SAFETY: getppid takes no pointers.
                let _ = unsafe { getppid() };
            }),
        ),
        (
            "null Mach trap (thread_self_trap)",
            measure(tb, || {
                // SAFETY: no arguments.
                let _ = unsafe { thread_self_trap() };
            }),
        ),
        (
            "Mach trap with copyout (mach_timebase_info_trap)",
            measure(tb, || {
                // SAFETY: `info` is a valid 8-byte buffer.
                let _ = unsafe { mach_timebase_info_trap(info.as_mut_ptr() as u64) };
            }),
        ),
    ];
    println!("bench: {ITERATIONS} iterations each; guest instructions per operation (-icount shift=0)");
    for (name, hundredths) in rows {
        println!("bench: {:<50} {:>6}.{:02}", name, hundredths / 100, hundredths % 100);
    }
    0
}

entry!(main);
