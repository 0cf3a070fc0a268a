//! The arm64 signal frame (XNU's `sendsig` and `sigreturn` in `bsd/dev/arm/unix_signal.c`,
//! reference §10): from the interrupted registers and a [`Delivery`], the 976-byte frame to
//! copy to the user stack (siginfo, ucontext64, mcontext64) and the registers the trampoline
//! starts with; and back, from the ucontext and mcontext `sigreturn` copies in, the
//! registers, mask and alternate-stack mark to resume with. Pure: the caller copies in and
//! out and draws the random token.

use osfmk::arm64::esr::{Esr, ec};
use osfmk::arm64::trapframe::TrapFrame;
use sys::Errno;
use sys::signal::{
    BUS_ADRALN, FPE_FLTDIV, FPE_FLTINV, FPE_FLTOVF, FPE_FLTRES, FPE_FLTUND, FPE_NOOP, ILL_ILLTRP, SA_SIGINFO,
    SEGV_ACCERR, SIGBUS, SIGCANTMASK, SIGFPE, SIGILL, SIGSEGV, SS_ONSTACK, SigSet, SigaltStack, Siginfo,
    Signal,
};
use sys::trap::{PSR64_NZCV_MASK, PSR64_USER64_DEFAULT};
use sys::ucontext::{
    ArmExceptionState64, ArmNeonState64, ArmThreadState64, MCONTEXT64_SIZE, Mcontext64, REDZONE_64,
    SIGFRAME64_MCTX, SIGFRAME64_SIZE, SIGFRAME64_UCTX, Sigframe64, UC_FLAVOR, UC_RESET_ALT_STACK,
    UC_SET_ALT_STACK, UC_TRAD, Ucontext64,
};

use crate::kern::kern_sigstate::Delivery;

/// ISS bits of a trapped floating-point exception (ESR EC 0x2c; ARM ARM D19.2.37, "ISS
/// encoding for an exception from a trapped floating-point exception").
mod fp_iss {
    /// Invalid operation.
    pub const IOF: u32 = 1 << 0;
    /// Divide by zero.
    pub const DZF: u32 = 1 << 1;
    /// Overflow.
    pub const OFF: u32 = 1 << 2;
    /// Underflow.
    pub const UFF: u32 = 1 << 3;
    /// Inexact.
    pub const IXF: u32 = 1 << 4;
    /// Input denormal.
    pub const IDF: u32 = 1 << 7;
}

/// A thread's user registers as the signal code sees them: the trap frame's general
/// registers, SP, PC and PSTATE, the FP/SIMD state, and the fault address and syndrome of
/// the exception that raised the signal (zero when there was none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegs {
    /// x0–x30 (x29 is the frame pointer, x30 the link register).
    pub x: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    /// PSTATE (SPSR_EL1 of the trap).
    pub cpsr: u64,
    /// q0–q31.
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
    /// FAR_EL1 of the fault.
    pub far: u64,
    /// ESR_EL1 of the fault.
    pub esr: u64,
}

impl UserRegs {
    /// The general registers from a trap frame; FP/SIMD and fault fields stay zero for the
    /// caller to fill from the thread's saved FP state and exception.
    pub fn from_trap_frame(tf: &TrapFrame) -> UserRegs {
        UserRegs { x: tf.x, sp: tf.sp_el0, pc: tf.elr, cpsr: tf.spsr, ..UserRegs::default() }
    }

    /// Store the general registers into a trap frame (the FP/SIMD ones go to the thread's FP
    /// state separately).
    pub fn store_to_trap_frame(&self, tf: &mut TrapFrame) {
        tf.x = self.x;
        tf.sp_el0 = self.sp;
        tf.elr = self.pc;
        tf.spsr = self.cpsr;
    }

    fn to_mcontext(self) -> Mcontext64 {
        let [gprs @ .., fp, lr] = self.x;
        Mcontext64 {
            // The exception number word is XNU's internal trap code; user code reads FAR/ESR.
            es: ArmExceptionState64 { far: self.far, esr: self.esr as u32, exception: 0 },
            ss: ArmThreadState64 {
                x: gprs,
                fp,
                lr,
                sp: self.sp,
                pc: self.pc,
                cpsr: self.cpsr as u32,
                flags: 0,
            },
            ns: ArmNeonState64 { q: self.q, fpsr: self.fpsr as u32, fpcr: self.fpcr as u32, _pad: 0 },
        }
    }

    fn from_mcontext(m: &Mcontext64) -> UserRegs {
        let mut x = [0u64; 31];
        for (dst, src) in x.iter_mut().zip(m.ss.x.iter().chain([m.ss.fp, m.ss.lr].iter())) {
            *dst = *src;
        }
        UserRegs {
            x,
            sp: m.ss.sp,
            pc: m.ss.pc,
            // Only the condition flags are the user's to choose: exception masks set in
            // the saved PSTATE would mask our timer at EL0, and the mode must be EL0t.
            cpsr: (u64::from(m.ss.cpsr) & PSR64_NZCV_MASK) | PSR64_USER64_DEFAULT,
            q: m.ns.q,
            fpsr: u64::from(m.ns.fpsr),
            fpcr: u64::from(m.ns.fpcr),
            far: 0,
            esr: 0,
        }
    }
}

/// Where the siginfo of a signal that is not a fault gets its sender fields: the process's
/// recorded `si_pid`/`si_uid`/`si_code`/`si_status` (XNU keeps the last ones on the proc,
/// filled by `kill` — code 0, status = the signal — and by a child's exit, stop or continue
/// — see `kern_wait::sigchld_info`). The kernel takes and clears them when it delivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigOrigin {
    pub pid: i32,
    pub uid: u32,
    pub code: i32,
    pub status: i32,
}

/// A signal frame ready to copy out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalFrame {
    /// The user address to copy `frame` to (16-byte aligned; also the handler's SP).
    pub addr: u64,
    pub frame: Sigframe64,
    /// The registers the thread resumes with: x0 handler, x1 infostyle, x2 signal, x3
    /// &siginfo, x4 &ucontext, x5 token, pc trampoline, sp frame; the rest as interrupted.
    pub regs: UserRegs,
}

/// The siginfo for `sig` interrupting `regs` (§10 step 6).
pub fn siginfo_for(sig: Signal, regs: &UserRegs, origin: SigOrigin) -> Siginfo {
    let mut info = Siginfo { si_signo: sig as i32, si_addr: regs.pc, ..Siginfo::default() };
    info.pad[0] = regs.sp;
    match sig {
        SIGILL => info.si_code = ILL_ILLTRP,
        SIGFPE => info.si_code = fpe_code(Esr(regs.esr)),
        SIGBUS => {
            info.si_code = BUS_ADRALN;
            info.si_addr = regs.far;
        }
        SIGSEGV => {
            info.si_code = SEGV_ACCERR;
            info.si_addr = regs.far;
        }
        _ => {
            info.si_pid = origin.pid;
            info.si_uid = origin.uid;
            info.si_code = origin.code;
            info.si_status = origin.status;
        }
    }
    info
}

/// The SIGFPE code for a trapped floating-point exception's syndrome.
fn fpe_code(esr: Esr) -> i32 {
    if esr.ec() != ec::FP_EXC64 {
        return FPE_NOOP;
    }
    let iss = esr.iss();
    [
        (fp_iss::UFF, FPE_FLTUND),
        (fp_iss::OFF, FPE_FLTOVF),
        (fp_iss::IOF, FPE_FLTINV),
        (fp_iss::DZF, FPE_FLTDIV),
        (fp_iss::IDF, FPE_FLTINV),
        (fp_iss::IXF, FPE_FLTRES),
    ]
    .iter()
    .find(|&&(bit, _)| iss & bit != 0)
    .map_or(FPE_NOOP, |&(_, code)| code)
}

/// Build the frame for delivery `d` (`sendsig`, §10 steps 1–8). `token_value` is the
/// thread's sigreturn token value (`SigState::sigreturn_token`). EFAULT when the stack has
/// no room below the address it would start from: the caller then does §10 step 9
/// (`SigState::sendsig_failed`), as for a failed copyout.
pub fn sendsig(
    regs: &UserRegs,
    d: &Delivery,
    origin: SigOrigin,
    token_value: u64,
) -> Result<SignalFrame, Errno> {
    let top = if d.on_altstack && !d.was_on_altstack {
        d.altstack_sp.checked_add(d.altstack_size).ok_or(Errno::EFAULT)?
    } else {
        regs.sp
    };
    let addr = top.checked_sub(SIGFRAME64_SIZE as u64 + REDZONE_64).ok_or(Errno::EFAULT)? & !15;
    let uctx_addr = addr + SIGFRAME64_UCTX as u64;
    let frame = Sigframe64 {
        sinfo: siginfo_for(d.sig, regs, origin),
        uctx: Ucontext64 {
            uc_onstack: i32::from(d.was_on_altstack),
            uc_sigmask: d.mask_to_restore,
            uc_stack: SigaltStack {
                ss_sp: addr,
                ss_size: if d.on_altstack { d.altstack_size } else { 0 },
                ss_flags: if d.was_on_altstack { SS_ONSTACK } else { 0 },
                _pad: 0,
            },
            uc_link: 0,
            uc_mcsize: MCONTEXT64_SIZE as u64,
            uc_mcontext64: addr + SIGFRAME64_MCTX as u64,
        },
        mctx: regs.to_mcontext(),
    };
    let infostyle = if d.flags & SA_SIGINFO != 0 { UC_FLAVOR } else { UC_TRAD };
    let mut out = *regs;
    out.x[0] = d.handler;
    out.x[1] = u64::from(infostyle);
    out.x[2] = u64::from(d.sig);
    out.x[3] = addr;
    out.x[4] = uctx_addr;
    out.x[5] = uctx_addr ^ token_value;
    out.pc = d.tramp;
    out.sp = addr;
    out.cpsr = PSR64_USER64_DEFAULT;
    Ok(SignalFrame { addr, frame, regs: out })
}

/// What `sigreturn`'s infostyle (x1) asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigreturnKind {
    /// UC_SET_ALT_STACK: only mark the thread as on its alternate stack; return 0.
    SetAltStack,
    /// UC_RESET_ALT_STACK: only clear that mark; return 0.
    ResetAltStack,
    /// Restore the context at x0.
    Restore,
}

/// Classify x1 of `sigreturn` (an `int`; the flag values are its high bits).
pub fn sigreturn_kind(infostyle: i32) -> SigreturnKind {
    match infostyle as u32 {
        UC_SET_ALT_STACK => SigreturnKind::SetAltStack,
        UC_RESET_ALT_STACK => SigreturnKind::ResetAltStack,
        _ => SigreturnKind::Restore,
    }
}

/// Check the ucontext `sigreturn` copied in from x0: EINVAL unless `uc_mcsize` is 816. Copy
/// in the mcontext from `uc_mcontext64` next.
pub fn read_ucontext(uc: Ucontext64) -> Result<Ucontext64, Errno> {
    if uc.uc_mcsize != MCONTEXT64_SIZE as u64 {
        return Err(Errno::EINVAL);
    }
    Ok(uc)
}

/// What a successful `sigreturn` restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// All user registers, PSTATE reduced to the condition flags in EL0t; FAR/ESR zero.
    pub regs: UserRegs,
    /// The thread mask to set (SIGKILL and SIGSTOP already removed).
    pub mask: SigSet,
    /// Bit 0 of `uc_onstack`: whether the thread is back on its alternate stack.
    pub on_altstack: bool,
}

/// `sigreturn` proper: check the token (x2) against the ucontext address (x0) and the
/// thread's token value unless the process disabled validation (EINVAL on mismatch), then
/// decode the mcontext. The caller applies `SigState::sigreturn(mask, on_altstack)`, loads
/// the registers and returns EJUSTRETURN so none of them is rewritten.
pub fn sigreturn(
    uctx_addr: u64,
    uc: &Ucontext64,
    mcontext: &Mcontext64,
    token: u64,
    token_value: u64,
    enforce: bool,
) -> Result<Restored, Errno> {
    if enforce && token != uctx_addr ^ token_value {
        return Err(Errno::EINVAL);
    }
    Ok(Restored {
        regs: UserRegs::from_mcontext(mcontext),
        mask: uc.uc_sigmask & !SIGCANTMASK,
        on_altstack: uc.uc_onstack & 1 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::signal::{
        CLD_EXITED, MINSIGSTKSZ, SA_ONSTACK, SA_RESTART, SIGCHLD, SIGKILL, SIGSTOP, SIGUSR1, Siginfo, sigmask,
    };

    const SECRET: u64 = 0x5eed_1234_abcd_0042;

    fn regs() -> UserRegs {
        let mut r = UserRegs::default();
        for (i, x) in r.x.iter_mut().enumerate() {
            *x = 0x100 + i as u64;
        }
        r.sp = 0x7fff_f000_0008;
        r.pc = 0x1_0000_3000;
        r.cpsr = 0x6000_0000;
        for (i, q) in r.q.iter_mut().enumerate() {
            *q = u128::from(i as u32) << 100 | 7;
        }
        r.fpsr = 0x9;
        r.fpcr = 0x0300_0000;
        r
    }

    fn delivery(sig: Signal, flags: i32) -> Delivery {
        Delivery {
            sig,
            handler: 0x1_0000_5000,
            tramp: 0x1_0000_0800,
            flags,
            mask_to_restore: sigmask(SIGUSR1),
            new_mask: sigmask(SIGUSR1) | sigmask(sig),
            on_altstack: false,
            was_on_altstack: false,
            altstack_sp: 0,
            altstack_size: 0,
        }
    }

    fn parts(f: &SignalFrame) -> (Siginfo, Ucontext64, Mcontext64) {
        (f.frame.sinfo, f.frame.uctx, f.frame.mctx)
    }

    #[test]
    fn frame_on_the_interrupted_stack() {
        let r = regs();
        let f =
            sendsig(&r, &delivery(SIGUSR1, SA_SIGINFO), SigOrigin { pid: 7, ..SigOrigin::default() }, SECRET)
                .unwrap();
        assert_eq!(f.addr, (r.sp - 976 - 128) & !15);
        assert_eq!(f.addr % 16, 0);
        assert!(f.addr + 976 + 128 <= r.sp, "the red zone is left alone");
        let (si, uc, mc) = parts(&f);
        assert_eq!(si.si_signo, SIGUSR1 as i32);
        assert_eq!(si.si_pid, 7);
        assert_eq!(si.si_addr, r.pc);
        assert_eq!(si.pad[0], r.sp);
        assert_eq!(uc.uc_onstack, 0);
        assert_eq!(uc.uc_sigmask, sigmask(SIGUSR1));
        assert_eq!(uc.uc_stack, SigaltStack { ss_sp: f.addr, ss_size: 0, ss_flags: 0, _pad: 0 });
        assert_eq!(uc.uc_mcsize, 816);
        assert_eq!(uc.uc_mcontext64, f.addr + 160);
        let m = mc;
        assert_eq!(m.ss.x[0], 0x100);
        assert_eq!(m.ss.x[28], 0x100 + 28);
        assert_eq!((m.ss.fp, m.ss.lr), (0x100 + 29, 0x100 + 30));
        assert_eq!((m.ss.sp, m.ss.pc, m.ss.cpsr), (r.sp, r.pc, 0x6000_0000));
        assert_eq!(m.ns.q, r.q);
        assert_eq!((m.ns.fpsr, m.ns.fpcr), (0x9, 0x0300_0000));
    }

    #[test]
    fn handler_entry_registers() {
        let r = regs();
        let d = delivery(SIGUSR1, SA_SIGINFO);
        let f = sendsig(&r, &d, SigOrigin::default(), SECRET).unwrap();
        let uctx = f.addr + 104;
        assert_eq!(f.regs.x[0], d.handler);
        assert_eq!(f.regs.x[1], u64::from(UC_FLAVOR));
        assert_eq!(f.regs.x[2], u64::from(SIGUSR1));
        assert_eq!(f.regs.x[3], f.addr);
        assert_eq!(f.regs.x[4], uctx);
        assert_eq!(f.regs.x[5], uctx ^ SECRET);
        assert_eq!(f.regs.pc, d.tramp);
        assert_eq!(f.regs.sp, f.addr);
        assert_eq!(f.regs.cpsr, PSR64_USER64_DEFAULT);
        assert_eq!(&f.regs.x[6..], &r.x[6..], "the other registers keep their values");
        assert_eq!(f.regs.q, r.q);
        let f = sendsig(&r, &delivery(SIGUSR1, SA_RESTART), SigOrigin::default(), SECRET).unwrap();
        assert_eq!(f.regs.x[1], u64::from(UC_TRAD));
    }

    #[test]
    fn frame_on_the_alternate_stack() {
        let r = regs();
        let mut d = delivery(SIGUSR1, SA_ONSTACK);
        d.on_altstack = true;
        d.altstack_sp = 0x2_0000_0000;
        d.altstack_size = MINSIGSTKSZ;
        let f = sendsig(&r, &d, SigOrigin::default(), SECRET).unwrap();
        assert_eq!(f.addr, (0x2_0000_0000 + MINSIGSTKSZ - 976 - 128) & !15);
        let (_, uc, _) = parts(&f);
        assert_eq!(uc.uc_onstack, 0);
        assert_eq!(uc.uc_stack, SigaltStack { ss_sp: f.addr, ss_size: MINSIGSTKSZ, ss_flags: 0, _pad: 0 });
        // Nested: already on it, so the frame goes below the interrupted SP.
        let mut r2 = r;
        r2.sp = f.addr - 64;
        d.was_on_altstack = true;
        let f2 = sendsig(&r2, &d, SigOrigin::default(), SECRET).unwrap();
        assert_eq!(f2.addr, (r2.sp - 976 - 128) & !15);
        let (_, uc2, _) = parts(&f2);
        assert_eq!(uc2.uc_onstack, 1);
        assert_eq!(uc2.uc_stack.ss_flags, SS_ONSTACK);
    }

    #[test]
    fn no_room_is_efault_not_a_panic() {
        let mut r = regs();
        r.sp = 100;
        assert_eq!(sendsig(&r, &delivery(SIGUSR1, 0), SigOrigin::default(), 0), Err(Errno::EFAULT));
        let mut d = delivery(SIGUSR1, SA_ONSTACK);
        d.on_altstack = true;
        d.altstack_sp = u64::MAX - 10;
        d.altstack_size = MINSIGSTKSZ;
        assert_eq!(sendsig(&regs(), &d, SigOrigin::default(), 0), Err(Errno::EFAULT));
    }

    #[test]
    fn siginfo_codes() {
        let mut r = regs();
        r.far = 0xbad0;
        let o = SigOrigin { pid: 9, uid: 501, code: CLD_EXITED, status: 3 };
        let i = siginfo_for(SIGSEGV, &r, o);
        assert_eq!((i.si_code, i.si_addr, i.si_pid), (SEGV_ACCERR, 0xbad0, 0));
        let i = siginfo_for(SIGBUS, &r, o);
        assert_eq!((i.si_code, i.si_addr), (BUS_ADRALN, 0xbad0));
        let i = siginfo_for(SIGILL, &r, o);
        assert_eq!((i.si_code, i.si_addr), (ILL_ILLTRP, r.pc));
        let i = siginfo_for(SIGCHLD, &r, o);
        assert_eq!((i.si_pid, i.si_uid, i.si_code, i.si_status), (9, 501, CLD_EXITED, 3));
        assert_eq!(i.si_addr, r.pc);
        let fpe = |iss: u64| {
            let mut r = regs();
            r.esr = (u64::from(ec::FP_EXC64) << 26) | (1 << 23) | iss;
            siginfo_for(SIGFPE, &r, o).si_code
        };
        assert_eq!(fpe(u64::from(fp_iss::DZF)), FPE_FLTDIV);
        assert_eq!(fpe(u64::from(fp_iss::OFF)), FPE_FLTOVF);
        assert_eq!(fpe(u64::from(fp_iss::UFF)), FPE_FLTUND);
        assert_eq!(fpe(u64::from(fp_iss::IOF)), FPE_FLTINV);
        assert_eq!(fpe(u64::from(fp_iss::IDF)), FPE_FLTINV);
        assert_eq!(fpe(u64::from(fp_iss::IXF)), FPE_FLTRES);
        assert_eq!(fpe(0), FPE_NOOP);
        assert_eq!(siginfo_for(SIGFPE, &regs(), o).si_code, FPE_NOOP, "not an FP trap");
    }

    #[test]
    fn sigreturn_round_trip() {
        let r = regs();
        let f = sendsig(&r, &delivery(SIGUSR1, SA_SIGINFO), SigOrigin::default(), SECRET).unwrap();
        let (_, uc, mc) = parts(&f);
        let uc = read_ucontext(uc).unwrap();
        let back = sigreturn(f.regs.x[4], &uc, &mc, f.regs.x[5], SECRET, true).unwrap();
        assert_eq!(back.regs, r, "every register comes back");
        assert_eq!(back.mask, sigmask(SIGUSR1));
        assert!(!back.on_altstack);
    }

    #[test]
    fn sigreturn_checks() {
        let f = sendsig(&regs(), &delivery(SIGUSR1, 0), SigOrigin::default(), SECRET).unwrap();
        let (_, mut uc, mut mc) = parts(&f);
        let uctx = f.regs.x[4];
        assert_eq!(sigreturn(uctx, &uc, &mc, f.regs.x[5] ^ 1, SECRET, true), Err(Errno::EINVAL));
        assert_eq!(sigreturn(uctx + 16, &uc, &mc, f.regs.x[5], SECRET, true), Err(Errno::EINVAL));
        assert!(sigreturn(uctx, &uc, &mc, 0, SECRET, false).is_ok(), "validation disabled");
        uc.uc_mcsize = 800;
        assert_eq!(read_ucontext(uc), Err(Errno::EINVAL));
        // A forged context cannot unmask SIGKILL/SIGSTOP or leave EL0 / mask interrupts.
        uc.uc_sigmask = u32::MAX;
        uc.uc_onstack = 3;
        mc.ss.cpsr = 0xf000_03c5;
        let back = sigreturn(uctx, &uc, &mc, f.regs.x[5], SECRET, true).unwrap();
        assert_eq!(back.mask, !(sigmask(SIGKILL) | sigmask(SIGSTOP)));
        assert_eq!(back.regs.cpsr, 0xf000_0000);
        assert!(back.on_altstack);
    }

    #[test]
    fn infostyle_kinds() {
        assert_eq!(sigreturn_kind(UC_SET_ALT_STACK as i32), SigreturnKind::SetAltStack);
        assert_eq!(sigreturn_kind(UC_RESET_ALT_STACK as i32), SigreturnKind::ResetAltStack);
        assert_eq!(sigreturn_kind(UC_FLAVOR as i32), SigreturnKind::Restore);
        assert_eq!(sigreturn_kind(UC_TRAD as i32), SigreturnKind::Restore);
    }

    #[test]
    fn trap_frame_conversion() {
        let mut tf = TrapFrame::new_user(0x1_0000_0000, 0x7000);
        tf.x[3] = 33;
        let r = UserRegs::from_trap_frame(&tf);
        assert_eq!((r.pc, r.sp, r.x[3]), (0x1_0000_0000, 0x7000, 33));
        let mut out = TrapFrame::default();
        r.store_to_trap_frame(&mut out);
        assert_eq!((out.elr, out.sp_el0, out.x[3], out.spsr), (tf.elr, tf.sp_el0, 33, tf.spsr));
    }
}
