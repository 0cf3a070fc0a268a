//! Signals in the kernel (XNU's `kern_sig.c` and `unix_signal.c`): posting to a process or a
//! thread (`psignal`, `kill`, `__pthread_kill`), Mach exceptions turned into signals (XNU's
//! `ux_handler` mapping, reference §6), and delivery on the way back to user mode (AST_BSD):
//! default actions (terminate, stop, continue), or a handler entered through a signal frame
//! built on the user stack, undone by `sigreturn`. The decisions themselves are the pure
//! state machines in `kern_sigacts`, `kern_sigstate` and `kern_sendsig`.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use mach::KernReturn;
use mach::exception::{
    EXC_ARITHMETIC, EXC_BAD_ACCESS, EXC_BAD_INSTRUCTION, EXC_BREAKPOINT, EXC_EMULATION, EXC_SOFTWARE,
    EXC_SYSCALL, ExceptionType,
};
use osfmk::arm64::cswitch::{UserFpState, read_user_fp, write_user_fp};
use osfmk::arm64::trapframe::TrapFrame;
use osfmk::kern::clock::mach_absolute_time;
use osfmk::kern::sched_prim::{self, current_thread};
use osfmk::kern::thread::ThreadRef;
use osfmk::vm::user_ptr::{UserAddr, UserPtr};
use sys::Errno;
use sys::signal::{
    SIGBUS, SIGCHLD, SIGEMT, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGSYS, SIGTRAP, SigSet, SigactionIn,
    SigactionOut, SigaltStack, Signal, is_valid,
};
use sys::wait::w_termsig;

use crate::kern::kern_exit::exit1;
use crate::kern::kern_proc::{JobReport, Pid, Proc, allproc, current_proc, proc_find, uthread};
use crate::kern::kern_sendsig::{SigOrigin, SigreturnKind, UserRegs, read_ucontext, sendsig, sigreturn_kind};

/// The signal BSD sends for an unhandled Mach exception (`ux_exception`).
pub fn ux_exception(exception: ExceptionType, code: i64) -> Option<Signal> {
    match exception {
        EXC_BAD_ACCESS if code == KernReturn::KERN_INVALID_ADDRESS.0 as i64 => Some(SIGSEGV),
        EXC_BAD_ACCESS => Some(SIGBUS),
        EXC_BAD_INSTRUCTION => Some(SIGILL),
        EXC_ARITHMETIC => Some(SIGFPE),
        EXC_EMULATION => Some(SIGEMT),
        EXC_BREAKPOINT => Some(SIGTRAP),
        EXC_SYSCALL => Some(SIGSYS),
        EXC_SOFTWARE => None,
        _ => None,
    }
}

/// The live threads of `p` with their masks, in the order a process signal prefers them.
fn threads_and_masks(p: &Proc) -> Vec<(ThreadRef, SigSet)> {
    p.threads().into_iter().map(|t| (t.clone(), uthread(&t).sig.lock().mask())).collect()
}

/// Post `sig` to process `p` (`psignal`); `origin` fills the sender fields of its siginfo.
pub fn psignal(p: &Arc<Proc>, sig: Signal, origin: SigOrigin) -> Result<(), Errno> {
    if p.p_pid == 0 || p.is_zombie() {
        return Ok(());
    }
    let threads = threads_and_masks(p);
    let posted = {
        let acts = p.p_sigacts.lock();
        let mut ps = p.p_signals.lock();
        ps.post(sig, &acts, threads.iter().enumerate().map(|(i, (_, m))| (i, *m)))?
    };
    if posted.pending {
        *p.p_sigorigin.lock() = origin;
    }
    if posted.discard != 0 {
        for (t, _) in &threads {
            uthread(t).sig.lock().discard(posted.discard);
        }
    }
    if posted.resume {
        // The process was stopped; its threads may run again.
        let _ = p.task.resume();
    }
    if sig == SIGKILL {
        // Nothing may keep a killed process from dying: no suspension (a spawn-suspended
        // task, task_suspend, a stop, a thread that suspended itself) holds its threads any
        // more, so they reach the AST that ends them.
        p.task.mark_killed();
    }
    if posted.continued {
        *p.p_jobreport.lock() = Some(JobReport::Continued);
        notify_parent_job(p, sys::wait::W_CONTINUED);
    }
    if let Some(i) = posted.notify
        && let Some((t, _)) = threads.get(i)
    {
        sched_prim::thread_abort(t);
    }
    Ok(())
}

/// Post `sig` to one thread of `p` (`__pthread_kill`, or a fault the thread caused).
pub fn psignal_thread(p: &Arc<Proc>, t: &ThreadRef, sig: Signal, fault: bool) -> Result<(), Errno> {
    let posted = {
        let mut acts = p.p_sigacts.lock();
        let mut ps = p.p_signals.lock();
        let mut st = uthread(t).sig.lock();
        if fault { ps.post_fault(&mut st, sig, &mut acts)? } else { ps.post_to_thread(&mut st, sig, &acts)? }
    };
    if posted.discard != 0 {
        for (t, _) in threads_and_masks(p) {
            uthread(&t).sig.lock().discard(posted.discard);
        }
    }
    if posted.resume {
        let _ = p.task.resume();
    }
    if sig == SIGKILL {
        // SIGKILL aimed at one thread still kills the process (its default action), so
        // nothing may hold it back: as in `psignal`.
        p.task.mark_killed();
    }
    if posted.notify.is_some() {
        sched_prim::thread_abort(t);
    }
    Ok(())
}

/// Tell `p`'s parent that `p` stopped or continued (`status` is the wait status):
/// SIGCHLD (unless SA_NOCLDSTOP) and a wakeup for its `wait4`.
fn notify_parent_job(p: &Arc<Proc>, status: i32) {
    let Some(parent) = proc_find(p.ppid()) else { return };
    if !parent.p_sigacts.lock().nocldstop() {
        let origin = crate::kern::kern_wait::sigchld_origin(p.p_pid, p.p_ucred.lock().ruid, status);
        let _ = psignal(&parent, SIGCHLD, origin);
    }
    parent.p_waitq.wakeup_all();
}

/// The current process has stopped for `sig` (its task already suspended, so every thread
/// stops before user mode): the parent hears of it.
fn stop_process(p: &Arc<Proc>, sig: Signal) {
    notify_parent_job(p, sys::wait::w_stopcode(sig));
}

/// Process groups just orphaned: a group with a stopped member gets SIGHUP then SIGCONT on
/// every member (POSIX), since no shell is left to continue it.
pub fn orphaned_pgrps(orphaned: &[Pid]) {
    for &pgid in orphaned {
        let members: Vec<Arc<Proc>> =
            allproc().into_iter().filter(|q| q.pgrp() == pgid && !q.is_zombie()).collect();
        if members.iter().any(|q| q.p_signals.lock().stopped().is_some()) {
            for q in &members {
                let _ = psignal(q, sys::signal::SIGHUP, SigOrigin::default());
                let _ = psignal(q, sys::signal::SIGCONT, SigOrigin::default());
            }
        }
    }
}

/// A random-enough 64-bit value for sigreturn tokens: the counter run through a mixer.
fn token_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut x = STATE.fetch_add(mach_absolute_time() | 1, Ordering::Relaxed) ^ mach_absolute_time();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Enter the handler of delivery `d`: build the frame, copy it to the user stack, and make
/// `frame` resume in the trampoline. A frame that cannot be written kills the process with
/// SIGILL (§10 step 9), on the next turn of the AST loop.
fn deliver(p: &Arc<Proc>, t: &ThreadRef, frame: &mut TrapFrame, d: &crate::kern::kern_sigstate::Delivery) {
    let mut regs = UserRegs::from_trap_frame(frame);
    let fp = read_user_fp();
    regs.q = fp.q;
    regs.fpsr = fp.fpsr;
    regs.fpcr = fp.fpcr;
    let (far, esr) = core::mem::take(&mut *uthread(t).fault.lock());
    regs.far = far;
    regs.esr = esr;
    let origin = core::mem::take(&mut *p.p_sigorigin.lock());
    let token = uthread(t).sig.lock().sigreturn_token(token_random());
    let written = sendsig(&regs, d, origin, token).ok().and_then(|f| {
        // On the target thread, in its AST: its own address space.
        UserPtr::new(f.addr).and_then(|at| at.write(&f.frame)).ok()?;
        Some(f)
    });
    match written {
        Some(f) => f.regs.store_to_trap_frame(frame),
        None => {
            let mut acts = p.p_sigacts.lock();
            uthread(t).sig.lock().sendsig_failed(&mut acts);
        }
    }
}

/// Deliver whatever is pending for the current thread before it returns to user mode
/// (XNU's `bsd_ast`, AST_BSD): default actions, or a handler entered by rewriting `frame`.
/// May not return if the process dies.
pub fn bsd_ast(frame: &mut TrapFrame) {
    let Some(p) = current_proc() else { return };
    let t = current_thread();
    {
        // Nothing pending (almost every return to user): no more to do. A signal posted
        // after this look is seen on the next way out, as it would be after the walk.
        let ps = p.p_signals.lock();
        if !uthread(&t).sig.lock().has_work(&ps) {
            return;
        }
    }
    loop {
        let action = {
            let mut acts = p.p_sigacts.lock();
            // One lock at a time: `pgrp()` takes the group table's lock too.
            let pgid = p.pgrp();
            let orphaned = crate::kern::kern_proc::pgrps().is_orphaned(pgid);
            let mut ps = p.p_signals.lock();
            let mut st = uthread(&t).sig.lock();
            let action = st.next_action(&mut ps, &mut acts, orphaned);
            if let Some(crate::kern::kern_sigstate::SignalAction::Stop { sig }) = action {
                // Suspend (and note the stop for wait4) while the stop is being recorded:
                // a SIGCONT posted by another thread must find either no stop yet or a
                // suspension to undo, never a stop whose suspension is still to come
                // (that one would stick).
                p.task.suspend();
                *p.p_jobreport.lock() = Some(JobReport::Stopped(sig));
            }
            action
        };
        use crate::kern::kern_sigstate::SignalAction::*;
        match action {
            None => return,
            Some(Ignore { .. }) => {}
            Some(Terminate { sig, core }) => {
                // The thread ends in `thread_ast_user`, after this returns.
                exit1(&p, w_termsig(sig, core));
                return;
            }
            Some(Stop { sig }) => {
                // The thread waits in `thread_ast_user` (or dies, if killed) until
                // continued; the AST runs again after that.
                stop_process(&p, sig);
                return;
            }
            Some(Deliver(d)) => deliver(&p, &t, frame, &d),
        }
    }
}

/// An exception nobody handled: the matching signal to the current thread (XNU's
/// `ux_handler`/`threadsignal`).
pub fn unhandled_exception(exception: ExceptionType, code: i64, subcode: i64) {
    let (Some(sig), Some(p)) = (ux_exception(exception, code), current_proc()) else { return };
    let t = current_thread();
    *uthread(&t).fault.lock() = (subcode as u64, 0);
    let _ = psignal_thread(&p, &t, sig, true);
}

/// A fault found no free page: the current process is killed, with a log line (as XNU's
/// jetsam would), and the kernel keeps running.
pub fn memory_exhausted(addr: u64) {
    if let Some(p) = current_proc() {
        let msg = alloc::format!(
            "bsd: pid {} ({}) is out of memory (fault at {:#x}); killing it\n",
            p.p_pid,
            p.comm(),
            addr
        );
        crate::kern::bsd_init::platform().console_write(msg.as_bytes());
        let _ = psignal(&p, SIGKILL, SigOrigin::default());
    }
}

/// May `p` signal `q`? Root may signal anyone; others need a real or effective uid that
/// matches the target's real or saved uid (`cansignal`).
fn cansignal(p: &Proc, q: &Proc) -> bool {
    // One lock at a time: `p` and `q` may be the same process.
    let a = *p.p_ucred.lock();
    let b = *q.p_ucred.lock();
    a.uid == 0 || a.ruid == b.ruid || a.ruid == b.svuid || a.uid == b.ruid || a.uid == b.svuid
}

/// `kill(pid, sig, posix)`: pid > 0 one process, 0 the caller's group, −1 everyone the
/// caller may signal (except system processes), < −1 the group −pid. Signal 0 only checks.
pub fn kill(p: &Arc<Proc>, pid: Pid, signum: i32) -> Result<(), Errno> {
    let sig = Signal::try_from(signum).map_err(|_| Errno::EINVAL)?;
    if sig != 0 && !is_valid(sig) {
        return Err(Errno::EINVAL);
    }
    let targets: Vec<Arc<Proc>> = match pid {
        0 => allproc().into_iter().filter(|q| q.pgrp() == p.pgrp()).collect(),
        -1 => allproc().into_iter().filter(|q| q.p_pid > 1 && q.p_pid != p.p_pid).collect(),
        n if n < 0 => allproc().into_iter().filter(|q| q.pgrp() == n.wrapping_neg()).collect(),
        n => proc_find(n).into_iter().collect(),
    };
    let targets: Vec<Arc<Proc>> = targets.into_iter().filter(|q| q.p_pid != 0 && !q.is_zombie()).collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let mut sent = false;
    for q in &targets {
        if !cansignal(p, q) {
            continue;
        }
        sent = true;
        if sig != 0 {
            let origin = SigOrigin { pid: p.p_pid, uid: p.p_ucred.lock().ruid, code: 0, status: sig as i32 };
            psignal(q, sig, origin)?;
        }
    }
    if sent { Ok(()) } else { Err(Errno::EPERM) }
}

/// `sigaction(signum, nsa, osa)`.
pub fn sigaction(p: &Arc<Proc>, signum: i32, nsa: UserAddr, osa: UserAddr) -> Result<(), Errno> {
    let sig = Signal::try_from(signum).map_err(|_| Errno::EINVAL)?;
    let osa = UserPtr::<SigactionOut>::new_opt(osa.0)?;
    let new = match UserPtr::<SigactionIn>::new_opt(nsa.0)? {
        Some(nsa) => Some(nsa.read()?),
        None => None,
    };
    let result = p.p_sigacts.lock().sigaction(sig, new)?;
    if result.discard != 0 {
        p.p_signals.lock().discard(result.discard);
        for t in p.threads() {
            uthread(&t).sig.lock().discard(result.discard);
        }
    }
    if let Some(osa) = osa {
        osa.write(&result.old)?;
    }
    Ok(())
}

/// `sigprocmask(how, set, oset)` and `__pthread_sigmask`: the calling thread's mask.
pub fn sigprocmask(how: i32, set: UserAddr, oset: UserAddr) -> Result<(), Errno> {
    let oset = UserPtr::<SigSet>::new_opt(oset.0)?;
    let new = match UserPtr::<SigSet>::new_opt(set.0)? {
        Some(set) => Some(set.read()?),
        None => None,
    };
    let t = current_thread();
    let old = uthread(&t).sig.lock().sigprocmask(how, new)?;
    if let Some(oset) = oset {
        oset.write(&old)?;
    }
    Ok(())
}

/// `sigpending(set)`.
pub fn sigpending(p: &Arc<Proc>, set: UserAddr) -> Result<(), Errno> {
    let set = UserPtr::<SigSet>::new(set.0)?;
    let t = current_thread();
    let pending = {
        let ps = p.p_signals.lock();
        uthread(&t).sig.lock().sigpending(&ps)
    };
    Ok(set.write(&pending)?)
}

/// Has the calling thread a signal it would take now (one pending and not masked)? A
/// sleep that is about to block asks this, so a signal that arrived just before the sleep
/// still interrupts it.
pub fn signal_deliverable(p: &Proc) -> bool {
    let t = current_thread();
    let ps = p.p_signals.lock();
    uthread(&t).sig.lock().has_deliverable(&ps)
}

/// Install `mask` for the length of a wait (`pselect`'s mask), as `sigsuspend` does; the
/// old mask comes back through [`end_temporary_mask`] or, if the wait is interrupted,
/// after the signal's handler.
pub fn begin_temporary_mask(mask: SigSet) {
    uthread(&current_thread()).sig.lock().sigsuspend(mask);
}

/// Put back the mask [`begin_temporary_mask`] replaced, now.
pub fn end_temporary_mask() {
    uthread(&current_thread()).sig.lock().restore_saved_mask();
}

/// `sigsuspend(mask)`: wait with `mask` until a signal is delivered; always EINTR (the
/// old mask comes back after the handler).
pub fn sigsuspend(p: &Arc<Proc>, mask: SigSet) -> Result<(), Errno> {
    let t = current_thread();
    uthread(&t).sig.lock().sigsuspend(mask);
    // No queue: only the abort that posting a signal (or termination) makes ends the sleep.
    // However it ends — a signal to deliver, or an abort with nothing for this thread (it
    // is being terminated, or another thread took the signal; the AST on the way out sorts
    // that out) — the answer is EINTR, never a restart.
    let _ = crate::kern::kern_synch::msleep(&[], crate::kern::kern_synch::PCATCH, None, || {
        let ps = p.p_signals.lock();
        Ok(uthread(&t).sig.lock().has_deliverable(&ps).then_some(()))
    });
    Err(Errno::EINTR)
}

/// `sigaltstack(nss, oss)`.
pub fn sigaltstack(nss: UserAddr, oss: UserAddr) -> Result<(), Errno> {
    let oss = UserPtr::<SigaltStack>::new_opt(oss.0)?;
    let t = current_thread();
    let old = uthread(&t).sig.lock().altstack_status();
    if let Some(nss) = UserPtr::<SigaltStack>::new_opt(nss.0)? {
        let new = nss.read()?;
        uthread(&t).sig.lock().set_altstack(new)?;
    }
    if let Some(oss) = oss {
        oss.write(&old)?;
    }
    Ok(())
}

/// `__pthread_kill(thread_port, sig)`: signal one thread of the caller's process.
pub fn pthread_kill(p: &Arc<Proc>, port: u32, sig: i32) -> Result<(), Errno> {
    let sig = Signal::try_from(sig).map_err(|_| Errno::EINVAL)?;
    if sig != 0 && !is_valid(sig) {
        return Err(Errno::EINVAL);
    }
    let target = p
        .task
        .itk_space
        .lookup_kobject::<osfmk::kern::thread::Thread>(port, mach::port::MACH_PORT_TYPE_SEND)
        .ok()
        .filter(|t| Arc::ptr_eq(&t.task, &p.task))
        .ok_or(Errno::ESRCH)?;
    if sig == 0 {
        return Ok(());
    }
    psignal_thread(p, &target, sig, false)
}

/// `sigreturn(uctx, infostyle, token)`: resume the state saved in the signal frame.
/// Returns EJUSTRETURN: every register was set here.
pub fn sigreturn(
    p: &Arc<Proc>,
    uctx: UserAddr,
    infostyle: i32,
    token: UserAddr,
    frame: &mut TrapFrame,
) -> Result<(), Errno> {
    let t = current_thread();
    match sigreturn_kind(infostyle) {
        SigreturnKind::SetAltStack => {
            uthread(&t).sig.lock().set_on_altstack(true);
            return Ok(());
        }
        SigreturnKind::ResetAltStack => {
            uthread(&t).sig.lock().set_on_altstack(false);
            return Ok(());
        }
        SigreturnKind::Restore => {}
    }
    let uc = read_ucontext(UserPtr::new(uctx.0)?.read()?)?;
    let mctx = UserPtr::new(uc.uc_mcontext64)?.read()?;
    let enforce = p.p_sigacts.lock().enforce_sigreturn_token();
    let token_value = uthread(&t).sig.lock().current_sigreturn_token();
    let restored = crate::kern::kern_sendsig::sigreturn(uctx.0, &uc, &mctx, token.0, token_value, enforce)?;
    restored.regs.store_to_trap_frame(frame);
    write_user_fp(&UserFpState { q: restored.regs.q, fpsr: restored.regs.fpsr, fpcr: restored.regs.fpcr });
    uthread(&t).sig.lock().sigreturn(restored.mask, restored.on_altstack);
    Err(Errno::EJUSTRETURN)
}

/// The errno an interrupted wait turns into: EINTR, or ERESTART when the signal that
/// interrupted it asked for SA_RESTART.
pub fn interrupted_errno(p: &Proc) -> Errno {
    let t = current_thread();
    let acts = p.p_sigacts.lock();
    let ps = p.p_signals.lock();
    uthread(&t).sig.lock().interrupted_errno(&ps, &acts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_map_like_xnu() {
        assert_eq!(ux_exception(EXC_BAD_ACCESS, KernReturn::KERN_INVALID_ADDRESS.0 as i64), Some(SIGSEGV));
        assert_eq!(ux_exception(EXC_BAD_ACCESS, KernReturn::KERN_PROTECTION_FAILURE.0 as i64), Some(SIGBUS));
        assert_eq!(ux_exception(EXC_SYSCALL, 77), Some(SIGSYS));
        assert_eq!(ux_exception(EXC_BAD_INSTRUCTION, 0), Some(SIGILL));
    }
}
