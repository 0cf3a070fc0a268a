//! Deadlines (XNU's `timer_call`): things to do when absolute time reaches a value. The
//! scheduler uses them for waits with a timeout; the hardware timer is programmed for the
//! earliest one (or the next quantum, whichever comes first).

use alloc::collections::BTreeMap;

/// Pending deadlines, each with a payload; ties keep insertion order.
pub struct TimerQueue<T> {
    entries: BTreeMap<(u64, u64), T>,
    next_seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue { entries: BTreeMap::new(), next_seq: 0 }
    }
}

/// Handle to cancel a pending deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(pub(crate) u64, pub(crate) u64);

impl<T> TimerQueue<T> {
    /// Run `payload` at `deadline`.
    pub fn enter(&mut self, deadline: u64, payload: T) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert((deadline, seq), payload);
        TimerId(deadline, seq)
    }

    /// Cancel a deadline; returns its payload if it had not fired.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        self.entries.remove(&(id.0, id.1))
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.entries.keys().next().map(|k| k.0)
    }

    /// Remove and return the first payload whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: u64) -> Option<T> {
        let key = *self.entries.keys().next()?;
        if key.0 <= now { self.entries.remove(&key) } else { None }
    }

    /// Pending deadlines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing pending?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_deadline_order_and_cancels() {
        let mut q = TimerQueue::default();
        q.enter(30, "c");
        let b = q.enter(20, "b");
        q.enter(10, "a");
        q.enter(10, "a2");
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(q.cancel(b), Some("b"));
        assert_eq!(q.cancel(b), None);
        assert_eq!(q.pop_expired(9), None);
        assert_eq!(q.pop_expired(15), Some("a"));
        assert_eq!(q.pop_expired(15), Some("a2"));
        assert_eq!(q.pop_expired(15), None);
        assert_eq!(q.pop_expired(u64::MAX), Some("c"));
        assert!(q.is_empty());
    }
}
