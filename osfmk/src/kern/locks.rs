//! Kernel locks. Every lock masks IRQs on this CPU while held, so an interrupt handler (or a
//! preemption, which only happens from an interrupt) can never find a lock held by the thread
//! it interrupted. With more CPUs the same lock spins across them; no caller changes.
//!
//! Lock order (take left before right, never the reverse):
//! `proc table → proc → task → ipc_space → ipc_port → device (console input…) → run queue →
//! console output`. A waiter tests its condition and calls `assert_wait` under the device's
//! lock, so the device lock comes before the run queue; nothing but console output (a panic
//! message) is taken while holding the run queue.

use core::ops::{Deref, DerefMut};

use crate::arm64::cpu;

/// A spin lock that masks IRQs while held (XNU's `lck_spin_t` with interrupts disabled).
pub struct SpinLock<T: ?Sized> {
    inner: spin::Mutex<T>,
}

/// Holds a [`SpinLock`]; IRQs stay masked until it drops. Fields drop in declaration order:
/// the lock is released first, then the interrupt mask put back.
pub struct SpinLockGuard<'a, T: ?Sized> {
    guard: spin::MutexGuard<'a, T>,
    _masked: cpu::InterruptsMasked,
}

impl<T> SpinLock<T> {
    /// A new unlocked lock.
    pub const fn new(value: T) -> SpinLock<T> {
        SpinLock { inner: spin::Mutex::new(value) }
    }
}

impl<T: ?Sized> SpinLock<T> {
    /// Mask IRQs, then spin until the lock is ours.
    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        let masked = cpu::InterruptsMasked::new();
        SpinLockGuard { guard: self.inner.lock(), _masked: masked }
    }

    /// The value through an exclusive borrow of the lock: no one else can hold it, so
    /// nothing is locked (a map changing its own pmap under the map's write lock).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Take the lock if it is free (used by the panic path to avoid deadlocking on itself).
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        let masked = cpu::InterruptsMasked::new();
        // On failure `masked` drops here and the mask is put back.
        self.inner.try_lock().map(|guard| SpinLockGuard { guard, _masked: masked })
    }
}

impl<T: ?Sized> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// The caller may block here (it is about to copy user memory, whose faults may sleep).
/// A placeholder: the lock validator, being written alongside, will check that no spin lock
/// is held and that this is not interrupt context.
#[inline]
pub fn assert_may_block() {}

#[cfg(test)]
mod tests {
    use super::SpinLock;

    #[test]
    fn lock_and_try_lock() {
        let l = SpinLock::new(5);
        {
            let mut g = l.lock();
            *g += 1;
            assert!(l.try_lock().is_none());
        }
        assert_eq!(*l.try_lock().unwrap(), 6);
    }
}
