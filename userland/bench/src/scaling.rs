//! `bench --scaling[=<host cores>]`: how the kernel scales with CPUs (issue B2 part 6). For
//! N = 1, 2 and 4 processes, each doing the same fixed work at once — a CPU-bound loop, null
//! system calls, fork + exit + wait4 — it measures the wall time (`mach_absolute_time`) from
//! the first fork to the last wait4, and prints the total work rate and the speedup over
//! N = 1. Meant to be booted with several CPUs and without `-icount` (`make bench-smp`): under
//! icount there is one host thread and the numbers say nothing about scaling.

use libsys::introspect::sysctlbyname_read;
use libsys::mach_traps::mach_absolute_time;
use libsys::println;
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{exit_process, getppid};
use sys::wait::{wexitstatus, wifexited};

/// Process counts measured.
const COUNTS: [u32; 3] = [1, 2, 4];

/// One workload: its name, the unit its rate is counted in, the units each process does,
/// and the work itself (which returns false if something failed).
struct Workload {
    name: &'static str,
    unit: &'static str,
    units: u64,
    work: fn(u64) -> bool,
}

/// Rounds of the CPU loop counted as one unit.
const LOOP_UNIT: u64 = 1000;

const WORKLOADS: [Workload; 3] = [
    Workload { name: "CPU-bound loop", unit: "kloops/s", units: 100_000, work: cpu_loop },
    Workload { name: "null BSD syscall (getppid)", unit: "calls/s", units: 200_000, work: null_syscalls },
    Workload { name: "fork + exit + wait4", unit: "forks/s", units: 500, work: fork_exit_wait },
];

/// `units` thousand rounds of an arithmetic loop the compiler cannot shorten.
fn cpu_loop(units: u64) -> bool {
    let mut x = core::hint::black_box(0x2545_f491_4f6c_dd1du64);
    for _ in 0..units * LOOP_UNIT {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = core::hint::black_box(x);
    }
    x != 0
}

fn null_syscalls(calls: u64) -> bool {
    for _ in 0..calls {
        if getppid().is_err() {
            return false;
        }
    }
    true
}

fn fork_exit_wait(forks: u64) -> bool {
    for _ in 0..forks {
        match fork() {
            Ok(Forked::Child) => exit_process(0),
            Ok(Forked::Parent(pid)) => match waitpid(pid, 0) {
                Ok((got, status)) if got == pid && wifexited(status) && wexitstatus(status) == 0 => {}
                _ => return false,
            },
            Err(_) => return false,
        }
    }
    true
}

/// Run `w` in `n` processes at once; the wall time in timebase ticks, or None if a process
/// failed.
fn run_parallel(w: &Workload, n: u32) -> Option<u64> {
    let mut pids = [0i32; 4];
    let start = mach_absolute_time();
    for pid in pids.iter_mut().take(n as usize) {
        *pid = match fork() {
            Ok(Forked::Child) => exit_process(if (w.work)(w.units) { 0 } else { 1 }),
            Ok(Forked::Parent(pid)) => pid,
            Err(_) => return None,
        };
    }
    let mut ok = true;
    for &pid in pids.iter().take(n as usize) {
        ok &= matches!(waitpid(pid, 0), Ok((_, status)) if wifexited(status) && wexitstatus(status) == 0);
    }
    let ticks = mach_absolute_time() - start;
    ok.then_some(ticks.max(1))
}

/// CPUs the kernel says are running: `hw.activecpu` where it has one, else `hw.ncpu`.
fn cpus_online() -> (u32, &'static str) {
    for name in ["hw.activecpu", "hw.ncpu"] {
        let mut v = [0u8; 4];
        if sysctlbyname_read(name.as_bytes(), &mut v) == Ok(4) {
            return (u32::from_le_bytes(v), name);
        }
    }
    (0, "unknown")
}

/// The scaling table. `host_cores` is what the host said (`nproc`, passed by the Makefile).
pub fn run(tb: (u64, u64), host_cores: Option<u32>) -> i32 {
    let (cpus, source) = cpus_online();
    match host_cores {
        Some(h) => println!("bench: scaling: {cpus} CPUs online ({source}); the host has {h} cores"),
        None => println!("bench: scaling: {cpus} CPUs online ({source}); the host's cores were not given"),
    }
    println!("bench: scaling: N processes at once, each the same fixed work; wall time, no -icount");
    println!(
        "bench: scaling: {:<28} {:>2} {:>9} {:>12} {:<9} {:>8}",
        "workload", "N", "wall ms", "total rate", "", "speedup"
    );
    let mut failed = 0;
    for w in &WORKLOADS {
        let mut base = 0u64;
        for n in COUNTS {
            let Some(ticks) = run_parallel(w, n) else {
                println!("bench: scaling: {:<28} {:>2} FAILED (a process failed)", w.name, n);
                failed += 1;
                continue;
            };
            let ns = ticks * tb.0 / tb.1.max(1);
            // Units per second over all n processes.
            let rate = u64::from(n) * w.units * 1_000_000_000 / ns.max(1);
            if n == 1 {
                base = rate;
            }
            let speedup = (rate * 100).checked_div(base).unwrap_or(0);
            println!(
                "bench: scaling: {:<28} {:>2} {:>9} {:>12} {:<9} {:>5}.{:02}x",
                w.name,
                n,
                ns / 1_000_000,
                rate,
                w.unit,
                speedup / 100,
                speedup % 100
            );
        }
    }
    failed
}
