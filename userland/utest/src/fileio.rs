//! The descriptor I/O and attribute calls (issue 15, B4 item 4): pread/pwrite,
//! readv/writev/preadv/pwritev, ioctl's generic requests, fsync, getdtablesize, the fcntl
//! path/cache/no-SIGPIPE commands, umask, chmod/chown and their fd and `*at` forms,
//! access/faccessat, utimes/futimes, link/symlink/readlink and the `*at` calls — with the
//! errors XNU's sources and Darwin's manual pages give them.

use libsys::process::{Forked, fork, pipe, waitpid};
use libsys::syscall::{self, close, exit_process, fcntl, open_path, read_bytes, setuid, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::*;
use sys::stat::{S_IFLNK, S_IFMT, S_ISGID, S_ISVTX, Stat64};
use sys::time::Timeval;
use sys::wait::{wexitstatus, wifexited, wifsignaled, wtermsig};

use crate::{KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, crate::Case)] = &[
    ("pread / pwrite: at an offset, the offset untouched, ESPIPE/EINVAL", positioned_io),
    ("readv / writev / preadv / pwritev: scattered buffers, IOV_MAX, EFAULT", vectored_io),
    ("ioctl: FIOCLEX/FIONCLEX, FIONBIO, FIONREAD, ENOTTY, EFAULT", generic_ioctls),
    ("fcntl F_GETPATH/F_NOCACHE/F_FULLFSYNC/F_SETNOSIGPIPE, fsync, getdtablesize", fcntl_commands),
    ("umask: the creation mask, inherited by a child", umasks),
    ("chmod / chown families: owner or root, EPERM, EFTYPE, lchown", modes_and_owners),
    ("access / faccessat: real ids, F_OK, flags", access_checks),
    ("utimes / futimes: explicit times, now, EPERM/EACCES; writes move mtime", file_times),
    ("link / symlink / readlink: links, counts, EXDEV, EPERM", links),
    ("openat / mkdirat / unlinkat / renameat / fstatat64 / linkat / symlinkat / readlinkat", at_calls),
    ("kern.maxfiles: ENFILE past it, for files and pipes; everything given back", open_file_limit),
    ("kern.maxvnodes: XNU's boot value; ENFILE past it for every kind of node; given back", vnode_limit),
];

fn cstr_addr(s: &[u8]) -> u64 {
    s.as_ptr() as u64
}

fn stat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64; `path` NUL-terminated.
    unsafe { syscall::stat64(cstr_addr(path), core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn lstat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: as above.
    unsafe { syscall::lstat64(cstr_addr(path), core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn make_file(path: &[u8], text: &[u8]) -> Result<(), &'static str> {
    let fd = open_path(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644).map_err(|_| "create a file")?;
    check(write_bytes(fd, text) == Ok(text.len() as u64), "write the file")?;
    let _ = close(fd);
    Ok(())
}

fn unlink(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::unlink(cstr_addr(path)) }
}

fn rmdir(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::rmdir(cstr_addr(path)) }
}

fn mkdir(path: &[u8], mode: i32) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::mkdir(cstr_addr(path), mode) }
}

fn pread(fd: i32, buf: &mut [u8], off: i64) -> Result<u64, Errno> {
    // SAFETY: `buf` is writable for its length.
    unsafe { syscall::pread(fd, buf.as_mut_ptr() as u64, buf.len(), off) }
}

fn pwrite(fd: i32, buf: &[u8], off: i64) -> Result<u64, Errno> {
    // SAFETY: `buf` is readable for its length.
    unsafe { syscall::pwrite(fd, buf.as_ptr() as u64, buf.len(), off) }
}

/// Runs `body` in a child as uid 501 and reports its exit status (0 = every check held).
/// Runs `body` in a child as uid 501; its exit status.
pub(crate) fn as_user_501(body: fn() -> i32) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            if setuid(501).is_err() {
                exit_process(100);
            }
            exit_process(body())
        }
        Forked::Parent(pid) => {
            let status = waitpid(pid, 0).map_err(|_| "wait4")?.1;
            check(wifexited(status), "the uid-501 child exited")?;
            Ok(wexitstatus(status))
        }
    }
}

fn positioned_io(_: &Args) -> Result<(), &'static str> {
    make_file(b"/tmp/fio-p\0", b"0123456789")?;
    let fd = open_path(b"/tmp/fio-p\0", O_RDWR, 0).map_err(|_| "open")?;
    let mut b = [0u8; 4];
    check(pread(fd, &mut b, 3) == Ok(4) && &b == b"3456", "pread at 3")?;
    check(read_bytes(fd, &mut b) == Ok(4) && &b == b"0123", "the offset did not move")?;
    check(pwrite(fd, b"ab", 8) == Ok(2), "pwrite over the end")?;
    check(pwrite(fd, b"Z", 20) == Ok(1), "pwrite past the end")?;
    check(stat(b"/tmp/fio-p\0").map(|s| s.st_size) == Ok(21), "the file grew to 21")?;
    let mut tail = [9u8; 13];
    check(pread(fd, &mut tail, 8) == Ok(13), "pread across the hole")?;
    check(
        &tail[..2] == b"ab" && tail[2..12].iter().all(|&c| c == 0) && tail[12] == b'Z',
        "a hole reads as zeros",
    )?;
    check(pread(fd, &mut b, 100) == Ok(0), "pread past the end: 0")?;
    check(read_bytes(fd, &mut b) == Ok(4) && &b == b"4567", "still the offset's own bytes")?;
    check(pread(fd, &mut b, -1) == Err(Errno::EINVAL), "negative offset: EINVAL")?;
    check(
        // SAFETY: a length past INT_MAX is refused before memory is touched.
        unsafe { syscall::pread(fd, b.as_mut_ptr() as u64, 1 << 31, 0) } == Err(Errno::EINVAL),
        "nbyte > INT_MAX",
    )?;
    check(
        // SAFETY: as above.
        unsafe { syscall::read(fd, b.as_mut_ptr() as u64, 1 << 31) } == Err(Errno::EINVAL),
        "read nbyte > INT_MAX",
    )?;
    check(pread(fd, &mut b, 0).is_ok(), "pread still fine")?;
    check(
        // SAFETY: an unmapped buffer is EFAULT.
        unsafe { syscall::pread(fd, UNMAPPED_ADDRESS, 4, 0) } == Err(Errno::EFAULT),
        "pread to unmapped: EFAULT",
    )?;
    let _ = close(fd);
    let ro = open_path(b"/tmp/fio-p\0", O_RDONLY, 0).map_err(|_| "open ro")?;
    check(pwrite(ro, b"x", 0) == Err(Errno::EBADF), "pwrite on a read-only descriptor: EBADF")?;
    let _ = close(ro);
    check(pread(999, &mut b, 0) == Err(Errno::EBADF), "bad descriptor: EBADF")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(pwrite(w, b"x", 0) == Err(Errno::ESPIPE), "pwrite on a pipe: ESPIPE")?;
    check(pread(r, &mut b, 0) == Err(Errno::ESPIPE), "pread on a pipe: ESPIPE")?;
    let _ = (close(r), close(w));
    let tty = open_path(b"/dev/console\0", O_RDWR, 0).map_err(|_| "open /dev/console")?;
    check(pwrite(tty, b"", 0) == Err(Errno::ENXIO), "pwrite on a terminal: ENXIO")?;
    let _ = close(tty);
    let null = open_path(b"/dev/null\0", O_RDWR, 0).map_err(|_| "open /dev/null")?;
    check(pwrite(null, b"abc", 5) == Ok(3), "pwrite on /dev/null")?;
    let _ = close(null);
    // O_APPEND: pwrite still lands at the end, as XNU's does.
    let ap = open_path(b"/tmp/fio-p\0", O_WRONLY | O_APPEND, 0).map_err(|_| "open append")?;
    check(pwrite(ap, b"E", 0) == Ok(1), "pwrite on O_APPEND")?;
    let _ = close(ap);
    check(stat(b"/tmp/fio-p\0").map(|s| s.st_size) == Ok(22), "appended at the end")?;
    check(unlink(b"/tmp/fio-p\0").is_ok(), "unlink")?;
    Ok(())
}

/// A user `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy)]
struct IoVec {
    base: u64,
    len: u64,
}

fn iov(buf: &[u8]) -> IoVec {
    IoVec { base: buf.as_ptr() as u64, len: buf.len() as u64 }
}

fn vectored_io(_: &Args) -> Result<(), &'static str> {
    let fd = open_path(b"/tmp/fio-v\0", O_RDWR | O_CREAT | O_TRUNC, 0o644).map_err(|_| "open")?;
    let (a, b, c) = (b"hello".as_slice(), b"".as_slice(), b", world".as_slice());
    let out = [iov(a), iov(b), iov(c)];
    // SAFETY: the iovecs name live buffers.
    check(unsafe { syscall::writev(fd, out.as_ptr() as u64, 3) } == Ok(12), "writev gathers 12 bytes")?;
    let (mut x, mut y) = ([0u8; 3], [0u8; 20]);
    let inv = [IoVec { base: x.as_mut_ptr() as u64, len: 3 }, IoVec { base: y.as_mut_ptr() as u64, len: 20 }];
    // SAFETY: the iovecs name live, writable buffers.
    check(unsafe { syscall::preadv(fd, inv.as_ptr() as u64, 2, 0) } == Ok(12), "preadv scatters 12 bytes")?;
    check(&x == b"hel" && &y[..9] == b"lo, world", "in order, across the buffers")?;
    let two = [iov(b"AB"), iov(b"CD")];
    // SAFETY: as above.
    check(unsafe { syscall::pwritev(fd, two.as_ptr() as u64, 2, 1) } == Ok(4), "pwritev at 1")?;
    check(syscall::lseek(fd, 0, SEEK_SET) == Ok(0), "rewind")?;
    // SAFETY: as above.
    check(unsafe { syscall::readv(fd, inv.as_ptr() as u64, 2) } == Ok(12), "readv")?;
    check(&x == b"hAB" && &y[..9] == b"CD, world", "pwritev's bytes")?;
    // SAFETY: the kernel must refuse these counts and addresses without touching memory.
    unsafe {
        check(syscall::readv(fd, inv.as_ptr() as u64, 0) == Err(Errno::EINVAL), "iovcnt 0: EINVAL")?;
        check(syscall::readv(fd, inv.as_ptr() as u64, 1025) == Err(Errno::EINVAL), "iovcnt 1025: EINVAL")?;
        check(
            syscall::writev(fd, UNMAPPED_ADDRESS, 2) == Err(Errno::EFAULT),
            "unmapped iovec array: EFAULT",
        )?;
        check(syscall::writev(fd, KERNEL_ADDRESS, 2) == Err(Errno::EFAULT), "kernel iovec array: EFAULT")?;
        let huge = [
            IoVec { base: x.as_ptr() as u64, len: u64::MAX / 2 },
            IoVec { base: x.as_ptr() as u64, len: u64::MAX / 2 },
        ];
        check(
            syscall::writev(fd, huge.as_ptr() as u64, 2) == Err(Errno::EINVAL),
            "lengths past SSIZE_MAX: EINVAL",
        )?;
        let bad = [iov(b"ok"), IoVec { base: UNMAPPED_ADDRESS, len: 4 }];
        check(syscall::writev(fd, bad.as_ptr() as u64, 2) == Ok(2), "a bad second buffer: a short write")?;
        check(
            syscall::preadv(fd, inv.as_ptr() as u64, 2, -5) == Err(Errno::EINVAL),
            "preadv negative offset",
        )?;
    }
    // IOV_MAX buffers of one byte each.
    let byte = [7u8; 1];
    let many = [iov(&byte); 1024];
    // SAFETY: every iovec names `byte`.
    check(unsafe { syscall::pwritev(fd, many.as_ptr() as u64, 1024, 0) } == Ok(1024), "IOV_MAX buffers")?;
    let _ = close(fd);
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(
        // SAFETY: as above.
        unsafe { syscall::pwritev(w, out.as_ptr() as u64, 3, 0) } == Err(Errno::ESPIPE),
        "pwritev on a pipe",
    )?;
    // SAFETY: as above.
    check(unsafe { syscall::writev(w, out.as_ptr() as u64, 3) } == Ok(12), "writev on a pipe")?;
    let mut got = [0u8; 12];
    check(read_bytes(r, &mut got) == Ok(12) && &got == b"hello, world", "the pipe has it whole")?;
    let _ = (close(r), close(w));
    check(unlink(b"/tmp/fio-v\0").is_ok(), "unlink")
}

fn ioctl(fd: i32, cmd: u32, data: u64) -> Result<u64, Errno> {
    // SAFETY: callers pass a valid buffer for requests that take one, or a bad one on purpose.
    unsafe { syscall::ioctl(fd, u64::from(cmd), data) }
}

fn generic_ioctls(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(ioctl(r, FIOCLEX, 0) == Ok(0), "FIOCLEX")?;
    check(fcntl(r, F_GETFD, 0) == Ok(FD_CLOEXEC as u64), "close-on-exec is set")?;
    check(ioctl(r, FIONCLEX, 0) == Ok(0), "FIONCLEX")?;
    check(fcntl(r, F_GETFD, 0) == Ok(0), "close-on-exec is clear")?;
    let on: i32 = 1;
    check(ioctl(r, FIONBIO, core::ptr::from_ref(&on) as u64) == Ok(0), "FIONBIO on")?;
    check(fcntl(r, F_GETFL, 0).is_ok_and(|f| f as u32 & O_NONBLOCK != 0), "O_NONBLOCK shows in F_GETFL")?;
    let mut b = [0u8; 8];
    check(read_bytes(r, &mut b) == Err(Errno::EAGAIN), "an empty non-blocking pipe: EAGAIN")?;
    check(write_bytes(w, b"12345") == Ok(5), "write 5")?;
    let mut n: i32 = -1;
    check(ioctl(r, FIONREAD, core::ptr::from_mut(&mut n) as u64) == Ok(0) && n == 5, "FIONREAD: 5")?;
    check(ioctl(r, FIONREAD, UNMAPPED_ADDRESS) == Err(Errno::EFAULT), "FIONREAD to unmapped: EFAULT")?;
    let off: i32 = 0;
    check(ioctl(r, FIONBIO, core::ptr::from_ref(&off) as u64) == Ok(0), "FIONBIO off")?;
    check(fcntl(r, F_GETFL, 0).is_ok_and(|f| f as u32 & O_NONBLOCK == 0), "O_NONBLOCK cleared")?;
    check(ioctl(r, FIONBIO, UNMAPPED_ADDRESS) == Err(Errno::EFAULT), "FIONBIO from unmapped: EFAULT")?;
    let _ = (close(r), close(w));
    make_file(b"/tmp/fio-i\0", b"abc")?;
    let fd = open_path(b"/tmp/fio-i\0", O_RDONLY, 0).map_err(|_| "open")?;
    check(ioctl(fd, FIONREAD, core::ptr::from_mut(&mut n) as u64) == Ok(0) && n == 3, "FIONREAD on a file")?;
    // TIOCGWINSZ on a regular file: not a terminal.
    check(
        ioctl(fd, 0x4008_7468, b.as_mut_ptr() as u64) == Err(Errno::ENOTTY),
        "a tty request on a file: ENOTTY",
    )?;
    // SAFETY: a request wider than 32 bits names nothing.
    check(unsafe { syscall::ioctl(fd, 1 << 40, 0) } == Err(Errno::ENOTTY), "a 64-bit request: ENOTTY")?;
    let _ = close(fd);
    check(ioctl(fd, FIOCLEX, 0) == Err(Errno::EBADF), "closed descriptor: EBADF")?;
    check(unlink(b"/tmp/fio-i\0").is_ok(), "unlink")
}

fn fcntl_commands(_: &Args) -> Result<(), &'static str> {
    check(mkdir(b"/tmp/fio-dir\0", 0o755).is_ok(), "mkdir")?;
    make_file(b"/tmp/fio-dir/file\0", b"x")?;
    let fd = open_path(b"/tmp/fio-dir/file\0", O_RDWR, 0).map_err(|_| "open")?;
    let mut path = [0u8; 1024];
    check(fcntl(fd, F_GETPATH, path.as_mut_ptr() as i64) == Ok(0), "F_GETPATH")?;
    check(path.starts_with(b"/tmp/fio-dir/file\0"), "F_GETPATH names the file")?;
    check(
        fcntl(fd, F_GETPATH, UNMAPPED_ADDRESS as i64) == Err(Errno::EFAULT),
        "F_GETPATH to unmapped: EFAULT",
    )?;
    let root = open_path(b"/\0", O_RDONLY, 0).map_err(|_| "open /")?;
    check(
        fcntl(root, F_GETPATH, path.as_mut_ptr() as i64) == Ok(0) && path.starts_with(b"/\0"),
        "F_GETPATH of /",
    )?;
    let _ = close(root);
    check(fcntl(fd, F_NOCACHE, 1) == Ok(0), "F_NOCACHE accepted")?;
    check(fcntl(fd, F_FULLFSYNC, 0) == Ok(0), "F_FULLFSYNC")?;
    check(syscall::fsync(fd) == Ok(0), "fsync")?;
    let _ = close(fd);
    check(syscall::fsync(fd) == Err(Errno::EBADF), "fsync closed: EBADF")?;
    check(syscall::getdtablesize() == Ok(256), "getdtablesize: the RLIMIT_NOFILE default, 256")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(syscall::fsync(w) == Err(Errno::ENOTSUP), "fsync of a pipe: ENOTSUP")?;
    check(fcntl(r, F_GETPATH, path.as_mut_ptr() as i64) == Err(Errno::EBADF), "F_GETPATH of a pipe: EBADF")?;
    check(fcntl(w, F_GETNOSIGPIPE, 0) == Ok(0), "no-SIGPIPE starts off")?;
    check(fcntl(w, F_SETNOSIGPIPE, 1) == Ok(0), "F_SETNOSIGPIPE")?;
    check(fcntl(w, F_GETNOSIGPIPE, 0) == Ok(1), "F_GETNOSIGPIPE: 1")?;
    let _ = close(r);
    // The flag belongs to the description: a dup sees it; the write gets EPIPE and the
    // process (SIGPIPE's default action would end it) lives on.
    let w2 = syscall::dup(w as u32).map_err(|_| "dup")? as i32;
    check(fcntl(w2, F_GETNOSIGPIPE, 0) == Ok(1), "a dup shares the flag")?;
    check(write_bytes(w2, b"x") == Err(Errno::EPIPE), "no reader: EPIPE, no SIGPIPE")?;
    let _ = (close(w), close(w2));
    // Without the flag the same write kills a child with SIGPIPE.
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let _ = close(r);
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = write_bytes(w, b"x");
            exit_process(0)
        }
        Forked::Parent(pid) => waitpid(pid, 0).map_err(|_| "wait4")?.1,
    };
    let _ = close(w);
    check(
        wifsignaled(status) && wtermsig(status) == sys::signal::SIGPIPE as i32,
        "SIGPIPE without the flag",
    )?;
    let _ = unlink(b"/tmp/fio-dir/file\0");
    check(rmdir(b"/tmp/fio-dir\0").is_ok(), "rmdir")
}

fn umasks(_: &Args) -> Result<(), &'static str> {
    check(syscall::umask(0o077) == Ok(0o022), "umask starts at 022")?;
    check(syscall::umask(0o077) == Ok(0o077), "umask returns the mask before")?;
    let fd = open_path(b"/tmp/fio-um\0", O_WRONLY | O_CREAT | O_EXCL, 0o666).map_err(|_| "create")?;
    let _ = close(fd);
    check(stat(b"/tmp/fio-um\0").map(|s| s.st_mode & 0o7777) == Ok(0o600), "0666 & ~077 = 0600")?;
    check(mkdir(b"/tmp/fio-umd\0", 0o777).is_ok(), "mkdir")?;
    check(stat(b"/tmp/fio-umd\0").map(|s| s.st_mode & 0o7777) == Ok(0o700), "mkdir 0777 & ~077 = 0700")?;
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(if syscall::umask(0o022) == Ok(0o077) { 0 } else { 1 }),
        Forked::Parent(pid) => waitpid(pid, 0).map_err(|_| "wait4")?.1,
    };
    check(wifexited(status) && wexitstatus(status) == 0, "a child inherits the mask")?;
    check(syscall::umask(0o1777 | 0o170000) == Ok(0o077), "restore")?;
    check(syscall::umask(0o022) == Ok(0o1777), "only the 07777 bits are kept")?;
    let _ = (unlink(b"/tmp/fio-um\0"), rmdir(b"/tmp/fio-umd\0"));
    Ok(())
}

fn chmod(path: &[u8], mode: i32) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::chmod(cstr_addr(path), mode) }
}

fn chown(path: &[u8], uid: u32, gid: u32) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::chown(cstr_addr(path), uid, gid) }
}

fn mode_of(path: &[u8]) -> u16 {
    stat(path).map_or(0xffff, |s| s.st_mode & 0o7777)
}

fn modes_and_owners(_: &Args) -> Result<(), &'static str> {
    make_file(b"/tmp/fio-m\0", b"m")?;
    check(chmod(b"/tmp/fio-m\0", 0o4751) == Ok(0) && mode_of(b"/tmp/fio-m\0") == 0o4751, "root's chmod")?;
    check(
        chmod(b"/tmp/fio-m\0", 0o170644) == Ok(0) && mode_of(b"/tmp/fio-m\0") == 0o644,
        "type bits ignored",
    )?;
    let fd = open_path(b"/tmp/fio-m\0", O_RDONLY, 0).map_err(|_| "open")?;
    check(syscall::fchmod(fd, 0o600) == Ok(0) && mode_of(b"/tmp/fio-m\0") == 0o600, "fchmod")?;
    check(syscall::fchown(fd, 7, 8) == Ok(0), "fchown")?;
    check(stat(b"/tmp/fio-m\0").map(|s| (s.st_uid, s.st_gid)) == Ok((7, 8)), "the new owner")?;
    check(chown(b"/tmp/fio-m\0", u32::MAX, 0) == Ok(0), "chown keeping the owner (-1)")?;
    check(stat(b"/tmp/fio-m\0").map(|s| (s.st_uid, s.st_gid)) == Ok((7, 0)), "only the group changed")?;
    let _ = close(fd);
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(syscall::fchmod(r, 0o600) == Err(Errno::EINVAL), "fchmod of a pipe: EINVAL")?;
    let _ = (close(r), close(w));
    check(chmod(b"/tmp/no-such\0", 0o600) == Err(Errno::ENOENT), "chmod of a missing file")?;
    check(
        // SAFETY: a bad path pointer is EFAULT.
        unsafe { syscall::chmod(UNMAPPED_ADDRESS, 0o600) } == Err(Errno::EFAULT),
        "chmod bad path: EFAULT",
    )?;
    // lchown: the link itself, not its target.
    check(
        // SAFETY: both strings are NUL-terminated.
        unsafe { syscall::symlink(cstr_addr(b"fio-m\0"), cstr_addr(b"/tmp/fio-ml\0")) } == Ok(0),
        "symlink",
    )?;
    // SAFETY: as above.
    check(unsafe { syscall::lchown(cstr_addr(b"/tmp/fio-ml\0"), 9, 9) } == Ok(0), "lchown")?;
    check(lstat(b"/tmp/fio-ml\0").map(|s| s.st_uid) == Ok(9), "the link changed owner")?;
    check(stat(b"/tmp/fio-m\0").map(|s| s.st_uid) == Ok(7), "the target did not")?;
    check(
        // SAFETY: as above.
        unsafe { syscall::fchmodat(AT_FDCWD, cstr_addr(b"/tmp/fio-m\0"), 0o640, 0x1000) }
            == Err(Errno::EINVAL),
        "fchmodat bad flag",
    )?;
    // Give the file to uid 501 and see what 501 may do to it and to root's files.
    check(chown(b"/tmp/fio-m\0", 501, 20) == Ok(0) && chmod(b"/tmp/fio-m\0", 0o644) == Ok(0), "give to 501")?;
    make_file(b"/tmp/fio-root\0", b"r")?;
    let code = as_user_501(|| {
        if chmod(b"/tmp/fio-root\0", 0o777) != Err(Errno::EPERM) {
            return 1;
        }
        if chown(b"/tmp/fio-root\0", 501, 20) != Err(Errno::EPERM) {
            return 2;
        }
        if chmod(b"/tmp/fio-m\0", 0o600) != Ok(0) || mode_of(b"/tmp/fio-m\0") != 0o600 {
            return 3;
        }
        // The sticky bit is for directories only, unless you are root.
        if chmod(b"/tmp/fio-m\0", 0o1600) != Err(Errno::EFTYPE) {
            return 4;
        }
        // Giving the file away: EPERM; to a group 501 is not in: EPERM.
        if chown(b"/tmp/fio-m\0", 0, u32::MAX) != Err(Errno::EPERM)
            || chown(b"/tmp/fio-m\0", u32::MAX, 12345) != Err(Errno::EPERM)
        {
            return 5;
        }
        // Set-group-id on a file of a group it is not in (20; 501's group is still root's
        // 0 after setuid) is dropped.
        if chmod(b"/tmp/fio-m\0", 0o2644) != Ok(0) || mode_of(b"/tmp/fio-m\0") & S_ISGID != 0 {
            return 6;
        }
        0
    })?;
    check(code == 0, "uid 501's chmod/chown rules (see the child's code)")?;
    check(
        chmod(b"/tmp/fio-m\0", 0o1644) == Ok(0) && mode_of(b"/tmp/fio-m\0") & S_ISVTX != 0,
        "root may set sticky",
    )?;
    let _ = (unlink(b"/tmp/fio-ml\0"), unlink(b"/tmp/fio-m\0"), unlink(b"/tmp/fio-root\0"));
    Ok(())
}

fn access(path: &[u8], mode: i32) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::access(cstr_addr(path), mode) }
}

fn access_checks(_: &Args) -> Result<(), &'static str> {
    make_file(b"/tmp/fio-a\0", b"a")?;
    check(chmod(b"/tmp/fio-a\0", 0o640) == Ok(0), "chmod")?;
    // A group uid 501 (whose group is still root's 0 after setuid) is not in.
    check(chown(b"/tmp/fio-a\0", 0, 12345) == Ok(0), "chown")?;
    check(access(b"/tmp/fio-a\0", F_OK) == Ok(0), "F_OK")?;
    check(access(b"/tmp/fio-a\0", R_OK | W_OK) == Ok(0), "root may read and write")?;
    check(access(b"/tmp/fio-a\0", X_OK) == Err(Errno::EACCES), "root may not execute a file with no x bit")?;
    check(access(b"/tmp/fio-none\0", F_OK) == Err(Errno::ENOENT), "missing: ENOENT")?;
    check(access(b"/tmp\0", X_OK | W_OK) == Ok(0), "a directory: search and write")?;
    // SAFETY: NUL-terminated path.
    let at = |flag| unsafe { syscall::faccessat(AT_FDCWD, cstr_addr(b"/tmp/fio-a\0"), R_OK, flag) };
    check(at(0x1) == Err(Errno::EINVAL), "faccessat bad flag: EINVAL")?;
    check(at(AT_EACCESS) == Ok(0), "faccessat AT_EACCESS")?;
    let code = as_user_501(|| {
        if access(b"/tmp/fio-a\0", R_OK) != Err(Errno::EACCES) {
            return 1;
        }
        if access(b"/tmp/fio-a\0", F_OK) != Ok(0) {
            return 2;
        }
        if access(b"/bin\0", W_OK) != Err(Errno::EACCES) || access(b"/bin\0", R_OK | X_OK) != Ok(0) {
            return 3;
        }
        0
    })?;
    check(code == 0, "uid 501's access answers (see the child's code)")?;
    let _ = unlink(b"/tmp/fio-a\0");
    Ok(())
}

fn utimes(path: &[u8], tv: Option<&[Timeval; 2]>) -> Result<u64, Errno> {
    let tp = tv.map_or(0, |t| t.as_ptr() as u64);
    // SAFETY: `path` is NUL-terminated, `tp` NULL or two timevals.
    unsafe { syscall::utimes(cstr_addr(path), tp) }
}

fn file_times(_: &Args) -> Result<(), &'static str> {
    make_file(b"/tmp/fio-t\0", b"t")?;
    let st = stat(b"/tmp/fio-t\0").map_err(|_| "stat")?;
    check(st.st_mtimespec.tv_sec > 1_000_000_000, "a new file has a real modification time")?;
    check(
        st.st_birthtimespec == st.st_ctimespec || st.st_birthtimespec.tv_sec <= st.st_ctimespec.tv_sec,
        "birth ≤ change",
    )?;
    let tv = [Timeval { tv_sec: 1000, tv_usec: 5, _pad: 0 }, Timeval { tv_sec: 2000, tv_usec: 7, _pad: 0 }];
    check(utimes(b"/tmp/fio-t\0", Some(&tv)) == Ok(0), "utimes")?;
    let st = stat(b"/tmp/fio-t\0").map_err(|_| "stat")?;
    check(
        (st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec) == (1000, 5000),
        "atime from tv[0], usec × 1000",
    )?;
    check((st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec) == (2000, 7000), "mtime from tv[1]")?;
    check(st.st_ctimespec.tv_sec > 2000, "ctime is now")?;
    let fd = open_path(b"/tmp/fio-t\0", O_WRONLY, 0).map_err(|_| "open")?;
    check(write_bytes(fd, b"more") == Ok(4), "write")?;
    check(stat(b"/tmp/fio-t\0").is_ok_and(|s| s.st_mtimespec.tv_sec > 2000), "a write moves mtime")?;
    // SAFETY: NULL means now.
    check(unsafe { syscall::futimes(fd, 0) } == Ok(0), "futimes(NULL)")?;
    // SAFETY: an unmapped pointer is EFAULT.
    check(unsafe { syscall::futimes(fd, UNMAPPED_ADDRESS) } == Err(Errno::EFAULT), "futimes bad pointer")?;
    let _ = close(fd);
    check(utimes(b"/tmp/fio-none\0", None) == Err(Errno::ENOENT), "utimes missing: ENOENT")?;
    check(chmod(b"/tmp/fio-t\0", 0o644) == Ok(0), "chmod")?;
    let code = as_user_501(|| {
        let tv = [Timeval::default(); 2];
        if utimes(b"/tmp/fio-t\0", Some(&tv)) != Err(Errno::EPERM) {
            return 1;
        }
        // "Now" needs write permission, which 501 lacks.
        if utimes(b"/tmp/fio-t\0", None) != Err(Errno::EACCES) {
            return 2;
        }
        0
    })?;
    check(code == 0, "uid 501's utimes answers (see the child's code)")?;
    check(chmod(b"/tmp/fio-t\0", 0o666) == Ok(0), "chmod 666")?;
    let code = as_user_501(|| if utimes(b"/tmp/fio-t\0", None) == Ok(0) { 0 } else { 1 })?;
    check(code == 0, "anyone who may write may set the times to now")?;
    let _ = unlink(b"/tmp/fio-t\0");
    Ok(())
}

fn readlink(path: &[u8], buf: &mut [u8]) -> Result<u64, Errno> {
    // SAFETY: `path` NUL-terminated, `buf` writable.
    unsafe { syscall::readlink(cstr_addr(path), buf.as_mut_ptr() as u64, buf.len() as i32) }
}

fn link(from: &[u8], to: &[u8]) -> Result<u64, Errno> {
    // SAFETY: both NUL-terminated.
    unsafe { syscall::link(cstr_addr(from), cstr_addr(to)) }
}

fn links(_: &Args) -> Result<(), &'static str> {
    make_file(b"/tmp/fio-l\0", b"linked")?;
    check(link(b"/tmp/fio-l\0", b"/tmp/fio-l2\0") == Ok(0), "link")?;
    let (a, b) = (stat(b"/tmp/fio-l\0").map_err(|_| "stat")?, stat(b"/tmp/fio-l2\0").map_err(|_| "stat2")?);
    check(a.st_ino == b.st_ino && a.st_nlink == 2, "one file, two links")?;
    check(link(b"/tmp/fio-l\0", b"/tmp/fio-l2\0") == Err(Errno::EEXIST), "the name taken: EEXIST")?;
    check(link(b"/tmp\0", b"/tmp/fio-dirlink\0") == Err(Errno::EPERM), "a directory: EPERM")?;
    check(link(b"/tmp/fio-l\0", b"/fio-cross\0") == Err(Errno::EXDEV), "across file systems: EXDEV")?;
    check(link(b"/tmp/none\0", b"/tmp/fio-x\0") == Err(Errno::ENOENT), "missing source: ENOENT")?;
    check(unlink(b"/tmp/fio-l\0").is_ok(), "unlink one")?;
    check(stat(b"/tmp/fio-l2\0").map(|s| s.st_nlink) == Ok(1), "one link left")?;
    // Symbolic links.
    check(
        // SAFETY: both NUL-terminated.
        unsafe { syscall::symlink(cstr_addr(b"fio-l2\0"), cstr_addr(b"/tmp/fio-s\0")) } == Ok(0),
        "symlink",
    )?;
    check(lstat(b"/tmp/fio-s\0").map(|s| s.st_mode & S_IFMT) == Ok(S_IFLNK), "lstat sees a link")?;
    check(lstat(b"/tmp/fio-s\0").map(|s| s.st_mode & 0o777) == Ok(0o755), "mode 0777 less the umask")?;
    let mut buf = [0u8; 32];
    check(readlink(b"/tmp/fio-s\0", &mut buf) == Ok(6) && &buf[..6] == b"fio-l2", "readlink: no NUL")?;
    check(
        readlink(b"/tmp/fio-s\0", &mut buf[..3]) == Ok(3) && &buf[..3] == b"fio",
        "truncated to the buffer",
    )?;
    check(readlink(b"/tmp/fio-l2\0", &mut buf) == Err(Errno::EINVAL), "not a link: EINVAL")?;
    check(
        // SAFETY: a negative count is refused.
        unsafe { syscall::readlink(cstr_addr(b"/tmp/fio-s\0"), buf.as_mut_ptr() as u64, -1) }
            == Err(Errno::EINVAL),
        "negative count",
    )?;
    check(
        // SAFETY: an unmapped buffer is EFAULT.
        unsafe { syscall::readlink(cstr_addr(b"/tmp/fio-s\0"), UNMAPPED_ADDRESS, 8) } == Err(Errno::EFAULT),
        "bad buffer",
    )?;
    check(stat(b"/tmp/fio-s\0").map(|s| s.st_size) == Ok(6), "stat follows the link")?;
    check(
        // SAFETY: as above.
        unsafe { syscall::symlink(cstr_addr(b"x\0"), cstr_addr(b"/tmp/fio-s\0")) } == Err(Errno::EEXIST),
        "symlink over a name",
    )?;
    // link() follows a final symbolic link: the new name is the target's.
    check(link(b"/tmp/fio-s\0", b"/tmp/fio-l3\0") == Ok(0), "link through a symlink")?;
    check(
        lstat(b"/tmp/fio-l3\0").map(|s| s.st_mode & S_IFMT) == Ok(sys::stat::S_IFREG),
        "a link to the file",
    )?;
    let _ = (unlink(b"/tmp/fio-s\0"), unlink(b"/tmp/fio-l2\0"), unlink(b"/tmp/fio-l3\0"));
    Ok(())
}

fn at_calls(_: &Args) -> Result<(), &'static str> {
    check(mkdir(b"/tmp/fio-at\0", 0o755).is_ok(), "mkdir")?;
    let d = open_path(b"/tmp/fio-at\0", O_RDONLY | O_DIRECTORY, 0).map_err(|_| "open dir")?;
    // SAFETY: (for every call below) each path is a NUL-terminated string, each buffer live.
    unsafe {
        let fd = syscall::openat(d, cstr_addr(b"f\0"), (O_WRONLY | O_CREAT) as i32, 0o644)
            .map_err(|_| "openat")? as i32;
        check(write_bytes(fd, b"at") == Ok(2), "write")?;
        let _ = close(fd);
        check(stat(b"/tmp/fio-at/f\0").map(|s| s.st_size) == Ok(2), "openat made it in the directory")?;
        check(syscall::mkdirat(d, cstr_addr(b"sub\0"), 0o700) == Ok(0), "mkdirat")?;
        check(stat(b"/tmp/fio-at/sub\0").is_ok(), "the directory exists")?;
        check(syscall::renameat(d, cstr_addr(b"f\0"), d, cstr_addr(b"sub/g\0")) == Ok(0), "renameat")?;
        let mut st = Stat64::default();
        let stp = core::ptr::from_mut(&mut st) as u64;
        check(syscall::fstatat64(d, cstr_addr(b"sub/g\0"), stp, 0) == Ok(0) && st.st_size == 2, "fstatat64")?;
        check(syscall::symlinkat(cstr_addr(b"sub/g\0"), d, cstr_addr(b"ln\0")) == Ok(0), "symlinkat")?;
        check(
            syscall::fstatat64(d, cstr_addr(b"ln\0"), stp, AT_SYMLINK_NOFOLLOW) == Ok(0)
                && st.st_mode & S_IFMT == S_IFLNK,
            "fstatat64 NOFOLLOW",
        )?;
        check(
            syscall::fstatat64(d, cstr_addr(b"ln\0"), stp, 0) == Ok(0) && st.st_size == 2,
            "fstatat64 follows",
        )?;
        check(
            syscall::fstatat64(d, cstr_addr(b"ln\0"), stp, 0x4) == Err(Errno::EINVAL),
            "fstatat64 bad flag",
        )?;
        let mut buf = [0u8; 16];
        check(
            syscall::readlinkat(d, cstr_addr(b"ln\0"), buf.as_mut_ptr() as u64, 16) == Ok(5)
                && &buf[..5] == b"sub/g",
            "readlinkat",
        )?;
        check(
            syscall::linkat(d, cstr_addr(b"ln\0"), d, cstr_addr(b"hard\0"), 0) == Ok(0),
            "linkat of the link itself",
        )?;
        check(
            lstat(b"/tmp/fio-at/hard\0").map(|s| s.st_mode & S_IFMT) == Ok(S_IFLNK),
            "linkat without FOLLOW links the symlink",
        )?;
        check(
            syscall::linkat(d, cstr_addr(b"ln\0"), d, cstr_addr(b"hard2\0"), AT_SYMLINK_FOLLOW) == Ok(0),
            "linkat FOLLOW",
        )?;
        check(stat(b"/tmp/fio-at/sub/g\0").map(|s| s.st_nlink) == Ok(2), "the target got the link")?;
        check(
            syscall::linkat(d, cstr_addr(b"ln\0"), d, cstr_addr(b"h3\0"), 0x1) == Err(Errno::EINVAL),
            "linkat bad flag",
        )?;
        check(syscall::faccessat(d, cstr_addr(b"sub\0"), X_OK, 0) == Ok(0), "faccessat relative")?;
        check(
            syscall::fchmodat(d, cstr_addr(b"sub\0"), 0o750, 0) == Ok(0)
                && mode_of(b"/tmp/fio-at/sub\0") == 0o750,
            "fchmodat",
        )?;
        check(syscall::fchownat(d, cstr_addr(b"sub\0"), 3, 4, 0) == Ok(0), "fchownat")?;
        check(stat(b"/tmp/fio-at/sub\0").map(|s| (s.st_uid, s.st_gid)) == Ok((3, 4)), "fchownat's owner")?;
        // Errors: a descriptor that is not a directory, one that is not open, bad flags; an
        // absolute path does not look at the descriptor.
        let f = open_path(b"/tmp/fio-at/sub/g\0", O_RDONLY, 0).map_err(|_| "open g")?;
        check(
            syscall::openat(f, cstr_addr(b"x\0"), O_RDONLY as i32, 0) == Err(Errno::ENOTDIR),
            "openat on a file fd: ENOTDIR",
        )?;
        check(
            syscall::openat(999, cstr_addr(b"x\0"), O_RDONLY as i32, 0) == Err(Errno::EBADF),
            "openat bad fd: EBADF",
        )?;
        let abs = syscall::openat(999, cstr_addr(b"/tmp/fio-at/sub/g\0"), O_RDONLY as i32, 0);
        check(abs.is_ok(), "an absolute path ignores the descriptor")?;
        let _ = close(abs.unwrap_or(0) as i32);
        let _ = close(f);
        check(
            syscall::unlinkat(d, cstr_addr(b"sub\0"), 0) == Err(Errno::EPERM),
            "unlinkat of a directory without AT_REMOVEDIR: EPERM",
        )?;
        check(syscall::unlinkat(d, cstr_addr(b"sub\0"), 0x1) == Err(Errno::EINVAL), "unlinkat bad flag")?;
        for name in [&b"ln\0"[..], b"hard\0", b"hard2\0", b"sub/g\0"] {
            check(syscall::unlinkat(d, cstr_addr(name), 0) == Ok(0), "unlinkat")?;
        }
        check(syscall::unlinkat(d, cstr_addr(b"sub\0"), AT_REMOVEDIR) == Ok(0), "unlinkat AT_REMOVEDIR")?;
        check(stat(b"/tmp/fio-at/sub\0") == Err(Errno::ENOENT), "gone")?;
        // AT_FDCWD: relative to the working directory.
        check(syscall::fstatat64(AT_FDCWD, cstr_addr(b"/tmp/fio-at\0"), stp, 0) == Ok(0), "AT_FDCWD")?;
    }
    let _ = close(d);
    check(rmdir(b"/tmp/fio-at\0").is_ok(), "rmdir")
}

fn sysctl_int(name: &[u8]) -> Result<i32, &'static str> {
    let mut b = [0u8; 4];
    let n = libsys::introspect::sysctlbyname_read(name, &mut b).map_err(|_| "sysctlbyname")?;
    check(n == 4, "an int")?;
    Ok(i32::from_ne_bytes(b))
}

fn set_sysctl_int(name: &[u8], v: i32) -> Result<u64, Errno> {
    // SAFETY: the name and the new value are live for the lengths given.
    unsafe {
        syscall::sysctlbyname(name.as_ptr() as u64, name.len(), 0, 0, core::ptr::from_ref(&v) as u64, 4)
    }
}

fn set_maxfiles(v: i32) -> Result<u64, Errno> {
    set_sysctl_int(b"kern.maxfiles", v)
}

fn set_maxvnodes(v: i32) -> Result<u64, Errno> {
    set_sysctl_int(b"kern.maxvnodes", v)
}

fn vnode_limit(_: &Args) -> Result<(), &'static str> {
    let max = sysctl_int(b"kern.maxvnodes\0")?;
    let mut mem = [0u8; 8];
    check(libsys::introspect::sysctlbyname_read(b"hw.memsize\0", &mut mem) == Ok(8), "hw.memsize")?;
    let desired = (u64::from_ne_bytes(mem) / 65536 + 1024).min(263_168);
    check(max as u64 == desired, "kern.maxvnodes: memsize / 64 KiB + 1024, as XNU's desiredvnodes")?;
    check(mkdir(b"/tmp/fio-vn\0", 0o755) == Ok(0), "mkdir")?;
    let before = sysctl_int(b"kern.num_vnodes\0")?;
    check(before > 0 && before < max, "kern.num_vnodes counts the vnodes")?;
    // Room for three more vnodes in the whole system.
    check(set_maxvnodes(before + 3) == Ok(0), "root sets kern.maxvnodes")?;
    let made = [
        open_path(b"/tmp/fio-vn/a\0", O_RDWR | O_CREAT, 0o644).map(close).is_ok(),
        mkdir(b"/tmp/fio-vn/b\0", 0o755).is_ok(),
        // SAFETY: both paths are NUL-terminated.
        unsafe { syscall::symlink(cstr_addr(b"a\0"), cstr_addr(b"/tmp/fio-vn/c\0")) }.is_ok(),
    ];
    let full = sysctl_int(b"kern.num_vnodes\0");
    let past = [
        open_path(b"/tmp/fio-vn/d\0", O_RDWR | O_CREAT, 0o644).map(close).err(),
        mkdir(b"/tmp/fio-vn/e\0", 0o755).err(),
        // SAFETY: as above.
        unsafe { syscall::symlink(cstr_addr(b"a\0"), cstr_addr(b"/tmp/fio-vn/f\0")) }.err(),
        // SAFETY: the path is NUL-terminated.
        unsafe { syscall::mkfifo(cstr_addr(b"/tmp/fio-vn/g\0"), 0o644) }.err(),
    ];
    // What exists still opens: no new vnode is needed.
    let reopen = open_path(b"/tmp/fio-vn/a\0", O_RDONLY, 0).map(close);
    check(set_maxvnodes(max) == Ok(0), "kern.maxvnodes back")?;
    check(made.iter().all(|&ok| ok), "nodes under the limit")?;
    check(full == Ok(before + 3), "each node is one vnode")?;
    check(past.iter().all(|&e| e == Some(Errno::ENFILE)), "create, mkdir, symlink, mkfifo past it: ENFILE")?;
    check(stat(b"/tmp/fio-vn/d\0") == Err(Errno::ENOENT), "a refused create leaves no name")?;
    check(reopen.is_ok(), "an existing file opens at the limit")?;
    check(unlink(b"/tmp/fio-vn/a\0").is_ok() && unlink(b"/tmp/fio-vn/c\0").is_ok(), "unlink")?;
    check(rmdir(b"/tmp/fio-vn/b\0").is_ok() && rmdir(b"/tmp/fio-vn\0").is_ok(), "rmdir")?;
    check(sysctl_int(b"kern.num_vnodes\0")? == before - 1, "every vnode given back")?;
    // Only root may change it, and only to a sane value.
    check(set_maxvnodes(0) == Err(Errno::EINVAL), "0: EINVAL")?;
    check(set_maxvnodes(-1) == Err(Errno::EINVAL), "negative: EINVAL")?;
    let user = as_user_501(|| i32::from(set_maxvnodes(100) != Err(Errno::EPERM)))?;
    check(user == 0, "uid 501: EPERM")?;
    check(sysctl_int(b"kern.maxvnodes\0")? == max, "unchanged")
}

fn open_file_limit(_: &Args) -> Result<(), &'static str> {
    let max = sysctl_int(b"kern.maxfiles\0")?;
    check(max == 30720, "kern.maxfiles: 3 x OPEN_MAX")?;
    let before = sysctl_int(b"kern.num_files\0")?;
    check(before > 0 && before < max, "kern.num_files counts open descriptions")?;
    // Room for five more descriptions in the whole system.
    check(set_maxfiles(before + 5) == Ok(0), "root sets kern.maxfiles")?;
    let mut fds = [0i32; 5];
    let mut opened = 0;
    let mut why = Ok(());
    for slot in fds.iter_mut() {
        match open_path(b"/dev/null\0", O_RDONLY, 0) {
            Ok(fd) => {
                *slot = fd;
                opened += 1;
            }
            Err(_) => why = Err("opens under the limit"),
        }
    }
    // Full now (unless something else in the system closed one meanwhile: nothing runs).
    let past = open_path(b"/dev/null\0", O_RDONLY, 0);
    let pipe_past = pipe();
    let dup_ok = syscall::dup(fds[0] as u32).map(|fd| close(fd as i32));
    check(set_maxfiles(max) == Ok(0), "kern.maxfiles back")?;
    for &fd in &fds[..opened] {
        let _ = close(fd);
    }
    why?;
    check(past == Err(Errno::ENFILE), "open past kern.maxfiles: ENFILE")?;
    check(pipe_past.err() == Some(Errno::ENFILE), "pipe past kern.maxfiles: ENFILE")?;
    check(dup_ok.is_ok(), "dup shares a description: no new one needed")?;
    check(sysctl_int(b"kern.num_files\0")? == before, "every description given back")?;
    // Only root may change it, and only to a sane value.
    check(set_maxfiles(0) == Err(Errno::EINVAL), "0: EINVAL")?;
    check(set_maxfiles(-1) == Err(Errno::EINVAL), "negative: EINVAL")?;
    let user = as_user_501(|| i32::from(set_maxfiles(100) != Err(Errno::EPERM)))?;
    check(user == 0, "uid 501: EPERM")?;
    check(sysctl_int(b"kern.maxfiles\0")? == max, "unchanged")
}
