//! Mach IPC benchmarks: RPC round trips between two tasks and between two threads of one
//! task (client `mach_msg` send-and-receive on a reply port, server receive-then-reply), and
//! one-way out-of-line transfers.

use core::sync::atomic::{AtomicU32, Ordering};

use libsys::mach::*;
use libsys::mach_traps::mach_task_self;
use libsys::process::{Forked, fork, waitpid};
use libsys::syscall::exit_process;
use libsys::thread::{ThreadSlot, thread_spawn};
use mach::defs::special::TASK_BOOTSTRAP_PORT;
use mach::message::*;
use mach::port::{MACH_PORT_NULL, MACH_PORT_RIGHT_RECEIVE};

/// Message id that tells a server to stop.
const QUIT: i32 = 999;

fn new_port() -> u32 {
    let mut name = 0;
    let _ = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &mut name);
    name
}

/// Serve `port`: answer every request through its send-once reply right until QUIT.
fn serve(port: u32) {
    let mut buf = MsgBuf::new();
    loop {
        if buf.receive(port, 0, 0) != MACH_MSG_SUCCESS {
            return;
        }
        let h = buf.header();
        if h.msgh_id == QUIT {
            return;
        }
        buf.set_header(&simple_header(
            h.msgh_remote_port,
            mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
            0,
            h.msgh_id + 100,
        ));
        let _ = buf.send(32, 0, 0);
    }
}

/// One RPC to `server` (32-byte request and reply), replies on `reply`.
fn call(buf: &mut MsgBuf, server: u32, reply: u32) {
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    buf.set_header(&simple_header(server, bits, reply, 1));
    let _ = buf.call(32, reply);
}

fn quit(server: u32) {
    let mut buf = MsgBuf::new();
    buf.set_header(&simple_header(server, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 0, QUIT));
    let _ = buf.send(24, 0, 0);
}

/// RPC round trip to a server in a child task; `measure` runs the loop.
pub fn rpc_between_tasks(measure: &mut dyn FnMut(&mut dyn FnMut()) -> u64) -> u64 {
    let task = mach_task_self();
    // The child finds us through its inherited bootstrap port and sends us its server port.
    let rendezvous = new_port();
    let _ = mach_port_insert_right(task, rendezvous, rendezvous, MACH_MSG_TYPE_MAKE_SEND);
    let _ = task_set_special_port(task, TASK_BOOTSTRAP_PORT, rendezvous);
    let child = match fork() {
        Ok(Forked::Child) => {
            let mut boot = 0;
            let _ = task_get_bootstrap_port(mach_task_self(), &mut boot);
            let port = new_port();
            let mut buf = MsgBuf::new();
            let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
            buf.set_header(&simple_header(boot, bits, 0, 1));
            buf.put(24, &1u32.to_le_bytes());
            buf.put(28, &port_descriptor(port, MACH_MSG_TYPE_MAKE_SEND));
            let _ = buf.send(40, 0, 0);
            serve(port);
            exit_process(0)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(_) => return 0,
    };
    let _ = task_set_special_port(task, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL);
    let mut buf = MsgBuf::new();
    if buf.receive(rendezvous, 0, 0) != MACH_MSG_SUCCESS {
        return 0;
    }
    let server = buf.word(28);
    let reply = mach_reply_port();
    let cost = measure(&mut || call(&mut buf, server, reply));
    quit(server);
    let _ = waitpid(child, 0);
    cost
}

static SERVER: AtomicU32 = AtomicU32::new(0);
static SERVER_SLOT: ThreadSlot = ThreadSlot::new();

extern "C" fn server_thread(_: u64) {
    serve(SERVER.load(Ordering::Acquire));
}

/// RPC round trip to a server thread of this task.
pub fn rpc_between_threads(
    stack: &'static mut [u8],
    measure: &mut dyn FnMut(&mut dyn FnMut()) -> u64,
) -> u64 {
    let port = new_port();
    let _ = mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND);
    SERVER.store(port, Ordering::Release);
    if thread_spawn(server_thread, 0, stack, &SERVER_SLOT).is_err() {
        return 0;
    }
    let reply = mach_reply_port();
    let mut buf = MsgBuf::new();
    let cost = measure(&mut || call(&mut buf, port, reply));
    quit(port);
    SERVER_SLOT.join();
    cost
}

/// Send `size` bytes out of line to ourselves and receive them (then unmap the copy).
pub fn ool_one_way(size: usize, measure: &mut dyn FnMut(&mut dyn FnMut()) -> u64) -> u64 {
    let task = mach_task_self();
    let port = new_port();
    let mut src = 0u64;
    if mach_vm_allocate(task, &mut src, size as u64, 1) != mach::KernReturn::KERN_SUCCESS {
        return 0;
    }
    // Touch every page so the copy has data to carry.
    for off in (0..size).step_by(4096) {
        // SAFETY: inside the region just allocated.
        unsafe { ((src as usize + off) as *mut u8).write_volatile(1) };
    }
    let mut buf = MsgBuf::new();
    let cost = measure(&mut || {
        let bits = mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
        buf.set_header(&simple_header(port, bits, 0, 1));
        buf.put(24, &1u32.to_le_bytes());
        buf.put(28, &ool_descriptor(src, size as u32, false, MACH_MSG_VIRTUAL_COPY));
        let _ = buf.send(44, 0, 0);
        if buf.receive(port, 0, 0) == MACH_MSG_SUCCESS {
            let _ = mach_vm_deallocate(task, buf.long(28), size as u64);
        }
    });
    let _ = mach_vm_deallocate(task, src, size as u64);
    let _ = mach_port_mod_refs(task, port, MACH_PORT_RIGHT_RECEIVE, -1);
    cost
}

static PING: AtomicU32 = AtomicU32::new(0);
static PONG: AtomicU32 = AtomicU32::new(0);
static PONG_SLOT: ThreadSlot = ThreadSlot::new();
/// Rounds the ponger answers (the measured ones plus `measure`'s warm-up).
static ROUNDS: AtomicU32 = AtomicU32::new(0);

extern "C" fn ponger(_: u64) {
    let (ping, pong) = (PING.load(Ordering::Acquire), PONG.load(Ordering::Acquire));
    for _ in 0..ROUNDS.load(Ordering::Acquire) {
        let _ = semaphore_wait_signal(ping, pong);
    }
}

/// Semaphore ping-pong between two threads: one round = signal + wait on each side.
pub fn semaphore_ping_pong(
    rounds: u32,
    stack: &'static mut [u8],
    measure: &mut dyn FnMut(&mut dyn FnMut()) -> u64,
) -> u64 {
    let task = mach_task_self();
    let (mut ping, mut pong) = (0, 0);
    let _ = semaphore_create(task, &mut ping, 0, 0);
    let _ = semaphore_create(task, &mut pong, 0, 0);
    PING.store(ping, Ordering::Release);
    PONG.store(pong, Ordering::Release);
    ROUNDS.store(rounds + 1, Ordering::Release);
    if thread_spawn(ponger, 0, stack, &PONG_SLOT).is_err() {
        return 0;
    }
    let cost = measure(&mut || {
        let _ = semaphore_wait_signal(pong, ping);
    });
    PONG_SLOT.join();
    let _ = semaphore_destroy(task, ping);
    let _ = semaphore_destroy(task, pong);
    cost
}
