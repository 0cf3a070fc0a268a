//! `ipc_pset`: port sets — one name to receive from any of several ports (XNU `ipc_pset.c`).
//!
//! A set lists its member ports; each member records its set (one at a time). Lock order:
//! a set before its members' ports. A receiver on a set scans the members for a queued message
//! and, finding none, waits on the set — both under the set's lock. A sender that queues a
//! message on a member (no receiver waiting on the port itself) then wakes one of the set's
//! waiters, taking the set's lock only after dropping the port's; the woken receiver scans
//! again. Because the scan-then-wait is one step under the set lock and the message is queued
//! before the wakeup, no message is missed.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use mach::KernReturn;
use mach::message::{MACH_RCV_INTERRUPTED, MACH_RCV_PORT_DIED, MACH_RCV_TIMED_OUT, MachMsgReturn};

use super::ipc_mqueue::{IpcTimeout, IpcWaiter, Outcome, Received, Taken, wait};
use super::ipc_port::{IpcPort, PortRef};

use crate::kern::locks::SimpleLock;

/// Shared reference to a set.
pub type PsetRef = Arc<IpcPset>;

/// A port set (XNU `struct ipc_pset`).
pub struct IpcPset {
    state: SimpleLock<PsetState>,
}

struct PsetState {
    active: bool,
    members: Vec<Weak<IpcPort>>,
    receivers: VecDeque<Arc<IpcWaiter>>,
}

impl core::fmt::Debug for IpcPset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("IpcPset").field("active", &st.active).field("members", &st.members.len()).finish()
    }
}

impl IpcPset {
    /// A new, empty set.
    pub fn new() -> PsetRef {
        Arc::new(IpcPset {
            state: SimpleLock::new(
                &crate::kern::lock_order::IPC_PSET,
                PsetState { active: true, members: Vec::new(), receivers: VecDeque::new() },
            ),
        })
    }

    /// The live member ports.
    pub fn members(&self) -> Vec<PortRef> {
        self.state.lock().members.iter().filter_map(Weak::upgrade).collect()
    }

    /// Add `port` (`mach_port_insert_member`): `KERN_ALREADY_IN_SET` if it is in a set.
    pub fn insert(self: &Arc<Self>, port: &PortRef) -> Result<(), KernReturn> {
        let mut st = self.state.lock();
        if !st.active {
            return Err(KernReturn::KERN_INVALID_RIGHT);
        }
        port.join_set(Arc::downgrade(self))?;
        st.members.push(Arc::downgrade(port));
        drop(st);
        // Messages may already be waiting on the new member.
        self.wake_one();
        Ok(())
    }

    /// Take `port` out (`mach_port_extract_member`): `KERN_NOT_IN_SET` if it is not ours.
    pub fn remove(&self, port: &IpcPort) -> Result<(), KernReturn> {
        let mut st = self.state.lock();
        let before = st.members.len();
        st.members.retain(|w| !core::ptr::eq(w.as_ptr(), port));
        if st.members.len() == before {
            return Err(KernReturn::KERN_NOT_IN_SET);
        }
        port.leave_set(self);
        Ok(())
    }

    /// A member's queue got a message: wake one receiver waiting on the set to look again.
    pub(crate) fn wake_one(&self) {
        // A receiver whose wait already ended (its deadline, an abort) is still listed until
        // it runs again; waking it would wake nobody, and it will not scan again. Pass over
        // such receivers to one that really waits.
        loop {
            let waiter = self.state.lock().receivers.pop_front();
            match waiter {
                Some(w) if !w.wakeup() => continue,
                _ => return,
            }
        }
    }

    /// Destroy the set (its name went away): members leave it, waiting receivers return
    /// `MACH_RCV_PORT_DIED`.
    pub fn destroy(&self) {
        let (members, receivers) = {
            let mut st = self.state.lock();
            if !st.active {
                return;
            }
            st.active = false;
            (core::mem::take(&mut st.members), core::mem::take(&mut st.receivers))
        };
        for port in members.iter().filter_map(Weak::upgrade) {
            port.leave_set(self);
        }
        for w in receivers {
            *w.outcome.lock() = Outcome::PortDied;
            w.wakeup();
        }
    }
}

/// What one scan of a set's members came to.
enum Scan {
    /// A member had a message (or, with `MACH_RCV_LARGE`, one too large).
    Found(Taken, PortRef),
    /// Nothing queued and the receiver will not wait.
    Nothing,
    /// Nothing queued: waited as this receiver (and how that ended); scan again.
    Wait(wait::Woke, Arc<IpcWaiter>),
}

/// Receive from any member of `pset` (XNU `ipc_mqueue_receive` on a set): the message and the
/// member it came from. Errors as for a port; a set with no members just waits.
pub fn ipc_pset_receive(
    pset: &IpcPset,
    max_size: u32,
    large: bool,
    timeout: IpcTimeout,
) -> Result<(Received, PortRef), MachMsgReturn> {
    loop {
        // The scan holds the set's lock; what it finds is finished after unlocking, because
        // using up the destination right may send a notification to a member of this very
        // set (whose wakeup takes the set's lock), and because the last reference to a member
        // may go with `scanned` (a port dropped releases what it still holds).
        let mut scanned = Vec::new();
        let step = {
            let mut st = pset.state.lock();
            if !st.active {
                return Err(MACH_RCV_PORT_DIED);
            }
            st.members.retain(|w| w.strong_count() > 0);
            let mut step = None;
            for port in st.members.iter().filter_map(Weak::upgrade) {
                match port.mqueue_take(max_size, large) {
                    Taken::Empty => scanned.push(port),
                    taken => {
                        step = Some(Scan::Found(taken, port));
                        break;
                    }
                }
            }
            match step {
                Some(found) => found,
                None if timeout == IpcTimeout::Poll => Scan::Nothing,
                None => {
                    let waiter = IpcWaiter::new(max_size, large);
                    st.receivers.push_back(waiter.clone());
                    let w = wait::begin(&waiter.waitq, timeout);
                    drop(st);
                    drop(scanned);
                    let woke = wait::block(w);
                    Scan::Wait(woke, waiter)
                }
            }
        };
        let (woke, waiter) = match step {
            Scan::Found(Taken::Message(kmsg, seqno), port) => {
                return Ok((Received::Message(kmsg.delivered(), seqno), port));
            }
            Scan::Found(Taken::TooLarge(size), port) => return Ok((Received::TooLarge(size), port)),
            Scan::Found(Taken::Empty, _) | Scan::Nothing => return Err(MACH_RCV_TIMED_OUT),
            Scan::Wait(woke, waiter) => (woke, waiter),
        };
        let outcome = {
            let mut st = pset.state.lock();
            st.receivers.retain(|w| !Arc::ptr_eq(w, &waiter));
            core::mem::replace(&mut *waiter.outcome.lock(), Outcome::Waiting)
        };
        if let Outcome::PortDied = outcome {
            return Err(MACH_RCV_PORT_DIED);
        }
        match woke {
            wait::Woke::TimedOut => return Err(MACH_RCV_TIMED_OUT),
            wait::Woke::Interrupted => return Err(MACH_RCV_INTERRUPTED),
            wait::Woke::Awakened => {}
        }
    }
}
