//! `mach_msg`: the message trap from user space to delivery and back (XNU `mach_msg.c` and the
//! user-facing half of `ipc_kmsg.c`).
//!
//! One send, in order:
//! 1. [`mach_msg_overwrite_trap`] splits the options into a send and a receive;
//! 2. [`ipc_kmsg_copyin_from_user`] reads the message, checks the header and every descriptor,
//!    copies out-of-line memory in (`vm_map_copyin`), then takes every right the message
//!    names from the sender's space in one all-or-nothing step (`IpcSpace::copyin_rights`);
//!    only then are regions marked "deallocate" removed from the sender;
//! 3. [`ipc_kmsg_send`] gives the message to the kernel if the destination is a kernel object
//!    (`ipc_kobject`), else to the port's queue (`ipc_mqueue_send`): handed straight to a
//!    waiting receiver, queued, or — queue full — the sender waits as its timeout allows. A
//!    message that cannot be delivered is returned to the sender (rights back into its space,
//!    the buffer rewritten with their names: XNU's "pseudo-receive").
//!
//! One receive: `ipc_mqueue_receive` takes a message (or waits), [`ipc_kmsg_copyout_to_user`]
//! enters its rights in the receiver's space, maps its out-of-line memory, and writes header,
//! body and the requested trailer to the receive buffer.

use alloc::vec::Vec;

use mach::KernReturn;
use mach::message::*;
use mach::port::{MACH_PORT_DEAD, MACH_PORT_NULL, MACH_PORT_TYPE_RECEIVE, mach_port_valid};
use mach::vm::VM_FLAGS_ANYWHERE;

use super::ipc_kmsg::{IpcKmsg, KmsgCharge, KmsgDescriptor, MsgRight, SenderToken};
use super::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive, ipc_mqueue_send};
use super::ipc_pset::ipc_pset_receive;
use crate::arm64::copyio::{UserAddr, copyin, copyout};
use crate::kern::exception::bsd_hooks;
use crate::kern::ipc_kobject::ipc_kobject_server;
use crate::kern::sched_prim::{current_thread, deadline_after_ns};
use crate::kern::task::Task;
use crate::vm::vm_map_copy::{VmMapCopy, vm_map_copy_cost, vm_map_copyin, vm_map_copyout};
use crate::vm::vm_user;

/// The most names one OOL port array may carry: keeps the kernel's copy of the array small.
pub const MACH_MSG_OOL_PORTS_MAX: u32 = 1 << 16;

/// Turn a millisecond timeout into how long to wait, given whether its option bit is set.
fn timeout_of(enabled: bool, ms: u32) -> IpcTimeout {
    match (enabled, ms) {
        (false, _) => IpcTimeout::Forever,
        (true, 0) => IpcTimeout::Poll,
        (true, ms) => IpcTimeout::Until(deadline_after_ns(u64::from(ms) * 1_000_000)),
    }
}

fn ret(mr: MachMsgReturn) -> u64 {
    mr as u32 as u64
}

/// −31: `mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout, priority)`.
pub fn mach_msg_trap(
    msg: u64,
    option: u64,
    send_size: u64,
    rcv_size: u64,
    rcv_name: u64,
    timeout: u64,
) -> u64 {
    mach_msg_overwrite_trap(msg, option, send_size, rcv_size, rcv_name, timeout, 0)
}

/// −32: `mach_msg_overwrite_trap(..., rcv_msg)`: as `mach_msg_trap`, receiving into `rcv_msg`
/// when it is not 0.
pub fn mach_msg_overwrite_trap(
    msg: u64,
    option: u64,
    send_size: u64,
    rcv_size: u64,
    rcv_name: u64,
    timeout: u64,
    rcv_msg: u64,
) -> u64 {
    let option = option as MachMsgOption;
    let timeout = timeout as u32;
    let task = current_thread().task.clone();
    if option & MACH_SEND_MSG != 0 {
        let send_timeout = timeout_of(option & MACH_SEND_TIMEOUT != 0, timeout);
        let mr = mach_msg_send(&task, msg, send_size as u32, send_timeout);
        if mr != MACH_MSG_SUCCESS {
            return ret(mr);
        }
    }
    if option & MACH_RCV_MSG != 0 {
        let buffer = if rcv_msg != 0 { rcv_msg } else { msg };
        let rcv_timeout = timeout_of(option & MACH_RCV_TIMEOUT != 0, timeout);
        return ret(mach_msg_receive(&task, buffer, rcv_size as u32, rcv_name as u32, option, rcv_timeout));
    }
    ret(MACH_MSG_SUCCESS)
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
pub fn mach_msg2_trap(data: u64, options: u64, x2: u64, x3: u64, x4: u64, x5: u64, x6: u64, x7: u64) -> u64 {
    let lo = |x: u64| x as u32;
    let hi = |x: u64| (x >> 32) as u32;
    let task = current_thread().task.clone();
    let option = options as u32;
    let (mut msg, mut rcv_msg, mut send_size, mut rcv_size) = (data, data, hi(x2), lo(x6));
    if options & MACH64_MSG_VECTOR != 0 {
        if task.map.is_none() {
            return ret(MACH_SEND_INVALID_DATA);
        }
        let mut v = [0u8; 48];
        if copyin(UserAddr(data), &mut v).is_err() {
            return ret(MACH_SEND_INVALID_DATA);
        }
        let word = |at: usize| u32::from_le_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
        let long = |at: usize| u64::from(word(at)) | (u64::from(word(at + 4)) << 32);
        (msg, rcv_msg, send_size, rcv_size) = (long(0), long(8), word(16), word(20));
        if rcv_msg == 0 {
            rcv_msg = msg;
        }
        if option & MACH_SEND_MSG != 0 && word(40) != 0 {
            return ret(MACH_SEND_INVALID_OPTIONS);
        }
    }
    if option & MACH_SEND_MSG != 0 {
        let kinds = [MACH64_SEND_KOBJECT_CALL, MACH64_SEND_MQ_CALL, MACH64_SEND_ANY, MACH64_SEND_DK_CALL];
        let chosen: Vec<u64> = kinds.into_iter().filter(|k| options & k != 0).collect();
        let vector_ok =
            options & MACH64_MSG_VECTOR == 0 || options & (MACH64_SEND_MQ_CALL | MACH64_SEND_ANY) != 0;
        if chosen.len() != 1 || chosen[0] == MACH64_SEND_DK_CALL || !vector_ok {
            return ret(MACH_SEND_INVALID_OPTIONS);
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
                return ret(MACH_SEND_INVALID_OPTIONS);
            }
        }
        let timeout = timeout_of(option & MACH_SEND_TIMEOUT != 0, x7 as u32);
        let mr = mach_msg_send_with(&task, msg, send_size, Some((header, lo(x5))), timeout);
        if mr != MACH_MSG_SUCCESS {
            return ret(mr);
        }
    }
    if option & MACH_RCV_MSG != 0 {
        let timeout = timeout_of(option & MACH_RCV_TIMEOUT != 0, x7 as u32);
        return ret(mach_msg_receive(&task, rcv_msg, rcv_size, hi(x5), option, timeout));
    }
    ret(MACH_MSG_SUCCESS)
}

/// The sender's identity for the trailer, from BSD (the kernel signs messages without one).
fn sender_token(task: &Task) -> SenderToken {
    match bsd_hooks().and_then(|h| h.audit_token(task)) {
        Some(audit) => SenderToken { security: [audit[1], audit[2]], audit },
        None => SenderToken::KERNEL,
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

/// One descriptor as parsed from the user's message, before anything is taken.
enum UserDesc {
    Port { offset: usize, name: u32, disposition: MachMsgTypeName },
    Ool { offset: usize, address: u64, size: u32, deallocate: bool },
    OolPorts { offset: usize, address: u64, count: u32, deallocate: bool, disposition: MachMsgTypeName },
}

/// Parse the descriptors of a complex message body (everything after the header).
fn parse_descriptors(body: &[u8]) -> Result<Vec<UserDesc>, MachMsgReturn> {
    let count = body.get(0..4).map(|b| desc_word(b, 0)).ok_or(MACH_SEND_MSG_TOO_SMALL)?;
    // Each descriptor takes at least 12 bytes: a count the body cannot hold is a lie.
    if count as usize > body.len() / MACH_MSG_PORT_DESCRIPTOR_SIZE as usize {
        return Err(MACH_SEND_MSG_TOO_SMALL);
    }
    let mut descs = Vec::new();
    descs.try_reserve(count as usize).map_err(|_| MACH_SEND_NO_BUFFER)?;
    let mut offset = MACH_MSG_BODY_SIZE as usize;
    for _ in 0..count {
        let kind =
            body.get(offset + MACH_MSG_DESCRIPTOR_TYPE_OFFSET).copied().ok_or(MACH_SEND_MSG_TOO_SMALL)?;
        let size = match u32::from(kind) {
            MACH_MSG_PORT_DESCRIPTOR => MACH_MSG_PORT_DESCRIPTOR_SIZE,
            MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR | MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                MACH_MSG_OOL_DESCRIPTOR_SIZE
            }
            _ => return Err(MACH_SEND_INVALID_TYPE),
        } as usize;
        let d = body.get(offset..offset + size).ok_or(MACH_SEND_MSG_TOO_SMALL)?;
        let flags = desc_word(d, 8);
        let deallocate = flags & 0xff != 0;
        let copy = (flags >> 8) & 0xff;
        let disposition = (flags >> 16) & 0xff;
        let address = u64::from(desc_word(d, 0)) | (u64::from(desc_word(d, 4)) << 32);
        descs.push(match u32::from(kind) {
            MACH_MSG_PORT_DESCRIPTOR => {
                if !mach_msg_type_port_any(disposition) {
                    return Err(MACH_SEND_INVALID_TYPE);
                }
                UserDesc::Port { offset, name: desc_word(d, 0), disposition }
            }
            MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                let count = desc_word(d, 12);
                if !mach_msg_type_port_any(disposition) || count > MACH_MSG_OOL_PORTS_MAX {
                    return Err(MACH_SEND_INVALID_TYPE);
                }
                UserDesc::OolPorts { offset, address, count, deallocate, disposition }
            }
            _ => {
                if copy != MACH_MSG_PHYSICAL_COPY && copy != MACH_MSG_VIRTUAL_COPY {
                    return Err(MACH_SEND_INVALID_TYPE);
                }
                UserDesc::Ool { offset, address, size: desc_word(d, 12), deallocate }
            }
        });
        offset += size;
    }
    Ok(descs)
}

/// Read `count` port names from user `address` (the caller's memory).
fn copyin_names(address: u64, count: u32) -> Result<Vec<u32>, MachMsgReturn> {
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(count as usize * 4).map_err(|_| MACH_SEND_NO_BUFFER)?;
    bytes.resize(count as usize * 4, 0);
    copyin(UserAddr(address), &mut bytes).map_err(|_| MACH_SEND_INVALID_MEMORY)?;
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Read and check a message from `task`'s memory and take what it carries (see the module
/// comment). Nothing is taken from the sender unless everything can be. With `given`, the
/// header and the descriptor count come from the caller (`mach_msg2_trap`'s registers) and
/// the words in memory are ignored.
pub fn ipc_kmsg_copyin_from_user(
    task: &Task,
    msg: u64,
    send_size: u32,
    given: Option<(MachMsgHeader, u32)>,
) -> Result<IpcKmsg, MachMsgReturn> {
    if send_size < MACH_MSG_HEADER_SIZE || !send_size.is_multiple_of(4) {
        return Err(MACH_SEND_MSG_TOO_SMALL);
    }
    if send_size - MACH_MSG_HEADER_SIZE > IPC_KMSG_MAX_BODY_SPACE {
        return Err(MACH_SEND_TOO_LARGE);
    }
    let map_lock = task.map.as_ref().ok_or(MACH_SEND_INVALID_DEST)?;
    // The message's share of the kernel heap, before any of it is allocated.
    let mut charge = KmsgCharge::new(send_size as usize, &task.ipc_kmsg_bytes).ok_or(MACH_SEND_NO_BUFFER)?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(send_size as usize).map_err(|_| MACH_SEND_NO_BUFFER)?;
    bytes.resize(send_size as usize, 0);
    copyin(UserAddr(msg), &mut bytes).map_err(|_| MACH_SEND_INVALID_DATA)?;
    let mut head = [0u8; MACH_MSG_HEADER_SIZE as usize];
    head.copy_from_slice(&bytes[..MACH_MSG_HEADER_SIZE as usize]);
    let mut header = MachMsgHeader::from_bytes(&head);
    // The body is the same buffer with the header taken off the front (no second allocation
    // of a size the user chose).
    bytes.drain(..MACH_MSG_HEADER_SIZE as usize);
    let mut body = bytes;
    if let Some((regs, desc_count)) = given {
        header = regs;
        if header.msgh_bits & MACH_MSGH_BITS_COMPLEX == 0 {
            if desc_count != 0 {
                return Err(MACH_SEND_TOO_LARGE);
            }
        } else if let Some(count) = body.get_mut(0..4) {
            count.copy_from_slice(&desc_count.to_le_bytes());
        }
    }
    let bits = header.msgh_bits & MACH_MSGH_BITS_USER;

    // The header: a destination that can be sent to, a reply disposition if any.
    let dest_type = mach_msgh_bits_remote(bits);
    let reply_type = mach_msgh_bits_local(bits);
    if !mach_msg_type_port_any_send(dest_type)
        || (reply_type != MACH_MSG_TYPE_PORT_NONE && !mach_msg_type_port_any_send(reply_type))
    {
        return Err(MACH_SEND_INVALID_HEADER);
    }
    let dest = header.msgh_remote_port;
    if !mach_port_valid(dest) {
        return Err(MACH_SEND_INVALID_DEST);
    }
    let reply = if reply_type == MACH_MSG_TYPE_PORT_NONE { MACH_PORT_NULL } else { header.msgh_local_port };
    let complex = bits & MACH_MSGH_BITS_COMPLEX != 0;
    let descs = if complex { parse_descriptors(&body)? } else { Vec::new() };
    // Rights of out-of-line port arrays live in the kernel until delivery: charge them too.
    let ool_names: usize = descs
        .iter()
        .map(|d| if let UserDesc::OolPorts { count, .. } = d { *count as usize } else { 0 })
        .sum();
    if !charge.grow(ool_names * core::mem::size_of::<MsgRight>()) {
        return Err(MACH_SEND_NO_BUFFER);
    }

    // Out-of-line memory and port arrays first: reading them takes nothing from the sender.
    let mut requests = alloc::vec![(dest, dest_type), (reply, reply_type)];
    for d in &descs {
        match *d {
            UserDesc::Port { name, disposition, .. } => requests.push((name, disposition)),
            UserDesc::OolPorts { address, count, disposition, .. } => {
                for name in copyin_names(address, count)? {
                    requests.push((name, disposition));
                }
            }
            UserDesc::Ool { .. } => {}
        }
    }
    // The memory under the map's lock, which the copies of names above must not hold.
    let mut copies = Vec::new();
    {
        let mut map = map_lock.write();
        for d in &descs {
            match *d {
                UserDesc::Port { .. } | UserDesc::OolPorts { .. } => {}
                UserDesc::Ool { address, size, .. } => {
                    // A copy holds a segment per map entry of the range: charged before it is
                    // made, so a range of many small entries cannot fill the heap.
                    if !charge.grow(vm_map_copy_cost(&map, address, u64::from(size))) {
                        return Err(MACH_SEND_NO_BUFFER);
                    }
                    let copy = if size == 0 {
                        None
                    } else {
                        Some(
                            vm_map_copyin(&mut map, address, u64::from(size), false)
                                .map_err(|_| MACH_SEND_INVALID_MEMORY)?,
                        )
                    };
                    copies.push(copy);
                }
            }
        }
    }

    // Then every right, all or nothing.
    let rights = task.itk_space.copyin_rights(&requests, true).map_err(|(at, kr)| match (at, kr) {
        (0, _) | (_, KernReturn::KERN_INVALID_TASK) => MACH_SEND_INVALID_DEST,
        (1, _) => MACH_SEND_INVALID_REPLY,
        _ => MACH_SEND_INVALID_RIGHT,
    })?;
    let mut rights = rights.into_iter();
    let remote = rights.next().unwrap_or(MsgRight::Null);
    let local = rights.next().unwrap_or(MsgRight::Null);
    if !matches!(remote, MsgRight::Send(_) | MsgRight::SendOnce(_)) {
        return Err(MACH_SEND_INVALID_DEST);
    }

    // Committed: build the kernel's descriptors, then honour "deallocate".
    let mut copies = copies.into_iter();
    let mut descriptors = Vec::new();
    descriptors.try_reserve(descs.len()).map_err(|_| MACH_SEND_NO_BUFFER)?;
    let mut deallocations = Vec::new();
    for d in &descs {
        descriptors.push(match *d {
            UserDesc::Port { offset, .. } => {
                KmsgDescriptor::Port { offset, right: rights.next().unwrap_or(MsgRight::Null) }
            }
            UserDesc::OolPorts { offset, address, count, deallocate, disposition } => {
                if deallocate {
                    deallocations.push((address, u64::from(count) * 4));
                }
                KmsgDescriptor::OolPorts {
                    offset,
                    rights: rights.by_ref().take(count as usize).collect(),
                    disposition: mach_msg_type_received(disposition),
                }
            }
            UserDesc::Ool { offset, address, size, deallocate } => {
                if deallocate {
                    deallocations.push((address, u64::from(size)));
                }
                KmsgDescriptor::Ool { offset, copy: copies.next().flatten() }
            }
        });
    }
    if !deallocations.is_empty() {
        let mut map = map_lock.write();
        for (address, size) in deallocations {
            let _ = vm_user::mach_vm_deallocate(&mut map, address, size);
        }
    }
    let bits = (bits & MACH_MSGH_BITS_COMPLEX)
        | mach_msgh_bits(
            remote.received_type(),
            if reply == MACH_PORT_NULL { 0 } else { local.received_type() },
        );
    Ok(IpcKmsg {
        bits,
        size: send_size,
        remote,
        local,
        id: header.msgh_id,
        body,
        descriptors,
        sender: sender_token(task),
        charge: Some(charge),
    })
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
            let _ = copyout(&size.to_le_bytes(), UserAddr(buffer.wrapping_add(4)));
            if option & MACH_RCV_LARGE_IDENTITY != 0 {
                let _ = copyout(&rcv_name.to_le_bytes(), UserAddr(buffer.wrapping_add(12)));
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
                let _ = copyout(&header.to_bytes(), UserAddr(buffer));
            }
            MACH_RCV_TOO_LARGE
        }
        Received::Message(kmsg, seqno) => {
            ipc_kmsg_copyout_to_user(task, kmsg, seqno, buffer, trailer_size, CopyoutMode::Receive(rcv_name))
        }
    }
}

/// Whom a copyout is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CopyoutMode {
    /// A receive on the port of this name: header names swapped, trailer appended.
    Receive(u32),
    /// A failed send given back to its sender: names stay where they were, no trailer.
    Pseudo,
}

/// Out-of-line memory a received message puts into the receiver's map: a copied region, or
/// the names of a port array (already entered in the space).
enum OutOfLine {
    Copy(usize, Option<VmMapCopy>),
    Names(usize, Vec<u8>, MachMsgTypeName),
}

/// Put `kmsg` into `task`: its rights into the space, its memory into the map, its bytes (and
/// for a receive the trailer) into the buffer at `buffer`.
fn ipc_kmsg_copyout_to_user(
    task: &Task,
    kmsg: IpcKmsg,
    seqno: u32,
    buffer: u64,
    trailer_size: u32,
    mode: CopyoutMode,
) -> MachMsgReturn {
    let space = &task.itk_space;
    let Some(map_lock) = task.map.as_ref() else { return MACH_RCV_INVALID_DATA };
    let IpcKmsg { bits, size, remote, local, id, mut body, descriptors, sender, charge: _charge } = kmsg;
    let remote_type = mach_msgh_bits_remote(bits);
    let local_type = mach_msgh_bits_local(bits);
    let mut mr = MACH_MSG_SUCCESS;
    let name_of = |right: MsgRight, mr: &mut MachMsgReturn| match space.copyout_right(right) {
        Ok(name) => name,
        Err(_) => {
            *mr |= MACH_MSG_IPC_SPACE;
            MACH_PORT_DEAD
        }
    };
    let header = match mode {
        CopyoutMode::Receive(rcv_name) => {
            // The destination right was used up by the delivery; the receiver sees the reply
            // right as remote and its own port as local.
            remote.consume();
            let reply = name_of(local, &mut mr);
            if mr != MACH_MSG_SUCCESS {
                mr = MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE;
            }
            MachMsgHeader {
                msgh_bits: (bits & MACH_MSGH_BITS_COMPLEX) | mach_msgh_bits(local_type, remote_type),
                msgh_size: size,
                msgh_remote_port: reply,
                msgh_local_port: rcv_name,
                msgh_voucher_port: MACH_PORT_NULL,
                msgh_id: id,
            }
        }
        CopyoutMode::Pseudo => MachMsgHeader {
            msgh_bits: bits,
            msgh_size: size,
            msgh_remote_port: name_of(remote, &mut mr),
            msgh_local_port: name_of(local, &mut mr),
            msgh_voucher_port: MACH_PORT_NULL,
            msgh_id: id,
        },
    };
    // Rights go into the space before the map is locked: entering one can fail and release
    // it (a receive right destroys its port), and rights are released with no lock held.
    let mut body_error = MACH_MSG_SUCCESS;
    let mut memory = Vec::new();
    for d in descriptors {
        match d {
            KmsgDescriptor::Port { offset, right } => {
                let ty = right.received_type();
                let name = name_of(right, &mut body_error);
                if let Some(slot) = body.get_mut(offset..offset + 12) {
                    slot[0..4].copy_from_slice(&name.to_le_bytes());
                    slot[10] = ty as u8;
                }
            }
            KmsgDescriptor::Ool { offset, copy } => memory.push(OutOfLine::Copy(offset, copy)),
            KmsgDescriptor::OolPorts { offset, rights, disposition } => {
                let names: Vec<u8> =
                    rights.into_iter().flat_map(|r| name_of(r, &mut body_error).to_le_bytes()).collect();
                memory.push(OutOfLine::Names(offset, names, disposition));
            }
        }
    }
    // The map is locked only to enter memory; the copies run without it (they fault).
    for m in memory {
        match m {
            OutOfLine::Copy(offset, copy) => {
                let address = match copy {
                    None => 0,
                    Some(copy) => vm_map_copyout(&mut map_lock.write(), copy).unwrap_or_else(|_| {
                        body_error |= MACH_MSG_VM_SPACE;
                        0
                    }),
                };
                if let Some(slot) = body.get_mut(offset..offset + 8) {
                    slot.copy_from_slice(&address.to_le_bytes());
                }
            }
            OutOfLine::Names(offset, names, disposition) => {
                let address = if names.is_empty() {
                    0
                } else {
                    let allocated = vm_user::mach_vm_allocate(
                        &mut map_lock.write(),
                        0,
                        names.len() as u64,
                        VM_FLAGS_ANYWHERE,
                    );
                    allocated.ok().filter(|&a| copyout(&names, UserAddr(a)).is_ok()).unwrap_or_else(|| {
                        body_error |= MACH_MSG_VM_SPACE;
                        0
                    })
                };
                if let Some(slot) = body.get_mut(offset..offset + 12) {
                    slot[0..8].copy_from_slice(&address.to_le_bytes());
                    slot[10] = disposition as u8;
                }
            }
        }
    }
    let mut out = Vec::new();
    if out.try_reserve(size as usize + trailer_size as usize).is_err() {
        return MACH_RCV_INVALID_DATA;
    }
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&body);
    if let CopyoutMode::Receive(_) = mode {
        out.extend_from_slice(&sender.trailer(seqno, trailer_size));
    }
    if copyout(&out, UserAddr(buffer)).is_err() {
        return MACH_RCV_INVALID_DATA;
    }
    if mr != MACH_MSG_SUCCESS {
        mr
    } else if body_error != MACH_MSG_SUCCESS {
        MACH_RCV_BODY_ERROR | body_error
    } else {
        MACH_MSG_SUCCESS
    }
}
