//! copyin / copyout through the MMU (issue 12, part 6), seen from user space: big copies
//! from and into memory never touched (every page faults inside the copy), bad pointers of
//! every kind coming back as errors, copy-on-write broken by a kernel write in the child
//! only, and a copy of megabytes that does not hold off a timed wakeup.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use libsys::mach::mach_msg;
use libsys::mach_traps::mach_absolute_time;
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{gettimeofday, mprotect, open, sigaction};
use libsys::{Args, Errno, println};
use mach::KernReturn;
use mach::message::*;
use sys::mman::PROT_READ;

use crate::ipc::{drop_port, new_port, simple};
use crate::sched::{SLOTS, sleep_ticks, spawn, ticks_per_ms};
use crate::vm::{allocate, deallocate};
use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("copyio: a ~4 MiB message from and into memory never touched", big_message),
    ("copyio: bad pointers are EFAULT, never a crash", bad_pointers),
    ("copyio: a kernel write into a copy-on-write page after fork stays in the child", cow_copyout),
    ("copyio: big copies do not hold off a timed wakeup", copy_keeps_interrupts),
];

const PAGE: u64 = 4096;

/// Inline bytes of the big message: as much as the per-task budget of messages in flight
/// (4 MiB of kernel heap) lets one message hold, with room for its bookkeeping.
const BIG: u32 = (4 << 20) - (64 << 10);

/// Room for the big message and its largest trailer.
const BIG_BUF: u64 = BIG as u64 + PAGE;

/// How much of a big buffer [`measure`] frees at a time.
const FREE_PIECE: u64 = 64 * PAGE;

/// Send a BIG-byte message from `src` to `port` and receive it into `dst`; both buffers are
/// BIG_BUF bytes. Only the header's page of `src` is touched here: the rest of `src`, and
/// all of `dst`, fault in page by page inside the kernel's copies.
fn big_round_trip(port: u32, src: u64, dst: u64) -> Result<(), &'static str> {
    let h = simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 77);
    // SAFETY: `src` is BIG_BUF bytes of our memory.
    unsafe { (src as *mut [u8; 24]).write(h.to_bytes()) };
    // SAFETY: as above; the kernel reads BIG bytes of it.
    let mr = unsafe { mach_msg(src as *mut MachMsgHeader, MACH_SEND_MSG, BIG, 0, 0, 0, 0) };
    check(mr == MACH_MSG_SUCCESS, "send of the big message")?;
    // SAFETY: `dst` is BIG_BUF bytes of our memory, which is what we say we have.
    let mr = unsafe { mach_msg(dst as *mut MachMsgHeader, MACH_RCV_MSG, 0, BIG_BUF as u32, port, 0, 0) };
    check(mr == MACH_MSG_SUCCESS, "receive of the big message")
}

/// Bytes of the one long argument [`long_exec_args`] passes.
const LONG_ARG: u64 = 200 << 10;

/// `execve` of a program that does not exist, with one argument of LONG_ARG bytes at `arg`:
/// the kernel copies the argument in (copyinstr) before it finds there is no program.
fn long_exec_args(arg: u64) -> Result<(), &'static str> {
    let argv = [arg, 0u64];
    let envp = [0u64];
    // SAFETY: the path, argv and envp are valid and NUL-terminated; the call fails.
    let r = unsafe {
        libsys::syscall::execve(
            c"/no/such/program".as_ptr() as u64,
            argv.as_ptr() as u64,
            envp.as_ptr() as u64,
        )
    };
    check(r == Err(Errno::ENOENT), "execve of a missing program with a long argument")
}

fn big_message(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    let src = allocate(BIG_BUF)?;
    let dst = allocate(BIG_BUF)?;
    // A pattern on a few pages of the source (the rest stays zero, never touched).
    for page in [1u64, 77, 500, 1000] {
        // SAFETY: inside `src`.
        unsafe { ((src + page * PAGE + 8) as *mut u64).write_volatile(page * 3 + 1) };
    }
    big_round_trip(port, src, dst)?;
    for page in [1u64, 77, 500, 1000] {
        // SAFETY: inside `dst`.
        let got = unsafe { ((dst + page * PAGE + 8) as *const u64).read_volatile() };
        check(got == page * 3 + 1, "a pattern word did not arrive")?;
    }
    // SAFETY: inside `dst`.
    let zero = unsafe { ((dst + 3 * PAGE) as *const u64).read_volatile() };
    check(zero == 0, "an untouched page arrived non-zero")?;
    drop_port(port);
    check(deallocate(src, BIG_BUF) == KernReturn::KERN_SUCCESS, "cleanup")?;
    check(deallocate(dst, BIG_BUF) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn bad_pointers(_: &Args) -> Result<(), &'static str> {
    // copyin from unmapped memory, a kernel address, and a range running off the top of
    // user space into the kernel half.
    for bad in [UNMAPPED_ADDRESS, KERNEL_ADDRESS, 0x0000_7FFF_FFFF_FFF8] {
        // SAFETY: the kernel must refuse the pointers; nothing of ours is written.
        let r = unsafe { sigaction(2, bad, 0) };
        check(r == Err(Errno::EFAULT), "sigaction from a bad pointer")?;
        // SAFETY: as above (copyout of the old action).
        let r = unsafe { sigaction(2, 0, bad) };
        check(r == Err(Errno::EFAULT), "sigaction into a bad pointer")?;
        // SAFETY: as above (copyinstr of the path).
        let r = unsafe { open(bad, 0, 0) };
        check(r == Err(Errno::EFAULT), "open of a bad path pointer")?;
        // SAFETY: as above (copyout).
        let r = unsafe { gettimeofday(bad, 0, 0) };
        check(r == Err(Errno::EFAULT), "gettimeofday into a bad pointer")?;
    }
    // A path running from a good page into a hole: copyinstr faults part-way.
    let a = allocate(2 * PAGE)?;
    check(deallocate(a + PAGE, PAGE) == KernReturn::KERN_SUCCESS, "punch the hole")?;
    let tail = a + PAGE - 8;
    // SAFETY: the 8 bytes before the hole are ours; no NUL among them.
    unsafe { (tail as *mut [u8; 8]).write(*b"/bin/abc") };
    // SAFETY: the kernel reads the path until it faults.
    let r = unsafe { open(tail, 0, 0) };
    check(r == Err(Errno::EFAULT), "a path running into a hole")?;
    // A read-only page: readable by copyin, not writable by copyout, whether it was
    // touched before or not.
    let ro = allocate(2 * PAGE)?;
    // SAFETY: our page; touched before it becomes read-only.
    unsafe { (ro as *mut u64).write_volatile(0) };
    // SAFETY: our pages; no pointers are passed.
    check(unsafe { mprotect(ro, 2 * PAGE as usize, PROT_READ) } == Ok(0), "mprotect")?;
    for page in [ro, ro + PAGE] {
        // SAFETY: the kernel must refuse to write the read-only page.
        check(unsafe { gettimeofday(page, 0, 0) } == Err(Errno::EFAULT), "copyout into a read-only page")?;
        // SAFETY: the kernel must refuse to write the read-only page (the old action).
        check(unsafe { sigaction(2, 0, page) } == Err(Errno::EFAULT), "sigaction into a read-only page")?;
        // SAFETY: reading the (zero) page as a new action is allowed: SIG_DFL.
        check(unsafe { sigaction(2, page, 0) } == Ok(0), "copyin from a read-only page")?;
    }
    check(deallocate(ro, 2 * PAGE) == KernReturn::KERN_SUCCESS, "cleanup")?;
    check(deallocate(a, PAGE) == KernReturn::KERN_SUCCESS, "cleanup")
}

fn cow_copyout(_: &Args) -> Result<(), &'static str> {
    let a = allocate(PAGE)?;
    let p = a as *mut i64;
    // SAFETY: the page is ours.
    unsafe { p.write_volatile(-5) };
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // The kernel's write (copyout of the time) must break copy-on-write here.
            // SAFETY: the page is ours (copy-on-write with the parent).
            let ok =
                unsafe { gettimeofday(a, 0, 0) } == Ok(0) && unsafe { p.read_volatile() } > 1_577_836_800;
            libsys::syscall::exit_process(if ok { 0 } else { 1 });
        }
        Forked::Parent(pid) => {
            let (_, status) = waitpid(pid, 0).map_err(|_| "waitpid")?;
            check(status == 0, "the child did not see the kernel's write")?;
            // SAFETY: our page.
            check(unsafe { p.read_volatile() } == -5, "the child's copyout reached the parent's page")?;
        }
    }
    // And in the parent itself, after the child is gone, the page takes a kernel write too.
    // SAFETY: our page.
    check(unsafe { gettimeofday(a, 0, 0) } == Ok(0), "copyout in the parent")?;
    check(deallocate(a, PAGE) == KernReturn::KERN_SUCCESS, "cleanup")
}

static SLEEPER_STOP: AtomicBool = AtomicBool::new(false);
/// Set when the copies start: wakeups before it are not counted.
static SLEEPER_COUNTING: AtomicBool = AtomicBool::new(false);
const MAX_SAMPLES: usize = 256;
static SLEEPER_SAMPLES: [AtomicU64; MAX_SAMPLES] = [const { AtomicU64::new(0) }; MAX_SAMPLES];
static SLEEPER_COUNT: AtomicU64 = AtomicU64::new(0);

/// Sleep 2 ms at a time until told to stop, recording each wakeup's lateness.
extern "C" fn sleeper(ticks_2ms: u64) {
    while !SLEEPER_STOP.load(Ordering::Relaxed) {
        let late = sleep_ticks(ticks_2ms);
        if SLEEPER_COUNTING.load(Ordering::Relaxed) {
            let i = SLEEPER_COUNT.fetch_add(1, Ordering::Relaxed) as usize;
            if let Some(slot) = SLEEPER_SAMPLES.get(i) {
                slot.store(late, Ordering::Relaxed);
            }
        }
    }
}

/// The sleeper's wakeups while something ran beside it.
struct Lateness {
    /// The third quartile: three wakeups in four were no later than this.
    p75: u64,
    worst: u64,
    wakeups: usize,
}

/// Count the sleeper's wakeups while `work` runs; `work` gives back the longest thing it did.
fn sample_while(work: impl FnOnce() -> Result<u64, &'static str>) -> Result<(Lateness, u64), &'static str> {
    SLEEPER_COUNT.store(0, Ordering::SeqCst);
    SLEEPER_COUNTING.store(true, Ordering::SeqCst);
    let longest = work();
    SLEEPER_COUNTING.store(false, Ordering::SeqCst);
    let n = (SLEEPER_COUNT.load(Ordering::SeqCst) as usize).min(MAX_SAMPLES);
    let mut late = [0u64; MAX_SAMPLES];
    for (l, s) in late.iter_mut().zip(&SLEEPER_SAMPLES).take(n) {
        *l = s.load(Ordering::SeqCst);
    }
    let late = &mut late[..n];
    late.sort_unstable();
    let p75 = late.get(n * 3 / 4).copied().unwrap_or(0);
    let worst = late.last().copied().unwrap_or(0);
    Ok((Lateness { p75, worst, wakeups: n }, longest?))
}

/// `rounds` rounds of big copies: a 200 KiB exec argument (at `arg`), and a ~4 MiB message
/// sent from and received into fresh memory. Returns the longest copy.
fn big_copies(rounds: u32, port: u32, arg: u64) -> Result<u64, &'static str> {
    let mut longest = 0;
    for _ in 0..rounds {
        let t0 = mach_absolute_time();
        long_exec_args(arg)?;
        let t1 = mach_absolute_time();
        let src = allocate(BIG_BUF)?;
        let dst = allocate(BIG_BUF)?;
        let t2 = mach_absolute_time();
        let sent = big_round_trip(port, src, dst);
        longest = longest.max(t1 - t0).max(mach_absolute_time() - t2);
        // In pieces: freeing 4 MiB at once holds the map's lock (a spin lock for now) for
        // long, and this test is about the copies.
        for buf in [src, dst] {
            for piece in (0..BIG_BUF).step_by(FREE_PIECE as usize) {
                let len = FREE_PIECE.min(BIG_BUF - piece);
                check(deallocate(buf + piece, len) == KernReturn::KERN_SUCCESS, "cleanup")?;
            }
        }
        sent?;
    }
    Ok(longest)
}

/// One measurement: the sleeper's wakeups first beside this thread spinning in user space
/// (the baseline: what the host and the scheduler give), then beside big copies.
fn measure() -> Result<(Lateness, Lateness, u64), &'static str> {
    let ms = ticks_per_ms();
    let port = new_port()?;
    let arg = allocate(LONG_ARG + PAGE)?;
    // SAFETY: `arg` is LONG_ARG + PAGE bytes of our memory: 'a's, then NUL.
    unsafe { core::ptr::write_bytes(arg as *mut u8, b'a', LONG_ARG as usize) };
    SLEEPER_STOP.store(false, Ordering::SeqCst);
    SLEEPER_COUNTING.store(false, Ordering::SeqCst);
    spawn(2, sleeper, 2 * ms)?;
    // Burn CPU first, so that time-sharing puts this thread below the sleeper (which then
    // preempts it the moment its wakeup interrupt is taken).
    let spin = |how_long: u64| {
        let start = mach_absolute_time();
        while mach_absolute_time() - start < how_long {}
        Ok(0)
    };
    let _ = spin(200 * ms);
    let baseline = sample_while(|| spin(150 * ms)).map(|(l, _)| l);
    let copies = sample_while(|| big_copies(4, port, arg));
    SLEEPER_STOP.store(true, Ordering::SeqCst);
    SLOTS[2].join();
    drop_port(port);
    check(deallocate(arg, LONG_ARG + PAGE) == KernReturn::KERN_SUCCESS, "cleanup")?;
    let (copies, longest) = copies?;
    Ok((baseline?, copies, longest))
}

fn copy_keeps_interrupts(_: &Args) -> Result<(), &'static str> {
    let ms = ticks_per_ms();
    // One scheduler tick: the quantum (sched_prim's QUANTUM_NS).
    let tick = 10 * ms;
    // A copy that masks interrupts holds every wakeup that falls inside it until it ends,
    // and the copies fill most of the time: most wakeups are late by milliseconds (with
    // copies that did, a quarter of the wakeups were 10-13 ms late). A host that stalls the
    // emulator makes wakeups late too, beside copies or not: the baseline says how much, a
    // loaded host still adds a few milliseconds to a busy guest, and a measurement that
    // misses is tried again.
    let mut why = "";
    for _ in 0..3 {
        let (base, copies, longest) = measure()?;
        println!(
            "utest:   wakeup lateness, 3rd quartile / worst: {} / {} us beside big copies ({} wakeups, longest copy {} us), {} / {} us beside a spinning thread",
            copies.p75 * 1000 / ms,
            copies.worst * 1000 / ms,
            copies.wakeups,
            longest * 1000 / ms,
            base.p75 * 1000 / ms,
            base.worst * 1000 / ms,
        );
        check(copies.wakeups > 4, "the sleeper hardly woke")?;
        why = if copies.p75 >= base.p75 + tick / 2 {
            "a quarter of the wakeups beside copies were half a tick later"
        } else if copies.worst >= base.worst + longest / 2 {
            // A copy that masked interrupts would hold a wakeup that fell at its start for
            // about all of it. (Measured against half the longest copy, not a tick: with
            // four CPUs on a two-core host, a woken vCPU alone is now and then a tick or two
            // late, beside copies or not.)
            "a timed wakeup was held off for most of a copy"
        } else {
            return Ok(());
        };
    }
    Err(why)
}
