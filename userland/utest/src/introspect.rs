//! `sysctl` and the remaining signal calls from user space (issue M1.4): named kernel
//! values, `sigsuspend`, `sigaltstack` and `__pthread_kill`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use libsys::process::{Forked, fork, waitpid};
use libsys::signal::{install, kill, signal_action, sigprocmask};
use libsys::syscall::{__pthread_kill, exit_process, getpid, setuid, sigaltstack, sigsuspend, sysctl};
use libsys::{Args, Errno};
use sys::signal::*;
use sys::sysctl::*;
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("sysctl: kernel and hardware names", sysctl_values),
    ("sysctl: sizes, short buffers and errors", sysctl_errors),
    ("sysctl: kern.hostname is settable by root only", sysctl_hostname),
    ("sigsuspend waits with a temporary mask", suspend),
    ("sigaltstack: a handler runs on the alternate stack", altstack),
    ("__pthread_kill signals one thread", pthread_kill),
];

fn read(name: &[i32], buf: &mut [u8]) -> Result<usize, Errno> {
    let mut len = buf.len() as u64;
    // SAFETY: all pointers are to live buffers of the sizes given.
    unsafe {
        sysctl(
            name.as_ptr() as u64,
            name.len() as u64,
            buf.as_mut_ptr() as u64,
            &mut len as *mut u64 as u64,
            0,
            0,
        )?;
    }
    Ok(len as usize)
}

fn read_u64(name: &[i32]) -> Result<u64, Errno> {
    let mut b = [0u8; 8];
    let n = read(name, &mut b)?;
    Ok(if n == 4 { u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64 } else { u64::from_le_bytes(b) })
}

fn sysctl_values(_: &Args) -> Result<(), &'static str> {
    let mut buf = [0u8; 128];
    let n = read(&[CTL_KERN, KERN_OSTYPE], &mut buf).map_err(|_| "kern.ostype")?;
    check(&buf[..n] == b"rxnu\0", "kern.ostype")?;
    let n = read(&[CTL_KERN, KERN_VERSION], &mut buf).map_err(|_| "kern.version")?;
    check(buf[..n].starts_with(b"rxnu Version "), "kern.version")?;
    let n = read(&[CTL_HW, HW_MACHINE], &mut buf).map_err(|_| "hw.machine")?;
    check(&buf[..n] == b"arm64\0", "hw.machine")?;
    check(read_u64(&[CTL_HW, HW_NCPU]) == Ok(1), "hw.ncpu")?;
    check(read_u64(&[CTL_HW, HW_PAGESIZE]) == Ok(4096), "hw.pagesize")?;
    check(read_u64(&[CTL_HW, HW_MEMSIZE]).is_ok_and(|m| m >= 64 << 20), "hw.memsize")?;
    check(read_u64(&[CTL_KERN, KERN_ARGMAX]).is_ok_and(|a| a >= 64 * 1024), "kern.argmax")
}

fn sysctl_errors(_: &Args) -> Result<(), &'static str> {
    let name = [CTL_KERN, KERN_OSTYPE];
    let mut len = 0u64;
    // SAFETY: valid pointers, or deliberately bad ones the kernel must reject.
    unsafe {
        sysctl(name.as_ptr() as u64, 2, 0, &mut len as *mut u64 as u64, 0, 0).map_err(|_| "size query")?;
        check(len == 5, "size query should say 5")?;
        check(sysctl(name.as_ptr() as u64, 0, 0, 0, 0, 0) == Err(Errno::EINVAL), "namelen 0")?;
        check(sysctl(name.as_ptr() as u64, 13, 0, 0, 0, 0) == Err(Errno::EINVAL), "namelen 13")?;
        check(sysctl(KERNEL_ADDRESS, 2, 0, 0, 0, 0) == Err(Errno::EFAULT), "bad name pointer")?;
        let bad = [CTL_KERN, 9999];
        check(sysctl(bad.as_ptr() as u64, 2, 0, 0, 0, 0) == Err(Errno::ENOENT), "unknown name")?;
        let ro = 7u32;
        check(
            sysctl(name.as_ptr() as u64, 2, 0, 0, &ro as *const u32 as u64, 4) == Err(Errno::EPERM),
            "read-only",
        )?;
    }
    let mut small = [0u8; 2];
    check(read(&name, &mut small) == Err(Errno::ENOMEM), "a short buffer is ENOMEM")?;
    check(&small == b"rx", "the short buffer gets what fits")
}

fn sysctl_hostname(_: &Args) -> Result<(), &'static str> {
    let name = [CTL_KERN, KERN_HOSTNAME];
    let new = b"rxnu-test\0";
    // SAFETY: valid pointers.
    unsafe { sysctl(name.as_ptr() as u64, 2, 0, 0, new.as_ptr() as u64, new.len() as u64) }
        .map_err(|_| "root could not set the host name")?;
    let mut buf = [0u8; 64];
    let n = read(&name, &mut buf).map_err(|_| "read back")?;
    check(&buf[..n] == b"rxnu-test\0", "the host name did not change")?;
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // SAFETY: no pointers, then valid pointers.
            let denied = unsafe {
                let _ = setuid(1000);
                sysctl(name.as_ptr() as u64, 2, 0, 0, c"x".as_ptr() as u64, 2) == Err(Errno::EPERM)
            };
            exit_process(i32::from(!denied))
        }
        Forked::Parent(pid) => waitpid(pid, 0).map_err(|_| "wait4")?.1,
    };
    check(wifexited(status) && wexitstatus(status) == 0, "a user could set the host name")
}

static CAUGHT: AtomicU64 = AtomicU64::new(0);

extern "C" fn count(_: i32, _: u64, _: u64) {
    CAUGHT.fetch_add(1, Ordering::SeqCst);
}

fn suspend(_: &Args) -> Result<(), &'static str> {
    CAUGHT.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, count, 0, 0).map_err(|_| "sigaction")?;
    sigprocmask(SIG_BLOCK, sigmask(SIGUSR1)).map_err(|_| "block")?;
    // SAFETY: no pointers.
    let me = unsafe { getpid() }.unwrap_or(0) as i32;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(20);
            let _ = kill(me, SIGUSR1);
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    // SAFETY: the mask is passed by value.
    let r = unsafe { sigsuspend(0) };
    check(r == Err(Errno::EINTR), "sigsuspend returns EINTR")?;
    check(CAUGHT.load(Ordering::SeqCst) == 1, "the handler ran during sigsuspend")?;
    let mask = sigprocmask(SIG_BLOCK, 0).map_err(|_| "mask")?;
    check(mask & sigmask(SIGUSR1) != 0, "the old mask is back after sigsuspend")?;
    let _ = waitpid(child, 0);
    sigprocmask(SIG_UNBLOCK, sigmask(SIGUSR1)).map_err(|_| "unblock")?;
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

const ALT_SIZE: usize = 32 * 1024;
#[repr(C, align(16))]
struct AltStack(UnsafeCell<[u8; ALT_SIZE]>);
// SAFETY: only the signal handler runs on it, one at a time.
unsafe impl Sync for AltStack {}
static ALT: AltStack = AltStack(UnsafeCell::new([0; ALT_SIZE]));
static HANDLER_SP: AtomicU64 = AtomicU64::new(0);

extern "C" fn where_am_i(_: i32, _: u64, _: u64) {
    let local = 0u8;
    HANDLER_SP.store(core::hint::black_box(&local) as *const u8 as u64, Ordering::SeqCst);
}

fn altstack(_: &Args) -> Result<(), &'static str> {
    let base = ALT.0.get() as u64;
    let stack = SigaltStack { ss_sp: base, ss_size: ALT_SIZE as u64, ss_flags: 0, _pad: 0 }.to_bytes();
    let tiny = SigaltStack { ss_sp: base, ss_size: 512, ss_flags: 0, _pad: 0 }.to_bytes();
    // SAFETY: valid 24-byte buffers.
    unsafe {
        check(sigaltstack(tiny.as_ptr() as u64, 0) == Err(Errno::ENOMEM), "a 512-byte stack is ENOMEM")?;
        sigaltstack(stack.as_ptr() as u64, 0).map_err(|_| "sigaltstack")?;
    }
    signal_action(SIGUSR2, where_am_i, 0, SA_ONSTACK).map_err(|_| "sigaction")?;
    // SAFETY: no pointers.
    let me = unsafe { getpid() }.unwrap_or(0) as i32;
    kill(me, SIGUSR2).map_err(|_| "kill")?;
    let sp = HANDLER_SP.load(Ordering::SeqCst);
    check((base..base + ALT_SIZE as u64).contains(&sp), "the handler did not run on the alternate stack")?;
    let off = SigaltStack { ss_sp: 0, ss_size: 0, ss_flags: SS_DISABLE, _pad: 0 }.to_bytes();
    // SAFETY: a valid 24-byte buffer.
    unsafe { sigaltstack(off.as_ptr() as u64, 0) }.map_err(|_| "disable")?;
    install(SIGUSR2, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

fn pthread_kill(_: &Args) -> Result<(), &'static str> {
    CAUGHT.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, count, 0, 0).map_err(|_| "sigaction")?;
    let me = libsys::mach_traps::mach_thread_self() as u64;
    // SAFETY: no pointers.
    unsafe {
        __pthread_kill(me, SIGUSR1 as u64).map_err(|_| "__pthread_kill")?;
        check(CAUGHT.load(Ordering::SeqCst) == 1, "the thread's handler did not run")?;
        check(__pthread_kill(0x4243, SIGUSR1 as u64) == Err(Errno::ESRCH), "not a thread port")?;
        check(__pthread_kill(me, 99) == Err(Errno::EINVAL), "bad signal")?;
    }
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}
