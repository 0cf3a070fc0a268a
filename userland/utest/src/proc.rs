//! The BSD process model from user space (issue M1.4): fork with copy-on-write, exec (and
//! `#!` scripts), exit and wait4 statuses, signals with handlers, masks, stop/continue,
//! process groups, sessions and credentials.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use libsys::process::{Forked, execv, fork, waitpid};
use libsys::signal::{install, kill, signal_action, sigpending, sigprocmask};
use libsys::syscall::{
    exit_process, geteuid, getpid, getppid, getsid, getuid, issetugid, setpgid, setsid, setuid,
};
use libsys::{Args, Errno};
use sys::resource::{RUSAGE_CHILDREN, RUSAGE_SELF};
use sys::signal::*;
use sys::wait::*;

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("fork: two returns, parent and child pids", fork_returns),
    ("fork: memory is copy-on-write", fork_cow),
    ("wait4: exit status, ECHILD, WNOHANG, bad options", wait_statuses),
    ("execve: a child becomes another program and dies of SIGSEGV", exec_crash),
    ("execve: #! scripts run their interpreter with the right argv", exec_script),
    ("execve: errors leave the caller intact", exec_errors),
    ("execve closes FD_CLOEXEC descriptors; dup, dup2, fcntl, close", exec_cloexec),
    ("execve: the new program starts alone (the old threads have ended)", exec_ends_threads),
    ("execve: two threads calling it at once — one wins, nothing hangs", exec_race),
    ("orphans go to init, which reaps them", orphans),
    ("getrusage: a reaped child's time counts for RUSAGE_CHILDREN, not RUSAGE_SELF", rusage_split),
    ("signals: a handler runs and returns through sigreturn", handler_runs),
    ("signals: blocked signals stay pending until unblocked", masks),
    ("signals: SIGKILL and SIGSTOP cannot be caught", uncatchable),
    ("signals: kill a child; stop and continue it", kill_child),
    ("signals: a signal interrupts wait4 (EINTR), or restarts it (SA_RESTART)", interrupted_wait),
    ("kill: permission probe and errors", kill_errors),
    ("a fault becomes SIGSEGV with the faulting address in siginfo", fault_siginfo),
    ("process groups and sessions", groups),
    ("credentials: setuid drops root for good", credentials),
];

/// Run `f` in a child and return its wait status.
pub(crate) fn in_child(f: impl FnOnce() -> i32) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork failed")? {
        Forked::Child => exit_process(f()),
        Forked::Parent(pid) => {
            let (got, status) = waitpid(pid, 0).map_err(|_| "wait4 failed")?;
            if got != pid {
                return Err("wait4 returned another pid");
            }
            Ok(status)
        }
    }
}

fn fork_returns(_: &Args) -> Result<(), &'static str> {
    let me = getpid().map_err(|_| "getpid")? as i32;
    let status = in_child(|| {
        let (pid, ppid) = (getpid().unwrap_or(0) as i32, getppid().unwrap_or(0) as i32);
        if ppid == me && pid != me && pid > 1 { 7 } else { 1 }
    })?;
    check(wifexited(status) && wexitstatus(status) == 7, "the child saw the wrong pids")
}

static SHARED: AtomicU64 = AtomicU64::new(0);

fn fork_cow(_: &Args) -> Result<(), &'static str> {
    SHARED.store(1234, Ordering::SeqCst);
    let mut big = [0u8; 3 * 4096];
    big[5000] = 9;
    let big_ptr = big.as_mut_ptr();
    let status = in_child(|| {
        let saw = SHARED.load(Ordering::SeqCst);
        SHARED.store(99, Ordering::SeqCst);
        // SAFETY: the child's copy of the parent's stack buffer.
        let (b, _) = unsafe { (big_ptr.add(5000).read_volatile(), big_ptr.add(5000).write_volatile(77)) };
        if saw == 1234 && b == 9 && SHARED.load(Ordering::SeqCst) == 99 { 0 } else { 1 }
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "the child did not see the parent's memory")?;
    check(SHARED.load(Ordering::SeqCst) == 1234, "the child's write reached the parent")?;
    check(core::hint::black_box(&big)[5000] == 9, "the child's stack write reached the parent")
}

fn wait_statuses(_: &Args) -> Result<(), &'static str> {
    check(waitpid(-1, WNOHANG) == Err(Errno::ECHILD), "no children: ECHILD")?;
    check(waitpid(-1, 0x4000) == Err(Errno::EINVAL), "bad options: EINVAL")?;
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(50);
            exit_process(3)
        }
        Forked::Parent(pid) => pid,
    };
    check(waitpid(pid, WNOHANG) == Ok((0, 0)), "WNOHANG with the child still running")?;
    let (got, status) = waitpid(-1, 0).map_err(|_| "wait4")?;
    check(got == pid && wifexited(status) && wexitstatus(status) == 3, "exit status 3")?;
    check(waitpid(pid, 0) == Err(Errno::ECHILD), "a reaped child is gone")?;
    let mut status = 0i32;
    // SAFETY: the kernel rejects the bad rusage pointer after reaping nothing.
    let r = unsafe { libsys::syscall::wait4(-1, &mut status as *mut i32 as u64, 0, KERNEL_ADDRESS) };
    check(r == Err(Errno::ECHILD), "no children left")
}

fn exec_crash(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        let e = execv(b"/bin/crash-segv\0", &[b"crash-segv\0"]);
        100 + e.0
    })?;
    check(wifsignaled(status) && wtermsig(status) == SIGSEGV as i32, "expected death by SIGSEGV")?;
    check(status & WCOREFLAG != 0, "SIGSEGV sets the core flag")
}

fn exec_script(_: &Args) -> Result<(), &'static str> {
    // /bin/args.sh is "#!/bin/utest --print-args": utest then exits with its argc.
    let status = in_child(|| 100 + execv(b"/bin/args.sh\0", &[b"args.sh\0", b"x\0", b"y\0"]).0)?;
    check(wifexited(status), "the script's interpreter did not exit")?;
    check(wexitstatus(status) == 5, "argv should be [utest, --print-args, /bin/args.sh, x, y]")
}

fn exec_errors(_: &Args) -> Result<(), &'static str> {
    check(execv(b"/no/such/file\0", &[b"x\0"]) == Errno::ENOENT, "missing file: ENOENT")?;
    check(execv(b"/bin\0", &[b"x\0"]) == Errno::EACCES, "a directory: EACCES")?;
    check(execv(b"/bin/not-elf\0", &[b"x\0"]) == Errno::ENOEXEC, "not a program: ENOEXEC")?;
    check(execv(b"/bin/utest/x\0", &[b"x\0"]) == Errno::ENOTDIR, "through a file: ENOTDIR")?;
    let long = [b'a'; 1100];
    let mut path = [0u8; 1101];
    path[..1100].copy_from_slice(&long);
    check(execv(&path, &[b"x\0"]) == Errno::ENAMETOOLONG, "path too long: ENAMETOOLONG")?;
    // SAFETY: the kernel rejects the bad pointers.
    unsafe {
        check(libsys::syscall::execve(KERNEL_ADDRESS, 0, 0) == Err(Errno::EFAULT), "bad path pointer")?;
        let argv = [KERNEL_ADDRESS, 0];
        let r = libsys::syscall::execve(c"/bin/utest".as_ptr() as u64, argv.as_ptr() as u64, 0);
        check(r == Err(Errno::EFAULT), "bad argv string pointer")?;
    }
    Ok(())
}

fn exec_cloexec(_: &Args) -> Result<(), &'static str> {
    use libsys::syscall::{close, dup, dup2, fcntl};
    use sys::fcntl::*;
    {
        let d = dup(1).map_err(|_| "dup")?;
        check(d >= 3, "dup takes a free slot")?;
        check(fcntl(d as i32, F_GETFD, 0) == Ok(0), "dup clears close-on-exec")?;
        check(
            fcntl(d as i32, F_SETFD, FD_CLOEXEC.into()) == Ok(0)
                && fcntl(d as i32, F_GETFD, 0) == Ok(FD_CLOEXEC as u64),
            "F_SETFD",
        )?;
        check(
            fcntl(1, F_DUPFD_CLOEXEC, 20) == Ok(20) && fcntl(20, F_GETFD, 0) == Ok(FD_CLOEXEC as u64),
            "F_DUPFD_CLOEXEC",
        )?;
        check(fcntl(1, F_DUPFD, 20) == Ok(21), "F_DUPFD takes the lowest free slot at or above")?;
        check(close(d as i32) == Ok(0) && close(20) == Ok(0) && close(21) == Ok(0), "close")?;
        check(close(d as i32) == Err(Errno::EBADF) && dup(57) == Err(Errno::EBADF), "closed: EBADF")?;
        check(dup2(1, 100_000) == Err(Errno::EBADF), "dup2 beyond the table")?;
        check(fcntl(1, F_DUPFD, 100_000) == Err(Errno::EINVAL), "F_DUPFD beyond the table")?;
        check(fcntl(1, 999, 0) == Err(Errno::EINVAL) && fcntl(57, 999, 0) == Err(Errno::EBADF), "bad cmd")?;
    }
    // The child keeps fd 7 and marks fd 8 close-on-exec; the new image sees 1 and 7 only.
    let status = in_child(|| {
        let ok = {
            libsys::syscall::dup2(1, 7) == Ok(7)
                && libsys::syscall::dup2(1, 8) == Ok(8)
                && libsys::syscall::fcntl(8, F_SETFD, FD_CLOEXEC.into()) == Ok(0)
        };
        if !ok {
            return 100;
        }
        100 + execv(b"/bin/utest\0", &[b"utest\0", b"--check-fds\0"]).0
    })?;
    check(wifexited(status) && wexitstatus(status) == 0b011, "fd 8 survived exec, or 1 or 7 did not")
}

/// A second thread that sleeps in the kernel until it is terminated.
extern "C" fn sleep_long(_: u64) {
    crate::sched::sleep_ms(60_000);
}

/// A second thread that execs the thread counter itself.
extern "C" fn exec_counter(_: u64) {
    execv(b"/bin/utest\0", &[b"utest\0", b"--count-threads\0"]);
}

fn exec_ends_threads(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        // Registering twice is refused; once is what spawning needs.
        let _ = libsys::thread::thread_register();
        if crate::sched::spawn(0, sleep_long, 0).is_err() {
            return 100;
        }
        // Let it get into its sleep.
        crate::sched::sleep_ms(5);
        100 + execv(b"/bin/utest\0", &[b"utest\0", b"--count-threads\0"]).0
    })?;
    check(wifexited(status) && wexitstatus(status) == 1, "the exec'd program saw more than its own thread")
}

fn exec_race(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        let _ = libsys::thread::thread_register();
        if crate::sched::spawn(0, exec_counter, 0).is_err() {
            return 100;
        }
        100 + execv(b"/bin/utest\0", &[b"utest\0", b"--count-threads\0"]).0
    })?;
    check(wifexited(status) && wexitstatus(status) == 1, "racing execs: the winner should run alone")
}

fn orphans(_: &Args) -> Result<(), &'static str> {
    let me = getpid().map_err(|_| "getpid")? as i32;
    check(me == 1, "this test runs as init")?;
    // A child forks a grandchild and exits at once; the grandchild waits to be orphaned,
    // then reports its new parent through its exit status.
    let middle = match fork().map_err(|_| "fork")? {
        Forked::Child => match fork() {
            Ok(Forked::Child) => {
                crate::sched::sleep_ms(60);
                let ppid = getppid().unwrap_or(0) as i32;
                exit_process(40 + ppid)
            }
            Ok(Forked::Parent(_)) => exit_process(0),
            Err(_) => exit_process(1),
        },
        Forked::Parent(pid) => pid,
    };
    let (got, status) = waitpid(middle, 0).map_err(|_| "wait for the middle child")?;
    check(got == middle && wifexited(status) && wexitstatus(status) == 0, "middle child")?;
    // The grandchild is now ours: init reaps it like any child. (Orphans of earlier tests
    // may be reaped on the way; the grandchild is the one that exits with 40 + its ppid.)
    loop {
        let (orphan, status) = waitpid(-1, 0).map_err(|_| "init could not wait for the orphan")?;
        if wifexited(status) && (40..=42).contains(&wexitstatus(status)) {
            check(wexitstatus(status) == 41, "the orphan's parent became init (pid 1)")?;
            return check(waitpid(orphan, WNOHANG) == Err(Errno::ECHILD), "reaped for good");
        }
    }
}

/// User + system CPU time in microseconds for `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`).
fn cpu_us(who: i32) -> Result<i64, &'static str> {
    let mut r = sys::resource::Rusage::default();
    // SAFETY: `r` is a writable `struct rusage`.
    unsafe { libsys::syscall::getrusage(who, &mut r as *mut sys::resource::Rusage as u64) }
        .map_err(|_| "getrusage")?;
    let us = |t: sys::time::Timeval| t.tv_sec * 1_000_000 + t.tv_usec as i64;
    Ok(us(r.ru_utime) + us(r.ru_stime))
}

fn rusage_split(_: &Args) -> Result<(), &'static str> {
    let (self_before, children_before) = (cpu_us(RUSAGE_SELF)?, cpu_us(RUSAGE_CHILDREN)?);
    // The child burns about 200 ms of CPU, then exits; we only wait.
    let status = in_child(|| {
        let start = libsys::mach_traps::mach_absolute_time();
        let tb = libsys::mach_traps::timebase_info().map_or(1, |t| (t.numer / t.denom.max(1)).max(1) as u64);
        while (libsys::mach_traps::mach_absolute_time() - start) * tb < 200_000_000 {
            core::hint::spin_loop();
        }
        0
    })?;
    check(wifexited(status), "the child")?;
    let (self_after, children_after) = (cpu_us(RUSAGE_SELF)?, cpu_us(RUSAGE_CHILDREN)?);
    check(children_after - children_before >= 150_000, "the child's CPU time is in RUSAGE_CHILDREN")?;
    check(self_after - self_before < 100_000, "the child's CPU time leaked into RUSAGE_SELF")?;
    // SAFETY: a bad `who` and a bad buffer are refused.
    unsafe {
        check(libsys::syscall::getrusage(5, 0) == Err(Errno::EINVAL), "bad who")?;
        check(libsys::syscall::getrusage(0, KERNEL_ADDRESS) == Err(Errno::EFAULT), "bad buffer")?;
    }
    Ok(())
}

static CAUGHT: AtomicU32 = AtomicU32::new(0);
static CAUGHT_SIG: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(sig: i32, _info: u64, _uctx: u64) {
    CAUGHT.fetch_add(1, Ordering::SeqCst);
    CAUGHT_SIG.store(sig as u32, Ordering::SeqCst);
}

fn my_pid() -> i32 {
    getpid().unwrap_or(0) as i32
}

fn handler_runs(_: &Args) -> Result<(), &'static str> {
    CAUGHT.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, on_signal, 0, 0).map_err(|_| "sigaction")?;
    let x = core::hint::black_box(0x1234_5678u64);
    kill(my_pid(), SIGUSR1).map_err(|_| "kill")?;
    check(
        CAUGHT.load(Ordering::SeqCst) == 1 && CAUGHT_SIG.load(Ordering::SeqCst) == SIGUSR1,
        "handler did not run",
    )?;
    check(core::hint::black_box(x) == 0x1234_5678, "registers not restored after the handler")?;
    // SA_SIGINFO handlers get the siginfo too.
    signal_action(SIGUSR2, on_signal, 0, SA_SIGINFO).map_err(|_| "sigaction SA_SIGINFO")?;
    kill(my_pid(), SIGUSR2).map_err(|_| "kill")?;
    check(CAUGHT.load(Ordering::SeqCst) == 2, "SA_SIGINFO handler did not run")?;
    install(SIGUSR1, SIG_DFL, 0, 0).map_err(|_| "reset")?;
    install(SIGUSR2, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

fn masks(_: &Args) -> Result<(), &'static str> {
    CAUGHT.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, on_signal, 0, 0).map_err(|_| "sigaction")?;
    sigprocmask(SIG_BLOCK, sigmask(SIGUSR1)).map_err(|_| "block")?;
    kill(my_pid(), SIGUSR1).map_err(|_| "kill")?;
    check(CAUGHT.load(Ordering::SeqCst) == 0, "a blocked signal was delivered")?;
    check(sigpending() == Ok(sigmask(SIGUSR1)), "SIGUSR1 not pending")?;
    sigprocmask(SIG_UNBLOCK, sigmask(SIGUSR1)).map_err(|_| "unblock")?;
    check(CAUGHT.load(Ordering::SeqCst) == 1, "unblocking did not deliver")?;
    check(sigpending() == Ok(0), "still pending")?;
    // SIGKILL and SIGSTOP are never blocked.
    let old = sigprocmask(SIG_SETMASK, u32::MAX).map_err(|_| "setmask")?;
    let now = sigprocmask(SIG_SETMASK, old).map_err(|_| "restore")?;
    check(now & (sigmask(SIGKILL) | sigmask(SIGSTOP)) == 0, "SIGKILL/SIGSTOP were masked")?;
    check(sigprocmask(99, 0) == Err(Errno::EINVAL), "bad how")?;
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

fn uncatchable(_: &Args) -> Result<(), &'static str> {
    check(signal_action(SIGKILL, on_signal, 0, 0) == Err(Errno::EINVAL), "SIGKILL handler")?;
    check(install(SIGSTOP, SIG_IGN, 0, 0) == Err(Errno::EINVAL), "ignoring SIGSTOP")?;
    check(install(0, SIG_IGN, 0, 0) == Err(Errno::EINVAL), "signal 0")?;
    check(install(32, SIG_IGN, 0, 0) == Err(Errno::EINVAL), "signal 32")
}

fn kill_child(_: &Args) -> Result<(), &'static str> {
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => loop {
            crate::sched::sleep_ms(5);
        },
        Forked::Parent(pid) => pid,
    };
    kill(pid, SIGSTOP).map_err(|_| "SIGSTOP")?;
    let (got, status) = waitpid(pid, WUNTRACED).map_err(|_| "wait stopped")?;
    check(got == pid && wifstopped(status) && wstopsig(status) == SIGSTOP as i32, "stop not reported")?;
    kill(pid, SIGCONT).map_err(|_| "SIGCONT")?;
    let (got, status) = waitpid(pid, WCONTINUED).map_err(|_| "wait continued")?;
    check(got == pid && status == W_CONTINUED, "continue not reported")?;
    kill(pid, SIGTERM).map_err(|_| "SIGTERM")?;
    let (got, status) = waitpid(pid, 0).map_err(|_| "wait killed")?;
    check(got == pid && wifsignaled(status) && wtermsig(status) == SIGTERM as i32, "SIGTERM status")?;
    check(status & WCOREFLAG == 0, "SIGTERM does not dump core")
}

static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_interrupt(_: i32, _: u64, _: u64) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// A child that signals its parent, then exits with `code` a little later.
fn poke_parent_then_exit(code: i32) -> Result<i32, &'static str> {
    let parent = my_pid();
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(20);
            let _ = kill(parent, SIGUSR1);
            crate::sched::sleep_ms(20);
            exit_process(code)
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

fn interrupted_wait(_: &Args) -> Result<(), &'static str> {
    INTERRUPTS.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, count_interrupt, 0, 0).map_err(|_| "sigaction")?;
    let pid = poke_parent_then_exit(4)?;
    check(waitpid(pid, 0) == Err(Errno::EINTR), "wait4 should fail with EINTR")?;
    check(INTERRUPTS.load(Ordering::SeqCst) == 1, "the handler did not run")?;
    let (got, status) = waitpid(pid, 0).map_err(|_| "second wait4")?;
    check(got == pid && wexitstatus(status) == 4, "child status after EINTR")?;
    // With SA_RESTART the same wait goes on after the handler.
    signal_action(SIGUSR1, count_interrupt, 0, SA_RESTART).map_err(|_| "sigaction SA_RESTART")?;
    let pid = poke_parent_then_exit(6)?;
    let (got, status) = waitpid(pid, 0).map_err(|_| "a restarted wait4 must not fail")?;
    check(got == pid && wexitstatus(status) == 6 && INTERRUPTS.load(Ordering::SeqCst) == 2, "restart")?;
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

const FAULT_ADDR: u64 = 0x0000_4000_0000_0010;

/// SIGSEGV handler of `fault_siginfo`: exits the child with the verdict (returning would
/// only fault again).
extern "C" fn on_segv(sig: i32, info: u64, _uctx: u64) {
    // SAFETY: the kernel passes a valid siginfo (SA_SIGINFO); si_addr is at offset 24.
    let (signo, addr) = unsafe { (*(info as *const i32), *((info + 24) as *const u64)) };
    exit_process(i32::from(!(sig == SIGSEGV as i32 && signo == sig && addr == FAULT_ADDR)))
}

fn fault_siginfo(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        if signal_action(SIGSEGV, on_segv, 0, SA_SIGINFO).is_err() {
            return 2;
        }
        // SAFETY: deliberately invalid: the handler ends the child.
        unsafe { core::ptr::read_volatile(FAULT_ADDR as *const u64) as i32 }
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "siginfo did not carry the fault address")
}

fn kill_errors(_: &Args) -> Result<(), &'static str> {
    check(kill(my_pid(), 0) == Ok(()), "signal 0 to self")?;
    check(kill(99_998, SIGTERM) == Err(Errno::ESRCH), "no such process")?;
    check(kill(my_pid(), 77) == Err(Errno::EINVAL), "bad signal")?;
    check(kill(-77_777, SIGTERM) == Err(Errno::ESRCH), "no such group")
}

fn groups(_: &Args) -> Result<(), &'static str> {
    {
        let me = my_pid() as u64;
        check(
            getsid(0) == Ok(me) && libsys::syscall::getpgrp() == Ok(me),
            "init leads its session and group",
        )?;
        check(setsid() == Err(Errno::EPERM), "a group leader cannot setsid")?;
        // XNU checks the target first: init leads its session, so EPERM comes before EINVAL.
        check(setpgid(0, -1) == Err(Errno::EPERM), "a session leader cannot change group")?;
        check(setpgid(99_998, 0) == Err(Errno::ESRCH), "not a child")?;
    }
    let status = in_child(|| {
        {
            let me = getpid().unwrap_or(0);
            let ok_group = setpgid(0, -1) == Err(Errno::EINVAL)
                && setpgid(0, 0) == Ok(0)
                && libsys::syscall::getpgrp() == Ok(me);
            let ok_session = setsid() == Err(Errno::EPERM);
            // A fresh child (not a group leader) may start a session.
            let inner = in_child(|| {
                let me = getpid().unwrap_or(0);
                i32::from(
                    !(setsid() == Ok(me) && getsid(0) == Ok(me) && libsys::syscall::getpgrp() == Ok(me)),
                )
            });
            if ok_group && ok_session && inner.is_ok_and(|s| wifexited(s) && wexitstatus(s) == 0) {
                0
            } else {
                1
            }
        }
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "group/session rules in children")
}

fn credentials(_: &Args) -> Result<(), &'static str> {
    let status = in_child(|| {
        let dropped = setuid(1000) == Ok(0) && getuid() == Ok(1000) && geteuid() == Ok(1000);
        let stuck = setuid(0) == Err(Errno::EPERM);
        let tainted = issetugid() == Ok(1);
        let cannot_kill_init = kill(1, 0) == Err(Errno::EPERM);
        if dropped && stuck && tainted && cannot_kill_init { 0 } else { 1 }
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "setuid rules in a child")?;
    check(issetugid() == Ok(0), "the parent is untouched")
}
