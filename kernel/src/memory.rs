//! Physical memory and the kernel address space (DESIGN §3 boot step 3): the early heap, the
//! frame pool, and the kernel page tables that replace the boot ones — text RX, rodata R,
//! data/bss RW + XN, a direct map of RAM (RW, never executable) and device windows
//! (Device-nGnRE) for each MMIO range the DTB names.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use linked_list_allocator::Heap;
use osfmk::arm64::pmap::{MemAttr, Pmap, Prot, phys_to_virt};
use osfmk::kern::locks::SpinLock;
use osfmk::vm::vm_page::{self, FramePool, PAGE_SIZE, round_page, trunc_page};

use crate::platform::PlatformInfo;

/// The kernel heap is carved out at boot as this fraction of the RAM it sits in: VM
/// bookkeeping grows with resident pages, so the heap must grow with RAM (one eighth keeps
/// the heap from running out before the frames do).
const KERNEL_HEAP_FRACTION: u64 = 8;
/// Bounds on the heap size.
const KERNEL_HEAP_MIN: u64 = 16 << 20;
const KERNEL_HEAP_MAX: u64 = 256 << 20;
const BLOCK_2M: u64 = 2 << 20;

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    static KERNEL_VIRT_OFFSET: u8;
}

/// Virtual address of a linker symbol.
fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// The image's virtual ↔ physical offset (from the linker script: one definition).
pub fn kernel_virt_offset() -> u64 {
    // SAFETY: an absolute linker symbol; only its address is used.
    sym(unsafe { &KERNEL_VIRT_OFFSET })
}

/// Physical `[start, end)` of the kernel image.
pub fn image_phys_range() -> (u64, u64) {
    let off = kernel_virt_offset();
    // SAFETY: linker symbols; only their addresses are used.
    unsafe { (sym(&__image_start) - off, sym(&__image_end) - off) }
}

/// Small blocks are served from per-size caches of freed blocks before the general heap
/// (XNU's zone caches in spirit): kernel objects are allocated and freed in bursts of the
/// same few sizes (a fork makes and an exit frees dozens), and the first-fit heap walks its
/// hole list on every call. Sizes round up to a multiple of [`CACHE_GRAIN`] (which the heap
/// does nearly anyway: it rounds to 8), so a cached block fits any request of its class.
const CACHE_GRAIN: usize = 16;
/// The largest size cached; larger blocks always go to the heap.
const CACHE_MAX: usize = 512;
const CACHE_CLASSES: usize = CACHE_MAX / CACHE_GRAIN;
/// Blocks kept per class: bounds what the caches hold back from the heap (at most
/// 16 × (16 + 32 + … + 512) bytes, about 130 KiB).
const CACHE_DEPTH: usize = 16;

/// The heap and its caches, under one IRQ-masking lock.
struct HeapState {
    heap: Heap,
    cache: [[*mut u8; CACHE_DEPTH]; CACHE_CLASSES],
    cached: [usize; CACHE_CLASSES],
    /// Bytes sitting in the caches (counted as used by `heap`, but free).
    cached_bytes: usize,
}

// SAFETY: the cached pointers are free heap blocks that only this allocator refers to, and
// the state is only reached under the heap's lock, from whichever CPU holds it.
unsafe impl Send for HeapState {}

impl HeapState {
    /// The cache class and rounded layout of a request the caches serve, if they do.
    fn class_of(layout: Layout) -> Option<(usize, Layout)> {
        if layout.size() > CACHE_MAX || layout.align() > CACHE_GRAIN {
            return None;
        }
        let class = layout.size().max(1).div_ceil(CACHE_GRAIN) - 1;
        let rounded = Layout::from_size_align((class + 1) * CACHE_GRAIN, CACHE_GRAIN).ok()?;
        Some((class, rounded))
    }

    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let layout = match Self::class_of(layout) {
            Some((class, rounded)) => match self.cached[class].checked_sub(1) {
                Some(n) => {
                    self.cached[class] = n;
                    self.cached_bytes -= rounded.size();
                    return self.cache[class][n];
                }
                None => rounded,
            },
            None => layout,
        };
        if let Ok(p) = self.heap.allocate_first_fit(layout) {
            return p.as_ptr();
        }
        // Out of heap: what the caches hold back is free memory too.
        self.flush_caches();
        self.heap.allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    /// Gives every cached block back to the heap.
    fn flush_caches(&mut self) {
        for class in 0..CACHE_CLASSES {
            let size = (class + 1) * CACHE_GRAIN;
            while let Some(n) = self.cached[class].checked_sub(1) {
                self.cached[class] = n;
                self.cached_bytes -= size;
                let (Some(ptr), Ok(layout)) =
                    (NonNull::new(self.cache[class][n]), Layout::from_size_align(size, CACHE_GRAIN))
                else {
                    continue;
                };
                // SAFETY: a cached block came from the heap with exactly this rounded layout
                // and nothing refers to it.
                unsafe { self.heap.deallocate(ptr, layout) };
            }
        }
    }

    /// # Safety
    /// `ptr` came from [`alloc`](Self::alloc) with this `layout` and is not used again.
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let layout = match Self::class_of(layout) {
            Some((class, rounded)) if self.cached[class] < CACHE_DEPTH => {
                self.cache[class][self.cached[class]] = ptr.as_ptr();
                self.cached[class] += 1;
                self.cached_bytes += rounded.size();
                return;
            }
            Some((_, rounded)) => rounded,
            None => layout,
        };
        // SAFETY: `ptr` came from the heap with `layout` (rounded as `alloc` rounded it).
        unsafe { self.heap.deallocate(ptr, layout) };
    }

    /// Bytes in live allocations.
    fn used(&self) -> usize {
        self.heap.used() - self.cached_bytes
    }
}

struct KernelHeap(SpinLock<HeapState>);

// SAFETY: every operation takes the IRQ-masking lock, so the heap is never entered twice.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc contract).
            unsafe { self.0.lock().dealloc(p, layout) };
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(SpinLock::new(
    &osfmk::kern::lock_order::KERNEL_HEAP,
    HeapState {
        heap: Heap::empty(),
        cache: [[core::ptr::null_mut(); CACHE_DEPTH]; CACHE_CLASSES],
        cached: [0; CACHE_CLASSES],
        cached_bytes: 0,
    },
));

/// Physical ranges that must never be handed out.
fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Put the heap in RAM after the image, clear of the DTB and the initrd; no allocation
/// happens before this (the DTB is read with the allocation-free `fdt` API).
pub fn init_heap(ram: (u64, u64), reserved: &[(u64, u64)]) -> Option<(u64, u64)> {
    let size = round_page(((ram.1 - ram.0) / KERNEL_HEAP_FRACTION).clamp(KERNEL_HEAP_MIN, KERNEL_HEAP_MAX));
    let mut start = round_page(image_phys_range().1);
    while start + size <= ram.1 {
        let cand = (start, start + size);
        match reserved.iter().find(|r| overlaps(cand, **r)) {
            Some(r) => start = round_page(r.1),
            None => {
                // SAFETY: `cand` is RAM (inside `ram`), used by nothing else (clear of the
                // image, the DTB and the initrd), and mapped RW in the direct map.
                unsafe { HEAP.0.lock().heap.init(phys_to_virt(cand.0) as *mut u8, size as usize) };
                return Some(cand);
            }
        }
    }
    None
}

/// Start the frame pool: all RAM minus the image, the DTB, the initrd and the heap.
/// Bytes of the kernel heap in use (what `vm.kernel_heap_used` reports, through the hook
/// `init_frames` registers with the VM layer).
fn heap_used() -> u64 {
    HEAP.0.lock().used() as u64
}

/// Bytes of kernel heap in all.
fn heap_size() -> u64 {
    HEAP.0.lock().heap.size() as u64
}

pub fn init_frames(info: &PlatformInfo, heap: (u64, u64)) {
    vm_page::register_heap_stats(heap_used, heap_size());
    let mut reserved = alloc::vec![image_phys_range(), info.dtb, heap];
    if let Some(i) = info.initrd {
        reserved.push(i);
    }
    vm_page::vm_page_bootstrap(FramePool::new(&info.memory, &reserved));
}

/// Build the kernel address space and switch to it.
pub fn init_kernel_pmap(info: &PlatformInfo) -> Result<(), mach::KernReturn> {
    let mut pmap = Pmap::create_kernel()?;
    let rw = Prot { write: true, execute: false, user: false };
    for &(start, end) in &info.memory {
        let mut pa = start & !(BLOCK_2M - 1);
        while pa < end {
            pmap.enter_block(phys_to_virt(pa), pa, rw, MemAttr::Normal)?;
            pa += BLOCK_2M;
        }
    }
    let mut devices = alloc::vec![info.uart, info.gicd, info.gicc_or_gicr];
    devices.extend(info.rtc);
    for (start, end) in devices {
        let mut pa = trunc_page(start);
        while pa < end.max(start + 1) {
            pmap.enter(phys_to_virt(pa), pa, rw, MemAttr::Device)?;
            pa += PAGE_SIZE;
        }
    }
    let off = kernel_virt_offset();
    // SAFETY: linker symbols; only their addresses are used.
    let (image_start, text_end, rodata_end, image_end) =
        unsafe { (sym(&__image_start), sym(&__text_end), sym(&__rodata_end), sym(&__image_end)) };
    let mut va = image_start;
    while va < image_end {
        let prot = if va < text_end {
            Prot { write: false, execute: true, user: false }
        } else if va < rodata_end {
            Prot { write: false, execute: false, user: false }
        } else {
            rw
        };
        pmap.enter(va, va - off, prot, MemAttr::Normal)?;
        va += PAGE_SIZE;
    }
    osfmk::arm64::pmap::kernel_pmap_bootstrap(pmap);
    Ok(())
}

/// The kernel's text `[start, end)` (for the in-kernel "writing text faults" test).
#[cfg_attr(not(feature = "ktest"), allow(dead_code))]
pub fn kernel_text_range() -> (u64, u64) {
    // SAFETY: linker symbols; only their addresses are used.
    unsafe { (sym(&__image_start), sym(&__text_end)) }
}

/// Privileged Access Never, where the CPU has it (ID_AA64MMFR1_EL1.PAN): the kernel then
/// faults on any direct access to user memory. copyin/copyout never make one — they use
/// unprivileged loads and stores, which PAN does not restrict, and the software path for
/// maps that are not current goes through the direct map — so this only turns a kernel bug
/// into a clean panic. Returns whether PAN is on.
pub fn enable_pan() -> bool {
    use aarch64_cpu::registers::{ID_AA64MMFR1_EL1, Readable, SCTLR_EL1, Writeable};
    if ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) == 0 {
        return false;
    }
    // SCTLR_EL1.SPAN = 0: every exception into EL1 sets PSTATE.PAN again (ARM ARM D19.2).
    const SCTLR_SPAN: u64 = 1 << 23;
    SCTLR_EL1.set(SCTLR_EL1.get() & !SCTLR_SPAN);
    // SAFETY: setting PSTATE.PAN only restricts what EL1 may access.
    unsafe {
        core::arch::asm!(".arch_extension pan", "msr pan, #1", "isb", options(nostack, preserves_flags))
    };
    true
}
