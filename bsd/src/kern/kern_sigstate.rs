//! The signal state machine (XNU's `p_siglist` and the signal fields of `uthread`, with the
//! decisions of `psignal`, `issignal` and `postsig` — reference §10, §11.1, §11.6), pure:
//!
//! * [`ProcSignals`] — per process: signals any thread may take, and whether the process is
//!   stopped by a signal;
//! * [`SigState`] — per thread: its mask, signals sent to it alone, the mask `sigsuspend`
//!   saved, the alternate signal stack and the sigreturn token.
//!
//! Posting records a signal and names the thread to kick (AST_BSD + abort its interruptible
//! wait); on the way back to user mode the kicked thread asks [`SigState::next_action`] what
//! to do until it answers `None`. Continuing a stopped process happens when SIGCONT (or
//! SIGKILL) is posted, because a stopped process has no thread returning to user mode.
//! No locks inside: the caller holds the process lock around every call.

use sys::Errno;
use sys::signal::{
    CONTSIGMASK, DefaultAction, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SIG_BLOCK, SIG_DFL,
    SIG_IGN, SIG_SETMASK, SIG_UNBLOCK, SIGCANTMASK, SIGCONT, SIGILL, SIGKILL, SIGSTOP, SIGTRAP, SS_DISABLE,
    SS_ONSTACK, STOPSIGMASK, SigSet, SigaltStack, Signal, default_action, is_valid, sigmask,
};

use crate::kern::kern_sigacts::Sigacts;

/// The smallest alternate stack `sigaltstack` accepts. XNU keeps the old 8 KiB minimum for
/// compatibility rather than MINSIGSTKSZ, so programs written for older systems still work.
pub const ALTSTACK_MIN_SIZE: u64 = 8 * 1024;

/// Process-wide signal state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcSignals {
    /// Posted to the process; the first thread that does not mask one takes it.
    pending: SigSet,
    /// The signal that stopped the process, while it is stopped (`SSTOP`, `p_xstat`).
    stopped: Option<Signal>,
}

/// What posting a signal asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posted<T> {
    /// The signal is now pending (false: ignored, or its whole effect already happened).
    pub pending: bool,
    /// The thread to kick: set AST_BSD on it and abort its interruptible wait.
    pub notify: Option<T>,
    /// Remove these from every thread's pending set ([`SigState::discard`]): SIGCONT cancels
    /// pending stop signals and a stop signal cancels a pending SIGCONT.
    pub discard: SigSet,
    /// The process was stopped and must run again: resume its task, and kick every thread
    /// for which [`SigState::has_deliverable`] holds (signals posted while it was stopped
    /// waited without waking anybody).
    pub resume: bool,
    /// … and that was a SIGCONT: report "continued" to the parent (WCONTINUED, and SIGCHLD
    /// with CLD_CONTINUED unless the parent set SA_NOCLDSTOP).
    pub continued: bool,
}

impl<T> Posted<T> {
    fn nothing() -> Posted<T> {
        Posted { pending: false, notify: None, discard: 0, resume: false, continued: false }
    }
}

/// What a thread does next on its way back to user mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalAction {
    /// Run a handler: build the frame (`kern_sendsig::sendsig`) and enter the trampoline.
    Deliver(Delivery),
    /// The process dies of `sig` (wait status `w_termsig(sig, core)`).
    Terminate { sig: Signal, core: bool },
    /// The process stops: suspend its task, tell the parent (wait's WUNTRACED, SIGCHLD with
    /// CLD_STOPPED unless SA_NOCLDSTOP), and ask again once it is continued.
    Stop { sig: Signal },
    /// The signal was consumed without effect; ask again.
    Ignore { sig: Signal },
}

/// Everything `sendsig` needs to know about a caught signal. The thread's mask already is
/// `new_mask` and the thread is already marked as on its alternate stack when it switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub sig: Signal,
    /// The handler (x0 of the trampoline).
    pub handler: u64,
    /// The trampoline (the pc the thread resumes at).
    pub tramp: u64,
    /// The action's `SA_*` flags as they were at delivery (SA_SIGINFO picks the infostyle).
    pub flags: i32,
    /// The mask `sigreturn` restores (`uc_sigmask`): the one before `sigsuspend`, if any.
    pub mask_to_restore: SigSet,
    /// The mask while the handler runs.
    pub new_mask: SigSet,
    /// The frame goes on the alternate stack (switching to it now, or already there).
    pub on_altstack: bool,
    /// The thread was already running on its alternate stack (`uc_onstack`).
    pub was_on_altstack: bool,
    /// The alternate stack's base and size.
    pub altstack_sp: u64,
    pub altstack_size: u64,
}

/// A thread's alternate signal stack (`uu_sigstk` and `UT_ALTSTACK`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub size: u64,
    /// `sigaltstack` installed it and did not disable it since.
    pub enabled: bool,
    /// A handler is running on it (SS_ONSTACK).
    pub on_stack: bool,
}

/// A thread's signal state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigState {
    /// Blocked signals (`uu_sigmask`); never holds SIGKILL or SIGSTOP.
    mask: SigSet,
    /// Signals sent to this thread alone (`uu_siglist`): faults, `__pthread_kill`.
    pending: SigSet,
    /// The mask `sigsuspend` replaced, restored after the handler (`uu_oldmask`).
    saved_mask: Option<SigSet>,
    altstack: AltStack,
    /// The random value the sigreturn token is made from (`uu_sigreturn_token`).
    sigreturn_token: u64,
    /// Frames delivered whose `sigreturn` has not come yet (`uu_pending_sigreturn`).
    pending_sigreturns: u32,
}

/// The lowest-numbered signal in `set`, SIGKILL first: nothing should run before it.
fn pick(set: SigSet) -> Option<Signal> {
    if set & sigmask(SIGKILL) != 0 {
        return Some(SIGKILL);
    }
    (set != 0).then(|| set.trailing_zeros() + 1)
}

impl ProcSignals {
    /// No pending signals, running.
    pub fn new() -> ProcSignals {
        ProcSignals::default()
    }

    /// Signals posted to the process and not yet taken.
    pub fn pending(&self) -> SigSet {
        self.pending
    }

    /// The signal that stopped the process, if it is stopped.
    pub fn stopped(&self) -> Option<Signal> {
        self.stopped
    }

    /// Forget `set` (an action now ignores them).
    pub fn discard(&mut self, set: SigSet) {
        self.pending &= !set;
    }

    /// Post `sig` to the process (`psignal`). `threads` lists the live threads with their
    /// masks, in the order to prefer; the first that does not block `sig` is kicked.
    pub fn post<T: Copy>(
        &mut self,
        sig: Signal,
        acts: &Sigacts,
        threads: impl IntoIterator<Item = (T, SigSet)>,
    ) -> Result<Posted<T>, Errno> {
        let mut out = Posted::nothing();
        if !self.admit(sig, acts, &mut out)? {
            return Ok(out);
        }
        let bit = sigmask(sig);
        let taker = threads.into_iter().find(|&(_, mask)| mask & bit == 0).map(|(t, _)| t);
        if sig == SIGCONT && !acts.catches(SIGCONT) && taker.is_some() {
            // Continuing was all it had to do; only a blocked SIGCONT stays visible.
            return Ok(out);
        }
        self.pending |= bit;
        out.pending = true;
        if self.stopped.is_none() {
            out.notify = taker;
        }
        Ok(out)
    }

    /// Post `sig` to one thread (`__pthread_kill`, or a signal that must reach the thread
    /// that caused it). `notify` is `Some(())` when that thread should be kicked.
    pub fn post_to_thread(
        &mut self,
        thread: &mut SigState,
        sig: Signal,
        acts: &Sigacts,
    ) -> Result<Posted<()>, Errno> {
        let mut out = Posted::nothing();
        if !self.admit(sig, acts, &mut out)? {
            return Ok(out);
        }
        let bit = sigmask(sig);
        let unblocked = thread.mask & bit == 0;
        if sig == SIGCONT && !acts.catches(SIGCONT) && unblocked {
            return Ok(out);
        }
        thread.pending |= bit;
        out.pending = true;
        if self.stopped.is_none() && unblocked {
            out.notify = Some(());
        }
        Ok(out)
    }

    /// A synchronous fault signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP from a Mach
    /// exception): if the thread blocks it or the process ignores it, the action goes back
    /// to SIG_DFL and the thread stops blocking it — returning to the faulting instruction
    /// would only fault again, forever (the BSD `trapsignal` rule).
    pub fn post_fault(
        &mut self,
        thread: &mut SigState,
        sig: Signal,
        acts: &mut Sigacts,
    ) -> Result<Posted<()>, Errno> {
        if !is_valid(sig) {
            return Err(Errno::EINVAL);
        }
        let bit = sigmask(sig);
        if thread.mask & bit != 0 || acts.action(sig).handler == SIG_IGN {
            acts.force_default(sig);
            thread.mask &= !bit;
        }
        self.post_to_thread(thread, sig, acts)
    }

    /// The part of posting common to both targets: drop ignored signals, let SIGCONT and
    /// stop signals cancel each other, and handle a stopped process. Returns whether the
    /// signal is still to be recorded.
    fn admit<T>(&mut self, sig: Signal, acts: &Sigacts, out: &mut Posted<T>) -> Result<bool, Errno> {
        if !is_valid(sig) {
            return Err(Errno::EINVAL);
        }
        if acts.ignores(sig) {
            return Ok(false);
        }
        let bit = sigmask(sig);
        if bit & CONTSIGMASK != 0 {
            out.discard = STOPSIGMASK;
        } else if bit & STOPSIGMASK != 0 {
            out.discard = CONTSIGMASK;
        }
        self.pending &= !out.discard;
        if self.stopped.is_some() {
            match sig {
                SIGKILL => {
                    self.stopped = None;
                    out.resume = true;
                }
                SIGCONT => {
                    self.stopped = None;
                    out.resume = true;
                    out.continued = true;
                }
                // Already stopped: a default stop signal has nothing left to do.
                _ if bit & STOPSIGMASK != 0 && !acts.catches(sig) => return Ok(false),
                _ => {}
            }
        }
        Ok(true)
    }
}

impl SigState {
    /// Nothing blocked, nothing pending, no alternate stack.
    pub fn new() -> SigState {
        SigState::default()
    }

    /// The state of a thread created by this one, or of the forked child's thread: the
    /// mask is inherited (the pre-`sigsuspend` one if the creator is suspended in it);
    /// pending signals, the alternate stack and sigreturn tokens are not.
    pub fn inherit(&self) -> SigState {
        SigState { mask: self.saved_mask.unwrap_or(self.mask), ..SigState::default() }
    }

    /// Exec: the alternate stack is gone with the old image. Mask and pending survive.
    pub fn exec_reset(&mut self) {
        self.altstack = AltStack::default();
        self.saved_mask = None;
        self.pending_sigreturns = 0;
    }

    /// The blocked signals.
    pub fn mask(&self) -> SigSet {
        self.mask
    }

    /// Signals sent to this thread and not yet taken.
    pub fn pending(&self) -> SigSet {
        self.pending
    }

    /// The alternate stack.
    pub fn altstack(&self) -> AltStack {
        self.altstack
    }

    /// Forget `set` (an action now ignores them, or SIGCONT/stop cancelled them).
    pub fn discard(&mut self, set: SigSet) {
        self.pending &= !set;
    }

    /// `__pthread_sigmask` for this thread, and `sigprocmask` when applied to every thread
    /// of the process (XNU's `sigprocmask` changes them all). `set` = None only reads.
    /// Returns the old mask; afterwards, kick the thread if [`has_deliverable`] says so.
    ///
    /// [`has_deliverable`]: SigState::has_deliverable
    pub fn sigprocmask(&mut self, how: i32, set: Option<SigSet>) -> Result<SigSet, Errno> {
        let old = self.mask;
        let Some(set) = set else { return Ok(old) };
        self.mask = match how {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        } & !SIGCANTMASK;
        Ok(old)
    }

    /// `sigpending`: what is pending for this thread, directed to it or to the process.
    pub fn sigpending(&self, proc: &ProcSignals) -> SigSet {
        self.pending | proc.pending
    }

    /// `sigsuspend`: block exactly `mask` until a signal arrives, remembering the current
    /// mask for the handler's `sigreturn`. The caller then sleeps interruptibly until
    /// [`has_deliverable`](SigState::has_deliverable), sets AST_BSD and returns EINTR;
    /// `next_action` puts the old mask back if no handler takes it.
    pub fn sigsuspend(&mut self, mask: SigSet) {
        if self.saved_mask.is_none() {
            self.saved_mask = Some(self.mask);
        }
        self.mask = mask & !SIGCANTMASK;
    }

    /// End a [`sigsuspend`](SigState::sigsuspend)-style mask early, when the wait it was
    /// for returns without a signal (`pselect` that found descriptors or timed out).
    pub fn restore_saved_mask(&mut self) {
        if let Some(mask) = self.saved_mask.take() {
            self.mask = mask;
        }
    }

    /// Is a signal waiting that this thread would take now?
    pub fn has_deliverable(&self, proc: &ProcSignals) -> bool {
        self.deliverable(proc) != 0
    }

    fn deliverable(&self, proc: &ProcSignals) -> SigSet {
        (self.pending | proc.pending) & !self.mask
    }

    /// Has [`next_action`](Self::next_action) anything to do: a signal this thread may
    /// take, or a `sigsuspend` mask to put back? The way back to user space asks this
    /// first, so a thread with nothing pending skips the whole signal walk.
    pub fn has_work(&self, proc: &ProcSignals) -> bool {
        self.deliverable(proc) != 0 || self.saved_mask.is_some()
    }

    /// How a system call interrupted by a signal returns: ERESTART (re-issue it after the
    /// handler) when the signal's action has SA_RESTART or no handler runs (a stop, then a
    /// continue, resumes the call; a fatal signal never returns), else EINTR.
    pub fn interrupted_errno(&self, proc: &ProcSignals, acts: &Sigacts) -> Errno {
        match pick(self.deliverable(proc)) {
            Some(sig) => {
                let a = acts.action(sig);
                if a.is_caught() && a.flags & SA_RESTART == 0 { Errno::EINTR } else { Errno::ERESTART }
            }
            None => Errno::EINTR,
        }
    }

    /// On the way back to user mode: take the next deliverable signal and say what to do
    /// (`issignal` + `postsig`). `None` means nothing is left; the kernel calls this in a
    /// loop after AST_BSD. `pgrp_orphaned` tells whether the process's group is orphaned:
    /// terminal stop signals are then discarded instead of stopping it.
    pub fn next_action(
        &mut self,
        proc: &mut ProcSignals,
        acts: &mut Sigacts,
        pgrp_orphaned: bool,
    ) -> Option<SignalAction> {
        let deliverable = self.deliverable(proc);
        if proc.stopped.is_some() && deliverable & sigmask(SIGKILL) == 0 {
            // Another thread stopped the process; this one waits for the continue too.
            return None;
        }
        let Some(sig) = pick(deliverable) else {
            if let Some(mask) = self.saved_mask.take() {
                self.mask = mask;
            }
            return None;
        };
        let bit = sigmask(sig);
        if self.pending & bit != 0 {
            self.pending &= !bit;
        } else {
            proc.pending &= !bit;
        }
        let act = acts.action(sig);
        if act.handler == SIG_IGN {
            return Some(SignalAction::Ignore { sig });
        }
        if act.handler == SIG_DFL {
            return Some(match default_action(sig) {
                DefaultAction::Terminate => SignalAction::Terminate { sig, core: false },
                DefaultAction::Core => SignalAction::Terminate { sig, core: true },
                DefaultAction::Stop if sig != SIGSTOP && pgrp_orphaned => SignalAction::Ignore { sig },
                DefaultAction::Stop => {
                    proc.stopped = Some(sig);
                    SignalAction::Stop { sig }
                }
                DefaultAction::Ignore | DefaultAction::Continue => SignalAction::Ignore { sig },
            });
        }
        let mask_to_restore = self.saved_mask.take().unwrap_or(self.mask);
        let defer = if act.flags & SA_NODEFER == 0 { bit } else { 0 };
        self.mask = (self.mask | act.mask | defer) & !SIGCANTMASK;
        // SIGILL and SIGTRAP keep their handler: resetting it would turn the next
        // breakpoint or bad instruction into a kill (historic BSD behaviour).
        if act.flags & SA_RESETHAND != 0 && sig != SIGILL && sig != SIGTRAP {
            acts.reset_for_delivery(sig);
        }
        let was_on_altstack = self.altstack.on_stack;
        let switch = self.altstack.enabled && !was_on_altstack && act.flags & SA_ONSTACK != 0;
        if switch {
            self.altstack.on_stack = true;
        }
        Some(SignalAction::Deliver(Delivery {
            sig,
            handler: act.handler,
            tramp: act.tramp,
            flags: act.flags,
            mask_to_restore,
            new_mask: self.mask,
            on_altstack: switch || was_on_altstack,
            was_on_altstack,
            altstack_sp: self.altstack.sp,
            altstack_size: self.altstack.size,
        }))
    }

    /// The signal frame could not be written (§10 step 9): SIGILL goes back to SIG_DFL,
    /// unblocked and pending on this thread, so the next `next_action` kills the process.
    pub fn sendsig_failed(&mut self, acts: &mut Sigacts) {
        acts.force_default(SIGILL);
        self.mask &= !sigmask(SIGILL);
        self.pending |= sigmask(SIGILL);
    }

    /// The value to XOR into the token for a frame being delivered: a new random one
    /// (`fresh`) unless a frame is still waiting for its `sigreturn`, so nested handlers
    /// share one value. Counts the frame.
    pub fn sigreturn_token(&mut self, fresh: u64) -> u64 {
        if self.pending_sigreturns == 0 {
            self.sigreturn_token = fresh;
        }
        self.pending_sigreturns = self.pending_sigreturns.saturating_add(1);
        self.sigreturn_token
    }

    /// The value `sigreturn` checks tokens against.
    pub fn current_sigreturn_token(&self) -> u64 {
        self.sigreturn_token
    }

    /// A successful `sigreturn`: restore the mask (never blocking SIGKILL/SIGSTOP) and the
    /// alternate-stack mark from the ucontext. Afterwards, kick the thread if
    /// [`has_deliverable`](SigState::has_deliverable).
    pub fn sigreturn(&mut self, mask: SigSet, on_altstack: bool) {
        self.mask = mask & !SIGCANTMASK;
        self.altstack.on_stack = on_altstack;
        self.pending_sigreturns = self.pending_sigreturns.saturating_sub(1);
    }

    /// `sigreturn` with UC_SET_ALT_STACK / UC_RESET_ALT_STACK: only the mark changes.
    pub fn set_on_altstack(&mut self, on: bool) {
        self.altstack.on_stack = on;
    }

    /// `sigaltstack`'s old value (`oss`), written out before the new one is looked at.
    pub fn altstack_status(&self) -> SigaltStack {
        let mut flags = 0;
        if !self.altstack.enabled {
            flags |= SS_DISABLE;
        }
        if self.altstack.on_stack {
            flags |= SS_ONSTACK;
        }
        SigaltStack { ss_sp: self.altstack.sp, ss_size: self.altstack.size, ss_flags: flags, _pad: 0 }
    }

    /// `sigaltstack`'s new value (`nss`). EINVAL for unknown flags or for disabling the stack
    /// a handler runs on; EPERM for replacing it then; ENOMEM below [`ALTSTACK_MIN_SIZE`].
    pub fn set_altstack(&mut self, new: SigaltStack) -> Result<(), Errno> {
        if new.ss_flags & !SS_DISABLE != 0 {
            return Err(Errno::EINVAL);
        }
        if new.ss_flags & SS_DISABLE != 0 {
            if self.altstack.on_stack {
                return Err(Errno::EINVAL);
            }
            self.altstack.enabled = false;
            return Ok(());
        }
        if self.altstack.on_stack {
            return Err(Errno::EPERM);
        }
        if new.ss_size < ALTSTACK_MIN_SIZE {
            return Err(Errno::ENOMEM);
        }
        self.altstack = AltStack { sp: new.ss_sp, size: new.ss_size, enabled: true, on_stack: false };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::signal::{
        MINSIGSTKSZ, SA_SIGINFO, SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGSEGV, SIGTERM, SIGTSTP,
        SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SigactionIn,
    };

    const H: u64 = 0x1_0000_4000;
    const T: u64 = 0x1_0000_0800;

    fn catching(sigs: &[(Signal, i32, SigSet)]) -> Sigacts {
        let mut a = Sigacts::new();
        for &(sig, flags, mask) in sigs {
            a.sigaction(
                sig,
                Some(SigactionIn { sa_handler: H, sa_tramp: T, sa_mask: mask, sa_flags: flags }),
            )
            .unwrap();
        }
        a
    }

    fn ignoring(a: &mut Sigacts, sig: Signal) {
        a.sigaction(sig, Some(SigactionIn { sa_handler: SIG_IGN, ..SigactionIn::default() })).unwrap();
    }

    fn deliver(a: Option<SignalAction>) -> Delivery {
        match a {
            Some(SignalAction::Deliver(d)) => d,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn sigprocmask_rules() {
        let mut t = SigState::new();
        assert_eq!(t.sigprocmask(SIG_BLOCK, Some(sigmask(SIGINT) | SIGCANTMASK)), Ok(0));
        assert_eq!(t.mask(), sigmask(SIGINT), "SIGKILL and SIGSTOP cannot be blocked");
        assert_eq!(t.sigprocmask(SIG_BLOCK, Some(sigmask(SIGHUP))), Ok(sigmask(SIGINT)));
        assert_eq!(t.sigprocmask(SIG_UNBLOCK, Some(sigmask(SIGINT))), Ok(sigmask(SIGINT) | sigmask(SIGHUP)));
        assert_eq!(t.mask(), sigmask(SIGHUP));
        assert_eq!(t.sigprocmask(SIG_SETMASK, Some(u32::MAX)), Ok(sigmask(SIGHUP)));
        assert_eq!(t.mask(), !SIGCANTMASK);
        assert_eq!(t.sigprocmask(99, Some(0)), Err(Errno::EINVAL));
        assert_eq!(t.mask(), !SIGCANTMASK, "a failed call changes nothing");
        assert_eq!(t.sigprocmask(99, None), Ok(!SIGCANTMASK), "reading ignores how");
    }

    #[test]
    fn post_picks_a_thread_that_does_not_block() {
        let acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let r = p.post(SIGTERM, &acts, [(1, sigmask(SIGTERM)), (2, 0), (3, 0)]).unwrap();
        assert_eq!(r, Posted { pending: true, notify: Some(2), discard: 0, resume: false, continued: false });
        assert_eq!(p.pending(), sigmask(SIGTERM));
        // Everybody blocks it: it waits on the process for the first thread that unblocks.
        let mut p = ProcSignals::new();
        let r = p.post(SIGUSR1, &acts, [(1, sigmask(SIGUSR1))]).unwrap();
        assert!(r.pending && r.notify.is_none());
        let mut t = SigState::new();
        t.sigprocmask(SIG_SETMASK, Some(sigmask(SIGUSR1))).unwrap();
        assert!(!t.has_deliverable(&p));
        assert_eq!(t.sigpending(&p), sigmask(SIGUSR1));
        t.sigprocmask(SIG_UNBLOCK, Some(sigmask(SIGUSR1))).unwrap();
        assert!(t.has_deliverable(&p));
        assert_eq!(p.post(0, &acts, [(1, 0)]), Err(Errno::EINVAL));
        assert_eq!(p.post(32, &acts, [(1, 0)]), Err(Errno::EINVAL));
    }

    #[test]
    fn ignored_signals_vanish_at_post() {
        let mut acts = Sigacts::new();
        let mut p = ProcSignals::new();
        assert!(!p.post(SIGCHLD, &acts, [(1, 0)]).unwrap().pending, "default-ignored");
        ignoring(&mut acts, SIGINT);
        assert!(!p.post(SIGINT, &acts, [(1, 0)]).unwrap().pending);
        assert_eq!(p.pending(), 0);
        // SIGKILL cannot be ignored, and goes to a thread even if it blocks everything.
        let r = p.post(SIGKILL, &acts, [(7, !SIGCANTMASK)]).unwrap();
        assert_eq!(r.notify, Some(7));
    }

    #[test]
    fn default_actions_at_delivery() {
        let mut acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGTERM, &acts, [(0, 0)]).unwrap();
        assert_eq!(
            t.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGTERM, core: false })
        );
        assert_eq!(t.next_action(&mut p, &mut acts, false), None);
        p.post(SIGQUIT, &acts, [(0, 0)]).unwrap();
        assert_eq!(
            t.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGQUIT, core: true })
        );
        p.post(SIGTSTP, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.next_action(&mut p, &mut acts, false), Some(SignalAction::Stop { sig: SIGTSTP }));
        assert_eq!(p.stopped(), Some(SIGTSTP));
    }

    #[test]
    fn sigkill_goes_first() {
        let mut acts = catching(&[(SIGHUP, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGHUP, &acts, [(0, 0)]).unwrap();
        p.post(SIGKILL, &acts, [(0, 0)]).unwrap();
        assert_eq!(
            t.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGKILL, core: false })
        );
    }

    #[test]
    fn lowest_number_first_and_thread_before_process() {
        let mut acts = catching(&[(SIGINT, 0, 0), (SIGALRM, 0, 0), (SIGUSR2, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGALRM, &acts, [(0, 0)]).unwrap();
        p.post_to_thread(&mut t, SIGUSR2, &acts).unwrap();
        p.post(SIGINT, &acts, [(0, 0)]).unwrap();
        let order: alloc::vec::Vec<Signal> =
            core::iter::from_fn(|| t.next_action(&mut p, &mut acts, false).map(|a| deliver(Some(a)).sig))
                .collect();
        assert_eq!(order, [SIGINT, SIGALRM, SIGUSR2]);
        assert_eq!(p.pending() | t.pending(), 0);
    }

    #[test]
    fn stop_stops_and_cont_continues() {
        let mut acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGSTOP, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.next_action(&mut p, &mut acts, false), Some(SignalAction::Stop { sig: SIGSTOP }));
        // While stopped: other signals wait without waking anybody …
        let r = p.post(SIGTERM, &acts, [(0, 0)]).unwrap();
        assert!(r.pending && r.notify.is_none() && !r.resume);
        // … another default stop signal has nothing to do …
        assert!(!p.post(SIGTSTP, &acts, [(0, 0)]).unwrap().pending);
        // … and SIGCONT resumes it, reports "continued" and is itself consumed.
        let r = p.post(SIGCONT, &acts, [(0, 0)]).unwrap();
        assert_eq!(
            r,
            Posted { pending: false, notify: None, discard: STOPSIGMASK, resume: true, continued: true }
        );
        assert_eq!(p.stopped(), None);
        assert_eq!(
            t.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGTERM, core: false })
        );
    }

    #[test]
    fn nothing_is_delivered_while_stopped_but_sigkill() {
        let mut acts = catching(&[(SIGUSR1, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut a = SigState::new();
        let mut b = SigState::new();
        p.post(SIGSTOP, &acts, [(0, 0)]).unwrap();
        p.post_to_thread(&mut b, SIGUSR1, &acts).unwrap();
        assert_eq!(a.next_action(&mut p, &mut acts, false), Some(SignalAction::Stop { sig: SIGSTOP }));
        assert_eq!(b.next_action(&mut p, &mut acts, false), None, "thread b stays put too");
        assert_eq!(b.pending(), sigmask(SIGUSR1));
        p.post(SIGKILL, &acts, [(0, 0)]).unwrap();
        assert_eq!(
            b.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGKILL, core: false })
        );
    }

    #[test]
    fn cont_even_if_ignored_or_blocked() {
        let mut acts = Sigacts::new();
        ignoring(&mut acts, SIGCONT);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGSTOP, &acts, [(0, 0)]).unwrap();
        t.next_action(&mut p, &mut acts, false);
        let r = p.post(SIGCONT, &acts, [(0, sigmask(SIGCONT))]).unwrap();
        assert!(r.resume && r.continued);
        assert!(r.pending, "a blocked SIGCONT stays visible to sigpending");
    }

    #[test]
    fn caught_cont_is_delivered_after_continuing() {
        let mut acts = catching(&[(SIGCONT, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGSTOP, &acts, [(0, 0)]).unwrap();
        t.next_action(&mut p, &mut acts, false);
        let r = p.post(SIGCONT, &acts, [(5, 0)]).unwrap();
        assert!(r.resume && r.continued && r.pending);
        assert_eq!(r.notify, Some(5));
        assert_eq!(deliver(t.next_action(&mut p, &mut acts, false)).sig, SIGCONT);
    }

    #[test]
    fn sigkill_resumes_a_stopped_process_without_continued() {
        let mut acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGSTOP, &acts, [(0, 0)]).unwrap();
        t.next_action(&mut p, &mut acts, false);
        let r = p.post(SIGKILL, &acts, [(0, 0)]).unwrap();
        assert!(r.resume && !r.continued && r.pending && r.notify == Some(0));
    }

    #[test]
    fn cont_and_stop_cancel_each_other() {
        let acts = catching(&[(SIGCONT, 0, 0)]);
        let mut p = ProcSignals::new();
        // Both blocked so both stay pending.
        let blocked = [(0, sigmask(SIGTSTP) | sigmask(SIGCONT) | sigmask(SIGTTIN))];
        p.post(SIGTSTP, &acts, blocked).unwrap();
        p.post(SIGTTIN, &acts, blocked).unwrap();
        let r = p.post(SIGCONT, &acts, blocked).unwrap();
        assert_eq!(r.discard, STOPSIGMASK);
        assert_eq!(p.pending(), sigmask(SIGCONT));
        let r = p.post(SIGTTOU, &acts, blocked).unwrap();
        assert_eq!(r.discard, CONTSIGMASK);
        assert_eq!(p.pending(), sigmask(SIGTTOU));
        // The thread-directed sets are the caller's to clean with `discard`.
        let mut t = SigState::new();
        t.sigprocmask(SIG_BLOCK, Some(sigmask(SIGTSTP))).unwrap();
        p.post_to_thread(&mut t, SIGTSTP, &acts).unwrap();
        t.discard(p.post(SIGCONT, &acts, blocked).unwrap().discard);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn orphaned_group_discards_tty_stops_but_not_sigstop() {
        let mut acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGTTIN, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.next_action(&mut p, &mut acts, true), Some(SignalAction::Ignore { sig: SIGTTIN }));
        assert_eq!(p.stopped(), None);
        p.post(SIGSTOP, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.next_action(&mut p, &mut acts, true), Some(SignalAction::Stop { sig: SIGSTOP }));
    }

    #[test]
    fn delivery_masks_and_restores() {
        let mut acts = catching(&[(SIGINT, SA_SIGINFO | SA_RESTART, sigmask(SIGHUP) | sigmask(SIGKILL))]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        t.sigprocmask(SIG_SETMASK, Some(sigmask(SIGUSR1))).unwrap();
        p.post(SIGINT, &acts, [(0, t.mask())]).unwrap();
        let d = deliver(t.next_action(&mut p, &mut acts, false));
        assert_eq!(d.handler, H);
        assert_eq!(d.tramp, T);
        assert_eq!(d.flags, SA_SIGINFO | SA_RESTART);
        assert_eq!(d.mask_to_restore, sigmask(SIGUSR1));
        assert_eq!(d.new_mask, sigmask(SIGUSR1) | sigmask(SIGHUP) | sigmask(SIGINT));
        assert_eq!(t.mask(), d.new_mask);
        assert!(!d.on_altstack && !d.was_on_altstack);
        // While the handler runs, another SIGINT waits.
        p.post(SIGINT, &acts, [(0, t.mask())]).unwrap();
        assert_eq!(t.next_action(&mut p, &mut acts, false), None);
        t.sigreturn(d.mask_to_restore | SIGCANTMASK, false);
        assert_eq!(t.mask(), sigmask(SIGUSR1));
        assert!(t.has_deliverable(&p));
    }

    #[test]
    fn nodefer_and_resethand() {
        let mut acts = catching(&[(SIGINT, SA_NODEFER | SA_RESETHAND, 0), (SIGILL, SA_RESETHAND, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGINT, &acts, [(0, 0)]).unwrap();
        let d = deliver(t.next_action(&mut p, &mut acts, false));
        assert_eq!(d.new_mask, 0, "SA_NODEFER leaves the signal unblocked");
        assert_eq!(acts.action(SIGINT).handler, SIG_DFL, "SA_RESETHAND");
        p.post_to_thread(&mut t, SIGILL, &acts).unwrap();
        deliver(t.next_action(&mut p, &mut acts, false));
        assert_eq!(acts.action(SIGILL).handler, H, "SIGILL keeps its handler");
    }

    #[test]
    fn sigsuspend_restores_the_old_mask_through_the_frame() {
        let mut acts = catching(&[(SIGUSR1, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        t.sigprocmask(SIG_SETMASK, Some(sigmask(SIGUSR1) | sigmask(SIGUSR2))).unwrap();
        p.post(SIGUSR1, &acts, [(0, t.mask())]).unwrap();
        assert!(!t.has_deliverable(&p));
        t.sigsuspend(sigmask(SIGUSR2) | sigmask(SIGKILL));
        assert_eq!(t.mask(), sigmask(SIGUSR2));
        assert!(t.has_deliverable(&p));
        let d = deliver(t.next_action(&mut p, &mut acts, false));
        assert_eq!(d.mask_to_restore, sigmask(SIGUSR1) | sigmask(SIGUSR2));
        assert_eq!(d.new_mask, sigmask(SIGUSR1) | sigmask(SIGUSR2));
        assert_eq!(t.next_action(&mut p, &mut acts, false), None);
        // A thread created meanwhile would have inherited the pre-sigsuspend mask.
        let mut t2 = SigState::new();
        t2.sigprocmask(SIG_SETMASK, Some(sigmask(SIGHUP))).unwrap();
        t2.sigsuspend(0);
        assert_eq!(t2.inherit().mask(), sigmask(SIGHUP));
    }

    #[test]
    fn sigsuspend_without_a_handler_restores_when_done() {
        let mut acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        t.sigprocmask(SIG_SETMASK, Some(sigmask(SIGHUP))).unwrap();
        t.sigsuspend(0);
        p.post(SIGTSTP, &acts, [(0, t.mask())]).unwrap();
        assert_eq!(t.next_action(&mut p, &mut acts, true), Some(SignalAction::Ignore { sig: SIGTSTP }));
        assert_eq!(t.next_action(&mut p, &mut acts, true), None);
        assert_eq!(t.mask(), sigmask(SIGHUP));
    }

    #[test]
    fn restart_or_eintr() {
        let acts = catching(&[(SIGINT, SA_RESTART, 0), (SIGHUP, 0, 0)]);
        let mut p = ProcSignals::new();
        let t = SigState::new();
        assert_eq!(t.interrupted_errno(&p, &acts), Errno::EINTR);
        p.post(SIGINT, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.interrupted_errno(&p, &acts), Errno::ERESTART);
        p.post(SIGHUP, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.interrupted_errno(&p, &acts), Errno::EINTR, "SIGHUP (1) goes first, no SA_RESTART");
        let mut p = ProcSignals::new();
        p.post(SIGTSTP, &acts, [(0, 0)]).unwrap();
        assert_eq!(t.interrupted_errno(&p, &acts), Errno::ERESTART, "stop, then continue the call");
    }

    #[test]
    fn fault_signals_cannot_be_blocked_or_ignored() {
        let mut acts = catching(&[(SIGSEGV, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        // Caught and not blocked: delivered to the handler as usual.
        assert_eq!(p.post_fault(&mut t, SIGSEGV, &mut acts).unwrap().notify, Some(()));
        assert_eq!(deliver(t.next_action(&mut p, &mut acts, false)).sig, SIGSEGV);
        // Now blocked (inside the handler): back to the default, unblocked, fatal.
        assert!(t.mask() & sigmask(SIGSEGV) != 0);
        assert_eq!(p.post_fault(&mut t, SIGSEGV, &mut acts).unwrap().notify, Some(()));
        assert_eq!(
            t.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGSEGV, core: true })
        );
        let mut acts = Sigacts::new();
        ignoring(&mut acts, SIGSEGV);
        let mut t = SigState::new();
        assert!(p.post_fault(&mut t, SIGSEGV, &mut acts).unwrap().pending);
        assert_eq!(p.post_fault(&mut t, 0, &mut acts), Err(Errno::EINVAL));
    }

    #[test]
    fn thread_directed_signal_respects_the_thread_mask() {
        let acts = Sigacts::new();
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        t.sigprocmask(SIG_BLOCK, Some(sigmask(SIGUSR1))).unwrap();
        let r = p.post_to_thread(&mut t, SIGUSR1, &acts).unwrap();
        assert!(r.pending && r.notify.is_none());
        assert_eq!(t.pending(), sigmask(SIGUSR1));
        assert_eq!(p.pending(), 0);
        assert_eq!(p.post_to_thread(&mut t, 40, &acts), Err(Errno::EINVAL));
    }

    #[test]
    fn sendsig_failure_kills_with_sigill() {
        let mut acts = catching(&[(SIGILL, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        t.sigprocmask(SIG_BLOCK, Some(sigmask(SIGILL))).unwrap();
        t.sendsig_failed(&mut acts);
        assert_eq!(
            t.next_action(&mut p, &mut acts, false),
            Some(SignalAction::Terminate { sig: SIGILL, core: true })
        );
    }

    #[test]
    fn altstack_rules() {
        let mut t = SigState::new();
        assert_eq!(t.altstack_status().ss_flags, SS_DISABLE);
        let s = |sp, size, flags| SigaltStack { ss_sp: sp, ss_size: size, ss_flags: flags, _pad: 0 };
        assert_eq!(t.set_altstack(s(0x9000, MINSIGSTKSZ, SS_ONSTACK)), Err(Errno::EINVAL));
        assert_eq!(t.set_altstack(s(0x9000, ALTSTACK_MIN_SIZE - 1, 0)), Err(Errno::ENOMEM));
        assert_eq!(t.set_altstack(s(0x9000, ALTSTACK_MIN_SIZE, 0)), Ok(()));
        assert_eq!(t.altstack_status(), s(0x9000, ALTSTACK_MIN_SIZE, 0));
        assert_eq!(t.set_altstack(s(0x10_0000, MINSIGSTKSZ, 0)), Ok(()));
        t.set_on_altstack(true);
        assert_eq!(t.altstack_status().ss_flags, SS_ONSTACK);
        assert_eq!(t.set_altstack(s(0x20_0000, MINSIGSTKSZ, 0)), Err(Errno::EPERM));
        assert_eq!(t.set_altstack(s(0, 0, SS_DISABLE)), Err(Errno::EINVAL));
        t.set_on_altstack(false);
        assert_eq!(t.set_altstack(s(0, 0, SS_DISABLE)), Ok(()));
        assert_eq!(t.altstack_status(), s(0x10_0000, MINSIGSTKSZ, SS_DISABLE));
    }

    #[test]
    fn onstack_delivery_switches_once() {
        let mut acts = catching(&[(SIGUSR1, SA_ONSTACK, 0), (SIGUSR2, SA_ONSTACK, 0), (SIGINT, 0, 0)]);
        let mut p = ProcSignals::new();
        let mut t = SigState::new();
        p.post(SIGINT, &acts, [(0, 0)]).unwrap();
        assert!(!deliver(t.next_action(&mut p, &mut acts, false)).on_altstack, "no stack installed");
        t.sigreturn(0, false);
        t.set_altstack(SigaltStack { ss_sp: 0x40_0000, ss_size: MINSIGSTKSZ, ss_flags: 0, _pad: 0 }).unwrap();
        p.post(SIGINT, &acts, [(0, 0)]).unwrap();
        assert!(!deliver(t.next_action(&mut p, &mut acts, false)).on_altstack, "no SA_ONSTACK");
        t.sigreturn(0, false);
        p.post(SIGUSR1, &acts, [(0, 0)]).unwrap();
        let d = deliver(t.next_action(&mut p, &mut acts, false));
        assert!(d.on_altstack && !d.was_on_altstack);
        assert_eq!((d.altstack_sp, d.altstack_size), (0x40_0000, MINSIGSTKSZ));
        assert!(t.altstack().on_stack);
        p.post(SIGUSR2, &acts, [(0, t.mask())]).unwrap();
        let d2 = deliver(t.next_action(&mut p, &mut acts, false));
        assert!(d2.on_altstack && d2.was_on_altstack, "nested: stays on the stack");
        t.sigreturn(d2.mask_to_restore, d2.was_on_altstack);
        assert!(t.altstack().on_stack);
        t.sigreturn(d.mask_to_restore, d.was_on_altstack);
        assert!(!t.altstack().on_stack);
    }

    #[test]
    fn sigreturn_token_is_shared_by_nested_frames() {
        let mut t = SigState::new();
        assert_eq!(t.sigreturn_token(0xaaaa), 0xaaaa);
        assert_eq!(t.sigreturn_token(0xbbbb), 0xaaaa, "one frame still pending");
        t.sigreturn(0, false);
        t.sigreturn(0, false);
        t.sigreturn(0, false);
        assert_eq!(t.sigreturn_token(0xcccc), 0xcccc);
        assert_eq!(t.current_sigreturn_token(), 0xcccc);
    }

    #[test]
    fn inherit_and_exec() {
        let mut t = SigState::new();
        t.sigprocmask(SIG_SETMASK, Some(sigmask(SIGINT))).unwrap();
        t.set_altstack(SigaltStack { ss_sp: 0x9000, ss_size: MINSIGSTKSZ, ss_flags: 0, _pad: 0 }).unwrap();
        let acts = Sigacts::new();
        let mut p = ProcSignals::new();
        p.post_to_thread(&mut t, SIGINT, &acts).unwrap();
        let c = t.inherit();
        assert_eq!(c.mask(), sigmask(SIGINT));
        assert_eq!(c.pending(), 0);
        assert!(!c.altstack().enabled);
        t.exec_reset();
        assert_eq!(t.mask(), sigmask(SIGINT));
        assert_eq!(t.pending(), sigmask(SIGINT));
        assert_eq!(t.altstack(), AltStack::default());
    }
}
