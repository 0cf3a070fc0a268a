//! VM objects: the memory behind map entries. An object holds resident pages by offset;
//! a page it lacks is either found in its shadow (backing) object — for copy-on-write — or,
//! at the end of the chain, is zero (anonymous memory is demand-zero) or, in an external
//! object, beyond the end of its data (a fault there is `KERN_MEMORY_ERROR`: SIGBUS).
//!
//! Objects are *internal* (anonymous memory: XNU's `object->internal`) or *external*: the
//! pages of a file, which its file system reads and writes through
//! [`read_bytes`](VmObject::read_bytes) and [`write_bytes`](VmObject::write_bytes) while
//! mappings of the file see the same pages (XNU's unified buffer cache; the file system is
//! the object's pager and says where its data ends with [`VmObject::set_data_size`]).
//!
//! Objects are reference counted with `Arc`: map entries, shadow objects and `vm_map_copy`
//! segments each hold one reference, so an object (and every page in it) goes back to the
//! pool when the last of them lets go. A backing object never changes what a shadow sees
//! behind the shadow's own pages, with one exception: an external object's pager writes
//! into it, and a private (copy-on-write) mapping of a file sees those writes in the pages
//! it has not copied yet, as on XNU. Otherwise nobody writes into an object that has
//! shadows or a `needs_copy` mapping, and the only page ever added to it is a zero page
//! where the whole chain had none.
//!
//! When a shadow holds the only reference to its backing object, the two are merged
//! ([`VmObject::collapse`]): the backing pages the shadow does not override move up and the
//! chain gets shorter. Lock order: a shadow before its backing object, any object before the
//! page pool; a file system's own file lock before its object.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use mach::KernReturn;

use crate::kern::locks::SimpleLock;
use crate::vm::vm_page::{PAGE_SIZE, PoolRef, VmPage, round_page, trunc_page};

/// A shared reference to an object.
pub type ObjectRef = Arc<VmObject>;

/// A memory object: anonymous memory, or a file's pages.
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
    /// `None` for an internal (anonymous) object; for an external one, the bytes of data its
    /// pager holds (a file's length): a fault on a page wholly past it finds no page.
    data_size: Option<u64>,
    /// What the pager of an external object keeps alive for as long as the object lives
    /// (XNU's `object->pager`): a file system's charge for the file's data, so pages a
    /// mapping holds after the file is gone still count against its budget.
    _pager: Option<Arc<dyn core::any::Any + Send + Sync>>,
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
                ObjectState { size, pages: BTreeMap::new(), shadow: None, data_size: None, _pager: None },
            ),
        })
    }

    /// A new empty object of `size` bytes in front of `backing` at `offset` (`vm_object_shadow`).
    pub fn shadow(backing: ObjectRef, offset: u64, size: u64) -> ObjectRef {
        Arc::new(VmObject {
            state: SimpleLock::new(
                &crate::kern::lock_order::VM_OBJECT,
                ObjectState {
                    size,
                    pages: BTreeMap::new(),
                    shadow: Some((backing, offset)),
                    data_size: None,
                    _pager: None,
                },
            ),
        })
    }

    /// A new external object with no data yet, covering `size` bytes of offset space (as
    /// much as the file may ever grow to, so that mappings may reach past its end), keeping
    /// `pager` alive until the object goes.
    pub fn allocate_external(size: u64, pager: Option<Arc<dyn core::any::Any + Send + Sync>>) -> ObjectRef {
        let state =
            ObjectState { size, pages: BTreeMap::new(), shadow: None, data_size: Some(0), _pager: pager };
        Arc::new(VmObject { state: SimpleLock::new(&crate::kern::lock_order::VM_OBJECT, state) })
    }

    /// Is this an anonymous-memory object (not a file's)?
    pub fn is_internal(&self) -> bool {
        self.state.lock().data_size.is_none()
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

    /// Does a fault at `offset` in `this` find the end of the data: no page anywhere along
    /// the chain, and at its bottom an external object whose data ends at or before the
    /// page? (Then the fault fails with `KERN_MEMORY_ERROR`, which a user sees as SIGBUS.)
    pub fn pager_eof(this: &ObjectRef, offset: u64) -> bool {
        let mut obj = this.clone();
        let mut off = offset;
        loop {
            let next = {
                let st = obj.state.lock();
                if st.pages.contains_key(&trunc_page(off)) {
                    return false;
                }
                match (&st.shadow, st.data_size) {
                    (Some((backing, shift)), _) => match off.checked_add(*shift) {
                        Some(o) => (backing.clone(), o),
                        None => return true,
                    },
                    (None, Some(data)) => return trunc_page(off) >= round_page(data),
                    (None, None) => return false,
                }
            };
            obj = next.0;
            off = next.1;
        }
    }

    /// Copies this object's bytes from `offset` into `out`, zeros where it has no page (a
    /// file's holes). The pager's read: the object's own pages only, never a backing chain.
    pub fn read_bytes(&self, offset: u64, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let pos = offset + done as u64;
            let within = (pos % PAGE_SIZE) as usize;
            let step = (PAGE_SIZE as usize - within).min(out.len() - done);
            let dst = &mut out[done..done + step];
            if !self.read_page(trunc_page(pos), within, dst) {
                dst.fill(0);
            }
            done += step;
        }
    }

    /// Stores `data` at `offset`, taking zeroed pages from `pool` where the object has none.
    /// Every missing page is taken before anything is written, so a pool with too few
    /// (`KERN_RESOURCE_SHORTAGE`) changes nothing. The pager's write: mappings of the object
    /// see it at once.
    pub fn write_bytes(&self, pool: &PoolRef, offset: u64, data: &[u8]) -> Result<(), KernReturn> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset.checked_add(data.len() as u64).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
        let missing: alloc::vec::Vec<u64> = {
            let st = self.state.lock();
            (trunc_page(offset)..end)
                .step_by(PAGE_SIZE as usize)
                .filter(|o| !st.pages.contains_key(o))
                .collect()
        };
        let mut fresh = alloc::vec::Vec::new();
        fresh.try_reserve_exact(missing.len()).map_err(|_| KernReturn::KERN_RESOURCE_SHORTAGE)?;
        for off in missing {
            fresh.push((off, VmPage::grab_zeroed(pool)?));
        }
        let mut st = self.state.lock();
        for (off, page) in fresh {
            // A fault may have put a zero page there meanwhile: it wins, ours goes back.
            st.pages.entry(off).or_insert(page);
        }
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let within = (pos % PAGE_SIZE) as usize;
            let step = (PAGE_SIZE as usize - within).min(data.len() - done);
            if let Some(page) = st.pages.get(&trunc_page(pos)) {
                page.write(within, &data[done..done + step]);
            }
            done += step;
        }
        Ok(())
    }

    /// The bytes of data the pager of external object `this` holds (its file's length).
    pub fn data_size(&self) -> Option<u64> {
        self.state.lock().data_size
    }

    /// Tells external object `this` that its data is now `size` bytes (`ubc_setsize`), and
    /// keeps every byte past the end zero, so a file that shrinks and grows again shows
    /// zeros, never its old bytes. On a cut, pages wholly past the new end are freed — unless
    /// someone else holds the object (a mapping: its translations may still name them), in
    /// which case they are zeroed in place and stay until the object goes — and the tail of
    /// the last page is zeroed. On growth, what a mapping may have written past the old end
    /// is zeroed (with no other holder there is nothing to clear). The caller (the file's
    /// pager) holds its own lock, under which every new reference to the object is taken, so
    /// the count checked here cannot rise meanwhile.
    pub fn set_data_size(this: &ObjectRef, size: u64) {
        let sole_owner = Arc::strong_count(this) == 1;
        let mut st = this.state.lock();
        let Some(old) = st.data_size else { return };
        st.data_size = Some(size);
        let zero_from = if size < old {
            if sole_owner {
                let doomed: alloc::vec::Vec<u64> =
                    st.pages.range(round_page(size)..).map(|(&o, _)| o).collect();
                for off in doomed {
                    st.pages.remove(&off);
                }
            }
            size
        } else if size > old && !sole_owner {
            old
        } else {
            return;
        };
        const ZEROS: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];
        for (&off, page) in st.pages.range(trunc_page(zero_from)..) {
            let within = zero_from.saturating_sub(off) as usize;
            page.write(within, &ZEROS[within..]);
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
            // An external object (a file's pages) stays whole behind its shadows, as on
            // XNU: its pager still says where its data ends.
            if bst.data_size.is_some() {
                drop(bst);
                st.shadow = Some((backing, shift));
                return;
            }
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

    #[test]
    fn file_objects_hold_data_and_holes() {
        let (fake, pool) = FakePool::new();
        let obj = VmObject::allocate_external(1 << 40, None);
        assert!(!obj.is_internal() && VmObject::allocate(PAGE_SIZE).is_internal());
        VmObject::set_data_size(&obj, 3 * PAGE_SIZE);
        obj.write_bytes(&pool, PAGE_SIZE - 2, b"abcd").unwrap();
        assert_eq!(fake.outstanding(), 2, "a write across a boundary takes both pages");
        let mut buf = [0xffu8; 8];
        obj.read_bytes(PAGE_SIZE - 4, &mut buf);
        assert_eq!(&buf, b"\0\0abcd\0\0");
        obj.read_bytes(2 * PAGE_SIZE + 5, &mut buf);
        assert_eq!(buf, [0; 8], "a hole reads as zeros and takes no page");
        assert_eq!(fake.outstanding(), 2);
        // Every page is taken before anything is written.
        fake.set_limit(Some(3));
        assert_eq!(
            obj.write_bytes(&pool, 2 * PAGE_SIZE - 1, b"xy").err(),
            None,
            "one page missing, one available"
        );
        assert_eq!(
            obj.write_bytes(&pool, 10 * PAGE_SIZE, &[1; 2 * PAGE_SIZE as usize]).err(),
            Some(KernReturn::KERN_RESOURCE_SHORTAGE)
        );
        assert_eq!(obj.resident_page_count(), 3, "a refused write stores nothing");
    }

    #[test]
    fn the_end_of_a_file_is_where_faults_stop() {
        let (_fake, pool) = FakePool::new();
        let obj = VmObject::allocate_external(1 << 40, None);
        assert!(VmObject::pager_eof(&obj, 0), "an empty file has no page at all");
        VmObject::set_data_size(&obj, PAGE_SIZE + 1);
        assert!(!VmObject::pager_eof(&obj, PAGE_SIZE + 100), "the last, partial page is there");
        assert!(VmObject::pager_eof(&obj, 2 * PAGE_SIZE));
        // Through a shadow (a private mapping at offset one page), and with a page of the
        // shadow's own past the end (a page copied before a cut).
        let top = VmObject::shadow(obj.clone(), PAGE_SIZE, 4 * PAGE_SIZE);
        assert!(!VmObject::pager_eof(&top, 0) && VmObject::pager_eof(&top, PAGE_SIZE));
        top.insert_if_absent(2 * PAGE_SIZE, VmPage::grab_zeroed(&pool).unwrap());
        assert!(!VmObject::pager_eof(&top, 2 * PAGE_SIZE));
        assert!(!VmObject::pager_eof(&VmObject::allocate(PAGE_SIZE), 0), "anonymous memory has no end");
    }

    #[test]
    fn a_cut_frees_or_zeroes_and_growth_shows_zeros() {
        let (fake, pool) = FakePool::new();
        let obj = VmObject::allocate_external(1 << 40, None);
        VmObject::set_data_size(&obj, 3 * PAGE_SIZE);
        obj.write_bytes(&pool, 0, &[0xaa; 3 * PAGE_SIZE as usize]).unwrap();
        VmObject::set_data_size(&obj, PAGE_SIZE + 10);
        assert_eq!(fake.outstanding(), 2, "the page wholly past the end is freed");
        VmObject::set_data_size(&obj, 3 * PAGE_SIZE);
        let mut buf = [0x55u8; 20];
        obj.read_bytes(PAGE_SIZE, &mut buf);
        assert!(buf[..10].iter().all(|&b| b == 0xaa) && buf[10..].iter().all(|&b| b == 0), "{buf:?}");
        // Held by someone else (a mapping): nothing is freed, all of it reads zero.
        let mapping = obj.clone();
        VmObject::set_data_size(&obj, 5);
        assert_eq!(fake.outstanding(), 2);
        obj.read_bytes(0, &mut buf);
        assert_eq!(&buf[..6], &[0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0]);
        assert!(buf[5..].iter().all(|&b| b == 0));
        drop(mapping);
        VmObject::set_data_size(&obj, 0);
        assert_eq!(fake.outstanding(), 0);
    }
}
