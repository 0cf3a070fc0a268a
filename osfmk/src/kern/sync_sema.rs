//! Semaphores (XNU `sync_sema.c`): counting semaphores that threads of any task holding a
//! send right to the semaphore's port can signal and wait on — `semaphore_create` /
//! `semaphore_destroy` (task routines) and the semaphore traps (−33…−39).
//!
//! A semaphore counts signals not yet consumed; a waiter that finds none blocks. A signal that
//! finds waiters leaves a *wakeup token* and wakes one: whichever waiter takes the token
//! (the woken one, or one whose timeout fired in the same instant) returns success, so each
//! signal satisfies exactly one wait and none is lost. Waits are interruptible (signals,
//! termination: `KERN_ABORTED`) and may time out (`KERN_OPERATION_TIMED_OUT`); destroying the
//! semaphore ends them with `KERN_TERMINATED`.

use alloc::sync::Arc;

use mach::time::NSEC_PER_SEC;
use mach::{KernReturn, MachPortName};

use crate::ipc::ipc_port::{IkotType, PortRef};
use crate::kern::ipc_kobject::{KObject, ipc_kobject_alloc_port};
use crate::kern::locks::SimpleLock;
use crate::kern::sched_prim::{self, current_thread};
use crate::kern::thread::{ThreadRef, WaitResult};
use crate::kern::waitq::{Interruptible, Wait, WaitQueue};

/// `SYNC_POLICY_FIFO` and friends: accepted and recorded; waiters are woken oldest first.
pub const SYNC_POLICY_MAX: u32 = 3;

/// A semaphore (XNU `struct semaphore`).
pub struct Semaphore {
    state: SimpleLock<SemState>,
    port: spin::Once<PortRef>,
    policy: u32,
    /// Waiting threads.
    waitq: WaitQueue,
}

struct SemState {
    active: bool,
    /// Signals not yet consumed.
    count: u32,
    /// Threads blocked in a wait.
    waiters: u32,
    /// Signals handed to waiters that have not yet woken to take them.
    tokens: u32,
}

/// Shared reference to a semaphore.
pub type SemaphoreRef = Arc<Semaphore>;

impl Semaphore {
    /// A semaphore with `value` signals available (`semaphore_create`).
    pub fn create(policy: u32, value: i32) -> Result<SemaphoreRef, KernReturn> {
        if policy > SYNC_POLICY_MAX || value < 0 {
            return Err(KernReturn::KERN_INVALID_ARGUMENT);
        }
        Ok(Arc::new(Semaphore {
            state: SimpleLock::new(
                &crate::kern::lock_order::SEMAPHORE,
                SemState { active: true, count: value as u32, waiters: 0, tokens: 0 },
            ),
            port: spin::Once::new(),
            policy,
            waitq: WaitQueue::new(),
        }))
    }

    /// The semaphore's port (made on first use; the kernel receives on it).
    pub fn port(self: &Arc<Self>) -> PortRef {
        self.port.call_once(|| ipc_kobject_alloc_port(self)).clone()
    }

    /// The policy it was created with.
    pub fn policy(&self) -> u32 {
        self.policy
    }

    /// `semaphore_signal`: one signal; wakes one waiter if any.
    pub fn signal(&self) -> Result<(), KernReturn> {
        let wake = {
            let mut st = self.state.lock();
            if !st.active {
                return Err(KernReturn::KERN_TERMINATED);
            }
            if st.waiters > st.tokens {
                st.tokens += 1;
                true
            } else {
                st.count = st.count.saturating_add(1);
                false
            }
        };
        if wake {
            self.waitq.wakeup_one();
        }
        Ok(())
    }

    /// `semaphore_signal_all`: wake every waiter; no signal is kept for later.
    pub fn signal_all(&self) -> Result<(), KernReturn> {
        {
            let mut st = self.state.lock();
            if !st.active {
                return Err(KernReturn::KERN_TERMINATED);
            }
            st.tokens = st.waiters;
        }
        self.waitq.wakeup_all();
        Ok(())
    }

    /// `semaphore_signal_thread`: wake `thread` if it waits here (`KERN_NOT_WAITING` if not);
    /// with no thread, wake one waiter if there is one (`KERN_NOT_WAITING` if none).
    pub fn signal_thread(&self, thread: Option<&ThreadRef>) -> Result<(), KernReturn> {
        let mut st = self.state.lock();
        if !st.active {
            return Err(KernReturn::KERN_TERMINATED);
        }
        if st.waiters <= st.tokens {
            return Err(KernReturn::KERN_NOT_WAITING);
        }
        st.tokens += 1;
        let woke = match thread {
            Some(t) => self.waitq.wakeup_thread(t),
            None => self.waitq.wakeup_one(),
        };
        if !woke {
            st.tokens -= 1;
            return Err(KernReturn::KERN_NOT_WAITING);
        }
        Ok(())
    }

    /// `semaphore_wait` / `semaphore_timedwait`: take a signal, waiting for one until
    /// `deadline` (None: forever), or not at all with `poll`. If `signal` is given it is
    /// signalled first (`semaphore_wait_signal`).
    pub fn wait(
        &self,
        deadline: Option<u64>,
        poll: bool,
        signal: Option<&Semaphore>,
    ) -> Result<(), KernReturn> {
        // Signal first: a reply that comes back at once is a counted signal, never lost.
        if let Some(other) = signal {
            other.signal()?;
        }
        let mut st = self.state.lock();
        if !st.active {
            return Err(KernReturn::KERN_TERMINATED);
        }
        if st.count > 0 {
            st.count -= 1;
            return Ok(());
        }
        if poll {
            return Err(KernReturn::KERN_OPERATION_TIMED_OUT);
        }
        st.waiters += 1;
        loop {
            let mut w = Wait::begin(Interruptible::Yes, deadline);
            w.on(&self.waitq);
            drop(st);
            let result = w.block();
            st = self.state.lock();
            if st.tokens > 0 {
                st.tokens -= 1;
                st.waiters -= 1;
                return Ok(());
            }
            if !st.active {
                st.waiters -= 1;
                return Err(KernReturn::KERN_TERMINATED);
            }
            match result {
                WaitResult::TimedOut => {
                    st.waiters -= 1;
                    return Err(KernReturn::KERN_OPERATION_TIMED_OUT);
                }
                WaitResult::Interrupted => {
                    st.waiters -= 1;
                    return Err(KernReturn::KERN_ABORTED);
                }
                // Woken, but another waiter took the signal: wait again.
                WaitResult::Awakened => {}
            }
        }
    }

    /// `semaphore_destroy`: waiters return `KERN_TERMINATED`, the port dies, later calls fail.
    pub fn destroy(&self) {
        {
            let mut st = self.state.lock();
            if !st.active {
                return;
            }
            st.active = false;
        }
        self.waitq.wakeup_all();
        if let Some(p) = self.port.get() {
            p.destroy();
        }
    }
}

impl KObject for Semaphore {
    const IKOT: IkotType = IkotType::Semaphore;
}

/// The semaphore behind send right `name` in the caller's space (XNU
/// `port_name_to_semaphore`), with [`IpcSpace::lookup_kobject`]'s errors: `KERN_INVALID_NAME`
/// for a bad name, `KERN_INVALID_RIGHT` for no send right, `KERN_INVALID_ARGUMENT` for a port
/// that is not a semaphore.
///
/// [`IpcSpace::lookup_kobject`]: crate::ipc::ipc_space::IpcSpace::lookup_kobject
pub fn port_name_to_semaphore(name: u32) -> Result<SemaphoreRef, KernReturn> {
    current_thread().task.itk_space.lookup_kobject::<Semaphore>(name, mach::port::MACH_PORT_TYPE_SEND)
}

/// A relative `(sec, nsec)` wait as `wait` takes it: a deadline, or a poll for zero. A
/// `nsec` outside `0..NSEC_PER_SEC` is `KERN_INVALID_VALUE` (XNU's `BAD_MACH_TIMESPEC`).
pub fn timed(sec: u32, nsec: i32) -> Result<(Option<u64>, bool), KernReturn> {
    let nsec = u32::try_from(nsec).ok().filter(|&n| u64::from(n) < NSEC_PER_SEC);
    let Some(nsec) = nsec else { return Err(KernReturn::KERN_INVALID_VALUE) };
    if sec == 0 && nsec == 0 {
        return Ok((None, true));
    }
    let ns = u64::from(sec) * NSEC_PER_SEC + u64::from(nsec);
    Ok((Some(sched_prim::deadline_after_ns(ns)), false))
}

/// The thread behind port name `name` in the caller's space (`semaphore_signal_thread`).
pub fn port_name_to_thread(name: u32) -> Result<ThreadRef, KernReturn> {
    current_thread()
        .task
        .itk_space
        .lookup_kobject::<crate::kern::thread::Thread>(name, mach::port::MACH_PORT_TYPE_SEND)
}

/// The semaphore traps (−33…−39), under XNU's names, each answering a `kern_return_t`.
pub mod traps {
    use super::*;

    /// −33.
    pub fn semaphore_signal_trap(signal_name: MachPortName) -> Result<(), KernReturn> {
        port_name_to_semaphore(signal_name)?.signal()
    }

    /// −34.
    pub fn semaphore_signal_all_trap(signal_name: MachPortName) -> Result<(), KernReturn> {
        port_name_to_semaphore(signal_name)?.signal_all()
    }

    /// −35: wake `thread_name` (or, for `MACH_PORT_NULL`, any one waiter).
    pub fn semaphore_signal_thread_trap(
        signal_name: MachPortName,
        thread_name: MachPortName,
    ) -> Result<(), KernReturn> {
        let sem = port_name_to_semaphore(signal_name)?;
        let thread = match thread_name {
            mach::port::MACH_PORT_NULL => None,
            name => Some(port_name_to_thread(name)?),
        };
        sem.signal_thread(thread.as_ref())
    }

    /// −36.
    pub fn semaphore_wait_trap(wait_name: MachPortName) -> Result<(), KernReturn> {
        port_name_to_semaphore(wait_name)?.wait(None, false, None)
    }

    /// −37: signal `signal_name`, then wait on `wait_name`.
    pub fn semaphore_wait_signal_trap(
        wait_name: MachPortName,
        signal_name: MachPortName,
    ) -> Result<(), KernReturn> {
        let (w, s) = (port_name_to_semaphore(wait_name)?, port_name_to_semaphore(signal_name)?);
        w.wait(None, false, Some(&s))
    }

    /// −38: wait at most `sec` s + `nsec` ns (both 0: poll).
    pub fn semaphore_timedwait_trap(wait_name: MachPortName, sec: u32, nsec: i32) -> Result<(), KernReturn> {
        let (deadline, poll) = timed(sec, nsec)?;
        port_name_to_semaphore(wait_name)?.wait(deadline, poll, None)
    }

    /// −39.
    pub fn semaphore_timedwait_signal_trap(
        wait_name: MachPortName,
        signal_name: MachPortName,
        sec: u32,
        nsec: i32,
    ) -> Result<(), KernReturn> {
        let (deadline, poll) = timed(sec, nsec)?;
        let (w, s) = (port_name_to_semaphore(wait_name)?, port_name_to_semaphore(signal_name)?);
        w.wait(deadline, poll, Some(&s))
    }
}
