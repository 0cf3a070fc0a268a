//! `mach_msg` from user space (issue M1.5): simple and complex messages within one task,
//! rights moving in descriptors, out-of-line memory, trailers, timeouts, the queue limit,
//! RCV_LARGE, and XNU's codes for every kind of bad message.

use libsys::Args;
use libsys::mach::{
    MsgBuf, mach_msg, mach_port_allocate, mach_port_mod_refs, mach_port_type, mach_reply_port,
};
use libsys::mach_traps::mach_task_self;
use libsys::syscall::getpid;
use mach::message::*;
use mach::port::*;
use mach::{KernReturn, MachPortName};

use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("mach_msg: a simple message to ourselves, with trailer", simple_round_trip),
    ("mach_msg: rights in the header and in port descriptors", rights_in_messages),
    ("mach_msg: out-of-line memory, copied and deallocated", out_of_line_memory),
    ("mach_msg: timeouts, the queue limit, send-once past it", timeouts_and_queue_limit),
    ("mach_msg: RCV_LARGE and too-large messages", too_large),
    ("mach_msg: bad messages get XNU's codes and take nothing", bad_messages),
    ("port sets: members, receiving from the set, waking a waiter, leaving", port_sets),
    ("mach_msg2_trap: header in registers, call kinds, the vector form", mach_msg2_form),
    ("mach_port_construct / destruct / get_attributes traps", construct_destruct),
    ("a sender blocks on a full queue until a receive makes room", sender_blocks_until_room),
    ("a task flooding queues gets MACH_SEND_NO_BUFFER at its budget", flood_gets_no_buffer),
];

pub(crate) fn task() -> MachPortName {
    mach_task_self()
}

pub(crate) fn new_port() -> Result<MachPortName, &'static str> {
    let mut name = 0;
    let kr = mach_port_allocate(task(), MACH_PORT_RIGHT_RECEIVE, &mut name);
    check(kr == KernReturn::KERN_SUCCESS, "mach_port_allocate")?;
    Ok(name)
}

pub(crate) fn drop_port(name: MachPortName) {
    let _ = mach_port_mod_refs(task(), name, MACH_PORT_RIGHT_RECEIVE, -1);
}

pub(crate) fn type_of(name: MachPortName) -> MachPortType {
    let mut ty = 0;
    if mach_port_type(task(), name, &mut ty) == KernReturn::KERN_SUCCESS { ty } else { 0 }
}

pub(crate) use libsys::mach::simple_header as simple;

/// Poll `name` once: the message's id, or the code.
fn poll_id(name: MachPortName) -> Result<i32, MachMsgReturn> {
    let mut buf = MsgBuf::new();
    match buf.receive(name, MACH_RCV_TIMEOUT, 0) {
        MACH_MSG_SUCCESS => Ok(buf.header().msgh_id),
        mr => Err(mr),
    }
}

fn simple_round_trip(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 1234));
    buf.put(24, b"hello, mach!");
    check(buf.send(36, 0, 0) == MACH_MSG_SUCCESS, "send")?;
    let mut got = MsgBuf::new();
    let option =
        mach_rcv_trailer_type(MACH_MSG_TRAILER_FORMAT_0) | mach_rcv_trailer_elements(MACH_RCV_TRAILER_AUDIT);
    check(got.receive(port, option, 0) == MACH_MSG_SUCCESS, "receive")?;
    let h = got.header();
    check(h.msgh_size == 36 && h.msgh_id == 1234, "size or id")?;
    check(h.msgh_local_port == port && h.msgh_remote_port == MACH_PORT_NULL, "header names")?;
    check(h.msgh_bits == mach_msgh_bits(0, MACH_MSG_TYPE_PORT_SEND), "bits swapped to the receiver's view")?;
    check(&got.0[24..36] == b"hello, mach!", "body")?;
    // The audit trailer: format 0, 52 bytes, seqno 0, our euid/egid and pid.
    check(got.word(36) == 0 && got.word(40) == 52 && got.word(44) == 0, "trailer header")?;
    let pid = getpid().map_err(|_| "getpid")? as u32;
    check(got.word(48) == 0 && got.word(52) == 0, "security token (root)")?;
    check(got.word(36 + MACH_MSG_TRAILER_AUDIT_OFFSET + 4 * AUDIT_TOKEN_PID) == pid, "audit pid")?;
    // The made send right was consumed by the delivery: the name is a bare receive right.
    check(type_of(port) == MACH_PORT_TYPE_RECEIVE, "no send right left behind")?;
    // Second message: sequence number 1, minimal trailer.
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "second send")?;
    check(
        got.receive(port, mach_rcv_trailer_elements(MACH_RCV_TRAILER_SEQNO), 0) == MACH_MSG_SUCCESS,
        "recv 2",
    )?;
    check(got.word(24 + 4) == 12 && got.word(24 + 8) == 1, "seqno trailer")?;
    drop_port(port);
    Ok(())
}

fn rights_in_messages(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    let carried = new_port()?;
    let reply = mach_reply_port();
    // Header reply MAKE_SEND_ONCE; body: a MAKE_SEND of `carried` and its receive right.
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX;
    buf.set_header(&simple(port, bits, reply, 7));
    buf.put(24, &2u32.to_le_bytes());
    buf.put(28, &port_descriptor(carried, MACH_MSG_TYPE_MAKE_SEND));
    buf.put(40, &port_descriptor(carried, MACH_MSG_TYPE_MOVE_RECEIVE));
    check(buf.send(52, 0, 0) == MACH_MSG_SUCCESS, "complex send")?;
    check(type_of(carried) == 0, "the receive right left with the message")?;
    let mut got = MsgBuf::new();
    check(got.receive(port, 0, 0) == MACH_MSG_SUCCESS, "receive")?;
    let h = got.header();
    check(h.msgh_bits & MACH_MSGH_BITS_COMPLEX != 0, "complex bit")?;
    check(mach_msgh_bits_remote(h.msgh_bits) == MACH_MSG_TYPE_PORT_SEND_ONCE, "reply is send-once")?;
    let once = h.msgh_remote_port;
    check(type_of(once) == MACH_PORT_TYPE_SEND_ONCE, "send-once right arrived")?;
    check(got.word(24) == 2, "descriptor count")?;
    let (send_name, send_ty) = (got.word(28), got.0[38]);
    let (recv_name, recv_ty) = (got.word(40), got.0[50]);
    check(u32::from(send_ty) == MACH_MSG_TYPE_PORT_SEND, "send disposition")?;
    check(u32::from(recv_ty) == MACH_MSG_TYPE_PORT_RECEIVE, "receive disposition")?;
    // Both rights are for the same port, so they merge under one name here.
    check(send_name == recv_name, "send and receive merged")?;
    check(type_of(recv_name) == MACH_PORT_TYPE_SEND_RECEIVE, "send+receive")?;
    // Use the send-once right: it replies to `reply` and is consumed.
    let mut r = MsgBuf::new();
    r.set_header(&simple(once, mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), 0, 107));
    check(r.send(24, 0, 0) == MACH_MSG_SUCCESS, "reply through the send-once right")?;
    check(type_of(once) == 0, "send-once consumed")?;
    check(poll_id(reply) == Ok(107), "reply arrived")?;
    // The moved receive right still receives: send to it through the merged send right.
    let mut m = MsgBuf::new();
    m.set_header(&simple(recv_name, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 9));
    check(m.send(24, 0, 0) == MACH_MSG_SUCCESS, "send to the moved port")?;
    check(poll_id(recv_name) == Ok(9), "moved port receives")?;
    for name in [port, recv_name, reply] {
        drop_port(name);
    }
    let _ = mach_port_mod_refs(task(), recv_name, MACH_PORT_RIGHT_DEAD_NAME, -1);
    Ok(())
}

fn out_of_line_memory(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    // A 64 KiB region (copied copy-on-write) and a small one (copied at once).
    for (size, fill) in [(64 * 1024usize, 0x5au8), (100, 0xc3)] {
        let addr = crate::vm::allocate(size as u64)?;
        // SAFETY: freshly allocated, `size` bytes.
        let src = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, size) };
        src.fill(fill);
        let mut buf = MsgBuf::new();
        let bits = mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
        buf.set_header(&simple(port, bits, 0, 1));
        buf.put(24, &1u32.to_le_bytes());
        buf.put(28, &ool_descriptor(addr, size as u32, false, MACH_MSG_VIRTUAL_COPY));
        check(buf.send(44, 0, 0) == MACH_MSG_SUCCESS, "send OOL")?;
        let mut got = MsgBuf::new();
        check(got.receive(port, 0, 0) == MACH_MSG_SUCCESS, "receive OOL")?;
        let at = u64::from(got.word(28)) | (u64::from(got.word(32)) << 32);
        check(at != 0 && at != addr && got.word(40) == size as u32, "new address and size")?;
        // SAFETY: the kernel mapped `size` bytes at `at` for us.
        let dst = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, size) };
        check(dst.iter().all(|&b| b == fill), "contents arrived")?;
        // Copies, not shares: writing one side leaves the other alone.
        dst[0] = 1;
        src[size - 1] = 2;
        check(src[0] == fill && dst[size - 1] == fill, "copy-on-write both ways")?;
        let _ = crate::vm::deallocate(at, size as u64);
        // The deallocate flag removes the sender's range once the message is sent.
        buf.put(28, &ool_descriptor(addr, size as u32, true, MACH_MSG_PHYSICAL_COPY));
        check(buf.send(44, 0, 0) == MACH_MSG_SUCCESS, "send OOL with deallocate")?;
        check(!crate::vm::is_mapped(addr), "sender's range deallocated")?;
        check(got.receive(port, 0, 0) == MACH_MSG_SUCCESS, "receive OOL 2")?;
        let at = u64::from(got.word(28)) | (u64::from(got.word(32)) << 32);
        // SAFETY: mapped by the kernel for us.
        let dst = unsafe { core::slice::from_raw_parts(at as *const u8, size) };
        check(dst[0] == fill && dst[1] == fill && dst[size - 1] == 2, "the sender's last contents")?;
        let _ = crate::vm::deallocate(at, size as u64);
    }
    // A zero-size region arrives as address 0; a bad address is MACH_SEND_INVALID_MEMORY.
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX, 0, 2));
    buf.put(24, &1u32.to_le_bytes());
    buf.put(28, &ool_descriptor(UNMAPPED_ADDRESS, 4096, false, MACH_MSG_VIRTUAL_COPY));
    check(buf.send(44, 0, 0) == MACH_SEND_INVALID_MEMORY, "bad OOL address")?;
    buf.put(28, &ool_descriptor(0, 0, false, MACH_MSG_VIRTUAL_COPY));
    check(buf.send(44, 0, 0) == MACH_MSG_SUCCESS, "empty OOL")?;
    let mut got = MsgBuf::new();
    check(got.receive(port, 0, 0) == MACH_MSG_SUCCESS && got.word(28) == 0, "empty OOL arrives as 0")?;
    check(type_of(port) == MACH_PORT_TYPE_RECEIVE, "nothing left over")?;
    drop_port(port);
    Ok(())
}

fn timeouts_and_queue_limit(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    check(poll_id(port) == Err(MACH_RCV_TIMED_OUT), "poll of an empty port")?;
    let mut got = MsgBuf::new();
    check(got.receive(port, MACH_RCV_TIMEOUT, 20) == MACH_RCV_TIMED_OUT, "20 ms receive timeout")?;
    let mut buf = MsgBuf::new();
    for id in 0..MACH_PORT_QLIMIT_DEFAULT as i32 {
        buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, id));
        check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "fill the queue")?;
    }
    // Full: a poll fails at once, a 20 ms wait after 20 ms; the reply right comes back.
    let reply = mach_reply_port();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple(port, bits, reply, 99));
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_SEND_TIMED_OUT, "poll send to a full queue")?;
    // The failed message comes back: the made send right under the port's name, the made
    // send-once right under a new one.
    let back = buf.header();
    check(back.msgh_remote_port == port && type_of(port) == MACH_PORT_TYPE_SEND_RECEIVE, "send right back")?;
    check(type_of(back.msgh_local_port) == MACH_PORT_TYPE_SEND_ONCE, "the send-once right came back")?;
    let _ = mach_port_mod_refs(task(), back.msgh_local_port, MACH_PORT_RIGHT_SEND_ONCE, -1);
    let _ = mach_port_mod_refs(task(), port, MACH_PORT_RIGHT_SEND, -1);
    buf.set_header(&simple(port, bits, reply, 99));
    check(buf.send(24, MACH_SEND_TIMEOUT, 20) == MACH_SEND_TIMED_OUT, "timed send to a full queue")?;
    let back = buf.header();
    let _ = mach_port_mod_refs(task(), back.msgh_local_port, MACH_PORT_RIGHT_SEND_ONCE, -1);
    let _ = mach_port_mod_refs(task(), port, MACH_PORT_RIGHT_SEND, -1);
    // A send-once right is not held back by the limit.
    let mut once = MsgBuf::new();
    once.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0), 0, 50));
    check(once.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "send-once past the limit")?;
    for want in (0..MACH_PORT_QLIMIT_DEFAULT as i32).chain([50]) {
        check(poll_id(port) == Ok(want), "messages in order")?;
    }
    check(poll_id(port) == Err(MACH_RCV_TIMED_OUT), "drained")?;
    check(type_of(reply) == MACH_PORT_TYPE_RECEIVE, "reply port untouched")?;
    drop_port(reply);
    drop_port(port);
    Ok(())
}

fn too_large(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 5));
    check(buf.send(200, 0, 0) == MACH_MSG_SUCCESS, "send 200 bytes")?;
    let mut got = MsgBuf::new();
    // With RCV_LARGE the message stays and its size is reported.
    // SAFETY: 64 bytes of a 512-byte buffer.
    let mr = unsafe {
        mach_msg(got.ptr(), MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_LARGE_IDENTITY, 0, 64, port, 0, 0)
    };
    check(mr == MACH_RCV_TOO_LARGE, "RCV_LARGE too large")?;
    check(
        got.header().msgh_size == 200 && got.header().msgh_local_port == port,
        "size and identity reported",
    )?;
    // Without it the message is destroyed.
    // SAFETY: as above.
    let mr = unsafe { mach_msg(got.ptr(), MACH_RCV_MSG, 0, 64, port, 0, 0) };
    check(mr == MACH_RCV_TOO_LARGE, "too large")?;
    check(poll_id(port) == Err(MACH_RCV_TIMED_OUT), "destroyed, not queued")?;
    // The buffer must also hold the trailer: 24 + 8 bytes is the least for a bare header.
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "send header")?;
    // SAFETY: as above.
    let mr = unsafe { mach_msg(got.ptr(), MACH_RCV_MSG | MACH_RCV_LARGE, 0, 31, port, 0, 0) };
    check(mr == MACH_RCV_TOO_LARGE, "no room for the trailer")?;
    // SAFETY: as above.
    let mr = unsafe { mach_msg(got.ptr(), MACH_RCV_MSG, 0, 32, port, 0, 0) };
    check(mr == MACH_MSG_SUCCESS, "exactly enough room")?;
    drop_port(port);
    Ok(())
}

fn bad_messages(_: &Args) -> Result<(), &'static str> {
    let port = new_port()?;
    let other = new_port()?;
    let send = |buf: &mut MsgBuf, size: u32| buf.send(size, MACH_SEND_TIMEOUT, 0);
    let mut buf = MsgBuf::new();
    let good = simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 1);
    // Sizes and pointers.
    buf.set_header(&good);
    check(send(&mut buf, 20) == MACH_SEND_MSG_TOO_SMALL, "20 bytes")?;
    check(send(&mut buf, 26) == MACH_SEND_MSG_TOO_SMALL, "not a multiple of 4")?;
    for bad in [0, UNMAPPED_ADDRESS, KERNEL_ADDRESS] {
        // SAFETY: the kernel must reject the pointer without touching it.
        let mr = unsafe { mach_msg(bad as *mut MachMsgHeader, MACH_SEND_MSG, 24, 0, 0, 0, 0) };
        check(mr == MACH_SEND_INVALID_DATA, "bad message pointer")?;
    }
    // Header names and dispositions.
    for (dest, bits, reply, want) in [
        (0, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, MACH_SEND_INVALID_DEST),
        (MACH_PORT_DEAD, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, MACH_SEND_INVALID_DEST),
        (0x12345, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, MACH_SEND_INVALID_DEST),
        (port, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, MACH_SEND_INVALID_DEST),
        (port, mach_msgh_bits(MACH_MSG_TYPE_MOVE_RECEIVE, 0), 0, MACH_SEND_INVALID_HEADER),
        (port, mach_msgh_bits(7, 0), 0, MACH_SEND_INVALID_HEADER),
        (port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 99), other, MACH_SEND_INVALID_HEADER),
        (
            port,
            mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_SEND),
            other,
            MACH_SEND_INVALID_REPLY,
        ),
        (
            port,
            mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND),
            0x777,
            MACH_SEND_INVALID_REPLY,
        ),
    ] {
        buf.set_header(&simple(dest, bits, reply, 1));
        check(send(&mut buf, 24) == want, "header check")?;
    }
    // Descriptors: a bad type, a bad disposition, a bad name, a count the size cannot hold.
    let complex = mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    buf.set_header(&simple(port, complex, 0, 1));
    buf.put(24, &1u32.to_le_bytes());
    let mut d = port_descriptor(other, MACH_MSG_TYPE_MAKE_SEND);
    d[11] = 9;
    buf.put(28, &d);
    check(send(&mut buf, 40) == MACH_SEND_INVALID_TYPE, "bad descriptor type")?;
    buf.put(28, &port_descriptor(other, 3));
    check(send(&mut buf, 40) == MACH_SEND_INVALID_TYPE, "bad port disposition")?;
    buf.put(28, &port_descriptor(0x4444, MACH_MSG_TYPE_COPY_SEND));
    check(send(&mut buf, 40) == MACH_SEND_INVALID_RIGHT, "bad port name")?;
    buf.put(24, &1000u32.to_le_bytes());
    check(send(&mut buf, 40) == MACH_SEND_MSG_TOO_SMALL, "descriptor count too big")?;
    check(send(&mut buf, 24) == MACH_SEND_MSG_TOO_SMALL, "complex without a body")?;
    // All or nothing: the header's MOVE_RECEIVE-free rights and the first descriptor's
    // receive right stay when the second descriptor fails.
    buf.put(24, &2u32.to_le_bytes());
    buf.put(28, &port_descriptor(other, MACH_MSG_TYPE_MOVE_RECEIVE));
    buf.put(40, &port_descriptor(0x4444, MACH_MSG_TYPE_COPY_SEND));
    check(send(&mut buf, 52) == MACH_SEND_INVALID_RIGHT, "second descriptor bad")?;
    check(type_of(other) == MACH_PORT_TYPE_RECEIVE, "the receive right stayed")?;
    check(type_of(port) == MACH_PORT_TYPE_RECEIVE, "no send right made")?;
    // A port's receive right cannot travel to itself.
    buf.put(24, &1u32.to_le_bytes());
    buf.put(28, &port_descriptor(port, MACH_MSG_TYPE_MOVE_RECEIVE));
    check(send(&mut buf, 40) == MACH_SEND_INVALID_RIGHT, "receive right to itself")?;
    // Receives: bad names, a send right, a bad buffer, a bad trailer request.
    let mut got = MsgBuf::new();
    check(got.receive(0x9999, MACH_RCV_TIMEOUT, 0) == MACH_RCV_INVALID_NAME, "unknown name")?;
    check(got.receive(task(), MACH_RCV_TIMEOUT, 0) == MACH_RCV_INVALID_NAME, "a send right")?;
    check(got.receive(port, mach_rcv_trailer_type(3), 0) == MACH_RCV_INVALID_TRAILER, "trailer type")?;
    buf.set_header(&good);
    check(send(&mut buf, 24) == MACH_MSG_SUCCESS, "good send")?;
    // SAFETY: the kernel must fail the copyout, not fault.
    let mr = unsafe { mach_msg(UNMAPPED_ADDRESS as *mut MachMsgHeader, MACH_RCV_MSG, 0, 64, port, 0, 0) };
    check(mr == MACH_RCV_INVALID_DATA, "receive into a bad buffer")?;
    check(poll_id(port) == Err(MACH_RCV_TIMED_OUT), "that message was consumed")?;
    drop_port(other);
    drop_port(port);
    Ok(())
}

static SET_NAME: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
static SET_GOT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

extern "C" fn set_receiver(_: u64) {
    use core::sync::atomic::Ordering;
    let mut buf = MsgBuf::new();
    let mr = buf.receive(SET_NAME.load(Ordering::Acquire), MACH_RCV_TIMEOUT, 5000);
    let got = if mr == MACH_MSG_SUCCESS { buf.header().msgh_id as u32 } else { mr as u32 };
    SET_GOT.store(got, Ordering::Release);
}

fn port_sets(_: &Args) -> Result<(), &'static str> {
    use core::sync::atomic::Ordering;
    use libsys::mach::{mach_port_extract_member, mach_port_insert_member, mach_port_move_member};
    let mut set = 0;
    check(mach_port_allocate(task(), MACH_PORT_RIGHT_PORT_SET, &mut set) == KernReturn::KERN_SUCCESS, "set")?;
    check(type_of(set) == MACH_PORT_TYPE_PORT_SET, "a port set")?;
    let (a, b) = (new_port()?, new_port()?);
    check(mach_port_insert_member(task(), a, set) == KernReturn::KERN_SUCCESS, "insert a")?;
    check(mach_port_move_member(task(), b, set) == KernReturn::KERN_SUCCESS, "move b in")?;
    check(mach_port_insert_member(task(), a, set) == KernReturn::KERN_ALREADY_IN_SET, "twice")?;
    check(
        mach_port_insert_member(task(), task(), set) == KernReturn::KERN_INVALID_RIGHT,
        "not a receive right",
    )?;
    // A message on either member arrives through the set, named by its member.
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(b, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 22));
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "send to b")?;
    let mut got = MsgBuf::new();
    check(got.receive(set, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "receive on the set")?;
    check(got.header().msgh_id == 22 && got.header().msgh_local_port == b, "from b, named b")?;
    check(got.receive(set, MACH_RCV_TIMEOUT, 0) == MACH_RCV_TIMED_OUT, "empty set")?;
    // A thread blocked on the set is woken by a send to a member.
    SET_NAME.store(set, Ordering::Release);
    SET_GOT.store(0, Ordering::Release);
    crate::sched::spawn(0, set_receiver, 0)?;
    crate::sched::sleep_ms(20);
    buf.set_header(&simple(a, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 11));
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "send to a")?;
    crate::sched::SLOTS[0].join();
    check(SET_GOT.load(Ordering::Acquire) == 11, "the waiting thread got it")?;
    // Leaving the set.
    check(mach_port_extract_member(task(), a, set) == KernReturn::KERN_SUCCESS, "extract a")?;
    check(mach_port_extract_member(task(), a, set) == KernReturn::KERN_NOT_IN_SET, "not in set")?;
    check(mach_port_move_member(task(), b, MACH_PORT_NULL) == KernReturn::KERN_SUCCESS, "b out")?;
    buf.set_header(&simple(a, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 33));
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "send to a again")?;
    check(got.receive(set, MACH_RCV_TIMEOUT, 0) == MACH_RCV_TIMED_OUT, "a left the set")?;
    check(got.receive(a, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "a still receives itself")?;
    check(
        mach_port_mod_refs(task(), set, MACH_PORT_RIGHT_PORT_SET, -1) == KernReturn::KERN_SUCCESS,
        "destroy",
    )?;
    check(type_of(set) == 0, "set gone")?;
    drop_port(a);
    drop_port(b);
    Ok(())
}

fn mach_msg2_form(_: &Args) -> Result<(), &'static str> {
    use libsys::mach::mach_msg2;
    use mach::message::{MACH64_MSG_VECTOR, MACH64_SEND_ANY, MACH64_SEND_KOBJECT_CALL, MACH64_SEND_MQ_CALL};
    let port = new_port()?;
    let mut buf = MsgBuf::new();
    // Garbage header in memory: the registers are what counts.
    buf.set_header(&simple(0xdead, 0xffff_ffff, 0xbeef, -1));
    buf.put(24, b"via mach_msg2...");
    let h = simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 2002);
    let send = |buf: &mut MsgBuf, opts: u64, h: &MachMsgHeader, descs: u32| {
        // SAFETY: a 512-byte buffer; 40 bytes sent.
        unsafe {
            mach_msg2(
                buf.ptr() as u64,
                u64::from(MACH_SEND_MSG | MACH_SEND_TIMEOUT) | opts,
                h,
                40,
                descs,
                0,
                0,
                0,
            )
        }
    };
    check(send(&mut buf, MACH64_SEND_MQ_CALL, &h, 0) == MACH_MSG_SUCCESS, "send")?;
    let mut got = MsgBuf::new();
    let rh = simple(0, 0, 0, 0);
    // SAFETY: a 512-byte receive buffer.
    let mr = unsafe {
        mach_msg2(got.ptr() as u64, u64::from(MACH_RCV_MSG | MACH_RCV_TIMEOUT), &rh, 0, 0, port, 512, 0)
    };
    check(mr == MACH_MSG_SUCCESS, "receive")?;
    check(
        got.header().msgh_id == 2002 && got.header().msgh_size == 40 && &got.0[24..40] == b"via mach_msg2...",
        "message",
    )?;
    // Call kinds: none, two, or the wrong one for the destination.
    check(send(&mut buf, 0, &h, 0) == MACH_SEND_INVALID_OPTIONS, "no call kind")?;
    check(
        send(&mut buf, MACH64_SEND_MQ_CALL | MACH64_SEND_ANY, &h, 0) == MACH_SEND_INVALID_OPTIONS,
        "two kinds",
    )?;
    check(send(&mut buf, MACH64_SEND_KOBJECT_CALL, &h, 0) == MACH_SEND_INVALID_OPTIONS, "not a kernel port")?;
    let to_task = simple(task(), mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 3499);
    check(
        send(&mut buf, MACH64_SEND_MQ_CALL, &to_task, 0) == MACH_SEND_INVALID_OPTIONS,
        "a kernel port is no queue",
    )?;
    check(send(&mut buf, MACH64_SEND_ANY, &h, 3) == MACH_SEND_TOO_LARGE, "simple with descriptors")?;
    // The vector form: message vector plus an empty auxiliary one.
    let mut vec = [0u8; 48];
    vec[0..8].copy_from_slice(&(buf.ptr() as u64).to_le_bytes());
    vec[16..20].copy_from_slice(&40u32.to_le_bytes());
    // SAFETY: `vec` holds two vectors naming our 512-byte buffer.
    let mr = unsafe {
        mach_msg2(
            vec.as_ptr() as u64,
            u64::from(MACH_SEND_MSG) | MACH64_MSG_VECTOR | MACH64_SEND_MQ_CALL,
            &h,
            40,
            0,
            0,
            0,
            0,
        )
    };
    check(mr == MACH_MSG_SUCCESS, "vector send")?;
    check(
        got.receive(port, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS && got.header().msgh_id == 2002,
        "arrived",
    )?;
    drop_port(port);
    Ok(())
}

fn construct_destruct(_: &Args) -> Result<(), &'static str> {
    use libsys::mach::{MachPortOptions, mach_port_construct, mach_port_destruct, mach_port_get_attributes};
    let options = MachPortOptions { flags: MPO_QLIMIT | MPO_INSERT_SEND_RIGHT, mpl_qlimit: 1 };
    let mut name = 0;
    check(mach_port_construct(task(), &options, 0, &mut name) == KernReturn::KERN_SUCCESS, "construct")?;
    check(type_of(name) == MACH_PORT_TYPE_SEND_RECEIVE, "receive and send under one name")?;
    let mut info = [0u32; 10];
    let mut count = 10;
    let kr = mach_port_get_attributes(task(), name, MACH_PORT_RECEIVE_STATUS, &mut info, &mut count);
    check(
        kr == KernReturn::KERN_SUCCESS && count == 10 && info[3] == 1 && info[6] == 1,
        "qlimit 1, send rights",
    )?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(name, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 1));
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "one fits")?;
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_SEND_TIMED_OUT, "two do not")?;
    let mut count = 0;
    let kr = mach_port_get_attributes(task(), name, MACH_PORT_LIMITS_INFO, &mut info, &mut count);
    check(kr == KernReturn::KERN_FAILURE, "count too small")?;
    check(mach_port_destruct(task(), name, 1, 0) == KernReturn::KERN_INVALID_VALUE, "positive srdelta")?;
    // The timed-out send came back to us (pseudo-receive) with its copied send right: two
    // send references now, both dropped with the receive right.
    let mut refs = 0;
    let _ = libsys::mach::mach_port_get_refs(task(), name, MACH_PORT_RIGHT_SEND, &mut refs);
    check(refs == 2, "the returned copy-send reference")?;
    check(mach_port_destruct(task(), name, -2, 0) == KernReturn::KERN_SUCCESS, "destruct")?;
    check(type_of(name) == 0, "name gone")?;
    let bad = MachPortOptions { flags: 0x1_0000, mpl_qlimit: 0 };
    check(mach_port_construct(task(), &bad, 0, &mut name) == KernReturn::KERN_INVALID_VALUE, "unknown flag")?;
    let big = MachPortOptions { flags: MPO_QLIMIT, mpl_qlimit: 5000 };
    check(
        mach_port_construct(task(), &big, 0, &mut name) == KernReturn::KERN_INVALID_VALUE,
        "qlimit too big",
    )?;
    // SAFETY: the kernel must reject the bad pointer.
    let kr = unsafe {
        libsys::mach_traps::_kernelrpc_mach_port_construct_trap(
            task(),
            UNMAPPED_ADDRESS as *mut _,
            0,
            core::ptr::null_mut(),
        )
    };
    check(kr == KernReturn::KERN_INVALID_ADDRESS, "bad options pointer")?;
    Ok(())
}

static FULL_PORT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
static BLOCKED_RESULT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

extern "C" fn blocked_sender(_: u64) {
    use core::sync::atomic::Ordering;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(
        FULL_PORT.load(Ordering::Acquire),
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0),
        0,
        77,
    ));
    // No timeout: waits for room.
    let mr = buf.send(24, 0, 0);
    BLOCKED_RESULT.store(if mr == MACH_MSG_SUCCESS { 1 } else { mr as u32 }, Ordering::Release);
}

fn sender_blocks_until_room(_: &Args) -> Result<(), &'static str> {
    use core::sync::atomic::Ordering;
    let port = new_port()?;
    let mut buf = MsgBuf::new();
    for id in 0..MACH_PORT_QLIMIT_DEFAULT as i32 {
        buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, id));
        check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "fill")?;
    }
    FULL_PORT.store(port, Ordering::Release);
    BLOCKED_RESULT.store(0, Ordering::Release);
    crate::sched::spawn(1, blocked_sender, 0)?;
    crate::sched::sleep_ms(30);
    check(BLOCKED_RESULT.load(Ordering::Acquire) == 0, "the sender is still blocked on the full queue")?;
    check(poll_id(port) == Ok(0), "make room")?;
    crate::sched::SLOTS[1].join();
    check(BLOCKED_RESULT.load(Ordering::Acquire) == 1, "the blocked send went through")?;
    for want in (1..MACH_PORT_QLIMIT_DEFAULT as i32).chain([77]) {
        check(poll_id(port) == Ok(want), "in order, the late one last")?;
    }
    // A port destroyed under a blocked sender fails the send with MACH_SEND_INVALID_DEST.
    for id in 0..MACH_PORT_QLIMIT_DEFAULT as i32 {
        buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, id));
        check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "fill again")?;
    }
    BLOCKED_RESULT.store(0, Ordering::Release);
    crate::sched::spawn(1, blocked_sender, 0)?;
    crate::sched::sleep_ms(30);
    drop_port(port);
    crate::sched::SLOTS[1].join();
    check(
        BLOCKED_RESULT.load(Ordering::Acquire) == MACH_SEND_INVALID_DEST as u32,
        "dead port fails the send",
    )?;
    Ok(())
}

fn flood_gets_no_buffer(_: &Args) -> Result<(), &'static str> {
    use libsys::process::{Forked, fork, waitpid};
    const BIG: u32 = 60 * 1024;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // Fill queue after queue with 60 KiB inline messages until the kernel says no.
            let me = task();
            let mut buf = 0u64;
            // Room for a message and its trailer.
            if libsys::mach::mach_vm_allocate(me, &mut buf, u64::from(BIG) + 4096, 1)
                != KernReturn::KERN_SUCCESS
            {
                libsys::syscall::exit_process(1);
            }
            let mut sent = 0;
            let mut first_port = 0;
            'fill: for _ in 0..200 {
                let Ok(port) = new_port() else { libsys::syscall::exit_process(2) };
                if first_port == 0 {
                    first_port = port;
                }
                for _ in 0..MACH_PORT_QLIMIT_DEFAULT {
                    let h = simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 1);
                    // SAFETY: `buf` is BIG + 4096 bytes of our memory.
                    unsafe { (buf as *mut [u8; 24]).write(h.to_bytes()) };
                    // SAFETY: as above.
                    let mr = unsafe {
                        mach_msg(
                            buf as *mut MachMsgHeader,
                            MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                            BIG,
                            0,
                            0,
                            0,
                            0,
                        )
                    };
                    match mr {
                        MACH_MSG_SUCCESS => sent += 1,
                        MACH_SEND_NO_BUFFER => break 'fill,
                        _ => libsys::syscall::exit_process(3),
                    }
                }
            }
            // Bounded (4 MiB a task), and reading one message back frees room for another.
            let ok_bound = sent > 0 && sent * BIG <= 4 << 20;
            // SAFETY: `buf` holds BIG + 4096 bytes.
            let mr = unsafe {
                mach_msg(
                    buf as *mut MachMsgHeader,
                    MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                    0,
                    BIG + 64,
                    first_port,
                    0,
                    0,
                )
            };
            let h = simple(first_port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 2);
            // SAFETY: as above.
            let again = unsafe {
                (buf as *mut [u8; 24]).write(h.to_bytes());
                mach_msg(buf as *mut MachMsgHeader, MACH_SEND_MSG | MACH_SEND_TIMEOUT, BIG, 0, 0, 0, 0)
            };
            libsys::syscall::exit_process(
                if ok_bound && mr == MACH_MSG_SUCCESS && again == MACH_MSG_SUCCESS { 0 } else { 4 },
            )
        }
        Forked::Parent(pid) => pid,
    };
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "a flooding task is held to its budget, and only itself")?;
    // Meanwhile nobody else was starved: we can still send.
    let port = new_port()?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 3));
    check(buf.send(256, 0, 0) == MACH_MSG_SUCCESS, "others still send")?;
    drop_port(port);
    Ok(())
}
