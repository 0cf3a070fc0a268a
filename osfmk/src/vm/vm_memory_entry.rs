//! Named memory entries (XNU `vm_memory_entry.c`): a handle, reached through a port, on a
//! range of a memory object. `mach_make_memory_entry_64` makes one — for a range of a task's
//! address space (which from then on is shared in place) or, with `MAP_MEM_NAMED_CREATE`, for
//! fresh zero-filled memory — and `mach_vm_map` maps it into any task whose port the caller
//! holds: shared memory between tasks.

use alloc::sync::Arc;
use core::any::Any;

use mach::KernReturn;
use mach::vm::VmProt;

use crate::ipc::ipc_port::{IkotType, IpcPort};
use crate::vm::vm_object::ObjectRef;
use crate::vm::vm_page::PAGE_SIZE;

/// `MAP_MEM_NAMED_CREATE`: the entry is for new anonymous memory, not a range of the map.
pub const MAP_MEM_NAMED_CREATE: u32 = 0x0002_0000;

/// A named entry (XNU `struct vm_named_entry`).
pub struct VmNamedEntry {
    pub object: ObjectRef,
    /// Where the entry starts in `object` (page-aligned).
    pub offset: u64,
    /// Bytes the entry covers (page-aligned).
    pub size: u64,
    /// The most a mapping of it may allow.
    pub protection: VmProt,
}

impl crate::kern::ipc_kobject::KObject for VmNamedEntry {
    const IKOT: IkotType = IkotType::NamedEntry;
}

impl VmNamedEntry {
    pub fn new(object: ObjectRef, offset: u64, size: u64, protection: VmProt) -> Arc<Self> {
        Arc::new(Self { object, offset, size, protection })
    }

    /// A sub-range of this entry (`parent_entry` of `mach_make_memory_entry_64`), with at most
    /// the parent's protection.
    pub fn sub_entry(&self, offset: u64, size: u64, protection: VmProt) -> Result<Arc<Self>, KernReturn> {
        let end = offset.checked_add(size).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
        if !offset.is_multiple_of(PAGE_SIZE) || end > self.size {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        if !self.protection.contains(protection) {
            return Err(KernReturn::KERN_PROTECTION_FAILURE);
        }
        Ok(Self::new(self.object.clone(), self.offset + offset, size, protection))
    }

    /// A port for the entry and a send right to it. The port owns the entry: when its last
    /// send right goes, both go (XNU destroys named entries on no-senders).
    pub fn into_port(self: Arc<Self>) -> crate::ipc::ipc_port::SendRight {
        let owner: Arc<dyn Any + Send + Sync> = self;
        let port = IpcPort::new_kobject_owned(IkotType::NamedEntry, owner);
        port.make_send()
    }
}
