//! Translation coherence across CPUs: when the kernel takes a mapping away or makes it
//! copy-on-write, a thread of the same task that is using the page right then — on another
//! CPU, with the translation in that CPU's TLB — must see the change at once (the kernel's
//! invalidations are broadcast to every CPU). On one CPU the threads interleave by preemption
//! and the same must hold; on four they run at the same time, which is where a missing
//! broadcast would show.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use libsys::Args;
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::exit_process;
use mach::KernReturn;
use sys::signal::SIGSEGV;
use sys::wait::{wexitstatus, wifexited, wifsignaled, wtermsig};

use crate::proc::in_child;
use crate::sched::{SLOTS, sleep_ms, spawn};
use crate::vm::{allocate, deallocate};
use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("smp tlb: a page unmapped under a thread reading it faults that thread at once", munmap_under_reader),
    ("smp tlb: fork while another thread writes: the child's copy never changes", fork_under_writer),
];

const PAGE: u64 = 4096;
/// Rounds of each case (each in a fresh child).
const ROUNDS: u32 = 4;
/// Polls of 1 ms for a helper thread to get going.
const START_POLLS: u32 = 5000;

/// The page the helper thread uses, and how many times it has used it.
static PAGE_ADDR: AtomicU64 = AtomicU64::new(0);
static USES: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// Reads the page over and over (no system calls: the translation stays in its CPU's TLB).
extern "C" fn reader(_: u64) {
    let p = PAGE_ADDR.load(Ordering::SeqCst) as *const u64;
    loop {
        // SAFETY: the page is mapped until the main thread takes it away, after which this
        // load faults and the process dies of SIGSEGV (what the test wants).
        let _ = unsafe { p.read_volatile() };
        USES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes the page over and over until told to stop.
extern "C" fn writer(_: u64) {
    let p = PAGE_ADDR.load(Ordering::SeqCst) as *mut u64;
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: the page is ours and stays mapped while this thread runs.
        unsafe { p.write_volatile(p.read_volatile() + 1) };
        USES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wait until the helper has used the page a good many times (it runs, its TLB has the page).
fn helper_running() -> bool {
    for _ in 0..START_POLLS {
        if USES.load(Ordering::Relaxed) > 10_000 {
            return true;
        }
        sleep_ms(1);
    }
    false
}

/// A thread reads a page in a loop; another unmaps it. The reader's next load must fault
/// (the process dies of SIGSEGV): a reader still counting 200 ms later was reading through a
/// stale translation.
fn munmap_under_reader(_: &Args) -> Result<(), &'static str> {
    for _ in 0..ROUNDS {
        let status = in_child(|| {
            let Ok(page) = allocate(PAGE) else { return 2 };
            // SAFETY: the page was just allocated for us.
            unsafe { (page as *mut u64).write_volatile(1) };
            PAGE_ADDR.store(page, Ordering::SeqCst);
            USES.store(0, Ordering::SeqCst);
            if spawn(0, reader, 0).is_err() || !helper_running() {
                return 3;
            }
            if deallocate(page, PAGE) != KernReturn::KERN_SUCCESS {
                return 4;
            }
            let after_unmap = USES.load(Ordering::SeqCst);
            sleep_ms(200);
            // At most the load already past the translation when the unmap came may finish.
            if USES.load(Ordering::SeqCst) > after_unmap + 1 { 1 } else { 5 }
        })?;
        if wifexited(status) && wexitstatus(status) == 1 {
            return Err("a thread kept reading a page after it was unmapped (stale TLB entry)");
        }
        check(
            wifsignaled(status) && wtermsig(status) == SIGSEGV as i32,
            "the reader did not die of SIGSEGV once its page was unmapped",
        )?;
    }
    Ok(())
}

/// A thread increments a word in a loop; another forks, over and over. Each child reads the
/// word twice, 30 ms apart: fork made the page copy-on-write, so the writer's next store
/// faults and goes to a copy of its own; a writer still storing into the shared page through
/// a stale writable translation would change the child's copy.
fn fork_under_writer(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        let Ok(page) = allocate(PAGE) else { return 2 };
        PAGE_ADDR.store(page, Ordering::SeqCst);
        USES.store(0, Ordering::SeqCst);
        STOP.store(false, Ordering::SeqCst);
        if spawn(0, writer, 0).is_err() || !helper_running() {
            return 3;
        }
        let word = page as *const u64;
        let mut result = 0;
        for _ in 0..ROUNDS * 4 {
            match fork() {
                Ok(Forked::Child) => {
                    // SAFETY: the page was inherited (copy-on-write) from the parent.
                    let a = unsafe { word.read_volatile() };
                    sleep_ms(30);
                    // SAFETY: as above.
                    let b = unsafe { word.read_volatile() };
                    exit_process(if a == b { 0 } else { 1 })
                }
                Ok(Forked::Parent(pid)) => match waitpid(pid, 0) {
                    Ok((_, s)) if wifexited(s) && wexitstatus(s) == 0 => {}
                    Ok((_, s)) if wifexited(s) && wexitstatus(s) == 1 => result = 1,
                    _ => result = 4,
                },
                Err(_) => result = 5,
            }
            if result != 0 {
                break;
            }
        }
        let before = USES.load(Ordering::SeqCst);
        sleep_ms(5);
        let still_writing = USES.load(Ordering::SeqCst) > before;
        STOP.store(true, Ordering::SeqCst);
        SLOTS[0].join();
        match (result, still_writing) {
            (0, false) => 6,
            (r, _) => r,
        }
    })?;
    check(wifexited(status), "the forking process died")?;
    match wexitstatus(status) {
        0 => Ok(()),
        1 => Err("a child's copy of the page changed after fork (stale writable TLB entry)"),
        6 => Err("the writer stopped writing after a fork"),
        _ => Err("the test's own setup failed"),
    }
}
