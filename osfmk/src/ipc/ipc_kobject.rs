//! `ipc_kobject`: messages sent to ports the kernel receives on. The kernel serves each request
//! at once, in the sender's thread (XNU `ipc_kobject_server`): it finds the object behind the
//! destination port, runs the MIG routine the message id names, and builds the reply —
//! id + 100, sent to the reply right the request carried. An id no server knows gets a
//! `mig_reply_error_t` with `MIG_BAD_ID`.

use alloc::vec::Vec;

use mach::KernReturn;
use mach::mig::{MIG_BAD_ID, MIG_REPLY_ERROR_SIZE, MIG_REPLY_ID_OFFSET, NDR_RECORD};

use super::ipc_kmsg::{IpcKmsg, MsgRight, SenderToken};

/// Serve `request`; the reply to send, if the request asked for one. The request (and every
/// right and region it carried that the routine did not keep) is destroyed here.
pub fn ipc_kobject_server(request: IpcKmsg) -> Option<IpcKmsg> {
    let IpcKmsg { local: reply_right, id, .. } = request;
    if matches!(reply_right, MsgRight::Null | MsgRight::Dead) {
        return None;
    }
    Some(mig_reply_error(reply_right, id, MIG_BAD_ID))
}

/// A `mig_reply_error_t`: the header, the NDR record and `code`.
pub fn mig_reply_error(reply: MsgRight, request_id: i32, code: KernReturn) -> IpcKmsg {
    let mut body = Vec::with_capacity(12);
    body.extend_from_slice(&NDR_RECORD);
    body.extend_from_slice(&code.0.to_le_bytes());
    IpcKmsg {
        bits: mach::message::mach_msgh_bits(reply.received_type(), 0),
        size: MIG_REPLY_ERROR_SIZE,
        remote: reply,
        local: MsgRight::Null,
        id: request_id.wrapping_add(MIG_REPLY_ID_OFFSET),
        body,
        descriptors: Vec::new(),
        sender: SenderToken::KERNEL,
    }
}
