//! `select`, `pselect` and `poll` (issue 15, B4 item 4): readiness of pipes, files and
//! devices, timeouts, blocking until another process writes, interruption by signals, and
//! the argument errors — with the results XNU's `sys_generic.c` gives (reference
//! `xnu-abi-files-tty-tools.md` §2.4–2.5), which differ from Linux's in places (a bad
//! descriptor asked about no event is no `POLLNVAL`; a pipe's write end after its reader
//! left is `POLLHUP` without `POLLOUT`; `select` is never restarted after a handler).

use core::sync::atomic::{AtomicU32, Ordering};

use libsys::mach_traps::mach_absolute_time;
use libsys::process::{Forked, fork, pipe, waitpid};
use libsys::signal::{install, kill, signal_action, sigprocmask};
use libsys::syscall::{self, close, exit_process, fcntl, getpid, open_path, read_bytes, write_bytes};
use libsys::{Args, Errno};
use sys::fcntl::{F_SETFL, O_CREAT, O_NONBLOCK, O_RDWR, O_TRUNC};
use sys::poll::*;
use sys::signal::{SA_RESTART, SIG_BLOCK, SIG_DFL, SIG_SETMASK, SIGUSR1, SigSet, sigmask};
use sys::stat::Timespec;
use sys::time::Timeval;
use sys::wait::{wexitstatus, wifexited};

use crate::{Case, KERNEL_ADDRESS, UNMAPPED_ADDRESS, check};

pub const CASES: &[(&str, Case)] = &[
    ("select: pipe readiness, counts over the sets, sets cleared on timeout", select_readiness),
    ("select: EBADF, EINVAL (nd, timeouts), EFAULT, nd past the table", select_errors),
    ("select: blocks until a child writes; the timeout is honoured", select_blocks),
    ("select / poll: a signal interrupts with EINTR even with SA_RESTART", interrupted),
    ("pselect: the mask holds only for the wait and comes back after the handler", pselect_mask),
    ("poll: pipes (HUP rules), files, /dev/null, POLLNVAL, events 0, fd < 0", poll_readiness),
    ("poll: EINVAL past the limits, EFAULT, a child's write wakes the right pollfd", poll_blocks),
    ("select / poll: a full pipe is not writable until PIPE_BUF bytes are free", full_pipe),
];

/// An `fd_set` as user space has it: 32 words of 32 bits.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
struct FdSet([u32; FD_SETSIZE / NFDBITS]);

impl FdSet {
    fn of(fds: &[i32]) -> FdSet {
        let mut s = FdSet::default();
        for &fd in fds {
            s.0[fd as usize / NFDBITS] |= 1 << (fd as usize % NFDBITS);
        }
        s
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
    fn addr(&mut self) -> u64 {
        core::ptr::from_mut(self) as u64
    }
}

fn opt(s: &mut Option<FdSet>) -> u64 {
    s.as_mut().map_or(0, FdSet::addr)
}

fn tv(sec: i64, usec: i32) -> Timeval {
    Timeval { tv_sec: sec, tv_usec: usec, _pad: 0 }
}

/// `select` over optional sets with an optional timeout.
fn select(
    nd: i32,
    r: &mut Option<FdSet>,
    w: &mut Option<FdSet>,
    e: &mut Option<FdSet>,
    t: Option<Timeval>,
) -> Result<u64, Errno> {
    let mut t = t;
    let tp = t.as_mut().map_or(0, |t| core::ptr::from_mut(t) as u64);
    // SAFETY: each pointer is null or names a live, writable fd_set or timeval.
    unsafe { syscall::select(nd, opt(r), opt(w), opt(e), tp) }
}

fn poll(fds: &mut [PollFd], timeout: i32) -> Result<u64, Errno> {
    // SAFETY: `fds` is a live, writable array of its length.
    unsafe { syscall::poll(fds.as_mut_ptr() as u64, fds.len() as u32, timeout) }
}

fn pfd(fd: i32, events: i16) -> PollFd {
    PollFd { fd, events, revents: 0 }
}

fn ms_since(t0: u64) -> u64 {
    (mach_absolute_time() - t0) / crate::sched::ticks_per_ms()
}

fn select_readiness(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let nd = r.max(w) + 1;
    let (mut rs, mut ws, mut es) =
        (Some(FdSet::of(&[r, w])), Some(FdSet::of(&[r, w])), Some(FdSet::of(&[r, w])));
    check(select(nd, &mut rs, &mut ws, &mut es, Some(tv(0, 0))) == Ok(1), "only the write end is ready")?;
    check(rs.is_some_and(|s| s.is_empty()), "nothing to read")?;
    check(ws == Some(FdSet::of(&[w])), "the write end writable, the read end not")?;
    check(es.is_some_and(|s| s.is_empty()), "no exceptional conditions on a pipe")?;
    check(write_bytes(w, b"x") == Ok(1), "write")?;
    let (mut rs, mut ws) = (Some(FdSet::of(&[r])), Some(FdSet::of(&[w])));
    check(select(nd, &mut rs, &mut ws, &mut None, Some(tv(0, 0))) == Ok(2), "both ready: 2")?;
    check(rs == Some(FdSet::of(&[r])) && ws == Some(FdSet::of(&[w])), "the right bits")?;
    // The same descriptor in two sets counts twice.
    let (mut rs, mut ws) = (Some(FdSet::of(&[r])), Some(FdSet::of(&[r])));
    check(select(nd, &mut rs, &mut ws, &mut None, Some(tv(0, 0))) == Ok(1), "read end: readable only")?;
    let mut b = [0u8; 1];
    check(read_bytes(r, &mut b) == Ok(1), "drain")?;
    // A timeout clears every set it was given.
    let mut rs = Some(FdSet::of(&[r]));
    check(select(nd, &mut rs, &mut None, &mut None, Some(tv(0, 1000))) == Ok(0), "timeout: 0")?;
    check(rs.is_some_and(|s| s.is_empty()), "timeout clears the set")?;
    // A regular file and /dev/null are always ready.
    let f = open_path(b"/tmp/poll-file\0", O_RDWR | O_CREAT | O_TRUNC, 0o644).map_err(|_| "open file")?;
    let n = open_path(b"/dev/null\0", O_RDWR, 0).map_err(|_| "open /dev/null")?;
    let nd2 = f.max(n) + 1;
    let (mut rs, mut ws) = (Some(FdSet::of(&[f, n])), Some(FdSet::of(&[f, n])));
    check(
        select(nd2, &mut rs, &mut ws, &mut None, Some(tv(0, 0))) == Ok(4),
        "file and null ready both ways",
    )?;
    // The writer gone: the read end is readable (end of file); the reader gone: the write
    // end is writable (EPIPE waits there).
    let _ = close(w);
    let mut rs = Some(FdSet::of(&[r]));
    check(select(nd, &mut rs, &mut None, &mut None, None) == Ok(1), "EOF is readable")?;
    let [r2, w2] = pipe().map_err(|_| "pipe 2")?;
    let _ = close(r2);
    let (mut rs, mut ws) = (Some(FdSet::of(&[w2])), Some(FdSet::of(&[w2])));
    check(
        select(w2 + 1, &mut rs, &mut ws, &mut None, Some(tv(0, 0))) == Ok(2),
        "no reader: both ways ready",
    )?;
    for fd in [r, w2, f, n] {
        let _ = close(fd);
    }
    let _ = super_unlink(b"/tmp/poll-file\0");
    Ok(())
}

fn super_unlink(path: &[u8]) -> Result<u64, Errno> {
    // SAFETY: `path` is NUL-terminated.
    unsafe { syscall::unlink(path.as_ptr() as u64) }
}

fn select_errors(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let closed = w + 1;
    let mut rs = Some(FdSet::of(&[r, closed]));
    check(select(closed + 1, &mut rs, &mut None, &mut None, Some(tv(0, 0))) == Err(Errno::EBADF), "EBADF")?;
    check(rs == Some(FdSet::of(&[r, closed])), "sets untouched on an error")?;
    // A closed descriptor at or past nd is not looked at.
    let mut rs = Some(FdSet::of(&[w, closed]));
    check(select(closed, &mut rs, &mut None, &mut None, Some(tv(0, 0))) == Ok(0), "bits past nd ignored")?;
    check(select(-1, &mut None, &mut None, &mut None, Some(tv(0, 0))) == Err(Errno::EINVAL), "nd < 0")?;
    for bad in [tv(-1, 0), tv(0, -1), tv(0, 1_000_000), tv(100_000_001, 0)] {
        let mut rs = Some(FdSet::of(&[r]));
        check(select(r + 1, &mut rs, &mut None, &mut None, Some(bad)) == Err(Errno::EINVAL), "bad timeout")?;
    }
    for bad in [UNMAPPED_ADDRESS, KERNEL_ADDRESS] {
        // SAFETY: the bad pointers are refused with EFAULT.
        let e = unsafe { syscall::select(r + 1, bad, 0, 0, 0) };
        check(e == Err(Errno::EFAULT), "set pointer EFAULT")?;
        let mut rs = FdSet::of(&[r]);
        // SAFETY: as above; `rs` is live.
        let e = unsafe { syscall::select(r + 1, rs.addr(), 0, 0, bad) };
        check(e == Err(Errno::EFAULT), "timeout pointer EFAULT")?;
    }
    // nd far past the descriptor table is cut down to it, not refused.
    check(write_bytes(w, b"y") == Ok(1), "write")?;
    let mut rs = Some(FdSet::of(&[r]));
    check(select(1 << 20, &mut rs, &mut None, &mut None, Some(tv(0, 0))) == Ok(1), "huge nd is cut down")?;
    let mut rs = Some(FdSet::of(&[r]));
    let longest = Some(tv(100_000_000, 999_999));
    check(select(r + 1, &mut rs, &mut None, &mut None, longest) == Ok(1), "the longest timeout is valid")?;
    // No sets at all: a sleep.
    let t0 = mach_absolute_time();
    check(select(0, &mut None, &mut None, &mut None, Some(tv(0, 20_000))) == Ok(0), "select as a sleep")?;
    check(ms_since(t0) >= 20, "slept at least the timeout")?;
    let _ = (close(r), close(w));
    Ok(())
}

/// A child that writes one byte to `fd` after `ms` milliseconds; its pid.
fn write_later(fd: i32, ms: u64) -> Result<i32, &'static str> {
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(ms);
            exit_process(i32::from(write_bytes(fd, b"z") != Ok(1)))
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

fn select_blocks(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let [r2, w2] = pipe().map_err(|_| "pipe 2")?;
    let pid = write_later(w2, 30)?;
    let nd = r.max(r2) + 1;
    let mut rs = Some(FdSet::of(&[r, r2]));
    check(select(nd, &mut rs, &mut None, &mut None, None) == Ok(1), "woken by the child's write")?;
    check(rs == Some(FdSet::of(&[r2])), "only the second pipe")?;
    let (_, status) = waitpid(pid, 0).map_err(|_| "wait4")?;
    check(wifexited(status) && wexitstatus(status) == 0, "the child wrote")?;
    let t0 = mach_absolute_time();
    let mut rs = Some(FdSet::of(&[r]));
    check(select(nd, &mut rs, &mut None, &mut None, Some(tv(0, 50_000))) == Ok(0), "nothing: timeout")?;
    check(ms_since(t0) >= 50, "waited the whole 50 ms")?;
    for fd in [r, w, r2, w2] {
        let _ = close(fd);
    }
    Ok(())
}

static HANDLED: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr1(_: i32, _: u64, _: u64) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// A child that sends SIGUSR1 to this process after `ms`, then exits.
fn poke_me_after(ms: u64) -> Result<i32, &'static str> {
    let me = getpid().unwrap_or(0) as i32;
    match fork().map_err(|_| "fork")? {
        Forked::Child => {
            crate::sched::sleep_ms(ms);
            let _ = kill(me, SIGUSR1);
            exit_process(0)
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

fn interrupted(_: &Args) -> Result<(), &'static str> {
    HANDLED.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, on_usr1, 0, SA_RESTART).map_err(|_| "sigaction")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let pid = poke_me_after(30)?;
    let mut rs = Some(FdSet::of(&[r]));
    let got = select(r + 1, &mut rs, &mut None, &mut None, None);
    check(got == Err(Errno::EINTR), "select: EINTR, never restarted")?;
    check(rs == Some(FdSet::of(&[r])), "the sets are not written back")?;
    check(HANDLED.load(Ordering::SeqCst) == 1, "the handler ran")?;
    let _ = waitpid(pid, 0);
    let pid = poke_me_after(30)?;
    let mut fds = [pfd(r, POLLIN)];
    check(poll(&mut fds, -1) == Err(Errno::EINTR), "poll: EINTR, never restarted")?;
    check(HANDLED.load(Ordering::SeqCst) == 2, "the handler ran again")?;
    let _ = waitpid(pid, 0);
    let _ = (close(r), close(w));
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

fn pselect(nd: i32, r: &mut Option<FdSet>, t: Option<Timespec>, mask: Option<SigSet>) -> Result<u64, Errno> {
    let (mut t, mut mask) = (t, mask);
    let tp = t.as_mut().map_or(0, |t| core::ptr::from_mut(t) as u64);
    let mp = mask.as_mut().map_or(0, |m| core::ptr::from_mut(m) as u64);
    // SAFETY: each pointer is null or names a live value of its type.
    unsafe { syscall::pselect(nd, opt(r), 0, 0, tp, mp) }
}

fn pselect_mask(_: &Args) -> Result<(), &'static str> {
    HANDLED.store(0, Ordering::SeqCst);
    signal_action(SIGUSR1, on_usr1, 0, 0).map_err(|_| "sigaction")?;
    let old = sigprocmask(SIG_BLOCK, sigmask(SIGUSR1)).map_err(|_| "block SIGUSR1")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    // Blocked, a pending SIGUSR1 waits; pselect's mask lets it in for the wait only.
    kill(getpid().unwrap_or(0) as i32, SIGUSR1).map_err(|_| "kill")?;
    check(HANDLED.load(Ordering::SeqCst) == 0, "blocked: not delivered")?;
    let mut rs = Some(FdSet::of(&[r]));
    let forever = Timespec { tv_sec: 5, tv_nsec: 0 };
    check(
        pselect(r + 1, &mut rs, Some(forever), Some(0)) == Err(Errno::EINTR),
        "EINTR under the wait's mask",
    )?;
    check(HANDLED.load(Ordering::SeqCst) == 1, "the handler ran")?;
    check(sigprocmask(SIG_BLOCK, 0) == Ok(old | sigmask(SIGUSR1)), "the old mask is back after the handler")?;
    // Without a signal the mask comes back at once.
    let mut rs = Some(FdSet::of(&[r]));
    let short = Timespec { tv_sec: 0, tv_nsec: 1_000_000 };
    check(pselect(r + 1, &mut rs, Some(short), Some(0)) == Ok(0), "timeout")?;
    check(sigprocmask(SIG_BLOCK, 0) == Ok(old | sigmask(SIGUSR1)), "the mask is back after a timeout")?;
    let bad = Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 };
    check(pselect(r + 1, &mut rs, Some(bad), None) == Err(Errno::EINVAL), "tv_nsec past a second")?;
    // SAFETY: the bad pointer is refused with EFAULT.
    let e = unsafe { syscall::pselect(r + 1, 0, 0, 0, 0, KERNEL_ADDRESS) };
    check(e == Err(Errno::EFAULT), "mask pointer EFAULT")?;
    let _ = (close(r), close(w));
    sigprocmask(SIG_SETMASK, old).map_err(|_| "restore")?;
    install(SIGUSR1, SIG_DFL, 0, 0).map(|_| ()).map_err(|_| "reset")
}

fn poll_readiness(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let mut fds = [pfd(r, POLLIN | POLLOUT), pfd(w, POLLIN | POLLOUT)];
    check(poll(&mut fds, 0) == Ok(1), "only the write end")?;
    check(fds[0].revents == 0 && fds[1].revents == POLLOUT, "read end: nothing; write end: POLLOUT")?;
    check(write_bytes(w, b"abc") == Ok(3), "write")?;
    let mut fds = [pfd(r, POLLIN | POLLRDNORM | POLLPRI), pfd(w, POLLOUT | POLLWRNORM)];
    check(poll(&mut fds, 0) == Ok(2), "both ready")?;
    check(fds[0].revents == POLLIN | POLLRDNORM, "readable, no priority data")?;
    check(fds[1].revents == POLLOUT, "POLLWRNORM is POLLOUT")?;
    // The writer gone: POLLHUP with the read events asked for, none of the write events.
    let _ = close(w);
    let mut fds = [pfd(r, POLLIN | POLLPRI | POLLOUT)];
    check(poll(&mut fds, -1) == Ok(1), "HUP")?;
    check(fds[0].revents == POLLHUP | POLLIN | POLLPRI, "HUP with the read events")?;
    let mut fds = [pfd(r, POLLHUP)];
    check(poll(&mut fds, 0) == Ok(1) && fds[0].revents == POLLHUP, "asking for HUP alone")?;
    // The reader gone: the write end is HUP without POLLOUT.
    let [r2, w2] = pipe().map_err(|_| "pipe 2")?;
    let _ = close(r2);
    let mut fds = [pfd(w2, POLLOUT)];
    check(poll(&mut fds, 0) == Ok(1) && fds[0].revents == POLLHUP, "no reader: POLLHUP, no POLLOUT")?;
    // Bad descriptors: POLLNVAL when asked about an event, nothing when not; fd < 0 skipped.
    let closed = w2 + 7;
    let mut fds = [pfd(closed, POLLIN), pfd(closed, 0), pfd(-1, POLLIN), pfd(r, POLLIN)];
    check(poll(&mut fds, -1) == Ok(2), "NVAL counts; no wait when one failed")?;
    check(fds[0].revents == POLLNVAL && fds[1].revents == 0 && fds[2].revents == 0, "NVAL rules")?;
    // Change events exist only for vnodes.
    let mut fds = [pfd(w2, POLLEXTEND)];
    check(poll(&mut fds, 0) == Ok(1) && fds[0].revents == POLLNVAL, "vnode events on a pipe")?;
    // Files and /dev/null are always ready.
    let f = open_path(b"/tmp/poll-file2\0", O_RDWR | O_CREAT | O_TRUNC, 0o644).map_err(|_| "open file")?;
    let n = open_path(b"/dev/null\0", O_RDWR, 0).map_err(|_| "open /dev/null")?;
    let mut fds = [pfd(f, POLLIN | POLLOUT), pfd(n, POLLIN | POLLOUT), pfd(f, POLLATTRIB)];
    check(poll(&mut fds, 0) == Ok(2), "file and null ready")?;
    check(fds[0].revents == POLLIN | POLLOUT && fds[1].revents == POLLIN | POLLOUT, "both ways")?;
    check(fds[2].revents == 0, "no change happened to the file")?;
    // No pollfds: a sleep.
    let t0 = mach_absolute_time();
    check(poll(&mut [], 20) == Ok(0) && ms_since(t0) >= 20, "poll as a sleep")?;
    for fd in [r, w2, f, n] {
        let _ = close(fd);
    }
    let _ = super_unlink(b"/tmp/poll-file2\0");
    Ok(())
}

fn poll_blocks(_: &Args) -> Result<(), &'static str> {
    // SAFETY: nothing is read: the count is refused first.
    check(unsafe { syscall::poll(0, POLL_OPEN_MAX + 1, 0) } == Err(Errno::EINVAL), "past OPEN_MAX")?;
    // SAFETY: as above.
    check(unsafe { syscall::poll(UNMAPPED_ADDRESS, 2, 0) } == Err(Errno::EFAULT), "EFAULT")?;
    // A non-root caller may not pass more pollfds than its descriptor limit.
    let status = match fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = syscall::setuid(501);
            // SAFETY: as above.
            let e = unsafe { syscall::poll(0, 5000, 0) };
            exit_process(i32::from(e != Err(Errno::EINVAL)))
        }
        Forked::Parent(pid) => waitpid(pid, 0).map(|(_, s)| s).map_err(|_| "wait4")?,
    };
    check(wifexited(status) && wexitstatus(status) == 0, "non-root past RLIMIT_NOFILE: EINVAL")?;
    let [r, w] = pipe().map_err(|_| "pipe")?;
    let [r2, w2] = pipe().map_err(|_| "pipe 2")?;
    let pid = write_later(w2, 30)?;
    // The same pipe named many times joins its wait queue once.
    let mut fds = [pfd(r, POLLIN); 64];
    fds[40] = pfd(r2, POLLIN);
    check(poll(&mut fds, 5000) == Ok(1), "woken by the child's write")?;
    check(fds[40].revents == POLLIN && fds.iter().filter(|p| p.revents != 0).count() == 1, "the right one")?;
    let _ = waitpid(pid, 0);
    let t0 = mach_absolute_time();
    let mut fds = [pfd(r, POLLIN)];
    check(poll(&mut fds, 40) == Ok(0) && fds[0].revents == 0, "timeout")?;
    check(ms_since(t0) >= 40, "waited the timeout")?;
    for fd in [r, w, r2, w2] {
        let _ = close(fd);
    }
    Ok(())
}

fn full_pipe(_: &Args) -> Result<(), &'static str> {
    let [r, w] = pipe().map_err(|_| "pipe")?;
    check(fcntl(w, F_SETFL, i64::from(O_NONBLOCK)).is_ok(), "O_NONBLOCK")?;
    let chunk = [7u8; 1024];
    let mut total = 0;
    while let Ok(n) = write_bytes(w, &chunk) {
        total += n as usize;
        check(total <= 1 << 20, "the pipe never filled")?;
    }
    let mut ws = Some(FdSet::of(&[w]));
    check(select(w + 1, &mut None, &mut ws, &mut None, Some(tv(0, 0))) == Ok(0), "full: not writable")?;
    let mut fds = [pfd(w, POLLOUT)];
    check(poll(&mut fds, 0) == Ok(0), "full: no POLLOUT")?;
    // Less than PIPE_BUF free is still not writable; PIPE_BUF or more is.
    let mut b = [0u8; 256];
    check(read_bytes(r, &mut b) == Ok(256), "read 256")?;
    check(poll(&mut fds, 0) == Ok(0), "256 free: still no POLLOUT")?;
    let mut b = [0u8; 512];
    check(read_bytes(r, &mut b) == Ok(512), "read 512 more")?;
    check(poll(&mut fds, 0) == Ok(1) && fds[0].revents == POLLOUT, "768 free: POLLOUT")?;
    let _ = (close(r), close(w));
    Ok(())
}
