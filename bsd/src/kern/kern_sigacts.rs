//! Per-process signal actions (XNU's `struct sigacts`, embedded in `proc` as `p_sigacts`):
//! for every signal the handler (SIG_DFL, SIG_IGN or an address), the library trampoline
//! `sendsig` returns through, the mask added while the handler runs and the `SA_*` flags;
//! and the process-wide sigreturn-validation latch (reference §10). Owns `sigaction`'s rules
//! and what fork and exec do to actions. Pure data: the caller holds the process lock.

use sys::Errno;
use sys::signal::{
    DefaultAction, NSIG, SA_NOCLDSTOP, SA_NOCLDWAIT, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_SIGINFO,
    SA_USERSPACE_MASK, SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP, SIG_DFL, SIG_IGN, SIGCANTMASK, SIGCHLD, SIGCONT,
    SIGKILL, SIGSTOP, SigSet, SigactionIn, SigactionOut, Signal, default_action, is_valid, sigmask,
};

/// What the process does with one signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// SIG_DFL, SIG_IGN or the handler's address.
    pub handler: u64,
    /// The user trampoline that calls the handler and then `sigreturn` (`ps_trampact`).
    pub tramp: u64,
    /// Added to the thread's mask while the handler runs; never holds SIGKILL or SIGSTOP.
    pub mask: SigSet,
    /// `SA_*` flags, within [`SA_USERSPACE_MASK`].
    pub flags: i32,
}

impl SigAction {
    /// Does a handler run for this signal?
    pub fn is_caught(&self) -> bool {
        self.handler != SIG_DFL && self.handler != SIG_IGN
    }
}

/// Whether `sigreturn` must present the token `sendsig` handed the trampoline (§10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigreturnValidation {
    /// No `sigaction` installed an action yet: enforced.
    Default,
    /// The first `sigaction` asked for it (SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP): enforced.
    Enabled,
    /// The first `sigaction` did not ask for it (an old library): not checked.
    Disabled,
}

/// What `sigaction` reports back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigactionResult {
    /// The previous action, for the `oact` argument.
    pub old: SigactionOut,
    /// Pending signals the new action throws away (it ignores them now): the caller clears
    /// these from the process's and every thread's pending set.
    pub discard: SigSet,
}

/// The signal actions of one process.
#[derive(Clone, Debug)]
pub struct Sigacts {
    /// Indexed by signal number; slot 0 is unused.
    actions: [SigAction; NSIG as usize],
    validation: SigreturnValidation,
}

impl Default for Sigacts {
    fn default() -> Sigacts {
        Sigacts::new()
    }
}

/// Does SIG_DFL for `sig` mean "nothing happens"? SIGCONT counts: its continuing is done
/// when it is posted, so by delivery time there is nothing left to do.
fn default_is_ignore(sig: Signal) -> bool {
    matches!(default_action(sig), DefaultAction::Ignore | DefaultAction::Continue)
}

impl Sigacts {
    /// Every signal at SIG_DFL, validation at its default (what `proc0` starts with).
    pub fn new() -> Sigacts {
        Sigacts { actions: [SigAction::default(); NSIG as usize], validation: SigreturnValidation::Default }
    }

    /// The action for `sig` (the default action for a number out of range).
    pub fn action(&self, sig: Signal) -> SigAction {
        self.actions.get(sig as usize).copied().unwrap_or_default()
    }

    /// The `sigaction` system call: report the action of `sig` and, with `new`, replace it.
    ///
    /// EINVAL for 0, numbers ≥ NSIG and — XNU refuses even to read them — SIGKILL and
    /// SIGSTOP. The first call that installs an action latches sigreturn validation.
    pub fn sigaction(&mut self, sig: Signal, new: Option<SigactionIn>) -> Result<SigactionResult, Errno> {
        if !is_valid(sig) || sig == SIGKILL || sig == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let old = self.old_action(sig);
        let Some(new) = new else { return Ok(SigactionResult { old, discard: 0 }) };
        if self.validation == SigreturnValidation::Default {
            self.validation = if new.sa_flags & SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP != 0 {
                SigreturnValidation::Enabled
            } else {
                SigreturnValidation::Disabled
            };
        }
        let action = SigAction {
            handler: new.sa_handler,
            tramp: new.sa_tramp,
            mask: new.sa_mask & !SIGCANTMASK,
            flags: new.sa_flags & SA_USERSPACE_MASK,
        };
        let discard = if action.handler == SIG_IGN || (action.handler == SIG_DFL && default_is_ignore(sig)) {
            sigmask(sig)
        } else {
            0
        };
        if let Some(slot) = self.actions.get_mut(sig as usize) {
            *slot = action;
        }
        Ok(SigactionResult { old, discard })
    }

    /// The old action as XNU reports it: SA_RESETHAND is not reported, and an ignored SIGCHLD
    /// reports SA_NOCLDWAIT because ignoring SIGCHLD also means "no zombies".
    fn old_action(&self, sig: Signal) -> SigactionOut {
        let a = self.action(sig);
        let mut flags = a.flags & !SA_RESETHAND;
        if sig == SIGCHLD && self.nocldwait() {
            flags |= SA_NOCLDWAIT;
        }
        SigactionOut { sa_handler: a.handler, sa_mask: a.mask, sa_flags: flags }
    }

    /// Does the process throw `sig` away when it is posted (XNU's `p_sigignore`)? SIG_IGN,
    /// or SIG_DFL with a do-nothing default. SIGCONT never is: it must still continue a
    /// stopped process.
    pub fn ignores(&self, sig: Signal) -> bool {
        if !is_valid(sig) || sig == SIGCONT {
            return false;
        }
        let handler = self.action(sig).handler;
        handler == SIG_IGN || (handler == SIG_DFL && default_is_ignore(sig))
    }

    /// Does a handler run for `sig` (XNU's `p_sigcatch`)?
    pub fn catches(&self, sig: Signal) -> bool {
        self.action(sig).is_caught()
    }

    /// SA_NOCLDSTOP on SIGCHLD: the parent wants no SIGCHLD when a child stops or continues.
    pub fn nocldstop(&self) -> bool {
        self.action(SIGCHLD).flags & SA_NOCLDSTOP != 0
    }

    /// SA_NOCLDWAIT on SIGCHLD, or SIGCHLD ignored: exiting children are reaped at once
    /// instead of becoming zombies.
    pub fn nocldwait(&self) -> bool {
        let a = self.action(SIGCHLD);
        a.flags & SA_NOCLDWAIT != 0 || a.handler == SIG_IGN
    }

    /// The sigreturn-validation latch.
    pub fn validation(&self) -> SigreturnValidation {
        self.validation
    }

    /// Must `sigreturn` check its token?
    pub fn enforce_sigreturn_token(&self) -> bool {
        self.validation != SigreturnValidation::Disabled
    }

    /// SA_RESETHAND at delivery: back to SIG_DFL, and the handler-only flags go with it.
    pub(crate) fn reset_for_delivery(&mut self, sig: Signal) {
        if let Some(a) = self.actions.get_mut(sig as usize) {
            a.handler = SIG_DFL;
            a.flags &= !(SA_SIGINFO | SA_NODEFER);
        }
    }

    /// Put `sig` back to SIG_DFL entirely: a signal frame could not be written (§10 step 9,
    /// SIGILL), or a fault signal is blocked or ignored and would otherwise re-fault forever.
    pub fn force_default(&mut self, sig: Signal) {
        if let Some(a) = self.actions.get_mut(sig as usize) {
            *a = SigAction::default();
        }
    }

    /// What a forked child starts with: the parent's actions, latch included (`Clone`).
    pub fn fork_copy(&self) -> Sigacts {
        self.clone()
    }

    /// Exec: caught signals go back to SIG_DFL (their handlers are gone with the old image),
    /// ignored ones stay ignored, nothing runs on the alternate stack, and the validation
    /// latch starts over for the new image's library. Returns the pending signals to discard:
    /// those that were caught and are ignored by default.
    pub fn exec_reset(&mut self) -> SigSet {
        let mut discard = 0;
        for (n, a) in self.actions.iter_mut().enumerate().skip(1) {
            if a.is_caught() {
                *a = SigAction::default();
                let sig = n as Signal;
                if default_is_ignore(sig) {
                    discard |= sigmask(sig);
                }
            } else {
                a.flags &= !SA_ONSTACK;
            }
        }
        self.validation = SigreturnValidation::Default;
        discard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::signal::{
        SA_RESTART, SIGALRM, SIGHUP, SIGILL, SIGINT, SIGSEGV, SIGTERM, SIGURG, SIGUSR1, SIGWINCH,
    };

    fn catch(handler: u64, flags: i32) -> SigactionIn {
        SigactionIn { sa_handler: handler, sa_tramp: 0x1_0000_0800, sa_mask: 0, sa_flags: flags }
    }

    fn ign() -> SigactionIn {
        SigactionIn { sa_handler: SIG_IGN, ..SigactionIn::default() }
    }

    #[test]
    fn starts_at_default_and_enforced() {
        let s = Sigacts::new();
        for sig in 1..NSIG {
            assert_eq!(s.action(sig), SigAction::default());
        }
        assert_eq!(s.validation(), SigreturnValidation::Default);
        assert!(s.enforce_sigreturn_token());
        assert_eq!(s.action(0), SigAction::default());
        assert_eq!(s.action(1000), SigAction::default());
    }

    #[test]
    fn bad_numbers_and_uncatchables_are_einval() {
        let mut s = Sigacts::new();
        for sig in [0, NSIG, 1000, u32::MAX, SIGKILL, SIGSTOP] {
            assert_eq!(s.sigaction(sig, None), Err(Errno::EINVAL), "sig {sig}");
            assert_eq!(s.sigaction(sig, Some(catch(0x4000, 0))), Err(Errno::EINVAL));
            assert_eq!(s.sigaction(sig, Some(ign())), Err(Errno::EINVAL));
        }
        // Refused calls do not latch validation.
        assert_eq!(s.validation(), SigreturnValidation::Default);
    }

    #[test]
    fn install_and_read_back() {
        let mut s = Sigacts::new();
        let mut new = catch(0x1_0000_4000, SA_RESTART | SA_SIGINFO | 0x300);
        new.sa_mask = sigmask(SIGINT) | SIGCANTMASK;
        let r = s.sigaction(SIGUSR1, Some(new)).unwrap();
        assert_eq!(r.old, SigactionOut::default());
        assert_eq!(r.discard, 0);
        let a = s.action(SIGUSR1);
        assert_eq!(a.handler, 0x1_0000_4000);
        assert_eq!(a.tramp, 0x1_0000_0800);
        assert_eq!(a.mask, sigmask(SIGINT), "SIGKILL/SIGSTOP never join a handler mask");
        assert_eq!(a.flags, SA_RESTART | SA_SIGINFO, "legacy bits are dropped");
        assert!(s.catches(SIGUSR1) && !s.ignores(SIGUSR1));
        let r = s.sigaction(SIGUSR1, None).unwrap();
        assert_eq!(
            r.old,
            SigactionOut {
                sa_handler: 0x1_0000_4000,
                sa_mask: sigmask(SIGINT),
                sa_flags: SA_RESTART | SA_SIGINFO
            }
        );
    }

    #[test]
    fn resethand_is_not_reported() {
        let mut s = Sigacts::new();
        s.sigaction(SIGINT, Some(catch(0x5000, SA_RESETHAND | SA_NODEFER))).unwrap();
        assert_eq!(s.action(SIGINT).flags, SA_RESETHAND | SA_NODEFER);
        assert_eq!(s.sigaction(SIGINT, None).unwrap().old.sa_flags, SA_NODEFER);
    }

    #[test]
    fn validation_latch_follows_the_first_new_action() {
        let mut s = Sigacts::new();
        s.sigaction(SIGINT, None).unwrap();
        assert_eq!(s.validation(), SigreturnValidation::Default, "reading does not latch");
        s.sigaction(SIGINT, Some(catch(0x5000, SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP))).unwrap();
        assert_eq!(s.validation(), SigreturnValidation::Enabled);
        s.sigaction(SIGHUP, Some(catch(0x5000, 0))).unwrap();
        assert_eq!(s.validation(), SigreturnValidation::Enabled, "latched once");
        assert_eq!(s.action(SIGINT).flags, 0, "0x400 is not kept as a flag");

        let mut s = Sigacts::new();
        s.sigaction(SIGHUP, Some(ign())).unwrap();
        assert_eq!(s.validation(), SigreturnValidation::Disabled);
        assert!(!s.enforce_sigreturn_token());
        s.sigaction(SIGINT, Some(catch(0x5000, SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP))).unwrap();
        assert_eq!(s.validation(), SigreturnValidation::Disabled);
    }

    #[test]
    fn ignoring_discards_pending() {
        let mut s = Sigacts::new();
        assert_eq!(s.sigaction(SIGTERM, Some(ign())).unwrap().discard, sigmask(SIGTERM));
        assert!(s.ignores(SIGTERM) && !s.catches(SIGTERM));
        // Back to SIG_DFL: SIGTERM terminates by default, nothing to discard.
        assert_eq!(s.sigaction(SIGTERM, Some(SigactionIn::default())).unwrap().discard, 0);
        assert!(!s.ignores(SIGTERM));
        // SIG_DFL for a do-nothing signal discards too, SIGCONT included.
        assert_eq!(s.sigaction(SIGWINCH, Some(SigactionIn::default())).unwrap().discard, sigmask(SIGWINCH));
        assert_eq!(s.sigaction(SIGCONT, Some(SigactionIn::default())).unwrap().discard, sigmask(SIGCONT));
        assert_eq!(s.sigaction(SIGCONT, Some(ign())).unwrap().discard, sigmask(SIGCONT));
        // Catching discards nothing.
        assert_eq!(s.sigaction(SIGURG, Some(catch(0x6000, 0))).unwrap().discard, 0);
    }

    #[test]
    fn ignore_set_matches_xnu() {
        let mut s = Sigacts::new();
        assert!(s.ignores(SIGCHLD) && s.ignores(SIGURG) && s.ignores(SIGWINCH));
        assert!(!s.ignores(SIGCONT), "SIGCONT must still continue");
        assert!(!s.ignores(SIGINT) && !s.ignores(SIGKILL) && !s.ignores(0));
        s.sigaction(SIGCONT, Some(ign())).unwrap();
        assert!(!s.ignores(SIGCONT), "even when set to SIG_IGN");
        s.sigaction(SIGCHLD, Some(catch(0x7000, 0))).unwrap();
        assert!(!s.ignores(SIGCHLD));
    }

    #[test]
    fn sigchld_flags() {
        let mut s = Sigacts::new();
        assert!(!s.nocldstop() && !s.nocldwait());
        s.sigaction(SIGCHLD, Some(catch(0x7000, SA_NOCLDSTOP))).unwrap();
        assert!(s.nocldstop() && !s.nocldwait());
        s.sigaction(SIGCHLD, Some(catch(0x7000, SA_NOCLDWAIT))).unwrap();
        assert!(!s.nocldstop() && s.nocldwait());
        s.sigaction(SIGCHLD, Some(ign())).unwrap();
        assert!(s.nocldwait());
        assert_eq!(s.sigaction(SIGCHLD, None).unwrap().old.sa_flags, SA_NOCLDWAIT);
    }

    #[test]
    fn reset_for_delivery_and_force_default() {
        let mut s = Sigacts::new();
        s.sigaction(SIGALRM, Some(catch(0x8000, SA_RESETHAND | SA_SIGINFO | SA_NODEFER | SA_RESTART)))
            .unwrap();
        s.reset_for_delivery(SIGALRM);
        let a = s.action(SIGALRM);
        assert_eq!(a.handler, SIG_DFL);
        assert_eq!(a.flags, SA_RESETHAND | SA_RESTART);
        s.sigaction(SIGSEGV, Some(catch(0x8000, SA_ONSTACK))).unwrap();
        s.force_default(SIGSEGV);
        assert_eq!(s.action(SIGSEGV), SigAction::default());
        s.force_default(0);
        s.force_default(99);
    }

    #[test]
    fn fork_copies_everything() {
        let mut s = Sigacts::new();
        s.sigaction(SIGINT, Some(catch(0x9000, SA_RESTART))).unwrap();
        s.sigaction(SIGHUP, Some(ign())).unwrap();
        let c = s.fork_copy();
        assert_eq!(c.action(SIGINT), s.action(SIGINT));
        assert_eq!(c.action(SIGHUP), s.action(SIGHUP));
        assert_eq!(c.validation(), SigreturnValidation::Disabled);
    }

    #[test]
    fn exec_resets_caught_keeps_ignored() {
        let mut s = Sigacts::new();
        s.sigaction(SIGINT, Some(catch(0x9000, SA_ONSTACK))).unwrap();
        s.sigaction(SIGWINCH, Some(catch(0x9000, 0))).unwrap();
        s.sigaction(SIGHUP, Some(SigactionIn { sa_handler: SIG_IGN, sa_flags: SA_ONSTACK, ..ign() }))
            .unwrap();
        s.sigaction(SIGILL, Some(SigactionIn { sa_flags: SA_ONSTACK, ..SigactionIn::default() })).unwrap();
        let discard = s.exec_reset();
        assert_eq!(discard, sigmask(SIGWINCH), "caught and ignored by default");
        assert_eq!(s.action(SIGINT), SigAction::default());
        assert_eq!(s.action(SIGHUP).handler, SIG_IGN);
        assert_eq!(s.action(SIGHUP).flags & SA_ONSTACK, 0);
        assert_eq!(s.action(SIGILL).flags, 0);
        assert!(s.ignores(SIGHUP));
        assert_eq!(s.validation(), SigreturnValidation::Default);
    }
}
