//! Yielding and sleeping from user space: `swtch`, `swtch_pri`, `thread_switch`,
//! `mach_wait_until` and `clock_sleep` (XNU's `syscall_subr.c` and `clock.c`).

use alloc::sync::Arc;

use mach::port::{MACH_PORT_NULL, MACH_PORT_TYPE_SEND};
use mach::time::{MachTimespec, NSEC_PER_SEC};
use mach::traps::sleep_type::{TIME_ABSOLUTE, TIME_RELATIVE};
use mach::traps::switch_option::*;
use mach::{KernReturn, MachPortName};

use crate::kern::clock::{absolutetime_to_nanoseconds, mach_absolute_time, nanoseconds_to_absolutetime};
use crate::kern::sched_prim::{self, current_thread};
use crate::kern::thread::{Thread, WaitResult};
use crate::vm::user_ptr::{UserAddr, copyout_val};

/// −60 `swtch`: yield to an equal or better thread. True if others were waiting to run.
pub fn swtch() -> bool {
    sched_prim::thread_yield()
}

/// −59 `swtch_pri`: yield below everyone once (the priority is ignored, as in XNU).
pub fn swtch_pri(_pri: i32) -> bool {
    sched_prim::thread_yield_depressed()
}

/// −61 `thread_switch(thread_name, option, option_time)`: yield, optionally depressed or for
/// `option_time` ms. A named thread that is not a thread of ours is ignored, as XNU ignores a
/// bad hint; an unknown option is `KERN_INVALID_ARGUMENT`.
pub fn thread_switch(thread_name: MachPortName, option: i32, option_time: u32) -> Result<(), KernReturn> {
    if !(SWITCH_OPTION_NONE..=SWITCH_OPTION_OSLOCK_WAIT).contains(&option) {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
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
                .saturating_add(nanoseconds_to_absolutetime(u64::from(option_time) * 1_000_000));
            if sched_prim::thread_sleep_until(deadline) == WaitResult::Interrupted {
                return Err(KernReturn::KERN_ABORTED);
            }
        }
        SWITCH_OPTION_DEPRESS | SWITCH_OPTION_OSLOCK_DEPRESS | SWITCH_OPTION_DISPATCH_CONTENTION => {
            sched_prim::thread_yield_depressed();
        }
        _ => {
            sched_prim::thread_yield();
        }
    }
    Ok(())
}

/// −90 `mach_wait_until(deadline)`: sleep until absolute time `deadline`.
pub fn mach_wait_until_trap(deadline: u64) -> Result<(), KernReturn> {
    match sched_prim::thread_sleep_until(deadline) {
        WaitResult::Interrupted => Err(KernReturn::KERN_ABORTED),
        _ => Ok(()),
    }
}

/// The system clock's time (`SYSTEM_CLOCK`: time since boot) as a timespec.
fn system_clock_now() -> MachTimespec {
    let ns = absolutetime_to_nanoseconds(mach_absolute_time());
    MachTimespec { tv_sec: (ns / NSEC_PER_SEC) as u32, tv_nsec: (ns % NSEC_PER_SEC) as i32 }
}

/// −62 `clock_sleep(clock, type, sec, nsec, &wakeup_time)` on the system clock (the only
/// clock this kernel has; MACH_PORT_NULL names it, as in XNU). The seconds are unsigned
/// (`mach_timespec_t`); nanoseconds outside `0..NSEC_PER_SEC` are `KERN_INVALID_VALUE`. The
/// wake time is copied out if `wakeup_time` is not 0.
pub fn clock_sleep_trap(
    clock_name: MachPortName,
    sleep_type: i32,
    sleep_sec: i32,
    sleep_nsec: i32,
    wakeup_time: UserAddr,
) -> Result<(), KernReturn> {
    if clock_name != MACH_PORT_NULL {
        // Clock ports come with host_get_clock_service (M1.5); no other name is a clock.
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let nsec = u64::try_from(sleep_nsec).ok().filter(|&n| n < NSEC_PER_SEC);
    let Some(nsec) = nsec else { return Err(KernReturn::KERN_INVALID_VALUE) };
    let span = nanoseconds_to_absolutetime(u64::from(sleep_sec as u32) * NSEC_PER_SEC + nsec);
    let deadline = match sleep_type {
        TIME_RELATIVE => mach_absolute_time().saturating_add(span),
        TIME_ABSOLUTE => span,
        _ => return Err(KernReturn::KERN_INVALID_VALUE),
    };
    if sched_prim::thread_sleep_until(deadline) == WaitResult::Interrupted {
        return Err(KernReturn::KERN_ABORTED);
    }
    if wakeup_time.0 != 0 {
        copyout_val(&system_clock_now(), wakeup_time)?;
    }
    Ok(())
}
