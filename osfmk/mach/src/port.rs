//! Port names, rights and type bits (XNU `osfmk/mach/port.h`, reference §5).

/// `mach_port_name_t`: a task-local name for a right.
pub type MachPortName = u32;

/// The null name.
pub const MACH_PORT_NULL: MachPortName = 0;
/// The name standing for a dead right.
pub const MACH_PORT_DEAD: MachPortName = 0xFFFF_FFFF;

/// Is `name` neither NULL nor DEAD?
pub const fn mach_port_valid(name: MachPortName) -> bool {
    name != MACH_PORT_NULL && name != MACH_PORT_DEAD
}

/// The table index of a name (`MACH_PORT_INDEX`).
pub const fn mach_port_index(name: MachPortName) -> u32 {
    name >> 8
}

/// The generation byte of a name (the low 8 bits).
pub const fn mach_port_gen(name: MachPortName) -> u8 {
    name as u8
}

/// A name from an index and a generation byte (`MACH_PORT_MAKE`).
pub const fn mach_port_make(index: u32, generation: u8) -> MachPortName {
    (index << 8) | generation as u32
}

/// `mach_port_right_t`.
pub type MachPortRight = u32;
pub const MACH_PORT_RIGHT_SEND: MachPortRight = 0;
pub const MACH_PORT_RIGHT_RECEIVE: MachPortRight = 1;
pub const MACH_PORT_RIGHT_SEND_ONCE: MachPortRight = 2;
pub const MACH_PORT_RIGHT_PORT_SET: MachPortRight = 3;
pub const MACH_PORT_RIGHT_DEAD_NAME: MachPortRight = 4;
pub const MACH_PORT_RIGHT_NUMBER: MachPortRight = 6;

/// `mach_port_type_t`: a set of right bits.
pub type MachPortType = u32;
pub const MACH_PORT_TYPE_NONE: MachPortType = 0;
pub const MACH_PORT_TYPE_SEND: MachPortType = 0x0001_0000;
pub const MACH_PORT_TYPE_RECEIVE: MachPortType = 0x0002_0000;
pub const MACH_PORT_TYPE_SEND_ONCE: MachPortType = 0x0004_0000;
pub const MACH_PORT_TYPE_PORT_SET: MachPortType = 0x0008_0000;
pub const MACH_PORT_TYPE_DEAD_NAME: MachPortType = 0x0010_0000;
pub const MACH_PORT_TYPE_SEND_RECEIVE: MachPortType = 0x0003_0000;
pub const MACH_PORT_TYPE_SEND_RIGHTS: MachPortType = 0x0005_0000;
pub const MACH_PORT_TYPE_PORT_RIGHTS: MachPortType = 0x0007_0000;
pub const MACH_PORT_TYPE_ALL_RIGHTS: MachPortType = 0x001f_0000;

/// The largest user-reference count; counts saturate ("peg") here (reference §5.3).
pub const MACH_PORT_UREFS_MAX: u32 = 0xFFFF;
/// Default queue limit of a new port.
pub const MACH_PORT_QLIMIT_DEFAULT: u32 = 5;
/// Largest queue limit user space may set.
pub const MACH_PORT_QLIMIT_MAX: u32 = 1024;
/// Queue limit of kernel-owned ports.
pub const MACH_PORT_QLIMIT_KERNEL: u32 = 65534;

/// Notification message ids (`mach/notify.h`, reference §5.3), and what
/// `mach_port_request_notification` takes as `msgid`.
pub const MACH_NOTIFY_PORT_DELETED: i32 = 65;
pub const MACH_NOTIFY_SEND_POSSIBLE: i32 = 66;
pub const MACH_NOTIFY_PORT_DESTROYED: i32 = 69;
pub const MACH_NOTIFY_NO_SENDERS: i32 = 70;
pub const MACH_NOTIFY_SEND_ONCE: i32 = 71;
pub const MACH_NOTIFY_DEAD_NAME: i32 = 72;
/// `mach_port_type` bit: a dead-name request is armed on the name.
pub const MACH_PORT_TYPE_DNREQUEST: MachPortType = 0x8000_0000;

/// `mach_port_get_attributes` flavors (reference §5.3).
pub const MACH_PORT_LIMITS_INFO: u32 = 1;
pub const MACH_PORT_LIMITS_INFO_COUNT: u32 = 1;
pub const MACH_PORT_RECEIVE_STATUS: u32 = 2;
pub const MACH_PORT_RECEIVE_STATUS_COUNT: u32 = 10;

/// `mach_port_options_t` flags (`mach_port_construct`).
pub const MPO_CONTEXT_AS_GUARD: u32 = 0x1;
pub const MPO_QLIMIT: u32 = 0x2;
pub const MPO_INSERT_SEND_RIGHT: u32 = 0x10;
/// Every flag XNU defines (reference §5.3): the others are accepted and have no effect here.
pub const MPO_ALL_FLAGS: u32 = 0xffff;
/// Size of `mach_port_options_t`: flags, qlimit, a 16-byte union.
pub const MACH_PORT_OPTIONS_SIZE: usize = 24;
