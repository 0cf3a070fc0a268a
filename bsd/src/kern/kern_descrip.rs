//! File descriptors (XNU's `filedesc`, `fileproc`, `fileglob`): a per-process table of
//! descriptors, each with its own flags, pointing at shared open-file descriptions that
//! carry the offset, the open mode and status flags, and the operations of what is open
//! ([`FileOps`], XNU's `fileops`).
//!
//! Reads and writes go through a [`Uio`] over the caller's memory ([`dofileread`],
//! [`dofilewrite`]); each kind of file moves the bytes itself, in bounded chunks. The offset
//! is the description's and is locked for the whole of a transfer that uses it
//! ([`FileGlob::offset_lock`], XNU's `vn_offset_lock`), so two users of one description
//! never read or write at the same offset. The status flags (`O_APPEND`, `O_NONBLOCK`) can
//! change after open (`fcntl(F_SETFL)`, [`fcntl_setfl`]); the access mode cannot.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use osfmk::kern::locks::{LckMtx, LckMtxGuard};
use osfmk::kern::waitq::Wait;
use sys::Errno;
use sys::fcntl::{FIONBIO, O_APPEND, O_NONBLOCK, O_SYNC};

use crate::kern::kern_lockf::LockOwner;
use crate::kern::uio::{Uio, uio_result};

/// Open for reading (`FREAD`).
pub const FREAD: u32 = 0x1;
/// Open for writing (`FWRITE`).
pub const FWRITE: u32 = 0x2;
/// Writes go to the end of the file (`FAPPEND`, the `O_APPEND` bit).
pub const FAPPEND: u32 = O_APPEND;
/// I/O that would wait fails with `EAGAIN` instead (`FNONBLOCK`, the `O_NONBLOCK` bit).
pub const FNONBLOCK: u32 = O_NONBLOCK;
/// Synchronous writes (`FFSYNC`, the `O_SYNC` bit): every file here is written through at
/// once, so the flag is kept and reported but changes nothing.
pub const FFSYNC: u32 = O_SYNC;
/// What an open file description keeps of `open`'s flags (XNU's `FMASK`, less `FASYNC`:
/// no file here can signal its readiness yet, so `O_ASYNC` is not kept).
pub const FMASK: u32 = FREAD | FWRITE | FAPPEND | FNONBLOCK | FFSYNC;
/// The status flags `fcntl(F_SETFL)` may change (XNU's `FCNTLFLAGS`, less `FASYNC`).
pub const FCNTLFLAGS: u32 = FAPPEND | FNONBLOCK | FFSYNC;
/// Close on exec, per descriptor (`FP_CLOEXEC`).
pub const FP_CLOEXEC: u32 = 0x1;
/// Most descriptors a process may have open (`OPEN_MAX`-like, our choice).
pub const NOFILE: usize = 256;
/// `fo_read`/`fo_write` flag: use the uio's offset, not the description's (`FOF_OFFSET`,
/// for `pread`/`pwrite`).
pub const FOF_OFFSET: u32 = 0x1;

/// Kernel file flags from `open`'s flags (XNU's `FFLAGS`: the access mode plus one, so
/// read and write are bits), keeping only [`FMASK`].
pub fn fflags(oflag: u32) -> u32 {
    oflag.wrapping_add(1) & FMASK
}

/// `open`'s flags from kernel file flags (XNU's `OFLAGS`), as `F_GETFL` reports them.
pub fn oflags(fflag: u32) -> u32 {
    fflag.wrapping_sub(1)
}

/// What kind of object a file is (XNU's `file_type_t`, same values).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// A vnode: a file, a directory, a device (`DTYPE_VNODE`).
    Vnode = 1,
    /// A socket (`DTYPE_SOCKET`).
    Socket = 2,
    /// A pipe (`DTYPE_PIPE`).
    Pipe = 6,
}

/// What `fo_stat` reports (the parts of `struct stat64` a file kind knows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Type and permission bits.
    pub st_mode: u16,
    /// Length in bytes (0 for a device).
    pub st_size: u64,
    /// The preferred I/O size.
    pub st_blksize: u32,
}

/// What an open file does: XNU's `fileops`. Vnodes, devices, pipes and sockets implement
/// it. Every method gets the open file description it is called through, for its flags and
/// offset.
pub trait FileOps: Send + Sync {
    /// What kind of file this is (`fo_type`).
    fn fo_type(&self) -> DType;

    /// Move bytes from the file into `uio` (`fo_read`): at the description's offset,
    /// advancing it, unless `flags` has [`FOF_OFFSET`]. May block (unless the description
    /// is `FNONBLOCK`). Stops at end of file; an error after some bytes moved is reported by
    /// the caller as a short read ([`uio_result`]).
    fn fo_read(&self, fg: &FileGlob, uio: &mut Uio, flags: u32) -> Result<(), Errno>;

    /// Move bytes from `uio` into the file (`fo_write`), as [`FileOps::fo_read`] does the
    /// other way; an `FAPPEND` description writes at the end.
    fn fo_write(&self, fg: &FileGlob, uio: &mut Uio, flags: u32) -> Result<(), Errno>;

    /// A control request (`fo_ioctl`): `data` is the kernel copy of the request's argument,
    /// as long as the request's encoded size. A request this file does not know: `ENOTTY`.
    fn fo_ioctl(&self, fg: &FileGlob, cmd: u32, data: &mut [u8]) -> Result<(), Errno>;

    /// Is the file ready for `which` ([`FREAD`] or [`FWRITE`]) now (`fo_select`)? If not and
    /// `wait` is given, the file puts the waiting thread on the queue its readiness is
    /// announced on, so a `select` sleeping on `wait` wakes when it may have changed.
    /// `which` 0 asks about exceptional conditions (`select`'s third set).
    fn fo_select<'q>(&'q self, fg: &FileGlob, which: u32, wait: Option<&mut Wait<'q>>) -> bool;

    /// Has the far side of the file gone, as seen from `which` ([`FREAD`] or [`FWRITE`])?
    /// It is the end-of-file that XNU's read and write filters report, and `poll` turns it
    /// into `POLLHUP`: a pipe whose other end is closed. Files without a far side: never.
    fn fo_hangup(&self, _which: u32) -> bool {
        false
    }

    /// The file's type, permissions and size (`fo_stat`, `fstat`'s source).
    fn fo_stat(&self) -> Result<FileStat, Errno>;

    /// The last reference to the description is gone (`fo_close`): release what the open
    /// holds. It may run with the descriptor table's (spin) lock held — `close`, `dup2` and
    /// exit drop descriptors under it — so it must not block.
    fn fo_close(&self) -> Result<(), Errno>;

    /// The vnode behind a vnode file (XNU's `fg_data` of a `DTYPE_VNODE`), for `fchdir`;
    /// `None` for anything else.
    fn vnode(&self) -> Option<crate::vfs::vnode::VnodeRef> {
        None
    }

    /// May `pread`/`pwrite` name an offset on this file (XNU's `valid_for_random_access`)?
    /// Pipes, FIFOs and sockets have no offsets: `ESPIPE`; a terminal: `ENXIO`.
    fn fo_random_access(&self) -> Result<(), Errno> {
        if self.fo_type() != DType::Vnode {
            return Err(Errno::ESPIPE);
        }
        match self.vnode() {
            Some(vp) if vp.vtype() == crate::vfs::vnode::VType::VFIFO => Err(Errno::ESPIPE),
            _ => Ok(()),
        }
    }
}

/// An open file description, shared by `dup` and `fork`.
pub struct FileGlob {
    /// FREAD / FWRITE and status flags (`fg_flag`): atomic, as `F_SETFL` changes it while
    /// others may be doing I/O through the description.
    fg_flag: AtomicU32,
    /// The current offset, and the lock a transfer holds for its whole length so the read
    /// of the offset, the I/O and the update are one step (XNU's `fg_offset` under
    /// `vn_offset_lock`). A sleeping lock: a transfer may fault on user memory holding it.
    fg_offset: LckMtx<u64>,
    /// Flags of the description that are not `open` flags (`fg_lflags`): [`FG_NOSIGPIPE`].
    fg_lflags: AtomicU32,
    /// What is open.
    pub fg_ops: Arc<dyn FileOps>,
}

/// `fg_lflags`: a write that finds no reader fails with EPIPE but posts no SIGPIPE
/// (`F_SETNOSIGPIPE`).
pub const FG_NOSIGPIPE: u32 = 0x40;
/// `fg_lflags`: the description has taken an advisory lock (`flock`), so its last close
/// must release it (XNU's `FWASLOCKED`, which XNU keeps in `fg_flag`; here it stays out of
/// what `F_GETFL` reports).
pub const FWASLOCKED: u32 = 0x4000;

/// Open file descriptions the system may hold at once (`kern.maxfiles`): XNU's 3 ×
/// OPEN_MAX, unscaled below 3 GiB of memory. Past it, opening anything is `ENFILE`.
pub const MAXFILES: usize = 30720;

/// Open file descriptions now (XNU's `nfiles`).
static NFILES: AtomicUsize = AtomicUsize::new(0);
/// The limit now: `kern.maxfiles`, which root may change.
static MAXFILES_NOW: AtomicUsize = AtomicUsize::new(MAXFILES);

/// `kern.maxfiles` and how many descriptions are open (`kern.num_files`).
pub fn nfiles() -> (usize, usize) {
    (MAXFILES_NOW.load(Ordering::Acquire), NFILES.load(Ordering::Acquire))
}

/// Sets `kern.maxfiles` (root's sysctl): at least 1; descriptions already open stay.
pub fn set_maxfiles(limit: usize) -> Result<(), Errno> {
    if limit == 0 || limit > i32::MAX as usize {
        return Err(Errno::EINVAL);
    }
    MAXFILES_NOW.store(limit, Ordering::Release);
    Ok(())
}

impl FileGlob {
    /// A new description with kernel file flags `flag` (only [`FMASK`] is kept) over `ops`
    /// (XNU's `falloc`): `ENFILE` when the system already holds `kern.maxfiles` of them.
    pub fn new(flag: u32, ops: Arc<dyn FileOps>) -> Result<Arc<FileGlob>, Errno> {
        let limit = MAXFILES_NOW.load(Ordering::Acquire);
        NFILES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .map_err(|_| Errno::ENFILE)?;
        Ok(Arc::new(FileGlob {
            fg_flag: AtomicU32::new(flag & FMASK),
            fg_offset: LckMtx::new(&osfmk::kern::lock_order::FILEGLOB_OFFSET, 0),
            fg_lflags: AtomicU32::new(0),
            fg_ops: ops,
        }))
    }

    /// The kernel file flags now.
    pub fn flag(&self) -> u32 {
        self.fg_flag.load(Ordering::Acquire)
    }

    /// The description's `fg_lflags`.
    pub fn lflags(&self) -> u32 {
        self.fg_lflags.load(Ordering::Acquire)
    }

    /// Sets (`on`) or clears `bits` of the description's `fg_lflags`.
    pub fn set_lflags(&self, bits: u32, on: bool) {
        if on {
            self.fg_lflags.fetch_or(bits, Ordering::AcqRel);
        } else {
            self.fg_lflags.fetch_and(!bits, Ordering::AcqRel);
        }
    }

    /// Lock the offset for one transfer (and read or set it through the guard).
    pub fn offset_lock(&self) -> LckMtxGuard<'_, u64> {
        self.fg_offset.lock()
    }

    /// The current offset (waits for a transfer in progress to finish).
    pub fn offset(&self) -> u64 {
        *self.fg_offset.lock()
    }

    /// The name this description's advisory locks (`flock`) go by.
    pub fn lock_owner(&self) -> LockOwner {
        LockOwner::of(self)
    }

    /// Replace the status flags in [`FCNTLFLAGS`] with those in `fflag`; the rest stays.
    /// Returns the flags before.
    fn set_status(&self, fflag: u32) -> u32 {
        let mut old = self.flag();
        loop {
            let new = (old & !FCNTLFLAGS) | (fflag & FCNTLFLAGS);
            match self.fg_flag.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return old,
                Err(now) => old = now,
            }
        }
    }
}

impl Drop for FileGlob {
    fn drop(&mut self) {
        // The last close releases the description's lock (XNU's `vn_closefile`); that wakes
        // waiters but never blocks, as a drop under the descriptor table's lock must not.
        if self.lflags() & FWASLOCKED != 0
            && let Some(vp) = self.fg_ops.vnode()
            && let Ok(locks) = vp.advlock()
        {
            locks.unlock(self.lock_owner());
        }
        // Nobody can report a failure of the last close (the descriptor is already gone), as
        // in XNU's closef.
        let _ = self.fg_ops.fo_close();
        NFILES.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `read` through `fg`: not open for reading, `EBADF`; else the bytes moved into `uio`
/// (short if the file ended or an error came after progress).
pub fn dofileread(fg: &FileGlob, uio: &mut Uio, flags: u32) -> Result<usize, Errno> {
    if fg.flag() & FREAD == 0 {
        return Err(Errno::EBADF);
    }
    let r = fg.fg_ops.fo_read(fg, uio, flags);
    uio_result(uio, r)
}

/// `write` through `fg`: not open for writing, `EBADF`; else the bytes moved from `uio`.
/// A write that found no reader (`EPIPE`) also sends the writing thread SIGPIPE — which
/// ends it unless caught or ignored — unless the description has [`FG_NOSIGPIPE`]; sockets
/// decide that themselves (`SO_NOSIGPIPE`), as in XNU's `dofilewrite`.
pub fn dofilewrite(fg: &FileGlob, uio: &mut Uio, flags: u32) -> Result<usize, Errno> {
    if fg.flag() & FWRITE == 0 {
        return Err(Errno::EBADF);
    }
    let r = fg.fg_ops.fo_write(fg, uio, flags);
    if r == Err(Errno::EPIPE) && fg.fg_ops.fo_type() != DType::Socket && fg.lflags() & FG_NOSIGPIPE == 0 {
        post_sigpipe();
    }
    uio_result(uio, r)
}

/// SIGPIPE to the calling thread (see [`dofilewrite`]).
fn post_sigpipe() {
    // Host tests have no processes.
    #[cfg(target_os = "none")]
    if let Some(p) = crate::kern::kern_proc::current_proc() {
        let t = osfmk::kern::sched_prim::current_thread();
        let _ = crate::kern::kern_sig::psignal_thread(&p, &t, sys::signal::SIGPIPE, false);
    }
}

/// `fcntl(F_GETFL)`: the access mode and status flags as `open` spells them.
pub fn fcntl_getfl(fg: &FileGlob) -> u32 {
    oflags(fg.flag())
}

/// `fcntl(F_SETFL, arg)`: `arg` is `open` flags; its [`FCNTLFLAGS`] bits replace the
/// description's, everything else in it (the access mode, `O_CREAT`, unknown bits) is
/// ignored, as in XNU. The file is told of the new `O_NONBLOCK` (`FIONBIO`); if it refuses,
/// the flags are put back and its error returned.
pub fn fcntl_setfl(fg: &FileGlob, arg: u32) -> Result<(), Errno> {
    let old = fg.set_status(fflags(arg));
    let nbio = i32::from(fg.flag() & FNONBLOCK != 0);
    let mut data = nbio.to_ne_bytes();
    fg.fg_ops.fo_ioctl(fg, FIONBIO, &mut data).inspect_err(|_| {
        fg.set_status(old);
    })
}

/// Sets (`on`) or clears the description's `FNONBLOCK` (`ioctl(FIONBIO)`, which then tells
/// the file).
pub fn set_nonblock(fg: &FileGlob, on: bool) {
    if on {
        fg.fg_flag.fetch_or(FNONBLOCK, Ordering::AcqRel);
    } else {
        fg.fg_flag.fetch_and(!FNONBLOCK, Ordering::AcqRel);
    }
}

/// One descriptor slot.
#[derive(Clone)]
pub struct FileProc {
    /// Per-descriptor flags (FP_CLOEXEC).
    pub fp_flags: u32,
    /// The shared description.
    pub fp_glob: Arc<FileGlob>,
}

/// A process's descriptor table.
pub struct FileDesc {
    fd_ofiles: Vec<Option<FileProc>>,
    /// Descriptors at or above this number cannot be opened (RLIMIT_NOFILE).
    fd_limit: usize,
}

impl Default for FileDesc {
    fn default() -> FileDesc {
        FileDesc::new()
    }
}

impl FileDesc {
    /// An empty table.
    pub fn new() -> FileDesc {
        FileDesc { fd_ofiles: Vec::new(), fd_limit: NOFILE }
    }

    /// Apply RLIMIT_NOFILE (never above NOFILE); open descriptors above it stay open.
    pub fn set_limit(&mut self, limit: u64) {
        self.fd_limit = usize::try_from(limit).unwrap_or(NOFILE).min(NOFILE);
    }

    /// One more than the highest descriptor that may be opened (`getdtablesize`).
    pub fn limit(&self) -> usize {
        self.fd_limit
    }

    /// Install `fp` at the lowest free descriptor.
    pub fn alloc(&mut self, fp: FileProc) -> Result<usize, Errno> {
        if let Some(i) = self.fd_ofiles.iter().position(Option::is_none).filter(|&i| i < self.fd_limit) {
            self.fd_ofiles[i] = Some(fp);
            return Ok(i);
        }
        if self.fd_ofiles.len() >= self.fd_limit {
            return Err(Errno::EMFILE);
        }
        self.fd_ofiles.push(Some(fp));
        Ok(self.fd_ofiles.len() - 1)
    }

    /// The description behind `fd`, or EBADF.
    pub fn get(&self, fd: i32) -> Result<Arc<FileGlob>, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fd_ofiles.get(i))
            .and_then(|slot| slot.as_ref())
            .map(|fp| fp.fp_glob.clone())
            .ok_or(Errno::EBADF)
    }

    /// Close `fd`.
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.fd_ofiles.get_mut(i)).ok_or(Errno::EBADF)?;
        slot.take().map(|_| ()).ok_or(Errno::EBADF)
    }

    /// Close everything (exit).
    pub fn close_all(&mut self) {
        self.fd_ofiles.clear();
    }

    /// Install `fp` at exactly `fd`, closing what was there (`dup2`, spawn's open action).
    pub fn install(&mut self, fd: i32, fp: FileProc) -> Result<(), Errno> {
        let fd = usize::try_from(fd).ok().filter(|&f| f < self.fd_limit).ok_or(Errno::EBADF)?;
        if self.fd_ofiles.len() <= fd {
            self.fd_ofiles.resize(fd + 1, None);
        }
        self.fd_ofiles[fd] = Some(fp);
        Ok(())
    }

    /// `dup2(from, to)`: `to` becomes another descriptor for `from`'s open file, without
    /// close-on-exec.
    pub fn dup2(&mut self, from: i32, to: i32) -> Result<(), Errno> {
        let glob = self.get(from)?;
        if from == to {
            return Ok(());
        }
        self.install(to, FileProc { fp_flags: 0, fp_glob: glob })
    }

    /// A new descriptor for `fd`'s open file at the lowest free number at or above `min`
    /// (`dup`, `fcntl(F_DUPFD)`): EINVAL if `min` is beyond the limit, EMFILE if full.
    pub fn dup_at_least(&mut self, fd: i32, min: i32, cloexec: bool) -> Result<usize, Errno> {
        let glob = self.get(fd)?;
        let min = usize::try_from(min).ok().filter(|&m| m < self.fd_limit).ok_or(Errno::EINVAL)?;
        let free = (min..self.fd_limit).find(|&i| self.fd_ofiles.get(i).is_none_or(Option::is_none));
        let to = free.ok_or(Errno::EMFILE)?;
        let fp_flags = if cloexec { FP_CLOEXEC } else { 0 };
        self.install(to as i32, FileProc { fp_flags, fp_glob: glob })?;
        Ok(to)
    }

    /// The per-descriptor flags of `fd` (`FP_CLOEXEC`).
    pub fn fd_flags(&self, fd: i32) -> Result<u32, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fd_ofiles.get(i))
            .and_then(|slot| slot.as_ref())
            .map(|fp| fp.fp_flags)
            .ok_or(Errno::EBADF)
    }

    /// Set or clear close-on-exec on `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.fd_ofiles.get_mut(i)).ok_or(Errno::EBADF)?;
        let fp = slot.as_mut().ok_or(Errno::EBADF)?;
        if on {
            fp.fp_flags |= FP_CLOEXEC;
        } else {
            fp.fp_flags &= !FP_CLOEXEC;
        }
        Ok(())
    }

    /// Open descriptors.
    pub fn open_fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.fd_ofiles.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| i as i32)
    }

    /// The child's table at `fork`: the same descriptors, sharing open file descriptions.
    pub fn fork_copy(&self) -> FileDesc {
        FileDesc { fd_ofiles: self.fd_ofiles.clone(), fd_limit: self.fd_limit }
    }

    /// At `exec`: close the descriptors marked close-on-exec.
    pub fn exec_close(&mut self) {
        for slot in &mut self.fd_ofiles {
            if slot.as_ref().is_some_and(|fp| fp.fp_flags & FP_CLOEXEC != 0) {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use core::sync::atomic::AtomicUsize;
    use osfmk::arm64::pmap::USER_VM_MIN;
    use osfmk::vm::user_ptr::{UserAddr, host_user_memory};
    use sys::fcntl::{FIONREAD, O_ACCMODE, O_ASYNC, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY};

    use crate::kern::uio::UioRw;

    /// Reads give nothing, writes take everything; FIONBIO refused when `refuse_nbio`;
    /// counts its closes.
    #[derive(Default)]
    struct Null {
        refuse_nbio: bool,
        closes: AtomicUsize,
    }
    impl FileOps for Null {
        fn fo_type(&self) -> DType {
            DType::Vnode
        }
        fn fo_read(&self, _: &FileGlob, _: &mut Uio, _: u32) -> Result<(), Errno> {
            Ok(())
        }
        fn fo_write(&self, _: &FileGlob, uio: &mut Uio, _: u32) -> Result<(), Errno> {
            let mut buf = [0u8; 64];
            while uio.resid() > 0 {
                let n = uio.resid().min(buf.len());
                uio.uiomove(&mut buf[..n])?;
            }
            Ok(())
        }
        fn fo_ioctl(&self, _: &FileGlob, cmd: u32, _: &mut [u8]) -> Result<(), Errno> {
            match cmd {
                FIONBIO if self.refuse_nbio => Err(Errno::ENOTSUP),
                FIONBIO => Ok(()),
                _ => Err(Errno::ENOTTY),
            }
        }
        fn fo_select<'q>(&'q self, _: &FileGlob, _: u32, _: Option<&mut Wait<'q>>) -> bool {
            true
        }
        fn fo_stat(&self) -> Result<FileStat, Errno> {
            Ok(FileStat { st_mode: 0, st_size: 0, st_blksize: 1 })
        }
        fn fo_close(&self) -> Result<(), Errno> {
            self.closes.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    fn fp() -> FileProc {
        FileProc { fp_flags: 0, fp_glob: FileGlob::new(FREAD | FWRITE, Arc::new(Null::default())).unwrap() }
    }

    #[test]
    fn lowest_free_descriptor_and_ebadf() {
        let mut t = FileDesc::new();
        assert_eq!(t.alloc(fp()), Ok(0));
        assert_eq!(t.alloc(fp()), Ok(1));
        assert_eq!(t.alloc(fp()), Ok(2));
        assert_eq!(t.close(1), Ok(()));
        assert_eq!(t.close(1), Err(Errno::EBADF));
        assert_eq!(t.alloc(fp()), Ok(1));
        assert!(t.get(2).is_ok());
        assert_eq!(t.get(99).err(), Some(Errno::EBADF));
        assert_eq!(t.get(-1).err(), Some(Errno::EBADF));
    }

    #[test]
    fn fork_shares_descriptions_and_exec_closes_cloexec() {
        let mut t = FileDesc::new();
        t.alloc(fp()).unwrap();
        t.alloc(FileProc { fp_flags: FP_CLOEXEC, ..fp() }).unwrap();
        let child = t.fork_copy();
        assert!(Arc::ptr_eq(&child.get(0).unwrap(), &t.get(0).unwrap()));
        t.exec_close();
        assert!(t.get(0).is_ok());
        assert_eq!(t.get(1).err(), Some(Errno::EBADF));
        assert!(child.get(1).is_ok(), "the child's table is its own");
    }

    #[test]
    fn dup2_install_and_cloexec() {
        let mut t = FileDesc::new();
        t.alloc(fp()).unwrap();
        assert_eq!(t.dup2(0, 5), Ok(()));
        assert!(Arc::ptr_eq(&t.get(5).unwrap(), &t.get(0).unwrap()));
        assert_eq!(t.dup2(3, 4), Err(Errno::EBADF));
        assert_eq!(t.dup2(0, NOFILE as i32), Err(Errno::EBADF));
        assert_eq!(t.set_cloexec(5, true), Ok(()));
        t.exec_close();
        assert_eq!(t.get(5).err(), Some(Errno::EBADF));
        assert_eq!(t.open_fds().collect::<std::vec::Vec<_>>(), [0]);
    }

    #[test]
    fn dup_takes_the_lowest_free_slot_at_or_above_min() {
        let mut t = FileDesc::new();
        for _ in 0..4 {
            t.alloc(fp()).unwrap();
        }
        t.close(2).unwrap();
        assert_eq!(t.dup_at_least(0, 0, false), Ok(2));
        assert_eq!(t.dup_at_least(0, 10, true), Ok(10));
        assert_eq!(t.fd_flags(10), Ok(FP_CLOEXEC));
        assert_eq!(t.fd_flags(2), Ok(0));
        assert_eq!(t.fd_flags(7), Err(Errno::EBADF));
        assert_eq!(t.dup_at_least(9, 0, false), Err(Errno::EBADF));
        assert_eq!(t.dup_at_least(0, NOFILE as i32, false), Err(Errno::EINVAL));
        t.set_limit(4);
        assert_eq!(t.dup_at_least(0, 0, false), Err(Errno::EMFILE));
    }

    #[test]
    fn table_is_bounded() {
        let mut t = FileDesc::new();
        for _ in 0..NOFILE {
            t.alloc(fp()).unwrap();
        }
        assert_eq!(t.alloc(fp()), Err(Errno::EMFILE));
        t.close_all();
        assert_eq!(t.alloc(fp()), Ok(0));
        t.set_limit(2);
        assert_eq!(t.alloc(fp()), Ok(1));
        assert_eq!(t.alloc(fp()), Err(Errno::EMFILE));
    }

    #[test]
    fn open_flags_and_file_flags_convert_as_xnu() {
        assert_eq!(fflags(O_RDONLY), FREAD);
        assert_eq!(fflags(O_WRONLY), FWRITE);
        assert_eq!(fflags(O_RDWR), FREAD | FWRITE);
        assert_eq!(
            fflags(O_RDWR | O_APPEND | O_CREAT | O_ASYNC),
            FREAD | FWRITE | FAPPEND,
            "only FMASK kept"
        );
        for o in [O_RDONLY, O_WRONLY, O_RDWR] {
            assert_eq!(oflags(fflags(o | O_NONBLOCK)), o | O_NONBLOCK);
        }
    }

    #[test]
    fn setfl_changes_status_flags_only() {
        let fg = FileGlob::new(fflags(O_WRONLY | O_APPEND), Arc::new(Null::default())).unwrap();
        assert_eq!(fcntl_getfl(&fg), O_WRONLY | O_APPEND);
        // The access mode asked for is ignored, and so are bits F_SETFL does not set.
        fcntl_setfl(&fg, O_RDWR | O_NONBLOCK | O_CREAT | 0x4000_0000).unwrap();
        assert_eq!(fcntl_getfl(&fg), O_WRONLY | O_NONBLOCK, "O_APPEND cleared, O_NONBLOCK set");
        assert_eq!(fcntl_getfl(&fg) & O_ACCMODE, O_WRONLY);
        fcntl_setfl(&fg, O_APPEND | O_SYNC).unwrap();
        assert_eq!(fcntl_getfl(&fg), O_WRONLY | O_APPEND | O_SYNC);
        fcntl_setfl(&fg, 0).unwrap();
        assert_eq!(fcntl_getfl(&fg), O_WRONLY);
        // A file that refuses non-blocking I/O keeps its old flags.
        let stubborn = FileGlob::new(FREAD, Arc::new(Null { refuse_nbio: true, ..Null::default() })).unwrap();
        assert_eq!(fcntl_setfl(&stubborn, O_NONBLOCK | O_APPEND), Err(Errno::ENOTSUP));
        assert_eq!(fcntl_getfl(&stubborn), O_RDONLY);
    }

    #[test]
    fn the_access_mode_is_enforced_and_the_last_close_closes() {
        let mem = host_user_memory::session();
        let base = USER_VM_MIN + 0x10_0000;
        mem.map(base, 4096, true);
        let ops = Arc::new(Null::default());
        let ro = FileGlob::new(FREAD, ops.clone()).unwrap();
        let mut uio = Uio::new(UserAddr(base), 100, 0, UioRw::Write).unwrap();
        assert_eq!(dofilewrite(&ro, &mut uio, 0), Err(Errno::EBADF));
        let mut uio = Uio::new(UserAddr(base), 100, 0, UioRw::Read).unwrap();
        assert_eq!(dofileread(&ro, &mut uio, 0), Ok(0));
        let wo = FileGlob::new(FWRITE, ops.clone()).unwrap();
        assert_eq!(dofileread(&wo, &mut uio, 0), Err(Errno::EBADF));
        let mut uio = Uio::new(UserAddr(base), 200, 0, UioRw::Write).unwrap();
        assert_eq!(dofilewrite(&wo, &mut uio, 0), Ok(200));
        // A fault part-way is a short write; at the start, EFAULT.
        let mut uio = Uio::new(UserAddr(base + 4000), 200, 0, UioRw::Write).unwrap();
        assert_eq!(dofilewrite(&wo, &mut uio, 0), Ok(96));
        let mut uio = Uio::new(UserAddr(base + 4096), 200, 0, UioRw::Write).unwrap();
        assert_eq!(dofilewrite(&wo, &mut uio, 0), Err(Errno::EFAULT));
        assert_eq!(wo.fg_ops.fo_ioctl(&wo, FIONREAD, &mut [0; 4]), Err(Errno::ENOTTY));
        let mut t = FileDesc::new();
        t.alloc(FileProc { fp_flags: 0, fp_glob: wo }).unwrap();
        t.dup_at_least(0, 0, false).unwrap();
        drop(ro);
        assert_eq!(ops.closes.load(Ordering::Relaxed), 1);
        t.close(0).unwrap();
        assert_eq!(ops.closes.load(Ordering::Relaxed), 1, "a descriptor still holds it");
        t.close(1).unwrap();
        assert_eq!(ops.closes.load(Ordering::Relaxed), 2);
    }
}
