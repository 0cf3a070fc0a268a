//! Messages: `mach_msg` and `mach_msg2` over their traps with Libsyscall's restart rules, and
//! [`MsgBuf`], a small aligned buffer for building and reading messages by hand.

use ::mach::MachPortName;
use ::mach::message::{
    MACH_RCV_INTERRUPT, MACH_RCV_INTERRUPTED, MACH_RCV_MSG, MACH_SEND_INTERRUPT, MACH_SEND_INTERRUPTED,
    MACH_SEND_MSG, MachMsgHeader, MachMsgOption, MachMsgReturn,
};

use crate::mach_traps as traps;

/// `mach_msg()`: send and/or receive. As Libsyscall does, an interrupted send is restarted
/// unless `MACH_SEND_INTERRUPT` is set, and an interrupted receive is restarted (receive only)
/// unless `MACH_RCV_INTERRUPT` is set.
///
/// # Safety
/// `msg` must point to a buffer of at least `max(send_size, rcv_size)` bytes, valid for
/// reads and writes, holding a message header when sending.
pub unsafe fn mach_msg(
    msg: *mut MachMsgHeader,
    option: MachMsgOption,
    send_size: u32,
    rcv_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
    notify: MachPortName,
) -> MachMsgReturn {
    let mut option = option;
    let mut send_size = send_size;
    loop {
        // SAFETY: forwarded from this function's contract.
        let mr = unsafe {
            traps::mach_msg_trap(msg.cast(), option, send_size, rcv_size, rcv_name, timeout, notify)
        };
        if mr == MACH_SEND_INTERRUPTED && option & MACH_SEND_INTERRUPT == 0 {
            continue;
        }
        if mr == MACH_RCV_INTERRUPTED && option & MACH_RCV_INTERRUPT == 0 && option & MACH_RCV_MSG != 0 {
            option &= !MACH_SEND_MSG;
            send_size = 0;
            continue;
        }
        return mr;
    }
}

/// `mach_msg2_trap` with the header `h` passed in registers (the header words in the buffer
/// at `data` are ignored by the kernel), as Libsyscall's `mach_msg2` does.
///
/// # Safety
/// `data` must point to a buffer valid for `max(send_size, rcv_size)` bytes (or, with
/// `MACH64_MSG_VECTOR`, to two `mach_msg_vector_t`s).
#[allow(clippy::too_many_arguments)]
pub unsafe fn mach_msg2(
    data: u64,
    options: u64,
    h: &MachMsgHeader,
    send_size: u32,
    desc_count: u32,
    rcv_name: MachPortName,
    rcv_size: u32,
    timeout: u32,
) -> MachMsgReturn {
    let pack = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    // SAFETY: forwarded from this function's contract.
    unsafe {
        traps::mach_msg2_trap(
            data,
            options,
            pack(h.msgh_bits, send_size),
            pack(h.msgh_remote_port, h.msgh_local_port),
            pack(h.msgh_voucher_port, h.msgh_id as u32),
            pack(desc_count, rcv_name),
            pack(rcv_size, 0),
            u64::from(timeout),
        )
    }
}

/// A header for a message to `dest` with `bits`, reply port `reply` and id `id`.
pub fn simple_header(dest: MachPortName, bits: u32, reply: MachPortName, id: i32) -> MachMsgHeader {
    MachMsgHeader {
        msgh_bits: bits,
        msgh_size: 0,
        msgh_remote_port: dest,
        msgh_local_port: reply,
        msgh_voucher_port: 0,
        msgh_id: id,
    }
}

/// A small aligned message buffer with accessors for headers, words and descriptors.
#[repr(C, align(8))]
pub struct MsgBuf(pub [u8; 512]);

impl Default for MsgBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl MsgBuf {
    pub const fn new() -> Self {
        Self([0; 512])
    }

    /// The header at the start of the buffer.
    pub fn header(&self) -> MachMsgHeader {
        let mut h = [0u8; 24];
        h.copy_from_slice(&self.0[..24]);
        MachMsgHeader::from_bytes(&h)
    }

    pub fn set_header(&mut self, h: &MachMsgHeader) {
        self.0[..24].copy_from_slice(&h.to_bytes());
    }

    /// The little-endian u32 at byte `at`.
    pub fn word(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }

    /// The little-endian u64 at byte `at`.
    pub fn long(&self, at: usize) -> u64 {
        u64::from(self.word(at)) | (u64::from(self.word(at + 4)) << 32)
    }

    /// Store `bytes` at byte `at`.
    pub fn put(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }

    pub fn ptr(&mut self) -> *mut MachMsgHeader {
        self.0.as_mut_ptr().cast()
    }

    /// Send the first `size` bytes (at most 512) with `option` added to `MACH_SEND_MSG`.
    pub fn send(&mut self, size: u32, option: MachMsgOption, timeout: u32) -> MachMsgReturn {
        let size = size.min(512);
        // SAFETY: the buffer holds 512 bytes and `size` is at most that.
        unsafe { mach_msg(self.ptr(), MACH_SEND_MSG | option, size, 0, 0, timeout, 0) }
    }

    /// Receive on `name` into the buffer with `option` added to `MACH_RCV_MSG`.
    pub fn receive(&mut self, name: MachPortName, option: MachMsgOption, timeout: u32) -> MachMsgReturn {
        // SAFETY: the kernel writes at most the 512 bytes we say we have.
        unsafe { mach_msg(self.ptr(), MACH_RCV_MSG | option, 0, 512, name, timeout, 0) }
    }

    /// Send the first `size` bytes and wait for the reply on `reply`, in one call.
    pub fn call(&mut self, size: u32, reply: MachPortName) -> MachMsgReturn {
        let size = size.min(512);
        // SAFETY: as in `send` and `receive`.
        unsafe { mach_msg(self.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, size, 512, reply, 0, 0) }
    }
}
