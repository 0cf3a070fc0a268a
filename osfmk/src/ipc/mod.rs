//! Mach IPC: port name spaces, their entries, ports and the rights that connect them.
//!
//! * [`ipc_space`] — a task's table of names (`IpcSpace`): allocating, merging, looking up,
//!   deallocating and destroying rights by name;
//! * [`ipc_entry`] — one name's slot: the right bits, user references and generation;
//! * [`ipc_port`] — the port (`IpcPort`): receiver, right counts, queue limit, the kernel object
//!   it stands for, and the naked rights the kernel holds outside any space;
//! * `ipc_mqueue` — the message queue inside a port (filled in by `mach_msg`).
//!
//! Kernel objects are reached one way only: name → port through
//! [`IpcSpace::lookup_port`](ipc_space::IpcSpace::lookup_port) (which checks the right), then
//! port → object through [`IpcPort::kobject`](ipc_port::IpcPort::kobject) (which checks the
//! object's type).
//!
//! # Lock order
//!
//! 1. a space's lock (`IpcSpace::state`),
//! 2. then a port's lock (`IpcPort::state`).
//!
//! A space operation may take port locks while it holds its own, one port at a time. Nothing
//! holding a port lock takes a space lock, or a second port lock: ports point at spaces only
//! weakly and never call into them. Rights that an operation takes out of a space are released
//! after the space lock is dropped, because releasing a right is where notifications (no
//! senders, send-once, port destroyed) will enqueue messages and where kernel-object handlers
//! run. These are spin locks for now; the kernel will swap in its IRQ-safe locks without
//! changing the order.

pub mod ipc_entry;
pub mod ipc_kmsg;
#[cfg(target_os = "none")]
pub mod ipc_kobject;
pub mod ipc_mqueue;
pub mod ipc_notify;
pub mod ipc_port;
pub mod ipc_pset;
mod ipc_right;
pub mod ipc_space;

#[cfg(test)]
mod tests;

#[cfg(target_os = "none")]
pub mod mach_kernelrpc;
#[cfg(target_os = "none")]
pub mod mach_msg;
