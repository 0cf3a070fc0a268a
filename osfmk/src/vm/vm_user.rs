//! The user-facing VM calls (XNU `vm_user.c`): argument checks, rounding and flag handling
//! for `mach_vm_allocate` / `deallocate` / `protect` / `inherit` / `map` / `region`, over the
//! map operations. The trap handlers (−10, −12, −14, −15) and the MIG routines only add the
//! port translation and the copyin/copyout of in/out addresses.
//!
//! Zero sizes follow XNU: allocate, deallocate, protect and inherit succeed doing nothing
//! (allocate returns address 0); `mach_vm_map` rejects them. A range `[addr, addr + size)`
//! covers every page it touches; one whose end overflows is `KERN_INVALID_ARGUMENT`.

use mach::KernReturn;
use mach::vm::{
    VM_FLAGS_ANYWHERE, VM_FLAGS_OVERWRITE, VM_FLAGS_SUPERPAGE_MASK, VM_FLAGS_USER_ALLOCATE,
    VM_FLAGS_USER_MAP, VM_REGION_BASIC_INFO, VM_REGION_BASIC_INFO_64, VmInherit, VmProt,
};

use alloc::sync::Arc;

use crate::vm::vm_map::{PAGE_MASK, VmMap, VmPlacement, VmRegion};
use crate::vm::vm_memory_entry::VmNamedEntry;
use crate::vm::vm_object::ObjectRef;
use crate::vm::vm_page::trunc_page;

/// The pages covering `[addr, addr + size)`: (first page, byte length).
fn page_range(addr: u64, size: u64) -> Result<(u64, u64), KernReturn> {
    let end = addr.checked_add(size).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
    let stop = end.checked_add(PAGE_MASK).ok_or(KernReturn::KERN_INVALID_ARGUMENT)? & !PAGE_MASK;
    let start = trunc_page(addr);
    Ok((start, stop - start))
}

/// `size` rounded up to pages.
fn round_size(size: u64) -> Result<u64, KernReturn> {
    Ok(size.checked_add(PAGE_MASK).ok_or(KernReturn::KERN_INVALID_ARGUMENT)? & !PAGE_MASK)
}

/// The placement `flags` ask for. Superpages do not exist on this platform; OVERWRITE only
/// makes sense at a fixed address.
fn placement(flags: u32, addr: u64, size: u64) -> Result<(VmPlacement, u64), KernReturn> {
    if flags & VM_FLAGS_SUPERPAGE_MASK != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let overwrite = flags & VM_FLAGS_OVERWRITE != 0;
    if flags & VM_FLAGS_ANYWHERE != 0 {
        if overwrite {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        Ok((VmPlacement::Anywhere { hint: trunc_page(addr) }, round_size(size)?))
    } else {
        let (start, len) = page_range(addr, size)?;
        Ok((VmPlacement::Fixed { addr: start, overwrite }, len))
    }
}

/// `mach_vm_allocate`: zero-fill memory, read/write (maximum all), inheritance copy. With
/// `VM_FLAGS_ANYWHERE` the address is chosen from the bottom of the map (the argument is
/// ignored, as in XNU); otherwise it is `addr` rounded down to a page. Returns the address.
pub fn mach_vm_allocate(map: &mut VmMap, addr: u64, size: u64, flags: u32) -> Result<u64, KernReturn> {
    if flags & !VM_FLAGS_USER_ALLOCATE != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    if size == 0 {
        return Ok(0);
    }
    let (placement, len) = match placement(flags, addr, size)? {
        (VmPlacement::Anywhere { .. }, len) => (VmPlacement::Anywhere { hint: map.min_offset() }, len),
        fixed => fixed,
    };
    map.enter(placement, len, 0, VmProt::DEFAULT, VmProt::ALL, VmInherit::DEFAULT)
}

/// `mach_vm_map` for anonymous memory (no memory object), the form
/// `_kernelrpc_mach_vm_map_trap` serves with `max = VM_PROT_ALL` and inheritance default.
/// With `VM_FLAGS_ANYWHERE`, `addr` is a hint and the result is aligned to `mask + 1`.
#[allow(clippy::too_many_arguments)]
pub fn mach_vm_map(
    map: &mut VmMap,
    addr: u64,
    size: u64,
    mask: u64,
    flags: u32,
    cur: VmProt,
    max: VmProt,
    inheritance: VmInherit,
) -> Result<u64, KernReturn> {
    check_map_args(flags, size, cur, max, inheritance)?;
    let (placement, len) = placement(flags, addr, size)?;
    map.enter(placement, len, mask, cur, max, inheritance)
}

/// The argument checks every `mach_vm_map` form shares: user flags only, valid protections
/// with `cur` within `max`, a known inheritance, a non-zero size.
fn check_map_args(
    flags: u32,
    size: u64,
    cur: VmProt,
    max: VmProt,
    inheritance: VmInherit,
) -> Result<(), KernReturn> {
    let valid = flags & !VM_FLAGS_USER_MAP == 0
        && cur.is_valid()
        && max.is_valid()
        && max.contains(cur)
        && inheritance.0 <= VmInherit::LAST_VALID.0
        && size != 0;
    if valid { Ok(()) } else { Err(KernReturn::KERN_INVALID_ARGUMENT) }
}

/// `mach_vm_map` of a named entry: `size` bytes of it from `offset`, shared (or with `copy`,
/// copy-on-write), with protections no more than the entry allows
/// (`KERN_PROTECTION_FAILURE`); the range must lie inside the entry (`KERN_INVALID_ARGUMENT`).
#[allow(clippy::too_many_arguments)]
pub fn mach_vm_map_entry(
    map: &mut VmMap,
    addr: u64,
    size: u64,
    mask: u64,
    flags: u32,
    entry: &VmNamedEntry,
    offset: u64,
    copy: bool,
    cur: VmProt,
    max: VmProt,
    inheritance: VmInherit,
) -> Result<u64, KernReturn> {
    check_map_args(flags, size, cur, max, inheritance)?;
    if offset & PAGE_MASK != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    if !entry.protection.contains(cur) {
        return Err(KernReturn::KERN_PROTECTION_FAILURE);
    }
    let (_, len) = placement(flags, addr, size)?;
    let end = offset.checked_add(len).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
    if end > entry.size {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let max = if copy { max } else { VmProt(max.0 & entry.protection.0) };
    let at = entry.offset + offset;
    mach_vm_map_object(map, addr, size, mask, flags, entry.object.clone(), at, copy, cur, max, inheritance)
}

/// `mach_vm_map` of an object the kernel holds (XNU's `vm_map_enter_mem_object`; `mmap` of
/// a file maps the file's object this way): `size` bytes of `object` from page-aligned
/// `offset`, shared with every other mapper, or with `copy` copy-on-write. The range must
/// lie inside the object's offset space (`KERN_INVALID_ARGUMENT`).
#[allow(clippy::too_many_arguments)]
pub fn mach_vm_map_object(
    map: &mut VmMap,
    addr: u64,
    size: u64,
    mask: u64,
    flags: u32,
    object: ObjectRef,
    offset: u64,
    copy: bool,
    cur: VmProt,
    max: VmProt,
    inheritance: VmInherit,
) -> Result<u64, KernReturn> {
    check_map_args(flags, size, cur, max, inheritance)?;
    let (placement, len) = placement(flags, addr, size)?;
    map.enter_object(placement, len, mask, cur, max, inheritance, object, offset, copy)
}

/// `mach_make_memory_entry_64` for a range of `map`: `[addr, addr + size)` (rounded out to
/// pages) becomes a named entry with protection `prot`.
pub fn make_memory_entry(
    map: &mut VmMap,
    addr: u64,
    size: u64,
    prot: VmProt,
) -> Result<Arc<VmNamedEntry>, KernReturn> {
    if size == 0 || !prot.is_valid() {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let (start, len) = page_range(addr, size)?;
    let (object, offset) = map.share_range(start, start + len, prot)?;
    Ok(VmNamedEntry::new(object, offset, len, prot))
}

/// `mach_make_memory_entry_64` with `MAP_MEM_NAMED_CREATE`: new zero-filled memory.
pub fn make_memory_entry_create(size: u64, prot: VmProt) -> Result<Arc<VmNamedEntry>, KernReturn> {
    if size == 0 || !prot.is_valid() {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let len = round_size(size)?;
    Ok(VmNamedEntry::new(crate::vm::vm_object::VmObject::allocate(len), 0, len, prot))
}

/// `mach_vm_deallocate`: unmap every page `[addr, addr + size)` touches; unmapped parts
/// are fine.
pub fn mach_vm_deallocate(map: &mut VmMap, addr: u64, size: u64) -> Result<(), KernReturn> {
    if size == 0 {
        return Ok(());
    }
    let (start, len) = page_range(addr, size)?;
    map.remove(start, start + len)
}

/// `mach_vm_protect`. `new_prot` is the raw user value: bits beyond read/write/execute
/// (including `VM_PROT_COPY`, which this kernel does not implement) are
/// `KERN_INVALID_ARGUMENT`.
pub fn mach_vm_protect(
    map: &mut VmMap,
    addr: u64,
    size: u64,
    set_maximum: bool,
    new_prot: i32,
) -> Result<(), KernReturn> {
    let prot = VmProt(new_prot);
    if !prot.is_valid() {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    if size == 0 {
        return Ok(());
    }
    let (start, len) = page_range(addr, size)?;
    map.protect(start, start + len, prot, set_maximum)
}

/// `mach_vm_inherit`.
pub fn mach_vm_inherit(map: &mut VmMap, addr: u64, size: u64, inheritance: u32) -> Result<(), KernReturn> {
    if inheritance > VmInherit::LAST_VALID.0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    if size == 0 {
        return Ok(());
    }
    let (start, len) = page_range(addr, size)?;
    map.inherit(start, start + len, VmInherit(inheritance))
}

/// `mach_vm_region` for the basic-info flavors: the region containing `addr` or the next
/// one above it.
pub fn mach_vm_region(map: &VmMap, addr: u64, flavor: i32) -> Result<VmRegion, KernReturn> {
    if flavor != VM_REGION_BASIC_INFO_64 && flavor != VM_REGION_BASIC_INFO {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    map.region(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm64::pmap::USER_VM_MIN;
    use crate::vm::test_support::{FakePmap, FakePool};
    use mach::vm::{VM_FLAGS_FIXED, VM_FLAGS_PURGABLE, VM_REGION_TOP_INFO};

    const P: u64 = crate::vm::vm_page::PAGE_SIZE;

    fn map() -> VmMap {
        let (_fake, pool) = FakePool::new();
        VmMap::create(FakePmap::create().0, pool)
    }

    #[test]
    fn allocate_flags_sizes_and_rounding() {
        let mut m = map();
        assert_eq!(mach_vm_allocate(&mut m, 0, 0, VM_FLAGS_ANYWHERE), Ok(0), "size 0 succeeds with nothing");
        assert_eq!(m.entry_count(), 0);
        assert_eq!(mach_vm_allocate(&mut m, 0, P, 0x0000_0100), Err(KernReturn::KERN_INVALID_ARGUMENT));
        assert_eq!(mach_vm_allocate(&mut m, 0, P, 0x1_0000 | 1), Err(KernReturn::KERN_INVALID_ARGUMENT));
        assert_eq!(
            mach_vm_allocate(&mut m, 0, u64::MAX, VM_FLAGS_ANYWHERE),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        let a =
            mach_vm_allocate(&mut m, 0xdead_0000_0000, 1, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE | (30 << 24));
        assert_eq!(a, Ok(USER_VM_MIN), "anywhere ignores the address and starts at the bottom");
        assert_eq!(m.virtual_size(), P);
        let fixed = mach_vm_allocate(&mut m, 0x2_0000_0800, P, VM_FLAGS_FIXED).unwrap();
        assert_eq!(fixed, 0x2_0000_0000);
        assert_eq!(m.region(fixed).unwrap().size, 2 * P, "covers every page touched");
        assert_eq!(mach_vm_allocate(&mut m, fixed, P, VM_FLAGS_FIXED), Err(KernReturn::KERN_NO_SPACE));
        assert_eq!(mach_vm_allocate(&mut m, fixed, P, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE), Ok(fixed));
        assert_eq!(
            mach_vm_allocate(&mut m, fixed, P, VM_FLAGS_ANYWHERE | VM_FLAGS_OVERWRITE),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        assert_eq!(
            mach_vm_allocate(&mut m, 0x1000, P, VM_FLAGS_FIXED),
            Err(KernReturn::KERN_INVALID_ADDRESS)
        );
        let info = m.region(a.unwrap()).unwrap().info;
        assert_eq!(
            (info.protection, info.max_protection, info.inheritance),
            (VmProt::DEFAULT, VmProt::ALL, VmInherit::COPY)
        );
    }

    #[test]
    fn map_checks_protections_mask_and_size() {
        let mut m = map();
        let anywhere = VM_FLAGS_ANYWHERE;
        let (rw, all, copy) = (VmProt::DEFAULT, VmProt::ALL, VmInherit::DEFAULT);
        assert_eq!(
            mach_vm_map(&mut m, 0, 0, 0, anywhere, rw, all, copy),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        assert_eq!(
            mach_vm_map(&mut m, 0, P, 0, anywhere, VmProt(8), all, copy),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        assert_eq!(
            mach_vm_map(&mut m, 0, P, 0, anywhere, all, rw, copy),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        assert_eq!(
            mach_vm_map(&mut m, 0, P, 0, anywhere, rw, all, VmInherit(3)),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        assert_eq!(
            mach_vm_map(&mut m, 0, P, 0, 0x0000_0100, rw, all, copy),
            Err(KernReturn::KERN_INVALID_ARGUMENT)
        );
        let hint = 0x5_0000_0000;
        assert_eq!(
            mach_vm_map(&mut m, hint + 5, P, 0, anywhere, rw, all, copy),
            Ok(hint),
            "address is a hint"
        );
        let mask = (1 << 21) - 1;
        let aligned = mach_vm_map(&mut m, hint, P, mask, anywhere, rw, all, copy).unwrap();
        assert_eq!(aligned, hint + (1 << 21));
        assert_eq!(
            mach_vm_map(&mut m, hint + 4 * P, P, mask, VM_FLAGS_FIXED, rw, all, copy),
            Err(KernReturn::KERN_NO_SPACE),
            "fixed address violating the mask"
        );
        let none =
            mach_vm_map(&mut m, 0, P, 0, anywhere, VmProt::NONE, VmProt::READ, VmInherit::NONE).unwrap();
        let info = m.region(none).unwrap().info;
        assert_eq!(
            (info.protection, info.max_protection, info.inheritance),
            (VmProt::NONE, VmProt::READ, VmInherit::NONE)
        );
    }

    #[test]
    fn deallocate_protect_inherit_region() {
        let mut m = map();
        let a = mach_vm_allocate(&mut m, 0, 4 * P, VM_FLAGS_ANYWHERE).unwrap();
        assert_eq!(mach_vm_deallocate(&mut m, a, 0), Ok(()));
        assert_eq!(mach_vm_deallocate(&mut m, u64::MAX, 2), Err(KernReturn::KERN_INVALID_ARGUMENT));
        assert_eq!(mach_vm_deallocate(&mut m, 0, 0x1000), Ok(()), "nothing mapped there is fine");
        assert_eq!(mach_vm_protect(&mut m, a, P, false, 0x10), Err(KernReturn::KERN_INVALID_ARGUMENT));
        assert_eq!(mach_vm_protect(&mut m, a, 0, false, 1), Ok(()));
        assert_eq!(mach_vm_protect(&mut m, a + 1, 1, true, 1), Ok(()));
        assert_eq!(mach_vm_protect(&mut m, a, P, false, 3), Err(KernReturn::KERN_PROTECTION_FAILURE));
        assert_eq!(mach_vm_protect(&mut m, a, 5 * P, false, 1), Err(KernReturn::KERN_INVALID_ADDRESS));
        assert_eq!(mach_vm_inherit(&mut m, a, P, 3), Err(KernReturn::KERN_INVALID_ARGUMENT));
        assert_eq!(mach_vm_inherit(&mut m, a + P, P, 0), Ok(()));
        assert_eq!(mach_vm_region(&m, a, VM_REGION_TOP_INFO), Err(KernReturn::KERN_INVALID_ARGUMENT));
        let r = mach_vm_region(&m, a + P, VM_REGION_BASIC_INFO_64).unwrap();
        assert_eq!((r.start, r.size, r.info.inheritance), (a + P, P, VmInherit::SHARE));
        mach_vm_deallocate(&mut m, a + 1, 4 * P - 1).unwrap();
        assert_eq!(m.entry_count(), 0);
        assert_eq!(mach_vm_region(&m, a, VM_REGION_BASIC_INFO), Err(KernReturn::KERN_INVALID_ADDRESS));
    }
}
