//! `/bin/bench`: microbenchmarks in guest instructions (DESIGN §5 level 7). Run it under
//! `-icount shift=0,sleep=off` (`make bench`): then one counter tick is a fixed number of
//! instructions and two runs print the same numbers. With `--scaling` it prints instead how
//! wall-clock throughput scales with processes and CPUs (`scaling`, `make bench-smp`).
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use libsys::mach_traps::{
    _kernelrpc_mach_vm_allocate_trap, _kernelrpc_mach_vm_deallocate_trap, mach_absolute_time,
    mach_timebase_info_trap, mach_wait_until_trap, swtch_pri, thread_self_trap, timebase_info,
};
use libsys::syscall::getppid;
use libsys::thread::{ThreadSlot, thread_register, thread_spawn};
use libsys::{Args, entry, println};

mod files;
mod ipc;
mod scaling;

const ITERATIONS: u64 = 20_000;
/// Slower operations get fewer rounds (the totals stay in the same range).
const SLOW_ITERATIONS: u64 = 500;

/// Nanoseconds per operation (= guest instructions with icount shift=0), in hundredths.
///
/// The timed loop is bracketed by `hint #0x50` / `hint #0x51`, no-ops to the CPU, which the
/// profiling plugin (`scripts/profile/`) takes as the start and end of a measured window:
/// `make profile WINDOW=<k>` profiles the k-th call of this function (from 0).
fn measure(tb: (u64, u64), iterations: u64, mut op: impl FnMut()) -> u64 {
    op();
    // SAFETY: a hint the architecture reserves: it executes as a NOP.
    unsafe { core::arch::asm!("hint #0x50", options(nomem, nostack, preserves_flags)) };
    let t0 = mach_absolute_time();
    for _ in 0..iterations {
        op();
    }
    let ticks = mach_absolute_time() - t0;
    // SAFETY: as above.
    unsafe { core::arch::asm!("hint #0x51", options(nomem, nostack, preserves_flags)) };
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
        swtch_pri(0);
    }
}

extern "C" fn on_signal(_: i32, _: u64, _: u64) {}

fn main(args: &Args) -> i32 {
    // Spawned by the spawn benchmark: do nothing.
    if args.argv().nth(1) == Some(b"--exit") {
        return 0;
    }
    let Ok(tb) = timebase_info() else {
        println!("bench: mach_timebase_info failed");
        return 1;
    };
    let tb = (tb.numer as u64, tb.denom as u64);
    // `--scaling[=<host cores>]` (from the `#!` line of /bin/bench-scaling): the wall-clock
    // scaling table instead of the instruction counts.
    if let Some(mode) = args.argv().nth(1).and_then(|a| a.strip_prefix(b"--scaling")) {
        let host = mode.strip_prefix(b"=").and_then(|n| core::str::from_utf8(n).ok()?.parse().ok());
        return scaling::run(tb, host);
    }
    if thread_register().is_err() {
        println!("bench: bsdthread_register failed");
        return 1;
    }
    let mut info = [0u32; 2];
    let syscall = measure(tb, ITERATIONS, || {
        let _ = getppid();
    });
    let trap = measure(tb, ITERATIONS, || {
        let _ = thread_self_trap();
    });
    let copyout = measure(tb, ITERATIONS, || {
        // SAFETY: `info` is a valid 8-byte buffer.
        let _ = unsafe { mach_timebase_info_trap(info.as_mut_ptr().cast()) };
    });
    // Two threads handing the CPU back and forth: each swtch_pri is one switch.
    STOP.store(false, Ordering::SeqCst);
    if thread_spawn(yielder, 0, stack(), &SLOT).is_err() {
        println!("bench: bsdthread_create failed");
        return 1;
    }
    let switch = measure(tb, ITERATIONS, || {
        swtch_pri(0);
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
        mach_wait_until_trap(0);
    });
    // VM: one page allocated and freed; a demand-zero fault; a copy-on-write fault.
    let task = libsys::mach_traps::mach_task_self();
    let alloc_free = measure(tb, SLOW_ITERATIONS, || {
        let mut addr = 0u64;
        // SAFETY: `addr` is a valid in/out u64; the page is freed right away.
        unsafe {
            _kernelrpc_mach_vm_allocate_trap(task, core::ptr::from_mut(&mut addr).cast(), 4096, 1);
            _kernelrpc_mach_vm_deallocate_trap(task, addr, 4096);
        }
    });
    let region = SLOW_ITERATIONS * 4096;
    let mut base = 0u64;
    // SAFETY: `base` is a valid in/out u64.
    unsafe { _kernelrpc_mach_vm_allocate_trap(task, core::ptr::from_mut(&mut base).cast(), region, 1) };
    let mut page = 0;
    let zero_fault = measure(tb, SLOW_ITERATIONS - 1, || {
        // SAFETY: inside the region; each call touches a page never touched before.
        unsafe { ((base + page * 4096) as *mut u64).write_volatile(page) };
        page += 1;
    });
    // Fork so every page of the region is shared copy-on-write, then write them in the
    // parent: each first write is one COW fault (the child just waits to be told to exit).
    let cow_fault = match libsys::process::fork() {
        Ok(libsys::process::Forked::Child) => {
            libsys::mach_traps::mach_wait_until_trap(u64::MAX / 2);
            libsys::syscall::exit_process(0)
        }
        Ok(libsys::process::Forked::Parent(child)) => {
            let mut page = 0;
            let cost = measure(tb, SLOW_ITERATIONS - 1, || {
                // SAFETY: inside the region; each page is written once after the fork.
                unsafe { ((base + page * 4096) as *mut u64).write_volatile(!page) };
                page += 1;
            });
            let _ = libsys::signal::kill(child, sys::signal::SIGKILL);
            let _ = libsys::process::waitpid(child, 0);
            cost
        }
        Err(_) => 0,
    };
    // Processes: fork + exit + wait4, posix_spawn + wait4, and a signal to self.
    let fork_exit = measure(tb, 50, || match libsys::process::fork() {
        Ok(libsys::process::Forked::Child) => libsys::syscall::exit_process(0),
        Ok(libsys::process::Forked::Parent(pid)) => {
            let _ = libsys::process::waitpid(pid, 0);
        }
        Err(_) => {}
    });
    let fork_exec = measure(tb, 20, || match libsys::process::fork() {
        Ok(libsys::process::Forked::Child) => {
            let _ = libsys::process::execv(b"/bin/bench\0", &[b"bench\0", b"--exit\0"]);
            libsys::syscall::exit_process(1)
        }
        Ok(libsys::process::Forked::Parent(pid)) => {
            let _ = libsys::process::waitpid(pid, 0);
        }
        Err(_) => {}
    });
    let spawn_wait = measure(tb, 20, || {
        if let Ok(pid) = libsys::process::spawn(b"/bin/bench\0", &[b"bench\0", b"--exit\0"], None, &[]) {
            let _ = libsys::process::waitpid(pid, 0);
        }
    });
    // The same with the smallest C program (userland/c `true`, stripped): what a tiny
    // static program costs, comparable with the same measurement on other kernels.
    const TRUE_C: &[u8] = b"/bin/c/true-O2\0";
    let fork_exec_c = measure(tb, 20, || match libsys::process::fork() {
        Ok(libsys::process::Forked::Child) => {
            let _ = libsys::process::execv(TRUE_C, &[TRUE_C]);
            libsys::syscall::exit_process(1)
        }
        Ok(libsys::process::Forked::Parent(pid)) => {
            let _ = libsys::process::waitpid(pid, 0);
        }
        Err(_) => {}
    });
    let spawn_wait_c = measure(tb, 20, || {
        if let Ok(pid) = libsys::process::spawn(TRUE_C, &[TRUE_C], None, &[]) {
            let _ = libsys::process::waitpid(pid, 0);
        }
    });
    let _ = libsys::signal::signal_action(sys::signal::SIGUSR1, on_signal, 0, 0);
    let me = libsys::syscall::getpid().unwrap_or(0) as i32;
    let signal = measure(tb, SLOW_ITERATIONS, || {
        let _ = libsys::signal::kill(me, sys::signal::SIGUSR1);
    });
    // Mach IPC.
    let rpc_tasks = ipc::rpc_between_tasks(&mut |op| measure(tb, SLOW_ITERATIONS, op));
    let rpc_threads = ipc::rpc_between_threads(stack(), &mut |op| measure(tb, SLOW_ITERATIONS, op));
    let ool_4k = ipc::ool_one_way(4096, &mut |op| measure(tb, SLOW_ITERATIONS, op));
    let ool_1m = ipc::ool_one_way(1 << 20, &mut |op| measure(tb, 20, op));
    let sema =
        ipc::semaphore_ping_pong(SLOW_ITERATIONS as u32, stack(), &mut |op| measure(tb, SLOW_ITERATIONS, op));
    let file_rows = files::rows(&mut |n, op| measure(tb, n, op));
    let rows: [(&str, u64); 20] = [
        ("null BSD syscall (getppid)", syscall),
        ("null Mach trap (thread_self_trap)", trap),
        ("Mach trap with copyout (mach_timebase_info_trap)", copyout),
        ("thread switch (two threads, swtch_pri)", switch),
        ("thread create + run + terminate + join", create),
        ("mach_wait_until round trip (deadline passed)", wait_until),
        ("mach_vm_allocate + mach_vm_deallocate of a page", alloc_free),
        ("demand-zero page fault", zero_fault),
        ("copy-on-write page fault (after fork)", cow_fault),
        ("fork + exit + wait4", fork_exit),
        ("posix_spawn + wait4 of a trivial program", spawn_wait),
        ("signal to self (kill + handler + sigreturn)", signal),
        ("fork + execve of a trivial program + wait4", fork_exec),
        ("fork + execve of a tiny C program (true) + wait4", fork_exec_c),
        ("posix_spawn + wait4 of a tiny C program (true)", spawn_wait_c),
        ("mach_msg RPC round trip, two tasks", rpc_tasks),
        ("mach_msg RPC round trip, two threads of one task", rpc_threads),
        ("mach_msg one-way send + receive, 4 KiB out of line", ool_4k),
        ("mach_msg one-way send + receive, 1 MiB out of line", ool_1m),
        ("semaphore ping-pong round trip, two threads", sema),
    ];
    println!("bench: guest instructions per operation (-icount shift=0)");
    for (name, hundredths) in rows.into_iter().chain(file_rows) {
        println!("bench: {:<50} {:>8}.{:02}", name, hundredths / 100, hundredths % 100);
    }
    0
}

entry!(main);
