//! The lock around a task's map (XNU's `vm_map_lock` / `vm_map_lock_read`): readers — page
//! faults, copies of user memory resolving their faults, queries — take [`VmMapLock::read`];
//! anything that changes entries takes [`VmMapLock::write`]. A fault that finds it must
//! change its entry upgrades ([`VmMapReadGuard::upgrade`], XNU's
//! `vm_map_lock_read_to_write`): in place if it can, else the read side is gone and the
//! fault takes the write side and looks again (`vm_fault::vm_map_fault`).
//!
//! The lock is a sleeping reader-writer lock (`LckRw`, class `VM_MAP` in the lock order):
//! a long operation on a map (fork's copy, a big `vm_deallocate`) runs preemptible, with
//! interrupts on, and faults of several threads resolve side by side.
//! Lock order: map → object → pmap → page pool (see `kern::lock_order`).

use core::ops::{Deref, DerefMut};

use crate::kern::lock_order;
use crate::kern::locks::{LckRw, LckRwReadGuard, LckRwWriteGuard};
use crate::vm::vm_map::VmMap;

/// A map with its reader-writer lock.
pub struct VmMapLock {
    inner: LckRw<VmMap>,
}

/// The read side: shared access to the map.
pub struct VmMapReadGuard<'a>(LckRwReadGuard<'a, VmMap>);

/// The write side: exclusive access to the map.
pub struct VmMapWriteGuard<'a>(LckRwWriteGuard<'a, VmMap>);

impl VmMapLock {
    /// Put `map` behind the lock.
    pub fn new(map: VmMap) -> VmMapLock {
        VmMapLock { inner: LckRw::new(&lock_order::VM_MAP, map) }
    }

    /// Shared access (`vm_map_lock_read`).
    pub fn read(&self) -> VmMapReadGuard<'_> {
        VmMapReadGuard(self.inner.read())
    }

    /// Exclusive access (`vm_map_lock`).
    pub fn write(&self) -> VmMapWriteGuard<'_> {
        VmMapWriteGuard(self.inner.write())
    }
}

impl<'a> VmMapReadGuard<'a> {
    /// The write side, keeping what was read valid if it can (no other reader holds the
    /// lock); None if the lock had to be let go of, and what was read may have changed.
    pub fn upgrade(self) -> Option<VmMapWriteGuard<'a>> {
        self.0.try_upgrade().ok().map(VmMapWriteGuard)
    }
}

impl Deref for VmMapReadGuard<'_> {
    type Target = VmMap;
    fn deref(&self) -> &VmMap {
        &self.0
    }
}

impl Deref for VmMapWriteGuard<'_> {
    type Target = VmMap;
    fn deref(&self) -> &VmMap {
        &self.0
    }
}

impl DerefMut for VmMapWriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut VmMap {
        &mut self.0
    }
}
