//! Page faults (XNU `vm_fault`): make one page of a map accessible, or say why it cannot be.
//!
//! A fault finds the entry (none: `KERN_INVALID_ADDRESS`), checks the access against the
//! entry's protection (`KERN_PROTECTION_FAILURE`), then finds the page along the entry's
//! object chain: a page of the entry's own (top) object is mapped with the entry's rights;
//! a page of a backing object is mapped read-only for a read and copied into the top object
//! for a write (copy-on-write); no page at all means demand zero, into the top object. A
//! fault that finds no free page returns `KERN_RESOURCE_SHORTAGE`.
//!
//! The same path serves the kernel's own accesses to user memory (`vm_map_kernel_page`,
//! for copyin/copyout through the direct map) and wiring (`vm_map_wire`).

use mach::KernReturn;
use mach::vm::VmProt;

use crate::vm::vm_map::{PAGE_MASK, VmMap};
use crate::vm::vm_object::VmObject;
use crate::vm::vm_page::{PAGE_SIZE, VmPage, trunc_page};

/// Resolve a fault at `va` for `access` (READ, WRITE or EXECUTE) and enter the page into the
/// map's pmap.
pub fn vm_fault(map: &mut VmMap, va: u64, access: VmProt) -> Result<(), KernReturn> {
    let page_va = trunc_page(va);
    let write = access.contains(VmProt::WRITE);
    let (object, offset, entry_prot, mapped_prot, shared) = {
        let entry = map.entry_containing_mut(page_va).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        if !entry.protection.contains(access) {
            return Err(KernReturn::KERN_PROTECTION_FAILURE);
        }
        if write {
            entry.resolve_needs_copy();
        }
        let object = entry.object_or_create();
        VmObject::collapse(&object);
        (object, entry.object_offset(page_va), entry.protection, entry.pmap_protection(), entry.is_shared)
    };
    let (pa, prot) = match VmObject::lookup(&object, offset) {
        Some(found) if found.depth == 0 => (found.pa, mapped_prot),
        // A shared object is copied up even for a read: the sharers must all see the one
        // page that a later write will change, not a backing page only some of them map.
        Some(found) if write || shared => {
            let page = found.holder.copy_page(found.offset)?;
            (object.insert_if_absent(offset, page), mapped_prot)
        }
        Some(found) => (found.pa, entry_prot.without(VmProt::WRITE)),
        None => {
            let page = VmPage::grab_zeroed(&map.pool)?;
            (object.insert_if_absent(offset, page), mapped_prot)
        }
    };
    // The MMU cannot grant write or execute without read to EL0.
    map.pmap.enter(page_va, pa, prot.union(VmProt::READ))
}

/// Make the page holding user address `va` accessible for a kernel access of kind `access`
/// (READ for copyin, WRITE for copyout), faulting it in — and breaking copy-on-write for a
/// write — as needed. Returns the physical address of `va` itself (frame + offset), for use
/// through the direct map while the map stays locked.
pub fn vm_map_kernel_page(map: &mut VmMap, va: u64, access: VmProt) -> Result<u64, KernReturn> {
    let page_va = trunc_page(va);
    let entry = map.entry_containing(page_va).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    if !entry.protection.contains(access) {
        return Err(KernReturn::KERN_PROTECTION_FAILURE);
    }
    let mapped = match map.pmap.extract(page_va) {
        Some((pa, prot)) if prot.contains(access) => pa,
        _ => {
            vm_fault(map, page_va, access)?;
            map.pmap.extract(page_va).ok_or(KernReturn::KERN_FAILURE)?.0
        }
    };
    Ok(trunc_page(mapped) | (va & PAGE_MASK))
}

/// Fault in every page of `[start, end)` for `access` now (`vm_map_wire`; nothing is ever
/// paged out here, so a faulted-in page stays resident). Exec uses it for eager segments.
pub fn vm_map_wire(map: &mut VmMap, start: u64, end: u64, access: VmProt) -> Result<(), KernReturn> {
    let mut va = trunc_page(start);
    while va < end {
        vm_map_kernel_page(map, va, access)?;
        va = va.checked_add(PAGE_SIZE).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    }
    Ok(())
}
