//! `ipc_mqueue`: the message queue embedded in every port.
//!
//! Today it owns only the queue limit, because that is all the rights work needs: ports are
//! created with a limit and `mach_port_get_attributes` will report it. `mach_msg` adds the
//! queued `ipc_kmsg`s, the sequence number and the waiting receivers here, so everything
//! about "what is waiting on this port" stays in one place under the port's lock.

use mach::port::{MACH_PORT_QLIMIT_DEFAULT, MACH_PORT_QLIMIT_KERNEL};

/// A port's message queue (XNU `ip_messages`).
#[derive(Debug)]
pub(crate) struct IpcMqueue {
    /// How many messages may wait before senders block (`MACH_PORT_QLIMIT_*`, reference §5.3).
    qlimit: u32,
}

impl IpcMqueue {
    /// The queue of a port whose receive right lives in a task's space.
    pub(crate) const fn new_user() -> Self {
        Self { qlimit: MACH_PORT_QLIMIT_DEFAULT }
    }

    /// The queue of a kernel-owned port: the kernel serves requests synchronously, so its
    /// ports take XNU's large kernel limit rather than throttling senders.
    pub(crate) const fn new_kernel() -> Self {
        Self { qlimit: MACH_PORT_QLIMIT_KERNEL }
    }

    pub(crate) const fn qlimit(&self) -> u32 {
        self.qlimit
    }
}
