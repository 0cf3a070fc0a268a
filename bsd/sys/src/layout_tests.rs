//! Host tests: every ABI struct has XNU's size for a 64-bit process, and the fields user
//! space and the kernel both read sit at XNU's offsets (`bsd/sys/*.h`, `mach/arm/_structs.h`).

use core::mem::{offset_of, size_of};

use crate::proc_info::{Eproc, ExternProc, KinfoProc, ProcBsdInfo, ProcTaskInfo};
use crate::resource::{Rlimit, Rusage};
use crate::signal::{SigactionIn, SigactionOut, SigaltStack, Siginfo};
use crate::spawn::{PosixSpawnArgsDesc, PosixSpawnAttrHead, PosixSpawnFileActionsHead, PsfaAction};
use crate::time::{Timeval, Timezone};
use crate::ucontext::{
    ArmExceptionState64, ArmNeonState64, ArmThreadState64, Mcontext64, Sigframe64, Ucontext64,
};

#[test]
fn sizes_are_xnus() {
    let sizes = [
        ("timeval", size_of::<Timeval>(), 16),
        ("timezone", size_of::<Timezone>(), 8),
        ("rusage", size_of::<Rusage>(), 144),
        ("rlimit", size_of::<Rlimit>(), 16),
        ("__sigaction", size_of::<SigactionIn>(), 24),
        ("sigaction", size_of::<SigactionOut>(), 16),
        ("stack_t", size_of::<SigaltStack>(), 24),
        ("siginfo_t", size_of::<Siginfo>(), 104),
        ("arm_exception_state64", size_of::<ArmExceptionState64>(), 16),
        ("arm_thread_state64", size_of::<ArmThreadState64>(), 272),
        ("arm_neon_state64", size_of::<ArmNeonState64>(), 528),
        ("mcontext64", size_of::<Mcontext64>(), 816),
        ("ucontext64", size_of::<Ucontext64>(), 56),
        ("signal frame", size_of::<Sigframe64>(), 976),
        ("proc_bsdinfo", size_of::<ProcBsdInfo>(), 136),
        ("proc_taskinfo", size_of::<ProcTaskInfo>(), 96),
        ("extern_proc", size_of::<ExternProc>(), 296),
        ("eproc", size_of::<Eproc>(), 352),
        ("kinfo_proc", size_of::<KinfoProc>(), 648),
        ("_posix_spawn_args_desc", size_of::<PosixSpawnArgsDesc>(), 144),
        ("_posix_spawnattr (head)", size_of::<PosixSpawnAttrHead>(), 16),
        ("_posix_spawn_file_actions (head)", size_of::<PosixSpawnFileActionsHead>(), 8),
        ("_psfa_action", size_of::<PsfaAction>(), 1040),
        ("statfs64", size_of::<crate::mount::Statfs>(), 2168),
    ];
    for (name, ours, xnu) in sizes {
        assert_eq!(ours, xnu, "struct {name}");
    }
}

#[test]
fn offsets_are_xnus() {
    let offsets = [
        ("timeval.tv_usec", offset_of!(Timeval, tv_usec), 8),
        ("rusage.ru_stime", offset_of!(Rusage, ru_stime), 16),
        ("rusage.ru_maxrss", offset_of!(Rusage, ru_maxrss), 32),
        ("rusage.ru_nivcsw", offset_of!(Rusage, ru_nivcsw), 136),
        ("rlimit.rlim_max", offset_of!(Rlimit, rlim_max), 8),
        ("__sigaction.sa_tramp", offset_of!(SigactionIn, sa_tramp), 8),
        ("__sigaction.sa_mask", offset_of!(SigactionIn, sa_mask), 16),
        ("__sigaction.sa_flags", offset_of!(SigactionIn, sa_flags), 20),
        ("sigaction.sa_mask", offset_of!(SigactionOut, sa_mask), 8),
        ("stack_t.ss_size", offset_of!(SigaltStack, ss_size), 8),
        ("stack_t.ss_flags", offset_of!(SigaltStack, ss_flags), 16),
        ("siginfo_t.si_addr", offset_of!(Siginfo, si_addr), 24),
        ("siginfo_t.si_value", offset_of!(Siginfo, si_value), 32),
        ("mcontext64.__ss", offset_of!(Mcontext64, ss), 16),
        ("mcontext64.__ns", offset_of!(Mcontext64, ns), 288),
        ("arm_thread_state64.__pc", offset_of!(ArmThreadState64, pc), 256),
        ("arm_neon_state64.__fpsr", offset_of!(ArmNeonState64, fpsr), 512),
        ("ucontext64.uc_mcsize", offset_of!(Ucontext64, uc_mcsize), 40),
        ("ucontext64.uc_mcontext64", offset_of!(Ucontext64, uc_mcontext64), 48),
        ("proc_bsdinfo.pbi_comm", offset_of!(ProcBsdInfo, pbi_comm), 48),
        ("proc_bsdinfo.pbi_nfiles", offset_of!(ProcBsdInfo, pbi_nfiles), 96),
        ("proc_taskinfo.pti_policy", offset_of!(ProcTaskInfo, pti_policy), 48),
        ("extern_proc.p_pid", offset_of!(ExternProc, p_pid), 40),
        ("extern_proc.p_comm", offset_of!(ExternProc, p_comm), 243),
        ("eproc.e_ppid", offset_of!(Eproc, e_ppid), 264),
        ("kinfo_proc.kp_eproc", offset_of!(KinfoProc, kp_eproc), 296),
        ("_posix_spawn_args_desc.file_actions", offset_of!(PosixSpawnArgsDesc, file_actions), 24),
        ("_posix_spawnattr.psa_sigmask", offset_of!(PosixSpawnAttrHead, psa_sigmask), 8),
        ("_psfa_action.psfao_oflag", offset_of!(PsfaAction, psfao_oflag), 8),
        ("_psfa_action.psfao_path", offset_of!(PsfaAction, psfao_path), 14),
    ];
    for (name, ours, xnu) in offsets {
        assert_eq!(ours, xnu, "{name}");
    }
}
