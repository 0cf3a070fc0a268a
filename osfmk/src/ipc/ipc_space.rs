//! `ipc_space`: a task's port name space — the table that turns the names user code passes
//! into the rights it holds.
//!
//! Names are `(index << 8) | generation` (reference §5.2). Index 0 is never a name; slots are
//! handed out lowest-index first in a fresh table, so a new task's first name is 0x103 and its
//! second 0x203; a freed slot is reused first, with its generation advanced, so a stale name
//! never reaches the new right. The table starts at [`IPC_ENTRY_TABLE_MIN`] slots and doubles
//! up to a per-space limit (at most [`IPC_SPACE_TABLE_MAX`]). A name user space picks beyond
//! one doubling of the table (`mach_port_insert_right`) gets a sparse entry of its own instead
//! of a table grown to reach it, so a space costs what its names hold, not its largest index;
//! table slots and sparse entries are charged to the name-table budget (`kern::budget`).
//!
//! A reverse index from port to name holds every entry with a send or receive right, so a
//! second send right to a port merges into the name already there (more user references, no
//! second `srights` count) — which is why `task_self_trap` returns the same name every time.
//! Send-once rights always get a name of their own, as in XNU.
//!
//! A port destroyed elsewhere leaves send rights to it here. They become dead names lazily:
//! the first operation that resolves such a name converts the entry (keeping its user
//! references) and releases the port's send-right count.
//!
//! Every right an operation takes out of the table is released only after the space lock is
//! dropped (see `Released`); releasing a right is where notifications will be generated, and
//! those must never run under a space lock (lock order in `ipc/mod.rs`).

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::ipc_entry::{EntryView, IpcEntry, IpcObject};
use super::ipc_kmsg::MsgRight;
use super::ipc_notify::{ipc_notify_dead_name, ipc_notify_port_deleted};
use super::ipc_port::{IpcPort, PortRef, ReceiveRight, SendOnceRight, SendRight};
use super::ipc_pset::{IpcPset, PsetRef};
use super::ipc_right::{Taken, copyin_step};
use crate::kern::budget::{self, IPC_ENTRY_SLOT_COST, IPC_ENTRY_SPARSE_COST};
use crate::kern::locks::SimpleLock;
use mach::KernReturn;
use mach::message::{MACH_MSG_TYPE_MOVE_RECEIVE, MachMsgTypeName};
use mach::port::{
    MACH_PORT_DEAD, MACH_PORT_NULL, MACH_PORT_RIGHT_DEAD_NAME, MACH_PORT_RIGHT_NUMBER,
    MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_SEND_ONCE,
    MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_PORT_SET, MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND,
    MACH_PORT_TYPE_SEND_ONCE, MACH_PORT_UREFS_MAX, MachPortName, MachPortRight, MachPortType, mach_port_gen,
    mach_port_index, mach_port_valid,
};

/// Spaces are shared by their task and by the ports whose receive rights they hold (weakly).
pub type SpaceRef = Arc<IpcSpace>;

/// Slots in a new table, index 0 included (XNU `IPC_ENTRY_TABLE_MIN`, reference §5.2).
pub const IPC_ENTRY_TABLE_MIN: u32 = 32;

/// The most slots one space may have. A bound keeps a runaway task from exhausting kernel
/// memory one port at a time (it gets `KERN_NO_SPACE` instead); 2^20 is far more than any
/// of our programs need, and keeps indices well inside the 24 bits a name has, so no name can
/// ever be `MACH_PORT_DEAD`.
pub const IPC_SPACE_TABLE_MAX: u32 = 1 << 20;

/// A task's IPC space (XNU `struct ipc_space`).
pub struct IpcSpace {
    /// Ourselves, for the receiver link of ports we create.
    this: Weak<IpcSpace>,
    state: SimpleLock<SpaceState>,
    /// The message budget of the task this space belongs to (`kern::budget`): what the
    /// kernel queues on ports received here (notifications) is charged to it.
    kmsg_counter: spin::Once<Arc<core::sync::atomic::AtomicUsize>>,
}

struct SpaceState {
    /// Cleared by [`IpcSpace::destroy`]; afterwards every operation fails with
    /// `KERN_INVALID_TASK`, as XNU's do on a terminated task's space.
    active: bool,
    /// The entries, indexed by `mach_port_index(name)`. Slot 0 stays free forever.
    table: Vec<IpcEntry>,
    /// Entries at indices beyond the table, under names user space chose
    /// (`mach_port_insert_right`): a name far out costs one entry, not a table grown to
    /// reach it. They move into the table when it grows over them.
    sparse: BTreeMap<u32, IpcEntry>,
    /// Heap bytes of table and sparse entries charged to the name-table budget.
    charged: usize,
    /// Free slot indices; the next claim pops the last one.
    free: Vec<u32>,
    /// Port address → index of the entry holding a send and/or receive right for it. The key
    /// stays unique because that entry keeps the port alive.
    by_port: BTreeMap<usize, u32>,
    /// This space's slot limit, at most [`IPC_SPACE_TABLE_MAX`].
    limit: u32,
    /// The space's address: how ports know which space a dead-name request belongs to.
    id: usize,
}

/// Rights an operation took out of the table. They are dropped — releasing counts, destroying
/// ports — once the space lock is released. Fields drop in order: ports die before the send
/// rights to them are released, so no no-senders notification is aimed at a port being
/// destroyed anyway.
#[derive(Default)]
struct Released {
    /// Dead-name requests of names that went away: a port-deleted notification each.
    port_deleted: Vec<(SendOnceRight, MachPortName)>,
    receive: Vec<ReceiveRight>,
    send: Vec<SendRight>,
    send_once: Vec<SendOnceRight>,
    /// Port sets whose name went away: destroyed.
    psets: Vec<PsetRef>,
    /// Dead-name requests answered at once (the name was already dead): a dead-name
    /// notification each.
    dead_name: Vec<(SendOnceRight, MachPortName)>,
    /// What freed slots held: their references go last, as they may be a port's last.
    objects: Vec<IpcObject>,
}

impl Drop for Released {
    fn drop(&mut self) {
        for (notify, name) in self.port_deleted.drain(..) {
            ipc_notify_port_deleted(notify, name);
        }
        for (notify, name) in self.dead_name.drain(..) {
            ipc_notify_dead_name(notify, name);
        }
        for pset in self.psets.drain(..) {
            pset.destroy();
        }
    }
}

impl core::fmt::Debug for IpcSpace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("IpcSpace")
            .field("active", &st.active)
            .field("slots", &st.table.len())
            .field("free", &st.free.len())
            .finish()
    }
}

/// The key of `port` in the reverse index.
fn port_key(port: &PortRef) -> usize {
    Arc::as_ptr(port).addr()
}

/// `urefs` changed by `delta` under XNU's rules (reference §5.3): |delta| above
/// `MACH_PORT_UREFS_MAX` or going below zero is `KERN_INVALID_VALUE`; going above the maximum
/// pegs there; a pegged count ignores every delta except exactly minus the maximum.
fn apply_delta(urefs: u32, delta: i32) -> Result<u32, KernReturn> {
    let magnitude = delta.unsigned_abs();
    if magnitude > MACH_PORT_UREFS_MAX {
        return Err(KernReturn::KERN_INVALID_VALUE);
    }
    if urefs == MACH_PORT_UREFS_MAX {
        return Ok(if delta < 0 && magnitude == MACH_PORT_UREFS_MAX { 0 } else { urefs });
    }
    if delta < 0 {
        urefs.checked_sub(magnitude).ok_or(KernReturn::KERN_INVALID_VALUE)
    } else {
        Ok(urefs.saturating_add(magnitude).min(MACH_PORT_UREFS_MAX))
    }
}

/// One reference fewer; a pegged count stays pegged (it no longer knows its true value).
fn drop_one(urefs: u32) -> u32 {
    if urefs >= MACH_PORT_UREFS_MAX { urefs } else { urefs.saturating_sub(1) }
}

impl SpaceState {
    fn new(limit: u32, id: usize) -> Self {
        let size = IPC_ENTRY_TABLE_MIN.min(limit);
        let mut state = Self {
            active: true,
            table: Vec::new(),
            sparse: BTreeMap::new(),
            charged: 0,
            free: Vec::new(),
            by_port: BTreeMap::new(),
            limit,
            id,
        };
        state.table.push(IpcEntry::fresh());
        // If memory is short the table just stays at its reserved slot: `extend_to` changes
        // nothing when it fails, and the first claim retries the growth and reports the error.
        let _ = state.extend_to(size);
        state
    }

    /// Grow the table to `size` slots, adding the new ones to the free list so that the
    /// lowest index is claimed first.
    fn extend_to(&mut self, size: u32) -> Result<(), KernReturn> {
        let old = u32::try_from(self.table.len()).map_err(|_| KernReturn::KERN_NO_SPACE)?;
        if size <= old {
            return Err(KernReturn::KERN_NO_SPACE);
        }
        let added = (size - old) as usize;
        let cost = added.saturating_mul(IPC_ENTRY_SLOT_COST);
        if !budget::name_table_charge(cost) {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        // Reserve the free list for the whole table too, so freeing a slot never allocates.
        if self.table.try_reserve(added).is_err()
            || self.free.try_reserve(size as usize - self.free.len()).is_err()
        {
            budget::name_table_release(cost);
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        self.charged += cost;
        // Sparse entries the table now reaches move in; the other new slots are free.
        let moved: Vec<u32> = self.sparse.range(old..size).map(|(&i, _)| i).collect();
        self.table.resize_with(size as usize, IpcEntry::fresh);
        for index in moved {
            if let (Some(entry), Some(slot)) =
                (self.sparse.remove(&index), self.table.get_mut(index as usize))
            {
                *slot = entry;
                budget::name_table_release(IPC_ENTRY_SPARSE_COST);
                self.charged -= IPC_ENTRY_SPARSE_COST;
            }
        }
        let table = &self.table;
        self.free.extend((old..size).rev().filter(|&i| table.get(i as usize).is_some_and(IpcEntry::is_free)));
        Ok(())
    }

    /// A free slot's index, growing the table if none is left.
    fn claim(&mut self) -> Result<u32, KernReturn> {
        loop {
            if let Some(index) = self.free.pop() {
                return Ok(index);
            }
            // Sparse entries moving in may fill a whole growth: grow again, up to the limit.
            let len = u32::try_from(self.table.len()).map_err(|_| KernReturn::KERN_NO_SPACE)?;
            if len >= self.limit {
                return Err(KernReturn::KERN_NO_SPACE);
            }
            self.extend_to(len.saturating_mul(2).max(1).min(self.limit))?;
        }
    }

    /// Fill a claimed slot and return its name.
    fn occupy(
        &mut self,
        index: u32,
        right_type: MachPortType,
        urefs: u32,
        port: PortRef,
    ) -> Result<MachPortName, KernReturn> {
        let key = port_key(&port);
        let entry = self.entry_mut(index)?;
        entry.claim(right_type, urefs, IpcObject::Port(port));
        let name = entry.name(index);
        if right_type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE) != 0 {
            self.by_port.insert(key, index);
        }
        Ok(name)
    }

    /// Entry `index` no longer holds a send or receive right for `port`: drop the reverse
    /// index's key, if it names this entry. (A send-once entry is never indexed; the key may
    /// name the port's other entry, which keeps it.)
    fn unindex(&mut self, port: &PortRef, index: u32) {
        let key = port_key(port);
        if self.by_port.get(&key) == Some(&index) {
            self.by_port.remove(&key);
        }
    }

    fn entry(&self, index: u32) -> Result<&IpcEntry, KernReturn> {
        self.table
            .get(index as usize)
            .or_else(|| self.sparse.get(&index))
            .ok_or(KernReturn::KERN_INVALID_NAME)
    }

    fn entry_mut(&mut self, index: u32) -> Result<&mut IpcEntry, KernReturn> {
        match self.table.get_mut(index as usize) {
            Some(entry) => Ok(entry),
            None => self.sparse.get_mut(&index).ok_or(KernReturn::KERN_INVALID_NAME),
        }
    }

    /// The indices of every slot, in order: the table's, then the sparse entries'.
    fn indices(&self) -> Vec<u32> {
        let dense = u32::try_from(self.table.len()).unwrap_or(u32::MAX);
        (0..dense).chain(self.sparse.keys().copied()).collect()
    }

    /// The index of the live entry `name` refers to. Unknown indices, free slots and names
    /// with an old generation are all `KERN_INVALID_NAME`.
    fn resolve(&self, name: MachPortName) -> Result<u32, KernReturn> {
        if !mach_port_valid(name) {
            return Err(KernReturn::KERN_INVALID_NAME);
        }
        let index = mach_port_index(name);
        let entry = self.entry(index)?;
        if index == 0 || entry.is_free() || entry.generation() != mach_port_gen(name) {
            return Err(KernReturn::KERN_INVALID_NAME);
        }
        Ok(index)
    }

    /// Resolve `name` and bring its entry up to date with its port's liveness.
    fn resolve_settled(&mut self, name: MachPortName, released: &mut Released) -> Result<u32, KernReturn> {
        let index = self.resolve(name)?;
        self.settle(index, released)?;
        Ok(index)
    }

    /// If the entry's port has died, turn it into what it now is (XNU `ipc_right_check`):
    /// send and send-once rights become a dead name with the same user references (one for
    /// send-once), and their counts on the port are released. A receive right can only be
    /// found dead if someone destroyed the port directly; it simply goes away.
    fn settle(&mut self, index: u32, released: &mut Released) -> Result<(), KernReturn> {
        let entry = self.entry(index)?;
        let Some(port) = entry.port().filter(|port| !port.is_active()).cloned() else {
            return Ok(());
        };
        let right_type = entry.right_type();
        let urefs = entry.urefs();
        self.unindex(&port, index);
        if right_type & MACH_PORT_TYPE_SEND != 0 {
            released.send.push(SendRight::adopt(port));
            self.become_dead_name(index, urefs)
        } else if right_type & MACH_PORT_TYPE_SEND_ONCE != 0 {
            released.send_once.push(SendOnceRight::adopt(port));
            self.become_dead_name(index, 1)
        } else {
            self.free_slot(index, released)
        }
    }

    /// The entry's port died: it becomes a dead name with `urefs` references, plus one if a
    /// dead-name request was armed (the notification the port sent carries that reference).
    fn become_dead_name(&mut self, index: u32, urefs: u32) -> Result<(), KernReturn> {
        let entry = self.entry_mut(index)?;
        let extra = u32::from(entry.has_dnrequest());
        entry.object = None;
        entry.set_dnrequest(false);
        entry.set_right_type(MACH_PORT_TYPE_DEAD_NAME);
        entry.set_urefs(urefs.saturating_add(extra));
        Ok(())
    }

    /// Free a slot. A dead-name request armed on it is cancelled with a port-deleted
    /// notification: the name no longer names the port.
    fn free_slot(&mut self, index: u32, released: &mut Released) -> Result<(), KernReturn> {
        let id = self.id;
        let entry = self.entry_mut(index)?;
        if entry.has_dnrequest() {
            let name = entry.name(index);
            if let Some(notify) = entry.port().and_then(|p| p.cancel_dead_name(id, name)) {
                released.port_deleted.push((notify, name));
            }
        }
        released.objects.extend(self.entry_mut(index)?.free());
        if (index as usize) < self.table.len() {
            self.free.push(index);
        } else if self.sparse.remove(&index).is_some() {
            budget::name_table_release(IPC_ENTRY_SPARSE_COST);
            self.charged -= IPC_ENTRY_SPARSE_COST;
        }
        Ok(())
    }

    /// The entry's send right is gone (its last user reference was dropped): release its count
    /// and keep the entry only if it still holds the receive right.
    fn remove_send(&mut self, index: u32, released: &mut Released) -> Result<(), KernReturn> {
        let entry = self.entry_mut(index)?;
        let port = entry.port().cloned().ok_or(KernReturn::KERN_INVALID_RIGHT)?;
        released.send.push(SendRight::adopt(port.clone()));
        if entry.right_type() & MACH_PORT_TYPE_RECEIVE != 0 {
            entry.set_right_type(MACH_PORT_TYPE_RECEIVE);
            entry.set_urefs(0);
            Ok(())
        } else {
            self.unindex(&port, index);
            self.free_slot(index, released)
        }
    }

    /// Take the receive right out of the entry so the port is destroyed (XNU's
    /// `ipc_right_destroy` for a receive right). A send right in the same entry can no longer
    /// reach anything: it stays as a dead name with its user references.
    fn remove_receive(&mut self, index: u32, released: &mut Released) -> Result<(), KernReturn> {
        let entry = self.entry(index)?;
        if entry.right_type() & MACH_PORT_TYPE_RECEIVE == 0 {
            return Err(KernReturn::KERN_INVALID_RIGHT);
        }
        let port = entry.port().cloned().ok_or(KernReturn::KERN_INVALID_RIGHT)?;
        let right_type = entry.right_type();
        let urefs = entry.urefs();
        self.unindex(&port, index);
        if right_type & MACH_PORT_TYPE_SEND != 0 {
            released.send.push(SendRight::adopt(port.clone()));
            self.become_dead_name(index, urefs)?;
        } else {
            self.free_slot(index, released)?;
        }
        released.receive.push(ReceiveRight::adopt(port));
        Ok(())
    }

    /// The set's only name goes away: the set is destroyed.
    fn remove_pset(&mut self, index: u32, released: &mut Released) -> Result<(), KernReturn> {
        let pset = self.entry(index)?.pset().cloned().ok_or(KernReturn::KERN_INVALID_RIGHT)?;
        self.free_slot(index, released)?;
        released.psets.push(pset);
        Ok(())
    }

    /// A send-once right dies unused.
    fn remove_send_once(&mut self, index: u32, released: &mut Released) -> Result<(), KernReturn> {
        let port = self.entry(index)?.port().cloned().ok_or(KernReturn::KERN_INVALID_RIGHT)?;
        released.send_once.push(SendOnceRight::adopt(port));
        self.free_slot(index, released)
    }

    /// Change the user references of the send right or dead name at `index`.
    fn change_urefs(&mut self, index: u32, delta: i32, released: &mut Released) -> Result<(), KernReturn> {
        let entry = self.entry_mut(index)?;
        let urefs = apply_delta(entry.urefs(), delta)?;
        if urefs > 0 {
            entry.set_urefs(urefs);
            Ok(())
        } else if entry.right_type() & MACH_PORT_TYPE_SEND != 0 {
            self.remove_send(index, released)
        } else {
            self.free_slot(index, released)
        }
    }
}

impl SpaceState {
    /// See [`IpcSpace::copyin_rights`]: a checking pass over scratch copies of the entries,
    /// then the taking pass, both through `copyin_step`.
    fn copyin_rights(
        &mut self,
        requests: &[(MachPortName, MachMsgTypeName)],
        first_is_dest: bool,
        released: &mut Released,
    ) -> Result<Vec<MsgRight>, (usize, KernReturn)> {
        let mut indices = Vec::new();
        indices.try_reserve(requests.len()).map_err(|_| (0, KernReturn::KERN_RESOURCE_SHORTAGE))?;
        let mut scratch: BTreeMap<u32, (MachPortType, u32)> = BTreeMap::new();
        let mut dest_port = None;
        for (i, &(name, disposition)) in requests.iter().enumerate() {
            if !mach_port_valid(name) {
                indices.push(None);
                continue;
            }
            let index = self.resolve_settled(name, released).map_err(|e| (i, e))?;
            let entry = self.entry(index).map_err(|e| (i, e))?;
            if i == 0 && first_is_dest {
                // A dead name carries nothing to send to: refused before anything is taken.
                if entry.right_type() & MACH_PORT_TYPE_DEAD_NAME != 0 {
                    return Err((i, KernReturn::KERN_INVALID_RIGHT));
                }
                dest_port = entry.port().map(port_key);
            } else if disposition == MACH_MSG_TYPE_MOVE_RECEIVE
                && dest_port.is_some()
                && entry.port().map(port_key) == dest_port
            {
                return Err((i, KernReturn::KERN_INVALID_RIGHT));
            }
            let (right_type, urefs) =
                scratch.get(&index).copied().unwrap_or((entry.right_type(), entry.urefs()));
            if right_type == mach::port::MACH_PORT_TYPE_NONE {
                // An earlier request in this message already emptied the entry.
                return Err((i, KernReturn::KERN_INVALID_NAME));
            }
            let (ty, left, _) = copyin_step(right_type, urefs, disposition).map_err(|e| (i, e))?;
            scratch.insert(index, (ty, left));
            indices.push(Some(index));
        }
        let mut rights = Vec::new();
        rights.try_reserve(requests.len()).map_err(|_| (0, KernReturn::KERN_RESOURCE_SHORTAGE))?;
        for (&(name, disposition), index) in requests.iter().zip(indices) {
            let right = match index {
                None if name == MACH_PORT_DEAD => MsgRight::Dead,
                None => MsgRight::Null,
                Some(index) => self.take_right(index, disposition, released),
            };
            rights.push(right);
        }
        Ok(rights)
    }

    /// See [`IpcSpace::insert_right_named`]; takes `right` out of its slot once it is entered.
    fn insert_named(
        &mut self,
        name: MachPortName,
        port: &PortRef,
        right: &mut Option<MsgRight>,
        released: &mut Released,
    ) -> Result<(), KernReturn> {
        let index = mach_port_index(name);
        let in_use = self.entry(index).is_ok_and(|e| !e.is_free());
        if in_use {
            let index = self.resolve_settled(name, released).map_err(|_| KernReturn::KERN_NAME_EXISTS)?;
            let entry = self.entry_mut(index)?;
            if !entry.port().is_some_and(|p| Arc::ptr_eq(p, port)) {
                return Err(KernReturn::KERN_NAME_EXISTS);
            }
            let ty = entry.right_type();
            match right.take() {
                Some(MsgRight::Send(r)) if ty & MACH_PORT_TYPE_SEND != 0 => {
                    entry.set_urefs(apply_delta(entry.urefs(), 1)?);
                    released.send.push(r);
                }
                Some(MsgRight::Send(r)) => {
                    entry.set_right_type(ty | MACH_PORT_TYPE_SEND);
                    entry.set_urefs(1);
                    drop(r.into_entry());
                }
                Some(MsgRight::Receive(r))
                    if ty & MACH_PORT_TYPE_RECEIVE == 0 && ty & MACH_PORT_TYPE_SEND != 0 =>
                {
                    entry.set_right_type(ty | MACH_PORT_TYPE_RECEIVE);
                    drop(r.into_entry());
                }
                other => {
                    *right = other;
                    return Err(KernReturn::KERN_RIGHT_EXISTS);
                }
            }
            return Ok(());
        }
        let send_or_receive = matches!(right, Some(MsgRight::Send(_) | MsgRight::Receive(_)));
        if send_or_receive && self.by_port.contains_key(&port_key(port)) {
            return Err(KernReturn::KERN_RIGHT_EXISTS);
        }
        if index == 0 || index >= self.limit {
            return Err(KernReturn::KERN_NO_SPACE);
        }
        if !matches!(right, Some(MsgRight::Send(_) | MsgRight::SendOnce(_) | MsgRight::Receive(_))) {
            return Err(KernReturn::KERN_INVALID_VALUE);
        }
        // A name one doubling of the table reaches grows the table; one farther out gets a
        // sparse entry of its own (charged as such), so the cost follows the names held.
        let len = u32::try_from(self.table.len()).map_err(|_| KernReturn::KERN_NO_SPACE)?;
        if index >= len && index < len.saturating_mul(2) {
            self.extend_to(len.saturating_mul(2).min(self.limit))?;
        }
        if index < u32::try_from(self.table.len()).map_err(|_| KernReturn::KERN_NO_SPACE)? {
            self.free.retain(|&i| i != index);
        } else {
            if !budget::name_table_charge(IPC_ENTRY_SPARSE_COST) {
                return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
            }
            self.charged += IPC_ENTRY_SPARSE_COST;
            self.sparse.insert(index, IpcEntry::fresh());
        }
        let (ty, urefs, port) = match right.take() {
            Some(MsgRight::Send(r)) => (MACH_PORT_TYPE_SEND, 1, r.into_entry()),
            Some(MsgRight::SendOnce(r)) => (MACH_PORT_TYPE_SEND_ONCE, 1, r.into_entry()),
            Some(MsgRight::Receive(r)) => (MACH_PORT_TYPE_RECEIVE, 0, r.into_entry()),
            // Checked above.
            other => {
                *right = other;
                return Err(KernReturn::KERN_INVALID_VALUE);
            }
        };
        let key = port_key(&port);
        self.entry_mut(index)?.claim_as(mach_port_gen(name), ty, urefs, IpcObject::Port(port));
        if ty != MACH_PORT_TYPE_SEND_ONCE {
            self.by_port.insert(key, index);
        }
        Ok(())
    }

    /// The taking pass for one right the checking pass accepted.
    fn take_right(&mut self, index: u32, disposition: MachMsgTypeName, released: &mut Released) -> MsgRight {
        let Ok(entry) = self.entry_mut(index) else { return MsgRight::Dead };
        let Ok((ty, urefs, taken)) = copyin_step(entry.right_type(), entry.urefs(), disposition) else {
            // The checking pass saw this exact state succeed.
            return MsgRight::Dead;
        };
        let port = entry.port().cloned();
        let emptied = ty == mach::port::MACH_PORT_TYPE_NONE;
        if !emptied {
            entry.set_right_type(ty);
            entry.set_urefs(urefs);
        }
        if (emptied || ty & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE) == 0)
            && let Some(port) = &port
        {
            self.unindex(port, index);
        }
        if emptied {
            let _ = self.free_slot(index, released);
        }
        let Some(port) = port else { return MsgRight::Dead };
        match taken {
            Taken::Receive => {
                port.set_in_transit();
                MsgRight::Receive(ReceiveRight::adopt(port))
            }
            Taken::MoveSend { last: true } => MsgRight::Send(SendRight::adopt(port)),
            Taken::MoveSend { last: false } | Taken::CopySend => MsgRight::Send(port.copy_send_right()),
            Taken::MakeSend => MsgRight::Send(port.make_send()),
            Taken::MakeSendOnce => MsgRight::SendOnce(port.make_send_once()),
            Taken::MoveSendOnce => MsgRight::SendOnce(SendOnceRight::adopt(port)),
            Taken::Dead => MsgRight::Dead,
        }
    }
}

impl IpcSpace {
    /// A new, empty space with the standard limit.
    pub fn new() -> SpaceRef {
        Self::with_limit(IPC_SPACE_TABLE_MAX)
    }

    /// A new, empty space holding at most `max_entries` slots (clamped to
    /// `2..=IPC_SPACE_TABLE_MAX`; slot 0 is never a name, so that is `max_entries - 1` names).
    pub fn with_limit(max_entries: u32) -> SpaceRef {
        let limit = max_entries.clamp(2, IPC_SPACE_TABLE_MAX);
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            state: SimpleLock::new(
                &crate::kern::lock_order::IPC_SPACE,
                SpaceState::new(limit, this.as_ptr().addr()),
            ),
            kmsg_counter: spin::Once::new(),
        })
    }

    /// Tie the space to its task's message budget (once, when the task is made).
    pub fn set_kmsg_counter(&self, counter: Arc<core::sync::atomic::AtomicUsize>) {
        self.kmsg_counter.call_once(|| counter);
    }

    /// The message budget of the space's task, if it has one.
    pub fn kmsg_counter(&self) -> Option<Arc<core::sync::atomic::AtomicUsize>> {
        self.kmsg_counter.get().cloned()
    }

    /// Run `op` on the live table, then release what it took out after unlocking.
    fn with_table<T>(
        &self,
        op: impl FnOnce(&mut SpaceState, &mut Released) -> Result<T, KernReturn>,
    ) -> Result<T, KernReturn> {
        let mut released = Released::default();
        let result = {
            let mut st = self.state.lock();
            if st.active { op(&mut st, &mut released) } else { Err(KernReturn::KERN_INVALID_TASK) }
        };
        drop(released);
        result
    }

    /// Is the space still usable (its task not torn down)?
    pub fn is_active(&self) -> bool {
        self.state.lock().active
    }

    /// A new port whose receive right this space holds, and its name (what `mach_reply_port`
    /// and `mach_port_allocate(MACH_PORT_RIGHT_RECEIVE)` do).
    pub fn alloc_receive(&self) -> Result<(MachPortName, PortRef), KernReturn> {
        if !crate::kern::budget::user_port_allowed() {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        self.with_table(|st, _| {
            let index = st.claim()?;
            let port = IpcPort::new_receive(self.this.clone());
            let name = st.occupy(index, MACH_PORT_TYPE_RECEIVE, 0, port.clone())?;
            Ok((name, port))
        })
    }

    /// A new, empty port set and its name (`mach_port_allocate(MACH_PORT_RIGHT_PORT_SET)`).
    pub fn alloc_port_set(&self) -> Result<(MachPortName, PsetRef), KernReturn> {
        if !crate::kern::budget::user_port_allowed() {
            return Err(KernReturn::KERN_RESOURCE_SHORTAGE);
        }
        self.with_table(|st, _| {
            let index = st.claim()?;
            let pset = IpcPset::new();
            let entry = st.entry_mut(index)?;
            entry.claim(MACH_PORT_TYPE_PORT_SET, 0, IpcObject::PortSet(pset.clone()));
            Ok((entry.name(index), pset))
        })
    }

    /// The port set `name` names: `KERN_INVALID_RIGHT` if it names something else.
    pub fn lookup_pset(&self, name: MachPortName) -> Result<PsetRef, KernReturn> {
        self.with_table(|st, released| {
            let index = st.resolve_settled(name, released)?;
            st.entry(index)?.pset().cloned().ok_or(KernReturn::KERN_INVALID_RIGHT)
        })
    }

    /// This space's name for `port`, if it holds a send or receive right for it.
    pub fn name_of(&self, port: &PortRef) -> Option<MachPortName> {
        let st = self.state.lock();
        let index = *st.by_port.get(&port_key(port))?;
        st.entry(index).ok().map(|e| e.name(index))
    }

    /// `mach_port_insert_member(name, pset)`: the receive right `name` joins the set `pset`.
    pub fn insert_member(&self, name: MachPortName, pset: MachPortName) -> Result<(), KernReturn> {
        let port = self.lookup_port(name, MACH_PORT_TYPE_RECEIVE)?;
        self.lookup_pset(pset)?.insert(&port)
    }

    /// `mach_port_extract_member(name, pset)`: the receive right `name` leaves the set `pset`.
    pub fn extract_member(&self, name: MachPortName, pset: MachPortName) -> Result<(), KernReturn> {
        let port = self.lookup_port(name, MACH_PORT_TYPE_RECEIVE)?;
        self.lookup_pset(pset)?.remove(&port)
    }

    /// `mach_port_move_member(member, after)`: the receive right `member` leaves its set and,
    /// unless `after` is `MACH_PORT_NULL`, joins `after` (`KERN_NOT_IN_SET` when asked to leave
    /// a set it is not in).
    pub fn move_member(&self, member: MachPortName, after: MachPortName) -> Result<(), KernReturn> {
        let port = self.lookup_port(member, MACH_PORT_TYPE_RECEIVE)?;
        let target = if after == MACH_PORT_NULL { None } else { Some(self.lookup_pset(after)?) };
        match (port.pset(), target) {
            (None, None) => Err(KernReturn::KERN_NOT_IN_SET),
            (Some(old), None) => old.remove(&port),
            (old, Some(new)) => {
                if let Some(old) = old {
                    if Arc::ptr_eq(&old, &new) {
                        return Ok(());
                    }
                    old.remove(&port)?;
                }
                new.insert(&port)
            }
        }
    }

    /// Make a send right to `port` and enter it here (what `task_self_trap`,
    /// `thread_self_trap` and `host_self_trap` do with the kernel's ports, and
    /// `mach_port_insert_right(MAKE_SEND)` with a receive right). The caller vouches that it may
    /// make send rights, i.e. holds the receive right: the kernel for its own ports, or code
    /// that found the receive right in this space. Bumps the port's make-send count.
    pub fn insert_send(&self, port: &PortRef) -> Result<MachPortName, KernReturn> {
        self.copyout_send(port.make_send())
    }

    /// Make a send-once right to `port` and enter it under a fresh name; the same caller
    /// obligation as [`IpcSpace::insert_send`].
    pub fn insert_send_once(&self, port: &PortRef) -> Result<MachPortName, KernReturn> {
        self.copyout_send_once(port.make_send_once())
    }

    /// Enter a send right someone holds (XNU `ipc_port_copyout_send`; later also the rights
    /// a received message carries). If the space already names the port with a send or receive
    /// right, the right merges into that name: one more user reference, and the incoming count
    /// on the port is released because the entry already stands for one. A right to a dead
    /// port yields `MACH_PORT_DEAD`. On error the right is released.
    pub fn copyout_send(&self, right: SendRight) -> Result<MachPortName, KernReturn> {
        self.with_table(|st, released| {
            let port = right.port().clone();
            if !port.is_active() {
                released.send.push(right);
                return Ok(MACH_PORT_DEAD);
            }
            if let Some(&index) = st.by_port.get(&port_key(&port)) {
                let entry = st.entry_mut(index)?;
                if entry.right_type() & MACH_PORT_TYPE_SEND != 0 {
                    entry.set_urefs(apply_delta(entry.urefs(), 1)?);
                    released.send.push(right);
                } else {
                    entry.set_right_type(entry.right_type() | MACH_PORT_TYPE_SEND);
                    entry.set_urefs(1);
                    drop(right.into_entry());
                }
                return Ok(entry.name(index));
            }
            match st.claim() {
                Ok(index) => st.occupy(index, MACH_PORT_TYPE_SEND, 1, right.into_entry()),
                Err(kr) => {
                    released.send.push(right);
                    Err(kr)
                }
            }
        })
    }

    /// Enter a send-once right someone holds, under a fresh name of its own. A right to a dead
    /// port yields `MACH_PORT_DEAD`. On error the right is released.
    pub fn copyout_send_once(&self, right: SendOnceRight) -> Result<MachPortName, KernReturn> {
        self.with_table(|st, released| {
            if !right.port().is_active() {
                released.send_once.push(right);
                return Ok(MACH_PORT_DEAD);
            }
            match st.claim() {
                Ok(index) => st.occupy(index, MACH_PORT_TYPE_SEND_ONCE, 1, right.into_entry()),
                Err(kr) => {
                    released.send_once.push(right);
                    Err(kr)
                }
            }
        })
    }

    /// Enter a right received in a message (XNU `ipc_object_copyout`): send rights merge into
    /// an existing name for the port, send-once rights get a name of their own, a receive
    /// right joins a send right already named here or takes a new name. Null and dead rights
    /// are the names `MACH_PORT_NULL` and `MACH_PORT_DEAD`. On error (the space is full) the
    /// right is released — a receive right destroys its port.
    pub fn copyout_right(&self, right: MsgRight) -> Result<MachPortName, KernReturn> {
        match right {
            MsgRight::Null => Ok(MACH_PORT_NULL),
            MsgRight::Dead => Ok(MACH_PORT_DEAD),
            MsgRight::Send(r) => self.copyout_send(r),
            MsgRight::SendOnce(r) => self.copyout_send_once(r),
            MsgRight::Receive(r) => self.copyout_receive(r),
        }
    }

    fn copyout_receive(&self, right: ReceiveRight) -> Result<MachPortName, KernReturn> {
        let port = right.port().clone();
        let name = self.with_table(|st, released| {
            if let Some(&index) = st.by_port.get(&port_key(&port)) {
                let entry = st.entry_mut(index)?;
                entry.set_right_type(entry.right_type() | MACH_PORT_TYPE_RECEIVE);
                drop(right.into_entry());
                return Ok(entry.name(index));
            }
            match st.claim() {
                Ok(index) => st.occupy(index, MACH_PORT_TYPE_RECEIVE, 0, right.into_entry()),
                Err(kr) => {
                    released.receive.push(right);
                    Err(kr)
                }
            }
        })?;
        port.set_receiver(self.this.clone());
        Ok(name)
    }

    /// Enter `right` under the name the caller chose (`mach_port_insert_right`). If `name`
    /// already names the same port, a send right merges into it (one more user reference) and
    /// a receive right joins a send right there; an unused name is taken as is. Errors as XNU:
    /// null or dead rights or names → `KERN_INVALID_VALUE`; the name is in use for something
    /// else → `KERN_NAME_EXISTS`; the space already names the port elsewhere, or the entry
    /// already holds that right → `KERN_RIGHT_EXISTS`. On error the right is released.
    pub fn insert_right_named(&self, name: MachPortName, right: MsgRight) -> Result<(), KernReturn> {
        let Some(port) = right.port().cloned().filter(|_| mach_port_valid(name)) else {
            return Err(KernReturn::KERN_INVALID_VALUE);
        };
        let is_receive = matches!(right, MsgRight::Receive(_));
        let mut right = Some(right);
        let result = self.with_table(|st, released| {
            let result = st.insert_named(name, &port, &mut right, released);
            if let Some(r) = right.take() {
                match r {
                    MsgRight::Send(r) => released.send.push(r),
                    MsgRight::SendOnce(r) => released.send_once.push(r),
                    MsgRight::Receive(r) => released.receive.push(r),
                    MsgRight::Null | MsgRight::Dead => {}
                }
            }
            result
        });
        if result.is_ok() && is_receive {
            port.set_receiver(self.this.clone());
        }
        result
    }

    /// The user references `name` holds for `right` (`mach_port_get_refs`): send and dead-name
    /// references, 1 for a receive or send-once right held, 0 for a right not held.
    pub fn get_refs(&self, name: MachPortName, right: MachPortRight) -> Result<u32, KernReturn> {
        if right >= MACH_PORT_RIGHT_NUMBER {
            return Err(KernReturn::KERN_INVALID_VALUE);
        }
        if !mach_port_valid(name) {
            return Err(KernReturn::KERN_INVALID_NAME);
        }
        let view = self.lookup(name)?;
        let has = |bit: MachPortType| view.right_type & bit != 0;
        Ok(match right {
            MACH_PORT_RIGHT_SEND if has(MACH_PORT_TYPE_SEND) => view.urefs,
            MACH_PORT_RIGHT_DEAD_NAME if has(MACH_PORT_TYPE_DEAD_NAME) => view.urefs,
            MACH_PORT_RIGHT_RECEIVE if has(MACH_PORT_TYPE_RECEIVE) => 1,
            MACH_PORT_RIGHT_SEND_ONCE if has(MACH_PORT_TYPE_SEND_ONCE) => 1,
            _ => 0,
        })
    }

    /// Take the rights a message will carry out of this space (XNU `ipc_right_copyin`, for
    /// the header and every port in the body at once): `requests` are `(name, disposition)`
    /// pairs, `MACH_PORT_NULL` and `MACH_PORT_DEAD` travel as themselves. All or nothing: if
    /// any request fails, nothing was taken and the error comes with the failing request's
    /// position. With `first_is_dest`, the first request is the destination: it may not be a
    /// dead name, and no request may move that port's receive right into the message (a port
    /// carried in its own queue could never be received again): `KERN_INVALID_RIGHT`.
    pub fn copyin_rights(
        &self,
        requests: &[(MachPortName, MachMsgTypeName)],
        first_is_dest: bool,
    ) -> Result<Vec<MsgRight>, (usize, KernReturn)> {
        let mut released = Released::default();
        let result = {
            let mut st = self.state.lock();
            if st.active {
                st.copyin_rights(requests, first_is_dest, &mut released)
            } else {
                Err((0, KernReturn::KERN_INVALID_TASK))
            }
        };
        drop(released);
        result
    }

    /// What `name` stands for now (a send right to a dead port reads as a dead name).
    pub fn lookup(&self, name: MachPortName) -> Result<EntryView, KernReturn> {
        self.with_table(|st, released| {
            let index = st.resolve_settled(name, released)?;
            Ok(st.entry(index)?.view())
        })
    }

    /// The port `name` names, provided the entry holds at least one of the `rights`
    /// (`MACH_PORT_TYPE_*` bits); `KERN_INVALID_RIGHT` otherwise, including for dead names.
    /// For a kernel object behind the port, use [`IpcSpace::lookup_kobject`].
    pub fn lookup_port(&self, name: MachPortName, rights: MachPortType) -> Result<PortRef, KernReturn> {
        self.with_table(|st, released| {
            let index = st.resolve_settled(name, released)?;
            let entry = st.entry(index)?;
            match entry.port() {
                Some(port) if entry.right_type() & rights != 0 => Ok(port.clone()),
                _ => Err(KernReturn::KERN_INVALID_RIGHT),
            }
        })
    }

    /// The live kernel object of type `T` that `name` names, provided the entry holds at least
    /// one of the `rights` (zCore's `get_object_with_rights`): `KERN_INVALID_NAME` for a name
    /// not in the space, `KERN_INVALID_RIGHT` for a dead name or an entry without those
    /// rights, `KERN_INVALID_ARGUMENT` for a port that does not stand for a live `T` (XNU's
    /// `ipc_port_translate_send` then `convert_port_to_*`). Every trap that takes an object
    /// by name comes through here.
    pub fn lookup_kobject<T: crate::kern::ipc_kobject::KObject>(
        &self,
        name: MachPortName,
        rights: MachPortType,
    ) -> Result<Arc<T>, KernReturn> {
        crate::kern::ipc_kobject::kobject_from_port::<T>(&self.lookup_port(name, rights)?)
    }

    /// The right bits of `name` (`mach_port_type`). `MACH_PORT_DEAD` itself reads as a dead
    /// name, as on XNU.
    pub fn port_type(&self, name: MachPortName) -> Result<MachPortType, KernReturn> {
        if name == MACH_PORT_DEAD {
            return Ok(MACH_PORT_TYPE_DEAD_NAME);
        }
        self.lookup(name).map(|view| {
            if view.dnrequest {
                view.right_type | mach::port::MACH_PORT_TYPE_DNREQUEST
            } else {
                view.right_type
            }
        })
    }

    /// Every name in the space with what it stands for (`mach_port_names`), lowest index
    /// first. Dead ports are settled on the way, as any lookup would.
    pub fn names(&self) -> Result<Vec<(MachPortName, EntryView)>, KernReturn> {
        self.with_table(|st, released| {
            let mut names = Vec::new();
            for index in st.indices().into_iter().skip(1) {
                if st.entry(index)?.is_free() {
                    continue;
                }
                st.settle(index, released)?;
                // Settling may have freed a sparse entry outright.
                let Ok(entry) = st.entry(index) else { continue };
                if !entry.is_free() {
                    names.push((entry.name(index), entry.view()));
                }
            }
            Ok(names)
        })
    }

    /// Drop one user reference of a send right, send-once right or dead name
    /// (`mach_port_deallocate`). The null and dead names succeed and do nothing; a bare
    /// receive right is `KERN_INVALID_RIGHT`.
    pub fn deallocate(&self, name: MachPortName) -> Result<(), KernReturn> {
        if !mach_port_valid(name) {
            return Ok(());
        }
        self.with_table(|st, released| {
            let index = st.resolve_settled(name, released)?;
            let entry = st.entry_mut(index)?;
            let right_type = entry.right_type();
            if right_type & MACH_PORT_TYPE_SEND_ONCE != 0 {
                st.remove_send_once(index, released)
            } else if right_type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DEAD_NAME) != 0 {
                let urefs = drop_one(entry.urefs());
                if urefs > 0 {
                    entry.set_urefs(urefs);
                    Ok(())
                } else if right_type & MACH_PORT_TYPE_SEND != 0 {
                    st.remove_send(index, released)
                } else {
                    st.free_slot(index, released)
                }
            } else {
                Err(KernReturn::KERN_INVALID_RIGHT)
            }
        })
    }

    /// Change the user references `name` holds for `right` by `delta` (`mach_port_mod_refs`).
    /// Receive and send-once rights accept only 0 and -1 (-1 destroys the right); send rights
    /// and dead names follow the uref rules of reference §5.3, and reaching zero removes the
    /// right. Errors as XNU: unknown right → `KERN_INVALID_VALUE`; the name lacks the right →
    /// `KERN_INVALID_RIGHT`; a bad delta → `KERN_INVALID_VALUE`.
    pub fn mod_refs(&self, name: MachPortName, right: MachPortRight, delta: i32) -> Result<(), KernReturn> {
        if right >= MACH_PORT_RIGHT_NUMBER {
            return Err(KernReturn::KERN_INVALID_VALUE);
        }
        if !mach_port_valid(name) {
            // Null and dead names hold every send right and none of the others.
            return if right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_SEND_ONCE {
                Ok(())
            } else {
                Err(KernReturn::KERN_INVALID_NAME)
            };
        }
        self.with_table(|st, released| {
            let index = st.resolve_settled(name, released)?;
            let right_type = st.entry(index)?.right_type();
            let required = match right {
                MACH_PORT_RIGHT_SEND => MACH_PORT_TYPE_SEND,
                MACH_PORT_RIGHT_RECEIVE => MACH_PORT_TYPE_RECEIVE,
                MACH_PORT_RIGHT_SEND_ONCE => MACH_PORT_TYPE_SEND_ONCE,
                MACH_PORT_RIGHT_PORT_SET => MACH_PORT_TYPE_PORT_SET,
                MACH_PORT_RIGHT_DEAD_NAME => MACH_PORT_TYPE_DEAD_NAME,
                // The obsolete LABELH slot: no entry ever holds it.
                _ => return Err(KernReturn::KERN_INVALID_VALUE),
            };
            if right_type & required == 0 {
                return Err(KernReturn::KERN_INVALID_RIGHT);
            }
            match right {
                MACH_PORT_RIGHT_SEND | MACH_PORT_RIGHT_DEAD_NAME => st.change_urefs(index, delta, released),
                _ => match delta {
                    0 => Ok(()),
                    -1 if right == MACH_PORT_RIGHT_RECEIVE => st.remove_receive(index, released),
                    -1 if right == MACH_PORT_RIGHT_SEND_ONCE => st.remove_send_once(index, released),
                    -1 if right == MACH_PORT_RIGHT_PORT_SET => st.remove_pset(index, released),
                    _ => Err(KernReturn::KERN_INVALID_VALUE),
                },
            }
        })
    }

    /// Destroy the receive right `name` holds, and with it the port. Other spaces' send rights
    /// to the port turn into dead names when next looked at; a send right under the same name
    /// here becomes a dead name at once.
    pub fn destroy_receive(&self, name: MachPortName) -> Result<(), KernReturn> {
        self.with_table(|st, released| {
            let index = st.resolve_settled(name, released)?;
            st.remove_receive(index, released)
        })
    }

    /// Tear the space down with its task (XNU `ipc_space_terminate`): every right is released
    /// and every port this space receives on is destroyed. Later operations fail with
    /// `KERN_INVALID_TASK`. Destroying twice is harmless.
    pub fn destroy(&self) {
        let (table, sparse, id) = {
            let mut st = self.state.lock();
            if !st.active {
                return;
            }
            st.active = false;
            st.free = Vec::new();
            st.by_port = BTreeMap::new();
            budget::name_table_release(core::mem::take(&mut st.charged));
            (core::mem::take(&mut st.table), core::mem::take(&mut st.sparse), st.id)
        };
        let mut released = Released::default();
        let mut cancelled = Vec::new();
        let dense = table.into_iter().enumerate().map(|(i, e)| (u32::try_from(i).unwrap_or(u32::MAX), e));
        for (index, entry) in dense.chain(sparse) {
            let right_type = entry.right_type();
            if let Some(pset) = entry.pset() {
                released.psets.push(pset.clone());
            }
            let Some(port) = entry.port().cloned() else {
                continue;
            };
            // Dead-name requests die with the space (their rights go unused).
            if entry.has_dnrequest() {
                cancelled.extend(port.cancel_dead_name(id, entry.name(index)));
            }
            if right_type & MACH_PORT_TYPE_RECEIVE != 0 {
                released.receive.push(ReceiveRight::adopt(port.clone()));
            }
            if right_type & MACH_PORT_TYPE_SEND != 0 {
                released.send.push(SendRight::adopt(port.clone()));
            }
            if right_type & MACH_PORT_TYPE_SEND_ONCE != 0 {
                released.send_once.push(SendOnceRight::adopt(port));
            }
        }
        drop(released);
        drop(cancelled);
    }

    /// Arm or disarm a notification on `name` (`mach_port_request_notification`); returns the
    /// request's previous send-once right (or `Null`). `notify` must be a send-once right, or
    /// `Null` to disarm (else `KERN_INVALID_CAPABILITY`). Port-destroyed (sync must be 0) and
    /// no-senders (fires once the make-send count reaches `sync` and no send rights are left)
    /// need the receive right; dead-name needs any right for the port — on a name already dead
    /// it answers at once when `sync` is set and is `KERN_INVALID_ARGUMENT` otherwise.
    /// Other ids are `KERN_INVALID_VALUE`.
    pub fn request_notification(
        &self,
        name: MachPortName,
        msgid: i32,
        sync: u32,
        notify: MsgRight,
    ) -> Result<MsgRight, KernReturn> {
        use mach::port::{MACH_NOTIFY_DEAD_NAME, MACH_NOTIFY_NO_SENDERS, MACH_NOTIFY_PORT_DESTROYED};
        let mut notify = match notify {
            MsgRight::SendOnce(r) => Some(r),
            MsgRight::Null | MsgRight::Dead => None,
            MsgRight::Send(_) | MsgRight::Receive(_) => return Err(KernReturn::KERN_INVALID_CAPABILITY),
        };
        let result = match msgid {
            MACH_NOTIFY_PORT_DESTROYED if sync != 0 => Err(KernReturn::KERN_INVALID_VALUE),
            MACH_NOTIFY_PORT_DESTROYED => self
                .lookup_port(name, MACH_PORT_TYPE_RECEIVE)
                .map(|port| port.request_port_destroyed(notify.take())),
            MACH_NOTIFY_NO_SENDERS => self
                .lookup_port(name, MACH_PORT_TYPE_RECEIVE)
                .map(|port| port.request_no_senders(notify.take(), sync)),
            MACH_NOTIFY_DEAD_NAME => self.with_table(|st, released| {
                let index = st.resolve_settled(name, released)?;
                let id = st.id;
                let entry = st.entry_mut(index)?;
                if entry.right_type() & MACH_PORT_TYPE_DEAD_NAME != 0 {
                    if sync == 0 || notify.is_none() {
                        return Err(KernReturn::KERN_INVALID_ARGUMENT);
                    }
                    // The notification carries a reference to the dead name, as usual.
                    entry.set_urefs(apply_delta(entry.urefs(), 1)?);
                    if let Some(n) = notify.take() {
                        released.dead_name.push((n, name));
                    }
                    return Ok(None);
                }
                let port = entry.port().cloned().ok_or(KernReturn::KERN_INVALID_RIGHT)?;
                entry.set_dnrequest(notify.is_some());
                let (previous, answered) = port.request_dead_name(id, name, notify.take());
                released.dead_name.extend(answered.map(|n| (n, name)));
                Ok(previous)
            }),
            _ => Err(KernReturn::KERN_INVALID_VALUE),
        };
        // A right the kernel took for a request it refused was never the user's to lose:
        // it goes quietly, as XNU releases it (no send-once notification).
        if let Some(n) = notify {
            n.consume();
        }
        let previous = result?;
        Ok(previous.map_or(MsgRight::Null, MsgRight::SendOnce))
    }

    /// Heap bytes this space's names are charged for.
    #[cfg(test)]
    pub(crate) fn table_bytes(&self) -> usize {
        self.state.lock().charged
    }

    /// Check the table's internal bookkeeping: the reverse index names exactly the live
    /// send/receive entries, and the free list exactly the free slots.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let st = self.state.lock();
        let mut indexed = 0;
        for index in st.indices() {
            let entry = st.entry(index).expect("listed index");
            let right_type = entry.right_type();
            if (index as usize) >= st.table.len() {
                assert!(!entry.is_free(), "a free sparse entry at {index}");
            }
            if (index as usize) < st.table.len() {
                assert_eq!(entry.is_free(), st.free.contains(&index) || index == 0, "slot {index}");
            }
            match entry.port() {
                Some(port) if right_type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE) != 0 => {
                    assert_eq!(st.by_port.get(&port_key(port)), Some(&index));
                    indexed += 1;
                }
                Some(_) => assert_eq!(right_type, MACH_PORT_TYPE_SEND_ONCE),
                None if entry.pset().is_some() => assert_eq!(right_type, MACH_PORT_TYPE_PORT_SET),
                None => assert!(right_type == MACH_PORT_TYPE_DEAD_NAME || entry.is_free()),
            }
            let urefs = entry.urefs();
            match right_type {
                mach::port::MACH_PORT_TYPE_NONE | MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_PORT_SET => {
                    assert_eq!(urefs, 0)
                }
                MACH_PORT_TYPE_SEND_ONCE => assert_eq!(urefs, 1),
                _ => assert!(urefs >= 1),
            }
        }
        assert_eq!(st.by_port.len(), indexed);
    }
}

impl Drop for SpaceState {
    fn drop(&mut self) {
        budget::name_table_release(self.charged);
    }
}

impl Drop for IpcSpace {
    /// A space dropped without [`IpcSpace::destroy`] still releases its rights, so a task that
    /// vanishes on an error path cannot leak port counts.
    fn drop(&mut self) {
        self.destroy();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uref_deltas_follow_xnu() {
        let max = MACH_PORT_UREFS_MAX;
        let max_delta = MACH_PORT_UREFS_MAX as i32;
        assert_eq!(apply_delta(1, 1), Ok(2));
        assert_eq!(apply_delta(2, -2), Ok(0));
        assert_eq!(apply_delta(1, -2), Err(KernReturn::KERN_INVALID_VALUE));
        assert_eq!(apply_delta(1, max_delta + 1), Err(KernReturn::KERN_INVALID_VALUE));
        assert_eq!(apply_delta(1, i32::MIN), Err(KernReturn::KERN_INVALID_VALUE));
        // Overflow pegs; a pegged count ignores everything but minus the maximum.
        assert_eq!(apply_delta(max - 1, 5), Ok(max));
        assert_eq!(apply_delta(max, -1), Ok(max));
        assert_eq!(apply_delta(max, 1), Ok(max));
        assert_eq!(apply_delta(max, max_delta), Ok(max));
        assert_eq!(apply_delta(max, -max_delta), Ok(0));
        assert_eq!(drop_one(max), max);
        assert_eq!(drop_one(3), 2);
    }
}
