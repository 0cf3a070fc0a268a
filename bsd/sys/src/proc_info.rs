//! Process introspection layouts (XNU `bsd/sys/proc_info.h` and `bsd/sys/sysctl.h`): the
//! `proc_info` call numbers, list filters and flavors with `struct proc_bsdinfo` and
//! `struct proc_taskinfo`, and `struct kinfo_proc` as `sysctl kern.proc` returns it to a
//! 64-bit process. Each `repr(C)` struct is the statement of its layout, a zerocopy type
//! copied whole (every padding byte is a named field, so none is left uninitialised).

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

/// `proc_info` call numbers (its first argument).
pub const PROC_INFO_CALL_LISTPIDS: i32 = 1;
pub const PROC_INFO_CALL_PIDINFO: i32 = 2;

/// `PROC_INFO_CALL_LISTPIDS` filters (the `pid` argument), with the filter value in `flavor`.
pub const PROC_ALL_PIDS: u32 = 1;
pub const PROC_PGRP_ONLY: u32 = 2;
pub const PROC_TTY_ONLY: u32 = 3;
pub const PROC_UID_ONLY: u32 = 4;
pub const PROC_RUID_ONLY: u32 = 5;
pub const PROC_PPID_ONLY: u32 = 6;

/// `PROC_INFO_CALL_PIDINFO` flavors.
pub const PROC_PIDTASKALLINFO: u32 = 2;
pub const PROC_PIDTBSDINFO: u32 = 3;
pub const PROC_PIDTASKINFO: u32 = 4;

/// `pbi_flags` bits.
pub const PROC_FLAG_SYSTEM: u32 = 0x1;
pub const PROC_FLAG_INEXIT: u32 = 0x4;
pub const PROC_FLAG_LP64: u32 = 0x10;
pub const PROC_FLAG_SLEADER: u32 = 0x20;
pub const PROC_FLAG_PSUGID: u32 = 0x2000;
pub const PROC_FLAG_EXEC: u32 = 0x4000;

/// Process states (`p_stat`, `pbi_status`).
pub const SIDL: u32 = 1;
pub const SRUN: u32 = 2;
pub const SSLEEP: u32 = 3;
pub const SSTOP: u32 = 4;
pub const SZOMB: u32 = 5;

/// `p_flag` bit in `kinfo_proc`: a 64-bit process.
pub const P_LP64: i32 = 0x4;

/// Length of a command name (`MAXCOMLEN`).
pub const MAXCOMLEN: usize = 16;

/// `struct proc_bsdinfo`: identity, state and credentials of one process (136 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct ProcBsdInfo {
    pub pbi_flags: u32,
    pub pbi_status: u32,
    pub pbi_xstatus: u32,
    pub pbi_pid: u32,
    pub pbi_ppid: u32,
    pub pbi_uid: u32,
    pub pbi_gid: u32,
    pub pbi_ruid: u32,
    pub pbi_rgid: u32,
    pub pbi_svuid: u32,
    pub pbi_svgid: u32,
    pub rfu_1: u32,
    pub pbi_comm: [u8; MAXCOMLEN],
    pub pbi_name: [u8; 2 * MAXCOMLEN],
    pub pbi_nfiles: u32,
    pub pbi_pgid: u32,
    pub pbi_pjobc: u32,
    pub e_tdev: u32,
    pub e_tpgid: u32,
    pub pbi_nice: i32,
    pub pbi_start_tvsec: u64,
    pub pbi_start_tvusec: u64,
}

/// Byte size of [`ProcBsdInfo`].
pub const PROC_BSDINFO_SIZE: usize = 136;
const _: () = assert!(size_of::<ProcBsdInfo>() == PROC_BSDINFO_SIZE);
const _: () = assert!(offset_of!(ProcBsdInfo, pbi_comm) == 48 && offset_of!(ProcBsdInfo, pbi_nfiles) == 96);
const _: () = assert!(offset_of!(ProcBsdInfo, pbi_start_tvsec) == 120);

/// `struct proc_taskinfo`: the Mach side of a process — memory, times, threads (96 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct ProcTaskInfo {
    pub pti_virtual_size: u64,
    pub pti_resident_size: u64,
    /// CPU time of threads that have terminated, nanoseconds.
    pub pti_total_user: u64,
    pub pti_total_system: u64,
    /// CPU time of the live threads, nanoseconds.
    pub pti_threads_user: u64,
    pub pti_threads_system: u64,
    pub pti_policy: i32,
    pub pti_faults: i32,
    pub pti_pageins: i32,
    pub pti_cow_faults: i32,
    pub pti_messages_sent: i32,
    pub pti_messages_received: i32,
    pub pti_syscalls_mach: i32,
    pub pti_syscalls_unix: i32,
    pub pti_csw: i32,
    pub pti_threadnum: i32,
    pub pti_numrunning: i32,
    pub pti_priority: i32,
}

/// Byte size of [`ProcTaskInfo`].
pub const PROC_TASKINFO_SIZE: usize = 96;
const _: () = assert!(size_of::<ProcTaskInfo>() == PROC_TASKINFO_SIZE);
const _: () =
    assert!(offset_of!(ProcTaskInfo, pti_policy) == 48 && offset_of!(ProcTaskInfo, pti_priority) == 92);

/// `struct proc_taskallinfo`: the two above, back to back (232 bytes).
pub const PROC_TASKALLINFO_SIZE: usize = PROC_BSDINFO_SIZE + PROC_TASKINFO_SIZE;

/// `struct extern_proc` for a 64-bit process: the first half of `kinfo_proc`, a snapshot of
/// the historical `struct proc`. Pointer fields are opaque words; this kernel leaves them 0.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct ExternProc {
    /// `p_un`: run-queue links, or the start time as a `timeval` (seconds, microseconds).
    pub p_starttime_sec: i64,
    pub p_starttime_usec: i32,
    pub _pad0: i32,
    pub p_vmspace: u64,
    pub p_sigacts: u64,
    pub p_flag: i32,
    pub p_stat: u8,
    pub _pad1: [u8; 3],
    pub p_pid: i32,
    pub p_oppid: i32,
    pub p_dupfd: i32,
    pub _pad2: i32,
    pub user_stack: u64,
    pub exit_thread: u64,
    pub p_debugger: i32,
    pub sigwait: i32,
    pub p_estcpu: u32,
    pub p_cpticks: i32,
    pub p_pctcpu: u32,
    pub _pad3: i32,
    pub p_wchan: u64,
    pub p_wmesg: u64,
    pub p_swtime: u32,
    pub p_slptime: u32,
    /// `p_realtimer`: an `itimerval` (two `timeval`s).
    pub p_realtimer: [u64; 4],
    /// `p_rtime`: a `timeval`.
    pub p_rtime: [u64; 2],
    pub p_uticks: u64,
    pub p_sticks: u64,
    pub p_iticks: u64,
    pub p_traceflag: i32,
    pub _pad4: i32,
    pub p_tracep: u64,
    pub p_siglist: i32,
    pub _pad5: i32,
    pub p_textvp: u64,
    pub p_holdcnt: i32,
    pub p_sigmask: u32,
    pub p_sigignore: u32,
    pub p_sigcatch: u32,
    pub p_priority: u8,
    pub p_usrpri: u8,
    pub p_nice: i8,
    pub p_comm: [u8; MAXCOMLEN + 1],
    pub _pad6: [u8; 4],
    pub p_pgrp: u64,
    pub p_addr: u64,
    pub p_xstat: u16,
    pub p_acflag: u16,
    pub _pad7: i32,
    pub p_ru: u64,
}

/// `struct eproc` for a 64-bit process: the second half of `kinfo_proc` — credentials,
/// parent, process group and terminal.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct Eproc {
    pub e_paddr: u64,
    pub e_sess: u64,
    /// `e_pcred`: a 72-byte lock, the credential pointer, then the real and saved ids.
    pub pc_lock: [u8; 72],
    pub pc_ucred: u64,
    pub p_ruid: u32,
    pub p_svuid: u32,
    pub p_rgid: u32,
    pub p_svgid: u32,
    pub p_refcnt: i32,
    pub _pad0: i32,
    /// `e_ucred`: reference count, effective uid, and the groups.
    pub cr_ref: i32,
    pub cr_uid: u32,
    pub cr_ngroups: i16,
    pub _pad1: i16,
    pub cr_groups: [u32; 16],
    pub _pad2: i32,
    /// `e_vm`: a `struct vmspace` placeholder.
    pub e_vm: [u64; 8],
    pub e_ppid: i32,
    pub e_pgid: i32,
    pub e_jobc: i16,
    pub _pad3: i16,
    pub e_tdev: i32,
    pub e_tpgid: i32,
    pub _pad4: i32,
    pub e_tsess: u64,
    pub e_wmesg: [u8; 8],
    pub e_xsize: i32,
    pub e_xrssize: i16,
    pub e_xccount: i16,
    pub e_xswrss: i16,
    pub _pad5: i16,
    pub e_flag: i32,
    pub e_login: [u8; 12],
    pub e_spare: [i32; 4],
    pub _pad6: i32,
}

impl Default for Eproc {
    fn default() -> Eproc {
        Eproc::new_zeroed()
    }
}

/// `struct kinfo_proc`: one element of a `kern.proc` answer (648 bytes).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct KinfoProc {
    pub kp_proc: ExternProc,
    pub kp_eproc: Eproc,
}

/// Byte size of [`KinfoProc`].
pub const KINFO_PROC_SIZE: usize = 648;
const _: () = assert!(size_of::<ExternProc>() == 296 && size_of::<Eproc>() == 352);
const _: () = assert!(size_of::<KinfoProc>() == KINFO_PROC_SIZE);
const _: () = assert!(offset_of!(ExternProc, p_pid) == 40 && offset_of!(ExternProc, p_comm) == 243);
const _: () = assert!(offset_of!(ExternProc, p_realtimer) == 120 && offset_of!(ExternProc, p_xstat) == 280);
const _: () = assert!(offset_of!(Eproc, cr_uid) == 124 && offset_of!(Eproc, e_vm) == 200);
const _: () = assert!(offset_of!(Eproc, e_ppid) == 264 && offset_of!(Eproc, e_tpgid) == 280);
const _: () = assert!(offset_of!(Eproc, e_flag) == 316 && offset_of!(Eproc, e_spare) == 332);

/// `comm` as a fixed, NUL-padded field of `N` bytes (truncated to leave a NUL).
pub fn comm_field<const N: usize>(name: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = name.len().min(N.saturating_sub(1));
    out[..n].copy_from_slice(&name[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsdinfo_round_trips_at_xnu_offsets() {
        let info = ProcBsdInfo {
            pbi_flags: PROC_FLAG_LP64,
            pbi_status: SRUN,
            pbi_pid: 7,
            pbi_ppid: 1,
            pbi_uid: 501,
            pbi_comm: comm_field(b"utest"),
            pbi_pgid: 7,
            pbi_nice: -5,
            pbi_start_tvsec: 1_700_000_000,
            ..Default::default()
        };
        let b = info.as_bytes();
        assert_eq!(&b[12..16], &7u32.to_le_bytes());
        assert_eq!(&b[48..53], b"utest");
        assert_eq!(&b[116..120], &(-5i32).to_le_bytes());
        assert_eq!(ProcBsdInfo::read_from_bytes(b), Ok(info));
    }

    #[test]
    fn taskinfo_round_trips() {
        let info = ProcTaskInfo {
            pti_virtual_size: 1 << 33,
            pti_threadnum: 3,
            pti_priority: 31,
            ..Default::default()
        };
        let b = info.as_bytes();
        assert_eq!(&b[84..88], &3i32.to_le_bytes());
        assert_eq!(ProcTaskInfo::read_from_bytes(b), Ok(info));
    }

    #[test]
    fn kinfo_proc_fields_land_where_darwin_tools_read_them() {
        let mut k = KinfoProc::default();
        k.kp_proc.p_pid = 42;
        k.kp_proc.p_stat = SZOMB as u8;
        k.kp_proc.p_comm = comm_field(b"a-rather-long-command-name");
        k.kp_eproc.e_ppid = 1;
        k.kp_eproc.cr_uid = 501;
        let b = k.as_bytes();
        assert_eq!(&b[40..44], &42i32.to_le_bytes());
        assert_eq!(b[36], SZOMB as u8);
        assert_eq!(&b[243..259], b"a-rather-long-co");
        assert_eq!(b[259], 0, "comm stays NUL-terminated");
        assert_eq!(&b[296 + 264..296 + 268], &1i32.to_le_bytes());
        assert_eq!(&b[296 + 124..296 + 128], &501u32.to_le_bytes());
        let d = KinfoProc::read_from_bytes(b).unwrap();
        assert_eq!((d.kp_proc.p_pid, d.kp_eproc.e_ppid, d.kp_eproc.cr_uid), (42, 1, 501));
    }
}
