//! Process introspection for tools such as `ps` (XNU's `bsd/kern/proc_info.c` and the
//! `kern.proc` node of `kern_sysctl.c`): the pid list, `struct proc_bsdinfo` and
//! `struct proc_taskinfo` through `proc_info` (336), and `struct kinfo_proc` records for
//! `sysctl`. Which processes a request means is decided by [`ProcFilter`]; this module reads
//! the processes and fills the records.

use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::kern::clock::absolutetime_to_nanoseconds;
use osfmk::kern::thread::ThreadState;
use osfmk::vm::user_ptr::{UserAddr, UserSlice};
use osfmk::vm::vm_page::PAGE_SIZE;
use sys::Errno;
use sys::proc_info::*;
use sys::signal::{NSIG, SigSet, sigmask};
use zerocopy::IntoBytes;

use crate::kern::kern_proc::{Proc, ProcState, allproc, pgrps, proc_find, uthread};
use crate::kern::proc_filter::{NODEV, ProcFilter, ProcIds, size_estimate};

/// `POLICY_TIMESHARE`, the only scheduling policy user threads have here.
const POLICY_TIMESHARE: i32 = mach::info::POLICY_TIMESHARE as i32;
/// `kinfo_proc`'s `e_flag` bit for a session leader (`EPROC_SLEADER`).
const EPROC_SLEADER: i32 = 0x2;

/// The ids filters look at.
fn proc_ids(p: &Proc) -> ProcIds {
    let cred = *p.p_ucred.lock();
    ProcIds { pid: p.p_pid, ppid: p.ppid(), pgid: p.pgrp(), uid: cred.uid, ruid: cred.ruid, tdev: NODEV }
}

/// Every process `filter` selects, in pid order (the kernel task, pid 0, included).
pub fn select(filter: ProcFilter) -> Vec<Arc<Proc>> {
    allproc().into_iter().filter(|p| filter.matches(&proc_ids(p))).collect()
}

/// `p_stat` as tools see it.
fn status(p: &Proc) -> u32 {
    let state = *p.p_stat.lock();
    match state {
        ProcState::Idle => SIDL,
        ProcState::Zombie(_) => SZOMB,
        ProcState::Run if p.p_signals.lock().stopped().is_some() => SSTOP,
        ProcState::Run => SRUN,
    }
}

/// The exit status a zombie holds (0 while alive).
fn xstatus(p: &Proc) -> i32 {
    let state = *p.p_stat.lock();
    match state {
        ProcState::Zombie(status) => status,
        ProcState::Idle | ProcState::Run => 0,
    }
}

fn is_session_leader(p: &Proc) -> bool {
    p.session() == p.p_pid
}

/// `struct proc_bsdinfo` for `p`.
pub fn fill_bsdinfo(p: &Proc) -> ProcBsdInfo {
    let cred = *p.p_ucred.lock();
    let comm = p.comm();
    let mut flags = PROC_FLAG_LP64;
    if p.p_pid == 0 {
        flags |= PROC_FLAG_SYSTEM;
    }
    if is_session_leader(p) {
        flags |= PROC_FLAG_SLEADER;
    }
    if p.p_sugid.load(core::sync::atomic::Ordering::Relaxed) {
        flags |= PROC_FLAG_PSUGID;
    }
    if pgrps().has_exec(p.p_pid) {
        flags |= PROC_FLAG_EXEC;
    }
    if p.is_zombie() {
        flags |= PROC_FLAG_INEXIT;
    }
    ProcBsdInfo {
        pbi_flags: flags,
        pbi_status: status(p),
        pbi_xstatus: xstatus(p) as u32,
        pbi_pid: p.p_pid as u32,
        pbi_ppid: p.ppid() as u32,
        pbi_uid: cred.uid,
        pbi_gid: cred.gid,
        pbi_ruid: cred.ruid,
        pbi_rgid: cred.rgid,
        pbi_svuid: cred.svuid,
        pbi_svgid: cred.svgid,
        rfu_1: 0,
        pbi_comm: comm_field(comm.as_bytes()),
        pbi_name: comm_field(comm.as_bytes()),
        pbi_nfiles: p.p_fd.lock().open_fds().count() as u32,
        pbi_pgid: p.pgrp() as u32,
        pbi_pjobc: 0,
        e_tdev: NODEV as u32,
        e_tpgid: 0,
        pbi_nice: p.p_nice.load(core::sync::atomic::Ordering::Relaxed),
        pbi_start_tvsec: p.p_start.tv_sec as u64,
        pbi_start_tvusec: p.p_start.tv_usec as u64,
    }
}

/// `struct proc_taskinfo` for `p`'s task: totals include threads that have ended; the event
/// counters this kernel does not keep read zero.
pub fn fill_taskinfo(p: &Proc) -> ProcTaskInfo {
    let (virtual_size, resident_pages) = p.task.vm_sizes();
    let threads = p.threads();
    let (user, system) = p.live_thread_times();
    let (total_user, total_system) = p.cpu_times();
    let running =
        threads.iter().filter(|t| matches!(t.state(), ThreadState::Running | ThreadState::Runnable)).count();
    let priority = threads.iter().map(|t| t.sched.base_pri()).max().unwrap_or(0);
    ProcTaskInfo {
        pti_virtual_size: virtual_size,
        pti_resident_size: resident_pages * PAGE_SIZE,
        pti_total_user: absolutetime_to_nanoseconds(total_user),
        pti_total_system: absolutetime_to_nanoseconds(total_system),
        pti_threads_user: absolutetime_to_nanoseconds(user),
        pti_threads_system: absolutetime_to_nanoseconds(system),
        pti_policy: POLICY_TIMESHARE,
        pti_threadnum: threads.len() as i32,
        pti_numrunning: running as i32,
        pti_priority: priority as i32,
        ..Default::default()
    }
}

/// `struct kinfo_proc` for `p`.
pub fn fill_kinfo_proc(p: &Proc) -> KinfoProc {
    let cred = *p.p_ucred.lock();
    let mut k = KinfoProc::default();
    let (user, system) = p.cpu_times();
    let (ignored, caught) = {
        let acts = p.p_sigacts.lock();
        (1..NSIG).fold((0 as SigSet, 0 as SigSet), |(i, c), sig| {
            (
                if acts.ignores(sig) { i | sigmask(sig) } else { i },
                if acts.catches(sig) { c | sigmask(sig) } else { c },
            )
        })
    };
    let mask = p.threads().first().map_or(0, |t| uthread(t).sig.lock().mask());
    let kp = &mut k.kp_proc;
    kp.p_starttime_sec = p.p_start.tv_sec;
    kp.p_starttime_usec = p.p_start.tv_usec;
    kp.p_flag = P_LP64;
    kp.p_stat = status(p) as u8;
    kp.p_pid = p.p_pid;
    kp.p_uticks = user;
    kp.p_sticks = system;
    kp.p_siglist = p.p_signals.lock().pending() as i32;
    kp.p_sigmask = mask;
    kp.p_sigignore = ignored;
    kp.p_sigcatch = caught;
    let pri = p.threads().iter().map(|t| t.sched.base_pri()).max().unwrap_or(0);
    kp.p_priority = pri;
    kp.p_usrpri = pri;
    kp.p_nice = p.p_nice.load(core::sync::atomic::Ordering::Relaxed) as i8;
    kp.p_comm = comm_field(p.comm().as_bytes());
    kp.p_xstat = xstatus(p) as u16;
    let ep = &mut k.kp_eproc;
    ep.p_ruid = cred.ruid;
    ep.p_svuid = cred.svuid;
    ep.p_rgid = cred.rgid;
    ep.p_svgid = cred.svgid;
    ep.cr_ref = 1;
    ep.cr_uid = cred.uid;
    let (groups, n) = cred.groups.list(cred.gid);
    ep.cr_ngroups = n as i16;
    ep.cr_groups = groups;
    ep.e_ppid = p.ppid();
    ep.e_pgid = p.pgrp();
    ep.e_tdev = NODEV;
    ep.e_flag = if is_session_leader(p) { EPROC_SLEADER } else { 0 };
    k
}

/// The `kern.proc` answer for the name components after `kern.proc`, and the size to report
/// to a caller that only asks how much room it needs.
pub fn sysctl_kern_proc(rest: &[i32]) -> Result<(Vec<u8>, usize), Errno> {
    let procs = select(ProcFilter::from_sysctl(rest)?);
    let mut out = Vec::with_capacity(procs.len() * KINFO_PROC_SIZE);
    for p in &procs {
        out.extend_from_slice(fill_kinfo_proc(p).as_bytes());
    }
    Ok((out, size_estimate(procs.len(), KINFO_PROC_SIZE)))
}

/// May `caller` read the task side (memory, times) of `target`? Root, or the same user.
fn may_inspect_task(caller: &Proc, target: &Proc) -> bool {
    let c = *caller.p_ucred.lock();
    let t = *target.p_ucred.lock();
    c.uid == 0 || (c.uid == t.uid && c.uid == t.ruid)
}

/// `proc_info(callnum, pid, flavor, arg, buffer, buffersize)`: returns the bytes written (or,
/// for the pid list with no buffer, the room to allocate).
pub fn proc_info(
    p: &Arc<Proc>,
    callnum: i32,
    pid: i32,
    flavor: u32,
    buffer: UserAddr,
    buffersize: i32,
) -> Result<u64, Errno> {
    let room = usize::try_from(buffersize).map_err(|_| Errno::EINVAL)?;
    match callnum {
        PROC_INFO_CALL_LISTPIDS => {
            let procs = select(ProcFilter::from_listpids(pid as u32, flavor)?);
            if buffer.0 == 0 {
                return Ok(size_estimate(procs.len(), 4) as u64);
            }
            let pids: Vec<i32> = procs.iter().take(room / 4).map(|q| q.p_pid).collect();
            UserSlice::new(buffer.0, pids.as_bytes().len())?.write_at(0, pids.as_bytes())?;
            Ok(pids.as_bytes().len() as u64)
        }
        PROC_INFO_CALL_PIDINFO => {
            let size = match flavor {
                PROC_PIDTBSDINFO => PROC_BSDINFO_SIZE,
                PROC_PIDTASKINFO => PROC_TASKINFO_SIZE,
                PROC_PIDTASKALLINFO => PROC_TASKALLINFO_SIZE,
                _ => return Err(Errno::EINVAL),
            };
            let target = proc_find(pid).ok_or(Errno::ESRCH)?;
            if flavor != PROC_PIDTBSDINFO {
                // A zombie has no task left to describe.
                if target.is_zombie() {
                    return Err(Errno::ESRCH);
                }
                if !may_inspect_task(p, &target) {
                    return Err(Errno::EPERM);
                }
            }
            if room < size {
                return Err(Errno::ENOMEM);
            }
            let mut out = Vec::with_capacity(size);
            if flavor != PROC_PIDTASKINFO {
                out.extend_from_slice(fill_bsdinfo(&target).as_bytes());
            }
            if flavor != PROC_PIDTBSDINFO {
                out.extend_from_slice(fill_taskinfo(&target).as_bytes());
            }
            UserSlice::new(buffer.0, out.len())?.write_at(0, &out)?;
            Ok(out.len() as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}
