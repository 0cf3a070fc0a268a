//! `posix_spawn` from user space (issue M1.4): a child built directly from a program, with
//! file actions and attributes applied, and errors that leave no child behind.

use libsys::process::{SpawnAction, SpawnAttr, spawn, waitpid};
use libsys::signal::install;
use libsys::{Args, Errno};
use sys::fcntl::O_RDONLY;
use sys::signal::{SIG_DFL, SIG_IGN, SIGUSR1, SIGUSR2, sigmask};
use sys::spawn::*;
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("posix_spawn: a child runs a program with its argv", spawn_argv),
    ("posix_spawn: open, dup2 and close file actions", spawn_file_actions),
    ("posix_spawn: signal mask, default signals, process group", spawn_attributes),
    ("posix_spawn: errors, and no child left behind", spawn_errors),
];

/// The modes /bin/utest runs in as a spawned child (argv[1]); each exits with its answer.
pub fn child_mode(args: &Args) -> Option<i32> {
    let mode = args.argv().nth(1)?;
    let mut buf = [0u8; 64];
    Some(match mode {
        b"--print-args" => args.argv().count() as i32,
        b"--cat-stdin" => libsys::syscall::read_bytes(0, &mut buf).map_or(-1, |n| n as i32),
        b"--check-fds" => {
            // Bit 0: fd 1 open; bit 1: fd 7 open; bit 2: fd 8 open.
            let open = |fd| libsys::syscall::write_bytes(fd, b"") != Err(Errno::EBADF);
            i32::from(open(1)) | i32::from(open(7)) << 1 | i32::from(open(8)) << 2
        }
        b"--print-sigstate" => {
            // Bit 0: SIGUSR1 blocked; bit 1: SIGUSR2 ignored.
            let mask = libsys::signal::sigprocmask(sys::signal::SIG_BLOCK, 0).unwrap_or(0);
            let ignored = install(SIGUSR2, SIG_DFL, 0, 0) == Ok(SIG_IGN);
            i32::from(mask & sigmask(SIGUSR1) != 0) | i32::from(ignored) << 1
        }
        b"--count-threads" => {
            let task = libsys::mach_traps::mach_task_self();
            let (mut threads, mut n) = (0u64, 0u32);
            if libsys::mach::task_threads(task, &mut threads, &mut n) != mach::KernReturn::KERN_SUCCESS {
                return Some(-1);
            }
            n as i32
        }
        b"--pgrp-is-pid" => {
            let (me, g) = (libsys::syscall::getpid(), libsys::syscall::getpgrp());
            i32::from(me == g)
        }
        _ => return None,
    })
}

fn status_of(pid: i32) -> Result<i32, &'static str> {
    let (got, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
    check(got == pid && wifexited(status), "the spawned child did not exit normally")?;
    Ok(wexitstatus(status))
}

fn spawn_argv(_: &Args) -> Result<(), &'static str> {
    let pid = spawn(b"/bin/utest\0", &[b"utest\0", b"--print-args\0", b"a\0", b"b\0"], None, &[])
        .map_err(|_| "posix_spawn failed")?;
    check(status_of(pid)? == 4, "argc should be 4")
}

fn spawn_file_actions(_: &Args) -> Result<(), &'static str> {
    // fd 0 becomes /bin/not-elf ("just some text\n", 15 bytes).
    let open = SpawnAction::Open { fd: 0, path: b"/bin/not-elf\0", oflag: O_RDONLY as i32, mode: 0 };
    let pid =
        spawn(b"/bin/utest\0", &[b"utest\0", b"--cat-stdin\0"], None, &[open]).map_err(|_| "spawn open")?;
    check(status_of(pid)? == 15, "the child did not read the opened file as stdin")?;
    // fd 7 = dup of 1; then fd 1 closed.
    let actions = [SpawnAction::Dup2 { fd: 1, newfd: 7 }, SpawnAction::Close { fd: 1 }];
    let pid =
        spawn(b"/bin/utest\0", &[b"utest\0", b"--check-fds\0"], None, &actions).map_err(|_| "spawn dup2")?;
    check(status_of(pid)? == 0b10, "expected fd 7 open and fd 1 closed")?;
    // CLOEXEC_DEFAULT closes everything not inherited.
    let attr = SpawnAttr { flags: POSIX_SPAWN_CLOEXEC_DEFAULT, ..Default::default() };
    let pid = spawn(
        b"/bin/utest\0",
        &[b"utest\0", b"--check-fds\0"],
        Some(attr),
        &[SpawnAction::Inherit { fd: 1 }],
    )
    .map_err(|_| "spawn cloexec")?;
    check(status_of(pid)? == 0b01, "CLOEXEC_DEFAULT should keep only fd 1")
}

fn spawn_attributes(_: &Args) -> Result<(), &'static str> {
    install(SIGUSR2, SIG_IGN, 0, 0).map_err(|_| "ignore SIGUSR2")?;
    let pid = spawn(b"/bin/utest\0", &[b"utest\0", b"--print-sigstate\0"], None, &[]).map_err(|_| "spawn")?;
    check(status_of(pid)? == 0b10, "an ignored signal stays ignored across spawn")?;
    let attr = SpawnAttr {
        flags: POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
        sigmask: sigmask(SIGUSR1),
        sigdefault: sigmask(SIGUSR2),
        pgroup: 0,
    };
    let pid =
        spawn(b"/bin/utest\0", &[b"utest\0", b"--print-sigstate\0"], Some(attr), &[]).map_err(|_| "spawn")?;
    check(status_of(pid)? == 0b01, "SETSIGMASK and SETSIGDEF not applied")?;
    install(SIGUSR2, SIG_DFL, 0, 0).map_err(|_| "reset")?;
    let attr = SpawnAttr { flags: POSIX_SPAWN_SETPGROUP, ..Default::default() };
    let pid =
        spawn(b"/bin/utest\0", &[b"utest\0", b"--pgrp-is-pid\0"], Some(attr), &[]).map_err(|_| "spawn")?;
    check(status_of(pid)? == 1, "SETPGROUP 0 should make the child a group leader")
}

fn spawn_errors(_: &Args) -> Result<(), &'static str> {
    check(spawn(b"/no/such\0", &[b"x\0"], None, &[]) == Err(Errno::ENOENT), "missing program")?;
    check(spawn(b"/bin/not-elf\0", &[b"x\0"], None, &[]) == Err(Errno::ENOEXEC), "not a program")?;
    let close = SpawnAction::Close { fd: 99 };
    check(spawn(b"/bin/utest\0", &[b"x\0"], None, &[close]) == Err(Errno::EBADF), "closing a closed fd")?;
    let open = SpawnAction::Open { fd: 3, path: b"/no/file\0", oflag: O_RDONLY as i32, mode: 0 };
    check(spawn(b"/bin/utest\0", &[b"x\0"], None, &[open]) == Err(Errno::ENOENT), "opening a missing file")?;
    let attr = SpawnAttr { flags: POSIX_SPAWN_SETEXEC, ..Default::default() };
    check(spawn(b"/bin/utest\0", &[b"x\0"], Some(attr), &[]) == Err(Errno::ENOTSUP), "SETEXEC")?;
    // SAFETY: the kernel rejects the bad descriptor pointer.
    let r = unsafe { libsys::syscall::posix_spawn(0, c"/bin/utest".as_ptr() as u64, KERNEL_ADDRESS, 0, 0) };
    check(r == Err(Errno::EFAULT), "bad descriptor pointer")?;
    check(waitpid(-1, sys::wait::WNOHANG) == Err(Errno::ECHILD), "a failed spawn left a child")
}
