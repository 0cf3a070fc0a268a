//! The `_kernelrpc_*` traps (XNU's `mach_kernelrpc.c`): fast paths for MIG routines that act
//! on the caller's own task. A target that is not the caller's task port answers
//! MACH_SEND_INVALID_DEST, and Libsyscall then sends the MIG message instead (reference §3).
//! A bad address pointer answers KERN_INVALID_ADDRESS.

use alloc::sync::Arc;

use mach::message::{
    MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_SEND_INVALID_DEST, MachMsgTypeName,
    mach_msg_type_port_any,
};
use mach::port::{MACH_PORT_RIGHT_RECEIVE, MACH_PORT_TYPE_SEND, MachPortRight};
use mach::vm::{VmInherit, VmProt};
use mach::{KernReturn, MachPortName};
use zerocopy::IntoBytes;

use crate::ipc::ipc_kmsg::MsgRight;
use crate::kern::sched_prim::current_thread;
use crate::kern::task::{Task, TaskRef};
use crate::vm::user_ptr::{UserAddr, UserPtr, UserSlice, copyin_val, copyout_val};
use crate::vm::vm_map::VmMap;
use crate::vm::vm_user;

/// What a `_kernelrpc_*` trap answers for a target that is not the caller's own task: the
/// code that sends Libsyscall to the MIG routine.
const NOT_OWN_TASK: KernReturn = KernReturn(MACH_SEND_INVALID_DEST);

/// The caller's task, if `target` names a send right to its own task port.
fn current_task_for(target: MachPortName) -> Result<TaskRef, KernReturn> {
    let task = current_thread().task.clone();
    let named: Arc<Task> =
        task.itk_space.lookup_kobject::<Task>(target, MACH_PORT_TYPE_SEND).map_err(|_| NOT_OWN_TASK)?;
    if Arc::ptr_eq(&named, &task) { Ok(task) } else { Err(NOT_OWN_TASK) }
}

/// Run `op` on the caller's map with the address at the in/out pointer `addr`, and write the
/// address it answers back there.
fn with_inout_addr(
    target: MachPortName,
    addr: UserAddr,
    op: impl FnOnce(&mut VmMap, u64) -> Result<u64, KernReturn>,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    let addr = UserPtr::<u64>::new(addr.0)?;
    let start = addr.read()?;
    // The map is locked for the operation only: the copies fault without it.
    let result = task.with_map(|map| op(map, start))?;
    Ok(addr.write(&result)?)
}

/// −10: `mach_vm_allocate(target, &addr, size, flags)`.
pub fn _kernelrpc_mach_vm_allocate_trap(
    target: MachPortName,
    addr: UserAddr,
    size: u64,
    flags: i32,
) -> Result<(), KernReturn> {
    with_inout_addr(target, addr, |map, a| vm_user::mach_vm_allocate(map, a, size, flags as u32))
}

/// −12: `mach_vm_deallocate(target, address, size)`.
pub fn _kernelrpc_mach_vm_deallocate_trap(
    target: MachPortName,
    address: u64,
    size: u64,
) -> Result<(), KernReturn> {
    current_task_for(target)?.with_map(|map| vm_user::mach_vm_deallocate(map, address, size))
}

/// −14: `mach_vm_protect(target, address, size, set_maximum, new_protection)`.
pub fn _kernelrpc_mach_vm_protect_trap(
    target: MachPortName,
    address: u64,
    size: u64,
    set_maximum: bool,
    new_protection: VmProt,
) -> Result<(), KernReturn> {
    current_task_for(target)?
        .with_map(|map| vm_user::mach_vm_protect(map, address, size, set_maximum, new_protection.0))
}

/// −15: `mach_vm_map(target, &addr, size, mask, flags, cur_protection)` for anonymous memory
/// (maximum protection: all; inheritance: copy).
pub fn _kernelrpc_mach_vm_map_trap(
    target: MachPortName,
    addr: UserAddr,
    size: u64,
    mask: u64,
    flags: i32,
    cur_protection: VmProt,
) -> Result<(), KernReturn> {
    with_inout_addr(target, addr, |map, a| {
        vm_user::mach_vm_map(
            map,
            a,
            size,
            mask,
            flags as u32,
            cur_protection,
            VmProt::ALL,
            VmInherit::DEFAULT,
        )
    })
}

/// −16: `mach_port_allocate(target, right, &name)`: a receive right or a port set (a bare
/// dead name is `KERN_INVALID_VALUE`, as are other rights). If the name cannot be written
/// out, the new right is destroyed again.
pub fn _kernelrpc_mach_port_allocate_trap(
    target: MachPortName,
    right: MachPortRight,
    name_out: UserAddr,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    let name = allocate(&task, u64::from(right))?;
    copyout_val(&name, name_out).map_err(|fault| {
        let _ = task.itk_space.mod_refs(name, right, -1);
        KernReturn::from(fault)
    })
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

/// −20: `mach_port_move_member(target, member, after)`.
pub fn _kernelrpc_mach_port_move_member_trap(
    target: MachPortName,
    member: MachPortName,
    after: MachPortName,
) -> Result<(), KernReturn> {
    current_task_for(target)?.itk_space.move_member(member, after)
}

/// −22: `mach_port_insert_member(target, name, pset)`.
pub fn _kernelrpc_mach_port_insert_member_trap(
    target: MachPortName,
    name: MachPortName,
    pset: MachPortName,
) -> Result<(), KernReturn> {
    current_task_for(target)?.itk_space.insert_member(name, pset)
}

/// −23: `mach_port_extract_member(target, name, pset)`.
pub fn _kernelrpc_mach_port_extract_member_trap(
    target: MachPortName,
    name: MachPortName,
    pset: MachPortName,
) -> Result<(), KernReturn> {
    current_task_for(target)?.itk_space.extract_member(name, pset)
}

/// −18: `mach_port_deallocate(target, name)`.
pub fn _kernelrpc_mach_port_deallocate_trap(
    target: MachPortName,
    name: MachPortName,
) -> Result<(), KernReturn> {
    current_task_for(target)?.itk_space.deallocate(name)
}

/// −19: `mach_port_mod_refs(target, name, right, delta)`.
pub fn _kernelrpc_mach_port_mod_refs_trap(
    target: MachPortName,
    name: MachPortName,
    right: MachPortRight,
    delta: i32,
) -> Result<(), KernReturn> {
    current_task_for(target)?.itk_space.mod_refs(name, right, delta)
}

/// −76: `mach_port_type(target, name, &type)`.
pub fn _kernelrpc_mach_port_type_trap(
    target: MachPortName,
    name: MachPortName,
    type_out: UserAddr,
) -> Result<(), KernReturn> {
    let ty = current_task_for(target)?.itk_space.port_type(name)?;
    Ok(copyout_val(&ty, type_out)?)
}

/// Take the right `name` names with disposition `poly` out of `task`'s space for the kernel
/// (what the MIG form would have carried in its message). A disposition that carries no right
/// is `KERN_INVALID_VALUE`.
fn copyin_poly(task: &Task, name: MachPortName, poly: MachMsgTypeName) -> Result<MsgRight, KernReturn> {
    if !mach_msg_type_port_any(poly) {
        return Err(KernReturn::KERN_INVALID_VALUE);
    }
    let mut rights = task.itk_space.copyin_rights(&[(name, poly)], false).map_err(|(_, kr)| kr)?;
    Ok(rights.pop().unwrap_or(MsgRight::Null))
}

/// −21: `mach_port_insert_right(target, name, poly, polyPoly)`.
pub fn _kernelrpc_mach_port_insert_right_trap(
    target: MachPortName,
    name: MachPortName,
    poly: MachPortName,
    poly_poly: MachMsgTypeName,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    let right = copyin_poly(&task, poly, poly_poly)?;
    task.itk_space.insert_right_named(name, right)
}

/// −77: `mach_port_request_notification(target, name, msgid, sync, notify, notifyPoly,
/// &previous)`. `notify` is `MACH_PORT_NULL` (disarm) or a send-once right made or moved with
/// `notifyPoly`. The previous request's right is entered in the caller's space.
pub fn _kernelrpc_mach_port_request_notification_trap(
    target: MachPortName,
    name: MachPortName,
    msgid: i32,
    sync: u32,
    notify: MachPortName,
    notify_poly: MachMsgTypeName,
    previous_out: UserAddr,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    let right = if notify == mach::port::MACH_PORT_NULL {
        MsgRight::Null
    } else if notify_poly != MACH_MSG_TYPE_MAKE_SEND_ONCE && notify_poly != MACH_MSG_TYPE_MOVE_SEND_ONCE {
        return Err(KernReturn::KERN_INVALID_VALUE);
    } else {
        copyin_poly(&task, notify, notify_poly)?
    };
    let previous = task.itk_space.request_notification(name, msgid, sync, right)?;
    let previous = task.itk_space.copyout_right(previous).unwrap_or(mach::port::MACH_PORT_DEAD);
    Ok(copyout_val(&previous, previous_out)?)
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
pub fn _kernelrpc_mach_port_construct_trap(
    target: MachPortName,
    options: UserAddr,
    _context: u64,
    name_out: UserAddr,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    let options = copyin_val::<[u8; mach::port::MACH_PORT_OPTIONS_SIZE]>(options)?;
    let name = construct(&task, &options)?;
    copyout_val(&name, name_out).map_err(|fault| {
        let _ = destruct(&task, name, 0).or_else(|_| task.itk_space.destroy_receive(name));
        KernReturn::from(fault)
    })
}

/// −25: `mach_port_destruct(target, name, srdelta, guard)`.
pub fn _kernelrpc_mach_port_destruct_trap(
    target: MachPortName,
    name: MachPortName,
    srdelta: i32,
    _guard: u64,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    destruct(&task, name, srdelta)
}

/// −40: `mach_port_get_attributes(target, name, flavor, info*, &count)`: `count` in is the
/// room at `info` (in words), out the words written.
pub fn _kernelrpc_mach_port_get_attributes_trap(
    target: MachPortName,
    name: MachPortName,
    flavor: i32,
    info: UserAddr,
    count: UserAddr,
) -> Result<(), KernReturn> {
    let task = current_task_for(target)?;
    let count = UserPtr::<u32>::new(count.0)?;
    let room = count.read()?;
    let port = task.itk_space.lookup_port(name, mach::port::MACH_PORT_TYPE_RECEIVE)?;
    let words = port.attributes(flavor as u32, room)?;
    UserSlice::new(info.0, words.as_bytes().len())?.write_at(0, words.as_bytes())?;
    Ok(count.write(&(words.len() as u32))?)
}
