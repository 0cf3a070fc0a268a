//! `ipc_port`: the port itself — the kernel object every right names — and the naked rights
//! the kernel holds outside any space.
//!
//! A port records who receives on it (a task's space, the kernel, or nobody while its receive
//! right is in transit or after it died), how many send and send-once rights exist for it, its
//! make-send count, its message queue and, for ports that stand for kernel objects, which object
//! that is. The only way from a port to its kernel object is [`IpcPort::kobject`], which checks
//! the object's type ("kernel objects one way", DESIGN §6).
//!
//! Rights held by the kernel rather than by a space ([`SendRight`], [`SendOnceRight`],
//! [`ReceiveRight`]) are values that own one count on the port: dropping one releases it. That
//! keeps `ip_srights`/`ip_sorights` exact without manual bookkeeping at every call site, and gives
//! the coming no-senders / send-once / port-destroyed notifications one place to hook in.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use mach::KernReturn;

use super::ipc_mqueue::{IpcMqueue, Outcome, Taken};
use super::ipc_notify::{
    ipc_notify_dead_name, ipc_notify_no_senders, ipc_notify_port_destroyed, ipc_notify_send_once,
};
use super::ipc_pset::IpcPset;
use super::ipc_space::IpcSpace;
use crate::kern::locks::SimpleLock;

/// Ports are shared: by every entry naming them, by kernel objects and by rights in flight.
pub type PortRef = Arc<IpcPort>;

/// The kind of kernel object a port stands for (XNU `IKOT_*`, reference §11.4; the numbers are
/// XNU's so debugging output matches `ipc_kobject.h`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum IkotType {
    /// An ordinary port; no kernel object.
    None = 0,
    /// A thread's control port (`thread_t`).
    ThreadControl = 1,
    /// A task's control port (`task_t`).
    TaskControl = 2,
    /// The unprivileged host port.
    Host = 3,
    /// The privileged host port.
    HostPriv = 4,
    /// A processor.
    Processor = 5,
    /// A processor set (control).
    Pset = 6,
    /// A processor set (name only).
    PsetName = 7,
    /// A timer.
    Timer = 8,
    /// A send-once substitution port.
    PortSubstOnce = 9,
    /// A memory object.
    MemoryObject = 11,
    /// The reply port of a kernel upcall.
    UndReply = 15,
    /// The main device port.
    MainDevice = 19,
    /// A task's name port (identity only, no control).
    TaskName = 20,
    /// A semaphore.
    Semaphore = 23,
    /// A clock.
    Clock = 25,
    /// A clock's control port.
    ClockCtrl = 26,
    /// A named memory entry.
    NamedEntry = 28,
    /// An open file description sent as a port (`fileport_makeport`); the object is BSD's.
    Fileport = 34,
}

/// A kernel object as a port holds it: weakly, so the port never keeps its object alive (the
/// object owns the port, not the other way round), and type-erased until [`IpcPort::kobject`]
/// checks it back.
pub type KObjectRef = Weak<dyn Any + Send + Sync>;

/// Who holds the receive right (XNU's `ip_receiver` union).
#[derive(Debug)]
enum Receiver {
    /// In transit inside a message, or dead.
    Nobody,
    /// The kernel serves this port (kernel objects, notification ports).
    Kernel,
    /// A task's space holds the receive right. Weak: spaces own ports through their entries,
    /// and a port must not keep a dead task's space alive.
    Space(Weak<IpcSpace>),
}

/// Everything about a port that changes, under one lock.
pub(super) struct PortState {
    /// Cleared once, by [`IpcPort::destroy`]; a dead port never comes back.
    pub(super) active: bool,
    receiver: Receiver,
    /// Send rights outstanding: one per space entry holding a send right (whatever its urefs),
    /// plus one per [`SendRight`] the kernel holds (XNU `ip_srights`).
    srights: u32,
    /// Send-once rights outstanding (XNU `ip_sorights`).
    sorights: u32,
    /// Send rights ever made from the receive right (XNU `ip_mscount`); reported by the
    /// no-senders notification so a receiver can tell stale notifications apart.
    mscount: u32,
    /// The message queue (see `ipc_mqueue`).
    pub(super) messages: IpcMqueue,
    /// The kernel object this port stands for; `None` for ordinary ports and after death.
    kobject: Option<(IkotType, KObjectRef)>,
    /// No-senders request: where to send the notification, once the make-send count has
    /// reached the threshold (`sync`) and the last send right is gone.
    nsrequest: Option<(SendOnceRight, u32)>,
    /// Port-destroyed request: where the receive right goes instead of dying.
    pdrequest: Option<SendOnceRight>,
    /// Dead-name requests: (space id, name in that space, where to send the notification).
    dnrequests: alloc::vec::Vec<(usize, u32, SendOnceRight)>,
    /// The port set this port belongs to, if any.
    pset: Option<Weak<IpcPset>>,
    /// While the receive right travels in a message: the port whose queue holds that message
    /// (XNU `ip_destination`), to find cycles of ports carried in each other's queues.
    destination: Option<Weak<IpcPort>>,
    /// For objects that live only as long as someone can send to them (named entries): the
    /// port's strong reference, dropped — and the port destroyed — with its last send right.
    owner: Option<Arc<dyn Any + Send + Sync>>,
}

/// A Mach port (XNU `struct ipc_port`).
pub struct IpcPort {
    pub(super) state: SimpleLock<PortState>,
    /// Senders blocked on a full queue wait here.
    pub(super) send_waitq: crate::kern::waitq::WaitQueue,
}

impl Drop for IpcPort {
    fn drop(&mut self) {
        crate::kern::budget::port_freed();
    }
}

/// A snapshot of a port's counters, for `mach_port_get_attributes` and for tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PortStatus {
    pub active: bool,
    pub srights: u32,
    pub sorights: u32,
    pub mscount: u32,
    pub qlimit: u32,
    /// Messages queued.
    pub msgcount: u32,
    /// Sequence number of the next message received.
    pub seqno: u32,
    /// A no-senders request is armed.
    pub nsrequest: bool,
    /// A port-destroyed request is armed.
    pub pdrequest: bool,
    /// Dead-name requests armed.
    pub dnrequests: u32,
}

impl core::fmt::Debug for IpcPort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IpcPort").field("status", &self.status()).finish()
    }
}

impl IpcPort {
    /// A port standing for a kernel object of type `ty`; the kernel is its receiver. A `ty`
    /// of [`IkotType::None`] makes a plain kernel-owned port with no object.
    pub fn new_kobject(ty: IkotType, object: KObjectRef) -> PortRef {
        let kobject = (ty != IkotType::None).then_some((ty, object));
        Arc::new(Self::with_state(Receiver::Kernel, IpcMqueue::new_kernel(), kobject))
    }

    /// A port standing for `object`, which it keeps alive until its last send right goes
    /// (the caller makes the first one right away).
    pub fn new_kobject_owned(ty: IkotType, object: Arc<dyn Any + Send + Sync>) -> PortRef {
        let port = Self::new_kobject(ty, Arc::downgrade(&object));
        port.state.lock().owner = Some(object);
        port
    }

    /// A port whose receive right is about to be entered in `space` (only the space makes
    /// these, so the right is never unaccounted for).
    pub(crate) fn new_receive(space: Weak<IpcSpace>) -> PortRef {
        Arc::new(Self::with_state(Receiver::Space(space), IpcMqueue::new_user(), None))
    }

    /// A port whose receive right the kernel holds naked, to receive on itself (the reply
    /// port of an exception message). Dropping the right destroys the port.
    pub fn new_kernel_reply() -> ReceiveRight {
        ReceiveRight::adopt(Arc::new(Self::with_state(Receiver::Nobody, IpcMqueue::new_user(), None)))
    }

    fn with_state(receiver: Receiver, messages: IpcMqueue, kobject: Option<(IkotType, KObjectRef)>) -> Self {
        crate::kern::budget::port_created();
        Self {
            state: SimpleLock::new(
                &crate::kern::lock_order::IPC_PORT,
                PortState {
                    active: true,
                    receiver,
                    srights: 0,
                    sorights: 0,
                    mscount: 0,
                    messages,
                    kobject,
                    nsrequest: None,
                    pdrequest: None,
                    dnrequests: alloc::vec::Vec::new(),
                    pset: None,
                    destination: None,
                    owner: None,
                },
            ),
            send_waitq: crate::kern::waitq::WaitQueue::new(),
        }
    }

    /// Is the port still alive?
    #[inline]
    pub fn is_active(&self) -> bool {
        self.state.lock().active
    }

    /// The port's counters.
    pub fn status(&self) -> PortStatus {
        let st = self.state.lock();
        PortStatus {
            active: st.active,
            srights: st.srights,
            sorights: st.sorights,
            mscount: st.mscount,
            qlimit: st.messages.qlimit(),
            msgcount: st.messages.count(),
            seqno: st.messages.seqno(),
            nsrequest: st.nsrequest.is_some(),
            pdrequest: st.pdrequest.is_some(),
            dnrequests: st.dnrequests.len() as u32,
        }
    }

    /// `mach_port_get_attributes(flavor)` as words: the queue limit, or the receive status
    /// (set membership, seqno, make-send count, qlimit, queued messages, send-once rights,
    /// whether send rights and port-destroyed / no-senders requests exist, flags). A `count`
    /// too small for the flavor is `KERN_FAILURE`; an unknown flavor `KERN_INVALID_ARGUMENT`.
    pub fn attributes(&self, flavor: u32, count: u32) -> Result<alloc::vec::Vec<u32>, KernReturn> {
        use mach::port::{
            MACH_PORT_LIMITS_INFO, MACH_PORT_LIMITS_INFO_COUNT, MACH_PORT_RECEIVE_STATUS,
            MACH_PORT_RECEIVE_STATUS_COUNT,
        };
        let st = self.status();
        let (need, words) = match flavor {
            MACH_PORT_LIMITS_INFO => (MACH_PORT_LIMITS_INFO_COUNT, alloc::vec![st.qlimit]),
            MACH_PORT_RECEIVE_STATUS => (
                MACH_PORT_RECEIVE_STATUS_COUNT,
                alloc::vec![
                    u32::from(self.in_set()),
                    st.seqno,
                    st.mscount,
                    st.qlimit,
                    st.msgcount,
                    st.sorights,
                    u32::from(st.srights > 0),
                    u32::from(st.pdrequest),
                    u32::from(st.nsrequest),
                    0,
                ],
            ),
            _ => return Err(KernReturn::KERN_INVALID_ARGUMENT),
        };
        if count < need {
            return Err(KernReturn::KERN_FAILURE);
        }
        Ok(words)
    }

    /// Does the kernel receive on this port?
    pub fn is_kernel_receiver(&self) -> bool {
        matches!(self.state.lock().receiver, Receiver::Kernel)
    }

    /// The message budget of the task whose space holds this port's receive right (none for
    /// a port the kernel receives on, one in transit, or a dead one).
    pub fn receiver_kmsg_counter(&self) -> Option<alloc::sync::Arc<core::sync::atomic::AtomicUsize>> {
        let space = match &self.state.lock().receiver {
            Receiver::Space(weak) => weak.upgrade(),
            Receiver::Nobody | Receiver::Kernel => None,
        };
        // The space reference goes after the port lock (rights and references are released
        // with no lock held).
        space.and_then(|s| s.kmsg_counter())
    }

    /// Does `space` hold this port's receive right?
    pub fn receiver_is(&self, space: &IpcSpace) -> bool {
        match &self.state.lock().receiver {
            Receiver::Space(weak) => core::ptr::eq(weak.as_ptr(), space),
            Receiver::Nobody | Receiver::Kernel => false,
        }
    }

    /// The kind of kernel object this live port stands for ([`IkotType::None`] if none).
    pub fn kobject_type(&self) -> IkotType {
        let st = self.state.lock();
        match &st.kobject {
            Some((ty, _)) if st.active => *ty,
            _ => IkotType::None,
        }
    }

    /// The kernel object behind this port, if the port is alive, stands for an object of type
    /// `ty`, that object still exists, and it is a `T`. Every MIG server reaches its object
    /// through here, so a task port can never be mistaken for a thread or a semaphore.
    pub fn kobject<T: Any + Send + Sync>(&self, ty: IkotType) -> Option<Arc<T>> {
        let weak = {
            let st = self.state.lock();
            match &st.kobject {
                Some((have, weak)) if st.active && *have == ty => weak.clone(),
                _ => return None,
            }
        };
        // Upgrade outside the lock: dropping the last strong count of an object may run its
        // destructor, which may destroy this very port.
        weak.upgrade()?.downcast::<T>().ok()
    }

    /// Kill the port (XNU `ipc_port_destroy`): it stops naming its receiver and its kernel
    /// object, its queued messages are destroyed (releasing the rights and memory they carry),
    /// receivers waiting on it return `MACH_RCV_PORT_DIED` and blocked senders
    /// `MACH_SEND_INVALID_DEST`. Send rights elsewhere stay counted until their holders
    /// notice, which spaces do lazily by turning them into dead names.
    ///
    /// Queued messages may carry receive rights, whose ports die too, and so on down: that is
    /// done with a work list, never by recursion, so no chain of ports nested in each other's
    /// queues can overflow the kernel stack (XNU defers nested destruction the same way).
    pub fn destroy(&self) {
        let mut work = Vec::new();
        self.destroy_one(&mut work);
        Self::destroy_all(work);
    }

    /// Destroy the ports in `work` and every port found inside their queues.
    fn destroy_all(mut work: Vec<PortRef>) {
        while let Some(port) = work.pop() {
            port.destroy_one(&mut work);
        }
    }

    /// A receive right nobody takes: its port goes to the port-destroyed requester if one is
    /// armed (and the notification can be queued), otherwise onto `work` to be destroyed.
    fn reap_receive(port: PortRef, work: &mut Vec<PortRef>) {
        let Some(notify) = port.take_pdrequest() else {
            work.push(port);
            return;
        };
        port.set_in_transit();
        if let Err(back) = ipc_notify_port_destroyed(notify, ReceiveRight::adopt(port)) {
            work.push(back.into_port());
        }
    }

    /// One port of [`IpcPort::destroy`]: the ports whose receive rights its queued messages
    /// carried are added to `work` instead of being destroyed here.
    fn destroy_one(&self, work: &mut Vec<PortRef>) {
        let (messages, receivers, senders, requests) = {
            let mut st = self.state.lock();
            if !st.active {
                return;
            }
            st.active = false;
            st.receiver = Receiver::Nobody;
            st.kobject = None;
            let receivers = st.messages.release_receivers(|| Outcome::PortDied);
            let requests = (st.nsrequest.take(), st.pdrequest.take(), core::mem::take(&mut st.dnrequests));
            (st.messages.drain(), receivers, st.messages.has_blocked_senders(), requests)
        };
        // Dead-name requests are answered; the other requests' rights die unused (each
        // sends its own send-once notification).
        let (nsrequest, pdrequest, dnrequests) = requests;
        for (_, name, notify) in dnrequests {
            ipc_notify_dead_name(notify, name);
        }
        drop((nsrequest, pdrequest));
        for waiter in receivers {
            waiter.wakeup();
        }
        if senders {
            self.send_waitq.wakeup_all();
        }
        // Destroying a message may destroy more ports (receive rights it carried): never
        // under this port's lock, and never from inside this call.
        for mut kmsg in messages {
            kmsg.take_receive_rights(|right| Self::reap_receive(right.into_port(), work));
            drop(kmsg);
        }
    }

    /// The receive right leaves its space inside a message (XNU's "in transit"): receivers
    /// blocked on it return `MACH_RCV_PORT_CHANGED`, and messages keep queueing for whoever
    /// receives the right.
    pub(crate) fn set_in_transit(&self) {
        let (receivers, pset) = {
            let mut st = self.state.lock();
            st.receiver = Receiver::Nobody;
            (st.messages.release_receivers(|| Outcome::PortChanged), st.pset.as_ref().and_then(Weak::upgrade))
        };
        for waiter in receivers {
            waiter.wakeup();
        }
        // The set belongs to the space the right leaves.
        if let Some(pset) = pset {
            let _ = pset.remove(self);
        }
    }

    /// Join `pset`; `KERN_ALREADY_IN_SET` if the port is in a live set already.
    pub(crate) fn join_set(&self, pset: Weak<IpcPset>) -> Result<(), KernReturn> {
        let mut st = self.state.lock();
        if st.pset.as_ref().is_some_and(|w| w.strong_count() > 0) {
            return Err(KernReturn::KERN_ALREADY_IN_SET);
        }
        st.pset = Some(pset);
        Ok(())
    }

    /// Leave `pset`, if it is ours.
    pub(crate) fn leave_set(&self, pset: &IpcPset) {
        let mut st = self.state.lock();
        if st.pset.as_ref().is_some_and(|w| core::ptr::eq(w.as_ptr(), pset)) {
            st.pset = None;
        }
    }

    /// Is the port a member of a live set?
    pub fn in_set(&self) -> bool {
        self.state.lock().pset.as_ref().is_some_and(|w| w.strong_count() > 0)
    }

    /// Take the next message for a receiver on the port's set (see `IpcMqueue::take`), waking
    /// a blocked sender if that made room.
    pub(crate) fn mqueue_take(&self, max_size: u32, large: bool) -> Taken {
        let (taken, room) = {
            let mut st = self.state.lock();
            if !st.active {
                return Taken::Empty;
            }
            let taken = st.messages.take(max_size, large);
            let room = matches!(taken, Taken::Message(..)) && st.messages.has_blocked_senders();
            (taken, room)
        };
        if room {
            self.send_waitq.wakeup_one();
        }
        taken
    }

    /// Would queueing the notification `kmsg` only repeat the last message of a full queue
    /// (see `ipc_notify`)?
    pub(super) fn coalesces(&self, kmsg: &super::ipc_kmsg::IpcKmsg) -> bool {
        self.state.lock().messages.full_and_repeats_last(kmsg)
    }

    /// The live set this port is in.
    pub(crate) fn pset(&self) -> Option<Arc<IpcPset>> {
        self.pset_locked(&self.state.lock())
    }

    /// The live set this port is in, with the port's lock held by the caller.
    pub(super) fn pset_locked(&self, st: &PortState) -> Option<Arc<IpcPset>> {
        st.pset.as_ref().and_then(Weak::upgrade)
    }

    /// The receive right arrived in `space`.
    pub(crate) fn set_receiver(&self, space: Weak<IpcSpace>) {
        let mut st = self.state.lock();
        st.destination = None;
        if st.active {
            st.receiver = Receiver::Space(space);
        }
    }

    /// The receive right is now queued in a message on `dest`.
    pub(crate) fn set_destination(&self, dest: &Arc<IpcPort>) {
        self.state.lock().destination = Some(Arc::downgrade(dest));
    }

    /// Would queueing this port's receive right on `dest` put the port inside its own queue,
    /// directly or through other ports in transit (XNU `ipc_port_check_circularity`)?
    pub(crate) fn would_be_circular(self: &Arc<Self>, dest: &Arc<IpcPort>) -> bool {
        /// Longest chain of ports in transit followed; longer chains count as circular.
        const MAX_CHAIN: usize = 256;
        let mut cur = dest.clone();
        for _ in 0..MAX_CHAIN {
            if Arc::ptr_eq(&cur, self) {
                return true;
            }
            let next = {
                let st = cur.state.lock();
                match st.receiver {
                    Receiver::Nobody if st.active => st.destination.as_ref().and_then(Weak::upgrade),
                    _ => None,
                }
            };
            match next {
                Some(n) => cur = n,
                None => return false,
            }
        }
        true
    }

    /// Change the queue limit (`mach_port_set_attributes(MACH_PORT_LIMITS_INFO)`).
    pub fn set_qlimit(&self, qlimit: u32) {
        let wake = self.state.lock().messages.set_qlimit(qlimit);
        if wake {
            self.send_waitq.wakeup_all();
        }
    }

    /// Make a send right from the receive right (XNU `ipc_port_make_send`): counts a send
    /// right and bumps the make-send count. The caller must hold the receive right — the
    /// kernel for its own ports, or a space that checked the entry.
    #[inline]
    pub fn make_send(self: &Arc<Self>) -> SendRight {
        {
            let mut st = self.state.lock();
            st.srights = st.srights.wrapping_add(1);
            st.mscount = st.mscount.wrapping_add(1);
        }
        SendRight::adopt(self.clone())
    }

    /// Make a send-once right from the receive right (XNU `ipc_port_make_sonce`).
    pub fn make_send_once(self: &Arc<Self>) -> SendOnceRight {
        {
            let mut st = self.state.lock();
            st.sorights = st.sorights.wrapping_add(1);
        }
        SendOnceRight::adopt(self.clone())
    }

    fn copy_send(&self) {
        let mut st = self.state.lock();
        st.srights = st.srights.wrapping_add(1);
    }

    /// One more send right for a holder who already has one (a space entry copying or
    /// moving one of its user references out): no make-send count.
    pub(crate) fn copy_send_right(self: &Arc<Self>) -> SendRight {
        self.copy_send();
        SendRight::adopt(self.clone())
    }

    /// Drop one counted send right. The last one fires an armed no-senders request whose
    /// make-send threshold has been reached.
    fn release_send(&self) {
        let (fire, owner) = {
            let mut st = self.state.lock();
            debug_assert!(st.srights > 0, "send right released twice");
            st.srights = st.srights.saturating_sub(1);
            let owner = if st.srights == 0 { st.owner.take() } else { None };
            (Self::take_no_senders(&mut st), owner)
        };
        if let Some((notify, mscount)) = fire {
            ipc_notify_no_senders(notify, mscount);
        }
        if let Some(owner) = owner {
            self.destroy();
            drop(owner);
        }
    }

    /// The armed no-senders request, if it is due (lock held).
    fn take_no_senders(st: &mut PortState) -> Option<(SendOnceRight, u32)> {
        let due = st.active
            && st.srights == 0
            && st.nsrequest.as_ref().is_some_and(|(_, sync)| st.mscount >= *sync);
        if due { st.nsrequest.take().map(|(notify, _)| (notify, st.mscount)) } else { None }
    }

    /// Drop one counted send-once right that dies unused: unless the port is dead or the
    /// kernel's, the right itself carries a send-once notification to the port.
    fn release_send_once(self: &Arc<Self>) {
        if self.is_active() && !self.is_kernel_receiver() {
            ipc_notify_send_once(SendOnceRight::adopt(self.clone()));
        } else {
            self.consume_send_once();
        }
    }

    /// Drop one counted send-once right that was used (a message went through it).
    fn consume_send_once(&self) {
        let mut st = self.state.lock();
        debug_assert!(st.sorights > 0, "send-once right released twice");
        st.sorights = st.sorights.saturating_sub(1);
    }

    /// Arm (or with `None` disarm) the no-senders request; returns the one it replaces. If
    /// the port already has no senders and its make-send count is at least `sync`, the
    /// notification goes out at once.
    pub fn request_no_senders(&self, notify: Option<SendOnceRight>, sync: u32) -> Option<SendOnceRight> {
        let (previous, fire) = {
            let mut st = self.state.lock();
            let previous = core::mem::replace(&mut st.nsrequest, notify.map(|n| (n, sync)));
            (previous.map(|(n, _)| n), Self::take_no_senders(&mut st))
        };
        if let Some((notify, mscount)) = fire {
            ipc_notify_no_senders(notify, mscount);
        }
        previous
    }

    /// Arm (or disarm) the port-destroyed request; returns the one it replaces.
    pub fn request_port_destroyed(&self, notify: Option<SendOnceRight>) -> Option<SendOnceRight> {
        core::mem::replace(&mut self.state.lock().pdrequest, notify)
    }

    /// Arm (or disarm) the dead-name request of `name` in space `space_id`; returns the one
    /// it replaces and, if the port is dead, `notify` back: the caller sends the dead-name
    /// notification at once, once it holds no lock (it calls with its space locked).
    pub fn request_dead_name(
        &self,
        space_id: usize,
        name: u32,
        notify: Option<SendOnceRight>,
    ) -> (Option<SendOnceRight>, Option<SendOnceRight>) {
        let previous = self.cancel_dead_name(space_id, name);
        let mut answered = None;
        if let Some(notify) = notify {
            let mut st = self.state.lock();
            if st.active {
                st.dnrequests.push((space_id, name, notify));
            } else {
                answered = Some(notify);
            }
        }
        (previous, answered)
    }

    /// Take back the dead-name request of `name` in space `space_id`, if armed.
    pub fn cancel_dead_name(&self, space_id: usize, name: u32) -> Option<SendOnceRight> {
        let mut st = self.state.lock();
        let at = st.dnrequests.iter().position(|(s, n, _)| *s == space_id && *n == name)?;
        Some(st.dnrequests.swap_remove(at).2)
    }

    /// The port-destroyed request, if the port is alive and one is armed.
    fn take_pdrequest(&self) -> Option<SendOnceRight> {
        let mut st = self.state.lock();
        if st.active { st.pdrequest.take() } else { None }
    }
}

/// The kinds of counted right ([`SendRight`], [`SendOnceRight`]): each knows which of the
/// port's counts it holds and how to give it back.
pub trait CountedKind {
    /// Its name, for `Debug`.
    const NAME: &'static str;
    /// Give one count back to `port` (the right dies unused).
    fn release(port: &PortRef);
}

/// Marker: a send right (one count of `srights`).
pub enum SendKind {}
/// Marker: a send-once right (one count of `sorights`).
pub enum SendOnceKind {}

impl CountedKind for SendKind {
    const NAME: &'static str = "SendRight";
    fn release(port: &PortRef) {
        port.release_send();
    }
}

impl CountedKind for SendOnceKind {
    const NAME: &'static str = "SendOnceRight";
    fn release(port: &PortRef) {
        port.release_send_once();
    }
}

/// One send or send-once right held outside any space (by the kernel, or later inside a
/// message). Owns one count of the port's `srights` or `sorights`; dropping it releases it.
#[must_use = "dropping a right releases it"]
pub struct CountedRight<K: CountedKind> {
    port: PortRef,
    /// False once the count has been handed to a space entry, so drop must not release it.
    counted: bool,
    kind: core::marker::PhantomData<K>,
}

/// A send right held outside any space.
pub type SendRight = CountedRight<SendKind>;
/// A send-once right held outside any space.
pub type SendOnceRight = CountedRight<SendOnceKind>;

impl<K: CountedKind> CountedRight<K> {
    /// Take over a count someone already added to `port`.
    pub(crate) fn adopt(port: PortRef) -> Self {
        Self { port, counted: true, kind: core::marker::PhantomData }
    }

    /// Hand the count to a space entry, which now stands for it.
    pub(crate) fn into_entry(mut self) -> PortRef {
        self.counted = false;
        self.port.clone()
    }

    /// The port this right sends to.
    pub fn port(&self) -> &PortRef {
        &self.port
    }
}

impl SendOnceRight {
    /// The right was used: a message went through it. Its count goes without a send-once
    /// notification.
    pub fn consume(mut self) {
        self.counted = false;
        self.port.consume_send_once();
    }
}

impl SendRight {
    /// Another send right to the same port (XNU `ipc_port_copy_send`); no make-send count.
    pub fn copy(&self) -> SendRight {
        self.port.copy_send();
        SendRight::adopt(self.port.clone())
    }
}

impl<K: CountedKind> Drop for CountedRight<K> {
    fn drop(&mut self) {
        if self.counted {
            K::release(&self.port);
        }
    }
}

impl<K: CountedKind> core::fmt::Debug for CountedRight<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple(K::NAME).field(&self.port).finish()
    }
}

/// A receive right taken out of a space: on its way to destruction, or travelling in a
/// message. Dropping it destroys the port, as XNU does with a receive right nobody takes.
#[must_use = "dropping a receive right destroys the port"]
pub struct ReceiveRight {
    /// `None` only after the right went into an entry.
    port: Option<PortRef>,
}

impl ReceiveRight {
    /// Take the receive right for `port` out of the entry that held it.
    pub(crate) fn adopt(port: PortRef) -> Self {
        Self { port: Some(port) }
    }

    /// The port this right receives on.
    pub fn port(&self) -> &PortRef {
        // Only `into_entry` empties it, and that consumes the right.
        self.port.as_ref().expect("receive right without a port")
    }

    /// Hand the right to a space entry, which now stands for it.
    pub(crate) fn into_entry(mut self) -> PortRef {
        self.port.take().expect("receive right without a port")
    }

    /// Take the port out without destroying it: the caller destroys it (or hands it on).
    fn into_port(self) -> PortRef {
        self.into_entry()
    }
}

impl Drop for ReceiveRight {
    /// A receive right nobody takes destroys its port — unless a port-destroyed request is
    /// armed, in which case the right travels to the requester instead.
    fn drop(&mut self) {
        let Some(port) = self.port.take() else { return };
        let mut work = Vec::new();
        IpcPort::reap_receive(port, &mut work);
        IpcPort::destroy_all(work);
    }
}

impl core::fmt::Debug for ReceiveRight {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ReceiveRight").field(&self.port).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use mach::port::{MACH_PORT_QLIMIT_DEFAULT, MACH_PORT_QLIMIT_KERNEL};

    struct Task(u32);
    struct Thread;

    fn erase<T: Any + Send + Sync>(obj: &Arc<T>) -> KObjectRef {
        let weak: Weak<T> = Arc::downgrade(obj);
        weak
    }

    #[test]
    fn kobject_lookup_is_typed() {
        let task = Arc::new(Task(7));
        let port = IpcPort::new_kobject(IkotType::TaskControl, erase(&task));
        assert!(port.is_kernel_receiver());
        assert_eq!(port.kobject_type(), IkotType::TaskControl);
        let found = port.kobject::<Task>(IkotType::TaskControl).map(|t| t.0);
        assert_eq!(found, Some(7));
        // Wrong IKOT type, or right type but wrong Rust type: no object.
        assert!(port.kobject::<Task>(IkotType::ThreadControl).is_none());
        assert!(port.kobject::<Thread>(IkotType::TaskControl).is_none());
    }

    #[test]
    fn kobject_gone_when_object_dies_or_port_dies() {
        let task = Arc::new(Task(1));
        let port = IpcPort::new_kobject(IkotType::TaskControl, erase(&task));
        drop(task);
        assert!(port.kobject::<Task>(IkotType::TaskControl).is_none());

        let task = Arc::new(Task(2));
        let port = IpcPort::new_kobject(IkotType::TaskControl, erase(&task));
        port.destroy();
        assert!(!port.is_active());
        assert!(!port.is_kernel_receiver());
        assert_eq!(port.kobject_type(), IkotType::None);
        assert!(port.kobject::<Task>(IkotType::TaskControl).is_none());
    }

    #[test]
    fn none_type_means_no_object() {
        let task = Arc::new(Task(3));
        let port = IpcPort::new_kobject(IkotType::None, erase(&task));
        assert_eq!(port.kobject_type(), IkotType::None);
        assert!(port.kobject::<Task>(IkotType::None).is_none());
    }

    #[test]
    fn rights_count_and_release_on_drop() {
        let task = Arc::new(Task(0));
        let port = IpcPort::new_kobject(IkotType::TaskControl, erase(&task));
        assert_eq!(port.status().qlimit, MACH_PORT_QLIMIT_KERNEL);
        let a = port.make_send();
        let b = a.copy();
        let so = port.make_send_once();
        let st = port.status();
        assert_eq!((st.srights, st.sorights, st.mscount), (2, 1, 1));
        drop(a);
        drop(so);
        let st = port.status();
        assert_eq!((st.srights, st.sorights, st.mscount), (1, 0, 1));
        drop(b);
        assert_eq!(port.status().srights, 0);
    }

    #[test]
    fn receive_right_drop_destroys() {
        let port = IpcPort::new_receive(Weak::new());
        assert_eq!(port.status().qlimit, MACH_PORT_QLIMIT_DEFAULT);
        drop(ReceiveRight::adopt(port.clone()));
        assert!(!port.is_active());
    }
}
