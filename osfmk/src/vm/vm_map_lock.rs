//! The lock around a task's map (XNU's `vm_map_lock` / `vm_map_lock_read`): readers — page
//! faults, copies of user memory resolving their faults, queries — take [`VmMapLock::read`];
//! anything that changes entries takes [`VmMapLock::write`]. A fault that finds it must
//! change its entry upgrades ([`VmMapReadGuard::upgrade`], XNU's
//! `vm_map_lock_read_to_write`): in place if it can, else the read side is gone and the
//! fault takes the write side and looks again (`vm_fault::vm_map_fault`).
//!
//! For now both sides are one interrupt-masking spin lock, so readers exclude each other
//! too; the sleeping reader-writer lock (`lck_rw`) replaces it behind this same surface.
//! Lock order: map → object → pmap → page pool.

use core::ops::{Deref, DerefMut};

use crate::kern::locks::{SpinLock, SpinLockGuard};
use crate::vm::vm_map::VmMap;

/// A map with its reader-writer lock.
pub struct VmMapLock {
    inner: SpinLock<VmMap>,
}

/// The read side: shared access to the map.
pub struct VmMapReadGuard<'a>(SpinLockGuard<'a, VmMap>);

/// The write side: exclusive access to the map.
pub struct VmMapWriteGuard<'a>(SpinLockGuard<'a, VmMap>);

impl VmMapLock {
    /// Put `map` behind the lock.
    pub fn new(map: VmMap) -> VmMapLock {
        VmMapLock { inner: SpinLock::new(map) }
    }

    /// Shared access (`vm_map_lock_read`).
    pub fn read(&self) -> VmMapReadGuard<'_> {
        VmMapReadGuard(self.inner.lock())
    }

    /// Exclusive access (`vm_map_lock`).
    pub fn write(&self) -> VmMapWriteGuard<'_> {
        VmMapWriteGuard(self.inner.lock())
    }
}

impl<'a> VmMapReadGuard<'a> {
    /// The write side, keeping what was read valid if it can (no other reader holds the
    /// lock or waits to upgrade); None if the lock had to be let go of, and what was read
    /// may have changed. (The spin lock inside excludes other readers: always in place.)
    pub fn upgrade(self) -> Option<VmMapWriteGuard<'a>> {
        Some(VmMapWriteGuard(self.0))
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
