//! The machine-independent pmap interface (XNU `osfmk/vm/pmap.h`): what the VM layer asks
//! of the hardware translation tables. The VM layer decides; the pmap only caches those
//! decisions, so every mapping can be removed and rebuilt by a later fault.
//!
//! On the target [`MachinePmap`] adapts `arm64::pmap::Pmap`; host tests use a recording
//! fake. The pmap belongs to its map and is only touched under the map's pmap lock.

use mach::KernReturn;
use mach::vm::VmProt;

/// Translation-table operations on one address space.
pub trait PmapOps: Send + Sync {
    /// Map the page at `va` to frame `pa` with `prot` (which includes READ), replacing any
    /// mapping there.
    fn enter(&mut self, va: u64, pa: u64, prot: VmProt) -> Result<(), KernReturn>;
    /// Unmap every page in `[start, end)`.
    fn remove(&mut self, start: u64, end: u64);
    /// Lower the rights of every mapping in `[start, end)` to at most `prot`; mappings left
    /// without READ are removed. Never adds rights: faults do that.
    fn protect(&mut self, start: u64, end: u64, prot: VmProt);
    /// The frame and rights `va`'s page is mapped with, if any.
    fn extract(&mut self, va: u64) -> Option<(u64, VmProt)>;
    /// Pages currently mapped (the task's resident size, as XNU reports it).
    fn resident_count(&self) -> u64;
    /// What TTBR0 is loaded from for this address space, shared with the task that runs in
    /// it so that the context switch needs no lock of the map (None: a host fake).
    fn ttbr(&self) -> Option<alloc::sync::Arc<crate::arm64::pmap::PmapTtbr>>;
}

#[cfg(target_os = "none")]
pub use machine::MachinePmap;

#[cfg(target_os = "none")]
mod machine {
    use super::*;
    use crate::arm64::pmap::{MemAttr, Pmap, Prot};
    use crate::vm::vm_page::PAGE_SIZE;

    /// `arm64::pmap::Pmap` behind [`PmapOps`], counting resident pages.
    pub struct MachinePmap {
        pmap: Pmap,
        resident: u64,
    }

    impl MachinePmap {
        /// Wrap a fresh (empty) user pmap.
        pub fn new(pmap: Pmap) -> MachinePmap {
            MachinePmap { pmap, resident: 0 }
        }
    }

    fn to_prot(prot: VmProt) -> Prot {
        Prot { write: prot.contains(VmProt::WRITE), execute: prot.contains(VmProt::EXECUTE), user: true }
    }

    fn from_prot(prot: Prot) -> VmProt {
        let mut p = VmProt::READ;
        if prot.write {
            p = p.union(VmProt::WRITE);
        }
        if prot.execute {
            p = p.union(VmProt::EXECUTE);
        }
        p
    }

    impl PmapOps for MachinePmap {
        fn enter(&mut self, va: u64, pa: u64, prot: VmProt) -> Result<(), KernReturn> {
            let was_mapped = self.pmap.extract(va).is_some();
            self.pmap.enter(va, pa, to_prot(prot), MemAttr::Normal)?;
            if !was_mapped {
                self.resident += 1;
            }
            Ok(())
        }

        // Both walks visit only mapped pages (`next_mapped` skips empty subtrees), so a
        // huge sparse range such as a mostly untouched 100 TiB reservation is cheap.
        fn remove(&mut self, start: u64, end: u64) {
            let mut va = start;
            while let Some((page, _, _)) = self.pmap.next_mapped(va, end) {
                if self.pmap.remove(page).is_some() {
                    self.resident -= 1;
                }
                va = page + PAGE_SIZE;
            }
        }

        fn protect(&mut self, start: u64, end: u64, prot: VmProt) {
            let mut va = start;
            while let Some((page, pa, old)) = self.pmap.next_mapped(va, end) {
                let new = from_prot(old).intersection(prot);
                if !new.contains(VmProt::READ) {
                    self.pmap.remove(page);
                    self.resident -= 1;
                } else if new != from_prot(old) {
                    // Lowering rights needs no table page, so this cannot fail.
                    let _ = self.pmap.enter(page, pa, to_prot(new), MemAttr::Normal);
                }
                va = page + PAGE_SIZE;
            }
        }

        fn extract(&mut self, va: u64) -> Option<(u64, VmProt)> {
            self.pmap.extract(va).map(|(pa, prot)| (pa, from_prot(prot)))
        }

        fn resident_count(&self) -> u64 {
            self.resident
        }

        fn ttbr(&self) -> Option<alloc::sync::Arc<crate::arm64::pmap::PmapTtbr>> {
            Some(self.pmap.ttbr())
        }
    }
}
