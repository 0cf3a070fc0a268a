//! Mach exceptions and the hooks BSD registers with Mach.
//!
//! A fault or a bad trap that Mach cannot resolve becomes an exception message
//! (`exception_raise`, or `mach_exception_raise` with 64-bit codes) to the thread's, then the
//! task's, then the host's exception port, in the faulting thread, which waits for the reply.
//! A handler that answers `KERN_SUCCESS` has dealt with it (the thread retries the
//! instruction); any other answer, or no handler, passes it on, and at the end BSD's
//! `ux_handler` turns it into a signal. Mach never names BSD: BSD installs an implementation
//! of [`BsdHooks`] at boot, the Rust form of XNU's BSD callouts.

use mach::exception::ExceptionType;

/// What Mach asks of the BSD personality.
pub trait BsdHooks: Sync {
    /// An exception nobody handled: deliver the matching signal to the current process
    /// (XNU's `ux_handler`/`threadsignal`). Returns only if the thread survives it.
    fn unhandled_exception(&self, exception: ExceptionType, code: i64, subcode: i64);
    /// A fault found no free page: the current task must die (with a log line), and the
    /// kernel keeps running. `addr` is where it faulted.
    fn memory_exhausted(&self, addr: u64);
    /// Deliver whatever is pending for the current thread before it returns to user mode
    /// (AST_BSD), rewriting `frame` to enter a signal handler. May not return if the process
    /// dies.
    fn ast_bsd(&self, frame: &mut crate::arm64::trapframe::TrapFrame);
    /// The `pid_for_task` trap (−46), BSD's work (`bsd::vm::vm_unix`).
    fn pid_for_task(
        &self,
        t: mach::MachPortName,
        pid_out: crate::vm::user_ptr::UserAddr,
    ) -> Result<(), mach::KernReturn>;
    /// The `task_for_pid` trap (−45), BSD's work, with its policy (`bsd::vm::vm_unix`).
    fn task_for_pid(
        &self,
        target_tport: mach::MachPortName,
        pid: i32,
        t_out: crate::vm::user_ptr::UserAddr,
    ) -> Result<(), mach::KernReturn>;
    /// `task_terminate` of a task BSD wraps: the process is killed as by `SIGKILL` (so it
    /// exits, is reported to its parent and reaped). False if no process wraps the task.
    #[cfg(target_os = "none")]
    fn task_terminate(&self, task: &crate::kern::task::Task) -> bool;
    /// Thread `thread` of a task BSD may wrap is ending (in `thread_terminate_self`, on its
    /// own stack); `last`: no other thread of the task is left, so the process must exit
    /// now if it is not exiting already — however the threads were ended.
    #[cfg(target_os = "none")]
    fn thread_terminated(&self, thread: &crate::kern::thread::Thread, last: bool);
    /// The audit token of the process wrapping `task` (reference §4.5: auid, euid, egid,
    /// ruid, rgid, pid, asid, pid version), for the trailers of the messages it sends.
    #[cfg(target_os = "none")]
    fn audit_token(&self, task: &crate::kern::task::Task) -> Option<[u32; 8]>;
}

static HOOKS: spin::Once<&'static dyn BsdHooks> = spin::Once::new();

/// BSD registers itself once at boot.
pub fn register_bsd_hooks(hooks: &'static dyn BsdHooks) {
    HOOKS.call_once(|| hooks);
}

/// The registered hooks, if BSD is up.
pub fn bsd_hooks() -> Option<&'static dyn BsdHooks> {
    HOOKS.get().copied()
}

/// Raise `exception` for the current thread (`exception_triage`): the exception ports first,
/// then BSD; without BSD it is a kernel bug.
pub fn exception_triage(exception: ExceptionType, code: i64, subcode: i64) {
    #[cfg(target_os = "none")]
    if ports::exception_deliver(exception, code, subcode) {
        return;
    }
    match bsd_hooks() {
        Some(h) => h.unhandled_exception(exception, code, subcode),
        None => panic!("exception {exception} (code {code:#x}, subcode {subcode:#x}) before BSD is up"),
    }
}

#[cfg(target_os = "none")]
pub use ports::{ExceptionAction, ExceptionActions, host_exception_actions};

/// Exception ports: the per-thread, per-task and host tables, and delivery.
#[cfg(target_os = "none")]
mod ports {
    use alloc::vec::Vec;

    use mach::KernReturn;
    use mach::defs::{
        EXCEPTION_RAISE, EXCEPTION_RAISE_STATE, EXCEPTION_RAISE_STATE_IDENTITY, MACH_EXCEPTION_RAISE,
        MACH_EXCEPTION_RAISE_STATE, MACH_EXCEPTION_RAISE_STATE_IDENTITY,
    };
    use mach::exception::{
        EXC_MASK_ALL, EXC_TYPES_COUNT, EXCEPTION_DEFAULT, EXCEPTION_STATE, EXCEPTION_STATE_IDENTITY,
        ExceptionType, MACH_EXCEPTION_CODES,
    };
    use mach::mig::{Arg, MIG_MAX_FIELDS, decode};

    use crate::ipc::ipc_kmsg::{IpcKmsg, MsgRight};
    use crate::ipc::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive};
    use crate::ipc::ipc_port::{IpcPort, SendRight};
    use crate::ipc::mach_msg::ipc_kmsg_send;
    use crate::kern::ipc_kobject::{KOut, kmsg_from_values};
    use crate::kern::locks::SimpleLock;
    use crate::kern::sched_prim::current_thread;
    use crate::kern::thread_act;

    /// Where one exception type goes, and how (XNU `struct exception_action`).
    pub struct ExceptionAction {
        pub port: SendRight,
        /// `EXCEPTION_DEFAULT`, possibly with `MACH_EXCEPTION_CODES`.
        pub behavior: u32,
        /// Thread-state flavor (kept for `get`; `EXCEPTION_DEFAULT` sends no state).
        pub flavor: u32,
    }

    impl ExceptionAction {
        fn copy(&self) -> Self {
            Self { port: self.port.copy(), behavior: self.behavior, flavor: self.flavor }
        }
    }

    /// An exception-port table, one slot per exception type.
    pub struct ExceptionActions(SimpleLock<[Option<ExceptionAction>; EXC_TYPES_COUNT]>);

    impl Default for ExceptionActions {
        fn default() -> Self {
            Self(SimpleLock::new(&crate::kern::lock_order::EXC_ACTIONS, Default::default()))
        }
    }

    impl ExceptionActions {
        /// `*_set_exception_ports`: `port` (None clears) for every type in `mask`, with
        /// behavior `EXCEPTION_DEFAULT`, `EXCEPTION_STATE` or `EXCEPTION_STATE_IDENTITY`
        /// (optionally `| MACH_EXCEPTION_CODES`); the state behaviors carry
        /// `ARM_THREAD_STATE64`. Anything else, or a mask with bits outside the valid types,
        /// is `KERN_INVALID_ARGUMENT`.
        pub fn set(
            &self,
            mask: u32,
            port: Option<SendRight>,
            behavior: u32,
            flavor: u32,
        ) -> Result<(), KernReturn> {
            let valid_behavior = match behavior & !MACH_EXCEPTION_CODES {
                EXCEPTION_DEFAULT => true,
                EXCEPTION_STATE | EXCEPTION_STATE_IDENTITY => flavor == thread_act::ARM_THREAD_STATE64,
                _ => false,
            };
            if mask & !EXC_MASK_ALL != 0 || !valid_behavior {
                return Err(KernReturn::KERN_INVALID_ARGUMENT);
            }
            let mut old = Vec::new();
            let mut table = self.0.lock();
            for (exc, slot) in table.iter_mut().enumerate() {
                if mask & (1 << exc) != 0 {
                    let new = port.as_ref().map(|p| ExceptionAction { port: p.copy(), behavior, flavor });
                    old.push(core::mem::replace(slot, new));
                }
            }
            drop(table);
            drop(old);
            Ok(())
        }

        /// The action for `exception`, if one is set.
        pub fn get(&self, exception: ExceptionType) -> Option<ExceptionAction> {
            self.0.lock().get(exception as usize)?.as_ref().map(ExceptionAction::copy)
        }

        /// `*_get_exception_ports(mask)`: the distinct handlers for the types in `mask`, each
        /// with the mask of the types it handles, its behavior and flavor (XNU merges
        /// identical handlers the same way).
        pub fn get_all(&self, mask: u32) -> Vec<(u32, SendRight, u32, u32)> {
            let table = self.0.lock();
            let mut out: Vec<(u32, SendRight, u32, u32)> = Vec::new();
            for (exc, slot) in table.iter().enumerate() {
                let Some(action) = slot.as_ref().filter(|_| mask & (1 << exc) != 0) else { continue };
                let same = |o: &&mut (u32, SendRight, u32, u32)| {
                    alloc::sync::Arc::ptr_eq(o.1.port(), action.port.port())
                        && o.2 == action.behavior
                        && o.3 == action.flavor
                };
                match out.iter_mut().find(same) {
                    Some(o) => o.0 |= 1 << exc,
                    None => out.push((1 << exc, action.port.copy(), action.behavior, action.flavor)),
                }
            }
            out
        }

        /// A copy of every slot (a child task inherits its parent's task exception ports).
        pub fn inherit_from(&self, parent: &ExceptionActions) {
            let copies: [Option<ExceptionAction>; EXC_TYPES_COUNT] =
                core::array::from_fn(|i| parent.0.lock()[i].as_ref().map(ExceptionAction::copy));
            let old = core::mem::replace(&mut *self.0.lock(), copies);
            drop(old);
        }

        /// Release every action.
        pub fn clear(&self) {
            let old = core::mem::take(&mut *self.0.lock());
            drop(old);
        }
    }

    static HOST_ACTIONS: spin::Once<ExceptionActions> = spin::Once::new();

    /// The host's exception ports (the last stop before BSD).
    pub fn host_exception_actions() -> &'static ExceptionActions {
        HOST_ACTIONS.call_once(ExceptionActions::default)
    }

    /// Offer the exception to the thread's, the task's, then the host's handler; true when
    /// one answered `KERN_SUCCESS` (XNU `exception_deliver` over the three levels).
    pub(super) fn exception_deliver(exception: ExceptionType, code: i64, subcode: i64) -> bool {
        let thread = current_thread();
        let task = thread.task.clone();
        let levels = [
            thread.exc_actions.get(exception),
            task.exc_actions.get(exception),
            host_exception_actions().get(exception),
        ];
        drop(thread);
        drop(task);
        levels
            .into_iter()
            .flatten()
            .any(|action| raise(&action, exception, code, subcode) == KernReturn::KERN_SUCCESS)
    }

    /// Send one exception message and wait for the handler's answer.
    fn raise(action: &ExceptionAction, exception: ExceptionType, code: i64, subcode: i64) -> KernReturn {
        if !action.port.port().is_active() {
            return KernReturn::KERN_FAILURE;
        }
        let wide = action.behavior & MACH_EXCEPTION_CODES != 0;
        let behavior = action.behavior & !MACH_EXCEPTION_CODES;
        let routine = match (behavior, wide) {
            (EXCEPTION_DEFAULT, false) => &EXCEPTION_RAISE,
            (EXCEPTION_DEFAULT, true) => &MACH_EXCEPTION_RAISE,
            (EXCEPTION_STATE, false) => &EXCEPTION_RAISE_STATE,
            (EXCEPTION_STATE, true) => &MACH_EXCEPTION_RAISE_STATE,
            (_, false) => &EXCEPTION_RAISE_STATE_IDENTITY,
            (_, true) => &MACH_EXCEPTION_RAISE_STATE_IDENTITY,
        };
        let thread = current_thread();
        let task = thread.task.clone();
        let reply = IpcPort::new_kernel_reply();
        let codes = if wide {
            alloc::vec![code as u32, (code >> 32) as u32, subcode as u32, (subcode >> 32) as u32]
        } else {
            alloc::vec![code as u32, subcode as u32]
        };
        let mut values = Vec::new();
        if behavior != EXCEPTION_STATE {
            values.push(KOut::Port(MsgRight::Send(thread.self_port().make_send())));
            values.push(KOut::Port(MsgRight::Send(task.self_port().make_send())));
        }
        values.push(KOut::Int(exception));
        values.push(KOut::Words(codes));
        if behavior != EXCEPTION_DEFAULT {
            let Ok(state) =
                thread_act::thread_get_state(&thread, action.flavor, thread_act::ARM_THREAD_STATE64_COUNT)
            else {
                return KernReturn::KERN_FAILURE;
            };
            values.push(KOut::Int(action.flavor));
            values.push(KOut::Words(state));
        }
        drop(task);
        let remote = MsgRight::Send(action.port.copy());
        let local = MsgRight::SendOnce(reply.port().make_send_once());
        let Ok(request) = kmsg_from_values(routine.request, routine.id, values, None, remote, local) else {
            return KernReturn::KERN_FAILURE;
        };
        if ipc_kmsg_send(request, IpcTimeout::Forever).is_err() {
            return KernReturn::KERN_FAILURE;
        }
        let answer = match ipc_mqueue_receive(reply.port(), 8192, false, IpcTimeout::Forever) {
            Ok(Received::Message(answer, _)) => answer,
            _ => return KernReturn::KERN_FAILURE,
        };
        if behavior == EXCEPTION_DEFAULT {
            return reply_code(&answer, routine.id);
        }
        // A state reply: on success, the handler's new state goes into the thread.
        if answer.id != routine.id + mach::mig::MIG_REPLY_ID_OFFSET {
            return KernReturn::KERN_FAILURE;
        }
        let complex = answer.bits & mach::message::MACH_MSGH_BITS_COMPLEX != 0;
        let mut args = [Arg::None; MIG_MAX_FIELDS];
        match decode(routine.reply, complex, true, &answer.body, &mut args) {
            Ok(KernReturn::KERN_SUCCESS) => {}
            Ok(code) => return code,
            Err(_) => return KernReturn::KERN_FAILURE,
        }
        let Arg::Array(words) = args[1] else { return KernReturn::KERN_FAILURE };
        let state: Vec<u32> = (0..words.len()).map(|i| words.get(i)).collect();
        match thread_act::thread_set_state(&thread, args[0].int(), &state) {
            Ok(()) => KernReturn::KERN_SUCCESS,
            Err(kr) => kr,
        }
    }

    /// The RetCode of a handler's reply (a simple message: header, NDR, RetCode).
    fn reply_code(answer: &IpcKmsg, request_id: i32) -> KernReturn {
        let ok = answer.id == request_id + mach::mig::MIG_REPLY_ID_OFFSET && answer.body.len() == 12;
        match answer.body.get(8..12) {
            Some(b) if ok => KernReturn(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => KernReturn::KERN_FAILURE,
        }
    }
}
