//! Open files backed by vnodes (XNU's `vfs_vnops.c`): `vn_open` turns a path and open
//! flags into an open file description, and [`VnodeFile`] is its `fileops`: reads and
//! writes at the description's offset through a uio, in bounded chunks, with the offset
//! locked for the whole transfer and the file's own lock taken per chunk (never across a
//! fault on user memory), so a request of any length moves whole unless the file ends or
//! the memory does.

use alloc::sync::Arc;

use osfmk::kern::locks::{LckMtx, LckMtxGuard};
use osfmk::kern::waitq::Wait;
use sys::Errno;
use sys::fcntl::{
    FIOASYNC, FIONBIO, FIONREAD, LOCK_EX, LOCK_NB, LOCK_SH, O_ACCMODE, O_CREAT, O_DIRECTORY, O_EXCL,
    O_EXLOCK, O_NOFOLLOW, O_NONBLOCK, O_SHLOCK, O_TRUNC,
};
// Files have no owners yet: a caller who is not root is held to the "other" bits.

use crate::kern::kern_descrip::{
    DType, FAPPEND, FOF_OFFSET, FREAD, FWASLOCKED, FWRITE, FileGlob, FileOps, FileStat, fflags,
};
use crate::kern::kern_lockf::{FlockOp, flock_op};
use crate::kern::uio::Uio;
use crate::vfs::vfs_lookup::{VfsContext, namei};
use crate::vfs::vnode::{KauthCred, TimeUpdate, VEXEC, VREAD, VType, VWRITE, Vnode, VnodeRef, VnodeUse};
use crate::vfs::{ALLPERMS, NAME_MAX};

/// Bytes a vnode read or write moves per step: bounds the kernel buffer (on the kernel
/// stack) and how long the file's lock is held, not the request.
pub const VN_IO_CHUNK: usize = 4096;

/// The preferred I/O size `stat` reports for vnode files.
pub const VN_BLKSIZE: u32 = VN_IO_CHUNK as u32;

/// A vnode as an open file.
pub struct VnodeFile {
    /// A long-term use: the file keeps its file system mounted while open.
    vp: VnodeUse,
}

impl VnodeFile {
    /// `vp` as an open file's operations.
    pub fn new(vp: VnodeRef) -> VnodeFile {
        VnodeFile { vp: VnodeUse::new(vp) }
    }

    /// The vnode it reads and writes.
    pub fn vnode(&self) -> &VnodeRef {
        &self.vp
    }

    /// Reads into `uio` from its offset until it is full or the file ends.
    fn read_uio(&self, uio: &mut Uio) -> Result<(), Errno> {
        if self.vp.vtype() == VType::VDIR {
            // Directories are read with getdirentries64.
            return Err(Errno::EISDIR);
        }
        let mut kbuf = [0u8; VN_IO_CHUNK];
        while uio.resid() > 0 {
            let want = uio.resid().min(VN_IO_CHUNK);
            let n = self.vp.read_at(uio.uio_offset, &mut kbuf[..want])?;
            if n == 0 {
                break;
            }
            uio.uiomove(&mut kbuf[..n])?;
        }
        self.vp.touch(TimeUpdate::Access);
        Ok(())
    }

    /// Writes all of `uio` at its offset, or each chunk at the end of the file if `append`.
    /// Leaves `uio.uio_offset` after the last byte written.
    fn write_uio(&self, uio: &mut Uio, append: bool) -> Result<(), Errno> {
        let first = uio.moved();
        let r = self.write_chunks(uio, append);
        if uio.moved() > first {
            self.vp.touch(TimeUpdate::Modify);
        }
        r
    }

    /// The loop of [`VnodeFile::write_uio`], chunk by chunk through a kernel buffer.
    fn write_chunks(&self, uio: &mut Uio, append: bool) -> Result<(), Errno> {
        let mut kbuf = [0u8; VN_IO_CHUNK];
        while uio.resid() > 0 {
            let want = uio.resid().min(VN_IO_CHUNK);
            let start = uio.uio_offset;
            // Take the bytes in first: a fault here must not happen under the file's lock.
            let before = uio.moved();
            let fault = uio.uiomove(&mut kbuf[..want]).err();
            let got = uio.moved() - before;
            if got > 0 {
                let _serial = append.then(|| vn_append_lock(&self.vp));
                let at = if append { self.vp.size() } else { start };
                match self.vp.write_at(at, &kbuf[..got]) {
                    Ok(n) => {
                        uio.unmove(got - n.min(got));
                        uio.uio_offset = at + n as u64;
                        if n < got {
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        // Nothing of this chunk reached the file.
                        uio.unmove(got);
                        uio.uio_offset = start;
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

    /// [`VnodeFile::write_uio`] at the end of the file.
    fn append_uio(&self, uio: &mut Uio) -> Result<(), Errno> {
        self.write_uio(uio, true)
    }
}

/// Locks serialising appends to a vnode: finding the end and writing there is one step for
/// each chunk. Striped by the vnode's address, so appends to different files rarely share a
/// lock; a sleeping lock, held across the file system's write (never across a user fault).
/// Stands in for the exclusive vnode lock XNU's writes hold, until vnodes carry one.
static VN_APPEND_LOCKS: [LckMtx<()>; VN_APPEND_STRIPES] =
    [const { LckMtx::new(&osfmk::kern::lock_order::FILEGLOB_OFFSET, ()) }; VN_APPEND_STRIPES];

/// How many append locks there are.
const VN_APPEND_STRIPES: usize = 16;

/// The append lock for `vp`.
fn vn_append_lock(vp: &VnodeRef) -> LckMtxGuard<'static, ()> {
    let addr = Arc::as_ptr(vp) as usize;
    // Vnodes are heap objects: the low bits are alignment; mix in higher ones.
    VN_APPEND_LOCKS[((addr >> 6) ^ (addr >> 12)) % VN_APPEND_STRIPES].lock()
}

impl FileOps for VnodeFile {
    fn fo_type(&self) -> DType {
        DType::Vnode
    }

    fn fo_read(&self, fg: &FileGlob, uio: &mut Uio, flags: u32) -> Result<(), Errno> {
        if flags & FOF_OFFSET != 0 {
            return self.read_uio(uio);
        }
        let mut offset = fg.offset_lock();
        uio.uio_offset = *offset;
        let r = self.read_uio(uio);
        *offset = uio.uio_offset;
        r
    }

    fn fo_write(&self, fg: &FileGlob, uio: &mut Uio, flags: u32) -> Result<(), Errno> {
        if fg.flag() & FAPPEND != 0 {
            // Where an appending write starts is the file's end, not the offset; the end is
            // found and written under the file's append lock, chunk by chunk, so appenders
            // through other descriptions cannot land on the same bytes. The offset is left
            // after the last byte written, as XNU leaves it.
            let r = self.append_uio(uio);
            if flags & FOF_OFFSET == 0 {
                *fg.offset_lock() = uio.uio_offset;
            }
            return r;
        }
        if flags & FOF_OFFSET != 0 {
            return self.write_uio(uio, false);
        }
        let mut offset = fg.offset_lock();
        uio.uio_offset = *offset;
        let r = self.write_uio(uio, false);
        *offset = uio.uio_offset;
        r
    }

    fn fo_ioctl(&self, fg: &FileGlob, cmd: u32, data: &mut [u8]) -> Result<(), Errno> {
        self.vp.require_alive()?;
        // What XNU's vn_ioctl answers for regular files and directories; other requests are
        // for devices.
        match (self.vp.vtype(), cmd) {
            (VType::VREG | VType::VDIR, FIONREAD) => {
                let left = self.vp.size().saturating_sub(fg.offset());
                let n = i32::try_from(left).unwrap_or(i32::MAX);
                data.get_mut(..4).ok_or(Errno::EINVAL)?.copy_from_slice(&n.to_ne_bytes());
                Ok(())
            }
            // Non-blocking and asynchronous I/O mean nothing to a file whose reads and writes
            // never wait.
            (VType::VREG | VType::VDIR, FIONBIO | FIOASYNC) => Ok(()),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn fo_select<'q>(&'q self, _fg: &FileGlob, _which: u32, _wait: Option<&mut Wait<'q>>) -> bool {
        // A file's data is always there to read or write: never a reason to wait.
        true
    }

    fn fo_stat(&self) -> Result<FileStat, Errno> {
        self.vp.require_alive()?;
        Ok(FileStat { st_mode: self.vp.mode(), st_size: self.vp.size(), st_blksize: VN_BLKSIZE })
    }

    fn fo_close(&self) -> Result<(), Errno> {
        // The vnode reference goes with this object; ramfs keeps no per-open state.
        Ok(())
    }

    fn vnode(&self) -> Option<VnodeRef> {
        Some(self.vp.vnode().clone())
    }
}

/// `flock(fd, how)` on the open file description `fg` (XNU's `sys_flock`; see
/// [`flock_op`]): the lock is the description's, on the whole file. Not a vnode (a pipe), or
/// a file whose file system keeps no locks (a device): `ENOTSUP`. A conflicting lock of
/// another description: `EAGAIN` (`EWOULDBLOCK`) with `LOCK_NB`, else the caller sleeps
/// until it is released ([`Lockf::lock_wait`], interruptible). Once a lock is taken the
/// description's last close releases it.
///
/// [`Lockf::lock_wait`]: crate::kern::kern_lockf::Lockf::lock_wait
pub fn vn_flock(fg: &FileGlob, how: i32) -> Result<(), Errno> {
    if fg.fg_ops.fo_type() != DType::Vnode {
        return Err(Errno::ENOTSUP);
    }
    let vp = fg.fg_ops.vnode().ok_or(Errno::ENOTSUP)?;
    let owner = fg.lock_owner();
    let (ltype, wait) = match flock_op(how)? {
        FlockOp::Unlock => {
            vp.advlock()?.unlock(owner);
            return Ok(());
        }
        FlockOp::Lock { ltype, wait } => (ltype, wait),
    };
    let locks = vp.advlock()?;
    if !locks.try_lock(owner, ltype)? {
        if !wait {
            return Err(Errno::EAGAIN);
        }
        #[cfg(target_os = "none")]
        locks.lock_wait(owner, ltype)?;
        // Nothing else runs on the host to release the lock.
        #[cfg(not(target_os = "none"))]
        return Err(Errno::EAGAIN);
    }
    fg.set_lflags(FWASLOCKED, true);
    Ok(())
}

/// May the caller add a name to directory `dvp` (XNU's `vnode_authorize` with
/// `KAUTH_VNODE_ADD_FILE`)? It needs write and search permission on it, by the owner, group
/// and other bits as [`Vnode::authorize`] applies them; root always may. `EACCES` otherwise.
/// Every path that makes a name — create, and the mkdir, symlink, link and rename calls to
/// come — asks this before the file system sees the request.
pub fn vn_authorize_add(dvp: &Vnode, cred: &KauthCred) -> Result<(), Errno> {
    if dvp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    dvp.authorize(cred, VWRITE | VEXEC)
}

/// Open `path` in the caller's context `ctx` (its credential, working and root directory)
/// with open flags `oflag` and, for a new file, `mode` (XNU's `vn_open_auth`, and the rest of
/// `open1`: `O_SHLOCK`/`O_EXLOCK`, `O_TRUNC`). Lookup needs search permission on every
/// directory on the way; an existing file needs read and/or write permission for the caller
/// as the access mode asks; a missing file is made only with `O_CREAT`, in a directory the
/// caller may add to, owned by the caller's effective uid (and the directory's group, as on
/// BSD).
pub fn vn_open(ctx: &VfsContext, path: &[u8], oflag: u32, mode: u16) -> Result<Arc<FileGlob>, Errno> {
    let access = oflag & O_ACCMODE;
    if access == O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    // Kernel file flags are the access mode plus one, and the status flags (FFLAGS).
    let fflag = fflags(oflag);
    let follow = oflag & O_NOFOLLOW == 0;
    let (vp, created) = match namei(ctx, path, follow) {
        Ok(_) if oflag & O_CREAT != 0 && oflag & O_EXCL != 0 => return Err(Errno::EEXIST),
        Ok(vp) => (vp, false),
        Err(Errno::ENOENT) if oflag & O_CREAT != 0 => {
            let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => (&path[..i.max(1)], &path[i + 1..]),
                None => (&b"."[..], path),
            };
            if name.is_empty() || name.len() > NAME_MAX {
                return Err(Errno::ENOENT);
            }
            let dvp = namei(ctx, dir, true)?;
            vn_authorize_add(&dvp, &ctx.cred)?;
            let vp = dvp.create(name, mode & ALLPERMS & !ctx.cmask)?;
            vp.set_owner(ctx.cred.uid, dvp.gid());
            (vp, true)
        }
        Err(e) => return Err(e),
    };
    let truncate = oflag & O_TRUNC != 0;
    // Writing, or cutting, a directory (XNU's `vn_authorize_open_existing`).
    if vp.vtype() == VType::VDIR && (fflag & FWRITE != 0 || truncate) {
        return Err(Errno::EISDIR);
    }
    // O_NOFOLLOW: a link as the last component is refused, not opened (XNU: ELOOP).
    if vp.vtype() == VType::VLNK {
        return Err(Errno::ELOOP);
    }
    if oflag & O_DIRECTORY != 0 && vp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    // The creator of a file may open it as asked whatever mode it gave the file (POSIX).
    // `O_TRUNC` needs write permission even on a read-only open, which it may truncate.
    if !created {
        let write = fflag & FWRITE != 0 || truncate;
        let want = (if fflag & FREAD != 0 { VREAD } else { 0 }) | (if write { VWRITE } else { 0 });
        vp.authorize(&ctx.cred, want)?;
    }
    let fg = match vp.vtype() {
        // A device opens through its driver (the cdevsw entry of its major).
        VType::VCHR => crate::miscfs::devfs::cdevsw::spec_open(&vp, fflag)?,
        // A FIFO opens onto the pipe its opens share (fifofs), waiting for its other side.
        #[cfg(target_os = "none")]
        VType::VFIFO => crate::miscfs::fifofs::fifo_open(&vp, fflag)?,
        #[cfg(not(target_os = "none"))]
        VType::VFIFO => return Err(Errno::ENOTSUP),
        _ => FileGlob::new(fflag, Arc::new(VnodeFile::new(vp.clone())))?,
    };
    // Then, as XNU's `open1`: `O_EXLOCK`/`O_SHLOCK` lock the new description before anyone
    // else can use it (waiting unless `O_NONBLOCK`; a device keeps no locks: `ENOTSUP`),
    // and an existing file is cut to nothing (a device has no length: nothing happens). A
    // failure fails the open, and the description goes.
    let lock = if oflag & O_EXLOCK != 0 {
        LOCK_EX
    } else if oflag & O_SHLOCK != 0 {
        LOCK_SH
    } else {
        0
    };
    if lock != 0 {
        vn_flock(&fg, lock | if oflag & O_NONBLOCK != 0 { LOCK_NB } else { 0 })?;
    }
    if truncate && !created {
        vp.setsize(0)?;
    }
    Ok(fg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::ramfs::ramfs_new_root;
    use crate::kern::kern_descrip::{dofileread, dofilewrite, fcntl_setfl};
    use crate::kern::uio::UioRw;
    use osfmk::arm64::pmap::USER_VM_MIN;
    use osfmk::vm::user_ptr::{UserAddr, UserSlice, host_user_memory};
    use sys::fcntl::{O_APPEND, O_RDONLY, O_RDWR, O_WRONLY};

    const UBUF: u64 = USER_VM_MIN + 0x20_0000;

    /// A context at `root` for root (`root_user`) or for `nobody`.
    fn as_user(root: &VnodeRef, root_user: bool) -> VfsContext {
        let id = if root_user { 0 } else { crate::vfs::vfs_lookup::NOBODY };
        VfsContext::new(KauthCred::new(id, id), root.clone(), root.clone())
    }
    const UBUF_LEN: u64 = 64 * 1024;

    fn rd(fg: &FileGlob, len: usize) -> Result<usize, Errno> {
        dofileread(fg, &mut Uio::new(UserAddr(UBUF), len, 0, UioRw::Read)?, 0)
    }

    fn wr(fg: &FileGlob, at: u64, len: usize) -> Result<usize, Errno> {
        dofilewrite(fg, &mut Uio::new(UserAddr(at), len, 0, UioRw::Write)?, 0)
    }

    fn poke(at: u64, bytes: &[u8]) {
        UserSlice::new(at, bytes.len()).unwrap().write_at(0, bytes).unwrap();
    }

    fn open(root: &VnodeRef, path: &[u8], oflag: u32) -> Arc<FileGlob> {
        vn_open(&as_user(root, true), path, oflag | O_CREAT, 0o644).unwrap()
    }

    /// `/sbin` (rwxr-xr-x), `/tmp` (rwxrwxrwt), `/box` (rwx-w--w-: writable, not searchable).
    fn tree() -> VnodeRef {
        let root = ramfs_new_root();
        root.mkdir(b"sbin", 0o755).unwrap();
        root.mkdir(b"tmp", 0o1777).unwrap();
        root.mkdir(b"box", 0o722).unwrap();
        root
    }

    #[test]
    fn only_root_creates_in_a_directory_others_may_not_write() {
        // Issue 11 item 9: uid 501 created /sbin/x.
        let root = tree();
        let creat = O_WRONLY | O_CREAT;
        assert_eq!(vn_open(&as_user(&root, false), b"/sbin/x", creat, 0o644).err(), Some(Errno::EACCES));
        assert_eq!(root.lookup(b"sbin").unwrap().lookup(b"x").unwrap_err(), Errno::ENOENT, "nothing made");
        assert_eq!(vn_open(&as_user(&root, false), b"/box/x", creat, 0o644).err(), Some(Errno::EACCES));
        assert_eq!(
            vn_open(&as_user(&root, false), b"x", creat, 0o644).err(),
            Some(Errno::EACCES),
            "/ is 0755"
        );
        assert!(vn_open(&as_user(&root, false), b"/tmp/x", creat, 0o444).is_ok(), "the creator may write");
        assert!(vn_open(&as_user(&root, true), b"/sbin/x", creat, 0o644).is_ok(), "root may");
        // Opening what exists needs no directory permission, only the file's.
        assert_eq!(
            vn_open(&as_user(&root, false), b"/tmp/x", O_RDWR | O_CREAT, 0).err(),
            Some(Errno::EACCES)
        );
        assert!(vn_open(&as_user(&root, false), b"/tmp/x", O_RDONLY | O_CREAT, 0).is_ok());
        assert_eq!(vn_open(&as_user(&root, false), b"/sbin/x", O_RDONLY, 0).err(), None);
        assert_eq!(vn_open(&as_user(&root, false), b"/sbin/x", O_WRONLY, 0).err(), Some(Errno::EACCES));
    }

    #[test]
    fn the_way_to_a_file_must_be_searchable() {
        let root = tree();
        let locked = root.mkdir(b"locked", 0o776).unwrap();
        locked.create(b"f", 0o666).unwrap();
        locked.mkdir(b"open", 0o777).unwrap();
        let creat = O_WRONLY | O_CREAT;
        assert_eq!(vn_open(&as_user(&root, false), b"/locked/f", O_RDONLY, 0).err(), Some(Errno::EACCES));
        assert_eq!(vn_open(&as_user(&root, false), b"/locked/g", creat, 0o644).err(), Some(Errno::EACCES));
        assert_eq!(
            vn_open(&as_user(&root, false), b"/locked/open/g", creat, 0o644).err(),
            Some(Errno::EACCES)
        );
        assert_eq!(locked.lookup(b"open").unwrap().lookup(b"g").unwrap_err(), Errno::ENOENT, "nothing made");
        assert!(vn_open(&as_user(&root, true), b"/locked/f", O_RDONLY, 0).is_ok(), "root may");
        assert!(vn_open(&as_user(&root, false), b"/tmp/../tmp/h", creat, 0o644).is_ok());
    }

    #[test]
    fn authorize_add_needs_write_and_search() {
        let root = tree();
        let dir = |n: &[u8]| root.lookup(n).unwrap();
        assert_eq!(vn_authorize_add(&dir(b"sbin"), &as_user(&root, false).cred), Err(Errno::EACCES));
        assert_eq!(vn_authorize_add(&dir(b"box"), &as_user(&root, false).cred), Err(Errno::EACCES));
        assert_eq!(vn_authorize_add(&dir(b"tmp"), &as_user(&root, false).cred), Ok(()));
        assert_eq!(vn_authorize_add(&dir(b"box"), &as_user(&root, true).cred), Ok(()));
        let file = dir(b"tmp").create(b"f", 0o777).unwrap();
        assert_eq!(vn_authorize_add(&file, &as_user(&root, true).cred), Err(Errno::ENOTDIR));
    }

    /// A context at `root` for uid `uid` in group `gid`.
    fn as_id(root: &VnodeRef, uid: u32, gid: u32) -> VfsContext {
        VfsContext::new(KauthCred::new(uid, gid), root.clone(), root.clone())
    }

    #[test]
    fn open_and_create_follow_owner_group_and_other_bits() {
        let root = tree();
        let tmp = root.lookup(b"tmp").unwrap();
        // A private directory of uid 501: its owner may create there, others may not.
        let home = tmp.mkdir(b"home", 0o700).unwrap();
        home.set_owner(501, 20);
        let creat = O_WRONLY | O_CREAT;
        assert!(vn_open(&as_id(&root, 501, 20), b"/tmp/home/own", creat, 0o640).is_ok());
        assert_eq!(vn_open(&as_id(&root, 502, 20), b"/tmp/home/x", creat, 0o644).err(), Some(Errno::EACCES));
        // The new file is the creator's, in the directory's group.
        let own = home.lookup(b"own").unwrap();
        assert_eq!((own.uid(), own.gid()), (501, 20));
        // 0640: the owner reads and writes, the group reads, others nothing.
        let shared = tmp.create(b"shared", 0o640).unwrap();
        shared.set_owner(501, 20);
        assert!(vn_open(&as_id(&root, 501, 20), b"/tmp/shared", O_RDWR, 0).is_ok());
        assert!(vn_open(&as_id(&root, 502, 20), b"/tmp/shared", O_RDONLY, 0).is_ok(), "group may read");
        assert_eq!(vn_open(&as_id(&root, 502, 20), b"/tmp/shared", O_WRONLY, 0).err(), Some(Errno::EACCES));
        assert_eq!(vn_open(&as_id(&root, 503, 30), b"/tmp/shared", O_RDONLY, 0).err(), Some(Errno::EACCES));
        // The owner is held to the owner bits only.
        let locked = tmp.create(b"locked_out", 0o044).unwrap();
        locked.set_owner(501, 20);
        assert_eq!(
            vn_open(&as_id(&root, 501, 20), b"/tmp/locked_out", O_RDONLY, 0).err(),
            Some(Errno::EACCES)
        );
        assert!(vn_open(&as_id(&root, 0, 0), b"/tmp/locked_out", O_RDWR, 0).is_ok(), "root may");
    }

    #[test]
    fn reads_and_writes_move_the_whole_request() {
        let mem = host_user_memory::session();
        mem.map(UBUF, UBUF_LEN, true);
        let root = tree();
        let fg = open(&root, b"/tmp/big", O_RDWR);
        let data: alloc::vec::Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        poke(UBUF, &data);
        assert_eq!(wr(&fg, UBUF, data.len()), Ok(10_000), "one call, far more than a chunk");
        assert_eq!(fg.offset(), 10_000);
        let again = vn_open(&as_user(&root, true), b"/tmp/big", O_RDONLY, 0).unwrap();
        poke(UBUF, &[0; 12_000]);
        assert_eq!(rd(&again, 12_000), Ok(10_000), "to the end of the file in one call");
        let mut back = alloc::vec![0u8; 10_000];
        UserSlice::new(UBUF, back.len()).unwrap().read_at(0, &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!((again.offset(), rd(&again, 100)), (10_000, Ok(0)), "then end of file");
        // A description's offset is its own; dup'd descriptors share it.
        assert_eq!(fg.offset(), 10_000);
        let mut t = crate::kern::kern_descrip::FileDesc::new();
        t.alloc(crate::kern::kern_descrip::FileProc { fp_flags: 0, fp_glob: again }).unwrap();
        t.dup_at_least(0, 0, false).unwrap();
        assert!(Arc::ptr_eq(&t.get(0).unwrap(), &t.get(1).unwrap()));
    }

    #[test]
    fn a_fault_part_way_writes_what_came_before_it() {
        let mem = host_user_memory::session();
        mem.map(UBUF, 8192, true);
        let root = tree();
        let fg = open(&root, b"/tmp/f", O_RDWR);
        poke(UBUF, &[b'x'; 8192]);
        // 8192 bytes are mapped; the request asks for 10000.
        assert_eq!(wr(&fg, UBUF, 10_000), Ok(8192));
        assert_eq!((fg.offset(), root.lookup(b"tmp").unwrap().lookup(b"f").unwrap().size()), (8192, 8192));
        assert_eq!(wr(&fg, UBUF + 8192, 10), Err(Errno::EFAULT), "nothing could be read");
        assert_eq!(fg.offset(), 8192, "a failed write leaves the offset");
        let back = vn_open(&as_user(&root, true), b"/tmp/f", O_RDONLY, 0).unwrap();
        assert_eq!(rd(&back, 10_000), Ok(8192));
        // A read whose buffer ends part-way: short, and the offset moves only that far.
        let back = vn_open(&as_user(&root, true), b"/tmp/f", O_RDONLY, 0).unwrap();
        let tail = UBUF + 8192 - 100;
        assert_eq!(
            dofileread(&back, &mut Uio::new(UserAddr(tail), 4096, 0, UioRw::Read).unwrap(), 0),
            Ok(100)
        );
        assert_eq!(back.offset(), 100);
        assert_eq!(wr(&back, UBUF, 1), Err(Errno::EBADF), "opened read-only");
    }

    #[test]
    fn appends_go_to_the_end_whatever_the_offset() {
        let mem = host_user_memory::session();
        mem.map(UBUF, UBUF_LEN, true);
        let root = tree();
        let a = open(&root, b"/tmp/log", O_WRONLY | O_APPEND);
        let b = open(&root, b"/tmp/log", O_WRONLY | O_APPEND);
        let plain = open(&root, b"/tmp/log", O_RDWR);
        poke(UBUF, b"aaaabbbbcccc");
        assert_eq!(wr(&a, UBUF, 4), Ok(4));
        assert_eq!(wr(&b, UBUF + 4, 4), Ok(4), "b's offset was 0; it writes at the end");
        assert_eq!((a.offset(), b.offset()), (4, 8), "each offset is left after its write");
        assert_eq!(wr(&a, UBUF + 8, 4), Ok(4));
        assert_eq!(wr(&plain, UBUF + 8, 2), Ok(2), "a plain write overwrites at its offset");
        assert_eq!(rd(&plain, 64), Ok(10));
        let mut got = [0u8; 10];
        UserSlice::new(UBUF, 10).unwrap().read_at(0, &mut got).unwrap();
        // "cc" went over the first two bytes; the read went on from there.
        assert_eq!(&got, b"aabbbbcccc");
        // F_SETFL turns appending off and on for a description already open.
        fcntl_setfl(&plain, O_APPEND).unwrap();
        poke(UBUF, b"zz");
        assert_eq!(wr(&plain, UBUF, 2), Ok(2));
        assert_eq!(plain.offset(), 14);
        fcntl_setfl(&a, 0).unwrap();
        let before = a.offset();
        assert_eq!(wr(&a, UBUF, 2), Ok(2));
        assert_eq!(a.offset(), before + 2, "at its offset again");
    }

    #[test]
    fn o_trunc_cuts_an_existing_file_it_may_write() {
        let mem = host_user_memory::session();
        mem.map(UBUF, UBUF_LEN, true);
        let root = tree();
        let file = |p: &[u8]| namei(&as_user(&root, true), p, true).unwrap();
        let fg = open(&root, b"/tmp/t", O_RDWR);
        assert_eq!(wr(&fg, UBUF, 300), Ok(300));
        assert!(vn_open(&as_user(&root, true), b"/tmp/t", O_WRONLY | O_TRUNC, 0).is_ok());
        assert_eq!(file(b"/tmp/t").size(), 0, "cut to nothing");
        assert_eq!(wr(&fg, UBUF, 10), Ok(10), "the old description writes at its offset");
        assert_eq!(file(b"/tmp/t").size(), 310, "leaving a hole before it");
        // Read-only with O_TRUNC still cuts, and so needs write permission.
        assert!(vn_open(&as_user(&root, true), b"/tmp/t", O_RDONLY | O_TRUNC, 0).is_ok());
        assert_eq!(file(b"/tmp/t").size(), 0);
        assert_eq!(wr(&fg, UBUF, 5), Ok(5));
        assert_eq!(
            vn_open(&as_user(&root, false), b"/tmp/t", O_RDONLY | O_TRUNC, 0).err(),
            Some(Errno::EACCES),
            "0644 of root: nobody may not cut it"
        );
        assert_eq!(file(b"/tmp/t").size(), 315, "a refused open cuts nothing");
        assert_eq!(
            vn_open(&as_user(&root, true), b"/tmp", O_RDONLY | O_TRUNC, 0).err(),
            Some(Errno::EISDIR),
            "a directory is never cut"
        );
        assert!(vn_open(&as_user(&root, true), b"/tmp/new", O_RDWR | O_CREAT | O_TRUNC, 0o644).is_ok());
    }

    #[test]
    fn flock_belongs_to_the_description_and_goes_with_its_last_close() {
        use crate::kern::kern_descrip::{FileDesc, FileProc};
        use crate::kern::kern_lockf::LockType;
        use sys::fcntl::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};
        let root = tree();
        let a = open(&root, b"/tmp/lock", O_RDONLY);
        let b = open(&root, b"/tmp/lock", O_RDONLY);
        let vp = a.fg_ops.vnode().unwrap();
        assert_eq!(vn_flock(&a, LOCK_EX), Ok(()), "a lock needs no write access");
        assert_eq!(vn_flock(&b, LOCK_SH | LOCK_NB), Err(Errno::EAGAIN));
        assert_eq!(vn_flock(&b, LOCK_EX | LOCK_NB), Err(Errno::EAGAIN));
        assert_eq!(vn_flock(&a, LOCK_EX | LOCK_NB), Ok(()), "its own lock is no conflict");
        assert_eq!(vn_flock(&a, LOCK_SH), Ok(()), "downgrade");
        assert_eq!(vn_flock(&b, LOCK_SH | LOCK_NB), Ok(()), "shared with b now");
        assert_eq!(vn_flock(&a, LOCK_EX | LOCK_NB), Err(Errno::EAGAIN), "no upgrade while b shares");
        assert_eq!(vp.advlock().unwrap().held_by(a.lock_owner()), Some(LockType::Shared), "kept");
        assert_eq!(vn_flock(&b, LOCK_UN), Ok(()));
        assert_eq!(vn_flock(&b, LOCK_UN), Ok(()), "unlocking with no lock is no error");
        assert_eq!(vn_flock(&a, LOCK_EX | LOCK_NB), Ok(()), "upgrade");
        assert_eq!(vn_flock(&a, 0), Err(Errno::EBADF), "neither lock nor unlock");
        assert_eq!(vn_flock(&a, LOCK_NB), Err(Errno::EBADF));
        // Descriptors share the description's lock; the last one to close releases it.
        let mut t = FileDesc::new();
        t.alloc(FileProc { fp_flags: 0, fp_glob: a }).unwrap();
        t.dup_at_least(0, 0, false).unwrap();
        let child = t.fork_copy();
        t.close(0).unwrap();
        t.close(1).unwrap();
        assert_eq!(vn_flock(&b, LOCK_SH | LOCK_NB), Err(Errno::EAGAIN), "the child's copy still holds it");
        drop(child);
        assert_eq!(vn_flock(&b, LOCK_EX | LOCK_NB), Ok(()), "released with the last close");
        // A device keeps no locks.
        let null = crate::miscfs::devfs::devfs_new_root().unwrap().lookup(b"null").unwrap();
        let dev = FileGlob::new(FREAD, Arc::new(VnodeFile::new(null))).unwrap();
        assert_eq!(vn_flock(&dev, LOCK_EX), Err(Errno::ENOTSUP));
        assert_eq!(vn_flock(&dev, LOCK_UN), Err(Errno::ENOTSUP));
    }

    #[test]
    fn o_exlock_and_o_shlock_lock_the_new_description() {
        use sys::fcntl::{LOCK_SH, O_EXLOCK, O_NONBLOCK, O_SHLOCK};
        let root = tree();
        let ctx = as_user(&root, true);
        let ex = vn_open(&ctx, b"/tmp/ol", O_RDONLY | O_CREAT | O_EXLOCK, 0o644).unwrap();
        assert_eq!(
            vn_open(&ctx, b"/tmp/ol", O_RDONLY | O_SHLOCK | O_NONBLOCK, 0).err(),
            Some(Errno::EAGAIN),
            "the file is locked exclusively: a non-blocking open fails"
        );
        assert_eq!(vn_flock(&ex, LOCK_SH | sys::fcntl::LOCK_NB), Ok(()), "the lock is the description's");
        let sh = vn_open(&ctx, b"/tmp/ol", O_RDONLY | O_SHLOCK | O_NONBLOCK, 0).unwrap();
        drop(ex);
        assert_eq!(
            vn_open(&ctx, b"/tmp/ol", O_WRONLY | O_EXLOCK | O_NONBLOCK | O_TRUNC, 0).err(),
            Some(Errno::EAGAIN),
            "still shared by the second open"
        );
        drop(sh);
        assert!(vn_open(&ctx, b"/tmp/ol", O_WRONLY | O_EXLOCK | O_NONBLOCK, 0).is_ok(), "all closed: free");
    }

    #[test]
    fn ioctl_select_and_stat_of_a_file() {
        let mem = host_user_memory::session();
        mem.map(UBUF, UBUF_LEN, true);
        let root = tree();
        let fg = open(&root, b"/tmp/s", O_RDWR);
        assert_eq!(wr(&fg, UBUF, 300), Ok(300));
        let back = vn_open(&as_user(&root, true), b"/tmp/s", O_RDONLY, 0).unwrap();
        assert_eq!(rd(&back, 100), Ok(100));
        let mut n = [0u8; 4];
        back.fg_ops.fo_ioctl(&back, sys::fcntl::FIONREAD, &mut n).unwrap();
        assert_eq!(i32::from_ne_bytes(n), 200, "FIONREAD: what is left past the offset");
        assert_eq!(back.fg_ops.fo_ioctl(&back, 0x4008_7468, &mut [0; 8]), Err(Errno::ENOTTY), "TIOCGWINSZ");
        assert_eq!(back.fg_ops.fo_ioctl(&back, sys::fcntl::FIONBIO, &mut [1, 0, 0, 0]), Ok(()));
        assert!(back.fg_ops.fo_select(&back, FREAD, None) && back.fg_ops.fo_select(&back, FWRITE, None));
        let st = back.fg_ops.fo_stat().unwrap();
        assert_eq!((st.st_mode, st.st_size), (crate::vfs::S_IFREG | 0o644, 300));
        assert_eq!(back.fg_ops.fo_type(), DType::Vnode);
    }
}
