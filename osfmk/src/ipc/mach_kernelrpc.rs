//! The `_kernelrpc_*` traps (XNU's `mach_kernelrpc.c`): fast paths for MIG routines that act
//! on the caller's own task. A target that is not the caller's task port answers
//! MACH_SEND_INVALID_DEST, and Libsyscall then sends the MIG message instead (reference §3).
//! A bad address pointer answers KERN_INVALID_ADDRESS.

use alloc::sync::Arc;

use mach::message::MACH_SEND_INVALID_DEST;
use mach::port::MACH_PORT_TYPE_SEND;
use mach::vm::{VmInherit, VmProt};
use mach::{KernReturn, MachPortName};

use crate::arm64::copyio::{UserAddr, copyin, copyout};
use crate::ipc::ipc_port::IkotType;
use crate::kern::sched_prim::current_thread;
use crate::kern::task::{Task, TaskRef};
use crate::vm::vm_map::VmMap;
use crate::vm::vm_user;

/// The caller's task, if `target` names a send right to its own task port.
fn current_task_for(target: u64) -> Option<TaskRef> {
    let task = current_thread().task.clone();
    let port = task.itk_space.lookup_port(target as MachPortName, MACH_PORT_TYPE_SEND).ok()?;
    let named: Arc<Task> = port.kobject::<Task>(IkotType::TaskControl)?;
    Arc::ptr_eq(&named, &task).then_some(task)
}

fn kr(k: KernReturn) -> u64 {
    k.0 as i64 as u64
}

/// Run `op` on the caller's map, with the in/out address at user pointer `addr_ptr`.
fn with_inout_addr(
    target: u64,
    addr_ptr: u64,
    op: impl FnOnce(&mut VmMap, u64) -> Result<u64, KernReturn>,
) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let Some(map) = &task.map else { return kr(KernReturn::KERN_INVALID_TASK) };
    let mut map = map.lock();
    let mut bytes = [0u8; 8];
    if copyin(&mut map, UserAddr(addr_ptr), &mut bytes).is_err() {
        return kr(KernReturn::KERN_INVALID_ADDRESS);
    }
    match op(&mut map, u64::from_le_bytes(bytes)) {
        Ok(addr) => match copyout(&mut map, &addr.to_le_bytes(), UserAddr(addr_ptr)) {
            Ok(()) => kr(KernReturn::KERN_SUCCESS),
            Err(_) => kr(KernReturn::KERN_INVALID_ADDRESS),
        },
        Err(e) => kr(e),
    }
}

/// −10: `mach_vm_allocate(target, &addr, size, flags)`.
pub fn mach_vm_allocate_trap(target: u64, addr: u64, size: u64, flags: u64) -> u64 {
    with_inout_addr(target, addr, |map, a| vm_user::mach_vm_allocate(map, a, size, flags as u32))
}

/// −12: `mach_vm_deallocate(target, address, size)`.
pub fn mach_vm_deallocate_trap(target: u64, address: u64, size: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let Some(map) = &task.map else { return kr(KernReturn::KERN_INVALID_TASK) };
    kr(vm_user::mach_vm_deallocate(&mut map.lock(), address, size).err().unwrap_or(KernReturn::KERN_SUCCESS))
}

/// −14: `mach_vm_protect(target, address, size, set_maximum, new_prot)`.
pub fn mach_vm_protect_trap(target: u64, address: u64, size: u64, set_maximum: u64, new_prot: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let Some(map) = &task.map else { return kr(KernReturn::KERN_INVALID_TASK) };
    let r =
        vm_user::mach_vm_protect(&mut map.lock(), address, size, set_maximum as u32 != 0, new_prot as i32);
    kr(r.err().unwrap_or(KernReturn::KERN_SUCCESS))
}

/// −15: `mach_vm_map(target, &addr, size, mask, flags, cur_prot)` for anonymous memory
/// (maximum protection: all; inheritance: copy).
pub fn mach_vm_map_trap(target: u64, addr: u64, size: u64, mask: u64, flags: u64, cur_prot: u64) -> u64 {
    with_inout_addr(target, addr, |map, a| {
        vm_user::mach_vm_map(
            map,
            a,
            size,
            mask,
            flags as u32,
            VmProt(cur_prot as i32),
            VmProt::ALL,
            VmInherit::DEFAULT,
        )
    })
}
