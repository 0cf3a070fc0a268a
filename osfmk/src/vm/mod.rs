//! Virtual memory. For now: the physical page pool (`vm_page`). `vm_map`, `vm_object`
//! and faults arrive with M1.2.

#[cfg(target_os = "none")]
pub mod vm_map;
pub mod vm_page;
