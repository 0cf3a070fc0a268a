//! `ipc_mqueue`: the message queue inside every port — queued messages, the threads waiting
//! to receive, the senders waiting for room, the queue limit and the sequence number.
//!
//! Everything here runs under the port's lock (`IpcPort::state`), so "is anyone waiting?",
//! "is there room?" and "take the next message" are one atomic decision. Two rules shape it:
//!
//! * **Hand-off.** A sender that finds a receiver already waiting gives the message straight to
//!   that receiver's [`IpcWaiter`] and wakes it; the message never touches the queue.
//! * **Wait under the lock.** A thread that must wait registers itself and begins its wait
//!   on a wait queue (`waitq::Wait::begin`) while still holding the port lock, then blocks
//!   after unlocking. A message or a wakeup that comes in between is therefore never lost.
//!   Blocked senders wait on the port's `send_waitq`; each blocked receiver on its own
//!   [`IpcWaiter`]'s queue, so a hand-off wakes exactly the receiver it chose.
//!
//! On the host the wait queues never hold anyone (`waitq`): the unit tests only ever poll.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::message::{
    MACH_RCV_INTERRUPTED, MACH_RCV_PORT_CHANGED, MACH_RCV_PORT_DIED, MACH_RCV_TIMED_OUT,
    MACH_SEND_INTERRUPTED, MACH_SEND_INVALID_DEST, MACH_SEND_TIMED_OUT, MachMsgReturn,
};
use mach::port::{MACH_PORT_QLIMIT_DEFAULT, MACH_PORT_QLIMIT_KERNEL};

use super::ipc_kmsg::IpcKmsg;
use super::ipc_port::IpcPort;
use crate::kern::locks::SimpleLock;
use crate::kern::waitq::WaitQueue;

/// How long a send or receive may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcTimeout {
    /// Until it can complete (or is interrupted).
    Forever,
    /// Not at all: a timeout of 0 (`MACH_SEND_TIMEOUT`/`MACH_RCV_TIMEOUT` with 0).
    Poll,
    /// Until this absolute time (`mach_absolute_time` ticks).
    Until(u64),
}

/// How a waiting receiver's wait ended, as far as the queue is concerned.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing yet: the receiver was woken by its deadline, an abort, or not at all.
    Waiting,
    /// A sender handed this message over, with the sequence number it was received as.
    Message(IpcKmsg, u32),
    /// With `MACH_RCV_LARGE`: a message of this size (without trailer) did not fit and stays
    /// queued.
    TooLarge(u32),
    /// The port died under the receiver.
    PortDied,
    /// The receive right moved to another space (in a message) under the receiver.
    PortChanged,
}

/// A thread blocked in a receive (XNU keeps this state in the thread: `ith_msize`,
/// `ith_state`, `ith_kmsg`).
pub struct IpcWaiter {
    /// The most message bytes (header and body, no trailer) the receiver can take.
    pub(crate) max_size: u32,
    /// `MACH_RCV_LARGE`: leave a message that does not fit queued and report its size.
    pub(crate) large: bool,
    pub(crate) outcome: SimpleLock<Outcome>,
    /// The receiving thread waits here.
    pub(crate) waitq: WaitQueue,
}

impl core::fmt::Debug for IpcWaiter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IpcWaiter").field("max_size", &self.max_size).field("large", &self.large).finish()
    }
}

impl IpcWaiter {
    pub(crate) fn new(max_size: u32, large: bool) -> Arc<Self> {
        Arc::new(Self {
            max_size,
            large,
            outcome: SimpleLock::new(&crate::kern::lock_order::IPC_MQUEUE_WAITER, Outcome::Waiting),
            waitq: WaitQueue::new(),
        })
    }

    /// Wake the receiver (after its outcome was set, and after the queue's lock is dropped).
    /// False if it was not waiting any more (its wait ended by its deadline or an abort).
    pub(crate) fn wakeup(&self) -> bool {
        self.waitq.wakeup_all() > 0
    }
}

/// A port's message queue (XNU `struct ipc_mqueue`, the `ip_messages` of a port).
#[derive(Debug)]
pub(crate) struct IpcMqueue {
    /// How many messages may wait before senders block (`MACH_PORT_QLIMIT_*`, reference §5.3).
    qlimit: u32,
    /// Sequence number of the next message received.
    seqno: u32,
    messages: VecDeque<IpcKmsg>,
    /// Receivers waiting for a message, longest-waiting first.
    receivers: VecDeque<Arc<IpcWaiter>>,
    /// Senders blocked on a full queue; they sleep on the port's `send_waitq`.
    blocked_senders: u32,
}

/// What a receive found.
pub enum Taken {
    /// The next message and its sequence number.
    Message(IpcKmsg, u32),
    /// With `MACH_RCV_LARGE`: the next message needs this many bytes and stays queued.
    TooLarge(u32),
    /// The queue is empty.
    Empty,
}

impl IpcMqueue {
    /// The queue of a port whose receive right lives in a task's space.
    pub(crate) const fn new_user() -> Self {
        Self::with_limit(MACH_PORT_QLIMIT_DEFAULT)
    }

    /// The queue of a kernel-owned port: the kernel serves requests synchronously, so its
    /// ports take XNU's large kernel limit rather than throttling senders.
    pub(crate) const fn new_kernel() -> Self {
        Self::with_limit(MACH_PORT_QLIMIT_KERNEL)
    }

    const fn with_limit(qlimit: u32) -> Self {
        Self { qlimit, seqno: 0, messages: VecDeque::new(), receivers: VecDeque::new(), blocked_senders: 0 }
    }

    pub(crate) const fn qlimit(&self) -> u32 {
        self.qlimit
    }

    /// Change the queue limit (`mach_port_set_attributes`); raising it lets blocked senders in.
    pub(crate) fn set_qlimit(&mut self, qlimit: u32) -> bool {
        let grew = qlimit > self.qlimit;
        self.qlimit = qlimit;
        grew && self.blocked_senders > 0
    }

    /// Messages waiting.
    pub(crate) fn count(&self) -> u32 {
        u32::try_from(self.messages.len()).unwrap_or(u32::MAX)
    }

    pub(crate) const fn seqno(&self) -> u32 {
        self.seqno
    }

    fn next_seqno(&mut self) -> u32 {
        let s = self.seqno;
        self.seqno = self.seqno.wrapping_add(1);
        s
    }

    /// Deliver `kmsg` (XNU `ipc_mqueue_post`): hand it to the first waiting receiver, else
    /// queue it if there is room or `ignore_limit` (send-once rights and kernel replies are
    /// never throttled). Receivers to wake are added to `wake`, for the caller to wake after
    /// unlocking. A full queue gives the message back.
    // A kmsg is a few words of header and owned vectors: handing it back by value is cheaper
    // than a heap allocation per message.
    #[allow(clippy::result_large_err)]
    pub(crate) fn post(
        &mut self,
        kmsg: IpcKmsg,
        ignore_limit: bool,
        wake: &mut Vec<Arc<IpcWaiter>>,
    ) -> Result<(), IpcKmsg> {
        let size = kmsg.size;
        let mut told_large = false;
        while let Some(waiter) = self.receivers.pop_front() {
            let mut outcome = waiter.outcome.lock();
            wake.push(waiter.clone());
            if size > waiter.max_size && waiter.large {
                // It would not fit: tell this receiver the size and try the next one.
                *outcome = Outcome::TooLarge(size);
                told_large = true;
                continue;
            }
            // Fits, or does not fit and the receiver will report MACH_RCV_TOO_LARGE and drop
            // it (no RCV_LARGE): either way it is this receiver's message now.
            let seqno = self.next_seqno();
            *outcome = Outcome::Message(kmsg, seqno);
            return Ok(());
        }
        // A receiver told the size will come back for this message: it must be queued.
        if ignore_limit || told_large || self.count() < self.qlimit {
            self.messages.push_back(kmsg);
            Ok(())
        } else {
            Err(kmsg)
        }
    }

    /// Take the next message for a receiver that can hold `max_size` bytes (XNU
    /// `ipc_mqueue_select_on_thread`). A message that does not fit is taken anyway (the caller
    /// reports `MACH_RCV_TOO_LARGE` and destroys it) unless `large` asks to leave it queued.
    pub(crate) fn take(&mut self, max_size: u32, large: bool) -> Taken {
        let Some(front) = self.messages.front() else { return Taken::Empty };
        if front.size > max_size && large {
            return Taken::TooLarge(front.size);
        }
        let Some(kmsg) = self.messages.pop_front() else { return Taken::Empty };
        let seqno = self.next_seqno();
        Taken::Message(kmsg, seqno)
    }

    /// Is the queue full and its last message a kernel notification identical to `kmsg`
    /// (same id and body, no descriptors)? Then `kmsg` says nothing new.
    pub(crate) fn full_and_repeats_last(&self, kmsg: &IpcKmsg) -> bool {
        self.count() >= self.qlimit
            && self.messages.back().is_some_and(|last| {
                last.sender == kmsg.sender
                    && last.id == kmsg.id
                    && last.body == kmsg.body
                    && last.descriptors.is_empty()
                    && kmsg.descriptors.is_empty()
            })
    }

    /// Are senders blocked waiting for room that a receive just made?
    pub(crate) fn has_blocked_senders(&self) -> bool {
        self.blocked_senders > 0
    }

    pub(crate) fn add_blocked_sender(&mut self) {
        self.blocked_senders += 1;
    }

    pub(crate) fn remove_blocked_sender(&mut self) {
        self.blocked_senders = self.blocked_senders.saturating_sub(1);
    }

    /// Register a receiver that is about to wait.
    pub(crate) fn add_receiver(&mut self, waiter: Arc<IpcWaiter>) {
        self.receivers.push_back(waiter);
    }

    /// Forget a receiver whose wait ended without a hand-off.
    pub(crate) fn remove_receiver(&mut self, waiter: &Arc<IpcWaiter>) {
        self.receivers.retain(|w| !Arc::ptr_eq(w, waiter));
    }

    /// Wake every receiver with `outcome` (port death, or the receive right moving away) and
    /// return them; the caller wakes them after unlocking.
    pub(crate) fn release_receivers(&mut self, outcome: fn() -> Outcome) -> Vec<Arc<IpcWaiter>> {
        self.receivers
            .drain(..)
            .inspect(|w| {
                *w.outcome.lock() = outcome();
            })
            .collect()
    }

    /// Empty the queue (the port died): the messages are returned so the caller destroys them
    /// after unlocking, since destroying a message releases rights.
    pub(crate) fn drain(&mut self) -> VecDeque<IpcKmsg> {
        core::mem::take(&mut self.messages)
    }
}

/// Waiting for a port: a wait queue wait with the message timeout, and its outcome.
pub(crate) mod wait {
    use super::IpcTimeout;
    use crate::kern::waitq::{Interruptible, Wait, WaitQueue, WaitResult};

    /// How a wait ended.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Woke {
        Awakened,
        TimedOut,
        Interrupted,
    }

    /// Begin an interruptible wait on `q` until `timeout` (under the lock that guards the
    /// condition).
    pub(crate) fn begin(q: &WaitQueue, timeout: IpcTimeout) -> Wait<'_> {
        let deadline = match timeout {
            IpcTimeout::Until(d) => Some(d),
            IpcTimeout::Forever | IpcTimeout::Poll => None,
        };
        let mut w = Wait::begin(Interruptible::Yes, deadline);
        w.on(q);
        w
    }

    /// Block (after unlocking) until the wait ends.
    pub(crate) fn block(w: Wait<'_>) -> Woke {
        match w.block() {
            WaitResult::Awakened => Woke::Awakened,
            WaitResult::TimedOut => Woke::TimedOut,
            WaitResult::Interrupted => Woke::Interrupted,
        }
    }
}

/// Send `kmsg` to `port` (XNU `ipc_mqueue_send`): hand it off or queue it, waiting for room
/// while the queue is full unless `ignore_limit`. On failure the message comes back with the
/// code — `MACH_SEND_TIMED_OUT`, `MACH_SEND_INTERRUPTED`, or `MACH_SEND_INVALID_DEST` if the
/// port died — so the caller can return its rights to the sender.
#[allow(clippy::result_large_err)] // see `IpcMqueue::post`
pub fn ipc_mqueue_send(
    port: &Arc<IpcPort>,
    kmsg: IpcKmsg,
    ignore_limit: bool,
    timeout: IpcTimeout,
) -> Result<(), (MachMsgReturn, IpcKmsg)> {
    // Receive rights carried: a message that would put a port inside its own queue is
    // destroyed, silently, as XNU does (nobody could ever receive it).
    let carried: Vec<_> = kmsg.receive_rights().cloned().collect();
    if carried.iter().any(|r| r.would_be_circular(port)) {
        drop(kmsg);
        return Ok(());
    }
    for r in &carried {
        r.set_destination(port);
    }
    let mut kmsg = kmsg;
    let mut wake = Vec::new();
    let mut set = None;
    loop {
        let woke = {
            let mut st = port.state.lock();
            if !st.active {
                return Err((MACH_SEND_INVALID_DEST, kmsg));
            }
            match st.messages.post(kmsg, ignore_limit, &mut wake) {
                Ok(()) => {
                    // Queued rather than handed off: a receiver on the port's set may want it.
                    if wake.is_empty() {
                        set = port.pset_locked(&st);
                    }
                    break;
                }
                Err(back) => kmsg = back,
            }
            if timeout == IpcTimeout::Poll {
                return Err((MACH_SEND_TIMED_OUT, kmsg));
            }
            st.messages.add_blocked_sender();
            let w = wait::begin(&port.send_waitq, timeout);
            drop(st);
            wait::block(w)
        };
        port.state.lock().messages.remove_blocked_sender();
        match woke {
            wait::Woke::Awakened => {}
            wait::Woke::TimedOut => return Err((MACH_SEND_TIMED_OUT, kmsg)),
            wait::Woke::Interrupted => return Err((MACH_SEND_INTERRUPTED, kmsg)),
        }
    }
    for waiter in wake {
        waiter.wakeup();
    }
    if let Some(set) = set {
        set.wake_one();
    }
    Ok(())
}

/// What a receive produced.
#[derive(Debug)]
pub enum Received {
    /// A message and its sequence number; its destination right is used up. It may be larger
    /// than the receiver asked for (no `MACH_RCV_LARGE`): the caller then reports
    /// `MACH_RCV_TOO_LARGE` and destroys it.
    Message(IpcKmsg, u32),
    /// With `MACH_RCV_LARGE`: the next message needs this many bytes (no trailer) and stays
    /// queued.
    TooLarge(u32),
}

/// Receive from `port` (XNU `ipc_mqueue_receive`) a message of at most `max_size` bytes,
/// waiting as `timeout` allows. Errors: `MACH_RCV_TIMED_OUT`, `MACH_RCV_INTERRUPTED`,
/// `MACH_RCV_PORT_DIED`, `MACH_RCV_PORT_CHANGED`.
pub fn ipc_mqueue_receive(
    port: &IpcPort,
    max_size: u32,
    large: bool,
    timeout: IpcTimeout,
) -> Result<Received, MachMsgReturn> {
    loop {
        let waiter;
        let woke = {
            let mut st = port.state.lock();
            if !st.active {
                return Err(MACH_RCV_PORT_DIED);
            }
            match st.messages.take(max_size, large) {
                Taken::Message(kmsg, seqno) => {
                    let room = st.messages.has_blocked_senders();
                    drop(st);
                    if room {
                        port.send_waitq.wakeup_one();
                    }
                    return Ok(Received::Message(kmsg.delivered(), seqno));
                }
                Taken::TooLarge(size) => return Ok(Received::TooLarge(size)),
                Taken::Empty => {}
            }
            if timeout == IpcTimeout::Poll {
                return Err(MACH_RCV_TIMED_OUT);
            }
            waiter = IpcWaiter::new(max_size, large);
            st.messages.add_receiver(waiter.clone());
            let w = wait::begin(&waiter.waitq, timeout);
            drop(st);
            wait::block(w)
        };
        let outcome = {
            let mut st = port.state.lock();
            st.messages.remove_receiver(&waiter);
            core::mem::replace(&mut *waiter.outcome.lock(), Outcome::Waiting)
        };
        match outcome {
            Outcome::Message(kmsg, seqno) => return Ok(Received::Message(kmsg.delivered(), seqno)),
            Outcome::TooLarge(size) => return Ok(Received::TooLarge(size)),
            Outcome::PortDied => return Err(MACH_RCV_PORT_DIED),
            Outcome::PortChanged => return Err(MACH_RCV_PORT_CHANGED),
            Outcome::Waiting => match woke {
                wait::Woke::TimedOut => return Err(MACH_RCV_TIMED_OUT),
                wait::Woke::Interrupted => return Err(MACH_RCV_INTERRUPTED),
                // Woken with nothing for us (a message went to someone else): look again.
                wait::Woke::Awakened => {}
            },
        }
    }
}
