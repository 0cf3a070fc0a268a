//! A task's address space (XNU `vm_map`): an ordered set of non-overlapping entries
//! `[start, end)`, each with its current and maximum protection, its inheritance and the
//! object (+ offset) behind it. Entries are clipped when an operation covers part of one and
//! merged again when neighbours become indistinguishable.
//!
//! Memory is lazy: allocating only creates an entry; the object appears on the first fault
//! and pages one fault at a time (`vm_fault`). The pmap is a cache of the map — removing or
//! protecting a range here updates it, and anything missing is refilled by faults.
//!
//! Copy-on-write is symmetric, as in XNU: `fork` (and large `vm_map_copy`s) mark the entry
//! `needs_copy` on both sides and write-protect the source's mappings; the first write on
//! either side puts a private shadow object in front. An entry whose object is shared
//! (`VM_INHERIT_SHARE`) is written directly by several maps, so copies of it are made
//! eagerly instead.
//!
//! Budgets: entries live on the kernel heap, so they are counted twice — per map
//! ([`VM_MAP_ENTRY_MAX`]) and over all maps together ([`VM_MAP_ENTRY_TOTAL_MAX`], held in a
//! [`VmMapEntryBudget`]). Every operation that adds entries checks both first and fails
//! cleanly; `vm_map_fork` too, so a fork that would overflow the total fails instead of
//! exhausting the heap.
//!
//! Locking: a map sits behind its task's [`VmMapLock`](crate::vm::vm_map_lock::VmMapLock):
//! `&VmMap` (the read side) is enough to fault pages in, `&mut VmMap` (the write side)
//! changes entries. The pmap has a lock of its own, taken only while translation tables
//! change, so that faults under the read side can enter pages (with `&mut VmMap` nobody else
//! can hold it, and the pmap is used without locking). Order map → object → pmap → page
//! pool. Nothing here walks the whole map per entry: removal costs a bounded look at each
//! removed entry's neighbours, so tearing down a map of n entries is O(n log n).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use mach::KernReturn;
use mach::vm::{VM_BEHAVIOR_DEFAULT, VmInherit, VmProt, VmRegionBasicInfo64};

use crate::arm64::pmap::{USER_VM_MAX, USER_VM_MIN};
use crate::kern::locks::{SpinLock, SpinLockGuard};
use crate::vm::pmap::PmapOps;
use crate::vm::vm_object::{ObjectRef, VmObject};
use crate::vm::vm_page::{PAGE_SIZE, PoolRef};

/// `PAGE_MASK`: the offset bits of an address.
pub const PAGE_MASK: u64 = PAGE_SIZE - 1;

/// Most entries one map may hold. Entries live on the kernel heap, and without a bound a
/// program could exhaust it by splitting one big allocation into a page-sized entry per
/// page (mprotect every other page). Growing past it fails with `KERN_NO_SPACE`.
pub const VM_MAP_ENTRY_MAX: usize = 1 << 16;

/// Most entries all maps together may hold (and at most a quarter of the kernel heap at
/// [`VM_MAP_ENTRY_HEAP_COST`] each): 131072, about 13 MiB. One map may take half of it, so
/// a program that fills its map cannot fork copies of it until the heap is gone: growing past
/// it fails with `KERN_RESOURCE_SHORTAGE` (fork: ENOMEM).
pub const VM_MAP_ENTRY_TOTAL_MAX: usize = 1 << 17;

/// What one entry costs the kernel heap, roughly (the entry and its share of the B-tree's
/// nodes; measured: 65,000 entries took 6.8 MiB), for the heap cap of the total budget.
const VM_MAP_ENTRY_HEAP_COST: usize = 112;

/// How many entries on each side of a removed entry [`VmMap::remove`] looks at to decide
/// whether the removed window's pages can be freed at once. A bound keeps removal linear in
/// the entries removed; past it the pages simply wait for the object to die.
const RELEASE_WINDOW_NEIGHBOURS: usize = 16;

/// A count of map entries shared by many maps, with its limit (the kernel's is
/// [`VM_MAP_ENTRY_BUDGET`]; tests make their own).
pub struct VmMapEntryBudget {
    in_use: AtomicUsize,
    limit: usize,
}

impl VmMapEntryBudget {
    /// A budget of `limit` entries, none used.
    pub const fn new(limit: usize) -> VmMapEntryBudget {
        VmMapEntryBudget { in_use: AtomicUsize::new(0), limit }
    }

    /// Entries held now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The limit: the configured one, capped at its share of the kernel heap once the heap
    /// is known (host tests have none, and keep the configured limit).
    pub fn limit(&self) -> usize {
        match crate::vm::vm_page::kernel_heap_size() {
            0 => self.limit,
            heap => self
                .limit
                .min((heap / crate::kern::budget::MAP_ENTRY_HEAP_SHARE) as usize / VM_MAP_ENTRY_HEAP_COST),
        }
    }

    /// Would `more` entries fit? (Concurrent maps may overshoot by the few entries one
    /// operation adds after its check; the bound is what matters.)
    fn has_room(&self, more: usize) -> bool {
        self.in_use().saturating_add(more) <= self.limit()
    }

    fn add(&self, n: usize) {
        self.in_use.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.in_use.fetch_sub(n, Ordering::Relaxed);
    }
}

/// The kernel's budget of map entries over every map ([`VM_MAP_ENTRY_TOTAL_MAX`]).
pub static VM_MAP_ENTRY_BUDGET: VmMapEntryBudget = VmMapEntryBudget::new(VM_MAP_ENTRY_TOTAL_MAX);

/// One mapped range.
#[derive(Clone)]
pub(super) struct VmMapEntry {
    pub(super) start: u64,
    pub(super) end: u64,
    /// None until the first fault: untouched anonymous memory needs no object.
    pub(super) object: Option<ObjectRef>,
    /// Where `start` falls in `object`.
    pub(super) offset: u64,
    pub(super) protection: VmProt,
    pub(super) max_protection: VmProt,
    pub(super) inheritance: VmInherit,
    /// `object` is shared copy-on-write: a write must first put a private shadow in front.
    pub(super) needs_copy: bool,
    /// `object` is written directly by more than one map (inherited with SHARE).
    pub(super) is_shared: bool,
}

impl VmMapEntry {
    fn anonymous(start: u64, end: u64, cur: VmProt, max: VmProt, inheritance: VmInherit) -> VmMapEntry {
        VmMapEntry {
            start,
            end,
            object: None,
            offset: 0,
            protection: cur,
            max_protection: max,
            inheritance,
            needs_copy: false,
            is_shared: false,
        }
    }

    pub(super) fn len(&self) -> u64 {
        self.end - self.start
    }

    /// The object offset backing address `va` (inside the entry).
    pub(super) fn object_offset(&self, va: u64) -> u64 {
        self.offset + (va - self.start)
    }

    /// The entry's object, created now if the entry never had one.
    pub(super) fn object_or_create(&mut self) -> ObjectRef {
        match &self.object {
            Some(obj) => obj.clone(),
            None => {
                let obj = VmObject::allocate(self.len());
                self.object = Some(obj.clone());
                self.offset = 0;
                obj
            }
        }
    }

    /// Give the entry an object it may write into (the `needs_copy` half of
    /// `vm_map_lookup_locked`): a new shadow, or — when nobody else refers to the object any
    /// more — the object itself.
    pub(super) fn resolve_needs_copy(&mut self) {
        if !self.needs_copy {
            return;
        }
        self.needs_copy = false;
        let Some(obj) = &self.object else { return };
        if Arc::strong_count(obj) == 1 {
            return;
        }
        let shadow = VmObject::shadow(obj.clone(), self.offset, self.len());
        self.object = Some(shadow);
        self.offset = 0;
    }

    /// The rights mappings of this entry may have: no write while copy-on-write is pending.
    pub(super) fn pmap_protection(&self) -> VmProt {
        if self.needs_copy { self.protection.without(VmProt::WRITE) } else { self.protection }
    }
}

/// Where [`VmMap::enter`] puts a new range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmPlacement {
    /// The first free range at or above `hint` (then from the bottom of the map).
    Anywhere { hint: u64 },
    /// Exactly at `addr`; with `overwrite`, whatever is there is removed first.
    Fixed { addr: u64, overwrite: bool },
}

/// One region as `mach_vm_region` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmRegion {
    pub start: u64,
    pub size: u64,
    pub info: VmRegionBasicInfo64,
}

/// A user address space.
pub struct VmMap {
    pub(super) entries: BTreeMap<u64, VmMapEntry>,
    /// The translation tables, behind their own leaf lock (see the module doc).
    pub(super) pmap: SpinLock<Box<dyn PmapOps>>,
    pub(super) pool: PoolRef,
    min: u64,
    max: u64,
    /// Sum of entry sizes.
    size: u64,
    /// Largest `size` allowed (BSD's RLIMIT_AS; XNU's `size_limit`).
    size_limit: u64,
    /// Where this map's entries are counted with every other map's.
    budget: &'static VmMapEntryBudget,
}

/// Round `x` up to `mask + 1` (a power of two), or None past the top of the address space.
fn align_up(x: u64, mask: u64) -> Option<u64> {
    Some(x.checked_add(mask)? & !mask)
}

impl VmMap {
    /// An empty user map over `pmap`, with pages from `pool`, its entries counted in the
    /// kernel's [`VM_MAP_ENTRY_BUDGET`].
    pub fn create(pmap: Box<dyn PmapOps>, pool: PoolRef) -> VmMap {
        VmMap::create_in(pmap, pool, &VM_MAP_ENTRY_BUDGET)
    }

    /// An empty user map whose entries count against `budget`.
    pub fn create_in(pmap: Box<dyn PmapOps>, pool: PoolRef, budget: &'static VmMapEntryBudget) -> VmMap {
        VmMap {
            entries: BTreeMap::new(),
            pmap: SpinLock::new(&crate::kern::lock_order::PMAP, pmap),
            pool,
            min: USER_VM_MIN,
            max: USER_VM_MAX,
            size: 0,
            size_limit: u64::MAX,
            budget,
        }
    }

    /// Enter `entry` under `key`, counting it in the budget (callers checked room first).
    fn entry_insert(&mut self, key: u64, entry: VmMapEntry) {
        if self.entries.insert(key, entry).is_none() {
            self.budget.add(1);
        }
    }

    /// Take the entry under `key` out, giving its budget back.
    fn entry_remove(&mut self, key: u64) -> Option<VmMapEntry> {
        let e = self.entries.remove(&key)?;
        self.budget.sub(1);
        Some(e)
    }

    /// Cap the total mapped size: later `enter`s past it fail with KERN_NO_SPACE.
    pub fn set_size_limit(&mut self, limit: u64) {
        self.size_limit = limit;
    }

    /// The cap set by [`set_size_limit`](VmMap::set_size_limit).
    pub fn size_limit(&self) -> u64 {
        self.size_limit
    }

    /// The pmap, locked (below objects in the lock order: take no map or object lock
    /// while holding it).
    pub fn pmap(&self) -> SpinLockGuard<'_, Box<dyn PmapOps>> {
        self.pmap.lock()
    }

    /// The pmap of a map held exclusively (no locking needed).
    pub fn pmap_mut(&mut self) -> &mut dyn PmapOps {
        &mut **self.pmap.get_mut()
    }

    /// The pool this map's pages come from.
    pub fn pool(&self) -> &PoolRef {
        &self.pool
    }

    /// Lowest mappable address (`vm_map_min`).
    pub fn min_offset(&self) -> u64 {
        self.min
    }

    /// Bytes mapped (a task's `virtual_size`).
    pub fn virtual_size(&self) -> u64 {
        self.size
    }

    /// Pages mapped in the pmap (a task's `resident_size` in pages).
    pub fn resident_pages(&self) -> u64 {
        self.pmap().resident_count()
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn entry_containing(&self, va: u64) -> Option<&VmMapEntry> {
        self.entries.range(..=va).next_back().map(|(_, e)| e).filter(|e| va < e.end)
    }

    /// The entry of `entries` containing `va`, changeable while the map's other fields are
    /// borrowed too (a fault uses its pool and pmap beside it).
    pub(super) fn entry_containing_mut(
        entries: &mut BTreeMap<u64, VmMapEntry>,
        va: u64,
    ) -> Option<&mut VmMapEntry> {
        entries.range_mut(..=va).next_back().map(|(_, e)| e).filter(|e| va < e.end)
    }

    /// Key of the first entry overlapping `[start, ...)`.
    fn first_key_from(&self, start: u64) -> u64 {
        self.entry_containing(start).map_or(start, |e| e.start)
    }

    /// Entries overlapping `[start, end)`, in order.
    pub(super) fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &VmMapEntry> {
        let from = self.first_key_from(start);
        self.entries.range(from..end.max(from)).map(|(_, e)| e)
    }

    /// Checks that `[start, end)` lies in the map and is covered without holes, and that
    /// `check` accepts every entry in it.
    pub(super) fn check_covered(
        &self,
        start: u64,
        end: u64,
        mut check: impl FnMut(&VmMapEntry) -> Result<(), KernReturn>,
    ) -> Result<(), KernReturn> {
        if start < self.min || end > self.max || start > end {
            return Err(KernReturn::KERN_INVALID_ADDRESS);
        }
        let mut cursor = start;
        for e in self.overlapping(start, end) {
            if e.start > cursor {
                return Err(KernReturn::KERN_INVALID_ADDRESS);
            }
            check(e)?;
            cursor = e.end;
        }
        if cursor < end { Err(KernReturn::KERN_INVALID_ADDRESS) } else { Ok(()) }
    }

    /// Whether `more` entries still fit: under [`VM_MAP_ENTRY_MAX`] in this map
    /// (`KERN_NO_SPACE`) and in the budget over all maps (`KERN_RESOURCE_SHORTAGE`).
    pub(super) fn room_for(&self, more: usize) -> Result<(), KernReturn> {
        if self.entries.len() + more > VM_MAP_ENTRY_MAX {
            return Err(KernReturn::KERN_NO_SPACE);
        }
        if !self.budget.has_room(more) {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        Ok(())
    }

    /// Split the entry containing `addr` so that an entry starts exactly there. A split
    /// changes nothing a user can see, so a caller that fails after clipping leaves the map
    /// as it was; the only failure is no room for another entry (see [`room_for`](Self::room_for)).
    pub(super) fn clip(&mut self, addr: u64) -> Result<(), KernReturn> {
        let Some((&start, e)) = self.entries.range(..addr).next_back() else { return Ok(()) };
        if e.end <= addr {
            return Ok(());
        }
        self.room_for(1)?;
        let mut right = e.clone();
        right.start = addr;
        right.offset = e.object_offset(addr);
        if let Some(left) = self.entries.get_mut(&start) {
            left.end = addr;
        }
        self.entry_insert(addr, right);
        Ok(())
    }

    /// Merge the entry starting at `addr` into its predecessor when nothing tells them
    /// apart (`vm_map_simplify_entry`).
    pub(super) fn simplify(&mut self, addr: u64) {
        let (Some(next), Some((&prev_key, prev))) =
            (self.entries.get(&addr), self.entries.range(..addr).next_back())
        else {
            return;
        };
        let same_attributes = prev.end == addr
            && prev.protection == next.protection
            && prev.max_protection == next.max_protection
            && prev.inheritance == next.inheritance
            && !prev.needs_copy
            && !next.needs_copy
            && !prev.is_shared
            && !next.is_shared;
        if !same_attributes {
            return;
        }
        let grow_to = match (&prev.object, &next.object) {
            (None, None) => None,
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) && next.offset == prev.object_offset(addr) => None,
            // Only this entry sees the object, so it can simply grow over the neighbour —
            // unless it is a shadow, whose backing object would show through the new range.
            (Some(a), None) if Arc::strong_count(a) == 1 && a.backing().is_none() && a.is_internal() => {
                Some(prev.object_offset(next.end))
            }
            _ => return,
        };
        let Some(next) = self.entry_remove(addr) else { return };
        if let Some(prev) = self.entries.get_mut(&prev_key) {
            if let (Some(size), Some(obj)) = (grow_to, &prev.object) {
                obj.extend(size);
            }
            prev.end = next.end;
        }
    }

    /// Insert a new entry (the range must be free, and [`room_for`](Self::room_for) said yes).
    pub(super) fn insert_entry(&mut self, entry: VmMapEntry) {
        self.size += entry.len();
        self.entry_insert(entry.start, entry);
    }

    /// The first free, `mask`-aligned range of `size` bytes at or above `lower`.
    fn first_fit(&self, lower: u64, size: u64, mask: u64) -> Option<u64> {
        let mut candidate = align_up(lower.max(self.min), mask)?;
        if let Some(e) = self.entry_containing(candidate) {
            candidate = align_up(e.end, mask)?;
        }
        for e in self.entries.range(candidate..).map(|(_, e)| e) {
            let end = candidate.checked_add(size)?;
            if end > self.max {
                return None;
            }
            if end <= e.start {
                return Some(candidate);
            }
            candidate = align_up(candidate.max(e.end), mask)?;
        }
        let end = candidate.checked_add(size)?;
        (end <= self.max).then_some(candidate)
    }

    /// Free space for `size` bytes, aligned to `mask + 1`: first fit above `hint`, then
    /// from the bottom of the map.
    pub(super) fn find_space(&self, hint: u64, size: u64, mask: u64) -> Option<u64> {
        let mask = mask | PAGE_MASK;
        self.first_fit(hint, size, mask)
            .or_else(|| if hint > self.min { self.first_fit(self.min, size, mask) } else { None })
    }

    /// Map `size` bytes (page-aligned, non-zero) of zero-fill memory (`vm_map_enter`).
    /// Returns the start address. Errors: `KERN_INVALID_ARGUMENT` for a bad size or
    /// protections, `KERN_NO_SPACE` when no room (or the fixed range is taken, or misaligned
    /// for `mask`), `KERN_INVALID_ADDRESS` for a fixed range outside the map.
    pub fn enter(
        &mut self,
        placement: VmPlacement,
        size: u64,
        mask: u64,
        cur: VmProt,
        max: VmProt,
        inheritance: VmInherit,
    ) -> Result<u64, KernReturn> {
        self.enter_backed(placement, size, mask, cur, max, inheritance, None)
    }

    /// `vm_map_enter` of a memory object (a named entry's): the range maps `object` from
    /// `offset` — shared with every other mapping of it, or with `copy`, copy-on-write.
    /// `KERN_INVALID_ARGUMENT` if the object does not cover the range.
    #[allow(clippy::too_many_arguments)]
    pub fn enter_object(
        &mut self,
        placement: VmPlacement,
        size: u64,
        mask: u64,
        cur: VmProt,
        max: VmProt,
        inheritance: VmInherit,
        object: ObjectRef,
        offset: u64,
        copy: bool,
    ) -> Result<u64, KernReturn> {
        let end = offset.checked_add(size).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
        if offset & PAGE_MASK != 0 || end > object.size() {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        self.enter_backed(placement, size, mask, cur, max, inheritance, Some((object, offset, copy)))
    }

    #[allow(clippy::too_many_arguments)]
    fn enter_backed(
        &mut self,
        placement: VmPlacement,
        size: u64,
        mask: u64,
        cur: VmProt,
        max: VmProt,
        inheritance: VmInherit,
        backing: Option<(ObjectRef, u64, bool)>,
    ) -> Result<u64, KernReturn> {
        if size == 0 || size & PAGE_MASK != 0 || !cur.is_valid() || !max.is_valid() || !max.contains(cur) {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        if self.size.saturating_add(size) > self.size_limit {
            return Err(KernReturn::KERN_NO_SPACE);
        }
        // The new entry, plus up to two pieces an overwrite may cut out of its neighbours.
        let overwriting = matches!(placement, VmPlacement::Fixed { overwrite: true, .. });
        self.room_for(if overwriting { 3 } else { 1 })?;
        let start = match placement {
            VmPlacement::Anywhere { hint } => {
                self.find_space(hint, size, mask).ok_or(KernReturn::KERN_NO_SPACE)?
            }
            VmPlacement::Fixed { addr, overwrite } => {
                if addr & PAGE_MASK != 0 {
                    return Err(KernReturn::KERN_INVALID_ARGUMENT);
                }
                if addr & mask != 0 {
                    return Err(KernReturn::KERN_NO_SPACE);
                }
                let end = addr.checked_add(size).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
                if addr < self.min || end > self.max {
                    return Err(KernReturn::KERN_INVALID_ADDRESS);
                }
                if self.overlapping(addr, end).next().is_some() {
                    if !overwrite {
                        return Err(KernReturn::KERN_NO_SPACE);
                    }
                    self.remove(addr, end)?;
                }
                addr
            }
        };
        let end = start + size;
        let mut entry = VmMapEntry::anonymous(start, end, cur, max, inheritance);
        if let Some((object, offset, copy)) = backing {
            entry.object = Some(object);
            entry.offset = offset;
            entry.needs_copy = copy;
            entry.is_shared = !copy;
        }
        self.insert_entry(entry);
        self.simplify(end);
        self.simplify(start);
        Ok(start)
    }

    /// Make `[start, end)` shareable for a named memory entry (`mach_make_memory_entry`): the
    /// range must lie in one entry whose maximum protection allows `prot`; that entry gets an
    /// object of its own, written in place from now on (as `VM_INHERIT_SHARE` does). Returns
    /// the object and where `start` falls in it. Errors: `KERN_INVALID_ADDRESS` for holes,
    /// `KERN_PROTECTION_FAILURE`, and `KERN_INVALID_ARGUMENT` for a range over several entries.
    pub fn share_range(
        &mut self,
        start: u64,
        end: u64,
        prot: VmProt,
    ) -> Result<(ObjectRef, u64), KernReturn> {
        self.check_covered(start, end, |e| {
            if e.max_protection.contains(prot) { Ok(()) } else { Err(KernReturn::KERN_PROTECTION_FAILURE) }
        })?;
        let keys = self.clip_range(start, end)?;
        let [key] = keys[..] else { return Err(KernReturn::KERN_INVALID_ARGUMENT) };
        let entry = self.entries.get_mut(&key).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        let had_backing = entry.needs_copy || entry.object.as_ref().is_some_and(|o| o.backing().is_some());
        entry.resolve_needs_copy();
        let object = entry.object_or_create();
        entry.is_shared = true;
        let (offset, from, to) = (entry.offset, entry.start, entry.end);
        if had_backing {
            // Pages of backing objects mapped here would go stale once copied up.
            self.pmap.get_mut().remove(from, to);
        }
        Ok((object, offset))
    }

    /// Clip so that entries start exactly at `start` and at `end`, and list the keys of the
    /// entries now inside `[start, end)`.
    pub(super) fn clip_range(&mut self, start: u64, end: u64) -> Result<Vec<u64>, KernReturn> {
        self.clip(start)?;
        self.clip(end)?;
        Ok(self.entries.range(start..end).map(|(&k, _)| k).collect())
    }

    /// Change every entry of `[start, end)` with `f` (given the pmap too), clipping first and
    /// merging neighbours that ended up alike afterwards.
    fn update_range(
        &mut self,
        start: u64,
        end: u64,
        mut f: impl FnMut(&mut VmMapEntry, &mut dyn PmapOps),
    ) -> Result<(), KernReturn> {
        let keys = self.clip_range(start, end)?;
        let pmap = self.pmap.get_mut();
        for key in &keys {
            if let Some(e) = self.entries.get_mut(key) {
                f(e, &mut **pmap);
            }
        }
        self.simplify(end);
        for &key in keys.iter().rev() {
            self.simplify(key);
        }
        Ok(())
    }

    /// Unmap `[start, end)` (page-aligned; clamped to the map). Holes are fine; entries are
    /// clipped; pages nobody else can see any more go back to the pool (`vm_map_remove`).
    /// Punching a hole into a full map fails with `KERN_NO_SPACE`, removing nothing.
    pub fn remove(&mut self, start: u64, end: u64) -> Result<(), KernReturn> {
        let (start, end) = (start.max(self.min), end.min(self.max));
        if start >= end {
            return Ok(());
        }
        for key in self.clip_range(start, end)? {
            if let Some(entry) = self.entry_remove(key) {
                self.pmap.get_mut().remove(entry.start, entry.end);
                self.size -= entry.len();
                self.release_window(entry);
            }
        }
        Ok(())
    }

    /// Drop `entry`'s hold on its object. Where the object lives on only in other entries
    /// of this map that do not overlap the entry's window (a clipped allocation), the
    /// window's pages are freed now rather than when the whole object dies. Only the
    /// [`RELEASE_WINDOW_NEIGHBOURS`] nearest entries on each side are looked at — where a
    /// clip leaves the rest of an object — so this costs O(log n), not a walk of the map; a
    /// reference found nowhere near keeps the pages until the object dies.
    fn release_window(&self, entry: VmMapEntry) {
        let Some(obj) = &entry.object else { return };
        let refs = Arc::strong_count(obj);
        if refs == 1 {
            return;
        }
        let window = entry.offset..entry.object_offset(entry.end);
        let mut seen = 1;
        let before = self.entries.range(..entry.start).rev().take(RELEASE_WINDOW_NEIGHBOURS);
        let after = self.entries.range(entry.start..).take(RELEASE_WINDOW_NEIGHBOURS);
        for other in before.chain(after).map(|(_, e)| e) {
            if let Some(o) = &other.object
                && Arc::ptr_eq(o, obj)
            {
                if other.offset < window.end && window.start < other.object_offset(other.end) {
                    return;
                }
                seen += 1;
            }
        }
        if seen == refs {
            obj.remove_pages(window.start, window.end);
        }
    }

    /// Unmap everything.
    pub fn deallocate_all(&mut self) {
        // Every entry lies inside [min, max), so nothing is clipped and this cannot fail.
        let _ = self.remove(self.min, self.max);
    }

    /// Set the current protection of `[start, end)` (page-aligned) to `new_prot`, or with
    /// `set_maximum` the maximum (the current one is lowered to fit) — `vm_map_protect`.
    /// Nothing changes unless the whole range is mapped (`KERN_INVALID_ADDRESS`) and
    /// `new_prot` is within every entry's maximum (`KERN_PROTECTION_FAILURE`).
    pub fn protect(
        &mut self,
        start: u64,
        end: u64,
        new_prot: VmProt,
        set_maximum: bool,
    ) -> Result<(), KernReturn> {
        self.check_covered(start, end, |e| {
            if e.max_protection.contains(new_prot) {
                Ok(())
            } else {
                Err(KernReturn::KERN_PROTECTION_FAILURE)
            }
        })?;
        if start == end {
            return Ok(());
        }
        self.update_range(start, end, |e, pmap| {
            if set_maximum {
                e.max_protection = new_prot;
                e.protection = e.protection.intersection(new_prot);
            } else {
                e.protection = new_prot;
            }
            // Rights only shrink here; a fault adds them back where the entry allows.
            pmap.protect(e.start, e.end, e.pmap_protection());
        })
    }

    /// Set the inheritance of `[start, end)` (page-aligned; holes are skipped) —
    /// `vm_map_inherit`. Fails only on a full map (`KERN_NO_SPACE`).
    pub fn inherit(&mut self, start: u64, end: u64, inheritance: VmInherit) -> Result<(), KernReturn> {
        let (start, end) = (start.max(self.min), end.min(self.max));
        if start >= end {
            return Ok(());
        }
        self.update_range(start, end, |e, _| e.inheritance = inheritance)
    }

    /// The region containing `addr`, or else the next one above it (`vm_map_region`);
    /// `KERN_INVALID_ADDRESS` if there is none.
    pub fn region(&self, addr: u64) -> Result<VmRegion, KernReturn> {
        let entry = self
            .entry_containing(addr)
            .or_else(|| self.entries.range(addr..).next().map(|(_, e)| e))
            .ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        Ok(region_of(entry))
    }

    /// Every region, in address order.
    pub fn regions(&self) -> impl Iterator<Item = VmRegion> + '_ {
        self.entries.values().map(region_of)
    }
}

fn region_of(e: &VmMapEntry) -> VmRegion {
    VmRegion {
        start: e.start,
        size: e.len(),
        info: VmRegionBasicInfo64 {
            protection: e.protection,
            max_protection: e.max_protection,
            inheritance: e.inheritance,
            shared: e.is_shared,
            reserved: false,
            offset: e.offset,
            behavior: VM_BEHAVIOR_DEFAULT,
            user_wired_count: 0,
        },
    }
}

impl Drop for VmMap {
    fn drop(&mut self) {
        self.deallocate_all();
    }
}

/// The child's address space at fork (`vm_map_fork`), built entry by entry from each
/// entry's inheritance: SHARE → the same object, written by both; COPY → copy-on-write
/// (the parent's mappings lose write access until its next write fault); NONE → a hole.
/// Every child entry is charged like any other: when the budget of entries over all maps
/// runs out the fork fails with `KERN_RESOURCE_SHORTAGE` (the half-built child is torn
/// down, and the parent keeps working: its entries only became copy-on-write).
pub fn vm_map_fork(parent: &mut VmMap, child_pmap: Box<dyn PmapOps>) -> Result<VmMap, KernReturn> {
    let mut child = VmMap::create_in(child_pmap, parent.pool.clone(), parent.budget);
    child.size_limit = parent.size_limit;
    // Check the whole budget up front, so an over-budget fork touches nothing in the
    // parent; the per-entry checks below still stop a fork that races with other maps.
    let inherited = parent.entries.values().filter(|e| e.inheritance != VmInherit::NONE).count();
    child.room_for(inherited)?;
    let (entries, parent_pmap) = (&mut parent.entries, parent.pmap.get_mut());
    for entry in entries.values_mut() {
        if entry.inheritance != VmInherit::NONE {
            child.room_for(1)?;
        }
        match entry.inheritance {
            VmInherit::SHARE => {
                let had_backing =
                    entry.needs_copy || entry.object.as_ref().is_some_and(|o| o.backing().is_some());
                entry.resolve_needs_copy();
                entry.object_or_create();
                entry.is_shared = true;
                if had_backing {
                    // Pages of backing objects mapped here would go stale once the other
                    // side copies them up into the shared object; refault them through it.
                    parent_pmap.remove(entry.start, entry.end);
                }
                child.insert_entry(entry.clone());
            }
            VmInherit::COPY => {
                let mut copy = entry.clone();
                copy.is_shared = false;
                if let Some(obj) = &entry.object {
                    if entry.is_shared {
                        // Others write into this object directly: take a snapshot now.
                        copy.object = Some(VmObject::copy_slowly(obj, entry.offset, entry.len())?);
                        copy.offset = 0;
                        copy.needs_copy = false;
                    } else {
                        if !entry.needs_copy {
                            entry.needs_copy = true;
                            parent_pmap.protect(entry.start, entry.end, entry.pmap_protection());
                        }
                        copy.needs_copy = true;
                    }
                }
                child.insert_entry(copy);
            }
            _ => {}
        }
    }
    Ok(child)
}

#[cfg(target_os = "none")]
mod machine {
    //! The target's map: an `arm64` pmap and the kernel page pool.
    use super::*;
    use crate::arm64::pmap::Pmap;
    use crate::vm::pmap::MachinePmap;
    use crate::vm::vm_page::kernel_page_pool;

    impl VmMap {
        /// An empty user map over `pmap`, with pages from the kernel's pool.
        pub fn new(pmap: Pmap) -> VmMap {
            VmMap::create(Box::new(MachinePmap::new(pmap)), kernel_page_pool())
        }
    }
}
