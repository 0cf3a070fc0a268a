//! The MIG client: one stub per routine of `mach::defs`, generated from the declaration the
//! kernel's servers decode with (`mach::for_each_mig_routine!`), all sending through
//! [`mig_call`]. Each routine `r` has a module `r` with its typed `Reply` (the declaration's
//! named results) and `Request` (its named parameters, as a user-space server such as the
//! bootstrap server or an exception handler receives them), both decoded by generated code;
//! the stub `r(target, params…, &mut buf)` answers `Ok(r::Reply)` or the code that stopped it.

use core::marker::PhantomData;

use ::mach::defs;
use ::mach::message::{
    MACH_MSG_HEADER_SIZE, MACH_MSG_PORT_DESCRIPTOR_SIZE, MACH_MSG_SUCCESS, MACH_MSG_TYPE_COPY_SEND,
    MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSGH_BITS_COMPLEX, MACH_RCV_MSG, MACH_SEND_MSG, MachMsgHeader,
    MachMsgTypeName, desc_word, mach_msgh_bits,
};
use ::mach::mig::{
    Arg, MIG_MAX_FIELDS, MIG_REPLY_ID_OFFSET, MIG_REPLY_MISMATCH, MIG_TYPE_ERROR, Routine, Words, decode,
    encode, is_complex,
};
use ::mach::port::MACH_PORT_RIGHT_RECEIVE;
use ::mach::{KernReturn, MachPortName};

use super::{msg, port};

/// Room for any request or reply of `mach::defs` (the largest is a thread state).
pub const MIG_BUFFER_SIZE: usize = 6 * 1024;

/// A message buffer for MIG calls.
#[repr(C, align(8))]
pub struct MigBuffer(pub [u8; MIG_BUFFER_SIZE]);

impl MigBuffer {
    pub const fn new() -> Self {
        Self([0; MIG_BUFFER_SIZE])
    }
}

impl Default for MigBuffer {
    fn default() -> Self {
        Self::new()
    }
}

/// Call `routine` on the object `target` names: send the request laid out from `args`, wait
/// for the reply on a fresh reply port (made send-once), and decode it into `out`. Returns the
/// routine's result, or the `mach_msg` error or MIG error that stopped it (as MIG stubs do).
pub fn mig_call<'b>(
    target: MachPortName,
    routine: &Routine,
    args: &[Arg<'_>],
    buf: &'b mut MigBuffer,
    out: &mut [Arg<'b>; MIG_MAX_FIELDS],
) -> KernReturn {
    let header = MACH_MSG_HEADER_SIZE as usize;
    let len = match encode(routine.request, args, None, &mut buf.0[header..]) {
        Ok(n) => n,
        Err(kr) => return kr,
    };
    let reply = port::mach_reply_port();
    let complex = if is_complex(routine.request) { MACH_MSGH_BITS_COMPLEX } else { 0 };
    let h = MachMsgHeader {
        msgh_bits: complex | mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        msgh_size: (header + len) as u32,
        msgh_remote_port: target,
        msgh_local_port: reply,
        msgh_voucher_port: 0,
        msgh_id: routine.id,
    };
    buf.0[..header].copy_from_slice(&h.to_bytes());
    // SAFETY: `buf` is MIG_BUFFER_SIZE bytes, and both sizes fit in it.
    let mr = unsafe {
        msg::mach_msg(
            buf.0.as_mut_ptr().cast(),
            MACH_SEND_MSG | MACH_RCV_MSG,
            (header + len) as u32,
            MIG_BUFFER_SIZE as u32,
            reply,
            0,
            0,
        )
    };
    let _ = port::mach_port_mod_refs(crate::mach_traps::mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
    if mr != MACH_MSG_SUCCESS {
        return KernReturn(mr);
    }
    let mut head = [0u8; 24];
    head.copy_from_slice(&buf.0[..header]);
    let got = MachMsgHeader::from_bytes(&head);
    if got.msgh_id != routine.id.wrapping_add(MIG_REPLY_ID_OFFSET) {
        return MIG_REPLY_MISMATCH;
    }
    let size = (got.msgh_size as usize).clamp(header, MIG_BUFFER_SIZE);
    let body = &buf.0[header..size];
    match decode(routine.reply, got.msgh_bits & MACH_MSGH_BITS_COMPLEX != 0, true, body, out) {
        Ok(code) => code,
        // An error reply is always simple: if the routine's reply is complex, read its code.
        Err(_) if body.len() == 12 => KernReturn(i32::from_le_bytes([body[8], body[9], body[10], body[11]])),
        Err(kr) => kr,
    }
}

/// Lay out the body of `mig_reply_error_t` (NDR record, RetCode `code`) into `out`: what a
/// server answers instead of a routine's reply when the call fails; returns its length.
pub fn encode_error_reply(code: KernReturn, out: &mut [u8]) -> Result<usize, KernReturn> {
    encode(&[], &[], Some(code), out)
}

/// A C call's result from a stub's: on success, `take` stores the reply's values.
pub(super) fn with_reply<R>(r: Result<R, KernReturn>, take: impl FnOnce(R)) -> KernReturn {
    match r {
        Ok(reply) => {
            take(reply);
            KernReturn::KERN_SUCCESS
        }
        Err(kr) => kr,
    }
}

/// A C call's result from a stub whose reply values it does not need.
pub(super) fn status<R>(r: Result<R, KernReturn>) -> KernReturn {
    r.err().unwrap_or(KernReturn::KERN_SUCCESS)
}

/// Copy the words of an array reply value into `info`, setting `count`.
pub(super) fn words_out(w: &Words<'_>, info: &mut [u32], count: &mut u32) {
    let n = w.len().min(info.len());
    for (i, slot) in info.iter_mut().take(n).enumerate() {
        *slot = w.get(i);
    }
    *count = n as u32;
}

// ---- Typed values ------------------------------------------------------------------------------

/// A port right a message carried: its name in our space and the disposition it came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRight {
    pub name: MachPortName,
    pub disposition: MachMsgTypeName,
}

/// Out-of-line memory a message carried: new in our address space (free it with
/// `mach_vm_deallocate`); `size` in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OolRegion {
    pub address: u64,
    pub size: u32,
    pub deallocate: bool,
}

/// An out-of-line array of port names a message carried, new in our address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OolPortNames {
    pub address: u64,
    pub count: u32,
    pub deallocate: bool,
}

/// The in-line port descriptors of a `PortArray` value (unused entries name no port).
#[derive(Clone, Copy, Debug)]
pub struct PortDescriptors<'b>(&'b [u8]);

impl PortDescriptors<'_> {
    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.0.len() / MACH_MSG_PORT_DESCRIPTOR_SIZE as usize
    }

    /// Are there none?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The port name of entry `i` (`MACH_PORT_NULL` past the end).
    pub fn name(&self, i: usize) -> MachPortName {
        let at = i * MACH_MSG_PORT_DESCRIPTOR_SIZE as usize;
        self.0.get(at..at + 4).map_or(0, |d| desc_word(d, 0))
    }
}

/// A typed value from one decoded field; a value of another kind is `MIG_TYPE_ERROR`.
pub trait FromArg<'b>: Sized {
    fn from_arg(a: Arg<'b>) -> Result<Self, KernReturn>;
}

impl FromArg<'_> for u32 {
    fn from_arg(a: Arg<'_>) -> Result<Self, KernReturn> {
        if let Arg::Int(v) = a { Ok(v) } else { Err(MIG_TYPE_ERROR) }
    }
}

impl FromArg<'_> for u64 {
    fn from_arg(a: Arg<'_>) -> Result<Self, KernReturn> {
        if let Arg::Long(v) = a { Ok(v) } else { Err(MIG_TYPE_ERROR) }
    }
}

impl<'b> FromArg<'b> for Words<'b> {
    fn from_arg(a: Arg<'b>) -> Result<Self, KernReturn> {
        if let Arg::Array(w) = a { Ok(w) } else { Err(MIG_TYPE_ERROR) }
    }
}

impl<'b> FromArg<'b> for &'b [u8] {
    fn from_arg(a: Arg<'b>) -> Result<Self, KernReturn> {
        if let Arg::Bytes(b) = a { Ok(b) } else { Err(MIG_TYPE_ERROR) }
    }
}

impl<'b> FromArg<'b> for PortDescriptors<'b> {
    fn from_arg(a: Arg<'b>) -> Result<Self, KernReturn> {
        if let Arg::Bytes(b) = a { Ok(PortDescriptors(b)) } else { Err(MIG_TYPE_ERROR) }
    }
}

impl FromArg<'_> for PortRight {
    fn from_arg(a: Arg<'_>) -> Result<Self, KernReturn> {
        if let Arg::Port(name, disposition) = a {
            Ok(PortRight { name, disposition })
        } else {
            Err(MIG_TYPE_ERROR)
        }
    }
}

impl FromArg<'_> for OolRegion {
    fn from_arg(a: Arg<'_>) -> Result<Self, KernReturn> {
        match a {
            Arg::Ool(address, size, deallocate) => Ok(OolRegion { address, size, deallocate }),
            _ => Err(MIG_TYPE_ERROR),
        }
    }
}

impl FromArg<'_> for OolPortNames {
    fn from_arg(a: Arg<'_>) -> Result<Self, KernReturn> {
        match a {
            Arg::OolPorts(address, count, deallocate) => Ok(OolPortNames { address, count, deallocate }),
            _ => Err(MIG_TYPE_ERROR),
        }
    }
}

// ---- Generated stubs ---------------------------------------------------------------------------

/// The Rust type a caller passes for a request field of this kind.
macro_rules! mig_param_ty {
    (Int) => {
        u32
    };
    (Long) => {
        u64
    };
    (Str $n:tt) => {
        &[u8]
    };
    (Array $n:tt) => {
        &[u32]
    };
    (LongArray $n:tt) => {
        &[u32]
    };
    (SameCountArrays $n:tt) => {
        &[u32]
    };
    (PortArray $n:tt) => {
        &[u32]
    };
    (HANDLERS) => {
        &[u32]
    };
    (HANDLER_INFO) => {
        &[u32]
    };
    // Memory of ours the kernel copies (never deallocated by the send: a safe stub may not
    // unmap its caller's memory): its address and size in bytes.
    (Ool) => {
        (u64, u32)
    };
    (OolWords) => {
        (u64, u32)
    };
    (OolPorts $n:tt) => {
        (u64, u32)
    };
    // A port: its name and the disposition to send it with (0: the routine's default).
    (Port $d:tt) => {
        (MachPortName, MachMsgTypeName)
    };
    (SEND_IN) => {
        (MachPortName, MachMsgTypeName)
    };
    (SEND_OUT) => {
        (MachPortName, MachMsgTypeName)
    };
}

/// The request value for parameter `$v` of a field kind.
macro_rules! mig_param_arg {
    ($v:ident, Int) => {
        Arg::Int($v)
    };
    ($v:ident, Long) => {
        Arg::Long($v)
    };
    ($v:ident, Str $n:tt) => {
        Arg::Bytes($v)
    };
    ($v:ident, Array $n:tt) => {
        Arg::Array(Words::Words($v))
    };
    ($v:ident, LongArray $n:tt) => {
        Arg::Array(Words::Words($v))
    };
    ($v:ident, SameCountArrays $n:tt) => {
        Arg::Array(Words::Words($v))
    };
    ($v:ident, PortArray $n:tt) => {
        Arg::Ports($v, 0)
    };
    ($v:ident, HANDLERS) => {
        Arg::Ports($v, 0)
    };
    ($v:ident, HANDLER_INFO) => {
        Arg::Array(Words::Words($v))
    };
    ($v:ident, Ool) => {
        Arg::Ool($v.0, $v.1, false)
    };
    ($v:ident, OolWords) => {
        Arg::Ool($v.0, $v.1, false)
    };
    ($v:ident, OolPorts $n:tt) => {
        Arg::OolPorts($v.0, $v.1, false)
    };
    ($v:ident, Port $d:tt) => {
        Arg::Port($v.0, $v.1)
    };
    ($v:ident, SEND_IN) => {
        Arg::Port($v.0, $v.1)
    };
    ($v:ident, SEND_OUT) => {
        Arg::Port($v.0, $v.1)
    };
}

/// The Rust type of a received value of this kind, borrowing from the message buffer `$l`.
macro_rules! mig_value_ty {
    ($l:lifetime, Int) => { u32 };
    ($l:lifetime, Long) => { u64 };
    ($l:lifetime, Str $n:tt) => { &$l [u8] };
    ($l:lifetime, Array $n:tt) => { Words<$l> };
    // Twice as many words, each element's low word first.
    ($l:lifetime, LongArray $n:tt) => { Words<$l> };
    // The arrays one after the other.
    ($l:lifetime, SameCountArrays $n:tt) => { Words<$l> };
    ($l:lifetime, HANDLER_INFO) => { Words<$l> };
    ($l:lifetime, PortArray $n:tt) => { PortDescriptors<$l> };
    ($l:lifetime, HANDLERS) => { PortDescriptors<$l> };
    ($l:lifetime, Ool) => { OolRegion };
    ($l:lifetime, OolWords) => { OolRegion };
    ($l:lifetime, OolPorts $n:tt) => { OolPortNames };
    ($l:lifetime, Port $d:tt) => { PortRight };
    ($l:lifetime, SEND_IN) => { PortRight };
    ($l:lifetime, SEND_OUT) => { PortRight };
}

macro_rules! mig_stubs {
    ($( ($konst:ident, $id:literal, $name:ident, $server:ident,
        [$($p:ident: $kind:ident $(($($karg:tt)*))?),* $(,)?],
        [$($r:ident: $rkind:ident $(($($rarg:tt)*))?),* $(,)?]) ),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` (", stringify!($id), "): its typed request and reply.")]
            pub mod $name {
                use super::*;

                /// The request's named parameters, decoded from a received request.
                #[derive(Clone, Copy, Debug)]
                pub struct Request<'b> {
                    $(pub $p: mig_value_ty!('b, $kind $(($($karg)*))?),)*
                    _message: PhantomData<&'b [u8]>,
                }

                /// The reply's named results.
                #[derive(Clone, Copy, Debug)]
                pub struct Reply<'b> {
                    $(pub $r: mig_value_ty!('b, $rkind $(($($rarg)*))?),)*
                    _message: PhantomData<&'b [u8]>,
                }

                impl<'b> Request<'b> {
                    /// Check a received request's `body` (after the header) against the
                    /// routine's layout and read its parameters.
                    pub fn decode(complex: bool, body: &'b [u8]) -> Result<Self, KernReturn> {
                        let mut out = [Arg::None; MIG_MAX_FIELDS];
                        decode(defs::$konst.request, complex, false, body, &mut out)?;
                        #[allow(unused_mut, unused_variables)]
                        let mut values = out.into_iter();
                        Ok(Self {
                            $($p: FromArg::from_arg(values.next().unwrap_or(Arg::None))?,)*
                            _message: PhantomData,
                        })
                    }
                }

                /// Lay out a successful reply's body (after the header) from its named
                /// results, as a user-space server answers; returns the body's length. The
                /// header needs `MACH_MSGH_BITS_COMPLEX` if the reply has descriptors
                /// (`is_complex` of the routine's reply fields).
                #[allow(clippy::too_many_arguments, clippy::type_complexity, unused_parens)]
                pub fn encode_reply(
                    $($r: mig_param_ty!($rkind $(($($rarg)*))?),)*
                    out: &mut [u8],
                ) -> Result<usize, KernReturn> {
                    let values: &[Arg<'_>] = &[$(mig_param_arg!($r, $rkind $(($($rarg)*))?)),*];
                    encode(defs::$konst.reply, values, Some(KernReturn::KERN_SUCCESS), out)
                }

                impl<'b> Reply<'b> {
                    /// The typed reply from the values `mig_call` decoded, in declaration order.
                    pub fn from_values(out: [Arg<'b>; MIG_MAX_FIELDS]) -> Result<Self, KernReturn> {
                        #[allow(unused_mut, unused_variables)]
                        let mut values = out.into_iter();
                        Ok(Self {
                            $($r: FromArg::from_arg(values.next().unwrap_or(Arg::None))?,)*
                            _message: PhantomData,
                        })
                    }
                }
            }

            #[doc = concat!("`", stringify!($name), "` (", stringify!($id),
                "): send the request to `target`, answer its typed reply (borrowing `buf`).")]
            #[allow(clippy::too_many_arguments, clippy::type_complexity, unused_parens)]
            pub fn $name<'b>(
                target: MachPortName,
                $($p: mig_param_ty!($kind $(($($karg)*))?),)*
                buf: &'b mut MigBuffer,
            ) -> Result<$name::Reply<'b>, KernReturn> {
                let mut out = [Arg::None; MIG_MAX_FIELDS];
                let args: &[Arg<'_>] = &[$(mig_param_arg!($p, $kind $(($($karg)*))?)),*];
                match mig_call(target, &defs::$konst, args, buf, &mut out) {
                    KernReturn::KERN_SUCCESS => $name::Reply::from_values(out),
                    kr => Err(kr),
                }
            }
        )*
    };
}

::mach::for_each_mig_routine!(mig_stubs);
