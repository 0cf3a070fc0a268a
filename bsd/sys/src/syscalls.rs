//! BSD system call numbers and per-slot descriptors, generated from `syscalls.master`.
#![allow(non_upper_case_globals)]

/// What a slot of the table does when called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysStatus {
    /// Implemented: dispatched to `bsd::kern::syscalls::<name>`.
    Std,
    /// Assigned by XNU but not implemented here yet: behaves like [`SysStatus::NoSys`].
    Unimpl,
    /// XNU's `nosys`: ENOSYS and SIGSYS.
    NoSys,
    /// XNU's `enosys`: ENOSYS without a signal.
    ENoSys,
}

/// How a successful call's result is placed in x0/x1 (reference §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetKind {
    /// `void`: x0/x1 are left as they were.
    None,
    /// `int`: x0 = rval[0] sign-extended, x1 = rval[1].
    Int,
    /// 32-bit unsigned: x0/x1 zero-extended.
    UInt,
    /// `user_ssize_t`: full 64-bit x0, x1 = 0.
    Ssize,
    /// `off_t`: full 64-bit x0, x1 = 0.
    Off,
    /// `user_addr_t`: full 64-bit x0, x1 = 0.
    Addr,
}

/// One slot of the table.
#[derive(Clone, Copy, Debug)]
pub struct SysentInfo {
    /// The name in `syscalls.master`.
    pub name: &'static str,
    /// Number of 64-bit argument registers the call reads (x0…).
    pub narg: u8,
    /// How the result is returned.
    pub ret: RetKind,
    /// Whether the call is implemented.
    pub status: SysStatus,
}

impl SysentInfo {
    /// An unused slot.
    pub const NOSYS: SysentInfo =
        SysentInfo { name: "nosys", narg: 0, ret: RetKind::Int, status: SysStatus::NoSys };
}

/// XNU replaces an out-of-range number with this `nosys` slot (reference §1.3).
pub const SYS_invalid: u32 = 63;

include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));

/// The descriptor for call `nr`, or the `SYS_invalid` slot when `nr` is out of range.
pub fn sysent_info(nr: u32) -> &'static SysentInfo {
    SYSENT_INFO.get(nr as usize).unwrap_or(&SYSENT_INFO[SYS_invalid as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_xnu() {
        assert_eq!(SYS_exit, 1);
        assert_eq!(SYS_read, 3);
        assert_eq!(SYS_write, 4);
        assert_eq!(SYS_getpid, 20);
        assert_eq!(SYS_getppid, 39);
        assert_eq!(SYS_execve, 59);
        assert_eq!(SYS_mmap, 197);
        assert_eq!(SYS_posix_spawn, 244);
        assert_eq!(NSYSENT, 558);
    }

    #[test]
    fn slots_describe_calls() {
        assert_eq!(SYSENT_INFO[3].name, "read");
        assert_eq!(SYSENT_INFO[3].narg, 3);
        assert_eq!(SYSENT_INFO[3].ret, RetKind::Ssize);
        assert_eq!(SYSENT_INFO[3].status, SysStatus::Std);
        assert_eq!(SYSENT_INFO[8].status, SysStatus::ENoSys);
        assert_eq!(SYSENT_INFO[0].status, SysStatus::NoSys);
        assert_eq!(SYSENT_INFO[SYS_mmap as usize].narg, 6);
        assert_eq!(sysent_info(100_000).status, SysStatus::NoSys);
    }

    #[test]
    fn std_macro_lists_implemented_calls() {
        macro_rules! collect {
            ($( ($nr:literal, $name:ident, $ret:ident, [$($arg:ident: $ty:ident),*]) ),* $(,)?) => {
                &[$( ($nr, stringify!($name), { let args: &[&str] = &[$(stringify!($arg)),*]; args.len() }) ),*]
            };
        }
        let calls: &[(u32, &str, usize)] = for_each_std_syscall!(collect);
        assert!(calls.contains(&(4, "write", 3)));
        // The types reach the macro as `sys::types` names.
        macro_rules! read_types {
            ($( ($nr:literal, $name:ident, $ret:ident, [$($arg:ident: $ty:ident),*]) ),* $(,)?) => {
                $( if stringify!($name) == "read" { let t: &[&str] = &[$(stringify!($ty)),*]; return t.join(" "); } )*
            };
        }
        fn types_of_read() -> std::string::String {
            for_each_std_syscall!(read_types);
            std::string::String::new()
        }
        assert_eq!(types_of_read(), "int user_addr_t user_size_t");
        for (nr, name, narg) in calls {
            let info = &SYSENT_INFO[*nr as usize];
            assert_eq!((info.name, info.narg as usize, info.status), (*name, *narg, SysStatus::Std));
        }
    }
}
