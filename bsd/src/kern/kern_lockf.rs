//! Advisory whole-file locks (XNU's `kern_lockf.c` as `flock(2)` uses it, the `F_FLOCK`
//! kind): a vnode's [`Lockf`] lists who holds a shared or an exclusive lock on the file, and
//! its waiters sleep on the vnode's own queue until a release may let them in.
//!
//! A lock belongs to an open file description ([`LockOwner`]), not to a process: `dup` and
//! `fork` share it, and it goes when the description's last reference does (the
//! description's drop releases it). One owner holds at most one lock per file; asking again
//! converts it in place (upgrade or downgrade). An owner that must wait for an exclusive
//! lock first gives up the shared one it holds, as BSD does, so two upgraders cannot block
//! each other forever; a non-blocking request that finds a conflict changes nothing.
//!
//! What a user can grow here is bounded by what it already holds: a record per open file
//! description per file (descriptions are bounded by the descriptor and fileport budgets),
//! allocated fallibly (`ENOLCK`, as XNU answers when a lock record cannot be had), and a
//! waiter per blocked thread (bounded by the thread budget). The list is under a spin lock
//! held only to scan and change it; waking happens after it is dropped.

use alloc::vec::Vec;

use osfmk::kern::lock_order;
use osfmk::kern::locks::SimpleLock;
use osfmk::kern::waitq::WaitQueue;
use sys::Errno;

/// The kind of a lock (XNU's `F_RDLCK` and `F_WRLCK`, as `flock`'s `LOCK_SH` and `LOCK_EX`
/// ask for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockType {
    /// Any number of owners together.
    Shared,
    /// One owner, and no shared lock beside it.
    Exclusive,
}

/// Who holds a lock: an open file description, named by its address (XNU's `lf_id`, the
/// fileglob pointer). A description releases its locks before it is freed, so no other
/// description can be taken for it while a lock carries its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockOwner(usize);

impl LockOwner {
    /// The owner named by `holder`'s address.
    pub fn of<T>(holder: &T) -> LockOwner {
        LockOwner(core::ptr::from_ref(holder) as usize)
    }
}

/// One granted lock.
#[derive(Clone, Copy, Debug)]
struct LockRecord {
    owner: LockOwner,
    ltype: LockType,
}

/// A file's advisory locks (XNU's `v_lockf`) and the threads waiting for one.
pub struct Lockf {
    held: SimpleLock<Vec<LockRecord>>,
    /// Threads waiting for a lock; woken whenever one is released or downgraded.
    waiters: WaitQueue,
}

impl Default for Lockf {
    fn default() -> Lockf {
        Lockf::new()
    }
}

impl Lockf {
    /// No locks.
    pub const fn new() -> Lockf {
        Lockf { held: SimpleLock::new(&lock_order::VNODE_LOCKF, Vec::new()), waiters: WaitQueue::new() }
    }

    /// Takes a lock of kind `ltype` for `owner` if no other owner's lock conflicts with it (an
    /// exclusive lock conflicts with every other lock): `Ok(true)`. A lock `owner` holds
    /// already becomes `ltype`. `Ok(false)` on a conflict, with nothing changed; `ENOLCK` if
    /// there is no memory for the record.
    pub fn try_lock(&self, owner: LockOwner, ltype: LockType) -> Result<bool, Errno> {
        let mut held = self.held.lock();
        let conflict = held
            .iter()
            .any(|r| r.owner != owner && (r.ltype == LockType::Exclusive || ltype == LockType::Exclusive));
        if conflict {
            return Ok(false);
        }
        let downgraded = match held.iter_mut().find(|r| r.owner == owner) {
            Some(r) => {
                let was = core::mem::replace(&mut r.ltype, ltype);
                was == LockType::Exclusive && ltype == LockType::Shared
            }
            None => {
                held.try_reserve(1).map_err(|_| Errno::ENOLCK)?;
                held.push(LockRecord { owner, ltype });
                false
            }
        };
        drop(held);
        if downgraded {
            // Shared waiters may come in beside the lock now.
            self.waiters.wakeup_all();
        }
        Ok(true)
    }

    /// Releases `owner`'s lock (`LOCK_UN`, and the last close of a description that locked).
    /// Returns whether it held one; holding none is no error.
    pub fn unlock(&self, owner: LockOwner) -> bool {
        let removed = {
            let mut held = self.held.lock();
            let before = held.len();
            held.retain(|r| r.owner != owner);
            held.len() != before
        };
        if removed {
            self.waiters.wakeup_all();
        }
        removed
    }

    /// The kind of lock `owner` holds, if any.
    pub fn held_by(&self, owner: LockOwner) -> Option<LockType> {
        self.held.lock().iter().find(|r| r.owner == owner).map(|r| r.ltype)
    }

    /// Takes a lock as [`Lockf::try_lock`] does, sleeping while another owner's lock
    /// conflicts (`flock` without `LOCK_NB`). Waiting for an exclusive lock first gives up
    /// the shared lock `owner` holds, as BSD's `lf_setlock` does; it stays given up if the
    /// wait ends early. A signal ends the wait (`PCATCH`): `EINTR`, or `ERESTART` when its
    /// handler asked for `SA_RESTART`.
    #[cfg(target_os = "none")]
    pub fn lock_wait(&self, owner: LockOwner, ltype: LockType) -> Result<(), Errno> {
        use crate::kern::kern_synch::{PCATCH, msleep};
        msleep(&[&self.waiters], PCATCH, None, || {
            if self.try_lock(owner, ltype)? {
                return Ok(Some(()));
            }
            if ltype == LockType::Exclusive {
                // Only the first check finds one to give up: it runs before this thread
                // joins the queue, so the wakeup it sends is not its own.
                self.unlock(owner);
            }
            Ok(None)
        })
    }
}

/// What a `flock` call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlockOp {
    /// Release the lock (`LOCK_UN`).
    Unlock,
    /// Take a lock of this kind, waiting for it unless `wait` is false (`LOCK_NB`).
    Lock { ltype: LockType, wait: bool },
}

/// Reads `flock`'s `how` as XNU's `sys_flock` does: `LOCK_UN` wins whatever else is set;
/// then `LOCK_EX` over `LOCK_SH`; `LOCK_NB` only says not to wait. Neither lock nor unlock:
/// `EBADF` (XNU's answer, not `EINVAL`).
pub fn flock_op(how: i32) -> Result<FlockOp, Errno> {
    use sys::fcntl::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};
    let wait = how & LOCK_NB == 0;
    if how & LOCK_UN != 0 {
        Ok(FlockOp::Unlock)
    } else if how & LOCK_EX != 0 {
        Ok(FlockOp::Lock { ltype: LockType::Exclusive, wait })
    } else if how & LOCK_SH != 0 {
        Ok(FlockOp::Lock { ltype: LockType::Shared, wait })
    } else {
        Err(Errno::EBADF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::fcntl::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};

    #[test]
    fn how_is_read_as_xnu_reads_it() {
        let lock = |ltype, wait| Ok(FlockOp::Lock { ltype, wait });
        assert_eq!(flock_op(LOCK_SH), lock(LockType::Shared, true));
        assert_eq!(flock_op(LOCK_EX | LOCK_NB), lock(LockType::Exclusive, false));
        assert_eq!(flock_op(LOCK_SH | LOCK_EX), lock(LockType::Exclusive, true), "EX beats SH");
        assert_eq!(flock_op(LOCK_UN | LOCK_EX | LOCK_NB), Ok(FlockOp::Unlock), "UN wins");
        assert_eq!(flock_op(LOCK_NB), Err(Errno::EBADF));
        assert_eq!(flock_op(0), Err(Errno::EBADF));
        assert_eq!(flock_op(0x10), Err(Errno::EBADF), "unknown bits alone");
        assert_eq!(flock_op(0x10 | LOCK_SH), lock(LockType::Shared, true), "unknown bits are ignored");
    }

    const A: LockOwner = LockOwner(0x1000);
    const B: LockOwner = LockOwner(0x2000);
    const C: LockOwner = LockOwner(0x3000);

    #[test]
    fn shared_locks_go_together_exclusive_ones_alone() {
        let l = Lockf::new();
        assert_eq!(l.try_lock(A, LockType::Shared), Ok(true));
        assert_eq!(l.try_lock(B, LockType::Shared), Ok(true), "two shared locks");
        assert_eq!(l.try_lock(C, LockType::Exclusive), Ok(false), "an exclusive one waits for both");
        assert_eq!(l.held_by(C), None, "a refused request leaves nothing");
        assert!(l.unlock(A));
        assert_eq!(l.try_lock(C, LockType::Exclusive), Ok(false), "B still shares it");
        assert!(l.unlock(B));
        assert_eq!(l.try_lock(C, LockType::Exclusive), Ok(true));
        assert_eq!(l.try_lock(A, LockType::Shared), Ok(false), "no shared lock beside an exclusive one");
        assert_eq!(l.try_lock(A, LockType::Exclusive), Ok(false));
        assert!(l.unlock(C));
        assert!(!l.unlock(C), "nothing left to release: no error, nothing done");
        assert_eq!(l.try_lock(A, LockType::Exclusive), Ok(true));
    }

    #[test]
    fn an_owner_converts_its_own_lock() {
        let l = Lockf::new();
        assert_eq!(l.try_lock(A, LockType::Shared), Ok(true));
        assert_eq!(l.try_lock(A, LockType::Exclusive), Ok(true), "upgrade: nobody else holds it");
        assert_eq!(l.held_by(A), Some(LockType::Exclusive));
        assert_eq!(l.try_lock(A, LockType::Exclusive), Ok(true), "asking again is no conflict with itself");
        assert_eq!(l.try_lock(A, LockType::Shared), Ok(true), "downgrade");
        assert_eq!(l.held_by(A), Some(LockType::Shared));
        assert_eq!(l.try_lock(B, LockType::Shared), Ok(true), "others may share it now");
        assert_eq!(l.try_lock(A, LockType::Exclusive), Ok(false), "no upgrade while B shares it");
        assert_eq!(l.held_by(A), Some(LockType::Shared), "a refused upgrade keeps the shared lock");
        assert_eq!(l.held.lock().len(), 2, "one record per owner");
    }

    #[test]
    fn owners_are_descriptions_by_address() {
        let (x, y) = (0u64, 0u64);
        assert_eq!(LockOwner::of(&x), LockOwner::of(&x));
        assert_ne!(LockOwner::of(&x), LockOwner::of(&y));
    }
}
