//! `mach_msg`: the message trap from user space to delivery and back (XNU `mach_msg.c`).
//!
//! One send, in order:
//! 1. [`mach_msg_overwrite_trap`] splits the options into a send and a receive;
//! 2. [`ipc_kmsg_copyin_from_user`] makes the user's message a kmsg in four steps — parse,
//!    charge, take, commit — that leave the sender as it was on any error (see `ipc_kmsg`);
//! 3. [`ipc_kmsg_send`] gives the message to the kernel if the destination is a kernel object
//!    (`ipc_kobject`), else to the port's queue (`ipc_mqueue_send`): handed straight to a
//!    waiting receiver, queued, or — queue full — the sender waits as its timeout allows. A
//!    message that cannot be delivered is returned to the sender (rights back into its space,
//!    the buffer rewritten with their names: XNU's "pseudo-receive").
//!
//! One receive: `ipc_mqueue_receive` takes a message (or waits), [`ipc_kmsg_copyout_to_user`]
//! enters its rights in the receiver's space, maps its out-of-line memory, and writes header,
//! body and the requested trailer to the receive buffer.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::offset_of;
use core::sync::atomic::AtomicUsize;

use mach::MachPortName;
use mach::message::*;
use mach::port::{MACH_PORT_NULL, MACH_PORT_TYPE_RECEIVE};

use super::ipc_kmsg::{
    CopyoutMode, IpcKmsg, IpcTask, MsgRight, SenderToken, ipc_kmsg_copyin_from_user, ipc_kmsg_copyout_to_user,
};
use super::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive, ipc_mqueue_send};
use super::ipc_pset::ipc_pset_receive;
use super::ipc_space::IpcSpace;
use crate::kern::exception::bsd_hooks;
use crate::kern::ipc_kobject::ipc_kobject_server;
use crate::kern::sched_prim::{current_thread, deadline_after_ns};
use crate::kern::task::Task;
use crate::vm::user_ptr::{UserAddr, copyin_val, copyout_val};
use crate::vm::vm_map_lock::VmMapLock;

/// Turn a millisecond timeout into how long to wait, given whether its option bit is set.
fn timeout_of(enabled: bool, ms: u32) -> IpcTimeout {
    match (enabled, ms) {
        (false, _) => IpcTimeout::Forever,
        (true, 0) => IpcTimeout::Poll,
        (true, ms) => IpcTimeout::Until(deadline_after_ns(u64::from(ms) * 1_000_000)),
    }
}

/// −31: `mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout, priority)`.
/// The priority (a sync-IPC override) is unused.
pub fn mach_msg_trap(
    msg: UserAddr,
    option: MachMsgOption,
    send_size: u32,
    rcv_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
    priority: u32,
) -> MachMsgReturn {
    mach_msg_overwrite_trap(msg, option, send_size, rcv_size, rcv_name, timeout, priority, UserAddr(0))
}

/// −32: `mach_msg_overwrite_trap(..., rcv_msg)`: as `mach_msg_trap`, receiving into `rcv_msg`
/// when it is not 0.
#[allow(clippy::too_many_arguments)]
pub fn mach_msg_overwrite_trap(
    msg: UserAddr,
    option: MachMsgOption,
    send_size: u32,
    rcv_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
    _priority: u32,
    rcv_msg: UserAddr,
) -> MachMsgReturn {
    let (msg, rcv_msg) = (msg.0, rcv_msg.0);
    let task = current_thread().task.clone();
    if option & MACH_SEND_MSG != 0 {
        let send_timeout = timeout_of(option & MACH_SEND_TIMEOUT != 0, timeout);
        let mr = mach_msg_send(&task, msg, send_size, send_timeout);
        if mr != MACH_MSG_SUCCESS {
            return mr;
        }
    }
    if option & MACH_RCV_MSG != 0 {
        let buffer = if rcv_msg != 0 { rcv_msg } else { msg };
        let rcv_timeout = timeout_of(option & MACH_RCV_TIMEOUT != 0, timeout);
        return mach_msg_receive(&task, buffer, rcv_size, rcv_name, option, rcv_timeout);
    }
    MACH_MSG_SUCCESS
}

/// −47: `mach_msg2_trap`. Each register carries two 32-bit halves, low first (reference
/// §4.9): x0 data, x1 options, x2 bits | send_size, x3 remote | local, x4 voucher | id,
/// x5 descriptor count | rcv_name, x6 rcv_size | priority, x7 timeout. The header comes from
/// the registers. A send must name exactly one call kind — `MACH64_SEND_KOBJECT_CALL` for a
/// kernel port, `MACH64_SEND_MQ_CALL` for a message queue, or `MACH64_SEND_ANY` — else
/// `MACH_SEND_INVALID_OPTIONS` (XNU also raises a guard exception; this kernel does not).
/// With `MACH64_MSG_VECTOR`, `data` points at two `mach_msg_vector_t`s (message, auxiliary);
/// auxiliary data is not supported (`MACH_SEND_INVALID_OPTIONS` if any is sent).
#[allow(clippy::too_many_arguments)]
pub fn mach_msg2_trap(
    data: u64,
    options: MachMsgOption64,
    x2: u64,
    x3: u64,
    x4: u64,
    x5: u64,
    x6: u64,
    x7: u64,
) -> MachMsgReturn {
    let lo = |x: u64| x as u32;
    let hi = |x: u64| (x >> 32) as u32;
    let task = current_thread().task.clone();
    let option = options as u32;
    let (mut msg, mut rcv_msg, mut send_size, mut rcv_size) = (data, data, hi(x2), lo(x6));
    if options & MACH64_MSG_VECTOR != 0 {
        if task.map.is_none() {
            return MACH_SEND_INVALID_DATA;
        }
        let Ok([message, aux]) = copyin_val::<[MachMsgVector; 2]>(UserAddr(data)) else {
            return MACH_SEND_INVALID_DATA;
        };
        (msg, rcv_msg, send_size, rcv_size) =
            (message.msgv_data, message.msgv_rcv_addr, message.msgv_send_size, message.msgv_rcv_size);
        if rcv_msg == 0 {
            rcv_msg = msg;
        }
        if option & MACH_SEND_MSG != 0 && aux.msgv_send_size != 0 {
            return MACH_SEND_INVALID_OPTIONS;
        }
    }
    if option & MACH_SEND_MSG != 0 {
        let kinds = [MACH64_SEND_KOBJECT_CALL, MACH64_SEND_MQ_CALL, MACH64_SEND_ANY, MACH64_SEND_DK_CALL];
        let chosen: Vec<u64> = kinds.into_iter().filter(|k| options & k != 0).collect();
        let vector_ok =
            options & MACH64_MSG_VECTOR == 0 || options & (MACH64_SEND_MQ_CALL | MACH64_SEND_ANY) != 0;
        if chosen.len() != 1 || chosen[0] == MACH64_SEND_DK_CALL || !vector_ok {
            return MACH_SEND_INVALID_OPTIONS;
        }
        let header = MachMsgHeader {
            msgh_bits: lo(x2),
            msgh_size: send_size,
            msgh_remote_port: lo(x3),
            msgh_local_port: hi(x3),
            msgh_voucher_port: lo(x4),
            msgh_id: hi(x4) as i32,
        };
        // The call kind must match the destination.
        if chosen[0] != MACH64_SEND_ANY {
            let kernel = task
                .itk_space
                .lookup(header.msgh_remote_port)
                .ok()
                .and_then(|v| v.port)
                .is_some_and(|p| p.is_kernel_receiver());
            if kernel != (chosen[0] == MACH64_SEND_KOBJECT_CALL) {
                return MACH_SEND_INVALID_OPTIONS;
            }
        }
        let timeout = timeout_of(option & MACH_SEND_TIMEOUT != 0, x7 as u32);
        let mr = mach_msg_send_with(&task, msg, send_size, Some((header, lo(x5))), timeout);
        if mr != MACH_MSG_SUCCESS {
            return mr;
        }
    }
    if option & MACH_RCV_MSG != 0 {
        let timeout = timeout_of(option & MACH_RCV_TIMEOUT != 0, x7 as u32);
        return mach_msg_receive(&task, rcv_msg, rcv_size, hi(x5), option, timeout);
    }
    MACH_MSG_SUCCESS
}

impl IpcTask for Task {
    fn space(&self) -> &IpcSpace {
        &self.itk_space
    }

    fn map(&self) -> Option<&VmMapLock> {
        self.map.as_ref()
    }

    fn kmsg_bytes(&self) -> &Arc<AtomicUsize> {
        &self.ipc_kmsg_bytes
    }

    /// The sender's identity for the trailer, from BSD (the kernel signs messages without
    /// one).
    fn sender_token(&self) -> SenderToken {
        match bsd_hooks().and_then(|h| h.audit_token(self)) {
            Some(audit) => SenderToken { security: [audit[1], audit[2]], audit },
            None => SenderToken::KERNEL,
        }
    }
}

/// Send the message at `msg` (`send_size` bytes) from `task`.
fn mach_msg_send(task: &Task, msg: u64, send_size: u32, timeout: IpcTimeout) -> MachMsgReturn {
    mach_msg_send_with(task, msg, send_size, None, timeout)
}

/// Send, with the header taken from `given` (mach_msg2's registers) instead of memory.
fn mach_msg_send_with(
    task: &Task,
    msg: u64,
    send_size: u32,
    given: Option<(MachMsgHeader, u32)>,
    timeout: IpcTimeout,
) -> MachMsgReturn {
    let kmsg = match ipc_kmsg_copyin_from_user(task, msg, send_size, given) {
        Ok(k) => k,
        Err(mr) => return mr,
    };
    match ipc_kmsg_send(kmsg, timeout) {
        Ok(()) => MACH_MSG_SUCCESS,
        Err((mr, kmsg)) => {
            // Give everything back and show the sender the names its rights have now.
            let _ = ipc_kmsg_copyout_to_user(task, kmsg, 0, msg, 0, CopyoutMode::Pseudo);
            mr
        }
    }
}

/// Deliver a message already in the kernel: to the kernel object its destination stands for,
/// or to the destination's queue. Send-once rights are never throttled by the queue limit.
#[allow(clippy::result_large_err)] // see `IpcMqueue::post`
pub fn ipc_kmsg_send(kmsg: IpcKmsg, timeout: IpcTimeout) -> Result<(), (MachMsgReturn, IpcKmsg)> {
    let Some(port) = kmsg.remote.port().cloned() else { return Err((MACH_SEND_INVALID_DEST, kmsg)) };
    if port.is_kernel_receiver() {
        if let Some(reply) = ipc_kobject_server(kmsg) {
            // Kernel replies go to a send-once right or a send right the client gave; they
            // never wait, and a reply nobody can take is destroyed.
            let _ = ipc_kmsg_send(reply, IpcTimeout::Poll);
        }
        return Ok(());
    }
    let send_once = matches!(kmsg.remote, MsgRight::SendOnce(_));
    ipc_mqueue_send(&port, kmsg, send_once, timeout)
}

/// Receive on `rcv_name` into the buffer at `buffer` of `rcv_size` bytes.
fn mach_msg_receive(
    task: &Task,
    buffer: u64,
    rcv_size: u32,
    rcv_name: u32,
    option: MachMsgOption,
    timeout: IpcTimeout,
) -> MachMsgReturn {
    if option & mach_rcv_trailer_type(0xf) != 0 {
        return MACH_RCV_INVALID_TRAILER;
    }
    let trailer_size = requested_trailer_size(option);
    let max_size = rcv_size.saturating_sub(trailer_size);
    let large = option & MACH_RCV_LARGE != 0;
    if task.map.is_none() {
        return MACH_RCV_INVALID_DATA;
    }
    // A receive right, or a port set (then the message comes from one of its members, and
    // the header's local name is that member's).
    let received = match task.itk_space.lookup_port(rcv_name, MACH_PORT_TYPE_RECEIVE) {
        Ok(port) => ipc_mqueue_receive(&port, max_size, large, timeout).map(|r| (r, rcv_name)),
        Err(_) => match task.itk_space.lookup_pset(rcv_name) {
            Ok(pset) => ipc_pset_receive(&pset, max_size, large, timeout)
                .map(|(r, port)| (r, task.itk_space.name_of(&port).unwrap_or(MACH_PORT_NULL))),
            Err(_) => return MACH_RCV_INVALID_NAME,
        },
    };
    let (received, rcv_name) = match received {
        Ok(r) => r,
        Err(mr) => return mr,
    };
    match received {
        Received::TooLarge(size) => {
            // Tell the receiver how much room the message needs; it stays queued.
            let field = |offset: usize| UserAddr(buffer.wrapping_add(offset as u64));
            let _ = copyout_val(&size, field(offset_of!(MachMsgHeader, msgh_size)));
            if option & MACH_RCV_LARGE_IDENTITY != 0 {
                let _ = copyout_val(&rcv_name, field(offset_of!(MachMsgHeader, msgh_local_port)));
            }
            MACH_RCV_TOO_LARGE
        }
        Received::Message(kmsg, _) if kmsg.size > max_size => {
            // Too large and no MACH_RCV_LARGE: the message is destroyed; the receiver sees
            // its header (with no rights in it) if the buffer can hold one.
            let header = MachMsgHeader {
                msgh_bits: kmsg.bits & MACH_MSGH_BITS_COMPLEX,
                msgh_size: kmsg.size,
                msgh_remote_port: MACH_PORT_NULL,
                msgh_local_port: rcv_name,
                msgh_voucher_port: MACH_PORT_NULL,
                msgh_id: kmsg.id,
            };
            drop(kmsg);
            if rcv_size >= MACH_MSG_HEADER_SIZE {
                let _ = copyout_val(&header, UserAddr(buffer));
            }
            MACH_RCV_TOO_LARGE
        }
        Received::Message(kmsg, seqno) => {
            ipc_kmsg_copyout_to_user(task, kmsg, seqno, buffer, trailer_size, CopyoutMode::Receive(rcv_name))
        }
    }
}
