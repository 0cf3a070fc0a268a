//! `/sbin/init`, pid 1: starts the bootstrap server (it holds the bootstrap port every other
//! task inherits, as launchd does), greets with its identity from both halves of the kernel
//! (BSD's pid, Mach's task port and timebase), echoes one line from the console, and exits
//! with status 3 so the kernel's report of init's exit can be checked. A real init arrives
//! with the shell.
#![no_std]
#![no_main]

use libsys::mach_traps::{mach_task_self, timebase_info};
use libsys::syscall::{getpid, getppid, getuid, read_bytes};
use libsys::{Args, entry, print, println};

/// The status init exits with (checked by the boot test).
const INIT_EXIT_STATUS: i32 = 3;

fn main(_args: &Args) -> i32 {
    let (pid, ppid, uid) = (getpid(), getppid(), getuid());
    let (Ok(pid), Ok(ppid), Ok(uid)) = (pid, ppid, uid) else {
        println!("init: identity calls failed");
        return 1;
    };
    let task = mach_task_self();
    let bootstrap = libsys::thread::thread_register()
        .map_err(|_| mach::KernReturn::KERN_FAILURE)
        .and_then(|()| libsys::bootstrap::bootstrap_start_server());
    match bootstrap {
        Ok(bp) => println!("init: bootstrap server on port {bp:#x}"),
        Err(kr) => println!("init: no bootstrap server: {}", kr.name()),
    }
    match timebase_info() {
        Ok(tb) => println!(
            "init: hello from pid {pid} (ppid {ppid}, uid {uid}), task port {task:#x}, timebase {}/{}",
            tb.numer, tb.denom
        ),
        Err(kr) => println!("init: mach_timebase_info failed: {}", kr.name()),
    }
    print!("init: type a line: ");
    let mut buf = [0u8; 256];
    match read_bytes(0, &mut buf) {
        Ok(n) => {
            let line = &buf[..n as usize];
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            println!("init: you typed: {}", core::str::from_utf8(line).unwrap_or("<not UTF-8>"));
        }
        Err(e) => println!("init: read failed: {}", e.name()),
    }
    println!("init: exiting with status {INIT_EXIT_STATUS}");
    INIT_EXIT_STATUS
}

entry!(main);
