//! The rules of `select`, `pselect` and `poll` that need no process (XNU's
//! `sys_generic.c`; reference `xnu-abi-files-tty-tools.md` §2.4–2.5): timeouts, the bit
//! sets, how a file's readiness becomes `revents`, and which entries join wait queues.
//! The calls themselves, which look up descriptors and sleep, are in `sys_generic`.

use alloc::vec::Vec;

use sys::Errno;
use sys::poll::{
    NFDBITS, POLL_READ_EVENTS, POLL_VNODE_EVENTS, POLL_WRITE_EVENTS, POLLHUP, POLLIN, POLLOUT, POLLPRI,
    POLLRDBAND, POLLRDNORM, POLLWRBAND, POLLWRNORM, SELECT_MAX_SECONDS,
};
use sys::stat::Timespec;
use sys::time::Timeval;

const NSEC_PER_USEC: u64 = 1_000;
const NSEC_PER_SEC: u64 = 1_000_000_000;
const NSEC_PER_MSEC: u64 = 1_000_000;

/// A `select` timeout: `None` waits for ever. Seconds below zero or above
/// [`SELECT_MAX_SECONDS`], microseconds outside `0..1_000_000`: `EINVAL` (`itimerfix`).
pub fn select_timeout(tv: Option<Timeval>) -> Result<Option<u64>, Errno> {
    let Some(tv) = tv else { return Ok(None) };
    if !(0..=SELECT_MAX_SECONDS).contains(&tv.tv_sec) || !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(tv.tv_sec as u64 * NSEC_PER_SEC + tv.tv_usec as u64 * NSEC_PER_USEC))
}

/// A `pselect` timeout, as [`select_timeout`] with nanoseconds (`0..1_000_000_000`).
pub fn pselect_timeout(ts: Option<Timespec>) -> Result<Option<u64>, Errno> {
    let Some(ts) = ts else { return Ok(None) };
    if !(0..=SELECT_MAX_SECONDS).contains(&ts.tv_sec) || !(0..NSEC_PER_SEC as i64).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(ts.tv_sec as u64 * NSEC_PER_SEC + ts.tv_nsec as u64))
}

/// A `poll` timeout in milliseconds: only -1 waits for ever; any other negative value is
/// read as an unsigned 32-bit count, as XNU reads it.
pub fn poll_timeout(ms: i32) -> Option<u64> {
    (ms != -1).then_some(u64::from(ms as u32) * NSEC_PER_MSEC)
}

/// One `fd_set` brought into the kernel: the words covering the descriptors asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FdSet {
    words: Vec<u32>,
}

impl FdSet {
    /// A set of `words` empty words; `ENOMEM` if they cannot be had.
    pub fn zeroed(words: usize) -> Result<FdSet, Errno> {
        let mut v = Vec::new();
        v.try_reserve_exact(words).map_err(|_| Errno::ENOMEM)?;
        v.resize(words, 0);
        Ok(FdSet { words: v })
    }

    /// The set whose words are `bytes` (native-endian `int32_t`s, as user space wrote them).
    pub fn from_bytes(bytes: &[u8]) -> Result<FdSet, Errno> {
        let mut set = FdSet::zeroed(bytes.len() / 4)?;
        for (w, b) in set.words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(set)
    }

    /// The words as user space reads them back.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    /// Is descriptor `fd` in the set?
    pub fn contains(&self, fd: usize) -> bool {
        self.words.get(fd / NFDBITS).is_some_and(|w| w & (1 << (fd % NFDBITS)) != 0)
    }

    /// Put `fd` in the set (it must be within the set's words).
    pub fn insert(&mut self, fd: usize) {
        if let Some(w) = self.words.get_mut(fd / NFDBITS) {
            *w |= 1 << (fd % NFDBITS);
        }
    }

    /// The descriptors in the set below `nd`, in order.
    pub fn iter(&self, nd: usize) -> impl Iterator<Item = usize> + '_ {
        (0..nd.min(self.words.len() * NFDBITS)).filter(|&fd| self.contains(fd))
    }
}

/// What a file answered when `poll` asked it about one pollfd: for each filter the
/// pollfd's events register, whether it fired and whether it saw the far side gone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollProbe {
    /// The read filter fired (data to read, or the end of file).
    pub readable: bool,
    /// The write filter fired (room to write, or no reader).
    pub writable: bool,
    /// The read filter saw the end of file.
    pub read_eof: bool,
    /// The write filter saw the end of file.
    pub write_eof: bool,
}

/// Which filters `events` registers: (read, write, vnode).
pub fn poll_filters(events: i16) -> (bool, bool, bool) {
    (events & POLL_READ_EVENTS != 0, events & POLL_WRITE_EVENTS != 0, events & POLL_VNODE_EVENTS != 0)
}

/// The `revents` of a pollfd asking for `events` from what its filters reported: the end
/// of file is `POLLHUP`, which on the read side comes with every read event asked for
/// (normal and priority) and on the write side takes the place of the write events.
pub fn poll_revents(events: i16, probe: PollProbe) -> i16 {
    let (read, write, _) = poll_filters(events);
    let mut revents = 0;
    if read && probe.readable {
        if probe.read_eof {
            revents |= POLLHUP | (events & (POLLIN | POLLRDNORM | POLLPRI | POLLRDBAND));
        } else {
            // Nothing here has out-of-band data: priority events never fire on their own.
            revents |= events & (POLLIN | POLLRDNORM);
        }
    }
    if write && probe.writable {
        if probe.write_eof {
            revents |= POLLHUP;
        } else if revents & POLLHUP == 0 {
            revents |= events & (POLLOUT | POLLWRNORM | POLLWRBAND);
        }
    }
    revents
}

/// Which of `keys` (a file and a direction; `None`: not asked) is the first to name its
/// file and direction: only those join the file's wait queue, so one file named many times
/// costs one queue entry, not a wait (and teardown) growing with the square of the count.
/// Worked out before the wait, with memory that can fail cleanly (`ENOMEM`).
pub fn first_of_each(keys: &[Option<(usize, u32)>]) -> Result<Vec<bool>, Errno> {
    let mut order: Vec<usize> = Vec::new();
    order.try_reserve_exact(keys.len()).map_err(|_| Errno::ENOMEM)?;
    order.extend((0..keys.len()).filter(|&i| keys[i].is_some()));
    order.sort_unstable_by_key(|&i| (keys[i], i));
    let mut first = Vec::new();
    first.try_reserve_exact(keys.len()).map_err(|_| Errno::ENOMEM)?;
    first.resize(keys.len(), false);
    let mut prev = None;
    for i in order {
        if keys[i] != prev {
            first[i] = true;
            prev = keys[i];
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::poll::{POLLATTRIB, POLLEXTEND};

    #[test]
    fn select_timeouts_follow_itimerfix() {
        let tv = |s, u| Some(Timeval { tv_sec: s, tv_usec: u, _pad: 0 });
        assert_eq!(select_timeout(None), Ok(None));
        assert_eq!(select_timeout(tv(0, 0)), Ok(Some(0)));
        assert_eq!(select_timeout(tv(1, 500_000)), Ok(Some(1_500_000_000)));
        assert_eq!(select_timeout(tv(SELECT_MAX_SECONDS, 999_999)).map(|t| t.is_some()), Ok(true));
        for bad in [tv(-1, 0), tv(SELECT_MAX_SECONDS + 1, 0), tv(0, -1), tv(0, 1_000_000)] {
            assert_eq!(select_timeout(bad), Err(Errno::EINVAL));
        }
        let ts = |s, n| Some(Timespec { tv_sec: s, tv_nsec: n });
        assert_eq!(pselect_timeout(ts(2, 5)), Ok(Some(2_000_000_005)));
        assert_eq!(pselect_timeout(ts(0, 1_000_000_000)), Err(Errno::EINVAL));
        assert_eq!(pselect_timeout(ts(-1, 0)), Err(Errno::EINVAL));
    }

    #[test]
    fn poll_timeouts_only_minus_one_is_forever() {
        assert_eq!(poll_timeout(-1), None);
        assert_eq!(poll_timeout(0), Some(0));
        assert_eq!(poll_timeout(250), Some(250 * NSEC_PER_MSEC));
        assert_eq!(poll_timeout(-2), Some(u64::from(u32::MAX - 1) * NSEC_PER_MSEC));
    }

    #[test]
    fn fd_sets_round_trip_and_iterate_below_nd() {
        let mut s = FdSet::zeroed(2).unwrap();
        for fd in [0, 5, 31, 32, 63, 64] {
            s.insert(fd);
        }
        assert!(s.contains(31) && s.contains(32) && !s.contains(64));
        assert_eq!(s.iter(40).collect::<Vec<_>>(), [0, 5, 31, 32]);
        assert_eq!(s.iter(1000).collect::<Vec<_>>(), [0, 5, 31, 32, 63]);
        let b = s.to_bytes();
        assert_eq!(b.len(), 8);
        assert_eq!(&b[..4], &(1u32 | 1 << 5 | 1 << 31).to_ne_bytes());
        assert_eq!(FdSet::from_bytes(&b).unwrap(), s);
    }

    #[test]
    fn revents_as_xnus_filters_report_them() {
        let ready = PollProbe { readable: true, writable: true, ..PollProbe::default() };
        assert_eq!(poll_revents(POLLIN | POLLOUT, ready), POLLIN | POLLOUT);
        assert_eq!(poll_revents(POLLRDNORM | POLLPRI, ready), POLLRDNORM, "no priority data");
        assert_eq!(poll_revents(POLLHUP, ready), 0, "asking for HUP alone registers reading");
        // A pipe's read end after the writer left: HUP with every read event asked for,
        // and the write events suppressed.
        let eof = PollProbe { readable: true, writable: true, read_eof: true, write_eof: true };
        assert_eq!(poll_revents(POLLIN | POLLPRI | POLLOUT, eof), POLLHUP | POLLIN | POLLPRI);
        // A pipe's write end after the reader left.
        let gone = PollProbe { writable: true, write_eof: true, ..PollProbe::default() };
        assert_eq!(poll_revents(POLLOUT, gone), POLLHUP);
        assert_eq!(poll_revents(POLLWRBAND | POLLWRNORM, ready), POLLWRBAND | POLLWRNORM);
        assert_eq!(poll_revents(POLLEXTEND | POLLATTRIB, ready), 0, "vnode events need a change");
        assert_eq!(poll_revents(0, eof), 0);
        assert_eq!(poll_filters(POLLHUP), (true, false, false));
        assert_eq!(poll_filters(POLLATTRIB | POLLOUT), (false, true, true));
    }

    #[test]
    fn each_file_and_direction_joins_once() {
        let (a, b) = (Some((0x1000, 1)), Some((0x2000, 1)));
        let a_write = Some((0x1000, 2));
        let keys = [a, None, b, a, a_write, b, None, a_write];
        assert_eq!(
            first_of_each(&keys),
            Ok(alloc::vec![true, false, true, false, true, false, false, false])
        );
        assert_eq!(first_of_each(&[]), Ok(alloc::vec![]));
    }
}
