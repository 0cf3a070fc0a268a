//! Page faults (XNU `vm_fault`): make one page of a map accessible, or say why it cannot be.
//!
//! A fault finds the entry (none: `KERN_INVALID_ADDRESS`), checks the access against the
//! entry's protection (`KERN_PROTECTION_FAILURE`), then finds the page along the entry's
//! object chain: a page of the entry's own (top) object is mapped with the entry's rights;
//! a page of a backing object is mapped read-only for a read and copied into the top object
//! for a write (copy-on-write); no page at all means demand zero, into the top object —
//! unless the chain ends in a file's object and the page lies past the file's end, which is
//! `KERN_MEMORY_ERROR` (SIGBUS). A fault that finds no free page returns
//! `KERN_RESOURCE_SHORTAGE`.
//!
//! Locking: the common case reads the map only (objects lock themselves, the pmap has its
//! own lock, below them), so [`vm_map_fault`] — the entry point for user faults and for
//! faults inside copyin/copyout — holds just the map's read lock. Only two things change the
//! entry itself: a write to a `needs_copy` entry (a shadow object goes in front) and the
//! first fault on an entry that has no object yet. For those the fault upgrades to the write
//! lock (XNU's `vm_map_lock_read_to_write`): in place, it changes the entry it found; if the
//! read lock had to be let go of first, it takes the write lock and looks the entry up again
//! (the map may have changed in between). Then it finishes as a reader would.
//!
//! The same path serves the kernel's software access to maps that are not current
//! (`vm_map_kernel_page`, for exec's new map and `mach_vm_write` through the direct map) and
//! wiring (`vm_map_wire`), both on a map the caller holds exclusively.

use alloc::boxed::Box;

use mach::KernReturn;
use mach::vm::VmProt;

use crate::kern::locks::SpinLock;
use crate::vm::pmap::PmapOps;
use crate::vm::vm_map::{PAGE_MASK, VmMap, VmMapEntry};
use crate::vm::vm_map_lock::VmMapLock;
use crate::vm::vm_object::VmObject;
use crate::vm::vm_page::{PAGE_SIZE, PoolRef, VmPage, trunc_page};

/// Resolve a fault at `va` for `access` (READ, WRITE or EXECUTE) in the map behind `lock`,
/// holding its read lock — and its write lock only while an entry changes (see the module
/// doc). User faults and faults inside copyin/copyout come here.
pub fn vm_map_fault(lock: &VmMapLock, va: u64, access: VmProt) -> Result<(), KernReturn> {
    let page_va = trunc_page(va);
    let map = lock.read();
    let entry = map.entry_containing(page_va).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    check_access(entry, access)?;
    if !needs_change(entry, access) {
        return fault_entry(&map.pool, &map.pmap, entry, page_va, access);
    }
    // The entry must change, under the write lock: in place, the entry found is still the
    // one; if the read lock had to go first, the map may have changed and is looked at anew.
    let key = entry.start;
    match map.upgrade() {
        Some(mut map) => fault_exclusive(&mut map, page_va, access, Some(key)),
        None => fault_exclusive(&mut lock.write(), page_va, access, None),
    }
}

/// Resolve a fault at `va` for `access` in `map`, which the caller holds exclusively (the
/// write lock, or a map no task has yet), and enter the page into the map's pmap.
pub fn vm_fault(map: &mut VmMap, va: u64, access: VmProt) -> Result<(), KernReturn> {
    fault_exclusive(map, trunc_page(va), access, None)
}

/// [`vm_fault`] at `page_va`, with the key of its entry if already known.
fn fault_exclusive(
    map: &mut VmMap,
    page_va: u64,
    access: VmProt,
    key: Option<u64>,
) -> Result<(), KernReturn> {
    let VmMap { entries, pool, pmap, .. } = map;
    let entry = match key {
        Some(key) => entries.get_mut(&key),
        None => VmMap::entry_containing_mut(entries, page_va),
    };
    let entry = entry.ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
    check_access(entry, access)?;
    // What a fault under the read lock cannot do: a private shadow for a write while the
    // entry needs a copy, an object for an entry that has none.
    if access.contains(VmProt::WRITE) {
        entry.resolve_needs_copy();
    }
    entry.object_or_create();
    fault_entry(pool, pmap, entry, page_va, access)
}

/// Does `entry` allow `access` (`KERN_PROTECTION_FAILURE` if not)?
fn check_access(entry: &VmMapEntry, access: VmProt) -> Result<(), KernReturn> {
    if entry.protection.contains(access) { Ok(()) } else { Err(KernReturn::KERN_PROTECTION_FAILURE) }
}

/// Must `entry` change before a fault for `access` can be resolved in it?
fn needs_change(entry: &VmMapEntry, access: VmProt) -> bool {
    entry.object.is_none() || (entry.needs_copy && access.contains(VmProt::WRITE))
}

/// The fault in an entry that needs no change: the entry is only read, objects take their
/// own locks and the pmap its own, so the map's read lock is enough.
fn fault_entry(
    pool: &PoolRef,
    pmap: &SpinLock<Box<dyn PmapOps>>,
    entry: &VmMapEntry,
    page_va: u64,
    access: VmProt,
) -> Result<(), KernReturn> {
    let write = access.contains(VmProt::WRITE);
    let object = entry.object.as_ref().ok_or(KernReturn::KERN_FAILURE)?;
    let offset = entry.object_offset(page_va);
    let mapped_prot = entry.pmap_protection();
    VmObject::collapse(object);
    let (pa, prot, from_backing) = match VmObject::lookup(object, offset) {
        Some(found) if found.depth == 0 => (found.pa, mapped_prot, false),
        // A shared object is copied up even for a read: the sharers must all see the one
        // page that a later write will change, not a backing page only some of them map.
        Some(found) if write || entry.is_shared => {
            let page = found.holder.copy_page(found.offset)?;
            (object.insert_if_absent(offset, page), mapped_prot, false)
        }
        Some(found) => (found.pa, entry.protection.without(VmProt::WRITE), true),
        // Past the end of a file's data there is no page to give (SIGBUS for a user).
        None if VmObject::pager_eof(object, offset) => return Err(KernReturn::KERN_MEMORY_ERROR),
        None => {
            let page = VmPage::grab_zeroed(pool)?;
            (object.insert_if_absent(offset, page), mapped_prot, false)
        }
    };
    // The MMU cannot grant write or execute without read to EL0.
    let prot = prot.union(VmProt::READ);
    let mut pmap = pmap.lock();
    // Readers fault concurrently: a backing page found before another fault copied the page
    // up into the top object must not replace that fault's mapping of the copy. A mapping
    // that already grants the access is that fault's work (or this very page), and stays.
    if from_backing && pmap.extract(page_va).is_some_and(|(_, have)| have.contains(access)) {
        return Ok(());
    }
    pmap.enter(page_va, pa, prot)
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
    // The map is held exclusively, so its pmap is too (no locking).
    let mapped = match map.pmap.get_mut().extract(page_va) {
        Some((pa, prot)) if prot.contains(access) => pa,
        _ => {
            vm_fault(map, page_va, access)?;
            map.pmap.get_mut().extract(page_va).ok_or(KernReturn::KERN_FAILURE)?.0
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
