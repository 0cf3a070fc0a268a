//! `/bin/ps`: one line per process — pid, parent, group, user, state, resident memory, CPU
//! time and command — read through `proc_info` (the pid list, then each process's BSD and
//! task info), as Darwin's `ps` and `top` do.
#![no_std]
#![no_main]

use libsys::introspect::{proc_listpids, proc_pidinfo};
use libsys::{Args, entry, println};
use sys::proc_info::*;

/// Most processes listed.
const MAX_PIDS: usize = 1024;

/// The record at the start of `b`, as the kernel wrote it (zeros where `b` is short).
fn record<T: sys::FromBytes + Default>(b: &[u8]) -> T {
    T::read_from_prefix(b).map_or_else(|_| T::default(), |(v, _)| v)
}

/// `R`, `T` or `Z`, with `s` for a session leader.
fn state(info: &ProcBsdInfo) -> [u8; 2] {
    let s = match info.pbi_status {
        SSTOP => b'T',
        SZOMB => b'Z',
        SSLEEP => b'S',
        _ => b'R',
    };
    [s, if info.pbi_flags & PROC_FLAG_SLEADER != 0 { b's' } else { b' ' }]
}

fn name(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..end]).unwrap_or("?")
}

fn main(_: &Args) -> i32 {
    let mut pids = [0i32; MAX_PIDS];
    let count = match proc_listpids(PROC_ALL_PIDS, 0, &mut pids) {
        Ok(n) => n,
        Err(e) => {
            println!("ps: proc_info: {}", e.name());
            return 1;
        }
    };
    println!("  PID  PPID  PGID   UID STAT    RSS(K)     TIME COMMAND");
    for &pid in &pids[..count] {
        let mut b = [0u8; PROC_BSDINFO_SIZE];
        if proc_pidinfo(pid, PROC_PIDTBSDINFO, &mut b).is_err() {
            continue; // gone since the list was made
        }
        let info = record::<ProcBsdInfo>(&b);
        let mut t = [0u8; PROC_TASKINFO_SIZE];
        // A zombie has no task, and other users' tasks are private: show what we can.
        let task = proc_pidinfo(pid, PROC_PIDTASKINFO, &mut t).ok().map(|_| record::<ProcTaskInfo>(&t));
        let st = state(&info);
        let st = core::str::from_utf8(&st).unwrap_or("?");
        match task {
            Some(task) => {
                let ns = task.pti_total_user + task.pti_total_system;
                let (secs, centis) = (ns / 1_000_000_000, (ns / 10_000_000) % 100);
                println!(
                    "{:5} {:5} {:5} {:5} {:4} {:9} {:5}.{:02} {}",
                    info.pbi_pid,
                    info.pbi_ppid,
                    info.pbi_pgid,
                    info.pbi_uid,
                    st,
                    task.pti_resident_size / 1024,
                    secs,
                    centis,
                    name(&info.pbi_comm)
                );
            }
            None => println!(
                "{:5} {:5} {:5} {:5} {:4} {:>9} {:>8} {}",
                info.pbi_pid,
                info.pbi_ppid,
                info.pbi_pgid,
                info.pbi_uid,
                st,
                "-",
                "-",
                name(&info.pbi_comm)
            ),
        }
    }
    0
}

entry!(main);
