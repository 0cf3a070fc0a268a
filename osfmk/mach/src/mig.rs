//! MIG conventions (reference §7): the NDR record every request and reply carries, the error
//! codes of the generated code, and the reply-id rule.

use crate::KernReturn;

/// The NDR record (8 bytes): little-endian integers, ASCII, IEEE floats.
pub const NDR_RECORD: [u8; 8] = [0, 0, 0, 0, 1, 0, 0, 0];
/// Size of an NDR record.
pub const NDR_SIZE: u32 = 8;
/// Every reply's id is the request's plus this.
pub const MIG_REPLY_ID_OFFSET: i32 = 100;
/// `mig_reply_error_t`: header, NDR, RetCode.
pub const MIG_REPLY_ERROR_SIZE: u32 = 36;

pub const MIG_TYPE_ERROR: KernReturn = KernReturn(-300);
pub const MIG_REPLY_MISMATCH: KernReturn = KernReturn(-301);
pub const MIG_REMOTE_ERROR: KernReturn = KernReturn(-302);
pub const MIG_BAD_ID: KernReturn = KernReturn(-303);
pub const MIG_BAD_ARGUMENTS: KernReturn = KernReturn(-304);
pub const MIG_NO_REPLY: KernReturn = KernReturn(-305);
pub const MIG_ARRAY_TOO_LARGE: KernReturn = KernReturn(-307);
