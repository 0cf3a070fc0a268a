//! Virtual memory (XNU `osfmk/vm`): address spaces, the objects behind them, faults, and
//! the physical pages underneath.
//!
//! * [`vm_map`] — a task's address space: entries, allocation, protection, inheritance,
//!   fork;
//! * [`vm_object`] — anonymous memory objects and their copy-on-write shadow chains;
//! * [`vm_fault`] — demand zero, copy-on-write, and kernel access to user pages;
//! * [`vm_map_lock`] — the reader-writer lock around a task's map;
//! * [`vm_map_copy`] — ranges in flight between maps (out-of-line message memory);
//! * [`vm_memory_entry`] — named entries: ports on memory that other tasks can map;
//! * [`user_ptr`] — user memory as types (`UserPtr<T>`, `UserSlice`) and typed copies;
//! * [`vm_user`] — the user calls (`mach_vm_allocate`, …): argument checks over the map;
//! * [`vm_page`] — the frame pool, the [`vm_page::PagePool`] seam and page handles;
//! * [`pmap`] — the [`pmap::PmapOps`] seam to the translation tables.
//!
//! Everything above the two seams is hardware-free and tested on the host against fakes.
//! Lock order: map → object (shadow before backing) → pmap → page pool. A map's pmap lock
//! is held only while its tables change (they take table pages from the pool).

pub mod pmap;
pub mod user_ptr;
pub mod vm_fault;
pub mod vm_map;
pub mod vm_map_copy;
pub mod vm_map_lock;
pub mod vm_memory_entry;
pub mod vm_object;
pub mod vm_page;
pub mod vm_user;

#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
#[cfg(test)]
mod tests;
