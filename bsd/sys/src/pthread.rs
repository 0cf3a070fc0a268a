//! The kernel side of libpthread's ABI: `bsdthread_create` flags (XNU's pthread support).

/// The caller supplies the stack and the pthread structure (`PTHREAD_START_CUSTOM`).
pub const PTHREAD_START_CUSTOM: u32 = 0x0100_0000;
/// Apply the scheduling policy/priority in the low bits (`PTHREAD_START_SETSCHED`).
pub const PTHREAD_START_SETSCHED: u32 = 0x0200_0000;
/// The thread starts detached (`PTHREAD_START_DETACHED`).
pub const PTHREAD_START_DETACHED: u32 = 0x0400_0000;
/// The low bits carry a QoS class (`PTHREAD_START_QOSCLASS`).
pub const PTHREAD_START_QOSCLASS: u32 = 0x0800_0000;
