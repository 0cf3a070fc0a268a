//! The pmap: aarch64 translation tables (4 KiB granule, 48-bit VAs, 4 levels).
//!
//! A pmap is a cache of what the VM layer decided; it maps pages and forgets them. The kernel
//! pmap is installed in TTBR1 (the upper half: the direct map of RAM, device windows and the
//! image); every task has its own pmap in TTBR0 tagged with an ASID, so switching tasks never
//! flushes the TLB. Table pages come from `vm_page` and are reached through the direct map.
//! Descriptor bits are from the ARM ARM, D8.3 (VMSAv8-64 translation table format).

#![cfg_attr(not(target_os = "none"), allow(dead_code, unused_imports))]

use mach::KernReturn;

use crate::arm64::cpu_data::MAX_CPUS;
use crate::kern::lock_order;
use crate::kern::locks::SpinLock;
use crate::vm::vm_page::{self, PAGE_SIZE};

/// Where the direct map of physical memory starts in the upper half (TTBR1, L0 slot 0).
pub const PHYS_MAP_BASE: u64 = 0xFFFF_0000_0000_0000;
/// The lowest user address (Darwin's `__PAGEZERO` keeps the low 4 GiB unmapped).
pub const USER_VM_MIN: u64 = 0x1_0000_0000;
/// One past the highest user address (48-bit TTBR0 range).
pub const USER_VM_MAX: u64 = 0x0000_8000_0000_0000;

/// Kernel virtual address of physical address `pa` in the direct map.
pub const fn phys_to_virt(pa: u64) -> u64 {
    pa + PHYS_MAP_BASE
}

/// Memory types: the index into MAIR_EL1 set up by the boot code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemAttr {
    /// Device-nGnRE: MMIO.
    Device = 0,
    /// Normal, write-back cacheable: RAM.
    Normal = 1,
}

/// Access rights of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    pub write: bool,
    pub execute: bool,
    /// Accessible from EL0 (user pages); user pages are never executable at EL1 (PXN).
    pub user: bool,
}

const DESC_VALID: u64 = 1 << 0;
const DESC_TABLE: u64 = 1 << 1; // at levels 0–2: table; at level 3: page
const DESC_ATTR_SHIFT: u32 = 2;
const DESC_AP_EL0: u64 = 1 << 6;
const DESC_AP_RO: u64 = 1 << 7;
const DESC_SH_INNER: u64 = 3 << 8;
const DESC_AF: u64 = 1 << 10;
const DESC_NG: u64 = 1 << 11;
const DESC_PXN: u64 = 1 << 53;
const DESC_UXN: u64 = 1 << 54;
const DESC_ADDR_MASK: u64 = 0x0000_FFFF_FFFF_F000;
/// Software field of a level-2 table descriptor (bits 11:2 are ignored by the walker in a
/// table descriptor with 4 KiB granules while TCR_EL1.DS is 0 (no FEAT_LPA2) and
/// TCR2_EL1.HAFT is 0: Arm ARM D8.3.1). We never set DS; TCR2_EL1 reads as 0 when we start
/// at EL2 (boot clears HCRX_EL2) and is assumed left at 0 by firmware otherwise, as QEMU
/// does. The field holds a level-3 table's lowest possibly valid entry. Entries below it are
/// known to be empty, so scans of a stack's table (filled from the top) start near its top.
/// 0 (as in any descriptor that never had it set) means "scan from the start".
const DESC_L3_LOW_SHIFT: u32 = 2;
const DESC_L3_LOW_MASK: u64 = 0x3ff << DESC_L3_LOW_SHIFT;
/// The hint of a new, empty level-3 table: no entry below the end.
const L3_EMPTY: u64 = 512;

/// Encode a leaf descriptor (page at level 3, block above).
pub const fn leaf_descriptor(pa: u64, prot: Prot, attr: MemAttr, level3: bool) -> u64 {
    let mut d = (pa & DESC_ADDR_MASK) | DESC_VALID | DESC_AF | ((attr as u64) << DESC_ATTR_SHIFT);
    if level3 {
        d |= DESC_TABLE;
    }
    if matches!(attr, MemAttr::Normal) {
        d |= DESC_SH_INNER;
    }
    if !prot.write {
        d |= DESC_AP_RO;
    }
    if prot.user {
        d |= DESC_AP_EL0 | DESC_NG | DESC_PXN;
        if !prot.execute {
            d |= DESC_UXN;
        }
    } else {
        d |= DESC_UXN;
        if !prot.execute {
            d |= DESC_PXN;
        }
    }
    d
}

/// Decode the rights of a leaf descriptor.
pub const fn descriptor_prot(d: u64) -> Prot {
    let user = d & DESC_AP_EL0 != 0;
    Prot {
        write: d & DESC_AP_RO == 0,
        execute: if user { d & DESC_UXN == 0 } else { d & DESC_PXN == 0 },
        user,
    }
}

const fn table_index(va: u64, level: u32) -> usize {
    ((va >> (39 - 9 * level)) & 0x1ff) as usize
}

/// What TTBR0 is loaded from for one user pmap: its root table (fixed for the pmap's life)
/// and its ASID tag, `generation << 16 | asid` from [`AsidAllocator`] (0 before the first
/// activation), which changes when the pmap is tagged again after a roll-over. The pmap and
/// the task running in it share it (`Task::activate`), so the context switch reaches it
/// without the map's lock. The tag is read and changed only under the allocator's lock, so
/// the ASID loaded is always one of the current generation, and every CPU running the pmap
/// runs it under the ASID flushes name.
pub struct PmapTtbr {
    root: u64,
    tag: core::sync::atomic::AtomicU64,
}

/// One set of translation tables: the root table's physical address and its ASID tag.
pub struct Pmap {
    ttbr: alloc::sync::Arc<PmapTtbr>,
    /// The kernel's pmap (TTBR1, global mappings, no ASID).
    kernel: bool,
    /// Table pages owned by this pmap (freed on destroy), root included.
    tables: alloc::vec::Vec<u64>,
}

/// ASID allocation with generations, for any number of CPUs. A user pmap's tag is
/// `generation << 16 | asid`, handed out when the pmap is activated. When every ASID of the
/// current generation is taken, the generation advances and the whole TLB of every CPU is
/// flushed once (broadcast); every pmap then takes a fresh ASID the next time it is
/// activated — except the ones other CPUs are running at that moment. The allocator knows
/// them: each CPU's active tag is recorded here whenever it loads TTBR0 (every activation
/// takes this allocator's lock, so the record is exact). A roll-over reserves each CPU's
/// active ASID in the new generation, and a pmap whose old tag is reserved keeps its ASID
/// under the new generation when it is next activated, so a CPU never runs an address space
/// under an ASID that another pmap could be given. A pmap whose tag is from an older
/// generation and not reserved ran nowhere since that flush, so it has nothing in any TLB.
/// So any number of address spaces can exist, no two live ones share an ASID, a live ASID
/// never has stale translations, and flushes stay rare.
pub struct AsidAllocator {
    generation: u64,
    /// ASIDs taken in this generation (bit set = taken); ASID 0 stays reserved for the
    /// kernel and for "no task".
    used: [u64; 1024],
    /// The tag each CPU's TTBR0 holds (0: no user mappings), by CPU number.
    active: [u64; MAX_CPUS],
    /// The tag each CPU held when the current generation began (0: none); its ASID is taken
    /// in this generation for the pmap holding that tag.
    reserved: [u64; MAX_CPUS],
}

/// What [`AsidAllocator::assign`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsidAssignment {
    /// The tag the pmap now holds.
    pub tag: u64,
    /// A new generation began: flush the whole TLB of every CPU before using the tag.
    pub flush_all: bool,
}

/// The ASID number of a tag.
const fn tag_asid(tag: u64) -> u16 {
    (tag & 0xFFFF) as u16
}

impl AsidAllocator {
    pub const fn new() -> AsidAllocator {
        AsidAllocator { generation: 1, used: [0; 1024], active: [0; MAX_CPUS], reserved: [0; MAX_CPUS] }
    }

    /// Does `tag` belong to the current generation?
    pub fn is_current(&self, tag: u64) -> bool {
        tag != 0 && tag >> 16 == self.generation
    }

    /// The ASID TLB maintenance for a pmap holding `tag` must name: its number whatever the
    /// generation (a CPU may still run it under a reserved ASID; flushing an entry that
    /// belongs to another pmap is harmless), none if it was never activated.
    pub fn flush_asid(tag: u64) -> Option<u16> {
        (tag != 0).then_some(tag_asid(tag))
    }

    /// The tag CPU `cpu` runs under (0: none).
    pub fn active_tag(&self, cpu: usize) -> u64 {
        self.active.get(cpu).copied().unwrap_or(0)
    }

    fn mark(&mut self, asid: u16) {
        self.used[asid as usize / 64] |= 1 << (asid % 64);
    }

    fn take_free(&mut self, count: usize) -> Option<u16> {
        self.used[0] |= 1;
        for (w, word) in self.used.iter_mut().enumerate().take(count.div_ceil(64)) {
            if *word != u64::MAX {
                let bit = (!*word).trailing_zeros();
                let asid = w as u32 * 64 + bit;
                if asid as usize >= count {
                    return None;
                }
                *word |= 1 << bit;
                return Some(asid as u16);
            }
        }
        None
    }

    /// The ASID reserved in this generation for the pmap holding the older tag `tag`.
    fn reserved_asid(&self, tag: u64) -> Option<u16> {
        (tag != 0 && self.reserved.contains(&tag)).then_some(tag_asid(tag))
    }

    /// Start a generation: only the ASIDs the CPUs are running stay taken.
    fn new_generation(&mut self) {
        self.generation += 1;
        self.used = [0; 1024];
        self.reserved = self.active;
        for tag in self.active {
            if tag != 0 {
                self.mark(tag_asid(tag));
            }
        }
    }

    /// A current tag for a pmap that holds `tag`, activated on CPU `cpu`, with `count` ASIDs
    /// in the CPU: the same tag if it is still current; its own ASID under the current
    /// generation if that is reserved for it; else a free ASID; else a new generation. The
    /// CPU's active tag becomes the result, as does every record of the pmap's old tag (other
    /// CPUs running the same pmap run under the same ASID).
    pub fn assign(&mut self, tag: u64, count: usize, cpu: usize) -> AsidAssignment {
        let mut flush_all = false;
        let new = if self.is_current(tag) {
            tag
        } else if let Some(asid) = self.reserved_asid(tag).or_else(|| self.take_free(count)) {
            self.generation << 16 | u64::from(asid)
        } else {
            self.new_generation();
            flush_all = true;
            // The pmap may be running on another CPU, which just reserved its ASID.
            let asid = self.reserved_asid(tag).or_else(|| self.take_free(count));
            // A CPU has at least 256 ASIDs and at most MAX_CPUS of them are reserved.
            let asid = asid.expect("no free ASID in a fresh generation");
            self.generation << 16 | u64::from(asid)
        };
        if new != tag && tag != 0 {
            for slot in self.active.iter_mut().chain(self.reserved.iter_mut()) {
                if *slot == tag {
                    *slot = new;
                }
            }
        }
        if let Some(slot) = self.active.get_mut(cpu) {
            *slot = new;
        }
        AsidAssignment { tag: new, flush_all }
    }

    /// CPU `cpu` switched to no user mappings (ASID 0).
    pub fn deactivate(&mut self, cpu: usize) {
        if let Some(slot) = self.active.get_mut(cpu) {
            *slot = 0;
        }
    }

    /// The pmap holding `tag` is gone: free its ASID if it is current. True when the TLB
    /// may still hold entries tagged with it (flush by ASID before reuse). An older tag
    /// frees nothing: if it was reserved, its ASID stays taken until the next roll-over,
    /// whose flush drops what the pmap left in the TLB.
    pub fn release(&mut self, tag: u64) -> bool {
        if !self.is_current(tag) {
            return false;
        }
        let asid = tag_asid(tag) as usize;
        self.used[asid / 64] &= !(1 << (asid % 64));
        for slot in self.reserved.iter_mut().filter(|s| **s == tag) {
            *slot = 0;
        }
        true
    }
}

impl Default for AsidAllocator {
    fn default() -> AsidAllocator {
        AsidAllocator::new()
    }
}

/// The ASIDs of user pmaps.
// Interrupt-masking: the context switch takes it (activating the next thread's pmap).
static ASIDS: SpinLock<AsidAllocator> = SpinLock::new(&lock_order::ASIDS, AsidAllocator::new());

/// How many ASIDs the CPU has: 16 bits if ID_AA64MMFR0_EL1.ASIDBits says so, else 8.
#[cfg(target_os = "none")]
fn asid_count() -> usize {
    use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable};
    const ASID_BITS_16: u64 = 0b0010;
    if ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::ASIDBits) == ASID_BITS_16 { 1 << 16 } else { 1 << 8 }
}

/// Bytes `DC ZVA` zeroes at once, or 0 if this EL may not use it (DCZID_EL0: DZP, bit 4,
/// prohibits; BS, bits 3:0, is log2 of the block size in 4-byte words; Arm ARM D19.2.35).
/// Read once: the value is fixed for the machine.
#[cfg(target_os = "none")]
fn dc_zva_block() -> u64 {
    use core::sync::atomic::{AtomicU64, Ordering};
    const UNREAD: u64 = u64::MAX;
    static BLOCK: AtomicU64 = AtomicU64::new(UNREAD);
    let mut block = BLOCK.load(Ordering::Relaxed);
    if block == UNREAD {
        let dczid: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags))
        };
        block = if dczid & (1 << 4) != 0 { 0 } else { 4 << (dczid & 0xf) };
        // A block larger than a page (never seen) would zero past the frame.
        if block > PAGE_SIZE || !PAGE_SIZE.is_multiple_of(block.max(1)) {
            block = 0;
        }
        BLOCK.store(block, Ordering::Relaxed);
    }
    block
}

/// Zero a whole frame through the direct map. Frames are zeroed on every demand-zero fault,
/// new page table and exec, so this uses `DC ZVA` — one instruction per block (64 bytes on
/// the cores QEMU models) where a store loop needs one per 8 bytes.
#[cfg(target_os = "none")]
fn zero_frame(pa: u64) {
    let va = phys_to_virt(pa & DESC_ADDR_MASK);
    // DC ZVA faults on Device memory, which is what the boot tables map most RAM as.
    let block = if crate::arm64::mem::ram_is_normal() { dc_zva_block() } else { 0 };
    if block == 0 {
        // SAFETY: `pa` is a frame we own, mapped RW (Normal memory) in the direct map.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE as usize) };
        return;
    }
    // SAFETY: `va..va + PAGE_SIZE` is a frame we own, Normal memory in the direct map, and
    // `block` divides the page, so every `DC ZVA` lands inside it.
    unsafe {
        core::arch::asm!(
            "2:",
            "dc zva, {p}",
            "add {p}, {p}, {block}",
            "cmp {p}, {end}",
            "b.ne 2b",
            p = inout(reg) va => _,
            block = in(reg) block,
            end = in(reg) va + PAGE_SIZE,
            options(nostack),
        )
    };
}

/// Where a task's TTBR0 comes from: the [`PmapTtbr`] of its map's pmap, or none (the kernel
/// task: an empty table). The context switch reads it ([`TtbrSlot::activate`]) and exec
/// replaces it ([`TtbrSlot::set`]), both holding the ASID allocator's lock — which the switch
/// needs anyway, to give the pmap an ASID of the current generation — so the switch takes no
/// other lock, and never the map's.
#[cfg(target_os = "none")]
pub struct TtbrSlot {
    current: core::cell::UnsafeCell<Option<alloc::sync::Arc<PmapTtbr>>>,
}

// SAFETY: `current` is only read or written with ASIDS held (`activate`, `set`), which
// serialises every access to it, from any CPU.
#[cfg(target_os = "none")]
unsafe impl Sync for TtbrSlot {}

#[cfg(target_os = "none")]
impl TtbrSlot {
    /// A slot holding `ttbr`.
    pub fn new(ttbr: Option<alloc::sync::Arc<PmapTtbr>>) -> TtbrSlot {
        TtbrSlot { current: core::cell::UnsafeCell::new(ttbr) }
    }

    /// Put `ttbr` in the slot (exec's new map), giving back the old one.
    pub fn set(&self, ttbr: Option<alloc::sync::Arc<PmapTtbr>>) -> Option<alloc::sync::Arc<PmapTtbr>> {
        let _asids = ASIDS.lock();
        // SAFETY: ASIDS is held (see `TtbrSlot`'s Sync).
        unsafe { core::mem::replace(&mut *self.current.get(), ttbr) }
    }

    /// Load TTBR0 from the slot: its tables with an ASID of the current generation, or
    /// `empty_root` (no user mappings, ASID 0), if there is one yet, for an empty slot.
    pub fn activate(&self, empty_root: Option<u64>) {
        let mut asids = ASIDS.lock();
        // SAFETY: ASIDS is held (see `TtbrSlot`'s Sync); the reference does not outlive it.
        let current = unsafe { &*self.current.get() };
        match current {
            Some(ttbr) => ttbr.activate_locked(&mut asids),
            None => {
                if let Some(root) = empty_root {
                    Pmap::deactivate_user_locked(&mut asids, root);
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
impl PmapTtbr {
    fn new(root: u64) -> alloc::sync::Arc<PmapTtbr> {
        alloc::sync::Arc::new(PmapTtbr { root, tag: core::sync::atomic::AtomicU64::new(0) })
    }

    /// Make these tables the user address space of this CPU (TTBR0), with an ASID of the
    /// current generation: the pmap's own if it still is one or is reserved for it, else a
    /// new one (XNU's `pmap_switch`). Takes only the ASID allocator's lock.
    pub fn activate(&self) {
        self.activate_locked(&mut ASIDS.lock());
    }

    /// [`activate`](Self::activate) with the ASID allocator held (interrupts masked, so this
    /// CPU stays the one recorded as running the tag).
    fn activate_locked(&self, asids: &mut AsidAllocator) {
        let cpu = crate::arm64::cpu_data::cpu_number() as usize;
        let got = asids.assign(self.tag.load(core::sync::atomic::Ordering::Relaxed), asid_count(), cpu);
        self.tag.store(got.tag, core::sync::atomic::Ordering::Relaxed);
        let ttbr = self.root | ((got.tag & 0xFFFF) << 48);
        // After a roll-over every CPU's whole TLB goes first (broadcast), so no reused ASID
        // finds old entries; the ASIDs other CPUs keep running under were reserved, so none of
        // them is reused.
        if got.flush_all {
            tlb_flush_all_cpus();
        }
        // SAFETY: the root table is valid for as long as its pmap lives, which its task (the
        // caller's) keeps alive while it runs in it; the kernel never runs from TTBR0
        // addresses, so switching it cannot pull code from under us.
        unsafe {
            core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) ttbr, options(nostack, preserves_flags))
        };
    }
}

/// Invalidate every TLB entry of every CPU (inner-shareable broadcast), after the table
/// writes before it are visible.
#[cfg(target_os = "none")]
fn tlb_flush_all_cpus() {
    // SAFETY: TLB maintenance has no memory-safety effects of its own.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vmalle1is", "dsb ish", "isb", options(nostack, preserves_flags))
    };
}

#[cfg(target_os = "none")]
fn table_entry(table_pa: u64, index: usize) -> *mut u64 {
    (phys_to_virt(table_pa) as *mut u64).wrapping_add(index)
}

#[cfg(target_os = "none")]
impl Pmap {
    /// A new, empty user pmap (it takes an ASID when first activated).
    pub fn create() -> Result<Pmap, KernReturn> {
        let root = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        zero_frame(root);
        // Room for a small program's tables without growing the list: the root, and a
        // level-1, -2 and -3 table each for its text and data, its stack and its heap.
        const TABLES_AT_FIRST: usize = 10;
        let mut tables = alloc::vec::Vec::with_capacity(TABLES_AT_FIRST);
        tables.push(root);
        Ok(Pmap { ttbr: PmapTtbr::new(root), kernel: false, tables })
    }

    /// A new kernel pmap (TTBR1, global mappings, ASID 0).
    pub fn create_kernel() -> Result<Pmap, KernReturn> {
        let root = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        zero_frame(root);
        Ok(Pmap { ttbr: PmapTtbr::new(root), kernel: true, tables: alloc::vec![root] })
    }

    /// Physical address of the root table.
    pub fn root(&self) -> u64 {
        self.ttbr.root
    }

    /// What TTBR0 is loaded from for this pmap, to share with the task that runs in it.
    pub fn ttbr(&self) -> alloc::sync::Arc<PmapTtbr> {
        self.ttbr.clone()
    }

    /// This pmap's ASID (0 for the kernel's, or before the first activation).
    pub fn asid(&self) -> u16 {
        (self.ttbr.tag.load(core::sync::atomic::Ordering::Relaxed) & 0xFFFF) as u16
    }

    /// Walk to the level-`leaf_level` entry for `va`, creating tables on the way if `create`.
    fn walk(&mut self, va: u64, leaf_level: u32, create: bool) -> Result<Option<*mut u64>, KernReturn> {
        Ok(self.walk_with_parent(va, leaf_level, create)?.map(|(leaf, _)| leaf))
    }

    /// [`walk`](Self::walk), also giving the entry one level up that points at the leaf's
    /// table (`enter` keeps the level-3 table's low-water hint there).
    fn walk_with_parent(
        &mut self,
        va: u64,
        leaf_level: u32,
        create: bool,
    ) -> Result<Option<(*mut u64, *mut u64)>, KernReturn> {
        let mut table = self.ttbr.root;
        let mut parent = core::ptr::null_mut();
        for level in 0..leaf_level {
            let slot = table_entry(table, table_index(va, level));
            parent = slot;
            // SAFETY: `slot` points into a table page owned by this pmap (direct map).
            let d = unsafe { slot.read_volatile() };
            if d & DESC_VALID == 0 {
                if !create {
                    return Ok(None);
                }
                let pa = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
                zero_frame(pa);
                self.tables.push(pa);
                let hint = if level == 2 { L3_EMPTY << DESC_L3_LOW_SHIFT } else { 0 };
                // The zeroed table must be visible to the walker before it is linked in.
                // SAFETY: barrier, then a store into our own table page.
                unsafe {
                    core::arch::asm!("dsb ishst", options(nostack, preserves_flags));
                    slot.write_volatile(pa | DESC_VALID | DESC_TABLE | hint);
                }
                table = pa;
            } else if d & DESC_TABLE == 0 {
                // A block mapping covers this address; callers never mix sizes in one range.
                return Err(KernReturn::KERN_INVALID_ADDRESS);
            } else {
                table = d & DESC_ADDR_MASK;
            }
        }
        Ok(Some((table_entry(table, table_index(va, leaf_level)), parent)))
    }

    fn write_leaf(&self, slot: *mut u64, desc: u64, va: u64) {
        // SAFETY: `slot` is an entry of one of our tables. Break-before-make: a valid old
        // entry is cleared and its TLB entry invalidated before the new one is written.
        unsafe {
            if slot.read_volatile() & DESC_VALID != 0 {
                slot.write_volatile(0);
                self.flush_va(va);
            }
            slot.write_volatile(desc);
            core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags));
        }
    }

    fn flush_va(&self, va: u64) {
        let page = (va >> 12) & 0xFFF_FFFF_FFFF;
        if self.kernel {
            // SAFETY: TLB maintenance has no memory-safety effects of its own.
            unsafe {
                core::arch::asm!("dsb ishst", "tlbi vaae1is, {}", "dsb ish", "isb", in(reg) page, options(nostack, preserves_flags));
            }
            return;
        }
        // Under the allocator's lock, so the tag cannot change while we flush. Whatever its
        // generation: a tag from an older one may be reserved and running on another CPU.
        let _asids = ASIDS.lock();
        let tag = self.ttbr.tag.load(core::sync::atomic::Ordering::Relaxed);
        if let Some(asid) = AsidAllocator::flush_asid(tag) {
            let arg = page | (u64::from(asid) << 48);
            // SAFETY: as above.
            unsafe {
                core::arch::asm!("dsb ishst", "tlbi vae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack, preserves_flags));
            }
        }
    }

    /// Map the 4 KiB page at `va` to `pa`.
    pub fn enter(&mut self, va: u64, pa: u64, prot: Prot, attr: MemAttr) -> Result<(), KernReturn> {
        let (slot, l2) = self.walk_with_parent(va, 3, true)?.ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        self.write_leaf(slot, leaf_descriptor(pa, prot, attr, true), va);
        // Lower the level-3 table's low-water hint to this entry.
        let index = table_index(va, 3) as u64;
        // SAFETY: `l2` is the level-2 table descriptor the walk to level 3 went through, an
        // entry of one of our tables; only its software bits change.
        unsafe {
            let d = l2.read_volatile();
            if (d & DESC_L3_LOW_MASK) >> DESC_L3_LOW_SHIFT > index {
                l2.write_volatile((d & !DESC_L3_LOW_MASK) | index << DESC_L3_LOW_SHIFT);
            }
        }
        Ok(())
    }

    /// Map the 2 MiB block at `va` (2 MiB aligned) to `pa` (used for the direct map).
    pub fn enter_block(&mut self, va: u64, pa: u64, prot: Prot, attr: MemAttr) -> Result<(), KernReturn> {
        let slot = self.walk(va, 2, true)?.ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        self.write_leaf(slot, leaf_descriptor(pa, prot, attr, false), va);
        Ok(())
    }

    /// The physical address and rights `va` translates to, if it is mapped by a page.
    pub fn extract(&mut self, va: u64) -> Option<(u64, Prot)> {
        let slot = self.walk(va, 3, false).ok()??;
        // SAFETY: `slot` is an entry of one of our tables.
        let d = unsafe { slot.read_volatile() };
        if d & DESC_VALID == 0 {
            return None;
        }
        Some(((d & DESC_ADDR_MASK) | (va & (PAGE_SIZE - 1)), descriptor_prot(d)))
    }

    /// The first page at or above `va` and below `end` that is mapped by a level-3 entry,
    /// with its physical address and rights. Unmapped subtrees are skipped whole (a missing
    /// level-1 entry passes over 1 GiB at once), and within a level-3 table the entries are
    /// scanned in place, so walking a huge, sparse range costs in proportion to the tables
    /// present, not to its size, and a sparse 8 MiB stack a few instructions per empty page.
    pub fn next_mapped(&self, mut va: u64, end: u64) -> Option<(u64, u64, Prot)> {
        /// Bytes one level-3 table maps.
        const L3_SPAN: u64 = PAGE_SIZE * 512;
        'next: while va < end {
            let mut table = self.ttbr.root;
            let mut low = 0;
            for level in 0..3 {
                // SAFETY: every table reached from our root is a page this pmap owns.
                let d = unsafe { table_entry(table, table_index(va, level)).read_volatile() };
                if d & DESC_VALID == 0 || d & DESC_TABLE == 0 {
                    // Nothing mapped by pages below this entry: go to the next one.
                    let span = 1u64 << (39 - 9 * level);
                    va = (va & !(span - 1)).checked_add(span)?;
                    continue 'next;
                }
                table = d & DESC_ADDR_MASK;
                low = ((d & DESC_L3_LOW_MASK) >> DESC_L3_LOW_SHIFT) as usize;
            }
            let base = va & !(L3_SPAN - 1);
            let stop = end.min(base.saturating_add(L3_SPAN));
            // Entries below the table's low-water hint are empty.
            let (mut i, last) = (table_index(va, 3).max(low), ((stop - base).div_ceil(PAGE_SIZE)) as usize);
            while i < last {
                // Eight entries at once while none is valid: one test per 32 KiB of range.
                if i % 8 == 0 && i + 8 <= last {
                    // SAFETY: `i..i + 8` lie inside this level-3 table, a page this pmap owns.
                    let any =
                        (i..i + 8).fold(0, |acc, j| acc | unsafe { table_entry(table, j).read_volatile() });
                    if any & DESC_VALID == 0 {
                        i += 8;
                        continue;
                    }
                }
                // SAFETY: `i` < 512 indexes this level-3 table, a page this pmap owns.
                let d = unsafe { table_entry(table, i).read_volatile() };
                if d & DESC_VALID != 0 {
                    return Some((base + i as u64 * PAGE_SIZE, d & DESC_ADDR_MASK, descriptor_prot(d)));
                }
                i += 1;
            }
            va = base.checked_add(L3_SPAN)?;
        }
        None
    }

    /// Clear the page at `va`'s entry without invalidating its TLB entries (the caller
    /// invalidates, and frees the frame only after). Returns the frame it mapped.
    fn clear_leaf(&mut self, va: u64) -> Option<u64> {
        let slot = self.walk(va, 3, false).ok()??;
        // SAFETY: `slot` is an entry of one of our tables; the caller invalidates.
        let d = unsafe { slot.read_volatile() };
        if d & DESC_VALID == 0 {
            return None;
        }
        // SAFETY: as above.
        unsafe { slot.write_volatile(0) };
        Some(d & DESC_ADDR_MASK)
    }

    /// Unmap the page at `va`, returning the physical page it mapped.
    pub fn remove(&mut self, va: u64) -> Option<u64> {
        let slot = self.walk(va, 3, false).ok()??;
        // SAFETY: `slot` is an entry of one of our tables.
        let d = unsafe { slot.read_volatile() };
        if d & DESC_VALID == 0 {
            return None;
        }
        // SAFETY: as above; the TLB entry is invalidated right after.
        unsafe { slot.write_volatile(0) };
        self.flush_va(va);
        Some(d & DESC_ADDR_MASK)
    }

    /// Make this the user address space of this CPU (TTBR0), with an ASID of the current
    /// generation.
    pub fn activate(&self) {
        self.ttbr.activate();
    }

    /// Switch TTBR0 to no user mappings at all (ASID 0, empty table): kernel threads. The
    /// allocator is held, and told this CPU runs no pmap now.
    fn deactivate_user_locked(asids: &mut AsidAllocator, empty_root: u64) {
        asids.deactivate(crate::arm64::cpu_data::cpu_number() as usize);
        // SAFETY: `empty_root` is a zeroed table page that stays allocated forever.
        unsafe {
            core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) empty_root, options(nostack, preserves_flags))
        };
    }

    /// Install this pmap as the kernel's upper half (TTBR1) and drop stale boot translations.
    pub fn activate_kernel(&self) {
        // SAFETY: the caller built this pmap to map everything the kernel is running from.
        unsafe {
            core::arch::asm!("dsb ish", "msr ttbr1_el1, {}", "isb", "tlbi vmalle1is", "dsb ish", "isb",
                in(reg) self.ttbr.root, options(nostack, preserves_flags));
        }
    }
}

#[cfg(target_os = "none")]
impl Drop for Pmap {
    fn drop(&mut self) {
        let mut asids = ASIDS.lock();
        let tag = self.ttbr.tag.load(core::sync::atomic::Ordering::Relaxed);
        if !self.kernel && asids.release(tag) {
            // SAFETY: drop every translation tagged with this ASID before it is reused.
            unsafe {
                core::arch::asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb",
                    in(reg) (tag & 0xFFFF) << 48, options(nostack, preserves_flags));
            }
        }
        drop(asids);
        for &pa in &self.tables {
            vm_page::vm_page_free(pa);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_round_trip() {
        let user_rx = Prot { write: false, execute: true, user: true };
        let d = leaf_descriptor(0x4000_1000, user_rx, MemAttr::Normal, true);
        assert_eq!(d & DESC_ADDR_MASK, 0x4000_1000);
        assert_ne!(d & DESC_PXN, 0, "user pages are never executable at EL1");
        assert_eq!(d & DESC_UXN, 0);
        assert_ne!(d & DESC_NG, 0);
        assert_eq!(descriptor_prot(d), user_rx);
        let kdata = Prot { write: true, execute: false, user: false };
        let d = leaf_descriptor(0x4000_2000, kdata, MemAttr::Normal, true);
        assert_ne!(d & DESC_PXN, 0);
        assert_ne!(d & DESC_UXN, 0);
        assert_eq!(descriptor_prot(d), kdata);
        let dev = leaf_descriptor(0x0900_0000, kdata, MemAttr::Device, false);
        assert_eq!((dev >> DESC_ATTR_SHIFT) & 7, 0);
        assert_eq!(dev & DESC_TABLE, 0);
    }

    #[test]
    fn asids_roll_over_to_a_new_generation_with_one_flush() {
        let mut a = AsidAllocator::new();
        let tags: std::vec::Vec<u64> = (0..255).map(|_| a.assign(0, 256, 0)).map(|g| g.tag).collect();
        let asids: std::collections::BTreeSet<u64> = tags.iter().map(|t| t & 0xFFFF).collect();
        assert_eq!(asids.len(), 255, "unique within a generation");
        assert!(!asids.contains(&0), "ASID 0 is reserved");
        assert!(tags.iter().all(|&t| a.is_current(t)));
        // Still current: kept, no flush.
        assert_eq!(a.assign(tags[3], 256, 0), AsidAssignment { tag: tags[3], flush_all: false });
        // A freed ASID is reused before rolling over.
        assert!(a.release(tags[7]));
        let again = a.assign(0, 256, 0);
        assert_eq!((again.tag & 0xFFFF, again.flush_all), (tags[7] & 0xFFFF, false));
        // Full: the next one starts a generation, once.
        a.deactivate(0);
        let next = a.assign(0, 256, 0);
        assert!(next.flush_all);
        assert!(!a.is_current(tags[0]), "every old tag is stale now");
        assert!(!a.release(tags[0]), "a stale tag frees nothing and needs no flush");
        let old = a.assign(tags[0], 256, 0);
        assert!(!old.flush_all && a.is_current(old.tag) && old.tag != next.tag, "stale pmaps re-tag");
    }

    #[test]
    fn many_more_pmaps_than_asids() {
        let mut a = AsidAllocator::new();
        let mut flushes = 0;
        for _ in 0..10_000 {
            flushes += a.assign(0, 256, 0).flush_all as u32;
        }
        // The first roll-over comes at the 256th; from then on CPU 0's last pmap stays
        // reserved across each one, so a generation holds 254.
        assert_eq!(flushes, 1 + (10_000 - 256) / 254, "one flush per 254 new address spaces");
    }

    /// New pmaps activated on CPU `cpu`, each after a kernel thread ran there, until one
    /// starts a generation (it stays active on `cpu`): the tags of the ones before it.
    fn fill(a: &mut AsidAllocator, count: usize, cpu: usize) -> std::vec::Vec<u64> {
        let mut tags = std::vec::Vec::new();
        loop {
            a.deactivate(cpu);
            let got = a.assign(0, count, cpu);
            if got.flush_all {
                return tags;
            }
            tags.push(got.tag);
        }
    }

    #[test]
    fn roll_over_keeps_the_asids_other_cpus_run() {
        let mut a = AsidAllocator::new();
        let on_cpu1 = a.assign(0, 256, 1).tag;
        let on_cpu2 = a.assign(0, 256, 2).tag;
        fill(&mut a, 256, 0);
        // The roll-over happened; nothing handed out since may use CPU 1's or 2's ASID.
        let after = fill(&mut a, 256, 0);
        assert_eq!(after.len(), 255 - 3, "every ASID but 0, the two reserved and the trigger's");
        for t in &after {
            assert_eq!(t >> 16, 2, "handed out in the second generation");
            assert_ne!(t & 0xFFFF, on_cpu1 & 0xFFFF);
            assert_ne!(t & 0xFFFF, on_cpu2 & 0xFFFF);
        }
        // Flushes still name the old tags' ASIDs: those pmaps run on CPUs 1 and 2.
        assert_eq!(AsidAllocator::flush_asid(on_cpu1), Some((on_cpu1 & 0xFFFF) as u16));
        assert_eq!(AsidAllocator::flush_asid(0), None);
    }

    #[test]
    fn a_reserved_pmap_keeps_its_asid_in_the_new_generation() {
        let mut a = AsidAllocator::new();
        let old = a.assign(0, 256, 1).tag;
        let first = fill(&mut a, 256, 0);
        assert!(!first.is_empty() && !a.is_current(old));
        // Activated again (on its CPU or another one): same ASID, new generation, no flush.
        let again = a.assign(old, 256, 3);
        assert!(!again.flush_all && a.is_current(again.tag));
        assert_eq!(again.tag & 0xFFFF, old & 0xFFFF);
        // CPU 1 still runs it: its record follows the pmap's new tag.
        assert_eq!((a.active_tag(1), a.active_tag(3)), (again.tag, again.tag));
        assert_eq!(a.assign(again.tag, 256, 1).tag, again.tag);
    }

    #[test]
    fn a_running_pmap_needs_no_roll_over_on_a_full_generation() {
        let mut a = AsidAllocator::new();
        let p = a.assign(0, 256, 1).tag;
        // A new generation begins without `p` being activated; CPU 1 still runs it. Taken: 0,
        // `p`'s ASID and the pmap that rolled over; fill the other 253.
        fill(&mut a, 256, 0);
        for _ in 0..253 {
            a.deactivate(0);
            assert!(!a.assign(0, 256, 0).flush_all);
        }
        // The generation is full, but `p`, activated on CPU 2 too, has its reserved ASID.
        let got = a.assign(p, 256, 2);
        assert!(!got.flush_all && a.is_current(got.tag));
        assert_eq!(got.tag & 0xFFFF, p & 0xFFFF);
        // Anyone else rolls over, and both CPUs' ASID (one pmap) stays reserved.
        a.deactivate(0);
        assert!(a.assign(0, 256, 0).flush_all);
        let after = fill(&mut a, 256, 0);
        assert_eq!(after.len(), 255 - 2);
        assert!(after.iter().all(|t| t & 0xFFFF != p & 0xFFFF));
    }

    #[test]
    fn double_roll_over_keeps_a_running_pmap_reserved() {
        let mut a = AsidAllocator::new();
        let p = a.assign(0, 256, 1).tag;
        fill(&mut a, 256, 0);
        fill(&mut a, 256, 0);
        let last = fill(&mut a, 256, 0);
        assert_eq!(a.generation, 4, "three roll-overs");
        assert!(last.iter().all(|t| t & 0xFFFF != p & 0xFFFF), "still reserved after several");
        let again = a.assign(p, 256, 1);
        assert!(!again.flush_all && a.is_current(again.tag) && again.tag & 0xFFFF == p & 0xFFFF);
        // Once CPU 1 runs something else, the next roll-over lets the ASID go.
        a.deactivate(1);
        fill(&mut a, 256, 0);
        let next = fill(&mut a, 256, 0);
        assert_eq!(next.len(), 254, "nothing reserved now: only 0 and the trigger's ASID taken");
    }

    #[test]
    fn eight_bit_asids_with_several_cpus() {
        let mut a = AsidAllocator::new();
        for cpu in 1..4 {
            a.assign(0, 256, cpu);
        }
        let first = fill(&mut a, 256, 0);
        assert_eq!(first.len(), 255 - 3);
        assert!(first.iter().all(|t| t & 0xFFFF < 256), "only 8-bit ASIDs");
        let second = fill(&mut a, 256, 0);
        // CPUs 1–3 and CPU 0's last pmap stay reserved.
        assert_eq!(second.len(), 255 - 4);
        assert!(second.iter().all(|t| t & 0xFFFF < 256));
        // A 16-bit machine has room for many more.
        let mut b = AsidAllocator::new();
        assert_eq!(fill(&mut b, 1 << 16, 0).len(), (1 << 16) - 1);
    }

    /// Random activations, switches to kernel threads and pmap deaths on four CPUs, checked
    /// against a model of one shared TLB (every invalidation is a broadcast): no CPU ever runs
    /// a pmap under an ASID another live pmap holds or that has another pmap's entries.
    #[test]
    fn no_two_running_pmaps_share_an_asid() {
        use std::collections::BTreeSet;
        use std::vec::Vec;
        const CPUS: usize = 4;
        for seed in 1..20u64 {
            let mut rng = crate::test_rng::Rng(seed * 0x9E37_79B9);
            let mut a = AsidAllocator::new();
            // Each pmap's tag (None: destroyed); what each CPU runs; (asid, pmap) TLB entries.
            let mut pmaps: Vec<Option<u64>> = Vec::new();
            let mut running: [Option<usize>; CPUS] = [None; CPUS];
            let mut tlb: BTreeSet<(u16, usize)> = BTreeSet::new();
            let count = if seed % 2 == 0 { 256 } else { 64 + CPUS * 2 };
            for _ in 0..4000 {
                let cpu = rng.index(CPUS);
                match rng.below(10) {
                    0 => {
                        running[cpu] = None;
                        a.deactivate(cpu);
                    }
                    1 => {
                        // A pmap no CPU runs dies.
                        let idle: Vec<usize> = (0..pmaps.len())
                            .filter(|&p| pmaps[p].is_some() && !running.contains(&Some(p)))
                            .collect();
                        if let Some(p) = rng.pick(&idle) {
                            let tag = pmaps[p].take().unwrap_or(0);
                            if a.release(tag) {
                                tlb.retain(|&(asid, _)| u64::from(asid) != tag & 0xFFFF);
                            }
                        }
                    }
                    _ => {
                        let live: Vec<usize> = (0..pmaps.len()).filter(|&p| pmaps[p].is_some()).collect();
                        let p = match rng.pick(&live) {
                            Some(p) if rng.below(3) != 0 => p,
                            _ => {
                                pmaps.push(Some(0));
                                pmaps.len() - 1
                            }
                        };
                        let got = a.assign(pmaps[p].unwrap_or(0), count, cpu);
                        if got.flush_all {
                            tlb.clear();
                        }
                        pmaps[p] = Some(got.tag);
                        running[cpu] = Some(p);
                        let asid = (got.tag & 0xFFFF) as u16;
                        assert!((1..count as u16).contains(&asid));
                        assert!(
                            tlb.iter().all(|&(t, q)| t != asid || q == p),
                            "seed {seed}: ASID {asid} still holds another pmap's translations"
                        );
                        tlb.insert((asid, p));
                    }
                }
                // Every running pmap: one tag, the one its CPUs are recorded with, and an
                // ASID no other running pmap has.
                for c in 0..CPUS {
                    let Some(p) = running[c] else { continue };
                    let tag = pmaps[p].unwrap_or(0);
                    assert_eq!(a.active_tag(c), tag, "seed {seed}: CPU {c}'s record");
                    for (d, other) in running.iter().enumerate() {
                        if let Some(q) = *other
                            && q != p
                        {
                            assert_ne!(a.active_tag(d) & 0xFFFF, tag & 0xFFFF, "seed {seed}: shared ASID");
                        }
                    }
                }
                // Live pmaps with current tags never share an ASID.
                let current: Vec<u64> =
                    pmaps.iter().flatten().filter(|&&t| a.is_current(t)).map(|t| t & 0xFFFF).collect();
                let distinct: BTreeSet<u64> = current.iter().copied().collect();
                assert_eq!(distinct.len(), current.len(), "seed {seed}: two current pmaps, one ASID");
            }
        }
    }

    #[test]
    fn indices() {
        assert_eq!(table_index(PHYS_MAP_BASE, 0), 0);
        assert_eq!(table_index(0xFFFF_FF80_4020_0000, 0), 511);
        assert_eq!(table_index(0xFFFF_FF80_4020_0000, 1), 1);
        assert_eq!(table_index(0x1_0000_0000, 1), 4);
    }
}

/// Zero the physical page `pa` through the direct map.
#[cfg(target_os = "none")]
pub fn zero_page(pa: u64) {
    zero_frame(pa);
}

/// Copy `data` into frame `pa` at byte `offset` through the direct map.
#[cfg(target_os = "none")]
pub fn write_frame(pa: u64, offset: usize, data: &[u8]) {
    assert!(offset + data.len() <= PAGE_SIZE as usize, "write_frame past the frame");
    let pa = pa & DESC_ADDR_MASK;
    // SAFETY: the range lies inside one frame of RAM in the direct map, owned by the caller's
    // page (a page of a VM object the caller holds); `data` is kernel memory elsewhere.
    unsafe {
        core::ptr::copy_nonoverlapping(data.as_ptr(), (phys_to_virt(pa) as *mut u8).add(offset), data.len())
    };
}

/// Copy bytes of frame `pa` from byte `offset` into `out` through the direct map.
#[cfg(target_os = "none")]
pub fn read_frame(pa: u64, offset: usize, out: &mut [u8]) {
    assert!(offset + out.len() <= PAGE_SIZE as usize, "read_frame past the frame");
    let pa = pa & DESC_ADDR_MASK;
    // SAFETY: as in `write_frame`, reading.
    unsafe {
        core::ptr::copy_nonoverlapping(
            (phys_to_virt(pa) as *const u8).add(offset),
            out.as_mut_ptr(),
            out.len(),
        )
    };
}

/// Copy physical page `src` to physical page `dst` through the direct map (copy-on-write).
#[cfg(target_os = "none")]
pub fn copy_page(dst: u64, src: u64) {
    let (dst, src) = (dst & DESC_ADDR_MASK, src & DESC_ADDR_MASK);
    assert_ne!(dst, src, "copy_page onto itself");
    // Eight registers, 64 bytes a round: a page costs ~650 instructions where the generic
    // memcpy takes about three times that, and copy-on-write copies a page on every fault.
    // SAFETY: both are whole frames of RAM in the direct map; `dst` was just allocated by
    // the caller and is used by no one else, so the two do not overlap, and the loop stays
    // inside them (PAGE_SIZE is a multiple of 64).
    unsafe {
        core::arch::asm!(
            "2:",
            "ldp {a}, {b}, [{s}], #16",
            "ldp {c}, {d}, [{s}], #16",
            "ldp {e}, {f}, [{s}], #16",
            "ldp {g}, {h}, [{s}], #16",
            "stp {a}, {b}, [{t}], #16",
            "stp {c}, {d}, [{t}], #16",
            "stp {e}, {f}, [{t}], #16",
            "stp {g}, {h}, [{t}], #16",
            "cmp {s}, {end}",
            "b.ne 2b",
            s = inout(reg) phys_to_virt(src) => _,
            t = inout(reg) phys_to_virt(dst) => _,
            end = in(reg) phys_to_virt(src) + PAGE_SIZE,
            a = out(reg) _, b = out(reg) _, c = out(reg) _, d = out(reg) _,
            e = out(reg) _, f = out(reg) _, g = out(reg) _, h = out(reg) _,
            options(nostack),
        )
    };
}

/// The kernel's upper-half tables (TTBR1), once built.
#[cfg(target_os = "none")]
// Interrupt-masking: the switch path takes it (`thread_dispatch` frees a dead thread's
// stack, unmapping it, with interrupts masked).
static KERNEL_PMAP: SpinLock<Option<Pmap>> = SpinLock::new(&lock_order::KERNEL_PMAP, None);

/// Install `pmap` as the kernel's address space for good (it is never freed).
#[cfg(target_os = "none")]
pub fn kernel_pmap_bootstrap(pmap: Pmap) {
    pmap.activate_kernel();
    // These tables map all RAM as Normal memory (the boot ones left most of it Device).
    crate::arm64::mem::all_ram_is_normal();
    *KERNEL_PMAP.lock() = Some(pmap);
}

/// Map one kernel page (kernel stacks, later other wired kernel memory).
#[cfg(target_os = "none")]
pub fn kernel_pmap_enter(va: u64, pa: u64, prot: Prot) -> Result<(), KernReturn> {
    KERNEL_PMAP.lock().as_mut().ok_or(KernReturn::KERN_FAILURE)?.enter(va, pa, prot, MemAttr::Normal)
}

/// Unmap the kernel pages in `[start, end)` with one TLB invalidation for all of them, then
/// hand each frame they mapped to `freed` (only then: no CPU can reach it any more). One
/// broadcast invalidation makes every CPU stop and sync (dearly, under emulation), so a
/// kernel stack's eight pages cost one, not eight.
#[cfg(target_os = "none")]
pub fn kernel_pmap_remove_range(start: u64, end: u64, mut freed: impl FnMut(u64)) {
    const BATCH: usize = 16;
    let mut va = start;
    while va < end {
        let mut frames = [0u64; BATCH];
        let mut n = 0;
        {
            let mut guard = KERNEL_PMAP.lock();
            let Some(p) = guard.as_mut() else { return };
            while va < end && n < BATCH {
                if let Some(pa) = p.clear_leaf(va) {
                    frames[n] = pa;
                    n += 1;
                }
                va += PAGE_SIZE;
            }
            // The global kernel entries of every CPU go too: no CPU keeps a translation of
            // the frames.
            tlb_flush_all_cpus();
        }
        for &pa in &frames[..n] {
            freed(pa);
        }
    }
}
