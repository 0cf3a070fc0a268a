//! The kernel's MIG servers: one handler per routine of `mach::defs`, each turning the
//! decoded request into a call on the object behind the destination port — a task's space
//! (`mach_port_*`), the task (`task_*`), a thread (`thread_*`), a task's map (`mach_vm_*`) or
//! the host — and its result into the reply's values. `ipc_kobject` does the decoding,
//! dispatch and reply layout; the work itself lives with the objects.

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use mach::defs;
use mach::mig::Routine;
use mach::port::{MACH_PORT_LIMITS_INFO, MACH_PORT_QLIMIT_MAX, MACH_PORT_TYPE_RECEIVE};

use crate::arm64::copyio::{UserAddr, copyout_to_map};
use crate::ipc::ipc_kmsg::MsgRight;
use crate::ipc::ipc_port::{IkotType, PortRef};
use crate::kern::host::Host;
use crate::kern::ipc_kobject::{Handler, KOut, Request, kobject_of};
use crate::kern::sched_prim;
use crate::kern::task::Task;
use crate::kern::thread::Thread;
use crate::kern::thread_act;
use crate::vm::vm_map_copy::{VmMapCopy, vm_map_copy_cost, vm_map_copyin};
use crate::vm::vm_memory_entry::{MAP_MEM_NAMED_CREATE, VmNamedEntry};
use crate::vm::vm_page::{PAGE_SIZE, kernel_page_pool, vm_page_counts};
use crate::vm::vm_user;
use mach::vm::VmProt;

/// Every routine this kernel serves, with its handler.
pub static MIG_SERVERS: &[(&Routine, Handler)] = &[
    (&defs::MACH_PORT_NAMES, mach_port_names),
    (&defs::MACH_PORT_TYPE, mach_port_type),
    (&defs::MACH_PORT_ALLOCATE, mach_port_allocate),
    (&defs::MACH_PORT_DEALLOCATE, mach_port_deallocate),
    (&defs::MACH_PORT_GET_REFS, mach_port_get_refs),
    (&defs::MACH_PORT_MOD_REFS, mach_port_mod_refs),
    (&defs::MACH_PORT_MOVE_MEMBER, mach_port_move_member),
    (&defs::MACH_PORT_INSERT_MEMBER, mach_port_insert_member),
    (&defs::MACH_PORT_EXTRACT_MEMBER, mach_port_extract_member),
    (&defs::MACH_PORT_REQUEST_NOTIFICATION, mach_port_request_notification),
    (&defs::MACH_PORT_INSERT_RIGHT, mach_port_insert_right),
    (&defs::MACH_PORT_EXTRACT_RIGHT, mach_port_extract_right),
    (&defs::MACH_PORT_GET_ATTRIBUTES, mach_port_get_attributes),
    (&defs::MACH_PORT_SET_ATTRIBUTES, mach_port_set_attributes),
    (&defs::MACH_PORT_CONSTRUCT, mach_port_construct),
    (&defs::MACH_PORT_DESTRUCT, mach_port_destruct),
    (&defs::TASK_TERMINATE, task_terminate),
    (&defs::TASK_THREADS, task_threads),
    (&defs::TASK_INFO, task_info),
    (&defs::TASK_SUSPEND, task_suspend),
    (&defs::TASK_RESUME, task_resume),
    (&defs::TASK_GET_SPECIAL_PORT, task_get_special_port),
    (&defs::TASK_SET_SPECIAL_PORT, task_set_special_port),
    (&defs::TASK_SET_EXCEPTION_PORTS, task_set_exception_ports),
    (&defs::TASK_GET_EXCEPTION_PORTS, task_get_exception_ports),
    (&defs::SEMAPHORE_CREATE, semaphore_create),
    (&defs::SEMAPHORE_DESTROY, semaphore_destroy),
    (&defs::THREAD_TERMINATE, thread_terminate),
    (&defs::THREAD_GET_STATE, thread_get_state),
    (&defs::THREAD_SET_STATE, thread_set_state),
    (&defs::THREAD_SUSPEND, thread_suspend),
    (&defs::THREAD_RESUME, thread_resume),
    (&defs::THREAD_INFO, thread_info),
    (&defs::THREAD_SET_EXCEPTION_PORTS, thread_set_exception_ports),
    (&defs::THREAD_GET_EXCEPTION_PORTS, thread_get_exception_ports),
    (&defs::MACH_VM_ALLOCATE, mach_vm_allocate),
    (&defs::MACH_VM_DEALLOCATE, mach_vm_deallocate),
    (&defs::MACH_VM_PROTECT, mach_vm_protect),
    (&defs::MACH_VM_READ, mach_vm_read),
    (&defs::MACH_VM_WRITE, mach_vm_write),
    (&defs::MACH_VM_REGION, mach_vm_region),
    (&defs::MACH_VM_MAP, mach_vm_map),
    (&defs::MACH_MAKE_MEMORY_ENTRY_64, mach_make_memory_entry_64),
    (&defs::HOST_INFO, host_info),
    (&defs::HOST_PROCESSOR_INFO, host_processor_info),
    (&defs::HOST_STATISTICS, host_statistics),
    (&defs::HOST_SET_EXCEPTION_PORTS, host_set_exception_ports),
    (&defs::HOST_GET_EXCEPTION_PORTS, host_get_exception_ports),
];

type Reply = Result<Vec<KOut>, KernReturn>;

fn task_of(port: &PortRef) -> Result<Arc<Task>, KernReturn> {
    kobject_of::<Task>(port, IkotType::TaskControl)
}

fn thread_of(port: &PortRef) -> Result<Arc<Thread>, KernReturn> {
    kobject_of::<Thread>(port, IkotType::ThreadControl)
}

fn done(r: Result<(), KernReturn>) -> Reply {
    r.map(|()| Vec::new())
}

// ---- mach_port: the target task's name space -------------------------------------------

fn mach_port_names(port: &PortRef, _: &mut Request<'_>) -> Reply {
    let names = task_of(port)?.itk_space.names()?;
    let (mut n, mut t) = (Vec::new(), Vec::new());
    for (name, view) in &names {
        n.extend_from_slice(&name.to_le_bytes());
        t.extend_from_slice(&view.right_type.to_le_bytes());
    }
    let pool = kernel_page_pool();
    Ok(alloc::vec![
        KOut::Ool(Some(VmMapCopy::from_bytes(&pool, &n)?), n.len() as u32),
        KOut::Ool(Some(VmMapCopy::from_bytes(&pool, &t)?), t.len() as u32),
    ])
}

fn mach_port_type(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let ty = task_of(port)?.itk_space.port_type(req.args[0].int())?;
    Ok(alloc::vec![KOut::Int(ty)])
}

fn mach_port_allocate(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let name = crate::ipc::mach_kernelrpc::allocate(&task, u64::from(req.args[0].int()))?;
    Ok(alloc::vec![KOut::Int(name)])
}

fn mach_port_move_member(port: &PortRef, req: &mut Request<'_>) -> Reply {
    done(task_of(port)?.itk_space.move_member(req.args[0].int(), req.args[1].int()))
}

fn mach_port_insert_member(port: &PortRef, req: &mut Request<'_>) -> Reply {
    done(task_of(port)?.itk_space.insert_member(req.args[0].int(), req.args[1].int()))
}

fn mach_port_extract_member(port: &PortRef, req: &mut Request<'_>) -> Reply {
    done(task_of(port)?.itk_space.extract_member(req.args[0].int(), req.args[1].int()))
}

fn mach_port_deallocate(port: &PortRef, req: &mut Request<'_>) -> Reply {
    done(task_of(port)?.itk_space.deallocate(req.args[0].int()))
}

fn mach_port_get_refs(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let refs = task_of(port)?.itk_space.get_refs(req.args[0].int(), req.args[1].int())?;
    Ok(alloc::vec![KOut::Int(refs)])
}

fn mach_port_mod_refs(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let [name, right, delta] = [0, 1, 2].map(|i| req.args[i].int());
    done(task_of(port)?.itk_space.mod_refs(name, right, delta as i32))
}

fn mach_port_insert_right(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let right = req.take_port();
    done(task.itk_space.insert_right_named(req.args[0].int(), right))
}

fn mach_port_request_notification(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let notify = req.take_port();
    let [name, msgid, sync] = [0, 1, 2].map(|i| req.args[i].int());
    let previous = task.itk_space.request_notification(name, msgid as i32, sync, notify)?;
    Ok(alloc::vec![KOut::Port(previous)])
}

fn mach_port_extract_right(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let request = [(req.args[0].int(), req.args[1].int())];
    let mut rights = task.itk_space.copyin_rights(&request, false).map_err(|(_, kr)| kr)?;
    Ok(alloc::vec![KOut::Port(rights.pop().unwrap_or(MsgRight::Null))])
}

fn mach_port_get_attributes(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let [name, flavor, count] = [0, 1, 2].map(|i| req.args[i].int());
    let target = task.itk_space.lookup_port(name, MACH_PORT_TYPE_RECEIVE)?;
    Ok(alloc::vec![KOut::Words(target.attributes(flavor, count)?)])
}

fn mach_port_construct(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let mach::mig::Arg::Bytes(options) = req.args[0] else { return Err(KernReturn::KERN_INVALID_ARGUMENT) };
    let name = crate::ipc::mach_kernelrpc::construct(&task, options)?;
    Ok(alloc::vec![KOut::Int(name)])
}

fn mach_port_destruct(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let (name, srdelta) = (req.args[0].int(), req.args[1].int() as i32);
    done(crate::ipc::mach_kernelrpc::destruct(&task, name, srdelta))
}

fn mach_port_set_attributes(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let (name, flavor) = (req.args[0].int(), req.args[1].int());
    let mach::mig::Arg::Array(words) = req.args[2] else { return Err(KernReturn::KERN_INVALID_ARGUMENT) };
    let target = task.itk_space.lookup_port(name, MACH_PORT_TYPE_RECEIVE)?;
    match flavor {
        MACH_PORT_LIMITS_INFO if !words.is_empty() => {
            let qlimit = words.get(0);
            if qlimit > MACH_PORT_QLIMIT_MAX {
                return Err(KernReturn::KERN_INVALID_VALUE);
            }
            target.set_qlimit(qlimit);
            Ok(Vec::new())
        }
        MACH_PORT_LIMITS_INFO => Err(KernReturn::KERN_FAILURE),
        _ => Err(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

// ---- task ----------------------------------------------------------------------------------

/// `task_terminate`: a BSD process is killed (and reaped by its parent as usual); a bare
/// Mach task is torn down at once. Terminating the caller's own task ends it on its way out.
fn task_terminate(port: &PortRef, _: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let by_bsd = crate::kern::exception::bsd_hooks().is_some_and(|h| h.task_terminate(&task));
    if !by_bsd {
        task.terminate();
    }
    Ok(Vec::new())
}

fn task_threads(port: &PortRef, _: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let rights = task.threads().iter().map(|t| MsgRight::Send(t.self_port().make_send())).collect();
    Ok(alloc::vec![KOut::OolPorts(rights)])
}

fn task_info(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let words = task_of(port)?.task_info(req.args[0].int(), req.args[1].int())?;
    Ok(alloc::vec![KOut::Words(words)])
}

fn task_suspend(port: &PortRef, _: &mut Request<'_>) -> Reply {
    task_of(port)?.suspend();
    Ok(Vec::new())
}

fn task_resume(port: &PortRef, _: &mut Request<'_>) -> Reply {
    done(task_of(port)?.resume())
}

fn task_get_special_port(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let right = task_of(port)?.get_special_port(req.args[0].int() as i32)?;
    Ok(alloc::vec![KOut::Port(right.map_or(MsgRight::Null, MsgRight::Send))])
}

fn task_set_special_port(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let right = match req.take_port() {
        MsgRight::Send(r) => Some(r),
        MsgRight::Null | MsgRight::Dead => None,
        MsgRight::SendOnce(_) | MsgRight::Receive(_) => return Err(KernReturn::KERN_INVALID_ARGUMENT),
    };
    done(task.set_special_port(req.args[0].int() as i32, right))
}

/// The handler port of a `*_set_exception_ports` request: a send right, or none to clear.
fn handler_of(req: &mut Request<'_>) -> Result<Option<crate::ipc::ipc_port::SendRight>, KernReturn> {
    match req.take_port() {
        MsgRight::Send(r) => Ok(Some(r)),
        MsgRight::Null | MsgRight::Dead => Ok(None),
        MsgRight::SendOnce(_) | MsgRight::Receive(_) => Err(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

fn task_set_exception_ports(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let handler = handler_of(req)?;
    let [mask, behavior, flavor] = [0, 2, 3].map(|i| req.args[i].int());
    done(task.exc_actions.set(mask, handler, behavior, flavor))
}

fn thread_set_exception_ports(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let thread = thread_of(port)?;
    let handler = handler_of(req)?;
    let [mask, behavior, flavor] = [0, 2, 3].map(|i| req.args[i].int());
    done(thread.exc_actions.set(mask, handler, behavior, flavor))
}

/// The reply of `*_get_exception_ports`: the handlers, then masks, behaviors and flavors.
fn exception_ports_reply(actions: &crate::kern::exception::ExceptionActions, mask: u32) -> Reply {
    if mask & !mach::exception::EXC_MASK_ALL != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let handlers = actions.get_all(mask);
    let mut words = Vec::with_capacity(handlers.len() * 3);
    words.extend(handlers.iter().map(|h| h.0));
    words.extend(handlers.iter().map(|h| h.2));
    words.extend(handlers.iter().map(|h| h.3));
    let ports = handlers.into_iter().map(|h| MsgRight::Send(h.1)).collect();
    Ok(alloc::vec![KOut::Ports(ports), KOut::Words(words)])
}

fn task_get_exception_ports(port: &PortRef, req: &mut Request<'_>) -> Reply {
    exception_ports_reply(&task_of(port)?.exc_actions, req.args[0].int())
}

fn thread_get_exception_ports(port: &PortRef, req: &mut Request<'_>) -> Reply {
    exception_ports_reply(&thread_of(port)?.exc_actions, req.args[0].int())
}

fn semaphore_create(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let sem = task_of(port)?.semaphore_create(req.args[0].int(), req.args[1].int() as i32)?;
    Ok(alloc::vec![KOut::Port(MsgRight::Send(sem.port().make_send()))])
}

fn semaphore_destroy(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let task = task_of(port)?;
    let right = req.take_port();
    let sem = right
        .port()
        .and_then(|p| p.kobject::<crate::kern::sync_sema::Semaphore>(IkotType::Semaphore))
        .ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
    done(task.semaphore_destroy(&sem))
}

// ---- thread_act ----------------------------------------------------------------------------

fn thread_get_state(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let words = thread_act::thread_get_state(&thread_of(port)?, req.args[0].int(), req.args[1].int())?;
    Ok(alloc::vec![KOut::Words(words)])
}

fn thread_set_state(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let thread = thread_of(port)?;
    let mach::mig::Arg::Array(words) = req.args[1] else { return Err(KernReturn::KERN_INVALID_ARGUMENT) };
    let words: Vec<u32> = (0..words.len()).map(|i| words.get(i)).collect();
    done(thread_act::thread_set_state(&thread, req.args[0].int(), &words))
}

/// `thread_terminate`: the thread ends the next time it would return to user mode (at once
/// if it is waiting interruptibly).
fn thread_terminate(port: &PortRef, _: &mut Request<'_>) -> Reply {
    sched_prim::thread_terminate(&thread_of(port)?);
    Ok(Vec::new())
}

fn thread_suspend(port: &PortRef, _: &mut Request<'_>) -> Reply {
    sched_prim::thread_suspend(&thread_of(port)?);
    Ok(Vec::new())
}

fn thread_resume(port: &PortRef, _: &mut Request<'_>) -> Reply {
    done(sched_prim::thread_resume(&*thread_of(port)?))
}

fn thread_info(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let words = thread_act::thread_info(&*thread_of(port)?, req.args[0].int(), req.args[1].int())?;
    Ok(alloc::vec![KOut::Words(words)])
}

// ---- mach_vm: the target task's address space -----------------------------------------------

/// Run `f` on the target task's map, write-locked.
fn with_map<R>(
    port: &PortRef,
    f: impl FnOnce(&mut crate::vm::vm_map::VmMap) -> Result<R, KernReturn>,
) -> Result<R, KernReturn> {
    let task = task_of(port)?;
    let map = task.map.as_ref().ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
    f(&mut map.write())
}

/// Run `f` on the target task's map, read-locked.
fn with_map_read<R>(
    port: &PortRef,
    f: impl FnOnce(&crate::vm::vm_map::VmMap) -> Result<R, KernReturn>,
) -> Result<R, KernReturn> {
    let task = task_of(port)?;
    let map = task.map.as_ref().ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
    f(&map.read())
}

fn mach_vm_allocate(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (addr, size, flags) = (req.args[0].long(), req.args[1].long(), req.args[2].int());
    let at = with_map(port, |map| vm_user::mach_vm_allocate(map, addr, size, flags))?;
    Ok(alloc::vec![KOut::Long(at)])
}

fn mach_vm_deallocate(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (addr, size) = (req.args[0].long(), req.args[1].long());
    done(with_map(port, |map| vm_user::mach_vm_deallocate(map, addr, size)))
}

fn mach_vm_protect(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (addr, size) = (req.args[0].long(), req.args[1].long());
    let (set_max, prot) = (req.args[2].int() != 0, req.args[3].int() as i32);
    done(with_map(port, |map| vm_user::mach_vm_protect(map, addr, size, set_max, prot)))
}

fn mach_vm_read(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (addr, size) = (req.args[0].long(), req.args[1].long());
    let count = u32::try_from(size).map_err(|_| KernReturn::KERN_INVALID_ARGUMENT)?;
    // The reply holds the copy: its segments are charged to the caller before it is made.
    let charge = &mut req.charge;
    let copy = with_map(port, |map| {
        let cost = vm_map_copy_cost(map, addr, size);
        if !charge.as_mut().is_some_and(|c| c.grow(cost)) {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        vm_map_copyin(map, addr, size, false)
    })?;
    Ok(alloc::vec![KOut::Ool(Some(copy), count)])
}

fn mach_vm_write(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let addr = req.args[0].long();
    let Some(copy) = req.take_copy() else { return Ok(Vec::new()) };
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
        Ok(Vec::new())
    })
}

fn mach_vm_region(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (addr, flavor, count) = (req.args[0].long(), req.args[1].int() as i32, req.args[2].int());
    if count < mach::vm::VM_REGION_BASIC_INFO_COUNT_64 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let region = with_map_read(port, |map| vm_user::mach_vm_region(map, addr, flavor))?;
    let bytes = region.info.to_bytes();
    let words = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(alloc::vec![
        KOut::Port(MsgRight::Null),
        KOut::Long(region.start),
        KOut::Long(region.size),
        KOut::Words(words)
    ])
}

/// The named entry a request's port right stands for (None for `MACH_PORT_NULL`).
fn named_entry(right: MsgRight) -> Result<Option<Arc<VmNamedEntry>>, KernReturn> {
    match right {
        MsgRight::Null => Ok(None),
        other => other
            .port()
            .and_then(|p| p.kobject::<VmNamedEntry>(IkotType::NamedEntry))
            .map(Some)
            .ok_or(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

fn mach_make_memory_entry_64(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (size, offset, permission) = (req.args[0].long(), req.args[1].long(), req.args[2].int());
    let prot = VmProt((permission & VmProt::ALL.0 as u32) as i32);
    if permission & !(VmProt::ALL.0 as u32 | MAP_MEM_NAMED_CREATE) != 0 {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    // Each entry is a port: the same budget as ports users allocate.
    if !crate::kern::budget::user_port_allowed() {
        return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
    }
    let entry = match named_entry(req.take_port())? {
        Some(parent) => {
            let size = size.checked_next_multiple_of(PAGE_SIZE).ok_or(KernReturn::KERN_INVALID_ARGUMENT)?;
            parent.sub_entry(offset, size, prot)?
        }
        None if permission & MAP_MEM_NAMED_CREATE != 0 => vm_user::make_memory_entry_create(size, prot)?,
        None => with_map(port, |map| vm_user::make_memory_entry(map, offset, size, prot))?,
    };
    let len = entry.size;
    Ok(alloc::vec![KOut::Port(MsgRight::Send(entry.into_port())), KOut::Long(len)])
}

fn mach_vm_map(port: &PortRef, req: &mut Request<'_>) -> Reply {
    let (addr, size, mask, flags) =
        (req.args[0].long(), req.args[1].long(), req.args[2].long(), req.args[3].int());
    let (offset, copy) = (req.args[5].long(), req.args[6].int() != 0);
    let (cur, max) = (VmProt(req.args[7].int() as i32), VmProt(req.args[8].int() as i32));
    let inheritance = mach::vm::VmInherit(req.args[9].int());
    let entry = named_entry(req.take_port())?;
    let at = with_map(port, |map| match &entry {
        Some(e) => {
            vm_user::mach_vm_map_entry(map, addr, size, mask, flags, e, offset, copy, cur, max, inheritance)
        }
        None => vm_user::mach_vm_map(map, addr, size, mask, flags, cur, max, inheritance),
    })?;
    Ok(alloc::vec![KOut::Long(at)])
}

// ---- host ----------------------------------------------------------------------------------

use mach::info::{
    CPU_STATE_MAX, CPU_TYPE_ARM64, HOST_BASIC_INFO, HOST_BASIC_INFO_COUNT, HOST_BASIC_INFO_OLD_COUNT,
    HOST_CPU_LOAD_INFO, HOST_CPU_LOAD_INFO_COUNT, HOST_SCHED_INFO, HOST_SCHED_INFO_COUNT, HOST_VM_INFO,
    HOST_VM_INFO_COUNT, PROCESSOR_CPU_LOAD_INFO,
};

use crate::kern::processor;

fn host_info(port: &PortRef, req: &mut Request<'_>) -> Reply {
    kobject_of::<Host>(port, IkotType::Host)?;
    let (flavor, count) = (req.args[0].int(), req.args[1].int());
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
    Ok(alloc::vec![KOut::Words(words)])
}

/// `host_processor_info`: the processors' load counters out of line (one
/// `{user, system, idle, nice}` quadruple per processor, in 10 ms ticks), and their number.
fn host_processor_info(port: &PortRef, req: &mut Request<'_>) -> Reply {
    kobject_of::<Host>(port, IkotType::Host)?;
    if req.args[0].int() != PROCESSOR_CPU_LOAD_INFO {
        return Err(KernReturn::KERN_FAILURE);
    }
    let words = processor::processor_cpu_load_info();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let processors = (words.len() / CPU_STATE_MAX) as u32;
    let copy = VmMapCopy::from_bytes(&kernel_page_pool(), &bytes)?;
    Ok(alloc::vec![KOut::Int(processors), KOut::Ool(Some(copy), bytes.len() as u32)])
}

fn host_statistics(port: &PortRef, req: &mut Request<'_>) -> Reply {
    kobject_of::<Host>(port, IkotType::Host)?;
    let (flavor, count) = (req.args[0].int(), req.args[1].int());
    if flavor == HOST_CPU_LOAD_INFO {
        if count < HOST_CPU_LOAD_INFO_COUNT {
            return Err(KernReturn::KERN_FAILURE);
        }
        return Ok(alloc::vec![KOut::Words(processor::host_cpu_load_info().to_vec())]);
    }
    if flavor != HOST_VM_INFO || count < HOST_VM_INFO_COUNT {
        return Err(KernReturn::KERN_INVALID_ARGUMENT);
    }
    let (free, total) = vm_page_counts();
    let mut words = alloc::vec![0u32; HOST_VM_INFO_COUNT as usize];
    words[0] = free as u32;
    // Every page not free is in use by someone: report it as active.
    words[1] = total.saturating_sub(free) as u32;
    Ok(alloc::vec![KOut::Words(words)])
}

/// The host's privileged routines need a root caller (XNU asks for the host-priv port, which
/// only root can get; this kernel has one host port and checks the caller instead).
fn host_priv(port: &PortRef) -> Result<(), KernReturn> {
    kobject_of::<Host>(port, IkotType::Host)?;
    let task = sched_prim::current_thread().task.clone();
    let token = crate::kern::exception::bsd_hooks().and_then(|h| h.audit_token(&task));
    match token {
        Some(t) if t[1] == 0 => Ok(()),
        _ => Err(KernReturn::KERN_INVALID_ARGUMENT),
    }
}

fn host_set_exception_ports(port: &PortRef, req: &mut Request<'_>) -> Reply {
    host_priv(port)?;
    let handler = handler_of(req)?;
    let [mask, behavior, flavor] = [0, 2, 3].map(|i| req.args[i].int());
    done(crate::kern::exception::host_exception_actions().set(mask, handler, behavior, flavor))
}

fn host_get_exception_ports(port: &PortRef, req: &mut Request<'_>) -> Reply {
    host_priv(port)?;
    exception_ports_reply(crate::kern::exception::host_exception_actions(), req.args[0].int())
}
