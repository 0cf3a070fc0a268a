//! Process ids (XNU's pid allocation in `forkproc`): ids increase from the last one handed
//! out, so a pid that just died is not reused at once (a stale `kill(pid)` would hit a
//! stranger); past [`PID_MAX`] they wrap to [`PID_WRAP`], skipping every id still in use as
//! a process, a process group or a session. 0 is the kernel task, 1 is init.

use sys::Errno;

/// A process id (`pid_t`).
pub type Pid = i32;

/// The kernel task's process (`kernproc`).
pub const PID_KERNEL: Pid = 0;
/// The first user process (`initproc`).
pub const PID_INIT: Pid = 1;
/// Pids stay below this (`PID_MAX`).
pub const PID_MAX: Pid = 99999;
/// Where allocation starts again after wrapping: the low pids mostly belong to daemons
/// started at boot that never exit, so starting above them saves a long skip.
pub const PID_WRAP: Pid = 100;

/// The pid allocator (`lastpid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidAllocator {
    last: Pid,
}

impl Default for PidAllocator {
    fn default() -> PidAllocator {
        PidAllocator::new()
    }
}

impl PidAllocator {
    /// Ready to hand out 2 next: 0 and 1 are created by hand at boot.
    pub fn new() -> PidAllocator {
        PidAllocator { last: PID_INIT }
    }

    /// The next free pid. `in_use(id)` must say whether `id` names a live or zombie process,
    /// a process group or a session. EAGAIN when every candidate is taken.
    pub fn alloc(&mut self, mut in_use: impl FnMut(Pid) -> bool) -> Result<Pid, Errno> {
        let mut pid = self.last;
        // PID_MAX steps visit every candidate of the cycle at least once, wherever it starts.
        for _ in 0..PID_MAX {
            pid = if pid + 1 >= PID_MAX { PID_WRAP } else { pid + 1 };
            if !in_use(pid) {
                self.last = pid;
                return Ok(pid);
            }
        }
        Err(Errno::EAGAIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn increasing_from_two() {
        let mut a = PidAllocator::new();
        let none = |_| false;
        assert_eq!(a.alloc(none), Ok(2));
        assert_eq!(a.alloc(none), Ok(3));
        assert_eq!(a.alloc(none), Ok(4));
    }

    #[test]
    fn no_quick_reuse() {
        let mut a = PidAllocator::new();
        let mut live = BTreeSet::new();
        let p = a.alloc(|id| live.contains(&id)).unwrap();
        live.insert(p);
        live.remove(&p);
        assert_ne!(a.alloc(|id| live.contains(&id)), Ok(p), "a freed pid is not handed out next");
    }

    #[test]
    fn wraps_and_skips_ids_in_use() {
        let mut a = PidAllocator { last: PID_MAX - 2 };
        assert_eq!(a.alloc(|_| false), Ok(PID_MAX - 1));
        // 100 is a live process, 101 still a process-group id, 102 a session id.
        let taken: BTreeSet<Pid> = [100, 101, 102].into();
        assert_eq!(a.alloc(|id| taken.contains(&id)), Ok(103));
        assert_eq!(a.alloc(|_| false), Ok(104));
    }

    #[test]
    fn never_hands_out_the_reserved_ids() {
        let mut a = PidAllocator::new();
        let mut seen = BTreeSet::new();
        for _ in 0..(PID_MAX as usize + 10) {
            let p = a.alloc(|_| false).unwrap();
            assert!(p > PID_INIT && p < PID_MAX);
            seen.insert(p);
        }
        assert!(!seen.contains(&PID_KERNEL) && !seen.contains(&PID_INIT));
    }

    #[test]
    fn exhaustion_is_eagain() {
        let mut a = PidAllocator::new();
        assert_eq!(a.alloc(|_| true), Err(Errno::EAGAIN));
        let mut a = PidAllocator { last: 500 };
        assert_eq!(a.alloc(|id| id != 500), Ok(500), "the only free id, found after a full turn");
    }
}
