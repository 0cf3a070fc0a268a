//! FIFOs — named pipes (XNU's `bsd/miscfs/fifofs`): a `VFIFO` vnode made by `mkfifo` or
//! `mknod`, whose opens share one pipe while any is open. The pipe is made by the first
//! open, hangs off the vnode (`v_fifoinfo`), and goes, with whatever it still holds, at the
//! last close.
//!
//! The rules are Darwin's (reference `xnu-abi-files-tty-tools.md` §2.7, where XNU builds a
//! FIFO from two local stream sockets of 8 KiB each way): an open for reading waits for a
//! writer and one for writing waits for a reader, unless `O_NONBLOCK` — then a reader
//! opens at once and a writer with no reader gets `ENXIO`; `O_RDWR` never waits. Reading
//! with no writer returns what is left, then 0, without waiting; writing with no reader is
//! `EPIPE` and SIGPIPE. There are no offsets (`ESPIPE`). For `select` and `poll` a FIFO is
//! readable while bytes are waiting and writable while there is room, and never hangs up:
//! XNU's vnode filter reports an end only on revoke.

use alloc::sync::Arc;

use osfmk::kern::waitq::Wait;
use sys::Errno;

use crate::kern::kern_descrip::{DType, FNONBLOCK, FREAD, FWRITE, FileGlob, FileOps, FileStat};
use crate::kern::kern_synch::{PCATCH, msleep};
use crate::kern::sys_pipe::{Pipe, PipeEnd};
use crate::kern::uio::Uio;
use crate::vfs::vnode::{VnodeRef, VnodeUse};

/// Bytes a FIFO holds (XNU's local stream sockets' send and receive space).
pub const FIFO_SIZE: usize = 8192;

/// The pipe of `vp`, made if no one has it open; an end is attached under the vnode's slot
/// lock, so a last close running at the same time cannot throw the pipe away under it.
/// Returns the open's file, holding the ends it asked for.
fn attach(vp: &VnodeRef, read: bool, write: bool) -> Result<FifoFile, Errno> {
    // Made before the lock (allocation never happens under a spin lock); a spare made by a
    // loser of the race is dropped.
    let spare = if vp.fifoinfo.lock().is_none() { Some(Pipe::new_fifo(FIFO_SIZE)?) } else { None };
    let mut slot = vp.fifoinfo.lock();
    let pipe = match slot.as_ref().and_then(|any| any.clone().downcast::<Pipe>().ok()) {
        Some(pipe) => pipe,
        None => {
            let pipe = match spare {
                Some(p) => p,
                // Someone closed it between the two looks: make it now, outside the lock.
                None => {
                    drop(slot);
                    return attach(vp, read, write);
                }
            };
            *slot = Some(pipe.clone());
            pipe
        }
    };
    let rd = read.then(|| PipeEnd::attach(&pipe, false));
    let wr = write.then(|| PipeEnd::attach(&pipe, true));
    Ok(FifoFile { vp: VnodeUse::new(vp.clone()), pipe, rd, wr })
}

/// `open` of FIFO `vp` with kernel flags `fflag` (XNU's `fifo_open`): see the module doc
/// for when it waits. A signal ends the wait: `EINTR`, or a restart under SA_RESTART.
pub fn fifo_open(vp: &VnodeRef, fflag: u32) -> Result<Arc<FileGlob>, Errno> {
    let file = attach(vp, fflag & FREAD != 0, fflag & FWRITE != 0)?;
    let nonblock = fflag & FNONBLOCK != 0;
    // Waits until the peer is there or has been: one that opened and closed again before
    // this thread ran still ends the wait (the open then sees end of file, or EPIPE).
    // Dropping `file` on an error detaches its ends (and the pipe, if they were the last).
    match (&file.rd, &file.wr) {
        (Some(end), None) if !nonblock => {
            msleep(&[file.pipe.readq()], PCATCH, None, || Ok(end.peer_came().then_some(())))?;
        }
        (None, Some(end)) if !end.peer_came() => {
            if nonblock {
                return Err(Errno::ENXIO);
            }
            msleep(&[file.pipe.writeq()], PCATCH, None, || Ok(end.peer_came().then_some(())))?;
        }
        _ => {}
    }
    FileGlob::new(fflag, Arc::new(file))
}

/// An open FIFO: the ends its open mode attached.
struct FifoFile {
    vp: VnodeUse,
    pipe: Arc<Pipe>,
    rd: Option<PipeEnd>,
    wr: Option<PipeEnd>,
}

impl FifoFile {
    /// Detach this open's ends; the last open's close throws the pipe away.
    fn detach(&mut self) {
        let mut slot = self.vp.fifoinfo.lock();
        for end in [self.rd.take(), self.wr.take()].into_iter().flatten() {
            let _ = end.fo_close();
        }
        if self.pipe.ends() == (0, 0) {
            *slot = None;
        }
    }
}

impl Drop for FifoFile {
    fn drop(&mut self) {
        // An open that failed after attaching (its wait interrupted, or ENXIO) never became
        // a file whose close would run; and a closed one has nothing left here.
        if self.rd.is_some() || self.wr.is_some() {
            self.detach();
        }
    }
}

impl FileOps for FifoFile {
    fn fo_type(&self) -> DType {
        // A FIFO is a vnode that happens to move bytes (DTYPE_VNODE), not a pipe.
        DType::Vnode
    }

    fn fo_read(&self, fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        self.rd.as_ref().ok_or(Errno::EBADF)?.read_into(fg, uio)
    }

    fn fo_write(&self, fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        self.wr.as_ref().ok_or(Errno::EBADF)?.write_from(fg, uio)
    }

    fn fo_ioctl(&self, fg: &FileGlob, cmd: u32, data: &mut [u8]) -> Result<(), Errno> {
        // A FIFO answers what a pipe does (FIONREAD: the bytes waiting), through either end.
        match self.rd.as_ref().or(self.wr.as_ref()) {
            Some(end) => end.fo_ioctl(fg, cmd, data),
            None => Err(Errno::EBADF),
        }
    }

    fn fo_select<'q>(&'q self, _fg: &FileGlob, which: u32, wait: Option<&mut Wait<'q>>) -> bool {
        let (ready, queue) = match which {
            FREAD => (self.pipe.readable() > 0, self.pipe.readq()),
            FWRITE => (self.pipe.room() > 0, self.pipe.writeq()),
            _ => return false,
        };
        if !ready && let Some(wait) = wait {
            wait.on(queue);
        }
        ready
    }

    fn fo_stat(&self) -> Result<FileStat, Errno> {
        Ok(FileStat { st_mode: self.vp.mode(), st_size: 0, st_blksize: FIFO_SIZE as u32 })
    }

    fn fo_close(&self) -> Result<(), Errno> {
        // The ends are detached when the last reference to this object goes (`Drop`),
        // which is this close: the description held the only one.
        Ok(())
    }

    fn vnode(&self) -> Option<VnodeRef> {
        Some(self.vp.vnode().clone())
    }
}
