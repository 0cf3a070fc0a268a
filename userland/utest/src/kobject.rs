//! Kernel objects through MIG messages (issue M1.5): `task_*`, `thread_*`, `mach_port_*`,
//! `mach_vm_*` and `host_*` routines on our own objects and on another task's, special ports
//! inherited across fork as a rendezvous, and XNU's MIG error replies.

use libsys::Args;
use libsys::mach::*;
use libsys::mach_traps::{mach_task_self, mach_thread_self, task_for_pid};
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::{exit_process, getpid};
use mach::defs::special::TASK_BOOTSTRAP_PORT;
use mach::exception::{EXC_BAD_ACCESS, EXC_BREAKPOINT, EXCEPTION_DEFAULT, MACH_EXCEPTION_CODES};
use mach::message::*;
use mach::mig::{MIG_BAD_ARGUMENTS, MIG_BAD_ID};
use mach::port::*;
use mach::vm::{VM_FLAGS_ANYWHERE, VM_REGION_BASIC_INFO_64, VmProt};
use mach::{KernReturn, MachPortName};

use crate::ipc::{drop_port, new_port, simple, type_of};
use crate::{Case, check};

pub const CASES: &[(&str, Case)] = &[
    ("task_info / task_threads / thread_info / thread_get_state on ourselves", own_objects),
    ("host_info / host_statistics, and MIG error replies", host_and_errors),
    ("mach_port_* routines: names, refs, attributes, insert / extract", port_routines),
    ("two tasks: bootstrap special port, rights and OOL memory, RPC reply", two_tasks),
    ("another task's memory, threads and space through its task port", remote_task_control),
    ("notifications: send-once, port-destroyed, port-deleted, dead-name, no-senders", notifications),
    ("exception ports: a handler in another task repairs a fault, or refuses it", exception_handler),
    ("bootstrap: init serves register / look_up; two unrelated processes meet by name", bootstrap_rendezvous),
    ("named memory entries: mach_make_memory_entry_64 + mach_vm_map, shared between tasks", shared_memory),
    ("task_terminate / thread_terminate", terminate),
    ("host exception port: a breakpoint stepped over with thread_set_state", host_handler),
    ("EXCEPTION_STATE_IDENTITY: the handler gets and returns the thread state", state_handler),
];

const SUCCESS: KernReturn = KernReturn::KERN_SUCCESS;
use mach::info::{
    ARM_THREAD_STATE64, ARM_THREAD_STATE64_PC, HOST_BASIC_INFO, HOST_VM_INFO, MACH_TASK_BASIC_INFO,
    TASK_AUDIT_TOKEN, THREAD_BASIC_INFO,
};

/// A send right to our child `pid`'s task port (we are root, so `task_for_pid` allows it).
pub(crate) fn child_task(pid: i32) -> Result<MachPortName, &'static str> {
    let mut t = 0;
    // SAFETY: `t` is a writable u32.
    let kr = unsafe { task_for_pid(mach_task_self(), pid, core::ptr::from_mut(&mut t).cast()) };
    if kr == mach::KernReturn::KERN_SUCCESS { Ok(t) } else { Err("task_for_pid(child)") }
}

fn pid() -> u32 {
    // SAFETY: no pointers.
    unsafe { getpid() }.unwrap_or(0) as u32
}

fn own_objects(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let mut info = [0u32; 32];
    let mut count = 12;
    check(task_info(task, MACH_TASK_BASIC_INFO, &mut info, &mut count) == SUCCESS, "task_info basic")?;
    let vsize = u64::from(info[0]) | (u64::from(info[1]) << 32);
    let resident = u64::from(info[2]) | (u64::from(info[3]) << 32);
    check(count == 12 && vsize >= resident && resident > 0, "sizes")?;
    check(info[10] == 1 && info[11] == 0, "policy timeshare, not suspended")?;
    let mut count = 8;
    check(task_info(task, TASK_AUDIT_TOKEN, &mut info, &mut count) == SUCCESS, "audit token")?;
    check(info[5] == pid() && info[1] == 0, "audit token pid and euid")?;
    let mut count = 4;
    check(task_info(task, MACH_TASK_BASIC_INFO, &mut info, &mut count) != SUCCESS, "short count refused")?;
    let mut count = 32;
    check(task_info(task, 9999, &mut info, &mut count) == KernReturn::KERN_INVALID_ARGUMENT, "bad flavor")?;

    let (mut threads, mut n) = (0u64, 0u32);
    check(task_threads(task, &mut threads, &mut n) == SUCCESS && n == 1, "task_threads: one thread")?;
    // SAFETY: the kernel mapped an array of `n` names at `threads` for us.
    let first = unsafe { *(threads as *const MachPortName) };
    check(first == mach_thread_self(), "the thread port name we already hold")?;
    let _ = mach_vm_deallocate(task, threads, 4 * u64::from(n));
    let _ = mach_port_deallocate(task, first);

    let me = mach_thread_self();
    let mut count = 10;
    check(thread_info(me, THREAD_BASIC_INFO, &mut info, &mut count) == SUCCESS, "thread_info")?;
    check(count == 10 && info[5] == 1 && info[6] == 1 && info[8] == 0, "policy, run state, suspend count")?;
    let mut state = [0u32; 68];
    let mut count = 68;
    check(thread_get_state(me, ARM_THREAD_STATE64, &mut state, &mut count) == SUCCESS, "get_state")?;
    // We are inside mach_msg: x16 holds its trap number (-31).
    let x16 = u64::from(state[32]) | (u64::from(state[33]) << 32);
    check(count == 68 && x16 as i64 == -31, "x16 is the mach_msg trap")?;
    let mut count = 10;
    check(
        thread_get_state(me, 99, &mut state, &mut count) == KernReturn::KERN_INVALID_ARGUMENT,
        "bad flavor",
    )?;
    // A task routine sent to a thread port finds no task.
    let mut count = 12;
    check(
        task_info(me, MACH_TASK_BASIC_INFO, &mut info, &mut count) == KernReturn::KERN_INVALID_ARGUMENT,
        "wrong object",
    )?;
    let _ = mach_port_deallocate(task, me);
    Ok(())
}

fn host_and_errors(_: &Args) -> Result<(), &'static str> {
    let host = mach_host_self();
    let mut info = [0u32; 32];
    let mut count = 12;
    check(host_info(host, HOST_BASIC_INFO, &mut info, &mut count) == SUCCESS, "host_info")?;
    check(info[0] >= 1 && info[2] > 0 && info[3] == 0x0100_000c, "cpus, memory, CPU_TYPE_ARM64")?;
    let mut count = 15;
    check(host_statistics(host, HOST_VM_INFO, &mut info, &mut count) == SUCCESS, "host_statistics")?;
    check(count == 15 && info[0] > 0 && info[1] > 0, "free and active pages")?;

    // An unknown id gets a 36-byte mig_reply_error_t with MIG_BAD_ID, id + 100.
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple(mach_task_self(), bits, reply, 3499));
    // SAFETY: a 512-byte buffer.
    let mr = unsafe { mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, 24, 512, reply, 0, 0) };
    check(mr == MACH_MSG_SUCCESS, "request")?;
    let h = buf.header();
    check(h.msgh_id == 3599 && h.msgh_size == 36, "reply id and size")?;
    check(buf.word(32) as i32 == MIG_BAD_ID.0, "MIG_BAD_ID")?;
    // A known id with a body of the wrong size: MIG_BAD_ARGUMENTS.
    buf.set_header(&simple(mach_task_self(), bits, reply, mach::defs::TASK_INFO.id));
    // SAFETY: as above.
    let mr = unsafe { mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, 28, 512, reply, 0, 0) };
    check(mr == MACH_MSG_SUCCESS && buf.word(32) as i32 == MIG_BAD_ARGUMENTS.0, "MIG_BAD_ARGUMENTS")?;
    // A routine that user-space servers answer (exception handlers, the bootstrap server)
    // is as unknown to a kernel port as an id nobody declared.
    for id in [mach::defs::MACH_EXCEPTION_RAISE.id, mach::defs::BOOTSTRAP_LOOK_UP.id] {
        buf.set_header(&simple(mach_task_self(), bits, reply, id));
        // SAFETY: as above.
        let mr = unsafe { mach_msg(buf.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, 24, 512, reply, 0, 0) };
        check(mr == MACH_MSG_SUCCESS && buf.header().msgh_id == id + 100, "user-served id: a reply")?;
        check(buf.word(32) as i32 == MIG_BAD_ID.0, "user-served id: MIG_BAD_ID")?;
    }
    // One lookup for every kernel object: a host routine on a task port is the wrong type,
    // and a semaphore trap on a bare receive right lacks the send right it looks up with.
    let mut count = 12;
    check(
        host_info(mach_task_self(), HOST_BASIC_INFO, &mut info, &mut count)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "host_info on a task port",
    )?;
    let receive_only = new_port()?;
    check(
        semaphore_signal(receive_only) == KernReturn::KERN_INVALID_RIGHT,
        "semaphore trap without a send right",
    )?;
    drop_port(receive_only);
    // No reply port: the request is served and nothing comes back.
    buf.set_header(&simple(mach_task_self(), mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 3499));
    check(buf.send(24, 0, 0) == MACH_MSG_SUCCESS, "one-way request")?;
    check(buf.receive(reply, MACH_RCV_TIMEOUT, 0) == MACH_RCV_TIMED_OUT, "no reply")?;
    drop_port(reply);
    Ok(())
}

fn port_routines(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let port = new_port()?;
    let (mut names, mut n, mut types, mut tn) = (0u64, 0u32, 0u64, 0u32);
    check(mach_port_names(task, &mut names, &mut n, &mut types, &mut tn) == SUCCESS, "names")?;
    check(n == tn && n >= 3, "name and type counts")?;
    // SAFETY: the kernel mapped two arrays of `n` u32s for us.
    let (ns, ts) = unsafe {
        (
            core::slice::from_raw_parts(names as *const u32, n as usize),
            core::slice::from_raw_parts(types as *const u32, n as usize),
        )
    };
    let at = ns.iter().position(|&x| x == port).ok_or("our port is listed")?;
    check(ts[at] == MACH_PORT_TYPE_RECEIVE, "as a receive right")?;
    check(ns.contains(&task), "our task port is listed")?;
    let _ = mach_vm_deallocate(task, names, 4 * u64::from(n));
    let _ = mach_vm_deallocate(task, types, 4 * u64::from(tn));

    // insert_right MAKE_SEND under the receive right's own name merges; refs count.
    check(mach_port_insert_right(task, port, port, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "insert_right")?;
    check(type_of(port) == MACH_PORT_TYPE_SEND_RECEIVE, "send + receive")?;
    let mut refs = 0;
    check(
        mach_port_get_refs(task, port, MACH_PORT_RIGHT_SEND, &mut refs) == SUCCESS && refs == 1,
        "1 send ref",
    )?;
    check(
        mach_port_insert_right(task, port, port, MACH_MSG_TYPE_COPY_SEND) == SUCCESS && {
            mach_port_get_refs(task, port, MACH_PORT_RIGHT_SEND, &mut refs);
            refs == 2
        },
        "2 send refs",
    )?;
    // Another name for a port we already name: KERN_RIGHT_EXISTS; a used name: KERN_NAME_EXISTS.
    let other = new_port()?;
    check(
        mach_port_insert_right(task, 0x7703, port, MACH_MSG_TYPE_MAKE_SEND) == KernReturn::KERN_RIGHT_EXISTS,
        "right exists",
    )?;
    check(
        mach_port_insert_right(task, other, port, MACH_MSG_TYPE_MAKE_SEND) == KernReturn::KERN_NAME_EXISTS,
        "name exists",
    )?;
    // extract_right: a send-once right made from our receive right, under a new name.
    let (mut got, mut ty) = (0, 0);
    let kr = mach_port_extract_right(task, other, MACH_MSG_TYPE_MAKE_SEND_ONCE, &mut got, &mut ty);
    check(
        kr == SUCCESS && ty == MACH_MSG_TYPE_PORT_SEND_ONCE && type_of(got) == MACH_PORT_TYPE_SEND_ONCE,
        "extract",
    )?;
    let kr = mach_port_extract_right(task, 0x4321, MACH_MSG_TYPE_MAKE_SEND, &mut got, &mut ty);
    check(kr == KernReturn::KERN_INVALID_NAME, "extract from a bad name")?;
    let _ = mach_port_deallocate(task, got);

    // Attributes: the queue limit, the receive status, and a smaller limit enforced.
    let mut info = [0u32; 17];
    let mut count = 1;
    check(
        mach_port_get_attributes(task, port, 1, &mut info, &mut count) == SUCCESS && info[0] == 5,
        "qlimit 5",
    )?;
    check(mach_port_set_attributes(task, port, 1, &[1]) == SUCCESS, "set qlimit 1")?;
    check(
        mach_port_set_attributes(task, port, 1, &[5000]) == KernReturn::KERN_INVALID_VALUE,
        "qlimit too big",
    )?;
    check(
        mach_port_set_attributes(task, task, 1, &[1]) == KernReturn::KERN_INVALID_RIGHT,
        "not a receive right",
    )?;
    let mut buf = MsgBuf::new();
    buf.set_header(&simple(port, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 1));
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_MSG_SUCCESS, "first fits")?;
    check(buf.send(24, MACH_SEND_TIMEOUT, 0) == MACH_SEND_TIMED_OUT, "second does not")?;
    let mut count = 10;
    check(mach_port_get_attributes(task, port, 2, &mut info, &mut count) == SUCCESS, "receive status")?;
    check(count == 10 && info[3] == 1 && info[4] == 1 && info[6] == 1, "qlimit, msgcount, srights")?;
    let mut count = 10;
    check(
        mach_port_get_attributes(task, port, 77, &mut info, &mut count) == KernReturn::KERN_INVALID_ARGUMENT,
        "flavor",
    )?;
    let _ = mach_port_mod_refs(task, port, MACH_PORT_RIGHT_SEND, -2);
    drop_port(port);
    drop_port(other);
    Ok(())
}

/// The child side of `two_tasks`: find the parent through the inherited bootstrap port, send
/// it rights and memory, and check its reply. Returns the exit status.
fn two_tasks_child(data: &[u8]) -> i32 {
    let task = mach_task_self();
    let mut boot = 0;
    if task_get_bootstrap_port(task, &mut boot) != SUCCESS || type_of(boot) != MACH_PORT_TYPE_SEND {
        return 10;
    }
    let Ok(mine) = new_port() else { return 11 };
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX;
    buf.set_header(&simple(boot, bits, reply, 4242));
    buf.put(24, &2u32.to_le_bytes());
    buf.put(28, &port_descriptor(mine, MACH_MSG_TYPE_MAKE_SEND));
    buf.put(40, &ool_descriptor(data.as_ptr() as u64, data.len() as u32, false, MACH_MSG_VIRTUAL_COPY));
    if buf.send(56, 0, 0) != MACH_MSG_SUCCESS {
        return 12;
    }
    let mut got = MsgBuf::new();
    if got.receive(reply, MACH_RCV_TIMEOUT, 5000) != MACH_MSG_SUCCESS || got.header().msgh_id != 4342 {
        return 13;
    }
    // The parent wrote into its copy; ours is unchanged.
    if data.iter().any(|&b| b != 0x77) {
        return 14;
    }
    0
}

fn two_tasks(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let port = new_port()?;
    check(mach_port_insert_right(task, port, port, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "make a send right")?;
    check(task_set_special_port(task, TASK_BOOTSTRAP_PORT, port) == SUCCESS, "set bootstrap")?;
    let mut back = 0;
    check(task_get_bootstrap_port(task, &mut back) == SUCCESS && back == port, "get bootstrap")?;
    let _ = mach_port_deallocate(task, back);
    let data = [0x77u8; 3 * 4096 + 5];
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(two_tasks_child(&data)),
        Forked::Parent(pid) => pid,
    };
    let mut got = MsgBuf::new();
    let option = mach_rcv_trailer_elements(MACH_RCV_TRAILER_AUDIT);
    check(got.receive(port, MACH_RCV_TIMEOUT | option, 5000) == MACH_MSG_SUCCESS, "child's message")?;
    let h = got.header();
    check(h.msgh_id == 4242 && h.msgh_size == 56, "id and size")?;
    check(got.word(56 + MACH_MSG_TRAILER_AUDIT_OFFSET + 4 * AUDIT_TOKEN_PID) == child as u32, "sender pid")?;
    let child_port = got.word(28);
    check(type_of(child_port) == MACH_PORT_TYPE_SEND, "a send right to the child's port")?;
    let at = u64::from(got.word(40)) | (u64::from(got.word(44)) << 32);
    check(got.word(52) as usize == data.len(), "OOL size")?;
    // SAFETY: the kernel mapped the OOL data for us.
    let ool = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, data.len()) };
    check(ool.iter().all(|&b| b == 0x77), "OOL contents")?;
    ool.fill(0x11);
    let mut r = MsgBuf::new();
    r.set_header(&simple(h.msgh_remote_port, mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), 0, 4342));
    check(r.send(24, 0, 0) == MACH_MSG_SUCCESS, "reply")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child saw the reply and its own memory unchanged")?;
    // The child is gone, and with it its port: our send right is a dead name now.
    check(type_of(child_port) == MACH_PORT_TYPE_DEAD_NAME, "dead name after the child exits")?;
    let _ = mach_port_deallocate(task, child_port);
    let _ = mach_vm_deallocate(task, at, data.len() as u64);
    check(task_set_special_port(task, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL) == SUCCESS, "clear bootstrap")?;
    let _ = mach_port_mod_refs(task, port, MACH_PORT_RIGHT_SEND, -1);
    drop_port(port);
    Ok(())
}

/// Written by the parent of `remote_task_control` into its child through `mach_vm_write`.
static mut MAILBOX: [u64; 2] = [0x1111, 0];

fn mailbox_addr() -> u64 {
    core::ptr::addr_of!(MAILBOX) as u64
}

fn read_mailbox(i: usize) -> u64 {
    // SAFETY: a volatile read of our own static (another task writes it through the kernel).
    unsafe { core::ptr::read_volatile((mailbox_addr() as *const u64).add(i)) }
}

/// The name the parent inserts a send right under, in the child's space.
const CHOSEN_NAME: MachPortName = 0x5_0503;

fn remote_child() -> i32 {
    // Wait for the parent to write the mailbox, then send to the name it gave us.
    for _ in 0..5000 {
        if read_mailbox(1) == 0xfeed {
            let mut buf = MsgBuf::new();
            buf.set_header(&simple(CHOSEN_NAME, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, 77));
            return if buf.send(24, 0, 0) == MACH_MSG_SUCCESS { 0 } else { 21 };
        }
        crate::sched::sleep_ms(1);
    }
    20
}

fn remote_task_control(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(remote_child()),
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    check(type_of(t) == MACH_PORT_TYPE_SEND, "task_for_pid(child)")?;
    // Read its memory, then write it.
    let (mut data, mut n) = (0u64, 0u32);
    check(mach_vm_read(t, mailbox_addr(), 16, &mut data, &mut n) == SUCCESS && n == 16, "mach_vm_read")?;
    // SAFETY: the kernel mapped 16 bytes at `data` for us.
    check(unsafe { *(data as *const u64) } == 0x1111, "the child's value")?;
    let _ = mach_vm_deallocate(me, data, 16);
    check(mach_vm_read(t, 0x10, 16, &mut data, &mut n) == KernReturn::KERN_INVALID_ADDRESS, "read a hole")?;
    // Its threads, its regions, its space.
    let (mut threads, mut count) = (0u64, 0u32);
    check(task_threads(t, &mut threads, &mut count) == SUCCESS && count == 1, "child has one thread")?;
    // SAFETY: the kernel mapped `count` names at `threads`.
    let thread = unsafe { *(threads as *const u32) };
    let mut info = [0u32; 10];
    let mut c = 10;
    check(thread_info(thread, THREAD_BASIC_INFO, &mut info, &mut c) == SUCCESS, "child thread_info")?;
    check(task_suspend(t) == SUCCESS && task_resume(t) == SUCCESS, "suspend / resume")?;
    check(task_resume(t) == KernReturn::KERN_FAILURE, "resume of a running task")?;
    let (mut addr, mut size, mut obj) = (mailbox_addr(), 0u64, 0);
    let mut rinfo = [0u32; 10];
    let mut rc = 9;
    let kr = mach_vm_region(t, &mut addr, &mut size, VM_REGION_BASIC_INFO_64, &mut rinfo, &mut rc, &mut obj);
    check(kr == SUCCESS && addr <= mailbox_addr() && addr + size > mailbox_addr(), "region of the mailbox")?;
    check(rinfo[0] as i32 & VmProt::WRITE.0 != 0, "writable")?;
    let mut page = 0u64;
    check(
        mach_vm_allocate(t, &mut page, 4096, VM_FLAGS_ANYWHERE) == SUCCESS && page != 0,
        "allocate in child",
    )?;
    check(mach_vm_protect(t, page, 4096, false, VmProt::READ.0) == SUCCESS, "protect in child")?;
    let word = [0xabu8; 8];
    check(
        mach_vm_write(t, page, word.as_ptr() as u64, 8) == KernReturn::KERN_INVALID_ADDRESS,
        "write read-only",
    )?;
    check(mach_vm_deallocate(t, page, 4096) == SUCCESS, "deallocate in child")?;
    let mut name = 0;
    check(
        mach_port_allocate(t, MACH_PORT_RIGHT_RECEIVE, &mut name) == SUCCESS,
        "allocate a port in the child",
    )?;
    // Give the child a send right to our port under a name of our choosing, then tell it.
    let port = new_port()?;
    check(
        mach_port_insert_right(t, CHOSEN_NAME, port, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS,
        "insert in child",
    )?;
    let mut ty = 0;
    let kr = mach_port_type(t, CHOSEN_NAME, &mut ty);
    check(kr == SUCCESS && ty == MACH_PORT_TYPE_SEND, "child holds it")?;
    let value = 0xfeedu64.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, value.as_ptr() as u64, 8) == SUCCESS, "mach_vm_write")?;
    let mut got = MsgBuf::new();
    check(
        got.receive(port, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS && got.header().msgh_id == 77,
        "child sent",
    )?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child exit status")?;
    // The task is gone: its port is dead.
    let mut count = 12;
    let kr = task_info(t, MACH_TASK_BASIC_INFO, &mut [0u32; 12], &mut count);
    check(kr.0 == MACH_SEND_INVALID_DEST, "task_info on a dead task")?;
    for n in [t, thread] {
        let _ = mach_port_deallocate(me, n);
    }
    let _ = mach_vm_deallocate(me, threads, 4);
    drop_port(port);
    Ok(())
}

/// Arm notification `msgid` on `name`, sent to `notify` (a send-once right made from it).
fn arm(name: MachPortName, msgid: i32, sync: u32, notify: MachPortName) -> KernReturn {
    let mut previous = 0;
    mach_port_request_notification(
        mach_task_self(),
        name,
        msgid,
        sync,
        notify,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        &mut previous,
    )
}

/// The next message on `port` within `ms`: (id, the word after the NDR record).
fn notification(port: MachPortName, ms: u32) -> Option<(i32, u32)> {
    let mut buf = MsgBuf::new();
    (buf.receive(port, MACH_RCV_TIMEOUT, ms) == MACH_MSG_SUCCESS)
        .then(|| (buf.header().msgh_id, buf.word(32)))
}

fn notifications(_: &Args) -> Result<(), &'static str> {
    let task = mach_task_self();
    let notify = new_port()?;
    // Send-once: a send-once right destroyed unused tells its port.
    let port = new_port()?;
    let (mut once, mut ty) = (0, 0);
    check(
        mach_port_extract_right(task, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &mut once, &mut ty) == SUCCESS,
        "once",
    )?;
    check(mach_port_deallocate(task, once) == SUCCESS, "drop the send-once right")?;
    check(notification(port, 0).map(|n| n.0) == Some(MACH_NOTIFY_SEND_ONCE), "send-once notification")?;
    // Port-destroyed: the receive right comes back instead of dying.
    check(arm(port, MACH_NOTIFY_PORT_DESTROYED, 0, notify) == SUCCESS, "arm port-destroyed")?;
    check(mach_port_mod_refs(task, port, MACH_PORT_RIGHT_RECEIVE, -1) == SUCCESS, "destroy the right")?;
    let mut buf = MsgBuf::new();
    check(buf.receive(notify, MACH_RCV_TIMEOUT, 0) == MACH_MSG_SUCCESS, "port-destroyed arrives")?;
    check(
        buf.header().msgh_id == MACH_NOTIFY_PORT_DESTROYED
            && buf.header().msgh_bits & MACH_MSGH_BITS_COMPLEX != 0,
        "id",
    )?;
    let back = buf.word(28);
    check(
        type_of(back) == MACH_PORT_TYPE_RECEIVE && buf.0[38] == MACH_MSG_TYPE_PORT_RECEIVE as u8,
        "receive right back",
    )?;
    drop_port(back);
    // Port-deleted: a name with a dead-name request goes away while the port lives.
    let other = new_port()?;
    let (mut send, mut ty) = (0, 0);
    check(
        mach_port_extract_right(task, other, MACH_MSG_TYPE_MAKE_SEND, &mut send, &mut ty) == SUCCESS,
        "send",
    )?;
    check(arm(send, MACH_NOTIFY_DEAD_NAME, 0, notify) == SUCCESS, "arm dead-name")?;
    check(type_of(send) == MACH_PORT_TYPE_SEND_RECEIVE | MACH_PORT_TYPE_DNREQUEST, "DNREQUEST bit")?;
    check(mach_port_mod_refs(task, send, MACH_PORT_RIGHT_RECEIVE, -1) == SUCCESS, "drop the receive right")?;
    // The port died with its own receive right: dead-name, and one more reference.
    check(notification(notify, 0) == Some((MACH_NOTIFY_DEAD_NAME, send)), "dead-name for our own port")?;
    let mut refs = 0;
    check(
        mach_port_get_refs(task, send, MACH_PORT_RIGHT_DEAD_NAME, &mut refs) == SUCCESS && refs == 2,
        "2 refs",
    )?;
    let _ = mach_port_mod_refs(task, send, MACH_PORT_RIGHT_DEAD_NAME, -2);
    let live = new_port()?;
    check(
        mach_port_extract_right(task, live, MACH_MSG_TYPE_MAKE_SEND_ONCE, &mut once, &mut ty) == SUCCESS,
        "once",
    )?;
    check(arm(once, MACH_NOTIFY_DEAD_NAME, 0, notify) == SUCCESS, "arm on a send-once name")?;
    check(mach_port_deallocate(task, once) == SUCCESS, "drop it")?;
    check(notification(notify, 0) == Some((MACH_NOTIFY_PORT_DELETED, once)), "port-deleted")?;
    let _ = notification(live, 0);
    // Errors.
    check(arm(live, 99, 0, notify) == KernReturn::KERN_INVALID_VALUE, "unknown id")?;
    check(
        arm(task, MACH_NOTIFY_NO_SENDERS, 0, notify) == KernReturn::KERN_INVALID_RIGHT,
        "no-senders needs receive",
    )?;
    let mut previous = 0;
    let kr = mach_port_request_notification(
        task,
        live,
        MACH_NOTIFY_DEAD_NAME,
        0,
        notify,
        MACH_MSG_TYPE_COPY_SEND,
        &mut previous,
    );
    check(kr == KernReturn::KERN_INVALID_VALUE, "notify must be send-once")?;
    check(arm(0x9999, MACH_NOTIFY_DEAD_NAME, 0, notify) == KernReturn::KERN_INVALID_NAME, "bad name")?;

    // A peer exits: no-senders for the port it held a send right to, dead-name for its port.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => loop {
            crate::sched::sleep_ms(1000);
        },
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    check(
        mach_port_insert_right(t, CHOSEN_NAME, live, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS,
        "give the child a send right",
    )?;
    let mut theirs = 0;
    check(mach_port_allocate(t, MACH_PORT_RIGHT_RECEIVE, &mut theirs) == SUCCESS, "a port in the child")?;
    let mut to_child = 0;
    check(
        mach_port_extract_right(t, theirs, MACH_MSG_TYPE_MAKE_SEND, &mut to_child, &mut ty) == SUCCESS,
        "send right to it",
    )?;
    check(arm(live, MACH_NOTIFY_NO_SENDERS, 1, notify) == SUCCESS, "arm no-senders")?;
    check(arm(to_child, MACH_NOTIFY_DEAD_NAME, 0, notify) == SUCCESS, "arm dead-name")?;
    check(notification(notify, 0).is_none(), "nothing yet")?;
    let _ = libsys::signal::kill(child, sys::signal::SIGKILL);
    let _ = waitpid(child, 0);
    let a = notification(notify, 1000).ok_or("first notification")?;
    let b = notification(notify, 1000).ok_or("second notification")?;
    let want = [(MACH_NOTIFY_NO_SENDERS, 1), (MACH_NOTIFY_DEAD_NAME, to_child)];
    check(want.contains(&a) && want.contains(&b) && a != b, "no-senders (mscount 1) and dead-name")?;
    check(type_of(to_child) == MACH_PORT_TYPE_DEAD_NAME, "the child's port is a dead name")?;
    let _ = mach_port_mod_refs(task, to_child, MACH_PORT_RIGHT_DEAD_NAME, -2);
    let _ = mach_port_deallocate(task, t);
    for p in [live, notify] {
        drop_port(p);
    }
    let _ = other;
    Ok(())
}

/// A page the `exception_handler` children fault on (the same address in parent and child).
#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut FAULT_PAGE: Page = Page([0; 4096]);

fn fault_page() -> u64 {
    core::ptr::addr_of!(FAULT_PAGE) as u64
}

/// The handler's answer to exception message `h` of `routine`: a reply to its send-once
/// reply right carrying `code` (state replies append their new state after byte 36).
fn exception_reply(h: &MachMsgHeader, routine: &mach::mig::Routine, code: KernReturn) -> MsgBuf {
    let mut r = MsgBuf::new();
    let id = routine.id + mach::mig::MIG_REPLY_ID_OFFSET;
    r.set_header(&simple(h.msgh_remote_port, mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), 0, id));
    r.put(24, &mach::mig::NDR_RECORD);
    r.put(32, &code.0.to_le_bytes());
    r
}

/// Child of `exception_handler`: make the page read-only, wait for the go, write to it.
fn faulting_child() -> i32 {
    if mach_vm_protect(mach_task_self(), fault_page(), 4096, false, VmProt::READ.0) != SUCCESS {
        return 30;
    }
    for _ in 0..5000 {
        if read_mailbox(1) == 0xfeed {
            // SAFETY: our own static page; the write faults until the handler repairs it.
            unsafe { core::ptr::write_volatile(fault_page() as *mut u8, 43) };
            // SAFETY: as above.
            let v = unsafe { core::ptr::read_volatile(fault_page() as *const u8) };
            return if v == 43 { 0 } else { 31 };
        }
        crate::sched::sleep_ms(1);
    }
    32
}

/// Run a faulting child whose task exception port is ours; answer its exception with
/// `verdict` (repairing the page first if it is success). Returns the child's wait status.
fn handle_one_fault(verdict: KernReturn) -> Result<i32, &'static str> {
    let me = mach_task_self();
    let exc = new_port()?;
    check(mach_port_insert_right(me, exc, exc, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send right")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(faulting_child()),
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    let behavior = EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES;
    check(
        task_set_exception_ports(t, 1 << EXC_BAD_ACCESS, exc, behavior, 0) == SUCCESS,
        "set exception port",
    )?;
    check(
        task_set_exception_ports(t, 1 << 20, exc, behavior, 0) == KernReturn::KERN_INVALID_ARGUMENT,
        "bad mask",
    )?;
    check(
        task_set_exception_ports(t, 1 << EXC_BAD_ACCESS, exc, 9, 0) == KernReturn::KERN_INVALID_ARGUMENT,
        "bad behavior",
    )?;
    let go = 0xfeedu64.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, go.as_ptr() as u64, 8) == SUCCESS, "go")?;
    let mut msg = MsgBuf::new();
    check(msg.receive(exc, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS, "exception message")?;
    let h = msg.header();
    check(
        h.msgh_id == mach::defs::MACH_EXCEPTION_RAISE.id
            && h.msgh_bits & MACH_MSGH_BITS_COMPLEX != 0
            && h.msgh_size == 84,
        "mach_exception_raise",
    )?;
    let (thread, task) = (msg.word(28), msg.word(40));
    check(msg.word(60) == EXC_BAD_ACCESS && msg.word(64) == 2, "EXC_BAD_ACCESS with two codes")?;
    check(msg.long(68) == 2 && msg.long(76) == fault_page(), "KERN_PROTECTION_FAILURE at the page")?;
    let mut info = [0u32; 10];
    let mut c = 10;
    check(
        thread_info(thread, THREAD_BASIC_INFO, &mut info, &mut c) == SUCCESS,
        "the faulting thread's port works",
    )?;
    if verdict == SUCCESS {
        check(mach_vm_protect(task, fault_page(), 4096, false, VmProt::DEFAULT.0) == SUCCESS, "repair")?;
    }
    let mut r = exception_reply(&h, &mach::defs::MACH_EXCEPTION_RAISE, verdict);
    check(r.send(36, 0, 0) == MACH_MSG_SUCCESS, "reply")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    for n in [thread, task, t] {
        let _ = mach_port_deallocate(me, n);
    }
    let _ = mach_port_mod_refs(me, exc, MACH_PORT_RIGHT_SEND, -1);
    drop_port(exc);
    Ok(status)
}

fn exception_handler(_: &Args) -> Result<(), &'static str> {
    check(handle_one_fault(SUCCESS)? == 0, "repaired: the child's write went through")?;
    let status = handle_one_fault(KernReturn::KERN_FAILURE)?;
    check(status & 0x7f == sys::signal::SIGBUS as i32, "refused: BSD turns it into SIGBUS")?;
    Ok(())
}

const SERVICE: &[u8] = b"org.rxnu.test.echo";

/// The registering child: publish a port under SERVICE, answer one request, exit.
fn service_child() -> i32 {
    use libsys::bootstrap::{bootstrap_port, bootstrap_register};
    let Ok(port) = new_port() else { return 40 };
    if mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND) != SUCCESS {
        return 41;
    }
    if bootstrap_register(bootstrap_port(), SERVICE, port) != SUCCESS {
        return 42;
    }
    let mut buf = MsgBuf::new();
    if buf.receive(port, MACH_RCV_TIMEOUT, 5000) != MACH_MSG_SUCCESS {
        return 43;
    }
    let h = buf.header();
    buf.set_header(&simple(
        h.msgh_remote_port,
        mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
        0,
        h.msgh_id + 100,
    ));
    if buf.send(32, 0, 0) != MACH_MSG_SUCCESS { 44 } else { 0 }
}

/// The looking-up child: find SERVICE (waiting for it to appear), call it once.
fn client_child() -> i32 {
    use libsys::bootstrap::{bootstrap_look_up, bootstrap_port};
    let mut service = 0;
    let mut tries = 0;
    while bootstrap_look_up(bootstrap_port(), SERVICE, &mut service) != SUCCESS {
        tries += 1;
        if tries > 5000 {
            return 50;
        }
        crate::sched::sleep_ms(1);
    }
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple(service, bits, reply, 321));
    buf.put(24, b"ping....");
    if buf.call(32, reply) != MACH_MSG_SUCCESS || buf.header().msgh_id != 421 || &buf.0[24..32] != b"ping...."
    {
        return 51;
    }
    0
}

fn bootstrap_rendezvous(_: &Args) -> Result<(), &'static str> {
    use libsys::bootstrap::{bootstrap_look_up, bootstrap_register, bootstrap_start_server};
    use mach::defs::bootstrap::{BOOTSTRAP_NAME_IN_USE, BOOTSTRAP_UNKNOWN_SERVICE};
    // We are init here: we serve the bootstrap port our children inherit.
    let bp = bootstrap_start_server().map_err(|_| "start the bootstrap server")?;
    let mut got = 0;
    check(
        bootstrap_look_up(bp, b"no.such.service", &mut got).0 == BOOTSTRAP_UNKNOWN_SERVICE,
        "unknown name",
    )?;
    // Two unrelated processes (siblings) meet by name.
    let server = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(service_child()),
        Forked::Parent(pid) => pid,
    };
    let client = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(client_child()),
        Forked::Parent(pid) => pid,
    };
    let (_, s1) = waitpid(client, 0).map_err(|_| "waitpid")?;
    let (_, s2) = waitpid(server, 0).map_err(|_| "waitpid")?;
    check(s1 == 0 && s2 == 0, "client found the service and got its answer")?;
    // The service's port died with its task: the name is free again.
    let mine = new_port()?;
    check(mach_port_insert_right(mach_task_self(), mine, mine, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send")?;
    check(bootstrap_register(bp, SERVICE, mine) == SUCCESS, "name free after the service died")?;
    check(bootstrap_register(bp, SERVICE, mine).0 == BOOTSTRAP_NAME_IN_USE, "name in use")?;
    check(bootstrap_look_up(bp, SERVICE, &mut got) == SUCCESS && got == mine, "look up our own service")?;
    let long = [b'x'; 200];
    check(bootstrap_register(bp, &long, mine).0 == mach::mig::MIG_ARRAY_TOO_LARGE.0, "name too long")?;
    Ok(())
}

fn shared_memory(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let rw = VmProt::DEFAULT.0;
    // An entry for two pages of ours, mapped a second time into ourselves: one memory.
    let mut base = 0u64;
    check(mach_vm_allocate(me, &mut base, 8192, VM_FLAGS_ANYWHERE) == SUCCESS, "allocate")?;
    // SAFETY: our fresh allocation.
    unsafe { core::ptr::write_volatile(base as *mut u64, 0x1234) };
    let (mut size, mut entry) = (8192u64, 0);
    check(mach_make_memory_entry_64(me, &mut size, base, rw as u32, &mut entry, 0) == SUCCESS, "make entry")?;
    check(size == 8192 && type_of(entry) == MACH_PORT_TYPE_SEND, "a send right for 8 KiB")?;
    let mut alias = 0u64;
    check(
        mach_vm_map(me, &mut alias, 8192, 0, VM_FLAGS_ANYWHERE, entry, 0, false, rw, rw, 0) == SUCCESS,
        "map",
    )?;
    // SAFETY: both map the same two pages.
    unsafe {
        check(core::ptr::read_volatile(alias as *const u64) == 0x1234, "alias sees the data")?;
        core::ptr::write_volatile((alias + 4096) as *mut u64, 0x5678);
        check(core::ptr::read_volatile((base + 4096) as *const u64) == 0x5678, "and writes go both ways")?;
    }
    // Errors: beyond the entry, more protection than it has, a port that is no entry.
    let mut bad = 0u64;
    check(
        mach_vm_map(me, &mut bad, 3 * 4096, 0, VM_FLAGS_ANYWHERE, entry, 0, false, rw, rw, 0)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "too big",
    )?;
    check(
        mach_vm_map(me, &mut bad, 4096, 0, VM_FLAGS_ANYWHERE, me, 0, false, rw, rw, 0)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "not an entry",
    )?;
    let (mut rsize, mut ro) = (4096u64, 0);
    check(
        mach_make_memory_entry_64(me, &mut rsize, 0, VmProt::READ.0 as u32, &mut ro, entry) == SUCCESS,
        "read-only sub-entry",
    )?;
    check(
        mach_vm_map(me, &mut bad, 4096, 0, VM_FLAGS_ANYWHERE, ro, 0, false, rw, rw, 0)
            == KernReturn::KERN_PROTECTION_FAILURE,
        "no write through a read-only entry",
    )?;
    let (mut huge, mut none) = (u64::MAX, 0);
    let kr = mach_make_memory_entry_64(me, &mut huge, 0, rw as u32, &mut none, entry);
    check(kr == KernReturn::KERN_INVALID_ARGUMENT, "a sub-entry size that overflows")?;
    let mut hole = 0;
    check(mach_make_memory_entry_64(me, &mut rsize, 0x10, rw as u32, &mut hole, 0) != SUCCESS, "a hole")?;

    // Between tasks: fresh memory, mapped into a child; the child's write shows up here.
    let (mut csize, mut fresh) = (4096u64, 0);
    check(
        mach_make_memory_entry_64(me, &mut csize, 0, rw as u32 | MAP_MEM_NAMED_CREATE, &mut fresh, 0)
            == SUCCESS,
        "named create",
    )?;
    let mut here = 0u64;
    check(
        mach_vm_map(me, &mut here, 4096, 0, VM_FLAGS_ANYWHERE, fresh, 0, false, rw, rw, 0) == SUCCESS,
        "map here",
    )?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // The parent tells us where it mapped the memory through our mailbox.
            for _ in 0..5000 {
                let at = read_mailbox(1);
                if at != 0 {
                    // SAFETY: the parent mapped a page there for us.
                    unsafe { core::ptr::write_volatile(at as *mut u64, 0xc0ffee) };
                    exit_process(0);
                }
                crate::sched::sleep_ms(1);
            }
            exit_process(1)
        }
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    let mut there = 0u64;
    check(
        mach_vm_map(t, &mut there, 4096, 0, VM_FLAGS_ANYWHERE, fresh, 0, false, rw, rw, 0) == SUCCESS,
        "map into the child",
    )?;
    let at = there.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, at.as_ptr() as u64, 8) == SUCCESS, "tell the child")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "child wrote")?;
    // SAFETY: our mapping of the shared page.
    check(unsafe { core::ptr::read_volatile(here as *const u64) } == 0xc0ffee, "we see the child's write")?;
    for name in [entry, ro, fresh, t] {
        let _ = mach_port_deallocate(me, name);
    }
    for (a, n) in [(base, 8192), (alias, 8192), (here, 4096)] {
        let _ = mach_vm_deallocate(me, a, n);
    }
    Ok(())
}

extern "C" fn spinner(_: u64) {
    loop {
        crate::sched::sleep_ms(1);
    }
}

/// How many threads `task` has.
fn thread_count(task: MachPortName) -> u32 {
    let (mut list, mut n) = (0u64, 0u32);
    if task_threads(task, &mut list, &mut n) != SUCCESS {
        return 0;
    }
    for i in 0..n {
        // SAFETY: the kernel mapped `n` names at `list`.
        let _ = mach_port_deallocate(mach_task_self(), unsafe { *(list as *const u32).add(i as usize) });
    }
    let _ = mach_vm_deallocate(mach_task_self(), list, 4 * u64::from(n));
    n
}

fn terminate(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    // thread_terminate: a thread of ours that would spin forever ends.
    let before = thread_count(me);
    crate::sched::spawn(3, spinner, 0)?;
    let mut tries = 0;
    while thread_count(me) <= before && tries < 1000 {
        crate::sched::sleep_ms(1);
        tries += 1;
    }
    let (mut list, mut n) = (0u64, 0u32);
    check(task_threads(me, &mut list, &mut n) == SUCCESS && n == before + 1, "one more thread")?;
    // Threads are listed oldest first: the spinner is the last.
    // SAFETY: `n` names at `list`.
    let other = unsafe { *(list as *const u32).add(n as usize - 1) };
    check(other != mach_thread_self(), "not ourselves")?;
    check(thread_terminate(other) == SUCCESS, "thread_terminate")?;
    let mut tries = 0;
    while thread_count(me) != before && tries < 1000 {
        crate::sched::sleep_ms(1);
        tries += 1;
    }
    check(thread_count(me) == before, "the thread is gone")?;
    let mut info = [0u32; 10];
    let mut c = 10;
    let kr = thread_info(other, THREAD_BASIC_INFO, &mut info, &mut c);
    check(kr != SUCCESS || info[6] == 5, "a terminated thread is halted or gone")?;
    for i in 0..n {
        // SAFETY: as above.
        let _ = mach_port_deallocate(me, unsafe { *(list as *const u32).add(i as usize) });
    }
    let _ = mach_vm_deallocate(me, list, 4 * u64::from(n));
    // task_terminate: a child killed through its task port, as by SIGKILL.
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => loop {
            crate::sched::sleep_ms(1000);
        },
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    check(task_terminate(t) == SUCCESS, "task_terminate")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status & 0x7f == sys::signal::SIGKILL as i32, "killed")?;
    check(task_terminate(t).0 == MACH_SEND_INVALID_DEST, "a dead task's port")?;
    let _ = mach_port_deallocate(me, t);
    Ok(())
}

/// Child of `host_handler`: hit a breakpoint; the host-level handler steps over it.
fn breakpoint_child() -> i32 {
    // SAFETY: `brk` traps to the kernel; the handler moves the pc past it.
    unsafe { core::arch::asm!("brk #0x1", options(nomem, nostack)) };
    0
}

fn host_handler(_: &Args) -> Result<(), &'static str> {
    let me = mach_task_self();
    let host = mach_host_self();
    let exc = new_port()?;
    check(mach_port_insert_right(me, exc, exc, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send right")?;
    let behavior = EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES;
    check(host_set_exception_ports(host, 1 << EXC_BREAKPOINT, exc, behavior, 0) == SUCCESS, "set host port")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => exit_process(breakpoint_child()),
        Forked::Parent(pid) => pid,
    };
    let mut msg = MsgBuf::new();
    check(msg.receive(exc, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS, "exception at the host level")?;
    let h = msg.header();
    check(
        h.msgh_id == mach::defs::MACH_EXCEPTION_RAISE.id && msg.word(60) == EXC_BREAKPOINT,
        "EXC_BREAKPOINT",
    )?;
    // Step over the brk: pc + 4 in the faulting thread's state.
    let thread = msg.word(28);
    let mut state = [0u32; 68];
    let mut count = 68;
    check(thread_get_state(thread, ARM_THREAD_STATE64, &mut state, &mut count) == SUCCESS, "get state")?;
    let pc = u64::from(state[ARM_THREAD_STATE64_PC]) | (u64::from(state[ARM_THREAD_STATE64_PC + 1]) << 32);
    check(pc == msg.long(76), "the subcode is the pc")?;
    let next = pc + 4;
    state[ARM_THREAD_STATE64_PC] = next as u32;
    state[ARM_THREAD_STATE64_PC + 1] = (next >> 32) as u32;
    check(thread_set_state(thread, ARM_THREAD_STATE64, &state) == SUCCESS, "set state")?;
    let mut r = exception_reply(&h, &mach::defs::MACH_EXCEPTION_RAISE, SUCCESS);
    check(r.send(36, 0, 0) == MACH_MSG_SUCCESS, "reply")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "the child ran on past its breakpoint")?;
    check(host_set_exception_ports(host, 1 << EXC_BREAKPOINT, 0, behavior, 0) == SUCCESS, "clear")?;
    // Only root may set the host's ports.
    let status = crate::proc::in_child(|| {
        // SAFETY: no pointers.
        let _ = unsafe { libsys::syscall::setuid(501) };
        let kr = host_set_exception_ports(mach_host_self(), 1 << EXC_BREAKPOINT, 0, behavior, 0);
        i32::from(kr != KernReturn::KERN_INVALID_ARGUMENT)
    })?;
    check(status == 0, "non-root refused")?;
    let _ = mach_port_deallocate(me, thread);
    let _ = mach_port_mod_refs(me, exc, MACH_PORT_RIGHT_SEND, -1);
    drop_port(exc);
    Ok(())
}

fn state_handler(_: &Args) -> Result<(), &'static str> {
    use mach::exception::EXCEPTION_STATE_IDENTITY;
    let me = mach_task_self();
    let exc = new_port()?;
    check(mach_port_insert_right(me, exc, exc, MACH_MSG_TYPE_MAKE_SEND) == SUCCESS, "send right")?;
    let child = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            // Wait for the parent's go (through our mailbox), then hit the breakpoint.
            for _ in 0..5000 {
                if read_mailbox(1) == 0xfeed {
                    exit_process(breakpoint_child());
                }
                crate::sched::sleep_ms(1);
            }
            exit_process(9)
        }
        Forked::Parent(pid) => pid,
    };
    let t = child_task(child)?;
    let behavior = EXCEPTION_STATE_IDENTITY | MACH_EXCEPTION_CODES;
    check(
        task_set_exception_ports(t, 1 << EXC_BREAKPOINT, exc, behavior, 99)
            == KernReturn::KERN_INVALID_ARGUMENT,
        "flavor",
    )?;
    check(
        task_set_exception_ports(t, 1 << EXC_BREAKPOINT, exc, behavior, ARM_THREAD_STATE64) == SUCCESS,
        "set",
    )?;
    let go = 0xfeedu64.to_le_bytes();
    check(mach_vm_write(t, mailbox_addr() + 8, go.as_ptr() as u64, 8) == SUCCESS, "go")?;
    let mut msg = MsgBuf::new();
    check(msg.receive(exc, MACH_RCV_TIMEOUT, 5000) == MACH_MSG_SUCCESS, "exception")?;
    let h = msg.header();
    check(
        h.msgh_id == mach::defs::MACH_EXCEPTION_RAISE_STATE_IDENTITY.id && h.msgh_size == 364,
        "mach_exception_raise_state_identity",
    )?;
    check(msg.word(60) == EXC_BREAKPOINT && msg.word(84) == 6 && msg.word(88) == 68, "state in the message")?;
    // The state's pc (words 64, 65) is the subcode; answer with pc + 4.
    let pc = msg.long(92 + ARM_THREAD_STATE64_PC * 4);
    check(pc == msg.long(76), "pc matches the subcode")?;
    let mut r = exception_reply(&h, &mach::defs::MACH_EXCEPTION_RAISE_STATE_IDENTITY, SUCCESS);
    r.put(36, &6u32.to_le_bytes());
    r.put(40, &68u32.to_le_bytes());
    let mut state = [0u8; 272];
    state.copy_from_slice(&msg.0[92..92 + 272]);
    r.put(44, &state);
    r.put(44 + ARM_THREAD_STATE64_PC * 4, &(pc + 4).to_le_bytes());
    check(r.send(44 + 272, 0, 0) == MACH_MSG_SUCCESS, "reply with the new state")?;
    let (_, status) = waitpid(child, 0).map_err(|_| "waitpid")?;
    check(status == 0, "the child went on from the new pc")?;
    for n in [msg.word(28), msg.word(40), t] {
        let _ = mach_port_deallocate(me, n);
    }
    let _ = mach_port_mod_refs(me, exc, MACH_PORT_RIGHT_SEND, -1);
    drop_port(exc);
    Ok(())
}
