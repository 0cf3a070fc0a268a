//! Mach exceptions and the hooks BSD registers with Mach.
//!
//! A fault or a bad trap that Mach cannot resolve becomes an exception message
//! (`exception_raise`, or `mach_exception_raise` with 64-bit codes) to the thread's, then the
//! task's, then the host's exception port, in the faulting thread, which waits for the reply.
//! A handler that answers `KERN_SUCCESS` has dealt with it (the thread retries the
//! instruction); any other answer, or no handler, passes it on, and at the end BSD's
//! `ux_handler` turns it into a signal. Mach never names BSD: BSD installs an implementation
//! of [`BsdHooks`] at boot, the Rust form of XNU's BSD callouts.
//!
//! The kernel is the MIG *client* of the `exc` and `mach_exc` routines: an action's
//! [`ExceptionBehavior`] picks the routine, whose typed `Request` (generated in
//! `ipc_kobject::routines` from the routine's one declaration in `mach::defs`) becomes the
//! message, and whose typed `Reply` is read back from the handler's answer with MIG's client
//! checks. A reply that fails them (another id, a bad size, a body its layout refuses) is an
//! answer other than `KERN_SUCCESS`, so the exception goes on to the next handler, as in XNU.

use alloc::vec::Vec;

use mach::KernReturn;
use mach::exception::{
    EXCEPTION_DEFAULT, EXCEPTION_STATE, EXCEPTION_STATE_IDENTITY, ExceptionType, MACH_EXCEPTION_CODES,
};
use mach::mig::Routine;

use crate::ipc::ipc_kmsg::{IpcKmsg, MsgRight};
use crate::kern::ipc_kobject::routines::{
    exception_raise, exception_raise_state, exception_raise_state_identity, mach_exception_raise,
    mach_exception_raise_state, mach_exception_raise_state_identity,
};

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

/// What an exception message says happened (XNU `exception_deliver`'s arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised {
    pub exception: ExceptionType,
    pub code: i64,
    pub subcode: i64,
}

/// What a handler is sent (`exception_behavior_t` without its flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// `EXCEPTION_DEFAULT`: thread and task ports, exception, codes.
    Default,
    /// `EXCEPTION_STATE`: exception, codes, thread state (which the reply replaces).
    State,
    /// `EXCEPTION_STATE_IDENTITY`: both.
    StateIdentity,
}

/// An action's behavior: which of the six routines (2401–2403, 2405–2407) it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionBehavior {
    pub kind: Behavior,
    /// `MACH_EXCEPTION_CODES`: 64-bit codes (`mach_exception_raise*`); without it the codes
    /// are cut to 32 bits (`exception_raise*`).
    pub codes64: bool,
}

/// What a handler's successful answer asks of the faulting thread.
#[derive(Debug, PartialEq, Eq)]
pub enum ExceptionReply {
    /// `EXCEPTION_DEFAULT`: handled; the thread retries.
    Handled,
    /// A state behavior: handled, and the thread resumes in this state.
    NewState { flavor: u32, state: Vec<u32> },
}

impl ExceptionBehavior {
    /// The behavior of an `exception_behavior_t`; None for anything but the three behaviors,
    /// each with or without `MACH_EXCEPTION_CODES`.
    pub fn from_raw(behavior: u32) -> Option<Self> {
        let kind = match behavior & !MACH_EXCEPTION_CODES {
            EXCEPTION_DEFAULT => Behavior::Default,
            EXCEPTION_STATE => Behavior::State,
            EXCEPTION_STATE_IDENTITY => Behavior::StateIdentity,
            _ => return None,
        };
        Some(Self { kind, codes64: behavior & MACH_EXCEPTION_CODES != 0 })
    }

    /// The routine this behavior sends.
    pub fn routine(self) -> &'static Routine {
        match (self.kind, self.codes64) {
            (Behavior::Default, false) => exception_raise::ROUTINE,
            (Behavior::State, false) => exception_raise_state::ROUTINE,
            (Behavior::StateIdentity, false) => exception_raise_state_identity::ROUTINE,
            (Behavior::Default, true) => mach_exception_raise::ROUTINE,
            (Behavior::State, true) => mach_exception_raise_state::ROUTINE,
            (Behavior::StateIdentity, true) => mach_exception_raise_state_identity::ROUTINE,
        }
    }

    /// Does the message carry the thread's and task's ports?
    pub fn sends_identity(self) -> bool {
        self.kind != Behavior::State
    }

    /// Does the message carry (and the reply replace) the thread's state?
    pub fn sends_state(self) -> bool {
        self.kind != Behavior::Default
    }

    /// The exception message to `remote`, answered on `reply`: `identity` is the thread's and
    /// the task's send rights (for the behaviors that send them), `state` the flavor and words
    /// of the thread's state (for the state behaviors). Missing either where the routine needs
    /// it is `KERN_INVALID_ARGUMENT`; a state over `THREAD_STATE_MAX` is `MIG_ARRAY_TOO_LARGE`.
    pub fn request(
        self,
        raised: Raised,
        identity: Option<(MsgRight, MsgRight)>,
        state: Option<(u32, Vec<u32>)>,
        remote: MsgRight,
        reply: MsgRight,
    ) -> Result<IpcKmsg, KernReturn> {
        let Raised { exception, code, subcode } = raised;
        let missing = KernReturn::KERN_INVALID_ARGUMENT;
        let identity = if self.sends_identity() { Some(identity.ok_or(missing)?) } else { None };
        let state = if self.sends_state() { Some(state.ok_or(missing)?) } else { None };
        // The 32-bit routines carry `integer_t` codes: the low halves.
        let narrow = || alloc::vec![code as u32, subcode as u32];
        let wide = || alloc::vec![code as u64, subcode as u64];
        match (self.kind, self.codes64, identity, state) {
            (Behavior::Default, false, Some((thread, task)), _) => {
                exception_raise::Request { thread, task, exception, code: narrow() }.into_kmsg(remote, reply)
            }
            (Behavior::Default, true, Some((thread, task)), _) => {
                mach_exception_raise::Request { thread, task, exception, code: wide() }
                    .into_kmsg(remote, reply)
            }
            (Behavior::State, false, _, Some((flavor, old_state))) => {
                exception_raise_state::Request { exception, code: narrow(), flavor, old_state }
                    .into_kmsg(remote, reply)
            }
            (Behavior::State, true, _, Some((flavor, old_state))) => {
                mach_exception_raise_state::Request { exception, code: wide(), flavor, old_state }
                    .into_kmsg(remote, reply)
            }
            (Behavior::StateIdentity, false, Some((thread, task)), Some((flavor, old_state))) => {
                exception_raise_state_identity::Request {
                    thread,
                    task,
                    exception,
                    code: narrow(),
                    flavor,
                    old_state,
                }
                .into_kmsg(remote, reply)
            }
            (Behavior::StateIdentity, true, Some((thread, task)), Some((flavor, old_state))) => {
                mach_exception_raise_state_identity::Request {
                    thread,
                    task,
                    exception,
                    code: wide(),
                    flavor,
                    old_state,
                }
                .into_kmsg(remote, reply)
            }
            _ => Err(missing),
        }
    }

    /// The handler's `answer` to this behavior's request, read through the routine's typed
    /// reply: the MIG error (`MIG_REPLY_MISMATCH`, `MIG_TYPE_ERROR`, `MIG_BAD_ARGUMENTS`) of
    /// an answer that is not that reply, or the handler's own RetCode when it is not success.
    pub fn reply(self, answer: IpcKmsg) -> Result<ExceptionReply, KernReturn> {
        let state = |flavor, state| ExceptionReply::NewState { flavor, state };
        match (self.kind, self.codes64) {
            (Behavior::Default, false) => {
                exception_raise::Reply::from_kmsg(answer).map(|_| ExceptionReply::Handled)
            }
            (Behavior::Default, true) => {
                mach_exception_raise::Reply::from_kmsg(answer).map(|_| ExceptionReply::Handled)
            }
            (Behavior::State, false) => {
                exception_raise_state::Reply::from_kmsg(answer).map(|r| state(r.flavor, r.new_state))
            }
            (Behavior::State, true) => {
                mach_exception_raise_state::Reply::from_kmsg(answer).map(|r| state(r.flavor, r.new_state))
            }
            (Behavior::StateIdentity, false) => {
                exception_raise_state_identity::Reply::from_kmsg(answer).map(|r| state(r.flavor, r.new_state))
            }
            (Behavior::StateIdentity, true) => mach_exception_raise_state_identity::Reply::from_kmsg(answer)
                .map(|r| state(r.flavor, r.new_state)),
        }
    }
}

#[cfg(target_os = "none")]
pub use ports::{ExceptionAction, ExceptionActions, host_exception_actions};

/// Exception ports: the per-thread, per-task and host tables, and delivery.
#[cfg(target_os = "none")]
mod ports {
    use alloc::vec::Vec;

    use mach::KernReturn;
    use mach::exception::{EXC_MASK_ALL, EXC_TYPES_COUNT, ExceptionType};

    use super::{ExceptionBehavior, ExceptionReply, Raised};
    use crate::ipc::ipc_kmsg::MsgRight;
    use crate::ipc::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive};
    use crate::ipc::ipc_port::{IpcPort, SendRight};
    use crate::ipc::mach_msg::ipc_kmsg_send;
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
            let valid_behavior = ExceptionBehavior::from_raw(behavior)
                .is_some_and(|b| !b.sends_state() || flavor == thread_act::ARM_THREAD_STATE64);
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

    /// Send one exception message and wait for the handler's answer; a state reply's state
    /// goes into the thread. Anything but `KERN_SUCCESS` passes the exception on.
    fn raise(action: &ExceptionAction, exception: ExceptionType, code: i64, subcode: i64) -> KernReturn {
        if !action.port.port().is_active() {
            return KernReturn::KERN_FAILURE;
        }
        let Some(behavior) = ExceptionBehavior::from_raw(action.behavior) else {
            return KernReturn::KERN_FAILURE;
        };
        let thread = current_thread();
        let identity = behavior.sends_identity().then(|| {
            let task = thread.task.clone();
            (MsgRight::Send(thread.self_port().make_send()), MsgRight::Send(task.self_port().make_send()))
        });
        let state = if behavior.sends_state() {
            let count = thread_act::ARM_THREAD_STATE64_COUNT;
            match thread_act::thread_get_state(&thread, action.flavor, count) {
                Ok(words) => Some((action.flavor, words)),
                Err(_) => return KernReturn::KERN_FAILURE,
            }
        } else {
            None
        };
        let reply = IpcPort::new_kernel_reply();
        let remote = MsgRight::Send(action.port.copy());
        let local = MsgRight::SendOnce(reply.port().make_send_once());
        let raised = Raised { exception, code, subcode };
        let request = match behavior.request(raised, identity, state, remote, local) {
            Ok(request) => request,
            Err(kr) => return kr,
        };
        if ipc_kmsg_send(request, IpcTimeout::Forever).is_err() {
            return KernReturn::KERN_FAILURE;
        }
        let answer = match ipc_mqueue_receive(reply.port(), 8192, false, IpcTimeout::Forever) {
            Ok(Received::Message(answer, _)) => answer,
            _ => return KernReturn::KERN_FAILURE,
        };
        match behavior.reply(answer) {
            Ok(ExceptionReply::Handled) => KernReturn::KERN_SUCCESS,
            Ok(ExceptionReply::NewState { flavor, state }) => {
                match thread_act::thread_set_state(&thread, flavor, &state) {
                    Ok(()) => KernReturn::KERN_SUCCESS,
                    Err(kr) => kr,
                }
            }
            Err(kr) => kr,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The exception messages the kernel sends, checked against the generic MIG decoder and
    //! the declarations, and the replies it reads, under random input. Removing a reply size
    //! check makes `random_replies_give_an_error_or_a_typed_reply` fail (tried, then
    //! restored): without `mig_client_reply`'s `msgh_size` check a reply whose size disagrees
    //! with its body is read; without `decode`'s final length check one with trailing bytes is.

    use alloc::vec;
    use alloc::vec::Vec;

    use mach::defs::THREAD_STATE_MAX;
    use mach::exception::{EXC_BAD_ACCESS, EXC_BAD_INSTRUCTION, EXC_BREAKPOINT};
    use mach::info::{ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT};
    use mach::message::{
        MACH_MSG_HEADER_SIZE, MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSGH_BITS_COMPLEX,
        mach_msgh_bits_local, mach_msgh_bits_remote,
    };
    use mach::mig::{
        Arg, MIG_ARRAY_TOO_LARGE, MIG_BAD_ARGUMENTS, MIG_MAX_FIELDS, MIG_REPLY_ID_OFFSET, MIG_REPLY_MISMATCH,
        MIG_SERVER_DIED, MIG_TYPE_ERROR, Words, decode, is_complex,
    };

    use super::*;
    use crate::ipc::ipc_kmsg::KmsgDescriptor;
    use crate::ipc::ipc_port::{IpcPort, PortRef};
    use crate::kern::ipc_kobject::{KOut, kmsg_from_values, mig_reply_error};
    use crate::test_rng::Rng;

    const BEHAVIORS: [u32; 6] = [
        EXCEPTION_DEFAULT,
        EXCEPTION_STATE,
        EXCEPTION_STATE_IDENTITY,
        EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES,
        EXCEPTION_STATE | MACH_EXCEPTION_CODES,
        EXCEPTION_STATE_IDENTITY | MACH_EXCEPTION_CODES,
    ];

    fn behavior(raw: u32) -> ExceptionBehavior {
        ExceptionBehavior::from_raw(raw).expect("a valid behavior")
    }

    fn words_of(w: &Words<'_>) -> Vec<u32> {
        (0..w.len()).map(|i| w.get(i)).collect()
    }

    /// A port the kernel receives on, standing in for a thread's, task's or handler's.
    fn port() -> PortRef {
        IpcPort::new_kobject(crate::ipc::ipc_port::IkotType::None, alloc::sync::Weak::<()>::new())
    }

    #[test]
    fn behaviors_name_their_routines() {
        let ids: Vec<i32> = BEHAVIORS.iter().map(|b| behavior(*b).routine().id).collect();
        assert_eq!(ids, [2401, 2402, 2403, 2405, 2406, 2407]);
        for bad in [0, 4, MACH_EXCEPTION_CODES, 4 | MACH_EXCEPTION_CODES, 0x4000_0001, u32::MAX] {
            assert_eq!(ExceptionBehavior::from_raw(bad), None, "{bad:#x}");
        }
    }

    #[test]
    fn every_behavior_and_flavor_encodes_as_declared() {
        let raised = [
            Raised { exception: EXC_BAD_ACCESS, code: 0x1_0000_0002, subcode: -8 },
            Raised { exception: EXC_BAD_INSTRUCTION, code: 1, subcode: 0x4000 },
            Raised { exception: EXC_BREAKPOINT, code: i64::MIN, subcode: i64::MAX },
        ];
        // The flavor the kernel sends (ARM_THREAD_STATE64), and states of every bound.
        let states = [
            (ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT),
            (ARM_THREAD_STATE64, 0),
            (17, 1),
            (ARM_THREAD_STATE64, THREAD_STATE_MAX),
        ];
        let mut checked = 0;
        for raw in BEHAVIORS {
            let b = behavior(raw);
            let routine = b.routine();
            for r in raised {
                for (flavor, count) in states {
                    let state: Vec<u32> = (0..count).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
                    let (thread, task, handler, reply) = (port(), port(), port(), port());
                    let identity = (MsgRight::Send(thread.make_send()), MsgRight::Send(task.make_send()));
                    let kmsg = b
                        .request(
                            r,
                            Some(identity),
                            Some((flavor, state.clone())),
                            MsgRight::Send(handler.make_send()),
                            MsgRight::SendOnce(reply.make_send_once()),
                        )
                        .expect("request");
                    assert_eq!(kmsg.id, routine.id);
                    assert_eq!(kmsg.size as usize, MACH_MSG_HEADER_SIZE as usize + kmsg.body.len());
                    assert_eq!(mach_msgh_bits_remote(kmsg.bits), MACH_MSG_TYPE_PORT_SEND);
                    assert_eq!(mach_msgh_bits_local(kmsg.bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
                    let complex = kmsg.bits & MACH_MSGH_BITS_COMPLEX != 0;
                    assert_eq!(complex, b.sends_identity());
                    assert_eq!(complex, is_complex(routine.request));
                    let mut args = [Arg::None; MIG_MAX_FIELDS];
                    assert_eq!(
                        decode(routine.request, complex, false, &kmsg.body, &mut args),
                        Ok(KernReturn::KERN_SUCCESS),
                        "{}",
                        routine.name
                    );
                    let mut at = 0;
                    if b.sends_identity() {
                        assert!(matches!(args[0], Arg::Port(_, MACH_MSG_TYPE_PORT_SEND)));
                        assert!(matches!(args[1], Arg::Port(_, MACH_MSG_TYPE_PORT_SEND)));
                        let rights: Vec<&PortRef> = kmsg
                            .descriptors
                            .iter()
                            .filter_map(|d| match d {
                                KmsgDescriptor::Port { right: MsgRight::Send(s), .. } => Some(s.port()),
                                _ => None,
                            })
                            .collect();
                        assert_eq!(rights.len(), 2);
                        assert!(alloc::sync::Arc::ptr_eq(rights[0], &thread));
                        assert!(alloc::sync::Arc::ptr_eq(rights[1], &task));
                        at = 2;
                    } else {
                        assert!(kmsg.descriptors.is_empty());
                    }
                    assert_eq!(args[at].int(), r.exception);
                    let Arg::Array(codes) = args[at + 1] else { panic!("codes") };
                    let want = if b.codes64 {
                        let (c, s) = (r.code as u64, r.subcode as u64);
                        vec![c as u32, (c >> 32) as u32, s as u32, (s >> 32) as u32]
                    } else {
                        vec![r.code as u32, r.subcode as u32]
                    };
                    assert_eq!(words_of(&codes), want, "{}", routine.name);
                    if b.sends_state() {
                        assert_eq!(args[at + 2].int(), flavor);
                        let Arg::Array(got) = args[at + 3] else { panic!("state") };
                        assert_eq!(words_of(&got), state);
                        assert_eq!(routine.request.len(), at + 4);
                    } else {
                        assert_eq!(routine.request.len(), at + 2);
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 6 * 3 * 4);
    }

    #[test]
    fn requests_refuse_what_the_declaration_does_not_allow() {
        let r = Raised { exception: EXC_BAD_ACCESS, code: 1, subcode: 2 };
        for raw in BEHAVIORS {
            let b = behavior(raw);
            let identity = || Some((MsgRight::Null, MsgRight::Null));
            let state = || Some((ARM_THREAD_STATE64, vec![0; ARM_THREAD_STATE64_COUNT as usize]));
            let over = Some((ARM_THREAD_STATE64, vec![0; THREAD_STATE_MAX as usize + 1]));
            let send = |state| b.request(r, identity(), state, MsgRight::Null, MsgRight::Null).err();
            if b.sends_state() {
                assert_eq!(send(over), Some(MIG_ARRAY_TOO_LARGE));
                assert_eq!(send(None), Some(KernReturn::KERN_INVALID_ARGUMENT));
            } else {
                // The state is not the default behavior's to send.
                assert_eq!(send(over), None);
            }
            let no_identity = b.request(r, None, state(), MsgRight::Null, MsgRight::Null).err();
            let want = b.sends_identity().then_some(KernReturn::KERN_INVALID_ARGUMENT);
            assert_eq!(no_identity, want);
        }
    }

    /// The answer a handler sends for `b`: `code`, and for the state behaviors a new state.
    fn handler_reply(b: ExceptionBehavior, code: KernReturn, flavor: u32, state: &[u32]) -> IpcKmsg {
        let routine = b.routine();
        if code != KernReturn::KERN_SUCCESS {
            return mig_reply_error(MsgRight::Null, routine.id, code);
        }
        let values =
            if b.sends_state() { vec![KOut::Int(flavor), KOut::Words(state.to_vec())] } else { vec![] };
        let id = routine.id + MIG_REPLY_ID_OFFSET;
        kmsg_from_values(routine.reply, id, values, Some(code), MsgRight::Null, MsgRight::Null)
            .map_err(|(_, kr)| kr)
            .expect("a valid reply encodes")
    }

    #[test]
    fn replies_decode_through_the_typed_reply() {
        let state = [7u32; ARM_THREAD_STATE64_COUNT as usize];
        for raw in BEHAVIORS {
            let b = behavior(raw);
            let ok = b.reply(handler_reply(b, KernReturn::KERN_SUCCESS, ARM_THREAD_STATE64, &state));
            if b.sends_state() {
                assert_eq!(
                    ok,
                    Ok(ExceptionReply::NewState { flavor: ARM_THREAD_STATE64, state: state.to_vec() })
                );
            } else {
                assert_eq!(ok, Ok(ExceptionReply::Handled));
            }
            // The handler declined: its code comes back, and the exception goes on.
            let declined = b.reply(handler_reply(b, KernReturn::KERN_FAILURE, 0, &[]));
            assert_eq!(declined, Err(KernReturn::KERN_FAILURE));
            // A reply to another routine, and the server-died notification.
            let mut other = handler_reply(b, KernReturn::KERN_SUCCESS, ARM_THREAD_STATE64, &state);
            other.id += 1;
            assert_eq!(b.reply(other), Err(MIG_REPLY_MISMATCH));
            let mut died = handler_reply(b, KernReturn::KERN_SUCCESS, 0, &[]);
            died.id = mach::port::MACH_NOTIFY_SEND_ONCE;
            assert_eq!(b.reply(died), Err(MIG_SERVER_DIED));
        }
        // A default reply is exactly NDR + RetCode; a state reply's body is not one.
        let default = behavior(EXCEPTION_DEFAULT);
        let state_reply = handler_reply(behavior(EXCEPTION_STATE), KernReturn::KERN_SUCCESS, 6, &state);
        let mut as_default = state_reply;
        as_default.id = default.routine().id + MIG_REPLY_ID_OFFSET;
        assert_eq!(default.reply(as_default), Err(MIG_BAD_ARGUMENTS));
    }

    #[test]
    fn random_replies_give_an_error_or_a_typed_reply() {
        let mut rng = Rng(0x6578_635f_7265_706c);
        let mut outcomes = [0usize; 3];
        for round in 0..50_000 {
            let b = behavior(BEHAVIORS[rng.index(BEHAVIORS.len())]);
            let want_id = b.routine().id + MIG_REPLY_ID_OFFSET;
            let flavor = rng.next() as u32;
            let state: Vec<u32> =
                (0..rng.index(THREAD_STATE_MAX as usize + 1)).map(|_| rng.next() as u32).collect();
            let mut answer = handler_reply(b, KernReturn::KERN_SUCCESS, flavor, &state);
            let resize = |a: &mut IpcKmsg| a.size = MACH_MSG_HEADER_SIZE + a.body.len() as u32;
            // What the reply must decode to (None: only "no panic, and a sane answer").
            let expect: Option<Result<ExceptionReply, KernReturn>> = match rng.below(12) {
                0 | 1 => Some(Ok(if b.sends_state() {
                    ExceptionReply::NewState { flavor, state: state.clone() }
                } else {
                    ExceptionReply::Handled
                })),
                2 => {
                    answer.id = loop {
                        let id = if rng.below(4) == 0 {
                            mach::port::MACH_NOTIFY_SEND_ONCE
                        } else {
                            rng.next() as i32
                        };
                        if id != want_id {
                            break id;
                        }
                    };
                    let died = answer.id == mach::port::MACH_NOTIFY_SEND_ONCE;
                    Some(Err(if died { MIG_SERVER_DIED } else { MIG_REPLY_MISMATCH }))
                }
                3 => {
                    let len = answer.body.len();
                    answer.body.truncate(rng.index(len));
                    resize(&mut answer);
                    Some(Err(MIG_BAD_ARGUMENTS))
                }
                4 => {
                    for _ in 0..1 + rng.index(16) {
                        answer.body.push(rng.next() as u8);
                    }
                    resize(&mut answer);
                    Some(Err(MIG_BAD_ARGUMENTS))
                }
                5 => {
                    // `msgh_size` disagrees with the body it came with.
                    let real = answer.size;
                    answer.size = loop {
                        let s = rng.below(2 * u64::from(real) + 64) as u32;
                        if s != real {
                            break s;
                        }
                    };
                    Some(Err(MIG_TYPE_ERROR))
                }
                6 => {
                    let code = KernReturn(loop {
                        let c = rng.next() as i32;
                        if c != 0 {
                            break c;
                        }
                    });
                    let full = rng.below(2) == 0 && b.sends_state();
                    if full {
                        // A whole state reply whose RetCode is not success.
                        answer.body[8..12].copy_from_slice(&code.0.to_le_bytes());
                    } else {
                        answer = mig_reply_error(MsgRight::Null, b.routine().id, code);
                    }
                    Some(Err(code))
                }
                7 => {
                    answer.bits |= MACH_MSGH_BITS_COMPLEX;
                    Some(Err(MIG_TYPE_ERROR))
                }
                8 => {
                    // A descriptor no field of the reply takes.
                    answer.descriptors.push(KmsgDescriptor::Port { offset: 0, right: MsgRight::Null });
                    Some(Err(MIG_TYPE_ERROR))
                }
                9 if b.sends_state() => {
                    // The state's count: over THREAD_STATE_MAX with every word there, or one
                    // that disagrees with the words that follow.
                    let have = state.len();
                    let n = if rng.below(2) == 0 {
                        let n = THREAD_STATE_MAX as usize + 1 + rng.index(4);
                        answer.body.extend((0..4 * (n - have)).map(|_| rng.next() as u8));
                        resize(&mut answer);
                        n
                    } else {
                        loop {
                            let n = rng.index(THREAD_STATE_MAX as usize + 1);
                            if n != have {
                                break n;
                            }
                        }
                    };
                    answer.body[16..20].copy_from_slice(&(n as u32).to_le_bytes());
                    Some(Err(MIG_BAD_ARGUMENTS))
                }
                _ => {
                    // Junk of any length, with any bits and an id that may be right.
                    answer.body = (0..rng.index(64 + 4 * THREAD_STATE_MAX as usize))
                        .map(|_| rng.next() as u8)
                        .collect();
                    if rng.below(2) == 0 && answer.body.len() >= 20 {
                        // Often a plausible head: NDR, RetCode 0, a flavor, a count in range.
                        answer.body[8..12].copy_from_slice(&0u32.to_le_bytes());
                        let n = (answer.body.len() - 20) / 4;
                        answer.body[16..20].copy_from_slice(&(n as u32).to_le_bytes());
                    }
                    answer.bits = if rng.below(4) == 0 { rng.next() as u32 } else { 0 };
                    if rng.below(4) == 0 {
                        answer.id = rng.next() as i32;
                    }
                    resize(&mut answer);
                    None
                }
            };
            let got = b.reply(answer);
            match (got, expect) {
                (got, Some(want)) => {
                    assert_eq!(got, want, "round {round}: {}", b.routine().name);
                    outcomes[usize::from(got.is_err())] += 1;
                }
                (Ok(ExceptionReply::Handled), None) => assert!(!b.sends_state(), "round {round}"),
                (Ok(ExceptionReply::NewState { state, .. }), None) => {
                    assert!(b.sends_state() && state.len() <= THREAD_STATE_MAX as usize, "round {round}");
                    outcomes[2] += 1;
                }
                (Err(kr), None) => assert_ne!(kr, KernReturn::KERN_SUCCESS, "round {round}"),
            }
        }
        // Valid replies, refused ones, and junk that happened to parse all came up.
        assert!(outcomes[0] > 5_000 && outcomes[1] > 20_000 && outcomes[2] > 100, "{outcomes:?}");
    }
}
