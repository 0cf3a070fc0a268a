//! Page faults (XNU `vm_fault`): make one page of a map accessible, or say why it cannot be.
//!
//! A fault finds the entry (none: `KERN_INVALID_ADDRESS`), checks the access against the
//! entry's protection (`KERN_PROTECTION_FAILURE`), then finds the page along the entry's
//! object chain: a page of the entry's own (top) object is mapped with the entry's rights;
//! a page of a backing object is mapped read-only for a read and copied into the top object
//! for a write (copy-on-write); no page at all means demand zero, into the top object. A
//! fault that finds no free page returns `KERN_RESOURCE_SHORTAGE`.
//!
//! Locking: the common case reads the map only (objects lock themselves, the pmap has its
//! own leaf lock), so [`vm_map_fault`] — the entry point for user faults and for faults
//! inside copyin/copyout — holds just the map's read lock. Only two things change the entry
//! itself: a write to a `needs_copy` entry (a shadow object goes in front) and the first
//! fault on an entry that has no object yet. For those the fault drops the read lock, takes
//! the write lock, changes the entry after looking it up again (the map may have changed in
//! between: XNU's `vm_map_lock_read_to_write` failing), and then finishes as a reader would.
//!
//! The same path serves the kernel's software access to maps that are not current
//! (`vm_map_kernel_page`, for exec's new map and `mach_vm_write` through the direct map) and
//! wiring (`vm_map_wire`), both on a map the caller holds exclusively.

use mach::KernReturn;
use mach::vm::VmProt;

use crate::vm::vm_map::{PAGE_MASK, VmMap};
use crate::vm::vm_map_lock::VmMapLock;
use crate::vm::vm_object::VmObject;
use crate::vm::vm_page::{PAGE_SIZE, VmPage, trunc_page};

/// Why a fault under the read lock stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadFault {
    /// The fault is over: the page is mapped, or this is why it cannot be.
    Done(Result<(), KernReturn>),
    /// The entry must change first; that takes the write lock.
    NeedsWrite,
}

/// Resolve a fault at `va` for `access` (READ, WRITE or EXECUTE) in the map behind `lock`,
/// holding its read lock — and its write lock only while an entry changes (see the module
/// doc). User faults and faults inside copyin/copyout come here.
pub fn vm_map_fault(lock: &VmMapLock, va: u64, access: VmProt) -> Result<(), KernReturn> {
    if let ReadFault::Done(r) = fault_read_locked(&lock.read(), va, access) {
        return r;
    }
    vm_fault(&mut lock.write(), va, access)
}

/// Resolve a fault at `va` for `access` in `map`, which the caller holds exclusively (the
/// write lock, or a map no task has yet), and enter the page into the map's pmap.
pub fn vm_fault(map: &mut VmMap, va: u64, access: VmProt) -> Result<(), KernReturn> {
    prepare_entry(map, va, access)?;
    match fault_read_locked(map, va, access) {
        ReadFault::Done(r) => r,
        // The entry was just prepared for this access, and the map is held exclusively.
        ReadFault::NeedsWrite => Err(KernReturn::KERN_FAILURE),
    }
}

/// Change the entry holding `va` so that a fault for `access` can finish under the read
/// lock: a private shadow for a write to a `needs_copy` entry, an object for an entry that
/// has none. Errors are the lookup's (no entry, the protection), as a reader would find.
fn prepare_entry(map: &mut VmMap, va: u64, access: VmProt) -> Result<(), KernReturn> {
    let entry = map.entry_containing_mut(trunc_page(va)).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    if !entry.protection.contains(access) {
        return Err(KernReturn::KERN_PROTECTION_FAILURE);
    }
    if access.contains(VmProt::WRITE) {
        entry.resolve_needs_copy();
    }
    entry.object_or_create();
    Ok(())
}

/// The fault with the map only read: objects take their own locks, the pmap its leaf lock.
fn fault_read_locked(map: &VmMap, va: u64, access: VmProt) -> ReadFault {
    let page_va = trunc_page(va);
    let write = access.contains(VmProt::WRITE);
    let Some(entry) = map.entry_containing(page_va) else {
        return ReadFault::Done(Err(KernReturn::KERN_INVALID_ADDRESS));
    };
    if !entry.protection.contains(access) {
        return ReadFault::Done(Err(KernReturn::KERN_PROTECTION_FAILURE));
    }
    let object = match &entry.object {
        Some(object) if !(write && entry.needs_copy) => object.clone(),
        _ => return ReadFault::NeedsWrite,
    };
    let (offset, entry_prot, mapped_prot) =
        (entry.object_offset(page_va), entry.protection, entry.pmap_protection());
    VmObject::collapse(&object);
    let (pa, prot, from_backing) = match VmObject::lookup(&object, offset) {
        Some(found) if found.depth == 0 => (found.pa, mapped_prot, false),
        // A shared object is copied up even for a read: the sharers must all see the one
        // page that a later write will change, not a backing page only some of them map.
        Some(found) if write || entry.is_shared => match found.holder.copy_page(found.offset) {
            Ok(page) => (object.insert_if_absent(offset, page), mapped_prot, false),
            Err(kr) => return ReadFault::Done(Err(kr)),
        },
        Some(found) => (found.pa, entry_prot.without(VmProt::WRITE), true),
        None => match VmPage::grab_zeroed(&map.pool) {
            Ok(page) => (object.insert_if_absent(offset, page), mapped_prot, false),
            Err(kr) => return ReadFault::Done(Err(kr)),
        },
    };
    // The MMU cannot grant write or execute without read to EL0.
    let prot = prot.union(VmProt::READ);
    let mut pmap = map.pmap();
    // Readers fault concurrently: a backing page found before another fault copied the page
    // up into the top object must not replace that fault's mapping of the copy. A mapping
    // that already grants the access is that fault's work (or this very page), and stays.
    if from_backing && pmap.extract(page_va).is_some_and(|(_, have)| have.contains(access)) {
        return ReadFault::Done(Ok(()));
    }
    ReadFault::Done(pmap.enter(page_va, pa, prot))
}

/// Make the page holding user address `va` accessible for a kernel access of kind `access`
/// (READ or WRITE), faulting it in — and breaking copy-on-write for a write — as needed.
/// Returns the physical address of `va` itself (frame + offset), for use through the direct
/// map while the caller keeps the map exclusively (the software path of copyio).
pub fn vm_map_kernel_page(map: &mut VmMap, va: u64, access: VmProt) -> Result<u64, KernReturn> {
    let page_va = trunc_page(va);
    let entry = map.entry_containing(page_va).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    if !entry.protection.contains(access) {
        return Err(KernReturn::KERN_PROTECTION_FAILURE);
    }
    let mapped = map.pmap().extract(page_va);
    let mapped = match mapped {
        Some((pa, prot)) if prot.contains(access) => pa,
        _ => {
            vm_fault(map, page_va, access)?;
            map.pmap().extract(page_va).ok_or(KernReturn::KERN_FAILURE)?.0
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
