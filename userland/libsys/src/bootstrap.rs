//! The bootstrap service: how unrelated programs find each other by name. Init holds the
//! receive right of the bootstrap port and serves `bootstrap_register` and `bootstrap_look_up`
//! (as launchd does on macOS); every task inherits a send right to it as its
//! `TASK_BOOTSTRAP_PORT` special port. The routines are declared in `mach::defs` like the
//! kernel's, so the client stubs and this server lay out the same messages.

use core::cell::UnsafeCell;

use mach::defs::bootstrap::{
    BOOTSTRAP_NAME_IN_USE, BOOTSTRAP_NO_MEMORY, BOOTSTRAP_SUCCESS, BOOTSTRAP_UNKNOWN_SERVICE,
};
use mach::defs::{BOOTSTRAP_LOOK_UP, BOOTSTRAP_REGISTER, NAME_MAX_BYTES};

use crate::mach::mig;
use mach::message::*;
use mach::mig::{MIG_BAD_ID, MIG_REPLY_ID_OFFSET};
use mach::port::{MACH_PORT_NULL, MACH_PORT_RIGHT_SEND, MACH_PORT_TYPE_DEAD_NAME};
use mach::{KernReturn, MachPortName};

use crate::mach::*;
use crate::mach_traps::mach_task_self;

/// `bootstrap_port`: our inherited bootstrap special port (`MACH_PORT_NULL` if none).
pub fn bootstrap_port() -> MachPortName {
    let mut port = MACH_PORT_NULL;
    let _ = task_get_bootstrap_port(mach_task_self(), &mut port);
    port
}

/// `bootstrap_register(bp, name, service_port)`: publish a send right under `name`.
pub fn bootstrap_register(bp: MachPortName, name: &[u8], service: MachPortName) -> KernReturn {
    mig::bootstrap_register(bp, name, (service, MACH_MSG_TYPE_COPY_SEND), &mut MigBuffer::new())
        .err()
        .unwrap_or(KernReturn::KERN_SUCCESS)
}

/// `bootstrap_look_up(bp, name, &service_port)`: a send right to the service `name`.
pub fn bootstrap_look_up(bp: MachPortName, name: &[u8], service: &mut MachPortName) -> KernReturn {
    match mig::bootstrap_look_up(bp, name, &mut MigBuffer::new()) {
        Ok(reply) => {
            *service = reply.service_port.name;
            KernReturn::KERN_SUCCESS
        }
        Err(kr) => kr,
    }
}

/// Most services one bootstrap server keeps (user space has no heap: a fixed table).
pub const BOOTSTRAP_MAX_SERVICES: usize = 64;

/// One registered service: its name and our send right's name.
#[derive(Clone, Copy)]
struct Service {
    name: [u8; NAME_MAX_BYTES as usize],
    port: MachPortName,
}

/// The server's table.
struct Registry {
    services: [Option<Service>; BOOTSTRAP_MAX_SERVICES],
}

impl Registry {
    const fn new() -> Self {
        Self { services: [None; BOOTSTRAP_MAX_SERVICES] }
    }

    /// Forget services whose port has died (their send right became a dead name).
    fn prune(&mut self) {
        for slot in self.services.iter_mut() {
            if let Some(s) = slot {
                let mut ty = 0;
                let _ = mach_port_type(mach_task_self(), s.port, &mut ty);
                if ty & MACH_PORT_TYPE_DEAD_NAME != 0 || ty == 0 {
                    let _ = mach_port_deallocate(mach_task_self(), s.port);
                    *slot = None;
                }
            }
        }
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        let same = |s: &Service| {
            let stored = &s.name[..s.name.iter().position(|&c| c == 0).unwrap_or(s.name.len())];
            stored == name
        };
        self.services.iter().position(|s| s.as_ref().is_some_and(same))
    }

    fn register(&mut self, name: &[u8], port: MachPortName) -> i32 {
        self.prune();
        if self.find(name).is_some() {
            return BOOTSTRAP_NAME_IN_USE;
        }
        let Some(slot) = self.services.iter_mut().find(|s| s.is_none()) else { return BOOTSTRAP_NO_MEMORY };
        let mut fixed = [0u8; NAME_MAX_BYTES as usize];
        fixed[..name.len()].copy_from_slice(name);
        *slot = Some(Service { name: fixed, port });
        BOOTSTRAP_SUCCESS
    }

    fn look_up(&mut self, name: &[u8]) -> Option<MachPortName> {
        self.prune();
        self.find(name).and_then(|i| self.services[i]).map(|s| s.port)
    }
}

/// Serve the bootstrap port `bp` forever (init runs this in a thread of its own).
pub fn bootstrap_serve(bp: MachPortName) -> ! {
    let mut registry = Registry::new();
    let mut buf = MigBuffer::new();
    loop {
        // SAFETY: `buf` is MIG_BUFFER_SIZE bytes.
        let mr =
            unsafe { mach_msg(buf.0.as_mut_ptr().cast(), MACH_RCV_MSG, 0, MIG_BUFFER_SIZE as u32, bp, 0, 0) };
        if mr != MACH_MSG_SUCCESS {
            continue;
        }
        let mut head = [0u8; 24];
        head.copy_from_slice(&buf.0[..24]);
        let h = MachMsgHeader::from_bytes(&head);
        let size = (h.msgh_size as usize).clamp(24, MIG_BUFFER_SIZE);
        let complex = h.msgh_bits & MACH_MSGH_BITS_COMPLEX != 0;
        let mut body = [0u8; 512];
        let n = (size - 24).min(body.len());
        body[..n].copy_from_slice(&buf.0[24..24 + n]);
        // The answer: a code, and for a successful look-up, the port.
        let body = &body[..n];
        let (code, port) = if h.msgh_id == BOOTSTRAP_REGISTER.id {
            match mig::bootstrap_register::Request::decode(complex, body) {
                Ok(req) => {
                    let port = req.service_port.name;
                    let code = registry.register(trim(req.service_name), port);
                    if code != BOOTSTRAP_SUCCESS {
                        let _ = mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, -1);
                    }
                    (KernReturn(code), None)
                }
                Err(kr) => (kr, None),
            }
        } else if h.msgh_id == BOOTSTRAP_LOOK_UP.id {
            match mig::bootstrap_look_up::Request::decode(complex, body) {
                Ok(req) => match registry.look_up(trim(req.service_name)) {
                    Some(port) => (KernReturn::KERN_SUCCESS, Some(port)),
                    None => (KernReturn(BOOTSTRAP_UNKNOWN_SERVICE), None),
                },
                Err(kr) => (kr, None),
            }
        } else {
            (MIG_BAD_ID, None)
        };
        if h.msgh_remote_port == MACH_PORT_NULL {
            continue;
        }
        reply(&mut buf, &h, code, port);
    }
}

/// The name bytes of a `name_t`, without their NUL padding.
fn trim(name: &[u8]) -> &[u8] {
    &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())]
}

/// Answer request `h`: `mig_reply_error_t` with `code`, or the look-up reply with `port`
/// (whose code is then `BOOTSTRAP_SUCCESS`).
fn reply(buf: &mut MigBuffer, h: &MachMsgHeader, code: KernReturn, port: Option<MachPortName>) {
    let reply_bits = mach_msgh_bits_remote(h.msgh_bits);
    let id = h.msgh_id + MIG_REPLY_ID_OFFSET;
    let (bits, len) = match port {
        Some(port) => {
            let len = mig::bootstrap_look_up::encode_reply((port, 0), &mut buf.0[24..]).unwrap_or(0);
            (mach_msgh_bits(reply_bits, 0) | MACH_MSGH_BITS_COMPLEX, len)
        }
        None => (mach_msgh_bits(reply_bits, 0), mig::encode_error_reply(code, &mut buf.0[24..]).unwrap_or(0)),
    };
    let out = simple_header(h.msgh_remote_port, bits, MACH_PORT_NULL, id);
    buf.0[..24].copy_from_slice(&out.to_bytes());
    // SAFETY: `buf` holds the 24 + len bytes just written.
    let _ = unsafe {
        mach_msg(buf.0.as_mut_ptr().cast(), MACH_SEND_MSG | MACH_SEND_TIMEOUT, 24 + len as u32, 0, 0, 0, 0)
    };
}

/// The server thread's stack: its registry (≈9 KiB) and message buffer (6 KiB) live there.
const SERVER_STACK_SIZE: usize = 64 * 1024;

/// A thread stack for the server (init's, or a test's standing in for init).
#[repr(C, align(16))]
struct ServerStack(UnsafeCell<[u8; SERVER_STACK_SIZE]>);
// SAFETY: handed to exactly one thread, once (`SERVER_STARTED`).
unsafe impl Sync for ServerStack {}
static SERVER_STACK: ServerStack = ServerStack(UnsafeCell::new([0; SERVER_STACK_SIZE]));
static SERVER_SLOT: crate::thread::ThreadSlot = crate::thread::ThreadSlot::new();
static SERVER_STARTED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

extern "C" fn server_thread(bp: u64) {
    bootstrap_serve(bp as MachPortName)
}

/// Become the bootstrap server: make the bootstrap port, make it our (and so our future
/// children's) `TASK_BOOTSTRAP_PORT`, and serve it in a new thread. Once per process.
pub fn bootstrap_start_server() -> Result<MachPortName, KernReturn> {
    if SERVER_STARTED.swap(true, core::sync::atomic::Ordering::AcqRel) {
        return Ok(bootstrap_port());
    }
    let task = mach_task_self();
    let mut bp = 0;
    let kr = mach_port_allocate(task, mach::port::MACH_PORT_RIGHT_RECEIVE, &mut bp);
    if kr != KernReturn::KERN_SUCCESS {
        return Err(kr);
    }
    let kr = task_set_special_port_made(task, bp);
    if kr != KernReturn::KERN_SUCCESS {
        return Err(kr);
    }
    // SAFETY: the stack is handed to this one thread, once (guarded by SERVER_STARTED).
    let stack = unsafe { &mut *SERVER_STACK.0.get() };
    crate::thread::thread_spawn(server_thread, u64::from(bp), stack, &SERVER_SLOT)
        .map_err(|_| KernReturn::KERN_RESOURCE_SHORTAGE)?;
    Ok(bp)
}

/// `task_set_special_port(task, TASK_BOOTSTRAP_PORT, bp)` with a send right made from our
/// receive right.
fn task_set_special_port_made(task: MachPortName, bp: MachPortName) -> KernReturn {
    let kr = mach_port_insert_right(task, bp, bp, MACH_MSG_TYPE_MAKE_SEND);
    if kr != KernReturn::KERN_SUCCESS {
        return kr;
    }
    task_set_special_port(task, mach::defs::special::TASK_BOOTSTRAP_PORT, bp)
}
