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
//! **The kernel as a client.** The kernel also sends requests, to the user-space servers of
//! routines declared `user` (exception handlers): for those the same `Request` builds the message
//! ([`into_kmsg`](routines::exception_raise::Request::into_kmsg)) and the same `Reply` is read
//! back from the answer ([`from_kmsg`](routines::exception_raise::Reply::from_kmsg)), checked as
//! MIG's client code checks it ([`mig_client_reply`]). A routine is declared once, and both sides
//! of it come from that one declaration through this one generator.
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
    Arg, Field, MIG_BAD_ARGUMENTS, MIG_MAX_FIELDS, MIG_REPLY_ERROR_SIZE, MIG_REPLY_ID_OFFSET,
    MIG_REPLY_MISMATCH, MIG_SERVER_DIED, MIG_TYPE_ERROR, NDR_RECORD, NDR_SIZE, Routine, Words, decode,
    descriptor_offsets, encode, is_complex,
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

/// A new port the kernel receives on, standing for `object` with `T`'s type (XNU
/// `ipc_kobject_alloc_port`). The port holds the object weakly: the object owns its port.
pub fn ipc_kobject_alloc_port<T: KObject>(object: &Arc<T>) -> PortRef {
    let weak: alloc::sync::Weak<dyn Any + Send + Sync> =
        Arc::downgrade(object) as alloc::sync::Weak<dyn Any + Send + Sync>;
    crate::ipc::ipc_port::IpcPort::new_kobject(T::IKOT, weak)
}

/// The live `T` behind `port`: `KERN_INVALID_ARGUMENT` if the port is dead, stands for no
/// object or for another type, or its object is gone (XNU's `convert_port_to_*` answer a
/// null object, which the routines and traps report so).
pub fn kobject_from_port<T: KObject>(port: &PortRef) -> Result<Arc<T>, KernReturn> {
    port.kobject::<T>(T::IKOT).ok_or(KernReturn::KERN_INVALID_ARGUMENT)
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
            Arg::Array(w) => Ok((0..w.len() / 2)
                .map(|i| u64::from(w.get(2 * i)) | (u64::from(w.get(2 * i + 1)) << 32))
                .collect()),
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

/// The Rust type of a value of this kind, with `$ool` for out-of-line memory (the one place
/// requests and replies differ: a received copy, or the data to send).
macro_rules! mig_value_ty {
    ($ool:ty; Int) => { u32 };
    ($ool:ty; Long) => { u64 };
    ($ool:ty; Str $n:tt) => { Vec<u8> };
    ($ool:ty; Array $n:tt) => { Vec<u32> };
    ($ool:ty; SameCountArrays $n:tt) => { Vec<u32> };
    ($ool:ty; HANDLER_INFO) => { Vec<u32> };
    ($ool:ty; LongArray $n:tt) => { Vec<u64> };
    ($ool:ty; Ool) => { $ool };
    ($ool:ty; OolWords) => { $ool };
    ($ool:ty; OolPorts $d:tt) => { Vec<MsgRight> };
    ($ool:ty; Port $d:tt) => { MsgRight };
    ($ool:ty; SEND_IN) => { MsgRight };
    ($ool:ty; SEND_OUT) => { MsgRight };
    ($ool:ty; PortArray $n:tt) => { Vec<MsgRight> };
    ($ool:ty; HANDLERS) => { Vec<MsgRight> };
}

/// The Rust type of a request parameter of this kind, as the kernel receives it.
macro_rules! mig_request_ty {
    ($($kind:tt)*) => { mig_value_ty!(Option<VmMapCopy>; $($kind)*) };
}

/// Take the next request parameter of this kind from `$inc`.
macro_rules! mig_request_take {
    ($inc:ident, Int) => {
        $inc.int()?
    };
    ($inc:ident, Long) => {
        $inc.long()?
    };
    ($inc:ident, Str $n:tt) => {
        $inc.bytes()?
    };
    ($inc:ident, Array $n:tt) => {
        $inc.words()?
    };
    ($inc:ident, SameCountArrays $n:tt) => {
        $inc.words()?
    };
    ($inc:ident, HANDLER_INFO) => {
        $inc.words()?
    };
    ($inc:ident, LongArray $n:tt) => {
        $inc.longs()?
    };
    ($inc:ident, Ool) => {
        $inc.ool()?
    };
    ($inc:ident, OolWords) => {
        $inc.ool()?
    };
    ($inc:ident, OolPorts $d:tt) => {
        $inc.ool_ports()?
    };
    ($inc:ident, Port $d:tt) => {
        $inc.port()?
    };
    ($inc:ident, SEND_IN) => {
        $inc.port()?
    };
    ($inc:ident, SEND_OUT) => {
        $inc.port()?
    };
    ($inc:ident, PortArray $n:tt) => {
        $inc.ports()?
    };
    ($inc:ident, HANDLERS) => {
        $inc.ports()?
    };
}

/// The Rust type of a reply value of this kind, as the kernel sends it.
macro_rules! mig_reply_ty {
    ($($kind:tt)*) => { mig_value_ty!(OolData; $($kind)*) };
}

/// A reply value of this kind as the encoder takes it.
macro_rules! mig_reply_value {
    ($v:expr, Int) => {
        KOut::Int($v)
    };
    ($v:expr, Long) => {
        KOut::Long($v)
    };
    ($v:expr, Str $n:tt) => {
        KOut::Bytes($v)
    };
    ($v:expr, Array $n:tt) => {
        KOut::Words($v)
    };
    ($v:expr, SameCountArrays $n:tt) => {
        KOut::Words($v)
    };
    ($v:expr, HANDLER_INFO) => {
        KOut::Words($v)
    };
    ($v:expr, LongArray $n:tt) => {
        KOut::Words($v.iter().flat_map(|x| [*x as u32, (*x >> 32) as u32]).collect())
    };
    ($v:expr, Ool) => {{
        let d: OolData = $v;
        KOut::Ool(d.copy, d.size)
    }};
    ($v:expr, OolWords) => {{
        let d: OolData = $v;
        KOut::Ool(d.copy, d.size)
    }};
    ($v:expr, OolPorts $d:tt) => {
        KOut::OolPorts($v)
    };
    ($v:expr, Port $d:tt) => {
        KOut::Port($v)
    };
    ($v:expr, SEND_IN) => {
        KOut::Port($v)
    };
    ($v:expr, SEND_OUT) => {
        KOut::Port($v)
    };
    ($v:expr, PortArray $n:tt) => {
        KOut::Ports($v)
    };
    ($v:expr, HANDLERS) => {
        KOut::Ports($v)
    };
}

/// The client side of a routine the kernel sends (declared `user`): its `Request` becomes a
/// message, its `Reply` is read from the answer. Routines the kernel serves get none (the
/// kernel never sends them).
macro_rules! mig_client {
    (kernel, [$($t:tt)*], [$($u:tt)*]) => {};
    (user,
        [$($p:ident: $kind:ident $(($($karg:tt)*))?),* $(,)?],
        [$($r:ident: $rkind:ident $(($($rarg:tt)*))?),* $(,)?]) => {
        impl Request {
            /// The values the encoder lays out, in declaration order.
            pub fn into_values(self) -> Vec<KOut> {
                alloc::vec![$(mig_reply_value!(self.$p, $kind $(($($karg)*))?)),*]
            }

            /// The request as a kernel message to `remote`, answered on `reply`, laid out
            /// from the declaration. A value over its declared bound is `MIG_ARRAY_TOO_LARGE`
            /// (the rights are released).
            pub fn into_kmsg(self, remote: MsgRight, reply: MsgRight) -> Result<IpcKmsg, KernReturn> {
                kmsg_from_values(ROUTINE.request, ROUTINE.id, self.into_values(), None, remote, reply)
                    .map_err(|(_, kr)| kr)
            }
        }

        impl Reply {
            /// The typed reply from a decoded one.
            pub fn parse(inc: &mut Incoming<'_>) -> Result<Self, KernReturn> {
                let reply = Self { $($r: mig_request_take!(inc, $rkind $(($($rarg)*))?),)* };
                inc.finish()?;
                Ok(reply)
            }

            /// The server's answer to this routine's request, checked as MIG's client code
            /// checks it ([`mig_client_reply`]).
            pub fn from_kmsg(answer: IpcKmsg) -> Result<Self, KernReturn> {
                mig_client_reply(ROUTINE, answer, Self::parse)
            }
        }
    };
}

macro_rules! kernel_messages {
    ($( ($konst:ident, $id:literal, $name:ident, $server:ident,
        [$($p:ident: $kind:ident $(($($karg:tt)*))?),* $(,)?],
        [$($r:ident: $rkind:ident $(($($rarg:tt)*))?),* $(,)?]) ),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` (", stringify!($id), "), generated from its declaration.")]
            pub mod $name {
                use super::*;

                /// The declaration's layouts and id.
                pub const ROUTINE: &Routine = &mach::defs::$konst;

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

                mig_client!($server,
                    [$($p: $kind $(($($karg)*))?),*],
                    [$($r: $rkind $(($($rarg)*))?),*]);
            }
        )*
    };
}

/// One module per routine of `mach::defs`: its typed `Request` and `Reply`.
pub mod routines {
    use super::*;

    mach::for_each_mig_routine!(kernel_messages);
}

/// The answer to a request the kernel sent as `routine`'s client, checked as MIG's generated
/// client code checks a reply, then read by `parse` into the typed reply. The errors: an
/// answer of another id is `MIG_REPLY_MISMATCH` (`MIG_SERVER_DIED` if it is the send-once
/// notification of a server that dropped the reply right); a size that disagrees with the
/// body, descriptors or a body the reply layout does not allow are `MIG_TYPE_ERROR` or
/// `MIG_BAD_ARGUMENTS`; a `mig_reply_error_t` (or a reply whose RetCode is not success) is
/// its RetCode. The answer, and every right it carried that `parse` did not take, is
/// released here.
pub fn mig_client_reply<T>(
    routine: &Routine,
    mut answer: IpcKmsg,
    parse: fn(&mut Incoming<'_>) -> Result<T, KernReturn>,
) -> Result<T, KernReturn> {
    if answer.id != routine.id.wrapping_add(MIG_REPLY_ID_OFFSET) {
        return Err(if answer.id == mach::port::MACH_NOTIFY_SEND_ONCE {
            MIG_SERVER_DIED
        } else {
            MIG_REPLY_MISMATCH
        });
    }
    if answer.size as usize != MACH_MSG_HEADER_SIZE as usize + answer.body.len() {
        return Err(MIG_TYPE_ERROR);
    }
    let complex = answer.bits & MACH_MSGH_BITS_COMPLEX != 0;
    // A `mig_reply_error_t` answers any routine, even one whose reply is complex.
    let error_size = (MIG_REPLY_ERROR_SIZE - MACH_MSG_HEADER_SIZE) as usize;
    if !complex && answer.body.len() == error_size {
        let at = NDR_SIZE as usize;
        let code = KernReturn(mach::message::desc_word(&answer.body, at) as i32);
        if code != KernReturn::KERN_SUCCESS {
            return Err(code);
        }
    }
    let descriptors = core::mem::take(&mut answer.descriptors);
    let mut inc = Incoming::new(descriptors, MigContext { sender: answer.sender, charge: None });
    match decode(routine.reply, complex, true, &answer.body, &mut inc.args)? {
        KernReturn::KERN_SUCCESS => parse(&mut inc),
        code => Err(code),
    }
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
            Field::Str(n) => *n as usize,
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

#[cfg(test)]
mod tests {
    //! The lookup's error codes, and the MIG request parser and reply encoder under random
    //! input. Removing a bounds check from `mach::mig` makes these fail (each tried, then
    //! restored): without the `n > max` check of `decode`'s counted arrays an oversized array
    //! whose bytes are all there decodes, and without its final `at != body.len()` check a
    //! body with trailing bytes does (`random_requests_get_the_right_mig_error`); without
    //! `encode`'s `Array` bound a reply over it is sent (`random_replies_encode_as_declared`).

    use alloc::vec;
    use alloc::vec::Vec;

    use mach::defs::{self, kernel_routine};
    use mach::message::{MACH_MSG_OOL_DESCRIPTOR, MACH_MSG_OOL_PORTS_DESCRIPTOR, MACH_MSG_PORT_DESCRIPTOR};
    use mach::mig::{MIG_ARRAY_TOO_LARGE, MIG_BAD_ID, Server};
    use mach::port::{MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND};

    use super::*;
    use crate::ipc::ipc_space::IpcSpace;
    use crate::kern::host::Host;
    use crate::test_rng::Rng;
    use crate::vm::vm_memory_entry::VmNamedEntry;

    #[test]
    fn lookup_kobject_answers_xnu_errors() {
        let host = Arc::new(Host);
        let port = ipc_kobject_alloc_port(&host);
        assert_eq!(port.kobject_type(), IkotType::Host);
        let space = IpcSpace::new();
        let name = space.insert_send(&port).expect("send right");
        let found = space.lookup_kobject::<Host>(name, MACH_PORT_TYPE_SEND).expect("host");
        assert!(Arc::ptr_eq(&found, &host));
        assert!(kobject_from_port::<Host>(&port).is_ok());
        // The wrong type, the wrong right, a name not in the space.
        let wrong = space.lookup_kobject::<VmNamedEntry>(name, MACH_PORT_TYPE_SEND).err();
        assert_eq!(wrong, Some(KernReturn::KERN_INVALID_ARGUMENT));
        let receive = space.lookup_kobject::<Host>(name, MACH_PORT_TYPE_RECEIVE).err();
        assert_eq!(receive, Some(KernReturn::KERN_INVALID_RIGHT));
        assert_eq!(
            space.lookup_kobject::<Host>(name + 0x100, MACH_PORT_TYPE_SEND).err(),
            Some(KernReturn::KERN_INVALID_NAME)
        );
        let (plain, _) = space.alloc_receive().expect("receive");
        let not_kobject = space.lookup_kobject::<Host>(plain, MACH_PORT_TYPE_RECEIVE).err();
        assert_eq!(not_kobject, Some(KernReturn::KERN_INVALID_ARGUMENT));
        // The object gone, then the port dead (its name becomes a dead name).
        drop((found, host));
        assert_eq!(
            space.lookup_kobject::<Host>(name, MACH_PORT_TYPE_SEND).err(),
            Some(KernReturn::KERN_INVALID_ARGUMENT)
        );
        port.destroy();
        assert_eq!(
            space.lookup_kobject::<Host>(name, MACH_PORT_TYPE_SEND).err(),
            Some(KernReturn::KERN_INVALID_RIGHT)
        );
        assert_eq!(kobject_from_port::<Host>(&port).err(), Some(KernReturn::KERN_INVALID_ARGUMENT));
    }

    /// A value for one field, owned, so the `Arg` handed to the encoder can borrow it.
    #[derive(Clone, Debug)]
    enum Value {
        Int(u32),
        Long(u64),
        Words(Vec<u32>),
        Bytes(Vec<u8>),
        Ool(u64, u32, bool),
        OolPorts(u64, u32),
        Port(u32),
        Ports(Vec<u32>),
    }

    impl Value {
        fn arg(&self) -> Arg<'_> {
            match self {
                Value::Int(v) => Arg::Int(*v),
                Value::Long(v) => Arg::Long(*v),
                Value::Words(w) => Arg::Array(Words::Words(w)),
                Value::Bytes(b) => Arg::Bytes(b),
                Value::Ool(a, s, d) => Arg::Ool(*a, *s, *d),
                Value::OolPorts(a, n) => Arg::OolPorts(*a, *n, false),
                Value::Port(n) => Arg::Port(*n, 0),
                Value::Ports(n) => Arg::Ports(n, 0),
            }
        }

        /// Does the decoder's `got` say the same as this value?
        fn matches(&self, got: &Arg<'_>) -> bool {
            let words_eq = |w: &Words<'_>, v: &[u32]| {
                w.len() == v.len() && v.iter().enumerate().all(|(i, x)| w.get(i) == *x)
            };
            match (self, got) {
                (Value::Int(v), Arg::Int(g)) => v == g,
                (Value::Long(v), Arg::Long(g)) => v == g,
                (Value::Words(v), Arg::Array(g)) => words_eq(g, v),
                (Value::Bytes(v), Arg::Bytes(g)) => g.starts_with(v) && g[v.len()..].iter().all(|b| *b == 0),
                (Value::Ool(a, s, d), Arg::Ool(ga, gs, gd)) => (a, s, d) == (ga, gs, gd),
                (Value::OolPorts(a, n), Arg::OolPorts(ga, gn, _)) => (a, n) == (ga, gn),
                (Value::Port(n), Arg::Port(g, _)) => n == g,
                (Value::Ports(n), Arg::Bytes(g)) => {
                    n.iter().enumerate().all(|(i, x)| mach::message::desc_word(g, 12 * i) == *x)
                }
                _ => false,
            }
        }
    }

    fn words(rng: &mut Rng, n: usize) -> Vec<u32> {
        (0..n).map(|_| rng.next() as u32).collect()
    }

    /// A random valid value for `f`.
    fn random_value(rng: &mut Rng, f: &Field) -> Value {
        match *f {
            Field::Int => Value::Int(rng.next() as u32),
            Field::Long => Value::Long(rng.next()),
            Field::Array(max) => {
                let n = rng.index(max as usize + 1);
                Value::Words(words(rng, n))
            }
            Field::LongArray(max) => {
                let n = rng.index(max as usize + 1);
                Value::Words(words(rng, 2 * n))
            }
            Field::SameCountArrays(k, max) => {
                let n = rng.index(max as usize + 1);
                Value::Words(words(rng, k as usize * n))
            }
            Field::Str(n) => {
                Value::Bytes((0..rng.index(n as usize + 1)).map(|_| 1 + rng.below(255) as u8).collect())
            }
            Field::Ool => Value::Ool(rng.next(), rng.next() as u32, rng.below(2) == 1),
            Field::OolWords => Value::Ool(rng.next(), 4 * rng.below(1 << 20) as u32, false),
            Field::OolPorts(_) => Value::OolPorts(rng.next(), rng.below(64) as u32),
            Field::Port(_) => Value::Port(rng.next() as u32),
            Field::PortArray(n, _) => {
                let len = rng.index(n as usize + 1);
                Value::Ports(words(rng, len))
            }
        }
    }

    /// The kmsg descriptors copyin would have made for a message with these fields.
    fn descriptors_for(fields: &[Field]) -> Vec<KmsgDescriptor> {
        let mut out = Vec::new();
        for (f, offset) in fields
            .iter()
            .flat_map(|f| {
                let n = match f {
                    Field::PortArray(n, _) => *n as usize,
                    Field::Port(_) | Field::Ool | Field::OolWords | Field::OolPorts(_) => 1,
                    _ => 0,
                };
                core::iter::repeat_n(f, n)
            })
            .zip(descriptor_offsets(fields))
        {
            out.push(match f {
                Field::Ool | Field::OolWords => KmsgDescriptor::Ool { offset, copy: None },
                Field::OolPorts(d) => {
                    KmsgDescriptor::OolPorts { offset, rights: Vec::new(), disposition: *d }
                }
                _ => KmsgDescriptor::Port { offset, right: MsgRight::Null },
            });
        }
        out
    }

    fn context() -> MigContext {
        MigContext { sender: SenderToken::KERNEL, charge: None }
    }

    macro_rules! parse_by_id {
        ($( ($konst:ident, $id:literal, $name:ident, $server:ident, [$($p:tt)*], [$($r:tt)*]) ),* $(,)?) => {
            /// The generated typed parse of routine `id`'s request.
            fn parse_typed(id: i32, inc: &mut Incoming<'_>) -> Result<(), KernReturn> {
                match id {
                    $($id => routines::$name::Request::parse(inc).map(drop),)*
                    _ => Err(MIG_BAD_ID),
                }
            }
        };
    }
    mach::for_each_mig_routine!(parse_by_id);

    /// What the kernel does with a request before a handler runs: find the routine, decode
    /// the body, build the typed request. On success, the decoded values.
    fn parse_request<'a>(
        id: i32,
        complex: bool,
        body: &'a [u8],
        descriptors: Vec<KmsgDescriptor>,
    ) -> Result<[Arg<'a>; MIG_MAX_FIELDS], KernReturn> {
        let routine = kernel_routine(id)?;
        let mut inc = Incoming::new(descriptors, context());
        inc.decode(routine, complex, body)?;
        let args = inc.args;
        parse_typed(id, &mut inc)?;
        Ok(args)
    }

    /// The layout of a request body with these fields and values, as the oracle of the
    /// random test sees it: where the NDR record is (if any), each field's in-line span
    /// `(field, offset, len)`, and the body's length.
    fn layout(fields: &[Field], values: &[Value]) -> (Option<usize>, Vec<(usize, usize, usize)>, usize) {
        let mut at = 0;
        if is_complex(fields) {
            at = 4;
            for f in fields {
                at += match f {
                    Field::Port(_) => 12,
                    Field::PortArray(n, _) => 12 * *n as usize,
                    Field::Ool | Field::OolWords | Field::OolPorts(_) => 16,
                    _ => 0,
                };
            }
        }
        let ndr = fields.iter().any(|f| !matches!(f, Field::Port(_) | Field::PortArray(..))).then_some(at);
        if ndr.is_some() {
            at += 8;
        }
        let mut spans = Vec::new();
        for (i, (f, v)) in fields.iter().zip(values).enumerate() {
            let len = match (f, v) {
                (Field::Int | Field::Ool | Field::OolWords | Field::OolPorts(_), _) => 4,
                (Field::Long, _) => 8,
                (Field::Array(_) | Field::LongArray(_) | Field::SameCountArrays(..), Value::Words(w)) => {
                    4 + 4 * w.len()
                }
                (Field::Str(n), _) => *n as usize,
                _ => 0,
            };
            spans.push((i, at, len));
            at += len;
        }
        (ndr, spans, at)
    }

    /// Bytes per element of a counted array's count, and its bound.
    fn counted(f: &Field) -> Option<(usize, u32)> {
        match *f {
            Field::Array(max) => Some((4, max)),
            Field::LongArray(max) => Some((8, max)),
            Field::SameCountArrays(k, max) => Some((4 * k as usize, max)),
            _ => None,
        }
    }

    #[test]
    fn random_requests_get_the_right_mig_error() {
        let kernel: Vec<&Routine> =
            defs::ALL.iter().copied().filter(|r| r.server == Server::Kernel).collect();
        let user: Vec<&Routine> = defs::ALL.iter().copied().filter(|r| r.server == Server::User).collect();
        let mut rng = Rng(0x6d69_675f_7265_7173);
        let mut outcomes = [0usize; 4];
        for round in 0..100_000 {
            let routine = rng.pick(&kernel).expect("kernel routines");
            let fields = routine.request;
            let values: Vec<Value> = fields.iter().map(|f| random_value(&mut rng, f)).collect();
            let args: Vec<Arg<'_>> = values.iter().map(Value::arg).collect();
            let mut buf = vec![0u8; 8192];
            let len = encode(fields, &args, None, &mut buf).expect("a valid request encodes");
            buf.truncate(len);
            let complex = is_complex(fields);
            let (ndr, spans, end) = layout(fields, &values);
            assert_eq!(end, len, "{} layout", routine.name);
            let mut body = buf.clone();
            let mut id = routine.id;
            let mut is_complex_bit = complex;
            let mut descriptors = descriptors_for(fields);
            // What the parser must answer for the mutation made (None: success).
            let expect: Option<KernReturn> = match rng.below(12) {
                0 | 1 => None,
                2 if len > 0 => {
                    body.truncate(len - 1 - rng.index(len));
                    Some(MIG_BAD_ARGUMENTS)
                }
                3 => {
                    for _ in 0..1 + rng.index(16) {
                        body.push(rng.next() as u8);
                    }
                    Some(MIG_BAD_ARGUMENTS)
                }
                4 => {
                    is_complex_bit = !complex;
                    Some(MIG_TYPE_ERROR)
                }
                5 if complex => {
                    let count = desc_word_at(&body, 0);
                    let other = loop {
                        let c = rng.below(40) as u32;
                        if c != count {
                            break c;
                        }
                    };
                    body[..4].copy_from_slice(&other.to_le_bytes());
                    Some(MIG_TYPE_ERROR)
                }
                6 if complex => {
                    let offsets: Vec<usize> = descriptor_offsets(fields).collect();
                    let at = offsets[rng.index(offsets.len())] + 11;
                    body[at] = loop {
                        let t = rng.next() as u8;
                        if t != body[at] {
                            break t;
                        }
                    };
                    Some(MIG_TYPE_ERROR)
                }
                7 if fields.iter().any(|f| matches!(f, Field::Ool | Field::OolWords)) => {
                    let at = ool_offset(fields) + 9;
                    body[at] = 2 + rng.below(254) as u8;
                    Some(MIG_TYPE_ERROR)
                }
                8 if fields.iter().any(|f| counted(f).is_some()) => {
                    // The last counted array: over its bound with every byte there, or a
                    // count the bytes disagree with.
                    let (i, at, span) =
                        *spans.iter().rev().find(|(i, ..)| counted(&fields[*i]).is_some()).expect("counted");
                    let (elem, max) = counted(&fields[i]).expect("counted");
                    let have = (span - 4) / elem;
                    if rng.below(2) == 0 {
                        let n = max as usize + 1 + rng.index(4);
                        let extra: Vec<u8> = (0..(n - have) * elem).map(|_| rng.next() as u8).collect();
                        body.splice(at + span..at + span, extra);
                        body[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                    } else {
                        let n = loop {
                            let n = rng.index(max as usize + 1);
                            if n != have {
                                break n;
                            }
                        };
                        body[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                    }
                    Some(MIG_BAD_ARGUMENTS)
                }
                9 if ndr.is_some() => {
                    // The kernel's MIG code reads the NDR record but converts nothing.
                    let at = ndr.expect("ndr");
                    for b in &mut body[at..at + 8] {
                        *b = rng.next() as u8;
                    }
                    None
                }
                10 => {
                    id = if rng.below(2) == 0 {
                        rng.pick(&user).expect("user routines").id
                    } else {
                        rng.next() as i32
                    };
                    kernel_routine(id).err()
                }
                11 if !descriptors.is_empty() => {
                    // The kmsg's descriptors disagree with the declaration (one too few or
                    // one too many): the typed parse refuses it.
                    if rng.below(2) == 0 {
                        descriptors.pop();
                    } else {
                        descriptors.push(KmsgDescriptor::Port { offset: 0, right: MsgRight::Null });
                    }
                    Some(MIG_TYPE_ERROR)
                }
                _ => {
                    // Junk of any length: any answer but a panic, and only MIG's errors.
                    let n = rng.index(256);
                    body = (0..n).map(|_| rng.next() as u8).collect();
                    is_complex_bit = rng.below(2) == 0;
                    let got = parse_request(id, is_complex_bit, &body, descriptors).err();
                    assert!(matches!(got, None | Some(MIG_BAD_ARGUMENTS | MIG_TYPE_ERROR)), "junk: {got:?}");
                    outcomes[3] += 1;
                    continue;
                }
            };
            match (parse_request(id, is_complex_bit, &body, descriptors), expect) {
                (Ok(got), None) => {
                    for (i, v) in values.iter().enumerate() {
                        assert!(
                            v.matches(&got[i]),
                            "round {round}: {} field {i}: {v:?} vs {:?}",
                            routine.name,
                            got[i]
                        );
                    }
                    outcomes[0] += 1;
                }
                (Err(kr), Some(want)) => {
                    assert_eq!(kr, want, "round {round}: {}", routine.name);
                    outcomes[1] += 1;
                }
                (got, want) => panic!("round {round}: {}: got {:?}, want {want:?}", routine.name, got.err()),
            }
            outcomes[2] += 1;
        }
        // Every kind of case came up often.
        assert!(outcomes.iter().all(|n| *n > 5_000), "{outcomes:?}");
    }

    fn desc_word_at(body: &[u8], at: usize) -> u32 {
        mach::message::desc_word(body, at)
    }

    /// The body offset of the first out-of-line memory descriptor of `fields`.
    fn ool_offset(fields: &[Field]) -> usize {
        let mut at = 4;
        for f in fields {
            match f {
                Field::Ool | Field::OolWords => return at,
                Field::Port(_) => at += 12,
                Field::PortArray(n, _) => at += 12 * *n as usize,
                Field::OolPorts(_) => at += 16,
                _ => {}
            }
        }
        at
    }

    /// A reply value for `f` as a handler gives it; `over` makes it exceed the field's bound.
    fn random_out(rng: &mut Rng, f: &Field, over: bool) -> (KOut, Value) {
        let extra = usize::from(over);
        match *f {
            Field::Int => {
                let v = rng.next() as u32;
                (KOut::Int(v), Value::Int(v))
            }
            Field::Long => {
                let v = rng.next();
                (KOut::Long(v), Value::Long(v))
            }
            Field::Array(max) | Field::LongArray(max) | Field::SameCountArrays(_, max) => {
                let per = match *f {
                    Field::LongArray(_) => 2,
                    Field::SameCountArrays(k, _) => k as usize,
                    _ => 1,
                };
                let n = if over { max as usize + 1 } else { rng.index(max as usize + 1) };
                let w = words(rng, per * n);
                (KOut::Words(w.clone()), Value::Words(w))
            }
            Field::Str(n) => {
                let b: Vec<u8> = (0..rng.index(n as usize + 1) + extra * n as usize).map(|_| 1).collect();
                (KOut::Bytes(b.clone()), Value::Bytes(b))
            }
            Field::Ool => {
                let size = rng.next() as u32;
                (KOut::Ool(None, size), Value::Ool(0, size, false))
            }
            Field::OolWords => {
                let size = 4 * rng.below(1 << 16) as u32;
                (KOut::Ool(None, size), Value::Ool(0, size, false))
            }
            Field::OolPorts(_) => {
                let n = rng.below(8) as u32;
                (KOut::OolPorts((0..n).map(|_| MsgRight::Null).collect()), Value::OolPorts(0, n))
            }
            Field::Port(_) => (KOut::Port(MsgRight::Null), Value::Port(0)),
            Field::PortArray(n, _) => {
                let len = if over { n as usize + 1 } else { rng.index(n as usize + 1) };
                (KOut::Ports((0..len).map(|_| MsgRight::Null).collect()), Value::Ports(vec![0; len]))
            }
        }
    }

    #[test]
    fn random_replies_encode_as_declared() {
        let kernel: Vec<&Routine> =
            defs::ALL.iter().copied().filter(|r| r.server == Server::Kernel).collect();
        let mut rng = Rng(0x7265_706c_6965_7321);
        for round in 0..20_000 {
            let routine = rng.pick(&kernel).expect("kernel routines");
            let fields = routine.reply;
            // Now and then one value over its bound: the reply is refused, not truncated.
            let over = (!fields.is_empty() && rng.below(8) == 0).then(|| rng.index(fields.len()));
            let over = over.filter(|i| {
                matches!(
                    fields[*i],
                    Field::Array(_)
                        | Field::LongArray(_)
                        | Field::SameCountArrays(..)
                        | Field::Str(_)
                        | Field::PortArray(..)
                )
            });
            let (outs, values): (Vec<KOut>, Vec<Value>) =
                fields.iter().enumerate().map(|(i, f)| random_out(&mut rng, f, over == Some(i))).unzip();
            let id = routine.id + MIG_REPLY_ID_OFFSET;
            let kmsg = kmsg_from_values(
                fields,
                id,
                outs,
                Some(KernReturn::KERN_SUCCESS),
                MsgRight::Null,
                MsgRight::Null,
            );
            let kmsg = match (kmsg, over) {
                (Err((_, kr)), Some(_)) => {
                    assert_eq!(kr, MIG_ARRAY_TOO_LARGE, "round {round}: {}", routine.name);
                    continue;
                }
                (Ok(kmsg), None) => kmsg,
                (Ok(_), Some(i)) => {
                    panic!("round {round}: {} field {i} over its bound was sent", routine.name)
                }
                (Err((_, kr)), None) => panic!("round {round}: {}: {kr:?}", routine.name),
            };
            let complex = kmsg.bits & MACH_MSGH_BITS_COMPLEX != 0;
            assert_eq!(complex, is_complex(fields));
            assert_eq!(kmsg.size as usize, MACH_MSG_HEADER_SIZE as usize + kmsg.body.len());
            assert_eq!(kmsg.descriptors.len(), descriptor_offsets(fields).count());
            for (d, offset) in kmsg.descriptors.iter().zip(descriptor_offsets(fields)) {
                let (KmsgDescriptor::Port { offset: o, .. }
                | KmsgDescriptor::Ool { offset: o, .. }
                | KmsgDescriptor::OolPorts { offset: o, .. }) = d;
                assert_eq!(*o, offset);
                let kind = u32::from(kmsg.body[offset + 11]);
                let want = match d {
                    KmsgDescriptor::Port { .. } => MACH_MSG_PORT_DESCRIPTOR,
                    KmsgDescriptor::Ool { .. } => MACH_MSG_OOL_DESCRIPTOR,
                    KmsgDescriptor::OolPorts { .. } => MACH_MSG_OOL_PORTS_DESCRIPTOR,
                };
                assert_eq!(kind, want);
            }
            let mut got = [Arg::None; MIG_MAX_FIELDS];
            assert_eq!(decode(fields, complex, true, &kmsg.body, &mut got), Ok(KernReturn::KERN_SUCCESS));
            for (i, v) in values.iter().enumerate() {
                assert!(
                    v.matches(&got[i]),
                    "round {round}: {} field {i}: {v:?} vs {:?}",
                    routine.name,
                    got[i]
                );
            }
        }
    }

    #[test]
    fn client_side_of_a_complex_reply() {
        // bootstrap_look_up's reply is one port: complex, no RetCode unless it is an error.
        use routines::bootstrap_look_up::{ROUTINE, Reply, Request};
        let request = Request { service_name: b"svc".to_vec() };
        let kmsg = request.into_kmsg(MsgRight::Null, MsgRight::Null).expect("request");
        assert_eq!((kmsg.id, kmsg.body.len()), (ROUTINE.id, 8 + 128));
        let mut args = [Arg::None; MIG_MAX_FIELDS];
        let complex = kmsg.bits & MACH_MSGH_BITS_COMPLEX != 0;
        assert_eq!(
            decode(ROUTINE.request, complex, false, &kmsg.body, &mut args),
            Ok(KernReturn::KERN_SUCCESS)
        );
        let reply_id = ROUTINE.id + MIG_REPLY_ID_OFFSET;
        let values = vec![KOut::Port(MsgRight::Null)];
        let answer = kmsg_from_values(
            ROUTINE.reply,
            reply_id,
            values,
            Some(KernReturn::KERN_SUCCESS),
            MsgRight::Null,
            MsgRight::Null,
        );
        let answer = answer.map_err(|(_, kr)| kr).expect("reply");
        assert!(matches!(Reply::from_kmsg(answer), Ok(Reply { service_port: MsgRight::Null })));
        // The server's error reply, and a complex reply that lost its descriptor.
        let unknown = KernReturn(mach::defs::bootstrap::BOOTSTRAP_UNKNOWN_SERVICE);
        let error = mig_reply_error(MsgRight::Null, ROUTINE.id, unknown);
        assert_eq!(Reply::from_kmsg(error).err(), Some(unknown));
        let values = vec![KOut::Port(MsgRight::Null)];
        let mut lost =
            kmsg_from_values(ROUTINE.reply, reply_id, values, None, MsgRight::Null, MsgRight::Null)
                .map_err(|(_, kr)| kr)
                .expect("reply");
        lost.descriptors.clear();
        assert_eq!(Reply::from_kmsg(lost).err(), Some(MIG_TYPE_ERROR));
    }

    #[test]
    fn typed_requests_read_declared_names() {
        let body = [NDR_RECORD.as_slice(), &0x1234u32.to_le_bytes()].concat();
        let mut inc = Incoming::new(Vec::new(), context());
        inc.decode(&defs::MACH_PORT_TYPE, false, &body).expect("decode");
        let req = routines::mach_port_type::Request::parse(&mut inc).expect("parse");
        assert_eq!(req.name, 0x1234);
        // A reply's values come out in declaration order.
        let reply = routines::mach_vm_region::Reply {
            object_name: MsgRight::Null,
            address: 1,
            size: 2,
            info: vec![3],
        };
        let values = reply.into_values();
        assert!(
            matches!(values.as_slice(), [KOut::Port(MsgRight::Null), KOut::Long(1), KOut::Long(2), KOut::Words(w)] if w == &[3])
        );
    }
}
