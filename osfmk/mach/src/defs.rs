//! The MIG routines this kernel serves, each declared once (XNU's `.defs` files, reference
//! §7): the kernel's servers and the `libsys` stubs both lay their messages out from these.
//! Ids are XNU's (subsystem base + position). The target object is the request's destination
//! port, so it is not listed; `Field::Port` dispositions are MIG's defaults (in: COPY_SEND,
//! out of the kernel: MOVE_SEND).

use crate::message::{
    MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_SEND,
    MACH_MSG_TYPE_MOVE_SEND_ONCE,
};
use crate::mig::{Field, Field::*, Routine, Server};

/// `task_info_t` / `thread_info_t` bound (TASK_INFO_MAX, THREAD_INFO_MAX words).
pub const INFO_MAX: u32 = 32;
/// `mach_port_info_t` bound (the largest attribute flavor, INFO_EXT, is 17 words).
pub const PORT_INFO_MAX: u32 = 17;
/// `thread_state_t` bound in words (THREAD_STATE_MAX; ARM_NEON_STATE64 is the largest we
/// serve at 132).
pub const THREAD_STATE_MAX: u32 = 1296;
/// `name_t`: a service name, 128 bytes NUL-padded.
pub const NAME_MAX_BYTES: u32 = 128;

/// `vm_region_info_t` bound in words (VM_REGION_BASIC_INFO_64 is 9).
pub const REGION_INFO_MAX: u32 = 10;

const SEND_IN: Field = Port(MACH_MSG_TYPE_COPY_SEND);
/// `EXC_TYPES_COUNT`-bounded handler lists of `*_get_exception_ports`.
pub const EXC_HANDLERS_MAX: u32 = 32;
/// The handlers `*_get_exception_ports` returns: 32 port descriptors, unused ones null.
const HANDLERS: Field = PortArray(EXC_HANDLERS_MAX, MACH_MSG_TYPE_MOVE_SEND);
/// Their masks, behaviors and flavors: three arrays sharing one count.
const HANDLER_INFO: Field = SameCountArrays(3, EXC_HANDLERS_MAX);
const SEND_OUT: Field = Port(MACH_MSG_TYPE_MOVE_SEND);

/// Calls `$m!` with every routine as
/// `(CONST, id, name, server, [param: Kind, ...], [result: Kind, ...])`: the one declaration
/// from which `routines!` below makes the [`Routine`] constants (the layouts both sides encode
/// and decode with), from which the kernel generates its typed requests, replies and server
/// table (`osfmk::kern::ipc_kobject`, `mig_servers`) — and, for the `user` routines it sends
/// (exception messages), the client side: the same typed request encoded, the same typed
/// reply decoded — and from which `libsys` generates its
/// typed MIG stubs. A `Kind` is a [`Field`] (or one of this module's field constants); the
/// names are MIG's argument names. `server` says who answers the routine: `kernel` (every
/// such routine must have a kernel handler, or the kernel does not build) or `user` (sent to
/// a user-space server — exception handlers, the bootstrap server — so the kernel has none).
#[macro_export]
macro_rules! for_each_mig_routine {
    ($m:ident) => {
        $m! {
            // mach_port (3200): act on the space of the task whose port is the target.
            (MACH_PORT_NAMES, 3200, mach_port_names, kernel, [], [names: Ool, types: Ool]),
            (MACH_PORT_TYPE, 3201, mach_port_type, kernel, [name: Int], [ptype: Int]),
            (MACH_PORT_ALLOCATE, 3204, mach_port_allocate, kernel, [right: Int], [name: Int]),
            (MACH_PORT_DEALLOCATE, 3206, mach_port_deallocate, kernel, [name: Int], []),
            (MACH_PORT_GET_REFS, 3207, mach_port_get_refs, kernel, [name: Int, right: Int], [refs: Int]),
            (MACH_PORT_MOD_REFS, 3208, mach_port_mod_refs, kernel, [name: Int, right: Int, delta: Int], []),
            (MACH_PORT_MOVE_MEMBER, 3212, mach_port_move_member, kernel, [member: Int, after: Int], []),
            (MACH_PORT_REQUEST_NOTIFICATION, 3213, mach_port_request_notification, kernel, [name: Int, msgid: Int, sync: Int, notify: Port(MACH_MSG_TYPE_MAKE_SEND_ONCE)], [previous: Port(MACH_MSG_TYPE_MOVE_SEND_ONCE)]),
            (MACH_PORT_INSERT_RIGHT, 3214, mach_port_insert_right, kernel, [name: Int, poly: SEND_IN], []),
            (MACH_PORT_EXTRACT_RIGHT, 3215, mach_port_extract_right, kernel, [name: Int, msgt_name: Int], [poly: SEND_OUT]),
            (MACH_PORT_GET_ATTRIBUTES, 3217, mach_port_get_attributes, kernel, [name: Int, flavor: Int, count: Int], [port_info: Array(PORT_INFO_MAX)]),
            (MACH_PORT_SET_ATTRIBUTES, 3218, mach_port_set_attributes, kernel, [name: Int, flavor: Int, info: Array(PORT_INFO_MAX)], []),
            (MACH_PORT_INSERT_MEMBER, 3226, mach_port_insert_member, kernel, [name: Int, pset: Int], []),
            (MACH_PORT_EXTRACT_MEMBER, 3227, mach_port_extract_member, kernel, [name: Int, pset: Int], []),
            // `options` is a `mach_port_options_t` in line; `context` and `guard` are 64-bit.
            (MACH_PORT_CONSTRUCT, 3231, mach_port_construct, kernel, [options: Str(24), context: Long], [name: Int]),
            (MACH_PORT_DESTRUCT, 3232, mach_port_destruct, kernel, [name: Int, srdelta: Int, guard: Long], []),
            // task (3400).
            (TASK_TERMINATE, 3401, task_terminate, kernel, [], []),
            (TASK_THREADS, 3402, task_threads, kernel, [], [act_list: OolPorts(MACH_MSG_TYPE_MOVE_SEND)]),
            (TASK_INFO, 3405, task_info, kernel, [flavor: Int, count: Int], [task_info_out: Array(INFO_MAX)]),
            (TASK_SUSPEND, 3407, task_suspend, kernel, [], []),
            (TASK_RESUME, 3408, task_resume, kernel, [], []),
            (TASK_GET_SPECIAL_PORT, 3409, task_get_special_port, kernel, [which: Int], [special_port: SEND_OUT]),
            (TASK_SET_SPECIAL_PORT, 3410, task_set_special_port, kernel, [which: Int, port: SEND_IN], []),
            (TASK_SET_EXCEPTION_PORTS, 3413, task_set_exception_ports, kernel, [mask: Int, port: SEND_IN, behavior: Int, flavor: Int], []),
            (TASK_GET_EXCEPTION_PORTS, 3414, task_get_exception_ports, kernel, [mask: Int], [handlers: HANDLERS, info: HANDLER_INFO]),
            (SEMAPHORE_CREATE, 3418, semaphore_create, kernel, [policy: Int, value: Int], [semaphore: SEND_OUT]),
            (SEMAPHORE_DESTROY, 3419, semaphore_destroy, kernel, [semaphore: Port(MACH_MSG_TYPE_MOVE_SEND)], []),
            // thread_act (3600).
            (THREAD_TERMINATE, 3600, thread_terminate, kernel, [], []),
            (THREAD_GET_STATE, 3603, thread_get_state, kernel, [flavor: Int, count: Int], [old_state: Array(THREAD_STATE_MAX)]),
            (THREAD_SET_STATE, 3604, thread_set_state, kernel, [flavor: Int, new_state: Array(THREAD_STATE_MAX)], []),
            (THREAD_SUSPEND, 3605, thread_suspend, kernel, [], []),
            (THREAD_RESUME, 3606, thread_resume, kernel, [], []),
            (THREAD_INFO, 3612, thread_info, kernel, [flavor: Int, count: Int], [thread_info_out: Array(INFO_MAX)]),
            (THREAD_SET_EXCEPTION_PORTS, 3613, thread_set_exception_ports, kernel, [mask: Int, port: SEND_IN, behavior: Int, flavor: Int], []),
            (THREAD_GET_EXCEPTION_PORTS, 3614, thread_get_exception_ports, kernel, [mask: Int], [handlers: HANDLERS, info: HANDLER_INFO]),
            // exc (2401) and mach_exc (2405): sent by the kernel to exception handlers.
            (EXCEPTION_RAISE, 2401, exception_raise, user, [thread: SEND_OUT, task: SEND_OUT, exception: Int, code: Array(2)], []),
            (EXCEPTION_RAISE_STATE, 2402, exception_raise_state, user, [exception: Int, code: Array(2), flavor: Int, old_state: Array(THREAD_STATE_MAX)], [flavor: Int, new_state: Array(THREAD_STATE_MAX)]),
            (EXCEPTION_RAISE_STATE_IDENTITY, 2403, exception_raise_state_identity, user, [thread: SEND_OUT, task: SEND_OUT, exception: Int, code: Array(2), flavor: Int, old_state: Array(THREAD_STATE_MAX)], [flavor: Int, new_state: Array(THREAD_STATE_MAX)]),
            (MACH_EXCEPTION_RAISE, 2405, mach_exception_raise, user, [thread: SEND_OUT, task: SEND_OUT, exception: Int, code: LongArray(2)], []),
            (MACH_EXCEPTION_RAISE_STATE, 2406, mach_exception_raise_state, user, [exception: Int, code: LongArray(2), flavor: Int, old_state: Array(THREAD_STATE_MAX)], [flavor: Int, new_state: Array(THREAD_STATE_MAX)]),
            (MACH_EXCEPTION_RAISE_STATE_IDENTITY, 2407, mach_exception_raise_state_identity, user, [thread: SEND_OUT, task: SEND_OUT, exception: Int, code: LongArray(2), flavor: Int, old_state: Array(THREAD_STATE_MAX)], [flavor: Int, new_state: Array(THREAD_STATE_MAX)]),
            // vm_map (3800).
            (MACH_MAKE_MEMORY_ENTRY_64, 3825, mach_make_memory_entry_64, kernel, [size: Long, offset: Long, permission: Int, parent_entry: Port(MACH_MSG_TYPE_COPY_SEND)], [object_handle: SEND_OUT, size: Long]),
            // mach_vm (4800): act on the map of the task whose port is the target.
            (MACH_VM_ALLOCATE, 4800, mach_vm_allocate, kernel, [address: Long, size: Long, flags: Int], [address: Long]),
            (MACH_VM_DEALLOCATE, 4801, mach_vm_deallocate, kernel, [address: Long, size: Long], []),
            (MACH_VM_PROTECT, 4802, mach_vm_protect, kernel, [address: Long, size: Long, set_maximum: Int, new_protection: Int], []),
            (MACH_VM_READ, 4804, mach_vm_read, kernel, [address: Long, size: Long], [data: Ool]),
            (MACH_VM_MAP, 4811, mach_vm_map, kernel, [address: Long, size: Long, mask: Long, flags: Int, object: Port(MACH_MSG_TYPE_COPY_SEND), offset: Long, copy: Int, cur_protection: Int, max_protection: Int, inheritance: Int], [address: Long]),
            (MACH_VM_WRITE, 4806, mach_vm_write, kernel, [address: Long, data: Ool], []),
            (MACH_VM_REGION, 4816, mach_vm_region, kernel, [address: Long, flavor: Int, count: Int], [object_name: SEND_OUT, address: Long, size: Long, info: Array(REGION_INFO_MAX)]),
            // bootstrap (400): served by init, as launchd does (not by the kernel); ids as in
            // launchd's bootstrap subsystem.
            (BOOTSTRAP_REGISTER, 403, bootstrap_register, user, [service_name: Str(NAME_MAX_BYTES), service_port: SEND_IN], []),
            (BOOTSTRAP_LOOK_UP, 404, bootstrap_look_up, user, [service_name: Str(NAME_MAX_BYTES)], [service_port: Port(MACH_MSG_TYPE_COPY_SEND)]),
            // mach_host (200).
            (HOST_INFO, 200, host_info, kernel, [flavor: Int, count: Int], [host_info_out: Array(INFO_MAX)]),
            (HOST_PROCESSOR_INFO, 204, host_processor_info, kernel, [flavor: Int], [out_processor_count: Int, out_processor_info: OolWords]),
            (HOST_STATISTICS, 216, host_statistics, kernel, [flavor: Int, count: Int], [host_info_out: Array(INFO_MAX)]),
            // host_priv (400): this kernel has one host port; these need a root caller.
            (HOST_SET_EXCEPTION_PORTS, 414, host_set_exception_ports, kernel, [mask: Int, port: SEND_IN, behavior: Int, flavor: Int], []),
            (HOST_GET_EXCEPTION_PORTS, 415, host_get_exception_ports, kernel, [mask: Int], [handlers: HANDLERS, info: HANDLER_INFO]),
        }
    };
}

/// `kernel` / `user` of a declaration, as a [`Server`].
macro_rules! server {
    (kernel) => {
        Server::Kernel
    };
    (user) => {
        Server::User
    };
}

macro_rules! routines {
    ($( ($konst:ident, $id:literal, $name:ident, $server:ident, [$($p:ident: $req:expr),* $(,)?], [$($r:ident: $rep:expr),* $(,)?]) ),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` (", stringify!($id), ").")]
            pub const $konst: Routine = Routine {
                id: $id,
                name: stringify!($name),
                server: server!($server),
                request: &[$($req),*],
                reply: &[$($rep),*],
            };
        )*
        /// Every routine, for lookups by id.
        pub const ALL: &[&Routine] = &[$(&$konst),*];
    };
}

for_each_mig_routine!(routines);

/// The routine with message id `id`, whoever serves it.
pub fn routine(id: i32) -> Option<&'static Routine> {
    ALL.iter().copied().find(|r| r.id == id)
}

/// The routine with message id `id` if the kernel serves it; `MIG_BAD_ID` otherwise (what a
/// kernel port answers to an id it does not know, or to one meant for a user-space server).
pub fn kernel_routine(id: i32) -> Result<&'static Routine, crate::KernReturn> {
    routine(id).filter(|r| r.server == Server::Kernel).ok_or(crate::mig::MIG_BAD_ID)
}

/// Bootstrap server answers (`bootstrap.h`).
pub mod bootstrap {
    pub const BOOTSTRAP_SUCCESS: i32 = 0;
    pub const BOOTSTRAP_NOT_PRIVILEGED: i32 = 1100;
    pub const BOOTSTRAP_NAME_IN_USE: i32 = 1101;
    pub const BOOTSTRAP_UNKNOWN_SERVICE: i32 = 1102;
    pub const BOOTSTRAP_SERVICE_ACTIVE: i32 = 1103;
    pub const BOOTSTRAP_BAD_COUNT: i32 = 1104;
    pub const BOOTSTRAP_NO_MEMORY: i32 = 1105;
}

/// Task special ports (reference §5.4).
pub mod special {
    pub const TASK_KERNEL_PORT: i32 = 1;
    pub const TASK_HOST_PORT: i32 = 2;
    pub const TASK_NAME_PORT: i32 = 3;
    pub const TASK_BOOTSTRAP_PORT: i32 = 4;
    /// The largest task special port id.
    pub const TASK_MAX_SPECIAL_PORT: i32 = 11;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_named() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|b| b.id != a.id), "{} twice", a.name);
            assert!(
                a.request.len() <= crate::mig::MIG_MAX_FIELDS && a.reply.len() <= crate::mig::MIG_MAX_FIELDS
            );
        }
        assert_eq!(routine(3409).map(|r| r.name), Some("task_get_special_port"));
        assert!(routine(3499).is_none());
        assert_eq!(kernel_routine(3409).map(|r| r.name), Ok("task_get_special_port"));
        // Exception and bootstrap messages go to user-space servers, never to a kernel port.
        assert_eq!(kernel_routine(EXCEPTION_RAISE.id).err(), Some(crate::mig::MIG_BAD_ID));
        assert_eq!(kernel_routine(BOOTSTRAP_LOOK_UP.id).err(), Some(crate::mig::MIG_BAD_ID));
    }
}
