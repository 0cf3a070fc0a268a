//! Mach IPC robustness (issue 11): each case is an input that hung or panicked the kernel —
//! a port-set receive re-entering the set's lock, ports nested in each other's queues
//! destroyed by recursion, out-of-line copies of many-entry ranges and kernel-made messages
//! charged to nobody, a name far out growing the name table to reach it. Each must now come
//! back with a code, and the kernel heap must come back once the case cleans up.

use libsys::Args;
use libsys::mach::*;
use libsys::mach_traps::mach_task_self;
use mach::KernReturn;
use mach::message::*;
use mach::port::*;
use mach::vm::{VM_FLAGS_ANYWHERE, VmProt};

use crate::ipc::{drop_port, new_port, simple};
use crate::ipc_fuzz::kernel_heap_used;
use crate::{Case, check};

/// Kernel heap a case may leave behind. More than `ipc_fuzz`'s: these cases fork children
/// whose exits overlap the next case's work, and a long-lived kernel table then reaches a
/// new capacity once (measured: 448 bytes, once, then flat over a dozen more children).
const HEAP_SLACK: u64 = 1024;

pub const CASES: &[(&str, Case)] = &[
    ("receive on a set whose member gets a no-senders notification from that receive", pset_no_senders),
    ("a 300-deep chain of ports in each other's queues dies without recursion", nested_chain),
    ("out-of-line copies of many-entry ranges are charged (MACH_SEND_NO_BUFFER, mach_vm_read)", ool_entries),
    ("send-once notifications to an unread port coalesce instead of piling up", send_once_flood),
    ("MIG replies to an unread port are charged to the requester", reply_flood),
    ("mach_port_insert_right at index 0x3fff does not grow the table to it", far_name),
    ("MIG_BAD_ID replies to an unread port are charged too", bad_id_reply_flood),
    ("MIG replies are charged for their out-of-line pages (mach_port_names)", ool_reply_flood),
    ("small out-of-line copies are charged for the pages they copy", eager_ool_pages),
];

/// Sends requests `id` with no arguments (the header alone) to our own task port with
/// replies to `reply`, which nobody reads, until the kernel refuses; how many went.
fn flood_task_port(id: i32, reply: MachPortName, max: u32) -> Result<u32, &'static str> {
    let mut buf = MsgBuf::new();
    for sent in 0..max {
        let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        buf.set_header(&simple(mach_task_self(), bits, reply, id));
        match buf.send(24, MACH_SEND_TIMEOUT, 0) {
            MACH_MSG_SUCCESS => {}
            MACH_SEND_NO_BUFFER => return Ok(sent),
            _ => return Err("a request failed otherwise"),
        }
    }
    Ok(max)
}

/// Review of item 4: a request with an unknown id got its MIG_BAD_ID reply uncharged (the
/// request's charge was given back), so looping such requests filled the heap.
fn bad_id_reply_flood(_: &Args) -> Result<(), &'static str> {
    let heap = kernel_heap_used()?;
    let port = new_port()?;
    let sent = flood_task_port(12345, port, 40_000)?;
    check(sent < 40_000, "MIG_BAD_ID replies were never charged")?;
    let mut buf = MsgBuf::new();
    check(buf.receive(port, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "receive a reply")?;
    check(buf.header().msgh_id == 12345 + 100, "a reply to the unknown id")?;
    drop_port(port);
    heap_back(heap)
}

/// Review of item 4: a MIG reply was charged for its inline bytes only, not for the pages of
/// its out-of-line data; mach_port_names' reply holds two arrays in fresh pages, so a task
/// could leave ~13,000 of them (100 MiB of pages) queued on a 4 MiB budget.
fn ool_reply_flood(_: &Args) -> Result<(), &'static str> {
    let (heap, pages) = (kernel_heap_used()?, crate::limits::free_pages()?);
    let port = new_port()?;
    let sent = flood_task_port(3200, port, 5000)?;
    // Each reply holds at least two pages: 4 MiB of budget is at most 512 of them.
    check(sent <= 600, "replies were not charged for their out-of-line pages")?;
    let mut buf = MsgBuf::new();
    check(buf.receive(port, MACH_RCV_TIMEOUT | MACH_RCV_LARGE, 0) == MACH_MSG_SUCCESS, "receive a reply")?;
    check(
        buf.header().msgh_id == 3300 && buf.header().msgh_bits & MACH_MSGH_BITS_COMPLEX != 0,
        "a names reply",
    )?;
    drop_port(port);
    heap_back(heap)?;
    let after = crate::limits::free_pages()?;
    check(after + 16 >= pages, "the replies' pages did not come back")
}

/// Review of item 3: a range of up to 16 KiB is copied into fresh pages at send time, but was
/// charged as one segment: sixty descriptors of one 16 KiB buffer pinned ~1 MiB of pages for
/// ~16 KiB of budget, so a task could hold hundreds of MiB in its own unread queue.
fn eager_ool_pages(_: &Args) -> Result<(), &'static str> {
    const BUF: u64 = 16 * 1024;
    let me = mach_task_self();
    let (heap, pages) = (kernel_heap_used()?, crate::limits::free_pages()?);
    let mut addr = 0;
    ok(mach_vm_allocate(me, &mut addr, BUF, VM_FLAGS_ANYWHERE), "allocate")?;
    for page in 0..BUF / 4096 {
        // SAFETY: inside the fresh allocation; makes each page resident.
        unsafe { ((addr + page * 4096) as *mut u64).write_volatile(page + 1) };
    }
    let mut ports = [0; 64];
    let mut sent = 0;
    for p in ports.iter_mut() {
        *p = new_port()?;
        match send_ool_of(*p, addr, BUF as u32, OOL_DESCRIPTORS) {
            MACH_MSG_SUCCESS => sent += 1,
            MACH_SEND_NO_BUFFER => break,
            _ => return Err("an out-of-line send failed otherwise"),
        }
    }
    // Each message copies 60 × 16 KiB: the 4 MiB budget takes four.
    check(sent <= 6, "small copies were not charged for their pages")?;
    for p in ports.into_iter().filter(|&p| p != 0) {
        drop_port(p);
    }
    ok(mach_vm_deallocate(me, addr, BUF), "deallocate")?;
    heap_back(heap)?;
    check(crate::limits::free_pages()? + 16 >= pages, "the copies' pages did not come back")
}

fn ok(kr: KernReturn, why: &'static str) -> Result<(), &'static str> {
    check(kr == KernReturn::KERN_SUCCESS, why)
}

/// The kernel heap must come back to `before` (within the usual slack) once a case is done.
/// A reaped child's last thread is freed once its CPU has switched away from it, which may
/// be a moment after wait4 returns: give that a few ticks before judging.
fn heap_back(before: u64) -> Result<(), &'static str> {
    let mut after = kernel_heap_used()?;
    for _ in 0..20 {
        if after <= before + HEAP_SLACK {
            break;
        }
        crate::sched::sleep_ms(5);
        after = kernel_heap_used()?;
    }
    if after > before + HEAP_SLACK {
        libsys::println!("utest: ipc_robust: kernel heap {before} -> {after} bytes");
    }
    check(after <= before + HEAP_SLACK, "the kernel heap did not come back")
}

/// Messages queued on `port`, from its receive status.
pub(crate) fn queued(port: MachPortName) -> Result<u32, &'static str> {
    let mut status = [0u32; MACH_PORT_RECEIVE_STATUS_COUNT as usize];
    let mut count = MACH_PORT_RECEIVE_STATUS_COUNT;
    let kr =
        mach_port_get_attributes(mach_task_self(), port, MACH_PORT_RECEIVE_STATUS, &mut status, &mut count);
    ok(kr, "mach_port_get_attributes")?;
    // mach_port_status_t: pset, seqno, mscount, qlimit, msgcount, …
    Ok(status[4])
}

/// Item 1: P in set S, a no-senders request on P to P itself, the only send right made by
/// the send. Receiving on S uses that right up, which fires the notification onto P — and its
/// wakeup took S's lock, still held by the receive: the CPU spun with IRQs masked.
fn pset_no_senders(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let heap = kernel_heap_used()?;
    let port = new_port()?;
    let mut set = 0;
    ok(mach_port_allocate(me, MACH_PORT_RIGHT_PORT_SET, &mut set), "port set")?;
    ok(mach_port_insert_member(me, port, set), "insert member")?;
    let mut previous = 0;
    let kr = mach_port_request_notification(
        me,
        port,
        MACH_NOTIFY_NO_SENDERS,
        1,
        port,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        &mut previous,
    );
    ok(kr, "no-senders request")?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0), 0, 4242));
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "send")?;
    check(buf.receive(set, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "receive the message")?;
    check(buf.header().msgh_id == 4242, "the message first")?;
    check(buf.receive(set, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "receive the notification")?;
    check(buf.header().msgh_id == MACH_NOTIFY_NO_SENDERS, "then the no-senders notification")?;
    drop_port(port);
    ok(mach_port_mod_refs(me, set, MACH_PORT_RIGHT_PORT_SET, -1), "destroy the set")?;
    heap_back(heap)
}

/// A complex message to `dest` (a send right made from our receive right) carrying the receive
/// right `carried`.
fn send_receive_right(dest: MachPortName, carried: MachPortName) -> MachMsgReturn {
    let mut buf = MsgBuf::new();
    let bits = MACH_MSGH_BITS_COMPLEX | mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0);
    buf.set_header(&simple(dest, bits, 0, 7));
    buf.put(24, &1u32.to_le_bytes());
    buf.put(28, &port_descriptor(carried, MACH_MSG_TYPE_MOVE_RECEIVE));
    buf.send(40, MACH_SEND_TIMEOUT, 0)
}

/// Item 2: each port's receive right is queued on the next, bottom up (never circular). The
/// top's destruction destroyed the next one's from inside, and so on: at depth 128 the kernel
/// stack overflowed. Once through a right, once through task exit.
fn nested_chain(_: &Args) -> Result<(), &'static str> {
    const DEPTH: usize = 300;
    fn build() -> Result<MachPortName, &'static str> {
        let mut below = new_port()?;
        for _ in 0..DEPTH {
            let next = new_port()?;
            check(send_receive_right(next, below) == MACH_MSG_SUCCESS, "queue the receive right")?;
            below = next;
        }
        Ok(below)
    }
    let destroy = |top| mach_port_mod_refs(mach_task_self(), top, MACH_PORT_RIGHT_RECEIVE, -1);
    // A first chain grows our name table, which stays grown: not a leak.
    ok(destroy(build()?), "destroy the first chain")?;
    let heap = kernel_heap_used()?;
    ok(destroy(build()?), "destroy the top")?;
    heap_back(heap)?;
    let status = crate::proc::in_child(|| match build() {
        Ok(_) => 0,
        Err(_) => 1,
    })?;
    check(status == 0, "the child built its chain and exited with it")?;
    heap_back(heap)
}

/// Out-of-line descriptors in one 1 KiB message.
const OOL_DESCRIPTORS: usize = 60;
/// Pages (and so map entries: every other one read-only) of the range they describe.
const OOL_PAGES: u64 = 1000;

/// A range of `OOL_PAGES` pages, one map entry each.
fn many_entries() -> Result<u64, &'static str> {
    let me = mach_task_self();
    let mut addr = 0;
    ok(mach_vm_allocate(me, &mut addr, OOL_PAGES * 4096, VM_FLAGS_ANYWHERE), "allocate")?;
    for page in (0..OOL_PAGES).step_by(2) {
        ok(mach_vm_protect(me, addr + page * 4096, 4096, false, VmProt::READ.0), "protect")?;
    }
    Ok(addr)
}

/// A message to `dest` with `count` out-of-line descriptors, each for the whole range.
fn send_ool(dest: MachPortName, addr: u64, count: usize) -> MachMsgReturn {
    send_ool_of(dest, addr, (OOL_PAGES * 4096) as u32, count)
}

/// A message to `dest` with `count` out-of-line descriptors of `[addr, addr + len)`.
fn send_ool_of(dest: MachPortName, addr: u64, len: u32, count: usize) -> MachMsgReturn {
    #[repr(C, align(8))]
    struct Big([u8; 1024]);
    let mut buf = Big([0; 1024]);
    let bits = MACH_MSGH_BITS_COMPLEX | mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0);
    buf.0[..24].copy_from_slice(&simple(dest, bits, 0, 9).to_bytes());
    buf.0[24..28].copy_from_slice(&(count as u32).to_le_bytes());
    for i in 0..count {
        let at = 28 + 16 * i;
        let d = ool_descriptor(addr, len, false, MACH_MSG_VIRTUAL_COPY);
        buf.0[at..at + 16].copy_from_slice(&d);
    }
    let size = 28 + 16 * count as u32;
    // SAFETY: the buffer holds 1024 bytes and `size` is at most 988.
    unsafe { mach_msg(buf.0.as_mut_ptr().cast(), MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, 0, 0, 0) }
}

/// Item 3: a copy holds a segment per map entry of its range. Sixty descriptors of a
/// thousand-entry range are 60,000 segments — refused with `MACH_SEND_NO_BUFFER`, where they
/// were allocated uncharged (and with 65,000-entry ranges ran the heap dry). One descriptor
/// still goes. `mach_vm_read` with the budget spent is `KERN_RESOURCE_SHORTAGE`.
fn ool_entries(_: &Args) -> Result<(), &'static str> {
    // A first round grows long-lived tables (our map's, our name table) once: not a leak.
    ool_round()?;
    let heap = kernel_heap_used()?;
    ool_round()?;
    heap_back(heap)
}

fn ool_round() -> Result<(), &'static str> {
    let me = mach_task_self();
    let addr = many_entries()?;
    let port = new_port()?;
    check(send_ool(port, addr, 1) == MACH_MSG_SUCCESS, "one descriptor of the range goes")?;
    check(send_ool(port, addr, OOL_DESCRIPTORS) == MACH_SEND_NO_BUFFER, "sixty are refused")?;
    check(queued(port)? == 1, "the refused message was not queued")?;
    // Spend the budget with messages of one descriptor (a quarter MiB of segments each) on
    // fresh ports, then ask the kernel to build the same copy into a reply.
    let mut ports = [0; 32];
    let mut spent = false;
    for p in ports.iter_mut() {
        *p = new_port()?;
        match send_ool(*p, addr, 1) {
            MACH_MSG_SUCCESS => {}
            MACH_SEND_NO_BUFFER => {
                spent = true;
                break;
            }
            _ => return Err("an out-of-line send failed otherwise"),
        }
    }
    check(spent, "the task's message budget ran out")?;
    let (mut data, mut count) = (0, 0);
    let kr = mach_vm_read(me, addr, OOL_PAGES * 4096, &mut data, &mut count);
    check(kr == KernReturn::KERN_RESOURCE_SHORTAGE, "mach_vm_read past the budget")?;
    for p in ports.into_iter().filter(|&p| p != 0) {
        drop_port(p);
    }
    // With the budget back, the read works.
    let kr = mach_vm_read(me, addr, OOL_PAGES * 4096, &mut data, &mut count);
    ok(kr, "mach_vm_read within the budget")?;
    ok(mach_vm_deallocate(me, data, u64::from(count)), "deallocate the read")?;
    drop_port(port);
    ok(mach_vm_deallocate(me, addr, OOL_PAGES * 4096), "deallocate the range")
}

/// Item 4: each turn makes a send-once right and drops it unused, which sends a send-once
/// notification to the port — which nobody reads. They queued without bound (the kernel
/// panicked in seconds); now a repeat of the last message on a full queue coalesces.
fn send_once_flood(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let port = new_port()?;
    let name = mach_port_make(0x2345, 0x03);
    // A first turn may grow our name table to the name, which stays grown: not a leak.
    ok(mach_port_insert_right(me, name, port, MACH_MSG_TYPE_MAKE_SEND_ONCE), "insert send-once")?;
    ok(mach_port_deallocate(me, name), "deallocate it")?;
    let heap = kernel_heap_used()?;
    for _ in 0..3000 {
        ok(mach_port_insert_right(me, name, port, MACH_MSG_TYPE_MAKE_SEND_ONCE), "insert send-once")?;
        ok(mach_port_deallocate(me, name), "deallocate it")?;
    }
    let n = queued(port)?;
    check(n <= MACH_PORT_QLIMIT_DEFAULT + 1, "send-once notifications piled up")?;
    let mut buf = MsgBuf::new();
    check(buf.receive(port, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "receive one")?;
    check(buf.header().msgh_id == MACH_NOTIFY_SEND_ONCE, "a send-once notification")?;
    drop_port(port);
    heap_back(heap)
}

/// Item 4: `task_info` requests whose replies go to a port nobody reads. The replies were
/// charged to nobody and, going to send-once rights, ignored the queue limit; now each one
/// keeps its request's charge, so the requester runs into `MACH_SEND_NO_BUFFER`.
fn reply_flood(_: &Args) -> Result<(), &'static str> {
    use mach::info::{MACH_TASK_BASIC_INFO, MACH_TASK_BASIC_INFO_COUNT};
    let heap = kernel_heap_used()?;
    let port = new_port()?;
    let mut buf = MsgBuf::new();
    let mut refused = false;
    for _ in 0..30_000 {
        let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        buf.set_header(&simple(mach_task_self(), bits, port, 3405));
        buf.put(24, &mach::mig::NDR_RECORD);
        buf.put(32, &MACH_TASK_BASIC_INFO.to_le_bytes());
        buf.put(36, &MACH_TASK_BASIC_INFO_COUNT.to_le_bytes());
        match buf.send(40, MACH_SEND_TIMEOUT, 0) {
            MACH_MSG_SUCCESS => {}
            MACH_SEND_NO_BUFFER => {
                refused = true;
                break;
            }
            _ => return Err("a task_info request failed otherwise"),
        }
    }
    check(refused, "the replies were never charged")?;
    check(buf.receive(port, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "receive a reply")?;
    check(buf.header().msgh_id == 3505, "a task_info reply")?;
    drop_port(port);
    heap_back(heap)
}

/// Item 11: in a fresh task (whose table is small), a right inserted under index 0x3fff grew
/// the table straight to that index — 447 KiB of kernel heap for one name.
fn far_name(_: &Args) -> Result<(), &'static str> {
    let status = crate::proc::in_child(|| {
        let me = mach_task_self();
        let Ok(port) = new_port() else { return 2 };
        let Ok(before) = kernel_heap_used() else { return 3 };
        let far = mach_port_make(0x3fff, 0x07);
        // A send-once right: it always takes a name of its own (a send right would merge into
        // the receive right's name).
        if mach_port_insert_right(me, far, port, MACH_MSG_TYPE_MAKE_SEND_ONCE) != KernReturn::KERN_SUCCESS {
            return 4;
        }
        let Ok(after) = kernel_heap_used() else { return 3 };
        let mut ty = 0;
        if mach_port_type(me, far, &mut ty) != KernReturn::KERN_SUCCESS || ty != MACH_PORT_TYPE_SEND_ONCE {
            return 5;
        }
        if after > before + 16 * 1024 { 1 } else { 0 }
    })?;
    check(status != 1 << 8, "one far name cost more than 16 KiB of kernel heap")?;
    check(status == 0, "the child's insert or lookup failed")
}
