//! Yielding and sleeping from user space: `swtch`, `swtch_pri`, `thread_switch`,
//! `mach_wait_until` and `clock_sleep` (XNU's `syscall_subr.c` and `clock.c`).

use alloc::sync::Arc;

use mach::KernReturn;
use mach::port::{MACH_PORT_NULL, MACH_PORT_TYPE_SEND};
use mach::time::{MachTimespec, NSEC_PER_SEC};
use mach::traps::sleep_type::{TIME_ABSOLUTE, TIME_RELATIVE};
use mach::traps::switch_option::*;

use crate::kern::clock::{absolutetime_to_nanoseconds, mach_absolute_time, nanoseconds_to_absolutetime};
use crate::kern::sched_prim::{self, current_thread};
use crate::kern::thread::{Thread, WaitResult};

/// `swtch`: yield to an equal or better thread. True if others were waiting to run.
pub fn swtch() -> bool {
    sched_prim::thread_yield()
}

/// `swtch_pri`: yield below everyone once (the priority argument is ignored, as in XNU).
pub fn swtch_pri() -> bool {
    sched_prim::thread_yield_depressed()
}

/// `thread_switch(thread, option, option_time)`: yield, optionally depressed or for a time.
/// A named thread that is not a thread of ours is ignored, as XNU ignores a bad hint.
pub fn thread_switch(thread_name: u32, option: u32, option_time_ms: u32) -> KernReturn {
    if option > SWITCH_OPTION_OSLOCK_WAIT {
        return KernReturn::KERN_INVALID_ARGUMENT;
    }
    let me = current_thread();
    if thread_name != MACH_PORT_NULL {
        // The hint only matters for hand-off, which this scheduler does not do directly;
        // still validate it the way XNU does (a bad name is simply no hint).
        let _hint: Option<Arc<Thread>> =
            me.task.itk_space.lookup_kobject::<Thread>(thread_name, MACH_PORT_TYPE_SEND).ok();
    }
    drop(me);
    match option {
        SWITCH_OPTION_WAIT | SWITCH_OPTION_OSLOCK_WAIT => {
            let deadline = mach_absolute_time()
                .saturating_add(nanoseconds_to_absolutetime(option_time_ms as u64 * 1_000_000));
            if sched_prim::thread_sleep_until(deadline) == WaitResult::Interrupted {
                return KernReturn::KERN_ABORTED;
            }
        }
        SWITCH_OPTION_DEPRESS | SWITCH_OPTION_OSLOCK_DEPRESS | SWITCH_OPTION_DISPATCH_CONTENTION => {
            sched_prim::thread_yield_depressed();
        }
        _ => {
            sched_prim::thread_yield();
        }
    }
    KernReturn::KERN_SUCCESS
}

/// `mach_wait_until(deadline)`: sleep until absolute time `deadline`.
pub fn mach_wait_until(deadline: u64) -> KernReturn {
    match sched_prim::thread_sleep_until(deadline) {
        WaitResult::Interrupted => KernReturn::KERN_ABORTED,
        _ => KernReturn::KERN_SUCCESS,
    }
}

/// The system clock's time (`SYSTEM_CLOCK`: time since boot) as a timespec.
fn system_clock_now() -> MachTimespec {
    let ns = absolutetime_to_nanoseconds(mach_absolute_time());
    MachTimespec { tv_sec: (ns / NSEC_PER_SEC) as u32, tv_nsec: (ns % NSEC_PER_SEC) as i32 }
}

/// `clock_sleep(clock, type, sec, nsec)` on the system clock (the only clock this kernel
/// has; MACH_PORT_NULL names it, as in XNU). Returns the wake time to copy out.
pub fn clock_sleep(
    clock_name: u32,
    sleep_type: u32,
    sec: u32,
    nsec: u32,
) -> Result<MachTimespec, KernReturn> {
    if clock_name != MACH_PORT_NULL {
        // Clock ports come with host_get_clock_service (M1.5); no other name is a clock.
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    if nsec as u64 >= NSEC_PER_SEC {
        return Err(KernReturn::KERN_INVALID_VALUE);
    }
    let span = nanoseconds_to_absolutetime(sec as u64 * NSEC_PER_SEC + nsec as u64);
    let deadline = match sleep_type {
        TIME_RELATIVE => mach_absolute_time().saturating_add(span),
        TIME_ABSOLUTE => span,
        _ => return Err(KernReturn::KERN_INVALID_VALUE),
    };
    match sched_prim::thread_sleep_until(deadline) {
        WaitResult::Interrupted => Err(KernReturn::KERN_ABORTED),
        _ => Ok(system_clock_now()),
    }
}
