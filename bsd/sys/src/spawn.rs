//! `posix_spawn` (XNU `bsd/sys/spawn.h` and `spawn_internal.h`): attribute flags and the
//! layouts libc hands the kernel (LP64), as zerocopy types with XNU's sizes asserted.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

use crate::param::PATH_MAX;

/// The child's effective ids become its real ones.
pub const POSIX_SPAWN_RESETIDS: u16 = 0x0001;
/// The child joins process group `psa_pgroup` (0: a new group of its own).
pub const POSIX_SPAWN_SETPGROUP: u16 = 0x0002;
/// The signals in `psa_sigdefault` go back to SIG_DFL in the child.
pub const POSIX_SPAWN_SETSIGDEF: u16 = 0x0004;
/// The child's signal mask is `psa_sigmask`.
pub const POSIX_SPAWN_SETSIGMASK: u16 = 0x0008;
/// Exec in the caller instead of creating a child (Darwin extension).
pub const POSIX_SPAWN_SETEXEC: u16 = 0x0040;
/// The child starts suspended (its task suspended once).
pub const POSIX_SPAWN_START_SUSPENDED: u16 = 0x0080;
/// The child starts a new session (Darwin extension).
pub const POSIX_SPAWN_SETSID: u16 = 0x0400;
/// Every descriptor not named by an INHERIT action is closed in the child.
pub const POSIX_SPAWN_CLOEXEC_DEFAULT: u16 = 0x4000;

/// `struct _posix_spawn_args_desc` (LP64): a (size, pointer) pair for each part of the
/// request, 144 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct PosixSpawnArgsDesc {
    pub attr_size: u64,
    pub attrp: u64,
    pub file_actions_size: u64,
    pub file_actions: u64,
    /// Port actions, MAC extensions, coalition, persona, credentials, subsystem root path
    /// and conclave id, in that order: none is supported yet.
    pub unsupported: [[u64; 2]; 7],
}

/// Byte size of [`PosixSpawnArgsDesc`].
pub const SPAWN_ARGS_DESC_SIZE: usize = 144;

/// The leading fields of `struct _posix_spawnattr`, the ones this kernel reads (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct PosixSpawnAttrHead {
    /// `POSIX_SPAWN_*` (a `short`).
    pub psa_flags: u16,
    /// The short that follows; unused here.
    pub _reserved: u16,
    pub psa_sigdefault: u32,
    pub psa_sigmask: u32,
    pub psa_pgroup: i32,
}

/// Bytes of the attribute block read ([`PosixSpawnAttrHead`]).
pub const ATTR_READ_SIZE: usize = 16;

/// File actions (`psfa_t`).
pub const PSFA_OPEN: u32 = 0;
pub const PSFA_CLOSE: u32 = 1;
pub const PSFA_DUP2: u32 = 2;
pub const PSFA_INHERIT: u32 = 3;
/// Install the file a fileport stands for at a descriptor (`posix_spawn_file_actions_addfileport_np`
/// without the fd guard: the port name in `psfaa_fileport`, the descriptor in `psfad_newfiledes`).
pub const PSFA_FILEPORT_DUP2: u32 = 4;
/// Change the child's working directory to a path (`posix_spawn_file_actions_addchdir_np`).
pub const PSFA_CHDIR: u32 = 5;
/// Change the child's working directory to an open directory (`..._addfchdir_np`).
pub const PSFA_FCHDIR: u32 = 6;
/// Where a `PSFA_CHDIR` path starts in an action: the second union (`psfaa_chdirargs`), right
/// after the type and the descriptor, where an open's flags are.
pub const PSFA_CHDIR_PATH_OFFSET: usize = 8;

/// `struct _posix_spawn_file_actions` before its actions: `int alloc, count` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct PosixSpawnFileActionsHead {
    pub psfa_act_alloc: i32,
    pub psfa_act_count: i32,
}

/// Byte size of [`PosixSpawnFileActionsHead`].
pub const FILE_ACTIONS_HEADER: usize = 8;

/// One `_psfa_action_t`: type, descriptor, then a union whose largest member is the open
/// arguments (oflag, mode, path), rounded to 4 bytes: 1040 bytes. For `PSFA_DUP2` the new
/// descriptor sits where `psfao_oflag` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct PsfaAction {
    pub psfaa_type: u32,
    pub psfaa_filedes: i32,
    /// `psfao_oflag`, or `psfad_newfiledes` for `PSFA_DUP2`.
    pub psfao_oflag: i32,
    /// A `mode_t`.
    pub psfao_mode: u16,
    pub psfao_path: [u8; PATH_MAX],
    pub _pad: [u8; 2],
}

impl Default for PsfaAction {
    fn default() -> PsfaAction {
        PsfaAction::new_zeroed()
    }
}

/// Byte size of [`PsfaAction`].
pub const PSFA_ACTION_SIZE: usize = 1040;

const _: () = assert!(size_of::<PosixSpawnArgsDesc>() == SPAWN_ARGS_DESC_SIZE);
const _: () = assert!(offset_of!(PosixSpawnArgsDesc, file_actions) == 24);
const _: () = assert!(size_of::<PosixSpawnAttrHead>() == ATTR_READ_SIZE);
const _: () = assert!(offset_of!(PosixSpawnAttrHead, psa_sigdefault) == 4);
const _: () = assert!(offset_of!(PosixSpawnAttrHead, psa_pgroup) == 12);
const _: () = assert!(size_of::<PosixSpawnFileActionsHead>() == FILE_ACTIONS_HEADER);
const _: () = assert!(size_of::<PsfaAction>() == PSFA_ACTION_SIZE);
const _: () = assert!(offset_of!(PsfaAction, psfao_mode) == 12 && offset_of!(PsfaAction, psfao_path) == 14);
