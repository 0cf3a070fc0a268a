//! A task's address space. In this milestone it is the thin version: wired anonymous
//! memory entered eagerly into the pmap (exec's segments and the stack) and freed with the
//! task. M1.2 replaces the page list with entries, objects and faults behind the same calls.

use alloc::vec::Vec;

use mach::KernReturn;

use crate::arm64::pmap::{MemAttr, Pmap, Prot, USER_VM_MAX, USER_VM_MIN, phys_to_virt, zero_page};
use crate::vm::vm_page::{self, PAGE_SIZE, round_page, trunc_page};

/// A user address space.
pub struct VmMap {
    pmap: Pmap,
    /// (virtual page, physical page) for every page this map owns.
    pages: Vec<(u64, u64)>,
}

impl VmMap {
    /// An empty map over `pmap`.
    pub fn new(pmap: Pmap) -> VmMap {
        VmMap { pmap, pages: Vec::new() }
    }

    /// The pmap (for activation and translation).
    pub fn pmap(&self) -> &Pmap {
        &self.pmap
    }

    /// Map zero-filled, wired memory at `[start, start + size)` with `prot`.
    pub fn enter_anon(&mut self, start: u64, size: u64, prot: Prot) -> Result<(), KernReturn> {
        let end = start.checked_add(size).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
        let (first, last) = (trunc_page(start), round_page(end));
        if first < USER_VM_MIN || last > USER_VM_MAX || size == 0 {
            return Err(KernReturn::KERN_INVALID_ADDRESS);
        }
        let mut va = first;
        while va < last {
            if self.pmap.extract(va).is_some() {
                return Err(KernReturn::KERN_NO_SPACE);
            }
            let pa = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
            zero_page(pa);
            if let Err(e) = self.pmap.enter(va, pa, Prot { user: true, ..prot }, MemAttr::Normal) {
                vm_page::vm_page_free(pa);
                return Err(e);
            }
            self.pages.push((va, pa));
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// The kernel (direct-map) address backing user address `va`, and the page's rights.
    pub fn translate(&mut self, va: u64) -> Option<(u64, Prot)> {
        if !(USER_VM_MIN..USER_VM_MAX).contains(&va) {
            return None;
        }
        let (pa, prot) = self.pmap.extract(va)?;
        prot.user.then_some((phys_to_virt(pa), prot))
    }

    /// Resident pages.
    pub fn resident_pages(&self) -> usize {
        self.pages.len()
    }

    /// Unmap and free everything.
    pub fn deallocate_all(&mut self) {
        for (va, pa) in core::mem::take(&mut self.pages) {
            self.pmap.remove(va);
            vm_page::vm_page_free(pa);
        }
    }
}

impl Drop for VmMap {
    fn drop(&mut self) {
        self.deallocate_all();
    }
}
