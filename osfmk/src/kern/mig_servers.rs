//! The kernel's MIG servers: one handler per kernel-served routine of `mach::defs`, each
//! turning its typed request (`ipc_kobject::routines::<name>::Request`) into a call on the
//! object behind the destination port — a task's space (`mach_port_*`), the task (`task_*`),
//! a thread (`thread_*`), a task's map (`mach_vm_*`) or the host — and its result into the
//! typed reply. The table [`MIG_SERVERS`] is generated from the same declaration
//! (`mach::for_each_mig_routine!`): a routine declared `kernel` without a handler here, or a
//! handler answering a reply of another shape, does not compile. `ipc_kobject` does the
//! decoding, dispatch and reply layout; the work itself lives with the objects.

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use mach::defs;
use mach::mig::Routine;
use mach::port::{MACH_PORT_LIMITS_INFO, MACH_PORT_QLIMIT_MAX, MACH_PORT_TYPE_RECEIVE};

use crate::arm64::copyio::{UserAddr, copyout_to_map};
use crate::ipc::ipc_kmsg::MsgRight;
use crate::ipc::ipc_port::PortRef;
use crate::kern::host::Host;
use crate::kern::ipc_kobject::routines::*;
use crate::kern::ipc_kobject::{MigContext, OolData, ServerFn, kobject_from_port};
use crate::kern::sched_prim;
use crate::kern::sync_sema::Semaphore;
use crate::kern::task::Task;
use crate::kern::thread::Thread;
use crate::kern::thread_act;
use crate::vm::vm_map_copy::{VmMapCopy, vm_map_copy_cost, vm_map_copyin};
use crate::vm::vm_memory_entry::{MAP_MEM_NAMED_CREATE, VmNamedEntry};
use crate::vm::vm_page::{PAGE_SIZE, kernel_page_pool, vm_page_counts};
use crate::vm::vm_user;
use mach::vm::VmProt;

/// A `kernel` routine's entry: its handler (the function of the routine's name below),
/// behind the generated parse and reply; a `user` routine has none.
macro_rules! server_entry {
    (kernel, $name:ident) => {
        Some(|port, inc| $name::serve(port, inc, $name))
    };
    (user, $name:ident) => {
        None
    };
}

macro_rules! server_table {
    ($( ($konst:ident, $id:literal, $name:ident, $server:ident, [$($p:tt)*], [$($r:tt)*]) ),* $(,)?) => {
        /// Every routine of `mach::defs` with its kernel server (`None` for the routines
        /// user-space servers answer), in declaration order.
        pub static MIG_SERVERS: &[(&Routine, Option<ServerFn>)] =
            &[$((&defs::$konst, server_entry!($server, $name))),*];
    };
}

mach::for_each_mig_routine!(server_table);

/// The routine with message id `id` and its server, if the kernel serves it.
pub fn server(id: i32) -> Option<(&'static Routine, ServerFn)> {
    MIG_SERVERS.iter().find(|(r, _)| r.id == id).and_then(|(r, s)| s.map(|s| (*r, s)))
}

type Result<T> = core::result::Result<T, KernReturn>;

// ---- mach_port: the target task's name space -------------------------------------------

fn mach_port_names(
    port: &PortRef,
    _: mach_port_names::Request,
    _: &mut MigContext,
) -> Result<mach_port_names::Reply> {
    let names = kobject_from_port::<Task>(port)?.itk_space.names()?;
    let (mut n, mut t) = (Vec::new(), Vec::new());
    for (name, view) in &names {
        n.extend_from_slice(&name.to_le_bytes());
        t.extend_from_slice(&view.right_type.to_le_bytes());
    }
    let pool = kernel_page_pool();
    Ok(mach_port_names::Reply {
        names: OolData { copy: Some(VmMapCopy::from_bytes(&pool, &n)?), size: n.len() as u32 },
        types: OolData { copy: Some(VmMapCopy::from_bytes(&pool, &t)?), size: t.len() as u32 },
    })
}

fn mach_port_type(
    port: &PortRef,
    req: mach_port_type::Request,
    _: &mut MigContext,
) -> Result<mach_port_type::Reply> {
    let ptype = kobject_from_port::<Task>(port)?.itk_space.port_type(req.name)?;
    Ok(mach_port_type::Reply { ptype })
}

fn mach_port_allocate(
    port: &PortRef,
    req: mach_port_allocate::Request,
    _: &mut MigContext,
) -> Result<mach_port_allocate::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let name = crate::ipc::mach_kernelrpc::allocate(&task, u64::from(req.right))?;
    Ok(mach_port_allocate::Reply { name })
}

fn mach_port_move_member(
    port: &PortRef,
    req: mach_port_move_member::Request,
    _: &mut MigContext,
) -> Result<mach_port_move_member::Reply> {
    kobject_from_port::<Task>(port)?.itk_space.move_member(req.member, req.after)?;
    Ok(mach_port_move_member::Reply {})
}

fn mach_port_insert_member(
    port: &PortRef,
    req: mach_port_insert_member::Request,
    _: &mut MigContext,
) -> Result<mach_port_insert_member::Reply> {
    kobject_from_port::<Task>(port)?.itk_space.insert_member(req.name, req.pset)?;
    Ok(mach_port_insert_member::Reply {})
}

fn mach_port_extract_member(
    port: &PortRef,
    req: mach_port_extract_member::Request,
    _: &mut MigContext,
) -> Result<mach_port_extract_member::Reply> {
    kobject_from_port::<Task>(port)?.itk_space.extract_member(req.name, req.pset)?;
    Ok(mach_port_extract_member::Reply {})
}

fn mach_port_deallocate(
    port: &PortRef,
    req: mach_port_deallocate::Request,
    _: &mut MigContext,
) -> Result<mach_port_deallocate::Reply> {
    kobject_from_port::<Task>(port)?.itk_space.deallocate(req.name)?;
    Ok(mach_port_deallocate::Reply {})
}

fn mach_port_get_refs(
    port: &PortRef,
    req: mach_port_get_refs::Request,
    _: &mut MigContext,
) -> Result<mach_port_get_refs::Reply> {
    let refs = kobject_from_port::<Task>(port)?.itk_space.get_refs(req.name, req.right)?;
    Ok(mach_port_get_refs::Reply { refs })
}

fn mach_port_mod_refs(
    port: &PortRef,
    req: mach_port_mod_refs::Request,
    _: &mut MigContext,
) -> Result<mach_port_mod_refs::Reply> {
    kobject_from_port::<Task>(port)?.itk_space.mod_refs(req.name, req.right, req.delta as i32)?;
    Ok(mach_port_mod_refs::Reply {})
}

fn mach_port_insert_right(
    port: &PortRef,
    req: mach_port_insert_right::Request,
    _: &mut MigContext,
) -> Result<mach_port_insert_right::Reply> {
    kobject_from_port::<Task>(port)?.itk_space.insert_right_named(req.name, req.poly)?;
    Ok(mach_port_insert_right::Reply {})
}

fn mach_port_request_notification(
    port: &PortRef,
    req: mach_port_request_notification::Request,
    _: &mut MigContext,
) -> Result<mach_port_request_notification::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let previous = task.itk_space.request_notification(req.name, req.msgid as i32, req.sync, req.notify)?;
    Ok(mach_port_request_notification::Reply { previous })
}

fn mach_port_extract_right(
    port: &PortRef,
    req: mach_port_extract_right::Request,
    _: &mut MigContext,
) -> Result<mach_port_extract_right::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let mut rights =
        task.itk_space.copyin_rights(&[(req.name, req.msgt_name)], false).map_err(|(_, kr)| kr)?;
    Ok(mach_port_extract_right::Reply { poly: rights.pop().unwrap_or(MsgRight::Null) })
}

fn mach_port_get_attributes(
    port: &PortRef,
    req: mach_port_get_attributes::Request,
    _: &mut MigContext,
) -> Result<mach_port_get_attributes::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let target = task.itk_space.lookup_port(req.name, MACH_PORT_TYPE_RECEIVE)?;
    Ok(mach_port_get_attributes::Reply { port_info: target.attributes(req.flavor, req.count)? })
}

fn mach_port_construct(
    port: &PortRef,
    req: mach_port_construct::Request,
    _: &mut MigContext,
) -> Result<mach_port_construct::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let name = crate::ipc::mach_kernelrpc::construct(&task, &req.options)?;
    Ok(mach_port_construct::Reply { name })
}

fn mach_port_destruct(
    port: &PortRef,
    req: mach_port_destruct::Request,
    _: &mut MigContext,
) -> Result<mach_port_destruct::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    crate::ipc::mach_kernelrpc::destruct(&task, req.name, req.srdelta as i32)?;
    Ok(mach_port_destruct::Reply {})
}

fn mach_port_set_attributes(
    port: &PortRef,
    req: mach_port_set_attributes::Request,
    _: &mut MigContext,
) -> Result<mach_port_set_attributes::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let target = task.itk_space.lookup_port(req.name, MACH_PORT_TYPE_RECEIVE)?;
    match (req.flavor, req.info.first()) {
        (MACH_PORT_LIMITS_INFO, Some(&qlimit)) => {
            if qlimit > MACH_PORT_QLIMIT_MAX {
                return Err(KernReturn::KERN_INVALID_VALUE);
            }
            target.set_qlimit(qlimit);
            Ok(mach_port_set_attributes::Reply {})
        }
        (MACH_PORT_LIMITS_INFO, None) => Err(KernReturn::KERN_FAILURE),
        _ => Err(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

// ---- task ----------------------------------------------------------------------------------

/// `task_terminate`: a BSD process is killed (and reaped by its parent as usual); a bare
/// Mach task is torn down at once. Terminating the caller's own task ends it on its way out.
fn task_terminate(
    port: &PortRef,
    _: task_terminate::Request,
    _: &mut MigContext,
) -> Result<task_terminate::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let by_bsd = crate::kern::exception::bsd_hooks().is_some_and(|h| h.task_terminate(&task));
    if !by_bsd {
        task.terminate();
    }
    Ok(task_terminate::Reply {})
}

fn task_threads(port: &PortRef, _: task_threads::Request, _: &mut MigContext) -> Result<task_threads::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let act_list = task.threads().iter().map(|t| MsgRight::Send(t.self_port().make_send())).collect();
    Ok(task_threads::Reply { act_list })
}

fn task_info(port: &PortRef, req: task_info::Request, _: &mut MigContext) -> Result<task_info::Reply> {
    let task_info_out = kobject_from_port::<Task>(port)?.task_info(req.flavor, req.count)?;
    Ok(task_info::Reply { task_info_out })
}

fn task_suspend(port: &PortRef, _: task_suspend::Request, _: &mut MigContext) -> Result<task_suspend::Reply> {
    kobject_from_port::<Task>(port)?.suspend();
    Ok(task_suspend::Reply {})
}

fn task_resume(port: &PortRef, _: task_resume::Request, _: &mut MigContext) -> Result<task_resume::Reply> {
    kobject_from_port::<Task>(port)?.resume()?;
    Ok(task_resume::Reply {})
}

fn task_get_special_port(
    port: &PortRef,
    req: task_get_special_port::Request,
    _: &mut MigContext,
) -> Result<task_get_special_port::Reply> {
    let right = kobject_from_port::<Task>(port)?.get_special_port(req.which as i32)?;
    Ok(task_get_special_port::Reply { special_port: right.map_or(MsgRight::Null, MsgRight::Send) })
}

fn task_set_special_port(
    port: &PortRef,
    req: task_set_special_port::Request,
    _: &mut MigContext,
) -> Result<task_set_special_port::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    task.set_special_port(req.which as i32, send_right_of(req.port)?)?;
    Ok(task_set_special_port::Reply {})
}

/// A send-right parameter as the routines keep it: a send right, or none (null or dead) to
/// clear; any other right is `KERN_INVALID_ARGUMENT`.
fn send_right_of(right: MsgRight) -> Result<Option<crate::ipc::ipc_port::SendRight>> {
    match right {
        MsgRight::Send(r) => Ok(Some(r)),
        MsgRight::Null | MsgRight::Dead => Ok(None),
        MsgRight::SendOnce(_) | MsgRight::Receive(_) => Err(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

fn task_set_exception_ports(
    port: &PortRef,
    req: task_set_exception_ports::Request,
    _: &mut MigContext,
) -> Result<task_set_exception_ports::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    task.exc_actions.set(req.mask, send_right_of(req.port)?, req.behavior, req.flavor)?;
    Ok(task_set_exception_ports::Reply {})
}

fn thread_set_exception_ports(
    port: &PortRef,
    req: thread_set_exception_ports::Request,
    _: &mut MigContext,
) -> Result<thread_set_exception_ports::Reply> {
    let thread = kobject_from_port::<Thread>(port)?;
    thread.exc_actions.set(req.mask, send_right_of(req.port)?, req.behavior, req.flavor)?;
    Ok(thread_set_exception_ports::Reply {})
}

/// The handlers of `*_get_exception_ports`, then their masks, behaviors and flavors.
fn exception_ports_of(
    actions: &crate::kern::exception::ExceptionActions,
    mask: u32,
) -> Result<(Vec<MsgRight>, Vec<u32>)> {
    if mask & !mach::exception::EXC_MASK_ALL != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let handlers = actions.get_all(mask);
    let mut words = Vec::with_capacity(handlers.len() * 3);
    words.extend(handlers.iter().map(|h| h.0));
    words.extend(handlers.iter().map(|h| h.2));
    words.extend(handlers.iter().map(|h| h.3));
    Ok((handlers.into_iter().map(|h| MsgRight::Send(h.1)).collect(), words))
}

fn task_get_exception_ports(
    port: &PortRef,
    req: task_get_exception_ports::Request,
    _: &mut MigContext,
) -> Result<task_get_exception_ports::Reply> {
    let (handlers, info) = exception_ports_of(&kobject_from_port::<Task>(port)?.exc_actions, req.mask)?;
    Ok(task_get_exception_ports::Reply { handlers, info })
}

fn thread_get_exception_ports(
    port: &PortRef,
    req: thread_get_exception_ports::Request,
    _: &mut MigContext,
) -> Result<thread_get_exception_ports::Reply> {
    let (handlers, info) = exception_ports_of(&kobject_from_port::<Thread>(port)?.exc_actions, req.mask)?;
    Ok(thread_get_exception_ports::Reply { handlers, info })
}

fn semaphore_create(
    port: &PortRef,
    req: semaphore_create::Request,
    _: &mut MigContext,
) -> Result<semaphore_create::Reply> {
    let sem = kobject_from_port::<Task>(port)?.semaphore_create(req.policy, req.value as i32)?;
    Ok(semaphore_create::Reply { semaphore: MsgRight::Send(sem.port().make_send()) })
}

fn semaphore_destroy(
    port: &PortRef,
    req: semaphore_destroy::Request,
    _: &mut MigContext,
) -> Result<semaphore_destroy::Reply> {
    let task = kobject_from_port::<Task>(port)?;
    let sem = req
        .semaphore
        .port()
        .ok_or(KernReturn::KERN_INVALID_ARGUMENT)
        .and_then(kobject_from_port::<Semaphore>)?;
    task.semaphore_destroy(&sem)?;
    Ok(semaphore_destroy::Reply {})
}

// ---- thread_act ----------------------------------------------------------------------------

fn thread_get_state(
    port: &PortRef,
    req: thread_get_state::Request,
    _: &mut MigContext,
) -> Result<thread_get_state::Reply> {
    let old_state = thread_act::thread_get_state(&kobject_from_port::<Thread>(port)?, req.flavor, req.count)?;
    Ok(thread_get_state::Reply { old_state })
}

fn thread_set_state(
    port: &PortRef,
    req: thread_set_state::Request,
    _: &mut MigContext,
) -> Result<thread_set_state::Reply> {
    thread_act::thread_set_state(&kobject_from_port::<Thread>(port)?, req.flavor, &req.new_state)?;
    Ok(thread_set_state::Reply {})
}

/// `thread_terminate`: the thread ends the next time it would return to user mode (at once
/// if it is waiting interruptibly).
fn thread_terminate(
    port: &PortRef,
    _: thread_terminate::Request,
    _: &mut MigContext,
) -> Result<thread_terminate::Reply> {
    sched_prim::thread_terminate(&kobject_from_port::<Thread>(port)?);
    Ok(thread_terminate::Reply {})
}

fn thread_suspend(
    port: &PortRef,
    _: thread_suspend::Request,
    _: &mut MigContext,
) -> Result<thread_suspend::Reply> {
    sched_prim::thread_suspend(&kobject_from_port::<Thread>(port)?);
    Ok(thread_suspend::Reply {})
}

fn thread_resume(
    port: &PortRef,
    _: thread_resume::Request,
    _: &mut MigContext,
) -> Result<thread_resume::Reply> {
    sched_prim::thread_resume(&*kobject_from_port::<Thread>(port)?)?;
    Ok(thread_resume::Reply {})
}

fn thread_info(port: &PortRef, req: thread_info::Request, _: &mut MigContext) -> Result<thread_info::Reply> {
    let thread_info_out =
        thread_act::thread_info(&*kobject_from_port::<Thread>(port)?, req.flavor, req.count)?;
    Ok(thread_info::Reply { thread_info_out })
}

// ---- mach_vm: the target task's address space -----------------------------------------------

/// `f` on the target task's map, write-locked.
fn with_map<R>(port: &PortRef, f: impl FnOnce(&mut crate::vm::vm_map::VmMap) -> Result<R>) -> Result<R> {
    kobject_from_port::<Task>(port)?.with_map(f)
}

/// `f` on the target task's map, read-locked.
fn with_map_read<R>(port: &PortRef, f: impl FnOnce(&crate::vm::vm_map::VmMap) -> Result<R>) -> Result<R> {
    kobject_from_port::<Task>(port)?.with_map_read(f)
}

fn mach_vm_allocate(
    port: &PortRef,
    req: mach_vm_allocate::Request,
    _: &mut MigContext,
) -> Result<mach_vm_allocate::Reply> {
    let address = with_map(port, |map| vm_user::mach_vm_allocate(map, req.address, req.size, req.flags))?;
    Ok(mach_vm_allocate::Reply { address })
}

fn mach_vm_deallocate(
    port: &PortRef,
    req: mach_vm_deallocate::Request,
    _: &mut MigContext,
) -> Result<mach_vm_deallocate::Reply> {
    with_map(port, |map| vm_user::mach_vm_deallocate(map, req.address, req.size))?;
    Ok(mach_vm_deallocate::Reply {})
}

fn mach_vm_protect(
    port: &PortRef,
    req: mach_vm_protect::Request,
    _: &mut MigContext,
) -> Result<mach_vm_protect::Reply> {
    let (set_max, prot) = (req.set_maximum != 0, req.new_protection as i32);
    with_map(port, |map| vm_user::mach_vm_protect(map, req.address, req.size, set_max, prot))?;
    Ok(mach_vm_protect::Reply {})
}

fn mach_vm_read(
    port: &PortRef,
    req: mach_vm_read::Request,
    ctx: &mut MigContext,
) -> Result<mach_vm_read::Reply> {
    let (addr, size) = (req.address, req.size);
    let count = u32::try_from(size).map_err(|_| KernReturn::KERN_INVALID_ARGUMENT)?;
    // The reply holds the copy: its segments are charged to the caller before it is made.
    let charge = &mut ctx.charge;
    let copy = with_map(port, |map| {
        let cost = vm_map_copy_cost(map, addr, size);
        if !charge.as_mut().is_some_and(|c| c.grow(cost)) {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        vm_map_copyin(map, addr, size, false)
    })?;
    Ok(mach_vm_read::Reply { data: OolData { copy: Some(copy), size: count } })
}

fn mach_vm_write(
    port: &PortRef,
    req: mach_vm_write::Request,
    _: &mut MigContext,
) -> Result<mach_vm_write::Reply> {
    let addr = req.address;
    let Some(copy) = req.data else { return Ok(mach_vm_write::Reply {}) };
    with_map(port, |map| {
        // A page at a time through the kernel: the target's protections apply as they would
        // to the task itself (a read-only page is KERN_PROTECTION_FAILURE). The target is
        // usually another task, whose map is not the current address space: the software
        // path, under its write lock.
        let mut page = alloc::vec![0u8; PAGE_SIZE as usize];
        let mut done = 0u64;
        while done < copy.size() {
            let n = (copy.size() - done).min(PAGE_SIZE) as usize;
            copy.read(done, &mut page[..n]);
            let dst = addr.checked_add(done).ok_or(KernReturn::KERN_INVALID_ADDRESS)?;
            copyout_to_map(map, &page[..n], UserAddr(dst)).map_err(|_| KernReturn::KERN_INVALID_ADDRESS)?;
            done += n as u64;
        }
        Ok(mach_vm_write::Reply {})
    })
}

fn mach_vm_region(
    port: &PortRef,
    req: mach_vm_region::Request,
    _: &mut MigContext,
) -> Result<mach_vm_region::Reply> {
    if req.count < mach::vm::VM_REGION_BASIC_INFO_COUNT_64 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let region = with_map_read(port, |map| vm_user::mach_vm_region(map, req.address, req.flavor as i32))?;
    let bytes = region.info.to_bytes();
    let info = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(mach_vm_region::Reply { object_name: MsgRight::Null, address: region.start, size: region.size, info })
}

/// The named entry a request's port right stands for (None for `MACH_PORT_NULL`).
fn named_entry(right: MsgRight) -> Result<Option<Arc<VmNamedEntry>>> {
    match right {
        MsgRight::Null => Ok(None),
        other => other
            .port()
            .ok_or(KernReturn::KERN_INVALID_ARGUMENT)
            .and_then(kobject_from_port::<VmNamedEntry>)
            .map(Some),
    }
}

fn mach_make_memory_entry_64(
    port: &PortRef,
    req: mach_make_memory_entry_64::Request,
    _: &mut MigContext,
) -> Result<mach_make_memory_entry_64::Reply> {
    let (size, offset, permission) = (req.size, req.offset, req.permission);
    let prot = VmProt((permission & VmProt::ALL.0 as u32) as i32);
    if permission & !(VmProt::ALL.0 as u32 | MAP_MEM_NAMED_CREATE) != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    // Each entry is a port: the same budget as ports users allocate.
    if !crate::kern::budget::user_port_allowed() {
        return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
    }
    let entry = match named_entry(req.parent_entry)? {
        Some(parent) => {
            let size = size.checked_next_multiple_of(PAGE_SIZE).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
            parent.sub_entry(offset, size, prot)?
        }
        None if permission & MAP_MEM_NAMED_CREATE != 0 => vm_user::make_memory_entry_create(size, prot)?,
        None => with_map(port, |map| vm_user::make_memory_entry(map, offset, size, prot))?,
    };
    let size = entry.size;
    Ok(mach_make_memory_entry_64::Reply { object_handle: MsgRight::Send(entry.into_port()), size })
}

fn mach_vm_map(port: &PortRef, req: mach_vm_map::Request, _: &mut MigContext) -> Result<mach_vm_map::Reply> {
    let (addr, size, mask, flags, offset) = (req.address, req.size, req.mask, req.flags, req.offset);
    let (cur, max) = (VmProt(req.cur_protection as i32), VmProt(req.max_protection as i32));
    let (copy, inheritance) = (req.copy != 0, mach::vm::VmInherit(req.inheritance));
    let entry = named_entry(req.object)?;
    let address = with_map(port, |map| match &entry {
        Some(e) => {
            vm_user::mach_vm_map_entry(map, addr, size, mask, flags, e, offset, copy, cur, max, inheritance)
        }
        None => vm_user::mach_vm_map(map, addr, size, mask, flags, cur, max, inheritance),
    })?;
    Ok(mach_vm_map::Reply { address })
}

// ---- host ----------------------------------------------------------------------------------

use mach::info::{
    CPU_STATE_MAX, CPU_TYPE_ARM64, HOST_BASIC_INFO, HOST_BASIC_INFO_COUNT, HOST_BASIC_INFO_OLD_COUNT,
    HOST_CPU_LOAD_INFO, HOST_CPU_LOAD_INFO_COUNT, HOST_SCHED_INFO, HOST_SCHED_INFO_COUNT, HOST_VM_INFO,
    HOST_VM_INFO_COUNT, PROCESSOR_CPU_LOAD_INFO,
};

use crate::kern::processor;

fn host_info(port: &PortRef, req: host_info::Request, _: &mut MigContext) -> Result<host_info::Reply> {
    kobject_from_port::<Host>(port)?;
    let (flavor, count) = (req.flavor, req.count);
    let words = match flavor {
        HOST_BASIC_INFO if count < HOST_BASIC_INFO_OLD_COUNT => return Err(KernReturn::KERN_FAILURE),
        HOST_BASIC_INFO => {
            let memory = vm_page_counts().1 * PAGE_SIZE;
            let (max, avail) = (processor::max_cpus(), processor::avail_cpus());
            let mut words = alloc::vec![
                max,
                avail,
                memory.min(u64::from(u32::MAX)) as u32,
                CPU_TYPE_ARM64,
                0,
                0,
                // physical_cpu(_max), logical_cpu(_max): one core per CPU, one thread each.
                avail,
                max,
                avail,
                max,
                memory as u32,
                (memory >> 32) as u32,
            ];
            // An older caller's shorter structure gets the fields it has room for.
            if count < HOST_BASIC_INFO_COUNT {
                words.truncate(HOST_BASIC_INFO_OLD_COUNT as usize);
            }
            words
        }
        HOST_SCHED_INFO if count >= HOST_SCHED_INFO_COUNT => {
            let quantum_ms =
                crate::kern::clock::absolutetime_to_nanoseconds(sched_prim::quantum_ticks()) / 1_000_000;
            alloc::vec![1, quantum_ms as u32]
        }
        _ => return Err(KernReturn::KERN_INVALID_ARGUMENT),
    };
    Ok(host_info::Reply { host_info_out: words })
}

/// `host_processor_info`: the processors' load counters out of line (one
/// `{user, system, idle, nice}` quadruple per processor, in 10 ms ticks), and their number.
fn host_processor_info(
    port: &PortRef,
    req: host_processor_info::Request,
    _: &mut MigContext,
) -> Result<host_processor_info::Reply> {
    kobject_from_port::<Host>(port)?;
    if req.flavor != PROCESSOR_CPU_LOAD_INFO {
        return Err(KernReturn::KERN_FAILURE);
    }
    let words = processor::processor_cpu_load_info();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let processors = (words.len() / CPU_STATE_MAX) as u32;
    let copy = VmMapCopy::from_bytes(&kernel_page_pool(), &bytes)?;
    Ok(host_processor_info::Reply {
        out_processor_count: processors,
        out_processor_info: OolData { copy: Some(copy), size: bytes.len() as u32 },
    })
}

fn host_statistics(
    port: &PortRef,
    req: host_statistics::Request,
    _: &mut MigContext,
) -> Result<host_statistics::Reply> {
    kobject_from_port::<Host>(port)?;
    let (flavor, count) = (req.flavor, req.count);
    if flavor == HOST_CPU_LOAD_INFO {
        if count < HOST_CPU_LOAD_INFO_COUNT {
            return Err(KernReturn::KERN_FAILURE);
        }
        return Ok(host_statistics::Reply { host_info_out: processor::host_cpu_load_info().to_vec() });
    }
    if flavor != HOST_VM_INFO || count < HOST_VM_INFO_COUNT {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let (free, total) = vm_page_counts();
    let mut words = alloc::vec![0u32; HOST_VM_INFO_COUNT as usize];
    words[0] = free as u32;
    // Every page not free is in use by someone: report it as active.
    words[1] = total.saturating_sub(free) as u32;
    Ok(host_statistics::Reply { host_info_out: words })
}

/// The host's privileged routines need a root caller (XNU asks for the host-priv port, which
/// only root can get; this kernel has one host port and checks the caller instead).
fn host_priv(port: &PortRef) -> Result<()> {
    kobject_from_port::<Host>(port)?;
    let task = sched_prim::current_thread().task.clone();
    let token = crate::kern::exception::bsd_hooks().and_then(|h| h.audit_token(&task));
    match token {
        Some(t) if t[1] == 0 => Ok(()),
        _ => Err(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

fn host_set_exception_ports(
    port: &PortRef,
    req: host_set_exception_ports::Request,
    _: &mut MigContext,
) -> Result<host_set_exception_ports::Reply> {
    host_priv(port)?;
    let handler = send_right_of(req.port)?;
    crate::kern::exception::host_exception_actions().set(req.mask, handler, req.behavior, req.flavor)?;
    Ok(host_set_exception_ports::Reply {})
}

fn host_get_exception_ports(
    port: &PortRef,
    req: host_get_exception_ports::Request,
    _: &mut MigContext,
) -> Result<host_get_exception_ports::Reply> {
    host_priv(port)?;
    let (handlers, info) = exception_ports_of(crate::kern::exception::host_exception_actions(), req.mask)?;
    Ok(host_get_exception_ports::Reply { handlers, info })
}
