//! Virtual memory: `mach_vm_*` and named memory entries under XNU's names. Allocation,
//! deallocation and protection use the `_kernelrpc` traps for our own task and fall back to the
//! MIG routine for another task's port; the rest are MIG routines.

use ::mach::vm::VmProt;
use ::mach::{KernReturn, MachPortName};
use core::ptr;

use super::mig::{self, MigBuffer, status, with_reply, words_out};
use super::port::or_mig;
use crate::mach_traps as traps;

/// `mach_vm_read(task, address, size, &data, &dataCnt)`: a copy of the range, new in our
/// address space.
pub fn mach_vm_read(
    task: MachPortName,
    address: u64,
    size: u64,
    data: &mut u64,
    data_cnt: &mut u32,
) -> KernReturn {
    with_reply(mig::mach_vm_read(task, address, size, &mut MigBuffer::new()), |out| {
        (*data, *data_cnt) = (out.data.address, out.data.size);
    })
}

/// `mach_vm_write(task, address, data, dataCnt)`: `dataCnt` bytes of ours at `data`, copied.
pub fn mach_vm_write(task: MachPortName, address: u64, data: u64, data_cnt: u32) -> KernReturn {
    status(mig::mach_vm_write(task, address, (data, data_cnt), &mut MigBuffer::new()))
}

/// `mach_vm_allocate(task, &address, size, flags)`.
pub fn mach_vm_allocate(task: MachPortName, address: &mut u64, size: u64, flags: u32) -> KernReturn {
    // SAFETY: `address` is a valid in/out u64.
    let kr = unsafe {
        traps::_kernelrpc_mach_vm_allocate_trap(task, ptr::from_mut(address).cast(), size, flags as i32)
    };
    or_mig(kr, || {
        with_reply(mig::mach_vm_allocate(task, *address, size, flags, &mut MigBuffer::new()), |out| {
            *address = out.address
        })
    })
}

/// `mach_vm_deallocate(task, address, size)`.
pub fn mach_vm_deallocate(task: MachPortName, address: u64, size: u64) -> KernReturn {
    // SAFETY: the trap reads no memory of ours; unmapping the range is what the caller asks
    // for (as XNU's, this call does not know what lives there).
    let kr = unsafe { traps::_kernelrpc_mach_vm_deallocate_trap(task, address, size) };
    or_mig(kr, || status(mig::mach_vm_deallocate(task, address, size, &mut MigBuffer::new())))
}

/// `mach_vm_protect(task, address, size, set_maximum, new_protection)`.
pub fn mach_vm_protect(
    task: MachPortName,
    address: u64,
    size: u64,
    set_maximum: bool,
    prot: i32,
) -> KernReturn {
    // SAFETY: the trap reads no memory of ours; changing the range's protection is what the
    // caller asks for.
    let kr =
        unsafe { traps::_kernelrpc_mach_vm_protect_trap(task, address, size, set_maximum, VmProt(prot)) };
    or_mig(kr, || {
        status(mig::mach_vm_protect(
            task,
            address,
            size,
            u32::from(set_maximum),
            prot as u32,
            &mut MigBuffer::new(),
        ))
    })
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
    with_reply(mig::mach_vm_region(task, *address, flavor as u32, *count, &mut MigBuffer::new()), |out| {
        *object_name = out.object_name.name;
        (*address, *size) = (out.address, out.size);
        words_out(&out.info, info, count);
    })
}

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
    with_reply(
        mig::mach_make_memory_entry_64(task, *size, offset, permission, (parent, 0), &mut MigBuffer::new()),
        |out| (*handle, *size) = (out.object_handle.name, out.size),
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
    with_reply(
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
        |out| *address = out.address,
    )
}
