//! `ipc_kobject`: messages sent to ports the kernel receives on. The kernel serves each request
//! at once, in the sender's thread (XNU `ipc_kobject_server`): it finds the routine the message
//! id names (`mach::defs`), checks and decodes the request with that routine's layout, finds
//! the object behind the destination port, runs the routine, and builds the reply — id + 100,
//! sent to the reply right the request carried, laid out from the same declaration. An id no
//! server knows gets a `mig_reply_error_t` with `MIG_BAD_ID`; a malformed request
//! `MIG_TYPE_ERROR` or `MIG_BAD_ARGUMENTS`; a destination of the wrong kind
//! `KERN_INVALID_ARGUMENT` (what XNU's routines answer for a null object).

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use mach::message::{MACH_MSG_HEADER_SIZE, MACH_MSGH_BITS_COMPLEX, mach_msgh_bits};
use mach::mig::{
    Arg, Field, MIG_BAD_ID, MIG_MAX_FIELDS, MIG_REPLY_ERROR_SIZE, MIG_REPLY_ID_OFFSET, NDR_RECORD, Words,
    decode, descriptor_offsets, encode, is_complex,
};

use crate::ipc::ipc_kmsg::{IpcKmsg, KmsgCharge, KmsgDescriptor, MsgRight, SenderToken};
use crate::ipc::ipc_port::{IkotType, PortRef};
use crate::vm::vm_map_copy::VmMapCopy;

/// What a routine hands back, one value per reply field.
pub enum KOut {
    Int(u32),
    Long(u64),
    Words(Vec<u32>),
    Port(MsgRight),
    /// Out-of-line memory and its size in bytes.
    Ool(Option<VmMapCopy>, u32),
    OolPorts(Vec<MsgRight>),
    /// An in-line port array (`Field::PortArray`): the rights, padded with nulls.
    Ports(Vec<MsgRight>),
}

/// A decoded request: the in-line arguments, and what its descriptors carried, in order.
pub struct Request<'a> {
    pub args: [Arg<'a>; MIG_MAX_FIELDS],
    pub ports: Vec<MsgRight>,
    pub copies: Vec<Option<VmMapCopy>>,
    /// Who sent the request.
    pub sender: SenderToken,
    /// The request's share of its sender's message budget. It becomes the reply's, so a
    /// routine whose reply holds more (out-of-line memory) grows it first.
    pub charge: Option<KmsgCharge>,
}

impl Request<'_> {
    /// The next port right the request carried.
    pub fn take_port(&mut self) -> MsgRight {
        if self.ports.is_empty() { MsgRight::Null } else { self.ports.remove(0) }
    }

    /// The next out-of-line region the request carried.
    pub fn take_copy(&mut self) -> Option<VmMapCopy> {
        if self.copies.is_empty() { None } else { self.copies.remove(0) }
    }
}

/// A kernel routine: the destination port and the request in, the reply's values out.
pub type Handler = fn(&PortRef, &mut Request<'_>) -> Result<Vec<KOut>, KernReturn>;

/// The kernel object of type `ty` behind `port`, or `KERN_INVALID_ARGUMENT`.
pub fn kobject_of<T: core::any::Any + Send + Sync>(
    port: &PortRef,
    ty: IkotType,
) -> Result<Arc<T>, KernReturn> {
    port.kobject::<T>(ty).ok_or(KernReturn::KERN_INVALID_ARGUMENT)
}

/// Serve `request`; the reply to send, if the request carried a reply right. The request
/// (and every right and region it carried that the routine did not keep) is destroyed here.
pub fn ipc_kobject_server(request: IpcKmsg) -> Option<IpcKmsg> {
    let IpcKmsg { bits, remote, local: reply, id, body, descriptors, sender, charge, .. } = request;
    let no_reply = matches!(reply, MsgRight::Null | MsgRight::Dead);
    let port = remote.port().cloned()?;
    let entry = crate::kern::mig_servers::MIG_SERVERS.iter().find(|(r, _)| r.id == id);
    let Some((routine, handler)) = entry else {
        // The error reply is charged like any other: replies to send-once rights pass the
        // queue limit, so uncharged ones could pile up without end.
        return (!no_reply).then(|| charge_reply(mig_reply_error(reply, id, MIG_BAD_ID), charge, id));
    };
    let mut req = Request {
        args: [Arg::None; MIG_MAX_FIELDS],
        ports: Vec::new(),
        copies: Vec::new(),
        sender,
        charge: charge.or_else(|| KmsgCharge::kernel_made(body.len())),
    };
    for d in descriptors {
        match d {
            KmsgDescriptor::Port { right, .. } => req.ports.push(right),
            KmsgDescriptor::Ool { copy, .. } => req.copies.push(copy),
            // No routine served here takes port arrays; `decode` rejects them by type.
            KmsgDescriptor::OolPorts { .. } => {}
        }
    }
    let complex = bits & MACH_MSGH_BITS_COMPLEX != 0;
    let result =
        decode(routine.request, complex, false, &body, &mut req.args).and_then(|_| handler(&port, &mut req));
    let charge = req.charge.take();
    drop(req);
    if no_reply {
        return None;
    }
    let reply_id = id.wrapping_add(MIG_REPLY_ID_OFFSET);
    let reply = match result {
        Ok(values) => {
            let success = Some(KernReturn::KERN_SUCCESS);
            kmsg_from_values(routine.reply, reply_id, values, success, reply, MsgRight::Null)
                .unwrap_or_else(|(reply, kr)| mig_reply_error(reply, id, kr))
        }
        Err(kr) => mig_reply_error(reply, id, kr),
    };
    Some(charge_reply(reply, charge, id))
}

/// Give `reply` the request's `charge`, grown to what the reply holds beyond the request's
/// bytes — inline bytes, port arrays and out-of-line pages alike. A reply that no budget can
/// pay for becomes `KERN_RESOURCE_SHORTAGE` (which the request's charge covers); with no
/// charge at all (the sender's budget was spent and the kernel's too) the reply still goes:
/// it is the error, one per request.
fn charge_reply(mut reply: IpcKmsg, charge: Option<KmsgCharge>, request_id: i32) -> IpcKmsg {
    let Some(mut charge) = charge else { return reply };
    let need = (reply.size as usize)
        .saturating_add(reply.payload_bytes())
        .saturating_add(crate::kern::budget::KMSG_OVERHEAD);
    if need > charge.cost() && !charge.grow(need - charge.cost()) {
        let remote = core::mem::replace(&mut reply.remote, MsgRight::Null);
        drop(reply);
        reply = mig_reply_error(remote, request_id, KernReturn::KERN_RESOURCE_SHORTAGE);
    }
    reply.charge = Some(charge);
    reply
}

/// A kernel message laid out from MIG `fields` and their `values` (a reply when `reply_code`
/// is given), to `remote`, with reply right `local`. The kernel builds its replies and its
/// own requests (exception messages) this way. On failure the remote right comes back.
pub fn kmsg_from_values(
    fields: &[Field],
    id: i32,
    values: Vec<KOut>,
    reply_code: Option<KernReturn>,
    remote: MsgRight,
    local: MsgRight,
) -> Result<IpcKmsg, (MsgRight, KernReturn)> {
    let reply = remote;
    let mut args = [Arg::None; MIG_MAX_FIELDS];
    for (slot, v) in args.iter_mut().zip(&values) {
        *slot = match v {
            KOut::Int(x) => Arg::Int(*x),
            KOut::Long(x) => Arg::Long(*x),
            KOut::Words(w) => Arg::Array(Words::Words(w)),
            KOut::Port(r) => Arg::Port(0, r.received_type()),
            KOut::Ool(_, size) => Arg::Ool(0, *size, false),
            KOut::OolPorts(r) => Arg::OolPorts(0, r.len() as u32, false),
            KOut::Ports(r) => Arg::Ports(&NULL_NAMES[..r.len().min(NULL_NAMES.len())], 0),
        };
    }
    let max: usize = fields
        .iter()
        .map(|f| match f {
            Field::Array(n) => 4 + *n as usize * 4,
            Field::LongArray(n) => 4 + *n as usize * 8,
            Field::PortArray(n, _) => *n as usize * 12,
            Field::SameCountArrays(k, n) => 4 + (*k * *n) as usize * 4,
            _ => 16,
        })
        .sum::<usize>()
        + 32;
    let mut body = alloc::vec![0u8; max];
    let len = match encode(fields, &args[..values.len()], reply_code, &mut body) {
        Ok(n) => n,
        Err(kr) => return Err((reply, kr)),
    };
    body.truncate(len);
    let mut descriptors = Vec::new();
    let mut offsets = descriptor_offsets(fields);
    for v in values {
        let offset = match v {
            KOut::Port(_) | KOut::Ool(..) | KOut::OolPorts(_) => offsets.next().unwrap_or(0),
            KOut::Ports(rights) => {
                // One descriptor per element of the field's fixed array.
                let n = fields
                    .iter()
                    .find_map(|f| if let Field::PortArray(n, _) = f { Some(*n as usize) } else { None })
                    .unwrap_or(0);
                let mut rights = rights.into_iter();
                for _ in 0..n {
                    let offset = offsets.next().unwrap_or(0);
                    descriptors.push(KmsgDescriptor::Port {
                        offset,
                        right: rights.next().unwrap_or(MsgRight::Null),
                    });
                }
                continue;
            }
            _ => continue,
        };
        descriptors.push(match v {
            KOut::Port(right) => KmsgDescriptor::Port { offset, right },
            KOut::Ool(copy, _) => KmsgDescriptor::Ool { offset, copy },
            KOut::OolPorts(rights) => KmsgDescriptor::OolPorts {
                offset,
                disposition: rights
                    .first()
                    .map_or(mach::message::MACH_MSG_TYPE_PORT_SEND, MsgRight::received_type),
                rights,
            },
            _ => continue,
        });
    }
    let complex = if is_complex(fields) { MACH_MSGH_BITS_COMPLEX } else { 0 };
    Ok(IpcKmsg {
        bits: complex | mach_msgh_bits(reply.received_type(), local.received_type()),
        size: MACH_MSG_HEADER_SIZE + len as u32,
        remote: reply,
        local,
        id,
        body,
        descriptors,
        sender: SenderToken::KERNEL,
        charge: None,
    })
}

/// Names written into the descriptors of a port array the kernel sends (the rights ride in
/// the kernel's descriptors; copyout writes the receiver's names over these).
static NULL_NAMES: [u32; 64] = [0; 64];

/// A `mig_reply_error_t`: the header, the NDR record and `code`.
pub fn mig_reply_error(reply: MsgRight, request_id: i32, code: KernReturn) -> IpcKmsg {
    let mut body = Vec::with_capacity(12);
    body.extend_from_slice(&NDR_RECORD);
    body.extend_from_slice(&code.0.to_le_bytes());
    IpcKmsg {
        bits: mach_msgh_bits(reply.received_type(), 0),
        size: MIG_REPLY_ERROR_SIZE,
        remote: reply,
        local: MsgRight::Null,
        id: request_id.wrapping_add(MIG_REPLY_ID_OFFSET),
        body,
        descriptors: Vec::new(),
        sender: SenderToken::KERNEL,
        charge: None,
    }
}
