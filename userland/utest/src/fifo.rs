//! FIFOs and special files (issue 15, B4 item 4): `mkfifo`, `mknod` and their `*at` forms
//! with XNU's privilege rules, and a FIFO's open, read, write and readiness rules as
//! Darwin's fifofs has them (reference `xnu-abi-files-tty-tools.md` §2.7, §2.10): opens
//! wait for the other side (or `ENXIO` for a non-blocking writer alone), reads with no
//! writer return 0 at once, writes with no reader are `EPIPE`, no offsets, and `poll`
//! never reports a hang-up.

use core::sync::atomic::{AtomicU32, Ordering};

use libsys::process::{Forked, fork, waitpid};
use libsys::signal::{install, signal_action};
use libsys::syscall::{self, close, exit_process, fcntl, open_path, read_bytes, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::{AT_FDCWD, F_GETFL, FIONREAD, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, SEEK_SET};
use sys::poll::{POLLIN, POLLOUT, PollFd};
use sys::signal::{SIG_DFL, SIG_IGN, SIGPIPE, SIGUSR1};
use sys::stat::{S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT, S_IFREG, Stat64};
use sys::wait::{wexitstatus, wifexited};

use crate::fileio::as_user_501;
use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mkfifo / mknod: modes under the umask, EEXIST, who may make what", making),
    ("fifo: opens wait for the other side; O_NONBLOCK reader opens, lone writer ENXIO", opens),
    ("fifo: bytes between processes, EOF, EPIPE, ESPIPE, data gone at last close", data),
    ("fifo: poll readiness without hang-ups; a signal interrupts a waiting open", readiness),
    ("mknod: a character device node opens its driver", device_node),
];

fn cstr(s: &[u8]) -> u64 {
    s.as_ptr() as u64
}

fn mkfifo(path: &[u8], mode: i32) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::mkfifo(cstr(path), mode) }
}

fn mknod(path: &[u8], mode: i32, dev: i32) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::mknod(cstr(path), mode, dev) }
}

fn unlink(path: &[u8]) {
    // SAFETY: `path` is NUL-terminated.
    let _ = unsafe { syscall::unlink(cstr(path)) };
}

fn stat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64; `path` NUL-terminated.
    unsafe { syscall::stat64(cstr(path), core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn making(_: &Args) -> Result<(), &'static str> {
    const F: &[u8] = b"/tmp/fifo-m\0";
    unlink(F);
    let old = syscall::umask(0o027).map_err(|_| "umask")?;
    check(mkfifo(F, 0o666) == Ok(0), "mkfifo")?;
    let st = stat(F).map_err(|_| "stat")?;
    check(st.st_mode == S_IFIFO | 0o640, "S_IFIFO, mode & ~umask")?;
    check(st.st_size == 0 && st.st_nlink == 1, "empty, one link")?;
    check(mkfifo(F, 0o600) == Err(Errno::EEXIST), "EEXIST")?;
    check(mknod(F, i32::from(S_IFIFO) | 0o600, 0) == Err(Errno::EEXIST), "mknod EEXIST")?;
    unlink(F);
    check(mknod(F, i32::from(S_IFIFO) | 0o644, 0) == Ok(0), "mknod S_IFIFO")?;
    check(stat(F).map(|s| s.st_mode) == Ok(S_IFIFO | 0o640), "mknod's FIFO, under the umask")?;
    unlink(F);
    let _ = syscall::umask(old as i32);
    // Root may make device nodes; other types are EINVAL for root.
    const D: &[u8] = b"/tmp/fifo-dev\0";
    unlink(D);
    check(mknod(D, i32::from(S_IFCHR) | 0o600, (7 << 24) | 3) == Ok(0), "root mknod S_IFCHR")?;
    let st = stat(D).map_err(|_| "stat dev")?;
    check(st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == (7 << 24) | 3, "a device node with its dev_t")?;
    unlink(D);
    check(mknod(D, i32::from(S_IFBLK) | 0o600, 1) == Ok(0), "root mknod S_IFBLK")?;
    check(stat(D).map(|s| s.st_mode & S_IFMT) == Ok(S_IFBLK), "a block node")?;
    check(mknod(D, i32::from(S_IFCHR) | 0o600, 1) == Err(Errno::EEXIST), "an existing name first: EEXIST")?;
    unlink(D);
    check(mknod(D, i32::from(S_IFREG) | 0o600, 0) == Err(Errno::EINVAL), "root, a regular file: EINVAL")?;
    check(mknod(b"/tmp/no/such\0", 0o10600, 0) == Err(Errno::ENOENT), "ENOENT")?;
    // SAFETY: a kernel address is refused with EFAULT.
    check(unsafe { syscall::mkfifo(KERNEL_ADDRESS, 0o600) } == Err(Errno::EFAULT), "EFAULT")?;
    // SAFETY: as for `mkfifo`.
    let at = unsafe { syscall::mkfifoat(AT_FDCWD, cstr(b"/tmp/fifo-at\0"), 0o600) };
    check(at == Ok(0) && stat(b"/tmp/fifo-at\0").is_ok(), "mkfifoat")?;
    unlink(b"/tmp/fifo-at\0");
    // Anyone may make a FIFO; only root a device node, and others get EPERM for any type.
    let user = as_user_501(|| {
        let fifo = mkfifo(b"/tmp/fifo-user\0", 0o600);
        let chr = mknod(b"/tmp/fifo-user-c\0", i32::from(S_IFCHR) | 0o600, 1);
        let reg = mknod(b"/tmp/fifo-user-r\0", i32::from(S_IFREG) | 0o600, 0);
        let owner = stat(b"/tmp/fifo-user\0").map(|s| s.st_uid);
        unlink(b"/tmp/fifo-user\0");
        match (fifo, chr, reg, owner) {
            (Ok(0), Err(Errno::EPERM), Err(Errno::EPERM), Ok(501)) => 0,
            (Ok(_), ..) => 2,
            _ => 1,
        }
    })?;
    check(user == 0, "uid 501: FIFO yes (owned by 501), device or other type EPERM")
}

const F: &[u8] = b"/tmp/fifo-x\0";

fn fresh_fifo() -> Result<(), &'static str> {
    unlink(F);
    check(mkfifo(F, 0o666) == Ok(0), "mkfifo")
}

fn opens(_: &Args) -> Result<(), &'static str> {
    fresh_fifo()?;
    // No reader: a non-blocking writer is refused, a non-blocking reader gets in.
    check(open_path(F, O_WRONLY | O_NONBLOCK, 0) == Err(Errno::ENXIO), "lone O_NONBLOCK writer: ENXIO")?;
    let r = open_path(F, O_RDONLY | O_NONBLOCK, 0).map_err(|_| "O_NONBLOCK reader")?;
    let mut b = [0u8; 4];
    check(read_bytes(r, &mut b) == Ok(0), "no writer: read 0 at once")?;
    let w = open_path(F, O_WRONLY | O_NONBLOCK, 0).map_err(|_| "a writer with a reader there")?;
    check(fcntl(w, F_GETFL, 0).map(|f| f & 0x3) == Ok(1), "open for writing")?;
    let _ = (close(r), close(w));
    // O_RDWR never waits.
    let rw = open_path(F, O_RDWR, 0).map_err(|_| "O_RDWR")?;
    let _ = close(rw);
    // A blocking reader waits for the writer a child opens later, and the other way round.
    for reader_waits in [true, false] {
        let pid = match fork().map_err(|_| "fork")? {
            Forked::Child => {
                crate::sched::sleep_ms(40);
                let flags = if reader_waits { O_WRONLY } else { O_RDONLY };
                let fd = open_path(F, flags, 0);
                let ok = match fd {
                    Ok(fd) if reader_waits => write_bytes(fd, b"late") == Ok(4),
                    Ok(fd) => {
                        let mut b = [0u8; 8];
                        read_bytes(fd, &mut b) == Ok(5) && &b[..5] == b"early"
                    }
                    Err(_) => false,
                };
                exit_process(i32::from(!ok))
            }
            Forked::Parent(pid) => pid,
        };
        let t0 = libsys::mach_traps::mach_absolute_time();
        let fd =
            open_path(F, if reader_waits { O_RDONLY } else { O_WRONLY }, 0).map_err(|_| "blocking open")?;
        let waited = (libsys::mach_traps::mach_absolute_time() - t0) / crate::sched::ticks_per_ms();
        check(waited >= 30, "the open waited for the other side")?;
        if reader_waits {
            let mut b = [0u8; 8];
            check(read_bytes(fd, &mut b) == Ok(4) && &b[..4] == b"late", "the late writer's bytes")?;
        } else {
            check(write_bytes(fd, b"early") == Ok(5), "write to the late reader")?;
        }
        let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
        check(wifexited(status) && wexitstatus(status) == 0, "the child's side worked")?;
        let _ = close(fd);
    }
    unlink(F);
    Ok(())
}

fn data(_: &Args) -> Result<(), &'static str> {
    fresh_fifo()?;
    let r = open_path(F, O_RDONLY | O_NONBLOCK, 0).map_err(|_| "reader")?;
    let w = open_path(F, O_WRONLY, 0).map_err(|_| "writer")?;
    check(write_bytes(w, b"through a name") == Ok(14), "write")?;
    let mut n = 0i32;
    // SAFETY: `n` is a writable int.
    let nread = unsafe { syscall::ioctl(r, u64::from(FIONREAD), core::ptr::from_mut(&mut n) as u64) };
    check(nread == Ok(0) && n == 14, "FIONREAD")?;
    let mut b = [0u8; 32];
    check(read_bytes(r, &mut b) == Ok(14) && &b[..14] == b"through a name", "read back")?;
    check(read_bytes(r, &mut b) == Err(Errno::EAGAIN), "empty, writer there, O_NONBLOCK: EAGAIN")?;
    check(syscall::lseek(r, 0, SEEK_SET) == Err(Errno::ESPIPE), "lseek: ESPIPE")?;
    // SAFETY: `b` is writable.
    check(unsafe { syscall::pread(r, b.as_mut_ptr() as u64, 1, 0) } == Err(Errno::ESPIPE), "pread: ESPIPE")?;
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64.
    let fst = unsafe { syscall::fstat64(r, core::ptr::from_mut(&mut st) as u64) };
    check(fst == Ok(0) && st.st_mode & S_IFMT == S_IFIFO, "fstat: S_IFIFO")?;
    let _ = close(w);
    check(read_bytes(r, &mut b) == Ok(0), "writer gone: end of file")?;
    // No reader: EPIPE (SIGPIPE ignored here).
    let rw = open_path(F, O_RDWR, 0).map_err(|_| "O_RDWR")?;
    let _ = close(r);
    install(SIGPIPE, SIG_IGN, 0, 0).map_err(|_| "ignore SIGPIPE")?;
    let w = open_path(F, O_WRONLY | O_NONBLOCK, 0).map_err(|_| "writer beside O_RDWR")?;
    check(write_bytes(w, b"kept?") == Ok(5), "write with the O_RDWR reader")?;
    let _ = (close(rw), close(w));
    // Every open closed: the bytes went with the pipe.
    let rw = open_path(F, O_RDWR, 0).map_err(|_| "reopen")?;
    // SAFETY: as above.
    let nread = unsafe { syscall::ioctl(rw, u64::from(FIONREAD), core::ptr::from_mut(&mut n) as u64) };
    check(nread == Ok(0) && n == 0, "the last close threw the data away")?;
    let _ = close(rw);
    let r = open_path(F, O_RDONLY | O_NONBLOCK, 0).map_err(|_| "reader 2")?;
    let w = open_path(F, O_WRONLY | O_NONBLOCK, 0).map_err(|_| "writer 2")?;
    let _ = close(r);
    check(write_bytes(w, b"x") == Err(Errno::EPIPE), "no reader: EPIPE")?;
    let _ = close(w);
    install(SIGPIPE, SIG_DFL, 0, 0).map_err(|_| "SIGPIPE back")?;
    // Bytes between two processes through the name.
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let ok = open_path(F, O_WRONLY, 0).is_ok_and(|w| {
                let big = [0x3cu8; 20_000];
                write_bytes(w, &big) == Ok(20_000)
            });
            exit_process(i32::from(!ok))
        }
        Forked::Parent(pid) => pid,
    };
    let r = open_path(F, O_RDONLY, 0).map_err(|_| "reader 3")?;
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match read_bytes(r, &mut buf) {
            Ok(0) => break,
            Ok(k) => {
                check(buf[..k as usize].iter().all(|&x| x == 0x3c), "the child's bytes")?;
                total += k;
            }
            Err(_) => return Err("read"),
        }
    }
    check(total == 20_000, "20000 bytes through an 8 KiB FIFO, then EOF")?;
    let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
    check(wifexited(status) && wexitstatus(status) == 0, "the writer")?;
    let _ = close(r);
    unlink(F);
    Ok(())
}

static HANDLED: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr1(_: i32, _: u64, _: u64) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

fn readiness(_: &Args) -> Result<(), &'static str> {
    fresh_fifo()?;
    let r = open_path(F, O_RDONLY | O_NONBLOCK, 0).map_err(|_| "reader")?;
    let w = open_path(F, O_WRONLY | O_NONBLOCK, 0).map_err(|_| "writer")?;
    let poll = |fds: &mut [PollFd]| {
        // SAFETY: `fds` is a live, writable array.
        unsafe { syscall::poll(fds.as_mut_ptr() as u64, fds.len() as u32, 0) }
    };
    let mut fds =
        [PollFd { fd: r, events: POLLIN, revents: 0 }, PollFd { fd: w, events: POLLOUT, revents: 0 }];
    check(poll(&mut fds) == Ok(1) && fds[1].revents == POLLOUT, "empty: writable, not readable")?;
    check(write_bytes(w, b"abc") == Ok(3), "write")?;
    check(poll(&mut fds) == Ok(2) && fds[0].revents == POLLIN, "readable")?;
    let mut b = [0u8; 8];
    let _ = read_bytes(r, &mut b);
    let _ = close(w);
    // XNU's FIFO never hangs up: the writer gone and nothing buffered is no event at all.
    let mut fds = [PollFd { fd: r, events: POLLIN, revents: 0 }];
    check(poll(&mut fds) == Ok(0) && fds[0].revents == 0, "no POLLHUP on a FIFO")?;
    let _ = close(r);
    // A signal ends an open waiting for a writer (no SA_RESTART: EINTR).
    HANDLED.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, on_usr1, 0, 0).map_err(|_| "sigaction")?;
    let me = syscall::getpid().unwrap_or(0) as i32;
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(30);
            let _ = libsys::signal::kill(me, SIGUSR1);
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    check(open_path(F, O_RDONLY, 0) == Err(Errno::EINTR), "the waiting open: EINTR")?;
    check(HANDLED.load(Ordering::SeqCst) == 1, "the handler ran")?;
    let _ = waitpid(pid, 0);
    // The interrupted open left nothing attached: a non-blocking writer is alone again.
    check(open_path(F, O_WRONLY | O_NONBLOCK, 0) == Err(Errno::ENXIO), "nothing left attached")?;
    install(SIGUSR1, SIG_DFL, 0, 0).map_err(|_| "reset")?;
    unlink(F);
    Ok(())
}

fn device_node(_: &Args) -> Result<(), &'static str> {
    const D: &[u8] = b"/tmp/fifo-null\0";
    unlink(D);
    let null = stat(b"/dev/null\0").map_err(|_| "stat /dev/null")?;
    check(mknod(D, i32::from(S_IFCHR) | 0o666, null.st_rdev) == Ok(0), "mknod /dev/null's number")?;
    let fd = open_path(D, O_RDWR, 0).map_err(|_| "open the node")?;
    let mut b = [0u8; 4];
    check(write_bytes(fd, b"gone") == Ok(4) && read_bytes(fd, &mut b) == Ok(0), "it is a null device")?;
    let _ = close(fd);
    unlink(D);
    Ok(())
}
