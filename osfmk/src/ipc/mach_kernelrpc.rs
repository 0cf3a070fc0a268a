//! The `_kernelrpc_*` traps (XNU's `mach_kernelrpc.c`): fast paths for MIG routines that act
//! on the caller's own task. A target that is not the caller's task port answers
//! MACH_SEND_INVALID_DEST, and Libsyscall then sends the MIG message instead (reference §3).
//! A bad address pointer answers KERN_INVALID_ADDRESS.

use alloc::sync::Arc;

use mach::message::{
    MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_SEND_INVALID_DEST,
    mach_msg_type_port_any,
};
use mach::port::{MACH_PORT_RIGHT_RECEIVE, MACH_PORT_TYPE_SEND, MachPortRight};
use mach::vm::{VmInherit, VmProt};
use mach::{KernReturn, MachPortName};

use crate::arm64::copyio::{UserAddr, copyin, copyout};
use crate::ipc::ipc_kmsg::MsgRight;
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
    let mut bytes = [0u8; 8];
    if copyin(UserAddr(addr_ptr), &mut bytes).is_err() {
        return kr(KernReturn::KERN_INVALID_ADDRESS);
    }
    // The map is locked for the operation only: the copies fault without it.
    let result = op(&mut map.write(), u64::from_le_bytes(bytes));
    match result {
        Ok(addr) => match copyout(&addr.to_le_bytes(), UserAddr(addr_ptr)) {
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
    kr(vm_user::mach_vm_deallocate(&mut map.write(), address, size).err().unwrap_or(KernReturn::KERN_SUCCESS))
}

/// −14: `mach_vm_protect(target, address, size, set_maximum, new_prot)`.
pub fn mach_vm_protect_trap(target: u64, address: u64, size: u64, set_maximum: u64, new_prot: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let Some(map) = &task.map else { return kr(KernReturn::KERN_INVALID_TASK) };
    let r =
        vm_user::mach_vm_protect(&mut map.write(), address, size, set_maximum as u32 != 0, new_prot as i32);
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

/// Write the 32-bit `value` to the caller's user address `ptr`.
fn copyout_u32(task: &Task, value: u32, ptr: u64) -> Result<(), KernReturn> {
    task.map.as_ref().ok_or(KernReturn::KERN_INVALID_TASK)?;
    copyout(&value.to_le_bytes(), UserAddr(ptr)).map_err(|_| KernReturn::KERN_INVALID_ADDRESS)
}

/// −16: `mach_port_allocate(target, right, &name)`: a receive right or a port set (a bare
/// dead name is `KERN_INVALID_VALUE`, as are other rights). If the name cannot be written
/// out, the new right is destroyed again.
pub fn mach_port_allocate_trap(target: u64, right: u64, name_ptr: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let name = match allocate(&task, right) {
        Ok(name) => name,
        Err(e) => return kr(e),
    };
    match copyout_u32(&task, name, name_ptr) {
        Ok(()) => kr(KernReturn::KERN_SUCCESS),
        Err(e) => {
            let r = if right == u64::from(MACH_PORT_RIGHT_RECEIVE) {
                MACH_PORT_RIGHT_RECEIVE
            } else {
                mach::port::MACH_PORT_RIGHT_PORT_SET
            };
            let _ = task.itk_space.mod_refs(name, r, -1);
            kr(e)
        }
    }
}

/// Make a receive right or a port set in `task`'s space (the trap's and the MIG routine's
/// common part).
pub fn allocate(task: &Task, right: u64) -> Result<MachPortName, KernReturn> {
    match u32::try_from(right) {
        Ok(MACH_PORT_RIGHT_RECEIVE) => task.itk_space.alloc_receive().map(|(n, _)| n),
        Ok(mach::port::MACH_PORT_RIGHT_PORT_SET) => task.itk_space.alloc_port_set().map(|(n, _)| n),
        _ => Err(KernReturn::KERN_INVALID_VALUE),
    }
}

/// Run `op` on the caller's own task (`target` must name it) and answer its result.
fn on_own_task(target: u64, op: impl FnOnce(&Task) -> Result<(), KernReturn>) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    kr(op(&task).err().unwrap_or(KernReturn::KERN_SUCCESS))
}

/// −20: `mach_port_move_member(target, member, after)`.
pub fn mach_port_move_member_trap(target: u64, member: u64, after: u64) -> u64 {
    on_own_task(target, |t| t.itk_space.move_member(member as MachPortName, after as MachPortName))
}

/// −22: `mach_port_insert_member(target, name, pset)`.
pub fn mach_port_insert_member_trap(target: u64, name: u64, pset: u64) -> u64 {
    on_own_task(target, |t| t.itk_space.insert_member(name as MachPortName, pset as MachPortName))
}

/// −23: `mach_port_extract_member(target, name, pset)`.
pub fn mach_port_extract_member_trap(target: u64, name: u64, pset: u64) -> u64 {
    on_own_task(target, |t| t.itk_space.extract_member(name as MachPortName, pset as MachPortName))
}

/// −18: `mach_port_deallocate(target, name)`.
pub fn mach_port_deallocate_trap(target: u64, name: u64) -> u64 {
    on_own_task(target, |t| t.itk_space.deallocate(name as MachPortName))
}

/// −19: `mach_port_mod_refs(target, name, right, delta)`.
pub fn mach_port_mod_refs_trap(target: u64, name: u64, right: u64, delta: u64) -> u64 {
    on_own_task(target, |t| {
        let right = MachPortRight::try_from(right).map_err(|_| KernReturn::KERN_INVALID_VALUE)?;
        t.itk_space.mod_refs(name as MachPortName, right, delta as i32)
    })
}

/// −76: `mach_port_type(task, name, &type)`.
pub fn mach_port_type_trap(target: u64, name: u64, type_ptr: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let ty = match task.itk_space.port_type(name as MachPortName) {
        Ok(t) => t,
        Err(e) => return kr(e),
    };
    kr(copyout_u32(&task, ty, type_ptr).err().unwrap_or(KernReturn::KERN_SUCCESS))
}

/// Take the right `name` names with disposition `poly` out of `task`'s space for the kernel
/// (what the MIG form would have carried in its message). A disposition that carries no right
/// is `KERN_INVALID_VALUE`.
fn copyin_poly(task: &Task, name: MachPortName, poly: u64) -> Result<MsgRight, KernReturn> {
    let poly = u32::try_from(poly)
        .ok()
        .filter(|&p| mach_msg_type_port_any(p))
        .ok_or(KernReturn::KERN_INVALID_VALUE)?;
    let mut rights = task.itk_space.copyin_rights(&[(name, poly)], false).map_err(|(_, kr)| kr)?;
    Ok(rights.pop().unwrap_or(MsgRight::Null))
}

/// −21: `mach_port_insert_right(target, name, poly, polyPoly)`.
pub fn mach_port_insert_right_trap(target: u64, name: u64, poly: u64, poly_poly: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let right = match copyin_poly(&task, poly as MachPortName, poly_poly) {
        Ok(r) => r,
        Err(e) => return kr(e),
    };
    kr(task
        .itk_space
        .insert_right_named(name as MachPortName, right)
        .err()
        .unwrap_or(KernReturn::KERN_SUCCESS))
}

/// −77: `mach_port_request_notification(task, name, msgid, sync, notify, notifyPoly,
/// &previous)`. `notify` is `MACH_PORT_NULL` (disarm) or a send-once right made or moved with
/// `notifyPoly`. The previous request's right is entered in the caller's space.
pub fn mach_port_request_notification_trap(
    target: u64,
    name: u64,
    msgid: u64,
    sync: u64,
    notify: u64,
    notify_poly: u64,
    previous_ptr: u64,
) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    let notify = notify as MachPortName;
    let right = if notify == mach::port::MACH_PORT_NULL {
        MsgRight::Null
    } else if notify_poly != u64::from(MACH_MSG_TYPE_MAKE_SEND_ONCE)
        && notify_poly != u64::from(MACH_MSG_TYPE_MOVE_SEND_ONCE)
    {
        return kr(KernReturn::KERN_INVALID_VALUE);
    } else {
        match copyin_poly(&task, notify, notify_poly) {
            Ok(r) => r,
            Err(e) => return kr(e),
        }
    };
    let previous =
        match task.itk_space.request_notification(name as MachPortName, msgid as i32, sync as u32, right) {
            Ok(p) => p,
            Err(e) => return kr(e),
        };
    let name = task.itk_space.copyout_right(previous).unwrap_or(mach::port::MACH_PORT_DEAD);
    kr(copyout_u32(&task, name, previous_ptr).err().unwrap_or(KernReturn::KERN_SUCCESS))
}

/// `mach_port_construct` with the `mach_port_options_t` bytes `options`: a receive right,
/// with the queue limit it asks for (`MPO_QLIMIT`) and a send right under the same name
/// (`MPO_INSERT_SEND_RIGHT`). Guards and the other flags are accepted and have no effect (this
/// kernel has no port guards yet). Unknown flags or a queue limit over the maximum are
/// `KERN_INVALID_VALUE`.
pub fn construct(task: &Task, options: &[u8]) -> Result<MachPortName, KernReturn> {
    use mach::port::{MACH_PORT_QLIMIT_MAX, MPO_ALL_FLAGS, MPO_INSERT_SEND_RIGHT, MPO_QLIMIT};
    let word =
        |at: usize| options.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (flags, qlimit) = (word(0), word(4));
    if flags & !MPO_ALL_FLAGS != 0 || (flags & MPO_QLIMIT != 0 && qlimit > MACH_PORT_QLIMIT_MAX) {
        return Err(KernReturn::KERN_INVALID_VALUE);
    }
    let (name, port) = task.itk_space.alloc_receive()?;
    if flags & MPO_QLIMIT != 0 {
        port.set_qlimit(qlimit);
    }
    if flags & MPO_INSERT_SEND_RIGHT != 0
        && let Err(kr) = task.itk_space.insert_send(&port)
    {
        let _ = task.itk_space.destroy_receive(name);
        return Err(kr);
    }
    Ok(name)
}

/// `mach_port_destruct`: drop `-srdelta` send references of `name`, then its receive right.
pub fn destruct(task: &Task, name: MachPortName, srdelta: i32) -> Result<(), KernReturn> {
    if srdelta > 0 {
        return Err(KernReturn::KERN_INVALID_VALUE);
    }
    task.itk_space.lookup_port(name, mach::port::MACH_PORT_TYPE_RECEIVE)?;
    if srdelta != 0 {
        task.itk_space.mod_refs(name, mach::port::MACH_PORT_RIGHT_SEND, srdelta)?;
    }
    task.itk_space.destroy_receive(name)
}

/// −24: `mach_port_construct(target, options*, context, &name)`.
pub fn mach_port_construct_trap(target: u64, options_ptr: u64, _context: u64, name_ptr: u64) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    if task.map.is_none() {
        return kr(KernReturn::KERN_INVALID_TASK);
    }
    let mut options = [0u8; mach::port::MACH_PORT_OPTIONS_SIZE];
    if copyin(UserAddr(options_ptr), &mut options).is_err() {
        return kr(KernReturn::KERN_INVALID_ADDRESS);
    }
    let name = match construct(&task, &options) {
        Ok(n) => n,
        Err(e) => return kr(e),
    };
    match copyout_u32(&task, name, name_ptr) {
        Ok(()) => kr(KernReturn::KERN_SUCCESS),
        Err(e) => {
            let _ = destruct(&task, name, 0).or_else(|_| task.itk_space.destroy_receive(name));
            kr(e)
        }
    }
}

/// −25: `mach_port_destruct(target, name, srdelta, guard)`.
pub fn mach_port_destruct_trap(target: u64, name: u64, srdelta: u64, _guard: u64) -> u64 {
    on_own_task(target, |t| destruct(t, name as MachPortName, srdelta as i32))
}

/// −40: `mach_port_get_attributes(target, name, flavor, info*, &count)`.
pub fn mach_port_get_attributes_trap(
    target: u64,
    name: u64,
    flavor: u64,
    info_ptr: u64,
    count_ptr: u64,
) -> u64 {
    let Some(task) = current_task_for(target) else { return MACH_SEND_INVALID_DEST as u64 };
    if task.map.is_none() {
        return kr(KernReturn::KERN_INVALID_TASK);
    }
    let mut count = [0u8; 4];
    if copyin(UserAddr(count_ptr), &mut count).is_err() {
        return kr(KernReturn::KERN_INVALID_ADDRESS);
    }
    let words = task
        .itk_space
        .lookup_port(name as MachPortName, mach::port::MACH_PORT_TYPE_RECEIVE)
        .and_then(|port| port.attributes(flavor as u32, u32::from_le_bytes(count)));
    let words = match words {
        Ok(w) => w,
        Err(e) => return kr(e),
    };
    let bytes: alloc::vec::Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let n = (words.len() as u32).to_le_bytes();
    if copyout(&bytes, UserAddr(info_ptr)).is_err() || copyout(&n, UserAddr(count_ptr)).is_err() {
        return kr(KernReturn::KERN_INVALID_ADDRESS);
    }
    kr(KernReturn::KERN_SUCCESS)
}
