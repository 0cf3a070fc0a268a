//! The Mach C API over the trap stubs, under XNU's names: `mach_msg` with Libsyscall's
//! restart rules; the port and VM calls (`mach_port_allocate`, `mach_vm_allocate`, …), which
//! use the `_kernelrpc` traps for the caller's own task and fall back to the MIG routine for
//! another task's port, as Libsyscall does; and the MIG routines of `mach::defs` (`task_info`,
//! `thread_get_state`, `mach_vm_read`, …). Their stubs ([`mig`]) are generated from the same
//! declarations (`mach::for_each_mig_routine!`) the kernel's servers decode with, and send
//! through one client, [`mig_call`]; the C-named calls adapt them to XNU's signatures.

use ::mach::defs;
use ::mach::message::{
    MACH_RCV_INTERRUPT, MACH_RCV_INTERRUPTED, MACH_RCV_MSG, MACH_SEND_INTERRUPT, MACH_SEND_INTERRUPTED,
    MACH_SEND_MSG, MachMsgHeader, MachMsgOption, MachMsgReturn, MachMsgTypeName,
};
use ::mach::port::{MachPortRight, MachPortType};
use ::mach::vm::VmProt;
use ::mach::{KernReturn, MachPortName};
use core::ptr;

use crate::mach_traps as traps;

/// `mach_msg()`: send and/or receive. As Libsyscall does, an interrupted send is restarted
/// unless `MACH_SEND_INTERRUPT` is set, and an interrupted receive is restarted (receive only)
/// unless `MACH_RCV_INTERRUPT` is set.
///
/// # Safety
/// `msg` must point to a buffer of at least `max(send_size, rcv_size)` bytes, valid for
/// reads and writes, holding a message header when sending.
pub unsafe fn mach_msg(
    msg: *mut MachMsgHeader,
    option: MachMsgOption,
    send_size: u32,
    rcv_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
    notify: MachPortName,
) -> MachMsgReturn {
    let mut option = option;
    let mut send_size = send_size;
    loop {
        // SAFETY: forwarded from this function's contract.
        let mr = unsafe {
            traps::mach_msg_trap(msg.cast(), option, send_size, rcv_size, rcv_name, timeout, notify)
        };
        if mr == MACH_SEND_INTERRUPTED && option & MACH_SEND_INTERRUPT == 0 {
            continue;
        }
        if mr == MACH_RCV_INTERRUPTED && option & MACH_RCV_INTERRUPT == 0 && option & MACH_RCV_MSG != 0 {
            option &= !MACH_SEND_MSG;
            send_size = 0;
            continue;
        }
        return mr;
    }
}

/// `mach_port_allocate(task, right, &name)`.
/// The trap for our own task; for another task's port, the MIG routine.
pub fn mach_port_allocate(task: MachPortName, right: MachPortRight, name: &mut MachPortName) -> KernReturn {
    // SAFETY: `name` is a writable u32.
    let r = unsafe { traps::_kernelrpc_mach_port_allocate_trap(task, right, ptr::from_mut(name).cast()) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    reply(mig::mach_port_allocate(task, right, &mut MigBuffer::new()), |out| {
        *name = out[0].int();
    })
}

/// `mach_port_deallocate(task, name)`.
pub fn mach_port_deallocate(task: MachPortName, name: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    let r = unsafe { traps::_kernelrpc_mach_port_deallocate_trap(task, name) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    status(mig::mach_port_deallocate(task, name, &mut MigBuffer::new()))
}

/// `mach_port_mod_refs(task, name, right, delta)`.
pub fn mach_port_mod_refs(
    task: MachPortName,
    name: MachPortName,
    right: MachPortRight,
    delta: i32,
) -> KernReturn {
    // SAFETY: no pointers.
    let r = unsafe { traps::_kernelrpc_mach_port_mod_refs_trap(task, name, right, delta) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    status(mig::mach_port_mod_refs(task, name, right, delta as u32, &mut MigBuffer::new()))
}

/// `mach_port_type(task, name, &type)`.
pub fn mach_port_type(task: MachPortName, name: MachPortName, ty: &mut MachPortType) -> KernReturn {
    // SAFETY: `ty` is a writable u32.
    let r = unsafe { traps::_kernelrpc_mach_port_type_trap(task, name, ptr::from_mut(ty).cast()) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    reply(mig::mach_port_type(task, name, &mut MigBuffer::new()), |out| {
        *ty = out[0].int();
    })
}

/// `mach_reply_port()`: a fresh receive right.
pub fn mach_reply_port() -> MachPortName {
    // SAFETY: takes no arguments.
    unsafe { traps::mach_reply_port() }
}

// ---- MIG client ------------------------------------------------------------------------------

use ::mach::message::{
    MACH_MSG_HEADER_SIZE, MACH_MSG_SUCCESS, MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE,
    MACH_MSGH_BITS_COMPLEX, MACH_SEND_INVALID_DEST, mach_msgh_bits,
};
use ::mach::mig::{
    Arg, MIG_MAX_FIELDS, MIG_REPLY_ID_OFFSET, MIG_REPLY_MISMATCH, Routine, Words, decode, encode, is_complex,
};
use ::mach::port::MACH_PORT_RIGHT_RECEIVE;

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
    let reply = mach_reply_port();
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
        mach_msg(
            buf.0.as_mut_ptr().cast(),
            MACH_SEND_MSG | MACH_RCV_MSG,
            (header + len) as u32,
            MIG_BUFFER_SIZE as u32,
            reply,
            0,
            0,
        )
    };
    let _ = mach_port_mod_refs(crate::mach_traps::mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
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

/// What a generated stub returns: the reply's values, or the code that stopped the call.
type StubResult<'b> = Result<[Arg<'b>; MIG_MAX_FIELDS], KernReturn>;

/// A C call's result from a stub's: on success, `take` reads the reply's values.
fn reply<'b>(r: StubResult<'b>, take: impl FnOnce(&[Arg<'b>; MIG_MAX_FIELDS])) -> KernReturn {
    match r {
        Ok(out) => {
            take(&out);
            KernReturn::KERN_SUCCESS
        }
        Err(kr) => kr,
    }
}

/// A C call's result from a stub whose reply has no values.
fn status(r: StubResult<'_>) -> KernReturn {
    r.err().unwrap_or(KernReturn::KERN_SUCCESS)
}

/// The generated stub of a routine taking `(flavor, count)` and answering one info array.
type InfoStub = for<'b> fn(MachPortName, u32, u32, &'b mut MigBuffer) -> StubResult<'b>;

/// Copy the words of an `Array` reply value into `info`, setting `count`.
fn words_out(v: &Arg<'_>, info: &mut [u32], count: &mut u32) {
    if let Arg::Array(w) = v {
        let n = w.len().min(info.len());
        for (i, slot) in info.iter_mut().take(n).enumerate() {
            *slot = w.get(i);
        }
        *count = n as u32;
    }
}

/// Calls whose reply carries one info array: `task_info`, `thread_info`, `host_info`, …
fn info_call(
    target: MachPortName,
    stub: InfoStub,
    flavor: u32,
    info: &mut [u32],
    count: &mut u32,
) -> KernReturn {
    reply(stub(target, flavor, *count, &mut MigBuffer::new()), |out| words_out(&out[0], info, count))
}

/// `task_info(task, flavor, info, &count)`.
pub fn task_info(task: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    info_call(task, mig::task_info, flavor, info, count)
}

/// `thread_info(thread, flavor, info, &count)`.
pub fn thread_info(thread: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    info_call(thread, mig::thread_info, flavor, info, count)
}

/// `thread_get_state(thread, flavor, state, &count)`.
pub fn thread_get_state(thread: MachPortName, flavor: u32, state: &mut [u32], count: &mut u32) -> KernReturn {
    info_call(thread, mig::thread_get_state, flavor, state, count)
}

/// `host_info(host, flavor, info, &count)`.
pub fn host_info(host: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    info_call(host, mig::host_info, flavor, info, count)
}

/// `host_statistics(host, flavor, info, &count)`.
pub fn host_statistics(host: MachPortName, flavor: u32, info: &mut [u32], count: &mut u32) -> KernReturn {
    info_call(host, mig::host_statistics, flavor, info, count)
}

/// `host_processor_info(host, flavor, &out_processor_count, &out_processor_info,
/// &out_processor_infoCnt)`: the number of processors and their info, an array of
/// `out_processor_infoCnt` words new in our address space (free it with `mach_vm_deallocate`).
pub fn host_processor_info(
    host: MachPortName,
    flavor: u32,
    processor_count: &mut u32,
    info: &mut u64,
    info_cnt: &mut u32,
) -> KernReturn {
    reply(mig::host_processor_info(host, flavor, &mut MigBuffer::new()), |out| {
        if let (Arg::Int(n), Arg::Ool(a, size, _)) = (out[0], out[1]) {
            (*processor_count, *info, *info_cnt) = (n, a, size / 4);
        }
    })
}

/// `thread_set_state(thread, flavor, state, count)`.
pub fn thread_set_state(thread: MachPortName, flavor: u32, state: &[u32]) -> KernReturn {
    status(mig::thread_set_state(thread, flavor, state, &mut MigBuffer::new()))
}

/// `task_suspend(task)`.
pub fn task_suspend(task: MachPortName) -> KernReturn {
    status(mig::task_suspend(task, &mut MigBuffer::new()))
}

/// `task_resume(task)`.
pub fn task_resume(task: MachPortName) -> KernReturn {
    status(mig::task_resume(task, &mut MigBuffer::new()))
}

/// `thread_suspend(thread)`.
pub fn thread_suspend(thread: MachPortName) -> KernReturn {
    status(mig::thread_suspend(thread, &mut MigBuffer::new()))
}

/// `thread_resume(thread)`.
pub fn thread_resume(thread: MachPortName) -> KernReturn {
    status(mig::thread_resume(thread, &mut MigBuffer::new()))
}

/// `task_threads(task, &threads, &count)`: the address of a new array of thread port names in
/// our address space (free it with `mach_vm_deallocate`) and its length.
pub fn task_threads(task: MachPortName, threads: &mut u64, count: &mut u32) -> KernReturn {
    reply(mig::task_threads(task, &mut MigBuffer::new()), |out| {
        if let Arg::OolPorts(addr, n, _) = out[0] {
            *threads = addr;
            *count = n;
        }
    })
}

/// `task_get_special_port(task, which, &port)`.
pub fn task_get_special_port(task: MachPortName, which: i32, port: &mut MachPortName) -> KernReturn {
    reply(mig::task_get_special_port(task, which as u32, &mut MigBuffer::new()), |out| {
        *port = out[0].port();
    })
}

/// `task_set_special_port(task, which, port)`: a copy of our send right for `port`.
pub fn task_set_special_port(task: MachPortName, which: i32, port: MachPortName) -> KernReturn {
    status(mig::task_set_special_port(task, which as u32, (port, 0), &mut MigBuffer::new()))
}

/// `task_get_bootstrap_port(task, &port)`.
pub fn task_get_bootstrap_port(task: MachPortName, port: &mut MachPortName) -> KernReturn {
    task_get_special_port(task, defs::special::TASK_BOOTSTRAP_PORT, port)
}

/// `mach_port_insert_right(task, name, poly, polyPoly)`: the trap for our own task, MIG
/// otherwise.
pub fn mach_port_insert_right(
    task: MachPortName,
    name: MachPortName,
    poly: MachPortName,
    poly_poly: MachMsgTypeName,
) -> KernReturn {
    // SAFETY: no pointers.
    let r = unsafe { traps::_kernelrpc_mach_port_insert_right_trap(task, name, poly, poly_poly) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    status(mig::mach_port_insert_right(task, name, (poly, poly_poly), &mut MigBuffer::new()))
}

/// `mach_port_request_notification(task, name, msgid, sync, notify, notifyPoly, &previous)`:
/// the trap for our own task, MIG otherwise.
pub fn mach_port_request_notification(
    task: MachPortName,
    name: MachPortName,
    msgid: i32,
    sync: u32,
    notify: MachPortName,
    notify_poly: MachMsgTypeName,
    previous: &mut MachPortName,
) -> KernReturn {
    // SAFETY: `previous` is a writable u32.
    let r = unsafe {
        traps::_kernelrpc_mach_port_request_notification_trap(
            task,
            name,
            msgid,
            sync,
            notify,
            notify_poly,
            ptr::from_mut(previous).cast(),
        )
    };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    reply(
        mig::mach_port_request_notification(
            task,
            name,
            msgid as u32,
            sync,
            (notify, notify_poly),
            &mut MigBuffer::new(),
        ),
        |out| {
            *previous = out[0].port();
        },
    )
}

/// `mach_port_extract_right(task, name, msgt_name, &poly, &polyPoly)`.
pub fn mach_port_extract_right(
    task: MachPortName,
    name: MachPortName,
    msgt_name: MachMsgTypeName,
    poly: &mut MachPortName,
    poly_poly: &mut MachMsgTypeName,
) -> KernReturn {
    reply(mig::mach_port_extract_right(task, name, msgt_name, &mut MigBuffer::new()), |out| {
        if let Arg::Port(n, t) = out[0] {
            *poly = n;
            *poly_poly = t;
        }
    })
}

/// `mach_port_get_refs(task, name, right, &refs)`.
pub fn mach_port_get_refs(
    task: MachPortName,
    name: MachPortName,
    right: MachPortRight,
    refs: &mut u32,
) -> KernReturn {
    reply(mig::mach_port_get_refs(task, name, right, &mut MigBuffer::new()), |out| {
        *refs = out[0].int();
    })
}

/// `mach_port_names(task, &names, &namesCnt, &types, &typesCnt)`: two new arrays in our
/// address space (free them with `mach_vm_deallocate`).
pub fn mach_port_names(
    task: MachPortName,
    names: &mut u64,
    names_cnt: &mut u32,
    types: &mut u64,
    types_cnt: &mut u32,
) -> KernReturn {
    reply(mig::mach_port_names(task, &mut MigBuffer::new()), |out| {
        if let (Arg::Ool(a, an, _), Arg::Ool(b, bn, _)) = (out[0], out[1]) {
            (*names, *names_cnt, *types, *types_cnt) = (a, an / 4, b, bn / 4);
        }
    })
}

/// `mach_port_get_attributes(task, name, flavor, info, &count)`: the trap for our own task,
/// MIG otherwise.
pub fn mach_port_get_attributes(
    task: MachPortName,
    name: MachPortName,
    flavor: u32,
    info: &mut [u32],
    count: &mut u32,
) -> KernReturn {
    *count = (*count).min(info.len() as u32);
    // SAFETY: `info` holds `count` words and `count` is a writable u32.
    let r = unsafe {
        traps::_kernelrpc_mach_port_get_attributes_trap(
            task,
            name,
            flavor as i32,
            info.as_mut_ptr().cast(),
            ptr::from_mut(count).cast(),
        )
    };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    reply(mig::mach_port_get_attributes(task, name, flavor, *count, &mut MigBuffer::new()), |out| {
        words_out(&out[0], info, count);
    })
}

/// `mach_port_set_attributes(task, name, flavor, info, count)`.
pub fn mach_port_set_attributes(
    task: MachPortName,
    name: MachPortName,
    flavor: u32,
    info: &[u32],
) -> KernReturn {
    status(mig::mach_port_set_attributes(task, name, flavor, info, &mut MigBuffer::new()))
}

/// `mach_vm_read(task, address, size, &data, &dataCnt)`: a copy of the range, new in our
/// address space.
pub fn mach_vm_read(
    task: MachPortName,
    address: u64,
    size: u64,
    data: &mut u64,
    data_cnt: &mut u32,
) -> KernReturn {
    reply(mig::mach_vm_read(task, address, size, &mut MigBuffer::new()), |out| {
        if let Arg::Ool(a, n, _) = out[0] {
            (*data, *data_cnt) = (a, n);
        }
    })
}

/// `mach_vm_write(task, address, data, dataCnt)`.
pub fn mach_vm_write(task: MachPortName, address: u64, data: u64, data_cnt: u32) -> KernReturn {
    status(mig::mach_vm_write(task, address, (data, data_cnt, false), &mut MigBuffer::new()))
}

/// `mach_vm_allocate(task, &address, size, flags)`: the trap for our own task, MIG otherwise.
pub fn mach_vm_allocate(task: MachPortName, address: &mut u64, size: u64, flags: u32) -> KernReturn {
    // SAFETY: `address` is a valid in/out u64.
    let kr = unsafe {
        traps::_kernelrpc_mach_vm_allocate_trap(task, ptr::from_mut(address).cast(), size, flags as i32)
    };
    if kr.0 != MACH_SEND_INVALID_DEST {
        return kr;
    }
    reply(mig::mach_vm_allocate(task, *address, size, flags, &mut MigBuffer::new()), |out| {
        *address = out[0].long();
    })
}

/// `mach_vm_deallocate(task, address, size)`: the trap for our own task, MIG otherwise.
pub fn mach_vm_deallocate(task: MachPortName, address: u64, size: u64) -> KernReturn {
    // SAFETY: no pointers.
    let kr = unsafe { traps::_kernelrpc_mach_vm_deallocate_trap(task, address, size) };
    if kr.0 != MACH_SEND_INVALID_DEST {
        return kr;
    }
    status(mig::mach_vm_deallocate(task, address, size, &mut MigBuffer::new()))
}

/// `mach_vm_protect(task, address, size, set_maximum, new_protection)`: the trap for our own
/// task, MIG otherwise.
pub fn mach_vm_protect(
    task: MachPortName,
    address: u64,
    size: u64,
    set_maximum: bool,
    prot: i32,
) -> KernReturn {
    // SAFETY: no pointers.
    let kr =
        unsafe { traps::_kernelrpc_mach_vm_protect_trap(task, address, size, set_maximum, VmProt(prot)) };
    if kr.0 != MACH_SEND_INVALID_DEST {
        return kr;
    }
    status(mig::mach_vm_protect(
        task,
        address,
        size,
        u32::from(set_maximum),
        prot as u32,
        &mut MigBuffer::new(),
    ))
}

/// `mach_vm_region(task, &address, &size, flavor, info, &count, &object_name)`.
pub fn mach_vm_region(
    task: MachPortName,
    address: &mut u64,
    size: &mut u64,
    flavor: i32,
    info: &mut [u32],
    count: &mut u32,
    object_name: &mut MachPortName,
) -> KernReturn {
    reply(mig::mach_vm_region(task, *address, flavor as u32, *count, &mut MigBuffer::new()), |out| {
        *object_name = out[0].port();
        *address = out[1].long();
        *size = out[2].long();
        words_out(&out[3], info, count);
    })
}

/// `mach_host_self()`.
pub fn mach_host_self() -> MachPortName {
    // SAFETY: takes no arguments.
    unsafe { traps::host_self_trap() }
}

// ---- Message buffers ---------------------------------------------------------------------------

/// A header for a message to `dest` with `bits`, reply port `reply` and id `id`.
pub fn simple_header(dest: MachPortName, bits: u32, reply: MachPortName, id: i32) -> MachMsgHeader {
    MachMsgHeader {
        msgh_bits: bits,
        msgh_size: 0,
        msgh_remote_port: dest,
        msgh_local_port: reply,
        msgh_voucher_port: 0,
        msgh_id: id,
    }
}

/// A small aligned message buffer with accessors for headers, words and descriptors.
#[repr(C, align(8))]
pub struct MsgBuf(pub [u8; 512]);

impl Default for MsgBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl MsgBuf {
    pub const fn new() -> Self {
        Self([0; 512])
    }

    /// The header at the start of the buffer.
    pub fn header(&self) -> MachMsgHeader {
        let mut h = [0u8; 24];
        h.copy_from_slice(&self.0[..24]);
        MachMsgHeader::from_bytes(&h)
    }

    pub fn set_header(&mut self, h: &MachMsgHeader) {
        self.0[..24].copy_from_slice(&h.to_bytes());
    }

    /// The little-endian u32 at byte `at`.
    pub fn word(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }

    /// The little-endian u64 at byte `at`.
    pub fn long(&self, at: usize) -> u64 {
        u64::from(self.word(at)) | (u64::from(self.word(at + 4)) << 32)
    }

    /// Store `bytes` at byte `at`.
    pub fn put(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }

    pub fn ptr(&mut self) -> *mut MachMsgHeader {
        self.0.as_mut_ptr().cast()
    }

    /// Send the first `size` bytes (at most 512) with `option` added to `MACH_SEND_MSG`.
    pub fn send(&mut self, size: u32, option: MachMsgOption, timeout: u32) -> MachMsgReturn {
        let size = size.min(512);
        // SAFETY: the buffer holds 512 bytes and `size` is at most that.
        unsafe { mach_msg(self.ptr(), MACH_SEND_MSG | option, size, 0, 0, timeout, 0) }
    }

    /// Receive on `name` into the buffer with `option` added to `MACH_RCV_MSG`.
    pub fn receive(&mut self, name: MachPortName, option: MachMsgOption, timeout: u32) -> MachMsgReturn {
        // SAFETY: the kernel writes at most the 512 bytes we say we have.
        unsafe { mach_msg(self.ptr(), MACH_RCV_MSG | option, 0, 512, name, timeout, 0) }
    }

    /// Send the first `size` bytes and wait for the reply on `reply`, in one call.
    pub fn call(&mut self, size: u32, reply: MachPortName) -> MachMsgReturn {
        let size = size.min(512);
        // SAFETY: as in `send` and `receive`.
        unsafe { mach_msg(self.ptr(), MACH_SEND_MSG | MACH_RCV_MSG, size, 512, reply, 0, 0) }
    }
}

// ---- Semaphores -------------------------------------------------------------------------------

/// `semaphore_create(task, &semaphore, policy, value)`.
pub fn semaphore_create(
    task: MachPortName,
    semaphore: &mut MachPortName,
    policy: u32,
    value: i32,
) -> KernReturn {
    reply(mig::semaphore_create(task, policy, value as u32, &mut MigBuffer::new()), |out| {
        *semaphore = out[0].port();
    })
}

/// `semaphore_destroy(task, semaphore)`: consumes our send right.
pub fn semaphore_destroy(task: MachPortName, semaphore: MachPortName) -> KernReturn {
    status(mig::semaphore_destroy(task, (semaphore, 0), &mut MigBuffer::new()))
}

/// `semaphore_signal(semaphore)`.
pub fn semaphore_signal(semaphore: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_signal_trap(semaphore) }
}

/// `semaphore_signal_all(semaphore)`.
pub fn semaphore_signal_all(semaphore: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_signal_all_trap(semaphore) }
}

/// `semaphore_signal_thread(semaphore, thread)`.
pub fn semaphore_signal_thread(semaphore: MachPortName, thread: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_signal_thread_trap(semaphore, thread) }
}

/// `semaphore_wait(semaphore)`.
pub fn semaphore_wait(semaphore: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_wait_trap(semaphore) }
}

/// `semaphore_wait_signal(wait_semaphore, signal_semaphore)`.
pub fn semaphore_wait_signal(wait: MachPortName, signal: MachPortName) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_wait_signal_trap(wait, signal) }
}

/// `semaphore_timedwait(semaphore, {sec, nsec})`.
pub fn semaphore_timedwait(semaphore: MachPortName, sec: u32, nsec: i32) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_timedwait_trap(semaphore, sec, nsec) }
}

/// `semaphore_timedwait_signal(wait_semaphore, signal_semaphore, {sec, nsec})`.
pub fn semaphore_timedwait_signal(
    wait: MachPortName,
    signal: MachPortName,
    sec: u32,
    nsec: i32,
) -> KernReturn {
    // SAFETY: no pointers.
    unsafe { traps::semaphore_timedwait_signal_trap(wait, signal, sec, nsec) }
}

// ---- Exception ports -------------------------------------------------------------------------

/// `task_set_exception_ports(task, exception_mask, new_port, behavior, new_flavor)`.
pub fn task_set_exception_ports(
    task: MachPortName,
    mask: u32,
    port: MachPortName,
    behavior: u32,
    flavor: u32,
) -> KernReturn {
    status(mig::task_set_exception_ports(task, mask, (port, 0), behavior, flavor, &mut MigBuffer::new()))
}

/// `thread_set_exception_ports(thread, exception_mask, new_port, behavior, new_flavor)`.
pub fn thread_set_exception_ports(
    thread: MachPortName,
    mask: u32,
    port: MachPortName,
    behavior: u32,
    flavor: u32,
) -> KernReturn {
    status(mig::thread_set_exception_ports(thread, mask, (port, 0), behavior, flavor, &mut MigBuffer::new()))
}

// ---- Port sets ---------------------------------------------------------------------------------

/// A trap taking `(task, a, b)` with the MIG routine of the same name as fallback.
fn member_call(
    trap: unsafe fn(MachPortName, MachPortName, MachPortName) -> KernReturn,
    stub: for<'b> fn(MachPortName, u32, u32, &'b mut MigBuffer) -> StubResult<'b>,
    task: MachPortName,
    a: MachPortName,
    b: MachPortName,
) -> KernReturn {
    // SAFETY: these traps take no pointers.
    let r = unsafe { trap(task, a, b) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    status(stub(task, a, b, &mut MigBuffer::new()))
}

/// `mach_port_move_member(task, member, after)`: into set `after`, or out with `MACH_PORT_NULL`.
pub fn mach_port_move_member(task: MachPortName, member: MachPortName, after: MachPortName) -> KernReturn {
    member_call(traps::_kernelrpc_mach_port_move_member_trap, mig::mach_port_move_member, task, member, after)
}

/// `mach_port_insert_member(task, name, pset)`.
pub fn mach_port_insert_member(task: MachPortName, name: MachPortName, pset: MachPortName) -> KernReturn {
    member_call(
        traps::_kernelrpc_mach_port_insert_member_trap,
        mig::mach_port_insert_member,
        task,
        name,
        pset,
    )
}

/// `mach_port_extract_member(task, name, pset)`.
pub fn mach_port_extract_member(task: MachPortName, name: MachPortName, pset: MachPortName) -> KernReturn {
    member_call(
        traps::_kernelrpc_mach_port_extract_member_trap,
        mig::mach_port_extract_member,
        task,
        name,
        pset,
    )
}

// ---- Named memory entries --------------------------------------------------------------------

/// `MAP_MEM_NAMED_CREATE` for `mach_make_memory_entry_64`: fresh memory, not a range of ours.
pub const MAP_MEM_NAMED_CREATE: u32 = 0x0002_0000;

/// `mach_make_memory_entry_64(task, &size, offset, permission, &object_handle, parent_entry)`.
pub fn mach_make_memory_entry_64(
    task: MachPortName,
    size: &mut u64,
    offset: u64,
    permission: u32,
    handle: &mut MachPortName,
    parent: MachPortName,
) -> KernReturn {
    reply(
        mig::mach_make_memory_entry_64(task, *size, offset, permission, (parent, 0), &mut MigBuffer::new()),
        |out| {
            *handle = out[0].port();
            *size = out[1].long();
        },
    )
}

/// `mach_vm_map(task, &address, size, mask, flags, object, offset, copy, cur, max, inherit)`.
#[allow(clippy::too_many_arguments)]
pub fn mach_vm_map(
    task: MachPortName,
    address: &mut u64,
    size: u64,
    mask: u64,
    flags: u32,
    object: MachPortName,
    offset: u64,
    copy: bool,
    cur: i32,
    max: i32,
    inheritance: u32,
) -> KernReturn {
    reply(
        mig::mach_vm_map(
            task,
            *address,
            size,
            mask,
            flags,
            (object, 0),
            offset,
            u32::from(copy),
            cur as u32,
            max as u32,
            inheritance,
            &mut MigBuffer::new(),
        ),
        |out| {
            *address = out[0].long();
        },
    )
}

// ---- mach_msg2 ---------------------------------------------------------------------------------

/// `mach_msg2_trap` with the header `h` passed in registers (the header words in the buffer
/// at `data` are ignored by the kernel), as Libsyscall's `mach_msg2` does.
///
/// # Safety
/// `data` must point to a buffer valid for `max(send_size, rcv_size)` bytes (or, with
/// `MACH64_MSG_VECTOR`, to two `mach_msg_vector_t`s).
#[allow(clippy::too_many_arguments)]
pub unsafe fn mach_msg2(
    data: u64,
    options: u64,
    h: &MachMsgHeader,
    send_size: u32,
    desc_count: u32,
    rcv_name: MachPortName,
    rcv_size: u32,
    timeout: u32,
) -> MachMsgReturn {
    let pack = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    // SAFETY: forwarded from this function's contract.
    unsafe {
        traps::mach_msg2_trap(
            data,
            options,
            pack(h.msgh_bits, send_size),
            pack(h.msgh_remote_port, h.msgh_local_port),
            pack(h.msgh_voucher_port, h.msgh_id as u32),
            pack(desc_count, rcv_name),
            pack(rcv_size, 0),
            u64::from(timeout),
        )
    }
}

/// `task_terminate(task)`.
pub fn task_terminate(task: MachPortName) -> KernReturn {
    status(mig::task_terminate(task, &mut MigBuffer::new()))
}

/// `thread_terminate(thread)`.
pub fn thread_terminate(thread: MachPortName) -> KernReturn {
    status(mig::thread_terminate(thread, &mut MigBuffer::new()))
}

/// `mach_port_options_t`: construct flags, the queue limit, and 16 reserved bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachPortOptions {
    pub flags: u32,
    pub mpl_qlimit: u32,
}

impl MachPortOptions {
    fn to_bytes(self) -> [u8; ::mach::port::MACH_PORT_OPTIONS_SIZE] {
        let mut b = [0u8; ::mach::port::MACH_PORT_OPTIONS_SIZE];
        b[0..4].copy_from_slice(&self.flags.to_le_bytes());
        b[4..8].copy_from_slice(&self.mpl_qlimit.to_le_bytes());
        b
    }
}

/// `mach_port_construct(task, &options, context, &name)`: the trap for our own task, MIG
/// otherwise.
pub fn mach_port_construct(
    task: MachPortName,
    options: &MachPortOptions,
    context: u64,
    name: &mut MachPortName,
) -> KernReturn {
    let bytes = options.to_bytes();
    // SAFETY: `bytes` is a readable options struct, `name` a writable u32.
    let r = unsafe {
        traps::_kernelrpc_mach_port_construct_trap(
            task,
            bytes.as_ptr().cast_mut().cast(),
            context,
            ptr::from_mut(name).cast(),
        )
    };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    reply(mig::mach_port_construct(task, &bytes, context, &mut MigBuffer::new()), |out| {
        *name = out[0].int();
    })
}

/// `mach_port_destruct(task, name, srdelta, guard)`: the trap for our own task, MIG otherwise.
pub fn mach_port_destruct(task: MachPortName, name: MachPortName, srdelta: i32, guard: u64) -> KernReturn {
    // SAFETY: no pointers.
    let r = unsafe { traps::_kernelrpc_mach_port_destruct_trap(task, name, srdelta, guard) };
    if r.0 != MACH_SEND_INVALID_DEST {
        return r;
    }
    status(mig::mach_port_destruct(task, name, srdelta as u32, guard, &mut MigBuffer::new()))
}

/// The handlers `*_get_exception_ports` reports (`masksCnt` entries of each array).
#[derive(Clone, Copy, Debug)]
pub struct ExceptionHandlers {
    pub count: u32,
    pub masks: [u32; 32],
    pub handlers: [MachPortName; 32],
    pub behaviors: [u32; 32],
    pub flavors: [u32; 32],
}

fn get_exception_ports(
    target: MachPortName,
    stub: for<'b> fn(MachPortName, u32, &'b mut MigBuffer) -> StubResult<'b>,
    mask: u32,
    out_h: &mut ExceptionHandlers,
) -> KernReturn {
    reply(stub(target, mask, &mut MigBuffer::new()), |out| {
        if let (Arg::Bytes(ports), Arg::Array(info)) = (out[0], out[1]) {
            let n = (info.len() / 3).min(32);
            out_h.count = n as u32;
            for i in 0..n {
                out_h.handlers[i] = u32::from_le_bytes([
                    ports[12 * i],
                    ports[12 * i + 1],
                    ports[12 * i + 2],
                    ports[12 * i + 3],
                ]);
                out_h.masks[i] = info.get(i);
                out_h.behaviors[i] = info.get(n + i);
                out_h.flavors[i] = info.get(2 * n + i);
            }
        }
    })
}

/// `task_get_exception_ports(task, mask, masks, &count, handlers, behaviors, flavors)`.
pub fn task_get_exception_ports(task: MachPortName, mask: u32, out: &mut ExceptionHandlers) -> KernReturn {
    get_exception_ports(task, mig::task_get_exception_ports, mask, out)
}

/// `thread_get_exception_ports(thread, mask, ...)`.
pub fn thread_get_exception_ports(
    thread: MachPortName,
    mask: u32,
    out: &mut ExceptionHandlers,
) -> KernReturn {
    get_exception_ports(thread, mig::thread_get_exception_ports, mask, out)
}

/// `host_set_exception_ports(host_priv, mask, port, behavior, flavor)` (root only).
pub fn host_set_exception_ports(
    host: MachPortName,
    mask: u32,
    port: MachPortName,
    behavior: u32,
    flavor: u32,
) -> KernReturn {
    status(mig::host_set_exception_ports(host, mask, (port, 0), behavior, flavor, &mut MigBuffer::new()))
}

/// `host_get_exception_ports(host_priv, mask, ...)` (root only).
pub fn host_get_exception_ports(host: MachPortName, mask: u32, out: &mut ExceptionHandlers) -> KernReturn {
    get_exception_ports(host, mig::host_get_exception_ports, mask, out)
}

// ---- Generated MIG stubs -----------------------------------------------------------------------

/// The Rust type a caller passes for a MIG field kind.
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
    (Ool) => {
        (u64, u32, bool)
    };
    (OolPorts $n:tt) => {
        (u64, u32, bool)
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

/// The request value for parameter `$v` of a MIG field kind.
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
        Arg::Ool($v.0, $v.1, $v.2)
    };
    ($v:ident, OolPorts $n:tt) => {
        Arg::OolPorts($v.0, $v.1, $v.2)
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

macro_rules! mig_stubs {
    ($( ($konst:ident, $id:literal, $name:ident, $server:ident, [$($p:ident: $kind:ident $(($($karg:tt)*))?),* $(,)?], [$($rep:tt)*]) ),* $(,)?) => {
        /// One stub per routine of `mach::defs`, generated from its declaration: the target
        /// port, the request's values (typed by their field kinds), and a buffer the reply's
        /// values are read from. The C-named calls above are written on top of these.
        pub mod mig {
            use super::*;
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($id), "): the request, then the reply's values.")]
                #[allow(clippy::too_many_arguments, clippy::type_complexity, unused_parens)]
                pub fn $name<'b>(
                    target: MachPortName,
                    $($p: mig_param_ty!($kind $(($($karg)*))?),)*
                    buf: &'b mut MigBuffer,
                ) -> Result<[Arg<'b>; MIG_MAX_FIELDS], KernReturn> {
                    let mut out = [Arg::None; MIG_MAX_FIELDS];
                    let args: &[Arg<'_>] = &[$(mig_param_arg!($p, $kind $(($($karg)*))?)),*];
                    match mig_call(target, &defs::$konst, args, buf, &mut out) {
                        KernReturn::KERN_SUCCESS => Ok(out),
                        kr => Err(kr),
                    }
                }
            )*
        }
    };
}

::mach::for_each_mig_routine!(mig_stubs);
