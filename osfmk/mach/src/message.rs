//! `mach_msg` return codes (XNU `osfmk/mach/message.h`, reference §4.7). The message layouts
//! arrive with M1.5.

/// The destination is not a valid send right (also what the `_kernelrpc_*` traps answer
/// for a target that is not the caller's own task).
pub const MACH_SEND_INVALID_DEST: i32 = 0x1000_0003;
