//! Mach exception types (XNU `osfmk/mach/exception_types.h`, reference §6).

/// An exception type, `EXC_*`.
pub type ExceptionType = u32;

/// Could not access memory; code = kern_return_t, subcode = address.
pub const EXC_BAD_ACCESS: ExceptionType = 1;
/// Illegal or undefined instruction.
pub const EXC_BAD_INSTRUCTION: ExceptionType = 2;
/// Arithmetic exception.
pub const EXC_ARITHMETIC: ExceptionType = 3;
/// Emulation instruction.
pub const EXC_EMULATION: ExceptionType = 4;
/// Software-generated exception.
pub const EXC_SOFTWARE: ExceptionType = 5;
/// Trace, breakpoint.
pub const EXC_BREAKPOINT: ExceptionType = 6;
/// A BSD system call the kernel does not have, or an invalid Mach trap; code = number.
pub const EXC_SYSCALL: ExceptionType = 7;
/// A Mach system call.
pub const EXC_MACH_SYSCALL: ExceptionType = 8;
/// Resource usage limits exceeded.
pub const EXC_RESOURCE: ExceptionType = 11;
/// Guard violations.
pub const EXC_GUARD: ExceptionType = 12;
/// Slots in an exception-port table: types 1..=13 (`EXC_TYPES_COUNT` is 14).
pub const EXC_TYPES_COUNT: usize = 14;
/// `EXC_MASK_*`: bit `1 << type`; every valid type.
pub const EXC_MASK_ALL: u32 = 0x3ffe;

/// `exception_behavior_t`: send `exception_raise` (thread and task ports, codes).
pub const EXCEPTION_DEFAULT: u32 = 1;
/// Send `exception_raise_state` (thread state in and out).
pub const EXCEPTION_STATE: u32 = 2;
/// Send `exception_raise_state_identity`.
pub const EXCEPTION_STATE_IDENTITY: u32 = 3;
/// Flag: codes are 64-bit (`mach_exception_raise*`, ids 2405…).
pub const MACH_EXCEPTION_CODES: u32 = 0x8000_0000;
