//! `mach_msg`: message layouts, header bits, port dispositions, options, trailers and return
//! codes (XNU `osfmk/mach/message.h`, reference §4). User and kernel agree on these bytes, so
//! everything here is a number or a fixed layout: the layouts are `zerocopy` structs (copied
//! whole, no padding), their sizes asserted against XNU's.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `mach_msg_return_t`.
pub type MachMsgReturn = i32;
/// `mach_msg_option_t` (the 32-bit options of the legacy traps).
pub type MachMsgOption = u32;
/// `mach_msg_option64_t`: `mach_msg2`'s options, the legacy 32 bits and the `MACH64_*` ones.
pub type MachMsgOption64 = u64;
/// `mach_msg_type_name_t`: a port disposition.
pub type MachMsgTypeName = u32;
/// `mach_msg_bits_t`.
pub type MachMsgBits = u32;

// ---- Header (reference §4.1) -------------------------------------------------------------

/// Size of `mach_msg_header_t` (user view; the kernel keeps its own form).
pub const MACH_MSG_HEADER_SIZE: u32 = 24;
/// Size of `mach_msg_body_t` (the descriptor count of a complex message).
pub const MACH_MSG_BODY_SIZE: u32 = 4;
/// The largest message body the kernel accepts (`IPC_KMSG_MAX_BODY_SPACE`, 64 MiB × 3/4 − 68).
pub const IPC_KMSG_MAX_BODY_SPACE: u32 = 64 * 1024 * 1024 * 3 / 4 - MACH_MSG_TRAILER_MAX_SIZE;

/// `mach_msg_header_t` as it sits in user memory: six little-endian u32s, copied whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MachMsgHeader {
    pub msgh_bits: MachMsgBits,
    pub msgh_size: u32,
    pub msgh_remote_port: u32,
    pub msgh_local_port: u32,
    pub msgh_voucher_port: u32,
    pub msgh_id: i32,
}
const _: () = assert!(size_of::<MachMsgHeader>() == MACH_MSG_HEADER_SIZE as usize);

impl MachMsgHeader {
    /// Decode the 24 header bytes.
    pub fn from_bytes(b: &[u8; 24]) -> Self {
        zerocopy::transmute!(*b)
    }

    /// Encode as the 24 bytes user space sees.
    pub fn to_bytes(&self) -> [u8; 24] {
        zerocopy::transmute!(*self)
    }
}

/// `mach_msg_body_t`: the descriptor count that follows the header of a complex message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MachMsgBody {
    pub msgh_descriptor_count: u32,
}
const _: () = assert!(size_of::<MachMsgBody>() == MACH_MSG_BODY_SIZE as usize);

// ---- msgh_bits (reference §4.2) ------------------------------------------------------------

pub const MACH_MSGH_BITS_REMOTE_MASK: MachMsgBits = 0x0000_001f;
pub const MACH_MSGH_BITS_LOCAL_MASK: MachMsgBits = 0x0000_1f00;
pub const MACH_MSGH_BITS_VOUCHER_MASK: MachMsgBits = 0x001f_0000;
pub const MACH_MSGH_BITS_PORTS_MASK: MachMsgBits = 0x001f_1f1f;
/// The body carries descriptors.
pub const MACH_MSGH_BITS_COMPLEX: MachMsgBits = 0x8000_0000;
/// Bits user space may set; the kernel clears the rest on send.
pub const MACH_MSGH_BITS_USER: MachMsgBits = 0x801f_1f1f;

/// `MACH_MSGH_BITS(remote, local)`.
pub const fn mach_msgh_bits(remote: MachMsgTypeName, local: MachMsgTypeName) -> MachMsgBits {
    remote | (local << 8)
}
/// The remote (destination) disposition.
pub const fn mach_msgh_bits_remote(bits: MachMsgBits) -> MachMsgTypeName {
    bits & MACH_MSGH_BITS_REMOTE_MASK
}
/// The local (reply) disposition.
pub const fn mach_msgh_bits_local(bits: MachMsgBits) -> MachMsgTypeName {
    (bits & MACH_MSGH_BITS_LOCAL_MASK) >> 8
}
/// The voucher disposition.
pub const fn mach_msgh_bits_voucher(bits: MachMsgBits) -> MachMsgTypeName {
    (bits & MACH_MSGH_BITS_VOUCHER_MASK) >> 16
}

// ---- Dispositions (reference §4.3) ---------------------------------------------------------

pub const MACH_MSG_TYPE_PORT_NONE: MachMsgTypeName = 0;
pub const MACH_MSG_TYPE_PORT_NAME: MachMsgTypeName = 15;
pub const MACH_MSG_TYPE_MOVE_RECEIVE: MachMsgTypeName = 16;
pub const MACH_MSG_TYPE_MOVE_SEND: MachMsgTypeName = 17;
pub const MACH_MSG_TYPE_MOVE_SEND_ONCE: MachMsgTypeName = 18;
pub const MACH_MSG_TYPE_COPY_SEND: MachMsgTypeName = 19;
pub const MACH_MSG_TYPE_MAKE_SEND: MachMsgTypeName = 20;
pub const MACH_MSG_TYPE_MAKE_SEND_ONCE: MachMsgTypeName = 21;
/// What a receiver sees for a moved receive right.
pub const MACH_MSG_TYPE_PORT_RECEIVE: MachMsgTypeName = MACH_MSG_TYPE_MOVE_RECEIVE;
/// What a receiver sees for any send right.
pub const MACH_MSG_TYPE_PORT_SEND: MachMsgTypeName = MACH_MSG_TYPE_MOVE_SEND;
/// What a receiver sees for a send-once right.
pub const MACH_MSG_TYPE_PORT_SEND_ONCE: MachMsgTypeName = MACH_MSG_TYPE_MOVE_SEND_ONCE;

/// A disposition that carries a right (16..=21).
pub const fn mach_msg_type_port_any(t: MachMsgTypeName) -> bool {
    t >= MACH_MSG_TYPE_MOVE_RECEIVE && t <= MACH_MSG_TYPE_MAKE_SEND_ONCE
}
/// A disposition that carries a send or send-once right (17..=21).
pub const fn mach_msg_type_port_any_send(t: MachMsgTypeName) -> bool {
    t >= MACH_MSG_TYPE_MOVE_SEND && t <= MACH_MSG_TYPE_MAKE_SEND_ONCE
}
/// What a receiver sees for a right sent with disposition `t` (`ipc_object_copyin_type`).
pub const fn mach_msg_type_received(t: MachMsgTypeName) -> MachMsgTypeName {
    match t {
        MACH_MSG_TYPE_MOVE_RECEIVE => MACH_MSG_TYPE_PORT_RECEIVE,
        MACH_MSG_TYPE_MOVE_SEND_ONCE | MACH_MSG_TYPE_MAKE_SEND_ONCE => MACH_MSG_TYPE_PORT_SEND_ONCE,
        MACH_MSG_TYPE_MOVE_SEND | MACH_MSG_TYPE_COPY_SEND | MACH_MSG_TYPE_MAKE_SEND => {
            MACH_MSG_TYPE_PORT_SEND
        }
        _ => MACH_MSG_TYPE_PORT_NONE,
    }
}

// ---- Descriptors (reference §4.4; LP64 user layouts) -------------------------------------

pub const MACH_MSG_PORT_DESCRIPTOR: u32 = 0;
pub const MACH_MSG_OOL_DESCRIPTOR: u32 = 1;
pub const MACH_MSG_OOL_PORTS_DESCRIPTOR: u32 = 2;
pub const MACH_MSG_OOL_VOLATILE_DESCRIPTOR: u32 = 3;
pub const MACH_MSG_GUARDED_PORT_DESCRIPTOR: u32 = 4;
/// User size of a port descriptor.
pub const MACH_MSG_PORT_DESCRIPTOR_SIZE: u32 = 12;
/// User size of an OOL, OOL-volatile or OOL-ports descriptor (LP64).
pub const MACH_MSG_OOL_DESCRIPTOR_SIZE: u32 = 16;
/// Byte offset of the descriptor type inside every descriptor.
pub const MACH_MSG_DESCRIPTOR_TYPE_OFFSET: usize = core::mem::offset_of!(MachMsgTypeDescriptor, type_);

/// OOL copy options.
pub const MACH_MSG_PHYSICAL_COPY: u32 = 0;
pub const MACH_MSG_VIRTUAL_COPY: u32 = 1;
pub const MACH_MSG_ALLOCATE: u32 = 2;

/// `mach_msg_type_descriptor_t`: the 12 bytes every descriptor starts with; its last byte
/// says which descriptor it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MachMsgTypeDescriptor {
    pub pad1: u32,
    pub pad2: u32,
    pub pad3: [u8; 3],
    /// `MACH_MSG_*_DESCRIPTOR`.
    pub type_: u8,
}
const _: () = assert!(size_of::<MachMsgTypeDescriptor>() == MACH_MSG_PORT_DESCRIPTOR_SIZE as usize);
const _: () = assert!(MACH_MSG_DESCRIPTOR_TYPE_OFFSET == 11);

/// `mach_msg_port_descriptor_t` (12 bytes in every task).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MachMsgPortDescriptor {
    pub name: u32,
    pub pad1: u32,
    pub pad2: u16,
    /// `MACH_MSG_TYPE_*`.
    pub disposition: u8,
    pub type_: u8,
}
const _: () = assert!(size_of::<MachMsgPortDescriptor>() == MACH_MSG_PORT_DESCRIPTOR_SIZE as usize);

/// `mach_msg_ool_descriptor64_t`: out-of-line memory, as a 64-bit task sends it (4-byte
/// packed, as XNU's message structs are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, packed(4))]
pub struct MachMsgOolDescriptor64 {
    pub address: u64,
    /// Nonzero: remove the range from the sender.
    pub deallocate: u8,
    /// `MACH_MSG_PHYSICAL_COPY` / `MACH_MSG_VIRTUAL_COPY`.
    pub copy: u8,
    pub pad1: u8,
    pub type_: u8,
    pub size: u32,
}
const _: () = assert!(size_of::<MachMsgOolDescriptor64>() == MACH_MSG_OOL_DESCRIPTOR_SIZE as usize);

/// `mach_msg_ool_ports_descriptor64_t`: an out-of-line array of port names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, packed(4))]
pub struct MachMsgOolPortsDescriptor64 {
    /// The array of `count` u32 names in the sender's memory.
    pub address: u64,
    pub deallocate: u8,
    pub copy: u8,
    /// `MACH_MSG_TYPE_*`, for every name of the array.
    pub disposition: u8,
    pub type_: u8,
    pub count: u32,
}
const _: () = assert!(size_of::<MachMsgOolPortsDescriptor64>() == MACH_MSG_OOL_DESCRIPTOR_SIZE as usize);

/// `mach_msg_vector_t`: one buffer of a `MACH64_MSG_VECTOR` `mach_msg2` call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MachMsgVector {
    pub msgv_data: u64,
    pub msgv_rcv_addr: u64,
    pub msgv_send_size: u32,
    pub msgv_rcv_size: u32,
}
const _: () = assert!(size_of::<MachMsgVector>() == 24);

/// The u32 at `off` of a descriptor's bytes.
pub fn desc_word(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

/// A port descriptor's user bytes: name, disposition.
pub fn port_descriptor(name: u32, disposition: MachMsgTypeName) -> [u8; 12] {
    let d = MachMsgPortDescriptor {
        name,
        disposition: disposition as u8,
        type_: MACH_MSG_PORT_DESCRIPTOR as u8,
        ..Default::default()
    };
    zerocopy::transmute!(d)
}

/// An OOL memory descriptor's user bytes.
pub fn ool_descriptor(address: u64, size: u32, deallocate: bool, copy: u32) -> [u8; 16] {
    let d = MachMsgOolDescriptor64 {
        address,
        deallocate: u8::from(deallocate),
        copy: copy as u8,
        pad1: 0,
        type_: MACH_MSG_OOL_DESCRIPTOR as u8,
        size,
    };
    zerocopy::transmute!(d)
}

/// An OOL port-array descriptor's user bytes.
pub fn ool_ports_descriptor(
    address: u64,
    count: u32,
    deallocate: bool,
    disposition: MachMsgTypeName,
) -> [u8; 16] {
    let d = MachMsgOolPortsDescriptor64 {
        address,
        deallocate: u8::from(deallocate),
        copy: MACH_MSG_PHYSICAL_COPY as u8,
        disposition: disposition as u8,
        type_: MACH_MSG_OOL_PORTS_DESCRIPTOR as u8,
        count,
    };
    zerocopy::transmute!(d)
}

// ---- Trailers (reference §4.5) -------------------------------------------------------------

pub const MACH_MSG_TRAILER_FORMAT_0: u32 = 0;
/// `mach_msg_trailer_t`.
pub const MACH_MSG_TRAILER_MINIMUM_SIZE: u32 = 8;
/// The largest trailer (`mach_msg_mac_trailer_t`).
pub const MACH_MSG_TRAILER_MAX_SIZE: u32 = 68;
pub const MACH_RCV_TRAILER_NULL: u32 = 0;
pub const MACH_RCV_TRAILER_SEQNO: u32 = 1;
pub const MACH_RCV_TRAILER_SENDER: u32 = 2;
pub const MACH_RCV_TRAILER_AUDIT: u32 = 3;
pub const MACH_RCV_TRAILER_CTX: u32 = 4;
pub const MACH_RCV_TRAILER_AV: u32 = 7;
pub const MACH_RCV_TRAILER_LABELS: u32 = 8;
/// Offset of the sender's security token (euid, egid) in a trailer.
pub const MACH_MSG_TRAILER_SENDER_OFFSET: usize = core::mem::offset_of!(MachMsgMacTrailer, msgh_sender);
/// Offset of the audit token (8 × u32) in a trailer.
pub const MACH_MSG_TRAILER_AUDIT_OFFSET: usize = core::mem::offset_of!(MachMsgMacTrailer, msgh_audit);

/// `mach_msg_mac_trailer_t`, the largest trailer; a receiver asking for less gets its first
/// `trailer_size` bytes (4-byte packed, as XNU's message structs are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, packed(4))]
pub struct MachMsgMacTrailer {
    /// `MACH_MSG_TRAILER_FORMAT_0`.
    pub msgh_trailer_type: u32,
    /// The bytes of trailer the receiver asked for.
    pub msgh_trailer_size: u32,
    pub msgh_seqno: u32,
    /// `security_token_t`: the sender's effective uid and gid.
    pub msgh_sender: [u32; 2],
    /// `audit_token_t`.
    pub msgh_audit: [u32; 8],
    pub msgh_context: u64,
    pub msgh_ad: i32,
    pub msgh_labels: u32,
}
const _: () = assert!(size_of::<MachMsgMacTrailer>() == MACH_MSG_TRAILER_MAX_SIZE as usize);
const _: () = assert!(MACH_MSG_TRAILER_SENDER_OFFSET == 12 && MACH_MSG_TRAILER_AUDIT_OFFSET == 20);
/// Audit token word holding the sender's pid.
pub const AUDIT_TOKEN_PID: usize = 5;

/// `MACH_RCV_TRAILER_TYPE(x)`.
pub const fn mach_rcv_trailer_type(x: u32) -> MachMsgOption {
    (x & 0xf) << 28
}
/// `MACH_RCV_TRAILER_ELEMENTS(x)`.
pub const fn mach_rcv_trailer_elements(x: u32) -> MachMsgOption {
    (x & 0xf) << 24
}
/// The trailer size a receive with `option` asks for.
pub const fn requested_trailer_size(option: MachMsgOption) -> u32 {
    match (option >> 24) & 0xf {
        MACH_RCV_TRAILER_NULL => 8,
        MACH_RCV_TRAILER_SEQNO => 12,
        MACH_RCV_TRAILER_SENDER => 20,
        MACH_RCV_TRAILER_AUDIT => 52,
        MACH_RCV_TRAILER_CTX => 60,
        _ => MACH_MSG_TRAILER_MAX_SIZE,
    }
}

// ---- Options (reference §4.6) --------------------------------------------------------------

pub const MACH_MSG_OPTION_NONE: MachMsgOption = 0;
pub const MACH_SEND_MSG: MachMsgOption = 0x0000_0001;
pub const MACH_RCV_MSG: MachMsgOption = 0x0000_0002;
pub const MACH_RCV_LARGE: MachMsgOption = 0x0000_0004;
pub const MACH_RCV_LARGE_IDENTITY: MachMsgOption = 0x0000_0008;
pub const MACH_SEND_TIMEOUT: MachMsgOption = 0x0000_0010;
pub const MACH_SEND_INTERRUPT: MachMsgOption = 0x0000_0040;
pub const MACH_RCV_TIMEOUT: MachMsgOption = 0x0000_0100;
pub const MACH_RCV_INTERRUPT: MachMsgOption = 0x0000_0400;
/// Kernel-internal: ignore the queue limit (user space gets `MACH_SEND_FILTER_NONFATAL`).
pub const MACH_SEND_ALWAYS: MachMsgOption = 0x0001_0000;
/// `mach_msg_timeout_t` meaning "wait forever" (the timeout option bits off).
pub const MACH_MSG_TIMEOUT_NONE: u32 = 0;

/// `mach_msg2`: `data` points at two `mach_msg_vector_t`s (message, auxiliary data).
pub const MACH64_MSG_VECTOR: MachMsgOption64 = 0x1_0000_0000;
/// `mach_msg2` send call kind: the destination is a kernel object.
pub const MACH64_SEND_KOBJECT_CALL: MachMsgOption64 = 0x2_0000_0000;
/// `mach_msg2` send call kind: the destination is a message queue.
pub const MACH64_SEND_MQ_CALL: MachMsgOption64 = 0x4_0000_0000;
/// `mach_msg2` send call kind: either (macOS only).
pub const MACH64_SEND_ANY: MachMsgOption64 = 0x8_0000_0000;
/// `mach_msg2` send call kind: a DriverKit call (refused here).
pub const MACH64_SEND_DK_CALL: MachMsgOption64 = 0x10_0000_0000;

// ---- Return codes (reference §4.7) -------------------------------------------------------

pub const MACH_MSG_SUCCESS: MachMsgReturn = 0;
pub const MACH_SEND_INVALID_DATA: MachMsgReturn = 0x1000_0002;
/// The destination is not a valid send right (also what the `_kernelrpc_*` traps answer
/// for a target that is not the caller's own task).
pub const MACH_SEND_INVALID_DEST: MachMsgReturn = 0x1000_0003;
pub const MACH_SEND_TIMED_OUT: MachMsgReturn = 0x1000_0004;
pub const MACH_SEND_INTERRUPTED: MachMsgReturn = 0x1000_0007;
pub const MACH_SEND_MSG_TOO_SMALL: MachMsgReturn = 0x1000_0008;
pub const MACH_SEND_INVALID_REPLY: MachMsgReturn = 0x1000_0009;
pub const MACH_SEND_INVALID_RIGHT: MachMsgReturn = 0x1000_000a;
pub const MACH_SEND_INVALID_MEMORY: MachMsgReturn = 0x1000_000c;
pub const MACH_SEND_NO_BUFFER: MachMsgReturn = 0x1000_000d;
pub const MACH_SEND_TOO_LARGE: MachMsgReturn = 0x1000_000e;
pub const MACH_SEND_INVALID_TYPE: MachMsgReturn = 0x1000_000f;
pub const MACH_SEND_INVALID_HEADER: MachMsgReturn = 0x1000_0010;
pub const MACH_SEND_INVALID_OPTIONS: MachMsgReturn = 0x1000_0013;
pub const MACH_RCV_INVALID_NAME: MachMsgReturn = 0x1000_4002;
pub const MACH_RCV_TIMED_OUT: MachMsgReturn = 0x1000_4003;
pub const MACH_RCV_TOO_LARGE: MachMsgReturn = 0x1000_4004;
pub const MACH_RCV_INTERRUPTED: MachMsgReturn = 0x1000_4005;
pub const MACH_RCV_PORT_CHANGED: MachMsgReturn = 0x1000_4006;
pub const MACH_RCV_INVALID_DATA: MachMsgReturn = 0x1000_4008;
pub const MACH_RCV_PORT_DIED: MachMsgReturn = 0x1000_4009;
pub const MACH_RCV_HEADER_ERROR: MachMsgReturn = 0x1000_400b;
pub const MACH_RCV_BODY_ERROR: MachMsgReturn = 0x1000_400c;
pub const MACH_RCV_INVALID_TRAILER: MachMsgReturn = 0x1000_400f;
/// Resource-shortage bit or-ed into a receive error: the receiver's name space was full.
pub const MACH_MSG_IPC_SPACE: MachMsgReturn = 0x0000_2000;
/// Resource-shortage bit: the receiver's address space was full.
pub const MACH_MSG_VM_SPACE: MachMsgReturn = 0x0000_1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = MachMsgHeader {
            msgh_bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
            msgh_size: 32,
            msgh_remote_port: 0x103,
            msgh_local_port: 0x207,
            msgh_voucher_port: 0,
            msgh_id: -5,
        };
        assert_eq!(h.msgh_bits, 0x1513);
        assert_eq!(MachMsgHeader::from_bytes(&h.to_bytes()), h);
        assert_eq!(mach_msgh_bits_remote(h.msgh_bits), MACH_MSG_TYPE_COPY_SEND);
        assert_eq!(mach_msgh_bits_local(h.msgh_bits), MACH_MSG_TYPE_MAKE_SEND_ONCE);
    }

    #[test]
    fn descriptor_types_sit_in_byte_11() {
        let p = port_descriptor(0x103, MACH_MSG_TYPE_MOVE_RECEIVE);
        assert_eq!(u32::from(p[MACH_MSG_DESCRIPTOR_TYPE_OFFSET]), MACH_MSG_PORT_DESCRIPTOR);
        assert_eq!(p[10], 16);
        let o = ool_descriptor(0x1000, 99, true, MACH_MSG_VIRTUAL_COPY);
        assert_eq!(u32::from(o[MACH_MSG_DESCRIPTOR_TYPE_OFFSET]), MACH_MSG_OOL_DESCRIPTOR);
        assert_eq!((o[8], o[9], desc_word(&o, 12)), (1, 1, 99));
        let a = ool_ports_descriptor(0x2000, 3, false, MACH_MSG_TYPE_COPY_SEND);
        assert_eq!(u32::from(a[MACH_MSG_DESCRIPTOR_TYPE_OFFSET]), MACH_MSG_OOL_PORTS_DESCRIPTOR);
        assert_eq!((a[10], desc_word(&a, 12)), (19, 3));
    }

    #[test]
    fn trailer_sizes_follow_the_element_selector() {
        assert_eq!(requested_trailer_size(0), 8);
        assert_eq!(requested_trailer_size(mach_rcv_trailer_elements(MACH_RCV_TRAILER_AUDIT)), 52);
        assert_eq!(requested_trailer_size(mach_rcv_trailer_elements(MACH_RCV_TRAILER_LABELS)), 68);
        assert_eq!(requested_trailer_size(mach_rcv_trailer_elements(5)), 68);
        assert_eq!(mach_msg_type_received(MACH_MSG_TYPE_MAKE_SEND), MACH_MSG_TYPE_PORT_SEND);
        assert_eq!(mach_msg_type_received(MACH_MSG_TYPE_MAKE_SEND_ONCE), MACH_MSG_TYPE_PORT_SEND_ONCE);
    }
}
