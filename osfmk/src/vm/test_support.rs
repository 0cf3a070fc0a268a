//! Host fakes behind the VM seams: a page pool whose frames are heap buffers (so tests can
//! check what copy-on-write copied) and a pmap that records its mappings. Both detect
//! misuse a real kernel would suffer silently: double frees, copies from freed frames.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use std::sync::Mutex;

use mach::KernReturn;
use mach::vm::VmProt;

use crate::vm::pmap::PmapOps;
use crate::vm::vm_page::{PAGE_SIZE, PagePool, PoolRef};

/// Frames as heap buffers, at fake physical addresses that are never reused.
pub struct FakePool {
    inner: Mutex<PoolInner>,
}

struct PoolInner {
    frames: BTreeMap<u64, Vec<u8>>,
    next: u64,
    /// At most this many frames outstanding (None = unlimited).
    limit: Option<usize>,
}

impl FakePool {
    /// A pool, as a concrete handle for inspection and as the `PoolRef` the VM uses.
    pub fn new() -> (Arc<FakePool>, PoolRef) {
        let pool = Arc::new(FakePool {
            inner: Mutex::new(PoolInner { frames: BTreeMap::new(), next: 0x8000_0000, limit: None }),
        });
        let as_ref: PoolRef = pool.clone();
        (pool, as_ref)
    }

    /// Frames currently allocated.
    pub fn outstanding(&self) -> usize {
        self.inner.lock().unwrap().frames.len()
    }

    /// Refuse allocations beyond `limit` outstanding frames.
    pub fn set_limit(&self, limit: Option<usize>) {
        self.inner.lock().unwrap().limit = limit;
    }

    /// Byte `off` of frame `pa`.
    pub fn read(&self, pa: u64, off: usize) -> u8 {
        self.inner.lock().unwrap().frames.get(&(pa & !(PAGE_SIZE - 1))).expect("read of a free frame")[off]
    }

    /// Store `val` at byte `off` of frame `pa`.
    pub fn write(&self, pa: u64, off: usize, val: u8) {
        self.inner.lock().unwrap().frames.get_mut(&(pa & !(PAGE_SIZE - 1))).expect("write to a free frame")
            [off] = val;
    }

    fn take(&self, contents: impl FnOnce(&BTreeMap<u64, Vec<u8>>) -> Vec<u8>) -> Option<u64> {
        let mut inner = self.inner.lock().unwrap();
        if inner.limit.is_some_and(|l| inner.frames.len() >= l) {
            return None;
        }
        let data = contents(&inner.frames);
        let pa = inner.next;
        inner.next += PAGE_SIZE;
        inner.frames.insert(pa, data);
        Some(pa)
    }
}

impl PagePool for FakePool {
    fn alloc_zeroed(&self) -> Option<u64> {
        self.take(|_| vec![0; PAGE_SIZE as usize])
    }

    fn alloc_copy(&self, src: u64) -> Option<u64> {
        self.take(|frames| frames.get(&src).expect("copy from a free frame").clone())
    }

    fn free(&self, pa: u64) {
        assert!(self.inner.lock().unwrap().frames.remove(&pa).is_some(), "double free of {pa:#x}");
    }

    fn write(&self, pa: u64, offset: usize, data: &[u8]) {
        let mut inner = self.inner.lock().unwrap();
        let frame = inner.frames.get_mut(&pa).expect("write to a free frame");
        frame[offset..offset + data.len()].copy_from_slice(data);
    }

    fn read(&self, pa: u64, offset: usize, out: &mut [u8]) {
        let inner = self.inner.lock().unwrap();
        let frame = inner.frames.get(&pa).expect("read of a free frame");
        out.copy_from_slice(&frame[offset..offset + out.len()]);
    }
}

/// What a fake pmap has mapped: va → (pa, prot).
#[derive(Default)]
pub struct PmapRecord {
    pub mappings: BTreeMap<u64, (u64, VmProt)>,
}

/// A recording pmap; the test keeps a handle on the record after the map takes the pmap.
pub struct FakePmap {
    record: Arc<Mutex<PmapRecord>>,
}

impl FakePmap {
    /// A pmap for a map, and the test's view of it.
    pub fn create() -> (Box<dyn PmapOps>, Arc<Mutex<PmapRecord>>) {
        let record = Arc::new(Mutex::new(PmapRecord::default()));
        (Box::new(FakePmap { record: record.clone() }), record)
    }
}

impl PmapOps for FakePmap {
    fn enter(&mut self, va: u64, pa: u64, prot: VmProt) -> Result<(), KernReturn> {
        assert_eq!(va % PAGE_SIZE, 0, "unaligned enter");
        assert!(prot.contains(VmProt::READ), "entering a mapping without READ");
        self.record.lock().unwrap().mappings.insert(va, (pa, prot));
        Ok(())
    }

    fn remove(&mut self, start: u64, end: u64) {
        let mut r = self.record.lock().unwrap();
        let doomed: Vec<u64> = r.mappings.range(start..end).map(|(&va, _)| va).collect();
        for va in doomed {
            r.mappings.remove(&va);
        }
    }

    fn protect(&mut self, start: u64, end: u64, prot: VmProt) {
        let mut r = self.record.lock().unwrap();
        let vas: Vec<u64> = r.mappings.range(start..end).map(|(&va, _)| va).collect();
        for va in vas {
            let Some(&(pa, old)) = r.mappings.get(&va) else { continue };
            let new = old.intersection(prot);
            if new.contains(VmProt::READ) {
                r.mappings.insert(va, (pa, new));
            } else {
                r.mappings.remove(&va);
            }
        }
    }

    fn extract(&mut self, va: u64) -> Option<(u64, VmProt)> {
        self.record.lock().unwrap().mappings.get(&(va & !(PAGE_SIZE - 1))).copied()
    }

    fn resident_count(&self) -> u64 {
        self.record.lock().unwrap().mappings.len() as u64
    }

    fn ttbr(&self) -> Option<alloc::sync::Arc<crate::arm64::pmap::PmapTtbr>> {
        None
    }
}
