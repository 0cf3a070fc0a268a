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

/// One transfer of `uio` through `fd` in the direction its `uio_rw` says.
fn rw(p: &Proc, fd: i32, mut uio: Uio, at: At) -> Result<usize, Errno> {
    let flags = match at {
        At::Offset => 0,
        At::Pos(off) => {
            uio.uio_offset = off as u64;
            FOF_OFFSET
        }
    };
    match uio.uio_rw {
        UioRw::Read => {
            let fg = file_for(p, fd, FREAD, at)?;
            dofileread(&fg, &mut uio, flags)
        }
        UioRw::Write => {
            let fg = file_for(p, fd, FWRITE, at)?;
            dofilewrite(&fg, &mut uio, flags)
        }
    }
}

/// `read`, `write`, `pread`, `pwrite`: `nbyte` bytes at `buf`. A bad descriptor is `EBADF`
/// before the length is looked at, as in XNU.
fn rw1(p: &Proc, fd: i32, buf: UserAddr, nbyte: usize, dir: UioRw, at: At) -> Result<usize, Errno> {
    let want = if dir == UioRw::Read { FREAD } else { FWRITE };
    // Check the descriptor first (the Uio is built only for a good one).
    drop(file_for(p, fd, want, at)?);
    if nbyte > RW_MAX {
        return Err(Errno::EINVAL);
    }
    rw(p, fd, Uio::new(buf, nbyte, 0, dir)?, at)
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
    let want = if dir == UioRw::Read { FREAD } else { FWRITE };
    drop(file_for(p, fd, want, at)?);
    rw(p, fd, Uio::from_user_iovecs(iovp, iovcnt, 0, dir)?, at)
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
