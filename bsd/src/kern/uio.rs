//! I/O requests over user memory (XNU's `struct uio` and `uiomove`): the user buffers of
//! one `read`/`write` (one segment) or `readv`/`writev` (several), how much of them is
//! left to move (the residual count), the file offset the transfer is at, and which way
//! the bytes go.
//!
//! A file operation moves bytes with [`Uio::uiomove`] between a kernel buffer and the
//! segments, in bounded chunks, so no kernel buffer ever has to hold the whole request.
//! User memory is reached only through `UserSlice` (checked against the user range, every
//! copy able to fault). A fault stops the transfer where it happened: what was moved
//! before it stays moved, and [`uio_result`] turns the request's outcome into what the
//! call returns — a short count if anything moved, `EFAULT` if the very first byte could
//! not be reached, as BSD does.

use alloc::vec::Vec;

use osfmk::vm::user_ptr::{UserAddr, UserSlice};
use sys::Errno;

/// Which way a transfer goes (XNU's `uio_rw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UioRw {
    /// From the kernel to user memory: a `read` (`UIO_READ`).
    Read,
    /// From user memory to the kernel: a `write` (`UIO_WRITE`).
    Write,
}

/// One user buffer (`struct iovec`, LP64: base and length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoVec {
    /// Where it starts.
    pub iov_base: UserAddr,
    /// How many bytes.
    pub iov_len: usize,
}

/// Most bytes one call may move: an `ssize_t`'s range, as XNU's `read`/`write` allow
/// (`user_ssize_t`); more is `EINVAL`.
pub const UIO_MAXRESID: usize = isize::MAX as usize;

/// The size of a user `struct iovec` (LP64: base at 0, length at 8).
pub const IOVEC_SIZE: usize = 16;

pub use sys::fcntl::UIO_MAXIOV;

/// An I/O request over user memory.
#[derive(Debug)]
pub struct Uio {
    /// The user buffers, in order. The first is kept inline: `read` and `write` have only
    /// one, and then building a request allocates nothing.
    first: IoVec,
    rest: Vec<IoVec>,
    /// Bytes of the request moved so far.
    moved: usize,
    /// The request's length (`uio_resid` at the start).
    total: usize,
    /// The file offset the next byte moves at (`uio_offset`).
    pub uio_offset: u64,
    /// Which way the bytes go.
    pub uio_rw: UioRw,
}

impl Uio {
    /// A request over one user buffer (`read`, `write`). Longer than [`UIO_MAXRESID`]:
    /// `EINVAL`.
    pub fn new(base: UserAddr, len: usize, offset: u64, rw: UioRw) -> Result<Uio, Errno> {
        Uio::with_iovecs(&[IoVec { iov_base: base, iov_len: len }], offset, rw)
    }

    /// A request over several user buffers (`readv`, `writev`), moved in order. No buffers,
    /// or a total longer than [`UIO_MAXRESID`]: `EINVAL`.
    pub fn with_iovecs(iovs: &[IoVec], offset: u64, rw: UioRw) -> Result<Uio, Errno> {
        let (&first, rest) = iovs.split_first().ok_or(Errno::EINVAL)?;
        let mut total: usize = 0;
        for iov in iovs {
            total = total.checked_add(iov.iov_len).filter(|&t| t <= UIO_MAXRESID).ok_or(Errno::EINVAL)?;
        }
        let mut more = Vec::new();
        if !rest.is_empty() {
            more.try_reserve_exact(rest.len()).map_err(|_| Errno::ENOMEM)?;
            more.extend_from_slice(rest);
        }
        Ok(Uio { first, rest: more, moved: 0, total, uio_offset: offset, uio_rw: rw })
    }

    /// A request over the `iovcnt` buffers described by the `struct iovec` array at user
    /// address `iovp` (`readv`, `writev`, `preadv`, `pwritev`). No buffers or more than
    /// [`UIO_MAXIOV`]: `EINVAL`; the array unreadable: `EFAULT`; a total longer than
    /// [`UIO_MAXRESID`]: `EINVAL`.
    pub fn from_user_iovecs(iovp: UserAddr, iovcnt: u32, offset: u64, rw: UioRw) -> Result<Uio, Errno> {
        let n = iovcnt as usize;
        if n == 0 || n > UIO_MAXIOV {
            return Err(Errno::EINVAL);
        }
        let mut raw = Vec::new();
        raw.try_reserve_exact(n * IOVEC_SIZE).map_err(|_| Errno::ENOMEM)?;
        raw.resize(n * IOVEC_SIZE, 0);
        UserSlice::new(iovp.0, raw.len())?.read_at(0, &mut raw)?;
        let mut iovs = Vec::new();
        iovs.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        for rec in raw.chunks_exact(IOVEC_SIZE) {
            let word = |at: usize| u64::from_le_bytes(rec[at..at + 8].try_into().unwrap_or([0; 8]));
            let len = usize::try_from(word(8)).map_err(|_| Errno::EINVAL)?;
            iovs.push(IoVec { iov_base: UserAddr(word(0)), iov_len: len });
        }
        Uio::with_iovecs(&iovs, offset, rw)
    }

    /// Bytes still to move (`uio_resid`).
    pub fn resid(&self) -> usize {
        self.total - self.moved
    }

    /// Bytes moved so far.
    pub fn moved(&self) -> usize {
        self.moved
    }

    /// The request's whole length.
    pub fn total(&self) -> usize {
        self.total
    }

    fn segments(&self) -> impl Iterator<Item = &IoVec> {
        core::iter::once(&self.first).chain(self.rest.iter())
    }

    /// The segment the cursor is in and how far into it, skipping empty and finished ones;
    /// None when nothing is left.
    fn cursor(&self) -> Option<(IoVec, usize)> {
        let mut skip = self.moved;
        for iov in self.segments() {
            if skip < iov.iov_len {
                return Some((*iov, skip));
            }
            skip -= iov.iov_len;
        }
        None
    }

    /// Move up to `kbuf.len()` bytes (no more than [`Uio::resid`]) between `kbuf` and the
    /// user segments, in the request's direction: for [`UioRw::Read`] from `kbuf` out to
    /// user memory, for [`UioRw::Write`] from user memory into `kbuf`. The cursor and
    /// [`Uio::uio_offset`] advance by what moved. Returns how many bytes moved; a bad address
    /// ends the move there with `EFAULT`, after advancing past what was moved before it.
    pub fn uiomove(&mut self, kbuf: &mut [u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < kbuf.len() {
            let Some((iov, into)) = self.cursor() else { break };
            let n = (iov.iov_len - into).min(kbuf.len() - done);
            let part = &mut kbuf[done..done + n];
            let copied = iov
                .iov_base
                .offset(into as u64)
                .ok_or(mach::CopyFault { copied: 0 })
                .and_then(|at| {
                    let user = UserSlice::new(at.0, n)?;
                    match self.uio_rw {
                        UioRw::Read => user.write_at(0, part),
                        UioRw::Write => user.read_at(0, part),
                    }
                })
                .map_or_else(|fault| fault.copied, |()| n);
            self.advance(copied);
            done += copied;
            if copied < n {
                return Err(Errno::EFAULT);
            }
        }
        Ok(done)
    }

    fn advance(&mut self, n: usize) {
        self.moved += n;
        self.uio_offset = self.uio_offset.wrapping_add(n as u64);
    }

    /// Give back the last `n` bytes moved (at most [`Uio::moved`]): a write that took bytes
    /// in from user memory but could not store them has not moved them.
    pub fn unmove(&mut self, n: usize) {
        let n = n.min(self.moved);
        self.moved -= n;
        self.uio_offset = self.uio_offset.wrapping_sub(n as u64);
    }
}

/// What a read or write returns for a request that ended with `result`: the bytes moved if
/// any moved (an error after progress — a fault part-way, a signal, no more space — is a
/// short transfer, as BSD reports it), else the error.
pub fn uio_result(uio: &Uio, result: Result<(), Errno>) -> Result<usize, Errno> {
    match result {
        Err(e) if uio.moved() == 0 => Err(e),
        _ => Ok(uio.moved()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osfmk::arm64::pmap::USER_VM_MIN;
    use osfmk::vm::user_ptr::host_user_memory;

    const PAGE: u64 = 16384;
    const BASE: u64 = USER_VM_MIN + 0x40_0000;

    fn user(addr: u64) -> UserAddr {
        UserAddr(addr)
    }

    fn peek(addr: u64, len: usize) -> Vec<u8> {
        let mut v = alloc::vec![0u8; len];
        UserSlice::new(addr, len).unwrap().read_at(0, &mut v).unwrap();
        v
    }

    fn put_iovecs(at: u64, iovs: &[(u64, u64)]) {
        let mut raw = Vec::new();
        for &(base, len) in iovs {
            raw.extend_from_slice(&base.to_le_bytes());
            raw.extend_from_slice(&len.to_le_bytes());
        }
        UserSlice::new(at, raw.len()).unwrap().write_at(0, &raw).unwrap();
    }

    #[test]
    fn iovec_arrays_from_user_memory() {
        let mem = host_user_memory::session();
        mem.map(BASE, 2 * PAGE, true);
        let arr = BASE + PAGE;
        // Two buffers with an empty one between them: moved in order, the empty one skipped.
        put_iovecs(arr, &[(BASE, 3), (BASE + 100, 0), (BASE + 200, 4)]);
        let mut uio = Uio::from_user_iovecs(user(arr), 3, 0, UioRw::Read).unwrap();
        assert_eq!(uio.total(), 7);
        assert_eq!(uio.uiomove(&mut [1, 2, 3, 4, 5, 6, 7]), Ok(7));
        assert_eq!(peek(BASE, 3), [1, 2, 3]);
        assert_eq!(peek(BASE + 200, 4), [4, 5, 6, 7]);
        // No buffers, or more than UIO_MAXIOV: EINVAL; the array itself unreadable: EFAULT.
        assert_eq!(Uio::from_user_iovecs(user(arr), 0, 0, UioRw::Read).unwrap_err(), Errno::EINVAL);
        let too_many = UIO_MAXIOV as u32 + 1;
        assert_eq!(Uio::from_user_iovecs(user(arr), too_many, 0, UioRw::Read).unwrap_err(), Errno::EINVAL);
        let off_the_end = BASE + 2 * PAGE - 8;
        assert_eq!(Uio::from_user_iovecs(user(off_the_end), 1, 0, UioRw::Read).unwrap_err(), Errno::EFAULT);
        // Lengths adding up past an ssize_t: EINVAL.
        put_iovecs(arr, &[(BASE, u64::MAX / 2), (BASE, u64::MAX / 2 + 2)]);
        assert_eq!(Uio::from_user_iovecs(user(arr), 2, 0, UioRw::Write).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn a_whole_read_and_a_whole_write() {
        let mem = host_user_memory::session();
        mem.map(BASE, 2 * PAGE, true);
        let mut uio = Uio::new(user(BASE + 10), 20, 100, UioRw::Read).unwrap();
        assert_eq!(uio.resid(), 20);
        assert_eq!(uio.uiomove(&mut [7u8; 8]), Ok(8));
        assert_eq!(uio.uiomove(&mut [9u8; 30]), Ok(12), "no more than the residual");
        assert_eq!(uio.resid(), 0);
        assert_eq!(uio.uio_offset, 120);
        assert_eq!(uio.uiomove(&mut [1u8; 4]), Ok(0), "nothing left");
        let mut want = alloc::vec![7u8; 8];
        want.extend_from_slice(&[9; 12]);
        assert_eq!(peek(BASE + 10, 20), want);
        assert_eq!(uio_result(&uio, Ok(())), Ok(20));

        let mut w = Uio::new(user(BASE + 10), 20, 0, UioRw::Write).unwrap();
        let mut kbuf = [0u8; 32];
        assert_eq!(w.uiomove(&mut kbuf), Ok(20));
        assert_eq!(&kbuf[..20], &want[..]);
        assert_eq!(&kbuf[20..], &[0; 12], "the rest of the kernel buffer is untouched");
    }

    #[test]
    fn a_fault_part_way_is_a_short_transfer_and_at_the_start_efault() {
        let mem = host_user_memory::session();
        mem.map(BASE, PAGE, true);
        // 100 bytes from the end of the mapping: the first 100 move, then the fault.
        let mut r = Uio::new(user(BASE + PAGE - 100), 300, 0, UioRw::Read).unwrap();
        assert_eq!(r.uiomove(&mut [5u8; 256]), Err(Errno::EFAULT));
        assert_eq!((r.moved(), r.resid(), r.uio_offset), (100, 200, 100));
        assert_eq!(uio_result(&r, Err(Errno::EFAULT)), Ok(100));
        assert_eq!(peek(BASE + PAGE - 100, 100), [5u8; 100]);

        let mut w = Uio::new(user(BASE + PAGE - 3), 10, 0, UioRw::Write).unwrap();
        let mut kbuf = [0u8; 10];
        assert_eq!(w.uiomove(&mut kbuf), Err(Errno::EFAULT));
        assert_eq!(w.moved(), 3);

        let mut none = Uio::new(user(BASE + PAGE), 10, 0, UioRw::Write).unwrap();
        assert_eq!(none.uiomove(&mut kbuf), Err(Errno::EFAULT));
        assert_eq!(uio_result(&none, Err(Errno::EFAULT)), Err(Errno::EFAULT));
        // Outside user space altogether, and wrapping around the address space.
        let mut kernel = Uio::new(user(u64::MAX - 4), 10, 0, UioRw::Read).unwrap();
        assert_eq!(kernel.uiomove(&mut kbuf), Err(Errno::EFAULT));
        assert_eq!(kernel.moved(), 0);
        // Read-only memory takes no read's bytes.
        mem.map(BASE + 4 * PAGE, PAGE, false);
        let mut ro = Uio::new(user(BASE + 4 * PAGE), 4, 0, UioRw::Read).unwrap();
        assert_eq!(ro.uiomove(&mut kbuf), Err(Errno::EFAULT));
    }

    #[test]
    fn several_segments_in_order_with_empty_ones_skipped() {
        let mem = host_user_memory::session();
        mem.map(BASE, PAGE, true);
        let iovs = [
            IoVec { iov_base: user(BASE), iov_len: 3 },
            IoVec { iov_base: user(0), iov_len: 0 },
            IoVec { iov_base: user(BASE + 100), iov_len: 4 },
            IoVec { iov_base: user(BASE + 200), iov_len: 5 },
        ];
        let mut r = Uio::with_iovecs(&iovs, 0, UioRw::Read).unwrap();
        assert_eq!(r.total(), 12);
        let mut src = *b"abcdefghijkl";
        assert_eq!(r.uiomove(&mut src[..5]), Ok(5), "crosses from the first segment into the third");
        assert_eq!(r.uiomove(&mut src[5..]), Ok(7));
        assert_eq!(peek(BASE, 3), b"abc");
        assert_eq!(peek(BASE + 100, 4), b"defg");
        assert_eq!(peek(BASE + 200, 5), b"hijkl");
        // A bad segment in the middle stops the move there.
        let bad = [iovs[0], IoVec { iov_base: user(BASE + 2 * PAGE), iov_len: 4 }, iovs[3]];
        let mut w = Uio::with_iovecs(&bad, 0, UioRw::Write).unwrap();
        let mut kbuf = [0u8; 12];
        assert_eq!(w.uiomove(&mut kbuf), Err(Errno::EFAULT));
        assert_eq!(w.moved(), 3);
        assert_eq!(&kbuf[..3], b"abc");
    }

    #[test]
    fn unmove_gives_bytes_back() {
        let mem = host_user_memory::session();
        mem.map(BASE, PAGE, true);
        let iovs =
            [IoVec { iov_base: user(BASE), iov_len: 4 }, IoVec { iov_base: user(BASE + 64), iov_len: 4 }];
        let mut w = Uio::with_iovecs(&iovs, 50, UioRw::Write).unwrap();
        let mut kbuf = [0u8; 6];
        assert_eq!(w.uiomove(&mut kbuf), Ok(6));
        w.unmove(3);
        assert_eq!((w.moved(), w.resid(), w.uio_offset), (3, 5, 53));
        w.unmove(100);
        assert_eq!((w.moved(), w.uio_offset), (0, 50), "never past the start");
    }

    #[test]
    fn lengths_are_bounded() {
        assert_eq!(Uio::new(user(BASE), UIO_MAXRESID + 1, 0, UioRw::Read).err(), Some(Errno::EINVAL));
        let two = [IoVec { iov_base: user(BASE), iov_len: UIO_MAXRESID }; 2];
        assert_eq!(Uio::with_iovecs(&two, 0, UioRw::Read).err(), Some(Errno::EINVAL));
        assert_eq!(Uio::with_iovecs(&[], 0, UioRw::Read).err(), Some(Errno::EINVAL));
        assert!(Uio::new(user(0), 0, 0, UioRw::Read).is_ok(), "an empty request is fine anywhere");
    }
}
