//! Copies of address ranges in flight (XNU `vm_map_copy_t`): what out-of-line message
//! memory becomes between send and receive.
//!
//! `vm_map_copyin` takes a range out of one map, `vm_map_copyout` puts it into another at an
//! address of the kernel's choosing, and dropping the copy (`vm_map_copy_discard`) releases
//! it. Small ranges (up to [`VM_MAP_COPY_EAGER_MAX`]) are copied into fresh pages at once —
//! cheaper than setting up copy-on-write and then taking a fault per page, which is why XNU
//! copies messages below `msg_ool_size_small` physically; larger ranges are shared
//! copy-on-write with the source, like `fork`. The sender's "deallocate" flag is
//! copy-in followed by removing the range from the source.

use alloc::vec;
use alloc::vec::Vec;

use mach::KernReturn;
use mach::vm::{VmInherit, VmProt};

use crate::kern::budget::VM_MAP_COPY_SEGMENT_COST;
use crate::vm::vm_map::{PAGE_MASK, VmMap, VmMapEntry};
use crate::vm::vm_object::{ObjectRef, VmObject};
use crate::vm::vm_page::{PAGE_SIZE, PoolRef, VmPage, round_page, trunc_page};

/// Largest range (after page rounding) copied eagerly: four pages (16 KiB).
pub const VM_MAP_COPY_EAGER_MAX: u64 = 4 * PAGE_SIZE;

/// A range copied out of a map, owning references to the memory it will map.
pub struct VmMapCopy {
    /// Bytes requested.
    size: u64,
    /// Where the data starts in the first page.
    offset: u64,
    segments: Vec<CopySegment>,
}

/// A page-aligned run of the copy with one object behind it.
struct CopySegment {
    len: u64,
    /// None: all zero.
    object: Option<ObjectRef>,
    offset: u64,
    /// The object is shared copy-on-write with the source.
    needs_copy: bool,
}

impl core::fmt::Debug for VmMapCopy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VmMapCopy").field("size", &self.size).field("segments", &self.segments.len()).finish()
    }
}

impl VmMapCopy {
    /// Bytes of data in the copy.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of pages the copy owns alone — made for it (kernel data, an eager copy) rather
    /// than shared copy-on-write with its source — which it keeps out of the pool until it is
    /// mapped or dropped.
    pub fn private_bytes(&self) -> u64 {
        self.segments.iter().filter(|s| s.object.is_some() && !s.needs_copy).map(|s| s.len).sum()
    }

    /// The null copy (a zero-length range).
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// A copy holding `data`, in fresh pages from `pool` (what XNU's kernel-buffer copies are
    /// for: data the kernel itself sends out of line, such as `mach_port_names`' arrays).
    pub fn from_bytes(pool: &PoolRef, data: &[u8]) -> Result<VmMapCopy, KernReturn> {
        if data.is_empty() {
            return Ok(VmMapCopy { size: 0, offset: 0, segments: Vec::new() });
        }
        let len = round_page(data.len() as u64);
        let object = VmObject::allocate(len);
        for (i, chunk) in data.chunks(PAGE_SIZE as usize).enumerate() {
            let page = VmPage::grab_zeroed(pool)?;
            page.write(0, chunk);
            object.insert_if_absent(i as u64 * PAGE_SIZE, page);
        }
        let segment = CopySegment { len, object: Some(object), offset: 0, needs_copy: false };
        Ok(VmMapCopy { size: data.len() as u64, offset: 0, segments: vec![segment] })
    }

    /// Read the copy's bytes from byte `from` into `out` (what the kernel does with data
    /// sent to it out of line, such as `mach_vm_write`'s). Bytes past the end read as zero.
    pub fn read(&self, from: u64, out: &mut [u8]) {
        out.fill(0);
        let mut done = 0usize;
        while done < out.len() {
            let pos = self.offset + from + done as u64;
            let (page, within) = (trunc_page(pos), (pos & PAGE_MASK) as usize);
            let n = (PAGE_SIZE as usize - within).min(out.len() - done);
            let mut seg_start = 0u64;
            for seg in &self.segments {
                if (seg_start..seg_start + seg.len).contains(&page) {
                    if let Some(obj) = &seg.object
                        && let Some(found) = VmObject::lookup(obj, seg.offset + page - seg_start)
                    {
                        found.holder.read_page(found.offset, within, &mut out[done..done + n]);
                    }
                    break;
                }
                seg_start += seg.len;
            }
            done += n;
        }
    }
}

/// What copying `[addr, addr + len)` out of `src` would cost the kernel (see `kern::budget`):
/// one segment per map entry the range touches — a lazy copy holds one per entry, however
/// many there are — or, for a small range copied eagerly, one segment and its fresh pages. The caller
/// charges it before `vm_map_copyin` allocates anything. A range that does not add up is
/// costed as one segment; `vm_map_copyin` then refuses it.
pub fn vm_map_copy_cost(src: &VmMap, addr: u64, len: u64) -> usize {
    let Some(end) = addr.checked_add(len).filter(|_| len > 0) else { return 0 };
    let (start, stop) = (trunc_page(addr), round_page(end));
    if stop < end || stop - start <= VM_MAP_COPY_EAGER_MAX {
        // A small range is copied now, into fresh pages the message holds until received.
        return VM_MAP_COPY_SEGMENT_COST
            .saturating_add(usize::try_from(stop.saturating_sub(start)).unwrap_or(usize::MAX));
    }
    let touched = src.entries.range(..stop).rev().take_while(|(_, e)| e.end > start).count();
    touched.max(1).saturating_mul(VM_MAP_COPY_SEGMENT_COST)
}

/// Copy `[addr, addr + len)` out of `src`; with `src_destroy`, also remove it from `src`.
/// Errors: `KERN_INVALID_ARGUMENT` on overflow, `KERN_INVALID_ADDRESS` if any part is not
/// mapped, `KERN_PROTECTION_FAILURE` if any part is not readable, `KERN_RESOURCE_SHORTAGE`
/// when an eager copy runs out of pages.
pub fn vm_map_copyin(
    src: &mut VmMap,
    addr: u64,
    len: u64,
    src_destroy: bool,
) -> Result<VmMapCopy, KernReturn> {
    if len == 0 {
        return Ok(VmMapCopy { size: 0, offset: 0, segments: Vec::new() });
    }
    let end = addr.checked_add(len).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
    let (start, stop) = (trunc_page(addr), round_page(end));
    if stop < end {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    src.check_covered(start, stop, |e| {
        if e.protection.contains(VmProt::READ) { Ok(()) } else { Err(KernReturn::KERN_PROTECTION_FAILURE) }
    })?;
    let segments = if stop - start <= VM_MAP_COPY_EAGER_MAX {
        copy_eagerly(src, start, stop)?
    } else {
        copy_lazily(src, start, stop)?
    };
    if src_destroy {
        src.remove(start, stop)?;
    }
    Ok(VmMapCopy { size: len, offset: addr & PAGE_MASK, segments })
}

/// One fresh object holding copies of every non-zero page of the range.
fn copy_eagerly(src: &VmMap, start: u64, stop: u64) -> Result<Vec<CopySegment>, KernReturn> {
    let copy = VmObject::allocate(stop - start);
    let mut va = start;
    while va < stop {
        let entry = src.entry_containing(va).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        if let Some(obj) = &entry.object
            && let Some(found) = VmObject::lookup(obj, entry.object_offset(va))
        {
            copy.insert_if_absent(va - start, found.holder.copy_page(found.offset)?);
        }
        va += PAGE_SIZE;
    }
    Ok(vec![CopySegment { len: stop - start, object: Some(copy), offset: 0, needs_copy: false }])
}

/// One segment per source entry, sharing its object copy-on-write (as `fork` does).
fn copy_lazily(src: &mut VmMap, start: u64, stop: u64) -> Result<Vec<CopySegment>, KernReturn> {
    let keys = src.clip_range(start, stop)?;
    let mut segments = Vec::new();
    segments.try_reserve_exact(keys.len()).map_err(|_| KernReturn::KERN_RESOURCE_SHORTAGE)?;
    for key in keys {
        let Some(entry) = src.entries.get_mut(&key) else { continue };
        let segment = match &entry.object {
            None => CopySegment { len: entry.len(), object: None, offset: 0, needs_copy: false },
            Some(obj) if entry.is_shared => CopySegment {
                len: entry.len(),
                object: Some(VmObject::copy_slowly(obj, entry.offset, entry.len())?),
                offset: 0,
                needs_copy: false,
            },
            Some(obj) => {
                let segment = CopySegment {
                    len: entry.len(),
                    object: Some(obj.clone()),
                    offset: entry.offset,
                    needs_copy: true,
                };
                if !entry.needs_copy {
                    entry.needs_copy = true;
                    src.pmap.get_mut().protect(entry.start, entry.end, entry.pmap_protection());
                }
                segment
            }
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// Map `copy` into `dst` anywhere, read/write (maximum: all), and return the address of
/// the data (0 for the null copy). `KERN_NO_SPACE` if `dst` has no room; the copy is
/// consumed either way.
pub fn vm_map_copyout(dst: &mut VmMap, copy: VmMapCopy) -> Result<u64, KernReturn> {
    if copy.is_empty() {
        return Ok(0);
    }
    dst.room_for(copy.segments.len())?;
    let total: u64 = copy.segments.iter().map(|s| s.len).sum();
    let start = dst.find_space(dst.min_offset(), total, 0).ok_or(KernReturn::KERN_NO_SPACE)?;
    let mut va = start;
    for seg in copy.segments {
        dst.insert_entry(VmMapEntry {
            start: va,
            end: va + seg.len,
            object: seg.object,
            offset: seg.offset,
            protection: VmProt::DEFAULT,
            max_protection: VmProt::ALL,
            inheritance: VmInherit::DEFAULT,
            needs_copy: seg.needs_copy,
            is_shared: false,
        });
        va += seg.len;
    }
    dst.simplify(va);
    dst.simplify(start);
    Ok(start + copy.offset)
}

/// Release a copy that will not be copied out.
pub fn vm_map_copy_discard(copy: VmMapCopy) {
    drop(copy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::test_support::{FakePmap, FakePool};
    use crate::vm::vm_map::VmPlacement;

    /// A copy is costed by the map entries its range touches, which is what it holds (issue
    /// 11: a range of many small entries was one uncharged segment per entry).
    #[test]
    fn copy_cost_counts_the_entries_a_copy_holds() {
        let (_pool, pool_ref) = FakePool::new();
        let (pmap, _record) = FakePmap::create();
        let mut map = VmMap::create(pmap, pool_ref);
        const PAGES: u64 = 64;
        let a = map
            .enter(
                VmPlacement::Anywhere { hint: 0 },
                PAGES * PAGE_SIZE,
                0,
                VmProt::DEFAULT,
                VmProt::ALL,
                VmInherit::DEFAULT,
            )
            .expect("enter");
        assert_eq!(vm_map_copy_cost(&map, a, PAGES * PAGE_SIZE), VM_MAP_COPY_SEGMENT_COST);
        for page in (0..PAGES).step_by(2) {
            let at = a + page * PAGE_SIZE;
            map.protect(at, at + PAGE_SIZE, VmProt::READ, false).expect("protect");
        }
        let whole = PAGES as usize * VM_MAP_COPY_SEGMENT_COST;
        assert_eq!(vm_map_copy_cost(&map, a, PAGES * PAGE_SIZE), whole);
        // Part of the range: the entries it touches, counted before any clipping.
        assert_eq!(vm_map_copy_cost(&map, a + PAGE_SIZE / 2, 10 * PAGE_SIZE), 11 * VM_MAP_COPY_SEGMENT_COST);
        // Small ranges are copied eagerly into one segment of fresh pages, which count too
        // (sixty descriptors of one 16 KiB buffer hold 960 KiB of pages); nothing costs nothing.
        let two_pages = 2 * PAGE_SIZE as usize;
        assert_eq!(vm_map_copy_cost(&map, a, 2 * PAGE_SIZE), VM_MAP_COPY_SEGMENT_COST + two_pages);
        assert_eq!(
            vm_map_copy_cost(&map, a + 8, 2 * PAGE_SIZE),
            VM_MAP_COPY_SEGMENT_COST + 3 * PAGE_SIZE as usize
        );
        assert_eq!(vm_map_copy_cost(&map, a, 0), 0);
        let copy = vm_map_copyin(&mut map, a, PAGES * PAGE_SIZE, false).expect("copyin");
        assert_eq!(copy.segments.len() * VM_MAP_COPY_SEGMENT_COST, whole, "the cost is what the copy holds");
    }
}
