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
