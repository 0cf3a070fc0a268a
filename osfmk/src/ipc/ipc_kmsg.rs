//! `ipc_kmsg`: a message in the kernel — the rights and memory it carries between a send and a
//! receive, and the bytes of its body.
//!
//! A kernel message owns everything it carries: each port right is a counted value
//! ([`MsgRight`]), each out-of-line region a `VmMapCopy`. So destroying a message — a receiver
//! that could not take it, a port that died with it queued — is just dropping it, and nothing
//! can leak or be released twice.
//!
//! The body keeps the user's bytes (descriptors included, in their LP64 user layout); what the
//! descriptors carry is held beside it in [`IpcKmsg::descriptors`], and the descriptor bytes are
//! rewritten for the receiver (names, addresses) when the message is copied out.

use alloc::vec::Vec;

use mach::message::{
    AUDIT_TOKEN_PID, MACH_MSG_TRAILER_AUDIT_OFFSET, MACH_MSG_TRAILER_FORMAT_0, MACH_MSG_TRAILER_MAX_SIZE,
    MACH_MSG_TRAILER_SENDER_OFFSET, MACH_MSG_TYPE_PORT_NONE, MACH_MSG_TYPE_PORT_RECEIVE,
    MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND_ONCE, MachMsgBits, MachMsgTypeName,
};

use super::ipc_port::{PortRef, ReceiveRight, SendOnceRight, SendRight};
pub use crate::kern::budget::KmsgCharge;
use crate::vm::vm_map_copy::VmMapCopy;

/// A right in flight (XNU carries these as `ipc_object_t` plus a disposition).
#[derive(Debug)]
pub enum MsgRight {
    /// `MACH_PORT_NULL` was sent.
    Null,
    /// A dead right: the receiver gets `MACH_PORT_DEAD`.
    Dead,
    Send(SendRight),
    SendOnce(SendOnceRight),
    Receive(ReceiveRight),
}

impl MsgRight {
    /// The port the right is for, if any.
    pub fn port(&self) -> Option<&PortRef> {
        match self {
            MsgRight::Null | MsgRight::Dead => None,
            MsgRight::Send(r) => Some(r.port()),
            MsgRight::SendOnce(r) => Some(r.port()),
            MsgRight::Receive(r) => Some(r.port()),
        }
    }

    /// The right was used to deliver a message: a send-once right goes without a send-once
    /// notification; anything else is simply released.
    pub fn consume(self) {
        match self {
            MsgRight::SendOnce(r) => r.consume(),
            other => drop(other),
        }
    }

    /// The disposition the receiver sees (`MACH_MSG_TYPE_PORT_*`).
    pub fn received_type(&self) -> MachMsgTypeName {
        match self {
            MsgRight::Null | MsgRight::Dead => MACH_MSG_TYPE_PORT_NONE,
            MsgRight::Send(_) => MACH_MSG_TYPE_PORT_SEND,
            MsgRight::SendOnce(_) => MACH_MSG_TYPE_PORT_SEND_ONCE,
            MsgRight::Receive(_) => MACH_MSG_TYPE_PORT_RECEIVE,
        }
    }
}

/// What one descriptor of a complex message carries (the kernel's form of
/// `mach_msg_descriptor_t`). `offset` is where its user bytes sit in [`IpcKmsg::body`].
#[derive(Debug)]
pub enum KmsgDescriptor {
    /// `MACH_MSG_PORT_DESCRIPTOR`.
    Port { offset: usize, right: MsgRight },
    /// `MACH_MSG_OOL_DESCRIPTOR` (and the volatile variant): the copied range, `None` when
    /// the size was 0 (the receiver gets address 0).
    Ool { offset: usize, copy: Option<VmMapCopy> },
    /// `MACH_MSG_OOL_PORTS_DESCRIPTOR`: the rights, in array order, and the disposition they
    /// were sent with (as the receiver sees it).
    OolPorts { offset: usize, rights: Vec<MsgRight>, disposition: MachMsgTypeName },
}

/// Who sent a message, as the trailer reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderToken {
    /// `security_token_t`: effective uid and gid.
    pub security: [u32; 2],
    /// `audit_token_t` (reference §4.5: auid, euid, egid, ruid, rgid, pid, asid, pid version).
    pub audit: [u32; 8],
}

impl SenderToken {
    /// What the kernel signs its own messages with (reference §4.5): uid 0, gid 1, no audit.
    pub const KERNEL: SenderToken = SenderToken { security: [0, 1], audit: [0; 8] };

    /// The sender's pid.
    pub fn pid(&self) -> u32 {
        self.audit[AUDIT_TOKEN_PID]
    }
}

/// A message in the kernel (XNU `struct ipc_kmsg`).
#[derive(Debug)]
pub struct IpcKmsg {
    /// `msgh_bits` as the receiver will see them, before the remote/local swap: user flags,
    /// and the dispositions rewritten to the received types.
    pub bits: MachMsgBits,
    /// Header plus body bytes (`msgh_size`; the trailer is not included).
    pub size: u32,
    /// The destination right (consumed on receive).
    pub remote: MsgRight,
    /// The reply right, if any.
    pub local: MsgRight,
    pub id: i32,
    /// The bytes after the header, in user layout.
    pub body: Vec<u8>,
    pub descriptors: Vec<KmsgDescriptor>,
    pub sender: SenderToken,
    /// What a message from user space costs the kernel heap, given back when it is gone
    /// (`None` for the kernel's own messages).
    pub charge: Option<KmsgCharge>,
}

impl IpcKmsg {
    /// What the message holds of the kernel's memory beyond its header and body: its port
    /// arrays' rights, and the pages its out-of-line regions own alone (a region the kernel
    /// made, as MIG replies' arrays are; regions shared copy-on-write are charged by their
    /// segments when they are made).
    pub fn payload_bytes(&self) -> usize {
        self.descriptors
            .iter()
            .map(|d| match d {
                KmsgDescriptor::Port { .. } => 0,
                KmsgDescriptor::OolPorts { rights, .. } => {
                    rights.len().saturating_mul(core::mem::size_of::<MsgRight>())
                }
                KmsgDescriptor::Ool { copy, .. } => {
                    copy.as_ref().map_or(0, |c| usize::try_from(c.private_bytes()).unwrap_or(usize::MAX))
                }
            })
            .fold(0, usize::saturating_add)
    }

    /// The ports whose receive rights the message carries.
    pub fn receive_rights(&self) -> impl Iterator<Item = &PortRef> {
        let header = [&self.remote, &self.local].into_iter();
        let body = self.descriptors.iter().flat_map(|d| match d {
            KmsgDescriptor::Port { right, .. } => core::slice::from_ref(right),
            KmsgDescriptor::OolPorts { rights, .. } => rights.as_slice(),
            KmsgDescriptor::Ool { .. } => &[],
        });
        header.chain(body).filter_map(|r| match r {
            MsgRight::Receive(r) => Some(r.port()),
            _ => None,
        })
    }

    /// Hand every receive right the message carries to `f`, leaving null rights in their
    /// places (to destroy nested ports one at a time rather than by dropping the message).
    pub fn take_receive_rights(&mut self, mut f: impl FnMut(ReceiveRight)) {
        let mut take = |slot: &mut MsgRight| {
            if matches!(slot, MsgRight::Receive(_))
                && let MsgRight::Receive(r) = core::mem::replace(slot, MsgRight::Null)
            {
                f(r);
            }
        };
        take(&mut self.remote);
        take(&mut self.local);
        for d in &mut self.descriptors {
            match d {
                KmsgDescriptor::Port { right, .. } => take(right),
                KmsgDescriptor::OolPorts { rights, .. } => rights.iter_mut().for_each(&mut take),
                KmsgDescriptor::Ool { .. } => {}
            }
        }
    }

    /// The message reached its receiver: the destination right it travelled on is used up.
    pub fn delivered(mut self) -> IpcKmsg {
        core::mem::replace(&mut self.remote, MsgRight::Null).consume();
        self
    }
}

impl SenderToken {
    /// The trailer a receiver asked `trailer_size` bytes of (reference §4.5): format 0, the
    /// sequence number, this sender's security and audit tokens; context, filter id and
    /// labels are 0.
    pub fn trailer(&self, seqno: u32, trailer_size: u32) -> Vec<u8> {
        let mut t = alloc::vec![0u8; MACH_MSG_TRAILER_MAX_SIZE as usize];
        t[0..4].copy_from_slice(&MACH_MSG_TRAILER_FORMAT_0.to_le_bytes());
        t[4..8].copy_from_slice(&trailer_size.to_le_bytes());
        t[8..12].copy_from_slice(&seqno.to_le_bytes());
        for (i, w) in self.security.iter().enumerate() {
            let at = MACH_MSG_TRAILER_SENDER_OFFSET + 4 * i;
            t[at..at + 4].copy_from_slice(&w.to_le_bytes());
        }
        for (i, w) in self.audit.iter().enumerate() {
            let at = MACH_MSG_TRAILER_AUDIT_OFFSET + 4 * i;
            t[at..at + 4].copy_from_slice(&w.to_le_bytes());
        }
        t.truncate(trailer_size.min(MACH_MSG_TRAILER_MAX_SIZE) as usize);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mach::message::{MACH_MSG_TRAILER_MINIMUM_SIZE, requested_trailer_size};

    fn kmsg() -> IpcKmsg {
        IpcKmsg {
            bits: 0,
            size: 24,
            remote: MsgRight::Null,
            local: MsgRight::Null,
            id: 7,
            body: Vec::new(),
            descriptors: Vec::new(),
            sender: SenderToken { security: [501, 20], audit: [501, 501, 20, 501, 20, 42, 0, 3] },
            charge: None,
        }
    }

    #[test]
    fn trailer_layout() {
        let m = kmsg();
        let t = m.sender.trailer(9, 52);
        assert_eq!(t.len(), 52);
        let w = |i: usize| u32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        assert_eq!((w(0), w(4), w(8)), (0, 52, 9));
        assert_eq!((w(12), w(16)), (501, 20));
        assert_eq!(w(MACH_MSG_TRAILER_AUDIT_OFFSET + 4 * AUDIT_TOKEN_PID), 42);
        assert_eq!(m.sender.pid(), 42);
        let small = m.sender.trailer(1, requested_trailer_size(0));
        assert_eq!(small.len() as u32, MACH_MSG_TRAILER_MINIMUM_SIZE);
        assert_eq!(m.sender.trailer(0, 68).len(), 68);
    }
}
