//! Kernel stacks (XNU's `stack.c`): each thread's kernel stack lives in its own 64 KiB slot
//! of a region of the upper half reserved for stacks. The stack is the top 32 KiB of the
//! slot; the bottom 32 KiB is never mapped, so running off the end of a stack faults instead
//! of silently overwriting whatever lies below. The exception vectors recognise a fault
//! inside a guard (`is_guard_address`) and report the overflow from a separate stack.

/// Start of the kernel stack region (L0 slot 510 of the upper half).
pub const KSTACK_REGION_BASE: u64 = 0xFFFF_FF00_0000_0000;
/// `KSTACK_REGION_BASE >> 39`, what the vectors compare an address's top bits with.
pub const KSTACK_REGION_L0: u64 = KSTACK_REGION_BASE >> 39;
/// Bytes per slot: guard + stack.
pub const KSTACK_SLOT_SIZE: u64 = 64 * 1024;
/// Usable stack bytes at the top of a slot.
pub const KSTACK_SIZE: u64 = 32 * 1024;
/// Unmapped bytes at the bottom of a slot.
pub const KSTACK_GUARD_SIZE: u64 = KSTACK_SLOT_SIZE - KSTACK_SIZE;
/// How many stacks may exist at once (1 GiB of address space).
pub const KSTACK_SLOTS: usize = 16 * 1024;

/// Is `va` inside the guard of some kernel stack slot?
pub const fn is_guard_address(va: u64) -> bool {
    va >> 39 == KSTACK_REGION_L0
        && va - KSTACK_REGION_BASE < KSTACK_SLOTS as u64 * KSTACK_SLOT_SIZE
        && (va & (KSTACK_SLOT_SIZE - 1)) < KSTACK_GUARD_SIZE
}

/// Which slots are taken; the hint makes allocation O(1) in the common case.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
struct SlotMap {
    used: [u64; KSTACK_SLOTS / 64],
    hint: usize,
}

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
impl SlotMap {
    const fn new() -> SlotMap {
        SlotMap { used: [0; KSTACK_SLOTS / 64], hint: 0 }
    }

    fn alloc(&mut self) -> Option<usize> {
        let words = self.used.len();
        for k in 0..words {
            let w = (self.hint + k) % words;
            if self.used[w] != u64::MAX {
                let bit = (!self.used[w]).trailing_zeros() as usize;
                self.used[w] |= 1 << bit;
                self.hint = w;
                return Some(w * 64 + bit);
            }
        }
        None
    }

    fn free(&mut self, slot: usize) {
        if let Some(word) = self.used.get_mut(slot / 64) {
            *word &= !(1 << (slot % 64));
        }
    }
}

#[cfg(target_os = "none")]
pub use imp::KernelStack;

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::arm64::pmap::{Prot, kernel_pmap_enter, kernel_pmap_remove_range};
    use crate::kern::locks::SpinLock;
    use crate::vm::vm_page::{self, PAGE_SIZE};
    use mach::KernReturn;

    // Interrupt-masking: the switch path frees a dead thread's stack (`thread_dispatch`).
    static SLOTS: SpinLock<SlotMap> = SpinLock::new(&crate::kern::lock_order::KERNEL_STACKS, SlotMap::new());

    /// A mapped kernel stack; unmapped and freed when dropped.
    pub struct KernelStack {
        slot: usize,
    }

    impl KernelStack {
        /// Map a new stack, or fail when out of slots or memory.
        pub fn alloc() -> Result<KernelStack, KernReturn> {
            let slot = SLOTS.lock().alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
            let stack = KernelStack { slot };
            let rw = Prot { write: true, execute: false, user: false };
            let mut va = stack.bottom();
            while va < stack.top() {
                // On failure, drop(stack) unmaps and frees what was mapped so far.
                let pa = vm_page::vm_page_alloc().ok_or(KernReturn::KERN_RESOURCE_SHORTAGE)?;
                if let Err(e) = kernel_pmap_enter(va, pa, rw) {
                    vm_page::vm_page_free(pa);
                    return Err(e);
                }
                va += PAGE_SIZE;
            }
            Ok(stack)
        }

        /// Lowest mapped address.
        pub fn bottom(&self) -> u64 {
            KSTACK_REGION_BASE + self.slot as u64 * KSTACK_SLOT_SIZE + KSTACK_GUARD_SIZE
        }

        /// One past the highest address: the initial stack pointer.
        pub fn top(&self) -> u64 {
            KSTACK_REGION_BASE + (self.slot as u64 + 1) * KSTACK_SLOT_SIZE
        }
    }

    impl Drop for KernelStack {
        fn drop(&mut self) {
            kernel_pmap_remove_range(self.bottom(), self.top(), vm_page::vm_page_free);
            SLOTS.lock().free(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_are_recognised() {
        let slot3 = KSTACK_REGION_BASE + 3 * KSTACK_SLOT_SIZE;
        assert!(is_guard_address(slot3));
        assert!(is_guard_address(slot3 + KSTACK_GUARD_SIZE - 1));
        assert!(!is_guard_address(slot3 + KSTACK_GUARD_SIZE));
        assert!(!is_guard_address(slot3 - 1), "top of slot 2's stack");
        assert!(!is_guard_address(0xFFFF_FF80_4020_0000), "kernel image");
        assert!(!is_guard_address(KSTACK_REGION_BASE + KSTACK_SLOTS as u64 * KSTACK_SLOT_SIZE));
    }

    #[test]
    fn slots_are_reused() {
        let mut m = SlotMap::new();
        let a = m.alloc().unwrap();
        let b = m.alloc().unwrap();
        assert_ne!(a, b);
        m.free(a);
        let mut seen = 0;
        while m.alloc().is_some() {
            seen += 1;
        }
        assert_eq!(seen, KSTACK_SLOTS - 1);
    }
}
