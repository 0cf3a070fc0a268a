//! The pmap: aarch64 translation tables (4 KiB granule, 48-bit VAs, 4 levels).
//!
//! A pmap is a cache of what the VM layer decided; it maps pages and forgets them. The kernel
//! pmap is installed in TTBR1 (the upper half: the direct map of RAM, device windows and the
//! image); every task has its own pmap in TTBR0 tagged with an ASID, so switching tasks never
//! flushes the TLB. Table pages come from `vm_page` and are reached through the direct map.
//! Descriptor bits are from the ARM ARM, D8.3 (VMSAv8-64 translation table format).

#![cfg_attr(not(target_os = "none"), allow(dead_code, unused_imports))]

use mach::KernReturn;

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

/// One set of translation tables: the root table's physical address and its ASID.
pub struct Pmap {
    root: u64,
    asid: u16,
    /// Table pages owned by this pmap (freed on destroy), root included.
    tables: alloc::vec::Vec<u64>,
}

/// ASIDs in use (bit set = taken); ASID 0 is reserved for the kernel and for "no task".
static ASIDS: SpinLock<[u64; 1024]> = SpinLock::new([0; 1024]);

/// How many ASIDs the CPU has: 16 bits if ID_AA64MMFR0_EL1.ASIDBits says so, else 8.
#[cfg(target_os = "none")]
fn asid_count() -> usize {
    use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable};
    const ASID_BITS_16: u64 = 0b0010;
    if ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::ASIDBits) == ASID_BITS_16 { 1 << 16 } else { 1 << 8 }
}

/// Take a free ASID below `count`. ASIDs are freed (with a TLB flush by ASID) when their
/// pmap is destroyed, so a live ASID never has stale translations and no generation
/// roll-over is needed; with all of them in use, creating a task fails cleanly.
fn asid_alloc_in(map: &mut [u64; 1024], count: usize) -> Option<u16> {
    map[0] |= 1;
    for (w, word) in map.iter_mut().enumerate().take(count.div_ceil(64)) {
        if *word != u64::MAX {
            let bit = (!*word).trailing_zeros();
            *word |= 1 << bit;
            return Some((w as u32 * 64 + bit) as u16);
        }
    }
    None
}

#[cfg(target_os = "none")]
fn asid_alloc() -> Option<u16> {
    asid_alloc_in(&mut ASIDS.lock(), asid_count())
}

fn asid_free(asid: u16) {
    ASIDS.lock()[asid as usize / 64] &= !(1 << (asid % 64));
}

#[cfg(target_os = "none")]
fn zero_frame(pa: u64) {
    // SAFETY: `pa` is a frame we own, mapped RW in the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, PAGE_SIZE as usize) };
}

#[cfg(target_os = "none")]
fn table_entry(table_pa: u64, index: usize) -> *mut u64 {
    (phys_to_virt(table_pa) as *mut u64).wrapping_add(index)
}

#[cfg(target_os = "none")]
impl Pmap {
    /// A new, empty user pmap with its own ASID.
    pub fn create() -> Result<Pmap, KernReturn> {
        let asid = asid_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        let root = match vm_page::vm_page_alloc() {
            Some(pa) => pa,
            None => {
                asid_free(asid);
                return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
            }
        };
        zero_frame(root);
        Ok(Pmap { root, asid, tables: alloc::vec![root] })
    }

    /// A new kernel pmap (TTBR1, global mappings, ASID 0).
    pub fn create_kernel() -> Result<Pmap, KernReturn> {
        let root = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
        zero_frame(root);
        Ok(Pmap { root, asid: 0, tables: alloc::vec![root] })
    }

    /// Physical address of the root table.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// This pmap's ASID.
    pub fn asid(&self) -> u16 {
        self.asid
    }

    /// The TTBR value selecting this pmap.
    pub fn ttbr(&self) -> u64 {
        self.root | ((self.asid as u64) << 48)
    }

    /// Walk to the level-`leaf_level` entry for `va`, creating tables on the way if `create`.
    fn walk(&mut self, va: u64, leaf_level: u32, create: bool) -> Result<Option<*mut u64>, KernReturn> {
        let mut table = self.root;
        for level in 0..leaf_level {
            let slot = table_entry(table, table_index(va, level));
            // SAFETY: `slot` points into a table page owned by this pmap (direct map).
            let d = unsafe { slot.read_volatile() };
            if d & DESC_VALID == 0 {
                if !create {
                    return Ok(None);
                }
                let pa = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
                zero_frame(pa);
                self.tables.push(pa);
                // The zeroed table must be visible to the walker before it is linked in.
                // SAFETY: barrier, then a store into our own table page.
                unsafe {
                    core::arch::asm!("dsb ishst", options(nostack, preserves_flags));
                    slot.write_volatile(pa | DESC_VALID | DESC_TABLE);
                }
                table = pa;
            } else if d & DESC_TABLE == 0 {
                // A block mapping covers this address; callers never mix sizes in one range.
                return Err(KernReturn::KERN_INVALID_ADDRESS);
            } else {
                table = d & DESC_ADDR_MASK;
            }
        }
        Ok(Some(table_entry(table, table_index(va, leaf_level))))
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
        let arg = ((va >> 12) & 0xFFF_FFFF_FFFF) | ((self.asid as u64) << 48);
        // SAFETY: TLB maintenance has no memory-safety effects of its own.
        unsafe {
            if self.asid == 0 {
                core::arch::asm!("dsb ishst", "tlbi vaae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack, preserves_flags));
            } else {
                core::arch::asm!("dsb ishst", "tlbi vae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack, preserves_flags));
            }
        }
    }

    /// Map the 4 KiB page at `va` to `pa`.
    pub fn enter(&mut self, va: u64, pa: u64, prot: Prot, attr: MemAttr) -> Result<(), KernReturn> {
        let slot = self.walk(va, 3, true)?.ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
        self.write_leaf(slot, leaf_descriptor(pa, prot, attr, true), va);
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
    /// level-1 entry passes over 1 GiB at once), so walking a huge, sparse range costs in
    /// proportion to the tables present, not to its size.
    pub fn next_mapped(&self, mut va: u64, end: u64) -> Option<(u64, u64, Prot)> {
        'next: while va < end {
            let mut table = self.root;
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
            }
            // SAFETY: as above.
            let d = unsafe { table_entry(table, table_index(va, 3)).read_volatile() };
            if d & DESC_VALID != 0 {
                return Some((va, d & DESC_ADDR_MASK, descriptor_prot(d)));
            }
            va = va.checked_add(PAGE_SIZE)?;
        }
        None
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

    /// Make this the user address space of this CPU (TTBR0).
    pub fn activate(&self) {
        // SAFETY: the root table is valid for as long as this pmap lives, and the kernel
        // never runs from TTBR0 addresses, so switching it cannot pull code from under us.
        unsafe {
            core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) self.ttbr(), options(nostack, preserves_flags))
        };
    }

    /// Switch TTBR0 to no user mappings at all (ASID 0, empty table): kernel threads.
    pub fn deactivate_user(empty_root: u64) {
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
                in(reg) self.root, options(nostack, preserves_flags));
        }
    }
}

#[cfg(target_os = "none")]
impl Drop for Pmap {
    fn drop(&mut self) {
        if self.asid != 0 {
            // SAFETY: drop every translation tagged with this ASID before it is reused.
            unsafe {
                core::arch::asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb",
                    in(reg) (self.asid as u64) << 48, options(nostack, preserves_flags));
            }
            asid_free(self.asid);
        }
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
    fn asids_are_unique_until_exhausted() {
        let mut map = [0u64; 1024];
        let all: std::vec::Vec<u16> = core::iter::from_fn(|| asid_alloc_in(&mut map, 256)).collect();
        assert_eq!(all.len(), 255, "ASID 0 is reserved");
        assert!(!all.contains(&0));
        map[0] &= !(1 << 7);
        assert_eq!(asid_alloc_in(&mut map, 256), Some(7));
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

/// Copy physical page `src` to physical page `dst` through the direct map (copy-on-write).
#[cfg(target_os = "none")]
pub fn copy_page(dst: u64, src: u64) {
    let (dst, src) = (dst & DESC_ADDR_MASK, src & DESC_ADDR_MASK);
    assert_ne!(dst, src, "copy_page onto itself");
    // SAFETY: both are whole frames of RAM in the direct map; `dst` was just allocated by
    // the caller and is used by no one else, so the two do not overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(
            phys_to_virt(src) as *const u8,
            phys_to_virt(dst) as *mut u8,
            PAGE_SIZE as usize,
        )
    };
}

/// The kernel's upper-half tables (TTBR1), once built.
#[cfg(target_os = "none")]
static KERNEL_PMAP: SpinLock<Option<Pmap>> = SpinLock::new(None);

/// Install `pmap` as the kernel's address space for good (it is never freed).
#[cfg(target_os = "none")]
pub fn kernel_pmap_bootstrap(pmap: Pmap) {
    pmap.activate_kernel();
    *KERNEL_PMAP.lock() = Some(pmap);
}

/// Map one kernel page (kernel stacks, later other wired kernel memory).
#[cfg(target_os = "none")]
pub fn kernel_pmap_enter(va: u64, pa: u64, prot: Prot) -> Result<(), KernReturn> {
    KERNEL_PMAP.lock().as_mut().ok_or(KernReturn::KERN_FAILURE)?.enter(va, pa, prot, MemAttr::Normal)
}

/// Unmap one kernel page, returning the frame it mapped.
#[cfg(target_os = "none")]
pub fn kernel_pmap_remove(va: u64) -> Option<u64> {
    KERNEL_PMAP.lock().as_mut()?.remove(va)
}
