//! File descriptors (XNU's `filedesc`, `fileproc`, `fileglob`): a per-process table of
//! descriptors, each with its own flags, pointing at shared open-file descriptions that
//! carry the offset, the open mode and the operations of what is open.

use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::kern::locks::SimpleLock;
use sys::Errno;

/// Open for reading (`FREAD`).
pub const FREAD: u32 = 0x1;
/// Open for writing (`FWRITE`).
pub const FWRITE: u32 = 0x2;
/// Close on exec, per descriptor (`FP_CLOEXEC`).
pub const FP_CLOEXEC: u32 = 0x1;
/// Most descriptors a process may have open (`OPEN_MAX`-like, our choice).
pub const NOFILE: usize = 256;

/// What an open file does: XNU's `fileops`. Devices, vnodes, pipes and sockets implement it.
pub trait FileOps: Send + Sync {
    /// Read up to `buf.len()` bytes at `offset` (ignored by devices). May block.
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno>;
    /// Write `buf` at `offset`. Returns bytes written.
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno>;
    /// Does the offset advance with reads and writes (vnodes), or not (ttys)?
    fn seekable(&self) -> bool {
        false
    }
    /// The vnode behind a vnode file (XNU's `fg_data` of a `DTYPE_VNODE`), for `fchdir`;
    /// `None` for anything else.
    fn vnode(&self) -> Option<crate::vfs::vnode::VnodeRef> {
        None
    }
}

/// An open file description, shared by `dup` and `fork`.
pub struct FileGlob {
    /// FREAD / FWRITE and status flags.
    pub fg_flag: u32,
    /// Current offset.
    pub fg_offset: SimpleLock<u64>,
    /// What is open.
    pub fg_ops: Arc<dyn FileOps>,
}

impl FileGlob {
    /// A new description with `flag` over `ops`.
    pub fn new(flag: u32, ops: Arc<dyn FileOps>) -> Arc<FileGlob> {
        Arc::new(FileGlob {
            fg_flag: flag,
            fg_offset: SimpleLock::new(&osfmk::kern::lock_order::FILEGLOB_OFFSET, 0),
            fg_ops: ops,
        })
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

    struct Null;
    impl FileOps for Null {
        fn read(&self, _: &mut [u8], _: u64) -> Result<usize, Errno> {
            Ok(0)
        }
        fn write(&self, buf: &[u8], _: u64) -> Result<usize, Errno> {
            Ok(buf.len())
        }
    }

    fn fp() -> FileProc {
        FileProc { fp_flags: 0, fp_glob: FileGlob::new(FREAD | FWRITE, Arc::new(Null)) }
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
}
