//! Physical pages: the boot-time free pool (`FramePool`, one bit per frame of RAM) and the
//! seam the VM layer allocates through (`PagePool`, `VmPage`).
//!
//! RAM comes from the device tree as a few large ranges; the image, the DTB, the initrd and
//! the early heap are carved out before the pool starts. A bitmap per range keeps the pool
//! compact (one bit per frame) and makes a double free detectable, which is a kernel bug.
//!
//! The VM layer never sees frame numbers it could forget: a resident page is a [`VmPage`],
//! which owns its frame and gives it back to its pool when dropped, so a page can only leak
//! if the object holding it leaks. Behind [`PagePool`] the kernel uses this frame pool and
//! the direct map; host tests use heap buffers, so page contents can be checked.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use mach::KernReturn;

use crate::kern::locks::SpinLock;

/// Bytes in a page (4 KiB granule everywhere in this kernel).
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;

/// Round `x` down to a page boundary.
pub const fn trunc_page(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Round `x` up to a page boundary (saturating at the top of the address space).
pub const fn round_page(x: u64) -> u64 {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => v & !(PAGE_SIZE - 1),
        None => !(PAGE_SIZE - 1),
    }
}

struct Region {
    base: u64,
    frames: u64,
    /// Bit set = frame in use.
    used: Vec<u64>,
    hint: u64,
}

/// Free/used state of every frame in RAM.
pub struct FramePool {
    regions: Vec<Region>,
    free: u64,
    total: u64,
}

impl FramePool {
    /// A pool over `ram` (physical `[start, end)` ranges) with `reserved` ranges already used.
    pub fn new(ram: &[(u64, u64)], reserved: &[(u64, u64)]) -> FramePool {
        let mut pool = FramePool { regions: Vec::new(), free: 0, total: 0 };
        for &(start, end) in ram {
            let base = round_page(start);
            let top = trunc_page(end);
            if top <= base {
                continue;
            }
            let frames = (top - base) / PAGE_SIZE;
            pool.regions.push(Region { base, frames, used: vec![0; frames.div_ceil(64) as usize], hint: 0 });
            pool.free += frames;
            pool.total += frames;
        }
        for &(start, end) in reserved {
            let mut pa = trunc_page(start);
            while pa < end {
                if pool.mark(pa, true) == Some(false) {
                    pool.free -= 1;
                }
                pa += PAGE_SIZE;
            }
        }
        pool
    }

    /// Set frame `pa`'s used bit; returns its previous value, or None if `pa` is not RAM.
    fn mark(&mut self, pa: u64, used: bool) -> Option<bool> {
        let r = self.regions.iter_mut().find(|r| pa >= r.base && pa < r.base + r.frames * PAGE_SIZE)?;
        let i = (pa - r.base) / PAGE_SIZE;
        let (word, bit) = ((i / 64) as usize, i % 64);
        let was = r.used[word] & (1 << bit) != 0;
        if used {
            r.used[word] |= 1 << bit;
        } else {
            r.used[word] &= !(1 << bit);
            r.hint = r.hint.min(i);
        }
        Some(was)
    }

    /// Take one free frame.
    pub fn alloc(&mut self) -> Option<u64> {
        for r in &mut self.regions {
            let mut word = (r.hint / 64) as usize;
            while word < r.used.len() {
                if r.used[word] != u64::MAX {
                    let bit = (!r.used[word]).trailing_zeros() as u64;
                    let i = word as u64 * 64 + bit;
                    if i >= r.frames {
                        break;
                    }
                    r.used[word] |= 1 << bit;
                    r.hint = i;
                    self.free -= 1;
                    return Some(r.base + i * PAGE_SIZE);
                }
                word += 1;
            }
            r.hint = r.frames;
        }
        None
    }

    /// Take `count` physically contiguous free frames (for kernel stacks and the early heap).
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<u64> {
        let mut found = None;
        'regions: for r in &self.regions {
            let mut run = 0;
            for i in 0..r.frames {
                if r.used[(i / 64) as usize] & (1 << (i % 64)) == 0 {
                    run += 1;
                    if run == count {
                        found = Some(r.base + (i + 1 - count) * PAGE_SIZE);
                        break 'regions;
                    }
                } else {
                    run = 0;
                }
            }
        }
        let base = found?;
        for k in 0..count {
            self.mark(base + k * PAGE_SIZE, true);
        }
        self.free -= count;
        Some(base)
    }

    /// Return a frame. Freeing a frame that is not allocated is a kernel bug.
    pub fn free(&mut self, pa: u64) {
        match self.mark(pa, false) {
            Some(true) => self.free += 1,
            Some(false) => panic!("vm_page: double free of frame {pa:#x}"),
            None => panic!("vm_page: freeing {pa:#x}, which is not RAM"),
        }
    }

    /// Free frames.
    pub fn free_count(&self) -> u64 {
        self.free
    }

    /// All frames of RAM.
    pub fn total_count(&self) -> u64 {
        self.total
    }
}

/// The kernel's pool, set up by the platform code at boot.
// Interrupt-masking: the switch path frees a dead thread's stack pages (`thread_dispatch`).
static POOL: SpinLock<Option<FramePool>> = SpinLock::new(&crate::kern::lock_order::PAGE_POOL, None);

/// Install the boot-time pool.
pub fn vm_page_bootstrap(pool: FramePool) {
    *POOL.lock() = Some(pool);
}

/// Allocate one frame (not zeroed), or None when memory is exhausted.
pub fn vm_page_alloc() -> Option<u64> {
    POOL.lock().as_mut()?.alloc()
}

/// Free one frame.
pub fn vm_page_free(pa: u64) {
    if let Some(pool) = POOL.lock().as_mut() {
        pool.free(pa);
    }
}

/// (free, total) frames.
pub fn vm_page_counts() -> (u64, u64) {
    POOL.lock().as_ref().map_or((0, 0), |p| (p.free_count(), p.total_count()))
}

/// The kernel heap: how to read the bytes in use, and its size (fixed at boot).
struct HeapStats {
    used: fn() -> u64,
    size: u64,
}

static HEAP_STATS: spin::Once<HeapStats> = spin::Once::new();

/// The machine layer says how to read the kernel heap's usage, and how big it is (once, at
/// boot, after the heap is set up).
pub fn register_heap_stats(used: fn() -> u64, size: u64) {
    HEAP_STATS.call_once(|| HeapStats { used, size });
}

/// Bytes of the kernel heap in use (0 before the machine layer registers): the figure
/// that shows a kernel object leak, which free page counts cannot (the heap is carved out
/// once at boot).
pub fn kernel_heap_used() -> u64 {
    HEAP_STATS.get().map_or(0, |h| (h.used)())
}

/// Bytes of kernel heap in all (0 before the machine layer registers).
pub fn kernel_heap_size() -> u64 {
    HEAP_STATS.get().map_or(0, |h| h.size)
}

/// Where the VM layer gets resident pages: the machine-dependent half of page management.
/// Implementations lock internally (they are called with a VM object locked: lock order
/// map → object → page pool).
pub trait PagePool: Send + Sync {
    /// Take a frame and fill it with zeroes; None when memory is exhausted.
    fn alloc_zeroed(&self) -> Option<u64>;
    /// Take a frame holding a copy of frame `src`; None when memory is exhausted.
    fn alloc_copy(&self, src: u64) -> Option<u64>;
    /// Give frame `pa` back. Only [`VmPage`]'s drop calls this.
    fn free(&self, pa: u64);
    /// Copy `data` into frame `pa` at byte `offset` (within the frame).
    fn write(&self, pa: u64, offset: usize, data: &[u8]);
    /// Copy bytes of frame `pa` from byte `offset` into `out` (within the frame).
    fn read(&self, pa: u64, offset: usize, out: &mut [u8]);
}

/// A shared handle to a page pool.
pub type PoolRef = Arc<dyn PagePool>;

/// A resident page: owns one frame of its pool and returns it when dropped. Not `Clone`:
/// every frame has exactly one owner (a VM object), which is what makes leaks impossible.
pub struct VmPage {
    pa: u64,
    pool: PoolRef,
}

impl VmPage {
    /// A zero-filled page (demand zero), or `KERN_RESOURCE_SHORTAGE`.
    pub fn grab_zeroed(pool: &PoolRef) -> Result<VmPage, KernReturn> {
        let pa = pool.alloc_zeroed().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        Ok(VmPage { pa, pool: pool.clone() })
    }

    /// A new page with this page's contents (copy-on-write), or `KERN_RESOURCE_SHORTAGE`.
    pub fn copy(&self) -> Result<VmPage, KernReturn> {
        let pa = self.pool.alloc_copy(self.pa).ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        Ok(VmPage { pa, pool: self.pool.clone() })
    }

    /// The physical address of the frame.
    pub fn phys(&self) -> u64 {
        self.pa
    }

    /// Write `data` into the page at byte `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) {
        self.pool.write(self.pa, offset, data);
    }

    /// Read the page from byte `offset` into `out`.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        self.pool.read(self.pa, offset, out);
    }
}

impl Drop for VmPage {
    fn drop(&mut self) {
        self.pool.free(self.pa);
    }
}

/// The kernel's [`PagePool`]: frames from [`vm_page_alloc`], zeroed through the direct map.
#[cfg(target_os = "none")]
pub struct KernelPagePool;

#[cfg(target_os = "none")]
impl PagePool for KernelPagePool {
    fn alloc_zeroed(&self) -> Option<u64> {
        let pa = vm_page_alloc()?;
        crate::arm64::pmap::zero_page(pa);
        Some(pa)
    }

    fn alloc_copy(&self, src: u64) -> Option<u64> {
        let pa = vm_page_alloc()?;
        crate::arm64::pmap::copy_page(pa, src);
        Some(pa)
    }

    fn free(&self, pa: u64) {
        vm_page_free(pa);
    }

    fn write(&self, pa: u64, offset: usize, data: &[u8]) {
        crate::arm64::pmap::write_frame(pa, offset, data);
    }

    fn read(&self, pa: u64, offset: usize, out: &mut [u8]) {
        crate::arm64::pmap::read_frame(pa, offset, out);
    }
}

/// The kernel's page pool as a shared handle (one allocation, made on first use).
#[cfg(target_os = "none")]
pub fn kernel_page_pool() -> PoolRef {
    static POOL_REF: spin::Once<PoolRef> = spin::Once::new();
    POOL_REF.call_once(|| Arc::new(KernelPagePool)).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_allocates_and_frees() {
        let mut p = FramePool::new(&[(0x4000_0000, 0x4010_0000)], &[(0x4000_0000, 0x4000_2001)]);
        assert_eq!(p.total_count(), 256);
        assert_eq!(p.free_count(), 253);
        let a = p.alloc().unwrap();
        assert_eq!(a, 0x4000_3000);
        let run = p.alloc_contiguous(4).unwrap();
        assert_eq!(run, 0x4000_4000);
        assert_eq!(p.free_count(), 248);
        p.free(a);
        assert_eq!(p.alloc(), Some(a));
        let mut n = 0;
        while p.alloc().is_some() {
            n += 1;
        }
        assert_eq!(n, 248);
        assert_eq!(p.free_count(), 0);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_is_a_bug() {
        let mut p = FramePool::new(&[(0, 0x10000)], &[]);
        let a = p.alloc().unwrap();
        p.free(a);
        p.free(a);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_page(1), 4096);
        assert_eq!(trunc_page(4097), 4096);
        assert_eq!(round_page(u64::MAX), !4095);
    }
}
