//! Sleeping in BSD (XNU's `kern_synch.c`): [`msleep`], the one way BSD code waits.
//!
//! A sleeper names the wait queues that can end its sleep and a `check` that says whether
//! what it waits for is there yet. The check runs first without waiting; if it says "not
//! yet", the thread joins the queues and runs it again before blocking — so whatever
//! changes the condition and then wakes a queue can never slip between the check and the
//! sleep. The check runs with preemption off while the thread is on the queues: it may take
//! spin locks, and must not block.
//!
//! How a sleep ends, mapped here and nowhere else:
//! - woken: `check` runs again (the thing may already be gone to another sleeper);
//! - the deadline passed: `EWOULDBLOCK`;
//! - interrupted (with [`PCATCH`]; a signal or termination aborted the wait): `EINTR`, or
//!   `ERESTART` when the signal's handler asked for SA_RESTART, so the system call is
//!   restarted on the way out.
//!
//! Without `PCATCH` only a wakeup or the deadline ends the sleep; use that only where the
//! wait is short and certain to end (SIGKILL must always get through).

use osfmk::kern::waitq::{Interruptible, Wait, WaitQueue, WaitResult};
use sys::Errno;

/// Let a signal interrupt the sleep (XNU's `PCATCH` priority flag).
pub const PCATCH: SleepFlags = SleepFlags { catch: true };
/// Sleep through signals.
pub const PUNINT: SleepFlags = SleepFlags { catch: false };

/// How a sleep may end besides a wakeup and its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepFlags {
    catch: bool,
}

/// Sleep on `queues` until `check` returns `Some` (its value is returned), its error, or
/// absolute time `deadline` (None: no deadline). See the module doc.
pub fn msleep<T>(
    queues: &[&WaitQueue],
    flags: SleepFlags,
    deadline: Option<u64>,
    mut check: impl FnMut() -> Result<Option<T>, Errno>,
) -> Result<T, Errno> {
    if let Some(v) = check()? {
        return Ok(v);
    }
    let interruptible = if flags.catch { Interruptible::Yes } else { Interruptible::No };
    loop {
        let mut wait = Wait::begin(interruptible, deadline);
        for q in queues {
            wait.on(q);
        }
        if let Some(v) = check()? {
            return Ok(v);
        }
        match wait.block() {
            WaitResult::Awakened => {}
            WaitResult::TimedOut => return Err(Errno::EWOULDBLOCK),
            WaitResult::Interrupted => return Err(interrupted_errno()),
        }
    }
}

/// The errno an interrupted sleep becomes for the calling process.
fn interrupted_errno() -> Errno {
    crate::kern::kern_proc::current_proc()
        .map_or(Errno::EINTR, |p| crate::kern::kern_sig::interrupted_errno(&p))
}
