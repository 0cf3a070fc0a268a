//! VM objects: the memory behind map entries. An object holds resident pages by offset;
//! a page it lacks is either found in its shadow (backing) object — for copy-on-write — or,
//! at the end of the chain, is zero (anonymous memory is demand-zero).
//!
//! Objects are reference counted with `Arc`: map entries, shadow objects and `vm_map_copy`
//! segments each hold one reference, so an object (and every page in it) goes back to the
//! pool when the last of them lets go. A backing object never changes what a shadow sees:
//! nobody writes into an object that has shadows or a `needs_copy` mapping, and the only
//! page ever added to it is a demand-zero page where the whole chain had none.
//!
//! When a shadow holds the only reference to its backing object, the two are merged
//! ([`VmObject::collapse`]): the backing pages the shadow does not override move up and the
//! chain gets shorter. Lock order: a shadow before its backing object, any object before the
//! page pool.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use mach::KernReturn;

use crate::kern::locks::SimpleLock;
use crate::vm::vm_page::VmPage;

/// A shared reference to an object.
pub type ObjectRef = Arc<VmObject>;

/// An anonymous memory object.
pub struct VmObject {
    state: SimpleLock<ObjectState>,
}

struct ObjectState {
    /// Bytes of offset space this object covers (pages beyond it are never looked at).
    size: u64,
    /// Resident pages by page-aligned offset.
    pages: BTreeMap<u64, VmPage>,
    /// The object this one shadows, and where this object's offset 0 falls in it.
    shadow: Option<(ObjectRef, u64)>,
}

/// Where a lookup found a page.
pub struct Found {
    /// The object holding the page (kept alive while the caller uses the page).
    pub holder: ObjectRef,
    /// The page's offset inside `holder`.
    pub offset: u64,
    /// The page's frame.
    pub pa: u64,
    /// 0 if `holder` is the object the lookup started at; more for backing objects.
    pub depth: usize,
}

impl VmObject {
    /// A new empty (all-zero) object of `size` bytes.
    pub fn allocate(size: u64) -> ObjectRef {
        Arc::new(VmObject {
            state: SimpleLock::new(
                &crate::kern::lock_order::VM_OBJECT,
                ObjectState { size, pages: BTreeMap::new(), shadow: None },
            ),
        })
    }

    /// A new empty object of `size` bytes in front of `backing` at `offset` (`vm_object_shadow`).
    pub fn shadow(backing: ObjectRef, offset: u64, size: u64) -> ObjectRef {
        Arc::new(VmObject {
            state: SimpleLock::new(
                &crate::kern::lock_order::VM_OBJECT,
                ObjectState { size, pages: BTreeMap::new(), shadow: Some((backing, offset)) },
            ),
        })
    }

    /// Bytes of offset space.
    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// Resident pages held by this object itself (not its backing chain).
    pub fn resident_page_count(&self) -> usize {
        self.state.lock().pages.len()
    }

    /// The frame of this object's own page at `offset`, if resident.
    pub fn page_at(&self, offset: u64) -> Option<u64> {
        self.state.lock().pages.get(&offset).map(VmPage::phys)
    }

    /// The backing object and offset, if this is a shadow.
    pub fn backing(&self) -> Option<(ObjectRef, u64)> {
        self.state.lock().shadow.clone()
    }

    /// Objects in the chain starting here (1 for an object without backing).
    pub fn chain_length(this: &ObjectRef) -> usize {
        let mut n = 1;
        let mut next = this.backing();
        while let Some((obj, _)) = next {
            n += 1;
            next = obj.backing();
        }
        n
    }

    /// Find the page at `offset` along the shadow chain (`vm_page_lookup` walking shadows).
    pub fn lookup(this: &ObjectRef, offset: u64) -> Option<Found> {
        let mut obj = this.clone();
        let mut off = offset;
        let mut depth = 0;
        loop {
            let next = {
                let st = obj.state.lock();
                if off >= st.size {
                    return None;
                }
                if let Some(page) = st.pages.get(&off) {
                    let pa = page.phys();
                    drop(st);
                    return Some(Found { holder: obj, offset: off, pa, depth });
                }
                let (backing, shift) = st.shadow.clone()?;
                (backing, off.checked_add(shift)?)
            };
            obj = next.0;
            off = next.1;
            depth += 1;
        }
    }

    /// Put `page` at `offset` unless a page is already there; returns the frame now at
    /// `offset` (a racing fault that got there first wins, and `page` goes back).
    pub fn insert_if_absent(&self, offset: u64, page: VmPage) -> u64 {
        let mut st = self.state.lock();
        st.pages.entry(offset).or_insert(page).phys()
    }

    /// A copy of this object's page at `offset` (copy-on-write), made under the object's
    /// lock so the source cannot go away meanwhile.
    pub fn copy_page(&self, offset: u64) -> Result<VmPage, KernReturn> {
        let st = self.state.lock();
        st.pages.get(&offset).ok_or(KernReturn::KERN_FAILURE)?.copy()
    }

    /// Read this object's own page at page-aligned `offset`, from byte `within`, into `out`;
    /// false if the object has no page there.
    pub fn read_page(&self, offset: u64, within: usize, out: &mut [u8]) -> bool {
        let st = self.state.lock();
        match st.pages.get(&offset) {
            Some(page) => {
                page.read(within, out);
                true
            }
            None => false,
        }
    }

    /// Free this object's own pages in `[start, end)` (the range no longer backs anything).
    pub fn remove_pages(&self, start: u64, end: u64) {
        let mut st = self.state.lock();
        let doomed: alloc::vec::Vec<u64> = st.pages.range(start..end).map(|(&o, _)| o).collect();
        for off in doomed {
            st.pages.remove(&off);
        }
    }

    /// Grow to `size` bytes (coalescing a neighbour into a privately held object). Offsets
    /// that become visible start out zero, whatever was left there before.
    pub fn extend(&self, size: u64) {
        let old = self.size();
        if size > old {
            self.remove_pages(old, size);
            self.state.lock().size = size;
        }
    }

    /// A new object holding copies of every page the chain shows in `[offset, offset +
    /// size)` (`vm_object_copy_slowly`): used where copy-on-write cannot be arranged because
    /// others write into `this` directly (shared memory).
    pub fn copy_slowly(this: &ObjectRef, offset: u64, size: u64) -> Result<ObjectRef, KernReturn> {
        let end = offset.checked_add(size).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
        // Only offsets where some object of the chain holds a page can show data; the rest
        // read as zero in the copy too. Gathering them first keeps a sparse window (a huge
        // shared mapping with a few pages touched) from costing one lookup per page.
        let mut resident = alloc::collections::BTreeSet::new();
        let mut obj = this.clone();
        let mut shift = 0u64; // offset in `obj` = offset in `this` + shift
        loop {
            let next = {
                let st = obj.state.lock();
                let (lo, hi) = (offset.saturating_add(shift), end.saturating_add(shift));
                resident.extend(st.pages.range(lo..hi).map(|(&o, _)| o - shift - offset));
                st.shadow.clone()
            };
            let Some((backing, s)) = next else { break };
            shift = shift.checked_add(s).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
            obj = backing;
        }
        let copy = VmObject::allocate(size);
        for off in resident {
            if let Some(found) = VmObject::lookup(this, offset + off) {
                let page = found.holder.copy_page(found.offset)?;
                copy.insert_if_absent(off, page);
            }
        }
        Ok(copy)
    }

    /// Merge backing objects that only this object refers to into it (`vm_object_collapse`),
    /// repeatedly, so copy-on-write chains do not grow without bound.
    pub fn collapse(this: &ObjectRef) {
        loop {
            let mut st = this.state.lock();
            let Some((backing, shift)) = st.shadow.take() else { return };
            // Our reference is the only one: nobody else can see or reach the backing
            // object, so its pages can move without anyone noticing. (A reference held by a
            // concurrent lookup makes the count higher, and the merge simply waits.)
            if Arc::strong_count(&backing) != 1 {
                st.shadow = Some((backing, shift));
                return;
            }
            // The backing object after the one that shadows it.
            let mut bst = backing.state.lock_nested(1);
            let size = st.size;
            let pages = core::mem::take(&mut bst.pages);
            for (boff, page) in pages {
                // Pages outside our window, or hidden by our own page, are unreachable.
                if let Some(off) = boff.checked_sub(shift).filter(|&o| o < size) {
                    st.pages.entry(off).or_insert(page);
                }
            }
            st.shadow =
                bst.shadow.take().and_then(|(next, next_shift)| Some((next, next_shift.checked_add(shift)?)));
            drop(bst);
            drop(st);
            drop(backing);
        }
    }
}

impl Drop for VmObject {
    /// Release the backing chain iteratively: a long chain must not recurse on the kernel
    /// stack as each object's drop drops the next.
    fn drop(&mut self) {
        let mut next = self.state.lock().shadow.take();
        while let Some((obj, _)) = next {
            next = Arc::into_inner(obj).and_then(|o| o.state.lock().shadow.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::test_support::FakePool;
    use crate::vm::vm_page::PAGE_SIZE;

    #[test]
    fn pages_return_with_the_last_reference() {
        let (fake, pool) = FakePool::new();
        let obj = VmObject::allocate(4 * PAGE_SIZE);
        obj.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap());
        obj.insert_if_absent(PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        let other = obj.clone();
        drop(obj);
        assert_eq!(fake.outstanding(), 2);
        drop(other);
        assert_eq!(fake.outstanding(), 0);
    }

    #[test]
    fn racing_insert_keeps_the_first_page() {
        let (fake, pool) = FakePool::new();
        let obj = VmObject::allocate(PAGE_SIZE);
        let a = obj.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap());
        let b = obj.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap());
        assert_eq!(a, b);
        assert_eq!(fake.outstanding(), 1);
    }

    #[test]
    fn lookup_walks_the_chain_with_offsets() {
        let (_fake, pool) = FakePool::new();
        let base = VmObject::allocate(8 * PAGE_SIZE);
        let pa = base.insert_if_absent(3 * PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        let mid = VmObject::shadow(base.clone(), PAGE_SIZE, 4 * PAGE_SIZE);
        let top = VmObject::shadow(mid.clone(), PAGE_SIZE, 2 * PAGE_SIZE);
        let f = VmObject::lookup(&top, PAGE_SIZE).unwrap();
        assert_eq!((f.pa, f.depth, f.offset), (pa, 2, 3 * PAGE_SIZE));
        assert!(VmObject::lookup(&top, 0).is_none());
        assert!(VmObject::lookup(&top, 2 * PAGE_SIZE).is_none(), "beyond the shadow's size");
        assert_eq!(VmObject::chain_length(&top), 3);
    }

    #[test]
    fn collapse_moves_unshadowed_pages_and_frees_hidden_ones() {
        let (fake, pool) = FakePool::new();
        let base = VmObject::allocate(4 * PAGE_SIZE);
        for i in 0..4 {
            base.insert_if_absent(i * PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        }
        let kept = base.page_at(2 * PAGE_SIZE).unwrap();
        let top = VmObject::shadow(base.clone(), PAGE_SIZE, 2 * PAGE_SIZE);
        let own = top.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap());
        VmObject::collapse(&top);
        assert_eq!(VmObject::chain_length(&top), 2, "backing still referenced elsewhere");
        drop(base);
        VmObject::collapse(&top);
        assert_eq!(VmObject::chain_length(&top), 1);
        assert_eq!(top.page_at(0), Some(own), "the shadow's own page wins");
        assert_eq!(top.page_at(PAGE_SIZE), Some(kept), "backing page moved up");
        assert_eq!(fake.outstanding(), 2, "pages outside the window and hidden ones are freed");
        drop(top);
        assert_eq!(fake.outstanding(), 0);
    }

    #[test]
    fn long_chains_drop_without_recursion() {
        let (fake, pool) = FakePool::new();
        let mut obj = VmObject::allocate(PAGE_SIZE);
        for _ in 0..100_000 {
            obj = VmObject::shadow(obj, 0, PAGE_SIZE);
        }
        obj.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap());
        drop(obj);
        assert_eq!(fake.outstanding(), 0);
    }

    #[test]
    fn copy_slowly_copies_contents() {
        let (fake, pool) = FakePool::new();
        let base = VmObject::allocate(2 * PAGE_SIZE);
        let pa = base.insert_if_absent(PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        fake.write(pa, 7, 0xAB);
        let copy = VmObject::copy_slowly(&base, 0, 2 * PAGE_SIZE).unwrap();
        let cpa = copy.page_at(PAGE_SIZE).unwrap();
        assert_ne!(cpa, pa);
        assert_eq!(fake.read(cpa, 7), 0xAB);
        assert!(copy.page_at(0).is_none(), "zero pages stay implicit");
    }

    #[test]
    fn copy_slowly_visits_only_resident_pages_of_a_sparse_chain() {
        let (fake, pool) = FakePool::new();
        // 2^40 bytes: walking it page by page would never finish.
        let huge = 1u64 << 40;
        let base = VmObject::allocate(huge);
        let deep = base.insert_if_absent(huge - PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        fake.write(deep, 0, 0x11);
        base.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap()); // outside the window
        let top = VmObject::shadow(base.clone(), PAGE_SIZE, huge - PAGE_SIZE);
        let own = top.insert_if_absent(5 * PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        fake.write(own, 0, 0x22);
        // Window [PAGE_SIZE, huge - PAGE_SIZE) of `top` = [2 pages, huge) of `base`.
        let copy = VmObject::copy_slowly(&top, PAGE_SIZE, huge - 2 * PAGE_SIZE).unwrap();
        assert_eq!(fake.read(copy.page_at(4 * PAGE_SIZE).unwrap(), 0), 0x22);
        assert_eq!(fake.read(copy.page_at(huge - 3 * PAGE_SIZE).unwrap(), 0), 0x11);
        assert_eq!(copy.state.lock().pages.len(), 2, "nothing else was materialised");
    }

    #[test]
    fn extend_clears_stale_pages() {
        let (fake, pool) = FakePool::new();
        let obj = VmObject::allocate(2 * PAGE_SIZE);
        obj.insert_if_absent(PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        obj.remove_pages(PAGE_SIZE, 2 * PAGE_SIZE);
        assert_eq!(fake.outstanding(), 0);
        obj.insert_if_absent(0, VmPage::grab_zeroed(&pool).unwrap());
        obj.extend(4 * PAGE_SIZE);
        assert_eq!(obj.size(), 4 * PAGE_SIZE);
        assert_eq!(obj.resident_page_count(), 1);
    }
}
