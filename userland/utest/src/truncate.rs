//! File lengths, advisory locks and file system statistics (issue 15, B4 VFS):
//! truncate/ftruncate and open's O_TRUNC, flock, and statfs64/fstatfs64/getfsstat64 — with
//! the errors XNU's `vfs_syscalls.c`, `kern_descrip.c` and `kern_lockf.c` give them and the
//! behaviour Darwin's manual pages promise (a longer file reads as zeros; a lock belongs to
//! the open file description and goes with its last close; a signal interrupts a wait).

use libsys::process::{Forked, fork, pipe, waitpid};
use libsys::signal::{install, kill, signal_action};
use libsys::syscall::{
    self, close, dup, exit_process, fcntl, flock, fstatfs, ftruncate, getfsstat, open_path, read_bytes,
    setuid, statfs_path, truncate_path, write_bytes,
};
use libsys::{Args, Errno};
use sys::fcntl::*;
use sys::mount::{
    FT_DEVFS, FT_RAMFS, MFSTYPENAMELEN, MNT_DONTBROWSE, MNT_LOCAL, MNT_NOWAIT, MNT_ROOTFS, MNT_VISFLAGMASK,
    Statfs, name_of,
};
use sys::signal::{SA_RESTART, SIG_DFL, SIG_IGN, SIGUSR1, SIGXFSZ};
use sys::stat::{S_IFLNK, S_IFMT, Stat64};
use sys::time::Timeval;
use sys::wait::{WNOHANG, wexitstatus, wifexited};

use crate::robust::killed_by;
use crate::sched::sleep_ms;
use crate::{KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, crate::Case)] = &[
    ("truncate / ftruncate: cut, grow with zeros, offset kept, mtime, symlinks", lengths),
    ("truncate / ftruncate errors: EINVAL, EISDIR, EACCES, EBADF, ENOSPC, EFBIG + SIGXFSZ", length_errors),
    ("open O_TRUNC: an existing file cut, write permission needed, EISDIR", open_truncates),
    (
        "flock: shared/exclusive, LOCK_NB EWOULDBLOCK, conversion, O_EXLOCK/O_SHLOCK, EBADF/ENOTSUP",
        flock_rules,
    ),
    (
        "flock: a child waits for the parent's lock; a fork shares it; the last close frees it",
        flock_between_processes,
    ),
    ("flock: a signal interrupts a blocked flock (EINTR), SA_RESTART resumes it", flock_interrupted),
    ("statfs64 / fstatfs64: each mount's struct statfs, EFAULT, EINVAL", statfs_calls),
    ("getfsstat64: the count, whole entries only, root first, EFAULT", getfsstat_calls),
];

fn cstr_addr(s: &[u8]) -> u64 {
    s.as_ptr() as u64
}

fn stat(path: &[u8]) -> Result<Stat64, Errno> {
    let mut st = Stat64::default();
    // SAFETY: `st` is a writable Stat64; `path` NUL-terminated.
    unsafe { syscall::stat64(path.as_ptr() as u64, core::ptr::from_mut(&mut st) as u64)? };
    Ok(st)
}

fn size_of(path: &[u8]) -> Option<i64> {
    stat(path).ok().map(|s| s.st_size)
}

fn make_file(path: &[u8], text: &[u8]) -> Result<(), &'static str> {
    let _ = unlink(path);
    let fd = open_path(path, O_WRONLY | O_CREAT, 0o644).map_err(|_| "create a file")?;
    check(write_bytes(fd, text) == Ok(text.len() as u64), "write the file")?;
    let _ = close(fd);
    Ok(())
}

fn unlink(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::unlink(path.as_ptr() as u64) }
}

fn contents(path: &[u8], buf: &mut [u8]) -> Result<usize, &'static str> {
    let fd = open_path(path, O_RDONLY, 0).map_err(|_| "open to read")?;
    let n = read_bytes(fd, buf).map_err(|_| "read")? as usize;
    let _ = close(fd);
    Ok(n)
}

fn pread(fd: i32, buf: &mut [u8], off: i64) -> Result<u64, Errno> {
    // SAFETY: `buf` is writable for its length.
    unsafe { syscall::pread(fd, buf.as_mut_ptr() as u64, buf.len(), off) }
}

fn set_mtime(path: &[u8], sec: i64) -> Result<(), &'static str> {
    let tv = [Timeval { tv_sec: sec, tv_usec: 0, _pad: 0 }, Timeval { tv_sec: sec, tv_usec: 0, _pad: 0 }];
    // SAFETY: `tv` is two timevals; `path` NUL-terminated.
    let r = unsafe { syscall::utimes(path.as_ptr() as u64, tv.as_ptr() as u64) };
    check(r == Ok(0), "utimes")
}

/// Runs `body` in a child as uid 501 and reports its exit status (0 = every check held).
fn as_user_501(body: fn() -> i32) -> Result<i32, &'static str> {
    crate::proc::in_child(|| if setuid(501).is_err() { 100 } else { body() }).and_then(|status| {
        check(wifexited(status), "the uid-501 child exited")?;
        Ok(wexitstatus(status))
    })
}

fn lengths(_: &Args) -> Result<(), &'static str> {
    const P: &[u8] = b"/tmp/tr-a\0";
    make_file(P, b"0123456789")?;
    check(truncate_path(P, 4) == Ok(()), "truncate to 4")?;
    let mut buf = [0xffu8; 32];
    check(contents(P, &mut buf)? == 4 && &buf[..4] == b"0123", "the first 4 bytes are left")?;
    check(truncate_path(P, 10) == Ok(()), "truncate to 10")?;
    let mut buf = [0xffu8; 32];
    check(contents(P, &mut buf)? == 10, "10 bytes long again")?;
    check(&buf[..4] == b"0123" && buf[4..10].iter().all(|&b| b == 0), "grown again: zeros, not 456789")?;
    // ftruncate: the offset stays where it was, past the end or not.
    let fd = open_path(P, O_RDWR, 0).map_err(|_| "open")?;
    check(syscall::lseek(fd, 8, SEEK_SET) == Ok(8), "seek to 8")?;
    check(ftruncate(fd, 2) == Ok(0), "ftruncate to 2")?;
    check(syscall::lseek(fd, 0, SEEK_CUR) == Ok(8), "the offset is untouched")?;
    check(write_bytes(fd, b"Z") == Ok(1), "write at 8, past the end")?;
    let mut buf = [0xffu8; 16];
    check(contents(P, &mut buf)? == 9, "9 bytes")?;
    check(&buf[..9] == b"01\0\0\0\0\0\0Z", "a hole between the cut and the write")?;
    // A large, sparse extension reads as zeros across many pages.
    check(ftruncate(fd, 1 << 20) == Ok(0), "ftruncate to 1 MiB")?;
    check(size_of(P) == Some(1 << 20), "stat sees 1 MiB")?;
    let mut big = [0xffu8; 4096];
    for off in [4096 * 3 - 100, 500_000, (1 << 20) - 4096] {
        check(pread(fd, &mut big, off) == Ok(4096), "read inside the extension")?;
        check(big.iter().all(|&b| b == 0), "the extension is zeros")?;
    }
    check(pread(fd, &mut big, (1 << 20) - 10) == Ok(10), "short read at the new end")?;
    check(pread(fd, &mut big, 1 << 20) == Ok(0), "end of file at the new length")?;
    // A changed length is a modification: mtime and ctime move.
    set_mtime(P, 1000)?;
    check(ftruncate(fd, 3) == Ok(0), "ftruncate to 3")?;
    let st = stat(P).map_err(|_| "stat")?;
    check(st.st_size == 3 && st.st_mtimespec.tv_sec > 1000, "ftruncate moved mtime")?;
    set_mtime(P, 1000)?;
    check(truncate_path(P, 0) == Ok(()), "truncate to 0")?;
    check(stat(P).is_ok_and(|s| s.st_size == 0 && s.st_mtimespec.tv_sec > 1000), "truncate moved mtime")?;
    let _ = close(fd);
    // A symbolic link is followed: the file it names is cut, the link stays.
    make_file(P, b"through a link")?;
    let _ = unlink(b"/tmp/tr-link\0");
    // SAFETY: both strings are NUL-terminated.
    let r = unsafe { syscall::symlink(cstr_addr(b"/tmp/tr-a\0"), cstr_addr(b"/tmp/tr-link\0")) };
    check(r == Ok(0), "symlink")?;
    check(truncate_path(b"/tmp/tr-link\0", 7) == Ok(()), "truncate through the link")?;
    check(size_of(P) == Some(7), "the target was cut")?;
    let mut st = Stat64::default();
    // SAFETY: as `stat`.
    let r = unsafe { syscall::lstat64(cstr_addr(b"/tmp/tr-link\0"), core::ptr::from_mut(&mut st) as u64) };
    check(r == Ok(0) && st.st_mode & S_IFMT == S_IFLNK && st.st_size == 9, "the link is untouched")?;
    let _ = unlink(b"/tmp/tr-link\0");
    let _ = unlink(P);
    Ok(())
}

fn length_errors(_: &Args) -> Result<(), &'static str> {
    const P: &[u8] = b"/tmp/tr-e\0";
    make_file(P, b"0123456789")?;
    check(truncate_path(P, -1) == Err(Errno::EINVAL), "truncate: negative length")?;
    check(truncate_path(b"/tmp\0", 0) == Err(Errno::EISDIR), "truncate: a directory")?;
    check(truncate_path(b"/dev/null\0", 0) == Err(Errno::EINVAL), "truncate: not a regular file")?;
    check(truncate_path(b"/tmp/tr-none\0", 0) == Err(Errno::ENOENT), "truncate: missing")?;
    check(truncate_path(b"/tmp/tr-e/x\0", 0) == Err(Errno::ENOTDIR), "truncate: through a file")?;
    // SAFETY: a bad path pointer is EFAULT.
    check(unsafe { syscall::truncate(UNMAPPED_ADDRESS, 0) } == Err(Errno::EFAULT), "truncate: bad path")?;
    check(size_of(P) == Some(10), "nothing changed")?;
    let fd = open_path(P, O_RDWR, 0).map_err(|_| "open")?;
    check(ftruncate(fd, -1) == Err(Errno::EINVAL), "ftruncate: negative length")?;
    check(ftruncate(999, 0) == Err(Errno::EBADF), "ftruncate: bad descriptor")?;
    let ro = open_path(P, O_RDONLY, 0).map_err(|_| "open ro")?;
    check(ftruncate(ro, 0) == Err(Errno::EINVAL), "ftruncate: not open for writing is EINVAL")?;
    let _ = close(ro);
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(ftruncate(w, 0) == Err(Errno::EINVAL), "ftruncate: a pipe is EINVAL")?;
    let _ = (close(r), close(w));
    let null = open_path(b"/dev/null\0", O_WRONLY, 0).map_err(|_| "open /dev/null")?;
    check(ftruncate(null, 0) == Ok(0), "ftruncate: a device has no length: done, nothing to do")?;
    let _ = close(null);
    // The file system's budget: /tmp cannot hold a terabyte, even a sparse one.
    check(ftruncate(fd, 1 << 40) == Err(Errno::ENOSPC), "ftruncate past /tmp's budget")?;
    check(ftruncate(fd, i64::MAX) == Err(Errno::ENOSPC), "ftruncate to off_t's largest")?;
    check(size_of(P) == Some(10), "a refused growth changes nothing")?;
    let _ = close(fd);
    // Write permission, for truncate; the open's access mode, for ftruncate.
    let code = as_user_501(|| {
        if truncate_path(b"/tmp/tr-e\0", 0) != Err(Errno::EACCES) {
            return 1;
        }
        let Ok(fd) = open_path(b"/tmp/tr-e\0", O_RDONLY, 0) else { return 2 };
        if ftruncate(fd, 0) != Err(Errno::EINVAL) {
            return 3;
        }
        if open_path(b"/tmp/tr-501\0", O_RDWR | O_CREAT, 0o600).is_err()
            || truncate_path(b"/tmp/tr-501\0", 5).is_err()
        {
            return 4;
        }
        0
    })?;
    check(code == 0, "uid 501's truncate answers (see the child's code)")?;
    check(size_of(P) == Some(10), "501 cut nothing")?;
    check(size_of(b"/tmp/tr-501\0") == Some(5), "501 cut its own file")?;
    let _ = unlink(b"/tmp/tr-501\0");
    // RLIMIT_FSIZE: past it, EFBIG and SIGXFSZ (which, by default, ends the process).
    let code = crate::proc::in_child(|| {
        let lim = sys::resource::Rlimit { rlim_cur: 1000, rlim_max: sys::resource::RLIM_INFINITY };
        // SAFETY: `lim` is a valid Rlimit.
        if unsafe { syscall::setrlimit(sys::resource::RLIMIT_FSIZE, core::ptr::from_ref(&lim) as u64) }
            .is_err()
        {
            return 1;
        }
        if install(SIGXFSZ, SIG_IGN, 0, 0).is_err() {
            return 2;
        }
        if truncate_path(b"/tmp/tr-e\0", 1001) != Err(Errno::EFBIG) {
            return 3;
        }
        let Ok(fd) = open_path(b"/tmp/tr-e\0", O_RDWR, 0) else { return 4 };
        if ftruncate(fd, 5000) != Err(Errno::EFBIG) || ftruncate(fd, 1000) != Ok(0) {
            return 5;
        }
        let _ = install(SIGXFSZ, SIG_DFL, 0, 0);
        let _ = ftruncate(fd, 1001);
        6
    })?;
    check(killed_by(code, SIGXFSZ), "past RLIMIT_FSIZE: EFBIG, and SIGXFSZ's default ends the child")?;
    check(size_of(P) == Some(1000), "the child's cut within its limit")?;
    let _ = unlink(P);
    Ok(())
}

fn open_truncates(_: &Args) -> Result<(), &'static str> {
    const P: &[u8] = b"/tmp/tr-o\0";
    make_file(P, b"some old contents")?;
    set_mtime(P, 1000)?;
    let fd = open_path(P, O_WRONLY | O_TRUNC, 0).map_err(|_| "open O_TRUNC")?;
    check(size_of(P) == Some(0), "O_TRUNC cut the file")?;
    check(stat(P).is_ok_and(|s| s.st_mtimespec.tv_sec > 1000), "and moved its mtime")?;
    check(write_bytes(fd, b"new") == Ok(3), "write")?;
    let _ = close(fd);
    let mut buf = [0u8; 32];
    check(contents(P, &mut buf)? == 3 && &buf[..3] == b"new", "only the new bytes")?;
    // Read-only with O_TRUNC cuts too, as XNU's open does.
    let fd = open_path(P, O_RDONLY | O_TRUNC, 0).map_err(|_| "open O_RDONLY|O_TRUNC")?;
    check(size_of(P) == Some(0), "a read-only O_TRUNC cut it")?;
    check(read_bytes(fd, &mut buf) == Ok(0), "nothing to read")?;
    let _ = close(fd);
    let fd =
        open_path(P, O_RDWR | O_CREAT | O_TRUNC, 0o644).map_err(|_| "O_CREAT|O_TRUNC of an existing file")?;
    check(write_bytes(fd, b"kept") == Ok(4), "write")?;
    let _ = close(fd);
    check(
        open_path(b"/tmp\0", O_RDONLY | O_TRUNC, 0) == Err(Errno::EISDIR),
        "O_TRUNC of a directory: EISDIR",
    )?;
    let null = open_path(b"/dev/null\0", O_WRONLY | O_TRUNC, 0).map_err(|_| "O_TRUNC of /dev/null")?;
    let _ = close(null);
    let code = as_user_501(|| {
        // Root's 0644 file: 501 may read it, not cut it.
        if open_path(b"/tmp/tr-o\0", O_RDONLY | O_TRUNC, 0) != Err(Errno::EACCES) {
            return 1;
        }
        0
    })?;
    check(code == 0, "O_TRUNC needs write permission")?;
    check(size_of(P) == Some(4), "a refused O_TRUNC cut nothing")?;
    let _ = unlink(P);
    Ok(())
}

fn flock_rules(_: &Args) -> Result<(), &'static str> {
    const P: &[u8] = b"/tmp/tr-l\0";
    make_file(P, b"lock me")?;
    let a = open_path(P, O_RDONLY, 0).map_err(|_| "open a")?;
    let b = open_path(P, O_RDONLY, 0).map_err(|_| "open b")?;
    check(flock(a, LOCK_EX) == Ok(0), "exclusive, through a read-only descriptor")?;
    check(flock(b, LOCK_SH | LOCK_NB) == Err(Errno::EWOULDBLOCK), "another description: EWOULDBLOCK")?;
    check(flock(b, LOCK_EX | LOCK_NB) == Err(Errno::EWOULDBLOCK), "nor exclusive")?;
    check(Errno::EWOULDBLOCK == Errno::EAGAIN && Errno::EAGAIN.0 == 35, "EWOULDBLOCK is EAGAIN, 35")?;
    let a2 = dup(a as u32).map_err(|_| "dup")? as i32;
    check(flock(a2, LOCK_EX | LOCK_NB) == Ok(0), "a dup shares the description's lock")?;
    check(flock(a, LOCK_SH) == Ok(0), "downgrade to shared")?;
    check(flock(b, LOCK_SH | LOCK_NB) == Ok(0), "now b may share it")?;
    check(flock(a, LOCK_EX | LOCK_NB) == Err(Errno::EWOULDBLOCK), "no upgrade while b shares")?;
    check(flock(b, LOCK_EX | LOCK_NB) == Err(Errno::EWOULDBLOCK), "nor for b")?;
    check(flock(b, LOCK_UN) == Ok(0), "b unlocks")?;
    check(flock(b, LOCK_UN) == Ok(0), "unlocking with no lock is no error")?;
    check(flock(a, LOCK_EX | LOCK_NB) == Ok(0), "upgrade, b gone")?;
    check(flock(a, LOCK_UN | LOCK_EX) == Ok(0), "LOCK_UN wins over the others")?;
    check(flock(b, LOCK_EX | LOCK_NB) == Ok(0), "so b may take it")?;
    check(flock(b, LOCK_UN) == Ok(0), "b unlocks")?;
    check(flock(a, LOCK_EX) == Ok(0), "a again")?;
    let _ = close(a);
    check(flock(b, LOCK_SH | LOCK_NB) == Err(Errno::EWOULDBLOCK), "closing one descriptor keeps the lock")?;
    let _ = close(a2);
    check(flock(b, LOCK_EX | LOCK_NB) == Ok(0), "the last close released it")?;
    // `how` with neither lock nor unlock is EBADF, as XNU answers.
    check(flock(b, 0) == Err(Errno::EBADF), "how 0")?;
    check(flock(b, LOCK_NB) == Err(Errno::EBADF), "LOCK_NB alone")?;
    check(flock(b, 0x10) == Err(Errno::EBADF), "an unknown bit alone")?;
    check(flock(999, LOCK_SH) == Err(Errno::EBADF), "a bad descriptor")?;
    check(flock(-1, LOCK_UN) == Err(Errno::EBADF), "fd -1")?;
    let _ = close(b);
    // Directories lock too; pipes and devices do not (ENOTSUP, 45).
    let d = open_path(b"/tmp\0", O_RDONLY, 0).map_err(|_| "open /tmp")?;
    check(flock(d, LOCK_EX | LOCK_NB) == Ok(0) && flock(d, LOCK_UN) == Ok(0), "a directory")?;
    let _ = close(d);
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(flock(r, LOCK_SH) == Err(Errno::ENOTSUP) && Errno::ENOTSUP.0 == 45, "a pipe: ENOTSUP")?;
    check(flock(w, LOCK_UN) == Err(Errno::ENOTSUP), "LOCK_UN on a pipe")?;
    let _ = (close(r), close(w));
    let null = open_path(b"/dev/null\0", O_RDWR, 0).map_err(|_| "open /dev/null")?;
    check(flock(null, LOCK_EX | LOCK_NB) == Err(Errno::ENOTSUP), "a device: ENOTSUP")?;
    check(flock(null, 0) == Err(Errno::EBADF), "a bad `how` is judged first")?;
    let _ = close(null);
    // open's O_EXLOCK / O_SHLOCK take the same lock for the new description.
    let ex = open_path(P, O_RDONLY | O_EXLOCK, 0).map_err(|_| "open O_EXLOCK")?;
    check(
        open_path(P, O_RDONLY | O_SHLOCK | O_NONBLOCK, 0) == Err(Errno::EAGAIN),
        "O_SHLOCK|O_NONBLOCK waits not",
    )?;
    let c = open_path(P, O_RDONLY, 0).map_err(|_| "open c")?;
    check(flock(c, LOCK_SH | LOCK_NB) == Err(Errno::EWOULDBLOCK), "O_EXLOCK's lock is a flock lock")?;
    check(flock(ex, LOCK_UN) == Ok(0) && flock(c, LOCK_SH | LOCK_NB) == Ok(0), "and flock releases it")?;
    let sh =
        open_path(P, O_RDONLY | O_SHLOCK | O_NONBLOCK, 0).map_err(|_| "O_SHLOCK beside a shared lock")?;
    let _ = (close(ex), close(c), close(sh));
    check(open_path(b"/dev/null\0", O_RDONLY | O_EXLOCK, 0) == Err(Errno::ENOTSUP), "O_EXLOCK on a device")?;
    let _ = unlink(P);
    Ok(())
}

/// One byte through a pipe, for the handshakes of the multi-process cases.
fn send(fd: i32, b: u8) -> bool {
    write_bytes(fd, &[b]) == Ok(1)
}

fn recv(fd: i32) -> Option<u8> {
    let mut b = [0u8];
    (read_bytes(fd, &mut b) == Ok(1)).then_some(b[0])
}

/// The child's exit code, waiting at most `ms` milliseconds.
fn exit_code(pid: i32, ms: u64) -> Result<i32, &'static str> {
    let status = crate::robust::wait_gone(pid, ms)?;
    check(wifexited(status), "the child exited")?;
    Ok(wexitstatus(status))
}

fn flock_between_processes(_: &Args) -> Result<(), &'static str> {
    const P: &[u8] = b"/tmp/tr-m\0";
    make_file(P, b"shared")?;
    let fd = open_path(P, O_RDONLY, 0).map_err(|_| "open")?;
    check(flock(fd, LOCK_EX) == Ok(0), "the parent locks")?;
    // A child with a description of its own waits until the parent unlocks.
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let pid = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = close(r);
            let Ok(mine) = open_path(P, O_RDONLY, 0) else { exit_process(1) };
            if flock(mine, LOCK_EX | LOCK_NB) != Err(Errno::EWOULDBLOCK) {
                exit_process(2);
            }
            if !send(w, b'W') || flock(mine, LOCK_EX) != Ok(0) || !send(w, b'G') {
                exit_process(3);
            }
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let _ = close(w);
    check(recv(r) == Some(b'W'), "the child is about to wait")?;
    sleep_ms(50);
    check(fcntl(r, F_SETFL, i64::from(O_NONBLOCK as i32)) == Ok(0), "F_SETFL O_NONBLOCK")?;
    let mut b = [0u8];
    check(read_bytes(r, &mut b) == Err(Errno::EAGAIN), "the child is still waiting for the lock")?;
    check(flock(fd, LOCK_UN) == Ok(0), "the parent unlocks")?;
    check(fcntl(r, F_SETFL, 0) == Ok(0), "blocking again")?;
    check(recv(r) == Some(b'G'), "the child got the lock")?;
    check(exit_code(pid, 5000)? == 0, "the child's checks (see its code)")?;
    let _ = close(r);
    // The child exited: its own description's lock went with it.
    check(flock(fd, LOCK_EX | LOCK_NB) == Ok(0), "released when the child's description closed")?;
    // A forked child shares the parent's description, and so its lock: it may take and
    // release it for both.
    let code = crate::proc::in_child(|| {
        if flock(fd, LOCK_EX | LOCK_NB) != Ok(0) {
            return 1;
        }
        // Only a copy of the descriptor closes when the child exits.
        0
    })?;
    check(wifexited(code) && wexitstatus(code) == 0, "the child holds the shared description's lock")?;
    let other = open_path(P, O_RDONLY, 0).map_err(|_| "open other")?;
    check(flock(other, LOCK_SH | LOCK_NB) == Err(Errno::EWOULDBLOCK), "the child's exit kept the lock")?;
    let code = crate::proc::in_child(|| if flock(fd, LOCK_UN) == Ok(0) { 0 } else { 1 })?;
    check(wifexited(code) && wexitstatus(code) == 0, "the child unlocks the shared description")?;
    check(flock(other, LOCK_EX | LOCK_NB) == Ok(0), "which unlocked it for the parent too")?;
    check(flock(other, LOCK_UN) == Ok(0), "unlock")?;
    // The last close, not the first: the parent's is the last reference once the child is
    // gone.
    check(flock(fd, LOCK_SH) == Ok(0), "shared lock")?;
    let _ = close(fd);
    check(flock(other, LOCK_EX | LOCK_NB) == Ok(0), "the parent's close released it")?;
    let _ = close(other);
    let _ = unlink(P);
    Ok(())
}

static HANDLED: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

extern "C" fn count_signal(_: i32, _: u64, _: u64) {
    HANDLED.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
}

/// A child that takes a shared lock on `P` through its own description, says `W`, then
/// waits for an exclusive one with `flags` on SIGUSR1's handler: exit 0 on EINTR (no
/// SA_RESTART) or on getting the lock after a handled signal (SA_RESTART).
fn interruptible_waiter(path: &'static [u8], w: i32, flags: i32) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            HANDLED.store(0, core::sync::atomic::Ordering::SeqCst);
            if signal_action(SIGUSR1, count_signal, 0, flags).is_err() {
                exit_process(1);
            }
            let Ok(mine) = open_path(path, O_RDONLY, 0) else { exit_process(2) };
            if flock(mine, LOCK_SH | LOCK_NB) != Ok(0) || !send(w, b'W') {
                exit_process(3);
            }
            let r = flock(mine, LOCK_EX);
            let handled = HANDLED.load(core::sync::atomic::Ordering::SeqCst) > 0;
            let want = if flags & SA_RESTART != 0 { Ok(0) } else { Err(Errno::EINTR) };
            exit_process(if r == want && handled { 0 } else { 4 })
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

fn flock_interrupted(_: &Args) -> Result<(), &'static str> {
    const P: &[u8] = b"/tmp/tr-i\0";
    make_file(P, b"interrupt me")?;
    let fd = open_path(P, O_RDONLY, 0).map_err(|_| "open")?;
    check(flock(fd, LOCK_SH) == Ok(0), "the parent shares the file")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let pid = interruptible_waiter(P, w, 0)?;
    check(recv(r) == Some(b'W'), "the child holds a shared lock and goes for an exclusive one")?;
    // Waiting for the exclusive lock, the child gave up its shared one (BSD's rule for a
    // conversion), so the parent can take the file exclusively meanwhile.
    let mut upgraded = false;
    for _ in 0..200 {
        if flock(fd, LOCK_EX | LOCK_NB) == Ok(0) {
            upgraded = true;
            break;
        }
        sleep_ms(5);
    }
    check(upgraded, "the waiting child let go of its shared lock")?;
    // Signal until the child is out of its wait (a signal that came before it went to sleep
    // only ran the handler; the next one finds it asleep).
    let mut status = None;
    for _ in 0..100 {
        let _ = kill(pid, SIGUSR1);
        sleep_ms(10);
        if let Ok((got, st)) = waitpid(pid, WNOHANG)
            && got == pid
        {
            status = Some(st);
            break;
        }
    }
    let Some(status) = status else {
        let _ = kill(pid, sys::signal::SIGKILL);
        let _ = waitpid(pid, 0);
        return Err("a signal did not end the child's flock wait");
    };
    check(wifexited(status) && wexitstatus(status) == 0, "the blocked flock failed with EINTR")?;
    // With SA_RESTART the wait goes on after the handler, until the lock is free.
    check(flock(fd, LOCK_SH) == Ok(0), "the parent back to shared")?;
    let pid = interruptible_waiter(P, w, SA_RESTART)?;
    check(recv(r) == Some(b'W'), "the second child waits")?;
    for _ in 0..200 {
        if flock(fd, LOCK_EX | LOCK_NB) == Ok(0) {
            break;
        }
        sleep_ms(5);
    }
    for _ in 0..5 {
        let _ = kill(pid, SIGUSR1);
        sleep_ms(10);
    }
    check(waitpid(pid, WNOHANG).is_ok_and(|(got, _)| got == 0), "a restarted flock still waits")?;
    check(flock(fd, LOCK_UN) == Ok(0), "the parent unlocks")?;
    check(exit_code(pid, 5000)? == 0, "the restarted flock got the lock after the handler ran")?;
    let _ = (close(r), close(w), close(fd));
    let _ = unlink(P);
    Ok(())
}

fn statfs_of(path: &[u8]) -> Result<Statfs, &'static str> {
    statfs_path(path).map_err(|_| "statfs64")
}

fn statfs_calls(_: &Args) -> Result<(), &'static str> {
    let root = statfs_of(b"/\0")?;
    check(
        name_of(&root.f_fstypename) == b"ramfs" && name_of(&root.f_mntonname) == b"/",
        "/ is a ramfs on /",
    )?;
    check(root.f_type == FT_RAMFS && root.f_fsid.val[1] == FT_RAMFS as i32, "type number, also in f_fsid")?;
    check(root.f_flags & (MNT_ROOTFS | MNT_LOCAL) == MNT_ROOTFS | MNT_LOCAL, "root and local")?;
    check(root.f_flags & !MNT_VISFLAGMASK == 0, "only visible flags")?;
    check(root.f_bsize == 4096 && root.f_iosize == 4096, "4 KiB blocks")?;
    check(root.f_blocks >= root.f_bfree && root.f_bfree >= root.f_bavail, "blocks ≥ free ≥ available")?;
    check(root.f_files > root.f_ffree && root.f_owner == 0, "nodes in use; mounted by root")?;
    check(!name_of(&root.f_mntfromname).is_empty(), "mounted from something")?;
    check(root.f_fstypename[MFSTYPENAMELEN - 1] == 0, "the type name ends in NUL")?;
    let dev = statfs_of(b"/dev\0")?;
    check(name_of(&dev.f_fstypename) == b"devfs" && name_of(&dev.f_mntonname) == b"/dev", "devfs on /dev")?;
    check(name_of(&dev.f_mntfromname) == b"devfs" && dev.f_type == FT_DEVFS, "from devfs, type 19")?;
    check(dev.f_flags & (MNT_LOCAL | MNT_DONTBROWSE) == MNT_LOCAL | MNT_DONTBROWSE, "local, nobrowse")?;
    check(dev.f_flags & MNT_ROOTFS == 0 && dev.f_bsize == 512, "not the root; 512-byte blocks")?;
    check(dev.f_bfree == 0 && dev.f_ffree == 0 && dev.f_files > 0, "devfs is always full")?;
    check(statfs_of(b"/dev/null\0")?.f_fsid == dev.f_fsid, "a device is in devfs")?;
    let tmp = statfs_of(b"/tmp\0")?;
    check(name_of(&tmp.f_fstypename) == b"ramfs" && name_of(&tmp.f_mntonname) == b"/tmp", "a ramfs on /tmp")?;
    check(tmp.f_flags & MNT_ROOTFS == 0 && tmp.f_flags & MNT_LOCAL != 0, "local, not the root")?;
    check(tmp.f_fsid != root.f_fsid && tmp.f_fsid != dev.f_fsid, "each file system its own id")?;
    // A file's st_dev is its file system's id.
    const F: &[u8] = b"/tmp/tr-s\0";
    make_file(F, b"")?;
    check(stat(F).is_ok_and(|s| s.st_dev == tmp.f_fsid.val[0]), "st_dev of a /tmp file = f_fsid[0]")?;
    check(stat(b"/dev/null\0").is_ok_and(|s| s.st_dev == dev.f_fsid.val[0]), "st_dev of /dev/null")?;
    check(stat(b"/\0").is_ok_and(|s| s.st_dev == root.f_fsid.val[0]), "st_dev of /")?;
    // Growing a file takes blocks (a hole too); cutting it gives them back.
    let fd = open_path(F, O_RDWR, 0).map_err(|_| "open")?;
    let before = fstatfs(fd).map_err(|_| "fstatfs64")?;
    check(
        before.f_fsid == tmp.f_fsid && name_of(&before.f_mntonname) == b"/tmp",
        "fstatfs: the file's mount",
    )?;
    check(before.f_blocks == tmp.f_blocks && before.f_ffree + 1 == tmp.f_ffree, "the new file is one node")?;
    check(ftruncate(fd, 16 * 4096) == Ok(0), "grow by 16 blocks")?;
    let grown = fstatfs(fd).map_err(|_| "fstatfs64")?;
    check(
        grown.f_bfree + 16 == before.f_bfree && grown.f_bavail + 16 == before.f_bavail,
        "16 blocks fewer free",
    )?;
    check(grown.f_ffree == before.f_ffree && grown.f_blocks == before.f_blocks, "no node; the same size")?;
    check(ftruncate(fd, 0) == Ok(0), "cut")?;
    check(fstatfs(fd).is_ok_and(|s| s.f_bfree == before.f_bfree), "the blocks are back")?;
    check(ftruncate(fd, (before.f_bfree as i64 + 10) * 4096) == Err(Errno::ENOSPC), "past f_bfree: ENOSPC")?;
    check(statfs_of(F)?.f_bfree == before.f_bfree, "a refused growth takes nothing")?;
    // A symbolic link is followed.
    let _ = unlink(b"/tmp/tr-sl\0");
    // SAFETY: both strings are NUL-terminated.
    let r = unsafe { syscall::symlink(cstr_addr(b"/dev\0"), cstr_addr(b"/tmp/tr-sl\0")) };
    check(r == Ok(0), "symlink")?;
    check(statfs_of(b"/tmp/tr-sl\0")?.f_fsid == dev.f_fsid, "statfs follows a link")?;
    let _ = unlink(b"/tmp/tr-sl\0");
    // Errors.
    check(statfs_path(b"/tmp/tr-none\0").err() == Some(Errno::ENOENT), "statfs of a missing path")?;
    let mut sfs = Statfs::zeroed();
    let at = core::ptr::from_mut(&mut sfs) as u64;
    // SAFETY: bad pointers are EFAULT; `at` is a valid struct statfs.
    unsafe {
        check(syscall::statfs64(cstr_addr(b"/\0"), UNMAPPED_ADDRESS) == Err(Errno::EFAULT), "bad buf")?;
        check(syscall::statfs64(cstr_addr(b"/\0"), KERNEL_ADDRESS) == Err(Errno::EFAULT), "kernel buf")?;
        check(syscall::statfs64(cstr_addr(b"/\0"), 0) == Err(Errno::EFAULT), "NULL buf")?;
        check(syscall::statfs64(UNMAPPED_ADDRESS, at) == Err(Errno::EFAULT), "bad path")?;
        check(syscall::fstatfs64(fd, UNMAPPED_ADDRESS) == Err(Errno::EFAULT), "fstatfs bad buf")?;
    }
    check(fstatfs(999).err() == Some(Errno::EBADF), "fstatfs of a bad descriptor")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(fstatfs(r).err() == Some(Errno::EINVAL), "fstatfs of a pipe: EINVAL")?;
    let _ = (close(r), close(w), close(fd));
    let _ = unlink(F);
    Ok(())
}

fn getfsstat_calls(_: &Args) -> Result<(), &'static str> {
    let count = getfsstat(&mut [], MNT_NOWAIT).map_err(|_| "getfsstat64(NULL)")?;
    check(count >= 3, "at least /, /dev and /tmp")?;
    let mut all: [Statfs; 8] = core::array::from_fn(|_| Statfs::zeroed());
    check(count <= all.len(), "room for every mount")?;
    check(getfsstat(&mut all, MNT_NOWAIT) == Ok(count), "every mount")?;
    check(name_of(&all[0].f_mntonname) == b"/" && all[0].f_flags & MNT_ROOTFS != 0, "the root first")?;
    let on = |name: &[u8]| all[..count].iter().filter(|s| name_of(&s.f_mntonname) == name).count();
    check(on(b"/dev") == 1 && on(b"/tmp") == 1, "/dev and /tmp once each")?;
    let dev = all[..count].iter().find(|s| name_of(&s.f_mntonname) == b"/dev").ok_or("no /dev")?;
    check(name_of(&dev.f_fstypename) == b"devfs", "/dev's entry is devfs")?;
    check(statfs_of(b"/dev\0")?.f_fsid == dev.f_fsid, "the entry is statfs's")?;
    // Whole entries only: a buffer one byte short of two holds one.
    let size = core::mem::size_of::<Statfs>();
    let mut two: [Statfs; 3] = core::array::from_fn(|_| Statfs::zeroed());
    two[1].f_bsize = 0xdead;
    let at = two.as_mut_ptr() as u64;
    // SAFETY: `two` is writable for three entries; each call names fewer bytes.
    unsafe {
        check(syscall::getfsstat64(at, (2 * size - 1) as i32, MNT_NOWAIT) == Ok(1), "room for one: one")?;
        check(two[1].f_bsize == 0xdead, "the second slot untouched")?;
        check(syscall::getfsstat64(at, (size - 1) as i32, 0) == Ok(0), "room for none: none")?;
        check(syscall::getfsstat64(at, 0, 0) == Ok(0), "a zero size: none")?;
        check(syscall::getfsstat64(at, (2 * size + 100) as i32, 0) == Ok(2), "room for two: two")?;
        check(two[2].f_bsize == 0, "the third slot untouched")?;
        check(syscall::getfsstat64(UNMAPPED_ADDRESS, size as i32, 0) == Err(Errno::EFAULT), "bad buf")?;
        check(syscall::getfsstat64(KERNEL_ADDRESS, size as i32, 0) == Err(Errno::EFAULT), "kernel buf")?;
        check(syscall::getfsstat64(0, size as i32, 0) == Ok(count as u64), "NULL: the count")?;
    }
    check(name_of(&two[0].f_mntonname) == b"/" && name_of(&two[1].f_mntonname) != b"", "in order")?;
    // XNU divides the size as an unsigned number: a negative one holds everything.
    let at = all.as_mut_ptr() as u64;
    // SAFETY: `all` holds every mount (checked above).
    check(unsafe { syscall::getfsstat64(at, -1, 0) } == Ok(count as u64), "a negative size: all")?;
    Ok(())
}
