//! `ipc_notify`: the notification messages the kernel sends about ports (XNU `ipc_notify.c`,
//! reference §5.3) — each a simpleroutine from the kernel to a send-once right the user gave
//! with `mach_port_request_notification`, or, for send-once notifications, to the port the
//! unused right named.
//!
//! | id | notification | body |
//! |---|---|---|
//! | 65 | port-deleted: a name with a dead-name request went away | NDR, name |
//! | 69 | port-destroyed: the receive right comes back instead of dying | port descriptor |
//! | 70 | no-senders: the last send right is gone | NDR, make-send count |
//! | 71 | send-once: a send-once right died unused | (header only) |
//! | 72 | dead-name: the port a name stood for died | NDR, name |
//!
//! A notification is delivered like any message, never blocking and ignoring the queue limit
//! (its destination is a send-once right). It is charged like a message too (`kern::budget`),
//! to the task that receives on its destination — which asked for it and lets it pile up —
//! so nobody can queue them without bound, nor spend another task's budget: one that no budget
//! can pay for is dropped, as is one aimed at a port that is dead or that the kernel receives
//! on. On a full queue, a notification identical to the last one queued there coalesces with it
//! (its right is used up, nothing is queued): a loop of `insert_right(MAKE_SEND_ONCE)` +
//! `deallocate` on a port nobody reads costs one message, not one per turn.

use alloc::vec::Vec;

use mach::message::{
    MACH_MSG_HEADER_SIZE, MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSGH_BITS_COMPLEX, mach_msgh_bits, port_descriptor,
};
use mach::mig::NDR_RECORD;
use mach::port::{
    MACH_NOTIFY_DEAD_NAME, MACH_NOTIFY_NO_SENDERS, MACH_NOTIFY_PORT_DELETED, MACH_NOTIFY_PORT_DESTROYED,
    MACH_NOTIFY_SEND_ONCE, MachPortName,
};

use super::ipc_kmsg::{IpcKmsg, KmsgCharge, KmsgDescriptor, MsgRight, SenderToken};
use super::ipc_mqueue::{IpcTimeout, ipc_mqueue_send};
use super::ipc_port::{ReceiveRight, SendOnceRight};

/// Send a notification: `body` follows the header; `descriptors` describe ports in it. A
/// notification that cannot be queued is given back (its destination right used up), for the
/// caller to destroy what it carries.
#[allow(clippy::result_large_err)] // see `IpcMqueue::post`
fn send(
    notify: SendOnceRight,
    id: i32,
    complex: bool,
    body: Vec<u8>,
    descriptors: Vec<KmsgDescriptor>,
) -> Result<(), IpcKmsg> {
    let port = notify.port().clone();
    let bits = mach_msgh_bits(mach::message::MACH_MSG_TYPE_PORT_SEND_ONCE, 0)
        | if complex { MACH_MSGH_BITS_COMPLEX } else { 0 };
    let size = MACH_MSG_HEADER_SIZE + body.len() as u32;
    let charge = KmsgCharge::notification(size as usize, port.receiver_kmsg_counter());
    let mut kmsg = IpcKmsg {
        bits,
        size,
        remote: MsgRight::Null,
        local: MsgRight::Null,
        id,
        body,
        descriptors,
        sender: SenderToken::KERNEL,
        charge,
    };
    let refused = !port.is_active()
        || port.is_kernel_receiver()
        || kmsg.charge.is_none()
        || kmsg.receive_rights().any(|r| r.would_be_circular(&port));
    if refused || port.coalesces(&kmsg) {
        notify.consume();
        return if refused { Err(kmsg) } else { Ok(()) };
    }
    kmsg.remote = MsgRight::SendOnce(notify);
    // Only a port that died meanwhile refuses it.
    ipc_mqueue_send(&port, kmsg, true, IpcTimeout::Poll).map_err(|(_, mut kmsg)| {
        core::mem::replace(&mut kmsg.remote, MsgRight::Null).consume();
        kmsg
    })
}

/// NDR followed by one word.
fn ndr_and(word: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(12);
    b.extend_from_slice(&NDR_RECORD);
    b.extend_from_slice(&word.to_le_bytes());
    b
}

/// `name`, which had a dead-name request, no longer names the port (XNU
/// `ipc_notify_port_deleted`).
pub fn ipc_notify_port_deleted(notify: SendOnceRight, name: MachPortName) {
    drop(send(notify, MACH_NOTIFY_PORT_DELETED, false, ndr_and(name), Vec::new()));
}

/// The port `name` stood for died (XNU `ipc_notify_dead_name`).
pub fn ipc_notify_dead_name(notify: SendOnceRight, name: MachPortName) {
    drop(send(notify, MACH_NOTIFY_DEAD_NAME, false, ndr_and(name), Vec::new()));
}

/// The last send right of a port whose make-send count is `mscount` went away (XNU
/// `ipc_notify_no_senders`).
pub fn ipc_notify_no_senders(notify: SendOnceRight, mscount: u32) {
    drop(send(notify, MACH_NOTIFY_NO_SENDERS, false, ndr_and(mscount), Vec::new()));
}

/// `right` dies unused: its port hears about it through the right itself (XNU
/// `ipc_notify_send_once`).
pub fn ipc_notify_send_once(right: SendOnceRight) {
    drop(send(right, MACH_NOTIFY_SEND_ONCE, false, Vec::new(), Vec::new()));
}

/// The receive right `right` would have died: it goes to `notify` instead (XNU
/// `ipc_notify_port_destroyed`). The message is complex: a body with one port descriptor. If
/// it cannot be queued the right comes back, for the caller to destroy.
pub fn ipc_notify_port_destroyed(notify: SendOnceRight, right: ReceiveRight) -> Result<(), ReceiveRight> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&port_descriptor(0, MACH_MSG_TYPE_MOVE_RECEIVE));
    let descriptors = alloc::vec![KmsgDescriptor::Port { offset: 4, right: MsgRight::Receive(right) }];
    send(notify, MACH_NOTIFY_PORT_DESTROYED, true, body, descriptors).or_else(|mut kmsg| {
        let mut back = None;
        kmsg.take_receive_rights(|r| back = Some(r));
        back.map_or(Ok(()), Err)
    })
}
