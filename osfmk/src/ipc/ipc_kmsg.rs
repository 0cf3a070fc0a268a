//! `ipc_kmsg`: a message in the kernel — the rights and memory it carries between a send and a
//! receive, and the bytes of its body — and the two crossings of the user boundary: a user
//! message becoming one ([`ipc_kmsg_copyin_from_user`]) and one becoming a user message
//! ([`ipc_kmsg_copyout_to_user`]).
//!
//! A kernel message owns everything it carries: each port right is a counted value
//! ([`MsgRight`]), each out-of-line region a `VmMapCopy`. So destroying a message — a receiver
//! that could not take it, a port that died with it queued — is just dropping it, and nothing
//! can leak or be released twice.
//!
//! The body keeps the user's bytes (descriptors included, in their LP64 user layout); what the
//! descriptors carry is held beside it in [`IpcKmsg::descriptors`], and the descriptor bytes are
//! rewritten for the receiver (names, addresses) when the message is copied out.
//!
//! # Copyin, in four steps
//!
//! 1. **parse** ([`ipc_kmsg_parse`]): the header and every descriptor, from the user's bytes
//!    into a checked [`UserMsg`] — dispositions, descriptor types and sizes, copy options,
//!    array lengths. No side effects: a pure function of the bytes, which is what the
//!    randomized host tests hammer.
//! 2. **charge** (`kern::budget`): the message's bytes against the sender's budget — first of
//!    all, before the kernel allocates a buffer to read them into — then, once parsed, the
//!    rights its port arrays will hold ([`ipc_kmsg_charge`]). Each out-of-line copy is
//!    charged as it is made in step 3 (its cost depends on the map entries it spans, read
//!    under the lock the copy is made under).
//! 3. **take** ([`ipc_kmsg_take`]): the names of port arrays and the out-of-line memory
//!    (`vm_map_copyin`: nothing is taken from the sender yet), then every right, all or
//!    nothing (`IpcSpace::copyin_rights`).
//! 4. **commit** ([`ipc_kmsg_commit`]): cannot fail. The kmsg is built, then the regions
//!    marked "deallocate" leave the sender. `mach_msg` then queues it (`ipc_kmsg_send`).
//!
//! An error at any step leaves the sender as it was: the charge is given back when it drops,
//! the copies are discarded, and no right has been taken (step 3 takes them last, at once).
//!
//! # The seam
//!
//! Copyin and copyout reach the task through [`IpcTask`] (its space, its map, its budget, its
//! identity: `kern::task::Task` on the target, a stand-in in host tests) and user memory
//! through `vm::user_ptr` (the arm64 copy routines on the target, the simulated address space
//! on the host). The user memory is the current address space's, so the task must be the
//! current one.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::AtomicUsize;

use mach::KernReturn;
use mach::message::*;
use mach::port::{MACH_PORT_DEAD, MACH_PORT_NULL, MachPortName, mach_port_valid};
use mach::vm::VM_FLAGS_ANYWHERE;
use zerocopy::{FromBytes, IntoBytes};

use super::ipc_port::{PortRef, ReceiveRight, SendOnceRight, SendRight};
use super::ipc_space::IpcSpace;
pub use crate::kern::budget::KmsgCharge;
use crate::vm::user_ptr::UserSlice;
use crate::vm::vm_map::VmMap;
use crate::vm::vm_map_copy::{VmMapCopy, vm_map_copy_cost, vm_map_copyin, vm_map_copyout};
use crate::vm::vm_map_lock::VmMapLock;
use crate::vm::vm_user;

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
        let trailer = MachMsgMacTrailer {
            msgh_trailer_type: MACH_MSG_TRAILER_FORMAT_0,
            msgh_trailer_size: trailer_size,
            msgh_seqno: seqno,
            msgh_sender: self.security,
            msgh_audit: self.audit,
            ..Default::default()
        };
        let bytes = trailer.as_bytes();
        bytes[..bytes.len().min(trailer_size as usize)].to_vec()
    }
}

// ---- The task a message comes from or goes to (the seam) ---------------------------------

/// What copyin and copyout need of a task (XNU hands them the space and the map): its name
/// space, its address space, the budget its messages in flight are charged to, and who it is
/// for the trailer. `kern::task::Task` implements it on the target; host tests, a stand-in.
pub trait IpcTask {
    /// The port name space (`itk_space`).
    fn space(&self) -> &IpcSpace;
    /// The address space; None for a task without one (the kernel task).
    fn map(&self) -> Option<&VmMapLock>;
    /// Kernel heap bytes held by the messages it sent that are still in flight.
    fn kmsg_bytes(&self) -> &Arc<AtomicUsize>;
    /// Its identity as the receiver's trailer shows it.
    fn sender_token(&self) -> SenderToken;
}

/// The most names one OOL port array may carry: keeps the kernel's copy of the array small.
pub const MACH_MSG_OOL_PORTS_MAX: u32 = 1 << 16;
/// The most rights one message may carry in all (port descriptors and every port array's
/// names): the sender's space takes them out under one hold of its lock, so this bounds how
/// long a send keeps that lock (and preemption off). More is `MACH_SEND_TOO_LARGE`.
pub const MACH_MSG_RIGHTS_MAX: u64 = 1 << 16;

// ---- Step 1: parse -------------------------------------------------------------------------

/// One descriptor as the sender wrote it, checked, before anything is taken. `offset` is where
/// its bytes sit in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserDesc {
    Port { offset: usize, name: u32, disposition: MachMsgTypeName },
    Ool { offset: usize, address: u64, size: u32, deallocate: bool },
    OolPorts { offset: usize, address: u64, count: u32, deallocate: bool, disposition: MachMsgTypeName },
}

/// A user message, parsed and checked: what the header asks for and what each descriptor
/// carries. Nothing has been taken, charged or allocated for it beyond this value.
#[derive(Debug, PartialEq, Eq)]
pub struct UserMsg {
    /// The header, its bits cut to `MACH_MSGH_BITS_USER`.
    pub header: MachMsgHeader,
    /// The destination's disposition (a send or send-once one).
    pub dest_type: MachMsgTypeName,
    /// The reply's disposition, `MACH_MSG_TYPE_PORT_NONE` for none.
    pub reply_type: MachMsgTypeName,
    /// The reply port's name, `MACH_PORT_NULL` without a reply disposition.
    pub reply: u32,
    /// The descriptor count to write into the body (`mach_msg2` gives it in a register).
    pub count_override: Option<u32>,
    pub descs: Vec<UserDesc>,
}

impl UserDesc {
    /// Whether the sender asked for the region (or the name array) to leave its map.
    pub fn deallocates(&self) -> bool {
        matches!(self, UserDesc::Ool { deallocate: true, .. } | UserDesc::OolPorts { deallocate: true, .. })
    }
}

impl UserMsg {
    /// How many names the message's OOL port arrays hold together.
    pub fn ool_port_names(&self) -> usize {
        self.descs
            .iter()
            .map(|d| if let UserDesc::OolPorts { count, .. } = d { *count as usize } else { 0 })
            .fold(0, usize::saturating_add)
    }

    /// How many rights the message asks for: destination, reply, port descriptors and the
    /// names of port arrays.
    pub fn right_requests(&self) -> usize {
        let ports = self.descs.iter().filter(|d| matches!(d, UserDesc::Port { .. })).count();
        2usize.saturating_add(ports).saturating_add(self.ool_port_names())
    }
}

/// Check the size `mach_msg` was given for the message (reference §4.1): a whole header at
/// least, a multiple of 4, a body within `IPC_KMSG_MAX_BODY_SPACE`.
pub fn ipc_kmsg_check_size(send_size: u32) -> Result<usize, MachMsgReturn> {
    if send_size < MACH_MSG_HEADER_SIZE || !send_size.is_multiple_of(4) {
        return Err(MACH_SEND_MSG_TOO_SMALL);
    }
    if send_size - MACH_MSG_HEADER_SIZE > IPC_KMSG_MAX_BODY_SPACE {
        return Err(MACH_SEND_TOO_LARGE);
    }
    Ok(send_size as usize)
}

/// A `T` at `offset` of `bytes`, or `error` if it runs past their end.
fn read_at<T: FromBytes>(bytes: &[u8], offset: usize, error: MachMsgReturn) -> Result<T, MachMsgReturn> {
    let rest = bytes.get(offset..).ok_or(error)?;
    T::read_from_prefix(rest).map(|(value, _)| value).map_err(|_| error)
}

/// Parse a message — `message` is its `send_size` bytes, header first — into a [`UserMsg`].
/// With `given`, the header and the descriptor count come from the caller (`mach_msg2_trap`'s
/// registers) and those words in memory are ignored. No side effects.
pub fn ipc_kmsg_parse(message: &[u8], given: Option<(MachMsgHeader, u32)>) -> Result<UserMsg, MachMsgReturn> {
    let mut header: MachMsgHeader = read_at(message, 0, MACH_SEND_MSG_TOO_SMALL)?;
    let body = &message[size_of::<MachMsgHeader>()..];
    let mut count_override = None;
    let mut count = None;
    if let Some((regs, desc_count)) = given {
        header = regs;
        if header.msgh_bits & MACH_MSGH_BITS_COMPLEX == 0 {
            if desc_count != 0 {
                return Err(MACH_SEND_TOO_LARGE);
            }
        } else if body.len() >= size_of::<MachMsgBody>() {
            count_override = Some(desc_count);
            count = Some(desc_count);
        }
    }
    header.msgh_bits &= MACH_MSGH_BITS_USER;
    let bits = header.msgh_bits;

    // The header: a destination that can be sent to, a reply disposition if any.
    let dest_type = mach_msgh_bits_remote(bits);
    let reply_type = mach_msgh_bits_local(bits);
    if !mach_msg_type_port_any_send(dest_type)
        || (reply_type != MACH_MSG_TYPE_PORT_NONE && !mach_msg_type_port_any_send(reply_type))
    {
        return Err(MACH_SEND_INVALID_HEADER);
    }
    if !mach_port_valid(header.msgh_remote_port) {
        return Err(MACH_SEND_INVALID_DEST);
    }
    let reply = if reply_type == MACH_MSG_TYPE_PORT_NONE { MACH_PORT_NULL } else { header.msgh_local_port };
    let descs = if bits & MACH_MSGH_BITS_COMPLEX != 0 { parse_descriptors(body, count)? } else { Vec::new() };
    Ok(UserMsg { header, dest_type, reply_type, reply, count_override, descs })
}

/// Parse the descriptors of a complex message's `body` (everything after the header); the
/// count is the body's first word unless `count` overrides it.
fn parse_descriptors(body: &[u8], count: Option<u32>) -> Result<Vec<UserDesc>, MachMsgReturn> {
    let stored: MachMsgBody = read_at(body, 0, MACH_SEND_MSG_TOO_SMALL)?;
    let count = count.unwrap_or(stored.msgh_descriptor_count);
    // Each descriptor takes at least 12 bytes: a count the body cannot hold is a lie.
    if count as usize > body.len() / MACH_MSG_PORT_DESCRIPTOR_SIZE as usize {
        return Err(MACH_SEND_MSG_TOO_SMALL);
    }
    let mut descs = Vec::new();
    descs.try_reserve(count as usize).map_err(|_| MACH_SEND_NO_BUFFER)?;
    let mut offset = size_of::<MachMsgBody>();
    let mut rights: u64 = 0;
    for _ in 0..count {
        let kind: MachMsgTypeDescriptor = read_at(body, offset, MACH_SEND_MSG_TOO_SMALL)?;
        let (desc, size) = match u32::from(kind.type_) {
            MACH_MSG_PORT_DESCRIPTOR => {
                let d: MachMsgPortDescriptor = read_at(body, offset, MACH_SEND_MSG_TOO_SMALL)?;
                let disposition = MachMsgTypeName::from(d.disposition);
                if !mach_msg_type_port_any(disposition) {
                    return Err(MACH_SEND_INVALID_TYPE);
                }
                (UserDesc::Port { offset, name: d.name, disposition }, size_of_val(&d))
            }
            MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                let d: MachMsgOolPortsDescriptor64 = read_at(body, offset, MACH_SEND_MSG_TOO_SMALL)?;
                let disposition = MachMsgTypeName::from(d.disposition);
                if !mach_msg_type_port_any(disposition) || d.count > MACH_MSG_OOL_PORTS_MAX {
                    return Err(MACH_SEND_INVALID_TYPE);
                }
                let (address, count, deallocate) = (d.address, d.count, d.deallocate != 0);
                (UserDesc::OolPorts { offset, address, count, deallocate, disposition }, size_of_val(&d))
            }
            MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR => {
                let d: MachMsgOolDescriptor64 = read_at(body, offset, MACH_SEND_MSG_TOO_SMALL)?;
                let copy = u32::from(d.copy);
                if copy != MACH_MSG_PHYSICAL_COPY && copy != MACH_MSG_VIRTUAL_COPY {
                    return Err(MACH_SEND_INVALID_TYPE);
                }
                let (address, size, deallocate) = (d.address, d.size, d.deallocate != 0);
                (UserDesc::Ool { offset, address, size, deallocate }, size_of_val(&d))
            }
            _ => return Err(MACH_SEND_INVALID_TYPE),
        };
        rights += match desc {
            UserDesc::Port { .. } => 1,
            UserDesc::OolPorts { count, .. } => u64::from(count),
            UserDesc::Ool { .. } => 0,
        };
        if rights > MACH_MSG_RIGHTS_MAX {
            return Err(MACH_SEND_TOO_LARGE);
        }
        descs.push(desc);
        offset += size;
    }
    Ok(descs)
}

// ---- Step 2: charge ------------------------------------------------------------------------

/// Charge what the parsed message will hold of the kernel heap beyond its bytes (already in
/// `charge`): the rights of its port arrays, which live in the kernel until delivery.
pub fn ipc_kmsg_charge(msg: &UserMsg, charge: &mut KmsgCharge) -> Result<(), MachMsgReturn> {
    let rights = msg.ool_port_names().saturating_mul(size_of::<MsgRight>());
    if charge.grow(rights) { Ok(()) } else { Err(MACH_SEND_NO_BUFFER) }
}

// ---- Step 3: take --------------------------------------------------------------------------

/// What step 3 took from the sender: its out-of-line memory (one entry per OOL descriptor,
/// `None` for an empty range) and its rights, in request order (destination, reply, then the
/// body's in descriptor order), with room for what commit builds. Dropping it releases them.
pub struct Taken {
    copies: Vec<Option<VmMapCopy>>,
    rights: Vec<MsgRight>,
    descriptors: Vec<KmsgDescriptor>,
    deallocations: Vec<(u64, u64)>,
}

/// Read the `count` port names of an OOL port array at `address` in the sender's memory into
/// `into`, each with the array's `disposition`.
fn copyin_names(
    address: u64,
    count: u32,
    into: &mut Vec<(MachPortName, MachMsgTypeName)>,
    disposition: MachMsgTypeName,
) -> Result<(), MachMsgReturn> {
    let mut names: Vec<MachPortName> = Vec::new();
    names.try_reserve_exact(count as usize).map_err(|_| MACH_SEND_NO_BUFFER)?;
    names.resize(count as usize, 0);
    let array = UserSlice::new(address, names.as_bytes().len()).map_err(|_| MACH_SEND_INVALID_MEMORY)?;
    array.read_at(0, names.as_mut_bytes()).map_err(|_| MACH_SEND_INVALID_MEMORY)?;
    into.extend(names.into_iter().map(|name| (name, disposition)));
    Ok(())
}

/// Copy the message's out-of-line regions out of `map`, each charged before it is made: a
/// copy holds a segment per map entry of its range, so a range of many small entries cannot
/// fill the heap.
fn copyin_memory(
    msg: &UserMsg,
    map: &mut VmMap,
    charge: &mut KmsgCharge,
) -> Result<Vec<Option<VmMapCopy>>, MachMsgReturn> {
    let regions = msg.descs.iter().filter(|d| matches!(d, UserDesc::Ool { .. })).count();
    let mut copies = Vec::new();
    copies.try_reserve_exact(regions).map_err(|_| MACH_SEND_NO_BUFFER)?;
    for d in &msg.descs {
        let UserDesc::Ool { address, size, .. } = *d else { continue };
        if !charge.grow(vm_map_copy_cost(map, address, u64::from(size))) {
            return Err(MACH_SEND_NO_BUFFER);
        }
        let copy = if size == 0 {
            None
        } else {
            Some(vm_map_copyin(map, address, u64::from(size), false).map_err(|_| MACH_SEND_INVALID_MEMORY)?)
        };
        copies.push(copy);
    }
    Ok(copies)
}

/// Take what the message carries from `task`: first what taking leaves the sender unchanged
/// by — the names of port arrays (read from its memory), copies of its out-of-line memory —
/// then every right at once. On an error nothing has been taken.
pub fn ipc_kmsg_take(
    task: &impl IpcTask,
    msg: &UserMsg,
    charge: &mut KmsgCharge,
) -> Result<Taken, MachMsgReturn> {
    let map_lock = task.map().ok_or(MACH_SEND_INVALID_DEST)?;
    let mut requests = Vec::new();
    requests.try_reserve_exact(msg.right_requests()).map_err(|_| MACH_SEND_NO_BUFFER)?;
    requests.push((msg.header.msgh_remote_port, msg.dest_type));
    requests.push((msg.reply, msg.reply_type));
    // The names before the map is locked: reading user memory may fault, which takes it.
    for d in &msg.descs {
        match *d {
            UserDesc::Port { name, disposition, .. } => requests.push((name, disposition)),
            UserDesc::OolPorts { address, count, disposition, .. } => {
                copyin_names(address, count, &mut requests, disposition)?;
            }
            UserDesc::Ool { .. } => {}
        }
    }
    let copies = copyin_memory(msg, &mut map_lock.write(), charge)?;
    let (mut descriptors, mut deallocations) = (Vec::new(), Vec::new());
    descriptors.try_reserve_exact(msg.descs.len()).map_err(|_| MACH_SEND_NO_BUFFER)?;
    let doomed = msg.descs.iter().filter(|d| d.deallocates()).count();
    deallocations.try_reserve_exact(doomed).map_err(|_| MACH_SEND_NO_BUFFER)?;
    let rights = task.space().copyin_rights(&requests, true).map_err(|(at, kr)| match (at, kr) {
        (0, _) | (_, KernReturn::KERN_INVALID_TASK) => MACH_SEND_INVALID_DEST,
        (1, _) => MACH_SEND_INVALID_REPLY,
        _ => MACH_SEND_INVALID_RIGHT,
    })?;
    Ok(Taken { copies, rights, descriptors, deallocations })
}

// ---- Step 4: commit ------------------------------------------------------------------------

/// Build the kmsg from what was parsed, charged and taken; then remove the regions marked
/// "deallocate" from the sender. Cannot fail: everything that could was done before.
pub fn ipc_kmsg_commit(
    task: &impl IpcTask,
    msg: UserMsg,
    mut body: Vec<u8>,
    taken: Taken,
    charge: KmsgCharge,
) -> IpcKmsg {
    if let (Some(count), Some(slot)) = (msg.count_override, body.get_mut(..size_of::<MachMsgBody>())) {
        slot.copy_from_slice(MachMsgBody { msgh_descriptor_count: count }.as_bytes());
    }
    let mut rights = taken.rights.into_iter();
    // `copyin_rights` refuses a destination that is not a send or send-once right.
    let remote = rights.next().unwrap_or(MsgRight::Null);
    let local = rights.next().unwrap_or(MsgRight::Null);
    let mut copies = taken.copies.into_iter();
    let (mut descriptors, mut deallocations) = (taken.descriptors, taken.deallocations);
    for d in &msg.descs {
        descriptors.push(match *d {
            UserDesc::Port { offset, .. } => {
                KmsgDescriptor::Port { offset, right: rights.next().unwrap_or(MsgRight::Null) }
            }
            UserDesc::OolPorts { offset, address, count, deallocate, disposition } => {
                if deallocate {
                    deallocations.push((address, u64::from(count) * size_of::<MachPortName>() as u64));
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
    if !deallocations.is_empty()
        && let Some(map_lock) = task.map()
    {
        let mut map = map_lock.write();
        for (address, size) in deallocations {
            let _ = vm_user::mach_vm_deallocate(&mut map, address, size);
        }
    }
    let bits = (msg.header.msgh_bits & MACH_MSGH_BITS_COMPLEX)
        | mach_msgh_bits(
            remote.received_type(),
            if msg.reply == MACH_PORT_NULL { 0 } else { local.received_type() },
        );
    let size = (size_of::<MachMsgHeader>() + body.len()) as u32;
    IpcKmsg {
        bits,
        size,
        remote,
        local,
        id: msg.header.msgh_id,
        body,
        descriptors,
        sender: task.sender_token(),
        charge: Some(charge),
    }
}

/// Read the message of `send_size` bytes at user address `msg` from `task` (the current task)
/// and make it a kmsg: parse, charge, take, commit (see the module comment). With `given`,
/// header and descriptor count come from the caller (`mach_msg2_trap`'s registers). On an
/// error the sender is left as it was.
pub fn ipc_kmsg_copyin_from_user(
    task: &impl IpcTask,
    msg: u64,
    send_size: u32,
    given: Option<(MachMsgHeader, u32)>,
) -> Result<IpcKmsg, MachMsgReturn> {
    let size = ipc_kmsg_check_size(send_size)?;
    if task.map().is_none() {
        return Err(MACH_SEND_INVALID_DEST);
    }
    // The message's share of the kernel heap, before any of it is allocated.
    let mut charge = KmsgCharge::new(size, task.kmsg_bytes()).ok_or(MACH_SEND_NO_BUFFER)?;
    let user = UserSlice::new(msg, size).map_err(|_| MACH_SEND_INVALID_DATA)?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size).map_err(|_| MACH_SEND_NO_BUFFER)?;
    bytes.resize(size, 0);
    user.read_at(0, &mut bytes).map_err(|_| MACH_SEND_INVALID_DATA)?;
    let parsed = ipc_kmsg_parse(&bytes, given)?;
    ipc_kmsg_charge(&parsed, &mut charge)?;
    let taken = ipc_kmsg_take(task, &parsed, &mut charge)?;
    // The body is the same buffer with the header taken off the front (no second allocation
    // of a size the user chose).
    bytes.drain(..size_of::<MachMsgHeader>());
    Ok(ipc_kmsg_commit(task, parsed, bytes, taken, charge))
}

// ---- Copyout ---------------------------------------------------------------------------------

/// Whom a copyout is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyoutMode {
    /// A receive on the port of this name: header names swapped, trailer appended.
    Receive(u32),
    /// A failed send given back to its sender: names stay where they were, no trailer.
    Pseudo,
}

/// Out-of-line memory a received message puts into the receiver's map: a copied region, or
/// the names of a port array (already entered in the space).
enum OutOfLine {
    Copy(usize, Option<VmMapCopy>),
    Names(usize, Vec<u32>, MachMsgTypeName),
}

/// Rewrite the `T` descriptor at `offset` of `body` with `f` (a descriptor the body cannot
/// hold is left alone: the kernel's own messages are built to fit).
fn rewrite<T: FromBytes + IntoBytes + zerocopy::Immutable>(
    body: &mut [u8],
    offset: usize,
    f: impl FnOnce(&mut T),
) {
    if let Some(slot) = body.get_mut(offset..)
        && let Ok((mut d, _)) = T::read_from_prefix(slot)
    {
        f(&mut d);
        let _ = d.write_to_prefix(slot);
    }
}

/// Put `kmsg` into `task` (the current task): its rights into the space, its memory into the
/// map, its bytes (and for a receive the `trailer_size` bytes of trailer) into the buffer at
/// user address `buffer`.
pub fn ipc_kmsg_copyout_to_user(
    task: &impl IpcTask,
    kmsg: IpcKmsg,
    seqno: u32,
    buffer: u64,
    trailer_size: u32,
    mode: CopyoutMode,
) -> MachMsgReturn {
    let space = task.space();
    let Some(map_lock) = task.map() else { return MACH_RCV_INVALID_DATA };
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
                rewrite(&mut body, offset, |d: &mut MachMsgPortDescriptor| {
                    d.name = name;
                    d.disposition = ty as u8;
                });
            }
            KmsgDescriptor::Ool { offset, copy } => memory.push(OutOfLine::Copy(offset, copy)),
            KmsgDescriptor::OolPorts { offset, rights, disposition } => {
                let names: Vec<u32> = rights.into_iter().map(|r| name_of(r, &mut body_error)).collect();
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
                rewrite(&mut body, offset, |d: &mut MachMsgOolDescriptor64| d.address = address);
            }
            OutOfLine::Names(offset, names, disposition) => {
                let bytes = names.as_bytes();
                let address = if bytes.is_empty() {
                    0
                } else {
                    let allocated = vm_user::mach_vm_allocate(
                        &mut map_lock.write(),
                        0,
                        bytes.len() as u64,
                        VM_FLAGS_ANYWHERE,
                    );
                    allocated
                        .ok()
                        .filter(|&a| {
                            UserSlice::new(a, bytes.len()).and_then(|s| s.write_at(0, bytes)).is_ok()
                        })
                        .unwrap_or_else(|| {
                            body_error |= MACH_MSG_VM_SPACE;
                            0
                        })
                };
                rewrite(&mut body, offset, |d: &mut MachMsgOolPortsDescriptor64| {
                    d.address = address;
                    d.disposition = disposition as u8;
                });
            }
        }
    }
    let mut out = Vec::new();
    if out.try_reserve(size as usize + trailer_size as usize).is_err() {
        return MACH_RCV_INVALID_DATA;
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    if let CopyoutMode::Receive(_) = mode {
        out.extend_from_slice(&sender.trailer(seqno, trailer_size));
    }
    if UserSlice::new(buffer, out.len()).and_then(|s| s.write_at(0, &out)).is_err() {
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
