//! The generic descriptor calls (XNU's `sys_generic.c`): `read`, `write`, their
//! positioned (`pread`, `pwrite`) and scattered (`readv`, `writev`, `preadv`, `pwritev`)
//! forms, and `ioctl`. Each builds a [`Uio`] over the caller's buffers and hands it to the
//! open file's `fileops`; none of them knows what kind of file is open.

use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::vm::user_ptr::{UserAddr, UserSlice};
use sys::Errno;
use sys::fcntl::{
    FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX, IOC_IN, IOC_OUT, IOC_VOID, IOCPARM_MASK, iocparm_len,
};

use crate::kern::kern_descrip::{FOF_OFFSET, FREAD, FWRITE, FileGlob, dofileread, dofilewrite, set_nonblock};
use crate::kern::kern_proc::Proc;
use crate::kern::uio::{Uio, UioRw};

/// The most one `read`, `write`, `pread` or `pwrite` may ask for: an `int`'s range, as XNU's
/// `dofileread`/`dofilewrite` allow; more is `EINVAL`. (The vector calls allow an
/// `ssize_t`'s range in all.)
pub const RW_MAX: usize = i32::MAX as usize;

/// Where a transfer goes: the description's own offset, or one the call names.
#[derive(Clone, Copy)]
enum At {
    Offset,
    Pos(i64),
}

/// The open file description on `fd`, checked for the access `want` needs ([`FREAD`] or
/// [`FWRITE`], else `EBADF`) and, for a positioned transfer, for having offsets at all.
fn file_for(p: &Proc, fd: i32, want: u32, at: At) -> Result<Arc<FileGlob>, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    if fg.flag() & want == 0 {
        return Err(Errno::EBADF);
    }
    if let At::Pos(offset) = at {
        fg.fg_ops.fo_random_access()?;
        // A negative offset means nothing except on a character device, which may give
        // offsets its own meaning (XNU lets those through).
        let chr = fg.fg_ops.vnode().is_some_and(|vp| vp.vtype() == crate::vfs::vnode::VType::VCHR);
        if offset < 0 && !chr {
            return Err(Errno::EINVAL);
        }
    }
    Ok(fg)
}

/// The access a transfer in direction `dir` needs.
fn access_for(dir: UioRw) -> u32 {
    if dir == UioRw::Read { FREAD } else { FWRITE }
}

/// One transfer of `uio` through the description `fg` (already checked by [`file_for`]) in
/// the direction its `uio_rw` says.
fn rw(fg: &FileGlob, mut uio: Uio, at: At) -> Result<usize, Errno> {
    let flags = match at {
        At::Offset => 0,
        At::Pos(off) => {
            uio.uio_offset = off as u64;
            FOF_OFFSET
        }
    };
    match uio.uio_rw {
        UioRw::Read => dofileread(fg, &mut uio, flags),
        UioRw::Write => dofilewrite(fg, &mut uio, flags),
    }
}

/// `read`, `write`, `pread`, `pwrite`: `nbyte` bytes at `buf`. A bad descriptor is `EBADF`
/// before the length is looked at, as in XNU; the descriptor is looked up once.
fn rw1(p: &Proc, fd: i32, buf: UserAddr, nbyte: usize, dir: UioRw, at: At) -> Result<usize, Errno> {
    let fg = file_for(p, fd, access_for(dir), at)?;
    if nbyte > RW_MAX {
        return Err(Errno::EINVAL);
    }
    rw(&fg, Uio::new(buf, nbyte, 0, dir)?, at)
}

/// `read(fd, buf, nbyte)` at the description's offset.
pub fn read(p: &Proc, fd: i32, buf: UserAddr, nbyte: usize) -> Result<usize, Errno> {
    rw1(p, fd, buf, nbyte, UioRw::Read, At::Offset)
}

/// `write(fd, buf, nbyte)` at the description's offset (or its end, for `O_APPEND`).
pub fn write(p: &Proc, fd: i32, buf: UserAddr, nbyte: usize) -> Result<usize, Errno> {
    rw1(p, fd, buf, nbyte, UioRw::Write, At::Offset)
}

/// `pread(fd, buf, nbyte, offset)`: at `offset`, leaving the description's offset alone.
/// A pipe, FIFO or socket: `ESPIPE`; a terminal: `ENXIO`; a negative offset: `EINVAL`.
pub fn pread(p: &Proc, fd: i32, buf: UserAddr, nbyte: usize, offset: i64) -> Result<usize, Errno> {
    rw1(p, fd, buf, nbyte, UioRw::Read, At::Pos(offset))
}

/// `pwrite(fd, buf, nbyte, offset)`, as [`pread`] the other way. An `O_APPEND` description
/// still writes at the end, as XNU's does.
pub fn pwrite(p: &Proc, fd: i32, buf: UserAddr, nbyte: usize, offset: i64) -> Result<usize, Errno> {
    rw1(p, fd, buf, nbyte, UioRw::Write, At::Pos(offset))
}

/// `readv`/`writev`/`preadv`/`pwritev`: the `iovcnt` buffers of the `struct iovec` array at
/// `iovp`, filled or drained in order. `iovcnt` of 0 or above `UIO_MAXIOV`, or lengths adding
/// up past an `ssize_t`: `EINVAL`.
fn rwv(p: &Proc, fd: i32, iovp: UserAddr, iovcnt: u32, dir: UioRw, at: At) -> Result<usize, Errno> {
    let fg = file_for(p, fd, access_for(dir), at)?;
    rw(&fg, Uio::from_user_iovecs(iovp, iovcnt, 0, dir)?, at)
}

/// `readv(fd, iovp, iovcnt)`.
pub fn readv(p: &Proc, fd: i32, iovp: UserAddr, iovcnt: u32) -> Result<usize, Errno> {
    rwv(p, fd, iovp, iovcnt, UioRw::Read, At::Offset)
}

/// `writev(fd, iovp, iovcnt)`.
pub fn writev(p: &Proc, fd: i32, iovp: UserAddr, iovcnt: u32) -> Result<usize, Errno> {
    rwv(p, fd, iovp, iovcnt, UioRw::Write, At::Offset)
}

/// `preadv(fd, iovp, iovcnt, offset)`.
pub fn preadv(p: &Proc, fd: i32, iovp: UserAddr, iovcnt: u32, offset: i64) -> Result<usize, Errno> {
    rwv(p, fd, iovp, iovcnt, UioRw::Read, At::Pos(offset))
}

/// `pwritev(fd, iovp, iovcnt, offset)`.
pub fn pwritev(p: &Proc, fd: i32, iovp: UserAddr, iovcnt: u32, offset: i64) -> Result<usize, Errno> {
    rwv(p, fd, iovp, iovcnt, UioRw::Write, At::Pos(offset))
}

/// The largest parameter an `ioctl` request can encode (`IOCPARM_MAX`).
const IOCPARM_MAX: usize = IOCPARM_MASK as usize + 1;

/// Parameters up to this size live on the stack; larger ones (up to [`IOCPARM_MAX`]) on the
/// heap, as XNU's `ioctl` keeps a small buffer in its frame.
const IOCTL_STACK_BUF: usize = 128;

/// `ioctl(fd, com, data)` (XNU's `ioctl` in `sys_generic.c`): the request's parameter is
/// brought into the kernel as its encoding says — copied in for `IOC_IN`, zeroed for
/// `IOC_OUT`, the argument's own value for an `IOC_VOID` or size-0 `IOC_IN` request — handed
/// to the file (`fo_ioctl`), and copied back out for `IOC_OUT` when the file succeeded.
/// `FIOCLEX`/`FIONCLEX` set and clear close-on-exec here; `FIONBIO`/`FIOASYNC` change the
/// description's flags here and then tell the file. A descriptor open for neither reading
/// nor writing: `EBADF`; a request with an impossible parameter size: `ENOTTY`.
pub fn ioctl(p: &Proc, fd: i32, com: u64, data: UserAddr) -> Result<(), Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    if fg.flag() & (FREAD | FWRITE) == 0 {
        return Err(Errno::EBADF);
    }
    // Every request is a 32-bit encoding; anything wider names none.
    let cmd = u32::try_from(com).map_err(|_| Errno::ENOTTY)?;
    match cmd {
        FIOCLEX | FIONCLEX => return p.p_fd.lock().set_cloexec(fd, cmd == FIOCLEX),
        _ => {}
    }
    let size = iocparm_len(cmd);
    if size > IOCPARM_MAX {
        return Err(Errno::ENOTTY);
    }
    let mut small = [0u8; IOCTL_STACK_BUF];
    let mut big = Vec::new();
    let buf: &mut [u8] = if size > IOCTL_STACK_BUF {
        big.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
        big.resize(size, 0);
        &mut big
    } else if size == 0 && cmd & (IOC_IN | IOC_VOID) != 0 {
        // The argument itself is the parameter (`_IO` requests that take a value).
        small[..8].copy_from_slice(&data.0.to_le_bytes());
        &mut small[..8]
    } else {
        &mut small[..size]
    };
    if cmd & IOC_IN != 0 && size > 0 {
        UserSlice::new(data.0, size)?.read_at(0, buf)?;
    }
    match cmd {
        FIONBIO => {
            let on = i32::from_le_bytes(buf[..4].try_into().map_err(|_| Errno::EINVAL)?) != 0;
            set_nonblock(&fg, on);
            fg.fg_ops.fo_ioctl(&fg, cmd, buf)?;
        }
        FIOASYNC => {
            // Nothing sends SIGIO yet; the file is asked so it may refuse.
            fg.fg_ops.fo_ioctl(&fg, cmd, buf)?;
        }
        _ => fg.fg_ops.fo_ioctl(&fg, cmd, buf)?,
    }
    if cmd & IOC_OUT != 0 && size > 0 {
        UserSlice::new(data.0, size)?.write_at(0, buf)?;
    }
    Ok(())
}

/// One descriptor a `select` or `poll` watches, looked up before the wait and held for it
/// (a descriptor closed meanwhile stays readable to the call, as XNU's `fp_lookup` keeps it).
struct Watched {
    /// The descriptor, and for `select` which set (0 read, 1 write, 2 exceptional) or for
    /// `poll` which pollfd it answers.
    fd: usize,
    slot: usize,
    fg: Arc<FileGlob>,
}

/// Absolute time `ns` nanoseconds from now, for a wait's deadline.
fn deadline_after(ns: u64) -> u64 {
    use osfmk::kern::clock::{mach_absolute_time, nanoseconds_to_absolutetime};
    mach_absolute_time().saturating_add(nanoseconds_to_absolutetime(ns))
}

/// The key [`first_of_each`](crate::kern::select::first_of_each) knows `fg` by for direction `which`.
fn queue_key(fg: &FileGlob, which: u32) -> Option<(usize, u32)> {
    Some((Arc::as_ptr(&fg.fg_ops) as *const () as usize, which))
}

/// Begins a `select`/`poll` wait with room for the `joins` queues it may join.
fn begin_wait<'q>(deadline: Option<u64>, joins: usize) -> Result<osfmk::kern::waitq::Wait<'q>, Errno> {
    let mut wait = osfmk::kern::waitq::Wait::begin(osfmk::kern::waitq::Interruptible::Yes, deadline);
    wait.try_reserve(joins).map_err(|_| Errno::ENOMEM)?;
    Ok(wait)
}

/// How a `select` or `poll` sleep ended without anything becoming ready.
enum Slept {
    /// Something woke it: scan again.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// Block on `wait` (XNU's `tsleep1` in `select`): a signal is `EINTR`, never a restart —
/// neither call is restarted after a handler, whatever its SA_RESTART.
fn select_block(p: &Proc, wait: osfmk::kern::waitq::Wait<'_>) -> Result<Slept, Errno> {
    use osfmk::kern::waitq::WaitResult;
    if crate::kern::kern_sig::signal_deliverable(p) {
        return Err(Errno::EINTR);
    }
    match wait.block() {
        WaitResult::Awakened => Ok(Slept::Woken),
        WaitResult::TimedOut => Ok(Slept::TimedOut),
        WaitResult::Interrupted => Err(Errno::EINTR),
    }
}

/// The `which` each `select` set asks [`FileOps::fo_select`] about.
///
/// [`FileOps::fo_select`]: crate::kern::kern_descrip::FileOps::fo_select
const SELECT_WHICH: [u32; 3] = [FREAD, FWRITE, 0];

/// `select(nd, in, ou, ex, tv)` and `pselect`'s body once its mask is in place: wait until
/// a descriptor of the three sets at `sets` is ready for reading, writing or an exceptional
/// condition, or `timeout_ns` passes (`None`: for ever; 0: look once). Returns how many set
/// bits the sets hold afterwards; only then are they written back.
fn select_internal(p: &Proc, nd: i32, sets: [UserAddr; 3], timeout_ns: Option<u64>) -> Result<usize, Errno> {
    use crate::kern::select::FdSet;
    use sys::poll::fd_set_words;

    if nd < 0 {
        return Err(Errno::EINVAL);
    }
    // Descriptors past the table's size cannot be open: they are not looked at.
    let nd = (nd as usize).min(p.p_fd.lock().limit());
    let words = fd_set_words(nd);
    let mut ins: [Option<FdSet>; 3] = [None, None, None];
    for (set, addr) in ins.iter_mut().zip(sets) {
        if addr.0 != 0 && words > 0 {
            let mut bytes = alloc::vec![0u8; words * 4];
            UserSlice::new(addr.0, bytes.len())?.read_at(0, &mut bytes)?;
            *set = Some(FdSet::from_bytes(&bytes)?);
        }
    }
    let mut watched = Vec::new();
    for (slot, set) in ins.iter().enumerate() {
        let Some(set) = set else { continue };
        for fd in set.iter(nd) {
            let fg = p.p_fd.lock().get(fd as i32)?;
            watched.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            watched.push(Watched { fd, slot, fg });
        }
    }
    let deadline = timeout_ns.filter(|&ns| ns > 0).map(deadline_after);
    let poll_once = timeout_ns == Some(0);
    let mut outs = [FdSet::zeroed(words)?, FdSet::zeroed(words)?, FdSet::zeroed(words)?];
    let mut keys = Vec::new();
    keys.try_reserve_exact(watched.len()).map_err(|_| Errno::ENOMEM)?;
    keys.extend(watched.iter().map(|w| queue_key(&w.fg, SELECT_WHICH[w.slot])));
    let first = crate::kern::select::first_of_each(&keys)?;
    let joins = first.iter().filter(|&&f| f).count();
    let mut ready = 0;
    loop {
        let mut wait = if poll_once { None } else { Some(begin_wait(deadline, joins)?) };
        for (i, w) in watched.iter().enumerate() {
            let which = SELECT_WHICH[w.slot];
            let join = wait.as_mut().filter(|_| ready == 0 && first[i]);
            if w.fg.fg_ops.fo_select(&w.fg, which, join) {
                outs[w.slot].insert(w.fd);
                ready += 1;
            }
        }
        match wait {
            Some(wait) if ready == 0 => match select_block(p, wait)? {
                Slept::Woken => continue,
                Slept::TimedOut => break,
            },
            _ => break,
        }
    }
    for ((set, out), addr) in ins.iter().zip(&outs).zip(sets) {
        if set.is_some() {
            UserSlice::new(addr.0, words * 4)?.write_at(0, &out.to_bytes())?;
        }
    }
    Ok(ready)
}

/// `select(nd, in, ou, ex, tv)` (XNU's `select_nocancel`): see [`select_internal`]. A
/// timeout outside what `itimerfix` allows: `EINVAL`.
pub fn select(p: &Proc, nd: i32, sets: [UserAddr; 3], tv: UserAddr) -> Result<usize, Errno> {
    use osfmk::vm::user_ptr::copyin_val;
    let tv = if tv.0 == 0 { None } else { Some(copyin_val::<sys::time::Timeval>(tv)?) };
    let timeout = crate::kern::select::select_timeout(tv)?;
    select_internal(p, nd, sets, timeout)
}

/// `pselect(nd, in, ou, ex, ts, mask)`: [`select`] with a `timespec` timeout and, if
/// `mask` is given, that signal mask in place while it waits (SIGKILL and SIGSTOP stay
/// unmasked). The old mask comes back on the way out — after the handler, when a signal
/// interrupted the wait.
pub fn pselect(p: &Proc, nd: i32, sets: [UserAddr; 3], ts: UserAddr, mask: UserAddr) -> Result<usize, Errno> {
    use crate::kern::kern_sig::{begin_temporary_mask, end_temporary_mask};
    use osfmk::vm::user_ptr::copyin_val;
    let ts = if ts.0 == 0 { None } else { Some(copyin_val::<sys::stat::Timespec>(ts)?) };
    let timeout = crate::kern::select::pselect_timeout(ts)?;
    let mask = if mask.0 == 0 { None } else { Some(copyin_val::<sys::signal::SigSet>(mask)?) };
    let Some(mask) = mask else { return select_internal(p, nd, sets, timeout) };
    begin_temporary_mask(mask);
    let r = select_internal(p, nd, sets, timeout);
    if r != Err(Errno::EINTR) {
        end_temporary_mask();
    }
    r
}

/// `poll(fds, nfds, timeout)` (XNU's `poll_nocancel`): wait until one of the `nfds`
/// `struct pollfd`s at `fds` has an event, or `timeout` ms pass (only -1 is for ever).
/// Each pollfd's `revents` is written back; the result is how many are non-zero. A
/// descriptor below 0 is skipped; one not open (asked about some event) gets `POLLNVAL`,
/// and then the call looks only once. More pollfds than `OPEN_MAX`, or than the
/// descriptor limit for a non-root caller (or above `FD_SETSIZE` for root): `EINVAL`.
pub fn poll(p: &Proc, fds: UserAddr, nfds: u32, timeout: i32) -> Result<usize, Errno> {
    use crate::kern::kern_descrip::DType;
    use crate::kern::select::{PollProbe, poll_filters, poll_revents, poll_timeout};
    use sys::IntoBytes;
    use sys::poll::{FD_SETSIZE, POLL_OPEN_MAX, POLLNVAL, PollFd};

    let limit = p.p_fd.lock().limit();
    let root = p.p_ucred.lock().uid == 0;
    if nfds > POLL_OPEN_MAX || (nfds as usize > limit && (!root || nfds as usize > FD_SETSIZE)) {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let size = n * core::mem::size_of::<PollFd>();
    let mut pfds: Vec<PollFd> = Vec::new();
    pfds.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    pfds.resize(n, PollFd::default());
    if n > 0 {
        UserSlice::new(fds.0, size)?.read_at(0, pfds.as_mut_bytes())?;
    }
    // Look every descriptor up once; one that is not open fails to register.
    let mut watched = Vec::new();
    let mut failed = 0;
    for (i, pfd) in pfds.iter_mut().enumerate() {
        pfd.revents = 0;
        if pfd.fd < 0 || pfd.events == 0 {
            continue;
        }
        let fg = match p.p_fd.lock().get(pfd.fd) {
            Ok(fg) => fg,
            Err(_) => {
                pfd.revents = POLLNVAL;
                failed += 1;
                continue;
            }
        };
        // Change events exist only for vnodes.
        let (_, _, vnode) = poll_filters(pfd.events);
        if vnode && fg.fg_ops.fo_type() != DType::Vnode {
            pfd.revents = POLLNVAL;
            failed += 1;
            continue;
        }
        watched.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        watched.push(Watched { fd: pfd.fd as usize, slot: i, fg });
    }
    let timeout_ns = poll_timeout(timeout);
    let poll_once = failed > 0 || timeout_ns == Some(0);
    let deadline = timeout_ns.filter(|&ns| ns > 0).map(deadline_after);
    // Two keys per pollfd: its read and its write interest.
    let mut keys = Vec::new();
    keys.try_reserve_exact(2 * watched.len()).map_err(|_| Errno::ENOMEM)?;
    for w in &watched {
        let (read, write, _) = poll_filters(pfds[w.slot].events);
        keys.push(queue_key(&w.fg, FREAD).filter(|_| read));
        keys.push(queue_key(&w.fg, FWRITE).filter(|_| write));
    }
    let first = crate::kern::select::first_of_each(&keys)?;
    let joins = first.iter().filter(|&&f| f).count();
    let mut ready;
    loop {
        ready = failed;
        let mut wait = if poll_once { None } else { Some(begin_wait(deadline, joins)?) };
        for (i, w) in watched.iter().enumerate() {
            let events = pfds[w.slot].events;
            let (read, write, _) = poll_filters(events);
            let ops = &*w.fg.fg_ops;
            let mut probe = PollProbe::default();
            if read {
                let join = wait.as_mut().filter(|_| ready == 0 && first[2 * i]);
                probe.readable = ops.fo_select(&w.fg, FREAD, join);
                probe.read_eof = probe.readable && ops.fo_hangup(FREAD);
            }
            if write {
                let join = wait.as_mut().filter(|_| ready == 0 && first[2 * i + 1]);
                probe.writable = ops.fo_select(&w.fg, FWRITE, join);
                probe.write_eof = probe.writable && ops.fo_hangup(FWRITE);
            }
            let revents = poll_revents(events, probe);
            pfds[w.slot].revents = revents;
            if revents != 0 {
                ready += 1;
            }
        }
        match wait {
            Some(wait) if ready == 0 => match select_block(p, wait)? {
                Slept::Woken => continue,
                Slept::TimedOut => break,
            },
            _ => break,
        }
    }
    if n > 0 {
        UserSlice::new(fds.0, size)?.write_at(0, pfds.as_bytes())?;
    }
    Ok(ready)
}
