//! `ipc_kobject`: kernel objects reached through ports, and the messages sent to them.
//!
//! **One lookup.** Every kernel object a port can stand for implements [`KObject`], which
//! names its `IKOT` type; [`kobject_from_port`] is the one way from a port to its object and
//! [`IpcSpace::lookup_kobject`](crate::ipc::ipc_space::IpcSpace::lookup_kobject) the one way
//! from a port name (name → entry with the right bits → port → live object of that type).
//!
//! **One declaration.** For every routine of `mach::for_each_mig_routine!` the [`routines`]
//! module holds a typed `Request` (the declared parameters as the kernel receives them: `Int`
//! → `u32`, `Long` → `u64`, a port → the received [`MsgRight`], out-of-line memory → its
//! [`VmMapCopy`]) and a typed `Reply`, both generated from the declaration, so a handler
//! reads `req.name` and cannot answer a reply of the wrong shape. `mig_servers` builds the
//! server table from the same declaration.
//!
//! **Serving.** The kernel serves each request at once, in the sender's thread (XNU
//! `ipc_kobject_server`): it finds the routine the message id names, checks and decodes the
//! request with that routine's layout ([`Incoming`]), runs the routine on the destination
//! port, and builds the reply — id + 100, sent to the reply right the request carried, laid
//! out from the same declaration. An id no kernel server knows gets a `mig_reply_error_t`
//! with `MIG_BAD_ID`; a malformed request `MIG_TYPE_ERROR` or `MIG_BAD_ARGUMENTS`; a
//! destination of the wrong kind `KERN_INVALID_ARGUMENT` (what XNU's routines answer for a
//! null object).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use mach::KernReturn;
use mach::message::{MACH_MSG_HEADER_SIZE, MACH_MSGH_BITS_COMPLEX, mach_msgh_bits};
use mach::mig::{
    Arg, Field, MIG_BAD_ARGUMENTS, MIG_MAX_FIELDS, MIG_REPLY_ERROR_SIZE, MIG_REPLY_ID_OFFSET, MIG_TYPE_ERROR,
    NDR_RECORD, Routine, Words, decode, descriptor_offsets, encode, is_complex,
};

use crate::ipc::ipc_kmsg::{IpcKmsg, KmsgCharge, KmsgDescriptor, MsgRight, SenderToken};
use crate::ipc::ipc_port::{IkotType, PortRef};
use crate::vm::vm_map_copy::VmMapCopy;

/// A kernel object reachable through a port (XNU's `ipc_kobject_ops`): the `IKOT` type its
/// ports carry. Only [`kobject_from_port`] turns such a port back into the object.
pub trait KObject: Any + Send + Sync {
    /// The type its ports are made with (`IpcPort::new_kobject`).
    const IKOT: IkotType;
}

/// The live `T` behind `port`: `KERN_INVALID_ARGUMENT` if the port is dead, stands for no
/// object or for another type, or its object is gone (XNU's `convert_port_to_*` answer a
/// null object, which the routines and traps report so).
pub fn kobject_from_port<T: KObject>(port: &PortRef) -> Result<Arc<T>, KernReturn> {
    port.kobject::<T>(T::IKOT).ok_or(KernReturn::KERN_INVALID_ARGUMENT)
}

// Tasks and threads are kernel objects through their control ports (`Task::self_port`,
// `Thread::self_port`); the other objects say so beside their definitions.
#[cfg(target_os = "none")]
impl KObject for crate::kern::task::Task {
    const IKOT: IkotType = IkotType::TaskControl;
}

#[cfg(target_os = "none")]
impl KObject for crate::kern::thread::Thread {
    const IKOT: IkotType = IkotType::ThreadControl;
}

/// What a routine hands back, one value per reply field.
pub enum KOut {
    Int(u32),
    Long(u64),
    Words(Vec<u32>),
    /// The bytes of a `Str` field.
    Bytes(Vec<u8>),
    Port(MsgRight),
    /// Out-of-line memory and its size in bytes.
    Ool(Option<VmMapCopy>, u32),
    OolPorts(Vec<MsgRight>),
    /// An in-line port array (`Field::PortArray`): the rights, padded with nulls.
    Ports(Vec<MsgRight>),
}

/// An out-of-line reply value (`Ool`, `OolWords`): the copied memory (none for an empty
/// region) and its size in bytes.
pub struct OolData {
    pub copy: Option<VmMapCopy>,
    pub size: u32,
}

/// What a routine knows of its request besides its arguments.
pub struct MigContext {
    /// Who sent the request.
    pub sender: SenderToken,
    /// The request's share of its sender's message budget. It becomes the reply's, so a
    /// routine whose reply holds more (out-of-line memory) grows it first.
    pub charge: Option<KmsgCharge>,
}

/// A request on its way to a typed `Request`: the values [`decode`] read from its body and
/// the rights and memory its descriptors carried, taken field by field in declaration order
/// by the generated `Request::parse`.
pub struct Incoming<'a> {
    args: [Arg<'a>; MIG_MAX_FIELDS],
    next: usize,
    descriptors: VecDeque<KmsgDescriptor>,
    pub ctx: MigContext,
}

impl<'a> Incoming<'a> {
    pub fn new(descriptors: Vec<KmsgDescriptor>, ctx: MigContext) -> Self {
        Self { args: [Arg::None; MIG_MAX_FIELDS], next: 0, descriptors: descriptors.into(), ctx }
    }

    /// Check `body` (after the header) against `routine`'s request layout and read its
    /// values: `MIG_TYPE_ERROR` for descriptors of the wrong number or type (or a complex bit
    /// that disagrees), `MIG_BAD_ARGUMENTS` for a body of the wrong size or an array over its
    /// bound.
    pub fn decode(&mut self, routine: &Routine, complex: bool, body: &'a [u8]) -> Result<(), KernReturn> {
        decode(routine.request, complex, false, body, &mut self.args).map(drop)
    }

    fn arg(&mut self) -> Arg<'a> {
        let a = self.args.get(self.next).copied().unwrap_or(Arg::None);
        self.next += 1;
        a
    }

    fn descriptor(&mut self) -> Result<KmsgDescriptor, KernReturn> {
        self.descriptors.pop_front().ok_or(MIG_TYPE_ERROR)
    }

    /// An `Int` field.
    pub fn int(&mut self) -> Result<u32, KernReturn> {
        match self.arg() {
            Arg::Int(v) => Ok(v),
            _ => Err(MIG_BAD_ARGUMENTS),
        }
    }

    /// A `Long` field.
    pub fn long(&mut self) -> Result<u64, KernReturn> {
        match self.arg() {
            Arg::Long(v) => Ok(v),
            _ => Err(MIG_BAD_ARGUMENTS),
        }
    }

    /// An in-line word array (`Array`, `SameCountArrays`).
    pub fn words(&mut self) -> Result<Vec<u32>, KernReturn> {
        match self.arg() {
            Arg::Array(w) => Ok((0..w.len()).map(|i| w.get(i)).collect()),
            _ => Err(MIG_BAD_ARGUMENTS),
        }
    }

    /// An in-line array of 64-bit integers (`LongArray`), low word first.
    pub fn longs(&mut self) -> Result<Vec<u64>, KernReturn> {
        match self.arg() {
            Arg::Array(w) => {
                Ok((0..w.len() / 2).map(|i| u64::from(w.get(2 * i)) | (u64::from(w.get(2 * i + 1)) << 32)).collect())
            }
            _ => Err(MIG_BAD_ARGUMENTS),
        }
    }

    /// A fixed-size byte string (`Str`), all its bytes.
    pub fn bytes(&mut self) -> Result<Vec<u8>, KernReturn> {
        match self.arg() {
            Arg::Bytes(b) => Ok(b.to_vec()),
            _ => Err(MIG_BAD_ARGUMENTS),
        }
    }

    /// A port field: the right its descriptor carried.
    pub fn port(&mut self) -> Result<MsgRight, KernReturn> {
        let Arg::Port(..) = self.arg() else { return Err(MIG_BAD_ARGUMENTS) };
        match self.descriptor()? {
            KmsgDescriptor::Port { right, .. } => Ok(right),
            _ => Err(MIG_TYPE_ERROR),
        }
    }

    /// An in-line port array (`PortArray`): one right per descriptor.
    pub fn ports(&mut self) -> Result<Vec<MsgRight>, KernReturn> {
        let Arg::Bytes(all) = self.arg() else { return Err(MIG_BAD_ARGUMENTS) };
        let n = all.len() / mach::message::MACH_MSG_PORT_DESCRIPTOR_SIZE as usize;
        let mut rights = Vec::with_capacity(n);
        for _ in 0..n {
            match self.descriptor()? {
                KmsgDescriptor::Port { right, .. } => rights.push(right),
                _ => return Err(MIG_TYPE_ERROR),
            }
        }
        Ok(rights)
    }

    /// Out-of-line memory (`Ool`, `OolWords`): the copy its descriptor carried.
    pub fn ool(&mut self) -> Result<Option<VmMapCopy>, KernReturn> {
        let Arg::Ool(..) = self.arg() else { return Err(MIG_BAD_ARGUMENTS) };
        match self.descriptor()? {
            KmsgDescriptor::Ool { copy, .. } => Ok(copy),
            _ => Err(MIG_TYPE_ERROR),
        }
    }

    /// An out-of-line port array (`OolPorts`): the rights its descriptor carried.
    pub fn ool_ports(&mut self) -> Result<Vec<MsgRight>, KernReturn> {
        let Arg::OolPorts(..) = self.arg() else { return Err(MIG_BAD_ARGUMENTS) };
        match self.descriptor()? {
            KmsgDescriptor::OolPorts { rights, .. } => Ok(rights),
            _ => Err(MIG_TYPE_ERROR),
        }
    }

    /// Every field taken: descriptors the declaration has no field for are a type error.
    pub fn finish(&mut self) -> Result<(), KernReturn> {
        if self.descriptors.is_empty() { Ok(()) } else { Err(MIG_TYPE_ERROR) }
    }
}

/// The Rust type of a request parameter of this kind, as the kernel receives it.
macro_rules! mig_request_ty {
    (Int) => { u32 };
    (Long) => { u64 };
    (Str $n:tt) => { Vec<u8> };
    (Array $n:tt) => { Vec<u32> };
    (SameCountArrays $n:tt) => { Vec<u32> };
    (HANDLER_INFO) => { Vec<u32> };
    (LongArray $n:tt) => { Vec<u64> };
    (Ool) => { Option<VmMapCopy> };
    (OolWords) => { Option<VmMapCopy> };
    (OolPorts $d:tt) => { Vec<MsgRight> };
    (Port $d:tt) => { MsgRight };
    (SEND_IN) => { MsgRight };
    (SEND_OUT) => { MsgRight };
    (PortArray $n:tt) => { Vec<MsgRight> };
    (HANDLERS) => { Vec<MsgRight> };
}

/// Take the next request parameter of this kind from `$inc`.
macro_rules! mig_request_take {
    ($inc:ident, Int) => { $inc.int()? };
    ($inc:ident, Long) => { $inc.long()? };
    ($inc:ident, Str $n:tt) => { $inc.bytes()? };
    ($inc:ident, Array $n:tt) => { $inc.words()? };
    ($inc:ident, SameCountArrays $n:tt) => { $inc.words()? };
    ($inc:ident, HANDLER_INFO) => { $inc.words()? };
    ($inc:ident, LongArray $n:tt) => { $inc.longs()? };
    ($inc:ident, Ool) => { $inc.ool()? };
    ($inc:ident, OolWords) => { $inc.ool()? };
    ($inc:ident, OolPorts $d:tt) => { $inc.ool_ports()? };
    ($inc:ident, Port $d:tt) => { $inc.port()? };
    ($inc:ident, SEND_IN) => { $inc.port()? };
    ($inc:ident, SEND_OUT) => { $inc.port()? };
    ($inc:ident, PortArray $n:tt) => { $inc.ports()? };
    ($inc:ident, HANDLERS) => { $inc.ports()? };
}

/// The Rust type of a reply value of this kind, as the kernel sends it.
macro_rules! mig_reply_ty {
    (Int) => { u32 };
    (Long) => { u64 };
    (Str $n:tt) => { Vec<u8> };
    (Array $n:tt) => { Vec<u32> };
    (SameCountArrays $n:tt) => { Vec<u32> };
    (HANDLER_INFO) => { Vec<u32> };
    (LongArray $n:tt) => { Vec<u64> };
    (Ool) => { OolData };
    (OolWords) => { OolData };
    (OolPorts $d:tt) => { Vec<MsgRight> };
    (Port $d:tt) => { MsgRight };
    (SEND_IN) => { MsgRight };
    (SEND_OUT) => { MsgRight };
    (PortArray $n:tt) => { Vec<MsgRight> };
    (HANDLERS) => { Vec<MsgRight> };
}

/// A reply value of this kind as the encoder takes it.
macro_rules! mig_reply_value {
    ($v:expr, Int) => { KOut::Int($v) };
    ($v:expr, Long) => { KOut::Long($v) };
    ($v:expr, Str $n:tt) => { KOut::Bytes($v) };
    ($v:expr, Array $n:tt) => { KOut::Words($v) };
    ($v:expr, SameCountArrays $n:tt) => { KOut::Words($v) };
    ($v:expr, HANDLER_INFO) => { KOut::Words($v) };
    ($v:expr, LongArray $n:tt) => { KOut::Words($v.iter().flat_map(|x| [*x as u32, (*x >> 32) as u32]).collect()) };
    ($v:expr, Ool) => {{ let d: OolData = $v; KOut::Ool(d.copy, d.size) }};
    ($v:expr, OolWords) => {{ let d: OolData = $v; KOut::Ool(d.copy, d.size) }};
    ($v:expr, OolPorts $d:tt) => { KOut::OolPorts($v) };
    ($v:expr, Port $d:tt) => { KOut::Port($v) };
    ($v:expr, SEND_IN) => { KOut::Port($v) };
    ($v:expr, SEND_OUT) => { KOut::Port($v) };
    ($v:expr, PortArray $n:tt) => { KOut::Ports($v) };
    ($v:expr, HANDLERS) => { KOut::Ports($v) };
}

macro_rules! kernel_messages {
    ($( ($konst:ident, $id:literal, $name:ident, $server:ident,
        [$($p:ident: $kind:ident $(($($karg:tt)*))?),* $(,)?],
        [$($r:ident: $rkind:ident $(($($rarg:tt)*))?),* $(,)?]) ),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` (", stringify!($id), "), generated from its declaration.")]
            pub mod $name {
                use super::*;

                /// The request's parameters, in declaration order.
                pub struct Request {
                    $(pub $p: mig_request_ty!($kind $(($($karg)*))?),)*
                }

                /// The reply's values, in declaration order.
                pub struct Reply {
                    $(pub $r: mig_reply_ty!($rkind $(($($rarg)*))?),)*
                }

                /// The kernel routine that serves it: the destination port and the request
                /// in, the reply out.
                pub type Handler = fn(&PortRef, Request, &mut MigContext) -> Result<Reply, KernReturn>;

                impl Request {
                    /// The typed request from a decoded one.
                    pub fn parse(inc: &mut Incoming<'_>) -> Result<Self, KernReturn> {
                        let request = Self { $($p: mig_request_take!(inc, $kind $(($($karg)*))?),)* };
                        inc.finish()?;
                        Ok(request)
                    }
                }

                impl Reply {
                    /// The values the encoder lays out, in declaration order.
                    pub fn into_values(self) -> Vec<KOut> {
                        alloc::vec![$(mig_reply_value!(self.$r, $rkind $(($($rarg)*))?)),*]
                    }
                }

                /// Parse a decoded request, run `handler`, and hand back its reply's values.
                pub fn serve(port: &PortRef, inc: &mut Incoming<'_>, handler: Handler) -> Result<Vec<KOut>, KernReturn> {
                    let request = Request::parse(inc)?;
                    handler(port, request, &mut inc.ctx).map(Reply::into_values)
                }
            }
        )*
    };
}

/// One module per routine of `mach::defs`: its typed `Request` and `Reply`.
pub mod routines {
    use super::*;

    mach::for_each_mig_routine!(kernel_messages);
}

/// An entry of the server table: parse a decoded request, serve it, answer the reply values.
pub type ServerFn = fn(&PortRef, &mut Incoming<'_>) -> Result<Vec<KOut>, KernReturn>;

/// Serve `request`; the reply to send, if the request carried a reply right. The request
/// (and every right and region it carried that the routine did not keep) is destroyed here.
#[cfg(target_os = "none")]
pub fn ipc_kobject_server(request: IpcKmsg) -> Option<IpcKmsg> {
    let IpcKmsg { bits, remote, local: reply, id, body, descriptors, sender, charge, .. } = request;
    let no_reply = matches!(reply, MsgRight::Null | MsgRight::Dead);
    let port = remote.port().cloned()?;
    let Some((routine, server)) = crate::kern::mig_servers::server(id) else {
        // The error reply is charged like any other: replies to send-once rights pass the
        // queue limit, so uncharged ones could pile up without end.
        let error = mig_reply_error(reply, id, mach::mig::MIG_BAD_ID);
        return (!no_reply).then(|| charge_reply(error, charge, id));
    };
    let ctx = MigContext { sender, charge: charge.or_else(|| KmsgCharge::kernel_made(body.len())) };
    let mut inc = Incoming::new(descriptors, ctx);
    let complex = bits & MACH_MSGH_BITS_COMPLEX != 0;
    let result = inc.decode(routine, complex, &body).and_then(|()| server(&port, &mut inc));
    let charge = inc.ctx.charge.take();
    drop(inc);
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

#[cfg(target_os = "none")]
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
            KOut::Bytes(b) => Arg::Bytes(b),
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
