//! The BSD system call table (`sysent`) and its dispatcher (`unix_syscall`).
//!
//! `sysent` is generated from `bsd/sys/syscalls.master`: every STD entry there names a
//! function here with the same name, taking the argument registers. Results go back as XNU
//! does (reference §1.2): success clears PSTATE.C and fills x0/x1 by return kind; failure
//! sets C with the errno in x0. Numbers with no implementation post SIGSYS and fail with
//! ENOSYS (`nosys`), or fail quietly (`enosys`) where XNU does.

use osfmk::arm64::copyio::{UserAddr, copyin, copyout};
use osfmk::arm64::trapframe::TrapFrame;
use osfmk::vm::user_ptr::UserPtr;
use sys::Errno;
use sys::syscalls::{RetKind, SysStatus, sysent_info};
use sys::time::{Timeval, Timezone};
use sys::trap::PSR64_CF;
use sys::wait::w_exitcode;

use crate::kern::kern_exit::exit1;
use crate::kern::kern_proc::{Proc, current_proc};

/// Two result registers (x0, x1).
pub type SysRet = Result<(u64, u64), Errno>;

/// Argument registers as the call sees them, and the caller's trap frame (for the calls
/// that set registers themselves: fork's child, execve, sigreturn).
pub struct SysArgs<'a>(pub [u64; 8], pub &'a mut TrapFrame);

/// Bytes moved per step by read and write: bounds kernel buffers, not the request.
const IO_CHUNK: usize = 4096;

/// `struct rusage` from user and system counter ticks.
fn rusage_of((user, system): (u64, u64)) -> sys::resource::Rusage {
    let tv = |ticks: u64| {
        let ns = osfmk::kern::clock::absolutetime_to_nanoseconds(ticks);
        sys::time::Timeval {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_usec: ((ns / 1000) % 1_000_000) as i32,
            _pad: 0,
        }
    };
    sys::resource::Rusage { ru_utime: tv(user), ru_stime: tv(system), ..Default::default() }
}

/// Handlers, one per STD line of syscalls.master.
mod handlers {
    use super::*;

    pub fn exit(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        exit1(p, w_exitcode(a.0[0] as i32));
        // The thread ends on its way out (AST); no register matters any more.
        Err(Errno::EJUSTRETURN)
    }

    pub fn read(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let (fd, buf, nbyte) = (a.0[0], a.0[1], a.0[2]);
        let fg = p.p_fd.lock().get(fd)?;
        if fg.fg_flag & crate::kern::kern_descrip::FREAD == 0 {
            return Err(Errno::EBADF);
        }
        if nbyte > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let mut kbuf = [0u8; IO_CHUNK];
        let want = (nbyte as usize).min(IO_CHUNK);
        let offset = *fg.fg_offset.lock();
        let n = fg.fg_ops.read(&mut kbuf[..want], offset)?;
        copyout(&kbuf[..n], UserAddr(buf)).map_err(|_| Errno::EFAULT)?;
        if fg.fg_ops.seekable() {
            *fg.fg_offset.lock() += n as u64;
        }
        Ok((n as u64, 0))
    }

    pub fn write(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let (fd, buf, nbyte) = (a.0[0], a.0[1], a.0[2]);
        let fg = p.p_fd.lock().get(fd)?;
        if fg.fg_flag & crate::kern::kern_descrip::FWRITE == 0 {
            return Err(Errno::EBADF);
        }
        if nbyte > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let mut kbuf = [0u8; IO_CHUNK];
        let mut done: u64 = 0;
        while done < nbyte {
            let want = ((nbyte - done) as usize).min(IO_CHUNK);
            let src = UserAddr(buf).offset(done).ok_or(Errno::EFAULT)?;
            // A bad address part-way through ends the write short, as on BSD; a bad address
            // at the start is EFAULT.
            let got = match copyin(src, &mut kbuf[..want]) {
                Ok(()) => want,
                Err(partial) => partial,
            };
            if got > 0 {
                let offset = *fg.fg_offset.lock();
                let n = fg.fg_ops.write(&kbuf[..got], offset)?;
                done += n as u64;
                if fg.fg_ops.seekable() {
                    *fg.fg_offset.lock() += n as u64;
                }
            }
            if got < want {
                return if done == 0 { Err(Errno::EFAULT) } else { Ok((done, 0)) };
            }
        }
        Ok((done, 0))
    }

    pub fn getpid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.p_pid as u64, 0))
    }

    pub fn getppid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.ppid() as u64, 0))
    }

    pub fn getuid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.p_ucred.lock().ruid as u64, 0))
    }

    pub fn geteuid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.p_ucred.lock().uid as u64, 0))
    }

    pub fn getgid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.p_ucred.lock().rgid as u64, 0))
    }

    pub fn getegid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.p_ucred.lock().gid as u64, 0))
    }

    pub fn fork(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_fork::fork1(p, a.1).map(|pid| (pid as u64, 0))
    }

    pub fn vfork(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        // vfork may be fork: copy-on-write makes the copy cheap.
        fork(p, a)
    }

    pub fn execve(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let (path, argv, envp) = (a.0[0], a.0[1], a.0[2]);
        crate::kern::kern_exec::execve(p, path, argv, envp, a.1).map(|()| (0, 0))
    }

    pub fn posix_spawn(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [pid, path, adesc, argv, envp, ..] = a.0;
        crate::kern::kern_spawn::posix_spawn(p, pid, path, adesc, argv, envp).map(|()| (0, 0))
    }

    pub fn wait4(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [pid, status, options, rusage, ..] = a.0;
        let Some(w) = crate::kern::kern_exit::wait4(p, pid as i32, options as i32)? else {
            return Ok((0, 0));
        };
        if status != 0 {
            copyout(&w.status.to_le_bytes(), UserAddr(status)).map_err(|_| Errno::EFAULT)?;
        }
        if rusage != 0 {
            copyout(&rusage_of(w.times).to_bytes(), UserAddr(rusage)).map_err(|_| Errno::EFAULT)?;
        }
        Ok((w.pid as u64, 0))
    }

    pub fn getrusage(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        const RUSAGE_SELF: i32 = 0;
        const RUSAGE_CHILDREN: i32 = -1;
        let times = match a.0[0] as i32 {
            RUSAGE_SELF => p.cpu_times(),
            RUSAGE_CHILDREN => *p.p_cru.lock(),
            _ => return Err(Errno::EINVAL),
        };
        copyout(&rusage_of(times).to_bytes(), UserAddr(a.0[1])).map_err(|_| Errno::EFAULT)?;
        Ok((0, 0))
    }

    pub fn kill(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::kill(p, a.0[0] as i32, a.0[1] as u32).map(|()| (0, 0))
    }

    pub fn sigaction(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::sigaction(p, a.0[0], a.0[1], a.0[2]).map(|()| (0, 0))
    }

    pub fn sigprocmask(_: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::sigprocmask(a.0[0], a.0[1], a.0[2]).map(|()| (0, 0))
    }

    pub fn __pthread_sigmask(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        sigprocmask(p, a)
    }

    pub fn sigpending(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::sigpending(p, a.0[0]).map(|()| (0, 0))
    }

    pub fn sigsuspend(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::sigsuspend(p, a.0[0]).map(|()| (0, 0))
    }

    pub fn sigaltstack(_: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::sigaltstack(a.0[0], a.0[1]).map(|()| (0, 0))
    }

    pub fn sigreturn(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let (uctx, infostyle, token) = (a.0[0], a.0[1], a.0[2]);
        crate::kern::kern_sig::sigreturn(p, uctx, infostyle, token, a.1).map(|()| (0, 0))
    }

    pub fn __pthread_kill(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_sig::pthread_kill(p, a.0[0], a.0[1]).map(|()| (0, 0))
    }

    pub fn getpgrp(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.pgrp() as u64, 0))
    }

    pub fn setpgid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::setpgid(p, a.0[0] as i32 as i64, a.0[1] as i32 as i64).map(|()| (0, 0))
    }

    pub fn getpgid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::getpgid(p, a.0[0] as i32 as i64).map(|g| (g as u64, 0))
    }

    pub fn setsid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::setsid(p).map(|s| (s as u64, 0))
    }

    pub fn getsid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::getsid(p, a.0[0] as i32 as i64).map(|s| (s as u64, 0))
    }

    pub fn setuid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::setuid(p, a.0[0] as u32).map(|()| (0, 0))
    }

    pub fn seteuid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::seteuid(p, a.0[0] as u32).map(|()| (0, 0))
    }

    pub fn setgid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::setgid(p, a.0[0] as u32).map(|()| (0, 0))
    }

    pub fn setegid(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_prot::setegid(p, a.0[0] as u32).map(|()| (0, 0))
    }

    pub fn issetugid(p: &alloc::sync::Arc<Proc>, _: &mut SysArgs) -> SysRet {
        Ok((p.p_sugid.load(core::sync::atomic::Ordering::Relaxed) as u64, 0))
    }

    pub fn sysctl(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [name, namelen, oldp, oldlenp, newp, newlen, ..] = a.0;
        crate::kern::kern_sysctl::sysctl(p, name, namelen, oldp, oldlenp, newp, newlen).map(|()| (0, 0))
    }

    pub fn open(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [path, flags, mode, ..] = a.0;
        crate::vfs::vfs_syscalls::open(p, path, flags as u32, mode as u16).map(|fd| (fd as u64, 0))
    }

    pub fn close(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        p.p_fd.lock().close(a.0[0]).map(|()| (0, 0))
    }

    pub fn dup(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        p.p_fd.lock().dup_at_least(a.0[0], 0, false).map(|fd| (fd as u64, 0))
    }

    pub fn dup2(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [from, to, ..] = a.0;
        p.p_fd.lock().dup2(from, to).map(|()| (to, 0))
    }

    /// The descriptor commands; the open-file status commands (F_GETFL, F_SETFL, locks)
    /// arrive with the file system calls and are EINVAL until then.
    pub fn fcntl(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        use sys::fcntl::*;
        let [fd, cmd, arg, ..] = a.0;
        let mut fdt = p.p_fd.lock();
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                fdt.dup_at_least(fd, arg, cmd == F_DUPFD_CLOEXEC).map(|n| (n as u64, 0))
            }
            F_GETFD => {
                let flags = fdt.fd_flags(fd)?;
                Ok((if flags & crate::kern::kern_descrip::FP_CLOEXEC != 0 { FD_CLOEXEC } else { 0 }, 0))
            }
            F_SETFD => fdt.set_cloexec(fd, arg & FD_CLOEXEC != 0).map(|()| (0, 0)),
            _ => {
                fdt.get(fd)?;
                Err(Errno::EINVAL)
            }
        }
    }

    pub fn proc_info(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [callnum, pid, flavor, _arg, buffer, buffersize, ..] = a.0;
        crate::kern::proc_info::proc_info(p, callnum, pid as i32, flavor as u32, buffer, buffersize as i32)
            .map(|n| (n, 0))
    }

    pub fn sysctlbyname(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [name, namelen, oldp, oldlenp, newp, newlen, ..] = a.0;
        crate::kern::kern_sysctl::sysctlbyname(p, name, namelen, oldp, oldlenp, newp, newlen).map(|()| (0, 0))
    }

    pub fn getrlimit(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let limit = crate::kern::kern_rlimit::getrlimit(p, a.0[0])?;
        copyout(&limit.to_bytes(), UserAddr(a.0[1])).map_err(|_| Errno::EFAULT)?;
        Ok((0, 0))
    }

    pub fn setrlimit(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let mut b = [0u8; 16];
        copyin(UserAddr(a.0[1]), &mut b).map_err(|_| Errno::EFAULT)?;
        crate::kern::kern_rlimit::setrlimit(p, a.0[0], sys::resource::Rlimit::from_bytes(b)).map(|()| (0, 0))
    }

    pub fn getpriority(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_resource::getpriority(p, a.0[0], a.0[1]).map(|n| (n as i64 as u64, 0))
    }

    pub fn setpriority(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_resource::setpriority(p, a.0[0], a.0[1], a.0[2] as i32 as i64).map(|()| (0, 0))
    }

    pub fn gettimeofday(_: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        // NULL means "not wanted" for each pointer; a bad one is EFAULT before anything is
        // written (each is checked when it is built).
        let tp = UserPtr::<Timeval>::new_opt(a.0[0])?;
        let tzp = UserPtr::<Timezone>::new_opt(a.0[1])?;
        let abs = UserPtr::<u64>::new_opt(a.0[2])?;
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

    pub fn mmap(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [addr, len, prot, flags, fd, pos, ..] = a.0;
        crate::kern::kern_mman::mmap(p, addr, len, prot, flags, fd, pos).map(|at| (at, 0))
    }

    pub fn munmap(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_mman::munmap(p, a.0[0], a.0[1]).map(|()| (0, 0))
    }

    pub fn mprotect(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_mman::mprotect(p, a.0[0], a.0[1], a.0[2] as u32 as u64).map(|()| (0, 0))
    }

    pub fn madvise(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_mman::madvise(p, a.0[0], a.0[1], a.0[2] as u32 as u64).map(|()| (0, 0))
    }

    pub fn minherit(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::kern_mman::minherit(p, a.0[0], a.0[1], a.0[2] as u32 as u64).map(|()| (0, 0))
    }

    pub fn bsdthread_register(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::pthread_support::bsdthread_register(p, a.0[0], a.0[1], a.0[6]).map(|f| (f, 0))
    }

    pub fn bsdthread_create(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        let [func, arg, stack, pthread, flags, ..] = a.0;
        crate::kern::pthread_support::bsdthread_create(p, func, arg, stack, pthread, flags).map(|t| (t, 0))
    }

    pub fn bsdthread_terminate(p: &alloc::sync::Arc<Proc>, a: &mut SysArgs) -> SysRet {
        crate::kern::pthread_support::bsdthread_terminate(p, a.0[0], a.0[1], a.0[2]).map(|()| (0, 0))
    }
}

macro_rules! build_sysent {
    ($( ($nr:literal, $name:ident, $ret:ident, [$($arg:ident),*]) ),* $(,)?) => {
        fn sysent_call(nr: u32, p: &alloc::sync::Arc<Proc>, args: &mut SysArgs) -> Option<SysRet> {
            match nr {
                $( $nr => Some(handlers::$name(p, args)), )*
                _ => None,
            }
        }
    };
}
sys::for_each_std_syscall!(build_sysent);

/// Handle `svc #0x80` with a non-negative x16 (`unix_syscall`).
pub fn unix_syscall(frame: &mut TrapFrame) {
    let Some(p) = current_proc() else { return };
    // The BSD number is the low 16 bits; 0 means "indirect": number in x0, args from x1.
    let mut nr = frame.x[16] as u16 as u32;
    let mut regs = [0u64; 8];
    if nr == 0 {
        nr = frame.x[0] as u16 as u32;
        regs[..7].copy_from_slice(&frame.x[1..8]);
    } else {
        regs.copy_from_slice(&frame.x[..8]);
    }
    let info = sysent_info(nr);
    let result = match info.status {
        SysStatus::Std => sysent_call(nr, &p, &mut SysArgs(regs, frame)).unwrap_or(Err(Errno::ENOSYS)),
        SysStatus::ENoSys => Err(Errno::ENOSYS),
        SysStatus::NoSys | SysStatus::Unimpl => {
            // XNU's nosys posts SIGSYS to the calling thread.
            let me = osfmk::kern::sched_prim::current_thread();
            let _ = crate::kern::kern_sig::psignal_thread(&p, &me, sys::signal::SIGSYS, false);
            Err(Errno::ENOSYS)
        }
    };
    match result {
        Ok((rv0, rv1)) => {
            frame.spsr &= !PSR64_CF;
            match info.ret {
                RetKind::None => {}
                RetKind::Int => {
                    frame.x[0] = rv0 as i32 as i64 as u64;
                    frame.x[1] = rv1 as i32 as i64 as u64;
                }
                RetKind::UInt => {
                    frame.x[0] = rv0 as u32 as u64;
                    frame.x[1] = rv1 as u32 as u64;
                }
                RetKind::Ssize | RetKind::Off | RetKind::Addr => {
                    frame.x[0] = rv0;
                    frame.x[1] = 0;
                }
            }
        }
        Err(e) if e == Errno::EJUSTRETURN => {}
        Err(e) if e == Errno::ERESTART => frame.elr -= 4,
        Err(e) => {
            frame.spsr |= PSR64_CF;
            frame.x[0] = e.0 as u64;
            frame.x[1] = 0;
        }
    }
}
