//! Pipes (XNU's `sys_pipe.c`): `pipe()` makes two descriptors, a read end and a write end,
//! on one in-kernel buffer.
//!
//! The buffer starts at [`PIPE_SIZE`] (16 KiB) and grows to [`BIG_PIPE_SIZE`] (64 KiB) when
//! a writer finds it full, as XNU's does under load, while the system's pipe memory stays
//! under [`PIPE_KVA_MAX`]. Writes of at most `PIPE_BUF` (512) bytes land whole or wait;
//! longer ones may be split between other writers' data. A reader with nothing to read
//! waits (or gets `EAGAIN` when non-blocking), and reads 0 — end of file — once every write
//! end is closed; a writer with no reader left gets `EPIPE` and `SIGPIPE`. Readers sleep
//! on one wait queue and writers on the other (B1's `msleep`, so signals interrupt them);
//! `select` and `poll` watch the same queues through `fo_select`.
//!
//! The buffer is under a spin lock that is never held across user memory: data moves
//! through a bounce buffer, copied from or to user space outside it.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use osfmk::kern::lock_order;
use osfmk::kern::locks::SimpleLock;
use osfmk::kern::waitq::{Wait, WaitQueue};
use sys::Errno;
use sys::fcntl::{FIOASYNC, FIONBIO, FIONREAD};
use sys::param::PIPE_BUF;
use sys::stat::S_IFIFO;

use crate::kern::kern_descrip::{DType, FNONBLOCK, FREAD, FWRITE, FileGlob, FileOps, FileStat};
use crate::kern::kern_synch::{PCATCH, msleep};
use crate::kern::pipe_ring::PipeRing;
use crate::kern::uio::Uio;

/// A new pipe's buffer.
pub const PIPE_SIZE: usize = 16 * 1024;
/// What a busy pipe's buffer grows to.
pub const BIG_PIPE_SIZE: usize = 64 * 1024;
/// Most memory all pipe buffers together may hold beyond their first [`PIPE_SIZE`] each
/// (XNU's `maxpipekva` in spirit): past it, pipes stay small.
pub const PIPE_KVA_MAX: usize = 4 * 1024 * 1024;
/// Bytes moved per step through the bounce buffer.
const PIPE_CHUNK: usize = 4096;

/// Buffer growth in use, over all pipes.
static PIPE_KVA: AtomicUsize = AtomicUsize::new(0);

/// A pipe's state under its lock: the bytes in flight and who holds each end.
struct PipeBuf {
    ring: PipeRing,
    readers: u32,
    writers: u32,
    /// Ends ever attached, readers and writers: a FIFO open waiting for its peer is done
    /// when one came, even if it has gone again before the waiter ran.
    attached: [u64; 2],
}

impl core::ops::Deref for PipeBuf {
    type Target = PipeRing;
    fn deref(&self) -> &PipeRing {
        &self.ring
    }
}

impl core::ops::DerefMut for PipeBuf {
    fn deref_mut(&mut self) -> &mut PipeRing {
        &mut self.ring
    }
}

/// One pipe: its buffer and the queues its two sides sleep on.
pub struct Pipe {
    buf: SimpleLock<PipeBuf>,
    /// Readers waiting for data or for the last writer to go.
    readq: WaitQueue,
    /// Writers waiting for room or for the last reader to go.
    writeq: WaitQueue,
    /// May the buffer grow past its first size? Pipes' may; a FIFO's stays as it began.
    growable: bool,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let grown = self.buf.get_mut().capacity().saturating_sub(PIPE_SIZE);
        PIPE_KVA.fetch_sub(grown, Ordering::AcqRel);
    }
}

impl Pipe {
    /// A new pipe with one reader and one writer; `ENOMEM` if its buffer cannot be had.
    pub fn new() -> Result<Arc<Pipe>, Errno> {
        Pipe::with_buffer(PIPE_SIZE, true, 1)
    }

    /// A FIFO's pipe (XNU's pair of local sockets, in effect): a fixed buffer of `size`
    /// bytes and no ends yet; each open attaches one ([`PipeEnd::attach`]).
    pub fn new_fifo(size: usize) -> Result<Arc<Pipe>, Errno> {
        Pipe::with_buffer(size, false, 0)
    }

    fn with_buffer(size: usize, growable: bool, ends: u32) -> Result<Arc<Pipe>, Errno> {
        let mut data = Vec::new();
        data.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
        data.resize(size, 0);
        let buf = PipeBuf { ring: PipeRing::new(data), readers: ends, writers: ends, attached: [0; 2] };
        Ok(Arc::new(Pipe {
            buf: SimpleLock::new(&lock_order::PIPE, buf),
            readq: WaitQueue::new(),
            writeq: WaitQueue::new(),
            growable,
        }))
    }

    /// How many read and write ends are attached.
    pub fn ends(&self) -> (u32, u32) {
        let b = self.buf.lock();
        (b.readers, b.writers)
    }

    /// Bytes that could be written now.
    pub fn room(&self) -> usize {
        self.buf.lock().free()
    }

    /// The queue readers wait on (for data, or for a writer to come or go).
    pub fn readq(&self) -> &WaitQueue {
        &self.readq
    }

    /// The queue writers wait on (for room, or for a reader to come or go).
    pub fn writeq(&self) -> &WaitQueue {
        &self.writeq
    }

    /// A full small buffer grows to [`BIG_PIPE_SIZE`] if the system's budget allows. The
    /// new storage is allocated outside the lock and swapped in under it.
    fn grow(&self) {
        {
            let b = self.buf.lock();
            if !self.growable || b.capacity() >= BIG_PIPE_SIZE || b.free() != 0 {
                return;
            }
        }
        let extra = BIG_PIPE_SIZE - PIPE_SIZE;
        if PIPE_KVA
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(extra).filter(|&t| t <= PIPE_KVA_MAX)
            })
            .is_err()
        {
            return;
        }
        let mut data = Vec::new();
        if data.try_reserve_exact(BIG_PIPE_SIZE).is_err() {
            PIPE_KVA.fetch_sub(extra, Ordering::AcqRel);
            return;
        }
        data.resize(BIG_PIPE_SIZE, 0);
        let mut b = self.buf.lock();
        if b.capacity() >= BIG_PIPE_SIZE {
            drop(b);
            PIPE_KVA.fetch_sub(extra, Ordering::AcqRel);
            return;
        }
        // The bytes move, in order, to the front of the new storage.
        let mut old = b.regrow(data);
        drop(b);
        old.clear();
    }

    /// Bytes waiting to be read.
    pub fn readable(&self) -> usize {
        self.buf.lock().len()
    }
}

/// One end of a pipe, as a descriptor's open file (`DTYPE_PIPE`).
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
    /// For an end attached to a FIFO: how many ends of the other kind had come and gone
    /// before this one was attached (see [`PipeEnd::peer_came`]).
    peers_seen: u64,
}

impl PipeEnd {
    /// A new end on `pipe` (a FIFO's, at open): counted among its readers or writers, and
    /// the other side's sleepers told (an open waiting for its peer, a reader waiting for a
    /// writer).
    pub fn attach(pipe: &Arc<Pipe>, write: bool) -> PipeEnd {
        let peers_seen = {
            let mut b = pipe.buf.lock();
            if write {
                b.writers += 1;
            } else {
                b.readers += 1;
            }
            b.attached[usize::from(write)] += 1;
            // Peers that came and went before this end: a peer attached now, or any later
            // one, makes the count differ.
            let present = if write { b.readers } else { b.writers };
            b.attached[usize::from(!write)] - u64::from(present)
        };
        pipe.readq.wakeup_all();
        pipe.writeq.wakeup_all();
        PipeEnd { pipe: pipe.clone(), write, peers_seen }
    }

    /// Is an end of the other kind attached now, or was one there when this end was
    /// attached, or has one come since (and perhaps gone again)? What a FIFO open waiting
    /// for its peer waits for: a peer that wrote and closed before this thread ran counts.
    pub fn peer_came(&self) -> bool {
        let b = self.pipe.buf.lock();
        let peers = if self.write { b.readers } else { b.writers };
        peers > 0 || b.attached[usize::from(!self.write)] != self.peers_seen
    }

    /// Reads into `uio` as `read` on the end does (see the module doc).
    pub fn read_into(&self, fg: &FileGlob, uio: &mut Uio) -> Result<(), Errno> {
        let mut kbuf = [0u8; PIPE_CHUNK];
        let pipe = &*self.pipe;
        let mut first = true;
        while uio.resid() > 0 {
            let want = uio.resid().min(PIPE_CHUNK);
            let n = if first {
                // Wait for the first bytes (or the end); later ones are taken only if there.
                msleep(&[&pipe.readq], PCATCH, None, || {
                    let mut b = pipe.buf.lock();
                    if !b.is_empty() {
                        return Ok(Some(b.pop(&mut kbuf[..want])));
                    }
                    if b.writers == 0 {
                        return Ok(Some(0));
                    }
                    if fg.flag() & FNONBLOCK != 0 { Err(Errno::EAGAIN) } else { Ok(None) }
                })?
            } else {
                pipe.buf.lock().pop(&mut kbuf[..want])
            };
            first = false;
            if n == 0 {
                break;
            }
            pipe.writeq.wakeup_all();
            uio.uiomove(&mut kbuf[..n])?;
        }
        Ok(())
    }

    /// Writes from `uio` as `write` on the end does (see the module doc).
    pub fn write_from(&self, fg: &FileGlob, uio: &mut Uio) -> Result<(), Errno> {
        let mut kbuf = [0u8; PIPE_CHUNK];
        let pipe = &*self.pipe;
        // A write of PIPE_BUF bytes or fewer goes in whole or not at all.
        let atomic = uio.resid() <= PIPE_BUF;
        while uio.resid() > 0 {
            let want = uio.resid().min(PIPE_CHUNK);
            let before = uio.moved();
            let fault = uio.uiomove(&mut kbuf[..want]).err();
            let got = uio.moved() - before;
            let mut done = 0;
            while done < got {
                let need = if atomic { got - done } else { 1 };
                // A full pipe grows first, if it may (allocating outside any lock).
                pipe.grow();
                let r = msleep(&[&pipe.writeq], PCATCH, None, || {
                    let mut b = pipe.buf.lock();
                    if b.readers == 0 {
                        return Err(Errno::EPIPE);
                    }
                    if b.free() >= need {
                        return Ok(Some(b.push(&kbuf[done..got])));
                    }
                    if fg.flag() & FNONBLOCK != 0 {
                        return Err(Errno::EAGAIN);
                    }
                    Ok(None)
                });
                match r {
                    Ok(n) => {
                        done += n;
                        pipe.readq.wakeup_all();
                    }
                    Err(e) => {
                        // What did not reach the pipe was not written. An EPIPE also
                        // raises SIGPIPE, in `dofilewrite`.
                        uio.unmove(got - done);
                        return Err(e);
                    }
                }
            }
            if let Some(e) = fault {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl FileOps for PipeEnd {
    fn fo_type(&self) -> DType {
        DType::Pipe
    }

    fn fo_read(&self, fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        if self.write {
            return Err(Errno::EBADF);
        }
        self.read_into(fg, uio)
    }

    fn fo_write(&self, fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        self.write_from(fg, uio)
    }

    fn fo_ioctl(&self, _fg: &FileGlob, cmd: u32, data: &mut [u8]) -> Result<(), Errno> {
        match cmd {
            FIONREAD => {
                let n = i32::try_from(self.pipe.readable()).unwrap_or(i32::MAX);
                data.get_mut(..4).ok_or(Errno::EINVAL)?.copy_from_slice(&n.to_ne_bytes());
                Ok(())
            }
            // The description's FNONBLOCK is what the pipe reads; nothing more to do here.
            FIONBIO | FIOASYNC => Ok(()),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn fo_select<'q>(&'q self, _fg: &FileGlob, which: u32, wait: Option<&mut Wait<'q>>) -> bool {
        // Each end answers for its own direction; asked about the other one it is ready
        // only once the far end is gone (the end-of-file XNU's "neutered" filters report).
        // Exceptional conditions never happen on a pipe.
        let pipe = &*self.pipe;
        let (ready, queue) = {
            let b = pipe.buf.lock();
            match (self.write, which) {
                (false, FREAD) => (!b.is_empty() || b.writers == 0, &pipe.readq),
                (false, FWRITE) => (b.writers == 0, &pipe.readq),
                (true, FWRITE) => (b.free() >= PIPE_BUF || b.readers == 0, &pipe.writeq),
                (true, FREAD) => (b.readers == 0, &pipe.writeq),
                _ => return false,
            }
        };
        if !ready && let Some(wait) = wait {
            wait.on(queue);
        }
        ready
    }

    fn fo_hangup(&self, _which: u32) -> bool {
        let b = self.pipe.buf.lock();
        if self.write { b.readers == 0 } else { b.writers == 0 }
    }

    fn fo_stat(&self) -> Result<FileStat, Errno> {
        Ok(FileStat {
            st_mode: S_IFIFO | 0o600,
            st_size: self.pipe.readable() as u64,
            st_blksize: PIPE_SIZE as u32,
        })
    }

    fn fo_close(&self) -> Result<(), Errno> {
        {
            let mut b = self.pipe.buf.lock();
            if self.write {
                b.writers -= 1;
            } else {
                b.readers -= 1;
            }
        }
        // The other side learns of it: readers see the end, writers EPIPE.
        self.pipe.readq.wakeup_all();
        self.pipe.writeq.wakeup_all();
        Ok(())
    }
}

/// `pipe()`: a new pipe's read and write ends, open for reading and for writing.
pub fn pipe(p: &crate::kern::kern_proc::Proc) -> Result<(usize, usize), Errno> {
    use crate::kern::kern_descrip::FileProc;
    let pipe = Pipe::new()?;
    let rg = FileGlob::new(FREAD, Arc::new(PipeEnd { pipe: pipe.clone(), write: false, peers_seen: 0 }))?;
    let wg = FileGlob::new(FWRITE, Arc::new(PipeEnd { pipe, write: true, peers_seen: 0 }))?;
    let mut fdt = p.p_fd.lock();
    let r = fdt.alloc(FileProc { fp_flags: 0, fp_glob: rg })?;
    match fdt.alloc(FileProc { fp_flags: 0, fp_glob: wg }) {
        Ok(w) => Ok((r, w)),
        Err(e) => {
            let _ = fdt.close(r as i32);
            Err(e)
        }
    }
}
