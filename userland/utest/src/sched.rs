//! Threads, scheduling and time, seen from user space (issue M1.3): pthread-style threads,
//! fair sharing between CPU hogs, wakeup latency beside them, sleeps, priorities, clocks.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use libsys::mach_traps::{
    clock_sleep_trap, mach_absolute_time, mach_wait_until_trap, swtch, swtch_pri, thread_switch,
    timebase_info,
};
use libsys::syscall::{bsdthread_create, getpriority, gettimeofday, setpriority};
use libsys::thread::{ThreadSlot, thread_register, thread_spawn};
use libsys::{Args, Errno, println};
use mach::KernReturn;
use sys::pthread::PTHREAD_START_CUSTOM;
use sys::resource::{PRIO_PGRP, PRIO_PROCESS};

use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};
use sys::sysctl::{CTL_HW, HW_AVAILCPU};

pub const CASES: &[(&str, Case)] = &[
    ("bsdthread_create before bsdthread_register is EINVAL", create_before_register),
    ("threads run and finish", threads_run),
    ("bad thread arguments are errors", bad_thread_args),
    ("200 threads created and joined in a loop", many_threads),
    ("a thread on a kernel-allocated stack", kernel_stack_thread),
    ("bsdthread_terminate frees the thread's stack", terminate_frees_stack),
    ("two CPU hogs get CPU time within 20% of each other over 1 s", fair_share),
    ("a sleeper wakes promptly beside two CPU hogs", interactive_latency),
    ("mach_wait_until sleeps long enough, not much longer", sleep_accuracy),
    ("clock_sleep_trap and its errors", clock_sleep),
    ("swtch, swtch_pri, thread_switch", yields),
    ("getpriority / setpriority", priorities),
    ("gettimeofday", time_of_day),
];

const STACK_SIZE: usize = 16 * 1024;
const NSTACKS: usize = 4;

/// Thread stacks (there is no vm_allocate yet): each used by one thread at a time.
#[repr(C, align(16))]
struct Stacks(UnsafeCell<[[u8; STACK_SIZE]; NSTACKS]>);
// SAFETY: each stack is handed to one thread at a time (checked by its slot's done flag).
unsafe impl Sync for Stacks {}
static STACKS: Stacks = Stacks(UnsafeCell::new([[0; STACK_SIZE]; NSTACKS]));
pub(crate) static SLOTS: [ThreadSlot; NSTACKS] =
    [ThreadSlot::new(), ThreadSlot::new(), ThreadSlot::new(), ThreadSlot::new()];

/// Stack `i` for a thread whose slot is done (or never used).
fn stack(i: usize) -> &'static mut [u8] {
    // SAFETY: callers only take stack i after joining the previous thread that used it, so
    // no two live references exist.
    unsafe { &mut (*STACKS.0.get())[i] }
}

pub(crate) fn spawn(i: usize, func: extern "C" fn(u64), arg: u64) -> Result<(), &'static str> {
    thread_spawn(func, arg, stack(i), &SLOTS[i]).map_err(|_| "bsdthread_create failed")
}

pub(crate) fn ticks_per_ms() -> u64 {
    let tb = timebase_info().unwrap_or(mach::time::MachTimebaseInfo { numer: 1, denom: 1 });
    1_000_000 * tb.denom as u64 / tb.numer.max(1) as u64
}

fn create_before_register(_: &Args) -> Result<(), &'static str> {
    // SAFETY: the kernel rejects the call before touching any pointer.
    let r = unsafe { bsdthread_create(0x1_0000_0000, 0, 0x1_0000_1000, 0x1_0000_2000, PTHREAD_START_CUSTOM) };
    check(r == Err(Errno::EINVAL), "expected EINVAL")?;
    thread_register().map_err(|_| "bsdthread_register failed")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

extern "C" fn add(n: u64) {
    COUNTER.fetch_add(n, Ordering::SeqCst);
}

fn threads_run(_: &Args) -> Result<(), &'static str> {
    COUNTER.store(0, Ordering::SeqCst);
    for i in 0..NSTACKS {
        spawn(i, add, (i + 1) as u64)?;
    }
    for slot in &SLOTS {
        slot.join();
    }
    check(COUNTER.load(Ordering::SeqCst) == 1 + 2 + 3 + 4, "threads did not all run")
}

fn bad_thread_args(_: &Args) -> Result<(), &'static str> {
    let good_stack = 0x1_0000_1000;
    let pthread = &SLOTS[0] as *const ThreadSlot as u64;
    let f = add as *const () as u64;
    // SAFETY: every call must be rejected before the kernel uses the pointers.
    unsafe {
        check(bsdthread_create(f, 0, 0, pthread, PTHREAD_START_CUSTOM) == Err(Errno::EINVAL), "NULL stack")?;
        check(
            bsdthread_create(f, 0, KERNEL_ADDRESS, pthread, PTHREAD_START_CUSTOM) == Err(Errno::EINVAL),
            "kernel stack",
        )?;
        check(
            bsdthread_create(f, 0, good_stack + 8, pthread, PTHREAD_START_CUSTOM) == Err(Errno::EINVAL),
            "misaligned stack",
        )?;
        check(
            bsdthread_create(0, 0, good_stack, pthread, PTHREAD_START_CUSTOM) == Err(Errno::EINVAL),
            "NULL function",
        )?;
        check(
            bsdthread_create(f, 0, 0, pthread, 0) == Err(Errno::EINVAL),
            "kernel-allocated stack of size 0",
        )?;
        check(
            bsdthread_create(f, 0, 1 << 40, pthread, 0) == Err(Errno::EINVAL),
            "a 1 TiB kernel-allocated stack",
        )?;
        check(
            bsdthread_create(f, 0, UNMAPPED_ADDRESS * 4, pthread, PTHREAD_START_CUSTOM) == Err(Errno::EINVAL),
            "stack past the user range",
        )
    }
}

fn many_threads(_: &Args) -> Result<(), &'static str> {
    COUNTER.store(0, Ordering::SeqCst);
    for _ in 0..200 {
        spawn(0, add, 1)?;
        SLOTS[0].join();
    }
    check(COUNTER.load(Ordering::SeqCst) == 200, "not every thread ran")
}

static KSTACK_DONE: AtomicU64 = AtomicU64::new(0);

/// Runs on a stack the kernel mapped, using a good part of it.
extern "C" fn on_kernel_stack(depth: u64) {
    let buf = core::hint::black_box([depth as u8; 16 * 1024]);
    KSTACK_DONE.store(buf[100] as u64 + 1, Ordering::SeqCst);
}

fn kernel_stack_thread(_: &Args) -> Result<(), &'static str> {
    KSTACK_DONE.store(0, Ordering::SeqCst);
    // SAFETY: the kernel maps the stack; the function and trampoline are ours.
    let pthread = unsafe { bsdthread_create(on_kernel_stack as *const () as u64, 41, 64 * 1024, 0, 0) }
        .map_err(|_| "bsdthread_create with a kernel stack failed")?;
    check(pthread >= 0x1_0000_0000, "no pthread address returned")?;
    for _ in 0..10_000 {
        if KSTACK_DONE.load(Ordering::SeqCst) != 0 {
            break;
        }
        swtch_pri(0);
    }
    check(KSTACK_DONE.load(Ordering::SeqCst) == 42, "the thread did not run on its kernel stack")
}

static FREE_ME: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static ABOUT_TO_FREE: AtomicBool = AtomicBool::new(false);

/// Ends itself with bsdthread_terminate(stackaddr, freesize, …), freeing the very stack it
/// runs on, as libpthread does for stacks it allocated.
extern "C" fn free_own_stack(_: u64) {
    let (base, size) = (FREE_ME[0].load(Ordering::SeqCst), FREE_ME[1].load(Ordering::SeqCst));
    ABOUT_TO_FREE.store(true, Ordering::SeqCst);
    // SAFETY: the kernel frees the range and ends this thread; it never returns here.
    let _ = unsafe { libsys::syscall::bsdthread_terminate(base, size as usize, 0, 0) };
}

fn terminate_frees_stack(_: &Args) -> Result<(), &'static str> {
    use libsys::mach_traps::{
        _kernelrpc_mach_vm_allocate_trap as vm_allocate, _kernelrpc_mach_vm_protect_trap as vm_protect,
        mach_task_self,
    };
    let task = mach_task_self();
    let size = 64 * 1024;
    let mut base = 0u64;
    // SAFETY: `base` is a valid in/out u64.
    let kr = unsafe { vm_allocate(task, core::ptr::from_mut(&mut base).cast(), size, 1) };
    check(kr == KernReturn::KERN_SUCCESS, "mach_vm_allocate")?;
    FREE_ME[0].store(base, Ordering::SeqCst);
    FREE_ME[1].store(size, Ordering::SeqCst);
    ABOUT_TO_FREE.store(false, Ordering::SeqCst);
    let pthread = &SLOTS[3] as *const ThreadSlot as u64;
    // SAFETY: the stack is the region just allocated; the slot stands in for the pthread.
    unsafe {
        bsdthread_create(free_own_stack as *const () as u64, 0, base + size, pthread, PTHREAD_START_CUSTOM)
    }
    .map_err(|_| "bsdthread_create")?;
    while !ABOUT_TO_FREE.load(Ordering::SeqCst) {
        swtch_pri(0);
    }
    // Give it time to reach the kernel; then the range must be a hole.
    sleep_ticks(5 * ticks_per_ms());
    // SAFETY: protecting a hole is rejected without touching memory.
    let kr = unsafe { vm_protect(task, base, size, false, mach::vm::VmProt::READ) };
    check(kr == KernReturn::KERN_INVALID_ADDRESS, "the stack was not freed")
}

static STOP: AtomicBool = AtomicBool::new(false);
static HOG_COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Each hog's CPU time (user + system, microseconds) when it stopped.
static HOG_TIMES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// A CPU hog: counts its loop turns, and those it makes past the sleeper's deadline.
extern "C" fn hog(i: u64) {
    let c = &HOG_COUNTS[i as usize & 1];
    while !STOP.load(Ordering::Relaxed) {
        c.fetch_add(1, Ordering::Relaxed);
        if mach_absolute_time() >= DEADLINE.load(Ordering::Relaxed) {
            TURNS_PAST_DEADLINE.fetch_add(1, Ordering::Relaxed);
        }
    }
    HOG_TIMES[i as usize & 1].store(own_cpu_time_us().unwrap_or(0), Ordering::SeqCst);
}

/// The calling thread's user + system time in microseconds (thread_info THREAD_BASIC_INFO:
/// user_time and system_time are the first two time_value_t {seconds, microseconds}).
fn own_cpu_time_us() -> Option<u64> {
    use libsys::mach::thread_info;
    use libsys::mach_traps::{mach_task_self, mach_thread_self};
    let me = mach_thread_self();
    let mut info = [0u32; 10];
    let mut count = 10;
    let kr = thread_info(me, mach::info::THREAD_BASIC_INFO, &mut info, &mut count);
    let _ = libsys::mach::mach_port_deallocate(mach_task_self(), me);
    (kr == KernReturn::KERN_SUCCESS).then(|| {
        let us = |s: u32, u: u32| u64::from(s) * 1_000_000 + u64::from(u);
        us(info[0], info[1]) + us(info[2], info[3])
    })
}

fn start_hogs() -> Result<(), &'static str> {
    STOP.store(false, Ordering::SeqCst);
    HOG_COUNTS[0].store(0, Ordering::SeqCst);
    HOG_COUNTS[1].store(0, Ordering::SeqCst);
    spawn(0, hog, 0)?;
    spawn(1, hog, 1)
}

fn stop_hogs() {
    STOP.store(true, Ordering::SeqCst);
    SLOTS[0].join();
    SLOTS[1].join();
}

/// Sleep for `ms` milliseconds (mach_wait_until).
pub fn sleep_ms(ms: u64) {
    sleep_ticks(ms * ticks_per_ms());
}

pub(crate) fn sleep_ticks(ticks: u64) -> u64 {
    let deadline = mach_absolute_time() + ticks;
    mach_wait_until_trap(deadline);
    mach_absolute_time().saturating_sub(deadline)
}

fn fair_share(_: &Args) -> Result<(), &'static str> {
    start_hogs()?;
    sleep_ticks(1000 * ticks_per_ms());
    stop_hogs();
    let (a, b) = (HOG_COUNTS[0].load(Ordering::SeqCst), HOG_COUNTS[1].load(Ordering::SeqCst));
    let (ta, tb) = (HOG_TIMES[0].load(Ordering::SeqCst), HOG_TIMES[1].load(Ordering::SeqCst));
    println!("utest:   over 1 s, hog loop counts {a} and {b}, CPU time {ta} and {tb} us");
    check(a > 0 && b > 0, "a hog never ran")?;
    // Judged by the CPU time the kernel gave each: the loop counts also depend on how much
    // of itself the host gave the emulator meanwhile (and, with several CPUs, each of its
    // CPUs).
    check(ta > 0 && tb > 0, "no CPU time recorded")?;
    check(ta.max(tb) * 100 <= ta.min(tb) * 120, "shares differ by more than 20%")
}

/// The sleeper's current deadline (`u64::MAX` while it has none), and how many loop turns the
/// hogs made at or after it: hog work done while the sleeper was due but not back.
static DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);
static TURNS_PAST_DEADLINE: AtomicU64 = AtomicU64::new(0);

/// The wakeup of a sleeper that shares the CPU with two hogs, measured in the hogs' own work.
///
/// Round-robin alone would make the sleeper wait for a hog's quantum (10 ms) most times; the
/// time-sharing decay lets it preempt them at once. Wall time would also count the moments the
/// host does not run the emulator at all (a loaded CI machine stalls it for milliseconds), so
/// on one CPU the lateness is counted as hog loop turns made after the deadline, in
/// milliseconds of hog work: a host stall stops the hogs as much as the sleeper. With more CPUs
/// than hogs, no hog stands between the sleeper and a CPU; then the wakeup must come from an
/// idle CPU, well before a hog's quantum could have ended.
fn interactive_latency(_: &Args) -> Result<(), &'static str> {
    let cpus = crate::processor::int_by_mib(&[CTL_HW, HW_AVAILCPU])?;
    start_hogs()?;
    let ms = ticks_per_ms();
    // Let the hogs build up CPU usage (and lose time-sharing priority) first, and learn how
    // many turns they make per millisecond of CPU: the best of ten 20 ms windows, which a
    // host stall can only lower.
    let mut turns_per_ms = 0;
    for _ in 0..10 {
        let before = hog_turns();
        let start = mach_absolute_time();
        sleep_ticks(20 * ms);
        let elapsed = (mach_absolute_time() - start).max(1);
        let rate = (hog_turns() - before) * ms / elapsed / u64::from(cpus.min(2));
        turns_per_ms = turns_per_ms.max(rate);
    }
    let mut wall = [0u64; 21];
    let mut hog_work = [0u64; 21];
    for (w, h) in wall.iter_mut().zip(hog_work.iter_mut()) {
        TURNS_PAST_DEADLINE.store(0, Ordering::SeqCst);
        let deadline = mach_absolute_time() + 2 * ms;
        DEADLINE.store(deadline, Ordering::SeqCst);
        mach_wait_until_trap(deadline);
        let woke = mach_absolute_time();
        *h = TURNS_PAST_DEADLINE.load(Ordering::SeqCst);
        DEADLINE.store(u64::MAX, Ordering::SeqCst);
        *w = woke.saturating_sub(deadline);
    }
    stop_hogs();
    wall.sort_unstable();
    hog_work.sort_unstable();
    let us = |ticks: u64| ticks * 1000 / ms;
    let hog_us = |turns: u64| turns * 1000 / turns_per_ms.max(1);
    println!(
        "utest:   wakeup beside two hogs on {} CPU(s): wall median {} us, worst {} us; hog work past \
         the deadline median {} us, worst {} us ({} turns/ms)",
        cpus,
        us(wall[10]),
        us(wall[20]),
        hog_us(hog_work[10]),
        hog_us(hog_work[20]),
        turns_per_ms
    );
    check(turns_per_ms > 0, "the hogs made no progress")?;
    if cpus == 1 {
        check(hog_work[10] < turns_per_ms, "median: the hogs ran on for over 1 ms past the deadline")?;
        check(hog_work[20] < 20 * turns_per_ms, "a wakeup waited over two quanta of hog work")
    } else {
        check(wall[10] < 3 * ms, "median wakeup latency over 3 ms with idle CPUs")
    }
}

/// Loop turns of both hogs so far.
fn hog_turns() -> u64 {
    HOG_COUNTS.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

fn sleep_accuracy(_: &Args) -> Result<(), &'static str> {
    let ms = ticks_per_ms();
    for want in [1, 5, 15] {
        let start = mach_absolute_time();
        let late = sleep_ticks(want * ms);
        let slept = mach_absolute_time() - start;
        check(slept >= want * ms, "woke before the deadline")?;
        check(late <= 10 * ms, "woke more than a quantum late")?;
    }
    // A deadline in the past returns at once.
    check(mach_wait_until_trap(0) == KernReturn::KERN_SUCCESS, "past deadline should succeed")
}

fn clock_sleep(_: &Args) -> Result<(), &'static str> {
    use mach::traps::sleep_type::TIME_RELATIVE;
    let mut wake = mach::time::MachTimespec::default();
    let start = mach_absolute_time();
    // SAFETY: `wake` is a writable `mach_timespec_t`.
    let kr =
        unsafe { clock_sleep_trap(0, TIME_RELATIVE, 0, 3_000_000, core::ptr::from_mut(&mut wake).cast()) };
    check(kr == KernReturn::KERN_SUCCESS, "relative clock_sleep failed")?;
    check(mach_absolute_time() - start >= 3 * ticks_per_ms(), "clock_sleep returned early")?;
    check(wake.tv_sec != 0 || wake.tv_nsec != 0, "no wake time reported")?;
    let null = core::ptr::null_mut();
    // SAFETY: each call is rejected before any pointer is used (or the pointer is NULL).
    unsafe {
        check(
            clock_sleep_trap(0, TIME_RELATIVE, 0, 1_000_000_000, null) == KernReturn::KERN_INVALID_VALUE,
            "nsec >= 1e9",
        )?;
        check(
            clock_sleep_trap(0, TIME_RELATIVE, 0, -1, null) == KernReturn::KERN_INVALID_VALUE,
            "negative nsec",
        )?;
        check(clock_sleep_trap(0, 7, 0, 0, null) == KernReturn::KERN_INVALID_VALUE, "bad sleep type")?;
        check(
            clock_sleep_trap(0x103, TIME_RELATIVE, 0, 0, null) == KernReturn::KERN_INVALID_ARGUMENT,
            "not a clock",
        )?;
        check(
            clock_sleep_trap(0, TIME_RELATIVE, 0, 1000, KERNEL_ADDRESS as *mut _)
                == KernReturn::KERN_INVALID_ADDRESS,
            "bad wake-time pointer",
        )
    }
}

fn yields(_: &Args) -> Result<(), &'static str> {
    let _ = swtch();
    let _ = swtch_pri(0);
    use mach::traps::switch_option::*;
    let ok = KernReturn::KERN_SUCCESS;
    check(thread_switch(0, SWITCH_OPTION_NONE, 0) == ok, "thread_switch NONE")?;
    check(thread_switch(0, SWITCH_OPTION_DEPRESS, 1) == ok, "thread_switch DEPRESS")?;
    check(thread_switch(0xdead_beef, SWITCH_OPTION_WAIT, 1) == ok, "thread_switch WAIT with a junk hint")?;
    check(thread_switch(0, 99, 0) == KernReturn::KERN_INVALID_ARGUMENT, "bad option")?;
    check(thread_switch(0, -1, 0) == KernReturn::KERN_INVALID_ARGUMENT, "negative option")
}

fn priorities(_: &Args) -> Result<(), &'static str> {
    {
        check(getpriority(PRIO_PROCESS, 0) == Ok(0), "default nice is 0")?;
        check(setpriority(PRIO_PROCESS, 0, 10) == Ok(0), "setpriority 10")?;
        check(getpriority(PRIO_PROCESS, 0) == Ok(10), "nice 10 not kept")?;
        check(getpriority(PRIO_PGRP, 0) == Ok(10), "own group")?;
        check(setpriority(PRIO_PROCESS, 1, 0) == Ok(0), "root lowers nice again")?;
        check(getpriority(PRIO_PROCESS, 0) == Ok(0), "nice 0 not kept")?;
        check(setpriority(PRIO_PROCESS, 0, 1000) == Ok(0), "out-of-range nice is clamped")?;
        check(getpriority(PRIO_PROCESS, 0) == Ok(20), "clamped to 20")?;
        check(setpriority(PRIO_PROCESS, 0, 0) == Ok(0), "reset")?;
        check(getpriority(77, 0) == Err(Errno::EINVAL), "bad which")?;
        check(getpriority(PRIO_PROCESS, 4242) == Err(Errno::ESRCH), "no such pid")?;
        check(setpriority(PRIO_PROCESS, u32::MAX, 0) == Err(Errno::ESRCH), "pid -1")
    }
}

fn time_of_day(_: &Args) -> Result<(), &'static str> {
    let mut tv = [0u64; 2];
    let mut abs = 0u64;
    // SAFETY: `tv` is 16 writable bytes, `abs` 8.
    let r = unsafe { gettimeofday(tv.as_mut_ptr() as u64, 0, &mut abs as *mut u64 as u64) };
    check(r == Ok(0), "gettimeofday failed")?;
    let (sec, usec) = (tv[0] as i64, tv[1] as u32);
    // QEMU's RTC runs on the host clock: any date after 2020 will do.
    check(sec > 1_577_836_800, "wall clock before 2020")?;
    check(usec < 1_000_000, "tv_usec out of range")?;
    check(abs != 0 && abs <= mach_absolute_time(), "mach_absolute_time out-parameter")?;
    // SAFETY: the kernel rejects the bad pointers.
    check(unsafe { gettimeofday(KERNEL_ADDRESS, 0, 0) } == Err(Errno::EFAULT), "bad pointer is EFAULT")?;
    let mut tz = [0xffu32; 2];
    // SAFETY: `tz` is 8 writable bytes; the other pointers are rejected.
    unsafe {
        check(gettimeofday(0, KERNEL_ADDRESS, 0) == Err(Errno::EFAULT), "bad timezone pointer")?;
        check(gettimeofday(0, 0, UNMAPPED_ADDRESS) == Err(Errno::EFAULT), "unmapped absolute-time pointer")?;
        check(gettimeofday(0, tz.as_mut_ptr() as u64, 0) == Ok(0), "timezone only")?;
    }
    check(tz == [0, 0], "the timezone is written as zeros")
}
