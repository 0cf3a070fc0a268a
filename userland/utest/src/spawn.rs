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
    ("posix_spawn: chdir, fchdir and fileport file actions", spawn_dir_and_fileport_actions),
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

fn spawn_dir_and_fileport_actions(_: &Args) -> Result<(), &'static str> {
    use libsys::syscall::{close, open_path};
    let cat = [&b"utest\0"[..], b"--cat-stdin\0"];
    // A chdir action moves the child before the program is looked up: a relative program
    // path is found from the new directory, as a relative open that follows is.
    let pid = spawn(b"true-O2\0", &[b"true-O2\0"], None, &[SpawnAction::Chdir { path: b"/bin/c\0" }])
        .map_err(|_| "spawn a relative program after a chdir action")?;
    check(status_of(pid)? == 0, "true-O2 from /bin/c")?;
    let actions = [
        SpawnAction::Chdir { path: b"/bin\0" },
        SpawnAction::Open { fd: 0, path: b"not-elf\0", oflag: O_RDONLY as i32, mode: 0 },
    ];
    let pid = spawn(b"/bin/utest\0", &cat, None, &actions).map_err(|_| "spawn chdir + relative open")?;
    check(status_of(pid)? == 15, "the relative open after chdir read /bin/not-elf")?;
    // fchdir to a directory open in the parent.
    let dir = open_path(b"/bin\0", O_RDONLY, 0).map_err(|_| "open /bin")?;
    let actions = [
        SpawnAction::Fchdir { fd: dir },
        SpawnAction::Open { fd: 0, path: b"not-elf\0", oflag: O_RDONLY as i32, mode: 0 },
    ];
    let pid = spawn(b"/bin/utest\0", &cat, None, &actions).map_err(|_| "spawn fchdir + relative open")?;
    check(status_of(pid)? == 15, "the relative open after fchdir read /bin/not-elf")?;
    // Errors, and the parent's own working directory never moves.
    let chdir = |path: &'static [u8]| spawn(b"/bin/utest\0", &cat, None, &[SpawnAction::Chdir { path }]);
    check(chdir(b"/no/such\0") == Err(Errno::ENOENT), "chdir action to a missing directory")?;
    check(chdir(b"/bin/not-elf\0") == Err(Errno::ENOTDIR), "chdir action to a file")?;
    let file = open_path(b"/bin/not-elf\0", O_RDONLY, 0).map_err(|_| "open /bin/not-elf")?;
    let fchdir = |fd| spawn(b"/bin/utest\0", &cat, None, &[SpawnAction::Fchdir { fd }]);
    check(fchdir(file) == Err(Errno::ENOTDIR), "fchdir action to a file")?;
    check(fchdir(99) == Err(Errno::EBADF), "fchdir action to a closed descriptor")?;
    check(open_path(b"bin/not-elf\0", O_RDONLY, 0).map(close).is_ok(), "the parent's cwd moved")?;
    // A fileport's file as the child's stdin.
    let mut port = 0u32;
    // SAFETY: `port` is a valid, writable u32.
    unsafe { libsys::syscall::fileport_makeport(file, core::ptr::from_mut(&mut port) as u64) }
        .map_err(|_| "fileport_makeport")?;
    let pid = spawn(b"/bin/utest\0", &cat, None, &[SpawnAction::FileportDup2 { port, newfd: 0 }])
        .map_err(|_| "spawn with a fileport action")?;
    check(status_of(pid)? == 15, "the child read the fileport's file as stdin")?;
    let bad = SpawnAction::FileportDup2 { port: 0x1234_5603, newfd: 0 };
    check(spawn(b"/bin/utest\0", &cat, None, &[bad]) == Err(Errno::EINVAL), "a name that is no fileport")?;
    let _ = libsys::mach::mach_port_deallocate(libsys::mach_traps::mach_task_self(), port);
    let _ = close(file);
    let _ = close(dir);
    check(waitpid(-1, sys::wait::WNOHANG) == Err(Errno::ECHILD), "a failed spawn left a child")
}
