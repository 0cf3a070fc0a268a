//! Ports and rights: `mach_port_*` under XNU's names. For our own task each uses its
//! `_kernelrpc` trap; for another task's port (the trap answers `MACH_SEND_INVALID_DEST`) it
//! falls back to the MIG routine, as Libsyscall does.

use ::mach::message::{MACH_SEND_INVALID_DEST, MachMsgTypeName};
use ::mach::port::{MachPortRight, MachPortType};
use ::mach::{KernReturn, MachPortName};
use core::ptr;

use super::mig::{self, MigBuffer, status, with_reply, words_out};
use crate::mach_traps as traps;

/// A trap's answer, or, if the trap does not take the target (another task's port), the MIG
/// routine's.
pub(super) fn or_mig(trap: KernReturn, routine: impl FnOnce() -> KernReturn) -> KernReturn {
    if trap.0 == MACH_SEND_INVALID_DEST { routine() } else { trap }
}

/// `mach_port_allocate(task, right, &name)`.
pub fn mach_port_allocate(task: MachPortName, right: MachPortRight, name: &mut MachPortName) -> KernReturn {
    // SAFETY: `name` is a writable u32.
    let r = unsafe { traps::_kernelrpc_mach_port_allocate_trap(task, right, ptr::from_mut(name).cast()) };
    or_mig(r, || {
        with_reply(mig::mach_port_allocate(task, right, &mut MigBuffer::new()), |out| *name = out.name)
    })
}

/// `mach_port_deallocate(task, name)`.
pub fn mach_port_deallocate(task: MachPortName, name: MachPortName) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_deallocate_trap(task, name);
    or_mig(r, || status(mig::mach_port_deallocate(task, name, &mut MigBuffer::new())))
}

/// `mach_port_mod_refs(task, name, right, delta)`.
pub fn mach_port_mod_refs(
    task: MachPortName,
    name: MachPortName,
    right: MachPortRight,
    delta: i32,
) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_mod_refs_trap(task, name, right, delta);
    or_mig(r, || status(mig::mach_port_mod_refs(task, name, right, delta as u32, &mut MigBuffer::new())))
}

/// `mach_port_type(task, name, &type)`.
pub fn mach_port_type(task: MachPortName, name: MachPortName, ty: &mut MachPortType) -> KernReturn {
    // SAFETY: `ty` is a writable u32.
    let r = unsafe { traps::_kernelrpc_mach_port_type_trap(task, name, ptr::from_mut(ty).cast()) };
    or_mig(r, || with_reply(mig::mach_port_type(task, name, &mut MigBuffer::new()), |out| *ty = out.ptype))
}

/// `mach_reply_port()`: a fresh receive right.
pub fn mach_reply_port() -> MachPortName {
    traps::mach_reply_port()
}

/// `mach_port_insert_right(task, name, poly, polyPoly)`.
pub fn mach_port_insert_right(
    task: MachPortName,
    name: MachPortName,
    poly: MachPortName,
    poly_poly: MachMsgTypeName,
) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_insert_right_trap(task, name, poly, poly_poly);
    or_mig(r, || status(mig::mach_port_insert_right(task, name, (poly, poly_poly), &mut MigBuffer::new())))
}

/// `mach_port_request_notification(task, name, msgid, sync, notify, notifyPoly, &previous)`.
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
    or_mig(r, || {
        with_reply(
            mig::mach_port_request_notification(
                task,
                name,
                msgid as u32,
                sync,
                (notify, notify_poly),
                &mut MigBuffer::new(),
            ),
            |out| *previous = out.previous.name,
        )
    })
}

/// `mach_port_extract_right(task, name, msgt_name, &poly, &polyPoly)`.
pub fn mach_port_extract_right(
    task: MachPortName,
    name: MachPortName,
    msgt_name: MachMsgTypeName,
    poly: &mut MachPortName,
    poly_poly: &mut MachMsgTypeName,
) -> KernReturn {
    with_reply(mig::mach_port_extract_right(task, name, msgt_name, &mut MigBuffer::new()), |out| {
        (*poly, *poly_poly) = (out.poly.name, out.poly.disposition);
    })
}

/// `mach_port_get_refs(task, name, right, &refs)`.
pub fn mach_port_get_refs(
    task: MachPortName,
    name: MachPortName,
    right: MachPortRight,
    refs: &mut u32,
) -> KernReturn {
    with_reply(mig::mach_port_get_refs(task, name, right, &mut MigBuffer::new()), |out| *refs = out.refs)
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
    with_reply(mig::mach_port_names(task, &mut MigBuffer::new()), |out| {
        (*names, *names_cnt) = (out.names.address, out.names.size / 4);
        (*types, *types_cnt) = (out.types.address, out.types.size / 4);
    })
}

/// `mach_port_get_attributes(task, name, flavor, info, &count)`.
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
    or_mig(r, || {
        with_reply(mig::mach_port_get_attributes(task, name, flavor, *count, &mut MigBuffer::new()), |out| {
            words_out(&out.port_info, info, count)
        })
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

/// `mach_port_construct(task, &options, context, &name)`.
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
    or_mig(r, || {
        with_reply(mig::mach_port_construct(task, &bytes, context, &mut MigBuffer::new()), |out| {
            *name = out.name
        })
    })
}

/// `mach_port_destruct(task, name, srdelta, guard)`.
pub fn mach_port_destruct(task: MachPortName, name: MachPortName, srdelta: i32, guard: u64) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_destruct_trap(task, name, srdelta, guard);
    or_mig(r, || status(mig::mach_port_destruct(task, name, srdelta as u32, guard, &mut MigBuffer::new())))
}

// ---- Port sets ---------------------------------------------------------------------------------

/// `mach_port_move_member(task, member, after)`: into set `after`, or out with `MACH_PORT_NULL`.
pub fn mach_port_move_member(task: MachPortName, member: MachPortName, after: MachPortName) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_move_member_trap(task, member, after);
    or_mig(r, || status(mig::mach_port_move_member(task, member, after, &mut MigBuffer::new())))
}

/// `mach_port_insert_member(task, name, pset)`.
pub fn mach_port_insert_member(task: MachPortName, name: MachPortName, pset: MachPortName) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_insert_member_trap(task, name, pset);
    or_mig(r, || status(mig::mach_port_insert_member(task, name, pset, &mut MigBuffer::new())))
}

/// `mach_port_extract_member(task, name, pset)`.
pub fn mach_port_extract_member(task: MachPortName, name: MachPortName, pset: MachPortName) -> KernReturn {
    let r = traps::_kernelrpc_mach_port_extract_member_trap(task, name, pset);
    or_mig(r, || status(mig::mach_port_extract_member(task, name, pset, &mut MigBuffer::new())))
}
