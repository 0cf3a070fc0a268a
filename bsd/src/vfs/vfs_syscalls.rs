//! The file system calls (XNU's `vfs_syscalls.c`): each copies its arguments in, asks the
//! VFS, and hands back a descriptor or an error. So far: `open`, `mkdir`, `unlink`, `rmdir`,
//! `rename`, the `stat64` family, `lseek` and `getdirentries64`; the working-directory calls
//! `chdir`, `fchdir`, `__pthread_chdir`, `__pthread_fchdir` and `chroot`; and the path copy-in
//! every call that takes a path shares.
//!
//! Every lookup is made in the caller's [`VfsContext`] (`Proc::vfs_context`): relative paths
//! start at the calling thread's working directory (its own, after `__pthread_chdir`, or
//! the process's), absolute ones at the process's root.

use alloc::sync::Arc;
use alloc::vec::Vec;

use mach::KernReturn;
use osfmk::arm64::copyio::{UserAddr, copyinstr};
use osfmk::vm::user_ptr::{UserPtr, UserSlice};
use sys::Errno;
use sys::fcntl::{O_CLOEXEC, SEEK_CUR, SEEK_END, SEEK_SET};
use sys::stat::{
    ALLPERMS, DIRENTRY_NAME_OFFSET, GETDIRENTRIES64_EOF, GETDIRENTRIES64_EXTENDED_BUFSIZE, S_BLKSIZE,
    S_IFDIR, S_IFMT, S_ISVTX, Stat64, direntry_reclen, iftodt,
};

use crate::kern::kern_descrip::FREAD;
use crate::kern::kern_descrip::{FP_CLOEXEC, FileProc};
use crate::kern::kern_proc::{Proc, uthread};
use crate::vfs::MAXPATHLEN;
use crate::vfs::vfs_lookup::{VfsContext, lookup_parent, namei};
use crate::vfs::vfs_vnops::{VN_BLKSIZE, vn_open};
use crate::vfs::vnode::{VEXEC, VType, VnodeRef};
use osfmk::kern::sched_prim::current_thread;

/// Copies in the NUL-terminated path at user `addr`. Longer than [`MAXPATHLEN`] with its
/// NUL: `ENAMETOOLONG`; a bad pointer: `EFAULT`; empty: `ENOENT` (POSIX). `p` is the
/// calling process, whose memory is the current address space.
pub fn copyin_path(p: &Proc, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    if p.task.map.is_none() {
        return Err(Errno::EFAULT);
    }
    let mut path = Vec::new();
    copyinstr(addr, MAXPATHLEN, &mut path)
        .map_err(|kr| if kr == KernReturn::KERN_NO_SPACE { Errno::ENAMETOOLONG } else { Errno::EFAULT })?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// `open(path, flags, mode)`: the lowest free descriptor on a new open file description.
/// `flags` and `mode` are `int`s; only the `O_*` bits and the 16 bits of a `mode_t` count.
pub fn open(p: &Arc<Proc>, path: UserAddr, flags: i32, mode: i32) -> Result<usize, Errno> {
    let (oflag, mode) = (flags as u32, mode as u16);
    let path = copyin_path(p, path)?;
    let ctx = p.vfs_context()?;
    let glob = vn_open(&ctx, &path, oflag, mode)?;
    let fp_flags = if oflag & O_CLOEXEC != 0 { FP_CLOEXEC } else { 0 };
    p.p_fd.lock().alloc(FileProc { fp_flags, fp_glob: glob })
}

/// A directory the caller may make its working or root directory: a directory
/// (`ENOTDIR`) it may search (`EACCES`), as XNU's `chdir_internal` and `fchdir` check.
/// A directory with a file system mounted on it stands for that file system's root.
pub(crate) fn searchable_dir(ctx: &VfsContext, vp: VnodeRef) -> Result<VnodeRef, Errno> {
    if vp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    vp.authorize(&ctx.cred, VEXEC)?;
    let mut vp = vp;
    while let Some(mp) = vp.mountedhere() {
        vp = mp.root().clone();
    }
    Ok(vp)
}

/// The directory at user path `path`, looked up in the caller's context and checked by
/// [`searchable_dir`].
fn lookup_dir(p: &Proc, path: UserAddr) -> Result<VnodeRef, Errno> {
    let path = copyin_path(p, path)?;
    let ctx = p.vfs_context()?;
    let vp = namei(&ctx, &path, true)?;
    searchable_dir(&ctx, vp)
}

/// The directory open on descriptor `fd`: not open `EBADF`; open on something other than a
/// vnode (a pipe, the console as it is today) `EINVAL`, as XNU's `file_vnode_withvid`
/// answers for `fchdir`.
fn fd_dir(p: &Proc, fd: i32) -> Result<VnodeRef, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let vp = fg.fg_ops.vnode().ok_or(Errno::EINVAL)?;
    searchable_dir(&p.vfs_context()?, vp)
}

/// `chdir(path)`: the process's working directory becomes `path`.
pub fn chdir(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    let vp = lookup_dir(p, path)?;
    p.p_fd_dirs.write().cdir = Some(vp);
    Ok(())
}

/// `fchdir(fd)`: the process's working directory becomes the directory open on `fd`.
pub fn fchdir(p: &Proc, fd: i32) -> Result<(), Errno> {
    let vp = fd_dir(p, fd)?;
    p.p_fd_dirs.write().cdir = Some(vp);
    Ok(())
}

/// `__pthread_chdir(path)`: the calling thread's own working directory becomes `path`; the
/// process's, and every other thread's, stay.
pub fn pthread_chdir(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    let vp = lookup_dir(p, path)?;
    *uthread(&current_thread()).uu_cdir.write() = Some(vp);
    Ok(())
}

/// `__pthread_fchdir(fd)`: as [`pthread_chdir`] for the directory open on `fd`. `fd` = −1
/// drops the thread's own working directory, so it uses the process's again: `EBADF` if it
/// had none, as in XNU.
pub fn pthread_fchdir(p: &Proc, fd: i32) -> Result<(), Errno> {
    if fd == -1 {
        return match uthread(&current_thread()).uu_cdir.write().take() {
            Some(_) => Ok(()),
            None => Err(Errno::EBADF),
        };
    }
    let vp = fd_dir(p, fd)?;
    *uthread(&current_thread()).uu_cdir.write() = Some(vp);
    Ok(())
}

/// `chroot(path)`: absolute paths of the process start at `path` from now on, and `..`
/// stops there. Root only (`EPERM`, checked before the path is looked at); the working
/// directory stays where it is, as in XNU.
pub fn chroot(p: &Proc, path: UserAddr) -> Result<(), Errno> {
    if p.p_ucred.lock().uid != 0 {
        return Err(Errno::EPERM);
    }
    let vp = lookup_dir(p, path)?;
    p.p_fd_dirs.write().rdir = Some(vp);
    Ok(())
}

/// `struct stat64` for vnode `vp` (XNU's `vn_stat`). The ramfs keeps no times yet, so the
/// four times are 0; directories count their own `.` and their parent's entry as links.
pub fn vn_stat(vp: &VnodeRef) -> Stat64 {
    let size = vp.size();
    let is_dir = vp.vtype() == VType::VDIR;
    Stat64 {
        // One device number until file systems other than the root's have their own.
        st_dev: 1,
        st_mode: vp.mode(),
        st_nlink: if is_dir { 2 } else { 1 },
        st_ino: vp.fileid(),
        st_uid: vp.uid(),
        st_gid: vp.gid(),
        // A directory's size is its entry count here; stat reports it as bytes of records.
        st_size: if is_dir { (size * 32) as i64 } else { size as i64 },
        st_blocks: size.div_ceil(S_BLKSIZE) as i64,
        st_blksize: VN_BLKSIZE as i32,
        ..Stat64::default()
    }
}

/// Writes `st` to user `ub`.
fn copyout_stat(ub: UserAddr, st: &Stat64) -> Result<(), Errno> {
    UserPtr::<Stat64>::new(ub.0)?.write(st)?;
    Ok(())
}

/// `stat64(path, ub)` / `lstat64(path, ub)`: the file at `path` (a final symbolic link
/// followed, or for `lstat64` described itself).
pub fn stat64(p: &Proc, path: UserAddr, ub: UserAddr, follow: bool) -> Result<(), Errno> {
    let path = copyin_path(p, path)?;
    let vp = namei(&p.vfs_context()?, &path, follow)?;
    copyout_stat(ub, &vn_stat(&vp))
}

/// `fstat64(fd, ub)`: a vnode's full description, or what another kind of file says of
/// itself (`fo_stat`).
pub fn fstat64(p: &Proc, fd: i32, ub: UserAddr) -> Result<(), Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let st = match fg.fg_ops.vnode() {
        Some(vp) => vn_stat(&vp),
        None => {
            let s = fg.fg_ops.fo_stat()?;
            Stat64 {
                st_mode: s.st_mode,
                st_nlink: 1,
                st_size: s.st_size as i64,
                st_blksize: s.st_blksize as i32,
                ..Stat64::default()
            }
        }
    };
    copyout_stat(ub, &st)
}

/// `lseek(fd, offset, whence)`: the description's new offset, from the start (`SEEK_SET`),
/// the current offset (`SEEK_CUR`) or the end (`SEEK_END`); past the end is allowed, before
/// the start is `EINVAL`, as is another `whence`. Only vnodes seek: anything else `ESPIPE`.
pub fn lseek(p: &Proc, fd: i32, offset: i64, whence: i32) -> Result<u64, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    let vp = fg.fg_ops.vnode().ok_or(Errno::ESPIPE)?;
    if vp.vtype() == VType::VFIFO {
        return Err(Errno::ESPIPE);
    }
    let mut off = fg.offset_lock();
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => *off as i64,
        SEEK_END => vp.size() as i64,
        _ => return Err(Errno::EINVAL),
    };
    let new = base.checked_add(offset).filter(|&n| n >= 0).ok_or(Errno::EINVAL)?;
    *off = new as u64;
    Ok(new as u64)
}

/// `getdirentries64(fd, buf, bufsize, position)`: directory records (`struct direntry`) from
/// the directory open on `fd`, starting at the description's offset (an entry index: `.`,
/// `..`, then the entries in order), as many whole records as fit. `*position` gets the
/// offset the read started at; the description's offset moves past the records. A buffer
/// of 1024 bytes or more ends with a flags word (`GETDIRENTRIES64_EOF` once the end is
/// reached) the records do not use. Not a directory: `ENOTDIR`; no room for one record:
/// `EINVAL`. Returns the bytes of records.
pub fn getdirentries64(
    p: &Proc,
    fd: i32,
    buf: UserAddr,
    bufsize: usize,
    position: UserAddr,
) -> Result<usize, Errno> {
    let fg = p.p_fd.lock().get(fd)?;
    if fg.flag() & FREAD == 0 {
        return Err(Errno::EBADF);
    }
    let dvp = fg.fg_ops.vnode().ok_or(Errno::ENOTDIR)?;
    if dvp.vtype() != VType::VDIR {
        return Err(Errno::ENOTDIR);
    }
    let position = UserPtr::<i64>::new(position.0)?;
    let out = UserSlice::new(buf.0, bufsize)?;
    let room = if bufsize >= GETDIRENTRIES64_EXTENDED_BUFSIZE { bufsize - 4 } else { bufsize };
    let parent = dvp.parent().unwrap_or_else(|| dvp.clone());
    let entries = dvp.readdir()?;
    let mut off = fg.offset_lock();
    let start = *off;
    let mut index = start;
    let mut records: Vec<u8> = Vec::new();
    let total = 2 + entries.len() as u64;
    while index < total {
        let (name, ino, mode): (&[u8], u64, u16) = match index {
            0 => (b".", dvp.fileid(), S_IFDIR),
            1 => (b"..", parent.fileid(), S_IFDIR),
            i => {
                let e = &entries[(i - 2) as usize];
                // The number of an entry removed since the listing is 0... never: a
                // missing one is skipped.
                let Ok(vp) = dvp.lookup(&e.name) else {
                    index += 1;
                    continue;
                };
                (&e.name, vp.fileid(), e.vtype.mode_bits())
            }
        };
        let reclen = direntry_reclen(name.len());
        if records.len() + reclen > room {
            break;
        }
        let at = records.len();
        records.resize(at + reclen, 0);
        let rec = &mut records[at..];
        rec[0..8].copy_from_slice(&ino.to_le_bytes());
        rec[8..16].copy_from_slice(&(index + 1).to_le_bytes());
        rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        rec[18..20].copy_from_slice(&(name.len() as u16).to_le_bytes());
        rec[20] = iftodt(mode);
        rec[DIRENTRY_NAME_OFFSET..DIRENTRY_NAME_OFFSET + name.len()].copy_from_slice(name);
        index += 1;
    }
    if records.is_empty() && index < total {
        return Err(Errno::EINVAL);
    }
    out.write_at(0, &records)?;
    if bufsize >= GETDIRENTRIES64_EXTENDED_BUFSIZE {
        let flags = if index >= total { GETDIRENTRIES64_EOF } else { 0 };
        out.write_at(bufsize - 4, &flags.to_le_bytes())?;
    }
    position.write(&(start as i64))?;
    *off = index;
    Ok(records.len())
}

/// `mkdir(path, mode)`: a new directory, with the mode's permission bits less the umask's,
/// owned by the caller and its parent directory's group. The name taken: `EEXIST`; the
/// parent not writable and searchable: `EACCES`.
pub fn mkdir(p: &Proc, path: UserAddr, mode: i32) -> Result<(), Errno> {
    let path = copyin_path(p, path)?;
    let ctx = p.vfs_context()?;
    let (dvp, name) = lookup_parent(&ctx, &path)?;
    crate::vfs::vfs_vnops::vn_authorize_add(&dvp, &ctx.cred)?;
    let vp = dvp.mkdir(&name, mode as u16 & ALLPERMS & !S_IFMT)?;
    vp.set_owner(ctx.cred.uid, vp.gid());
    Ok(())
}

/// May the caller take entry `vp` out of directory `dvp`? It needs write and search
/// permission on the directory; in a sticky directory (`S_ISVTX`, as /tmp is) it must also
/// own the directory or the entry, unless it is root — else `EPERM`, as Darwin's unlink(2)
/// and rename(2) say.
fn vn_authorize_delete(ctx: &VfsContext, dvp: &VnodeRef, vp: &VnodeRef) -> Result<(), Errno> {
    crate::vfs::vfs_vnops::vn_authorize_add(dvp, &ctx.cred)?;
    let uid = ctx.cred.uid;
    if dvp.mode() & S_ISVTX != 0 && uid != 0 && uid != dvp.uid() && uid != vp.uid() {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The entry `name` of `dvp`, for a call about to remove or replace it. A name of `.` or
/// `..` is left to the vnode's checks.
fn entry_of(dvp: &VnodeRef, name: &[u8]) -> Result<VnodeRef, Errno> {
    if name.is_empty() {
        // The path was `/`: the root is busy.
        return Err(Errno::EBUSY);
    }
    dvp.lookup(name)
}

/// `unlink(path)` and `rmdir(path)` (`dir`): the name goes; the file lives on while it is
/// open. A mount point or a file system's root cannot be removed (`EBUSY`).
pub fn remove(p: &Proc, path: UserAddr, dir: bool) -> Result<(), Errno> {
    let path = copyin_path(p, path)?;
    let ctx = p.vfs_context()?;
    let (dvp, name) = lookup_parent(&ctx, &path)?;
    if !matches!(&name[..], b"." | b"..") {
        let vp = entry_of(&dvp, &name)?;
        if vp.mountedhere().is_some() || vp.root_of().is_some() {
            return Err(Errno::EBUSY);
        }
        vn_authorize_delete(&ctx, &dvp, &vp)?;
    }
    dvp.remove(&name, dir).map(drop)
}

/// `rename(from, to)`: the entry `from` takes the name `to`, replacing what `to` named (see
/// `Vnode::rename` for the rules). Across file systems: `EXDEV`.
pub fn rename(p: &Proc, from: UserAddr, to: UserAddr) -> Result<(), Errno> {
    let (from, to) = (copyin_path(p, from)?, copyin_path(p, to)?);
    let ctx = p.vfs_context()?;
    let (fdvp, fname) = lookup_parent(&ctx, &from)?;
    let (tdvp, tname) = lookup_parent(&ctx, &to)?;
    if fname.is_empty() || tname.is_empty() {
        return Err(Errno::EBUSY);
    }
    if !matches!(&fname[..], b"." | b"..") {
        let vp = entry_of(&fdvp, &fname)?;
        if vp.mountedhere().is_some() || vp.root_of().is_some() {
            return Err(Errno::EBUSY);
        }
        vn_authorize_delete(&ctx, &fdvp, &vp)?;
        match tdvp.lookup(&tname) {
            Ok(old) => vn_authorize_delete(&ctx, &tdvp, &old)?,
            Err(_) => crate::vfs::vfs_vnops::vn_authorize_add(&tdvp, &ctx.cred)?,
        }
    }
    fdvp.rename(&fname, &tdvp, &tname)
}
