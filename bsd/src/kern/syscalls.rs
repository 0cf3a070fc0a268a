//! The BSD system call table (`sysent`) and its dispatcher (`unix_syscall`).
//!
//! `sysent` is generated from `bsd/sys/syscalls.master`: every STD entry there names a
//! function in [`handlers`] with the same name, taking a [`SysCtx`] and the call's arguments
//! with the types the table gives them (converted from the registers by
//! [`crate::kern::sysproto::SysArg`]), so a handler that disagrees with the table does not
//! compile. Results go back as XNU does (reference §1.2): success clears PSTATE.C and fills
//! x0/x1 by return kind; failure sets C with the errno in x0. Numbers with no implementation
//! post SIGSYS and fail with ENOSYS (`nosys`), or fail quietly (`enosys`) where XNU does.

use alloc::sync::Arc;

use osfmk::arm64::trapframe::TrapFrame;
use osfmk::vm::user_ptr::{UserAddr, UserPtr};
use sys::Errno;
use sys::syscalls::{SysStatus, sysent_info};
use sys::time::{Timeval, Timezone};
use sys::wait::w_exitcode;

use crate::kern::kern_exit::exit1;
use crate::kern::kern_proc::{Proc, current_proc};
use crate::kern::sysproto::{ArgRegs, argtypes, unix_syscall_args, unix_syscall_return};

pub use crate::kern::sysproto::SysRet;

/// What every handler gets besides its arguments: the calling process, and the caller's
/// trap frame (for the calls that set registers themselves: fork's child, execve,
/// sigreturn).
pub struct SysCtx<'a> {
    pub p: &'a Arc<Proc>,
    pub frame: &'a mut TrapFrame,
}

/// `struct rusage` from user and system counter ticks.
fn rusage_of((user, system): (u64, u64)) -> sys::resource::Rusage {
    let us = |ticks: u64| osfmk::kern::clock::absolutetime_to_nanoseconds(ticks) / 1000;
    crate::kern::kern_wait::rusage_from_times(us(user), us(system))
}

/// A count or descriptor as x0.
fn count(n: usize) -> (u64, u64) {
    (n as u64, 0)
}

/// [`count`], for the handlers that name their own argument `count`.
fn count_of(n: usize) -> (u64, u64) {
    count(n)
}

/// Success with no value.
fn done(r: Result<(), Errno>) -> SysRet {
    r.map(|()| (0, 0))
}

/// Handlers, one per STD line of syscalls.master, with the table's argument names and types.
mod handlers {
    use super::*;
    use crate::kern::{
        kern_mman, kern_prot, kern_resource, kern_rlimit, kern_sig, kern_sysctl, pthread_support, sys_generic,
    };
    use crate::vfs::vfs_syscalls;
    use sys::fcntl::AT_FDCWD;

    pub fn exit(cx: &mut SysCtx, rval: i32) -> SysRet {
        exit1(cx.p, w_exitcode(rval));
        // The thread ends on its way out (AST); no register matters any more.
        Err(Errno::EJUSTRETURN)
    }

    pub fn read(cx: &mut SysCtx, fd: i32, cbuf: UserAddr, nbyte: usize) -> SysRet {
        // The whole request in one call, as BSD moves it: the file moves it in bounded
        // chunks; a bad address part-way ends it short, at the start is EFAULT.
        sys_generic::read(cx.p, fd, cbuf, nbyte).map(count)
    }

    pub fn write(cx: &mut SysCtx, fd: i32, cbuf: UserAddr, nbyte: usize) -> SysRet {
        sys_generic::write(cx.p, fd, cbuf, nbyte).map(count)
    }

    pub fn read_nocancel(cx: &mut SysCtx, fd: i32, cbuf: UserAddr, nbyte: usize) -> SysRet {
        read(cx, fd, cbuf, nbyte)
    }

    pub fn write_nocancel(cx: &mut SysCtx, fd: i32, cbuf: UserAddr, nbyte: usize) -> SysRet {
        write(cx, fd, cbuf, nbyte)
    }

    pub fn pread(cx: &mut SysCtx, fd: i32, buf: UserAddr, nbyte: usize, offset: i64) -> SysRet {
        sys_generic::pread(cx.p, fd, buf, nbyte, offset).map(count)
    }

    pub fn pwrite(cx: &mut SysCtx, fd: i32, buf: UserAddr, nbyte: usize, offset: i64) -> SysRet {
        sys_generic::pwrite(cx.p, fd, buf, nbyte, offset).map(count)
    }

    pub fn pread_nocancel(cx: &mut SysCtx, fd: i32, buf: UserAddr, nbyte: usize, offset: i64) -> SysRet {
        pread(cx, fd, buf, nbyte, offset)
    }

    pub fn pwrite_nocancel(cx: &mut SysCtx, fd: i32, buf: UserAddr, nbyte: usize, offset: i64) -> SysRet {
        pwrite(cx, fd, buf, nbyte, offset)
    }

    pub fn readv(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32) -> SysRet {
        sys_generic::readv(cx.p, fd, iovp, iovcnt).map(count)
    }

    pub fn writev(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32) -> SysRet {
        sys_generic::writev(cx.p, fd, iovp, iovcnt).map(count)
    }

    pub fn readv_nocancel(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32) -> SysRet {
        readv(cx, fd, iovp, iovcnt)
    }

    pub fn writev_nocancel(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32) -> SysRet {
        writev(cx, fd, iovp, iovcnt)
    }

    pub fn preadv(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32, offset: i64) -> SysRet {
        sys_generic::preadv(cx.p, fd, iovp, iovcnt, offset).map(count)
    }

    pub fn pwritev(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32, offset: i64) -> SysRet {
        sys_generic::pwritev(cx.p, fd, iovp, iovcnt, offset).map(count)
    }

    pub fn preadv_nocancel(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32, offset: i64) -> SysRet {
        preadv(cx, fd, iovp, iovcnt, offset)
    }

    pub fn pwritev_nocancel(cx: &mut SysCtx, fd: i32, iovp: UserAddr, iovcnt: u32, offset: i64) -> SysRet {
        pwritev(cx, fd, iovp, iovcnt, offset)
    }

    pub fn ioctl(cx: &mut SysCtx, fd: i32, com: u64, data: UserAddr) -> SysRet {
        done(sys_generic::ioctl(cx.p, fd, com, data))
    }

    pub fn select(
        cx: &mut SysCtx,
        nd: i32,
        inp: UserAddr,
        oup: UserAddr,
        exp: UserAddr,
        tv: UserAddr,
    ) -> SysRet {
        sys_generic::select(cx.p, nd, [inp, oup, exp], tv).map(count)
    }

    pub fn select_nocancel(
        cx: &mut SysCtx,
        nd: i32,
        inp: UserAddr,
        oup: UserAddr,
        exp: UserAddr,
        tv: UserAddr,
    ) -> SysRet {
        select(cx, nd, inp, oup, exp, tv)
    }

    pub fn pselect(
        cx: &mut SysCtx,
        nd: i32,
        inp: UserAddr,
        oup: UserAddr,
        exp: UserAddr,
        ts: UserAddr,
        mask: UserAddr,
    ) -> SysRet {
        sys_generic::pselect(cx.p, nd, [inp, oup, exp], ts, mask).map(count)
    }

    pub fn pselect_nocancel(
        cx: &mut SysCtx,
        nd: i32,
        inp: UserAddr,
        oup: UserAddr,
        exp: UserAddr,
        ts: UserAddr,
        mask: UserAddr,
    ) -> SysRet {
        pselect(cx, nd, inp, oup, exp, ts, mask)
    }

    pub fn poll(cx: &mut SysCtx, fds: UserAddr, nfds: u32, timeout: i32) -> SysRet {
        sys_generic::poll(cx.p, fds, nfds, timeout).map(count)
    }

    pub fn poll_nocancel(cx: &mut SysCtx, fds: UserAddr, nfds: u32, timeout: i32) -> SysRet {
        poll(cx, fds, nfds, timeout)
    }

    pub fn mkfifo(cx: &mut SysCtx, path: UserAddr, mode: i32) -> SysRet {
        done(vfs_syscalls::mkfifoat(cx.p, AT_FDCWD, path, mode))
    }

    pub fn mkfifoat(cx: &mut SysCtx, fd: i32, path: UserAddr, mode: i32) -> SysRet {
        done(vfs_syscalls::mkfifoat(cx.p, fd, path, mode))
    }

    pub fn mknod(cx: &mut SysCtx, path: UserAddr, mode: i32, dev: i32) -> SysRet {
        done(vfs_syscalls::mknodat(cx.p, AT_FDCWD, path, mode, dev))
    }

    pub fn mknodat(cx: &mut SysCtx, fd: i32, path: UserAddr, mode: i32, dev: i32) -> SysRet {
        done(vfs_syscalls::mknodat(cx.p, fd, path, mode, dev))
    }

    pub fn fsync(cx: &mut SysCtx, fd: i32) -> SysRet {
        done(vfs_syscalls::fsync(cx.p, fd))
    }

    pub fn fsync_nocancel(cx: &mut SysCtx, fd: i32) -> SysRet {
        fsync(cx, fd)
    }

    /// `getdtablesize()`: how many descriptors the process may have open.
    pub fn getdtablesize(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_fd.lock().limit() as u64, 0))
    }

    pub fn umask(cx: &mut SysCtx, newmask: i32) -> SysRet {
        Ok((u64::from(vfs_syscalls::umask(cx.p, newmask)), 0))
    }

    pub fn access(cx: &mut SysCtx, path: UserAddr, flags: i32) -> SysRet {
        done(vfs_syscalls::faccessat(cx.p, AT_FDCWD, path, flags, 0, false))
    }

    pub fn faccessat(cx: &mut SysCtx, fd: i32, path: UserAddr, amode: i32, flag: i32) -> SysRet {
        done(vfs_syscalls::faccessat(cx.p, fd, path, amode, flag, true))
    }

    pub fn chmod(cx: &mut SysCtx, path: UserAddr, mode: i32) -> SysRet {
        done(vfs_syscalls::fchmodat(cx.p, AT_FDCWD, path, mode, 0))
    }

    pub fn fchmod(cx: &mut SysCtx, fd: i32, mode: i32) -> SysRet {
        done(vfs_syscalls::fchmod(cx.p, fd, mode))
    }

    pub fn fchmodat(cx: &mut SysCtx, fd: i32, path: UserAddr, mode: i32, flag: i32) -> SysRet {
        done(vfs_syscalls::fchmodat(cx.p, fd, path, mode, flag))
    }

    pub fn chown(cx: &mut SysCtx, path: UserAddr, uid: u32, gid: u32) -> SysRet {
        done(vfs_syscalls::fchownat(cx.p, AT_FDCWD, path, uid, gid, 0))
    }

    pub fn lchown(cx: &mut SysCtx, path: UserAddr, owner: u32, group: u32) -> SysRet {
        done(vfs_syscalls::fchownat(cx.p, AT_FDCWD, path, owner, group, sys::fcntl::AT_SYMLINK_NOFOLLOW))
    }

    pub fn fchown(cx: &mut SysCtx, fd: i32, uid: u32, gid: u32) -> SysRet {
        done(vfs_syscalls::fchown(cx.p, fd, uid, gid))
    }

    pub fn fchownat(cx: &mut SysCtx, fd: i32, path: UserAddr, uid: u32, gid: u32, flag: i32) -> SysRet {
        done(vfs_syscalls::fchownat(cx.p, fd, path, uid, gid, flag))
    }

    pub fn utimes(cx: &mut SysCtx, path: UserAddr, tptr: UserAddr) -> SysRet {
        done(vfs_syscalls::utimes(cx.p, path, tptr))
    }

    pub fn futimes(cx: &mut SysCtx, fd: i32, tptr: UserAddr) -> SysRet {
        done(vfs_syscalls::futimes(cx.p, fd, tptr))
    }

    pub fn link(cx: &mut SysCtx, path: UserAddr, link: UserAddr) -> SysRet {
        done(vfs_syscalls::linkat(cx.p, AT_FDCWD, path, AT_FDCWD, link, sys::fcntl::AT_SYMLINK_FOLLOW))
    }

    pub fn linkat(cx: &mut SysCtx, fd1: i32, path: UserAddr, fd2: i32, link: UserAddr, flag: i32) -> SysRet {
        done(vfs_syscalls::linkat(cx.p, fd1, path, fd2, link, flag))
    }

    pub fn symlink(cx: &mut SysCtx, path: UserAddr, link: UserAddr) -> SysRet {
        done(vfs_syscalls::symlinkat(cx.p, path, AT_FDCWD, link))
    }

    pub fn symlinkat(cx: &mut SysCtx, path1: UserAddr, fd: i32, path2: UserAddr) -> SysRet {
        done(vfs_syscalls::symlinkat(cx.p, path1, fd, path2))
    }

    /// `readlink(path, buf, int count)`: a negative count is a huge `size_t` to XNU, so
    /// `EINVAL`.
    pub fn readlink(cx: &mut SysCtx, path: UserAddr, buf: UserAddr, count: i32) -> SysRet {
        let size = usize::try_from(count).unwrap_or(usize::MAX);
        vfs_syscalls::readlinkat(cx.p, AT_FDCWD, path, buf, size).map(count_of)
    }

    pub fn readlinkat(cx: &mut SysCtx, fd: i32, path: UserAddr, buf: UserAddr, bufsize: usize) -> SysRet {
        vfs_syscalls::readlinkat(cx.p, fd, path, buf, bufsize).map(count)
    }

    pub fn openat(cx: &mut SysCtx, fd: i32, path: UserAddr, flags: i32, mode: i32) -> SysRet {
        vfs_syscalls::openat(cx.p, fd, path, flags, mode).map(count)
    }

    pub fn openat_nocancel(cx: &mut SysCtx, fd: i32, path: UserAddr, flags: i32, mode: i32) -> SysRet {
        openat(cx, fd, path, flags, mode)
    }

    pub fn open_nocancel(cx: &mut SysCtx, path: UserAddr, flags: i32, mode: i32) -> SysRet {
        open(cx, path, flags, mode)
    }

    pub fn close_nocancel(cx: &mut SysCtx, fd: i32) -> SysRet {
        close(cx, fd)
    }

    pub fn fcntl_nocancel(cx: &mut SysCtx, fd: i32, cmd: i32, arg: i64) -> SysRet {
        fcntl(cx, fd, cmd, arg)
    }

    pub fn mkdirat(cx: &mut SysCtx, fd: i32, path: UserAddr, mode: i32) -> SysRet {
        done(vfs_syscalls::mkdirat(cx.p, fd, path, mode))
    }

    pub fn unlinkat(cx: &mut SysCtx, fd: i32, path: UserAddr, flag: i32) -> SysRet {
        done(vfs_syscalls::unlinkat(cx.p, fd, path, flag))
    }

    pub fn renameat(cx: &mut SysCtx, fromfd: i32, from: UserAddr, tofd: i32, to: UserAddr) -> SysRet {
        done(vfs_syscalls::renameat(cx.p, fromfd, from, tofd, to))
    }

    pub fn fstatat64(cx: &mut SysCtx, fd: i32, path: UserAddr, ub: UserAddr, flag: i32) -> SysRet {
        done(vfs_syscalls::fstatat64(cx.p, fd, path, ub, flag))
    }

    pub fn getpid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_pid as u64, 0))
    }

    pub fn getppid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.ppid() as u64, 0))
    }

    pub fn getuid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_ucred.lock().ruid as u64, 0))
    }

    pub fn geteuid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_ucred.lock().uid as u64, 0))
    }

    pub fn getgid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_ucred.lock().rgid as u64, 0))
    }

    pub fn getegid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_ucred.lock().gid as u64, 0))
    }

    pub fn fork(cx: &mut SysCtx) -> SysRet {
        crate::kern::kern_fork::fork1(cx.p, cx.frame).map(|pid| (pid as u64, 0))
    }

    pub fn vfork(cx: &mut SysCtx) -> SysRet {
        // vfork may be fork: copy-on-write makes the copy cheap.
        fork(cx)
    }

    pub fn execve(cx: &mut SysCtx, fname: UserAddr, argp: UserAddr, envp: UserAddr) -> SysRet {
        done(crate::kern::kern_exec::execve(cx.p, fname, argp, envp, cx.frame))
    }

    pub fn posix_spawn(
        cx: &mut SysCtx,
        pid: UserAddr,
        path: UserAddr,
        adesc: UserAddr,
        argv: UserAddr,
        envp: UserAddr,
    ) -> SysRet {
        done(crate::kern::kern_spawn::posix_spawn(cx.p, pid, path, adesc, argv, envp))
    }

    pub fn wait4(cx: &mut SysCtx, pid: i32, status: UserAddr, options: i32, rusage: UserAddr) -> SysRet {
        // As in XNU, a call with nothing to wait for fails (ECHILD) whatever the pointers.
        let Some(w) = crate::kern::kern_exit::wait4(cx.p, pid, options)? else {
            return Ok((0, 0));
        };
        let status = UserPtr::<i32>::new_opt(status.0)?;
        let rusage = UserPtr::<sys::resource::Rusage>::new_opt(rusage.0)?;
        if let Some(status) = status {
            status.write(&w.status)?;
        }
        if let Some(rusage) = rusage {
            rusage.write(&rusage_of(w.times))?;
        }
        Ok((w.pid as u64, 0))
    }

    pub fn getrusage(cx: &mut SysCtx, who: i32, rusage: UserAddr) -> SysRet {
        use sys::resource::{RUSAGE_CHILDREN, RUSAGE_SELF};
        let times = match who {
            RUSAGE_SELF => cx.p.cpu_times(),
            RUSAGE_CHILDREN => *cx.p.p_cru.lock(),
            _ => return Err(Errno::EINVAL),
        };
        UserPtr::new(rusage.0)?.write(&rusage_of(times))?;
        Ok((0, 0))
    }

    pub fn kill(cx: &mut SysCtx, pid: i32, signum: i32, _posix: i32) -> SysRet {
        done(kern_sig::kill(cx.p, pid, signum))
    }

    pub fn sigaction(cx: &mut SysCtx, signum: i32, nsa: UserAddr, osa: UserAddr) -> SysRet {
        done(kern_sig::sigaction(cx.p, signum, nsa, osa))
    }

    pub fn sigprocmask(_: &mut SysCtx, how: i32, mask: UserAddr, omask: UserAddr) -> SysRet {
        done(kern_sig::sigprocmask(how, mask, omask))
    }

    pub fn __pthread_sigmask(cx: &mut SysCtx, how: i32, set: UserAddr, oset: UserAddr) -> SysRet {
        sigprocmask(cx, how, set, oset)
    }

    pub fn sigpending(cx: &mut SysCtx, osv: UserAddr) -> SysRet {
        done(kern_sig::sigpending(cx.p, osv))
    }

    pub fn sigsuspend(cx: &mut SysCtx, mask: u32) -> SysRet {
        done(kern_sig::sigsuspend(cx.p, mask))
    }

    pub fn sigaltstack(_: &mut SysCtx, nss: UserAddr, oss: UserAddr) -> SysRet {
        done(kern_sig::sigaltstack(nss, oss))
    }

    pub fn sigreturn(cx: &mut SysCtx, uctx: UserAddr, infostyle: i32, token: UserAddr) -> SysRet {
        done(kern_sig::sigreturn(cx.p, uctx, infostyle, token, cx.frame))
    }

    pub fn __pthread_kill(cx: &mut SysCtx, thread_port: i32, sig: i32) -> SysRet {
        done(kern_sig::pthread_kill(cx.p, thread_port as u32, sig))
    }

    pub fn getpgrp(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.pgrp() as u64, 0))
    }

    pub fn setpgid(cx: &mut SysCtx, pid: i32, pgid: i32) -> SysRet {
        done(kern_prot::setpgid(cx.p, pid, pgid))
    }

    pub fn getpgid(cx: &mut SysCtx, pid: i32) -> SysRet {
        kern_prot::getpgid(cx.p, pid).map(|g| (g as u64, 0))
    }

    pub fn setsid(cx: &mut SysCtx) -> SysRet {
        kern_prot::setsid(cx.p).map(|s| (s as u64, 0))
    }

    pub fn getsid(cx: &mut SysCtx, pid: i32) -> SysRet {
        kern_prot::getsid(cx.p, pid).map(|s| (s as u64, 0))
    }

    pub fn setuid(cx: &mut SysCtx, uid: u32) -> SysRet {
        done(kern_prot::setuid(cx.p, uid))
    }

    pub fn seteuid(cx: &mut SysCtx, euid: u32) -> SysRet {
        done(kern_prot::seteuid(cx.p, euid))
    }

    pub fn setgid(cx: &mut SysCtx, gid: u32) -> SysRet {
        done(kern_prot::setgid(cx.p, gid))
    }

    pub fn setegid(cx: &mut SysCtx, egid: u32) -> SysRet {
        done(kern_prot::setegid(cx.p, egid))
    }

    pub fn issetugid(cx: &mut SysCtx) -> SysRet {
        Ok((cx.p.p_sugid.load(core::sync::atomic::Ordering::Relaxed) as u64, 0))
    }

    pub fn sysctl(
        cx: &mut SysCtx,
        name: UserAddr,
        namelen: u32,
        old: UserAddr,
        oldlenp: UserAddr,
        new: UserAddr,
        newlen: usize,
    ) -> SysRet {
        done(kern_sysctl::sysctl(cx.p, name, namelen, old, oldlenp, new, newlen))
    }

    pub fn sysctlbyname(
        cx: &mut SysCtx,
        name: UserAddr,
        namelen: usize,
        old: UserAddr,
        oldlenp: UserAddr,
        new: UserAddr,
        newlen: usize,
    ) -> SysRet {
        done(kern_sysctl::sysctlbyname(cx.p, name, namelen, old, oldlenp, new, newlen))
    }

    pub fn open(cx: &mut SysCtx, path: UserAddr, flags: i32, mode: i32) -> SysRet {
        vfs_syscalls::openat(cx.p, AT_FDCWD, path, flags, mode).map(count)
    }

    pub fn close(cx: &mut SysCtx, fd: i32) -> SysRet {
        done(cx.p.p_fd.lock().close(fd))
    }

    /// `dup(u_int fd)`: XNU takes the descriptor as an `int` again.
    pub fn dup(cx: &mut SysCtx, fd: u32) -> SysRet {
        cx.p.p_fd.lock().dup_at_least(fd as i32, 0, false).map(|fd| (fd as u64, 0))
    }

    /// `dup2(u_int from, u_int to)`, each read as an `int` as XNU does.
    pub fn dup2(cx: &mut SysCtx, from: u32, to: u32) -> SysRet {
        let (from, to) = (from as i32, to as i32);
        cx.p.p_fd.lock().dup2(from, to).map(|()| (to as u64, 0))
    }

    pub fn getgroups(cx: &mut SysCtx, gidsetsize: u32, gidset: UserAddr) -> SysRet {
        crate::kern::kern_prot::getgroups(cx.p, gidsetsize, gidset).map(|n| (n as u64, 0))
    }

    pub fn setgroups(cx: &mut SysCtx, gidsetsize: u32, gidset: UserAddr) -> SysRet {
        done(crate::kern::kern_prot::setgroups(cx.p, gidsetsize, gidset))
    }

    /// `pipe()`: Darwin's two-register return, the read end in x0 and the write end in x1.
    pub fn pipe(cx: &mut SysCtx) -> SysRet {
        crate::kern::sys_pipe::pipe(cx.p).map(|(r, w)| (r as u64, w as u64))
    }

    pub fn fileport_makeport(cx: &mut SysCtx, fd: i32, portnamep: UserAddr) -> SysRet {
        done(crate::kern::sys_fileport::fileport_makeport(cx.p, fd, portnamep))
    }

    pub fn fileport_makefd(cx: &mut SysCtx, port: u32) -> SysRet {
        crate::kern::sys_fileport::fileport_makefd(cx.p, port).map(|fd| (fd as u64, 0))
    }

    /// The descriptor commands, the open file's status flags and no-SIGPIPE flag, its path,
    /// and the cache and sync commands; record locks (F_GETLK...) are not here yet and, as
    /// any unknown command in XNU, are EINVAL. A bad descriptor is EBADF whatever the
    /// command.
    pub fn fcntl(cx: &mut SysCtx, fd: i32, cmd: i32, arg: i64) -> SysRet {
        use crate::kern::kern_descrip::{fcntl_getfl, fcntl_setfl};
        use sys::fcntl::*;
        let mut fdt = cx.p.p_fd.lock();
        match cmd {
            F_GETFL => {
                let fg = fdt.get(fd)?;
                drop(fdt);
                Ok((fcntl_getfl(&fg) as u64, 0))
            }
            F_SETFL => {
                let fg = fdt.get(fd)?;
                drop(fdt);
                // The argument is an `int` (XNU casts the `long` down).
                done(fcntl_setfl(&fg, arg as i32 as u32))
            }
            // The minimum descriptor is an `int` (XNU casts the `long` down).
            F_DUPFD | F_DUPFD_CLOEXEC => {
                fdt.dup_at_least(fd, arg as i32, cmd == F_DUPFD_CLOEXEC).map(|n| (n as u64, 0))
            }
            F_GETFD => {
                let flags = fdt.fd_flags(fd)?;
                let cloexec = flags & crate::kern::kern_descrip::FP_CLOEXEC != 0;
                Ok((if cloexec { FD_CLOEXEC as u64 } else { 0 }, 0))
            }
            F_SETFD => done(fdt.set_cloexec(fd, arg & FD_CLOEXEC as i64 != 0)),
            F_GETPATH => {
                drop(fdt);
                done(vfs_syscalls::fcntl_getpath(cx.p, fd, UserAddr(arg as u64)))
            }
            // No cache to bypass: the ramfs's data is the file. Accepted as XNU accepts it.
            F_NOCACHE => {
                fdt.get(fd)?;
                Ok((0, 0))
            }
            F_FULLFSYNC => {
                drop(fdt);
                done(vfs_syscalls::fsync(cx.p, fd))
            }
            F_SETNOSIGPIPE => {
                let fg = fdt.get(fd)?;
                fg.set_lflags(crate::kern::kern_descrip::FG_NOSIGPIPE, arg != 0);
                Ok((0, 0))
            }
            F_GETNOSIGPIPE => {
                let fg = fdt.get(fd)?;
                Ok((u64::from(fg.lflags() & crate::kern::kern_descrip::FG_NOSIGPIPE != 0), 0))
            }
            _ => {
                fdt.get(fd)?;
                Err(Errno::EINVAL)
            }
        }
    }

    pub fn proc_info(
        cx: &mut SysCtx,
        callnum: i32,
        pid: i32,
        flavor: u32,
        _arg: u64,
        buffer: UserAddr,
        buffersize: i32,
    ) -> SysRet {
        crate::kern::proc_info::proc_info(cx.p, callnum, pid, flavor, buffer, buffersize).map(|n| (n, 0))
    }

    pub fn getrlimit(cx: &mut SysCtx, which: u32, rlp: UserAddr) -> SysRet {
        let rlp = UserPtr::new(rlp.0)?;
        rlp.write(&kern_rlimit::getrlimit(cx.p, which)?)?;
        Ok((0, 0))
    }

    pub fn setrlimit(cx: &mut SysCtx, which: u32, rlp: UserAddr) -> SysRet {
        let new = UserPtr::new(rlp.0)?.read()?;
        done(kern_rlimit::setrlimit(cx.p, which, new))
    }

    pub fn getpriority(cx: &mut SysCtx, which: i32, who: u32) -> SysRet {
        kern_resource::getpriority(cx.p, which, who).map(|n| (n as i64 as u64, 0))
    }

    pub fn setpriority(cx: &mut SysCtx, which: i32, who: u32, prio: i32) -> SysRet {
        done(kern_resource::setpriority(cx.p, which, who, prio))
    }

    pub fn gettimeofday(_: &mut SysCtx, tp: UserAddr, tzp: UserAddr, mach_absolute_time: UserAddr) -> SysRet {
        // NULL means "not wanted" for each pointer; a bad one is EFAULT before anything is
        // written (each is checked when it is built).
        let tp = UserPtr::<Timeval>::new_opt(tp.0)?;
        let tzp = UserPtr::<Timezone>::new_opt(tzp.0)?;
        let abs = UserPtr::<u64>::new_opt(mach_absolute_time.0)?;
        let (tv, now) = crate::kern::kern_time::microtime();
        if let Some(tp) = tp {
            tp.write(&tv)?;
        }
        if let Some(tzp) = tzp {
            tzp.write(&Timezone::default())?;
        }
        if let Some(abs) = abs {
            abs.write(&now)?;
        }
        Ok((0, 0))
    }

    pub fn mmap(
        cx: &mut SysCtx,
        addr: UserAddr,
        len: usize,
        prot: i32,
        flags: i32,
        fd: i32,
        pos: i64,
    ) -> SysRet {
        kern_mman::mmap(cx.p, addr, len, prot, flags, fd, pos).map(|at| (at.0, 0))
    }

    pub fn munmap(cx: &mut SysCtx, addr: UserAddr, len: usize) -> SysRet {
        done(kern_mman::munmap(cx.p, addr, len))
    }

    pub fn mprotect(cx: &mut SysCtx, addr: UserAddr, len: usize, prot: i32) -> SysRet {
        done(kern_mman::mprotect(cx.p, addr, len, prot))
    }

    pub fn msync(cx: &mut SysCtx, addr: UserAddr, len: usize, flags: i32) -> SysRet {
        done(kern_mman::msync(cx.p, addr, len, flags))
    }

    pub fn madvise(cx: &mut SysCtx, addr: UserAddr, len: usize, behav: i32) -> SysRet {
        done(kern_mman::madvise(cx.p, addr, len, behav))
    }

    pub fn minherit(cx: &mut SysCtx, addr: UserAddr, len: usize, inherit: i32) -> SysRet {
        done(kern_mman::minherit(cx.p, addr, len, inherit))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn bsdthread_register(
        cx: &mut SysCtx,
        threadstart: UserAddr,
        wqthread: UserAddr,
        _flags: u32,
        _stack_addr_hint: UserAddr,
        _targetconc_ptr: UserAddr,
        _dispatchqueue_offset: u32,
        tsd_offset: u32,
    ) -> SysRet {
        pthread_support::bsdthread_register(cx.p, threadstart, wqthread, tsd_offset).map(|f| (f, 0))
    }

    pub fn bsdthread_create(
        cx: &mut SysCtx,
        func: UserAddr,
        func_arg: UserAddr,
        stack: UserAddr,
        pthread: UserAddr,
        flags: u32,
    ) -> SysRet {
        pthread_support::bsdthread_create(cx.p, func, func_arg, stack, pthread, flags).map(|t| (t.0, 0))
    }

    pub fn bsdthread_terminate(
        cx: &mut SysCtx,
        stackaddr: UserAddr,
        freesize: usize,
        port: u32,
        _sema_or_ulock: UserAddr,
    ) -> SysRet {
        done(pthread_support::bsdthread_terminate(cx.p, stackaddr, freesize, port))
    }

    pub fn chdir(cx: &mut SysCtx, path: UserAddr) -> SysRet {
        done(crate::vfs::vfs_syscalls::chdir(cx.p, path))
    }

    pub fn fchdir(cx: &mut SysCtx, fd: i32) -> SysRet {
        done(crate::vfs::vfs_syscalls::fchdir(cx.p, fd))
    }

    pub fn __pthread_chdir(cx: &mut SysCtx, path: UserAddr) -> SysRet {
        done(crate::vfs::vfs_syscalls::pthread_chdir(cx.p, path))
    }

    pub fn __pthread_fchdir(cx: &mut SysCtx, fd: i32) -> SysRet {
        done(crate::vfs::vfs_syscalls::pthread_fchdir(cx.p, fd))
    }

    pub fn chroot(cx: &mut SysCtx, path: UserAddr) -> SysRet {
        done(crate::vfs::vfs_syscalls::chroot(cx.p, path))
    }

    pub fn mkdir(cx: &mut SysCtx, path: UserAddr, mode: i32) -> SysRet {
        done(vfs_syscalls::mkdirat(cx.p, AT_FDCWD, path, mode))
    }

    pub fn unlink(cx: &mut SysCtx, path: UserAddr) -> SysRet {
        done(vfs_syscalls::unlinkat(cx.p, AT_FDCWD, path, 0))
    }

    pub fn rmdir(cx: &mut SysCtx, path: UserAddr) -> SysRet {
        done(vfs_syscalls::unlinkat(cx.p, AT_FDCWD, path, sys::fcntl::AT_REMOVEDIR))
    }

    pub fn rename(cx: &mut SysCtx, from: UserAddr, to: UserAddr) -> SysRet {
        done(vfs_syscalls::renameat(cx.p, AT_FDCWD, from, AT_FDCWD, to))
    }

    pub fn stat64(cx: &mut SysCtx, path: UserAddr, ub: UserAddr) -> SysRet {
        done(vfs_syscalls::fstatat64(cx.p, AT_FDCWD, path, ub, 0))
    }

    pub fn lstat64(cx: &mut SysCtx, path: UserAddr, ub: UserAddr) -> SysRet {
        done(vfs_syscalls::fstatat64(cx.p, AT_FDCWD, path, ub, sys::fcntl::AT_SYMLINK_NOFOLLOW))
    }

    pub fn fstat64(cx: &mut SysCtx, fd: i32, ub: UserAddr) -> SysRet {
        done(crate::vfs::vfs_syscalls::fstat64(cx.p, fd, ub))
    }

    pub fn lseek(cx: &mut SysCtx, fd: i32, offset: i64, whence: i32) -> SysRet {
        crate::vfs::vfs_syscalls::lseek(cx.p, fd, offset, whence).map(|off| (off, 0))
    }

    pub fn truncate(cx: &mut SysCtx, path: UserAddr, length: i64) -> SysRet {
        done(vfs_syscalls::truncate(cx.p, path, length))
    }

    pub fn ftruncate(cx: &mut SysCtx, fd: i32, length: i64) -> SysRet {
        done(vfs_syscalls::ftruncate(cx.p, fd, length))
    }

    pub fn flock(cx: &mut SysCtx, fd: i32, how: i32) -> SysRet {
        done(vfs_syscalls::flock(cx.p, fd, how))
    }

    pub fn statfs64(cx: &mut SysCtx, path: UserAddr, buf: UserAddr) -> SysRet {
        done(vfs_syscalls::statfs64(cx.p, path, buf))
    }

    pub fn fstatfs64(cx: &mut SysCtx, fd: i32, buf: UserAddr) -> SysRet {
        done(vfs_syscalls::fstatfs64(cx.p, fd, buf))
    }

    pub fn getfsstat64(_: &mut SysCtx, buf: UserAddr, bufsize: i32, flags: i32) -> SysRet {
        vfs_syscalls::getfsstat64(buf, bufsize, flags).map(count)
    }

    pub fn mount(cx: &mut SysCtx, fstype: UserAddr, path: UserAddr, flags: i32, data: UserAddr) -> SysRet {
        done(vfs_syscalls::mount(cx.p, fstype, path, flags, data))
    }

    pub fn unmount(cx: &mut SysCtx, path: UserAddr, flags: i32) -> SysRet {
        done(vfs_syscalls::unmount(cx.p, path, flags))
    }

    pub fn getdirentries64(
        cx: &mut SysCtx,
        fd: i32,
        buf: UserAddr,
        bufsize: usize,
        position: UserAddr,
    ) -> SysRet {
        crate::vfs::vfs_syscalls::getdirentries64(cx.p, fd, buf, bufsize, position).map(|n| (n as u64, 0))
    }
}

/// `sysent`: each implemented call's handler, its arguments converted from the registers to
/// the table's types (`argtypes::TYPE`, so the handler must take exactly those).
macro_rules! build_sysent {
    ($( ($nr:literal, $name:ident, $ret:ident, [$($arg:ident: $ty:ident),*]) ),* $(,)?) => {
        fn sysent_call(nr: u32, cx: &mut SysCtx, regs: [u64; 8]) -> Option<SysRet> {
            let mut args = ArgRegs::new(regs);
            match nr {
                $( $nr => Some(handlers::$name(cx, $( args.take::<argtypes::$ty>() ),*)), )*
                _ => None,
            }
        }
    };
}
sys::for_each_std_syscall!(build_sysent);

/// Handle `svc #0x80` with a non-negative x16 (`unix_syscall`).
pub fn unix_syscall(frame: &mut TrapFrame) {
    let Some(p) = current_proc() else { return };
    let (nr, regs) = unix_syscall_args(frame);
    let info = sysent_info(nr);
    let result = match info.status {
        SysStatus::Std => sysent_call(nr, &mut SysCtx { p: &p, frame }, regs).unwrap_or(Err(Errno::ENOSYS)),
        SysStatus::ENoSys => Err(Errno::ENOSYS),
        SysStatus::NoSys | SysStatus::Unimpl => {
            // XNU's nosys posts SIGSYS to the calling thread.
            let me = osfmk::kern::sched_prim::current_thread();
            let _ = crate::kern::kern_sig::psignal_thread(&p, &me, sys::signal::SIGSYS, false);
            Err(Errno::ENOSYS)
        }
    };
    unix_syscall_return(frame, info.ret, result);
}
