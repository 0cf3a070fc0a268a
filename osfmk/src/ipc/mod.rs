//! Mach IPC: port name spaces, their entries, ports and the rights that connect them, and the
//! messages that carry rights between tasks.
//!
//! * [`ipc_space`] — a task's table of names (`IpcSpace`): allocating, merging, looking up,
//!   deallocating and destroying rights by name; copying rights into and out of messages;
//! * [`ipc_entry`] — one name's slot: the right bits, user references and generation;
//! * `ipc_right` — what copying a right into a message does to the entry holding it;
//! * [`ipc_port`] — the port (`IpcPort`): receiver, right counts, notification requests, the
//!   kernel object it stands for, and the naked rights the kernel holds outside any space;
//! * [`ipc_pset`] — port sets: one name to receive from several ports;
//! * [`ipc_kmsg`] — a message in the kernel, owning the rights and memory it carries, and
//!   its crossings of the user boundary: copyin in four steps (parse, charge, take, commit;
//!   nothing changed on an error) and copyout, over the `IpcTask` seam and typed user memory,
//!   so both run in host tests (`kmsg_tests`: randomized headers and descriptors);
//! * [`ipc_mqueue`] — a port's queue: hand-off to waiting receivers, the queue limit;
//! * [`ipc_notify`] — the notifications the kernel sends about ports;
//! * `mach_msg` — the traps: options, timeouts, delivery and receive around `ipc_kmsg`'s
//!   copyin and copyout (kernel only);
//! * `mach_kernelrpc` — the `_kernelrpc_*` fast traps on the caller's own space and map.
//!
//! Kernel objects are reached one way only: `IpcSpace::lookup_kobject::<T>(name, rights)`
//! (name → entry with the rights → port → the object of `T`'s IKOT type), or from a port
//! already in hand with `kern::ipc_kobject::kobject_from_port::<T>`; both end in
//! [`IpcPort::kobject`](ipc_port::IpcPort::kobject), which checks the object's type. Messages
//! to them are served by `kern::ipc_kobject`.
//!
//! # Lock order
//!
//! 1. a space's lock (`IpcSpace::state`),
//! 2. a port set's lock,
//! 3. a port's lock (`IpcPort::state`), then a waiting receiver's outcome slot,
//! 4. the scheduler (waits and wakeups).
//!
//! A space operation may take port locks while it holds its own, one port at a time. Nothing
//! holding a port lock takes a space lock, a set lock, or a second port lock: ports point at
//! spaces and sets only weakly and never call into them while locked (a sender wakes a set's
//! receivers after unlocking the port). Rights (and messages, and the last
//! references to ports) that an operation takes out of a space, a set or a queue are released
//! after every lock is dropped — including a receiver's map lock during copyout — because
//! releasing a right is where notifications (no senders, send-once, port destroyed) enqueue
//! messages and wake sets. All are the kernel's IRQ-masking spin locks.
//!
//! Destroying a port destroys the ports whose receive rights its queue holds, and so on: with
//! a work list (`IpcPort::destroy`), never by recursion.

pub mod ipc_entry;
pub mod ipc_kmsg;
pub mod ipc_mqueue;
pub mod ipc_notify;
pub mod ipc_port;
pub mod ipc_pset;
mod ipc_right;
pub mod ipc_space;

#[cfg(test)]
mod kmsg_tests;
#[cfg(test)]
mod tests;

#[cfg(target_os = "none")]
pub mod mach_kernelrpc;
#[cfg(target_os = "none")]
pub mod mach_msg;
