//! `sysctl` and the remaining signal calls from user space (issue M1.4): named kernel
//! values, `sigsuspend`, `sigaltstack` and `__pthread_kill`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use libsys::introspect::{
    proc_listpids as listpids, proc_pidinfo as pidinfo, sysctl_read as read, sysctlbyname_read as by_name,
};
use libsys::process::{Forked, fork, waitpid};
use libsys::signal::{install, kill, signal_action, sigprocmask};
use libsys::syscall::{
    __pthread_kill, exit_process, getpid, getppid, getuid, proc_info, setuid, sigaltstack, sigsuspend, sysctl,
};
use libsys::{Args, Errno};
use sys::proc_info::*;
use sys::signal::*;
use sys::sysctl::*;
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("sysctl: kernel and hardware names", sysctl_values),
    ("sysctl: sizes, short buffers and errors", sysctl_errors),
    ("sysctl: kern.hostname is settable by root only", sysctl_hostname),
    ("sysctlbyname: names, vm.page_free_count, errors", sysctl_by_name),
    ("sysctl kern.proc: all processes, one pid, a zombie, errors", kern_proc),
    ("proc_info: pid lists, bsd and task info, errors and permissions", proc_info_calls),
    ("sigsuspend waits with a temporary mask", suspend),
    ("sigaltstack: a handler runs on the alternate stack", altstack),
    ("__pthread_kill signals one thread", pthread_kill),
];

/// The record at the start of `b`, as the kernel wrote it (zeros where `b` is short).
fn record<T: sys::FromBytes + Default>(b: &[u8]) -> T {
    T::read_from_prefix(b).map_or_else(|_| T::default(), |(v, _)| v)
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
    check(read_u64(&[CTL_HW, HW_NCPU]).is_ok_and(|n| n >= 1), "hw.ncpu")?;
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
    unsafe { sysctl(name.as_ptr() as u64, 2, 0, 0, new.as_ptr() as u64, new.len()) }
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
    let me = getpid().unwrap_or(0) as i32;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(20);
            let _ = kill(me, SIGUSR1);
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let r = sigsuspend(0);
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
    let stack = SigaltStack { ss_sp: base, ss_size: ALT_SIZE as u64, ss_flags: 0, _pad: 0 };
    let tiny = SigaltStack { ss_sp: base, ss_size: 512, ss_flags: 0, _pad: 0 };
    // SAFETY: valid `stack_t`s.
    unsafe {
        check(
            sigaltstack(&tiny as *const SigaltStack as u64, 0) == Err(Errno::ENOMEM),
            "a 512-byte stack is ENOMEM",
        )?;
        sigaltstack(&stack as *const SigaltStack as u64, 0).map_err(|_| "sigaltstack")?;
    }
    signal_action(SIGUSR2, where_am_i, 0, SA_ONSTACK).map_err(|_| "sigaction")?;
    let me = getpid().unwrap_or(0) as i32;
    kill(me, SIGUSR2).map_err(|_| "kill")?;
    let sp = HANDLER_SP.load(Ordering::SeqCst);
    check((base..base + ALT_SIZE as u64).contains(&sp), "the handler did not run on the alternate stack")?;
    let off = SigaltStack { ss_sp: 0, ss_size: 0, ss_flags: SS_DISABLE, _pad: 0 };
    // SAFETY: a valid `stack_t`.
    unsafe { sigaltstack(&off as *const SigaltStack as u64, 0) }.map_err(|_| "disable")?;
    install(SIGUSR2, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

fn pthread_kill(_: &Args) -> Result<(), &'static str> {
    CAUGHT.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, count, 0, 0).map_err(|_| "sigaction")?;
    let me = libsys::mach_traps::mach_thread_self() as i32;
    {
        __pthread_kill(me, SIGUSR1 as i32).map_err(|_| "__pthread_kill")?;
        check(CAUGHT.load(Ordering::SeqCst) == 1, "the thread's handler did not run")?;
        check(__pthread_kill(0x4243, SIGUSR1 as i32) == Err(Errno::ESRCH), "not a thread port")?;
        check(__pthread_kill(me, 99) == Err(Errno::EINVAL), "bad signal")?;
    }
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

const KP: usize = KINFO_PROC_SIZE;

/// Our pid, parent pid and uid.
fn my_ids() -> (i32, i32, u32) {
    {
        (
            getpid().map_or(-1, |p| p as i32),
            getppid().map_or(-1, |p| p as i32),
            getuid().map_or(u32::MAX, |u| u as u32),
        )
    }
}

/// The `kinfo_proc` records `kern.proc.<rest>` returns.
fn kern_proc_read(rest: &[i32], buf: &mut [u8]) -> Result<usize, Errno> {
    let mut name = [CTL_KERN, KERN_PROC, 0, 0];
    name[2..2 + rest.len()].copy_from_slice(rest);
    read(&name[..2 + rest.len()], buf)
}

fn kern_proc(_: &Args) -> Result<(), &'static str> {
    let (me, parent, uid) = my_ids();
    let mut buf = [0u8; 24 * KP];
    // Size first: room for at least the kernel task, init and us.
    let mut len = 0u64;
    let name = [CTL_KERN, KERN_PROC, KERN_PROC_ALL];
    // SAFETY: `name` and `len` are live; no old buffer.
    unsafe { sysctl(name.as_ptr() as u64, 3, 0, &mut len as *mut u64 as u64, 0, 0) }
        .map_err(|_| "size query")?;
    check(len as usize >= 2 * KP && (len as usize).is_multiple_of(KP), "size estimate")?;
    let n = kern_proc_read(&[KERN_PROC_ALL], &mut buf).map_err(|_| "kern.proc.all")?;
    check(n >= 2 * KP && n.is_multiple_of(KP), "whole records")?;
    let mut pids = [0i32; 24];
    for (slot, rec) in pids.iter_mut().zip(buf[..n].chunks_exact(KP)) {
        *slot = record::<KinfoProc>(rec).kp_proc.p_pid;
    }
    let pids = &pids[..n / KP];
    check(
        pids.contains(&0) && pids.contains(&1) && pids.contains(&me),
        "kernel, init and us (maybe init) listed",
    )?;
    check(pids.windows(2).all(|w| w[0] < w[1]), "in pid order")?;
    // Our own record, by pid.
    let n = kern_proc_read(&[KERN_PROC_PID, me], &mut buf).map_err(|_| "kern.proc.pid")?;
    check(n == KP, "one record for one pid")?;
    let k = record::<KinfoProc>(&buf[..KP]);
    check(k.kp_proc.p_pid == me && k.kp_proc.p_stat == SRUN as u8, "our pid and state")?;
    check(&k.kp_proc.p_comm[..6] == b"utest\0", "our command name")?;
    check(k.kp_eproc.e_ppid == parent, "our parent")?;
    check(k.kp_eproc.cr_uid == uid, "our uid")?;
    check(k.kp_proc.p_flag & P_LP64 != 0, "64-bit")?;
    check(kern_proc_read(&[KERN_PROC_PID, 99_999], &mut buf) == Ok(0), "no such pid: empty")?;
    check(kern_proc_read(&[KERN_PROC_UID, 4242], &mut buf) == Ok(0), "nobody with that uid")?;
    check(kern_proc_read(&[KERN_PROC_PGRP, 1], &mut buf).is_ok_and(|n| n >= KP), "init's group")?;
    // A short buffer gets whole records only, and ENOMEM.
    check(kern_proc_read(&[KERN_PROC_ALL], &mut buf[..KP + 100]) == Err(Errno::ENOMEM), "short: ENOMEM")?;
    check(kern_proc_read(&[77, 1], &mut buf) == Err(Errno::EINVAL), "bad selector")?;
    check(kern_proc_read(&[KERN_PROC_PID], &mut buf) == Err(Errno::EINVAL), "pid missing")?;
    // A zombie shows its state and exit status until it is reaped.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(9),
        Forked::Parent(pid) => pid,
    };
    let mut zombie = None;
    for _ in 0..200 {
        if kern_proc_read(&[KERN_PROC_PID, child], &mut buf) == Ok(KP) {
            let k = record::<KinfoProc>(&buf[..KP]);
            if k.kp_proc.p_stat == SZOMB as u8 {
                zombie = Some(k);
                break;
            }
        }
        crate::sched::sleep_ms(5);
    }
    let z = zombie.ok_or("the child never showed as a zombie")?;
    check(
        wexitstatus(z.kp_proc.p_xstat as i32) == 9 && z.kp_eproc.e_ppid == me,
        "zombie's status and parent",
    )?;
    check(waitpid(child as _, 0).is_ok_and(|(_, s)| wifexited(s) && wexitstatus(s) == 9), "reap")?;
    check(kern_proc_read(&[KERN_PROC_PID, child], &mut buf) == Ok(0), "reaped: gone")
}

fn proc_info_calls(_: &Args) -> Result<(), &'static str> {
    let (me, parent, _) = my_ids();
    // SAFETY: no buffer: the call only reports the room needed.
    let room = unsafe { proc_info(PROC_INFO_CALL_LISTPIDS, PROC_ALL_PIDS as i32, 0, 0, 0, 0) };
    check(room.is_ok_and(|r| r >= 8), "room for the pid list")?;
    let mut pids = [0i32; 256];
    let n = listpids(PROC_ALL_PIDS, 0, &mut pids).map_err(|_| "list all")?;
    check(n >= 2, "at least the kernel and us")?;
    let all = &pids[..n];
    check(all.contains(&0) && all.contains(&1) && all.contains(&me), "kernel, init and us")?;
    let n = listpids(PROC_ALL_PIDS, 0, &mut pids[..2]).map_err(|_| "short list")?;
    check(n == 2, "a short buffer gets what fits")?;
    // Our bsd info.
    let mut b = [0u8; PROC_TASKALLINFO_SIZE];
    check(pidinfo(me, PROC_PIDTBSDINFO, &mut b) == Ok(PROC_BSDINFO_SIZE), "bsdinfo size")?;
    let info = record::<ProcBsdInfo>(&b);
    check(info.pbi_pid == me as u32 && info.pbi_status == SRUN, "our pid and state")?;
    check(info.pbi_ppid == parent as u32, "our parent")?;
    check(&info.pbi_comm[..6] == b"utest\0" && info.pbi_flags & PROC_FLAG_LP64 != 0, "comm and flags")?;
    check(info.pbi_nfiles >= 3 && info.pbi_start_tvsec > 1_577_836_800, "open files and start time")?;
    // Our task info, alone and together with the bsd info.
    check(pidinfo(me, PROC_PIDTASKINFO, &mut b) == Ok(PROC_TASKINFO_SIZE), "taskinfo size")?;
    let t = record::<ProcTaskInfo>(&b);
    check(t.pti_threadnum >= 1 && t.pti_numrunning >= 1, "threads")?;
    check(t.pti_virtual_size >= t.pti_resident_size && t.pti_resident_size >= 4096, "memory")?;
    check(pidinfo(me, PROC_PIDTASKALLINFO, &mut b) == Ok(PROC_TASKALLINFO_SIZE), "taskallinfo")?;
    check(record::<ProcBsdInfo>(&b).pbi_pid == me as u32, "taskallinfo's bsd half")?;
    check(record::<ProcTaskInfo>(&b[PROC_BSDINFO_SIZE..]).pti_threadnum >= 1, "taskallinfo's task half")?;
    // A child filter lists exactly the child.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(100);
            exit_process(0)
        }
        Forked::Parent(pid) => pid,
    };
    let n = listpids(PROC_PPID_ONLY, me as u32, &mut pids).map_err(|_| "ppid filter")?;
    // (Running as init, we may have adopted orphans of earlier tests too.)
    check(pids[..n].contains(&child) && !pids[..n].contains(&me), "PROC_PPID_ONLY lists our child")?;
    check(waitpid(child as _, 0).is_ok(), "reap")?;
    // Errors.
    check(pidinfo(99_999, PROC_PIDTBSDINFO, &mut b) == Err(Errno::ESRCH), "no such pid")?;
    check(pidinfo(me, 99, &mut b) == Err(Errno::EINVAL), "bad flavor")?;
    check(pidinfo(me, PROC_PIDTBSDINFO, &mut b[..10]) == Err(Errno::ENOMEM), "buffer too small")?;
    check(listpids(99, 0, &mut pids) == Err(Errno::EINVAL), "bad list kind")?;
    // SAFETY: deliberately bad arguments; the kernel must refuse them.
    unsafe {
        check(proc_info(99, 0, 0, 0, 0, 0) == Err(Errno::EINVAL), "bad call number")?;
        let bad = proc_info(PROC_INFO_CALL_PIDINFO, me, PROC_PIDTBSDINFO, 0, KERNEL_ADDRESS, 4096);
        check(bad == Err(Errno::EFAULT), "kernel buffer")?;
        let neg = proc_info(PROC_INFO_CALL_PIDINFO, me, PROC_PIDTBSDINFO, 0, b.as_mut_ptr() as u64, -1);
        check(neg == Err(Errno::EINVAL), "negative size")?;
    }
    // Not root: other users' identity is public, their task is not.
    let status = crate::proc::in_child(|| {
        let mut b = [0u8; PROC_TASKALLINFO_SIZE];
        if setuid(501).is_err() {
            return 1;
        }
        if pidinfo(1, PROC_PIDTBSDINFO, &mut b) != Ok(PROC_BSDINFO_SIZE) {
            return 2;
        }
        if pidinfo(1, PROC_PIDTASKINFO, &mut b) != Err(Errno::EPERM) {
            return 3;
        }
        let own = my_ids().0;
        if pidinfo(own, PROC_PIDTASKINFO, &mut b) != Ok(PROC_TASKINFO_SIZE) {
            return 4;
        }
        0
    })?;
    check(wifexited(status) && wexitstatus(status) == 0, "non-root permissions")
}

fn sysctl_by_name(_: &Args) -> Result<(), &'static str> {
    let mut buf = [0u8; 64];
    let n = by_name(b"kern.ostype", &mut buf).map_err(|_| "kern.ostype")?;
    check(&buf[..n] == b"rxnu\0", "kern.ostype by name")?;
    let n = by_name(b"hw.pagesize\0", &mut buf).map_err(|_| "hw.pagesize")?;
    check(n == 8 && buf[..8] == 4096u64.to_le_bytes(), "a NUL-terminated name works too")?;
    let free = crate::limits::free_pages()?;
    let n = by_name(b"vm.page_count", &mut buf).map_err(|_| "vm.page_count")?;
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    check(n == 4 && free > 0 && free < total, "free pages fewer than all pages")?;
    check(by_name(b"no.such.name", &mut buf) == Err(Errno::ENOENT), "unknown name: ENOENT")?;
    check(by_name(b"kern", &mut buf) == Err(Errno::ENOENT), "a node is not a value")?;
    // SAFETY: deliberately bad pointers and lengths.
    unsafe {
        let r = libsys::syscall::sysctlbyname(KERNEL_ADDRESS, 8, 0, 0, 0, 0);
        check(r == Err(Errno::EFAULT), "name in kernel memory")?;
        let r = libsys::syscall::sysctlbyname(buf.as_ptr() as u64, 1 << 20, 0, 0, 0, 0);
        check(r == Err(Errno::ENAMETOOLONG), "huge name length")?;
    }
    Ok(())
}
