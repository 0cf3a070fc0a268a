//! Working and root directories (issue B4 item 2): `chdir`, `fchdir`, `__pthread_chdir`,
//! `__pthread_fchdir` and `chroot`, as XNU's `vfs_syscalls.c` has them — relative paths of
//! `open`, `execve` and `posix_spawn` start at the working directory, a forked child starts
//! in its parent's, and each call's errors (ENOTDIR, ENOENT, EFAULT, EBADF, EACCES, EPERM).
//!
//! Every case leaves the process where it found it, in `/`.

use libsys::process::{Forked, execv, fork, spawn, waitpid};
use libsys::syscall::{close, exit_process, open_path, setuid};
use libsys::{Args, Errno};
use sys::fcntl::{O_CREAT, O_RDONLY, O_WRONLY};
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("chdir, then relative opens start there", chdir_then_relative_open),
    ("fchdir to an open directory; not a directory or not open fails", fchdir_cases),
    ("chdir errors: ENOTDIR, ENOENT, EFAULT, EACCES", chdir_errors),
    ("a relative execve and posix_spawn run from the cwd", relative_exec),
    ("a forked child starts in its parent's cwd, and moves alone", fork_inherits_cwd),
    ("__pthread_chdir is the thread's own; fd -1 drops it", pthread_chdir_cases),
    ("chroot: root only; `..` stops at the new root", chroot_cases),
];

/// `chdir` of a NUL-terminated path.
fn cd(path: &[u8]) -> Result<u64, Errno> {
    if path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    unsafe { libsys::syscall::chdir(path.as_ptr() as u64) }
}

/// `__pthread_chdir` of a NUL-terminated path.
fn thread_cd(path: &[u8]) -> Result<u64, Errno> {
    if path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: as for `cd`.
    unsafe { libsys::syscall::__pthread_chdir(path.as_ptr() as u64) }
}

/// `chroot` to a NUL-terminated path.
fn root_to(path: &[u8]) -> Result<u64, Errno> {
    if path.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: as for `cd`.
    unsafe { libsys::syscall::chroot(path.as_ptr() as u64) }
}

/// Can `path` be opened for reading from where we are?
fn opens(path: &[u8]) -> Result<(), Errno> {
    open_path(path, O_RDONLY, 0).map(|fd| {
        let _ = close(fd);
    })
}

/// Runs `body` in a forked child and returns its exit status (the child's answer).
pub(crate) fn in_child(body: fn() -> i32) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(body()),
        Forked::Parent(pid) => {
            let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
            check(wifexited(status), "the child did not exit")?;
            Ok(wexitstatus(status))
        }
    }
}

fn back_home() -> Result<(), &'static str> {
    check(cd(b"/\0") == Ok(0), "chdir back to / failed")
}

fn chdir_then_relative_open(_: &Args) -> Result<(), &'static str> {
    check(opens(b"hello-O2\0") == Err(Errno::ENOENT), "from /, hello-O2 is not there")?;
    check(cd(b"/bin/c\0") == Ok(0), "chdir /bin/c")?;
    let here = opens(b"hello-O2\0");
    let dotted = opens(b"./../c/./hello-O2\0");
    let absolute = opens(b"/bin/c/hello-O2\0");
    let relative_dir = cd(b"..\0");
    let from_bin = opens(b"c/hello-O2\0");
    back_home()?;
    check(here == Ok(()), "a relative open from /bin/c failed")?;
    check(dotted == Ok(()), "./../c/./hello-O2 from /bin/c failed")?;
    check(absolute == Ok(()), "an absolute path must not depend on the cwd")?;
    check(relative_dir == Ok(0), "chdir .. from /bin/c failed")?;
    check(from_bin == Ok(()), "after chdir .., c/hello-O2 is not found from /bin")
}

fn fchdir_cases(_: &Args) -> Result<(), &'static str> {
    let dir = open_path(b"/tmp\0", O_RDONLY, 0).map_err(|_| "open /tmp for reading")?;
    let file = open_path(b"/bin/c/hello-O2\0", O_RDONLY, 0).map_err(|_| "open hello-O2")?;
    let on_dir = libsys::syscall::fchdir(dir);
    let made = open_path(b"cwd-fchdir\0", O_WRONLY | O_CREAT, 0o644);
    back_home()?;
    let on_file = libsys::syscall::fchdir(file);
    let on_console = libsys::syscall::fchdir(1);
    let _ = close(file);
    let _ = close(dir);
    let closed = libsys::syscall::fchdir(dir);
    let negative = libsys::syscall::fchdir(-1);
    check(on_dir == Ok(0), "fchdir to /tmp failed")?;
    let made = made.map_err(|_| "a relative O_CREAT after fchdir /tmp failed")?;
    let _ = close(made);
    check(opens(b"/tmp/cwd-fchdir\0") == Ok(()), "the relative create did not land in /tmp")?;
    check(on_file == Err(Errno::ENOTDIR), "fchdir to a file: ENOTDIR")?;
    // The console is no vnode yet (devfs is to come): XNU refuses a non-vnode file so.
    check(on_console == Err(Errno::EINVAL), "fchdir to a file that is no vnode: EINVAL")?;
    check(closed == Err(Errno::EBADF), "fchdir to a closed descriptor: EBADF")?;
    check(negative == Err(Errno::EBADF), "fchdir(-1): EBADF")?;
    check(opens(b"bin\0") == Ok(()), "a failed fchdir moved the cwd")
}

fn chdir_errors(_: &Args) -> Result<(), &'static str> {
    check(cd(b"/bin/c/hello-O2\0") == Err(Errno::ENOTDIR), "chdir to a file: ENOTDIR")?;
    check(cd(b"/bin/c/hello-O2/x\0") == Err(Errno::ENOTDIR), "through a file: ENOTDIR")?;
    check(cd(b"/no/such/dir\0") == Err(Errno::ENOENT), "chdir to a missing path: ENOENT")?;
    check(cd(b"\0") == Err(Errno::ENOENT), "chdir to an empty path: ENOENT")?;
    // SAFETY: the kernel must reject these pointers without touching memory.
    unsafe {
        check(libsys::syscall::chdir(0) == Err(Errno::EFAULT), "chdir(NULL): EFAULT")?;
        check(libsys::syscall::chdir(KERNEL_ADDRESS) == Err(Errno::EFAULT), "a kernel address: EFAULT")?;
        check(libsys::syscall::chdir(UNMAPPED_ADDRESS) == Err(Errno::EFAULT), "an unmapped address: EFAULT")?;
        check(libsys::syscall::chroot(0) == Err(Errno::EFAULT), "chroot(NULL): EFAULT")?;
    }
    let mut long = [b'a'; 1100];
    long[0] = b'/';
    long[1099] = 0;
    check(cd(&long) == Err(Errno::ENAMETOOLONG), "a 1099-byte path: ENAMETOOLONG")?;
    check(opens(b"bin\0") == Ok(()), "a failed chdir moved the cwd")?;
    // /private is rwx------ and root's: anyone else may not search it, so not enter it.
    let status = in_child(|| {
        if setuid(501).is_err() {
            return 1;
        }
        match cd(b"/private\0") {
            Err(Errno::EACCES) => 0,
            _ => 2,
        }
    })?;
    check(status == 0, "uid 501 could chdir into /private")
}

fn relative_exec(_: &Args) -> Result<(), &'static str> {
    check(cd(b"/bin/c\0") == Ok(0), "chdir /bin/c")?;
    let spawned = spawn(b"data-O2\0", &[b"data-O2\0"], None, &[]);
    let execed = in_child(|| {
        let e = execv(b"./true-O2\0", &[b"true-O2\0"]);
        if e == Errno::ENOENT { 10 } else { 11 }
    });
    let missing = spawn(b"no-such-program\0", &[b"x\0"], None, &[]);
    back_home()?;
    let pid = spawned.map_err(|_| "posix_spawn of data-O2 from /bin/c failed")?;
    let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
    check(wifexited(status) && wexitstatus(status) == 42, "data-O2 spawned from its directory")?;
    check(execed? == 0, "execve ./true-O2 from /bin/c did not run true-O2")?;
    check(missing == Err(Errno::ENOENT), "posix_spawn of a missing relative path: ENOENT")?;
    // From /, the same relative name is not there.
    check(spawn(b"data-O2\0", &[b"data-O2\0"], None, &[]) == Err(Errno::ENOENT), "data-O2 found from /")
}

fn fork_inherits_cwd(_: &Args) -> Result<(), &'static str> {
    check(cd(b"/bin/c\0") == Ok(0), "chdir /bin/c")?;
    let status = in_child(|| {
        if opens(b"hello-O2\0").is_err() {
            return 1;
        }
        // The child's chdir is its own.
        if cd(b"/\0").is_err() || opens(b"bin\0").is_err() {
            return 2;
        }
        0
    });
    let still_here = opens(b"hello-O2\0");
    back_home()?;
    check(status? == 0, "the child did not start in the parent's cwd")?;
    check(still_here == Ok(()), "the child's chdir moved the parent")
}

fn pthread_chdir_cases(_: &Args) -> Result<(), &'static str> {
    check(libsys::syscall::__pthread_fchdir(-1) == Err(Errno::EBADF), "no thread cwd to drop: EBADF")?;
    check(thread_cd(b"/bin\0") == Ok(0), "__pthread_chdir /bin")?;
    let thread_relative = opens(b"c/hello-O2\0");
    // A child forked now starts in the thread's cwd, as its process cwd.
    let child = in_child(|| {
        let dropped = libsys::syscall::__pthread_fchdir(-1);
        let ok = opens(b"c/hello-O2\0").is_ok() && dropped == Err(Errno::EBADF);
        if ok { 0 } else { 1 }
    });
    let dropped = libsys::syscall::__pthread_fchdir(-1);
    let process_relative = opens(b"c/hello-O2\0");
    let not_a_dir = thread_cd(b"/bin/c/hello-O2\0");
    let fd = open_path(b"/bin/c\0", O_RDONLY, 0).map_err(|_| "open /bin/c")?;
    let by_fd = libsys::syscall::__pthread_fchdir(fd);
    let _ = close(fd);
    let by_fd_relative = opens(b"hello-O2\0");
    let _ = libsys::syscall::__pthread_fchdir(-1);
    check(thread_relative == Ok(()), "the thread's cwd does not serve its relative open")?;
    check(child? == 0, "a child forked by the thread does not start in the thread's cwd")?;
    check(dropped == Ok(0), "__pthread_fchdir(-1) with a thread cwd: 0")?;
    check(process_relative == Err(Errno::ENOENT), "after dropping it, the process cwd (/) serves again")?;
    check(not_a_dir == Err(Errno::ENOTDIR), "__pthread_chdir to a file: ENOTDIR")?;
    check(by_fd == Ok(0) && by_fd_relative == Ok(()), "__pthread_fchdir to an open directory")
}

fn chroot_cases(_: &Args) -> Result<(), &'static str> {
    let user = in_child(|| {
        if setuid(501).is_err() {
            return 1;
        }
        match root_to(b"/bin\0") {
            Err(Errno::EPERM) => 0,
            _ => 2,
        }
    })?;
    check(user == 0, "chroot by uid 501: EPERM")?;
    let root = in_child(|| {
        if root_to(b"/bin/c/hello-O2\0") != Err(Errno::ENOTDIR) {
            return 1;
        }
        if root_to(b"/bin\0") != Ok(0) {
            return 2;
        }
        // The cwd stays (/), outside the new root: a relative path still starts there.
        if opens(b"bin/c/hello-O2\0").is_err() {
            return 3;
        }
        if opens(b"/c/hello-O2\0").is_err() || opens(b"/bin/c\0") != Err(Errno::ENOENT) {
            return 4;
        }
        // `..` at the new root stays there.
        if opens(b"/../../c/hello-O2\0").is_err() || cd(b"/..\0").is_err() || opens(b"c/true-O2\0").is_err() {
            return 5;
        }
        0
    })?;
    check(root == 0, "chroot by root: its root or `..` is wrong")?;
    check(opens(b"/bin/c/hello-O2\0") == Ok(()), "the child's chroot changed the parent")
}
